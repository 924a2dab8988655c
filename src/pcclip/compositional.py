"""The field's compositional benchmarks, read from local files in their official layouts: SugarCrepe,
Winoground and ARO's VG-Relation and VG-Attribution (`pcclip eval`).

Every test asks whether an image's embedding is closer (cosine) to the right caption than to a hard
negative made of the same words or nearly; a tie counts as wrong, as in the official code. Images go
through the model's own open_clip eval transform (ARO's are first cropped to their box); each
distinct image and text is embedded once. A model's results are cached per benchmark under the
pcclip cache, keyed by the model name, the checkpoint file's identity (path, size, mtime), the
benchmark, its folders and annotation files, and the code's versions; a model with random weights
(no --pretrained) is never cached.

COMPOSITIONAL_BENCHMARKS is the one registry: the CLI, the table, the README's list and a run's
benchmarks (`[[run.benchmarks]]` with task 'compositional', pcclip.real_eval) read it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
import torch

from .cache import default_cache_root, read_json, settings_hash, write_json
from .datasets.aro import MIN_ATTRIBUTE_PAIR_TESTS, SYMMETRIC_RELATIONS, AroData, CroppedImageFiles, load_aro
from .datasets.aro import SOURCE as ARO_SOURCE
from .datasets.aro import Subset as AroSubset
from .datasets.aro import layout as aro_layout
from .datasets.images import ImageFiles, ImageSource, encode_image_source
from .datasets.sugarcrepe import CATEGORIES, SUBSETS, SugarCrepeData, load_sugarcrepe
from .datasets.sugarcrepe import LAYOUT as SUGARCREPE_LAYOUT
from .datasets.sugarcrepe import SOURCE as SUGARCREPE_SOURCE
from .datasets.winoground import LAYOUT as WINOGROUND_LAYOUT
from .datasets.winoground import SOURCE as WINOGROUND_SOURCE
from .datasets.winoground import WinogroundData, load_winoground
from .encode import encode_texts
from .errors import PcclipError
from .stages import code_versions, stage_folder

Data = SugarCrepeData | WinogroundData | AroData


@dataclass(frozen=True)
class ScoringTask:
    """What a benchmark needs scored: cos(images[i], texts[t]) for each row (i, t) of `pairs`."""

    images: ImageSource
    texts: list[str]
    pairs: np.ndarray  # int64 (Q, 2)


@dataclass(frozen=True)
class CompositionalBenchmark:
    name: str
    description: str
    source: str  # where to get the data
    layout: str  # what the loader reads under ROOT
    chance: dict[str, float]  # the metrics the table shows, in order, with each one's chance level
    headline: str  # the one a study's tables show
    load: Callable[[Path, Path | None], Data]
    task: Callable[[Data], ScoringTask]
    metrics: Callable[[Data, np.ndarray], tuple[dict[str, float], dict]]  # (metrics, details) from task scores
    takes_images: bool = False  # ROOT:IMAGES: the images lie in a folder of their own


K = TypeVar("K", bound=Hashable)


class _Positions(Generic[K]):
    """Positions of distinct keys in first-seen order."""

    def __init__(self) -> None:
        self.keys: dict[K, int] = {}

    def __call__(self, key: K) -> int:
        return self.keys.setdefault(key, len(self.keys))


def pair_scores(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, pairs: np.ndarray) -> np.ndarray:
    """Cosine of each (image, text) row of `pairs`, the embeddings being normalised."""
    index = torch.from_numpy(np.asarray(pairs, dtype=np.int64))
    return (image_embeddings[index[:, 0]] * text_embeddings[index[:, 1]]).sum(-1).numpy()


# --- metrics on scores ---------------------------------------------------------------------------------


def sugarcrepe_metrics(subsets: Sequence[str], scores: np.ndarray) -> tuple[dict[str, float], dict]:
    """scores (N, 2): cos(image, caption), cos(image, negative). Accuracy per subset (caption strictly
    higher), per category (mean of its subsets' accuracies) and over the subsets (their mean)."""
    correct = scores[:, 0] > scores[:, 1]
    labels = np.asarray(subsets)
    per = {s: float(correct[labels == s].mean()) for s in SUBSETS if (labels == s).any()}
    metrics = dict(per)
    for category, members in CATEGORIES.items():
        present = [per[s] for s in members if s in per]
        if present:
            metrics[category] = float(np.mean(present))
    metrics["mean"] = float(np.mean(list(per.values())))
    return metrics, {"count": {s: int((labels == s).sum()) for s in per}}


def winoground_metrics(scores: np.ndarray, tags: Sequence[str | None] | None = None) -> tuple[dict[str, float], dict]:
    """scores (N, 2, 2): scores[n, c, i] = cos(caption c, image i) of example n; caption k belongs to
    image k. Text score: each image prefers its own caption; image score: each caption prefers its
    own image; group score: both (Thrush et al.). Details: the three by tag."""
    s = scores
    text = (s[:, 0, 0] > s[:, 1, 0]) & (s[:, 1, 1] > s[:, 0, 1])
    image = (s[:, 0, 0] > s[:, 0, 1]) & (s[:, 1, 1] > s[:, 1, 0])
    group = text & image

    def three(mask: np.ndarray) -> dict[str, float]:
        return {
            "text_score": float(text[mask].mean()),
            "image_score": float(image[mask].mean()),
            "group_score": float(group[mask].mean()),
        }

    details: dict = {"count": len(s)}
    if tags is not None:
        labels = np.array([t or "" for t in tags])
        details["by_tag"] = {
            t: {**three(labels == t), "count": int((labels == t).sum())} for t in sorted(set(labels.tolist())) if t
        }
    return three(np.ones(len(s), dtype=bool)), details


def aro_metrics(
    groups: Sequence[str], scores: np.ndarray, excluded: frozenset[str] = frozenset(), min_count: int = 1
) -> tuple[dict[str, float], dict]:
    """scores (N, 2): cos(image, true caption), cos(image, false caption). accuracy: over all tests;
    macro_accuracy: the mean of the groups' accuracies over the groups not `excluded` with at least
    `min_count` tests (absent when no group qualifies)."""
    correct = scores[:, 0] > scores[:, 1]
    labels = np.asarray(groups)
    by_group = {
        g: {"accuracy": float(correct[labels == g].mean()), "count": int((labels == g).sum())} for g in sorted(set(groups))
    }
    metrics = {"accuracy": float(correct.mean())}
    kept = [v["accuracy"] for g, v in by_group.items() if g not in excluded and v["count"] >= min_count]
    if kept:
        metrics["macro_accuracy"] = float(np.mean(kept))
    return metrics, {"count": len(correct), "macro_groups": len(kept), "by_group": by_group}


# --- each benchmark's tests as (image, text) pairs ------------------------------------------------------


def _sugarcrepe_task(data: Data) -> ScoringTask:
    assert isinstance(data, SugarCrepeData)
    images, texts, pairs = _Positions[Path](), _Positions[str](), []
    for item in data.items:
        i = images(item.image)
        pairs += [(i, texts(item.caption)), (i, texts(item.negative))]
    return ScoringTask(ImageFiles(list(images.keys)), list(texts.keys), np.array(pairs, dtype=np.int64))


def _sugarcrepe_metrics(data: Data, scores: np.ndarray) -> tuple[dict[str, float], dict]:
    assert isinstance(data, SugarCrepeData)
    return sugarcrepe_metrics([item.subset for item in data.items], scores.reshape(-1, 2))


def _winoground_task(data: Data) -> ScoringTask:
    assert isinstance(data, WinogroundData)
    images, texts, pairs = _Positions[Path](), _Positions[str](), []
    for item in data.items:
        image_rows = (images(item.image_0), images(item.image_1))
        for caption in (item.caption_0, item.caption_1):
            t = texts(caption)
            pairs += [(image_rows[0], t), (image_rows[1], t)]
    return ScoringTask(ImageFiles(list(images.keys)), list(texts.keys), np.array(pairs, dtype=np.int64))


def _winoground_metrics(data: Data, scores: np.ndarray) -> tuple[dict[str, float], dict]:
    assert isinstance(data, WinogroundData)
    return winoground_metrics(scores.reshape(-1, 2, 2), [item.tag for item in data.items])


def _aro_task(data: Data) -> ScoringTask:
    assert isinstance(data, AroData)
    regions, texts, pairs = _Positions[tuple[Path, tuple[float, float, float, float]]](), _Positions[str](), []
    for item in data.items:
        r = regions((item.image, item.box))
        pairs += [(r, texts(item.true_caption)), (r, texts(item.false_caption))]
    images = CroppedImageFiles([image for image, _ in regions.keys], [box for _, box in regions.keys])
    return ScoringTask(images, list(texts.keys), np.array(pairs, dtype=np.int64))


def _aro_metrics(data: Data, scores: np.ndarray) -> tuple[dict[str, float], dict]:
    assert isinstance(data, AroData)
    groups = [item.group for item in data.items]
    if data.subset == "relation":
        return aro_metrics(groups, scores.reshape(-1, 2), excluded=SYMMETRIC_RELATIONS)
    return aro_metrics(groups, scores.reshape(-1, 2), min_count=MIN_ATTRIBUTE_PAIR_TESTS)


def _aro(subset: AroSubset, tests: str, macro_over: str) -> CompositionalBenchmark:
    """VG-Relation or VG-Attribution: one file format, task and metrics; `_aro_metrics` reads the subset."""
    return CompositionalBenchmark(
        f"aro-{subset}",
        f"{tests}; accuracy, and the official macro accuracy over {macro_over}",
        ARO_SOURCE,
        aro_layout(subset),
        {"accuracy": 0.5, "macro_accuracy": 0.5},
        "accuracy",  # always defined: the macro accuracy needs groups with enough tests
        lambda root, _images: load_aro(root, subset),
        _aro_task,
        _aro_metrics,
    )


COMPOSITIONAL_BENCHMARKS: dict[str, CompositionalBenchmark] = {
    "sugarcrepe": CompositionalBenchmark(
        "sugarcrepe",
        "COCO images with a caption and a hard negative that adds, replaces or swaps an object, attribute or "
        "relation (7 subsets); accuracy that the caption wins, per subset, per category and their mean",
        SUGARCREPE_SOURCE,
        f"ROOT: {SUGARCREPE_LAYOUT}; IMAGES: the COCO val2017 folder (default ROOT/val2017)",
        {**dict.fromkeys(SUBSETS, 0.5), "add": 0.5, "replace": 0.5, "swap": 0.5, "mean": 0.5},
        "mean",
        lambda root, images: load_sugarcrepe(root, images),
        _sugarcrepe_task,
        _sugarcrepe_metrics,
        takes_images=True,
    ),
    "winoground": CompositionalBenchmark(
        "winoground",
        "two images and two captions with the same words in another order; text, image and group score",
        WINOGROUND_SOURCE,
        WINOGROUND_LAYOUT,
        {"text_score": 0.25, "image_score": 0.25, "group_score": 1 / 6},
        "group_score",
        lambda root, _images: load_winoground(root),
        _winoground_task,
        _winoground_metrics,
    ),
    "aro-relation": _aro(
        "relation",
        "VG-Relation: an image region with its relation caption and the one with subject and object swapped",
        "relations (without those it calls symmetric)",
    ),
    "aro-attribution": _aro(
        "attribution",
        "VG-Attribution: an image region with two objects' attributes right and swapped",
        f"attribute pairs with at least {MIN_ATTRIBUTE_PAIR_TESTS} tests",
    ),
}


def compositional_benchmark(name: str) -> CompositionalBenchmark:
    if name not in COMPOSITIONAL_BENCHMARKS:
        raise PcclipError(f"unknown benchmark {name!r}; known: {', '.join(COMPOSITIONAL_BENCHMARKS)}")
    return COMPOSITIONAL_BENCHMARKS[name]


# --- where each benchmark's files are ---------------------------------------------------------------


@dataclass(frozen=True)
class BenchmarkSpec:
    """One `--benchmark NAME:ROOT[:IMAGES]`."""

    name: str
    root: Path
    images: Path | None = None


def parse_benchmark_spec(spec: str) -> BenchmarkSpec:
    name, _, rest = spec.partition(":")
    if name not in COMPOSITIONAL_BENCHMARKS or not rest:
        raise PcclipError(
            f"--benchmark {spec!r}: expected NAME:ROOT with NAME one of {', '.join(COMPOSITIONAL_BENCHMARKS)} "
            "(sugarcrepe:ROOT:IMAGES names COCO val2017's folder too)"
        )
    if COMPOSITIONAL_BENCHMARKS[name].takes_images and ":" in rest:
        root, images = rest.split(":", 1)
        return BenchmarkSpec(name, Path(root), Path(images))
    return BenchmarkSpec(name, Path(rest))


def check_roots(specs: Sequence[BenchmarkSpec]) -> None:
    """Every ROOT (and IMAGES) is a folder, else one PcclipError naming the first that is not, and where
    the data comes from. Cheap: run it before building a model."""
    for spec in specs:
        bench = COMPOSITIONAL_BENCHMARKS[spec.name]
        for folder in (spec.root, spec.images):
            if folder is not None and not folder.is_dir():
                raise PcclipError(f"{folder}: directory not found; {spec.name} expects {bench.layout}")


def load_compositional(spec: BenchmarkSpec) -> Data:
    return compositional_benchmark(spec.name).load(spec.root, spec.images)


# --- evaluation ----------------------------------------------------------------------------------------


def checkpoint_identity(pretrained: str | Path) -> dict:
    """A checkpoint file by path, size and modification time; anything else is an open_clip tag."""
    path = Path(pretrained)
    if path.is_file():
        stat = path.stat()
        return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return {"tag": str(pretrained)}


def _file_identity(path: Path) -> dict:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cache_path(
    cache_root: Path, model_name: str, pretrained: str | Path, name: str, root: Path, images: Path | None, data: Data
) -> Path:
    key = settings_hash(
        {
            "model": model_name,
            "checkpoint": checkpoint_identity(pretrained),
            "benchmark": name,
            "root": str(Path(root).resolve()),
            "images": None if images is None else str(Path(images).resolve()),
            "annotations": [_file_identity(f) for f in data.files],
            "code": code_versions("benchmarks"),
        }
    )
    return stage_folder(cache_root, "benchmarks") / "compositional" / f"{name}-{key}.json"


def evaluate_compositional(
    model,
    tokenizer,
    name: str,
    root: str | Path,
    images: str | Path | None = None,
    *,
    data: Data | None = None,
    model_name: str | None = None,
    pretrained: str | Path | None = None,
    cache_root: Path | None = None,
    batch_size: int = 64,
) -> dict:
    """The benchmark's metrics for `model`: {"benchmark", "root", "images", "items", "metrics": {metric:
    value}, "chance": {metric: chance level}, "details": {...}}. `data` is the benchmark as
    `load_compositional` read it (read here if not given). With `model_name` and `pretrained` the
    result is cached (see the module's docstring)."""
    bench = compositional_benchmark(name)
    root = Path(root)
    images = None if images is None else Path(images)
    if data is None:
        data = bench.load(root, images)
    target = None
    if model_name is not None and pretrained is not None:
        target = cache_path(cache_root or default_cache_root(), model_name, pretrained, name, root, images, data)
        if target.is_file():
            try:
                return read_json(target)
            except PcclipError:  # unreadable: computed again and rewritten
                pass
    result = {
        "benchmark": name,
        "root": str(root),
        "images": str(data.images_root) if isinstance(data, SugarCrepeData) else None,
        **score_compositional(model, tokenizer, bench, data, bench.task(data), batch_size=batch_size),
    }
    if target is not None:
        write_json(target, result)
    return result


def score_compositional(
    model,
    tokenizer,
    bench: CompositionalBenchmark,
    data: Data,
    task: ScoringTask,
    image_embeddings: torch.Tensor | None = None,
    batch_size: int = 64,
) -> dict:
    """{"items", "metrics", "chance", "details"} of `model` on the benchmark's `task` (`bench.task(data)`);
    `image_embeddings`: of `task.images`, when the caller has them."""
    if image_embeddings is None:
        image_embeddings = encode_image_source(model, task.images, batch_size)
    scores = pair_scores(image_embeddings, encode_texts(model, tokenizer, task.texts, batch_size), task.pairs)
    metrics, details = bench.metrics(data, scores)
    return {
        "items": len(data.items),
        "metrics": metrics,
        "chance": {k: bench.chance[k] for k in metrics if k in bench.chance},
        "details": details,
    }


def format_table(results: Sequence[dict]) -> str:
    """One row per metric the registry shows: benchmark, metric, value, chance."""
    rows = [("benchmark", "metric", "value", "chance")]
    for r in results:
        chance = COMPOSITIONAL_BENCHMARKS[r["benchmark"]].chance
        rows += [(r["benchmark"], m, f"{r['metrics'][m]:.3f}", f"{c:.3f}") for m, c in chance.items() if m in r["metrics"]]
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    return "\n".join(
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]:>{widths[3]}}" for row in rows
    )


def benchmarks_markdown() -> str:
    """The README's table of the benchmarks `pcclip eval` reads: what each tests, its metrics with their
    chance levels, and where the data comes from."""
    lines = ["| benchmark | what it tests | metrics (chance) | data |", "| --- | --- | --- | --- |"]
    for b in COMPOSITIONAL_BENCHMARKS.values():
        metrics = ", ".join(f"{m} ({c:.2f})" for m, c in b.chance.items())
        spec = f"`{b.name}:ROOT{'[:IMAGES]' if b.takes_images else ''}`"
        lines.append(f"| {spec} | {b.description} | {metrics} | {b.source} |")
    return "\n".join(lines)
