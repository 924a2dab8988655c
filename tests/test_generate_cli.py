"""The generation commands as a user meets them: pairs -> generate -> filter -> score, shards and
merge, and one clear line for each mistake. In-process through `pcclip.cli.main` (the path the
installed command takes) except one real subprocess, because starting Python is the slow part."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from pcclip.cli import main


@pytest.fixture
def pcclip(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> SimpleNamespace:
        code = main(list(args))
        captured = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=captured.out, stderr=captured.err)

    return run


@pytest.fixture
def ok(pcclip):
    def run(*args: str) -> str:
        result = pcclip(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    return run


def test_pairs_generate_filter_score(ok, tmp_path):
    assert ok("pairs", "--world", "20", "--minimal", "-o", "pairs.jsonl").startswith("20 ordered pairs")
    out = ok("generate", "pairs.jsonl", "--store", "gen.sqlite", "-o", "records.jsonl", "--set", "backend.backend=rule")
    assert "rule word-difference-v1: 20 pairs: 20 generated now, 0 from the store" in out
    assert "filter: kept" in out and "agreement on" in out and "store: gen.sqlite; records: records.jsonl" in out
    again = ok("generate", "pairs.jsonl", "--store", "gen.sqlite", "--set", "backend.backend=rule")
    assert "0 generated now, 20 from the store" in again
    filtered = ok("filter", "records.jsonl", "-o", "kept.jsonl", "--min-chars", "0")
    assert "filter: kept 20 of 20 completed outputs" in filtered
    unfiltered = ok("filter", "records.jsonl", "-o", "all.jsonl", "--off")
    assert unfiltered.startswith("filter off: kept all 20")
    score = ok("score", "records.jsonl", "pairs.jsonl")
    assert score.startswith("agreement on 20 sentences: names a real difference")
    assert ok("score", "gen.sqlite", "pairs.jsonl") == score  # the store reads as its export does
    ok("generate", "pairs.jsonl", "--store", "gen.sqlite", "--quiet")  # the oracle's, beside the rule's
    both = ok("score", "gen.sqlite", "pairs.jsonl")
    assert both.count("== settings ") == 2 and both.count("agreement on 20 sentences") == 2
    assert "(rule word-difference-v1): 20 records" in both and "correct (right attribute, right way round) 100.0%" in both
    record = json.loads((tmp_path / "records.jsonl").read_text().splitlines()[0])
    assert {
        "pair_id",
        "caption_a",
        "prompt",
        "raw",
        "cleaned",
        "backend",
        "model",
        "settings",
        "created",
        "status",
        "kept",
        "rule",
    } <= set(record)


def test_shards_merge_and_export(ok):
    ok("pairs", "--world", "8", "--pairs", "30", "-o", "pairs.jsonl")
    for i in range(2):
        out = ok("generate", "pairs.jsonl", "--store", f"shard{i}.sqlite", "--shard", f"{i}/2", "--quiet")
        assert f"(shard {i}/2)" in out
    assert ok("store", "merge", "shard0.sqlite", "shard1.sqlite", "--into", "all.sqlite") == (
        "all.sqlite: 30 completed, 0 failed\n"
    )
    assert ok("store", "export", "all.sqlite", "all.jsonl") == "30 records -> all.jsonl\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "missing.jsonl", "--store", "s.sqlite"], "missing.jsonl: file not found"),
        (["generate", "pairs.jsonl", "--store", "s.sqlite", "--shard", "2/2"], "shard '2/2': expected i/n"),
        (["generate", "pairs.jsonl", "--store", "s.sqlite", "--set", "backend.backend=gpt"], "expected tags: 'oracle'"),
        (["generate", "items.jsonl", "--store", "s.sqlite"], "line 1: not a pair"),
        (["generate", "plain.jsonl", "--store", "s.sqlite"], "needs world attributes, and pair 'a>b' has none"),
        (
            ["generate", "plain.jsonl", "--store", "s.sqlite", "--set", "backend.backend=vllm", "--set", "backend.model=m"],
            "needs vLLM, which is not installed",
        ),
        (["pairs", "--items", "items.jsonl", "--pairs", "5", "-o", "x.jsonl"], "asked for 5 pairs, but 2 items make 2"),
        (["pairs", "--items", "items.jsonl", "--minimal", "-o", "x.jsonl"], "--minimal builds world pairs"),
        (["score", "plain.jsonl", "plain.jsonl"], "not a generation record"),
    ],
)
def test_mistakes_are_one_line(args, message, pcclip, ok, tmp_path):
    (tmp_path / "items.jsonl").write_text('{"id": "a", "caption": "a red circle"}\n{"id": "b", "caption": "a star"}\n')
    ok("pairs", "--items", "items.jsonl", "-o", "plain.jsonl")
    ok("pairs", "--world", "3", "-o", "pairs.jsonl")
    result = pcclip(*args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2  # the error line (and the settings it names)


def test_the_installed_command_prints_one_line_not_a_traceback(tmp_path):
    env = {**os.environ, "PCCLIP_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "pcclip", "generate", "missing.jsonl", "--store", "s.sqlite"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 2 and result.stderr == "pcclip: error: missing.jsonl: file not found\n"
