"""Stage code versions: caches follow the code, and the recorded digests guard the versions."""

import shutil
from dataclasses import replace

import pytest

from pcclip import stages
from pcclip.cache import cache_entries
from pcclip.cli import main
from pcclip.config import RunSettings
from pcclip.pipeline import Pipeline


def test_every_stage_source_matches_its_recorded_digest():
    problems = stages.unrecorded_changes(stages.recorded_digests())
    assert not problems, "\n".join(f"{name}: {why}" for name, why in problems.items()) + (
        "\n(then run: python -m pcclip.stages --record)"
    )


def test_the_digest_check_reports_a_changed_source_or_an_unrecorded_version():
    recorded = {name: {"version": s.version, "digest": stages.source_digest(name)} for name, s in stages.STAGES.items()}
    assert stages.unrecorded_changes(recorded) == {}
    recorded["evaluation"]["digest"] = "0" * 64
    recorded["finetune"]["version"] += 1
    problems = stages.unrecorded_changes(recorded)
    assert set(problems) == {"evaluation", "finetune"}
    assert "bump STAGES['evaluation'].version" in problems["evaluation"]


def test_a_changed_evaluation_constant_changes_the_evaluation_digest(tmp_path, monkeypatch):
    copy = tmp_path / "pcclip"
    shutil.copytree(stages.PACKAGE, copy)
    before = {name: stages.source_digest(name) for name in stages.STAGES}
    data = copy / "data.py"
    text = data.read_text()
    assert "RANKING_SENTENCES = " in text
    data.write_text(text.replace("RANKING_SENTENCES = ", "RANKING_SENTENCES = 1 + ", 1))
    monkeypatch.setattr(stages, "PACKAGE", copy)
    changed = {name for name in stages.STAGES if stages.source_digest(name) != before[name]}
    assert "evaluation" in changed and "generation" not in changed


def _bumped(monkeypatch, name: str) -> None:
    monkeypatch.setitem(stages.STAGES, name, replace(stages.STAGES[name], version=stages.STAGES[name].version + 1))


def test_a_version_bump_changes_the_keys_of_the_stage_and_of_every_stage_built_on_it(tmp_path, monkeypatch):
    settings = RunSettings(cache_dir=tmp_path)
    before = Pipeline(settings, tmp_path / "out", log=lambda _: None)
    folders = {name: stages.stage_folder(tmp_path, name) for name, s in stages.STAGES.items() if s.cached}
    _bumped(monkeypatch, "world")
    after = Pipeline(settings, tmp_path / "out", log=lambda _: None)
    assert after.base_key != before.base_key and after.pool_key != before.pool_key
    assert after.base_path.parent != before.base_path.parent
    moved = {name for name, folder in folders.items() if stages.stage_folder(tmp_path, name) != folder}
    # benchmarks read real data only; everything else renders or phrases the world somewhere upstream
    assert moved == {"pretrain", "pairs", "generation", "scoring", "finetune", "evaluation"}
    evaluation = stages.stage_folder(tmp_path, "evaluation")
    _bumped(monkeypatch, "evaluation")
    assert set(stages.code_versions("evaluation")) == {"evaluation", "world"}
    assert stages.stage_folder(tmp_path, "evaluation") != evaluation
    assert stages.stage_folder(tmp_path, "pretrain") == after.base_path.parent  # upstream stages keep theirs


def test_cache_lists_stages_and_prunes_only_stale_code(tmp_path, capsys):
    current = stages.stage_folder(tmp_path, "evaluation")
    stale = tmp_path / "evaluation" / "v0-00000000"
    legacy = tmp_path / "checkpoints"
    for folder, size in ((current, 10), (stale, 2048), (legacy, 4096)):
        folder.mkdir(parents=True)
        (folder / "result.json").write_bytes(b"x" * size)
    assert main(["cache", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert [line.split()[:3] for line in out.splitlines()[1:4]] == [
        ["evaluation", current.name, "current"],
        ["evaluation", "v0-00000000", "stale"],
        ["checkpoints", "unversioned", "stale"],
    ]
    assert "2 stale folders" in out
    assert main(["cache", "prune", "--cache-dir", str(tmp_path)]) == 0
    assert "removed 2 stale folders" in capsys.readouterr().out
    assert current.is_dir() and not stale.exists() and not legacy.exists()
    assert [e.code for e in cache_entries(tmp_path)] == [current.name]


def test_cache_of_an_empty_folder_says_so(tmp_path, capsys):
    assert main(["cache", "--cache-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == f"{tmp_path}: no cached results"


@pytest.mark.parametrize("name", [n for n, s in stages.STAGES.items() if not s.cached])
def test_a_stage_without_a_cache_folder_refuses_one(tmp_path, name):
    with pytest.raises(ValueError, match="keeps nothing in the cache"):
        stages.stage_folder(tmp_path, name)
