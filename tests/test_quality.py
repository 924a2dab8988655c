"""The quality curve: a metric fitted against the share of correct comparisons, its intervals, and
`pcclip score --curve` placing a writer on a study's curve."""

import json

import numpy as np
import pytest

from pcclip.cli import main
from pcclip.errors import PcclipError
from pcclip.generate import agreement, load_pairs, load_records
from pcclip.quality import BALANCED_ORDER, fit_quality, fit_study_curve, order_caveat

SLOPE, INTERCEPT = 0.12, 0.45


def noisy_line(n=40, sd=0.01, seed=0):
    x = np.linspace(0.0, 1.0, n)
    return x, INTERCEPT + SLOPE * x + np.random.default_rng(seed).normal(0.0, sd, n)


def test_the_fit_recovers_a_known_line_and_its_intervals_cover_it():
    fit = fit_quality(*noisy_line(), metric="difference accuracy")
    assert fit.slope == pytest.approx(SLOPE, abs=0.01) and fit.intercept == pytest.approx(INTERCEPT, abs=0.01)
    assert fit.slope_ci[0] < SLOPE < fit.slope_ci[1] and fit.intercept_ci[0] < INTERCEPT < fit.intercept_ci[1]
    assert fit.residual_sd == pytest.approx(0.01, rel=0.3)


def test_the_intervals_cover_the_truth_and_a_new_point_95_times_in_100():
    """Over 400 repeated experiments of 5 points each: the slope interval holds the true slope, and the
    prediction interval at x = 0.3 holds a new point measured there, about 95% of the time."""
    rng = np.random.default_rng(1)
    slope_hits, point_hits = [], []
    for seed in range(400):
        fit = fit_quality(*noisy_line(n=5, sd=0.05, seed=seed + 100))
        slope_hits.append(fit.slope_ci[0] < SLOPE < fit.slope_ci[1])
        prediction, new = fit.predict(0.3), INTERCEPT + SLOPE * 0.3 + rng.normal(0.0, 0.05)
        point_hits.append(prediction.low < new < prediction.high)
    for hits in (slope_hits, point_hits):
        assert abs(np.mean(hits) - 0.95) <= 3 * np.sqrt(0.95 * 0.05 / 400)


def test_a_prediction_at_a_fitted_point_is_the_line():
    x, y = noisy_line()
    fit = fit_quality(x, y)
    at = fit.predict(float(x[7]))
    assert at.value == pytest.approx(fit.intercept + fit.slope * x[7]) and not at.extrapolated
    assert at.low < at.value < at.high
    beyond = fit.predict(1.5)
    assert beyond.extrapolated and beyond.high - beyond.low > at.high - at.low  # wider away from the data


def test_exact_points_give_the_line_with_zero_width():
    fit = fit_quality([0.25, 0.5, 1.0], [0.5, 0.6, 0.8])
    assert (fit.slope, fit.intercept) == pytest.approx((0.4, 0.4))
    prediction = fit.predict(0.75)
    assert (prediction.value, prediction.low, prediction.high) == pytest.approx((0.7, 0.7, 0.7))


def test_results_are_plain_json():
    fit = fit_quality([0.25, 0.5, 0.75, 1.0], [0.5, 0.62, 0.7, 0.8], metric="m")
    data = json.loads(json.dumps({"fit": fit.to_json(), "prediction": fit.predict(0.4).to_json()}))
    assert data["fit"]["metric"] == "m" and data["fit"]["n"] == 4 and len(data["fit"]["slope_ci"]) == 2
    assert set(data["prediction"]) == {"correctness", "value", "low", "high", "extrapolated"}


@pytest.mark.parametrize(
    "x, y, message",
    [
        ([0.5, 1.0], [0.5, 0.6], "needs at least 3 points at 2 or more correctness values; got 2 point"),
        ([0.5, 0.5, 0.5], [0.5, 0.6, 0.7], "got 3 point\\(s\\) at 1 value"),
        ([0.5, 0.7, 1.0], [0.5, 0.6], "3 correctness values but 2 metric values"),
    ],
)
def test_too_few_points_say_so(x, y, message):
    with pytest.raises(PcclipError, match=message):
        fit_quality(x, y)


