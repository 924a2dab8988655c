"""The study: the ablation plan as one grid over the cached pipeline stages.

Tables (each a list of rows; a row is one finetune configuration over seeds):
- llm: which LLM writes the comparisons (every generator of llm_ablation, reference encoder choice);
- encoders: which encoders train (every choice of encoder_ablation, on encoder_generator's comparisons);
- quality: the comparison-quality axis, the oracle with a controlled share of LLM-like errors
  (dose-response), against which every real generator is placed by its measured correctness;
- order: the writers of `swapped.generators` (those that name image 1 first) trained again with a share
  of their sentences' clauses swapped, beside encoder_generator's row;
- variants: finetune variants on encoder_generator's comparisons, e.g. the caption-loss mix that keeps
  what CLIP could do.
Every (generator, finetune settings, seed) run shares the world, base model, pair pool and
generations with the others and is cached the moment it finishes, so an interrupted study resumes
where it stopped. A generator whose credentials, weights or server are missing is skipped with the
reason, and the rest of the study runs.

The default plan is one file, `plans/embedded-default.toml` in this package (`configs/` links to it):
`pcclip study` with no config and `make study` read the same plan.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from .cache import settings_hash, write_json
from .config import FinetuneSettings, RunSettings, Settings
from .errors import PcclipError
from .executors import ExecutorSettings, Job
from .generate import GenerationSettings
from .generate.filters import FilterSettings
from .pipeline import Pipeline, use_threads
from .settings_io import load_settings
from .study_tables import TABLES, study_tables
from .towers import ENCODER_CHOICES

DEFAULT_PLAN = Path(__file__).parent / "plans" / "embedded-default.toml"
NO_FILTER = {"enabled": False}  # the paper's filter (>= 60 characters) is made for LLM answers


class ReferenceSettings(Settings):
    """The paper's default configuration, the row every other row is compared with."""

    generator: str = Field("oracle", description="generator standing in for the paper's LLaMA2-13B-chat")
    trainable: str = Field("text-blocks", description="the paper's choice: only the text transformer's blocks")
    why: str = Field("", description="stated in the report")


class QualityAxisSettings(Settings):
    """The comparison-quality axis: the oracle's comparisons with a share of LLM-like errors."""

    error_rates: tuple[float, ...] = Field(
        (), description="error rates of the degraded oracle, each a row besides the oracle's own (error rate 0)"
    )
    backend: dict[str, Any] = Field(
        default_factory=dict,
        description="degraded-oracle settings besides error_rate, e.g. error_mix (default: the mix measured on the offline LLMs)",
    )

    def generators(self) -> dict[str, GenerationSettings]:
        return {
            quality_generator(rate): GenerationSettings.model_validate(
                {"backend": {**self.backend, "backend": "degraded-oracle", "error_rate": rate}, "filter": NO_FILTER}
            )
            for rate in self.error_rates
        }


class SwappedClausesSettings(Settings):
    """Writers that name image 1 first ("image 1 has X, image 2 has Y"), trained again with a share of
    their sentences' clauses swapped (finetune.swap_clauses): does breaking their word order rescue them?"""

    generators: tuple[str, ...] = Field((), description="generators whose LLM-table rows are repeated with clauses swapped")
    share: float = Field(0.5, gt=0, le=1, description="finetune.swap_clauses of those rows")


def swapped_row(generator: str) -> str:
    return f"{generator}, clauses swapped"


def quality_generator(rate: float) -> str:
    return f"oracle-{rate:.0%}-errors"


@dataclass(frozen=True)
class Cell:
    """One row of a table: a generator's comparisons, finetune settings, the seeds it runs."""

    table: str
    row: str
    generator: str
    finetune: FinetuneSettings
    seeds: tuple[int, ...]

    @property
    def run_key(self) -> str:
        """Rows of different tables with the same generator and finetune settings share their runs."""
        return settings_hash(self.generator, self.finetune)


