"""Where a study's finetune jobs run: the one registry of executors (`EXECUTORS`).

- local: one job after another in this process (the default);
- ray: one Ray task per job with its resource request (CPUs, GPUs), on a Ray instance started here or
  on a cluster (`address`); Ray reruns a job whose worker died (`max_retries`), and the rerun resumes
  from the finetune's saved state.

Either way a job writes its checkpoint and its evaluation to the content-addressed cache, and the
study then reads every result from there in this process: the tables and the report are made once,
from the same files, whichever executor ran the jobs. On a cluster the cache must be on a filesystem
that every node sees (`run.cache_dir`).
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field
from tqdm.auto import tqdm

from .config import FinetuneSettings, RunSettings, Settings
from .errors import PcclipError
from .generate import GenerationSettings
from .pipeline import Pipeline, available_cores, use_threads


@dataclass(frozen=True)
class Job:
    """One finetune and its evaluation: a generator's comparisons, finetune settings, a seed."""

    generator: str
    generation: GenerationSettings
    finetune: FinetuneSettings
    seed: int

    def describe(self) -> str:
        return f"{self.generator} x {self.finetune.trainable} x seed {self.seed}"

    def run(self, pipeline: Pipeline) -> bool:
        """Make sure the job's evaluation is cached; True if it trained a model (none was cached)."""
        trained = not pipeline.finetune_path(self.generator, self.generation, self.finetune, self.seed).is_file()
        pipeline.finetuned_metrics(self.generator, self.generation, self.finetune, self.seed)
        return trained


def run_local(pipeline: Pipeline, jobs: list[Job], settings: ExecutorSettings, log: Callable[[str], None]) -> dict:
    trained = 0
    bar = tqdm(jobs, desc="study", unit="run", dynamic_ncols=True)
    for job in bar:
        bar.set_postfix_str(job.describe())
        trained += job.run(pipeline)
    bar.close()
    return {"kind": "local", "jobs": len(jobs), "trained": trained}


def run_job(run: RunSettings, output_dir: Path, job: Job, threads: int) -> dict:
    """A Ray task: one job in a worker process, through a pipeline of its own over the shared cache."""
    use_threads(threads)
    pipeline = Pipeline(run, output_dir)
    trained = job.run(pipeline)
    return {
        "trained": trained,
        "stage_seconds": dict(pipeline.times),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_ray(pipeline: Pipeline, jobs: list[Job], settings: ExecutorSettings, log: Callable[[str], None]) -> dict:
    try:
        import ray
    except ImportError:
        raise PcclipError("executor.kind = 'ray' needs Ray: pip install 'pcclip[ray]' (or pip install ray)") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=settings.address,
            num_cpus=None if settings.address else settings.workers or available_cores(),
            include_dashboard=False,
            # The workers' progress bars would interleave in this terminal: the study's own bar counts jobs.
            runtime_env={"env_vars": {"TQDM_DISABLE": "1"}},
        )
    # Workers get the cache and output as absolute paths: their working directory and $PCCLIP_CACHE
    # need not be this process's.
    run = pipeline.settings.model_copy(update={"cache_dir": pipeline.cache_root.resolve()})
    task = ray.remote(num_cpus=settings.cpus_per_job, num_gpus=settings.gpus_per_job, max_retries=settings.max_retries)(run_job)
    try:
        pending = {task.remote(run, pipeline.output_dir.resolve(), job, settings.cpus_per_job): job for job in jobs}
        trained, failures = 0, []
        with tqdm(total=len(jobs), desc="study (ray)", unit="run", dynamic_ncols=True) as bar:
            while pending:
                [done], _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(done)
                try:
                    result = ray.get(done)
                except ray.exceptions.RayError as e:  # the task raised, or its worker died max_retries + 1 times
                    failures.append(f"{job.describe()}: {getattr(e, 'cause', None) or e}")
                    log(f"job {job.describe()} failed: {failures[-1]}")
                else:
                    trained += result["trained"]
                    for stage, seconds in result["stage_seconds"].items():
                        pipeline.times[stage] = pipeline.times.get(stage, 0.0) + seconds
                bar.update()
    finally:
        if started_here:
            ray.shutdown()
    if failures:
        raise PcclipError(
            f"{len(failures)} of {len(jobs)} jobs failed on Ray; every other job is cached, so a rerun does only "
            "these:\n  " + "\n  ".join(failures)
        )
    return {"kind": "ray", "jobs": len(jobs), "trained": trained}


EXECUTORS: dict[str, Callable[[Pipeline, list[Job], ExecutorSettings, Callable[[str], None]], dict]] = {
    "local": run_local,
    "ray": run_ray,
}


class ExecutorSettings(Settings):
    """Where the study's jobs run (the shared stages, generation and the base model, run here)."""

    kind: Literal[tuple(EXECUTORS)] = Field("local", description="local: in this process; ray: one Ray task per job")  # type: ignore[valid-type]
    address: str | None = Field(
        None, description="ray: the cluster to join ('auto', 'ray://head:10001'); None: start a Ray instance here"
    )
    workers: int | None = Field(
        None, ge=1, description="ray, instance started here: the CPUs it offers (None: the cores this process may use)"
    )
    cpus_per_job: int = Field(1, ge=1, description="ray: CPUs each job asks for, also its torch threads")
    gpus_per_job: float = Field(0.0, ge=0, description="ray: GPUs each job asks for (a fraction shares a GPU)")
    max_retries: int = Field(3, ge=0, description="ray: reruns of a job whose worker died; a rerun resumes the finetune")

    def run(self, pipeline: Pipeline, jobs: list[Job], log: Callable[[str], None] = print) -> dict:
        """Run the jobs (each one's evaluation is then in the cache); a summary: kind, jobs, trained."""
        if not jobs:  # e.g. the shared stages alone (only_jobs=()): no Ray instance to start
            return {"kind": self.kind, "jobs": 0, "trained": 0}
        return EXECUTORS[self.kind](pipeline, jobs, self, log)