@pytest.mark.parametrize(
    "study, message",
    [
        ({"name": "s"}, "study.json: no quality_curve; give the study.json of a `pcclip study` that measures one"),
        ({"quality_curve": {"metric": "m", "points": [{"correctness": 0.5}]}}, "study.json: quality_curve must be"),
        ({"quality_curve": [1, 2]}, "study.json: quality_curve must be"),
    ],
)
def test_a_study_without_a_well_formed_curve_says_so(study, message):
    with pytest.raises(PcclipError, match=message):
        fit_study_curve(study, "study.json")


@pytest.fixture
def scored_world(tmp_path, monkeypatch):
    """20 minimal world pairs and the degraded oracle's records for them, in tmp_path."""
    monkeypatch.chdir(tmp_path)
    assert main(["pairs", "--world", "20", "--minimal", "-o", "pairs.jsonl"]) == 0
    assert (
        main(
            [
                "generate",
                "pairs.jsonl",
                "--store",
                "gen.sqlite",
                "-o",
                "records.jsonl",
                "--quiet",
                "--set",
                "backend.backend=degraded-oracle",
                "--set",
                "backend.error_rate=0.5",
            ]
        )
        == 0
    )
    return tmp_path


def write_study(path, points):
    path.write_text(json.dumps({"name": "s", "quality_curve": {"metric": "difference accuracy", "points": points}}))


def test_score_places_the_records_on_a_study_curve(scored_world, capsys):
    capsys.readouterr()
    points = [
        {"correctness": x, "value": 0.4 + 0.2 * x + d}
        for x, d in ((0.0, 0.01), (0.25, -0.01), (0.5, 0.0), (0.75, 0.01), (1.0, -0.01))
    ]
    write_study(scored_world / "study.json", points)
    assert main(["score", "records.jsonl", "pairs.jsonl", "--curve", "study.json"]) == 0
    report = agreement(load_records(scored_world / "records.jsonl"), load_pairs(scored_world / "pairs.jsonl"))
    correct = report.correct / report.total
    assert 0 < correct < 1  # half the sentences are errors
    prediction = fit_quality([p["correctness"] for p in points], [p["value"] for p in points]).predict(correct)
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"correct: {correct:.2f} -> predicted difference accuracy {prediction.value:.3f} "
        f"[{prediction.low:.2f}, {prediction.high:.2f}]"
    )


def test_score_calls_the_prediction_an_upper_bound_for_a_fixed_order_writer(scored_world, capsys):
    # The rule writes "the first image has ... where the second image has ...", the second image first
    # only where the first has no word of its own.
    generate = ["generate", "pairs.jsonl", "--store", "rule.sqlite", "-o", "rule.jsonl", "--quiet"]
    assert main([*generate, "--set", "backend.backend=rule"]) == 0
    write_study(scored_world / "study.json", [{"correctness": x, "value": 0.5 + 0.2 * x} for x in (0.0, 0.5, 1.0, 1.0)])
    capsys.readouterr()
    assert main(["score", "rule.jsonl", "pairs.jsonl", "--curve", "study.json"]) == 0
    out = capsys.readouterr().out.splitlines()
    report = agreement(load_records(scored_world / "rule.jsonl"), load_pairs(scored_world / "pairs.jsonl"))
    share = report.correct_second_first / report.correct
    assert share < BALANCED_ORDER[0] and f"of the correct, name the second image first: {share:.1%}" in out[1]
    assert out[-2].startswith("correct: ") and out[-1] == order_caveat(share)
    assert out[-1].startswith(f"upper bound: {share:.0%} of its correct sentences name the second image first")
    assert order_caveat(0.5) is None  # the curve's own writers


def test_score_says_when_the_prediction_extrapolates(scored_world, capsys):
    write_study(scored_world / "study.json", [{"correctness": x, "value": x} for x in (0.9, 0.95, 1.0)])
    assert main(["score", "records.jsonl", "pairs.jsonl", "--curve", "study.json"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("(extrapolated: the curve spans correct 0.90-1.00)")


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "missing.json: file not found"),
        ("{not json", "bad.json: line 1: not valid JSON"),
        (json.dumps({"name": "s"}), "bad.json: no quality_curve; give the study.json of a `pcclip study` that measures one"),
    ],
)
def test_score_with_a_bad_study_file_prints_one_line(scored_world, capsys, content, message):
    name = "missing.json" if content is None else "bad.json"
    if content is not None:
        (scored_world / name).write_text(content)
    capsys.readouterr()
    assert main(["score", "records.jsonl", "pairs.jsonl", "--curve", name]) != 0
    out, err = capsys.readouterr()
    assert out == "" and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
