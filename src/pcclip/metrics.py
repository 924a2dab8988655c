"""The evaluation's metrics: pure functions of embeddings and labels, so they are exact and testable.

All image and text embeddings passed here are L2-normalised rows. Credits and means are float64, so
accuracies are exact fractions (0.6365, not 0.6365000009536743).

Ties. Every ranking metric credits a tie with its expected value under a uniform random tie-break
(`hit_at_k`): a model that cannot tell the candidates apart scores exactly chance, never 100%. (A
collapsed text tower gives every caption the same score; "a tie ranks the match first" would then
report perfect retrieval.)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

from .errors import PcclipError
from .losses import difference_directions

CLIPSCORE_WEIGHT = 2.5  # Hessel et al. 2021
CI_LEVEL = 0.95


# --- ranking with exact ties ---------------------------------------------------------------------


def hit_at_k(scores: torch.Tensor, relevant: torch.Tensor, k: int) -> torch.Tensor:
    """Per query (row), the probability that at least one relevant candidate is among the k best,
    when tied scores are ordered uniformly at random. scores: (N, M), higher is better (-inf marks
    an excluded candidate); relevant: (N, M) bool, at least one per row. Returns float64 (N,).

    With s irrelevant candidates strictly above the best relevant score, and t irrelevant and r
    relevant candidates tied at it, the k - s remaining places go to a random order of the t + r tied
    ones, so the miss probability is C(t, k - s) / C(t + r, k - s).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if scores.shape != relevant.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and relevant {tuple(relevant.shape)} differ in shape")
    if not relevant.any(dim=1).all():
        row = int((~relevant.any(dim=1)).nonzero()[0])
        raise PcclipError(f"query {row} has no relevant candidate; every query needs at least one")
    best = torch.where(relevant, scores, -torch.inf).max(dim=1, keepdim=True).values
    above = (scores > best).sum(dim=1, dtype=torch.float64)  # only irrelevant ones can beat the best relevant
    tied = scores == best
    tied_relevant = (tied & relevant).sum(dim=1, dtype=torch.float64)
    tied_other = tied.sum(dim=1, dtype=torch.float64) - tied_relevant
    places = k - above
    miss = torch.ones_like(places)
    for i in range(k):  # miss = prod over the first `places` draws of P(the draw is irrelevant)
        draw = i < places
        factor = (tied_other - i).clamp(min=0) / (tied_other + tied_relevant - i).clamp(min=1)
        miss = torch.where(draw, miss * factor, miss)
    return torch.where(places > 0, 1.0 - miss, torch.zeros_like(miss))


def one_hot(labels: torch.Tensor, n: int) -> torch.Tensor:
    """(N,) class indices -> (N, n) bool."""
    return F.one_hot(labels.long(), n).bool()


# --- difference-based classification ------------------------------------------------------------


def sign_test_credit(text: torch.Tensor, image_a: torch.Tensor, image_b: torch.Tensor) -> torch.Tensor:
    """The paper's difference-based classification: a sentence describing how image a differs from
    image b is right when cos(text, normalize(v_a - v_b)) > 0, i.e. it fits the true order better than
    the reversed one (chance 50%). A cosine of exactly 0 (e.g. identical images) is a tie: credit 0.5."""
    cos = (text * difference_directions(image_a, image_b)).sum(-1)
    return (cos > 0).double() + 0.5 * (cos == 0).double()


def choice_credit(candidates: torch.Tensor, image_a: torch.Tensor, image_b: torch.Tensor, column: int = 0) -> torch.Tensor:
    """K-way difference classification: for each pair, K candidate sentences (N, K, D), the true one in
    column 0; right when the true one has the highest cosine with normalize(v_a - v_b). Chance 1/K.
    With another `column`: how often that candidate is the one picked (to see which distractor wins)."""
    scores = torch.einsum("nkd,nd->nk", candidates, difference_directions(image_a, image_b))
    relevant = torch.zeros_like(scores, dtype=torch.bool)
    relevant[:, column] = True
    return hit_at_k(scores, relevant, 1)


# --- zero-shot classification -------------------------------------------------------------------


def class_embeddings(template_embeddings: torch.Tensor) -> torch.Tensor:
    """(classes, templates, D) -> (classes, D): CLIP's template ensemble, the mean of the normalised
    prompt embeddings, renormalised."""
    return F.normalize(template_embeddings.mean(dim=1), dim=-1)


