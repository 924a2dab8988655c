"""Local LM generation, batched vs one prompt at a time: pairs/s of each, their ratio, and whether
the texts are identical on the pairs both describe (greedy decoding).

    .venv/bin/python benchmarks/generation_batching.py [--generator smollm2-paper-chat] [--pairs 128]
        [--single 16] [--batch-size 64] [--threads 1]

One model, one back end, one set of settings: a generator table of benchmarks/generation_prompts.toml
(model, prompt, decoding), on the study's training pairs. One at a time: each prompt its own
`generate` call; batched: one `generate` call for all pairs, `--batch-size` prompts per forward.
Model load is excluded (a warm-up prompt loads it). The one-at-a-time pairs are timed half before
and half after the batched run, so that a change in the machine's load weighs on both alike.
Exits 1 if a shared pair's text differs.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tomllib
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pcclip.config import PairSettings
from pcclip.data import training_pair_pool
from pcclip.generate import GenerationSettings
from pcclip.generate.backends import Request, create_backend
from pcclip.generate.prompts import render_prompt
from pcclip.world.scene import WorldConfig, sample_scenes

GENERATORS = Path(__file__).with_name("generation_prompts.toml")


def one_at_a_time(backend, requests) -> tuple[list[str], float]:
    started = time.perf_counter()
    texts = [next(backend.generate([r]))[1].text for r in requests]
    return texts, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default="smollm2-paper-chat", help=f"a table of {GENERATORS.name}")
    parser.add_argument("--pairs", type=int, default=128, help="pairs generated batched")
    parser.add_argument("--single", type=int, default=16, help="pairs generated one at a time (the first of them)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    table = tomllib.loads(GENERATORS.read_text(encoding="utf-8"))["generators"][args.generator]
    table["backend"] = {**table["backend"], "threads": args.threads, "batch_size": args.batch_size}
    settings = GenerationSettings.model_validate(table)
    assert settings.decoding.temperature == 0, "identical texts are only expected from greedy decoding"
    world = WorldConfig()
    pairs = training_pair_pool(sample_scenes(10_000, 0, world), PairSettings(pairs=args.pairs + 1), world)
    requests = [Request(p, render_prompt(p.caption_a, p.caption_b, settings.prompt)) for p in pairs]
    warmup, requests = requests[-1], requests[:-1]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch threads {args.threads}; "
        f"load average at start {os.getloadavg()[0]:.2f}"
    )
    backend = create_backend(settings.backend, settings.decoding)
    started = time.perf_counter()
    list(backend.generate([warmup]))
    print(f"{args.generator}: load + first prompt {time.perf_counter() - started:.1f} s")

    half = args.single // 2
    single, seconds = one_at_a_time(backend, requests[:half])
    started = time.perf_counter()
    batched = dict(backend.generate(requests))
    batched_seconds = time.perf_counter() - started
    rest, more_seconds = one_at_a_time(backend, requests[half : args.single])
    single, seconds = single + rest, seconds + more_seconds

    single_rate, batched_rate = args.single / seconds, args.pairs / batched_seconds
    same = sum(batched[i].text == text for i, text in enumerate(single))
    print(f"one at a time: {args.single} pairs, {single_rate:.3f} pairs/s")
    print(f"batched (batch {args.batch_size}): {args.pairs} pairs, {batched_rate:.3f} pairs/s")
    print(f"ratio: {batched_rate / single_rate:.1f}x; identical texts on the shared pairs: {same}/{args.single}")
    for i, text in enumerate(single):
        if batched[i].text != text:
            print(f"  differs: {text!r} (one at a time) vs {batched[i].text!r} (batched)")
    sys.exit(0 if same == args.single else 1)


if __name__ == "__main__":
    main()