class StudySettings(Settings):
    """A study: shared run settings, the generators, the two ablations, the quality axis, variants."""

    name: str = "study"
    run: RunSettings = RunSettings()
    generators: dict[str, GenerationSettings] = Field(
        default_factory=lambda: {"oracle": GenerationSettings(filter=FilterSettings(enabled=False))}
    )
    llm_ablation: tuple[str, ...] = Field(("oracle",), min_length=1, description="generator names")
    encoder_ablation: tuple[str, ...] = Field(("text-blocks",), min_length=1, description="encoder choices")
    encoder_generator: str = Field("oracle", description="whose comparisons the encoder ablation and the variants train on")
    reference: ReferenceSettings = ReferenceSettings()
    quality: QualityAxisSettings = QualityAxisSettings()
    swapped: SwappedClausesSettings = SwappedClausesSettings()
    variants: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="name -> finetune settings changed from run.finetune (reference encoder "
        "choice, encoder_generator's comparisons), e.g. {keep-clip = {caption_loss_weight = 0.1}}",
    )
    table_seeds: dict[Literal[tuple(TABLES)], tuple[int, ...]] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="finetuning seeds of a table's rows where not run.seeds, e.g. {quality = [0, 1, 2]}: fewer "
        "seeds for a costly axis (a row shared with another table reuses its finetunes)",
    )
    executor: ExecutorSettings = Field(
        ExecutorSettings(), description="where the finetune jobs run: here, one after another, or on Ray"
    )

    @model_validator(mode="after")
    def _names_exist(self) -> StudySettings:
        known = set(self.generators)
        for where, name in (
            [("llm_ablation", n) for n in self.llm_ablation]
            + [("swapped.generators", n) for n in self.swapped.generators]
            + [
                ("encoder_generator", self.encoder_generator),
                ("reference.generator", self.reference.generator),
            ]
        ):
            if name not in known:
                raise ValueError(f"{where}: unknown generator {name!r}; defined: {', '.join(sorted(known))}")
        for name in (*self.encoder_ablation, self.reference.trainable):
            if name not in ENCODER_CHOICES:
                raise ValueError(f"unknown encoder choice {name!r}; allowed: {', '.join(ENCODER_CHOICES)}")
        if self.reference.generator not in self.llm_ablation:
            raise ValueError(f"reference.generator {self.reference.generator!r} must be one of llm_ablation")
        if self.reference.trainable not in self.encoder_ablation:
            raise ValueError(f"reference.trainable {self.reference.trainable!r} must be one of encoder_ablation")
        if clash := set(self.quality.generators()) & known:
            raise ValueError(f"generators: {', '.join(sorted(clash))} is the name of a quality-axis row; rename it")
        for name in self.variants:
            self.variant_finetune(name)  # a bad setting fails now, naming the variant
        return self

    def finetune(self, trainable: str) -> FinetuneSettings:
        return self.run.finetune.model_copy(update={"trainable": trainable})

    def variant_finetune(self, name: str) -> FinetuneSettings:
        changes = {"trainable": self.reference.trainable, **self.variants[name]}
        try:
            return FinetuneSettings.model_validate({**self.run.finetune.model_dump(), **changes})
        except ValueError as e:
            raise ValueError(f"variants.{name}: {e}") from None

    def all_generators(self) -> dict[str, GenerationSettings]:
        """The configured generators and the quality axis's."""
        return {**self.generators, **self.quality.generators()}

    def cells(self) -> list[Cell]:
        """Every row of every table, reference rows included."""
        seeds = {table: self.table_seeds.get(table, self.run.seeds) for table in TABLES}
        reference = self.finetune(self.reference.trainable)
        cells = [Cell("llm", g, g, reference, seeds["llm"]) for g in self.llm_ablation]
        cells += [Cell("encoders", t, self.encoder_generator, self.finetune(t), seeds["encoders"]) for t in self.encoder_ablation]
        if self.quality.error_rates:
            oracle = [Cell("quality", "oracle", "oracle", reference, seeds["quality"])] if "oracle" in self.generators else []
            cells += oracle + [Cell("quality", g, g, reference, seeds["quality"]) for g in self.quality.generators()]
        if self.swapped.generators:
            swapped = reference.model_copy(update={"swap_clauses": self.swapped.share})
            cells.append(Cell("order", self.encoder_generator, self.encoder_generator, reference, seeds["order"]))
            cells += [Cell("order", swapped_row(g), g, swapped, seeds["order"]) for g in self.swapped.generators]
        if self.variants:
            cells.append(Cell("variants", "paper's loss", self.encoder_generator, reference, seeds["variants"]))
            cells += [
                Cell("variants", name, self.encoder_generator, self.variant_finetune(name), seeds["variants"])
                for name in self.variants
            ]
        return cells

    def references(self) -> dict[str, str]:
        """The row of each table the others are compared with."""
        return {
            "llm": self.reference.generator,
            "encoders": self.reference.trainable,
            "quality": "oracle",
            "order": self.encoder_generator,
            "variants": "paper's loss",
        }


