"""The study: both ablations of the plan as one grid over the cached pipeline stages.

Ablation 1 (which LLM writes the comparisons) finetunes the reference encoder choice on each
generator's comparisons; ablation 2 (which encoders train) finetunes each encoder choice on one
generator's comparisons. Every (generator, encoder choice, seed) run shares the world, base model,
pair pool and generations with the others, and its result is cached the moment it finishes, so an
interrupted study resumes where it stopped. A generator whose credentials, weights or server are
missing is skipped with the reason, and the rest of the study runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

from pydantic import Field, model_validator
from scipy import stats
from tqdm.auto import tqdm

from .cache import write_json
from .config import RunSettings, Settings
from .errors import PcclipError
from .generate import GenerationSettings
from .generate.filters import FilterSettings
from .pipeline import Pipeline
from .real_eval import HEADLINE, headline

HEADLINE_METRICS = {
    "difference_accuracy": lambda m: m["difference_accuracy"],
    "zero_shot_accuracy": lambda m: m["zero_shot_accuracy"],
    "clipscore": lambda m: m["clipscore"],
    "image_to_text_r1": lambda m: m["retrieval"]["image_to_text_r1"],
}
ATTRIBUTE_NAMES = ("shape", "colour", "size", "count", "position")


def _default_generators() -> dict[str, GenerationSettings]:
    no_filter = FilterSettings(enabled=False)  # the paper's filter (>= 60 chars) is made for LLM answers
    return {
        "oracle": GenerationSettings(filter=no_filter),
        "rule": GenerationSettings.model_validate({"backend": {"backend": "rule"}, "filter": no_filter.model_dump()}),
        "smollm2-135m": GenerationSettings.model_validate(
            {"backend": {"backend": "hf", "model": "smollm2-135m"}, "prompt": {"style": "chat"}}
        ),
    }


class ReferenceSettings(Settings):
    """The paper's default configuration, the row every other row is compared with."""

    generator: str = Field("smollm2-135m", description="generator standing in for the paper's LLaMA2-13B-chat")
    trainable: str = Field("text-blocks", description="the paper's choice: only the text transformer's blocks")
    why: str = Field(
        "LLaMA2-13B-chat, the paper's LLM, is not available offline; SmolLM2-135M-Instruct is the only "
        "instruction-tuned LLM shipped offline, so it stands in.",
        description="stated in the report",
    )


class StudySettings(Settings):
    """A study: shared run settings, the generators, and the two ablations."""

    name: str = "study"
    run: RunSettings = RunSettings()
    generators: dict[str, GenerationSettings] = Field(default_factory=_default_generators)
    llm_ablation: tuple[str, ...] = Field(("oracle", "rule", "smollm2-135m"), min_length=1, description="generator names")
    encoder_ablation: tuple[str, ...] = Field(("text-blocks", "text", "image", "both"), min_length=1)
    encoder_generator: str = Field(
        "oracle", description="whose comparisons the encoder ablation trains on (the oracle: no LLM noise)"
    )
    reference: ReferenceSettings = ReferenceSettings()

    @model_validator(mode="after")
    def _names_exist(self) -> "StudySettings":
        known = set(self.generators)
        for where, name in [("llm_ablation", n) for n in self.llm_ablation] + [
            ("encoder_generator", self.encoder_generator), ("reference.generator", self.reference.generator)
        ]:
            if name not in known:
                raise ValueError(f"{where}: unknown generator {name!r}; defined: {', '.join(sorted(known))}")
        choices = {"text", "text-blocks", "image", "both"}
        for name in (*self.encoder_ablation, self.reference.trainable):
            if name not in choices:
                raise ValueError(f"unknown encoder choice {name!r}; allowed: {', '.join(sorted(choices))}")
        if self.reference.generator not in self.llm_ablation:
            raise ValueError(f"reference.generator {self.reference.generator!r} must be one of llm_ablation")
        if self.reference.trainable not in self.encoder_ablation:
            raise ValueError(f"reference.trainable {self.reference.trainable!r} must be one of encoder_ablation")
        return self

    def cells(self) -> list[tuple[str, str, str]]:
        """(ablation, generator, encoder choice) of every cell, reference rows included."""
        return [("llm", g, self.reference.trainable) for g in self.llm_ablation] + [
            ("encoders", self.encoder_generator, t) for t in self.encoder_ablation
        ]


def mean_ci(values: list[float], confidence: float = 0.95) -> dict:
    """Mean and t-interval over seeds (half-width 0 for a single value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "ci": 0.0, "n": len(values)}
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return {"mean": mean, "ci": float(half), "n": len(values)}


def paired_test(values: list[float], reference: list[float]) -> dict:
    """Mean paired difference against the reference (same seeds) and the paired t-test's p-value."""
    diffs = [v - r for v, r in zip(values, reference)]
    if len(diffs) < 2 or statistics.pstdev(diffs) == 0:
        return {"diff": statistics.fmean(diffs), "p": None}
    return {"diff": statistics.fmean(diffs), "p": float(stats.ttest_rel(values, reference).pvalue)}


def _generators_used(settings: StudySettings) -> list[str]:
    return list(dict.fromkeys((*settings.llm_ablation, settings.encoder_generator)))


