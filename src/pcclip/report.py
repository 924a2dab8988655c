"""The study's report: `report.md` and a self-contained `report.html` built from one document model
(sections of paragraphs, tables and PNG figures), so both say exactly the same thing."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial, wraps
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from .cache import read_json, settings_hash
from .errors import PcclipError
from .headline import ABILITY_METRICS, HEADLINE_METRICS
from .quality import QualityFit
from .study_tables import TABLES
from .world.scene import ATTRIBUTES

SHOWN_METRICS = (
    "difference_accuracy",
    "difference_choice_accuracy",
    "construction_worst_accuracy",
    "zero_shot_accuracy",
    "clipscore",
    "image_to_text_r1",
)
ALPHA = 0.05


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    detail: bool = False  # the full report only; the README shows the others (`splice_readme`)


def _cell(stat: dict) -> str:
    """Mean ± 95% half-width; one seed has no interval, so none is shown."""
    return f"{stat['mean']:.3f} ± {stat['ci']:.3f}" if stat["n"] > 1 else f"{stat['mean']:.3f}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _row_name(row: dict) -> str:
    return f"{row['name']} (reference)" if row["reference"] else row["name"]


def _effect(test: dict) -> str:
    """A paired difference with its 95% interval and Holm-corrected p."""
    p = "" if test.get("p_holm") is None else f", p={test['p_holm']:.3f}"
    return f"{test['diff']:+.3f} ± {test['ci']:.3f}{p}" if test["n"] > 1 else f"{test['diff']:+.3f}"


def _significant(test: dict) -> bool:
    return test.get("p_holm") is not None and test["p_holm"] < ALPHA


def verdict(row: dict) -> str:
    """What the row shows on differences, read on both views: the study's held-out sentences and
    the construction probe (a gain counts only if no construction falls below the base model), and
    what it costs of the base CLIP's abilities (a significant loss of zero-shot accuracy or CLIPScore)."""
    gain = row["difference_accuracy"]["gain"]
    below = [name for name, c in row["construction_worst_accuracy"]["by"].items() if c["mean"] < c["base"]]
    if _significant(gain) and gain["diff"] > 0:
        shown = f"gain, but below the base on: {', '.join(below)}" if below else "gain on every construction"
    elif _significant(gain):
        shown = "loss"
    else:
        change = "no significant change" if gain["n"] > 1 else "one seed: not tested"
        shown = f"{change}; below the base on: {', '.join(below)}" if below else change
    costs = [
        f"{HEADLINE_METRICS[m].label} {row[m]['gain']['diff']:+.3f} ({row[m]['gain']['diff'] / row[m]['base']:+.0%})"
        for m in ABILITY_METRICS
        if _significant(row[m]["gain"]) and row[m]["gain"]["diff"] < 0
    ]
    return f"{shown}; costs {', '.join(costs)}" if costs else shown


def _table(rows: list[dict], base: dict) -> tuple[list[str], list[list[str]]]:
    labels = [HEADLINE_METRICS[m].titled(base) for m in SHOWN_METRICS]
    header = [
        "",
        *labels,
        "gain in difference accuracy",
        "vs reference: difference accuracy",
        "vs reference: zero-shot",
        "vs reference: CLIPScore",
        "verdict",
    ]
    body = [["base model", *(f"{HEADLINE_METRICS[m].get(base):.3f}" for m in SHOWN_METRICS), "", "", "", "", ""]]
    body += [
        [
            _row_name(r),
            *(_cell(r[m]) for m in SHOWN_METRICS),
            _effect(r["difference_accuracy"]["gain"]),
            *(
                "" if r["reference"] else _effect(r[m]["vs_reference"])
                for m in ("difference_accuracy", "zero_shot_accuracy", "clipscore")
            ),
            verdict(r),
        ]
        for r in rows
    ]
    return header, body


