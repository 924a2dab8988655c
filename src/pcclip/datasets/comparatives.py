"""Comparative sentences between classes, for comparative prompting: read from a file or written by a
callable (an LLM back end, or the world's oracle).

A comparative (first, second, text) says how images of class `first` differ from images of class
`second`, e.g. ("crab", "lobster", "Crabs have a rounded, flat body; lobsters a long one."). Files:

    JSONL  one object per line: {"first": "crab", "second": "lobster", "text": "..."}
    CSV    a header row naming the columns first, second, text; one comparative per row
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import PcclipError

# (first class name, second class name) -> sentences saying how the first differs from the second
ComparativeWriter = Callable[[str, str], Sequence[str]]
FIELDS = ("first", "second", "text")


@dataclass(frozen=True)
class Comparative:
    first: str
    second: str
    text: str


def read_comparatives(path: str | Path) -> list[Comparative]:
    """Comparatives from a .jsonl or .csv file; a malformed line stops with its number."""
    path = Path(path)
    if not path.is_file():
        raise PcclipError(f"{path}: comparatives file not found")
    if path.suffix.lower() == ".jsonl":
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((number, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise PcclipError(f"{path}: line {number}: not valid JSON ({e.msg})") from None
    elif path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = set(FIELDS) - set(reader.fieldnames or ())
            if missing:
                raise PcclipError(
                    f"{path}: line 1: the header must name the columns {', '.join(FIELDS)}; missing {', '.join(sorted(missing))}"
                )
            rows = [(number, row) for number, row in enumerate(reader, start=2)]
    else:
        raise PcclipError(f"{path}: comparatives must be a .jsonl or .csv file")
    result = []
    for number, row in rows:
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) and row[k].strip() for k in FIELDS):
            raise PcclipError(f"{path}: line {number}: needs non-empty strings 'first', 'second' and 'text'")
        result.append(Comparative(row["first"].strip(), row["second"].strip(), row["text"].strip()))
    return result


def gather_comparatives(
    class_names: Sequence[str],
    pairs: Sequence[tuple[int, int]],
    source: Sequence[Comparative] | ComparativeWriter,
) -> tuple[list[int], list[int], list[str]]:
    """(first class indices, second class indices, texts) of the comparatives for `pairs` (a, c):
    from a list (e.g. read from a file) every record naming such a pair, or from a writer called
    once per pair. Records whose class names are not classes of the task are an error."""
    wanted = set(pairs)
    first, second, texts = [], [], []
    if callable(source):
        for a, c in pairs:
            for text in source(class_names[a], class_names[c]):
                first.append(a)
                second.append(c)
                texts.append(text)
        return first, second, texts
    index = {name: i for i, name in enumerate(class_names)}
    for record in source:
        unknown = [n for n in (record.first, record.second) if n not in index]
        if unknown:
            raise PcclipError(f"comparative {record.text[:60]!r} names {', '.join(map(repr, unknown))}, not a class of this task")
        a, c = index[record.first], index[record.second]
        if (a, c) in wanted:
            first.append(a)
            second.append(c)
            texts.append(record.text)
    return first, second, texts
