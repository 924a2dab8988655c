"""Every metric on crafted embeddings whose answer is known exactly, ties and empty classes included."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pcclip.errors import PcclipError
from pcclip.metrics import (
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

E = torch.eye(3)
T, N = True, False


def unit(v) -> torch.Tensor:
    return F.normalize(torch.as_tensor(v, dtype=torch.float32), dim=-1)


# --- hit_at_k: the one place ties are decided -----------------------------------------------------


def test_hit_at_k_without_ties():
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.9, 0.1, 0.5], [0.9, 0.1, 0.5]])
    relevant = torch.tensor([[T, N, N], [N, N, T], [N, T, N]])
    assert hit_at_k(scores, relevant, 1).tolist() == [1.0, 0.0, 0.0]
    assert hit_at_k(scores, relevant, 2).tolist() == [1.0, 1.0, 0.0]
    assert hit_at_k(scores, relevant, 3).tolist() == [1.0, 1.0, 1.0]


def test_hit_at_k_credits_ties_with_their_expected_value():
    # one relevant tied with one other at the top: a coin flip for k=1, certain for k=2
    assert hit_at_k(torch.tensor([[1.0, 1.0, 0.0]]), torch.tensor([[T, N, N]]), 1).item() == 0.5
    assert hit_at_k(torch.tensor([[1.0, 1.0, 0.0]]), torch.tensor([[T, N, N]]), 2).item() == 1.0
    # two relevant tied with one other: P(top-1 relevant) = 2/3
    assert hit_at_k(torch.tensor([[1.0, 1.0, 1.0, 0.0]]), torch.tensor([[T, T, N, N]]), 1).item() == pytest.approx(2 / 3)
    # one other strictly above, the relevant tied with two others for the one place left: 1/3
    scores, relevant = torch.tensor([[2.0, 1.0, 1.0, 1.0]]), torch.tensor([[N, T, N, N]])
    assert hit_at_k(scores, relevant, 2).item() == pytest.approx(1 / 3)
    assert hit_at_k(scores, relevant, 1).item() == 0.0
    # one relevant among 4 tied, k=2: 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert hit_at_k(torch.ones(1, 4), torch.tensor([[N, N, T, N]]), 2).item() == 0.5


def test_hit_at_k_ignores_excluded_candidates_and_needs_a_relevant_one():
    scores = torch.tensor([[-math.inf, 0.2, 0.1]])
    assert hit_at_k(scores, torch.tensor([[N, N, T]]), 1).item() == 0.0
    assert hit_at_k(scores, torch.tensor([[N, N, T]]), 2).item() == 1.0
    with pytest.raises(PcclipError, match="query 1 has no relevant"):
        hit_at_k(torch.zeros(2, 2), torch.tensor([[T, N], [N, N]]), 1)


# --- difference-based classification --------------------------------------------------------------


def test_sign_test_on_crafted_embeddings():
    a = E[[0, 0, 1, 2]]
    b = E[[1, 1, 0, 2]]  # the last pair is identical images: cosine 0, a tie
    text = torch.stack([E[0], -E[0], unit(E[1] - E[0]), E[0]])
    assert sign_test_credit(text, a, b).tolist() == [1.0, 0.0, 1.0, 0.5]


def test_sign_test_is_antisymmetric_in_the_order():
    g = torch.Generator().manual_seed(0)
    a, b, t = (F.normalize(torch.randn(50, 8, generator=g), dim=-1) for _ in range(3))
    assert torch.equal(sign_test_credit(t, a, b) + sign_test_credit(t, b, a), torch.ones(50, dtype=torch.float64))


def test_k_way_choice_with_a_tie():
    a, b = E[[0, 0]], E[[1, 1]]
    d = unit(E[0] - E[1])
    candidates = torch.stack(
        [
            torch.stack([d, -d, E[2]]),  # true sentence is the direction itself: right
            torch.stack([E[2], E[2], -d]),  # true and first distractor both at cosine 0, the other below: 1/2
        ]
    )
    assert choice_credit(candidates, a, b).tolist() == [1.0, 0.5]
    assert choice_credit(candidates, a, b, column=1).tolist() == [0.0, 0.5]  # how often candidate 1 is picked


# --- zero-shot classification ----------------------------------------------------------------------


def test_zero_shot_template_ensemble():
    templates = torch.stack([torch.stack([E[0], E[0]]), torch.stack([E[1], unit(E[1] + E[2])])])
    classes = class_embeddings(templates)
    assert torch.allclose(classes[0], E[0])
    assert torch.allclose(classes[1], unit(E[1] + unit(E[1] + E[2])))
    images = torch.stack([E[0], E[1], E[2], E[0]])
    assert zero_shot_credit(images, torch.tensor([0, 1, 1, 1]), classes).tolist() == [1.0, 1.0, 1.0, 0.0]


def test_zero_shot_top_k_per_class_and_worst_class():
    classes = E  # three classes
    images = torch.stack([E[0], unit(E[0] + 0.5 * E[1]), E[2], unit(E[1] + E[2])])
    labels = torch.tensor([0, 1, 2, 1])
    # image 3 ties between classes 1 and 2 (credit 1/2); image 1 has its class second
    top1 = zero_shot_credit(images, labels, classes, 1)
    assert top1.tolist() == [1.0, 0.0, 1.0, 0.5]
    assert zero_shot_credit(images, labels, classes, 2).tolist() == [1.0, 1.0, 1.0, 1.0]
    assert zero_shot_credit(images, labels, classes, 5).tolist() == [1.0] * 4  # k above the class count
    per_class = per_class_accuracy(top1, labels, ["a", "b", "c"])
    assert per_class == {"a": 1.0, "b": 0.25, "c": 1.0}
    assert worst_class(per_class) == 0.25


def test_an_empty_class_stays_a_candidate_and_is_named():
    credit, labels = torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([0, 0])
    with pytest.warns(UserWarning, match="task 'shape': class 'star' has no images"):
        per_class = per_class_accuracy(credit, labels, ["circle", "star"], task="shape")
    assert per_class == {"circle": 0.5, "star": None}
    assert worst_class(per_class) == 0.5
    with pytest.raises(PcclipError, match="no class has images"):
        worst_class({"star": None})


def test_zero_shot_input_errors_are_clear():
    with pytest.raises(PcclipError, match="no images"):
        zero_shot_credit(torch.empty(0, 3), torch.empty(0, dtype=torch.long), E)
    with pytest.raises(PcclipError, match="image 1 has label 3; classes are 0..2"):
        zero_shot_credit(E[:2], torch.tensor([0, 3]), E)


def test_comparative_prompting_follows_the_papers_formula():
    classes = E.clone()
    e01, e21 = unit(E[0] - E[1]), unit(E[2] - E[1])  # "how class 0 / class 2 differs from class 1"
    first, second = torch.tensor([0, 2]), torch.tensor([1, 1])
    alpha = 0.8
    updated = comparative_class_embeddings(classes, first, second, torch.stack([e01, e21]), alpha)
    expected = unit(alpha * E[1] + (1 - alpha) * ((E[0] - e01) + (E[2] - e21)) / 2)
    assert torch.allclose(updated[1], expected, atol=1e-6)
    assert torch.equal(updated[0], E[0]) and torch.equal(updated[2], E[2])  # no comparatives: unchanged
    assert torch.allclose(comparative_class_embeddings(classes, first, second, torch.stack([e01, e21]), 1.0), classes)


def test_nearest_class_pairs_use_text_similarity_only():
    classes = torch.stack([unit([1.0, 0, 0]), unit([0.9, 0.1, 0]), unit([0, 0, 1.0])])
    assert nearest_class_pairs(classes, 1) == [(1, 0), (0, 1), (0, 2)]  # class 2: 0 and 1 tie at 0 -> lower index
    assert sorted(nearest_class_pairs(classes, 5)) == sorted((a, c) for a in range(3) for c in range(3) if a != c)


# --- captions ------------------------------------------------------------------------------------


def test_clipscore_clamps_negative_cosines():
    images = torch.stack([E[0], E[0], E[0]])
    captions = torch.stack([E[0], -E[0], unit(E[0] + E[1])])
    expected = 2.5 * (1.0 + 0.0 + 2**-0.5) / 3
    assert clipscore(images, captions) == pytest.approx(expected, rel=1e-6)


def test_clipscore_rejects_unmatched_rows():
    with pytest.raises(PcclipError, match="matched"):
        clipscore(E, E[:2])


def test_retrieval_with_several_captions_per_image_and_ties():
    images = E[:2]
    texts = torch.stack([E[0], E[2], unit(E[0] + E[1])])
    owner = torch.tensor([0, 1, 1])
    # image 0: its caption 0 scores 1, best -> hit; image 1: its caption 2 (0.71) beats caption 0 (0) -> hit.
    # text 0 -> image 0 (1 vs 0) hit; text 1 scores 0 on both images: 1/2; text 2 ties (0.71, 0.71): 1/2.
    assert retrieval_recall(images, texts, owner, 1) == (1.0, pytest.approx(2 / 3))
    assert retrieval_recall(images, texts, owner, 2) == (1.0, 1.0)


def test_a_collapsed_text_tower_retrieves_at_chance():
    images = E
    texts = E[[0, 0, 0]]  # every caption embeds the same
    assert retrieval_recall(images, texts, torch.arange(3), 1) == (pytest.approx(1 / 3), pytest.approx(1 / 3))


def test_retrieval_input_errors():
    with pytest.raises(PcclipError, match="image 2 has no text"):
        retrieval_recall(E, E[:2], torch.tensor([0, 1]), 1)


# --- analogies, groups -------------------------------------------------------------------------


def test_analogy_queries():
    red_circle = unit(E[0] + E[1])  # E0: circle, E1: red, E2: blue
    query = analogy_queries(red_circle.unsqueeze(0), unit(E[1]).unsqueeze(0) / math.sqrt(2), (E[2] / math.sqrt(2)).unsqueeze(0))
    assert torch.allclose(query[0], unit(E[0] + E[2]), atol=1e-6)


def test_accuracy_by_group():
    credit = torch.tensor([1.0, 0.0, 1.0, 0.5])
    assert accuracy_by_group(credit, ["size", "size", "count", "size"]) == {"size": 0.5, "count": 1.0}


# --- bootstrap --------------------------------------------------------------------------------------


def test_bootstrap_of_constant_values_is_a_point():
    assert bootstrap_ci(np.full(10, 0.7), resamples=200) == (pytest.approx(0.7), pytest.approx(0.7))


def test_bootstrap_of_two_items_spans_their_range():
    # resampled means are 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4: the 2.5% and 97.5% points are 0 and 1
    assert bootstrap_ci(np.array([0.0, 1.0]), resamples=2000, seed=3) == (0.0, 1.0)


def test_bootstrap_is_seeded_and_resamples_clusters():
    rng = np.random.default_rng(0)
    values = np.repeat(rng.random(50) < 0.6, 2).astype(float)  # 50 clusters of two identical items
    clusters = np.repeat(np.arange(50), 2)
    assert bootstrap_ci(values, clusters, seed=1) == bootstrap_ci(values, clusters, seed=1)
    low, high = bootstrap_ci(values, clusters, seed=1)
    assert low < values.mean() < high
    # items of a cluster are not independent: treating them as such understates the spread
    naive_low, naive_high = bootstrap_ci(values, seed=1)
    assert high - low > (naive_high - naive_low) * 1.2


# --- rank correlations, against hand-computed values -------------------------------------------------


def test_correlations_without_ties():
    x, y = np.array([1, 2, 3, 4, 5]), np.array([2, 1, 4, 3, 5])
    # d = [-1, 1, -1, 1, 0]: rho = 1 - 6 * 4 / (5 * 24) = 0.8; 8 concordant, 2 discordant pairs: tau = 0.6
    assert spearman(x, y) == pytest.approx(0.8)
    assert kendall_tau_b(x, y) == pytest.approx(0.6)
    assert spearman(x, x) == pytest.approx(1.0) and kendall_tau_b(x, -x) == pytest.approx(-1.0)


def test_correlations_with_ties():
    x, y = np.array([1, 2, 2, 3]), np.array([1, 3, 2, 4])
    # ranks of x: [1, 2.5, 2.5, 4]; Pearson of ranks: 4.5 / sqrt(4.5 * 5)
    assert spearman(x, y) == pytest.approx(4.5 / math.sqrt(22.5))
    # 5 concordant pairs, 1 pair tied in x: tau-b = 5 / sqrt((6 - 1) * 6)
    assert kendall_tau_b(x, y) == pytest.approx(5 / math.sqrt(30))
    # ties in both: one concordant, one discordant pair
    assert kendall_tau_b(np.array([1, 1, 2, 2]), np.array([1, 2, 1, 2])) == 0.0


def test_correlations_match_their_definitions_with_many_ties():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 300), rng.integers(0, 7, 300) + rng.integers(0, 5, 300)
    # Spearman: Pearson of average ranks; a value's average rank is (#below) + (#equal + 1) / 2
    rx, ry = (((v[None, :] < v[:, None]).sum(1) + ((v[None, :] == v[:, None]).sum(1) + 1) / 2) for v in (x, y))
    assert spearman(x, y) == pytest.approx(np.corrcoef(rx, ry)[0, 1], abs=1e-12)
    # tau-b from the pair counts
    s = (np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :])).sum() / 2
    n0 = 300 * 299 / 2
    tied = [sum(c * (c - 1) / 2 for c in np.unique(v, return_counts=True)[1]) for v in (x, y)]
    assert kendall_tau_b(x, y) == pytest.approx(s / math.sqrt((n0 - tied[0]) * (n0 - tied[1])), abs=1e-12)


def test_correlation_of_a_constant_is_a_clear_error():
    with pytest.raises(PcclipError, match="second variable is constant"):
        spearman(np.array([1, 2, 3]), np.array([4, 4, 4]))
    with pytest.raises(PcclipError, match="at least 2"):
        kendall_tau_b(np.array([1.0]), np.array([2.0]))