def _construction_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    by = rows[0]["construction_worst_accuracy"]["by"]
    body = [["base model", *(f"{c['base']:.3f}" for c in by.values())]]
    body += [
        [
            _row_name(r),
            *(
                f"{c['mean']:.3f}" + (" (below base)" if c["mean"] < c["base"] else "")
                for c in r["construction_worst_accuracy"]["by"].values()
            ),
        ]
        for r in rows
    ]
    return ["difference accuracy by construction (both orders)", *by], body


def _benchmark_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Real-data benchmarks: each one's headline metric, mean ± CI over seeds and paired against the reference."""
    names = list(rows[0]["benchmarks"])
    header = [
        "real-data benchmark",
        *(f"{n}: {rows[0]['benchmarks'][n]['metric'].replace('_', ' ')}" for n in names),
        *(f"vs reference: {n}" for n in names),
    ]
    body = [["base model", *(f"{rows[0]['benchmarks'][n]['base']:.3f}" for n in names), *([""] * len(names))]]
    body += [
        [
            _row_name(r),
            *(_cell(r["benchmarks"][n]) for n in names),
            *("" if r["reference"] else _effect(r["benchmarks"][n]["vs_reference"]) for n in names),
        ]
        for r in rows
    ]
    return header, body


# What decides a figure's pixels besides its inputs: this file, the modules its figures read labels
# and fits from, and matplotlib. The digest of them and of the inputs is written into each PNG's
# metadata under _DIGEST_KEY.
_DIGEST_KEY = "pcclip-inputs"
_DRAWING_SOURCES = ("report.py", "headline.py", "quality.py", "world/scene.py")
_DRAWING_CODE = hashlib.sha256(
    b"".join((Path(__file__).parent / name).read_bytes() for name in _DRAWING_SOURCES) + matplotlib.__version__.encode()
).hexdigest()


def _figure(draw: Callable[..., Figure]) -> Callable[..., Path]:
    """`draw(*inputs)` saved as a PNG at `path`, unless the file there was drawn from the same inputs
    by the same code (the digest in its metadata says so): a warm study rewrites its report without
    redrawing a figure."""

    @wraps(draw)
    def save(*inputs: Any, path: Path) -> Path:
        digest = settings_hash(_DRAWING_CODE, *inputs)
        if path.is_file():
            with contextlib.suppress(OSError), Image.open(path) as png:
                if getattr(png, "text", {}).get(_DIGEST_KEY) == digest:
                    return path
        fig = draw(*inputs)
        fig.savefig(path, metadata={_DIGEST_KEY: digest})
        plt.close(fig)
        return path

    return save


@_figure
def _bar_figure(rows: list[dict], title: str) -> Figure:
    metrics = ("difference_accuracy", "construction_worst_accuracy", "zero_shot_accuracy", "clipscore")
    fig, axes = plt.subplots(1, len(metrics), figsize=(14, 3.6), dpi=110)
    names = [_row_name(r).replace(" (reference)", "*") for r in rows]
    for ax, metric in zip(axes, metrics):
        means = [r[metric]["mean"] for r in rows]
        ax.bar(
            range(len(rows)),
            means,
            yerr=[r[metric]["ci"] for r in rows],
            capsize=4,
            color=["#c44e52" if r["reference"] else "#4c72b0" for r in rows],
        )
        ax.axhline(rows[0][metric]["base"], color="black", ls="--", lw=1, label="base model")
        ax.set_xticks(range(len(rows)), names, rotation=20, ha="right", fontsize=8)
        ax.set_title(HEADLINE_METRICS[metric].label, fontsize=10)
        low = min(min(means), rows[0][metric]["base"])
        ax.set_ylim(bottom=max(0.0, low - 0.1 * abs(low)))
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title} (mean, 95% CI over seeds; * reference)", fontsize=10)
    fig.tight_layout()
    return fig


