"""Captions, ground-truth difference sentences and zero-shot prompts for the scene world.

Two disjoint phrasing pools, "train" and "eval": no template and no comparative word is shared, so
the held-out evaluation measures meaning rather than memorised wording. Within each pool the
sentences vary which image they name first, word order and vocabulary, because a text tower
trained on a handful of fixed templates learns word order instead of meaning.

A difference sentence describes how the FIRST image (a) differs from the SECOND (b). It is true for
the ordered pair (a, b) and false for (b, a): comparatives are chosen for the image the sentence
talks about (its subject, which may be either image), and categorical sentences name both values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from .scene import ATTRIBUTES, POSITION_MARGIN, Scene, differing_attributes, plural

Split = Literal["train", "eval"]
SPLITS: tuple[str, ...] = ("train", "eval")

_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}


@dataclass(frozen=True)
class Difference:
    """One ground-truth difference sentence about the ordered pair (first image a, second image b).

    attribute: which attribute it describes. first_value, second_value: that attribute in a and in b
    (for position, the group centre (x, y)). subject: which image the sentence's comparative or value
    is said of ("first" or "second"). keyword: the comparative phrase used (for size, count and
    position; None for shape and colour, whose sentences name both values instead).
    For a sentence joining several differences, attribute is "+"-joined and the other fields are
    tuples aligned with attribute.split("+").
    """

    attribute: str
    text: str
    first_value: Any
    second_value: Any
    subject: Any
    keyword: Any


@dataclass(frozen=True)
class _Frame:
    """A difference template and, for comparatives, its words per direction of the subject image:
    "+"/"-" (more/less of it) for size and count, "left"/"right"/"up"/"down" for position."""

    template: str
    words: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Pool:
    """Everything one split may say."""

    count_words: dict[int, tuple[str, ...]]
    size_words: dict[str, tuple[str, ...]]
    positions: dict[tuple[str, str], tuple[str, ...]]  # region (vertical, horizontal) -> phrases
    image_refs: tuple[tuple[str, str], ...]  # (first, second) image, in matching styles
    generic_nouns: tuple[str, ...]  # plural nouns for objects of any shape
    captions: tuple[str, ...]
    differences: dict[str, tuple[_Frame, ...]]
    zero_shot: tuple[str, ...]
    sentence_case: bool  # eval sentences start with a capital and end with a full stop


def _positions(centre: tuple[str, ...], sides: dict[str, tuple[str, ...]], corners: tuple[str, ...]) -> dict:
    """Region -> phrases, from phrases for the centre, for each side and corner templates with {v}
    (top/bottom as given) and {h} (left/right)."""
    table = {("middle", "centre"): centre}
    for side in ("left", "right"):
        table["middle", side] = sides[side]
    for side in ("top", "bottom"):
        table[side, "centre"] = sides[side]
    upper = {"top": "upper", "bottom": "lower"}
    for v in ("top", "bottom"):
        for h in ("left", "right"):
            table[v, h] = tuple(c.format(v=v, h=h, upper=upper[v]) for c in corners)
    return table


_SIZE_TRAIN = {"+": ("larger", "bigger"), "-": ("smaller",)}
_COUNT_TRAIN = {"+": ("more",), "-": ("fewer",)}
_POSITION_TRAIN = {
    "left": ("further to the left", "more to the left", "further left"),
    "right": ("further to the right", "more to the right", "further right"),
    "up": ("higher", "higher up", "further up"),
    "down": ("lower", "lower down", "further down"),
}

_TRAIN = _Pool(
    count_words={1: ("a", "one", "a single", "1"), 2: ("two", "2"), 3: ("three", "3"), 4: ("four", "4")},
    size_words={"small": ("small", "little"), "medium": ("medium", "medium-sized"), "large": ("large", "big")},
    positions=_positions(
        ("in the centre", "in the middle"),
        {
            "left": ("on the left", "at the left"),
            "right": ("on the right", "at the right"),
            "top": ("at the top", "in the upper part"),
            "bottom": ("at the bottom", "in the lower part"),
        },
        ("in the {v} {h}", "at the {upper} {h}"),
    ),
    image_refs=(
        ("the first image", "the second image"),
        ("the first picture", "the second picture"),
        ("image 1", "image 2"),
        ("image one", "image two"),
    ),
    generic_nouns=("shapes", "objects"),
    captions=(
        "{n} {size} {colour} {shape} {pos}",
        "a picture of {n} {size} {colour} {shape}, {pos}",
        "{pos}, {n} {size} {colour} {shape}",
        "{n} {shape} {pos}, {colour} and {size}",
        "there {be} {n} {size} {colour} {shape} {pos}",
        "an image with {n} {colour} {shape} {pos}, {size} in size",
        "{n} {colour} {shape}",
        "{n} {size} {shape} {pos}",
    ),
    differences={
        "size": tuple(
            _Frame(t, _SIZE_TRAIN)
            for t in (
                "{S} has {cmp} {things}",
                "the {things} in {S} are {cmp}",
                "{S} shows {cmp} {things} than {O}",
                "the {things} are {cmp} in {S} than in {O}",
                "compared with {O}, {S} has {cmp} {things}",
                "{S}'s {things} are {cmp}",
                "{cmp} {things} appear in {S}",
            )
        ),
        "count": tuple(
            _Frame(t, _COUNT_TRAIN)
            for t in (
                "there are {cmp} {things} in {S}",
                "{S} has {cmp} {things}",
                "{S} contains {cmp} {things} than {O}",
                "compared with {O}, {S} shows {cmp} {things}",
                "{cmp} {things} appear in {S} than in {O}",
            )
        ),
        "position": tuple(
            _Frame(t, _POSITION_TRAIN)
            for t in (
                "the {things} in {S} sit {cmp}",
                "{S} has its {things} placed {cmp}",
                "the {things} are {cmp} in {S} than in {O}",
                "{S}'s {things} are {cmp}",
                "compared with {O}, the {things} in {S} are {cmp}",
            )
        ),
        "colour": tuple(
            _Frame(t)
            for t in (
                "the {things} in {S} are {sv} rather than {ov}",
                "{S} has {sv} {things} instead of {ov} ones",
                "{S} shows {sv} {things} while {O} shows {ov} ones",
                "the {things} are {sv} in {S} but {ov} in {O}",
                "{ov} in {O}, the {things} are {sv} in {S}",
                "{S}'s {things} are {sv}, not {ov}",
            )
        ),
        "shape": tuple(
            _Frame(t)
            for t in (
                "{S} shows {sv} instead of {ov}",
                "{S} has {sv} rather than {ov}",
                "there {s_be} {sv} in {S} where {O} has {ov}",
                "{S} contains {sv}, {O} contains {ov}",
                "where {O} has {ov}, {S} has {sv}",
            )
        ),
    },
    zero_shot=(
        "a picture of {}.",
        "an image of {}.",
        "a photo showing {}.",
        "a drawing of {}.",
        "{} in the image.",
        "there is {} here.",
    ),
    sentence_case=False,
)

_SIZE_EVAL = {"+": ("more sizeable", "bulkier", "heftier"), "-": ("tinier", "more diminutive", "less bulky")}
_COUNT_EVAL_PREDICATIVE = {"+": ("more numerous",), "-": ("less numerous",)}
_COUNT_EVAL_ATTRIBUTIVE = {"+": ("a greater number of",), "-": ("a lower number of",)}
_POSITION_EVAL = {
    "left": ("positioned more to the left", "shifted leftward", "nearer the left edge"),
    "right": ("positioned more to the right", "shifted rightward", "nearer the right edge"),
    "up": ("positioned more toward the top", "shifted upward", "nearer the top edge"),
    "down": ("positioned more toward the bottom", "shifted downward", "nearer the bottom edge"),
}

_EVAL = _Pool(
    count_words={
        1: ("a lone", "just one"),
        2: ("a pair of", "a couple of"),
        3: ("a trio of", "a group of three"),
        4: ("a set of four", "a quartet of"),
    },
    size_words={
        "small": ("tiny", "smallish"),
        "medium": ("mid-sized", "moderately sized"),
        "large": ("sizeable", "hefty"),
    },
    positions=_positions(
        ("around the middle", "in the central area"),
        {
            "left": ("on the left side", "toward the left"),
            "right": ("on the right side", "toward the right"),
            "top": ("near the top", "along the upper edge"),
            "bottom": ("near the bottom", "along the lower edge"),
        },
        ("in the {v}-{h} corner", "toward the {upper}-{h} corner"),
    ),
    image_refs=(
        ("the first photo", "the second photo"),
        ("the first scene", "the second scene"),
        ("the former picture", "the latter picture"),
    ),
    generic_nouns=("figures", "items"),
    captions=(
        "{pos} there {be} {n} {size} {shape}, {all}{colour}",
        "we see {n} {size} {shape} {pos}; {pron_be} {colour}",
        "visible {pos} {be} {n} {size} {colour} {shape}",
        "this scene contains {n} {colour} {shape}, {size}, placed {pos}",
        "{n} {size} {shape} coloured {colour}, found {pos}",
        "{n} {shape} rendered in {colour}",
    ),
    differences={
        "size": tuple(
            _Frame(t, _SIZE_EVAL)
            for t in (
                "in {S}, the {things} are {cmp}",
                "relative to {O}, {S} features {cmp} {things}",
                "the {things} pictured in {S} look {cmp}",
                "one finds {cmp} {things} in {S}",
                "{S} depicts {cmp} {things} than {O} does",
            )
        ),
        "count": (
            _Frame("in {S}, the {things} are {cmp}", _COUNT_EVAL_PREDICATIVE),
            _Frame("the {things} of {S} are {cmp} than those of {O}", _COUNT_EVAL_PREDICATIVE),
            _Frame("{S} holds {cmp} {things}", _COUNT_EVAL_ATTRIBUTIVE),
            _Frame("relative to {O}, {S} includes {cmp} {things}", _COUNT_EVAL_ATTRIBUTIVE),
        ),
        "position": tuple(
            _Frame(t, _POSITION_EVAL)
            for t in (
                "in {S}, the {things} are {cmp}",
                "the {things} of {S} appear {cmp}",
                "relative to {O}, {S} has its {things} {cmp}",
                "{S} shows the {things} {cmp}",
            )
        ),
        "colour": tuple(
            _Frame(t)
            for t in (
                "unlike {O}, where they are {ov}, the {things} in {S} are {sv}",
                "{S} renders the {things} in {sv} as opposed to {ov}",
                "the {things} that are {ov} in {O} appear {sv} in {S}",
                "in {S} the {things} take on a {sv} hue instead of the {ov} seen in {O}",
            )
        ),
        "shape": tuple(
            _Frame(t)
            for t in (
                "unlike {O}, which contains {ov}, {S} contains {sv}",
                "{S} depicts {sv} in place of {ov}",
                "{O} displays {ov}, whereas {S} displays {sv}",
                "what {O} shows as {ov}, {S} shows as {sv}",
                "instead of {ov} as in {O}, {S} features {sv}",
            )
        ),
    },
    zero_shot=(
        "a rendering of {}.",
        "this shows {}.",
        "a small image containing {}.",
        "a clear view of {}.",
        "the scene has {} in it.",
        "look, {}.",
    ),
    sentence_case=True,
)

_POOLS: dict[str, _Pool] = {"train": _TRAIN, "eval": _EVAL}

ZERO_SHOT_TEMPLATES: dict[str, tuple[str, ...]] = {split: pool.zero_shot for split, pool in _POOLS.items()}


def _pool(split: str) -> _Pool:
    if split not in _POOLS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return _POOLS[split]


def phrasing_pool(split: Split) -> frozenset[str]:
    """Every template (captions, differences, zero-shot) and every phrase (comparatives, count and
    size words, positions, image names, generic nouns) of one split. The two splits' pools are
    disjoint; only the shape and colour names, which are the classes themselves, are shared."""
    pool = _pool(split)
    frames = [frame for frames in pool.differences.values() for frame in frames]
    phrases = [
        *(frame.template for frame in frames),
        *(word for frame in frames for options in frame.words.values() for word in options),
        *pool.captions,
        *pool.zero_shot,
        *(word for options in pool.count_words.values() for word in options),
        *(word for options in pool.size_words.values() for word in options),
        *(phrase for options in pool.positions.values() for phrase in options),
        *(name for names in pool.image_refs for name in names),
        *pool.generic_nouns,
    ]
    return frozenset(phrases)


def _choice(rng: np.random.Generator, options: tuple[Any, ...]) -> Any:
    return options[rng.integers(len(options))]


def _finish(text: str, pool: _Pool) -> str:
    """Fix indefinite articles ('a orange' -> 'an orange') and apply the split's sentence style."""
    text = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)
    return text[0].upper() + text[1:] + "." if pool.sentence_case else text


