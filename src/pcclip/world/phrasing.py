"""Captions, ground-truth difference sentences and zero-shot prompts for the scene world.

Two disjoint phrasing pools, "train" and "eval": no template and no comparative word is shared, so
the held-out evaluation measures meaning rather than memorised wording. Within each pool the
sentences vary which image they name first, word order and vocabulary, because a text tower
trained on a handful of fixed templates learns word order instead of meaning.

A difference sentence describes how the FIRST image (a) differs from the SECOND (b). It is true for
the ordered pair (a, b) and false for (b, a): comparatives are chosen for the image the sentence
talks about (its subject, which may be either image), and categorical sentences bind values to their
images (most name both; a verb of change, "... turn blue", names the subject's).

The eval pool also has named CONSTRUCTIONS (`construction_sentence`): fixed ways of saying the same
difference (the second image named first, a verb of change, a relative clause, ...), each with a fixed
subject, for a probe that shows whether a model reads meaning or word order. The train pool mixes
the same kinds of syntax, in its own wording, into its ordinary frames.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
    is said of ("first" or "second"). keyword: the comparative phrase said of the subject (size, count,
    position); None where the sentence names values instead (shape, colour, counts as numbers).
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
    "+"/"-" (more/less of it) for size and count, "left"/"right"/"up"/"down" for position.

    Slots: {S} and {O} name the subject and the other image; {things} a plural noun for the objects;
    {cmp} a word for the subject's direction, {ocmp} one for the other image's (frames with words);
    {sv} and {ov} the subject's and the other's value (frames without words: a colour, a shape as a
    noun phrase, a count as a number phrase); {s_be} and {o_be} "is"/"are" agreeing with each count."""

    template: str
    words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Construction:
    """A named way of saying how the first image differs from the second: frames for every attribute,
    said of one subject image ({S}), so that the order in which images are named is fixed. Said of the
    other image (`construction_sentence(subject=...)`) the same frames name the images the other way
    round, except where the subject's place is what the construction is (`subject_defines_it`)."""

    subject: str  # "first" or "second"
    differences: Mapping[str, tuple[_Frame, ...]]
    subject_defines_it: bool = False


@dataclass(frozen=True)
class _Pool:
    """Everything one split may say."""

    count_words: Mapping[int, tuple[str, ...]]
    size_words: Mapping[str, tuple[str, ...]]
    positions: Mapping[tuple[str, str], tuple[str, ...]]  # region (vertical, horizontal) -> phrases
    image_refs: tuple[tuple[str, str], ...]  # (first, second) image, in matching styles
    generic_nouns: tuple[str, ...]  # plural nouns for objects of any shape
    captions: tuple[str, ...]
    differences: Mapping[str, tuple[_Frame, ...]]
    zero_shot: tuple[str, ...]
    sentence_case: bool  # eval sentences start with a capital and end with a full stop
    constructions: Mapping[str, _Construction] = field(default_factory=dict)  # name -> construction


