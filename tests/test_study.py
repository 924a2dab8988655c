"""The study grid on tiny settings: tables, statistics, resume, report, and config errors."""

import json

import pytest

from pcclip.errors import PcclipError
from pcclip.report import write_report
from pcclip.settings_io import load_settings
from pcclip.study import StudySettings, mean_ci, paired_test, run_study

TINY_RUN = {
    "world": {"image_size": 32},
    "model": {"name": "pcclip-vit-nano"},
    "pretrain": {"scenes": 64, "epochs": 1, "batch_size": 16, "warmup_steps": 0},
    "pairs": {"images": 32, "pairs": 24},
    "finetune": {"epochs": 1, "batch_size": 8, "warmup_steps": 0},
    "eval": {"pairs_per_attribute": 4, "zero_shot_per_class": 2, "caption_scenes": 16},
    "seeds": [0, 1],
    "threads": 1,
}


def tiny_study(tmp_path) -> StudySettings:
    return StudySettings.model_validate({
        "name": "tiny",
        "run": {**TINY_RUN, "cache_dir": str(tmp_path / "cache")},
        "generators": {"oracle": {"filter": {"enabled": False}}, "rule": {"backend": {"backend": "rule"}, "filter": {"enabled": False}}},
        "llm_ablation": ["oracle", "rule"],
        "encoder_ablation": ["text-blocks", "image"],
        "encoder_generator": "oracle",
        "reference": {"generator": "oracle", "trainable": "text-blocks", "why": "test"},
    })


def test_statistics_by_hand():
    # mean 2, sd 1, n 3: half-width t(0.975, 2) * 1 / sqrt(3) = 4.302653 / 1.732051
    assert mean_ci([1.0, 2.0, 3.0]) == pytest.approx({"mean": 2.0, "ci": 4.302653 / 3**0.5, "n": 3}, rel=1e-6)
    assert mean_ci([0.5]) == {"mean": 0.5, "ci": 0.0, "n": 1}
    # diffs 1, 2, 3: t = 2 / (1 / sqrt 3) = sqrt 12, df 2, whose CDF is 1/2 + t / (2 sqrt(2 + t^2)):
    # two-sided p = 1 - sqrt(12 / 14)
    test = paired_test([1.0, 2.0, 4.0], [0.0, 0.0, 1.0])
    assert test["diff"] == pytest.approx(2.0) and test["p"] == pytest.approx(1 - (12 / 14) ** 0.5, rel=1e-6)
    assert paired_test([1.0, 2.0], [0.0, 1.0])["p"] is None  # constant differences: no test


def test_study_runs_resumes_and_reports(tmp_path):
    settings = tiny_study(tmp_path)
    first = run_study(settings, tmp_path / "out", log=lambda _: None)
    assert [r["generator"] for r in first["tables"]["llm"]] == ["oracle", "rule"]
    assert [r["trainable"] for r in first["tables"]["encoders"]] == ["text-blocks", "image"]
    for rows in first["tables"].values():
        for row in rows:
            for metric in ("difference_accuracy", "zero_shot_accuracy", "clipscore"):
                assert row[metric]["n"] == 2 and len(row[metric]["values"]) == 2
    reference = first["tables"]["llm"][0]
    assert reference["reference"] and reference["difference_accuracy"]["vs_reference"]["diff"] == 0
    assert first["generation"]["oracle"]["correct"] == 1.0  # the oracle is the ground truth

    again = run_study(settings, tmp_path / "out", log=lambda _: None)
    assert "finetune" not in again["stage_seconds"] and again["tables"] == first["tables"]

    md, page = write_report(again, tmp_path / "out")
    text = md.read_text()
    assert "Ablation 1: which LLM writes the comparisons" in text and "oracle (reference)" in text
    assert (tmp_path / "out" / "figures" / "llm_bars.png").stat().st_size > 1000
    assert "data:image/png;base64," in page.read_text()
    assert json.loads((tmp_path / "out" / "study.json").read_text())["seeds"] == [0, 1]


def test_config_typos_name_the_key_and_the_choices(tmp_path):
    with pytest.raises(PcclipError, match="llm_ablation: unknown generator 'gpt5'"):
        load_settings(StudySettings, None, ['llm_ablation=["oracle", "gpt5"]'])
    with pytest.raises(PcclipError, match="unknown encoder choice 'images'"):
        load_settings(StudySettings, None, ['encoder_ablation=["images"]'])
    with pytest.raises(PcclipError, match="run.finetune.lrr: unknown key"):
        load_settings(StudySettings, None, ["run.finetune.lrr=1"])
    path = tmp_path / "bad.toml"
    path.write_text('[generators.x]\nbackend = { backend = "gpt" }\n')
    with pytest.raises(PcclipError, match="bad.toml: invalid settings"):
        load_settings(StudySettings, path)


def test_shipped_config_validates():
    settings = load_settings(StudySettings, "configs/embedded-default.toml")
    assert settings.reference.generator == "smollm2-135m" and settings.run.seeds == (0, 1, 2)