def zero_shot_credit(images: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor, k: int = 1) -> torch.Tensor:
    """Per image, top-k credit of the true class among all classes by cos(image, class)."""
    if len(images) == 0:
        raise PcclipError("zero-shot classification: no images")
    if len(labels) != len(images):
        raise PcclipError(f"zero-shot classification: {len(images)} images but {len(labels)} labels")
    bad = (labels < 0) | (labels >= len(classes))
    if bad.any():
        i = int(bad.nonzero()[0])
        raise PcclipError(f"zero-shot classification: image {i} has label {int(labels[i])}; classes are 0..{len(classes) - 1}")
    return hit_at_k(images @ classes.T, one_hot(labels, len(classes)), min(k, len(classes)))


def per_class_accuracy(
    credit: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str], task: str = ""
) -> dict[str, float | None]:
    """Mean credit per class, in class order. A class without images stays a candidate but has no
    accuracy (None), and a warning names it."""
    result: dict[str, float | None] = {}
    for index, name in enumerate(class_names):
        mine = labels == index
        if mine.any():
            result[name] = credit[mine].mean().item()
        else:
            warnings.warn(
                f"zero-shot{' task ' + repr(task) if task else ''}: class {name!r} has no images; it stays a "
                "candidate but has no per-class accuracy and is left out of the worst-class accuracy",
                stacklevel=2,
            )
            result[name] = None
    return result


def worst_class(per_class: dict[str, float | None]) -> float:
    """The lowest per-class accuracy among classes that have images."""
    present = [v for v in per_class.values() if v is not None]
    if not present:
        raise PcclipError("worst-class accuracy: no class has images")
    return min(present)


def comparative_class_embeddings(
    classes: torch.Tensor, first: torch.Tensor, second: torch.Tensor, comparatives: torch.Tensor, alpha: float
) -> torch.Tensor:
    """The paper's comparative prompting. Comparative p (embedding comparatives[p]) says how class
    first[p] = a differs from class second[p] = c, so e_p ~ v_a - v_c and t_a - e_p points at c:

        t_c <- normalize(alpha * t_c + (1 - alpha) * mean over p with second[p] = c of (t_a - e_p)).

    Every update reads the original class embeddings; classes without comparatives stay as they are."""
    if not 0 <= alpha <= 1:
        raise PcclipError(f"comparative prompting: alpha must be in [0, 1], got {alpha}")
    if not (len(first) == len(second) == len(comparatives)):
        raise ValueError("first, second and comparatives must have one row per comparative")
    n_classes, dim = classes.shape
    shifted = classes[first.long()] - comparatives
    sums = torch.zeros(n_classes, dim, dtype=classes.dtype).index_add_(0, second.long(), shifted)
    counts = torch.bincount(second.long(), minlength=n_classes).unsqueeze(1)
    blended = F.normalize(alpha * classes + (1 - alpha) * sums / counts.clamp(min=1), dim=-1)
    return torch.where(counts > 0, blended, classes)


def nearest_class_pairs(classes: torch.Tensor, neighbours: int) -> list[tuple[int, int]]:
    """Comparative pairs chosen from the class TEXT embeddings alone (never from test predictions):
    for each class c, the `neighbours` other classes a most similar to it, as (a, c); equal
    similarities go to the lower index."""
    sims = classes @ classes.T
    sims.fill_diagonal_(-torch.inf)
    k = min(neighbours, len(classes) - 1)
    pairs = []
    for c in range(len(classes)):
        order = sorted(range(len(classes)), key=lambda a: (-sims[a, c].item(), a))
        pairs += [(a, c) for a in order[:k]]
    return pairs


# --- captions: CLIPScore and retrieval -----------------------------------------------------------


def clipscore(images: torch.Tensor, captions: torch.Tensor) -> float:
    """Mean of 2.5 * max(cos(image_i, caption_i), 0) over matched rows."""
    if len(images) != len(captions) or len(images) == 0:
        raise PcclipError(f"CLIPScore needs matched, non-empty rows; got {len(images)} images, {len(captions)} captions")
    return (CLIPSCORE_WEIGHT * (images * captions).sum(-1).clamp(min=0)).double().mean().item()


