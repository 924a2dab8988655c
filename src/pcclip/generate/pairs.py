"""Ordered image pairs to describe: what a pair is, how pairs are built from any captioned items, and
their JSONL form.

An item is one image: an id, a caption and, for the procedural world, its exact attributes
(`Scene.attributes()`), which the oracle back end and the agreement scorer read. A pair (a, b) asks
"how does image a differ from image b?"; (b, a) is another pair.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import read_jsonl, write_jsonl
from ..errors import PcclipError
from ..world.phrasing import caption
from ..world.scene import ATTRIBUTES, Scene, WorldConfig, perturb, sample_scenes

Item = tuple[str, str] | tuple[str, str, dict[str, Any] | None]


@dataclass(frozen=True)
class PairRecord:
    """One ordered pair to describe: image a (the first) and image b (the second)."""

    pair_id: str
    id_a: str
    id_b: str
    caption_a: str
    caption_b: str
    attributes_a: dict[str, Any] | None = None
    attributes_b: dict[str, Any] | None = None

    def scenes(self) -> tuple[Scene, Scene]:
        """The two world scenes; PcclipError naming the pair if it has no world attributes."""
        if self.attributes_a is None or self.attributes_b is None:
            raise PcclipError(f"pair {self.pair_id!r} has no world attributes (attributes_a/attributes_b)")
        return Scene.from_attributes(self.attributes_a), Scene.from_attributes(self.attributes_b)


def pair_id(id_a: str, id_b: str) -> str:
    return f"{id_a}>{id_b}"


def build_pairs(items: Sequence[Item], n_pairs: int | None = None, seed: int = 0) -> list[PairRecord]:
    """Ordered pairs among `items` ((id, caption) or (id, caption, attributes) tuples): all
    n * (n - 1) of them when n_pairs is None, else a seeded sample of n_pairs distinct ones."""
    ids = [str(item[0]) for item in items]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise PcclipError(f"item id {duplicate!r} occurs more than once; ids must be unique")
    n = len(items)
    total = n * (n - 1)
    if n_pairs is None:
        indices: Iterable[int] = range(total)
    else:
        if not 0 < n_pairs <= total:
            raise PcclipError(f"asked for {n_pairs} pairs, but {n} items make {total} ordered pairs")
        # Sampling pair indices (not items) keeps the sample uniform and O(n_pairs) however many items.
        indices = np.random.default_rng(seed).choice(total, size=n_pairs, replace=False)
    pairs = []
    for k in indices:
        i, j = divmod(int(k), n - 1)
        j += j >= i  # skip the diagonal: index k enumerates j != i
        pairs.append(_pair(items[i], items[j]))
    return pairs


def _pair(a: Item, b: Item) -> PairRecord:
    attributes_a = a[2] if len(a) > 2 else None
    attributes_b = b[2] if len(b) > 2 else None
    return PairRecord(pair_id(str(a[0]), str(b[0])), str(a[0]), str(b[0]), a[1], b[1], attributes_a, attributes_b)


def world_items(n: int, seed: int, world: WorldConfig | None = None) -> list[Item]:
    """n world scenes, each with one caption in the "train" phrasing and its attributes."""
    world = world or WorldConfig()
    rng = np.random.default_rng([seed, 1])
    return [
        (f"scene-{seed}-{k:05d}", caption(scene, rng, "train"), scene.attributes())
        for k, scene in enumerate(sample_scenes(n, seed, world))
    ]


def world_minimal_pairs(n_pairs: int, seed: int, world: WorldConfig | None = None) -> list[PairRecord]:
    """n_pairs world pairs that differ in exactly one attribute, the attributes in turn and the order
    within each pair random: the pairs on which "does the sentence name THE difference" is sharpest."""
    world = world or WorldConfig()
    rng = np.random.default_rng([seed, 3])
    pairs = []
    for k, scene in enumerate(sample_scenes(n_pairs, seed, world)):
        changed = perturb(scene, ATTRIBUTES[k % len(ATTRIBUTES)], rng, world)
        a, b = (scene, changed) if rng.random() < 0.5 else (changed, scene)
        ids = f"scene-{seed}-{k:05d}a", f"scene-{seed}-{k:05d}b"
        pairs.append(_pair(*((i, caption(s, rng, "train"), s.attributes()) for i, s in zip(ids, (a, b)))))
    return pairs


def shard_of(pair: PairRecord, n_shards: int) -> int:
    """The shard a pair belongs to: a stable hash of its id, so that shards do not depend on order."""
    return int.from_bytes(hashlib.sha256(pair.pair_id.encode()).digest()[:8], "big") % n_shards


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n), 0 <= i < n."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not sep or not 0 <= i < n:
        raise PcclipError(f"shard {text!r}: expected i/n with 0 <= i < n, e.g. 0/4")
    return i, n


def save_pairs(pairs: Sequence[PairRecord], path: Path) -> Path:
    """Write pairs as JSONL (one object per line), atomically."""
    return write_jsonl(Path(path), (asdict(pair) for pair in pairs))


def load_pairs(path: Path) -> list[PairRecord]:
    fields = set(PairRecord.__dataclass_fields__)
    pairs = []
    for line_no, obj in read_jsonl(path):
        missing = {"pair_id", "id_a", "id_b", "caption_a", "caption_b"} - set(obj)
        if missing or set(obj) - fields:
            problem = f"missing {sorted(missing)}" if missing else f"unknown keys {sorted(set(obj) - fields)}"
            raise PcclipError(f"{path}: line {line_no}: not a pair ({problem})")
        pairs.append(PairRecord(**obj))
    ids = [p.pair_id for p in pairs]
    if len(set(ids)) != len(ids):
        raise PcclipError(f"{path}: pair id {next(i for i in ids if ids.count(i) > 1)!r} occurs more than once")
    return pairs


def load_items(path: Path) -> list[Item]:
    """Items from JSONL lines {"id": ..., "caption": ...[, "attributes": {...}]} (any captioned data set)."""
    items: list[Item] = []
    for line_no, obj in read_jsonl(path):
        if not isinstance(obj.get("caption"), str) or "id" not in obj:
            raise PcclipError(f"{path}: line {line_no}: expected an object with 'id' and a string 'caption'")
        items.append((str(obj["id"]), obj["caption"], obj.get("attributes")))
    return items
