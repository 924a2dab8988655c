"""CIFAR-10 and CIFAR-100 in the official python-pickle layout (what torchvision downloads):

    <root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    <root>/cifar-100-python/{train, test, meta}

Each batch is a pickled dict with 'data' (uint8 (N, 3072): 1024 red, 1024 green, 1024 blue values,
row-major 32 x 32) and 'labels' (CIFAR-10) or 'fine_labels' / 'coarse_labels' (CIFAR-100). The files
are Python 2 pickles, so they are read with encoding='latin1' by an unpickler that builds nothing
but the dicts, lists, strings and numpy arrays the format needs: a pickle can run code, and a
dataset file should not be able to.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import PcclipError
from .base import LabelledImages, require_file
from .images import ImageArray

VARIANTS = {
    # variant: (folder, {split: batch files}, meta file, label-name key per label kind)
    "cifar10": (
        "cifar-10-batches-py",
        {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
        "batches.meta",
        {"fine": ("labels", "label_names")},
    ),
    "cifar100": (
        "cifar-100-python",
        {"train": ["train"], "test": ["test"]},
        "meta",
        {"fine": ("fine_labels", "fine_label_names"), "coarse": ("coarse_labels", "coarse_label_names")},
    ),
}

# The globals a CIFAR pickle references: numpy's array reconstruction (under numpy 1's module name in
# the official files, numpy 2's in files written today) and the bytes codec of protocol-2 pickles.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only plain containers, strings, numbers and numpy arrays."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(*_ALLOWED[module, name])


def read_batch(path: Path) -> dict[str, Any]:
    """One CIFAR pickle as a dict with str keys."""
    try:
        with open(path, "rb") as f:
            data = _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise PcclipError(f"{path}: not a CIFAR python-pickle batch ({e})") from None
    if not isinstance(data, dict):
        raise PcclipError(f"{path}: not a CIFAR batch (a {type(data).__name__}, expected a dict)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in data.items()}


def _field(batch: dict[str, Any], key: str, path: Path) -> Any:
    if key not in batch:
        raise PcclipError(f"{path}: no {key!r} entry; found {sorted(batch)}")
    return batch[key]


def load_cifar(
    root: str | Path,
    variant: str = "cifar10",  # cifar10 or cifar100 (checked)
    split: str = "test",  # train or test (checked)
    label_kind: Literal["fine", "coarse"] = "fine",
) -> LabelledImages:
    """CIFAR images (uint8 32 x 32) with labels and class names. `root` is the folder holding
    cifar-10-batches-py / cifar-100-python (torchvision's root) or that folder itself."""
    if variant not in VARIANTS:
        raise PcclipError(f"unknown CIFAR variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    folder, batches, meta_name, kinds = VARIANTS[variant]
    if split not in batches or label_kind not in kinds:
        raise PcclipError(f"{variant}: split must be one of {list(batches)}, label_kind one of {list(kinds)}")
    root = Path(root)
    base = root if root.name == folder else root / folder
    layout = f"{base}/{{{', '.join(batches['train'] + batches['test'] + [meta_name])}}} (the official python-pickle layout)"
    labels_key, names_key = kinds[label_kind]
    meta_path = require_file(base / meta_name, layout)
    names = tuple(str(n) for n in _field(read_batch(meta_path), names_key, meta_path))
    images, labels = [], []
    for name in batches[split]:
        path = require_file(base / name, layout)
        batch = read_batch(path)
        data = np.asarray(_field(batch, "data", path))
        batch_labels = np.asarray(_field(batch, labels_key, path), dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(batch_labels):
            raise PcclipError(
                f"{path}: 'data' must be uint8 (N, 3072) with one label per row; "
                f"got {data.dtype} {data.shape}, {len(batch_labels)} labels"
            )
        if len(batch_labels) and (batch_labels.min() < 0 or batch_labels.max() >= len(names)):
            raise PcclipError(f"{path}: labels must lie in 0..{len(names) - 1} ({meta_path} names {len(names)} classes)")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(batch_labels)
    return LabelledImages(ImageArray(np.ascontiguousarray(np.concatenate(images))), np.concatenate(labels), names)
