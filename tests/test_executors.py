"""The study's executors on the tiny study: Ray (an instance started here, 2 workers) gives the local
executor's tables and report, trains every job exactly once, and reruns a job whose worker was killed
midway."""

import os
import shutil
import signal
import threading
from pathlib import Path

import pytest

from pcclip.errors import PcclipError
from pcclip.executors import ExecutorSettings
from pcclip.report import write_report
from pcclip.study import run_study
from test_study import tiny_study

ray = pytest.importorskip("ray", reason="the ray extra: pip install 'pcclip[ray]'")


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def _quiet(_: str) -> None:
    pass


def _report_tables(study: dict, output_dir: Path) -> str:
    md, _ = write_report(study, output_dir)
    return md.read_text().split("## Manifest")[0]  # the manifest holds stage times and the executor


def _task_pids(name: str) -> list[int]:
    """Worker processes running the Ray task `name` (Ray titles them "ray::<task>")."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(f"ray::{name}".encode()):
                pids.append(int(proc.name))
        except OSError:  # the process ended meanwhile
            pass
    return pids


def _drop_finetunes(settings) -> None:
    """Keep the shared stages (base model, generations), so that only the jobs run again."""
    for stage in ("finetune", "evaluation"):
        shutil.rmtree(settings.run.cache_dir / stage)


def test_ray_gives_the_local_tables_and_trains_each_job_once(tmp_path, ray_instance):
    settings = tiny_study(tmp_path)
    local = run_study(settings, tmp_path / "local", log=_quiet)
    jobs = local["executor"]["jobs"]
    assert local["executor"] == {"kind": "local", "jobs": jobs, "trained": jobs} and jobs == 6

    _drop_finetunes(settings)
    on_ray = settings.model_copy(update={"executor": ExecutorSettings(kind="ray")})
    result = run_study(on_ray, tmp_path / "ray", log=_quiet)
    assert result["executor"] == {"kind": "ray", "jobs": jobs, "trained": jobs}
    assert len(list((settings.run.cache_dir / "finetune").rglob("*.safetensors"))) == jobs
    assert result["tables"] == local["tables"]
    assert _report_tables(result, tmp_path / "ray") == _report_tables(local, tmp_path / "local")
    assert "finetune" in result["stage_seconds"]  # the workers' stage times reach the manifest

    again = run_study(on_ray, tmp_path / "ray", log=_quiet)
    assert again["executor"]["trained"] == 0 and again["tables"] == local["tables"]


def _kill_workers_once_training(tensorboard: Path, killed: list[int], stop: threading.Event) -> None:
    """As soon as a finetune has started (its TensorBoard folder exists), SIGKILL every worker in a job."""
    while not stop.is_set():
        if tensorboard.is_dir() and any(tensorboard.iterdir()) and (pids := _task_pids("run_job")):
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            killed.extend(pids)
            return
        stop.wait(0.01)


def _study_with_killed_workers(tmp_path, max_retries: int):
    settings = tiny_study(tmp_path, executor={"kind": "ray", "max_retries": max_retries})
    run_study(settings, tmp_path / "out", log=_quiet, only_jobs=())  # the shared stages, before any worker starts
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_workers_once_training, args=(tmp_path / "out" / "tensorboard", killed, stop))
    killer.start()
    try:
        return killed, run_study(settings, tmp_path / "out", log=_quiet)
    finally:
        stop.set()
        killer.join()


def test_a_job_whose_worker_is_killed_is_rerun(tmp_path, ray_instance):
    killed, result = _study_with_killed_workers(tmp_path, max_retries=2)
    assert killed, "no worker was caught in a finetune"
    reference = run_study(tiny_study(tmp_path / "local"), tmp_path / "local", log=_quiet)
    assert result["tables"] == reference["tables"]
    assert result["executor"]["jobs"] == 6


def test_without_retries_a_killed_job_fails_by_name_and_the_rest_is_kept(tmp_path, ray_instance):
    with pytest.raises(PcclipError, match=r"of 6 jobs failed on Ray; every other job is cached") as failure:
        _study_with_killed_workers(tmp_path, max_retries=0)
    assert " x seed " in str(failure.value)  # names the job: generator x encoder choice x seed
    settings = tiny_study(tmp_path, executor={"kind": "ray"})
    rerun = run_study(settings, tmp_path / "out", log=_quiet)
    failed = str(failure.value).count(" x seed ")
    # A job killed after its checkpoint was saved (in its evaluation) only evaluates again.
    assert rerun["executor"]["jobs"] == 6 and 1 <= failed and rerun["executor"]["trained"] <= failed
