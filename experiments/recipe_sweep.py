"""Finetune recipes on the oracle's comparisons, text blocks: held-out difference accuracy, the
construction view, zero-shot and CLIPScore per seed, to choose the study's reference recipe.

    .venv/bin/python experiments/recipe_sweep.py --seeds 0 1 2 3 4 --set lr=3e-4 --set epochs=10 --label lr3e-4-ep10

Every finetune is cached like the study's (same keys), so a recipe the study also runs is trained once.
Appends one line per recipe to experiments/results/recipe_sweep.jsonl.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from pcclip.pipeline import Pipeline, use_threads
from pcclip.study import load_study

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], help="finetune setting, e.g. lr=3e-4")
    parser.add_argument("--study-set", action="append", default=[], help="study override, e.g. run.pairs.pairs=3000")
    parser.add_argument("--generator", default="oracle")
    parser.add_argument("--label", required=True)
    args = parser.parse_args()
    study = load_study(None, [f"run.finetune.{s}" for s in args.set] + args.study_set)
    use_threads(study.run.threads)
    finetune = study.run.finetune
    pipeline = Pipeline(study.run, ROOT / "runs" / "recipe_sweep", log=lambda _: None)
    base = pipeline.base_metrics()
    rows = []
    for seed in args.seeds:
        start = time.perf_counter()
        m = pipeline.finetuned_metrics(args.generator, study.generators[args.generator], finetune, seed)
        rows.append(
            {
                "seed": seed,
                "seconds": round(time.perf_counter() - start, 1),
                "difference_accuracy": m["difference_accuracy"],
                "construction_worst_accuracy": m["construction_worst_accuracy"],
                "by_construction": m["difference_accuracy_by_construction"],
                "zero_shot_accuracy": m["zero_shot_accuracy"],
                "clipscore": m["clipscore"],
            }
        )
        r = rows[-1]
        print(
            f"{args.label} seed {seed}: diff {r['difference_accuracy']:.3f} worst {r['construction_worst_accuracy']:.3f} "
            f"zs {r['zero_shot_accuracy']:.3f} clipscore {r['clipscore']:.3f} ({r['seconds']} s)  "
            + " ".join(f"{k[:12]}={v:.2f}" for k, v in r["by_construction"].items()),
            flush=True,
        )
    diffs = [r["difference_accuracy"] for r in rows]
    print(
        f"== {args.label}: diff {statistics.fmean(diffs):.3f} (min {min(diffs):.3f}) vs base {base['difference_accuracy']:.3f}; "
        f"worst construction {statistics.fmean(r['construction_worst_accuracy'] for r in rows):.3f} "
        f"vs base {base['construction_worst_accuracy']:.3f}",
        flush=True,
    )
    out = ROOT / "experiments" / "results" / "recipe_sweep.jsonl"
    with out.open("a") as f:
        f.write(json.dumps({"label": args.label, "finetune": args.set, "study": args.study_set, "rows": rows}) + "\n")


if __name__ == "__main__":
    main()
