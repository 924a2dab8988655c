"""Real datasets read from local files in their official layouts, the zero-shot templates, and
comparative sentences for comparative prompting. Nothing here downloads."""

from .awa2 import AwA2Data, load_awa2
from .base import CaptionedImages, LabelledImages
from .cifar import load_cifar
from .coco import load_coco_captions
from .comparatives import Comparative, ComparativeWriter, gather_comparatives, read_comparatives
from .cub import CubData, load_cub
from .folder import load_image_folder
from .images import ImageArray, ImageFiles, ImageSource, encode_image_source
from .templates import IMAGENET_TEMPLATES, PAPER_TEMPLATES, STANDARD_TEMPLATES

__all__ = [
    "IMAGENET_TEMPLATES",
    "PAPER_TEMPLATES",
    "STANDARD_TEMPLATES",
    "AwA2Data",
    "CaptionedImages",
    "Comparative",
    "ComparativeWriter",
    "CubData",
    "ImageArray",
    "ImageFiles",
    "ImageSource",
    "LabelledImages",
    "encode_image_source",
    "gather_comparatives",
    "load_awa2",
    "load_cifar",
    "load_coco_captions",
    "load_cub",
    "load_image_folder",
    "read_comparatives",
]
