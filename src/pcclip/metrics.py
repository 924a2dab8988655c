"""The plan's metrics on embeddings: pure functions of tensors, so they are exact and testable.

All image and text embeddings passed here are L2-normalised rows. Means are taken in float64 so that
accuracies are exact fractions (0.6365, not 0.6365000009536743).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import PcclipError
from .losses import difference_directions

CLIPSCORE_WEIGHT = 2.5  # Hessel et al. 2021


def sign_test_correct(text: torch.Tensor, image_a: torch.Tensor, image_b: torch.Tensor) -> torch.Tensor:
    """The paper's difference-based classification: a sentence describing how image a differs from
    image b is classified correctly when cos(text, normalize(v_a - v_b)) > 0 (chance 50%).
    A tie (cosine exactly 0, e.g. identical images) counts as wrong."""
    return (text * difference_directions(image_a, image_b)).sum(-1) > 0


def class_embeddings(template_embeddings: torch.Tensor) -> torch.Tensor:
    """(classes, templates, D) -> (classes, D): CLIP's template ensemble, mean of normalised
    embeddings, renormalised."""
    return torch.nn.functional.normalize(template_embeddings.mean(dim=1), dim=-1)


def zero_shot_accuracy(images: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor) -> float:
    """Top-1 accuracy of argmax_c <image, class_c>."""
    if len(images) == 0:
        raise PcclipError("zero-shot accuracy: no images")
    return (images @ classes.T).argmax(-1).eq(labels).double().mean().item()


def clipscore(images: torch.Tensor, captions: torch.Tensor) -> float:
    """Mean of 2.5 * max(cos(image_i, caption_i), 0) over matched rows."""
    if len(images) != len(captions) or len(images) == 0:
        raise PcclipError(f"CLIPScore needs matched, non-empty rows; got {len(images)} images, {len(captions)} captions")
    return (CLIPSCORE_WEIGHT * (images * captions).sum(-1).clamp(min=0)).double().mean().item()


def recall_at_k(queries: torch.Tensor, keys: torch.Tensor, k: int) -> float:
    """Fraction of queries whose matching key (same row) is among the k most similar keys.
    A tie with the match ranks the match first (counts only strictly better keys)."""
    sims = queries @ keys.T
    better = (sims > sims.diagonal().unsqueeze(1)).sum(-1)
    return (better < k).double().mean().item()


def accuracy_by_group(correct: torch.Tensor, groups: Sequence[str]) -> dict[str, float]:
    """Mean of `correct` within each group name, in first-seen order."""
    result: dict[str, list[float]] = {}
    for ok, group in zip(correct.tolist(), groups):
        result.setdefault(group, []).append(float(ok))
    return {g: sum(v) / len(v) for g, v in result.items()}
