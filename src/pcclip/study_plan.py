"""What a study would run, and what it would cost, before it runs: `pcclip study CONFIG --dry-run`,
`--slurm-dir DIR` (one sbatch script per group of jobs) and `--only-jobs i,j,k` (a part of the grid).

A job is one (generator, finetune settings, seed) of the grid, as `run_study` deduplicates them:
rows of different tables with the same generator and finetune settings share their runs. Jobs are
numbered in run_study's order over the configured grid, whatever can run here, so the numbers in
sbatch scripts mean the same jobs on the machine that wrote them and on the one that runs them;
jobs that exist only because a skipped generator's role passed to another (a stand-in) come after,
and their numbers depend on what the machine making the plan can run.

Costs come only from measurements, kept in COSTS below with where each figure was measured. A stage
with no measurement for its model and device is reported as unmeasured, never guessed.

Cache status is not shown: a finetune's cache key hashes the comparisons its generator kept, so
finding it means running (or reading) the generation stage, which a dry run must not do.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .config import EvalSettings, PretrainSettings, RunSettings
from .errors import PcclipError
from .generate import GenerationSettings
from .generate.backends.availability import is_local
from .generate.backends.openai import OpenAISettings
from .study import Cell, StudySettings, load_study, run_study, unavailable_generators, without_skipped

Device = Literal["gpu", "cpu"]
JobKey = tuple[str, int]  # (Cell.run_key, seed): what run_study runs once


@dataclass(frozen=True)
class Cost:
    """A measured cost: wall-clock seconds per unit (a training sample, a model evaluated, a pair
    described, a base model pretrained) on `units` CPU cores or GPUs, valid where every `match`
    entry (a dotted path into the run settings, or for generation into the generator's settings)
    has the value given."""

    stage: Literal["finetune", "evaluate", "generate", "pretrain", "reference"]
    device: Device
    units: int
    seconds: float
    match: dict[str, Any]
    source: str


# The README study's first run: 41 of its then 49 finetunes and 46 of its 50 evaluations ran in the
# process timed (the base model, the oracle's seeds 0-4 and keep-clip's seeds 0-2 came from the cache).
# Its stage_seconds are in docs/study/study.json as of commit 961b3f3; a later run added the rest.
_DOCS_STUDY = (
    "docs/study/study.json at 961b3f3 (the README study's first run, 2026-12-02, 2-core Intel Xeon VM, family 6 "
    "model 167, idle, 2 torch threads, fp32)"
)
_EMBEDDED_WORLD = {"model.name": "pcclip-vit-t8-minilm", "model.pretrained": None, "world.image_size": 64}

# The one table of measured costs. Figures are as measured; divide a total by your own speed-up, never
# add figures measured for another model or device.
COSTS: tuple[Cost, ...] = (
    Cost(
        "finetune",
        "cpu",
        2,
        3705.56 / (41 * 1600 * 7),  # 8.1 ms per sample
        {**_EMBEDDED_WORLD, "finetune.precision": "fp32", "finetune.batch_size": 64},
        f"{_DOCS_STUDY}: stage_seconds.finetune = 3705.56 s for 41 finetunes of 1,600 pairs x 7 epochs = 459,200 "
        "samples (20 on the LLM rows, 12 on the degraded oracle, 9 text / image / both; batch 64)",
    ),
    Cost(
        "evaluate",
        "cpu",
        2,
        503.64 / 46,  # 10.9 s per model
        {**_EMBEDDED_WORLD, "eval": EvalSettings().model_dump(mode="json"), "benchmarks": []},
        f"{_DOCS_STUDY}: stage_seconds.evaluate = 503.64 s for its 46 evaluations on the default held-out set, "
        "construction probe included",
    ),
    Cost(
        "pretrain",
        "cpu",
        2,
        233.0,
        {**_EMBEDDED_WORLD, "pretrain": PretrainSettings().model_dump(mode="json")},
        "README 'Time and memory' (2026-12-02, 2-core VM): 'base model already pretrained: +233 s on an idle machine'",
    ),
    Cost(
        "generate",
        "cpu",
        2,
        281.97 / 2000,
        {"backend.backend": "hf", "backend.model": "smollm2-135m"},
        f"{_DOCS_STUDY}: stage_seconds['generate smollm2-135m'] = 281.97 s for its 2,000-pair pool (the paper's "
        "prompt, chat style, 40 new tokens, batch 64; its best prompt 314.79 s)",
    ),
    Cost(
        "generate",
        "cpu",
        2,
        288.23 / 2000,
        {"backend.backend": "hf", "backend.model": "gemma3-270m"},
        f"{_DOCS_STUDY}: stage_seconds['generate gemma3-270m-values'] = 288.23 s for its 2,000-pair pool (five-shot "
        "completion, batch 64)",
    ),
    Cost(
        "generate",
        "cpu",
        2,
        5.53 / 800,
        {"backend.backend": "openai"},
        "benchmarks/RESULTS.md 'Comparison generation', HTTP back end: 800 pairs in 5.53 s against a mock server "
        "answering after 100 ms, concurrency 16, client and server in one process on 2 contended cores: the "
        "client's own cost (an upper bound); the API's time and price are the provider's",
    ),
    Cost(
        "generate",
        "cpu",
        2,
        0.15 / 2000,
        {"backend.backend": "oracle"},
        f"{_DOCS_STUDY}: stage_seconds['generate oracle'] = 0.15 s for 2,000 pairs",
    ),
    Cost(
        "generate",
        "cpu",
        2,
        0.37 / 2000,
        {"backend.backend": "rule"},
        f"{_DOCS_STUDY}: stage_seconds['generate rule'] = 0.37 s for 2,000 pairs",
    ),
    Cost(
        "generate",
        "cpu",
        2,
        0.60 / 2000,
        {"backend.backend": "degraded-oracle"},
        f"{_DOCS_STUDY}: stage_seconds['generate oracle-100%-errors'] = 0.60 s for 2,000 pairs (the slowest of 4 rates)",
    ),
    Cost(
        "reference",
        "gpu",
        1,
        1 / 3815,
        {"model.name": "ViT-B-32"},
        "../shared/mission/gpu-anchor.md (2026-11-28, one H200, torch 2.11): open_clip_train, ViT-B-32 from random "
        "init, both towers, batch 256, bf16 autocast, 224 px: 3,815 samples/s at step 40. A CLIP training step, "
        "not a PC-CLIP finetune: shown for scale, never used in an estimate",
    ),
)
# A GPU figure is needed for any GPU estimate: pcclip's own loop has not been timed on a GPU yet
# (benchmarks/RESULTS.md 'GPU training speed': "Not run on a GPU yet: no numbers").

NO_LLM = ("oracle", "rule", "degraded-oracle")
SLURM_MARGIN = 1.5  # a job's time limit: the estimate x this (a choice, not a measurement) ...
SLURM_MIN_MINUTES = 30  # ... and never less (start-up, loading a model, reading the generations)


_MISSING = object()


def _value(tree: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return _MISSING
        tree = tree[part]
    return tree


def find_cost(stage: str, device: Device, settings: dict[str, Any]) -> Cost | None:
    """The measured cost of `stage` on `device` for these settings (a model_dump(mode='json') of the
    run settings, or of the generator's for 'generate'), if COSTS has one."""
    for cost in COSTS:
        if cost.stage == stage and cost.device == device and all(_value(settings, k) == v for k, v in cost.match.items()):
            return cost
    return None


@dataclass(frozen=True)
class Hours:
    """A stage's cost: GPU-hours if it runs on one GPU; CPU wall hours (on the measured machine's
    cores) and core-hours if it runs on the CPU alone; None where unmeasured."""

    gpu: float | None
    cpu_wall: float | None
    cpu_core: float | None


Part = tuple[int, str, dict[str, Any]]  # (units: samples, models, pairs; stage; settings the cost must match)


def _hours(parts: Sequence[Part], used: dict[int, Cost], uses_gpu: bool = True) -> Hours:
    """The sum of units x measured cost over the parts, per device; a part without a measurement makes
    that device's figure None. A stage that uses no GPU (no LLM, a hosted API) costs 0 GPU-hours."""

    def seconds(device: Device) -> tuple[float, float] | None:
        wall = unit_seconds = 0.0
        for units, stage, settings in parts:
            if units == 0:
                continue
            cost = find_cost(stage, device, settings)
            if cost is None:
                return None
            used[id(cost)] = cost
            wall += units * cost.seconds
            unit_seconds += units * cost.seconds * cost.units
        return wall, unit_seconds

    gpu = seconds("gpu") if uses_gpu else (0.0, 0.0)
    cpu = seconds("cpu")
    return Hours(
        None if gpu is None else gpu[1] / 3600,
        None if cpu is None else cpu[0] / 3600,
        None if cpu is None else cpu[1] / 3600,
    )


@dataclass(frozen=True)
class PlannedGeneration:
    generator: str
    backend: str
    where: str  # 'hosted API', 'local server', 'local model', 'no LLM'
    llm_calls: int  # prompts sent: one per pool pair (at most: pairs with the same captions share one)
    hours: Hours
    skipped: str | None


@dataclass(frozen=True)
class PlannedJob:
    index: int
    run_key: str
    seed: int
    generator: str
    trainable: str
    rows: tuple[str, ...]  # 'table/row' of every cell the job serves
    train_samples: int  # at most: the filter may keep fewer pairs than the pool has
    hours: Hours
    skipped: str | None  # why it would not run here
    stand_in: bool  # exists only because a skipped generator's role passed to another
    shares_finetune_with: int | None = None  # that job's finetune (they differ only in wise_alpha)

    @property
    def key(self) -> JobKey:
        return (self.run_key, self.seed)


@dataclass(frozen=True)
class Totals:
    jobs: int
    train_samples: int
    llm_calls: int
    api_calls: int
    gpu_hours: float  # over the rows with a measured cost
    cpu_core_hours: float
    gpu_unmeasured: int  # rows (jobs, generations, shared stages) without one
    cpu_unmeasured: int


@dataclass
class StudyPlan:
    name: str
    settings: StudySettings
    pool_pairs: int
    train_pairs: int
    jobs: list[PlannedJob]
    generations: list[PlannedGeneration]
    shared: dict[str, Hours]  # the base model's stages, once per study
    skipped: dict[str, str]
    fallbacks: list[str]
    missing_inputs: list[str] = field(default_factory=list)
    costs_used: list[Cost] = field(default_factory=list)

    def runnable(self) -> list[PlannedJob]:
        return [job for job in self.jobs if job.skipped is None]

    def totals(self, configured: bool = False) -> Totals:
        """Sums over the rows: what this machine would run (skipped generators out, stand-ins in), or
        with configured=True the grid as written, every generator available."""
        if configured:
            jobs = [job for job in self.jobs if not job.stand_in]
            names = {job.generator for job in jobs}
            generations = [g for g in self.generations if g.generator in names]
        else:
            jobs = self.runnable()
            generations = [g for g in self.generations if g.skipped is None]
        hours = [job.hours for job in jobs] + [g.hours for g in generations] + list(self.shared.values())
        return Totals(
            jobs=len(jobs),
            train_samples=sum(job.train_samples for job in jobs),
            llm_calls=sum(g.llm_calls for g in generations),
            api_calls=sum(g.llm_calls for g in generations if g.where == "hosted API"),
            gpu_hours=sum(h.gpu for h in hours if h.gpu is not None),
            cpu_core_hours=sum(h.cpu_core for h in hours if h.cpu_core is not None),
            gpu_unmeasured=sum(h.gpu is None for h in hours),
            cpu_unmeasured=sum(h.cpu_core is None for h in hours),
        )

    def job_keys(self, indexes: Sequence[int]) -> set[JobKey]:
        """What run_study runs for these job numbers."""
        for i in indexes:
            if not 0 <= i < len(self.jobs):
                raise PcclipError(f"--only-jobs: no job {i}; the plan has jobs 0-{len(self.jobs) - 1} (see --dry-run)")
        return {self.jobs[i].key for i in indexes}


def _where(generation: GenerationSettings) -> str:
    backend = generation.backend
    if backend.backend in NO_LLM:
        return "no LLM"
    if isinstance(backend, OpenAISettings):
        return "local server" if is_local(backend.resolved_base_url()) else "hosted API"
    return "local model"


def _cells_of(cells: Sequence[Cell], key: JobKey) -> list[Cell]:
    return [c for c in cells if c.run_key == key[0] and key[1] in c.seeds]


def plan_study(settings: StudySettings) -> StudyPlan:
    """Every unique job of the grid with its estimated cost, the generation each generator needs, and
    what would be skipped here and why: from the settings and the same cheap checks as `run_study`
    (environment variables, files, at most a TCP connection per server; no model loaded, no request
    sent, no data read, no GPU touched)."""
    run = settings.run
    dump = run.model_dump(mode="json")
    skipped = unavailable_generators(settings)
    effective: StudySettings | None
    try:
        effective, fallbacks = without_skipped(settings, skipped)
    except PcclipError as e:
        effective, fallbacks = None, [f"the study would stop before any work: {e}"]
    configured_cells = settings.cells()
    effective_cells = effective.cells() if effective is not None else []
    keys = list(dict.fromkeys((c.run_key, seed) for c in configured_cells for seed in c.seeds))
    runnable = list(dict.fromkeys((c.run_key, seed) for c in effective_cells for seed in c.seeds))
    stand_ins = [k for k in runnable if k not in keys]

    pool = run.pairs.pairs
    train_pairs = max(1, round(run.pairs.train_fraction * pool))
    used: dict[int, Cost] = {}  # the measured costs the estimate rests on
    jobs: list[PlannedJob] = []
    finetunes: dict[str, int] = {}  # a finetune (its settings but wise_alpha, generator, seed) -> its first job
    for index, key in enumerate(keys + stand_ins):
        stand_in = index >= len(keys)
        own = _cells_of(effective_cells if stand_in else configured_cells, key)
        roles = [] if stand_in else [c for c in _cells_of(effective_cells, key) if c not in own]
        cell = own[0]
        finetune = cell.finetune
        identity = repr((cell.generator, finetune.model_dump(mode="json", exclude={"wise_alpha"}), key[1]))
        first = finetunes.setdefault(identity, index)
        samples = train_pairs * finetune.epochs if first == index else 0
        with_finetune = {**dump, "finetune": finetune.model_dump(mode="json")}
        reason = None
        if key not in runnable:
            reason = f"{cell.generator} skipped" if cell.generator in skipped else "not in the study here (see Stand-ins)"
        jobs.append(
            PlannedJob(
                index=index,
                run_key=key[0],
                seed=key[1],
                generator=cell.generator,
                trainable=finetune.trainable,
                rows=tuple(f"{c.table}/{c.row}" for c in own) + tuple(f"{c.table}/{c.row} (stand-in)" for c in roles),
                train_samples=samples,
                hours=_hours([(samples, "finetune", with_finetune), (1, "evaluate", dump)], used),
                skipped=reason,
                stand_in=stand_in,
                shares_finetune_with=None if first == index else first,
            )
        )

    generators = settings.all_generators()
    running = {c.generator for c in effective_cells}
    generations = []
    for name in dict.fromkeys([c.generator for c in configured_cells] + [c.generator for c in effective_cells]):
        generation = generators[name]
        where = _where(generation)
        generations.append(
            PlannedGeneration(
                generator=name,
                backend=generation.backend.backend,
                where=where,
                llm_calls=0 if where == "no LLM" else pool,
                hours=_hours([(pool, "generate", generation.model_dump(mode="json"))], used, uses_gpu=where == "local model"),
                skipped=None if name in running else skipped.get(name, "not in the study here (see Stand-ins)"),
            )
        )

    shared = {}
    if run.model.pretrained is None:
        shared["pretrain the base model"] = _hours([(1, "pretrain", dump)], used)
    shared["evaluate the base model"] = _hours([(1, "evaluate", dump)], used)
    return StudyPlan(
        name=settings.name,
        settings=settings,
        pool_pairs=pool,
        train_pairs=train_pairs,
        jobs=jobs,
        generations=generations,
        shared=shared,
        skipped=skipped,
        fallbacks=fallbacks,
        missing_inputs=_missing_inputs(run),
        costs_used=[c for c in COSTS if id(c) in used],
    )


def _missing_inputs(run: RunSettings) -> list[str]:
    """Folders the study reads first (it stops before any work, naming them, when one is missing)."""
    missing = []
    if run.data.source != "world" and run.data.root is not None and not Path(run.data.root).exists():
        missing.append(f"data.root {run.data.root} ({run.data.source})")
    missing += [f"benchmark {b.name}: {b.root}" for b in run.benchmarks if not Path(b.root).exists()]
    return missing


# ---------------------------------------------------------------------------------------------------
# Printing


def _h(value: float | None) -> str:
    return "unmeasured" if value is None else f"{value:,.2f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _total_hours(value: float, unmeasured: int) -> str:
    if unmeasured == 0:
        return f"{value:,.2f}"
    return f"{value:,.2f} + {unmeasured} unmeasured" if value else f"unmeasured ({unmeasured})"


def format_plan(plan: StudyPlan) -> str:
    s = plan.settings
    run = s.run
    model = f"{run.model.name}" + (f" ({run.model.pretrained})" if run.model.pretrained else ", pretrained on the world")
    epochs = sorted({job.train_samples // plan.train_pairs for job in plan.jobs if job.train_samples})
    out = [
        f"Study plan: {plan.name}: {len(plan.jobs)} jobs ({len(plan.runnable())} runnable here); nothing was run.",
        f"model {model}; data {run.data.source}; device {run.device}; seeds {list(run.seeds)}",
        f"pool: {plan.pool_pairs:,} pairs, described once per generator; each seed trains on "
        f"{run.pairs.train_fraction:g} of it = {plan.train_pairs:,} pairs x {run.finetune.epochs} epochs"
        + (f" (epochs in the grid: {', '.join(map(str, epochs))})" if len(epochs) > 1 else "")
        + " (train samples are upper bounds: the filter may keep fewer pairs)",
        "GPU-h: if the stage runs on one GPU; CPU core-h: if it runs on the CPU alone (wall hours x the measured "
        "machine's cores). Both from measured costs only (pcclip.study_plan.COSTS); 'unmeasured' where none exists.",
        "",
        "Generation (once per generator, for every seed and row):",
    ]
    out += _table(
        ("generator", "back end", "where", "LLM calls", "GPU-h", "CPU core-h", "status"),
        [
            (
                g.generator,
                g.backend,
                g.where,
                f"{g.llm_calls:,}",
                _h(g.hours.gpu),
                _h(g.hours.cpu_core),
                "skipped" if g.skipped else "runs",
            )
            for g in plan.generations
        ],
        {3, 4, 5},
    )
    out += ["", "Shared stages (once per study):"]
    out += _table(
        ("stage", "GPU-h", "CPU core-h"), [(name, _h(h.gpu), _h(h.cpu_core)) for name, h in plan.shared.items()], {1, 2}
    )
    out += ["", "Finetune + evaluation jobs (# is what --only-jobs takes):"]
    out += _table(
        ("#", "rows", "generator", "encoders", "seed", "train samples", "GPU-h", "CPU core-h", "status"),
        [
            (
                str(j.index),
                ", ".join(j.rows),
                j.generator,
                j.trainable,
                str(j.seed),
                f"{j.train_samples:,}"
                + (f" (job {j.shares_finetune_with}'s finetune)" if j.shares_finetune_with is not None else ""),
                _h(j.hours.gpu),
                _h(j.hours.cpu_core),
                j.skipped or ("runs (stand-in)" if j.stand_in else "runs"),
            )
            for j in plan.jobs
        ],
        {0, 4, 5, 6, 7},
    )
    out += ["", "Totals (sums of the rows above; shared stages included in the hours):"]
    rows = []
    for label, configured in (("runnable here", False), ("as configured", True)):
        t = plan.totals(configured)
        rows.append(
            (
                label,
                str(t.jobs),
                f"{t.train_samples:,}",
                f"{t.llm_calls:,}",
                f"{t.api_calls:,}",
                _total_hours(t.gpu_hours, t.gpu_unmeasured),
                _total_hours(t.cpu_core_hours, t.cpu_unmeasured),
            )
        )
    out += _table(("", "jobs", "train samples", "LLM calls", "of them API", "GPU-h", "CPU core-h"), rows, {1, 2, 3, 4, 5, 6})
    if plan.skipped:
        out += ["", "Skipped here (the rest runs):"] + [_wrap(f"{name}: {reason}") for name, reason in plan.skipped.items()]
    if plan.fallbacks:
        out += ["", "Stand-ins:"] + [_wrap(note) for note in plan.fallbacks]
    if plan.missing_inputs:
        out += ["", "Missing inputs (the study stops before any work until they are there):"]
        out += [f"  {m}" for m in plan.missing_inputs]
    out += ["", "Measured costs used (pcclip.study_plan.COSTS):"]
    out += [
        _wrap(f"{c.stage}, {c.units} {c.device.upper()} {_UNIT[c.device]}: {c.seconds:.4g} s per {_PER[c.stage]}; {c.source}")
        for c in plan.costs_used
    ] or ["  none: no stage of this plan has a measured cost"]
    if any(j.hours.gpu is None for j in plan.jobs):
        reference = next(c for c in COSTS if c.stage == "reference")
        out += [
            "",
            _wrap("No GPU measurement of a PC-CLIP finetune exists yet. For scale only, not used above: " + reference.source, ""),
        ]
    out += [
        _wrap(
            "Cache status is not shown: a finetune's cache key hashes the comparisons its generator kept, which only the "
            "generation stage can read.",
            "",
        )
    ]
    return "\n".join(out)


_UNIT = {"cpu": "cores", "gpu": "GPU(s)"}
_PER = {"finetune": "sample", "evaluate": "model", "generate": "pair", "pretrain": "base model", "reference": "sample"}


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, width=120, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False)


# ---------------------------------------------------------------------------------------------------
# sbatch scripts


def _slurm_time(hours: float) -> str:
    minutes = max(SLURM_MIN_MINUTES, math.ceil(hours * SLURM_MARGIN * 60))
    days, minutes = divmod(minutes, 24 * 60)
    return f"{days}-{minutes // 60:02d}:{minutes % 60:02d}:00" if days else f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def _group_hours(hours: Sequence[Hours], gpus: int) -> float | None:
    values = [h.gpu if gpus else h.cpu_wall for h in hours]
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


@dataclass(frozen=True)
class SlurmOptions:
    jobs_per_script: int = 1
    gpus: int = 1
    cpus: int | None = None  # None: run.threads
    time: str | None = None  # every script's limit, overriding the estimate (e.g. '12:00:00')
    config: Path | None = None
    overrides: tuple[str, ...] = ()
    output: Path | None = None
    pcclip: str | None = None  # the command (default: the pcclip beside this Python)
    workdir: Path | None = None  # where the scripts cd to (default: the current directory)


def _pcclip_command() -> str:
    beside = Path(sys.executable).parent / "pcclip"
    return str(beside) if beside.is_file() else "pcclip"


def write_slurm(plan: StudyPlan, directory: Path, options: SlurmOptions) -> list[Path]:
    """One sbatch script per group of `jobs_per_script` runnable jobs (job-000.sbatch, ...), a
    prepare.sbatch that makes what every job shares (each generator's comparisons, the base model)
    once, a report.sbatch that writes the report when every job is done (all cached: it reads), and
    submit_all.sh that submits them with afterok dependencies. Returns the group scripts."""
    if options.jobs_per_script < 1:
        raise PcclipError("--cells-per-job must be at least 1")
    directory = Path(directory)
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    for old in directory.glob("job-*.sbatch"):
        old.unlink()  # a rewrite with larger groups leaves no stale script for submit_all.sh to pick up
    pcclip = options.pcclip or _pcclip_command()
    base = [pcclip, "study"] + ([str(options.config.resolve())] if options.config else [])
    for item in options.overrides:
        base += ["--set", item]
    if options.output is not None:
        base += ["--output", str(options.output.resolve())]
    workdir = (options.workdir or Path.cwd()).resolve()
    cpus = options.cpus or plan.settings.run.threads
    runnable = plan.runnable()
    groups = [runnable[i : i + options.jobs_per_script] for i in range(0, len(runnable), options.jobs_per_script)]

    def script(name: str, argv: list[str], hours: float | None, comment: list[str], unmeasured: str) -> str:
        if options.time:
            time_line = [f"#SBATCH --time={options.time}"]
        elif hours is not None:
            time_line = [f"#SBATCH --time={_slurm_time(hours)}"]
            comment = [*comment, f"--time: the estimate ({hours:.2f} h) x {SLURM_MARGIN:g}, at least {SLURM_MIN_MINUTES} min"]
        else:
            time_line = []
            comment = [*comment, f"no --time: {unmeasured}, so the partition's default limit applies (set one with --slurm-time)"]
        cache = os.environ.get("PCCLIP_CACHE")
        lines = [
            "#!/bin/bash",
            f"#SBATCH --job-name={plan.name}-{name}",
            *([f"#SBATCH --gpus={options.gpus}"] if options.gpus else []),
            f"#SBATCH --cpus-per-task={cpus}",
            *time_line,
            f"#SBATCH --output={directory.resolve() / 'logs'}/%x-%j.out",
            *(f"# {c}" for c in comment),
            "# Every job reads and writes the same pcclip cache ($PCCLIP_CACHE, default ~/.cache/pcclip): put it on a "
            "file system all nodes share.",
            "set -euo pipefail",
            *([f"export PCCLIP_CACHE={shlex.quote(cache)}"] if cache else []),
            f"cd {shlex.quote(str(workdir))}",
            shlex.join(argv),
            "",
        ]
        return "\n".join(lines)

    def write(name: str, text: str) -> Path:
        path = directory / name
        path.write_text(text)
        path.chmod(0o755)
        return path

    prepare_hours = _group_hours(
        [g.hours for g in plan.generations if g.skipped is None] + list(plan.shared.values()), options.gpus
    )
    write(
        "prepare.sbatch",
        script(
            "prepare",
            [*base, "--only-jobs", "none"],
            prepare_hours,
            ["What every job shares, made once before them: each generator's comparisons and the base model."],
            "a stage of it has no measured cost for this model and device",
        ),
    )
    paths = []
    for number, group in enumerate(groups):
        comment = ["jobs of the plan (pcclip study ... --dry-run lists them):"] + [
            f"  {j.index}: {j.generator}, {j.trainable}, seed {j.seed} ({', '.join(j.rows)})" for j in group
        ]
        argv = [*base, "--only-jobs", ",".join(str(j.index) for j in group)]
        hours = _group_hours([j.hours for j in group], options.gpus)
        unmeasured = "the finetune or evaluation of this model has no measured cost on this device"
        paths.append(write(f"job-{number:03d}.sbatch", script(f"job{number:03d}", argv, hours, comment, unmeasured)))
    report = [
        "The report, once every job is done: every cell is cached, so it only reads (a cell that is not, e.g. after a "
        "generation retried failed pairs, which changes the finetune keys, is run here)."
    ]
    write("report.sbatch", script("report", base, None, report, "reading the cached results has no measured cost"))
    submit = [
        "#!/bin/bash",
        f"# Submits the study {plan.name}: prepare, then the {len(groups)} job scripts, then the report.",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        "# sbatch --parsable prints 'id' or 'id;cluster': keep the id",
        'submit() { local out; out=$(sbatch --parsable "$@"); echo "${out%%;*}"; }',
        "prepare=$(submit prepare.sbatch)",
        "after=$prepare",
    ]
    submit += [f'after="$after:$(submit --dependency=afterok:$prepare {p.name})"' for p in paths]
    submit += [
        "report=$(submit --dependency=afterok:$after report.sbatch)",
        'echo "submitted: prepare $prepare, report $report"',
        "",
    ]
    write("submit_all.sh", "\n".join(submit))
    return paths


# ---------------------------------------------------------------------------------------------------
# The command line: `pcclip study` with --dry-run, --slurm-dir or --only-jobs


def parse_job_list(text: str) -> list[int]:
    """'0,3,5-7' -> [0, 3, 5, 6, 7]; 'none' -> [] (only the stages every job shares)."""
    if text.strip().lower() == "none":
        return []
    indexes: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            first, dash, last = part.partition("-")
            indexes += range(int(first), int(last) + 1) if dash else [int(first)]
    except ValueError:
        raise PcclipError(f"--only-jobs {text!r}: expected job numbers such as 0,3,5-7 (or 'none')") from None
    return list(dict.fromkeys(indexes))


def plan_command(args: argparse.Namespace) -> None:
    """`pcclip study` with --dry-run or --slurm-dir (print the plan, write the scripts; nothing runs),
    or with --only-jobs (run those jobs of the plan, no report)."""
    settings = load_study(args.config, args.set)
    plan = plan_study(settings)
    if args.dry_run or args.slurm_dir is not None:
        print(format_plan(plan))
        if args.slurm_dir is not None:
            options = SlurmOptions(
                jobs_per_script=args.cells_per_job,
                gpus=args.slurm_gpus,
                time=args.slurm_time,
                config=args.config,
                overrides=tuple(args.set),
                output=args.output,
            )
            paths = write_slurm(plan, args.slurm_dir, options)
            print(
                f"\nwrote {len(paths)} job scripts (+ prepare.sbatch, report.sbatch) to {args.slurm_dir}; "
                f"submit them with: bash {args.slurm_dir / 'submit_all.sh'}"
            )
        return
    indexes = parse_job_list(args.only_jobs)
    keys = plan.job_keys(indexes)
    for i in indexes:
        if plan.jobs[i].skipped:
            print(f"job {i} does not run here: {plan.jobs[i].skipped}")
    result = run_study(settings, args.output or Path("runs") / settings.name, only_jobs=keys)
    done = {tuple(job) for job in result["jobs"]}
    ran = ", ".join(str(i) for i in indexes if plan.jobs[i].key in done) or "none"
    times = ", ".join(f"{k} {v:.1f}s" for k, v in result["stage_seconds"].items()) or "all cached"
    print(f"jobs run: {ran}; stage times: {times}; peak memory {result['peak_rss_mb']:.0f} MB")
    command = shlex.join(["pcclip", "study", *([str(args.config)] if args.config else [])])
    print(f"no report from a part of the grid: `{command}` writes it once every job is done")
