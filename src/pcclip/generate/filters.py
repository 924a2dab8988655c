"""The paper's heuristic filter as an ordered, declarative list of rules.

Edits clean the text (in order); then drop rules judge it (in order), and the first that fires
decides: the record is removed and that rule's name recorded. One fix over the authors' code: a line
break becomes a space instead of vanishing, so words are not glued together. Everything can be
turned off (the paper ablates filtering); then the cleaned text is the raw text and all is kept.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from .store import GenerationRecord


@dataclass(frozen=True)
class Edit:
    """A rule that rewrites the text."""

    name: str
    description: str
    apply: Callable[[str], str]


@dataclass(frozen=True)
class Drop:
    """A rule that removes the record when `fires(text)` is true."""

    name: str
    description: str
    fires: Callable[[str], bool]


def _cut_at(marker: str) -> Callable[[str], str]:
    return lambda text: text.split(marker, 1)[0]


# Code or web junk: links, markup, code fences, brackets, definitions, method calls, operators, escapes.
_JUNK = re.compile(r"https?://|www\.|```|</?[a-zA-Z][^>]*>|[{}\[\]]|\bdef \w+\(|\w\.\w+\(|==|=>|\\[nt]|&[a-z]+;")
# The same one to four words three times or more in a row ("the red the red the red").
_REPEAT = re.compile(r"\b((?:\w+\W+){1,4}?)\1{2,}", re.IGNORECASE)


def _degenerate(text: str) -> bool:
    words = re.findall(r"\w+", text.lower())
    too_few_distinct = len(words) >= 12 and len(set(words)) < 0.4 * len(words)
    return bool(_REPEAT.search(text + " ")) or too_few_distinct


EDITS: tuple[Edit, ...] = (
    Edit(
        "newline-to-space", "a line break becomes a space (the authors' code deleted it)", lambda t: re.sub(r"\r\n|\r|\n", " ", t)
    ),
    Edit("cut-at-Q", "the answer ends where the model starts the next question ('Q:')", _cut_at("Q:")),
    Edit("cut-at-I-hope", "cut at 'I hope' (chat pleasantries)", _cut_at("I hope")),
    Edit("cut-at-#2", "cut at '#2:' (a second numbered answer)", _cut_at("#2:")),
    Edit("cut-at-Note", "cut at 'Note' (a note after the answer)", _cut_at("Note")),
    Edit("strip-markers", "remove '#1:', 'A: ' and '#'", lambda t: t.replace("#1:", "").replace("A: ", "").replace("#", "")),
    Edit("squeeze-spaces", "runs of spaces become one; outer spaces go", lambda t: " ".join(t.split())),
)


def drop_rules(min_chars: int = 60) -> tuple[Drop, ...]:
    """The paper's drop rules, in order; min_chars is its length threshold (60)."""
    return (
        Drop("code-or-web", "links, markup, code fences, braces or code", lambda t: bool(_JUNK.search(t))),
        Drop("repetition", "degenerate repetition (a phrase 3x in a row, or under 40% distinct words)", _degenerate),
        Drop("non-ascii", "any character outside ASCII", lambda t: not t.isascii()),
        Drop("asterisk", "any asterisk (markdown, lists)", lambda t: "*" in t),
        Drop("too-short", f"fewer than {min_chars} characters after cleaning", lambda t: len(t) < min_chars),
    )


class FilterSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(True, description="false: keep every completed output as written (the paper's ablation)")
    min_chars: int = Field(60, ge=0, description="the too-short rule's threshold (the paper: 60)")


@dataclass(frozen=True)
class Verdict:
    cleaned: str
    kept: bool
    rule: str | None  # the drop rule that removed it; None when kept


DEFAULT_FILTER = FilterSettings()  # frozen, so one instance serves as every default


def judge(raw: str, settings: FilterSettings = DEFAULT_FILTER) -> tuple[Verdict, list[str]]:
    """The verdict on one output, and the names of the edits that changed it."""
    if not settings.enabled:
        return Verdict(raw, True, None), []
    text, changed = raw, []
    for edit in EDITS:
        new = edit.apply(text)
        if new != text:
            changed.append(edit.name)
        text = new
    rule = next((r.name for r in drop_rules(settings.min_chars) if r.fires(text)), None)
    return Verdict(text, rule is None, rule), changed


@dataclass
class FilterReport:
    """What the filter did: items in, items kept, removals by deciding rule (in rule order), edits
    by how many items each changed, and items skipped because generation failed."""

    total: int = 0
    kept: int = 0
    failed: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    edited: dict[str, int] = field(default_factory=dict)
    enabled: bool = True

    def lines(self) -> list[str]:
        if not self.enabled:
            return [f"filter off: kept all {self.kept} completed outputs ({self.failed} failed generations skipped)"]
        completed = self.total - self.failed
        out = [f"filter: kept {self.kept} of {completed} completed outputs ({self.failed} failed generations skipped)"]
        out += [f"  removed by {name}: {count}" for name, count in self.removed.items() if count]
        out += [f"  edited by {name}: {count}" for name, count in self.edited.items() if count]
        return out


def apply_filter(
    records: Sequence[GenerationRecord], enabled: bool = True, settings: FilterSettings | None = None
) -> tuple[list[GenerationRecord], FilterReport]:
    """Judge every completed record again: returns the kept records (with cleaned text, verdict and
    rule set) and the report. Failed records are counted, never kept."""
    settings = (settings or FilterSettings()).model_copy(update={"enabled": enabled})
    report = FilterReport(total=len(records), enabled=enabled)
    report.removed = {r.name: 0 for r in drop_rules(settings.min_chars)}
    edited: Counter[str] = Counter()
    kept = []
    for record in records:
        if record.status != "ok":
            report.failed += 1
            continue
        assert record.raw is not None  # an "ok" record holds its output
        verdict, changed = judge(record.raw, settings)
        edited.update(changed)
        if verdict.kept:
            kept.append(replace(record, cleaned=verdict.cleaned, kept=True, rule=None))
        else:
            assert verdict.rule is not None  # a dropped output names the rule that dropped it
            report.removed[verdict.rule] += 1
    report.kept = len(kept)
    report.edited = {e.name: edited[e.name] for e in EDITS}
    return kept, report
