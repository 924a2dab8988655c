"""SugarCrepe (Hsieh et al., NeurIPS 2023 Datasets and Benchmarks): COCO val2017 images, each with its
caption and one hard negative made by adding, replacing or swapping an object, attribute or relation.

Where the data comes from:
  the seven JSON files: https://github.com/RAIVNLab/sugar-crepe (its data/ folder)
  the images: COCO val2017, http://images.cocodataset.org/zips/val2017.zip

Layout read (the repository's data/ folder as it ships, and COCO's val2017 folder as it unzips):

    <root>/add_obj.json, add_att.json, replace_obj.json, replace_att.json, replace_rel.json,
           swap_obj.json, swap_att.json      (or the same files in <root>/data/)
        {"0": {"filename": "000000397133.jpg", "caption": <positive>, "negative_caption": <negative>}, "1": ...}
    <images>/000000397133.jpg               (default <root>/val2017)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import PcclipError
from .base import read_json, require_dir, require_file

SOURCE = "https://github.com/RAIVNLab/sugar-crepe (data/*.json) with COCO val2017 images (http://images.cocodataset.org/zips/val2017.zip)"
# The official subsets, in the order of the paper's tables, and the category each belongs to.
SUBSETS = ("add_obj", "add_att", "replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att")
CATEGORIES = {
    "add": ("add_obj", "add_att"),
    "replace": ("replace_obj", "replace_att", "replace_rel"),
    "swap": ("swap_obj", "swap_att"),
}
LAYOUT = f"the seven SugarCrepe files ({', '.join(s + '.json' for s in SUBSETS)}) from {SOURCE}"
IMAGES_LAYOUT = (
    "the COCO val2017 images SugarCrepe names (give their folder as sugarcrepe:ROOT:IMAGES to `pcclip eval`, or as "
    f"`images` of a run's benchmark); from {SOURCE}"
)


@dataclass(frozen=True)
class SugarCrepeItem:
    """One test: the image, its caption (positive) and the hard negative. id: the record's key in its file."""

    subset: str
    id: str
    image: Path
    caption: str
    negative: str


@dataclass
class SugarCrepeData:
    items: list[SugarCrepeItem]
    files: tuple[Path, ...]  # the annotation files read, one per subset
    images_root: Path


def sugarcrepe_files_dir(root: str | Path) -> Path:
    """The folder holding the JSON files: `root` itself, or its data/ folder (a clone of the repository)."""
    root = require_dir(Path(root), LAYOUT)
    return root / "data" if not (root / f"{SUBSETS[0]}.json").is_file() and (root / "data").is_dir() else root


def load_sugarcrepe(root: str | Path, images: str | Path | None = None, subsets: tuple[str, ...] = SUBSETS) -> SugarCrepeData:
    """Every record of every subset, in file order; every image it names must exist under `images`."""
    unknown = [s for s in subsets if s not in SUBSETS]
    if unknown:
        raise PcclipError(f"unknown SugarCrepe subset(s) {', '.join(unknown)}; known: {', '.join(SUBSETS)}")
    folder = sugarcrepe_files_dir(root)
    paths = [require_file(folder / f"{subset}.json", LAYOUT) for subset in subsets]  # all checked before any is read
    images_root = require_dir(Path(images) if images is not None else Path(root) / "val2017", IMAGES_LAYOUT)
    items: list[SugarCrepeItem] = []
    for subset, path in zip(subsets, paths):
        items += _read_subset(subset, path, images_root)
    missing = sorted({item.image for item in items if not item.image.is_file()})
    if missing:
        first = next(item for item in items if item.image == missing[0])
        raise PcclipError(
            f"{missing[0]}: image not found ({first.subset}.json record {first.id!r} names it; "
            f"{len(missing)} of the images named are missing); expected {IMAGES_LAYOUT}"
        )
    return SugarCrepeData(items, tuple(paths), images_root)


def _read_subset(subset: str, path: Path, images_root: Path) -> list[SugarCrepeItem]:
    content = read_json(path)
    if not isinstance(content, dict) or not content:
        raise PcclipError(f'{path}: expected a non-empty JSON object of records keyed by id ("0", "1", ...)')
    items = []
    for key, record in content.items():
        fields = ("filename", "caption", "negative_caption")
        if not isinstance(record, dict) or not all(isinstance(record.get(f), str) and record[f].strip() for f in fields):
            raise PcclipError(f"{path}: record {key!r}: needs non-empty strings {', '.join(map(repr, fields))}")
        items.append(SugarCrepeItem(subset, key, images_root / record["filename"], record["caption"], record["negative_caption"]))
    return items
