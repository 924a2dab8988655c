"""Winoground (Thrush et al., CVPR 2022): 400 examples of two images and two captions that use the
same words in a different order; each caption belongs to one image.

Where the data comes from: https://huggingface.co/datasets/facebook/winoground (gated: accept its
licence on the page first), files data/examples.jsonl and data/images.zip (unzip it where it lies).

Layout read (the dataset repository as downloaded; <root> may be the repository or its data/ folder):

    <root>/data/examples.jsonl   one example a line: {"id": 0, "image_0": "ex_0_img_0", "image_1": "ex_0_img_1",
                                 "caption_0": ..., "caption_1": ..., "tag": ..., "secondary_tag": ...,
                                 "num_main_preds": ..., "collapsed_tag": ...}   (test.jsonl is read too)
    <root>/data/images/ex_0_img_0.png   the images folder beside the .jsonl file (else <root>/images)

Ids count from 0 and an example's images are named by its own id (example 0: ex_0_img_0, ex_0_img_1).
The names are read from each line's image_0/image_1; only a line without them is given ex_<id>_img_<k>.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..cache import read_jsonl
from ..errors import PcclipError
from .base import require_dir

SOURCE = "https://huggingface.co/datasets/facebook/winoground (data/examples.jsonl, data/images.zip unzipped)"
LAYOUT = f"<root>/data/examples.jsonl and <root>/data/images/ex_<id>_img_<0|1>.png, from {SOURCE}"
ANNOTATION_NAMES = ("data/examples.jsonl", "examples.jsonl", "data/test.jsonl", "test.jsonl")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class WinogroundItem:
    """One example: caption_k describes image_k (k = 0, 1)."""

    id: int
    caption_0: str
    caption_1: str
    image_0: Path
    image_1: Path
    tag: str | None = None  # Object, Relation or Both
    collapsed_tag: str | None = None


@dataclass
class WinogroundData:
    items: list[WinogroundItem]
    files: tuple[Path, ...]  # the annotation file read


def winoground_annotations(root: str | Path) -> Path:
    root = require_dir(Path(root), LAYOUT)
    candidates = [root / name for name in ANNOTATION_NAMES]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise PcclipError(f"{candidates[0]}: file not found (nor {', '.join(map(str, candidates[1:]))}); expected {LAYOUT}")
    return found


def load_winoground(root: str | Path) -> WinogroundData:
    """Every example in file order; every image it names must exist."""
    path = winoground_annotations(root)
    images_dir = path.parent / "images" if (path.parent / "images").is_dir() else Path(root) / "images"
    require_dir(images_dir, LAYOUT)
    items: list[WinogroundItem] = []
    seen: dict[int, int] = {}
    for line, record in read_jsonl(path):
        example_id = record.get("id")
        if not isinstance(example_id, int) or isinstance(example_id, bool) or example_id < 0:
            raise PcclipError(f"{path}: line {line}: 'id' must be an integer counting from 0, got {example_id!r}")
        if example_id in seen:
            raise PcclipError(f"{path}: line {line}: id {example_id} already on line {seen[example_id]}")
        seen[example_id] = line
        captions = [record.get(f"caption_{k}") for k in (0, 1)]
        if not all(isinstance(c, str) and c.strip() for c in captions):
            raise PcclipError(f"{path}: line {line} (id {example_id}): needs non-empty strings 'caption_0' and 'caption_1'")
        images = [_image_path(path, line, images_dir, record, example_id, k) for k in (0, 1)]
        items.append(
            WinogroundItem(
                example_id,
                str(captions[0]),
                str(captions[1]),
                images[0],
                images[1],
                _optional_str(record, "tag"),
                _optional_str(record, "collapsed_tag"),
            )
        )
    if not items:
        raise PcclipError(f"{path}: no examples")
    return WinogroundData(items, (path,))


def _image_path(path: Path, line: int, images_dir: Path, record: dict, example_id: int, k: int) -> Path:
    name = record.get(f"image_{k}", f"ex_{example_id}_img_{k}")
    if not isinstance(name, str) or not name or "/" in name or "\\" in name:
        raise PcclipError(
            f"{path}: line {line} (id {example_id}): 'image_{k}' must be an image name like ex_0_img_{k}, got {name!r}"
        )
    image = images_dir / (name if name.lower().endswith(IMAGE_SUFFIXES) else f"{name}.png")
    if not image.is_file():
        raise PcclipError(f"{image}: image not found (line {line}, id {example_id}, image_{k}); expected {LAYOUT}")
    return image


def _optional_str(record: dict, key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) else None
