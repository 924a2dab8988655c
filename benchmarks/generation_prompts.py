"""Prompt variants for the offline LLMs, judged against the world's ground truth.

    .venv/bin/python benchmarks/generation_prompts.py [--pairs 150] [--only smollm2-] [--examples 10]

Each generator table of benchmarks/generation_prompts.toml describes the same training pairs, built
as the study builds them (minimal pairs from the pretraining scenes, train phrasing); the table's own
filter keeps what it keeps, and the scorer judges the kept sentences, as the study's generation-quality
table does. Outputs are cached in --store-dir, so a rerun only generates what is new. Torch runs on
--threads threads (default 1: the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import random
import tomllib
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pcclip.config import PairSettings
from pcclip.data import training_pair_pool
from pcclip.generate import GenerationSettings, agreement, apply_filter, run_generation
from pcclip.generate.scoring import judge_sentence
from pcclip.world.scene import WorldConfig, sample_scenes

VARIANTS = Path(__file__).with_name("generation_prompts.toml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=150)
    parser.add_argument("--only", default="", help="run the tables whose name starts with this")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--examples", type=int, default=0, help="print this many sentences per table, with verdicts")
    parser.add_argument("--store-dir", type=Path, default=Path("runs/generation_prompts"))
    args = parser.parse_args()

    world = WorldConfig()
    pairs = training_pair_pool(sample_scenes(10_000, 0, world), PairSettings(pairs=args.pairs), world)
    tables = tomllib.loads(VARIANTS.read_text(encoding="utf-8"))["generators"]
    args.store_dir.mkdir(parents=True, exist_ok=True)
    print("| prompt | pairs | kept | names a real difference | correct (of kept) | correct (of all pairs) | s |")
    print("|---|---|---|---|---|---|---|")
    for name, table in tables.items():
        if not name.startswith(args.only):
            continue
        table["backend"] = {**table["backend"], "threads": args.threads}
        settings = GenerationSettings.model_validate(table)
        result = run_generation(pairs, settings, args.store_dir / f"{name}.sqlite")
        kept, _ = apply_filter(result.records, settings.filter.enabled, settings.filter)
        score = agreement(kept, pairs)
        n, k = len(pairs), max(score.total, 1)
        print(
            f"| {name} | {n} | {score.total} | {score.names_difference / k:.1%} | {score.correct / k:.1%} | "
            f"{score.correct / n:.1%} | {result.seconds:.0f} |",
            flush=True,
        )
        by_id = {p.pair_id: p for p in pairs}
        for record in random.Random(0).sample(kept, min(args.examples, len(kept))):
            a, b = by_id[record.pair_id].scenes()
            verdict = judge_sentence(record.cleaned, a, b, (record.caption_a, record.caption_b)).verdict
            print(f"    {record.caption_a} | {record.caption_b} -> {record.cleaned!r}: {verdict}")


if __name__ == "__main__":
    main()
