"""ARO's Visual Genome tests (Yuksekgonul et al., ICLR 2023, "When and why vision-language models
behave like bags-of-words"): VG-Relation ("the horse is eating the grass" vs "the grass is eating the
horse") and VG-Attribution ("the paved road and the white house" vs "the white road and the paved
house"). Each test is one image region with a true and a false caption.

Where the data comes from: https://github.com/mertyg/vision-language-models-are-bows; the two JSON files
and the images (vgr_vga_images.zip, a subset of GQA/Visual Genome) are the Google Drive downloads that
its dataset_zoo/aro_datasets.py names.

Layout read (the folder the official code downloads into):

    <root>/visual_genome_relation.json      [{"image_path": "2315375.jpg", "bbox_x": 0, "bbox_y": 0,
                                               "bbox_w": 500, "bbox_h": 333, "relation_name": "eating",
                                               "true_caption": ..., "false_caption": ...}, ...]
    <root>/visual_genome_attribution.json   the same fields, with "attributes": [<first>, <second>]
                                            in place of "relation_name"
    <root>/images/2315375.jpg

As the official code does, each image is cropped to its box (x, y, x + w, y + h) before the model's
own preprocessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image

from ..errors import PcclipError
from .base import read_json, require_dir, require_file
from .images import ImageFiles

SOURCE = "https://github.com/mertyg/vision-language-models-are-bows (the downloads its dataset_zoo/aro_datasets.py names)"
FILES = {"relation": "visual_genome_relation.json", "attribution": "visual_genome_attribution.json"}
Subset = Literal["relation", "attribution"]

# The relations the official replication (the repository's notebooks/Replicate ARO! VG-Relation,
# VG-Attribution.ipynb, which calls them `symmetric`) leaves out of VG-Relation's macro accuracy: the
# number the paper reports.
SYMMETRIC_RELATIONS = frozenset(
    (
        "adjusting, attached to, between, bigger than, biting, boarding, brushing, chewing, cleaning, climbing, close to, "
        "coming from, coming out of, contain, crossing, dragging, draped over, drinking, drinking from, driving, "
        "driving down, driving on, eating from, eating in, enclosing, exiting, facing, filled with, floating in, "
        "floating on, flying, flying above, flying in, flying over, flying through, full of, going down, going into, "
        "going through, grazing in, growing in, growing on, guiding, hanging from, hanging in, hanging off, "
        "hanging over, higher than, holding onto, hugging, in between, jumping off, jumping on, jumping over, kept in, "
        "larger than, leading, leaning over, leaving, licking, longer than, looking in, looking into, looking out, "
        "looking over, looking through, lying next to, lying on top of, making, mixed with, mounted on, moving, "
        "on the back of, on the edge of, on the front of, on the other side of, opening, painted on, parked at, "
        "parked beside, parked by, parked in, parked in front of, parked near, parked next to, perched on, petting, "
        "piled on, playing, playing in, playing on, playing with, pouring, reaching for, reading, reflected on, "
        "riding on, running in, running on, running through, seen through, sitting behind, sitting beside, "
        "sitting by, sitting in front of, sitting near, sitting next to, sitting under, skiing down, skiing on, "
        "sleeping in, sleeping on, smiling at, sniffing, splashing, sprinkled on, stacked on, standing against, "
        "standing around, standing behind, standing beside, standing in front of, standing near, standing next to, "
        "staring at, stuck in, surrounding, swimming in, swinging, talking to, topped with, touching, "
        "traveling down, traveling on, tying, typing on, underneath, wading in, waiting for, walking across, "
        "walking by, walking down, walking next to, walking through, working in, working on, worn on, "
        "wrapped around, wrapped in, by, of, near, next to, with, beside, on the side of, around"
    ).split(", ")
)
# VG-Attribution's macro accuracy averages the attribute pairs with at least this many tests (official).
MIN_ATTRIBUTE_PAIR_TESTS = 25


def layout(subset: Subset) -> str:
    return f"<root>/{FILES[subset]} and <root>/images/<image_path>, from {SOURCE}"


@dataclass(frozen=True)
class AroItem:
    """One test: the region `box` (x, y, w, h in pixels) of `image`, its true and false caption, and its
    group (VG-Relation: the relation; VG-Attribution: the two attributes as 'first_second')."""

    index: int  # position in the JSON list
    image: Path
    box: tuple[float, float, float, float]
    true_caption: str
    false_caption: str
    group: str


@dataclass
class AroData:
    subset: Subset
    items: list[AroItem]
    files: tuple[Path, ...]  # the annotation file read


def load_aro(root: str | Path, subset: Subset = "relation") -> AroData:
    """Every test of VG-Relation or VG-Attribution, in file order; every image it names must exist."""
    if subset not in FILES:
        raise PcclipError(f"ARO subset must be one of {', '.join(FILES)}; got {subset!r}")
    root = require_dir(Path(root), layout(subset))
    path = require_file(root / FILES[subset], layout(subset))
    images_dir = require_dir(root / "images", layout(subset))
    content = read_json(path)
    if not isinstance(content, list) or not content:
        raise PcclipError(f"{path}: expected a non-empty JSON list of tests")
    items = [_item(path, i, record, images_dir, subset) for i, record in enumerate(content)]
    missing = sorted({item.image for item in items if not item.image.is_file()})
    if missing:
        first = next(item for item in items if item.image == missing[0])
        raise PcclipError(
            f"{missing[0]}: image not found (record [{first.index}] names it; {len(missing)} of the images named "
            f"are missing); expected {layout(subset)}"
        )
    return AroData(subset, items, (path,))


def _item(path: Path, i: int, record: object, images_dir: Path, subset: Subset) -> AroItem:
    where = f"{path}: record [{i}]"
    if not isinstance(record, dict):
        raise PcclipError(f"{where}: expected a JSON object")
    texts = ("image_path", "true_caption", "false_caption")
    if not all(isinstance(record.get(f), str) and record[f].strip() for f in texts):
        raise PcclipError(f"{where}: needs non-empty strings {', '.join(map(repr, texts))}")
    box: list[float] = []
    for k in "xywh":
        value = record.get(f"bbox_{k}")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise PcclipError(f"{where}: 'bbox_{k}' must be a number, got {value!r}")
        box.append(float(value))
    x, y, w, h = box
    if w <= 0 or h <= 0:
        raise PcclipError(f"{where}: the box must have a positive width and height, got bbox_w {w:g}, bbox_h {h:g}")
    if subset == "relation":
        group = record.get("relation_name")
        if not isinstance(group, str):
            raise PcclipError(f"{where}: needs a string 'relation_name'")
    else:
        attributes = record.get("attributes")
        if not (isinstance(attributes, list) and len(attributes) >= 2 and all(isinstance(a, str) for a in attributes[:2])):
            raise PcclipError(f"{where}: needs 'attributes', a list of two strings")
        group = f"{attributes[0]}_{attributes[1]}"
    return AroItem(i, images_dir / record["image_path"], (x, y, w, h), record["true_caption"], record["false_caption"], group)


class CroppedImageFiles(ImageFiles):
    """Regions of image files: image i cropped to boxes[i] (x, y, w, h) as PIL crops it (a box past the
    border is filled with black, as in the official code), then brought to the model's input like ImageFiles."""

    def __init__(self, paths: Sequence[Path], boxes: Sequence[tuple[float, float, float, float]]):
        if len(paths) != len(boxes):
            raise ValueError("one box per image")
        super().__init__(paths)
        self.boxes = list(boxes)

    def region(self, index: int, image: Image.Image) -> Image.Image:
        x, y, w, h = self.boxes[index]
        return image.convert("RGB").crop((x, y, x + w, y + h))