@_figure
def _quality_figure(curves: dict) -> Figure:
    """Each metric against the share of correct comparisons: the quality axis's points, the fitted
    line with its 95% prediction band, and every real generator at its measured correctness."""
    shown = [m for m, c in curves.items() if c["fit"] is not None]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.6 * len(shown), 3.6), dpi=110, squeeze=False)
    for ax, metric in zip(axes[0], shown):
        curve = curves[metric]
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in curve["fit"].items()}
        fit = QualityFit(**fields)
        ax.scatter(
            [p["correctness"] for p in curve["points"]],
            [p["value"] for p in curve["points"]],
            s=14,
            color="#4c72b0",
            alpha=0.7,
            label="quality axis (per seed)",
        )
        xs = np.linspace(0, 1, 50)
        bands = [fit.predict(x) for x in xs]
        ax.plot(xs, [b.value for b in bands], color="#4c72b0", lw=1.2, label=f"fit, slope {fit.slope:+.3f}")
        ax.fill_between(xs, [b.low for b in bands], [b.high for b in bands], color="#4c72b0", alpha=0.12)
        for placed in curve["placed"]:
            ax.errorbar(
                placed["correctness"], placed["measured"], yerr=placed["measured_ci"], fmt="o", color="#c44e52", capsize=3
            )
            ax.annotate(
                placed["generator"],
                (placed["correctness"], placed["measured"]),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
        ax.set_xlabel("share of correct comparisons", fontsize=9)
        ax.set_title(HEADLINE_METRICS[metric].label, fontsize=10)
        ax.set_xlim(-0.03, 1.03)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(
        "Comparison quality -> PC-CLIP metrics (blue: the degraded oracle; red: real generators, mean ± 95% CI)", fontsize=10
    )
    fig.tight_layout()
    return fig


def _quality_section(study: dict, figure_dir: Path) -> Section:
    curves = study["quality_curves"]
    fits, checks = [], []
    for metric, curve in curves.items():
        label = HEADLINE_METRICS[metric].label
        if curve["fit"] is None:
            fits.append([label, "no fit", curve["why"], ""])
            continue
        f = curve["fit"]
        fits.append(
            [
                label,
                f"{f['slope']:+.3f} [{f['slope_ci'][0]:+.3f}, {f['slope_ci'][1]:+.3f}]",
                f"{f['intercept']:.3f} [{f['intercept_ci'][0]:.3f}, {f['intercept_ci'][1]:.3f}]",
                str(f["n"]),
            ]
        )
        for placed in curve["placed"]:
            p = placed["predicted"]
            inside = p["low"] <= placed["measured"] <= p["high"]
            checks.append(
                [
                    label,
                    placed["generator"],
                    f"{placed['correctness']:.1%}",
                    f"{p['value']:.3f} [{p['low']:.3f}, {p['high']:.3f}]" + (" (extrapolated)" if p["extrapolated"] else ""),
                    f"{placed['measured']:.3f} ± {placed['measured_ci']:.3f}",
                    "yes" if inside else "no",
                ]
            )
    return Section(
        "Comparison quality: the dose-response",
        [
            "Each metric against the share of the finetuning comparisons that are correct (judged against the world's "
            "ground truth), one point per quality level and seed, with a least-squares line and its 95% prediction "
            "band. A writer we cannot run here is placed on this line from its measured correctness alone: "
            "`pcclip score STORE --curve study.json` measures a store's correctness and prints its predicted difference "
            "accuracy. The prediction check below does that for the generators this study trained."
        ],
        [
            (["metric", "slope per unit correctness [95% CI]", "at 0% correct [95% CI]", "points"], fits),
            (["metric", "generator", "correct", "predicted [95% PI]", "measured", "inside the interval"], checks),
        ],
        [_quality_figure(curves, path=figure_dir / "quality_curve.png")],
    )


@_figure
def _heatmap(tables: dict, base: dict) -> Figure:
    breakdown = HEADLINE_METRICS["difference_accuracy"].breakdown
    assert breakdown is not None  # difference accuracy breaks down by attribute
    labels, values = ["base"], [[breakdown(base)[a] for a in ATTRIBUTES]]
    for table, rows in tables.items():
        for row in rows:
            labels.append(f"{table}: {_row_name(row)}")
            values.append([row["difference_accuracy"]["by"][a]["mean"] for a in ATTRIBUTES])
    data = np.array(values)
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(labels) + 1.2), dpi=110)
    image = ax.imshow(data, cmap="viridis", vmin=0.4, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(ATTRIBUTES)), ATTRIBUTES)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for (i, j), v in np.ndenumerate(data):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.7 else "black")
    fig.colorbar(image, ax=ax, label="difference accuracy (chance 0.5)")
    ax.set_title("Difference accuracy by attribute (mean over seeds)", fontsize=10)
    fig.tight_layout()
    return fig


