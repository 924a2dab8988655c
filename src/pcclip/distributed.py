"""The finetune stage as one process or as one rank of a torchrun launch.

Under torchrun (WORLD_SIZE > 1) each process joins the process group (gloo on CPU, nccl on CUDA)
and trains on its own device; rank 0 builds the cached stages every rank reads (base model,
comparisons) while the others wait, then all ranks finetune together: finetune_pc splits the global
batch and gathers features, train_loop averages gradients with DistributedDataParallel, and rank 0
writes the checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from .config import RunSettings
from .errors import PcclipError
from .optim import distributed_rank_and_size, resolve_device
from .pipeline import Pipeline, use_threads

# `pcclip run` names its generator "run": the same name here shares the finetune cache with it, so
# `pcclip run` on the same config evaluates these checkpoints without training them again.
GENERATOR = "run"
# The other ranks wait while rank 0 may pretrain the base model or run an LLM over the pair pool.
PREPARE_TIMEOUT = timedelta(hours=6)


@contextmanager
def launched(device_choice: str = "auto") -> Iterator[torch.device]:
    """The device this process trains on; under torchrun also the process group, left at exit."""
    device = resolve_device(device_choice)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:  # not under torchrun: no process group
        yield device
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo",
            timeout=PREPARE_TIMEOUT,
            device_id=device if device.type == "cuda" else None,
        )
    except (ValueError, RuntimeError) as e:  # e.g. WORLD_SIZE set by hand, without torchrun's MASTER_ADDR
        raise PcclipError(f"cannot join the process group ({str(e).splitlines()[0][:200]}); launch with torchrun") from None
    try:
        yield device
    finally:
        dist.destroy_process_group()


@contextmanager
def rank_zero_first() -> Iterator[None]:
    """Rank 0 runs the body first; the other ranks run it once rank 0 is done (then from the cache)."""
    rank, world_size = distributed_rank_and_size()
    if rank > 0:
        dist.barrier()
    yield
    if rank == 0 and world_size > 1:
        dist.barrier()


def finetune_checkpoints(settings: RunSettings, output_dir: Path, seeds: Sequence[int]) -> list[Path]:
    """Finetune the run's base model on its comparisons, one checkpoint per seed (cached: a seed
    already finetuned with these settings is not trained again); returns the checkpoint paths."""
    rank, _ = distributed_rank_and_size()
    use_threads(settings.threads)
    pipeline = Pipeline(settings, output_dir, log=print if rank == 0 else lambda _: None)
    with rank_zero_first():  # rank 0 pretrains the base and writes the comparisons; the others read them
        _model, _tokenizer = pipeline.base
        pipeline.comparisons(GENERATOR, settings.generator)
    paths = []
    for seed in seeds:
        pipeline.finetuned(GENERATOR, settings.generator, settings.finetune, seed)
        paths.append(pipeline.finetune_path(GENERATOR, settings.generator, settings.finetune, seed))
    return paths
