"""COCO captions in the official layout, for CLIPScore and retrieval:

<root>/annotations/captions_<split>.json   {"images": [{"id", "file_name", ...}],
                                             "annotations": [{"image_id", "id", "caption"}]}
<root>/<split>/<file_name>                  e.g. val2017/000000000139.jpg
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import PcclipError
from .base import CaptionedImages, read_json, require_dir, require_file
from .images import ImageFiles

LAYOUT = "<root>/annotations/captions_<split>.json and <root>/<split>/<images> (the official COCO layout)"


def load_coco_captions(root: str | Path, split: str = "val2017", max_images: int | None = None) -> CaptionedImages:
    """Images with at least one caption, by increasing image id (the first `max_images` of them if
    given), and all their captions in annotation-id order."""
    root = Path(root)
    path = require_file(root / "annotations" / f"captions_{split}.json", LAYOUT)
    images_dir = require_dir(root / split, LAYOUT)
    content = read_json(path)
    if (
        not isinstance(content, dict)
        or not isinstance(content.get("images"), list)
        or not isinstance(content.get("annotations"), list)
    ):
        raise PcclipError(f"{path}: expected an object with 'images' and 'annotations' lists")
    files: dict[int, str] = {}
    for i, image in enumerate(content["images"]):
        if not isinstance(image, dict) or not isinstance(image.get("id"), int) or not isinstance(image.get("file_name"), str):
            raise PcclipError(f"{path}: images[{i}] needs an integer 'id' and a string 'file_name'")
        files[image["id"]] = image["file_name"]
    captions: dict[int, list[tuple[int, str]]] = {}
    for i, note in enumerate(content["annotations"]):
        if not isinstance(note, dict) or not isinstance(note.get("caption"), str) or note.get("image_id") not in files:
            raise PcclipError(f"{path}: annotations[{i}] needs a string 'caption' and an 'image_id' listed in 'images'")
        captions.setdefault(note["image_id"], []).append((note.get("id", i), note["caption"].strip()))
    ids = sorted(captions)[:max_images]
    if not ids:
        raise PcclipError(f"{path}: no captioned images")
    texts, owner = [], []
    for row, image_id in enumerate(ids):
        for _, text in sorted(captions[image_id]):
            texts.append(text)
            owner.append(row)
    return CaptionedImages(ImageFiles([images_dir / files[i] for i in ids]), texts, np.array(owner, dtype=np.int64))
