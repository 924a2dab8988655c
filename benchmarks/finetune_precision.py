"""The embedded default's text-blocks finetune in fp32 and under bf16 autocast (`finetune.precision`),
side by side in one run: same pairs, sentences, settings and seed, image embeddings cached (the
default). An epoch's time is the median step x the steps of an epoch, from the steps after the first.

    .venv/bin/python benchmarks/finetune_precision.py            # 1 epoch of 1,600 pairs, 2 threads
"""

from __future__ import annotations

import argparse
import statistics

import torch

from finetune_fast_path import timed_finetune, training_pairs
from pcclip.config import RunSettings
from pcclip.models import create_model
from pcclip.optim import steps_per_epoch
from pcclip.pipeline import pair_data
from pcclip.provenance import hardware


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, help="training pairs (default: the embedded default's 80%% of the pool)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = RunSettings()
    chosen, sentences, load_images = training_pairs(run, args.pairs)
    name = run.model.name
    data = pair_data(chosen, sentences, load_images, create_model(name)[0])
    per_epoch = steps_per_epoch(len(chosen), run.finetune.batch_size)
    epoch = {}
    for precision in ("fp32", "bf16"):
        settings = run.finetune.model_copy(update={"epochs": args.epochs, "precision": precision})
        _, steps = timed_finetune(name, data, settings, cached=True)
        epoch[precision] = statistics.median(steps[1:] or steps) * per_epoch
    print(
        f"{name}, text blocks finetune: {len(chosen)} pairs, batch {run.finetune.batch_size}, {per_epoch} steps per "
        f"epoch, {args.threads} threads; {hardware()}"
    )
    for precision, seconds in epoch.items():
        print(f"  per epoch, {precision}: {seconds:8.2f} s ({seconds / per_epoch:.3f} s per step)")
    print(f"  bf16 / fp32 time: {epoch['bf16'] / epoch['fp32']:.2f}x")


if __name__ == "__main__":
    main()
