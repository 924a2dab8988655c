"""Text-only PC-CLIP finetuning: image embeddings computed once (the fast path) vs the frozen image
tower run on every step's images. Same pairs, sentences, settings and seed, side by side in one run.

    .venv/bin/python benchmarks/finetune_fast_path.py                                # the embedded default
    .venv/bin/python benchmarks/finetune_fast_path.py --image-tower ViT-B-32 --pairs 256

--image-tower takes any open_clip architecture: its image tower (random weights: speed does not
depend on them), at its own resolution, with the embedded default's MiniLM text tower. An epoch's
time is the median step time x the steps in an epoch, from the steps after the first (the fast
path's one-off embedding of every training image is reported apart, with the epoch count from which
it has paid for itself).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import open_clip
import torch

from pcclip.cache import write_json
from pcclip.config import RunSettings
from pcclip.finetune import PairData, finetune_pc
from pcclip.models import create_model, register_model_configs
from pcclip.optim import steps_per_epoch
from pcclip.pipeline import Pipeline, pair_data


def model_name(image_tower: str | None, folder: Path) -> str:
    """The embedded default's architecture, or `image_tower`'s image tower with its MiniLM text tower."""
    default = RunSettings().model.name
    if image_tower is None:
        return default
    register_model_configs()
    vision = open_clip.get_model_config(image_tower)
    text = open_clip.get_model_config(default)
    name = f"benchmark-{image_tower}-minilm"
    write_json(
        folder / f"{name}.json",
        {"embed_dim": vision["embed_dim"], "vision_cfg": vision["vision_cfg"], "text_cfg": text["text_cfg"]},
    )
    open_clip.add_model_config(folder)
    return name


def timed_finetune(name: str, data: PairData, settings, cached: bool) -> tuple[float, list[float]]:
    """(seconds in all, seconds of every step)."""
    torch.manual_seed(0)
    model, tokenizer = create_model(name)
    step_ends = [time.perf_counter()]
    start = step_ends[0]
    finetune_pc(
        model,
        tokenizer,
        data,
        settings.model_copy(update={"cache_image_embeddings": cached}),
        seed=0,
        log=lambda _: None,
        after_step=lambda _: step_ends.append(time.perf_counter()),
    )
    return time.perf_counter() - start, [b - a for a, b in itertools.pairwise(step_ends)]


def training_pairs(run: RunSettings, limit: int | None) -> tuple[list, dict, object]:
    """(the first `limit` training pairs of `pcclip run`'s pool, default its train fraction; their
    oracle sentences; the image loader)."""
    pipeline = Pipeline(run, Path(tempfile.mkdtemp()), log=lambda _: None)
    sentences, _ = pipeline.comparisons("run", run.generator)  # the store `pcclip run` fills
    pairs, load_images = pipeline.pair_pool
    return pairs[: limit or round(run.pairs.train_fraction * len(pairs))], sentences, load_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-tower", help="an open_clip architecture whose image tower to use, e.g. ViT-B-32")
    parser.add_argument("--pairs", type=int, help="training pairs (default: the embedded default's 80%% of 1,000)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = RunSettings()
    chosen, sentences, load_images = training_pairs(run, args.pairs)
    with tempfile.TemporaryDirectory() as folder:
        name = model_name(args.image_tower, Path(folder))
        data = pair_data(chosen, sentences, load_images, create_model(name)[0])
        settings = run.finetune.model_copy(update={"epochs": args.epochs})
        results = {cached: timed_finetune(name, data, settings, cached) for cached in (True, False)}
    per_epoch = steps_per_epoch(len(chosen), settings.batch_size)
    step = {cached: statistics.median(steps[1:] or steps) for cached, (_, steps) in results.items()}
    epoch = {cached: step[cached] * per_epoch for cached in results}
    # What each run spent besides its steps at their median (set-up, and for the fast path the
    # embedding of every training image): the difference is the fast path's one-off cost.
    overhead = {cached: total - step[cached] * len(steps) for cached, (total, steps) in results.items()}
    one_off = overhead[True] - overhead[False]
    side = data.images.shape[1]
    print(
        f"{name} ({side} px), text blocks finetune: {len(chosen)} pairs ({len(data.images)} images), "
        f"batch {settings.batch_size}, {per_epoch} steps per epoch, {args.epochs} epoch(s), {args.threads} threads"
    )
    print(f"  per epoch, image embeddings cached:  {epoch[True]:8.2f} s")
    print(f"  per epoch, image tower every step:   {epoch[False]:8.2f} s")
    print(f"  ratio per epoch: {epoch[False] / epoch[True]:.1f}x")
    saved = epoch[False] - epoch[True]
    paid = f"{one_off / saved:.1f} epochs" if saved > 0 else "never"
    print(f"  one-off embedding of the {len(data.images)} images (fast path only): {one_off:.2f} s; paid for after {paid}")
    print(f"  in all, {args.epochs} epoch(s): cached {results[True][0]:.1f} s, every step {results[False][0]:.1f} s")


if __name__ == "__main__":
    main()
