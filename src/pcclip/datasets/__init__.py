"""Real datasets read from local files in their official layouts (the compositional benchmarks
SugarCrepe, Winoground and ARO among them), the zero-shot templates, and comparative sentences for
comparative prompting, and the paper's difference tasks on real data (pcclip.datasets.differences,
with the small tables pcclip ships in datasets/data/). Nothing here downloads."""

from .aro import AroData, AroItem, load_aro
from .awa2 import AwA2Data, load_awa2
from .base import CaptionedImages, LabelledImages
from .cifar import load_cifar
from .coco import load_coco_captions
from .comparatives import Comparative, ComparativeWriter, gather_comparatives, read_comparatives
from .cub import CubAttributeLabels, CubData, load_cub, load_cub_attribute_labels
from .differences import DifferenceAttribute
from .flowers import load_flowers102
from .folder import load_image_folder
from .images import ImageArray, ImageFiles, ImageSource, encode_image_source
from .sugarcrepe import SugarCrepeData, SugarCrepeItem, load_sugarcrepe
from .templates import IMAGENET_TEMPLATES, PAPER_TEMPLATES, STANDARD_TEMPLATES
from .winoground import WinogroundData, WinogroundItem, load_winoground

__all__ = [
    "IMAGENET_TEMPLATES",
    "PAPER_TEMPLATES",
    "STANDARD_TEMPLATES",
    "AroData",
    "AroItem",
    "AwA2Data",
    "CaptionedImages",
    "Comparative",
    "ComparativeWriter",
    "CubAttributeLabels",
    "CubData",
    "DifferenceAttribute",
    "ImageArray",
    "ImageFiles",
    "ImageSource",
    "LabelledImages",
    "SugarCrepeData",
    "SugarCrepeItem",
    "WinogroundData",
    "WinogroundItem",
    "encode_image_source",
    "gather_comparatives",
    "load_aro",
    "load_awa2",
    "load_cifar",
    "load_coco_captions",
    "load_cub",
    "load_cub_attribute_labels",
    "load_flowers102",
    "load_image_folder",
    "load_sugarcrepe",
    "load_winoground",
    "read_comparatives",
]
