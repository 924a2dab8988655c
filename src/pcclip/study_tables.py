"""The study's statistics: a pure function from the runs' metrics to its tables and quality curves.

Per row and headline metric: the mean over seeds with a 95% t-interval; the gain over the base model
(a one-sample t-test on the seeds' differences, with the gain's interval); the paired difference from
the table's reference row over their common seeds (paired t-test, with the difference's interval).
p-values of a table are Holm-corrected across its rows and tested metrics, since a table asks many
questions at once. The quality curves fit each metric against the share of correct comparisons.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from scipy import stats

from .errors import PcclipError
from .headline import HEADLINE_METRICS, TESTED_METRICS
from .quality import fit_quality

CONFIDENCE = 0.95
# The study's tables, in report order, with their titles: the study's grid and the report read this.
TABLES = {
    "llm": "Ablation 1: which LLM writes the comparisons",
    "encoders": "Ablation 2: which encoders are finetuned",
    "quality": "Comparison quality: the oracle with a share of LLM-like errors",
    "order": "Word order: the writers that name image 1 first, with clauses swapped",
    "variants": "Keeping what CLIP could do",
}
CURVE_METRICS = ("difference_accuracy", "construction_worst_accuracy", "zero_shot_accuracy", "clipscore")


def mean_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """Mean and t-interval half-width over seeds (0 for a single value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "ci": 0.0, "n": len(values)}
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return {"mean": mean, "ci": float(half), "n": len(values)}


def paired_test(values: Sequence[float], reference: Sequence[float]) -> dict:
    """The mean paired difference (values - reference), its 95% t-interval half-width and the paired
    t-test's two-sided p (None when the differences do not vary or there is one pair)."""
    diffs = [v - r for v, r in zip(values, reference)]
    summary = mean_ci(diffs)
    p = None if len(diffs) < 2 or statistics.pstdev(diffs) == 0 else float(stats.ttest_rel(values, reference).pvalue)
    return {"diff": summary["mean"], "ci": summary["ci"], "n": summary["n"], "p": p}


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (None: no test, left out of the family)."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted


def _row(cell, runs: dict[int, dict], reference: dict[int, dict], is_reference: bool, base: dict, benchmarks) -> dict:
    seeds = list(cell.seeds)
    common = [s for s in seeds if s in reference]
    row = {
        "name": cell.row,
        "generator": cell.generator,
        "trainable": cell.finetune.trainable,
        "reference": is_reference,
        "seeds": seeds,
    }

    def summary(get) -> dict:
        values = [get(runs[s]) for s in seeds]
        return {
            **mean_ci(values),
            "values": values,
            "base": get(base),
            "gain": paired_test(values, [get(base)] * len(values)),
            "vs_reference": paired_test([get(runs[s]) for s in common], [get(reference[s]) for s in common]),
        }

    for name, metric in HEADLINE_METRICS.items():
        row[name] = summary(metric.get)
        if metric.breakdown is not None:
            row[name]["by"] = {
                part: {**mean_ci([metric.breakdown(runs[s])[part] for s in seeds]), "base": value}
                for part, value in metric.breakdown(base).items()
            }
    row["benchmarks"] = _benchmark_summaries(benchmarks, summary) if benchmarks else {}
    return row


def _benchmark_summaries(benchmarks, summary) -> dict:
    from .real_eval import headline, headline_metric  # benchmark code, loaded only for a study that has benchmarks

    return {
        b.name: {**summary(lambda m, b=b: headline(b, m["benchmarks"][b.name])), "metric": headline_metric(b.task, b.dataset)}
        for b in benchmarks
    }


def _correct_holm(rows: list[dict]) -> None:
    """Adds p_holm beside each tested p of the table's rows (gains and differences: one family each)."""
    for test in ("gain", "vs_reference"):
        tests = [row[m][test] for row in rows for m in TESTED_METRICS]
        for t, adjusted in zip(tests, holm([t["p"] for t in tests])):
            t["p_holm"] = adjusted


def quality_curves(quality_rows: list[dict], placed_rows: list[dict], generation: dict) -> dict:
    """Each curve metric against the share of correct comparisons, one point per (quality row, seed),
    the fitted line, and each placed generator's predicted vs measured value; `quality_curve` is the
    difference-accuracy curve in the shape `pcclip score --curve` reads."""
    curves: dict[str, dict[str, Any]] = {}
    for metric in CURVE_METRICS:
        points = [
            {"correctness": generation[row["generator"]]["correct"], "value": value}
            for row in quality_rows
            for value in row[metric]["values"]
        ]
        try:
            fit = fit_quality([p["correctness"] for p in points], [p["value"] for p in points], HEADLINE_METRICS[metric].label)
        except PcclipError as e:
            curves[metric] = {"points": points, "fit": None, "why": str(e), "placed": []}
            continue
        placed = [
            {
                "generator": row["generator"],
                "correctness": generation[row["generator"]]["correct"],
                "predicted": fit.predict(generation[row["generator"]]["correct"]).to_json(),
                "measured": row[metric]["mean"],
                "measured_ci": row[metric]["ci"],
            }
            for row in placed_rows
        ]
        curves[metric] = {"points": points, "fit": fit.to_json(), "placed": placed}
    return {
        "quality_curves": curves,
        "quality_curve": {
            "metric": HEADLINE_METRICS["difference_accuracy"].label,
            "points": curves["difference_accuracy"]["points"],
        },
    }


def study_tables(
    cells, runs: dict[str, dict[int, dict]], base: dict, references: dict[str, str], generation: dict, benchmarks=()
) -> dict:
    """{"tables": {table: rows}} from every cell's runs ({run key: {seed: metrics}}), and the quality
    curves when the study has a quality axis and the comparisons have a ground truth."""
    tables: dict[str, list[dict]] = {}
    for table in dict.fromkeys(c.table for c in cells):
        members = [c for c in cells if c.table == table]
        reference = next((c for c in members if c.row == references[table]), members[0])
        rows = [_row(c, runs[c.run_key], runs[reference.run_key], c is reference, base, benchmarks) for c in members]
        _correct_holm(rows)
        tables[table] = rows
    result: dict = {"tables": tables}
    quality = tables.get("quality", [])
    if quality and all(generation[r["generator"]]["correct"] is not None for r in quality):
        axis = {r["generator"] for r in quality}
        placed = [r for r in tables.get("llm", []) if r["generator"] not in axis]
        result.update(quality_curves(quality, placed, generation))
    return result
