"""The paper's filter: each rule on its own, their order, the report, and turning it off."""

import pytest

from pcclip.generate.filters import EDITS, FilterSettings, apply_filter, drop_rules, judge
from pcclip.generate.store import GenerationRecord

LONG = "The first image shows two red circles on the left, while the second shows a blue square."


def edit(name):
    return next(e for e in EDITS if e.name == name).apply


def drop(name):
    return next(r for r in drop_rules() if r.name == name).fires


def test_newline_becomes_a_space_not_nothing():
    # The authors' code deleted line breaks and glued words together ("circles.The").
    assert edit("newline-to-space")("two circles.\nThe second\r\nhas\rone") == "two circles. The second has one"


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("cut-at-Q", " The first is red. Q: What is the difference", " The first is red. "),
        ("cut-at-I-hope", "The first is red. I hope this helps!", "The first is red. "),
        ("cut-at-#2", "#1: The first is red. #2: The second", "#1: The first is red. "),
        ("cut-at-Note", "The first is red. Note: colours vary", "The first is red. "),
        ("strip-markers", "#1: A: The first # is red", " The first  is red"),
        ("squeeze-spaces", "  The  first   is red ", "The first is red"),
    ],
)
def test_each_edit(name, text, expected):
    assert edit(name)(text) == expected


@pytest.mark.parametrize(
    "name, fires, passes",
    [
        (
            "code-or-web",
            [
                "see https://example.com",
                "use ```python",
                "a <div> tag",
                "x = {1}",
                "call np.array(x)",
                "def f(x): return x",
                "if a == b",
                "line\\nbreak",
            ],
            [LONG, "the (small) circle"],
        ),
        (
            "repetition",
            ["the red the red the red circle", "very very very big", "a b a b a b a b a b a b a b"],
            [LONG, "the red circle and the blue circle"],
        ),
        ("non-ascii", ["the first is caf\u00e9 coloured", "a \u2013 dash"], [LONG]),
        ("asterisk", ["**bold** answer", "a * b"], [LONG]),
        ("too-short", ["The first is red.", "x" * 59], [LONG, "x" * 60]),
    ],
)
def test_each_drop_rule(name, fires, passes):
    rule = drop(name)
    assert all(rule(t) for t in fires), [t for t in fires if not rule(t)]
    assert not any(rule(t) for t in passes), [t for t in passes if rule(t)]


def test_rules_run_in_order_and_the_first_drop_decides():
    assert [e.name for e in EDITS][:2] == ["newline-to-space", "cut-at-Q"]
    assert [r.name for r in drop_rules()] == ["code-or-web", "repetition", "non-ascii", "asterisk", "too-short"]
    verdict, changed = judge(" A: " + LONG + "\nQ: and now another question http://x")
    # the junk after Q: is cut before the junk rule looks, so the answer survives
    assert verdict.kept and verdict.rule is None and verdict.cleaned == LONG
    assert changed == ["newline-to-space", "cut-at-Q", "strip-markers", "squeeze-spaces"]
    short_and_starred = judge("*short*")[0]
    assert (short_and_starred.kept, short_and_starred.rule) == (False, "asterisk")


def test_min_chars_is_a_setting():
    assert judge("x" * 30, FilterSettings(min_chars=20))[0].kept
    assert judge("x" * 30)[0].rule == "too-short"


def record(raw, status="ok", pair="p"):
    return GenerationRecord(
        key="k",
        pair_id=pair,
        id_a="a",
        id_b="b",
        caption_a="x",
        caption_b="y",
        prompt="q",
        backend="rule",
        model="m",
        settings={},
        settings_hash="h",
        status=status,
        reason=None if status == "ok" else "HTTP 500",
        raw=raw,
        cleaned=None,
        kept=None,
        rule=None,
        created="2026-01-01T00:00:00+00:00",
    )


def test_report_counts_removals_per_rule_and_skips_failures():
    records = [
        record(LONG),
        record(LONG + "\nNote: x"),
        record("too short"),
        record("caf\u00e9 " + LONG),
        record(None, status="failed"),
    ]
    kept, report = apply_filter(records)
    assert [r.cleaned for r in kept] == [LONG, LONG]
    assert all(r.kept and r.rule is None for r in kept)
    assert (report.total, report.kept, report.failed) == (5, 2, 1)
    assert report.removed == {"code-or-web": 0, "repetition": 0, "non-ascii": 1, "asterisk": 0, "too-short": 1}
    assert report.edited["cut-at-Note"] == 1 and report.edited["newline-to-space"] == 1
    assert report.lines()[0] == "filter: kept 2 of 4 completed outputs (1 failed generations skipped)"


def test_filter_can_be_turned_off():
    records = [record("too short\nQ: more"), record(None, status="failed")]
    kept, report = apply_filter(records, enabled=False)
    assert [r.cleaned for r in kept] == ["too short\nQ: more"]
    assert report.lines() == ["filter off: kept all 1 completed outputs (1 failed generations skipped)"]
