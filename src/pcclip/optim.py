"""The optimisation loop shared by base pretraining and PC-CLIP finetuning.

AdamW (or the paper's Adam) with weight decay on matrices only (not on gains, biases or scales, as
open_clip does); warmup + cosine, the paper's per-epoch exponential decay, or a constant rate;
gradient clipping and accumulation; bf16 autocast; optional torch.compile of the loss computation;
seeded data order; gradients averaged across ranks by DistributedDataParallel under torchrun; and a
resumable training state (model, optimizer, step, RNG) saved atomically, so that a run killed at step
k and resumed ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from .cache import atomic_write
from .config import OptimSettings
from .errors import PcclipError
from .provenance import cpu_flags


def make_optimizer(params: list[torch.nn.Parameter], settings: OptimSettings) -> torch.optim.Optimizer:
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [
        g
        for g in ({"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0})
        if g["params"]
    ]
    # On a GPU the fused kernel updates all parameters in a few launches (CPU keeps torch's default).
    fused: dict[str, Any] = {"fused": True} if all(p.is_cuda for p in params) else {}
    if settings.optimizer == "adam":  # torch's Adam adds decay to the gradient (L2), as the paper's code does
        return torch.optim.Adam(groups, lr=settings.lr, **fused)
    return torch.optim.AdamW(groups, lr=settings.lr, **fused)


def lr_at(step: int, total_steps: int, steps_per_epoch: int, settings: OptimSettings) -> float:
    """The learning rate of optimiser step `step` (0-based)."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    if settings.schedule == "constant":
        return settings.lr
    if settings.schedule == "exponential":
        return settings.lr * settings.gamma ** (step // steps_per_epoch)
    progress = (step - settings.warmup_steps) / max(1, total_steps - settings.warmup_steps)
    return 0.5 * settings.lr * (1.0 + math.cos(math.pi * min(1.0, progress)))


def steps_per_epoch(n_items: int, batch_size: int) -> int:
    return max(1, n_items // batch_size)


def epoch_batches(
    n_items: int,
    batch_size: int,
    epochs: int,
    seed: int,
    start_step: int = 0,
    lengths: torch.Tensor | None = None,
    window_batches: int = 16,
) -> Iterator[torch.Tensor]:
    """Index batches over `epochs` seeded shuffles, from optimiser step `start_step` on. The last
    short batch of an epoch is dropped (contrastive losses want full batches of negatives) unless the
    epoch is a single batch.

    With `lengths` (one per item), each shuffle is cut into windows of `window_batches` batches, a
    window is sorted by length and cut into batches, and the epoch's batches are shuffled again: each
    batch is still a random draw, but of items of similar length, so a text batch pads little."""
    generator = torch.Generator().manual_seed(seed)
    per_epoch = steps_per_epoch(n_items, batch_size)
    for epoch in range(epochs):
        order = torch.randperm(n_items, generator=generator)  # drawn every epoch, so skipping stays in sync
        if lengths is not None:
            windows = order.split(window_batches * batch_size)
            order = torch.cat([w[torch.argsort(lengths[w], stable=True)] for w in windows])
        batches = [order[i * batch_size : (i + 1) * batch_size] for i in range(per_epoch)]
        if lengths is not None:
            batches = [batches[i] for i in torch.randperm(per_epoch, generator=generator)]
        for i, batch in enumerate(batches):
            if epoch * per_epoch + i >= start_step:
                yield batch


def distributed_rank_and_size() -> tuple[int, int]:
    """(rank, world size) under torchrun / an initialised process group, else (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def resolve_device(choice: str) -> torch.device:
    """'cpu', 'cuda' (this rank's GPU, LOCAL_RANK) or 'auto' (cuda when a GPU is visible)."""
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise PcclipError("device cuda: no CUDA GPU is visible to this process; use device cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if local_rank >= torch.cuda.device_count():
        raise PcclipError(
            f"LOCAL_RANK {local_rank} but {torch.cuda.device_count()} CUDA GPU(s) visible: "
            "start at most one process per GPU (torchrun --nproc_per_node)"
        )
    return torch.device("cuda", local_rank)


OptimT = TypeVar("OptimT", bound=OptimSettings)

# CPU instructions that compute bf16 matrix products natively; without them autocast emulates bf16.
# Measured on an Intel Xeon with both (benchmarks/RESULTS.md): a text-blocks step 1.7x faster than fp32.
CPU_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 natively: a CUDA GPU that supports it, or a CPU with AMX or
    AVX512-BF16 (read from /proc/cpuinfo; another OS's CPU counts as without)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bool(CPU_BF16_FLAGS & cpu_flags())


def concrete_precision(settings: OptimT, device: torch.device) -> OptimT:
    """`settings` with precision 'auto' made bf16 or fp32 for `device`: resolved before anything is
    hashed, so a cache key names the precision that ran."""
    if settings.precision != "auto":
        return settings
    return settings.model_copy(update={"precision": "bf16" if native_bf16(device) else "fp32"})


def autocast(settings: OptimSettings, device: torch.device):
    if concrete_precision(settings, device).precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


class LossModule(torch.nn.Module):
    """`module` with the loss computation as its forward: DistributedDataParallel must see every
    forward that produces gradients, and the loss computations call encode_text / encode_image."""

    def __init__(self, module: torch.nn.Module, compute_loss: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.module = module
        self.compute_loss = compute_loss

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.compute_loss(batch)


def wrap_data_parallel(module: torch.nn.Module, compute_loss: Callable[[torch.Tensor], torch.Tensor]) -> DistributedDataParallel:
    """The loss computation under DistributedDataParallel, which averages the trainable parameters'
    gradients across ranks during backward. device_ids stays None so that the index batches stay on
    the CPU, where the images are. Unused parameters are looked for (a graph walk per forward): a
    trainable one may get no gradient (`include` naming logit_scale, which finetuning detaches),
    and DDP would otherwise stop at the next step."""
    return DistributedDataParallel(LossModule(module, compute_loss), device_ids=None, find_unused_parameters=True)


def save_train_state(
    path: Path, module: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, losses: list[float]
) -> None:
    """One file, written atomically, that `torch.load(weights_only=True)` reads back."""
    state = {
        "module": module.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "losses": losses,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    atomic_write(Path(path), lambda tmp: torch.save(state, tmp))


def load_train_state(path: Path, module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, list[float]]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
    except Exception as e:  # a truncated or foreign file: say which, and how to start over
        raise PcclipError(
            f"{path}: cannot resume from this training state ({str(e).splitlines()[0][:200]}); delete it to start over"
        ) from None
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"]:
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"]), list(state["losses"])


def stop_non_finite(
    desc: str, step: int, loss: float, grad_norm: float, state_path: Path | None, module, optimizer, losses
) -> None:
    """Stop before a NaN or infinite update reaches the weights, keeping them as the last good state."""
    kept = ""
    if state_path is not None:
        save_train_state(state_path, module, optimizer, step, losses)
        kept = f" The training state before this step (the last good one) is kept in {state_path}."
    raise PcclipError(
        f"{desc}: the loss is {loss} (gradient norm {grad_norm}) at step {step}; stopped before updating the weights.{kept} "
        "Lower the learning rate, set grad_clip, or use precision='fp32', then rerun."
    )


def train_loop(
    module: torch.nn.Module,
    batches: Callable[[int], Iterator[torch.Tensor]],
    compute_loss: Callable[[torch.Tensor], torch.Tensor],
    settings: OptimSettings,
    *,
    n_items: int,
    desc: str,
    state_path: Path | None = None,
    after_step: Callable[[int], None] | None = None,
    log_dir: Path | None = None,
    extra_scalars: Callable[[], dict[str, float]] | None = None,
    data_parallel: bool = True,
) -> list[float]:
    """Train the parameters of `module` that require grad; returns the loss of every step.

    batches(start_step) yields the index batches from that step on. With `state_path`, a saved state
    there is resumed and a new one is written every settings.checkpoint_every steps (removed at the end).
    With `log_dir`, loss, learning rate, throughput and `extra_scalars()` go to TensorBoard.
    Under torchrun the ranks train together, unless `data_parallel` is False: then this process
    trains alone (rank 0 pretraining the base while the other ranks wait).
    """
    params = [p for p in module.parameters() if p.requires_grad]
    device = params[0].device
    rank, world_size = distributed_rank_and_size() if data_parallel else (0, 1)
    if settings.compile:
        compute_loss = torch.compile(compute_loss)
    ddp: DistributedDataParallel | None = None
    if world_size > 1:
        # Every rank computes the same global loss (features are gathered with gradient), so the
        # mean of the ranks' gradients is the single-process gradient of the global batch.
        compute_loss = ddp = wrap_data_parallel(module, compute_loss)
    optimizer = make_optimizer(params, settings)
    per_epoch = steps_per_epoch(n_items, settings.batch_size)
    total_steps = per_epoch * settings.epochs
    start = 0
    losses: list[float] = []
    if state_path is not None and Path(state_path).is_file():
        start, losses = load_train_state(state_path, module, optimizer)
    writer = SummaryWriter(str(log_dir)) if log_dir is not None and rank == 0 else None
    bar = tqdm(
        batches(start), total=total_steps, initial=start, desc=desc, unit="step", dynamic_ncols=True, disable=rank != 0 or None
    )
    for step, batch in enumerate(bar, start=start):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total_steps, per_epoch, settings)
        optimizer.zero_grad(set_to_none=True)
        step_start = time.perf_counter()
        step_loss = torch.zeros((), dtype=torch.float64, device=device)  # summed on the device: no sync per micro-batch
        micros = batch.chunk(settings.accum_steps)
        for i, micro in enumerate(micros):
            # One all-reduce per step: DDP averages the gradients in the last micro-batch's backward.
            with nullcontext() if ddp is None or i == len(micros) - 1 else ddp.no_sync():
                with autocast(settings, device):
                    loss = compute_loss(micro) / settings.accum_steps
                loss.backward()
            step_loss += loss.detach()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, settings.grad_clip or math.inf)  # inf: measure, do not clip
        # The step's one host sync: the update must not run on a non-finite loss or gradient.
        step_loss, norm = torch.stack([step_loss, grad_norm.to(step_loss)]).tolist()
        if not (math.isfinite(step_loss) and math.isfinite(norm)):
            stop_non_finite(desc, step, step_loss, norm, state_path if rank == 0 else None, module, optimizer, losses)
        optimizer.step()
        losses.append(step_loss)
        if writer is not None:
            writer.add_scalar("train/loss", step_loss, step)
            writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], step)
            writer.add_scalar("train/samples_per_s", len(batch) / (time.perf_counter() - step_start), step)
            for name, value in (extra_scalars() if extra_scalars else {}).items():
                writer.add_scalar(name, value, step)
        if state_path is not None and rank == 0 and settings.checkpoint_every and (step + 1) % settings.checkpoint_every == 0:
            save_train_state(state_path, module, optimizer, step + 1, losses)
        if after_step is not None:
            after_step(step)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{step_loss:.3f}")
    bar.close()
    if writer is not None:
        writer.close()
    if state_path is not None and rank == 0:
        Path(state_path).unlink(missing_ok=True)
    return losses
