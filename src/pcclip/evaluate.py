"""Evaluation: every image and text is embedded once, and all metrics read those embeddings.

On the world (`evaluate`): difference-based classification (sign test and K-way choice, and the sign
test per wording construction), zero-shot classification, comparative prompting, CLIPScore and
retrieval, attribute ranking and analogies, with the metric names below. On real data:
`evaluate_classification`, `evaluate_captions` and `evaluate_attribute` use the same metric
functions and names. The pipeline saves each evaluation with its provenance (pcclip.provenance).

Metric names (the same in every results file and table):
  difference_accuracy[_ci|_by_attribute|_by_attribute_ci]         sign test, chance 1/2
  difference_choice_accuracy[_ci|_by_attribute|_by_attribute_ci]  K-way choice, chance 1/K
  difference_choice_candidates, difference_choice_picks_reversed  K; how often the reversed sentence wins
  difference_accuracy_by_construction[_ci], construction_worst_accuracy
      sign test on the construction probe (other minimal pairs, each said in every named construction of
      the held-out wording: the second image named first, a verb of change, ...), per construction and
      the worst one's; a model that reads word order instead of meaning fails some constructions
  zero_shot_accuracy, zero_shot_top5_accuracy, zero_shot_worst_class_accuracy, zero_shot_per_class_accuracy
      (on the world, per task: the same names + _by_task; zero_shot_accuracy is then the mean over tasks)
  comparative_zero_shot_accuracy[_by_task]                        zero-shot after comparative prompting
  clipscore, retrieval.{image_to_text_r1, text_to_image_r1}, retrieval_r5.{image_to_text_r5, text_to_image_r5}
  ranking.<attribute>.<direction>.{spearman, kendall}
  analogy_accuracy[_by_attribute], analogy_chance
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from .data import HeldoutSet
from .datasets.base import CaptionedImages, LabelledImages
from .datasets.comparatives import Comparative, ComparativeWriter, gather_comparatives
from .datasets.images import ImageSource, encode_image_source
from .datasets.templates import PAPER_TEMPLATES
from .encode import encode_images, encode_texts
from .errors import PcclipError
from .metrics import (
    accuracy_by_group,
    analogy_queries,
    bootstrap_ci,
    choice_credit,
    class_embeddings,
    clipscore,
    comparative_class_embeddings,
    hit_at_k,
    kendall_tau_b,
    nearest_class_pairs,
    per_class_accuracy,
    retrieval_recall,
    sign_test_credit,
    spearman,
    worst_class,
    zero_shot_credit,
)

PairChoice = Literal["nearest", "all"]


# --- metric groups shared by the world and real data ---------------------------------------------


def accuracy_with_ci(
    name: str, credit: torch.Tensor, groups: Sequence[str], clusters: np.ndarray, resamples: int, seed: int
) -> dict:
    """{name, name_ci, name_by_attribute, name_by_attribute_ci}: means and seeded bootstrap 95%
    intervals that resample whole clusters (a minimal pair's two orders share their images)."""
    values = credit.numpy()
    return {
        name: float(values.mean()),
        f"{name}_ci": list(bootstrap_ci(values, clusters, resamples, seed)),
        f"{name}_by_attribute": accuracy_by_group(credit, groups),
        f"{name}_by_attribute_ci": group_intervals(credit, groups, clusters, resamples, seed),
    }


def group_intervals(credit: torch.Tensor, groups: Sequence[str], clusters: np.ndarray, resamples: int, seed: int) -> dict:
    """{group: seeded bootstrap 95% interval of its mean credit}, resampling whole clusters, in
    first-seen group order."""
    values, group_array = credit.numpy(), np.asarray(groups)
    return {
        g: list(bootstrap_ci(values[group_array == g], clusters[group_array == g], resamples, seed))
        for g in dict.fromkeys(groups)
    }


def construction_accuracy(
    texts: torch.Tensor,
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    constructions: Sequence[str],
    clusters: np.ndarray,
    resamples: int,
    seed: int,
) -> dict:
    """Sign-test accuracy of difference sentences (texts[i] says how image_a[i] differs from
    image_b[i]) per wording construction, with intervals that resample clusters (minimal pairs), and
    the worst construction's. A model that learned word order ("the image named first has more")
    instead of meaning passes the constructions that name the first image first and fails the others,
    which an accuracy over all sentences averages away."""
    credit = sign_test_credit(texts, image_a, image_b)
    by_construction = accuracy_by_group(credit, constructions)
    return {
        "difference_accuracy_by_construction": by_construction,
        "difference_accuracy_by_construction_ci": group_intervals(credit, constructions, clusters, resamples, seed),
        "construction_worst_accuracy": min(by_construction.values()),
    }


def classification_metrics(
    images: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor, class_names: Sequence[str], task: str = ""
) -> dict:
    """Zero-shot top-1 and top-5 accuracy, per-class top-1 accuracy and the worst class's."""
    top1 = zero_shot_credit(images, labels, classes, 1)
    per_class = per_class_accuracy(top1, labels, class_names, task)
    return {
        "zero_shot_accuracy": top1.mean().item(),
        "zero_shot_top5_accuracy": zero_shot_credit(images, labels, classes, 5).mean().item(),
        "zero_shot_worst_class_accuracy": worst_class(per_class),
        "zero_shot_per_class_accuracy": per_class,
    }


def comparative_pairs(classes: torch.Tensor, choice: PairChoice, neighbours: int) -> list[tuple[int, int]]:
    """The class pairs (a, c) whose comparatives update class c: each class's nearest classes by text
    embedding, or all ordered pairs. Test images and predictions play no part."""
    if choice == "all":
        return [(a, c) for c in range(len(classes)) for a in range(len(classes)) if a != c]
    if choice == "nearest":
        return nearest_class_pairs(classes, neighbours)
    raise PcclipError(f"comparative pairs must be 'nearest' or 'all', got {choice!r}")


def comparative_accuracy(
    images: torch.Tensor,
    labels: torch.Tensor,
    classes: torch.Tensor,
    first: np.ndarray,
    second: np.ndarray,
    comparatives: torch.Tensor,
    pairs: Sequence[tuple[int, int]],
    alpha: float,
) -> float:
    """Top-1 zero-shot accuracy after comparative prompting with the comparatives of `pairs`."""
    wanted = set(pairs)
    keep = torch.tensor([(int(a), int(c)) in wanted for a, c in zip(first, second)], dtype=torch.bool)
    if not keep.any():
        raise PcclipError("comparative prompting: no comparative for the chosen class pairs")
    updated = comparative_class_embeddings(
        classes, torch.as_tensor(first)[keep], torch.as_tensor(second)[keep], comparatives[keep], alpha
    )
    return zero_shot_credit(images, labels, updated, 1).mean().item()


def caption_metrics(images: torch.Tensor, texts: torch.Tensor, owner: torch.Tensor) -> dict:
    """CLIPScore over (image, caption) pairs and recall@1/@5 both ways, from one set of embeddings."""
    i2t_1, t2i_1 = retrieval_recall(images, texts, owner, 1)
    i2t_5, t2i_5 = retrieval_recall(images, texts, owner, 5)
    return {
        "clipscore": clipscore(images[owner], texts),
        "retrieval": {"image_to_text_r1": i2t_1, "text_to_image_r1": t2i_1},
        "retrieval_r5": {"image_to_text_r5": i2t_5, "text_to_image_r5": t2i_5},
    }


def ranking_correlations(images: torch.Tensor, values: np.ndarray, direction: torch.Tensor) -> dict:
    """Spearman and Kendall (tau-b) correlation between the true values and the images' positions
    along a text direction."""
    scores = (images.double() @ direction.double()).numpy()
    return {"spearman": spearman(scores, values), "kendall": kendall_tau_b(scores, values)}


def mean_direction(embeddings: torch.Tensor) -> torch.Tensor:
    """The normalised mean of normalised text embeddings (a template ensemble of one meaning)."""
    return F.normalize(embeddings.mean(dim=0), dim=-1)


# --- the world's held-out set ---------------------------------------------------------------------


@dataclass
class HeldoutEmbeddings:
    """The held-out set's embeddings: images (one row per held-out image) and texts by group name
    (HeldoutSet.text_groups)."""

    images: torch.Tensor
    texts: dict[str, torch.Tensor]


def embed_heldout(model, tokenizer, heldout: HeldoutSet, image_embeddings: torch.Tensor | None = None) -> HeldoutEmbeddings:
    """Embed every held-out image (unless given) and every text, all texts in one encoder call."""
    images = encode_images(model, heldout.images) if image_embeddings is None else image_embeddings
    groups = heldout.text_groups()
    encoded = encode_texts(model, tokenizer, [t for texts in groups.values() for t in texts])
    return HeldoutEmbeddings(images, dict(zip(groups, encoded.split([len(t) for t in groups.values()]))))


def evaluate(model, tokenizer, heldout: HeldoutSet, image_embeddings: torch.Tensor | None = None) -> dict:
    """{metric name: value} on the held-out set; pass `image_embeddings` to reuse a frozen image
    tower's outputs."""
    return evaluate_embeddings(embed_heldout(model, tokenizer, heldout, image_embeddings), heldout)


def evaluate_embeddings(emb: HeldoutEmbeddings, heldout: HeldoutSet, seconds: dict[str, float] | None = None) -> dict:
    """All world metrics from embeddings; `seconds`, if given, receives the time of each metric group."""
    seconds = {} if seconds is None else seconds

    @contextmanager
    def timed(name: str):
        start = time.perf_counter()
        yield
        seconds[name] = time.perf_counter() - start

    with timed("class embeddings"):
        classes = {
            name: class_embeddings(emb.texts[f"prompts/{name}"].view(len(task.class_names), len(task.prompts[0]), -1))
            for name, task in heldout.zero_shot.items()
        }
    results: dict = {}
    for name, group in (
        ("difference", _world_differences),
        ("constructions", _world_constructions),
        ("zero-shot", _world_zero_shot),
        ("comparative prompting", _world_comparative_prompting),
        ("captions", _world_captions),
        ("ranking", _world_ranking),
        ("analogy", _world_analogies),
    ):
        with timed(name):
            results.update(group(emb, heldout, classes))
    return results


def _world_differences(emb: HeldoutEmbeddings, h: HeldoutSet, _classes) -> dict:
    texts, a, b = emb.texts["differences"], emb.images[h.diff_a], emb.images[h.diff_b]
    common: dict[str, Any] = dict(
        groups=h.diff_attributes, clusters=h.diff_pair, resamples=h.settings.bootstrap_resamples, seed=h.settings.seed
    )
    candidates = texts[h.diff_candidates]
    return {
        **accuracy_with_ci("difference_accuracy", sign_test_credit(texts, a, b), **common),
        **accuracy_with_ci("difference_choice_accuracy", choice_credit(candidates, a, b), **common),
        "difference_choice_candidates": int(h.diff_candidates.shape[1]),
        # how often the K-way choice picks the reversed sentence (right attribute, wrong direction)
        "difference_choice_picks_reversed": choice_credit(candidates, a, b, column=1).mean().item(),
    }


def _world_constructions(emb: HeldoutEmbeddings, h: HeldoutSet, _classes) -> dict:
    probe = h.constructions
    images_a, images_b = emb.images[probe.first], emb.images[probe.second]
    s = h.settings
    return construction_accuracy(
        emb.texts["constructions"], images_a, images_b, probe.constructions, probe.pair, s.bootstrap_resamples, s.seed
    )


def _world_zero_shot(emb: HeldoutEmbeddings, h: HeldoutSet, classes: dict) -> dict:
    per_task = {
        name: classification_metrics(
            emb.images[task.image_index], torch.from_numpy(task.labels), classes[name], task.class_names, name
        )
        for name, task in h.zero_shot.items()
    }
    results: dict[str, Any] = {
        f"{key}_by_task": {name: m[key] for name, m in per_task.items()} for key in next(iter(per_task.values()))
    }
    results["zero_shot_accuracy"] = float(np.mean(list(results["zero_shot_accuracy_by_task"].values())))
    results["zero_shot_per_class_accuracy"] = results.pop("zero_shot_per_class_accuracy_by_task")
    results["zero_shot_templates"] = h.settings.templates
    return results


def _world_comparative_prompting(emb: HeldoutEmbeddings, h: HeldoutSet, classes: dict) -> dict:
    s = h.settings
    by_task = {
        name: comparative_accuracy(
            emb.images[task.image_index],
            torch.from_numpy(task.labels),
            classes[name],
            task.comparative_first,
            task.comparative_second,
            emb.texts[f"comparatives/{name}"],
            comparative_pairs(classes[name], s.comparative_pairs, s.comparative_neighbours),
            s.comparative_alpha,
        )
        for name, task in h.zero_shot.items()
    }
    return {
        "comparative_zero_shot_accuracy": float(np.mean(list(by_task.values()))),
        "comparative_zero_shot_accuracy_by_task": by_task,
    }


def _world_captions(emb: HeldoutEmbeddings, h: HeldoutSet, _classes) -> dict:
    return caption_metrics(emb.images[h.caption_index], emb.texts["captions"], torch.arange(len(h.captions)))


def _world_ranking(emb: HeldoutEmbeddings, h: HeldoutSet, _classes) -> dict:
    """Three directions per attribute: 'comparative', the mean embedding of sentences saying the first
    image has more; 'comparative_minus_reversed', that minus the mean of the same pairs described the
    other way round (cancels what all difference sentences share, whatever their direction);
    'contrast', "a large object" minus "a small object" (template ensembles)."""

    def between(more: torch.Tensor, less: torch.Tensor) -> torch.Tensor:
        return F.normalize(mean_direction(more) - mean_direction(less), dim=-1)

    ranking = {}
    for name, task in h.ranking.items():
        images = emb.images[task.image_index]
        texts = {k: emb.texts[f"ranking/{name}/{k}"] for k in ("comparatives", "reversed", "more", "less")}
        directions = {
            "comparative": mean_direction(texts["comparatives"]),
            "comparative_minus_reversed": between(texts["comparatives"], texts["reversed"]),
            "contrast": between(texts["more"], texts["less"]),
        }
        ranking[name] = {kind: ranking_correlations(images, task.values, d) for kind, d in directions.items()}
    return {"ranking": ranking}


def _world_analogies(emb: HeldoutEmbeddings, h: HeldoutSet, classes: dict) -> dict:
    """For each image of a zero-shot task and each other class of that task: image - text(its class)
    + text(the other class), e.g. a red circle - "red" + "blue". Right when the nearest other gallery
    image has the new class and keeps every other task's class (a blue circle)."""
    gallery = emb.images[h.analogy_index]
    labels = {task: torch.from_numpy(v) for task, v in h.analogy_labels.items()}
    n = len(gallery)
    accuracy, chance = {}, []
    for task, task_classes in classes.items():
        credits = []
        for target in range(len(task_classes)):
            own = torch.from_numpy(h.analogy_sources[task])
            source = own[labels[task][own] != target]
            queries = analogy_queries(
                gallery[source], task_classes[labels[task][source]], task_classes[target].expand(len(source), -1)
            )
            scores = queries @ gallery.T
            scores[torch.arange(len(source)), source] = -torch.inf  # the source image is not an answer
            relevant = (labels[task] == target).expand(len(source), n).clone()
            for other, other_labels in labels.items():
                if other != task:
                    relevant &= other_labels.unsqueeze(0) == other_labels[source].unsqueeze(1)
            answerable = relevant.any(dim=1)
            credits.append(hit_at_k(scores[answerable], relevant[answerable], 1))
            chance.append(relevant[answerable].sum(dim=1).double() / (n - 1))
        accuracy[task] = torch.cat(credits).mean().item()
    return {
        "analogy_accuracy": float(np.mean(list(accuracy.values()))),
        "analogy_accuracy_by_attribute": accuracy,
        "analogy_chance": torch.cat(chance).mean().item(),
    }


# --- real data ------------------------------------------------------------------------------------


def evaluate_classification(
    model,
    tokenizer,
    data: LabelledImages,
    templates: Sequence[str] = PAPER_TEMPLATES,
    comparatives: Sequence[Comparative] | ComparativeWriter | None = None,
    alpha: float = 0.8,
    pairs: PairChoice = "nearest",
    neighbours: int = 3,
    image_embeddings: torch.Tensor | None = None,
) -> dict:
    """Zero-shot classification of a labelled dataset with a template ensemble; with `comparatives`
    (read from a file, or a writer called per class pair) also the accuracy after comparative prompting."""
    images = encode_image_source(model, data.images) if image_embeddings is None else image_embeddings
    prompts = [t.format(name) for name in data.class_names for t in templates]
    classes = class_embeddings(encode_texts(model, tokenizer, prompts).view(len(data.class_names), len(templates), -1))
    labels = torch.from_numpy(data.labels)
    results = classification_metrics(images, labels, classes, data.class_names)
    if comparatives is not None:
        chosen = comparative_pairs(classes, pairs, neighbours)
        first, second, texts = gather_comparatives(data.class_names, chosen, comparatives)
        if not texts:
            raise PcclipError("comparative prompting: none of the comparatives names a chosen class pair")
        results["comparative_zero_shot_accuracy"] = comparative_accuracy(
            images, labels, classes, np.array(first), np.array(second), encode_texts(model, tokenizer, texts), chosen, alpha
        )
    return results


def evaluate_captions(model, tokenizer, data: CaptionedImages, image_embeddings: torch.Tensor | None = None) -> dict:
    """CLIPScore and retrieval recall@1/@5 on an image-caption dataset (e.g. COCO captions)."""
    images = encode_image_source(model, data.images) if image_embeddings is None else image_embeddings
    return caption_metrics(images, encode_texts(model, tokenizer, data.captions), torch.from_numpy(data.caption_owner))


def evaluate_attribute(
    model,
    tokenizer,
    images: ImageSource,
    values: np.ndarray,
    more_sentence: str,
    less_sentence: str,
    more_prompt: str,
    less_prompt: str,
    pairs: int = 5000,
    seed: int = 0,
    resamples: int = 1000,
    image_embeddings: torch.Tensor | None = None,
) -> dict:
    """Difference-based classification and ranking on a numeric attribute of real images (e.g.
    AwA2's "big" per class): `pairs` random image pairs with different values, each scored in both
    orders with the sentence true for that order ("The first animal is bigger than the second." /
    "... smaller ..."); and Spearman / Kendall correlation of the values with the images' positions
    along the more-sentence ('comparative'), the more-sentence minus the less-sentence
    ('comparative_minus_reversed') and more_prompt minus less_prompt ('contrast')."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) != len(images):
        raise PcclipError(f"evaluate_attribute: {len(values)} values for {len(images)} images")
    emb = encode_image_source(model, images) if image_embeddings is None else image_embeddings
    more, less, more_p, less_p = encode_texts(model, tokenizer, [more_sentence, less_sentence, more_prompt, less_prompt])
    a, b = _differing_pairs(values, pairs, seed)
    first = np.concatenate([a, b])
    second = np.concatenate([b, a])
    texts = torch.where(torch.from_numpy(values[first] > values[second]).unsqueeze(1), more, less)
    credit = sign_test_credit(texts, emb[first], emb[second])
    pair_of_item = np.tile(np.arange(len(a)), 2)  # both orders of a pair form one bootstrap cluster
    return {
        "difference_accuracy": credit.mean().item(),
        "difference_accuracy_ci": list(bootstrap_ci(credit.numpy(), pair_of_item, resamples, seed)),
        "ranking": {
            "comparative": ranking_correlations(emb, values, more),
            "comparative_minus_reversed": ranking_correlations(emb, values, F.normalize(more - less, dim=-1)),
            "contrast": ranking_correlations(emb, values, F.normalize(more_p - less_p, dim=-1)),
        },
    }


def _differing_pairs(values: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n random index pairs (i, j) with values[i] != values[j], seeded."""
    if len(np.unique(values)) < 2:
        raise PcclipError("evaluate_attribute: every image has the same value, so no pair differs")
    rng = np.random.default_rng(seed)
    a: list[int] = []
    b: list[int] = []
    while len(a) < n:
        i, j = rng.integers(len(values), size=(2, 4 * n))
        keep = values[i] != values[j]
        a.extend(i[keep])
        b.extend(j[keep])
    return np.array(a[:n]), np.array(b[:n])


# --- output ---------------------------------------------------------------------------------------


def flatten_metrics(metrics: dict, prefix: str = "") -> dict[str, object]:
    """{'retrieval': {'image_to_text_r1': x}} -> {'retrieval.image_to_text_r1': x}; lists (intervals) kept."""
    flat: dict[str, object] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_metrics(value, name + "."))
        else:
            flat[name] = value
    return flat
