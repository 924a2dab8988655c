"""A metric as a straight line in comparison quality: fit the points a study measures (the share of
correct comparisons a generator wrote -> the finetuned model's metric) and predict where another
writer, e.g. a real LLM whose sentences were scored, would land.

Ordinary least squares (scipy.stats.linregress) with t-intervals on n - 2 degrees of freedom: the
95% intervals of the slope and intercept, and a 95% prediction interval for one new point measured
as the fitted points were (the same seeds and evaluation). It assumes the metric is linear in
correctness with the same scatter everywhere; outside the fitted correctness range that is
extrapolation, and a prediction says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from .errors import PcclipError

CONFIDENCE = 0.95
# The curve's writers (the oracle and its degraded copies) name the second image first in about half
# of their correct sentences. A writer outside this range of that share is not like them: the README
# study's writers that name image 1 first measured below their predicted intervals (an upper bound).
BALANCED_ORDER = (0.25, 0.75)


@dataclass(frozen=True)
class Prediction:
    """The metric the line predicts at one correctness, with its 95% prediction interval."""

    correctness: float
    value: float
    low: float
    high: float
    extrapolated: bool  # correctness lies outside the fitted points' range

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QualityFit:
    """metric = intercept + slope * correctness, fitted to n points, with 95% intervals."""

    metric: str
    slope: float
    intercept: float
    slope_ci: tuple[float, float]
    intercept_ci: tuple[float, float]
    n: int
    residual_sd: float  # the scatter of the points about the line (n - 2 degrees of freedom)
    correctness_mean: float
    correctness_sum_squares: float  # sum of (x - mean)^2: how much the fitted correctness spreads
    correctness_range: tuple[float, float]

    def predict(self, correctness: float) -> Prediction:
        """The line at `correctness`, and where one new point measured there falls with 95% probability."""
        value = self.intercept + self.slope * correctness
        spread = self.residual_sd * math.sqrt(
            1 + 1 / self.n + (correctness - self.correctness_mean) ** 2 / self.correctness_sum_squares
        )
        half = _t_quantile(self.n) * spread
        low, high = self.correctness_range
        return Prediction(correctness, value, value - half, value + half, not low <= correctness <= high)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def order_caveat(second_first: float) -> str | None:
    """What a prediction is worth for a writer that names the second image first in `second_first`
    of its correct sentences: None where it is like the curve's writers, else why it is an upper bound."""
    low, high = BALANCED_ORDER
    if low <= second_first <= high:
        return None
    return (
        f"upper bound: {second_first:.0%} of its correct sentences name the second image first, against about half "
        "for the curve's writers; a writer that names one image first teaches word position, and the study's "
        "fixed-order writers measured below their predicted intervals"
    )


def fit_quality(correctness: Sequence[float], values: Sequence[float], metric: str = "metric") -> QualityFit:
    """The least-squares line of `values` against `correctness` (one point per study cell); PcclipError
    with fewer than 3 points or fewer than 2 distinct correctness values (no scatter to measure)."""
    x = np.asarray(correctness, dtype=float)
    y = np.asarray(values, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise PcclipError(f"quality curve of {metric}: {x.size} correctness values but {y.size} metric values")
    if x.size < 3 or np.unique(x).size < 2:
        raise PcclipError(
            f"quality curve of {metric}: a line with intervals needs at least 3 points at 2 or more correctness "
            f"values; got {x.size} point(s) at {np.unique(x).size} value(s)"
        )
    fit = stats.linregress(x, y)
    residuals = y - (fit.intercept + fit.slope * x)
    t = _t_quantile(x.size)
    return QualityFit(
        metric=metric,
        slope=float(fit.slope),
        intercept=float(fit.intercept),
        slope_ci=(float(fit.slope - t * fit.stderr), float(fit.slope + t * fit.stderr)),
        intercept_ci=(float(fit.intercept - t * fit.intercept_stderr), float(fit.intercept + t * fit.intercept_stderr)),
        n=int(x.size),
        residual_sd=float(np.sqrt(residuals @ residuals / (x.size - 2))),
        correctness_mean=float(x.mean()),
        correctness_sum_squares=float(((x - x.mean()) ** 2).sum()),
        correctness_range=(float(x.min()), float(x.max())),
    )


def fit_study_curve(study: Any, source: str) -> QualityFit:
    """The line through a study's quality curve. `study` is a study.json's content (written by
    `pcclip study`); the contract is its `quality_curve` key:

        {"quality_curve": {"metric": "difference accuracy",
                           "points": [{"correctness": 0.5, "value": 0.53}, {"correctness": 0.75, ...}, ...]}}

    correctness: the share of correct comparisons the finetuning pairs had (as `pcclip score` counts
    them); value: the metric the finetuned model reached. PcclipError naming `source` where the key is
    missing or not of that shape."""
    curve = study.get("quality_curve") if isinstance(study, dict) else None
    if curve is None:
        raise PcclipError(f"{source}: no quality_curve; give the study.json of a `pcclip study` that measures one")
    points = curve.get("points") if isinstance(curve, dict) else None
    metric = curve.get("metric") if isinstance(curve, dict) else None
    if not (isinstance(metric, str) and isinstance(points, list) and all(map(_is_point, points))):
        raise PcclipError(
            f'{source}: quality_curve must be {{"metric": name, "points": [{{"correctness": x, "value": y}}, ...]}}'
        )
    return fit_quality([p["correctness"] for p in points], [p["value"] for p in points], metric)


def _is_point(point: Any) -> bool:
    return isinstance(point, dict) and all(isinstance(point.get(key), (int, float)) for key in ("correctness", "value"))


def _t_quantile(n: int) -> float:
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 2))