def unavailable_generators(settings: StudySettings) -> dict[str, str]:
    """{generator: why it cannot run here} from cheap checks only (no model loaded, no request sent,
    no data read), so that a study skips those generators before any work and runs the rest."""
    reasons = {}
    for name in _generators_used(settings):
        backend = settings.generators[name].backend
        if backend.backend == "oracle" and settings.run.data.source != "world":
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
    stand_in, notes, update = available[0], [], {"llm_ablation": available}
    if settings.reference.generator in skipped:
        notes.append(f"The configured reference generator `{settings.reference.generator}` was skipped, so `{stand_in}`, "
                     "the first generator of llm_ablation that can run, is the reference row instead.")
        update["reference"] = settings.reference.model_copy(update={"generator": stand_in, "why": notes[-1]})
    if settings.encoder_generator in skipped:
        notes.append(f"The encoder ablation's generator `{settings.encoder_generator}` was skipped, so it trains on "
                     f"`{stand_in}`'s comparisons instead.")
        update["encoder_generator"] = stand_in
    return settings.model_copy(update=update), notes


def _generate(pipeline: Pipeline, settings: StudySettings, skipped: dict[str, str], log) -> dict[str, dict]:
    """Each runnable generator's summary of its comparisons; one that fails to start (what the cheap
    check cannot see: a gated hub model, a corrupt file) or keeps no comparison joins `skipped`."""
    summaries = {}
    for name in _generators_used(settings):
        if name in skipped:
            continue
        try:
            _, summary = pipeline.comparisons(name, settings.generators[name])
        except PcclipError as e:
            skipped[name] = str(e)
        else:
            if summary["kept"]:
                summaries[name] = summary
            else:
                removed = summary["pairs"] - summary["failed"]
                skipped[name] = (f"no comparison kept: {summary['failed']} of {summary['pairs']} pairs failed (the reasons "
                                 f"are in its generation store), {removed} removed by the filter")
        if name in skipped:
            log(f"generator {name} skipped: {skipped[name]}")
    return summaries


def run_study(settings: StudySettings, output_dir: Path, log: Callable[[str], None] = print) -> dict:
    """Run (or resume) every cell over every seed; returns the aggregated results and writes
    output_dir/study.json (the report is written by `pcclip.report`). A generator that cannot run
    here is skipped with its reason, and the rest of the study runs."""
    output_dir = Path(output_dir)
    skipped = unavailable_generators(settings)
    for name, reason in skipped.items():
        log(f"generator {name} skipped: {reason}")
    without_skipped(settings, skipped)  # no generator left: fail now, before any work
    pipeline = Pipeline(settings.run, output_dir, log)
    pipeline.pair_pool  # a data error (COCO not there) stops the study here, not as a failure of each generator
    pipeline.benchmark_data  # so does a missing benchmark dataset (image files are read only when embedded)
    # Comparisons come before the base model: a generator that cannot start shows before the long work.
    generation = _generate(pipeline, settings, skipped, log)
    plan, fallbacks = without_skipped(settings, skipped)  # the study as it runs here
    for note in fallbacks:
        log(note)
    seeds = plan.run.seeds
    base = pipeline.base_metrics()
    cells = plan.cells()
    jobs = [(cell, seed) for cell in dict.fromkeys(c[1:] for c in cells) for seed in seeds]
    per_run: dict[tuple[str, str], dict[int, dict]] = {}
    bar = tqdm(jobs, desc="study", unit="run", dynamic_ncols=True)
    for (generator, trainable), seed in bar:
        bar.set_postfix_str(f"{generator} x {trainable} x seed {seed}")
        finetune = plan.run.finetune.model_copy(update={"trainable": trainable})
        per_run.setdefault((generator, trainable), {})[seed] = pipeline.finetuned_metrics(
            generator, plan.generators[generator], finetune, seed
        )
    bar.close()

    tables = {}
    for ablation, reference_cell in (("llm", (plan.reference.generator, plan.reference.trainable)),
                                     ("encoders", (plan.encoder_generator, plan.reference.trainable))):
        rows = []
        for _, generator, trainable in (c for c in cells if c[0] == ablation):
            runs = per_run[(generator, trainable)]
            row = {"generator": generator, "trainable": trainable, "reference": (generator, trainable) == reference_cell}
            def cell(get) -> dict:
                """One metric of this row over seeds: mean and interval, paired test against the reference."""
                values = [get(runs[s]) for s in seeds]
                reference = [get(per_run[reference_cell][s]) for s in seeds]
                return {**mean_ci(values), "values": values, "vs_reference": paired_test(values, reference), "vs_base": get(base)}

            for metric, get in HEADLINE_METRICS.items():
                row[metric] = cell(get)
            row["by_attribute"] = {
                a: mean_ci([runs[s]["difference_accuracy_by_attribute"][a] for s in seeds]) for a in ATTRIBUTE_NAMES
            }
            row["benchmarks"] = {  # each benchmark's headline number, with the same statistics
                b.name: {**cell(lambda m, b=b: headline(b, m["benchmarks"][b.name])), "metric": HEADLINE[b.task]}
                for b in plan.run.benchmarks
            }
            rows.append(row)
        tables[ablation] = rows

    result = {
        "name": settings.name,
        "settings": settings.model_dump(mode="json"),
        "seeds": list(seeds),
        "base": base,
        "tables": tables,
        "generation": generation,
        "reference": plan.reference.model_dump(mode="json"),
        "skipped": skipped,
        "fallbacks": fallbacks,
        **pipeline.manifest(),
    }
    write_json(output_dir / "study.json", result)
    return result
