"""The optimisation loop shared by base pretraining and PC-CLIP finetuning.

AdamW with weight decay on matrices only (not on gains, biases or the logit scale, as open_clip
does), linear warmup then cosine decay, gradient clipping, and seeded data order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from tqdm.auto import tqdm


def make_optimizer(params: list[torch.nn.Parameter], lr: float, weight_decay: float) -> torch.optim.AdamW:
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Linear warmup to base_lr over warmup_steps, then cosine decay to 0 at total_steps."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, progress)))


def epoch_batches(n_items: int, batch_size: int, epochs: int, seed: int) -> Iterator[torch.Tensor]:
    """Index batches over `epochs` seeded shuffles; the last short batch of an epoch is dropped
    (contrastive losses want full batches of negatives) unless the epoch is a single batch."""
    generator = torch.Generator().manual_seed(seed)
    per_epoch = max(1, n_items // batch_size)
    for _ in range(epochs):
        order = torch.randperm(n_items, generator=generator)
        for i in range(per_epoch):
            yield order[i * batch_size : (i + 1) * batch_size]


def steps_per_run(n_items: int, batch_size: int, epochs: int) -> int:
    return max(1, n_items // batch_size) * epochs


def train_loop(
    params: list[torch.nn.Parameter],
    batches: Iterator[torch.Tensor],
    compute_loss: Callable[[torch.Tensor], torch.Tensor],
    *,
    total_steps: int,
    lr: float,
    weight_decay: float,
    warmup_steps: int,
    grad_clip: float | None,
    desc: str,
    after_step: Callable[[], None] | None = None,
) -> list[float]:
    """Run `total_steps` optimiser steps; returns the loss of every step."""
    optimizer = make_optimizer(params, lr, weight_decay)
    losses: list[float] = []
    bar = tqdm(batches, total=total_steps, desc=desc, unit="step", dynamic_ncols=True)
    for step, batch in enumerate(bar):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total_steps, warmup_steps, lr)
        loss = compute_loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        if after_step is not None:
            after_step()
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    return losses
