"""(image path, caption) tables, as open_clip_train reads them: a CSV (comma), TSV (tab) or JSONL file
with one row per caption; several rows may name the same image. Column names default to
open_clip_train's (`filepath`, `title`); relative image paths are read from the table's folder."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..cache import read_jsonl
from ..errors import PcclipError
from .base import CaptionedImages, require_file
from .images import ImageFiles

DELIMITERS = {".csv": ",", ".tsv": "\t"}


def load_caption_table(path: str | Path, image_key: str = "filepath", caption_key: str = "title") -> CaptionedImages:
    """Images in order of first appearance, each with all its captions in file order."""
    path = require_file(Path(path), "a .csv, .tsv or .jsonl file with an image path and a caption per row")
    owner_of: dict[str, int] = {}
    captions: list[str] = []
    owner: list[int] = []
    for line, row in _rows(path, image_key, caption_key):
        image, text = row.get(image_key), row.get(caption_key)
        if not isinstance(image, str) or not image.strip() or not isinstance(text, str) or not text.strip():
            raise PcclipError(f"{path}: line {line}: needs a non-empty {image_key!r} (image path) and {caption_key!r} (caption)")
        owner.append(owner_of.setdefault(image.strip(), len(owner_of)))
        captions.append(text.strip())
    if not captions:
        raise PcclipError(f"{path}: no rows")
    images = ImageFiles([path.parent / image for image in owner_of])  # an absolute path replaces the folder
    return CaptionedImages(images, captions, np.array(owner, dtype=np.int64))


def _rows(path: Path, image_key: str, caption_key: str):
    """(line number, row as a dict) of a JSONL or delimited table; a table without the two columns
    is an error naming the columns it has."""
    if path.suffix == ".jsonl":
        yield from read_jsonl(path)
        return
    if path.suffix not in DELIMITERS:
        raise PcclipError(f"{path}: unknown table format; use .csv (comma), .tsv (tab) or .jsonl")
    with io.StringIO(_utf8_text(path), newline="") as f:
        reader = csv.DictReader(f, delimiter=DELIMITERS[path.suffix])
        missing = [key for key in (image_key, caption_key) if key not in (reader.fieldnames or [])]
        if missing:
            raise PcclipError(
                f"{path}: no column {', '.join(map(repr, missing))}; its header has {reader.fieldnames}. "
                "Set data.image_key / data.caption_key to the columns to read"
            )
        for row in reader:
            yield reader.line_num, row


def _utf8_text(path: Path) -> str:
    """The file's text; PcclipError naming the line of the first byte that is not UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise PcclipError(
            f"{path}: line {line}: not UTF-8 text ({e.reason} at byte {e.start}); save the table as UTF-8"
        ) from None
