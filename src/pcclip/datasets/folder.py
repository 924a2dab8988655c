"""ImageFolder: root/<class name>/<image file>, classes in sorted folder-name order, as torchvision's
`ImageFolder` reads it (same extensions, case-insensitive; hidden entries skipped)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import PcclipError
from .base import LabelledImages, require_dir
from .images import ImageFiles

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
LAYOUT = "root/<class name>/<image>.jpg|.png|..."


def load_image_folder(root: str | Path) -> LabelledImages:
    """Every image under root/<class>/ (recursively, like torchvision), labelled by its class folder.
    A class folder without images is kept as a class (zero-shot then reports it as empty)."""
    root = require_dir(Path(root), LAYOUT)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise PcclipError(f"{root}: no class folders; expected {LAYOUT}")
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(
            p
            for p in (root / name).rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
        )
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise PcclipError(f"{root}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in any class folder; expected {LAYOUT}")
    return LabelledImages(ImageFiles(paths), np.array(labels, dtype=np.int64), tuple(classes))
