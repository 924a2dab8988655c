"""The construction probe: named ways of saying one difference (the second image named first, a verb
of change, ...), true of their ordered pair; its held-out items, drawn apart from every other item;
and its metric, which catches a model that reads word order instead of meaning."""

import itertools
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import pcclip.data as data_module
from pcclip.config import EvalSettings
from pcclip.data import CONSTRUCTION_PAIRS_PER_ATTRIBUTE, heldout_set
from pcclip.evaluate import construction_accuracy, evaluate_embeddings
from pcclip.generate.scoring import judge_sentence
from pcclip.losses import difference_directions
from pcclip.metrics import bootstrap_ci
from pcclip.world.phrasing import CONSTRUCTIONS, construction_sentence, construction_subjects, difference_sentences
from pcclip.world.scene import ATTRIBUTES, WorldConfig, perturb, sample_scene
from test_evaluate import crafted_embeddings

WORLD = WorldConfig(image_size=32)
TINY = EvalSettings(pairs_per_attribute=6, zero_shot_per_class=3, caption_scenes=24, bootstrap_resamples=200)

# Which image each construction names first, and which image its comparative or value is said of.
NAMED_FIRST = {
    "first-named-first": "first",
    "second-named-first": "second",
    "comparative-adjective": "first",
    "verb-of-change": "first",  # from the first image to the second ...
    "compared-with": "second",  # compared with the second image, the first ...
    "relative-clause": "first",
    "both-values": "first",
}
SUBJECT = {**{name: "first" for name in NAMED_FIRST}, "second-named-first": "second", "verb-of-change": "second"}
# Verbs of change the agreement scorer does not read, with the change they say of the later image:
# +1 = more of it (grows, more objects, further right, further down), -1 = less.
VERBS = {
    "grow": ("size", 1), "swell": ("size", 1), "shrink": ("size", -1), "contract": ("size", -1),
    "multiply": ("count", 1), "proliferate": ("count", 1), "thin out": ("count", -1), "dwindle away": ("count", -1),
    "drift leftward": ("x", -1), "slide leftward": ("x", -1), "drift rightward": ("x", 1), "slide rightward": ("x", 1),
    "drift upward": ("y", -1), "rise": ("y", -1), "drift downward": ("y", 1), "sink": ("y", 1),
}  # fmt: skip
IMAGE_NAMES = {"first": r"\b(?:first|former)\b", "second": r"\b(?:second|latter)\b"}
OTHER = {"first": "second", "second": "first"}


def named_first(text: str) -> str:
    return min(IMAGE_NAMES, key=lambda image: re.search(IMAGE_NAMES[image], text.lower()).start())


@pytest.fixture(scope="module")
def minimal_pairs():
    rng = np.random.default_rng(7)
    return [
        (a, perturb(a, attribute, rng, WORLD), attribute)
        for attribute in ATTRIBUTES
        for a in [sample_scene(rng, WORLD) for _ in range(30)]
    ]


# --- the constructions ------------------------------------------------------------------------------


def test_the_registry():
    assert CONSTRUCTIONS == tuple(NAMED_FIRST)
    with pytest.raises(ValueError, match="construction must be one of"):
        construction_sentence(*[sample_scene(np.random.default_rng(0), WORLD)] * 2, "size", "passive", np.random.default_rng(0))
    # The named-first pair is its subject's place; every other construction may be said of either image.
    assert {c: construction_subjects(c) for c in CONSTRUCTIONS} == {
        c: (SUBJECT[c],) if c.endswith("-named-first") else (SUBJECT[c], OTHER[SUBJECT[c]]) for c in CONSTRUCTIONS
    }
    a = sample_scene(np.random.default_rng(0), WORLD)
    b = perturb(a, "size", np.random.default_rng(1), WORLD)
    with pytest.raises(ValueError, match="'second-named-first' is said of the second image, not 'first'"):
        construction_sentence(a, b, "size", "second-named-first", np.random.default_rng(0), "first")


