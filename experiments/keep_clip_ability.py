"""Keeping what CLIP could do: sweep a knob and plot difference-accuracy gain against CLIPScore.

Pure PC loss pulls the text tower away from captions. This sweeps WiSE-FT weight averaging with the
base model (alpha; cheap: every alpha reuses the same finetunes) and, optionally, the weight of the
standard caption loss mixed into finetuning, 3 seeds per point, on the embedded default, and writes
`experiments/results/keep_clip_ability.json` and `docs/keep_clip_ability.png`.

    .venv/bin/python experiments/keep_clip_ability.py [--caption-weights 0.5 1.0]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from pcclip.config import RunSettings
from pcclip.pipeline import run

ROOT = Path(__file__).resolve().parent.parent


def point(settings: RunSettings, label: str) -> dict:
    summary = run(settings, ROOT / "runs" / "keep_clip" / label, log=lambda _: None)
    base = summary["results"]["base"]
    runs = list(summary["results"]["pc_clip"].values())

    def stats(get):
        values = [get(r) for r in runs]
        return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0, "values": values}

    return {
        "label": label,
        "difference_gain": stats(lambda r: r["difference_accuracy"] - base["difference_accuracy"]),
        "clipscore_ratio": stats(lambda r: r["clipscore"] / base["clipscore"]),
        "zero_shot_change": stats(lambda r: r["zero_shot_accuracy"] - base["zero_shot_accuracy"]),
        "base": {k: base[k] for k in ("difference_accuracy", "clipscore", "zero_shot_accuracy")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alphas", type=float, nargs="+", default=[1.0, 0.8, 0.6, 0.5, 0.4, 0.3])
    parser.add_argument("--caption-weights", type=float, nargs="*", default=[])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    default = RunSettings(threads=args.threads)
    series = {"WiSE-FT alpha": [], "caption loss weight": []}
    for alpha in args.alphas:
        settings = default.model_copy(update={"finetune": default.finetune.model_copy(update={"wise_alpha": alpha})})
        series["WiSE-FT alpha"].append({"knob": alpha, **point(settings, f"alpha-{alpha}")})
    for weight in args.caption_weights:
        settings = default.model_copy(update={"finetune": default.finetune.model_copy(update={"caption_loss_weight": weight})})
        series["caption loss weight"].append({"knob": weight, **point(settings, f"caption-{weight}")})
    out = ROOT / "experiments" / "results" / "keep_clip_ability.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(series, indent=2) + "\n")

    full_gain = series["WiSE-FT alpha"][0]["difference_gain"]["mean"] if args.alphas[0] == 1.0 else None
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for (name, points), marker in zip(series.items(), ("o", "s")):
        if not points:
            continue
        x = [p["clipscore_ratio"]["mean"] for p in points]
        y = [p["difference_gain"]["mean"] * 100 for p in points]
        ax.errorbar(x, y, xerr=[p["clipscore_ratio"]["std"] for p in points], yerr=[p["difference_gain"]["std"] * 100 for p in points],
                    marker=marker, capsize=3, label=name)
        for p, xi, yi in zip(points, x, y):
            ax.annotate(f"{p['knob']:g}", (xi, yi), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.axvline(0.95, color="grey", ls="--", lw=0.8)
    if full_gain is not None:
        ax.axhline(0.7 * full_gain * 100, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("CLIPScore / base CLIPScore (dashed: 95%)")
    ax.set_ylabel("difference accuracy gain over base (points)\n(dotted: 70% of the pure PC gain)")
    ax.set_title("Keeping CLIP's caption alignment (mean ± std, 3 seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "keep_clip_ability.png")
    for name, points in series.items():
        for p in points:
            print(f"{name} {p['knob']:g}: gain {100 * p['difference_gain']['mean']:+.1f} pts, CLIPScore x{p['clipscore_ratio']['mean']:.3f}, "
                  f"zero-shot {100 * p['zero_shot_change']['mean']:+.1f} pts")


if __name__ == "__main__":
    main()
