"""What a loaded dataset is, and the strict readers of the plain-text index files that CUB and AwA2
ship. A file that is missing or malformed stops with its path (and line) and the layout expected."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PcclipError
from .images import ImageSource


@dataclass
class LabelledImages:
    """Images with one class label each: labels[i] indexes class_names."""

    images: ImageSource
    labels: np.ndarray  # int64 (N,)
    class_names: tuple[str, ...]


@dataclass
class CaptionedImages:
    """Images with captions: captions[j] describes image caption_owner[j] (COCO: about 5 per image)."""

    images: ImageSource
    captions: list[str]
    caption_owner: np.ndarray  # int64 (len(captions),)


def require_file(path: Path, layout: str) -> Path:
    """`path` if it is a file, else a PcclipError naming it and the layout expected."""
    if not path.is_file():
        raise PcclipError(f"{path}: file not found; expected {layout}")
    return path


def require_dir(path: Path, layout: str) -> Path:
    if not path.is_dir():
        raise PcclipError(f"{path}: directory not found; expected {layout}")
    return path


def read_json(path: Path) -> object:
    """A JSON file's content; invalid JSON or text that is not UTF-8 is an error naming the file (and line)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise PcclipError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
    except UnicodeDecodeError as e:
        raise PcclipError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def read_rows(path: Path, min_fields: int) -> list[list[str]]:
    """Whitespace-separated fields of each non-blank line; a line with fewer than `min_fields`
    fields is an error naming the file and line."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < min_fields:
                raise PcclipError(f"{path}: line {number}: expected at least {min_fields} fields, got {line.strip()!r}")
            rows.append(fields)
    return rows


def read_indexed(path: Path) -> list[str]:
    """A file of '<id> <value>' lines whose ids are 1-based and run 1..N (any order), returned as a
    list in which value of id k sits at position k - 1. The official CUB and AwA2 files count from 1;
    reading the ids instead of trusting line order is what keeps attribute k from becoming k + 1."""
    values: dict[int, str] = {}
    for fields in read_rows(path, 2):
        try:
            index = int(fields[0])
        except ValueError:
            raise PcclipError(f"{path}: {fields[0]!r} is not an integer id") from None
        if index in values:
            raise PcclipError(f"{path}: id {index} appears twice")
        values[index] = " ".join(fields[1:])
    if not values:
        raise PcclipError(f"{path}: no entries")
    if sorted(values) != list(range(1, len(values) + 1)):
        raise PcclipError(
            f"{path}: the {len(values)} ids must run 1..{len(values)} (1-based), found {min(values)}..{max(values)}"
        )
    return [values[k] for k in range(1, len(values) + 1)]