def test_every_construction_is_true_of_its_ordered_pair_and_names_the_images_in_its_order(minimal_pairs):
    """Judged by the agreement scorer: right for (a, b), the wrong way round for (b, a), the verbs of
    change ("from the second scene to the first, the figures shrink") included."""
    rng = np.random.default_rng(8)
    for construction in CONSTRUCTIONS:
        for (a, b, attribute), subject in itertools.product(minimal_pairs, construction_subjects(construction)):
            d = construction_sentence(a, b, attribute, construction, rng, subject)
            assert d.attribute == attribute and d.subject == subject
            # said of the other image, the same frames name the images the other way round
            own = subject == SUBJECT[construction]
            assert named_first(d.text) == (NAMED_FIRST[construction] if own else OTHER[NAMED_FIRST[construction]]), d.text
            assert d.text[0].isupper() and d.text.endswith(".")
            forward, backward = judge_sentence(d.text, a, b).verdict, judge_sentence(d.text, b, a).verdict
            if construction == "verb-of-change" and attribute in ("size", "count", "position"):
                # the scorer reads the verb's direction; this checks it independently of the scorer
                axis, sign = VERBS[d.keyword]
                later, earlier = (b, a) if subject == "second" else (a, b)  # "from {O} to {S}": said of the later
                change = getattr(later, axis) - getattr(earlier, axis)
                assert np.sign(change) == sign, d.text
            if (construction, subject, attribute) == ("both-values", "second", "shape"):
                # "In the second photo one sees circles; in the first photo, diamonds.": the scorer's
                # blind spot (it calls both orders wrong); the shapes are checked in their clauses instead
                first_clause, second_clause = d.text.split(";")
                assert b.shape in first_clause and a.shape in second_clause, d.text
            else:
                assert (forward, backward) == ("correct", "wrong-direction"), d.text


def test_probe_wording_never_repeats_a_training_sentence(minimal_pairs):
    rng = np.random.default_rng(9)
    for a, b, attribute in minimal_pairs[::6]:
        train = {difference_sentences(a, b, "train", rng)[0].text.lower() for _ in range(200)}
        probe = {
            construction_sentence(a, b, attribute, c, rng).text.lower().rstrip(".") for c in CONSTRUCTIONS for _ in range(20)
        }
        assert len(train) > 30 and len(probe) > 20
        assert not train & probe


# --- the held-out probe -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def heldout():
    """The fixed probe: each construction said of the image it is defined with."""
    return heldout_set(WORLD, TINY.model_copy(update={"probe_subjects": "fixed"}))