def load_study(path: Path | None = None, overrides: Sequence[str] = ()) -> StudySettings:
    """A study plan from a TOML file, or the embedded default's plan, plus KEY=VALUE overrides."""
    return load_settings(StudySettings, path or DEFAULT_PLAN, overrides)


def _generators_used(settings: StudySettings) -> list[str]:
    return list(dict.fromkeys(cell.generator for cell in settings.cells()))


def unavailable_generators(settings: StudySettings) -> dict[str, str]:
    """{generator: why it cannot run here} from cheap checks only (no model loaded, no request sent,
    no data read), so that a study skips those generators before any work and runs the rest."""
    reasons = {}
    generators = settings.all_generators()
    for name in _generators_used(settings):
        backend = generators[name].backend
        if backend.backend in ("oracle", "degraded-oracle") and settings.run.data.source != "world":
            reasons[name] = f"the oracle writes from the world's attributes, which data.source={settings.run.data.source!r} lacks"
        elif reason := backend.unavailable_reason():
            reasons[name] = reason
    return reasons


def without_skipped(settings: StudySettings, skipped: dict[str, str]) -> tuple[StudySettings, list[str]]:
    """The study over the generators that can run, and a sentence for each role (reference row,
    encoder ablation) handed from a skipped generator to the first of llm_ablation that can run."""
    available = tuple(g for g in settings.llm_ablation if g not in skipped)
    if not available:
        reasons = "".join(f"\n  {name}: {reason}" for name, reason in skipped.items())
        raise PcclipError(f"no generator of llm_ablation can run here:{reasons}")
    stand_in, notes = available[0], []
    update: dict[str, Any] = {"llm_ablation": available}
    if settings.reference.generator in skipped:
        notes.append(
            f"The configured reference generator `{settings.reference.generator}` was skipped, so `{stand_in}`, "
            "the first generator of llm_ablation that can run, is the reference row instead."
        )
        update["reference"] = settings.reference.model_copy(update={"generator": stand_in, "why": notes[-1]})
    if settings.encoder_generator in skipped:
        notes.append(
            f"The encoder ablation's generator `{settings.encoder_generator}` was skipped, so it trains on "
            f"`{stand_in}`'s comparisons instead."
        )
        update["encoder_generator"] = stand_in
    if any(g in skipped for g in settings.swapped.generators):
        kept = tuple(g for g in settings.swapped.generators if g not in skipped)
        update["swapped"] = settings.swapped.model_copy(update={"generators": kept})
    if any(g in skipped for g in settings.quality.generators()):
        notes.append("The quality axis was skipped: " + skipped[next(g for g in settings.quality.generators() if g in skipped)])
        update["quality"] = QualityAxisSettings()
    return settings.model_copy(update=update), notes


def _generate(pipeline: Pipeline, settings: StudySettings, skipped: dict[str, str], log) -> dict[str, dict]:
    """Each runnable generator's summary of its comparisons; one that fails to start (what the cheap
    check cannot see: a gated hub model, a corrupt file) or keeps no comparison joins `skipped`."""
    summaries = {}
    generators = settings.all_generators()
    for name in _generators_used(settings):
        if name in skipped:
            continue
        try:
            _, summary = pipeline.comparisons(name, generators[name])
        except PcclipError as e:
            skipped[name] = str(e)
        else:
            if summary["kept"]:
                summaries[name] = summary
            else:
                removed = summary["pairs"] - summary["failed"]
                skipped[name] = (
                    f"no comparison kept: {summary['failed']} of {summary['pairs']} pairs failed (the reasons "
                    f"are in its generation store), {removed} removed by the filter"
                )
        if name in skipped:
            log(f"generator {name} skipped: {skipped[name]}")
    return summaries


