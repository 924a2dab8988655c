"""The study's plan before it runs: `pcclip study --dry-run` (jobs, costs from measured figures only,
LLM calls, what is skipped here), `--slurm-dir` (sbatch scripts) and `--only-jobs` (a part of the
grid). Nothing here trains, generates or touches a GPU: run_study's pipeline is a fake."""

import math
import re
import subprocess
from pathlib import Path
from typing import ClassVar

import pytest
import torch

from pcclip import study, study_plan
from pcclip.cli import main
from pcclip.errors import PcclipError
from pcclip.settings_io import load_settings
from pcclip.study import StudySettings, load_study, run_study
from pcclip.study_plan import COSTS, Cost, SlurmOptions, find_cost, parse_job_list, plan_study, write_slurm
from test_study import tiny_study

CONFIGS = Path(__file__).parents[1] / "configs"
PAPER = CONFIGS / "paper-scale.toml"
LLMS = ("llama2-13b-chat", "gpt35-instruct", "gemini2-flash", "llama-7b")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No API key, no hub, no ./models, and any use of a GPU, the pipeline or a run fails the test."""
    for key in ("OPENAI_API_KEY", "GEMINI_API_KEY", "OPENAI_MODEL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)

    def forbidden(*args, **kwargs):
        raise AssertionError("a dry run must not touch this")

    monkeypatch.setattr(torch.cuda, "is_available", forbidden)
    monkeypatch.setattr(study, "Pipeline", forbidden)
    monkeypatch.setattr(study_plan, "run_study", forbidden)


def _sum(values):
    return sum(v for v in values if v is not None)


def test_tiny_plan_lists_every_unique_job_in_run_studys_order(tmp_path):
    settings = tiny_study(tmp_path)
    plan = plan_study(settings)
    cells = settings.cells()
    assert [job.key for job in plan.jobs] == list(dict.fromkeys((c.run_key, s) for c in cells for s in c.seeds))
    assert [(j.generator, j.trainable, j.seed) for j in plan.jobs] == [
        ("oracle", "text-blocks", 0),
        ("oracle", "text-blocks", 1),
        ("rule", "text-blocks", 0),
        ("rule", "text-blocks", 1),
        ("oracle", "image", 0),
        ("oracle", "image", 1),
    ]
    assert plan.jobs[0].rows == ("llm/oracle", "encoders/text-blocks")
    assert all(job.train_samples == round(0.8 * 24) * 1 for job in plan.jobs)  # pool x train_fraction x epochs
    assert plan.skipped == {} and plan.runnable() == plan.jobs
    assert all(g.llm_calls == 0 and g.where == "no LLM" for g in plan.generations)
    # pcclip-vit-nano was never timed: unmeasured, not guessed
    assert all(job.hours.gpu is None and job.hours.cpu_core is None for job in plan.jobs)
    assert find_cost("finetune", "cpu", settings.run.model_dump(mode="json")) is None


def test_measured_costs_name_their_source_and_the_default_plan_is_estimated_from_them():
    for cost in COSTS:
        assert cost.seconds > 0 and cost.units >= 1 and len(cost.source) > 40
    plan = plan_study(load_study())
    finetune = next(c for c in COSTS if c.stage == "finetune")
    evaluate = next(c for c in COSTS if c.stage == "evaluate")
    job = plan.jobs[0]
    assert job.train_samples == 1600 * 7  # 80% of 1,000 minimal pairs in both orders, 7 epochs
    expected = (job.train_samples * finetune.seconds + evaluate.seconds) * 2 / 3600
    assert job.hours.cpu_core == pytest.approx(expected) and job.hours.gpu is None  # no GPU figure exists
    keep_clip = [j for j in plan.jobs if j.rows == ("variants/keep-clip",)]
    assert len(keep_clip) == 3 and all(j.train_samples == 1600 * 7 for j in keep_clip)
    assert {c.stage for c in plan.costs_used} == {"finetune", "evaluate", "pretrain", "generate"}
    assert all(c.stage != "reference" for c in plan.costs_used)  # shown for scale, never used


@pytest.mark.parametrize("config", [None, PAPER])
def test_totals_are_the_sums_of_the_rows(config, offline):
    plan = plan_study(load_settings(StudySettings, config) if config else load_study())
    for configured in (False, True):
        totals = plan.totals(configured)
        jobs = [j for j in plan.jobs if not j.stand_in] if configured else plan.runnable()
        names = {j.generator for j in jobs}
        gens = [g for g in plan.generations if (g.generator in names if configured else g.skipped is None)]
        hours = [j.hours for j in jobs] + [g.hours for g in gens] + list(plan.shared.values())
        assert totals.jobs == len(jobs) and totals.train_samples == sum(j.train_samples for j in jobs)
        assert totals.llm_calls == sum(g.llm_calls for g in gens)
        assert totals.gpu_hours == pytest.approx(_sum(h.gpu for h in hours))
        assert totals.cpu_core_hours == pytest.approx(_sum(h.cpu_core for h in hours))
        assert totals.gpu_unmeasured == sum(h.gpu is None for h in hours)


def test_paper_scale_dry_run_lists_its_cells_and_skips_the_llms_it_cannot_reach(offline, capsys):
    assert main(["study", str(PAPER), "--dry-run"]) == 0
    out = capsys.readouterr().out
    settings = load_settings(StudySettings, PAPER)
    for cell in settings.cells():
        assert f"{cell.table}/{cell.row}" in out
    plan = plan_study(settings)
    assert set(plan.skipped) == set(LLMS)
    assert "OPENAI_API_KEY is unset" in plan.skipped["gpt35-instruct"] and "GEMINI_API_KEY" in plan.skipped["gemini2-flash"]
    assert "HF_HUB_OFFLINE" in plan.skipped["llama2-13b-chat"] and "./models/llama-7b" in plan.skipped["llama-7b"]
    for name in LLMS:
        assert re.search(rf"{name}: .*{re.escape(plan.skipped[name][:30])}", out)
    # the configured grid: 5 generators x 3 seeds + 3 more encoder choices x 3 seeds on LLaMA2's comparisons
    configured = [j for j in plan.jobs if not j.stand_in]
    assert len(configured) == 24 and all(j.train_samples == round(0.8 * 499_500) * 20 for j in configured)
    assert all(j.skipped for j in configured if j.generator in LLMS)
    # rule takes over the reference and the encoder ablation: its 3 jobs + 3 encoder choices x 3 seeds
    assert len(plan.runnable()) == 12 and {j.generator for j in plan.runnable()} == {"rule"}
    assert any("`rule`" in note for note in plan.fallbacks)
    # every LLM describes the pool once (not per seed); no LLM, no call
    calls = {g.generator: g.llm_calls for g in plan.generations}
    assert calls == {**dict.fromkeys(LLMS, 499_500), "rule": 0}
    assert {g.generator for g in plan.generations if g.where == "hosted API"} == {"gpt35-instruct", "gemini2-flash"}
    totals = plan.totals(configured=True)
    assert totals.llm_calls == 4 * 499_500 and totals.api_calls == 2 * 499_500
    assert totals.gpu_unmeasured > 0 and "unmeasured" in out  # ViT-L-14 was never timed: said, not guessed
    assert "data.root data/coco" in out  # what would stop the study before any work


def _only_jobs(script: Path) -> list[int]:
    match = re.search(r"--only-jobs ([0-9,]+)$", script.read_text(), re.M)
    assert match, script.read_text()
    return [int(i) for i in match.group(1).split(",")]


def _bash_n(path: Path) -> None:
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("per_script", [1, 4, 10])
def test_slurm_scripts_cover_every_runnable_job_once(tmp_path, per_script):
    settings = tiny_study(tmp_path)
    plan = plan_study(settings)
    paths = write_slurm(plan, tmp_path / "slurm", SlurmOptions(jobs_per_script=per_script, config=tmp_path / "s.toml"))
    assert len(paths) == math.ceil(len(plan.runnable()) / per_script)
    assert sorted(p.name for p in (tmp_path / "slurm").glob("job-*.sbatch")) == [p.name for p in paths]
    named = []
    for path in [*paths, tmp_path / "slurm" / "prepare.sbatch", tmp_path / "slurm" / "report.sbatch"]:
        _bash_n(path)
        text = path.read_text()
        for line in ("#SBATCH --job-name=tiny-", "#SBATCH --gpus=1", "#SBATCH --cpus-per-task=1", "#SBATCH --output="):
            assert line in text
        assert "#SBATCH --time" not in text and "no --time" in text  # pcclip-vit-nano: no measured cost
    for path in paths:
        named += _only_jobs(path)
        assert f"study {tmp_path / 's.toml'} --only-jobs" in path.read_text()
    assert named == [job.index for job in plan.runnable()]  # each job once, in order
    assert "--only-jobs none" in (tmp_path / "slurm" / "prepare.sbatch").read_text()
    assert "--only-jobs" not in (tmp_path / "slurm" / "report.sbatch").read_text()
    submit = tmp_path / "slurm" / "submit_all.sh"
    _bash_n(submit)
    assert "--dependency=afterok" in submit.read_text()


def test_submit_all_chains_prepare_jobs_and_report(tmp_path):
    """submit_all.sh run against a stand-in sbatch: prepare first, every job after it, the report after all."""
    write_slurm(plan_study(tiny_study(tmp_path)), tmp_path / "slurm", SlurmOptions(jobs_per_script=4))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "sbatch.log"
    fake = bin_dir / "sbatch"
    fake.write_text(f'#!/bin/bash\necho "$@" >> {log}\necho "$(wc -l < {log});cluster"\n')
    fake.chmod(0o755)
    result = subprocess.run(
        ["bash", str(tmp_path / "slurm" / "submit_all.sh")],
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "--parsable prepare.sbatch",
        "--parsable --dependency=afterok:1 job-000.sbatch",
        "--parsable --dependency=afterok:1 job-001.sbatch",
        "--parsable --dependency=afterok:1:2:3 report.sbatch",
    ]
    assert "submitted: prepare 1, report 4" in result.stdout


def test_slurm_time_comes_from_a_measured_estimate_with_a_margin(tmp_path, monkeypatch):
    settings = tiny_study(tmp_path)
    dump = settings.run.model_dump(mode="json")
    timed = Cost("finetune", "gpu", 1, 3.0, {"model.name": dump["model"]["name"]}, "test figure")
    evaluated = Cost("evaluate", "gpu", 1, 60.0, {"model.name": dump["model"]["name"]}, "test figure")
    monkeypatch.setattr(study_plan, "COSTS", (*COSTS, timed, evaluated))
    plan = plan_study(settings)
    assert plan.jobs[0].hours.gpu == pytest.approx((19 * 3.0 + 60.0) / 3600)
    [path] = write_slurm(plan, tmp_path / "big", SlurmOptions(jobs_per_script=6))
    assert "#SBATCH --time=00:30:00" in path.read_text()  # 6 x 117 s x 1.5 = 17.6 min: the 30-minute floor
    monkeypatch.setattr(study_plan, "SLURM_MIN_MINUTES", 1)
    [path] = write_slurm(plan, tmp_path / "big", SlurmOptions(jobs_per_script=6))
    assert "#SBATCH --time=00:18:00" in path.read_text()
    [path] = write_slurm(plan, tmp_path / "fixed", SlurmOptions(jobs_per_script=6, time="2-00:00:00"))
    assert "#SBATCH --time=2-00:00:00" in path.read_text()


def test_paper_scale_slurm_dir_from_the_command_line(offline, tmp_path, capsys):
    out_dir = tmp_path / "slurm"
    assert main(["study", str(PAPER), "--slurm-dir", str(out_dir), "--cells-per-job", "5", "--slurm-time", "24:00:00"]) == 0
    scripts = sorted(out_dir.glob("job-*.sbatch"))
    assert len(scripts) == math.ceil(12 / 5)  # the 12 jobs that can run here
    plan = plan_study(load_settings(StudySettings, PAPER))
    for script in scripts:
        _bash_n(script)
        assert all(plan.jobs[i].skipped is None for i in _only_jobs(script))
        assert "#SBATCH --time=24:00:00" in script.read_text() and f"study {PAPER}" in script.read_text()
    assert "wrote 3 job scripts" in capsys.readouterr().out


def test_job_lists_parse_and_are_checked(tmp_path):
    assert parse_job_list("0,3,5-7") == [0, 3, 5, 6, 7] and parse_job_list("none") == [] and parse_job_list("2,2") == [2]
    with pytest.raises(PcclipError, match="expected job numbers"):
        parse_job_list("a,b")
    plan = plan_study(tiny_study(tmp_path))
    with pytest.raises(PcclipError, match="no job 6; the plan has jobs 0-5"):
        plan.job_keys([6])


class FakePipeline:
    """run_study's stages, recorded instead of run."""

    calls: ClassVar[list[tuple]] = []

    def __init__(self, settings, output_dir, log):
        pass

    def check_inputs(self):
        return 0, []

    def comparisons(self, name, generation):
        self.calls.append(("generate", name))
        return {}, {"pairs": 1, "failed": 0, "kept": 1}

    def base_metrics(self):
        self.calls.append(("base",))
        return {}

    def finetune_path(self, generator, generation, finetune, seed):
        return Path("/nonexistent/checkpoint.safetensors")  # nothing cached: every job trains

    def finetuned_metrics(self, generator, generation, finetune, seed):
        self.calls.append(("finetune", generator, finetune.trainable, seed))
        return {}

    def manifest(self):
        return {"stage_seconds": {}, "peak_rss_mb": 0.0}