def _with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _noun_phrase(shape: str, count: int) -> str:
    """'a star' for one object, 'stars' for several."""
    return _with_article(shape) if count == 1 else plural(shape)


def caption(scene: Scene, rng: np.random.Generator, split: Split) -> str:
    """A caption of the scene in a random phrasing from the split's pool."""
    pool = _pool(split)
    one = scene.count == 1
    text = _choice(rng, pool.captions).format(
        n=_choice(rng, pool.count_words[scene.count]),
        size=_choice(rng, pool.size_words[scene.size_bin]),
        colour=scene.colour,
        shape=scene.shape if one else plural(scene.shape),
        pos=_choice(rng, pool.positions[scene.region]),
        be="is" if one else "are",
        pron_be="it is" if one else "they are",
        all="" if one else "all ",
    )
    return _finish(text, pool)


def _value(scene: Scene, attribute: str) -> Any:
    return (scene.x, scene.y) if attribute == "position" else getattr(scene, attribute)


def _direction(subject: Scene, other: Scene, attribute: str, rng: np.random.Generator) -> str:
    """Where the subject stands relative to the other image: "+"/"-" for size and count; for
    position, "left"/"right"/"up"/"down" along a random axis on which the groups differ visibly."""
    if attribute in ("size", "count"):
        return "+" if getattr(subject, attribute) > getattr(other, attribute) else "-"
    dx, dy = subject.x - other.x, subject.y - other.y
    axes = [(d, names) for d, names in ((dx, ("left", "right")), (dy, ("up", "down"))) if abs(d) >= POSITION_MARGIN]
    d, (negative, positive) = _choice(rng, tuple(axes))
    return positive if d > 0 else negative


