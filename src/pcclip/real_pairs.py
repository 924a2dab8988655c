"""Training pairs from a real captioned dataset (COCO captions, CUB with Reed et al.'s descriptions, or
a caption table): a seeded sample of readable images with one caption each, and random ordered pairs
among them, as the paper pairs COCO images."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from open_clip.transform import PreprocessCfg

from .config import DataSettings, PairSettings
from .datasets import CaptionedImages, ImageFiles, load_coco_captions
from .datasets.captions import load_caption_table
from .datasets.cub import load_cub_descriptions
from .errors import PcclipError
from .generate.pairs import PairRecord, build_pairs


def load_captioned(data: DataSettings) -> CaptionedImages:
    """The dataset data.source names, read from its standard layout under data.root."""
    if data.source == "world" or data.root is None:  # (DataSettings requires a root for every other source)
        raise PcclipError(f"data.source={data.source!r} is not a real dataset")
    if data.source == "coco":
        return load_coco_captions(data.root, data.split or "train2017")
    if data.source == "cub":
        assert data.descriptions is not None  # DataSettings requires them for cub
        return load_cub_descriptions(data.root, data.descriptions, data.split or "train")
    return load_caption_table(data.root, data.image_key, data.caption_key)


@dataclass
class RealPairPool:
    pairs: list[PairRecord]
    paths: dict[str, Path]  # image id -> file
    skipped: list[str] = field(default_factory=list)  # "<file>: <reason>" of each unreadable image left out

    def load(self, ids: list[str], preprocess: PreprocessCfg | int) -> np.ndarray:
        return ImageFiles([self.paths[i] for i in ids]).load(range(len(ids)), preprocess)

    def to_json(self) -> dict:
        return {
            "pairs": [asdict(p) for p in self.pairs],
            "paths": {k: str(v) for k, v in self.paths.items()},
            "skipped": self.skipped,
        }

    @classmethod
    def from_json(cls, content: dict) -> RealPairPool:
        paths = {k: Path(v) for k, v in content["paths"].items()}
        return cls([PairRecord(**p) for p in content["pairs"]], paths, content["skipped"])

    def summary(self) -> dict:
        return {
            "images": len(self.paths),
            "pairs": len(self.pairs),
            "skipped_images": len(self.skipped),
            "skipped": self.skipped[:20],
        }


def real_pair_pool(data: DataSettings, settings: PairSettings) -> RealPairPool:
    """settings.images readable images, taken in a seeded order, each with one of its captions, and
    settings.pairs distinct ordered pairs among them. An unreadable image stops with its name, or
    with data.bad_images='skip' is left out (the next image in the order takes its place) and counted."""
    dataset = load_captioned(data)
    rng = np.random.default_rng([settings.seed, 2])
    captions_of: dict[int, list[str]] = {}
    for text, owner in zip(dataset.captions, dataset.caption_owner.tolist()):
        captions_of.setdefault(owner, []).append(text)
    assert data.root is not None and isinstance(dataset.images, ImageFiles)  # a real dataset: files under a root
    root = Path(data.root) if Path(data.root).is_dir() else Path(data.root).parent
    items: list[tuple[str, str]] = []
    paths: dict[str, Path] = {}
    skipped: list[str] = []
    for index in rng.permutation(len(dataset.images)).tolist():
        if len(items) == settings.images:
            break
        path = dataset.images.paths[index]
        try:
            ImageFiles([path]).load([0], 8)  # decodes the whole file: a truncated image fails here, not mid-training
        except PcclipError as e:
            if data.bad_images == "error":
                raise PcclipError(f"{e}; fix or remove it, or set data.bad_images='skip' to leave such images out") from None
            skipped.append(str(e))
            continue
        image_id = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        paths[image_id] = path
        items.append((image_id, captions_of[index][int(rng.integers(len(captions_of[index])))]))
    if len(items) < settings.images:
        raise PcclipError(
            f"{data.root}: {len(items)} readable captioned images ({len(skipped)} skipped), fewer than pairs.images="
            f"{settings.images}; lower pairs.images"
        )
    return RealPairPool(build_pairs(items, settings.pairs, int(rng.integers(2**31))), paths, skipped)