def _seed_list(seeds) -> str:
    return ", ".join(map(str, seeds))


def _table_seeds(table_seeds: dict) -> str:
    """' (encoders, quality: 0, 1, 2)': the tables that run fewer seeds than the study's."""
    by_seeds: dict[str, list[str]] = {}
    for table, seeds in table_seeds.items():
        by_seeds.setdefault(_seed_list(seeds), []).append(table)
    return "".join(f" ({', '.join(tables)}: {seeds})" for seeds, tables in by_seeds.items())


def build_sections(study: dict, figure_dir: Path) -> list[Section]:
    seeds = study["seeds"]
    base = study["base"]
    reference = study["reference"]
    # A reference generator that was skipped has a stand-in, which is not the paper's configuration.
    role = "the paper's configuration, " if reference["generator"] == study["settings"]["reference"]["generator"] else ""
    sections = [
        Section(
            f"PC-CLIP ablation study: {study['name']}",
            [
                f"Seeds {_seed_list(seeds)}{_table_seeds(study['settings'].get('table_seeds', {}))}; every cell is the "
                "mean with a 95% t-interval over seeds, evaluated on held-out scenes with held-out phrasing. Gains over the "
                "base model and differences from a table's reference row are paired by seed, given with their 95% "
                "interval and a Holm-corrected p over the table's rows and metrics.",
                "Two views of difference accuracy: the held-out sentences (any construction, both orders of every pair) "
                "and the construction probe: the same kind of pairs said in fixed constructions (the second image named "
                "first, a verb of change, a relative clause, ...), each pair in both orders"
                + (
                    ", each construction said of the first image for half the pairs and of the second for the rest "
                    "(so that matching words without reading direction scores 1/2)"
                    if study["settings"]["run"]["eval"].get("probe_subjects", "fixed") == "balanced"
                    else ""
                )
                + ". 'worst construction' is the lowest of them; a row's gain counts only if no construction falls "
                "below the base model.",
                "Beside the sign test (the true sentence against its reversal), 'K-way difference choice' asks each held-out "
                "pair to pick the true sentence among K: it, its reversal and one sentence about each other attribute. "
                "It is shown, not tested: it reads the sign test's question again.",
                f"Reference row: {role}generator `{reference['generator']}` with encoder choice `{reference['trainable']}`. "
                f"{reference['why']}",
                "Base model (no finetuning): "
                + ", ".join(f"{HEADLINE_METRICS[m].titled(base)} {HEADLINE_METRICS[m].get(base):.3f}" for m in SHOWN_METRICS)
                + ".",
            ],
        )
    ]
    if study["skipped"]:
        sections.append(
            Section(
                "Skipped generators",
                [
                    "These generators could not run here and are left out of the study; restore what the reason names and "
                    "rerun to add them (finished runs are not redone).",
                    *study["fallbacks"],
                ],
                [(["generator", "reason"], [[name, reason] for name, reason in study["skipped"].items()])],
            )
        )
    for table, rows in study["tables"].items():
        tables = [_table(rows, base), _construction_table(rows)]
        if rows[0]["benchmarks"]:
            tables.append(_benchmark_table(rows))
        sections.append(
            Section(TABLES[table], [], tables, [_bar_figure(rows, TABLES[table], path=figure_dir / f"{table}_bars.png")])
        )
        if table == "quality" and "quality_curves" in study:
            sections.append(_quality_section(study, figure_dir))
    sections.append(
        Section(
            "Difference accuracy by attribute",
            figures=[_heatmap(study["tables"], base, path=figure_dir / "attributes_heatmap.png")],
            detail=True,
        )
    )

    gen_rows, examples = [], []
    for name, g in study["generation"].items():
        gen_rows.append(
            [
                name,
                str(g["pairs"]),
                str(g["failed"]),
                f"{g['kept']} ({g['kept'] / max(g['pairs'], 1):.0%})",
                f"{g['mean_chars']:.0f}",
                _share(g["names_a_real_difference"]),
                _share(g["correct"]),
                _share(g.get("correct_second_first")),  # absent from studies written before it was measured
            ]
        )
        examples += [[name, e["caption_a"], e["caption_b"], e["kept"]] for e in g["examples"]]
    sections.append(
        Section(
            "Generation quality per generator",
            [
                "Agreement is judged against the world's ground truth on the kept sentences: does the sentence name an "
                "attribute that really differs, and is it correct (right attribute, right way round)? Of the "
                "correct ones, how many name the second image first: a writer that always names image 1 first "
                "teaches word position, not direction."
                + (
                    " Real data has no ground truth (n/a)."
                    if any(g["correct"] is None for g in study["generation"].values())
                    else ""
                )
            ],
            [
                (
                    [
                        "generator",
                        "pairs",
                        "failed",
                        "kept after filter",
                        "mean chars",
                        "names a real difference",
                        "correct",
                        "of the correct: second image named first",
                    ],
                    gen_rows,
                ),
                (["generator", "caption of image 1", "caption of image 2", "comparison (kept)"], examples),
            ],
            detail=True,
        )
    )
    where = [[", ".join(f"{k} {v}" for k, v in c.items() if k != "results"), str(c["results"])] for c in study["computed_on"]]
    manifest = [
        ["peak RSS", f"{study['peak_rss_mb']:.0f} MB"],
        *[[f"time: {k}", f"{v:.1f} s"] for k, v in study["stage_seconds"].items()],
    ]
    hardware = list(dict.fromkeys(c.get("hardware", "unknown") for c in study["computed_on"]))
    mixed = (
        [
            f"**Computed on {len(hardware)} kinds of hardware** ({'; '.join(hardware)}): float results differ between kinds of "
            "CPU (README, 'The same study on another kind of CPU'), so rows from different kinds do not compare to the digit."
        ]
        if len(hardware) > 1
        else []
    )
    sections.append(
        Section(
            "Manifest",
            [
                "Where and with what the results were computed (captured when each was computed), and this run's times. "
                "The full configuration is in `study.json` next to this report.",
                *mixed,
            ],
            [(["computed with", "results"], where), (["", ""], manifest)],
            detail=True,
        )
    )
    return sections