def _positions(centre: tuple[str, ...], sides: Mapping[str, tuple[str, ...]], corners: tuple[str, ...]) -> dict:
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
    # The subject is drawn at random, so every frame is said of either image; frames starting from
    # {O} name the image the sentence is NOT about first. Besides plain comparatives: "compared with" /
    # "in contrast to", passives ("... are shown in"), relative clauses and clefts ("the ... that {S}
    # shows", "it is {S} that"), verbs of change ("going from {O} to {S}, ... get / move / become"),
    # both images' values, and counts as numerals or number words.
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
                "{cmp} {things} are shown in {S}",
                "the {things} that {S} shows are {cmp}",
                "going from {O} to {S}, the {things} get {cmp}",
                "in contrast to {O}, {S} has {cmp} {things}",
                "{O} has {ocmp} {things} and {S} has {cmp} ones",
            )
        ),
        "count": (
            *(
                _Frame(t, _COUNT_TRAIN)
                for t in (
                    "there are {cmp} {things} in {S}",
                    "{S} has {cmp} {things}",
                    "{S} contains {cmp} {things} than {O}",
                    "compared with {O}, {S} shows {cmp} {things}",
                    "{cmp} {things} appear in {S} than in {O}",
                    "{cmp} {things} are shown in {S}",
                    "it is {S} that has {cmp} {things}",
                    "going from {O} to {S}, you end up with {cmp} {things}",
                    "in contrast to {O}, {S} has {cmp} {things}",
                )
            ),
            *(
                _Frame(t)
                for t in (
                    "{S} has {sv} while {O} has {ov}",
                    "there {s_be} {sv} in {S} and {ov} in {O}",
                    "{O} has {ov}, {S} has {sv}",
                )
            ),
        ),
        "position": tuple(
            _Frame(t, _POSITION_TRAIN)
            for t in (
                "the {things} in {S} sit {cmp}",
                "{S} has its {things} placed {cmp}",
                "the {things} are {cmp} in {S} than in {O}",
                "{S}'s {things} are {cmp}",
                "compared with {O}, the {things} in {S} are {cmp}",
                "the {things} are drawn {cmp} in {S}",
                "the {things} that {S} shows sit {cmp}",
                "going from {O} to {S}, the {things} move {cmp}",
                "in contrast to {O}, {S} has its {things} placed {cmp}",
                "{O} has its {things} {ocmp}, {S} has them {cmp}",
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
                "{sv} {things} are shown in {S}, {ov} ones in {O}",
                "the {things} that {S} shows are {sv}, not {ov}",
                "going from {O} to {S}, the {things} become {sv}",
                "compared with {O}, which has {ov} {things}, {S} has {sv} ones",
                "while {O} has {ov} {things}, {S} has {sv} ones",
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
                "{sv} {s_be} shown in {S}, {ov} in {O}",
                "it is {S} that has {sv}, not {ov}",
                "going from {O} to {S}, the {things} become {sv}",
                "compared with {O}, which has {ov}, {S} has {sv}",
                "while {O} has {ov}, {S} has {sv}",
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
# Before "than" ("shifted leftward than" is not English)
_POSITION_EVAL_THAN = {d: tuple(w for w in words if not w.startswith("shifted")) for d, words in _POSITION_EVAL.items()}
# Verbs of change, said of the later image: "from the first photo to the second photo, the figures shrink"
_SIZE_EVAL_VERBS = {"+": ("grow", "swell"), "-": ("shrink", "contract")}
_COUNT_EVAL_VERBS = {"+": ("multiply", "proliferate"), "-": ("thin out", "dwindle away")}
_POSITION_EVAL_VERBS = {
    "left": ("drift leftward", "slide leftward"),
    "right": ("drift rightward", "slide rightward"),
    "up": ("drift upward", "rise"),
    "down": ("drift downward", "sink"),
}


def _comparative_frames(template: str, words: Mapping[str, Mapping[str, tuple[str, ...]]]) -> dict[str, tuple[_Frame, ...]]:
    """One comparative template for several attributes, each with its own words."""
    return {attribute: (_Frame(template, attribute_words),) for attribute, attribute_words in words.items()}


# "first-named-first" and "second-named-first" say the same frames of either subject, which {S} names first.
_NAMED_FIRST_EVAL = {
    "size": (
        _Frame("{S} presents {cmp} {things} than {O} does", _SIZE_EVAL),
        _Frame("in {S}, the {things} are {cmp} than in {O}", _SIZE_EVAL),
    ),
    "count": (
        _Frame("{S} presents {cmp} {things} than {O} does", _COUNT_EVAL_ATTRIBUTIVE),
        _Frame("in {S}, the {things} are {cmp} than in {O}", _COUNT_EVAL_PREDICATIVE),
    ),
    "position": (
        _Frame("{S} presents its {things} {cmp} than {O} does", _POSITION_EVAL_THAN),
        _Frame("in {S}, the {things} are {cmp} than in {O}", _POSITION_EVAL_THAN),
    ),
    "colour": (
        _Frame("{S} presents {sv} {things}, whereas {O} presents {ov} ones"),
        _Frame("in {S}, the {things} are {sv} rather than {ov} as in {O}"),
    ),
    "shape": (
        _Frame("{S} presents {sv}, whereas {O} presents {ov}"),
        _Frame("in {S} there {s_be} {sv} rather than {ov} as in {O}"),
    ),
}
_EVAL_CONSTRUCTIONS = {
    "first-named-first": _Construction("first", _NAMED_FIRST_EVAL, subject_defines_it=True),
    "second-named-first": _Construction("second", _NAMED_FIRST_EVAL, subject_defines_it=True),
    "comparative-adjective": _Construction(
        "first",
        {
            **_comparative_frames(
                "the {things} of {S} are {cmp} than those of {O}",
                {"size": _SIZE_EVAL, "count": _COUNT_EVAL_PREDICATIVE, "position": _POSITION_EVAL_THAN},
            ),
            "colour": (_Frame("the {things} of {S} are more {sv} in tone than those of {O}"),),
            "shape": (_Frame("the {things} of {S} are closer in form to {sv} than those of {O}"),),
        },
    ),
    "verb-of-change": _Construction(  # from the first image to the second: said of the second
        "second",
        {
            **_comparative_frames(
                "from {O} to {S}, the {things} {cmp}",
                {"size": _SIZE_EVAL_VERBS, "count": _COUNT_EVAL_VERBS, "position": _POSITION_EVAL_VERBS},
            ),
            "colour": (_Frame("from {O} to {S}, the {things} turn {sv}"),),
            "shape": (_Frame("from {O} to {S}, the {things} change into {sv}"),),
        },
    ),
    "compared-with": _Construction(  # names the second image first, says how the first differs
        "first",
        {
            **_comparative_frames(
                "in comparison with {O}, {S} exhibits {cmp} {things}",
                {"size": _SIZE_EVAL, "count": _COUNT_EVAL_ATTRIBUTIVE},
            ),
            "position": (_Frame("in comparison with {O}, {S} has its {things} {cmp}", _POSITION_EVAL),),
            "colour": (_Frame("in comparison with {O}, {S} exhibits {sv} {things} rather than {ov} ones"),),
            "shape": (_Frame("in comparison with {O}, {S} exhibits {sv} rather than {ov}"),),
        },
    ),
    "relative-clause": _Construction(
        "first",
        {
            **_comparative_frames(
                "the {things} that appear in {S} are {cmp} than the ones in {O}",
                {"size": _SIZE_EVAL, "count": _COUNT_EVAL_PREDICATIVE, "position": _POSITION_EVAL_THAN},
            ),
            "colour": (_Frame("{S}, whose {things} are {sv}, differs from {O}, whose {things} are {ov}"),),
            "shape": (_Frame("{S}, which contains {sv}, differs from {O}, which contains {ov}"),),
        },
    ),
    "both-values": _Construction(
        "first",
        {
            **_comparative_frames(
                "in {S} the {things} are {cmp}; in {O} they are {ocmp}",
                {"size": _SIZE_EVAL, "count": _COUNT_EVAL_PREDICATIVE, "position": _POSITION_EVAL},
            ),
            "colour": (_Frame("in {S} the {things} are {sv}; in {O} they are {ov}"),),
            "shape": (_Frame("in {S} one sees {sv}; in {O}, {ov}"),),
        },
    ),
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
    constructions=_EVAL_CONSTRUCTIONS,
)

_POOLS: dict[str, _Pool] = {"train": _TRAIN, "eval": _EVAL}

ZERO_SHOT_TEMPLATES: dict[str, tuple[str, ...]] = {split: pool.zero_shot for split, pool in _POOLS.items()}
CONSTRUCTIONS: tuple[str, ...] = tuple(_EVAL.constructions)  # the named constructions of the eval pool


def _pool(split: str) -> _Pool:
    if split not in _POOLS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return _POOLS[split]


def phrasing_pool(split: Split) -> frozenset[str]:
    """Every template (captions, differences, zero-shot) and every phrase (comparatives, count and
    size words, positions, image names, generic nouns) of one split. The two splits' pools are
    disjoint; only the shape and colour names, which are the classes themselves, are shared."""
    pool = _pool(split)
    tables = [pool.differences, *(c.differences for c in pool.constructions.values())]
    frames = [frame for table in tables for frames in table.values() for frame in frames]
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


def _value_phrase(scene: Scene, attribute: str, pool: _Pool, rng: np.random.Generator) -> str:
    """How a sentence naming values names one image's: its colour, its shape ('a star', 'stars') or
    its count in the pool's number words ('3 stars', 'a single star')."""
    if attribute == "colour":
        return scene.colour
    if attribute == "shape":
        return _noun_phrase(scene.shape, scene.count)
    if attribute == "count":
        return f"{_choice(rng, pool.count_words[scene.count])} {scene.shape if scene.count == 1 else plural(scene.shape)}"
    raise ValueError(f"{attribute} sentences use comparatives, not values")


def _describe(
    a: Scene,
    b: Scene,
    attribute: str,
    refs: tuple[str, str],
    frames: tuple[_Frame, ...],
    pool: _Pool,
    rng: np.random.Generator,
    subject: str | None = None,
) -> Difference:
    """One unfinished sentence in one of `frames` saying how a differs from b in `attribute` (they
    must differ in it), calling the images refs = (first, second); said of `subject`, or of a random
    image if None."""
    frame = _choice(rng, frames)
    if subject is None:
        subject = _choice(rng, ("first", "second"))
    s, o = (a, b) if subject == "first" else (b, a)
    first_ref, second_ref = refs
    same_shape = a.shape == b.shape and rng.random() < 0.7
    slots = {
        "S": first_ref if subject == "first" else second_ref,
        "O": second_ref if subject == "first" else first_ref,
        "things": plural(a.shape) if same_shape else _choice(rng, pool.generic_nouns),
        "s_be": "is" if s.count == 1 else "are",
        "o_be": "is" if o.count == 1 else "are",
    }
    keyword = None
    if frame.words:
        keyword = _choice(rng, frame.words[_direction(s, o, attribute, rng)])
        slots["cmp"] = keyword
        if "{ocmp}" in frame.template:  # the other image's own direction (for position, maybe another axis)
            slots["ocmp"] = _choice(rng, frame.words[_direction(o, s, attribute, rng)])
    else:
        slots.update(sv=_value_phrase(s, attribute, pool, rng), ov=_value_phrase(o, attribute, pool, rng))
    text = frame.template.format(**slots)
    return Difference(attribute, text, _value(a, attribute), _value(b, attribute), subject, keyword)


def difference_sentences(a: Scene, b: Scene, split: Split, rng: np.random.Generator) -> list[Difference]:
    """One sentence per attribute in which a and b differ (see scene.differing_attributes), each
    saying how the first image (a) differs from the second (b)."""
    pool = _pool(split)
    differences = []
    for attribute in differing_attributes(a, b):
        difference = _describe(a, b, attribute, _choice(rng, pool.image_refs), pool.differences[attribute], pool, rng)
        differences.append(replace(difference, text=_finish(difference.text, pool)))
    return differences


def difference_sentence(a: Scene, b: Scene, rng: np.random.Generator, split: Split, max_attributes: int = 1) -> Difference | None:
    """One sentence for a training pair: min(max_attributes, number of differing attributes) random
    differences, joined with "and"; None if the scenes do not differ visibly."""
    pool = _pool(split)
    differing = differing_attributes(a, b)
    if not differing:
        return None
    chosen = rng.choice(len(differing), size=min(max_attributes, len(differing)), replace=False)
    refs = _choice(rng, pool.image_refs)  # one naming style per sentence
    parts = [_describe(a, b, differing[i], refs, pool.differences[differing[i]], pool, rng) for i in chosen]
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


def construction_subjects(construction: str) -> tuple[str, ...]:
    """The images ("first", "second") a probe may say `construction` of, its own subject first: that
    one alone where the subject's place is what the construction is, else both."""
    if construction not in _EVAL.constructions:
        raise ValueError(f"construction must be one of {CONSTRUCTIONS}, got {construction!r}")
    chosen = _EVAL.constructions[construction]
    if chosen.subject_defines_it:
        return (chosen.subject,)
    return (chosen.subject, "second" if chosen.subject == "first" else "first")


def construction_sentence(
    a: Scene, b: Scene, attribute: str, construction: str, rng: np.random.Generator, subject: str | None = None
) -> Difference:
    """A held-out (eval pool) sentence in one of the named CONSTRUCTIONS saying how the first image
    (a) differs from the second (b) in `attribute`, in which they must differ; said of `subject`, one
    of `construction_subjects(construction)` (None: the construction's own)."""
    subjects = construction_subjects(construction)
    if subject is not None and subject not in subjects:
        raise ValueError(f"construction {construction!r} is said of the {' or '.join(subjects)} image, not {subject!r}")
    chosen = _EVAL.constructions[construction]
    refs = _choice(rng, _EVAL.image_refs)
    difference = _describe(a, b, attribute, refs, chosen.differences[attribute], _EVAL, rng, subject or chosen.subject)
    return replace(difference, text=_finish(difference.text, _EVAL))


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