def checkpoints(plan: StudySettings, pipeline: Pipeline) -> dict:
    """Where each row's finetuned weights are, per seed, and the base model's: paths relative to the
    cache root (`pcclip cache list`), loadable with `pcclip.load(pretrained=...)` or
    `open_clip.create_model(plan.run.model.name, pretrained=...)` once pcclip has registered it."""
    generators = plan.all_generators()

    def relative(path: Path) -> str:
        return path.relative_to(pipeline.cache_root).as_posix()

    rows: dict[str, Any] = {"base": relative(pipeline.base_path)}
    for cell in plan.cells():
        rows.setdefault(cell.table, {})[cell.row] = {
            str(seed): relative(pipeline.finetune_path(cell.generator, generators[cell.generator], cell.finetune, seed))
            for seed in cell.seeds
        }
    return rows


def run_study(
    settings: StudySettings,
    output_dir: Path,
    log: Callable[[str], None] = print,
    only_jobs: Collection[tuple[str, int]] | None = None,
) -> dict:
    """Run (or resume) every cell over its seeds; returns the aggregated results and writes
    output_dir/study.json (the report is written by `pcclip.report`). A generator that cannot run
    here is skipped with its reason, and the rest of the study runs.

    only_jobs: run only these (Cell.run_key, seed) jobs (`pcclip.study_plan` numbers them), after the
    stages every job shares (generation, base model); empty: those stages alone. A part of the grid
    makes no tables and writes no study.json: it returns the jobs it ran, the skipped generators and
    the manifest, and the full study, every cell then cached, writes the report."""
    output_dir = Path(output_dir)
    skipped = unavailable_generators(settings)
    for name, reason in skipped.items():
        log(f"generator {name} skipped: {reason}")
    without_skipped(settings, skipped)  # no generator left: fail now, before any work
    use_threads(settings.run.threads)
    pipeline = Pipeline(settings.run, output_dir, log)
    pipeline.check_inputs()  # a data error (COCO not there) stops the study here, not as a failure of each generator
    # Comparisons come before the base model: a generator that cannot start shows before the long work.
    generation = _generate(pipeline, settings, skipped, log)
    plan, fallbacks = without_skipped(settings, skipped)  # the study as it runs here
    for note in fallbacks:
        log(note)
    base = pipeline.base_metrics()
    cells = plan.cells()
    generators = plan.all_generators()
    keys = list(dict.fromkeys((cell.run_key, seed) for cell in cells for seed in cell.seeds))
    if only_jobs is not None:
        keys = [key for key in keys if key in only_jobs]
    by_key = {cell.run_key: cell for cell in cells}
    jobs = [Job(by_key[key].generator, generators[by_key[key].generator], by_key[key].finetune, seed) for key, seed in keys]
    executed = settings.executor.run(pipeline, jobs, log)
    if only_jobs is not None:
        return {"name": settings.name, "jobs": keys, "skipped": skipped, "fallbacks": fallbacks, **pipeline.manifest()}

    runs: dict[str, dict[int, dict]] = {}
    for (key, seed), job in zip(keys, jobs):  # every job's evaluation is cached now: this reads it
        runs.setdefault(key, {})[seed] = pipeline.finetuned_metrics(job.generator, job.generation, job.finetune, seed)
    result = {
        "name": settings.name,
        "checkpoints": checkpoints(plan, pipeline),
        "settings": settings.model_dump(mode="json"),
        "seeds": list(plan.run.seeds),
        "base": base,
        **study_tables(cells, runs, base, plan.references(), generation, plan.run.benchmarks),
        "generation": generation,
        "reference": plan.reference.model_dump(mode="json"),
        "skipped": skipped,
        "fallbacks": fallbacks,
        "executor": executed,
        **pipeline.manifest(),
    }
    write_json(output_dir / "study.json", result)
    return result
