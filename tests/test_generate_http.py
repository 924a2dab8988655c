"""The OpenAI-compatible back end against a real HTTP server on loopback: both endpoints, faults
(429 + Retry-After, 500, stalls past the timeout, malformed bodies), reruns, kill -9, odd inputs
and outputs, and the API key staying out of everything written."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pcclip.generate import GenerationSettings, generate, run_generation
from pcclip.generate.backends.openai import _retry_after
from pcclip.generate.mock_server import MockOpenAIServer, default_answer
from pcclip.generate.pairs import build_pairs, save_pairs
from pcclip.generate.store import Store

KEY = "sk-test-DO-NOT-LEAK-7f3a9c"


def pairs_of(n: int):
    return build_pairs([(f"img{i}", f"a picture of {i} objects") for i in range(n + 1)], n_pairs=n, seed=0)


def http(server: MockOpenAIServer, style="chat", **backend) -> GenerationSettings:
    settings = {
        "backend": "openai",
        "base_url": server.url,
        "model": "mock-1",
        "concurrency": 8,
        "timeout_s": 0.5,
        "max_retries": 3,
        "backoff_s": 0.01,
        **backend,
    }
    return GenerationSettings.model_validate({"backend": settings, "prompt": {"style": style}})


@pytest.mark.parametrize("style", ["chat", "completion"])
def test_both_endpoints_answer_every_pair(style, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    pairs = pairs_of(20)
    with MockOpenAIServer(api_key=KEY) as server:
        records = generate(pairs, http(server, style), tmp_path / "s.sqlite")
    assert all(r.status == "ok" for r in records)
    assert [r.raw for r in records] == [default_answer(r.prompt) for r in records]
    assert sum(server.requests.values()) == 20 and server.outcomes == {"ok": 20}
    assert records[0].prompt.startswith('[{"role": "user"' if style == "chat" else "Q: What is the visual")


def test_faults_end_completed_or_failed_with_reason_and_a_rerun_completes(tmp_path):
    pairs = pairs_of(120)
    store = tmp_path / "s.sqlite"
    with MockOpenAIServer(fault_rate=0.2, stall_s=1.5) as server:
        first = generate(pairs, http(server, max_retries=0), store)
        failed = [r for r in first if r.status == "failed"]
        assert 10 <= len(failed) <= 40 and all(r.reason for r in failed)
        kinds = {r.reason.split(":")[0].split(" after")[0] for r in failed}
        assert kinds == {"HTTP 429", "HTTP 500", "timed out", "malformed response"}, kinds
        done_prompts = {r.prompt for r in first if r.status == "ok"}
        server.requests.clear()
        second = run_generation(pairs, http(server, max_retries=6), store)
    assert all(r.status == "ok" for r in second.records) and second.reused == len(done_prompts)
    assert not done_prompts & set(server.requests)  # nothing finished is asked again
    with Store(store, readonly=True) as s:
        rows = s.records()
    assert len(rows) == len({(r.key, r.pair_id) for r in rows}) == len({r.pair_id for r in rows}) == 120
    assert {r.attempts for r in rows if r.prompt not in done_prompts} == {2}


def test_retries_honour_retry_after(tmp_path):
    server = MockOpenAIServer(fault_rate=0.5, faults=("429",), retry_after="0.4")
    # a pair whose first request is rate-limited and whose second is answered
    pair = next(p for p in pairs_of(40) if server._fault(_chat_prompt(p), 1) and not server._fault(_chat_prompt(p), 2))
    with server:
        started = time.perf_counter()
        [record] = generate([pair], http(server, backoff_s=0.0), tmp_path / "s.sqlite")
        waited = time.perf_counter() - started
    assert record.status == "ok" and server.outcomes == {"429": 1, "ok": 1}
    assert 0.4 <= waited < 2.0


def _chat_prompt(pair):
    from pcclip.generate.prompts import PromptSettings, prompt_text, render_prompt

    return prompt_text(render_prompt(pair.caption_a, pair.caption_b, PromptSettings(style="chat")))


def test_retry_after_forms():
    assert _retry_after("3") == 3.0 and _retry_after("0.5") == 0.5 and _retry_after(None) is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: go now
    assert _retry_after("soon") is None


def test_odd_inputs_and_outputs_fail_with_their_reason(tmp_path):
    answers = {"0": "", "1": "x" * 5000, "2": b'{"choices": [{"message": {"content": "caf\xe9"}}]}', "3": "y" * 3_000_000}

    def answer(prompt):
        for marker, text in answers.items():
            if f"item {marker} " in prompt:
                return text
        return default_answer(prompt)

    items = [(str(i), f"item {i} here") for i in range(5)] + [("empty", "  "), ("surrogate", "caf\udce9 item")]
    pairs = [p for p in build_pairs(items) if p.id_b == "4"]
    with MockOpenAIServer(answer=answer) as server:
        records = {r.id_a: r for r in generate(pairs, http(server, max_retries=1), tmp_path / "s.sqlite")}
    assert records["0"].reason == "empty output"
    assert records["1"].reason == "output too long (5000 characters > max_output_chars 4000)"
    assert len(records["1"].raw) == 4000
    assert records["2"].reason == "malformed response: body is not UTF-8 (2 tries)"
    assert records["3"].reason == "response larger than max_response_bytes (1000000)"
    assert records["empty"].reason == "empty caption_a"
    assert records["surrogate"].reason.startswith("prompt is not valid UTF-8 text")
    assert records["surrogate"].caption_a == "caf\\udce9 item"  # stored escaped
    assert not any("empty" in p or "surrogate" in p for p in server.requests)  # never sent


def test_non_retryable_errors_fail_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "wrong-key")
    with MockOpenAIServer(api_key=KEY) as server:
        [record] = generate(pairs_of(1), http(server), tmp_path / "s.sqlite")
    assert record.reason == 'HTTP 401: {"error": {"message": "invalid api key"}}'
    assert sum(server.requests.values()) == 1


def test_unreachable_server_fails_with_reason(tmp_path):
    settings = GenerationSettings.model_validate(
        {"backend": {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "max_retries": 1, "backoff_s": 0}}
    )
    [record] = generate(pairs_of(1), settings, tmp_path / "s.sqlite")
    assert record.status == "failed" and record.reason.startswith("connection failed:") and "(2 tries)" in record.reason


def _cli(*args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "pcclip", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _env(tmp_path, **extra):
    return {**os.environ, "PCCLIP_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1", **extra}


def test_kill_9_mid_run_loses_nothing_and_asks_nothing_twice(tmp_path):
    pairs = pairs_of(200)
    save_pairs(pairs, tmp_path / "pairs.jsonl")
    store = tmp_path / "s.sqlite"
    with MockOpenAIServer(latency_s=0.05) as server:
        args = [
            "generate",
            str(tmp_path / "pairs.jsonl"),
            "--store",
            str(store),
            "--quiet",
            "--set",
            "backend.backend=openai",
            "--set",
            f"backend.base_url={server.url}",
            "--set",
            "backend.model=mock-1",
            "--set",
            "backend.concurrency=4",
        ]
        process = _cli(*args, env=_env(tmp_path))
        deadline = time.monotonic() + 60
        while _ok_rows(store) < 40:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        with Store(store, readonly=True) as s:
            before = {(r.key, r.pair_id): r for r in s.records()}
        assert 40 <= len(before) < 200
        server.requests.clear()
        rerun = _cli(*args, env=_env(tmp_path))
        out, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, err
    with Store(store, readonly=True) as s:
        after = {(r.key, r.pair_id): r for r in s.records()}
    assert len(after) == 200 and len({pid for _, pid in after}) == 200 and all(r.status == "ok" for r in after.values())
    assert all(after[k] == record for k, record in before.items())  # nothing written was lost or redone
    assert not {r.prompt for r in before.values()} & set(server.requests)
    assert sum(server.requests.values()) == 200 - len(before)
    assert f"{200 - len(before)} generated now, {len(before)} from the store" in out


def _ok_rows(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM records WHERE status = 'ok'").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not there yet
        return 0


def test_api_key_never_written_or_printed(tmp_path):
    pairs = pairs_of(30)
    save_pairs(pairs, tmp_path / "pairs.jsonl")
    store, out_file = tmp_path / "s.sqlite", tmp_path / "records.jsonl"
    with MockOpenAIServer(api_key=KEY, fault_rate=0.3, faults=("500", "malformed")) as server:
        process = _cli(
            "generate",
            str(tmp_path / "pairs.jsonl"),
            "--store",
            str(store),
            "-o",
            str(out_file),
            "--set",
            "backend.backend=openai",
            "--set",
            f"backend.base_url={server.url}",
            "--set",
            "backend.model=mock-1",
            "--set",
            "backend.max_retries=0",
            "--set",
            "backend.api_key_env=MY_SECRET_KEY",
            env=_env(tmp_path, MY_SECRET_KEY=KEY),
        )
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert f"Authorization: Bearer {KEY}" in server.headers_seen  # it was sent...
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.endswith("-wal") or p.name == "s.sqlite" for p in written)
    for path in written:  # ...and is nowhere on disk: store, WAL, export, cache
        assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in out + err
    records = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert records[0]["settings"]["backend"]["api_key_env"] == "MY_SECRET_KEY"
    assert any(r["status"] == "failed" for r in records)


def test_credentials_in_the_base_url_are_not_recorded():
    from pcclip.generate.backends import DecodingSettings, create_backend
    from pcclip.generate.backends.openai import OpenAISettings

    settings = OpenAISettings(base_url="https://user:hunter2@llm.example:8443/v1?key=abc", model="m")
    provenance = create_backend(settings, DecodingSettings()).provenance()
    assert provenance["backend"]["base_url"] == "https://llm.example:8443/v1"
    assert "hunter2" not in json.dumps(provenance) and "abc" not in json.dumps(provenance)