def _breakdown_part(breakdown: Callable[[dict], dict[str, float]], part: str, metrics: dict) -> float:
    return breakdown(metrics)[part]


def _benchmark_headline(name: str, key: str, metrics: dict) -> float:
    return metrics["benchmarks"][name][key]


def format_run_table(summary: dict) -> str:
    """`pcclip run`'s table: base vs PC-CLIP (mean and sample std over seeds) and the change, one
    headline metric per row with its breakdown indented below, then each benchmark's headline number."""
    base = summary["results"]["base"]
    runs = list(summary["results"]["pc_clip"].values())
    rows: list[tuple[str, Callable[[dict], float]]] = []
    for metric in HEADLINE_METRICS.values():
        rows.append((metric.titled(base), metric.get))
        if metric.breakdown is not None:
            rows += [(f"  {part}", partial(_breakdown_part, metric.breakdown, part)) for part in metric.breakdown(base)]
    for b in summary["settings"].get("benchmarks", []):
        from .real_eval import headline_metric  # benchmark code, loaded only for a run that has benchmarks

        key = headline_metric(b["task"], b["dataset"])
        rows.append((f"{b['name']}: {key.replace('_', ' ')}", partial(_benchmark_headline, b["name"], key)))
    width = max(len(label) for label, _ in rows)
    header = f"{'metric':{width}s} {'base':>8s} {'PC-CLIP (n=' + str(len(runs)) + ')':>18s} {'change':>8s}"
    lines = [header, "-" * len(header)]
    for label, get in rows:
        values = [get(r) for r in runs]
        mean = statistics.fmean(values)
        spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
        lines.append(f"{label:{width}s} {get(base):8.3f} {f'{mean:.3f}{spread}':>18s} {mean - get(base):+8.3f}")
    return "\n".join(lines)


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def to_markdown(sections: list[Section], relative_to: Path, level: int = 1) -> str:
    """The first section's title at heading `level`, the others one below it; figures linked relative
    to the folder the markdown lives in."""
    out = []
    for i, s in enumerate(sections):
        out.append("#" * (level + (i > 0)) + " " + s.title if s.title else "")
        out += s.paragraphs
        out += [_markdown_table(h, r) for h, r in s.tables]
        out += [f"![{f.stem}]({os.path.relpath(f, relative_to)})" for f in s.figures]
    return "\n\n".join(p for p in out if p) + "\n"


