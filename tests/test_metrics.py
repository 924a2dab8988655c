import pytest
import torch
import torch.nn.functional as F

from pcclip.errors import PcclipError
from pcclip.metrics import (
    accuracy_by_group,
    class_embeddings,
    clipscore,
    recall_at_k,
    sign_test_correct,
    zero_shot_accuracy,
)

E = torch.eye(3)


def test_sign_test_on_crafted_embeddings():
    a = E[[0, 0, 1, 2]]
    b = E[[1, 1, 0, 2]]  # the last pair is identical images: cosine 0, a tie
    text = torch.stack([E[0], -E[0], F.normalize(E[1] - E[0], dim=0), E[0]])
    assert sign_test_correct(text, a, b).tolist() == [True, False, True, False]


def test_sign_test_is_antisymmetric_in_the_order():
    g = torch.Generator().manual_seed(0)
    a, b, t = (F.normalize(torch.randn(50, 8, generator=g), dim=-1) for _ in range(3))
    forward, backward = sign_test_correct(t, a, b), sign_test_correct(t, b, a)
    assert torch.equal(forward, ~backward)


def test_zero_shot_template_ensemble():
    templates = torch.stack([torch.stack([E[0], E[0]]), torch.stack([E[1], F.normalize(E[1] + E[2], dim=0)])])
    classes = class_embeddings(templates)
    assert torch.allclose(classes[0], E[0])
    assert torch.allclose(classes[1], F.normalize(E[1] + F.normalize(E[1] + E[2], dim=0), dim=0))
    images = torch.stack([E[0], E[1], E[2], E[0]])
    assert zero_shot_accuracy(images, torch.tensor([0, 1, 1, 1]), classes) == 0.75


def test_zero_shot_with_no_images_is_a_clear_error():
    with pytest.raises(PcclipError, match="no images"):
        zero_shot_accuracy(torch.empty(0, 3), torch.empty(0, dtype=torch.long), E)


def test_clipscore_clamps_negative_cosines():
    images = torch.stack([E[0], E[0], E[0]])
    captions = torch.stack([E[0], -E[0], F.normalize(E[0] + E[1], dim=0)])
    expected = 2.5 * (1.0 + 0.0 + 2**-0.5) / 3
    assert clipscore(images, captions) == pytest.approx(expected, rel=1e-6)


def test_clipscore_rejects_unmatched_rows():
    with pytest.raises(PcclipError, match="matched"):
        clipscore(E, E[:2])


def test_recall_at_k_with_ties():
    queries = torch.stack([E[0], E[1], E[2]])
    keys = torch.stack([E[0], E[2], E[0]])
    # query 0: its match ties with key 2 (both 1): a tie ranks the match first -> hit;
    # query 1: every key scores 0, none strictly better -> hit; query 2: key 1 beats its match -> miss.
    assert recall_at_k(queries, keys, 1) == pytest.approx(2 / 3)
    assert recall_at_k(queries, keys, 3) == 1.0


def test_accuracy_by_group():
    correct = torch.tensor([True, False, True, True])
    assert accuracy_by_group(correct, ["size", "size", "count", "size"]) == {"size": 2 / 3, "count": 1.0}
