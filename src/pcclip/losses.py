"""Losses: the PC-CLIP difference losses, built on open_clip's (distributed-aware) ClipLoss.

The contrastive difference loss is CLIP's symmetric cross-entropy with the normalised image-embedding
difference in the place of the image feature, so open_clip's ClipLoss computes it (and gathers
features across ranks under DDP); only the inputs and the temperature differ from CLIP training.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's clamp on a learned temperature


def difference_directions(image_a: torch.Tensor, image_b: torch.Tensor) -> torch.Tensor:
    """normalize(normalize(a) - normalize(b)): the direction from image b to image a."""
    return F.normalize(F.normalize(image_a, dim=-1) - F.normalize(image_b, dim=-1), dim=-1)


class PCContrastiveLoss(torch.nn.Module):
    """The paper's loss: S_kl = <t_k, d_l> / tau, symmetric cross-entropy over the batch.

    t_k is the normalised embedding of pair k's difference sentence, d_l the difference direction of
    pair l; the other pairs of the batch (of all ranks, under DDP) are the negatives. tau is fixed (the
    paper: 1) or learned as log(1 / tau), clamped like CLIP's logit scale.

    With `reversed_negatives`, each sentence also meets every pair's REVERSED direction (b - a) as a
    negative, its own pair's among them: a sentence that fits both orders of its pair then costs
    loss, so the text tower must read the direction, not only the attribute. Since <t, -d> = -<t, d>,
    these logits are the negated ones and cost no extra encoding.
    """

    def __init__(
        self,
        temperature: float = 1.0,
        learnable: bool = False,
        rank: int = 0,
        world_size: int = 1,
        reversed_negatives: bool = False,
    ):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if learnable:
            self.log_scale = torch.nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)
        from open_clip.loss import ClipLoss  # here, not above: config.py reads LOSSES, and open_clip takes seconds to import

        self.clip_loss = ClipLoss(rank=rank, world_size=world_size, gather_with_grad=world_size > 1)
        self.reversed_negatives = reversed_negatives

    def forward(self, image_a: torch.Tensor, image_b: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        directions = difference_directions(image_a, image_b)
        scale = self.log_scale.clamp(max=MAX_LOGIT_SCALE).exp()
        if not self.reversed_negatives:
            return self.clip_loss(directions, F.normalize(text, dim=-1), scale)
        per_direction, per_text = self.clip_loss.get_logits(directions, F.normalize(text, dim=-1), scale)
        labels = self.clip_loss.get_ground_truth(directions.device, per_direction.shape[0])
        with_reversed = torch.cat([per_text, -per_text], dim=1)
        return (F.cross_entropy(per_direction, labels) + F.cross_entropy(with_reversed, labels)) / 2


class PCMSELoss(torch.nn.Module):
    """The paper's MSE variant: mean((t - u)^2) with u = normalize(a) - normalize(b) NOT renormalised."""

    def forward(self, image_a: torch.Tensor, image_b: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        u = F.normalize(image_a, dim=-1) - F.normalize(image_b, dim=-1)
        return F.mse_loss(F.normalize(text, dim=-1), u)


@dataclass(frozen=True)
class PCLoss:
    """A difference loss as the settings name it: build(temperature, learn_temperature, rank, world_size,
    reversed_negatives)."""

    build: Callable[[float, bool, int, int, bool], torch.nn.Module]
    contrastive: bool  # has a temperature and in-batch negatives
    description: str


# The one registry of difference losses: settings, finetuning and docs read it.
LOSSES: dict[str, PCLoss] = {
    "contrastive": PCLoss(PCContrastiveLoss, True, "symmetric cross-entropy over the batch, temperature tau (the paper's)"),
    "mse": PCLoss(lambda *_: PCMSELoss(), False, "mean squared error to the unnormalised difference (the paper's ablation)"),
}
