"""CUB-200-2011 in its official layout (the CUB_200_2011 folder of CUB_200_2011.tgz):

    images.txt                 <image_id> <path under images/>
    classes.txt                <class_id> <nnn.Class_name>
    image_class_labels.txt     <image_id> <class_id>
    train_test_split.txt       <image_id> <is_training_image>
    attributes/image_attribute_labels.txt            <image_id> <attribute_id> <is_present> <certainty_id> <time>
    attributes/class_attribute_labels_continuous.txt one row per class, one column per attribute (% present)
    attributes.txt             <attribute_id> <name>: beside the CUB_200_2011 folder in the archive,
                               inside it (or in attributes/) in some copies; all three are looked for.

Every id in these files counts from 1; ids are read, never line positions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PcclipError
from .base import CaptionedImages, LabelledImages, read_indexed, require_dir, require_file
from .images import ImageFiles

LAYOUT = (
    "the CUB_200_2011 folder of CUB_200_2011.tgz "
    "(images.txt, classes.txt, image_class_labels.txt, train_test_split.txt, images/, attributes/)"
)


@dataclass
class CubData:
    """One split of CUB with its attributes. image_attributes[i, k]: annotators marked attribute k
    present in image i; class_attributes[c, k]: percentage of class c's images with attribute k."""

    data: LabelledImages
    image_ids: np.ndarray  # 1-based CUB ids of the split's images
    attribute_names: tuple[str, ...]
    image_attributes: np.ndarray  # bool (N, attributes)
    class_attributes: np.ndarray  # float64 (classes, attributes)


def class_display_name(folder: str) -> str:
    """'001.Black_footed_Albatross' -> 'Black footed Albatross'."""
    return re.sub(r"^\d+\.", "", folder).replace("_", " ")


def load_cub(root: str | Path, split: str = "test", attributes: bool = True) -> CubData:  # split: train, test or all (checked)
    """The images of `split` (the official train/test split) with class labels and, unless
    attributes=False, the image and class attributes."""
    root = require_dir(Path(root), LAYOUT)
    paths = read_indexed(require_file(root / "images.txt", LAYOUT))
    folders = read_indexed(require_file(root / "classes.txt", LAYOUT))
    labels = np.array(_ints(root / "image_class_labels.txt", len(paths), len(folders)), dtype=np.int64) - 1
    is_train = np.array(_ints(root / "train_test_split.txt", len(paths), 1, low=0), dtype=bool)
    chosen = {"train": is_train, "test": ~is_train, "all": np.ones(len(paths), dtype=bool)}
    if split not in chosen:
        raise PcclipError(f"CUB split must be train, test or all; got {split!r}")
    keep = np.flatnonzero(chosen[split])
    images = ImageFiles([root / "images" / paths[i] for i in keep])
    data = LabelledImages(images, labels[keep], tuple(class_display_name(f) for f in folders))
    if not attributes:
        return CubData(data, keep + 1, (), np.zeros((len(keep), 0), dtype=bool), np.zeros((len(folders), 0)))
    names = tuple(read_indexed(_attribute_names_file(root)))
    per_image, _ = _image_attribute_labels(root, len(paths), len(names))
    continuous_path = require_file(root / "attributes" / "class_attribute_labels_continuous.txt", LAYOUT)
    per_class = np.loadtxt(continuous_path, dtype=np.float64, ndmin=2)
    if per_class.shape != (len(folders), len(names)):
        raise PcclipError(
            f"{continuous_path}: expected {len(folders)} rows x {len(names)} columns (classes x attributes), "
            f"got {per_class.shape}"
        )
    return CubData(data, keep + 1, names, per_image[keep], per_class)


def _ints(path: Path, n: int, high: int, low: int = 1) -> list[int]:
    """The integer values of an '<image_id> <value>' file with ids 1..n, each checked in low..high."""
    values = read_indexed(require_file(path, LAYOUT))
    if len(values) != n:
        raise PcclipError(f"{path}: {len(values)} entries, but images.txt lists {n} images")
    out = []
    for image_id, text in enumerate(values, start=1):
        if not text.isdigit() or not low <= int(text) <= high:
            raise PcclipError(f"{path}: image {image_id}: value {text!r} is not an integer in {low}..{high}")
        out.append(int(text))
    return out


