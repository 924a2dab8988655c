"""Two CPU processes (gloo) on a global batch give the single process's loss and gradients."""

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pcclip.config import FinetuneSettings
from pcclip.finetune import PairData, finetune_pc
from pcclip.models import create_model

SETTINGS = dict(trainable="both", epochs=1, batch_size=8, lr=1e-3, warmup_steps=0, grad_clip=0)


def data() -> PairData:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(10, 32, 32, 3), dtype=np.uint8)
    pairs = [(i, (i + 3) % 10) for i in range(8)]
    sentences = [
        f"the first image has {w} objects" for w in ("more", "fewer", "larger", "smaller", "red", "blue", "left", "right")
    ]
    captions = [f"scene number {i}" for i in range(10)]
    return PairData(images, pairs, sentences, captions)


def train(overrides: dict) -> tuple[list[float], dict[str, torch.Tensor]]:
    """Losses of every step and gradients of the last one, seen from this process."""
    torch.manual_seed(0)
    model, tokenizer = create_model("pcclip-vit-nano")
    grads = {}

    def keep_grads(step: int) -> None:
        grads.update({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})

    settings = FinetuneSettings(**{**SETTINGS, **overrides})
    losses = finetune_pc(model, tokenizer, data(), settings, seed=0, after_step=keep_grads, log=lambda _: None)
    return losses, grads


def worker(rank: int, world_size: int, init_file: str, overrides: dict, results) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        results[rank] = train(overrides)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"caption_loss_weight": 0.5},
        # two micro-batches per step (each with its own negatives from both ranks), and a trainable
        # parameter without gradient (finetuning detaches logit_scale) over two steps
        {"caption_loss_weight": 0.5, "accum_steps": 2, "include": ("logit_scale",), "epochs": 2},
    ],
)
def test_two_ranks_match_one_process(tmp_path, overrides):
    single_losses, single_grads = train(overrides)
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(worker, args=(2, str(tmp_path / "init"), overrides, results), nprocs=2, join=True)
        ranks = [results[0], results[1]]
    for losses, grads in ranks:
        assert losses == pytest.approx(single_losses, rel=1e-5)
        assert grads.keys() == single_grads.keys()
        for name, grad in grads.items():
            assert torch.allclose(grad, single_grads[name], rtol=1e-4, atol=1e-6), name
