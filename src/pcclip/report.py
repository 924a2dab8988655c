"""The study's report: `report.md` and a self-contained `report.html` built from one document model
(sections of paragraphs, tables and PNG figures), so both say exactly the same thing."""

from __future__ import annotations

import base64
import html
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .study import ATTRIBUTE_NAMES

METRIC_LABELS = {
    "difference_accuracy": "difference accuracy",
    "zero_shot_accuracy": "zero-shot accuracy",
    "clipscore": "CLIPScore",
    "image_to_text_r1": "image->text R@1",
}
ABLATION_TITLES = {"llm": "Ablation 1: which LLM writes the comparisons", "encoders": "Ablation 2: which encoders are finetuned"}


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)


def _cell(stat: dict) -> str:
    return f"{stat['mean']:.3f} ± {stat['ci']:.3f}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _row_name(row: dict, ablation: str) -> str:
    name = row["generator"] if ablation == "llm" else row["trainable"]
    return f"{name} (reference)" if row["reference"] else name


def _vs_reference(stat: dict) -> str:
    test = stat["vs_reference"]
    p = "" if test["p"] is None else f" (p={test['p']:.3f})"
    return f"{test['diff']:+.3f}{p}"


def _significance(rows: list[dict], ablation: str, alpha: float = 0.05) -> str:
    groups = {"significant": [], "not significant": [], "untestable": []}
    for row in rows:
        if row["reference"]:
            continue
        for metric in ("difference_accuracy", "zero_shot_accuracy", "clipscore"):
            test = row[metric]["vs_reference"]
            text = f"{_row_name(row, ablation)} on {METRIC_LABELS[metric]} ({test['diff']:+.3f})"
            group = "untestable" if test["p"] is None else "significant" if test["p"] < alpha else "not significant"
            groups[group].append(text)
    lead = {
        "significant": "Significant against the reference row (paired t-test over seeds, p < 0.05): ",
        "not significant": "Not significant: ",
        "untestable": "No test (the same difference on every seed, or a single seed): ",
    }
    return " ".join(lead[g] + "; ".join(items) + "." for g, items in groups.items() if items)


def _benchmark_table(rows: list[dict], ablation: str) -> tuple[list[str], list[list[str]]]:
    """Real-data benchmarks: each one's headline metric, mean ± CI over seeds and paired against the reference."""
    names = list(rows[0]["benchmarks"])
    header = ["real-data benchmark", *(f"{n}: {rows[0]['benchmarks'][n]['metric'].replace('_', ' ')}" for n in names),
              *(f"vs reference: {n}" for n in names)]
    body = [["base model", *(f"{rows[0]['benchmarks'][n]['vs_base']:.3f}" for n in names), *([""] * len(names))]]
    body += [[_row_name(r, ablation), *(_cell(r["benchmarks"][n]) for n in names),
              *(_vs_reference(r["benchmarks"][n]) for n in names)] for r in rows]
    return header, body


