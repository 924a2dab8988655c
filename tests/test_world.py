"""The procedural scene world: determinism, pixel/ground-truth consistency, minimal pairs, and the
truth of every difference sentence."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace

import numpy as np
import pytest
from pydantic import ValidationError

from pcclip.generate.scoring import judge_sentence
from pcclip.world.phrasing import (
    SPLITS,
    ZERO_SHOT_TEMPLATES,
    caption,
    class_phrase,
    difference_sentence,
    difference_sentences,
    phrasing_pool,
)
from pcclip.world.render import object_masks, render, render_batch
from pcclip.world.scene import (
    ATTRIBUTES,
    COLOURS,
    HELDOUT_COMBINATIONS,
    PERTURB_SHIFT,
    PERTURB_SIZE_RATIO,
    POSITION_MARGIN,
    SHAPES,
    SIZE_BINS,
    SIZE_RATIO_MARGIN,
    Scene,
    WorldConfig,
    perturb,
    plural,
    sample_scene,
    sample_scenes,
    size_bin,
)

CONFIG = WorldConfig()
CLEAN = WorldConfig(noise=0.0)  # exact pixel checks
SIZE = 64

# Direction of the image a comparative is said of, written independently of the implementation:
# +1 = more of it (larger, more numerous, further right, lower down), -1 = less.
SIZE_WORDS = {
    "larger": 1, "bigger": 1, "smaller": -1,
    "more sizeable": 1, "bulkier": 1, "heftier": 1, "tinier": -1, "more diminutive": -1, "less bulky": -1,
}  # fmt: skip
COUNT_WORDS = {
    "more": 1, "fewer": -1,
    "more numerous": 1, "less numerous": -1, "a greater number of": 1, "a lower number of": -1,
}  # fmt: skip
POSITION_WORDS = {  # (axis, sign): x grows to the right, y grows downward
    **{w: ("x", -1) for w in ("further to the left", "more to the left", "further left")},
    **{w: ("x", 1) for w in ("further to the right", "more to the right", "further right")},
    **{w: ("y", -1) for w in ("higher", "higher up", "further up")},
    **{w: ("y", 1) for w in ("lower", "lower down", "further down")},
    **{w: ("x", -1) for w in ("positioned more to the left", "shifted leftward", "nearer the left edge")},
    **{w: ("x", 1) for w in ("positioned more to the right", "shifted rightward", "nearer the right edge")},
    **{w: ("y", -1) for w in ("positioned more toward the top", "shifted upward", "nearer the top edge")},
    **{w: ("y", 1) for w in ("positioned more toward the bottom", "shifted downward", "nearer the bottom edge")},
}
NUMBER_WORDS = {  # counts said as numbers (train pool)
    1: ("a", "one", "a single", "1"), 2: ("two", "2"), 3: ("three", "3"), 4: ("four", "4"),
}  # fmt: skip
IMAGE_NAMES = {
    "first": ("first", "image 1", "image one", "former"),
    "second": ("second", "image 2", "image two", "latter"),
}


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    return sample_scenes(300, seed=11, config=CONFIG)


@pytest.fixture(scope="module")
def minimal_pairs(scenes) -> list[tuple[Scene, Scene, str]]:
    rng = np.random.default_rng(5)
    return [(a, perturb(a, attribute, rng, CONFIG), attribute) for a in scenes[:100] for attribute in ATTRIBUTES]


def visibly_differing(a: Scene, b: Scene) -> set[str]:
    """Ground truth, from the fields and the documented margins."""
    truth = {
        "shape": a.shape != b.shape,
        "colour": a.colour != b.colour,
        "size": max(a.size, b.size) / min(a.size, b.size) >= SIZE_RATIO_MARGIN,
        "count": a.count != b.count,
        "position": max(abs(a.x - b.x), abs(a.y - b.y)) >= POSITION_MARGIN,
    }
    return {attribute for attribute, differs in truth.items() if differs}


def assert_valid_geometry(scene: Scene) -> None:
    centres = np.asarray(scene.centres)
    assert centres.shape == (scene.count, 2)
    assert np.all(centres >= scene.size) and np.all(centres <= 1 - scene.size), "object leaves the image"
    gaps = [math.dist(p, q) for i, p in enumerate(scene.centres) for q in scene.centres[i + 1 :]]
    assert all(g >= 2 * scene.size for g in gaps), "objects overlap"
    assert np.allclose(centres.mean(axis=0), (scene.x, scene.y), atol=1e-12)


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_same_scenes_and_pixels_different_seed_different():
    a, b, c = (sample_scenes(20, seed, CONFIG) for seed in (3, 3, 4))
    assert a == b
    assert a != c
    images = render_batch(a, SIZE)
    assert images.shape == (20, SIZE, SIZE, 3) and images.dtype == np.uint8
    assert np.array_equal(images, render_batch(b, SIZE))
    assert not np.array_equal(images, render_batch(c, SIZE))
    assert np.array_equal(images[7], render(a[7], SIZE))


def test_noise_comes_from_the_noise_seed(scenes):
    scene = scenes[0]
    assert np.array_equal(render(scene, SIZE), render(scene, SIZE))
    assert not np.array_equal(render(scene, SIZE), render(replace(scene, noise_seed=scene.noise_seed + 1), SIZE))


# --- scenes and pixels agree ---------------------------------------------------------------------


def test_sampled_scenes_are_well_formed(scenes):
    for scene in scenes:
        assert scene.shape in SHAPES and scene.colour in COLOURS
        assert CONFIG.min_size <= scene.size <= CONFIG.max_size
        assert CONFIG.min_objects <= scene.count <= CONFIG.max_objects
        assert_valid_geometry(scene)
        expected_bin = next(name for name, upper in SIZE_BINS if scene.size < upper)
        assert scene.size_bin == size_bin(scene.size) == expected_bin
    # The sampler covers the whole world.
    assert {s.shape for s in scenes} == set(SHAPES) and {s.colour for s in scenes} == set(COLOURS)
    assert {s.count for s in scenes} == {1, 2, 3, 4}
    assert {s.size_bin for s in scenes} == {name for name, _ in SIZE_BINS}
    assert len({s.position_name for s in scenes}) == 9


def test_masks_match_the_scene(scenes):
    for scene in scenes[:150]:
        masks = object_masks(scene, SIZE)
        assert masks.shape == (scene.count, SIZE, SIZE)
        assert masks.any(axis=(1, 2)).all(), "every object is visible"
        assert masks.sum(axis=0).max() == 1, "objects overlap"
        ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
        for mask, (cx, cy) in zip(masks, scene.centres):
            distance = np.hypot(xs - cx * SIZE, ys - cy * SIZE)
            assert distance[mask].max() <= scene.size * SIZE + 0.5, "object drawn outside its disc"
            assert mask[int(cy * SIZE), int(cx * SIZE)], "object covers its centre"


def test_pixels_show_the_colour_at_centres_and_background_elsewhere(scenes):
    for scene in scenes[:150]:
        clean = replace(scene, noise=0.0)
        image = render(clean, SIZE).astype(int)
        for cx, cy in scene.centres:
            assert tuple(image[int(cy * SIZE), int(cx * SIZE)]) == scene.rgb
        ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
        distance = np.min([np.hypot(xs - cx * SIZE, ys - cy * SIZE) for cx, cy in scene.centres], axis=0)
        outside = distance > scene.size * SIZE + 1.0
        assert outside.any()
        assert (image[outside] == scene.background).all()
        # With the default noise, pixels stay within 6 standard deviations of the clean image.
        noisy = render(scene, SIZE).astype(int)
        assert np.abs(noisy - image).max() <= 6 * scene.noise * 255 + 1


def test_mask_area_grows_with_size(scenes):
    for scene in scenes[:40]:
        single = replace(scene, centres=((0.5, 0.5),), count=1)
        areas = [object_masks(replace(single, size=s), SIZE).sum() for s in (0.07, 0.1, 0.14)]
        assert areas[0] < areas[1] < areas[2]
        # Each shape fills a fair part of its disc (recognisable), never more than all of it.
        disc = math.pi * (0.14 * SIZE) ** 2
        assert 0.3 * disc < areas[2] <= disc + 2 * math.pi * 0.14 * SIZE


def test_attributes_are_json_and_round_trip(scenes):
    for scene in scenes[:20]:
        attributes = json.loads(json.dumps(scene.attributes()))
        assert Scene.from_attributes(attributes) == scene
        assert attributes["size_bin"] == scene.size_bin and attributes["position"] == scene.position_name


# --- minimal pairs -------------------------------------------------------------------------------


def test_perturb_changes_exactly_one_attribute_by_a_clear_margin(minimal_pairs):
    changed_fields = {
        "shape": {"shape"},
        "colour": {"colour", "rgb"},
        "size": {"size", "size_bin", "centres"},
        "count": {"count", "centres"},
        "position": {"x", "y", "position", "centres"},
    }
    for a, b, attribute in minimal_pairs:
        assert visibly_differing(a, b) == {attribute}
        assert_valid_geometry(b)
        fa, fb = a.attributes(), b.attributes()
        assert {k for k in fa if fa[k] != fb[k]} <= changed_fields[attribute]
        if attribute == "size":
            assert max(a.size, b.size) / min(a.size, b.size) >= PERTURB_SIZE_RATIO - 1e-12
        if attribute == "position":
            dx, dy = abs(a.x - b.x), abs(a.y - b.y)
            assert (dx >= PERTURB_SHIFT and dy == 0) or (dy >= PERTURB_SHIFT and dx == 0)
        if attribute == "colour":  # the scene's own colour jitter is kept
            offset_a = np.subtract(a.rgb, COLOURS[a.colour])
            assert b.rgb == tuple(np.clip(np.add(COLOURS[b.colour], offset_a), 0, 255))


def test_perturb_is_seeded(scenes):
    for attribute in ATTRIBUTES:
        runs = [perturb(scenes[0], attribute, np.random.default_rng(9), CONFIG) for _ in range(2)]
        assert runs[0] == runs[1]


# --- difference sentences ------------------------------------------------------------------------


def assert_true_for_the_ordered_pair(a: Scene, b: Scene, difference, split: str) -> None:
    text = difference.text.lower()
    attribute, subject = difference.attribute, difference.subject
    values = {"first": a, "second": b}
    s, o = values[subject], values["second" if subject == "first" else "first"]
    assert any(name in text for name in IMAGE_NAMES[subject]), text
    assert (difference.first_value, difference.second_value) == (
        ((a.x, a.y), (b.x, b.y)) if attribute == "position" else (getattr(a, attribute), getattr(b, attribute))
    )
    if difference.keyword is None:  # values, bound to their images: the scorer reads which image has which
        if attribute == "count":  # counts as numbers, both named
            for scene in (s, o):
                noun = scene.shape if scene.count == 1 else plural(scene.shape)
                assert any(re.search(rf"\b{word} {noun}\b", text) for word in NUMBER_WORDS[scene.count]), text
        else:  # a verb of change ("... become blue") names only the subject's value
            assert attribute in ("shape", "colour") and getattr(s, attribute) in text, text
        assert judge_sentence(text, a, b).verdict == "correct" and judge_sentence(text, b, a).verdict == "wrong-direction", text
        return
    keyword = difference.keyword
    assert keyword in text and keyword in phrasing_pool(split), text
    if attribute == "size":
        assert SIZE_WORDS[keyword] == np.sign(s.size - o.size), text
    elif attribute == "count":
        assert COUNT_WORDS[keyword] == np.sign(s.count - o.count), text
    else:
        axis, sign = POSITION_WORDS[keyword]
        shift = (s.x - o.x) if axis == "x" else (s.y - o.y)
        assert abs(shift) >= POSITION_MARGIN and np.sign(shift) == sign, text


@pytest.mark.parametrize("split", SPLITS)
def test_difference_sentences_are_true_for_the_ordered_pair_only(split, scenes, minimal_pairs):
    rng = np.random.default_rng(1)
    random_pairs = [(a, b) for a, b in zip(scenes[::2], scenes[1::2])]
    pairs = random_pairs + [(a, b) for a, b, _ in minimal_pairs]
    subjects, keywords = set(), set()
    for a, b in pairs:
        for first, second in ((a, b), (b, a)):
            differences = difference_sentences(first, second, split, rng)
            truth = visibly_differing(first, second)
            assert [d.attribute for d in differences] == [x for x in ATTRIBUTES if x in truth]
            for difference in differences:
                assert_true_for_the_ordered_pair(first, second, difference, split)
                subjects.add(difference.subject)
                keywords.add(difference.keyword)
    assert subjects == {"first", "second"}  # both images get named first
    assert len(keywords) > 15


@pytest.mark.parametrize("split", SPLITS)
def test_categorical_sentences_swap_their_values_when_the_pair_is_swapped(split, minimal_pairs):
    """Drawn with the same seed, the sentence for (b, a) is the one for (a, b) with the two values
    exchanged: the values are bound to the images, so the sentence is false for the swapped pair."""
    for seed, (a, b, attribute) in enumerate(minimal_pairs):
        if attribute not in ("shape", "colour"):
            continue
        forward, backward = (difference_sentences(x, y, split, np.random.default_rng(seed))[0].text for x, y in ((a, b), (b, a)))
        va, vb = getattr(a, attribute), getattr(b, attribute)
        exchange = {va: vb, vb: va, plural(va): plural(vb), plural(vb): plural(va)}
        pattern = r"\b(" + "|".join(sorted(map(re.escape, exchange), key=len, reverse=True)) + r")\b"
        swapped = re.sub(pattern, lambda m, exchange=exchange: exchange[m.group(1)], forward)
        assert swapped.replace(" an ", " a ") == backward.replace(" an ", " a ") != forward.replace(" an ", " a ")


def test_difference_sentence_joins_up_to_max_attributes(scenes):
    rng = np.random.default_rng(2)
    assert difference_sentence(scenes[0], scenes[0], rng, "train") is None
    for a, b in zip(scenes[:100:2], scenes[1:100:2]):
        differing = visibly_differing(a, b)
        for max_attributes in (1, 2, 5):
            d = difference_sentence(a, b, rng, "train", max_attributes)
            attributes = d.attribute.split("+")
            assert len(attributes) == min(max_attributes, len(differing)) and set(attributes) <= differing
            if len(attributes) > 1:
                assert len(d.first_value) == len(d.subject) == len(attributes)
                assert d.text.count(" and ") >= len(attributes) - 1


# --- phrasing pools ------------------------------------------------------------------------------


def test_train_and_eval_phrasing_are_disjoint():
    train, evaluation = phrasing_pool("train"), phrasing_pool("eval")
    assert len(train) > 40 and len(evaluation) > 40
    assert not train & evaluation
    # the eval pool's named constructions (frames and verbs) and the train pool's verbs of change and
    # numbers are part of the pools, so the check above covers them
    assert {
        "from {O} to {S}, the {things} {cmp}",
        "shrink",
        "drift leftward",
        "in comparison with {O}, {S} exhibits {cmp} {things}",
    } <= evaluation
    assert {"going from {O} to {S}, the {things} get {cmp}", "{S} has {sv} while {O} has {ov}"} <= train
    for split in SPLITS:
        assert 5 <= len(ZERO_SHOT_TEMPLATES[split]) <= 8
        assert all(t.count("{}") == 1 for t in ZERO_SHOT_TEMPLATES[split])
    assert not set(ZERO_SHOT_TEMPLATES["train"]) & set(ZERO_SHOT_TEMPLATES["eval"])


def normalised(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def test_captions_vary_and_eval_captions_never_repeat_train_ones(scenes):
    rng = np.random.default_rng(3)
    for scene in scenes[:60]:
        train = {normalised(caption(scene, rng, "train")) for _ in range(40)}
        evaluation = {normalised(caption(scene, rng, "eval")) for _ in range(40)}
        assert len(train) >= 5 and len(evaluation) >= 5
        assert not train & evaluation
        noun = scene.shape if scene.count == 1 else plural(scene.shape)
        assert all(noun in c for c in train | evaluation)
        assert sum(scene.colour in c for c in train | evaluation) > 0.6 * len(train | evaluation)


def test_captions_use_singular_and_articles_correctly():
    rng = np.random.default_rng(4)
    scene = replace(sample_scene(np.random.default_rng(0), WorldConfig(max_objects=1)), colour="orange")
    captions = [caption(scene, rng, split) for split in SPLITS for _ in range(50)]
    assert not any(re.search(r"\ba orange\b", c.lower()) for c in captions)
    assert not any(plural(scene.shape) in c for c in captions)


def test_class_phrases():
    assert class_phrase("shape", "star") == "a star"
    assert class_phrase("shape", "hexagon") == "a hexagon"
    assert class_phrase("colour", "orange") == "an orange object"
    assert class_phrase("size", "small") == "a small object"
    assert class_phrase("count", 3) == "three objects"
    with pytest.raises(ValueError, match="unknown attribute"):
        class_phrase("texture", "rough")


def test_unknown_split_is_rejected(scenes):
    with pytest.raises(ValueError, match="split must be one of"):
        caption(scenes[0], np.random.default_rng(0), "test")


# --- configuration -------------------------------------------------------------------------------


def test_world_config_validation():
    with pytest.raises(ValidationError) as error:
        WorldConfig(colour_jiter=0.1)
    assert error.value.errors()[0]["loc"] == ("colour_jiter",)
    with pytest.raises(ValidationError) as error:
        WorldConfig(image_size=8)
    assert error.value.errors()[0]["loc"] == ("image_size",) and "image_size" in str(error.value)
    with pytest.raises(ValidationError, match="min_objects"):
        WorldConfig(min_objects=3, max_objects=2)
    with pytest.raises(ValidationError, match="max_size"):
        WorldConfig(min_size=0.08, max_size=0.12)
    assert all(field.description for field in WorldConfig.model_fields.values())


def test_held_out_combinations():
    assert len(HELDOUT_COMBINATIONS) == len(SHAPES)
    assert {c for _, c in HELDOUT_COMBINATIONS} == set(COLOURS)
    rng = np.random.default_rng(0)
    seen, unseen = WorldConfig(combinations="seen"), WorldConfig(combinations="unseen")
    for _ in range(200):
        scene = sample_scene(rng, seen)
        assert (scene.shape, scene.colour) not in HELDOUT_COMBINATIONS
        for attribute in ("shape", "colour"):
            other = perturb(scene, attribute, rng, seen)
            assert (other.shape, other.colour) not in HELDOUT_COMBINATIONS
        scene = sample_scene(rng, unseen)
        assert (scene.shape, scene.colour) in HELDOUT_COMBINATIONS