README_BEGIN = "<!-- pcclip report: begin (`pcclip report STUDY_JSON --readme README`) -->"
README_END = "<!-- pcclip report: end -->"


def summary(sections: list[Section]) -> list[Section]:
    """What the README and the console show of a report: every section but the detail ones."""
    return [s for s in sections if not s.detail]


def splice_readme(readme: Path, sections: list[Section]) -> None:
    """Replace the README's copy of the report (between README_BEGIN and README_END) with the
    report's summary, so the README's tables are the report's, never retyped."""
    text = readme.read_text()
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise PcclipError(f"{readme}: no place for the report; put the lines {README_BEGIN!r} and {README_END!r} where it goes")
    first, *rest = summary(sections)
    block = to_markdown([replace(first, title=""), *rest], readme.parent, level=2)
    readme.write_text(text[: begin + len(README_BEGIN)] + "\n" + block.strip("\n") + "\n\n" + text[end:])


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
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left}th{background:#f3f3f3}img{max-width:100%;margin:1em 0}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(sections[0].title)}</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )


STUDY_KEYS = ("name", "settings", "seeds", "base", "reference", "tables", "generation", "skipped", "computed_on")


def read_study(path: Path) -> dict:
    """A study.json written by `pcclip study`, checked for what the report reads."""
    study = read_json(path)
    missing = [k for k in STUDY_KEYS if k not in study] if isinstance(study, dict) else list(STUDY_KEYS)
    if missing:
        raise PcclipError(f"{path}: not a study written by `pcclip study` (no {', '.join(missing)})")
    return study


def write_report(
    study: dict, output_dir: Path, readme: Path | None = None, echo: Callable[[str], None] | None = None
) -> tuple[Path, Path]:
    """report.md, report.html and their figures in output_dir; with `readme`, its copy of the summary
    too; with `echo`, the summary as markdown is passed to it (the console's view)."""
    output_dir = Path(output_dir)
    figure_dir = output_dir / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    sections = build_sections(study, figure_dir)
    md, page = output_dir / "report.md", output_dir / "report.html"
    md.write_text(to_markdown(sections, output_dir))
    page.write_text(to_html(sections))
    if readme is not None:
        splice_readme(readme, sections)
    if echo is not None:
        echo(to_markdown(summary(sections), output_dir))
    return md, page
