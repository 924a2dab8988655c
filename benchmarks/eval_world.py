"""The evaluation suite on the world: a base model against PC-CLIP finetunes of it, every metric, and
the paper's comparative prompting at alpha 0.8 and 0.9 (and 0.5, for sensitivity) with class pairs chosen by text similarity
('nearest', 3 per class) or all pairs.

Each checkpoint's held-out embeddings are computed once and cached (see eval_speed.py).

    .venv/bin/python benchmarks/eval_world.py --base BASE.safetensors --pcclip SEED0.safetensors SEED1.safetensors ...
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from pathlib import Path

import torch

from eval_speed import model_embeddings
from pcclip.config import EvalSettings, ModelSettings
from pcclip.data import heldout_set
from pcclip.evaluate import evaluate_embeddings, flatten_metrics
from pcclip.world.scene import WorldConfig

ROWS = [
    "difference_accuracy",
    "difference_choice_accuracy",
    "difference_choice_picks_reversed",
    *[f"difference_choice_accuracy_by_attribute.{a}" for a in ("shape", "colour", "size", "count", "position")],
    "zero_shot_accuracy_by_task.shape",
    "zero_shot_accuracy_by_task.colour",
    "zero_shot_top5_accuracy_by_task.shape",
    "zero_shot_worst_class_accuracy_by_task.shape",
    "zero_shot_worst_class_accuracy_by_task.colour",
    "clipscore",
    "retrieval.image_to_text_r1",
    "retrieval_r5.image_to_text_r5",
    "retrieval_r5.text_to_image_r5",
    *[
        f"ranking.{a}.{d}.{c}"
        for a in ("size", "count", "x")
        for d in ("comparative", "comparative_minus_reversed", "contrast")
        for c in ("spearman", "kendall")
    ],
    "analogy_accuracy_by_attribute.shape",
    "analogy_accuracy_by_attribute.colour",
    "analogy_chance",
]
SWEEP = [(alpha, pairs) for pairs in ("nearest", "all") for alpha in (0.5, 0.8, 0.9)]  # the paper: 0.8-0.9


def cell(values: list[float]) -> str:
    spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
    return f"{statistics.fmean(values):.3f}{spread}"


def comparative_shift(metrics: dict, task: str) -> tuple[float, float]:
    """Zero-shot accuracy on `task` without and with comparative prompting."""
    return metrics["zero_shot_accuracy_by_task"][task], metrics["comparative_zero_shot_accuracy_by_task"][task]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--pcclip", type=Path, nargs="+", required=True)
    parser.add_argument("--model", default=ModelSettings().name)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    settings = EvalSettings()
    heldout = heldout_set(WorldConfig(), settings)
    embeddings = {path: model_embeddings(heldout, settings, args.model, path) for path in [args.base, *args.pcclip]}
    metrics = {path: flatten_metrics(evaluate_embeddings(emb, heldout)) for path, emb in embeddings.items()}
    runs = [metrics[p] for p in args.pcclip]
    header = f"{'metric':52s} {'base':>8s} {f'PC-CLIP (n={len(runs)})':>16s}"
    print(header + "\n" + "-" * len(header))
    for row in ROWS:
        print(f"{row:52s} {metrics[args.base][row]:8.3f} {cell([r[row] for r in runs]):>16s}")

    print("\ncomparative prompting: zero-shot accuracy without -> with (change)")
    print(f"{'alpha':>5s} {'pairs':>8s} {'task':>7s} {'base':>24s} {'PC-CLIP (mean over seeds)':>30s}")
    for alpha, pairs in SWEEP:
        variant = dataclasses.replace(
            heldout, settings=settings.model_copy(update={"comparative_alpha": alpha, "comparative_pairs": pairs})
        )
        swept = {p: evaluate_embeddings(emb, variant) for p, emb in embeddings.items()}
        for task in heldout.zero_shot:
            shifts = {path: comparative_shift(metrics, task) for path, metrics in swept.items()}
            b0, b1 = shifts[args.base]
            p0 = statistics.fmean(shifts[p][0] for p in args.pcclip)
            p1 = statistics.fmean(shifts[p][1] for p in args.pcclip)
            changes = [shifts[p][1] - shifts[p][0] for p in args.pcclip]
            print(
                f"{alpha:5.1f} {pairs:>8s} {task:>7s} {f'{b0:.3f} -> {b1:.3f} ({b1 - b0:+.3f})':>24s} "
                f"{f'{p0:.3f} -> {p1:.3f} ({p1 - p0:+.3f}; {min(changes):+.3f}..{max(changes):+.3f})':>30s}"
            )


if __name__ == "__main__":
    main()
