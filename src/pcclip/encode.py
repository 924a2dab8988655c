"""Turn images and texts into CLIP embeddings, in batches, without gradients.

Images arrive as uint8 arrays (N, H, W, 3) already at the model's resolution (the procedural world
renders at that size), so preprocessing is only scaling and normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from open_clip.hf_model import HFTextEncoder

from .errors import PcclipError


def image_size(model) -> int:
    size = model.visual.image_size
    return size[0] if isinstance(size, (tuple, list)) else int(size)


def images_to_tensor(images: np.ndarray, model) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> normalised float (N, 3, H, W) with the model's mean and std, on its device."""
    expected = image_size(model)
    if images.ndim != 4 or images.shape[1:] != (expected, expected, 3):
        raise PcclipError(f"images have shape {images.shape}; the model expects (N, {expected}, {expected}, 3)")
    cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
    device = model_device(model)  # uint8 pixels travel to the model's device, 4x smaller than floats
    mean = torch.tensor(cfg.get("mean", OPENAI_DATASET_MEAN), device=device).view(1, 3, 1, 1)
    std = torch.tensor(cfg.get("std", OPENAI_DATASET_STD), device=device).view(1, 3, 1, 1)
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - mean) / std


def model_device(model) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def tokenize(model, tokenizer, texts: Sequence[str]) -> torch.Tensor:
    return fit_tokens(model, tokenizer(list(texts)))


def fit_tokens(model, ids: torch.Tensor) -> torch.Tensor:
    """Drop trailing padding columns where the text tower allows it: open_clip pads to the full
    context, which roughly doubles an HF tower's cost on short sentences (HF towers mask padding;
    open_clip's own text transformer needs the full context for its fixed attention mask)."""
    if not isinstance(getattr(model, "text", None), HFTextEncoder):
        return ids
    used = (ids != model.text.config.pad_token_id).any(dim=0).nonzero()
    return ids[:, : int(used.max()) + 1] if len(used) else ids[:, :1]


@torch.no_grad()
def encode_images(model, images: np.ndarray, batch_size: int = 256, normalize: bool = True) -> torch.Tensor:
    model.eval()
    if len(images) == 0:
        raise PcclipError("no images to encode")
    feats = torch.cat(
        [  # back on the CPU, where the metrics and caches work
            model.encode_image(images_to_tensor(images[i : i + batch_size], model)).cpu()
            for i in range(0, len(images), batch_size)
        ]
    )
    return F.normalize(feats, dim=-1) if normalize else feats


@torch.no_grad()
def encode_texts(model, tokenizer, texts: Sequence[str], batch_size: int = 256, normalize: bool = True) -> torch.Tensor:
    """Encode texts; sorting by length first keeps padding (and so wasted work) small."""
    model.eval()
    texts = list(texts)
    if not texts:
        raise PcclipError("no texts to encode")
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    feats = []
    for i in range(0, len(order), batch_size):
        ids = tokenize(model, tokenizer, [texts[j] for j in order[i : i + batch_size]])
        feats.append(model.encode_text(ids.to(model_device(model))).cpu())
    sorted_feats = torch.cat(feats)
    result = torch.empty_like(sorted_feats)
    result[torch.tensor(order)] = sorted_feats
    return F.normalize(result, dim=-1) if normalize else result
