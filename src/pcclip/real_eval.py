"""Real-data benchmarks (`run.benchmarks`): each loaded once from its standard layout and evaluated on
every model of a run with the library's metrics: zero-shot classification, CLIPScore and retrieval on
captions, and the paper's difference-based classification: on one AwA2 predicate (`evaluate_attribute`),
and on the tasks of pcclip.datasets.differences (AwA2 predicates, CIFAR-100 size, Flowers-102 colour,
CUB attributes) with `evaluate_differences`: a sign test over seeded random ordered pairs in both
orders, per attribute and overall, and for tasks with several attributes a K-way choice; and the
compositional benchmarks of `pcclip eval` (task 'compositional', pcclip.compositional's registry)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch

from .compositional import COMPOSITIONAL_BENCHMARKS, ScoringTask, score_compositional
from .compositional import Data as CompositionalData
from .config import BenchmarkSettings
from .datasets import (
    STANDARD_TEMPLATES,
    CaptionedImages,
    ImageSource,
    LabelledImages,
    encode_image_source,
    load_awa2,
    load_cifar,
    load_coco_captions,
    load_cub,
    load_cub_attribute_labels,
    load_flowers102,
    load_image_folder,
)
from .datasets.differences import (
    DifferenceAttribute,
    awa2_predicate_attributes,
    cifar100_size_attribute,
    cub_attributes,
    flowers102_colour_attribute,
)
from .encode import encode_texts
from .errors import PcclipError
from .evaluate import accuracy_with_ci, evaluate_attribute, evaluate_captions, evaluate_classification
from .losses import difference_directions
from .metrics import hit_at_k, sign_test_credit

# The number each task's study tables show (a compositional benchmark's: its registry entry's).
HEADLINE = {
    "zero-shot": "zero_shot_accuracy",
    "captions": "clipscore",
    "differences": "difference_accuracy",
    "size-differences": "difference_accuracy",
    "colour-differences": "difference_accuracy",
    "attribute-differences": "difference_accuracy",
}


@dataclass
class Benchmark:
    settings: BenchmarkSettings
    data: LabelledImages | CaptionedImages | CompositionalData
    values: np.ndarray | None = None  # differences on one AwA2 predicate: its value of every image
    attributes: tuple[DifferenceAttribute, ...] = ()  # the other difference tasks
    scoring: ScoringTask | None = None  # compositional benchmarks: the (image, text) pairs to score

    @property
    def images(self) -> ImageSource:
        """The images the benchmark embeds (a compositional benchmark's: those its tests score)."""
        if self.scoring is not None:
            return self.scoring.images
        assert isinstance(self.data, (LabelledImages, CaptionedImages))  # the compositional data has a scoring task
        return self.data.images


def load_benchmark(b: BenchmarkSettings) -> Benchmark:
    if b.task == "compositional":
        bench = COMPOSITIONAL_BENCHMARKS[b.dataset]
        data = bench.load(b.root, b.images)
        return Benchmark(b, data, scoring=bench.task(data))
    if b.dataset == "coco":
        return Benchmark(b, load_coco_captions(b.root, b.split or "val2017"))
    if b.dataset == "awa2":
        awa = load_awa2(b.root, b.split or "all")
        if b.task == "differences" and b.predicates:
            return Benchmark(
                b, awa.data, attributes=awa2_predicate_attributes(awa, b.predicates, b.difference_template, b.margin)
            )
        return Benchmark(b, awa.data, awa.image_values(b.predicate) if b.task == "differences" else None)
    if b.dataset == "cub":
        if b.task == "attribute-differences":
            labels = load_cub_attribute_labels(b.root, b.split or "test")
            return Benchmark(b, labels.data, attributes=cub_attributes(labels, b.attributes))
        return Benchmark(b, load_cub(b.root, b.split or "test", attributes=False).data)
    if b.dataset == "image-folder":
        return Benchmark(b, load_image_folder(b.root))
    if b.dataset == "flowers102":
        flowers = load_flowers102(b.root, b.split or "test")
        if b.task == "colour-differences":
            return Benchmark(
                b, flowers, attributes=(flowers102_colour_attribute(flowers, b.difference_template, b.include_varied),)
            )
        return Benchmark(b, flowers)
    cifar = load_cifar(b.root, b.dataset, b.split or "test")
    if b.task == "size-differences":
        return Benchmark(b, cifar, attributes=(cifar100_size_attribute(cifar, b.difference_template, b.size_ratio),))
    return Benchmark(b, cifar)


def embed_benchmark_images(model, benchmark: Benchmark) -> torch.Tensor:
    return encode_image_source(model, benchmark.images)


def evaluate_benchmark(model, tokenizer, benchmark: Benchmark, image_embeddings: torch.Tensor | None = None) -> dict:
    """The task's metrics, with its headline number (`headline_metric`) among them."""
    b, data = benchmark.settings, benchmark.data
    if benchmark.scoring is not None:
        assert not isinstance(data, (LabelledImages, CaptionedImages))  # load_benchmark read the registry's data
        bench = COMPOSITIONAL_BENCHMARKS[b.dataset]
        scored = score_compositional(model, tokenizer, bench, data, benchmark.scoring, image_embeddings)
        # flat like every benchmark's metrics: the headline number at the top
        return {**scored["metrics"], "chance": scored["chance"], "details": scored["details"]}
    if b.task == "captions":
        assert isinstance(data, CaptionedImages)  # captions go with coco (BenchmarkSettings checks)
        return evaluate_captions(model, tokenizer, data, image_embeddings)
    if benchmark.attributes:
        return evaluate_differences(
            model,
            tokenizer,
            benchmark.images,
            benchmark.attributes,
            pairs=b.pairs,
            seed=b.seed,
            choices=b.choice_k if len(benchmark.attributes) > 1 else None,
            image_embeddings=image_embeddings,
        )
    if b.task == "differences":
        assert benchmark.values is not None  # load_benchmark reads the predicate's values for this task
        return evaluate_attribute(
            model,
            tokenizer,
            benchmark.images,
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


def headline_metric(task: str, dataset: str) -> str:
    """The name of a benchmark's number that the study's tables and `pcclip run`'s table show."""
    return COMPOSITIONAL_BENCHMARKS[dataset].headline if task == "compositional" else HEADLINE[task]


def headline(b: BenchmarkSettings, metrics: dict) -> float:
    return metrics[headline_metric(b.task, b.dataset)]


# --- difference tasks ------------------------------------------------------------------------------------


@dataclass
class DifferenceItems:
    """Ordered pairs of one attribute, both orders: item k compares images first[k] and second[k],
    described by sentence[k] (the attribute's index) and, in the other order, by reversed[k]; the two
    orders of a pair share pair[k]."""

    first: np.ndarray
    second: np.ndarray
    sentence: np.ndarray
    reversed: np.ndarray
    pair: np.ndarray


def _attribute_rng(seed: int, name: str, stream: int) -> np.random.Generator:
    """A generator per (seed, attribute, use): an attribute's pairs do not depend on which other
    attributes the task lists."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), stream])


def _pick(true: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per row of a bool matrix, a uniformly random column among the True ones."""
    return np.where(true, rng.random(true.shape), -1.0).argmax(axis=1)


def sample_difference_items(attribute: DifferenceAttribute, pairs: int, seed: int, max_rounds: int = 200) -> DifferenceItems:
    """`pairs` random ordered pairs (i, j), seeded, such that some sentence is true of (i, j) and some
    of (j, i) (for an ordered attribute: values differing by the margin), each with a random true
    sentence per order; returned as 2 * pairs items, the pairs first in order (i, j), then (j, i)."""
    rng = _attribute_rng(seed, attribute.name, 0)
    known = np.flatnonzero(np.isfinite(attribute.scores).any(axis=1))
    first: list[np.ndarray] = []
    second: list[np.ndarray] = []
    forward: list[np.ndarray] = []
    backward: list[np.ndarray] = []
    found = 0
    for _ in range(max_rounds):
        if found >= pairs or len(known) < 2:
            break
        i, j = known[rng.integers(len(known), size=(2, 4 * pairs))]
        true_ij, true_ji = attribute.true_of(i, j), attribute.true_of(j, i)
        keep = true_ij.any(axis=1) & true_ji.any(axis=1)
        first.append(i[keep])
        second.append(j[keep])
        forward.append(_pick(true_ij[keep], rng))
        backward.append(_pick(true_ji[keep], rng))
        found += int(keep.sum())
    if found < pairs:
        raise PcclipError(
            f"difference task {attribute.name!r}: found {found} of {pairs} image pairs that differ "
            f"({len(known)} images have a known value); the dataset or split has too few differing images"
        )
    a, b = np.concatenate(first)[:pairs], np.concatenate(second)[:pairs]
    fwd, bwd = np.concatenate(forward)[:pairs], np.concatenate(backward)[:pairs]
    pair = np.arange(pairs)
    return DifferenceItems(
        np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([fwd, bwd]), np.concatenate([bwd, fwd]), np.tile(pair, 2)
    )


def choice_candidates(
    attributes: tuple[DifferenceAttribute, ...], index: int, items: DifferenceItems, k: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, K) sentence indices (into all attributes' sentences in order) per item of attribute
    `index`: its true sentence, its reversed one, and K - 2 random sentences of other attributes that
    are not true of the pair; and the items kept (those with enough such sentences)."""
    offsets = np.cumsum([0] + [len(a.sentences) for a in attributes])
    owner = np.repeat(np.arange(len(attributes)), [len(a.sentences) for a in attributes])
    true = np.concatenate([a.true_of(items.first, items.second) for a in attributes], axis=1)
    eligible = ~true & (owner != index)[None, :]
    keys = np.where(eligible, _attribute_rng(seed, attributes[index].name, 1).random(eligible.shape), np.inf)
    distractors = np.argsort(keys, axis=1, kind="stable")[:, : k - 2]
    kept = eligible.sum(axis=1) >= k - 2
    own = offsets[index]
    rows = np.concatenate([(own + items.sentence)[:, None], (own + items.reversed)[:, None], distractors], axis=1)
    return rows[kept], kept


def evaluate_differences(
    model,
    tokenizer,
    images: ImageSource,
    attributes: tuple[DifferenceAttribute, ...],
    pairs: int = 5000,
    seed: int = 0,
    choices: int | None = None,
    resamples: int = 1000,
    image_embeddings: torch.Tensor | None = None,
) -> dict:
    """The paper's difference-based classification on a task of one or more attributes: for each, `pairs`
    seeded random ordered pairs that differ, each scored in both orders with the sentence true for
    that order; right when cos(text, normalize(v(first) - v(second))) > 0 (chance 1/2). With
    `choices` = K, also the K-way choice (chance 1/K) among the true sentence, its reversal and K - 2
    sentences of other attributes that are not true of the pair. Metric names as on the world:
    difference_accuracy[_ci|_by_attribute|_by_attribute_ci] (each attribute has as many items, so the
    overall accuracy is the mean of the attributes'), difference_choice_accuracy[...],
    difference_choice_candidates, difference_choice_picks_reversed."""
    emb = encode_image_source(model, images) if image_embeddings is None else image_embeddings
    if len(emb) != len(images):
        raise PcclipError(f"evaluate_differences: {len(emb)} image embeddings for {len(images)} images")
    samples = [sample_difference_items(attribute, pairs, seed) for attribute in attributes]  # fails before encoding
    texts = encode_texts(model, tokenizer, [s for a in attributes for s in a.sentences])
    offsets = np.cumsum([0] + [len(a.sentences) for a in attributes])
    sign, choice, picks_reversed = [], [], []
    groups: list[str] = []
    choice_groups: list[str] = []
    clusters, choice_clusters = [], []
    left_out = 0
    for index, (attribute, items) in enumerate(zip(attributes, samples)):
        directions = difference_directions(emb[items.first], emb[items.second])
        similarity = directions @ texts.T  # (items, all sentences)
        sign.append(sign_test_credit(texts[offsets[index] + items.sentence], emb[items.first], emb[items.second]))
        groups += [attribute.name] * len(items.first)
        clusters.append(index * pairs + items.pair)
        if choices is not None:
            rows, kept = choice_candidates(attributes, index, items, choices, seed)
            scores = similarity[torch.from_numpy(kept)].gather(1, torch.from_numpy(rows))
            relevant = torch.zeros_like(scores, dtype=torch.bool)
            relevant[:, 0] = True
            choice.append(hit_at_k(scores, relevant, 1))
            picks_reversed.append(hit_at_k(scores, relevant.roll(1, dims=1), 1))
            choice_groups += [attribute.name] * len(rows)
            choice_clusters.append(index * pairs + items.pair[kept])
            left_out += int((~kept).sum())
    result = accuracy_with_ci("difference_accuracy", torch.cat(sign), groups, np.concatenate(clusters), resamples, seed)
    result["difference_pairs_per_attribute"] = pairs
    if choices is not None:
        if not choice_groups:
            raise PcclipError(f"difference choice: no pair has {choices - 2} false sentences of other attributes; lower choices")
        result |= accuracy_with_ci(
            "difference_choice_accuracy", torch.cat(choice), choice_groups, np.concatenate(choice_clusters), resamples, seed
        )
        result["difference_choice_candidates"] = choices
        result["difference_choice_picks_reversed"] = torch.cat(picks_reversed).mean().item()
        result["difference_choice_left_out"] = left_out  # items with too few false sentences of other attributes
    return result
