"""The degraded oracle: the world oracle's correct sentence for a share (1 - error_rate) of the pairs
and, for the rest, an error of the kinds real LLMs make. It puts comparison quality on one axis that
a study can turn like a dial, and whose errors look like an LLM's rather than like noise.

The error kinds (ERROR_KINDS, the one registry the settings, the back end and the tests read), each
with the verdict `pcclip.generate.scoring.judge_sentence` gives it:
- reversed: the right attribute the wrong way round (the oracle's sentence for the swapped pair):
  "wrong-direction";
- wrong_attribute: a difference, with its direction or values, in an attribute the two scenes
  share (values true of neither image): "false";
- vague: an attribute that differs, with no direction ("the hearts in image 1 and image 2 differ in
  size"): "unjudged";
- off_topic: no attribute claim (a remark any pair fits, or a caption restated as the question
  states it): "no-attribute".

Which pairs get an error is decided by a uniform number per pair drawn from (seed, pair id): a pair is
wrong iff u < error_rate, so the errors at a lower rate are a subset of those at a higher one (a
clean dose-response), and a second number per pair draws the kind. The correct sentences are the
`oracle` back end's own, with the same seed and split: error_rate 0 is the oracle exactly. Every
sentence uses the split's phrasing pool, so a model cannot tell errors by their style.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

# The phrasing module's own pools, choice and sentence finish: error sentences must read like the oracle's.
from ...world.phrasing import Split, _choice, _finish, _pool, difference_sentence, difference_sentences
from ...world.scene import (
    ATTRIBUTES,
    COLOURS,
    PERTURB_SHIFT,
    PERTURB_SIZE_RATIO,
    SHAPES,
    Scene,
    differing_attributes,
    plural,
)
from ..pairs import PairRecord
from ..prompts import clean_caption
from .base import Backend, BackendConfig, Outcome, Request
from .oracle import OracleBackend, OracleSettings

# An error writer: (first scene, second scene, their captions, the pair's generator, split) -> the
# sentence, or None when the pair leaves no such error to make.
ErrorWriter = Callable[[Scene, Scene, tuple[str, str], np.random.Generator, Split], str | None]


def reversed_difference(a: Scene, b: Scene, captions: tuple[str, str], rng: np.random.Generator, split: Split) -> str | None:
    """The oracle's sentence for the swapped pair (b, a): a real difference, the wrong way round (None
    if the scenes do not differ, which the oracle's own answer rules out before any error is made)."""
    difference = difference_sentence(b, a, rng, split)
    return None if difference is None else difference.text


def wrong_attribute(a: Scene, b: Scene, captions: tuple[str, str], rng: np.random.Generator, split: Split) -> str | None:
    """A difference, direction or values included, in an attribute the two scenes share: the oracle's
    sentence for a pretended pair that differs there. None if they share no attribute."""
    shared = [attribute for attribute in ATTRIBUTES if attribute not in differing_attributes(a, b)]
    if not shared:
        return None
    attribute = _choice(rng, tuple(shared))
    first, second = _pretend(a, b, attribute, rng)
    return next(d.text for d in difference_sentences(first, second, split, rng) if d.attribute == attribute)


def _pretend(a: Scene, b: Scene, attribute: str, rng: np.random.Generator) -> tuple[Scene, Scene]:
    """a and b with `attribute`, which they share, pretended to differ visibly (only the words matter:
    these scenes are phrased, never drawn). Everything else stays as it is, so the objects are named
    as the oracle names them. Where sentences name values (colour, shape, count) both images get a
    value true of neither: a sentence may name only one image's value ("... the hearts become pink")."""
    if attribute in ("shape", "colour", "count"):
        # A count of 1 reads "a star", which names no number: pretended counts are 2-4.
        values = {"shape": SHAPES, "colour": tuple(COLOURS), "count": (2, 3, 4)}[attribute]
        others = tuple(v for v in values if v != getattr(a, attribute))
        first, second = (others[i] for i in rng.choice(len(others), size=2, replace=False))
        return replace(a, **{attribute: first}), replace(b, **{attribute: second})
    # Size and position are said with comparatives, false both ways when the real scenes agree.
    if attribute == "size":
        return a, replace(b, size=a.size * PERTURB_SIZE_RATIO ** _choice(rng, (1, -1)))
    axis = _choice(rng, ("x", "y"))
    return a, replace(b, **{axis: getattr(a, axis) + PERTURB_SHIFT * _choice(rng, (1, -1))})


