"""Losses: the PC-CLIP difference losses, built on open_clip's (distributed-aware) ClipLoss.

The contrastive difference loss is CLIP's symmetric cross-entropy with the normalised image-embedding
difference in the place of the image feature, so open_clip's ClipLoss computes it; only the inputs
and the (fixed) temperature differ from standard CLIP training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss


def difference_directions(image_a: torch.Tensor, image_b: torch.Tensor) -> torch.Tensor:
    """normalize(normalize(a) - normalize(b)): the direction from image b to image a."""
    return F.normalize(F.normalize(image_a, dim=-1) - F.normalize(image_b, dim=-1), dim=-1)


class PCContrastiveLoss(torch.nn.Module):
    """The paper's loss: S_kl = <t_k, d_l> / tau, symmetric cross-entropy over the batch.

    t_k is the normalised embedding of pair k's difference sentence, d_l the difference direction of
    pair l; the other pairs of the batch are the negatives.
    """

    def __init__(self, temperature: float = 1.0, rank: int = 0, world_size: int = 1):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.clip_loss = ClipLoss(rank=rank, world_size=world_size, gather_with_grad=world_size > 1)

    def forward(self, image_a: torch.Tensor, image_b: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        directions = difference_directions(image_a, image_b)
        return self.clip_loss(directions, F.normalize(text, dim=-1), 1.0 / self.temperature)


def pc_mse_loss(image_a: torch.Tensor, image_b: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """The paper's MSE variant: mean((t - u)^2) with u = normalize(a) - normalize(b) NOT renormalised."""
    u = F.normalize(image_a, dim=-1) - F.normalize(image_b, dim=-1)
    return F.mse_loss(F.normalize(text, dim=-1), u)
