"""Real-data benchmarks (`run.benchmarks`): each loaded once from its standard layout and evaluated on
every model of a run with the library's metrics: zero-shot classification, CLIPScore and retrieval on
captions, and the paper's difference-based classification on an AwA2 predicate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import BenchmarkSettings
from .datasets import (
    STANDARD_TEMPLATES,
    CaptionedImages,
    LabelledImages,
    encode_image_source,
    load_awa2,
    load_cifar,
    load_coco_captions,
    load_cub,
    load_image_folder,
)
from .evaluate import evaluate_attribute, evaluate_captions, evaluate_classification

# The number each task's study tables show.
HEADLINE = {"zero-shot": "zero_shot_accuracy", "captions": "clipscore", "differences": "difference_accuracy"}


@dataclass
class Benchmark:
    settings: BenchmarkSettings
    data: LabelledImages | CaptionedImages
    values: np.ndarray | None = None  # differences: the predicate's value of every image


def load_benchmark(b: BenchmarkSettings) -> Benchmark:
    if b.dataset == "coco":
        return Benchmark(b, load_coco_captions(b.root, b.split or "val2017"))
    if b.dataset == "awa2":
        awa = load_awa2(b.root, b.split or "all")
        return Benchmark(b, awa.data, awa.image_values(b.predicate) if b.task == "differences" else None)
    if b.dataset == "cub":
        return Benchmark(b, load_cub(b.root, b.split or "test", attributes=False).data)
    if b.dataset == "image-folder":
        return Benchmark(b, load_image_folder(b.root))
    return Benchmark(b, load_cifar(b.root, b.dataset, b.split or "test"))


def embed_benchmark_images(model, benchmark: Benchmark) -> torch.Tensor:
    return encode_image_source(model, benchmark.data.images)


def evaluate_benchmark(model, tokenizer, benchmark: Benchmark, image_embeddings: torch.Tensor | None = None) -> dict:
    """The task's metrics, with HEADLINE's number among them."""
    b, data = benchmark.settings, benchmark.data
    if b.task == "captions":
        assert isinstance(data, CaptionedImages)  # captions go with coco (BenchmarkSettings checks)
        return evaluate_captions(model, tokenizer, data, image_embeddings)
    if b.task == "differences":
        assert benchmark.values is not None  # load_benchmark reads the predicate's values for this task
        return evaluate_attribute(
            model,
            tokenizer,
            data.images,
            benchmark.values,
            b.more_sentence,
            b.less_sentence,
            b.more_prompt,
            b.less_prompt,
            pairs=b.pairs,
            seed=b.seed,
            image_embeddings=image_embeddings,
        )
    assert isinstance(data, LabelledImages)  # every dataset but coco has labels
    return evaluate_classification(model, tokenizer, data, STANDARD_TEMPLATES[b.templates], image_embeddings=image_embeddings)


def headline(b: BenchmarkSettings, metrics: dict) -> float:
    return metrics[HEADLINE[b.task]]
