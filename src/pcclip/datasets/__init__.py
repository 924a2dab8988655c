"""Real datasets read from local files in their official layouts (the compositional benchmarks
SugarCrepe, Winoground and ARO among them), the zero-shot templates, and comparative sentences for
comparative prompting, and the paper's difference tasks on real data (pcclip.datasets.differences,
with the small tables pcclip ships in datasets/data/). Nothing here downloads."""

from ..lazy import lazy_exports

# Each name and its module, imported on first use: the study's warm path reads the templates and
# comparatives without paying for open_clip, which the image loaders import.
_EXPORTS = {
    "AroData": "aro",
    "AroItem": "aro",
    "load_aro": "aro",
    "AwA2Data": "awa2",
    "load_awa2": "awa2",
    "CaptionedImages": "base",
    "LabelledImages": "base",
    "load_cifar": "cifar",
    "load_coco_captions": "coco",
    "Comparative": "comparatives",
    "ComparativeWriter": "comparatives",
    "gather_comparatives": "comparatives",
    "read_comparatives": "comparatives",
    "CubAttributeLabels": "cub",
    "CubData": "cub",
    "load_cub": "cub",
    "load_cub_attribute_labels": "cub",
    "DifferenceAttribute": "differences",
    "load_flowers102": "flowers",
    "load_image_folder": "folder",
    "ImageArray": "images",
    "ImageFiles": "images",
    "ImageSource": "images",
    "encode_image_source": "images",
    "SugarCrepeData": "sugarcrepe",
    "SugarCrepeItem": "sugarcrepe",
    "load_sugarcrepe": "sugarcrepe",
    "IMAGENET_TEMPLATES": "templates",
    "PAPER_TEMPLATES": "templates",
    "STANDARD_TEMPLATES": "templates",
    "WinogroundData": "winoground",
    "WinogroundItem": "winoground",
    "load_winoground": "winoground",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
