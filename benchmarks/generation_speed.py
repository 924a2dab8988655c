"""Generation speed: pairs/s of a local LM batched vs one prompt at a time (same model, settings and
prompts), and of the HTTP back end against a loopback server with a fixed latency.

    .venv/bin/python benchmarks/generation_speed.py [--pairs 64] [--single 16] [--threads 2]

Local LM: SmolLM2-135M-Instruct (packaged GGUF), chat prompts of world minimal pairs, greedy,
max_new_tokens 32, torch threads as given; model load is excluded (a warm-up prompt loads it).
One at a time: each prompt is its own generate call. HTTP: the full `generate` loop (store commits
included) against `MockOpenAIServer` answering after 100 ms, concurrency 16.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pcclip.generate import GenerationSettings, run_generation
from pcclip.generate.backends import DecodingSettings, Request, create_backend
from pcclip.generate.backends.hf import HFSettings
from pcclip.generate.mock_server import MockOpenAIServer
from pcclip.generate.pairs import build_pairs, world_minimal_pairs
from pcclip.generate.prompts import PromptSettings, render_prompt


def local_lm(n_batched: int, n_single: int, threads: int, batch_size: int) -> None:
    pairs = world_minimal_pairs(n_batched + 1, seed=11)
    prompt = PromptSettings(style="chat")
    requests = [Request(p, render_prompt(p.caption_a, p.caption_b, prompt)) for p in pairs]
    warmup, requests = requests[0], requests[1:]
    backend = create_backend(
        HFSettings(model="smollm2-135m", threads=threads, batch_size=batch_size), DecodingSettings(max_new_tokens=32)
    )
    started = time.perf_counter()
    list(backend.generate([warmup]))
    print(f"SmolLM2-135M load + first prompt: {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    single = [next(backend.generate([r]))[1] for r in requests[:n_single]]
    single_rate = n_single / (time.perf_counter() - started)
    started = time.perf_counter()
    batched = dict(backend.generate(requests))
    batched_rate = n_batched / (time.perf_counter() - started)
    same = sum(batched[i].text == s.text for i, s in enumerate(single))
    print(f"one at a time: {n_single} pairs, {single_rate:.2f} pairs/s")
    print(f"batched (batch {batch_size}): {n_batched} pairs, {batched_rate:.2f} pairs/s")
    print(f"ratio: {batched_rate / single_rate:.1f}x; identical outputs on the shared pairs: {same}/{n_single}")


def http(n_pairs: int, latency_s: float, concurrency: int) -> None:
    pairs = build_pairs([(str(i), f"a picture of {i} things") for i in range(n_pairs + 1)], n_pairs, seed=0)
    with MockOpenAIServer(latency_s=latency_s) as server, tempfile.TemporaryDirectory() as tmp:
        settings = GenerationSettings.model_validate(
            {
                "backend": {"backend": "openai", "base_url": server.url, "model": "mock", "concurrency": concurrency},
                "prompt": {"style": "chat"},
            }
        )
        result = run_generation(pairs, settings, Path(tmp) / "store.sqlite")
    assert result.failed == 0 and result.generated == n_pairs
    rate = n_pairs / result.seconds
    print(
        f"HTTP (loopback, {latency_s * 1000:.0f} ms latency, concurrency {concurrency}): {n_pairs} pairs in "
        f"{result.seconds:.2f} s = {rate:.0f} pairs/s (ideal {concurrency / latency_s:.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=64, help="pairs generated batched")
    parser.add_argument("--single", type=int, default=16, help="pairs generated one at a time (the first of them)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--http-pairs", type=int, default=800)
    parser.add_argument("--skip-lm", action="store_true")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}; "
        f"load average at start {os.getloadavg()[0]:.2f}"
    )
    if not args.skip_lm:
        local_lm(args.pairs, args.single, args.threads, args.batch_size)
    http(args.http_pairs, latency_s=0.1, concurrency=16)


if __name__ == "__main__":
    main()