def _attribute_names_file(root: Path) -> Path:
    candidates = [root / "attributes.txt", root / "attributes" / "attributes.txt", root.parent / "attributes.txt"]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise PcclipError(f"attributes.txt not found; looked for {', '.join(map(str, candidates))}")
    return found


def _image_attribute_labels(root: Path, n_images: int, n_attributes: int) -> tuple[np.ndarray, np.ndarray]:
    """is_present (bool) and certainty_id (int8, 0 where the file has no line), both (images, attributes)
    with 1-based ids read, from attributes/image_attribute_labels.txt. Streamed: the file has 3.7 million
    lines. The fields after certainty_id are not read (a few official lines carry an extra one)."""
    path = require_file(root / "attributes" / "image_attribute_labels.txt", LAYOUT)
    present = np.zeros((n_images, n_attributes), dtype=bool)
    certainty = np.zeros((n_images, n_attributes), dtype=np.int8)
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                image_id, attribute_id, is_present, certainty_id = (int(v) for v in fields[:4])
            except ValueError:
                raise PcclipError(
                    f"{path}: line {number}: expected '<image_id> <attribute_id> <is_present> <certainty_id> <time>', "
                    f"got {line.strip()!r}"
                ) from None
            in_range = 1 <= image_id <= n_images and 1 <= attribute_id <= n_attributes
            if not (in_range and is_present in (0, 1) and 1 <= certainty_id <= 4):
                raise PcclipError(
                    f"{path}: line {number}: image id {image_id} (1..{n_images}), attribute id {attribute_id} "
                    f"(1..{n_attributes}), is_present {is_present} (0/1) or certainty_id {certainty_id} (1..4) out of range"
                )
            present[image_id - 1, attribute_id - 1] = bool(is_present)
            certainty[image_id - 1, attribute_id - 1] = certainty_id
    return present, certainty


REED_LAYOUT = "Reed et al.'s text_c10 folder: <class folder>/<image name>.txt with one description per line"


def load_cub_descriptions(
    root: str | Path,
    descriptions: str | Path,
    split: str = "train",  # train, test or all (checked)
) -> CaptionedImages:
    """The images of a CUB split with Reed et al.'s bird descriptions (about 10 per image), read from
    text_c10/<class folder>/<image name>.txt beside each image's path under images/."""
    cub = load_cub(root, split, attributes=False)
    descriptions = require_dir(Path(descriptions), REED_LAYOUT)
    images_dir = Path(root) / "images"
    captions, owner = [], []
    assert isinstance(cub.data.images, ImageFiles)  # CUB's images are files
    for row, image in enumerate(cub.data.images.paths):
        path = require_file(descriptions / image.relative_to(images_dir).with_suffix(".txt"), REED_LAYOUT)
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not lines:
            raise PcclipError(f"{path}: no descriptions; expected {REED_LAYOUT}")
        captions += lines
        owner += [row] * len(lines)
    return CaptionedImages(cub.data.images, captions, np.array(owner, dtype=np.int64))


CERTAINTIES = "attributes/certainties.txt: 1 not visible, 2 guessing, 3 probably, 4 definitely"


@dataclass
class CubAttributeLabels:
    """One split of CUB with every image's annotation of every attribute, as the annotator gave it:
    present[i, k] (is_present) and certainty[i, k] (certainty_id, 1..4, one per question: all colours
    of a part share the certainty of that part's answer; 0 where the file has no line)."""

    data: LabelledImages
    image_ids: np.ndarray  # 1-based CUB ids of the split's images
    attribute_names: tuple[str, ...]
    present: np.ndarray  # bool (N, attributes)
    certainty: np.ndarray  # int8 (N, attributes)


def load_cub_attribute_labels(root: str | Path, split: str = "test") -> CubAttributeLabels:
    """The images of `split` with every annotation of attributes/image_attribute_labels.txt (is_present
    and certainty_id) and the attribute names of attributes.txt."""
    cub = load_cub(root, split, attributes=False)
    root = Path(root)
    names = tuple(read_indexed(_attribute_names_file(root)))
    n_images = len(read_indexed(require_file(root / "images.txt", LAYOUT)))
    present, certainty = _image_attribute_labels(root, n_images, len(names))
    keep = cub.image_ids - 1
    return CubAttributeLabels(cub.data, cub.image_ids, names, present[keep], certainty[keep])