def test_the_probe_follows_every_other_held_out_item(heldout):
    p = heldout.constructions
    n_pairs = TINY.pairs_per_attribute * len(ATTRIBUTES)
    items = n_pairs * len(CONSTRUCTIONS) * 2
    assert len(p.texts) == len(p.constructions) == len(p.attributes) == len(p.first) == len(p.second) == items
    first_probe_image = len(heldout.images) - 2 * n_pairs
    assert first_probe_image == heldout.caption_index[-1] + 1
    assert sorted(set(p.first) | set(p.second)) == list(range(first_probe_image, len(heldout.images)))
    # items of one pair: every construction, each in both orders; the pair numbers its images
    for k in range(n_pairs):
        mine = np.flatnonzero(p.pair == k)
        assert [p.constructions[i] for i in mine] == [c for c in CONSTRUCTIONS for _ in range(2)]
        assert {p.attributes[i] for i in mine} == {ATTRIBUTES[k // TINY.pairs_per_attribute]}
        a, b = first_probe_image + 2 * k, first_probe_image + 2 * k + 1
        assert [(p.first[i], p.second[i]) for i in mine] == [(a, b), (b, a)] * len(CONSTRUCTIONS)
    assert heldout.text_groups()["constructions"] == p.texts


def test_the_probe_leaves_every_other_item_as_it_was(heldout, monkeypatch):
    monkeypatch.setattr(data_module, "CONSTRUCTION_PAIRS_PER_ATTRIBUTE", 0)
    without = heldout_set(WORLD, TINY)
    assert without.constructions.texts == []
    assert np.array_equal(heldout.images[: len(without.images)], without.images)
    groups = heldout.text_groups()
    groups_without = without.text_groups()
    assert groups.pop("constructions") and groups_without.pop("constructions") == []
    assert groups == groups_without
    for name in ("diff_a", "diff_b", "diff_pair", "diff_candidates", "caption_index", "analogy_index"):
        assert np.array_equal(getattr(heldout, name), getattr(without, name)), name


def test_the_probe_size_is_capped(monkeypatch):
    assert CONSTRUCTION_PAIRS_PER_ATTRIBUTE == 40
    monkeypatch.setattr(data_module, "CONSTRUCTION_PAIRS_PER_ATTRIBUTE", 2)  # as if the held-out set had 3 > 40 pairs
    probe = heldout_set(WORLD, TINY.model_copy(update={"pairs_per_attribute": 3})).constructions
    assert len(probe.texts) == 2 * len(ATTRIBUTES) * len(CONSTRUCTIONS) * 2


# --- the metric -------------------------------------------------------------------------------------


def test_construction_accuracy_by_hand():
    """Three pairs in two constructions, in both orders (items 2k, 2k + 1 of a construction are one
    pair). 'plain' sentences point along their own pair's difference; 'mixed' ones are right for
    pair 0, the wrong way round for pair 1 and orthogonal to pair 2's difference (a tie: 1/2)."""
    e = torch.eye(4)
    images = [(e[0], e[1]), (e[1], e[2]), (e[2], e[3])]
    a = torch.stack([x for pair in images for x in (pair[0], pair[1])] * 2)
    b = torch.stack([y for pair in images for y in (pair[1], pair[0])] * 2)
    truth = difference_directions(a, b)
    mixed = truth[6:].clone()
    mixed[2:4] *= -1  # pair 1, both orders: reversed
    mixed[4:6] = F.normalize(torch.stack([e[0] + e[1], e[0] + e[1]]), dim=-1)  # pair 2: orthogonal to e2 - e3
    texts = torch.cat([truth[:6], mixed])
    constructions = ["plain"] * 6 + ["mixed"] * 6
    clusters = np.tile(np.repeat(np.arange(3), 2), 2)
    m = construction_accuracy(texts, a, b, constructions, clusters, resamples=200, seed=0)
    assert m["difference_accuracy_by_construction"] == {"plain": 1.0, "mixed": 0.5}
    assert m["construction_worst_accuracy"] == 0.5
    assert m["difference_accuracy_by_construction_ci"] == {
        "plain": [1.0, 1.0],
        "mixed": list(bootstrap_ci(np.array([1, 1, 0, 0, 0.5, 0.5]), clusters[6:], 200, 0)),  # whole pairs resampled
    }


def test_a_word_order_model_passes_some_constructions_and_fails_the_others(heldout):
    """A text tower that learned "the image named first has more of it": every sentence points from
    the image it names second to the one it names first. The overall sign test of the ordinary held-out
    sentences can look fine; the probe shows 1.0 where the first image is named first and 0.0 where
    the second is."""
    emb = crafted_embeddings(heldout)
    p = heldout.constructions
    direction = difference_directions(emb.images[p.first], emb.images[p.second])
    names_first_first = torch.tensor([NAMED_FIRST[c] == "first" for c in p.constructions])
    emb.texts["constructions"] = torch.where(names_first_first.unsqueeze(1), direction, -direction)
    m = evaluate_embeddings(emb, heldout)
    expected = {c: 1.0 if NAMED_FIRST[c] == "first" else 0.0 for c in CONSTRUCTIONS}
    assert m["difference_accuracy_by_construction"] == expected
    assert m["difference_accuracy_by_construction_ci"] == {c: [v, v] for c, v in expected.items()}
    assert m["construction_worst_accuracy"] == 0.0
    assert m["difference_accuracy"] == 1.0  # the ordinary sentences of crafted_embeddings are exact


def test_on_the_balanced_probe_word_matching_scores_one_half_on_every_construction_whose_subject_moves(heldout):
    """A text tower that matches the value a sentence names with the image it belongs to, and reads no
    direction: every sentence points towards the image it is said of. On the fixed probe that scores
    1 wherever a construction is said of the first image and 0 wherever of the second, so a base model
    reading words looks strong on some constructions and weak on others (the README's comparative
    adjective); on the balanced probe, half of each construction's pairs are said of each image and
    it scores exactly 1/2, except the named-first pair, whose subject's place is what it tests."""
    balanced = heldout_set(WORLD, TINY)  # the default
    for probe_set, expected in (
        (heldout, {c: float(SUBJECT[c] == "first") for c in CONSTRUCTIONS}),
        (balanced, {c: float(SUBJECT[c] == "first") if c.endswith("-named-first") else 0.5 for c in CONSTRUCTIONS}),
    ):
        emb = crafted_embeddings(probe_set)
        p = probe_set.constructions
        direction = difference_directions(emb.images[p.first], emb.images[p.second])
        said_of_first = torch.tensor([s == "first" for s in p.subjects])
        emb.texts["constructions"] = torch.where(said_of_first.unsqueeze(1), direction, -direction)
        assert evaluate_embeddings(emb, probe_set)["difference_accuracy_by_construction"] == expected
    # The balanced probe changes the probe's wording only: its pairs, orders and every other item are the same.
    q = balanced.constructions
    for name in ("first", "second", "pair"):
        assert np.array_equal(getattr(q, name), getattr(heldout.constructions, name)), name
    assert (q.constructions, q.attributes) == (heldout.constructions.constructions, heldout.constructions.attributes)
    assert np.array_equal(balanced.images, heldout.images)
    assert {k: v for k, v in balanced.text_groups().items() if k != "constructions"} == {
        k: v for k, v in heldout.text_groups().items() if k != "constructions"
    }
    fixed_texts = dict(zip(zip(q.pair, q.constructions, q.first), heldout.constructions.texts))
    moved = [(k, t) for k, t in zip(zip(q.pair, q.constructions, q.first), q.texts) if fixed_texts[k] != t]
    assert moved and all(k[0] % 2 == 1 and not k[1].endswith("-named-first") for k, _ in moved)
