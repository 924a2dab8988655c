"""PC-CLIP finetuning: which encoders train, the difference loss, and the fast path.

When the image tower is frozen (the paper's setting), image embeddings are computed once and the
steps run the text tower only; when it trains, the batch's images go through it every step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss

from .config import FinetuneSettings
from .encode import encode_images, fit_tokens, images_to_tensor, model_device, tokenize
from .errors import PcclipError
from .generate.clauses import swap_clauses
from .losses import LOSSES
from .optim import distributed_rank_and_size, epoch_batches, train_loop
from .towers import ENCODER_CHOICES, IMAGE_TOWER_PREFIX


def trainable_names(model: torch.nn.Module, choice: str, include=(), exclude=()) -> set[str]:
    """Parameter names that train for `choice` plus `include` patterns, minus `exclude` patterns
    (regexes searched in the names)."""
    train = [re.compile(ENCODER_CHOICES[choice].pattern), *map(re.compile, include)]
    freeze = [re.compile(p) for p in exclude]
    names = {
        name
        for name, _ in model.named_parameters()
        if any(p.search(name) for p in train) and not any(p.search(name) for p in freeze)
    }
    if not names:
        raise PcclipError(f"trainable={choice!r} with include={list(include)} exclude={list(exclude)} matches no parameter")
    return names


def select_trainable(model: torch.nn.Module, choice: str, include=(), exclude=()) -> tuple[int, int]:
    """Set requires_grad as `trainable_names` says; returns (trainable, frozen) parameter counts."""
    names = trainable_names(model, choice, include, exclude)
    counts = [0, 0]
    for name, param in model.named_parameters():
        param.requires_grad_(name in names)
        counts[name not in names] += param.numel()
    return counts[0], counts[1]


def image_tower_trains(model: torch.nn.Module, settings: FinetuneSettings) -> bool:
    names = trainable_names(model, settings.trainable, settings.include, settings.exclude)
    return any(name.startswith(IMAGE_TOWER_PREFIX) for name in names)


@dataclass
class PairData:
    """Training pairs over a set of images: pairs[k] = (a, b) indexes `images`; sentences[k] says how
    image a differs from image b; captions[i] (needed for the caption loss) describes image i."""

    images: np.ndarray  # (N, H, W, 3) uint8 at the model's resolution
    pairs: list[tuple[int, int]]
    sentences: list[str]
    captions: list[str] | None = None


def _swap_some_clauses(sentences: list[str], share: float, seed: int) -> list[str]:
    """Each sentence whose clauses can be swapped is swapped with probability `share` (drawn per seed)."""
    draws = np.random.default_rng([seed, 13]).random(len(sentences))
    return [
        swapped if draw < share and (swapped := swap_clauses(text)) else text for draw, text in zip(draws, sentences, strict=True)
    ]


def finetune_pc(
    model,
    tokenizer,
    data: PairData,
    settings: FinetuneSettings,
    seed: int,
    *,
    image_embeddings: torch.Tensor | None = None,
    state_path: Path | None = None,
    log=print,
    after_step=None,
    log_dir: Path | None = None,
) -> list[float]:
    """Finetune `model` in place; returns the loss of every step.

    `image_embeddings` (the frozen tower's outputs for data.images) may be passed to share them
    between runs; they are computed here when the image tower is frozen and they are not given.
    """
    if settings.caption_loss_weight > 0 and data.captions is None:
        raise PcclipError("caption_loss_weight > 0 needs a caption for every training image")
    torch.manual_seed(seed)
    trainable, frozen = select_trainable(model, settings.trainable, settings.include, settings.exclude)
    log(f"finetune {settings.trainable}: {trainable:,} trainable parameters, {frozen:,} frozen")
    if settings.dropout is not None:  # a module attribute, not a weight: the saved checkpoint is unchanged
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = settings.dropout
    image_trains = any(p.requires_grad for p in model.visual.parameters())
    embed_every_step = image_trains or not settings.cache_image_embeddings
    # Training runs on the model's device; pair indices stay on the CPU, where the images are.
    device = model_device(model)
    if embed_every_step:
        image_embeddings = None  # the tower runs on every step's images
    else:
        image_embeddings = (encode_images(model, data.images) if image_embeddings is None else image_embeddings).to(device)
    sentences = data.sentences
    if settings.swap_clauses > 0:
        sentences = _swap_some_clauses(sentences, settings.swap_clauses, seed)
        swapped = sum(a != b for a, b in zip(sentences, data.sentences, strict=True))
        log(f"swap_clauses: {swapped} of {len(sentences)} sentences swapped")
    sentence_ids = tokenize(model, tokenizer, sentences).to(device)
    caption_ids = None
    if settings.caption_loss_weight > 0 and data.captions is not None:  # (no captions with a weight: refused above)
        caption_ids = tokenize(model, tokenizer, data.captions).to(device)
    index = torch.tensor(data.pairs)
    # Characters stand in for tokens: batches of similar length pad little (fit_tokens trims the rest).
    lengths = torch.tensor([len(s) for s in data.sentences]) if settings.length_buckets else None
    rank, world_size = distributed_rank_and_size()
    pc_loss = (
        LOSSES[settings.loss]
        .build(settings.temperature, settings.learn_temperature, rank, world_size, settings.reversed_negatives)
        .to(device)
    )
    caption_loss = ClipLoss(rank=rank, world_size=world_size, gather_with_grad=world_size > 1)

    def temperature() -> float:  # the learned one (learn_temperature)
        return pc_loss.get_parameter("log_scale").neg().exp().item()

    def compute_loss(global_batch: torch.Tensor) -> torch.Tensor:
        batch = global_batch.chunk(world_size)[rank]  # this rank's share; negatives come from all ranks
        pair_images = torch.cat([index[batch, 0], index[batch, 1]])  # a's then b's
        images, inverse = torch.unique(pair_images, return_inverse=True)  # each image through the tower once
        if image_embeddings is None:  # embedded every step
            with torch.set_grad_enabled(image_trains):
                feats = model.encode_image(images_to_tensor(data.images[images.numpy()], model))[inverse]
        else:
            feats = image_embeddings[pair_images]
        loss = pc_loss(feats[: len(batch)], feats[len(batch) :], model.encode_text(fit_tokens(model, sentence_ids[batch])))
        if caption_ids is not None:
            # Rows stay one per pair side (fixed size across ranks for the gather); an image that
            # appears twice in a batch is then its own negative, a small cost at these batch sizes.
            captions = model.encode_text(fit_tokens(model, caption_ids[pair_images]))
            scale = model.logit_scale.exp().detach()
            loss = loss + settings.caption_loss_weight * caption_loss(
                F.normalize(feats, dim=-1), F.normalize(captions, dim=-1), scale
            )
        return loss

    trained = torch.nn.ModuleDict({"model": model, "loss": pc_loss})
    model.train()
    losses = train_loop(
        trained,
        lambda start: epoch_batches(len(data.pairs), settings.batch_size, settings.epochs, seed, start, lengths),
        compute_loss,
        settings,
        n_items=len(data.pairs),
        desc=f"PC-CLIP finetune {settings.trainable} (seed {seed})",
        state_path=state_path,
        after_step=after_step,
        log_dir=log_dir,
        extra_scalars=lambda: {"train/temperature": temperature()} if settings.learn_temperature else {},
    )
    model.eval()
    model.requires_grad_(True)
    if settings.learn_temperature:
        log(f"learned temperature: {temperature():.4f}")
    return losses


@torch.no_grad()
def weight_average(finetuned: torch.nn.Module, base_state: dict[str, torch.Tensor], alpha: float) -> None:
    """WiSE-FT in place: theta <- alpha * theta_finetuned + (1 - alpha) * theta_base (floating tensors)."""
    for name, tensor in finetuned.state_dict().items():
        if tensor.is_floating_point():
            tensor.mul_(alpha).add_(base_state[name].to(tensor.device, tensor.dtype), alpha=1 - alpha)
