"""The headline metrics of a run or a study: one registry of their names, labels, where each value
sits in an evaluation's metrics and how it breaks down. `pcclip run`'s table, the study's tables and
the report read it; adding a headline metric is one entry here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Headline:
    label: str
    get: Callable[[dict], float]
    breakdown: Callable[[dict], dict[str, float]] | None = None  # per attribute, task or construction
    tested: bool = True  # compared with the reference row (paired over seeds, Holm-corrected) in a study
    chance: Callable[[dict], float] | None = None  # what guessing scores, read from the metrics
    ability: bool = False  # what the base CLIP could do: a study row that significantly loses it says so

    def titled(self, metrics: dict) -> str:
        """The label with the chance level of `metrics`' held-out set, e.g. 'difference accuracy (chance 1/2)'."""
        if self.chance is None:
            return self.label
        return f"{self.label} (chance {Fraction(self.chance(metrics)).limit_denominator(100)})"


HEADLINE_METRICS: dict[str, Headline] = {
    # The sign test: the true sentence against its reversal.
    "difference_accuracy": Headline(
        "difference accuracy",
        lambda m: m["difference_accuracy"],
        lambda m: m["difference_accuracy_by_attribute"],
        chance=lambda m: 0.5,
    ),
    # The same pairs as a K-way choice: the reversal and one sentence about each other attribute join
    # the true one. A second reading of the sign test's question, so not a test of its own.
    "difference_choice_accuracy": Headline(
        "K-way difference choice",
        lambda m: m["difference_choice_accuracy"],
        tested=False,
        chance=lambda m: 1 / m["difference_choice_candidates"],
    ),
    # The paraphrase probe: the same differences said in fixed constructions, each pair in both orders.
    # Its worst construction shows a model that learned word order rather than differences.
    "construction_worst_accuracy": Headline(
        "worst construction", lambda m: m["construction_worst_accuracy"], lambda m: m["difference_accuracy_by_construction"]
    ),
    "zero_shot_accuracy": Headline(
        "zero-shot accuracy", lambda m: m["zero_shot_accuracy"], lambda m: m["zero_shot_accuracy_by_task"], ability=True
    ),
    "clipscore": Headline("CLIPScore", lambda m: m["clipscore"], ability=True),
    "image_to_text_r1": Headline("image->text R@1", lambda m: m["retrieval"]["image_to_text_r1"], tested=False),
    "text_to_image_r1": Headline("text->image R@1", lambda m: m["retrieval"]["text_to_image_r1"], tested=False),
}
TESTED_METRICS = tuple(name for name, h in HEADLINE_METRICS.items() if h.tested)
ABILITY_METRICS = tuple(name for name, h in HEADLINE_METRICS.items() if h.ability and h.tested)
