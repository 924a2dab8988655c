"""Images of real datasets, loaded lazily and brought to a model's square input the way CLIP does
(shorter side resized with bicubic filtering, centre crop), then embedded in batches."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..encode import encode_images, image_size
from ..errors import PcclipError


def fit_square(image: Image.Image, size: int) -> np.ndarray:
    """An RGB image as uint8 (size, size, 3): shorter side resized to `size`, centre crop."""
    image = image.convert("RGB")
    if image.size != (size, size):
        w, h = image.size
        scale = size / min(w, h)
        w, h = max(size, round(w * scale)), max(size, round(h * scale))
        image = image.resize((w, h), Image.Resampling.BICUBIC)
        left, top = (w - size) // 2, (h - size) // 2
        image = image.crop((left, top, left + size, top + size))
    return np.asarray(image, dtype=np.uint8)


class ImageSource(Protocol):
    """A dataset's images in a fixed order, loaded on demand at any square size."""

    def __len__(self) -> int: ...

    def load(self, indices: Sequence[int], size: int) -> np.ndarray:
        """uint8 (len(indices), size, size, 3)."""
        ...


class ImageFiles:
    """Images stored as files (ImageFolder, CUB, AwA2, COCO)."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = [Path(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, indices: Sequence[int], size: int) -> np.ndarray:
        out = np.empty((len(indices), size, size, 3), dtype=np.uint8)
        for row, i in enumerate(indices):
            path = self.paths[i]
            try:
                with Image.open(path) as image:
                    out[row] = fit_square(image, size)
            except FileNotFoundError:
                raise PcclipError(f"{path}: image file not found; the dataset's index lists it") from None
            except (UnidentifiedImageError, OSError) as e:
                raise PcclipError(f"{path}: not a readable image ({e})") from None
            except Image.DecompressionBombError as e:  # a header claiming billions of pixels: never decoded
                raise PcclipError(f"{path}: image too large to load ({e})") from None
        return out


class ImageArray:
    """Images held in memory as uint8 (N, H, W, 3) (CIFAR's pickled batches)."""

    def __init__(self, array: np.ndarray):
        if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise PcclipError(f"an image array must be uint8 (N, H, W, 3); got {array.dtype} {array.shape}")
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def load(self, indices: Sequence[int], size: int) -> np.ndarray:
        chosen = self.array[np.asarray(indices, dtype=np.int64)]
        if chosen.shape[1:3] == (size, size):
            return chosen
        return np.stack([fit_square(Image.fromarray(image), size) for image in chosen]) if len(chosen) else chosen


def encode_image_source(model, source: ImageSource, batch_size: int = 256) -> torch.Tensor:
    """Normalised image embeddings of every image in `source`, loading one batch at a time."""
    if len(source) == 0:
        raise PcclipError("no images to encode")
    size = image_size(model)
    return torch.cat([
        encode_images(model, source.load(range(i, min(i + batch_size, len(source))), size), batch_size)
        for i in range(0, len(source), batch_size)
    ])
