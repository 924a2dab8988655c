"""Rendering speed of the procedural world on one thread, and a grid of samples to look at.

Renders the same scenes at 48, 64 and 96 px, prints images/s per size and the ratio to 64 px, and
saves a grid of 32 samples at 64 px.

    .venv/bin/python benchmarks/render_speed.py [--scenes 2000] [--out benchmarks/samples_64px.png]
"""

from __future__ import annotations

import os

# One thread, set before numpy loads: the requirement is >= 1000 images/s on one core at 64 px.
os.environ.update(dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1"))

import argparse
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pcclip.world.render import render_batch
from pcclip.world.scene import WorldConfig, sample_scenes

SIZES = (48, 64, 96)


def images_per_second(scenes: list, image_size: int, repeats: int = 3) -> float:
    """Best of `repeats` timed passes over all scenes (after one warm-up pass)."""
    render_batch(scenes[:50], image_size)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        render_batch(scenes, image_size)
        best = min(best, time.perf_counter() - start)
    return len(scenes) / best


def save_grid(path: Path, images: np.ndarray, columns: int = 8, border: int = 2) -> None:
    n, h, w, _ = images.shape
    rows = -(-n // columns)
    grid = np.full((rows * (h + border) + border, columns * (w + border) + border, 3), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[border + r * (h + border) :][:h, border + c * (w + border) :][:, :w] = image
    Image.fromarray(grid).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "samples_64px.png")
    args = parser.parse_args()

    start = time.perf_counter()
    scenes = sample_scenes(args.scenes, args.seed, WorldConfig())
    print(f"sampled {len(scenes)} scenes: {len(scenes) / (time.perf_counter() - start):.0f} scenes/s")
    speeds = {size: images_per_second(scenes, size) for size in SIZES}
    for size, speed in speeds.items():
        print(f"{size:3d} px: {speed:7.0f} images/s  ({speed / speeds[64]:.2f}x the 64 px rate)")
    save_grid(args.out, render_batch(scenes[:32], 64))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
