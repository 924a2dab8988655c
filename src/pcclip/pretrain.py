"""Base CLIP for the embedded default: standard contrastive pretraining on captioned scenes.

No pretrained CLIP exists offline, so pcclip makes its own. With an HF text tower (MiniLM) the
pretrained trunk stays locked, as in LiT with the roles swapped: its pooled caption features are
computed once, and each step trains the image tower, the text projection and the logit scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.hf_model import HFTextEncoder
from open_clip.loss import ClipLoss
from tqdm.auto import tqdm

from .config import PretrainSettings
from .encode import images_to_tensor, model_device, tokenize
from .losses import MAX_LOGIT_SCALE
from .optim import epoch_batches, steps_per_epoch, train_loop


@torch.no_grad()
def pooled_text_features(model, tokenizer, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """The HF trunk's pooled features (before the projection) for each text."""
    text_tower: HFTextEncoder = model.text
    text_tower.eval()
    feats = []
    for i in tqdm(range(0, len(texts), batch_size), desc="caption features", unit="batch", dynamic_ncols=True):
        ids = tokenize(model, tokenizer, texts[i : i + batch_size]).to(model_device(model))
        mask = (ids != text_tower.config.pad_token_id).long()
        out = text_tower.transformer(input_ids=ids, attention_mask=mask)
        feats.append(text_tower.pooler(out, mask))
    return torch.cat(feats)


def pretrain_clip(
    model,
    tokenizer,
    images: np.ndarray,
    captions: Sequence[Sequence[str]],
    settings: PretrainSettings,
    state_path: Path | None = None,
    log_dir: Path | None = None,
) -> list[float]:
    """Train `model` in place on images[i] <-> captions[i][k] (k drawn per step); returns step losses."""
    n_images, n_variants = len(images), len(captions[0])
    torch.manual_seed(settings.seed)
    locked_trunk = settings.lock_text_trunk and isinstance(getattr(model, "text", None), HFTextEncoder)
    if locked_trunk:
        flat = [c for variants in captions for c in variants]
        unique = sorted(set(flat))  # phrasings repeat across scenes: encode each string once
        row = {text: i for i, text in enumerate(unique)}
        unique_feats = pooled_text_features(model, tokenizer, unique)
        caption_feats = unique_feats[torch.tensor([row[c] for c in flat])].view(n_images, n_variants, -1)
        for p in model.text.transformer.parameters():
            p.requires_grad_(False)
    else:
        caption_ids = [tokenize(model, tokenizer, [v[k] for v in captions]) for k in range(n_variants)]

    # Which caption variant each image gets in an epoch is a function of (seed, image, epoch), not of
    # a stateful generator, so a resumed run draws the same ones.
    variants = torch.randint(n_variants, (settings.epochs, n_images), generator=torch.Generator().manual_seed(settings.seed + 1))
    per_epoch = steps_per_epoch(n_images, settings.batch_size)

    def batches(start: int):
        """Rows of (image index, caption variant)."""
        for step, index in enumerate(epoch_batches(n_images, settings.batch_size, settings.epochs, settings.seed, start), start):
            yield torch.stack([index, variants[step // per_epoch, index]], dim=1)

    clip_loss = ClipLoss()

    def compute_loss(rows: torch.Tensor) -> torch.Tensor:
        batch, variant = rows[:, 0], rows[:, 1]
        image_feats = model.encode_image(images_to_tensor(images[batch.numpy()], model))
        if locked_trunk:
            text_feats = model.text.proj(caption_feats[batch, variant])
        else:
            ids = torch.stack([caption_ids[k][i] for i, k in zip(batch.tolist(), variant.tolist())]).to(model_device(model))
            text_feats = model.encode_text(ids)
        return clip_loss(F.normalize(image_feats, dim=-1), F.normalize(text_feats, dim=-1), model.logit_scale.exp())

    def after_step(step: int) -> None:
        with torch.no_grad():
            model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)

    model.train()
    if locked_trunk:
        model.text.transformer.eval()  # no dropout in the locked trunk
    losses = train_loop(
        model,
        batches,
        compute_loss,
        settings,
        n_items=n_images,
        desc="pretrain base CLIP",
        state_path=state_path,
        after_step=after_step,
        log_dir=log_dir,
        extra_scalars=lambda: {"train/logit_scale": model.logit_scale.exp().item()},
        data_parallel=False,  # one process pretrains (under torchrun, rank 0 while the others wait)
    )
    model.eval()
    return losses