def _describe(
    a: Scene, b: Scene, attribute: str, refs: tuple[str, str], pool: _Pool, rng: np.random.Generator
) -> Difference:
    """One unfinished sentence saying how a differs from b in `attribute` (they must differ in it),
    calling the images refs = (first, second)."""
    frame = _choice(rng, pool.differences[attribute])
    subject = _choice(rng, ("first", "second"))
    s, o = (a, b) if subject == "first" else (b, a)
    first_ref, second_ref = refs
    same_shape = a.shape == b.shape and rng.random() < 0.7
    slots = {
        "S": first_ref if subject == "first" else second_ref,
        "O": second_ref if subject == "first" else first_ref,
        "things": plural(a.shape) if same_shape else _choice(rng, pool.generic_nouns),
    }
    keyword = None
    if frame.words:
        keyword = _choice(rng, frame.words[_direction(s, o, attribute, rng)])
        slots["cmp"] = keyword
    elif attribute == "colour":
        slots.update(sv=s.colour, ov=o.colour)
    else:
        slots.update(sv=_noun_phrase(s.shape, s.count), ov=_noun_phrase(o.shape, o.count))
        slots["s_be"] = "is" if s.count == 1 else "are"
    text = frame.template.format(**slots)
    return Difference(attribute, text, _value(a, attribute), _value(b, attribute), subject, keyword)


