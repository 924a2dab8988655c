"""Images of real datasets, loaded lazily and brought to a model's input by open_clip's own eval
transform for that model (its resize mode, interpolation and crop: SigLIP squashes with bilinear
filtering, CLIP resizes the shorter side with bicubic and centre-crops), then embedded in batches."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import open_clip
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2
from PIL import Image, UnidentifiedImageError
from torchvision.transforms import Compose

from ..encode import encode_images
from ..errors import PcclipError


def model_preprocess(model) -> PreprocessCfg:
    """The model's eval preprocessing, read as open_clip.create_model_and_transforms reads it."""
    return PreprocessCfg(**open_clip.get_model_preprocess_cfg(model))


def as_preprocess(preprocess: PreprocessCfg | int) -> PreprocessCfg:
    """An int is open_clip's default at that square size: shorter side resized with bicubic
    filtering, centre crop."""
    return PreprocessCfg(size=preprocess) if isinstance(preprocess, int) else preprocess


def resizer(preprocess: PreprocessCfg) -> Compose:
    """open_clip's eval transform for `preprocess` up to RGB pixels at the model's size. Its last two
    steps (to a float tensor, normalise) are left to encode.images_to_tensor, which does the same
    arithmetic on uint8 moved to the model's device."""
    return Compose(image_transform_v2(preprocess, is_train=False).transforms[:-2])


def empty_images(count: int, preprocess: PreprocessCfg) -> np.ndarray:
    return np.empty((count, *preprocess.input_size[1:], 3), dtype=np.uint8)


class ImageSource(Protocol):
    """A dataset's images in a fixed order, loaded on demand for any model's preprocessing."""

    def __len__(self) -> int: ...

    def load(self, indices: Sequence[int], preprocess: PreprocessCfg | int) -> np.ndarray:
        """uint8 (len(indices), H, W, 3) at the preprocessing's size (see `as_preprocess`, `resizer`)."""
        ...


class ImageFiles:
    """Images stored as files (ImageFolder, CUB, AwA2, COCO)."""

    def __init__(self, paths: Sequence[str | Path]):
        self.paths = [Path(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, indices: Sequence[int], preprocess: PreprocessCfg | int) -> np.ndarray:
        preprocess = as_preprocess(preprocess)
        resize, out = resizer(preprocess), empty_images(len(indices), preprocess)
        for row, i in enumerate(indices):
            path = self.paths[i]
            try:
                with Image.open(path) as image:
                    out[row] = np.asarray(resize(self.region(i, image)))
            except FileNotFoundError:
                raise PcclipError(f"{path}: image file not found; the dataset's index lists it") from None
            except (UnidentifiedImageError, OSError) as e:
                raise PcclipError(f"{path}: not a readable image ({e})") from None
            except Image.DecompressionBombError as e:  # a header claiming billions of pixels: never decoded
                raise PcclipError(f"{path}: image too large to load ({e})") from None
        return out

    def region(self, index: int, image: Image.Image) -> Image.Image:
        """What the model sees of image `index`: all of it."""
        return image


class ImageArray:
    """Images held in memory as uint8 (N, H, W, 3) (CIFAR's pickled batches)."""

    def __init__(self, array: np.ndarray):
        if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise PcclipError(f"an image array must be uint8 (N, H, W, 3); got {array.dtype} {array.shape}")
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def load(self, indices: Sequence[int], preprocess: PreprocessCfg | int) -> np.ndarray:
        preprocess = as_preprocess(preprocess)
        resize, out = resizer(preprocess), empty_images(len(indices), preprocess)
        for row, i in enumerate(indices):
            out[row] = np.asarray(resize(Image.fromarray(self.array[i])))
        return out


def encode_image_source(model, source: ImageSource, batch_size: int = 256) -> torch.Tensor:
    """Normalised image embeddings of every image in `source`, loading one batch at a time."""
    if len(source) == 0:
        raise PcclipError("no images to encode")
    preprocess = model_preprocess(model)
    return torch.cat(
        [
            encode_images(model, source.load(range(i, min(i + batch_size, len(source))), preprocess), batch_size)
            for i in range(0, len(source), batch_size)
        ]
    )
