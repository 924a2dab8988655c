"""The headline metrics of a run or a study: one registry of their names, labels, where each value
sits in an evaluation's metrics and how it breaks down. `pcclip run`'s table, the study's tables and
the report read it; adding a headline metric is one entry here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Headline:
    label: str
    get: Callable[[dict], float]
    breakdown: Callable[[dict], dict[str, float]] | None = None  # per attribute, task or construction
    tested: bool = True  # compared with the reference row (paired over seeds, Holm-corrected) in a study


HEADLINE_METRICS: dict[str, Headline] = {
    "difference_accuracy": Headline(
        "difference accuracy", lambda m: m["difference_accuracy"], lambda m: m["difference_accuracy_by_attribute"]
    ),
    # The paraphrase probe: the same differences said in fixed constructions, each pair in both orders.
    # Its worst construction shows a model that learned word order rather than differences.
    "construction_worst_accuracy": Headline(
        "worst construction", lambda m: m["construction_worst_accuracy"], lambda m: m["difference_accuracy_by_construction"]
    ),
    "zero_shot_accuracy": Headline(
        "zero-shot accuracy", lambda m: m["zero_shot_accuracy"], lambda m: m["zero_shot_accuracy_by_task"]
    ),
    "clipscore": Headline("CLIPScore", lambda m: m["clipscore"]),
    "image_to_text_r1": Headline("image->text R@1", lambda m: m["retrieval"]["image_to_text_r1"], tested=False),
    "text_to_image_r1": Headline("text->image R@1", lambda m: m["retrieval"]["text_to_image_r1"], tested=False),
}
TESTED_METRICS = tuple(name for name, h in HEADLINE_METRICS.items() if h.tested)