def difference_sentences(a: Scene, b: Scene, split: Split, rng: np.random.Generator) -> list[Difference]:
    """One sentence per attribute in which a and b differ (see scene.differing_attributes), each
    saying how the first image (a) differs from the second (b)."""
    pool = _pool(split)
    differences = []
    for attribute in differing_attributes(a, b):
        difference = _describe(a, b, attribute, _choice(rng, pool.image_refs), pool, rng)
        differences.append(replace(difference, text=_finish(difference.text, pool)))
    return differences


def difference_sentence(
    a: Scene, b: Scene, rng: np.random.Generator, split: Split, max_attributes: int = 1
) -> Difference | None:
    """One sentence for a training pair: min(max_attributes, number of differing attributes) random
    differences, joined with "and"; None if the scenes do not differ visibly."""
    pool = _pool(split)
    differing = differing_attributes(a, b)
    if not differing:
        return None
    chosen = rng.choice(len(differing), size=min(max_attributes, len(differing)), replace=False)
    refs = _choice(rng, pool.image_refs)  # one naming style per sentence
    parts = [_describe(a, b, differing[i], refs, pool, rng) for i in chosen]
    text = _finish(" and ".join(p.text for p in parts), pool)
    if len(parts) == 1:
        return replace(parts[0], text=text)
    return Difference(
        "+".join(p.attribute for p in parts),
        text,
        tuple(p.first_value for p in parts),
        tuple(p.second_value for p in parts),
        tuple(p.subject for p in parts),
        tuple(p.keyword for p in parts),
    )


def class_phrase(attribute: str, value: Any) -> str:
    """The class text that fills a ZERO_SHOT_TEMPLATES slot, article included: shape 'star' -> 'a star',
    colour 'orange' -> 'an orange object', size 'small' -> 'a small object', count 3 -> 'three
    objects', position 'on the left' -> 'something on the left'."""
    if attribute == "shape":
        return _with_article(value)
    if attribute in ("colour", "size"):
        return _with_article(f"{value} object")
    if attribute == "count":
        return f"{_NUMBER_WORDS[value]} object{'s' if value > 1 else ''}"
    if attribute == "position":
        return f"something {value}"
    raise ValueError(f"unknown attribute {attribute!r}; expected one of {ATTRIBUTES}")
