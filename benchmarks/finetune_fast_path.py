"""Text-only PC-CLIP finetuning on the embedded default: image embeddings computed once (the fast
path) vs the frozen image tower run on every step's images. Same pairs, settings and seed, one run.

    .venv/bin/python benchmarks/finetune_fast_path.py [--epochs 1]
"""

from __future__ import annotations

import argparse
import time

import torch

from pcclip.config import RunSettings
from pcclip.finetune import finetune_pc
from pcclip.models import create_model
from pcclip.pipeline import Pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = RunSettings()
    pipeline = Pipeline(settings, "runs/benchmark-fast-path", log=lambda _: None)
    data = pipeline.training_data(pipeline.comparisons("run", settings.generator)[0], seed=0)
    times = {}
    for cached in (True, False):
        torch.manual_seed(0)
        model, tokenizer = create_model(settings.model.name)  # speed does not depend on the weights
        ft = settings.finetune.model_copy(update={"epochs": args.epochs, "cache_image_embeddings": cached})
        start = time.perf_counter()
        finetune_pc(model, tokenizer, data, ft, seed=0, log=lambda _: None)
        times[cached] = time.perf_counter() - start
    print(
        f"text-blocks finetune, {len(data.pairs)} pairs x {args.epochs} epoch(s), "
        f"batch {settings.finetune.batch_size}, {args.threads} threads"
    )
    print(f"  image embeddings cached (computed once): {times[True]:7.1f} s")
    print(f"  image tower run every step:              {times[False]:7.1f} s")
    print(f"  ratio: {times[False] / times[True]:.2f}x")


if __name__ == "__main__":
    main()
