"""Animals with Attributes 2 in its official layout (the Animals_with_Attributes2 folder):

    classes.txt                      <class_id> <name>        (1-based; names like grizzly+bear)
    predicates.txt                   <predicate_id> <name>    (1-based; e.g. "big", "small")
    predicate-matrix-binary.txt      row r = class id r + 1, column k = predicate id k + 1, 0/1
    predicate-matrix-continuous.txt  the same, strengths (optional)
    trainclasses.txt, testclasses.txt  one class name per line (needed only for those splits)
    JPEGImages/<name>/*.jpg

The authors' code used the 1-based ids as 0-based indices, which reads every predicate as its
neighbour ("big" as "small") and matches matrix rows to the wrong classes. Here ids are parsed and
row r of the matrix belongs to the class whose id is r + 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PcclipError
from .base import LabelledImages, read_indexed, read_rows, require_dir, require_file
from .images import ImageFiles

LAYOUT = (
    "the Animals_with_Attributes2 folder (classes.txt, predicates.txt, predicate-matrix-binary.txt, JPEGImages/<class>/*.jpg)"
)


@dataclass
class AwA2Data:
    """Images of one split and the class-level predicates. data.class_names are readable names
    ('grizzly bear'); class_rows[c] is the predicate-matrix row of data.class_names[c]."""

    data: LabelledImages
    predicate_names: tuple[str, ...]
    binary: np.ndarray  # int8 (all classes, predicates)
    continuous: np.ndarray | None  # float64 (all classes, predicates), if the file is present
    class_rows: np.ndarray  # int64 (len(data.class_names),)

    def predicate(self, class_name: str, predicate: str, continuous: bool = False) -> float:
        """The predicate's value for a class, by readable name: predicate('elephant', 'big') -> 1."""
        if class_name not in self.data.class_names:
            raise PcclipError(f"AwA2: no class {class_name!r} in this split; classes: {', '.join(self.data.class_names)}")
        return float(self._column(predicate, continuous)[self.class_rows[self.data.class_names.index(class_name)]])

    def image_values(self, predicate: str, continuous: bool = False) -> np.ndarray:
        """The predicate's value for every image of the split (its class's value)."""
        return self._column(predicate, continuous)[self.class_rows[self.data.labels]].astype(np.float64)

    def _column(self, predicate: str, continuous: bool) -> np.ndarray:
        if predicate not in self.predicate_names:
            raise PcclipError(f"AwA2: unknown predicate {predicate!r}; predicates: {', '.join(self.predicate_names)}")
        matrix = self.continuous if continuous else self.binary
        if matrix is None:
            raise PcclipError("AwA2: predicate-matrix-continuous.txt was not found, so continuous values are unavailable")
        return matrix[:, self.predicate_names.index(predicate)]


def load_awa2(root: str | Path, split: str = "all") -> AwA2Data:  # split: all, train or test (checked)
    root = require_dir(Path(root), LAYOUT)
    folders = read_indexed(require_file(root / "classes.txt", LAYOUT))
    predicates = tuple(read_indexed(require_file(root / "predicates.txt", LAYOUT)))
    binary = _matrix(require_file(root / "predicate-matrix-binary.txt", LAYOUT), len(folders), len(predicates), np.int8)
    if not np.isin(binary, (0, 1)).all():
        raise PcclipError(f"{root / 'predicate-matrix-binary.txt'}: values must be 0 or 1")
    continuous_path = root / "predicate-matrix-continuous.txt"
    continuous = _matrix(continuous_path, len(folders), len(predicates), np.float64) if continuous_path.is_file() else None

    if split == "all":
        chosen = list(folders)
    elif split in ("train", "test"):
        split_path = require_file(root / f"{split}classes.txt", LAYOUT)
        chosen = [row[0] for row in read_rows(split_path, 1)]
        unknown = [c for c in chosen if c not in folders]
        if unknown:
            raise PcclipError(f"{split_path}: classes not in classes.txt: {', '.join(unknown)}")
    else:
        raise PcclipError(f"AwA2 split must be all, train or test; got {split!r}")

    images_root = require_dir(root / "JPEGImages", LAYOUT)
    paths, labels = [], []
    for label, folder in enumerate(chosen):
        class_dir = require_dir(images_root / folder, f"{LAYOUT}; classes.txt lists {folder!r}")
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        paths += files
        labels += [label] * len(files)
    data = LabelledImages(ImageFiles(paths), np.array(labels, dtype=np.int64), tuple(c.replace("+", " ") for c in chosen))
    rows = np.array([folders.index(c) for c in chosen], dtype=np.int64)
    return AwA2Data(data, predicates, binary, continuous, rows)


def _matrix(path: Path, rows: int, columns: int, dtype) -> np.ndarray:
    try:
        matrix = np.loadtxt(path, dtype=dtype, ndmin=2)
    except ValueError as e:
        raise PcclipError(f"{path}: not a whitespace-separated numeric matrix ({e})") from None
    if matrix.shape != (rows, columns):
        raise PcclipError(
            f"{path}: expected {rows} rows (classes.txt) x {columns} columns (predicates.txt), "
            f"got {matrix.shape[0]} x {matrix.shape[1]}"
        )
    return matrix