# The attribute as a noun, and templates naming a difference without its direction, per split (the
# splits share no template, as in pcclip.world.phrasing).
_ATTRIBUTE_NOUNS = {"shape": "shape", "colour": "colour", "size": "size", "count": "number", "position": "position"}
_VAGUE = {
    "train": (
        "the {things} in {S} and {O} differ in {what}",
        "{S} differs from {O} in the {what} of its {things}",
        "the {what} of the {things} is not the same in {S} as in {O}",
    ),
    "eval": (
        "{S} and {O} vary in the {what} of their {things}",
        "the {things} of {S} and {O} are unalike in {what}",
        "{S} departs from {O} where the {what} of the {things} is concerned",
    ),
}


def vague_difference(a: Scene, b: Scene, captions: tuple[str, str], rng: np.random.Generator, split: Split) -> str:
    """An attribute that really differs, with no direction: "image 1 differs from image 2 in the size
    of its objects"."""
    pool = _pool(split)
    first, second = _choice(rng, pool.image_refs)
    subject, other = (first, second) if rng.random() < 0.5 else (second, first)
    # Objects are named as the oracle names them: their shape when both images share it, else a generic noun.
    things = plural(a.shape) if a.shape == b.shape and rng.random() < 0.7 else _choice(rng, pool.generic_nouns)
    attribute = _choice(rng, differing_attributes(a, b))
    template = _choice(rng, _VAGUE[split])
    return _finish(template.format(S=subject, O=other, things=things, what=_ATTRIBUTE_NOUNS[attribute]), pool)


# Remarks true of any pair; their nouns ("objects", "items") name no attribute ("shapes" would).
_REMARKS = {
    "train": (
        "{S} and {O} both show simple objects",
        "{S} looks a lot like {O}",
        "{S} and {O} are drawings on a plain background",
        "there is something drawn in both {S} and {O}",
    ),
    "eval": (
        "{S} and {O} each depict a handful of plain items",
        "{S} resembles {O} in its overall style",
        "both {S} and {O} are rendered on a muted backdrop",
    ),
}


def off_topic(a: Scene, b: Scene, captions: tuple[str, str], rng: np.random.Generator, split: Split) -> str:
    """No attribute claim: half the time a remark any pair fits, half the time one image's caption
    restated as the question states it ("image 1 is an image of <its caption>")."""
    pool = _pool(split)
    first, second = _choice(rng, pool.image_refs)
    if rng.random() < 0.5:
        subject, other = (first, second) if rng.random() < 0.5 else (second, first)
        return _finish(_choice(rng, _REMARKS[split]).format(S=subject, O=other), pool)
    which = int(rng.integers(2))
    return _finish(f"{(first, second)[which]} is an image of {clean_caption(captions[which])}", pool)


ERROR_KINDS: dict[str, ErrorWriter] = {
    "reversed": reversed_difference,
    "wrong_attribute": wrong_attribute,
    "vague": vague_difference,
    "off_topic": off_topic,
}

# The scorer's verdict on a sentence -> the error kind it is ("correct" is no error).
KIND_OF_VERDICT: dict[str, str] = {
    "wrong-direction": "reversed",
    "false": "wrong_attribute",
    "wrong-attribute": "wrong_attribute",
    "unjudged": "vague",
    "no-attribute": "off_topic",
}

# The default mix: the errors of the offline LLMs at their best prompts (the study's
# smollm2-135m-values and gemma3-270m-values rows), judged by the agreement scorer on the kept
# sentences of the README study's 2,000-pair pool (both orders of 1,000 minimal pairs):
#   smollm2-135m-values (1,995 kept): correct 911, no-attribute 388, wrong-direction 347, false 345,
#     wrong-attribute 4;
#   gemma3-270m-values (2,000 kept): correct 724, wrong-direction 509, no-attribute 461, false 277,
#     wrong-attribute 29;
# so reversed 856, wrong_attribute 655 (false and wrong-attribute), vague 0, off_topic 849 of 2,360
# errors: a third of them say the difference the wrong way round. (SmolLM2 with the paper's prompt,
# 1% correct, errs almost only off topic: off_topic 96, wrong_attribute 74, vague 24, reversed 2 of
# 196 on 200 pairs, the mix before 2026-12-03.) Each store's verdicts: `pcclip store export STORE
# out.jsonl` then `pcclip score out.jsonl pairs.jsonl`, or the study's scoring cache.
MEASURED_ERROR_MIX: dict[str, float] = {"reversed": 856, "wrong_attribute": 655, "vague": 0, "off_topic": 849}