def _bar_figure(rows: list[dict], ablation: str, base: dict, path: Path) -> Path:
    metrics = ("difference_accuracy", "zero_shot_accuracy", "clipscore")
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), dpi=110)
    names = [_row_name(r, ablation).replace(" (reference)", "*") for r in rows]
    for ax, metric in zip(axes, metrics):
        means = [r[metric]["mean"] for r in rows]
        ax.bar(range(len(rows)), means, yerr=[r[metric]["ci"] for r in rows], capsize=4,
               color=["#c44e52" if r["reference"] else "#4c72b0" for r in rows])
        ax.axhline(rows[0][metric]["vs_base"], color="black", ls="--", lw=1, label="base model")
        ax.set_xticks(range(len(rows)), names, rotation=20, ha="right", fontsize=8)
        ax.set_title(METRIC_LABELS[metric], fontsize=10)
        low = min(min(means), rows[0][metric]["vs_base"])
        ax.set_ylim(bottom=max(0.0, low - 0.1 * abs(low)))
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{ABLATION_TITLES[ablation]} (mean, 95% CI over seeds; * reference)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _heatmap(tables: dict, base: dict, path: Path) -> Path:
    labels, values = ["base"], [[base["difference_accuracy_by_attribute"][a] for a in ATTRIBUTE_NAMES]]
    for ablation, rows in tables.items():
        for row in rows:
            labels.append(f"{ablation}: {_row_name(row, ablation)}")
            values.append([row["by_attribute"][a]["mean"] for a in ATTRIBUTE_NAMES])
    data = np.array(values)
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(labels) + 1.2), dpi=110)
    image = ax.imshow(data, cmap="viridis", vmin=0.4, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(ATTRIBUTE_NAMES)), ATTRIBUTE_NAMES)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for (i, j), v in np.ndenumerate(data):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.7 else "black")
    fig.colorbar(image, ax=ax, label="difference accuracy (chance 0.5)")
    ax.set_title("Difference accuracy by attribute (mean over seeds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _versions() -> dict[str, str]:
    import open_clip
    import torch
    import transformers

    from . import __version__

    return {"pcclip": __version__, "torch": torch.__version__, "open_clip": open_clip.__version__,
            "transformers": transformers.__version__, "python": platform.python_version()}


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _hardware() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {gpu}"


def build_sections(study: dict, figure_dir: Path) -> list[Section]:
    seeds = study["seeds"]
    base = study["base"]
    reference = study["reference"]
    # A reference generator that was skipped has a stand-in, which is not the paper's configuration.
    role = "the paper's configuration, " if reference["generator"] == study["settings"]["reference"]["generator"] else ""
    sections = [Section(
        f"PC-CLIP ablation study: {study['name']}",
        [
            f"{len(seeds)} seeds ({', '.join(map(str, seeds))}); every cell is the mean with a 95% t-interval over "
            "seeds, evaluated on held-out scenes with held-out phrasing. Differences against the reference row are "
            "paired by seed (paired t-test; with 3 seeds only large, consistent effects can reach significance).",
            f"Reference row: {role}generator `{reference['generator']}` with encoder choice `{reference['trainable']}`. "
            f"{reference['why']}",
            f"Base model (no finetuning): difference accuracy {base['difference_accuracy']:.3f}, zero-shot accuracy "
            f"{base['zero_shot_accuracy']:.3f}, CLIPScore {base['clipscore']:.3f}, image->text R@1 "
            f"{base['retrieval']['image_to_text_r1']:.3f}.",
        ],
    )]
    if study["skipped"]:
        sections.append(Section(
            "Skipped generators",
            ["These generators could not run here and are left out of the study; restore what the reason names and "
             "rerun to add them (finished runs are not redone).", *study["fallbacks"]],
            [(["generator", "reason"], [[name, reason] for name, reason in study["skipped"].items()])],
        ))
    header = ["", *METRIC_LABELS.values(), *(f"vs reference: {METRIC_LABELS[m]}" for m in ("difference_accuracy", "zero_shot_accuracy", "clipscore"))]
    for ablation, rows in study["tables"].items():
        body = [[_row_name(r, ablation), *(_cell(r[m]) for m in METRIC_LABELS),
                 *(_vs_reference(r[m]) for m in ("difference_accuracy", "zero_shot_accuracy", "clipscore"))] for r in rows]
        body.insert(0, ["base model", *(f"{rows[0][m]['vs_base']:.3f}" for m in METRIC_LABELS), "", "", ""])
        fixed = f"encoder choice `{rows[0]['trainable']}`" if ablation == "llm" else f"comparisons by `{rows[0]['generator']}`"
        tables = [(header, body)]
        if rows[0]["benchmarks"]:
            tables.append(_benchmark_table(rows, ablation))
        sections.append(Section(
            ABLATION_TITLES[ablation],
            [f"All rows: {fixed}.", _significance(rows, ablation)],
            tables,
            [_bar_figure(rows, ablation, base, figure_dir / f"{ablation}_bars.png")],
        ))
    sections.append(Section("Difference accuracy by attribute", figures=[_heatmap(study["tables"], base, figure_dir / "attributes_heatmap.png")]))

    gen_rows, examples = [], []
    for name, g in study["generation"].items():
        gen_rows.append([name, str(g["pairs"]), str(g["failed"]), f"{g['kept']} ({g['kept'] / max(g['pairs'], 1):.0%})",
                         f"{g['mean_chars']:.0f}", _share(g["names_a_real_difference"]), _share(g["correct"])])
        examples += [[name, e["caption_a"], e["caption_b"], e["kept"]] for e in g["examples"]]
    sections.append(Section(
        "Generation quality per generator",
        ["Agreement is judged against the world's ground truth on the kept sentences: does the sentence name an "
         "attribute that really differs, and is it correct (right attribute, right way round)?"
         + (" Real data has no ground truth (n/a)." if any(g["correct"] is None for g in study["generation"].values()) else "")],
        [(["generator", "pairs", "failed", "kept after filter", "mean chars", "names a real difference", "correct"], gen_rows),
         (["generator", "caption of image 1", "caption of image 2", "comparison (kept)"], examples)],
    ))
    manifest = [[k, v] for k, v in _versions().items()] + [
        ["git commit", _git_commit()], ["hardware", _hardware()], ["peak RSS", f"{study['peak_rss_mb']:.0f} MB"],
        *[[f"time: {k}", f"{v:.1f} s"] for k, v in study["stage_seconds"].items()],
    ]
    sections.append(Section("Manifest", ["The full configuration is in `study.json` next to this report."], [(["", ""], manifest)]))
    return sections


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def to_markdown(sections: list[Section], relative_to: Path) -> str:
    out = []
    for i, s in enumerate(sections):
        out.append(("# " if i == 0 else "## ") + s.title)
        out += s.paragraphs
        out += [_markdown_table(h, r) for h, r in s.tables]
        out += [f"![{f.stem}]({os.path.relpath(f, relative_to)})" for f in s.figures]
    return "\n\n".join(p for p in out if p) + "\n"


def to_html(sections: list[Section]) -> str:
    def table(header, rows):
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def figure(path):
        data = base64.b64encode(Path(path).read_bytes()).decode()
        return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'

    parts = []
    for i, s in enumerate(sections):
        tag = "h1" if i == 0 else "h2"
        parts.append(f"<{tag}>{html.escape(s.title)}</{tag}>")
        parts += [f"<p>{html.escape(p)}</p>" for p in s.paragraphs if p]
        parts += [table(h, r) for h, r in s.tables]
        parts += [figure(f) for f in s.figures]
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:left}th{background:#f3f3f3}img{max-width:100%;margin:1em 0}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(sections[0].title)}</title>" \
           f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n"


def write_report(study: dict, output_dir: Path) -> tuple[Path, Path]:
    output_dir = Path(output_dir)
    figure_dir = output_dir / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    sections = build_sections(study, figure_dir)
    md, page = output_dir / "report.md", output_dir / "report.html"
    md.write_text(to_markdown(sections, output_dir))
    page.write_text(to_html(sections))
    return md, page
