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


def meets_criterion(p: dict, full_gain: float) -> bool:
    """The issue's bar: CLIPScore within 5% and zero-shot within 2 points of the base model, with at
    least 70% of the pure PC loss's difference-accuracy gain (means over seeds)."""
    return (
        p["clipscore_ratio"]["mean"] >= 0.95
        and p["zero_shot_change"]["mean"] >= -0.02
        and p["difference_gain"]["mean"] >= 0.7 * full_gain
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alphas", type=float, nargs="*", default=[1.0, 0.8, 0.6, 0.5, 0.4, 0.3])
    parser.add_argument("--caption-weights", type=float, nargs="*", default=[])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    default = RunSettings(threads=args.threads)
    out = ROOT / "experiments" / "results" / "keep_clip_ability.json"
    # Points measured before are kept (a point's finetunes are cached anyway), so the sweep can be
    # extended a few knobs at a time.
    series = json.loads(out.read_text()) if out.is_file() else {"WiSE-FT alpha": [], "caption loss weight": []}

    def add(name: str, knob: float, finetune_update: dict, label: str) -> None:
        settings = default.model_copy(update={"finetune": default.finetune.model_copy(update=finetune_update)})
        points = [p for p in series[name] if p["knob"] != knob] + [{"knob": knob, **point(settings, label)}]
        series[name] = sorted(points, key=lambda p: -p["knob"] if name == "WiSE-FT alpha" else p["knob"])

    for alpha in args.alphas:
        add("WiSE-FT alpha", alpha, {"wise_alpha": alpha}, f"alpha-{alpha}")
    for weight in args.caption_weights:
        add("caption loss weight", weight, {"caption_loss_weight": weight}, f"caption-{weight}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(series, indent=2) + "\n")

    pure = next((p for p in series["WiSE-FT alpha"] if p["knob"] == 1.0), None)  # alpha 1 = caption weight 0
    full_gain = pure["difference_gain"]["mean"] if pure else None
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for (name, points), marker in zip(series.items(), ("o", "s")):
        if name == "caption loss weight" and pure and points:
            points = [{**pure, "knob": 0.0}, *points]
        if not points:
            continue
        x = [p["clipscore_ratio"]["mean"] for p in points]
        y = [p["difference_gain"]["mean"] * 100 for p in points]
        ax.errorbar(
            x,
            y,
            xerr=[p["clipscore_ratio"]["std"] for p in points],
            yerr=[p["difference_gain"]["std"] * 100 for p in points],
            marker=marker,
            capsize=3,
            label=name,
        )
        for p, xi, yi in zip(points, x, y):
            if name == "WiSE-FT alpha" or p["knob"] > 0:  # the shared pure-PC point is labelled once
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
            verdict = " <- meets the criterion" if full_gain is not None and meets_criterion(p, full_gain) else ""
            print(
                f"{name} {p['knob']:g}: gain {100 * p['difference_gain']['mean']:+.1f} pts, "
                f"CLIPScore x{p['clipscore_ratio']['mean']:.3f}, "
                f"zero-shot {100 * p['zero_shot_change']['mean']:+.1f} pts{verdict}"
            )


if __name__ == "__main__":
    main()