@pytest.fixture
def fake_pipeline(monkeypatch):
    FakePipeline.calls = []
    monkeypatch.setattr(study, "Pipeline", FakePipeline)
    return FakePipeline.calls


def test_only_jobs_runs_those_jobs_after_the_shared_stages(tmp_path, fake_pipeline):
    settings = tiny_study(tmp_path)
    plan = plan_study(settings)
    result = run_study(settings, tmp_path / "out", log=lambda _: None, only_jobs=plan.job_keys([1, 4]))
    assert [c for c in fake_pipeline if c[0] == "finetune"] == [
        ("finetune", "oracle", "text-blocks", 1),
        ("finetune", "oracle", "image", 0),
    ]
    assert ("generate", "oracle") in fake_pipeline and ("generate", "rule") in fake_pipeline and ("base",) in fake_pipeline
    assert result["jobs"] == [plan.jobs[1].key, plan.jobs[4].key] and not (tmp_path / "out" / "study.json").exists()
    fake_pipeline.clear()
    run_study(settings, tmp_path / "out", log=lambda _: None, only_jobs=set())  # 'none': the shared stages alone
    assert fake_pipeline and all(c[0] != "finetune" for c in fake_pipeline)


def test_only_jobs_from_the_command_line(tmp_path, monkeypatch, fake_pipeline, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["study", "--only-jobs", "3,25"]) == 0  # the default plan: oracle seed 3, oracle text seed 0
    assert [c for c in fake_pipeline if c[0] == "finetune"] == [
        ("finetune", "oracle", "text-blocks", 3),
        ("finetune", "oracle", "text", 0),
    ]
    out = capsys.readouterr().out
    assert "jobs run: 3, 25" in out and "no report" in out
    assert main(["study", "--only-jobs", "99"]) == 2
    assert "no job 99" in capsys.readouterr().err