class DegradedOracleSettings(BackendConfig):
    backend: Literal["degraded-oracle"] = "degraded-oracle"
    error_rate: float = Field(..., ge=0.0, le=1.0, description="the share of pairs given an error instead of the truth")
    error_mix: dict[str, float] = Field(
        default_factory=lambda: dict(MEASURED_ERROR_MIX),
        validate_default=True,  # normalised like a given mix
        description=f"relative weight of each error kind ({', '.join(ERROR_KINDS)}); default: SmolLM2-135M's own mix",
    )
    split: Literal["train", "eval"] = Field("train", description="the world's phrasing pool")
    seed: int = Field(0, description="with the pair id, picks the phrasing, which pairs get an error and which kind")

    @field_validator("error_mix")
    @classmethod
    def _normalised(cls, mix: dict[str, float]) -> dict[str, float]:
        """Every kind's share, summing to 1: a mix that names an unknown kind or sums to 0 fails."""
        unknown = sorted(set(mix) - set(ERROR_KINDS))
        if unknown:
            raise ValueError(f"unknown error kind {unknown[0]!r}; the kinds are {', '.join(ERROR_KINDS)}")
        negative = sorted(kind for kind, weight in mix.items() if weight < 0)
        if negative:
            raise ValueError(f"the weight of {negative[0]!r} is {mix[negative[0]]}; weights must be >= 0")
        total = sum(mix.values())
        if total <= 0:
            raise ValueError("the weights sum to 0; give at least one error kind a positive weight")
        return {kind: mix.get(kind, 0.0) / total for kind in ERROR_KINDS}


def _pair_rng(seed: int, pair_id: str) -> np.random.Generator:
    """The pair's own generator for its error draws (a stream apart from the oracle's phrasing one):
    what a pair gets does not depend on what else runs."""
    digest = int.from_bytes(hashlib.sha256(pair_id.encode()).digest()[:8], "big")
    return np.random.default_rng([seed, digest, 1])


class DegradedOracleBackend(Backend):
    name = "degraded-oracle"
    settings: DegradedOracleSettings

    def __init__(self, settings: DegradedOracleSettings, decoding):
        super().__init__(settings, decoding)
        self._oracle = OracleBackend(OracleSettings(split=settings.split, seed=settings.seed), decoding)

    @property
    def model(self) -> str:
        return f"world-oracle-{self.settings.split}-errors-{self.settings.error_rate:g}"

    def fingerprint(self) -> dict[str, Any]:
        return self.settings.model_dump(mode="json")

    def key_inputs(self, request: Request) -> dict[str, Any]:
        pair = request.pair  # off_topic may restate a caption
        return {**self._oracle.key_inputs(request), "captions": [pair.caption_a, pair.caption_b]}

    def check(self, pairs: Sequence[PairRecord]) -> None:
        self._oracle.check(pairs)

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Outcome]]:
        for index, outcome in self._oracle.generate(requests):
            pair = requests[index].pair
            # Drawn whatever the rate, so a pair wrong at one rate is wrong at every higher one.
            rng = _pair_rng(self.settings.seed, pair.pair_id)
            u, kind_u = rng.random(2)
            if outcome.text is None or u >= self.settings.error_rate:  # nothing to err about, or right
                yield index, outcome
            else:
                yield index, self._error(pair, kind_u, rng)

    def _error(self, pair: PairRecord, kind_u: float, rng: np.random.Generator) -> Outcome:
        """The sentence of the kind kind_u draws from the mix; where the pair leaves no room for that
        kind (wrong_attribute when every attribute differs), the kind it draws from the rest."""
        a, b = pair.scenes()
        mix = dict(self.settings.error_mix)
        while any(mix.values()):
            kind = _kind_at(mix, kind_u)
            text = ERROR_KINDS[kind](a, b, (pair.caption_a, pair.caption_b), rng, self.settings.split)
            if text is not None:
                return Outcome(text=text)
            mix[kind] = 0.0
        return Outcome(error="no error kind of error_mix fits this pair: the two scenes differ in every attribute")


def _kind_at(mix: dict[str, float], u: float) -> str:
    """The kind whose share of the cumulative mix holds u in [0, 1)."""
    kinds = [kind for kind, weight in mix.items() if weight > 0]
    cumulative = np.cumsum([mix[kind] for kind in kinds])
    return kinds[min(int(np.searchsorted(cumulative / cumulative[-1], u, side="right")), len(kinds) - 1)]
