import math

import pytest
import torch

from pcclip.losses import PCContrastiveLoss, PCMSELoss, difference_directions

# Two pairs in 2-D: pair 1 goes from e2 to e1, pair 2 from e1 to e2; texts are e1 and e2.
A = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
B = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
T = torch.tensor([[1.0, 0.0], [0.0, 1.0]])


def test_difference_directions_by_hand():
    d = difference_directions(A, B)
    s = 1 / math.sqrt(2)
    assert torch.allclose(d, torch.tensor([[s, -s], [-s, s]]))


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_contrastive_loss_by_hand(tau):
    # S = [[s, -s], [-s, s]] / tau with s = 1/sqrt(2); each row's and column's cross-entropy is
    # log(1 + exp(-2 s / tau)), so the symmetric mean is the same value.
    expected = math.log(1 + math.exp(-math.sqrt(2) / tau))
    loss = PCContrastiveLoss(temperature=tau)(A, B, T)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_contrastive_loss_ignores_embedding_scale():
    loss = PCContrastiveLoss()
    assert loss(3 * A, 0.5 * B, 7 * T).item() == pytest.approx(loss(A, B, T).item(), rel=1e-6)


def test_contrastive_loss_rejects_bad_temperature():
    with pytest.raises(ValueError, match="temperature"):
        PCContrastiveLoss(temperature=0)


def test_mse_variant_does_not_renormalise_the_difference():
    # u = a - b = [[1, -1], [-1, 1]]; t - u = [[0, 1], [1, 0]]; mean of squares = 2 / 4
    assert PCMSELoss()(A, B, T).item() == pytest.approx(0.5)


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_reversed_negatives_by_hand(tau):
    # Each text row gains the negated logits: [s, -s, -s, s] / tau with label 0, whose cross-entropy
    # is log 2 + log(1 + exp(-2 s / tau)); the direction side is unchanged.
    plain = math.log(1 + math.exp(-math.sqrt(2) / tau))
    loss = PCContrastiveLoss(temperature=tau, reversed_negatives=True)(A, B, T)
    assert loss.item() == pytest.approx(plain + math.log(2) / 2, rel=1e-6)


def test_reversed_negatives_penalise_a_sentence_that_fits_both_orders():
    # A text orthogonal to its pair's direction fits a -> b and b -> a equally: the reversed negative
    # adds loss only through the text side, and a text aligned with its direction loses less.
    aligned = PCContrastiveLoss(reversed_negatives=True)(A, B, difference_directions(A, B))
    orthogonal = PCContrastiveLoss(reversed_negatives=True)(A, B, torch.tensor([[1.0, 1.0], [1.0, 1.0]]))
    assert aligned.item() < orthogonal.item()