def retrieval_recall(
    images: torch.Tensor, texts: torch.Tensor, text_owner: torch.Tensor, k: int, chunk: int = 1024
) -> tuple[float, float]:
    """(image->text, text->image) recall@k when text j describes image text_owner[j] (COCO: 5 per
    image). An image query hits when any of its texts is among the k best texts; a text query when
    its image is among the k best images. Queries run in chunks to bound memory."""
    owner = text_owner.long()
    if len(owner) != len(texts) or len(texts) == 0 or len(images) == 0:
        raise PcclipError(
            f"retrieval needs texts with owners and images; got {len(texts)} texts, {len(owner)} owners, {len(images)} images"
        )
    if owner.min() < 0 or owner.max() >= len(images):
        raise PcclipError(f"retrieval: a text owner is outside 0..{len(images) - 1}")
    described = torch.bincount(owner, minlength=len(images)) > 0
    if not described.all():
        raise PcclipError(f"retrieval: image {int((~described).nonzero()[0])} has no text")
    image_hits = [
        hit_at_k(
            images[i : i + chunk] @ texts.T, owner.unsqueeze(0) == torch.arange(i, min(i + chunk, len(images))).unsqueeze(1), k
        )
        for i in range(0, len(images), chunk)
    ]
    text_hits = [
        hit_at_k(texts[j : j + chunk] @ images.T, one_hot(owner[j : j + chunk], len(images)), k)
        for j in range(0, len(texts), chunk)
    ]
    return torch.cat(image_hits).mean().item(), torch.cat(text_hits).mean().item()


# --- analogies ------------------------------------------------------------------------------------


def analogy_queries(source: torch.Tensor, remove: torch.Tensor, add: torch.Tensor) -> torch.Tensor:
    """normalize(v_source - t_remove + t_add): e.g. a red circle's image - "red" + "blue"."""
    return F.normalize(source - remove + add, dim=-1)


# --- grouping -------------------------------------------------------------------------------------


def accuracy_by_group(credit: torch.Tensor, groups: Sequence[str]) -> dict[str, float]:
    """Mean of `credit` within each group name, in first-seen order."""
    result: dict[str, list[float]] = {}
    for value, group in zip(credit.tolist(), groups):
        result.setdefault(group, []).append(float(value))
    return {g: sum(v) / len(v) for g, v in result.items()}


# --- statistics: bootstrap and rank correlations ------------------------------------------------


def bootstrap_ci(
    values: np.ndarray | torch.Tensor,
    clusters: np.ndarray | None = None,
    resamples: int = 1000,
    seed: int = 0,
    level: float = CI_LEVEL,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of `values`. With `clusters`, whole
    clusters are resampled (items of one cluster are not independent: the two orders of a held-out
    minimal pair share both images). Seeded, so the same inputs give the same interval."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise PcclipError("bootstrap: no values")
    ids = np.arange(values.size) if clusters is None else np.unique(np.asarray(clusters), return_inverse=True)[1]
    sums, counts = np.bincount(ids, weights=values), np.bincount(ids).astype(np.float64)
    rng = np.random.default_rng(seed)
    means = []
    per_block = max(1, 2_000_000 // len(sums))  # bounds the (resamples, clusters) index block's memory
    for start in range(0, resamples, per_block):
        draw = rng.integers(len(sums), size=(min(per_block, resamples - start), len(sums)))
        means.append(sums[draw].sum(1) / counts[draw].sum(1))
    tail = (1 - level) / 2
    low, high = np.quantile(np.concatenate(means), [tail, 1 - tail])
    return float(low), float(high)


def _check_pairable(x: np.ndarray, y: np.ndarray, name: str) -> None:
    if x.shape != y.shape or x.ndim != 1:
        raise PcclipError(f"{name}: needs two 1-d arrays of one length; got shapes {x.shape} and {y.shape}")
    if len(x) < 2:
        raise PcclipError(f"{name}: needs at least 2 items, got {len(x)}")
    for label, v in (("first", x), ("second", y)):
        if np.all(v == v[0]):
            raise PcclipError(f"{name}: the {label} variable is constant, so the correlation is undefined")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: the Pearson correlation of the average ranks (exact with ties)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    _check_pairable(x, y, "Spearman correlation")
    return float(stats.spearmanr(x, y).statistic)


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b: (concordant - discordant) / sqrt((n0 - n1)(n0 - n2)), with n0 = n(n-1)/2 pairs
    and n1, n2 the pairs tied in x and in y. scipy counts them in O(n log n)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    _check_pairable(x, y, "Kendall correlation")
    return float(stats.kendalltau(x, y, variant="b").statistic)
