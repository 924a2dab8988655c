"""Oxford Flowers-102 in its official layout (https://www.robots.ox.ac.uk/~vgg/data/flowers/102/:
102flowers.tgz, imagelabels.mat and setid.mat, unpacked into one folder):

    jpg/image_00001.jpg ... jpg/image_08189.jpg
    imagelabels.mat   'labels': (1, 8189), the class of image k in column k - 1, classes 1..102
    setid.mat         'trnid', 'valid', 'tstid': (1, n) 1-based image ids of the train, val and test splits

Both the image ids and the labels count from 1: label 1 is 'pink primrose' (the first name of CLIP's
list), so class index = label - 1 and the file of id k is image_{k:05d}.jpg. Class names and each
class's dominant colour come from pcclip's table (datasets/data/flowers102_colours.csv).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from ..errors import PcclipError
from .base import LabelledImages, require_dir, require_file
from .images import ImageFiles
from .tables import flowers102_classes

LAYOUT = "the Oxford Flowers-102 folder (jpg/image_00001.jpg ..., imagelabels.mat, setid.mat)"
SPLITS = {"train": "trnid", "val": "valid", "test": "tstid"}


def _mat_vector(path: Path, key: str) -> np.ndarray:
    try:
        content = scipy.io.loadmat(path)
    except (ValueError, OSError, TypeError) as e:
        raise PcclipError(f"{path}: not a MATLAB .mat file ({e}); expected {LAYOUT}") from None
    if key not in content:
        found = sorted(k for k in content if not k.startswith("__"))
        raise PcclipError(f"{path}: no {key!r} variable (found {', '.join(found) or 'none'}); expected {LAYOUT}")
    values = np.asarray(content[key])
    if not np.issubdtype(values.dtype, np.number) or values.size == 0:
        raise PcclipError(f"{path}: {key!r} must be a non-empty numeric vector")
    return values.reshape(-1).astype(np.int64)


def load_flowers102(root: str | Path, split: str = "test") -> LabelledImages:  # split: train, val, test or all (checked)
    """The images of `split` (setid.mat's ids, in the file's order; 'all': every image in id order)
    labelled 0..101 with CLIP's class names. `root` is that folder, or the one holding it as
    flowers-102/ (torchvision's root)."""
    root = Path(root)
    if not (root / "imagelabels.mat").exists() and (root / "flowers-102").is_dir():
        root = root / "flowers-102"
    root = require_dir(root, LAYOUT)
    labels = _mat_vector(require_file(root / "imagelabels.mat", LAYOUT), "labels")
    classes = flowers102_classes()
    if labels.min() < 1 or labels.max() > len(classes):
        raise PcclipError(
            f"{root / 'imagelabels.mat'}: labels must lie in 1..{len(classes)} (1-based); found {labels.min()}..{labels.max()}"
        )
    if split == "all":
        ids = np.arange(1, len(labels) + 1)
    elif split in SPLITS:
        setid = require_file(root / "setid.mat", LAYOUT)
        ids = _mat_vector(setid, SPLITS[split])
        if ids.min() < 1 or ids.max() > len(labels):
            raise PcclipError(
                f"{setid}: {SPLITS[split]!r} ids must lie in 1..{len(labels)} (1-based, imagelabels.mat's images); "
                f"found {ids.min()}..{ids.max()}"
            )
    else:
        raise PcclipError(f"Flowers-102 split must be train, val, test or all; got {split!r}")
    images_root = require_dir(root / "jpg", LAYOUT)
    paths = [images_root / f"image_{k:05d}.jpg" for k in ids]
    return LabelledImages(ImageFiles(paths), labels[ids - 1] - 1, tuple(c.name for c in classes))
