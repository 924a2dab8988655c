"""Every pipeline stage on the idle machine and beside one busy process: seconds and slowdown ratios,
measured side by side in one run.

    .venv/bin/python benchmarks/busy_neighbour.py [--neighbour-nice 19] [--set threads=1 ...]

A small `pcclip run` (pretraining, the pair pool, SmolLM2 writing comparisons with the paper's prompt,
one finetune, its evaluation) in a fresh cache, as a subprocess: first alone, then with a neighbour
that keeps one core busy (a one-thread matrix-product loop, the kind of job a laptop always has
running). Stage times are the run's own (`stage_seconds` in its results.json). --set passes run
settings through, to compare thread settings.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

SMALL_RUN = [
    "pretrain.scenes=2000",
    "pretrain.epochs=2",
    "pairs.images=64",
    "pairs.pairs=64",
    'generator={backend = {backend = "hf", model = "smollm2-135m", batch_size = 32}, prompt = {style = "chat"}, '
    "decoding = {max_new_tokens = 40}}",
    "finetune.epochs=5",
    "eval.pairs_per_attribute=100",
    "seeds=[0]",
]
NEIGHBOUR = "import numpy as np\na = np.random.rand(384, 384).astype(np.float32)\nwhile True:\n    a @ a\n"


@contextmanager
def busy_neighbour(nice: int = 19):
    """A process that keeps one core busy (one-thread matrix products) while the block runs."""
    one_thread = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", NEIGHBOUR], env=one_thread, preexec_fn=lambda: os.nice(nice))
    try:
        yield
    finally:
        process.kill()
        process.wait()


def timed_run(overrides: list[str], folder: Path) -> dict[str, float]:
    args = [sys.executable, "-m", "pcclip", "run", "--output", str(folder / "out")]
    for setting in [*SMALL_RUN, f"cache_dir={str(folder / 'cache')!r}", *overrides]:
        args += ["--set", setting]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return json.loads((folder / "out" / "results.json").read_text())["stage_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--neighbour-nice", type=int, default=19, help="the busy process's nice level (default 19)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a run setting for both runs")
    args = parser.parse_args()
    times = {}
    with tempfile.TemporaryDirectory() as idle_dir:
        times["idle"] = timed_run(args.set, Path(idle_dir))
    with busy_neighbour(args.neighbour_nice), tempfile.TemporaryDirectory() as busy_dir:
        times["busy"] = timed_run(args.set, Path(busy_dir))
    print(
        f"cores: {len(os.sched_getaffinity(0))}; neighbour: one thread, nice {args.neighbour_nice}; "
        f"settings: {args.set or 'defaults'}"
    )
    print(f"{'stage':<28}{'idle s':>9}{'busy s':>9}{'ratio':>8}")
    for stage in times["idle"]:
        idle, busy = times["idle"][stage], times["busy"].get(stage, float("nan"))
        print(f"{stage:<28}{idle:9.1f}{busy:9.1f}{busy / idle:7.2f}x")
    idle_total, busy_total = sum(times["idle"].values()), sum(times["busy"].values())
    print(f"{'all stages':<28}{idle_total:9.1f}{busy_total:9.1f}{busy_total / idle_total:7.2f}x")


if __name__ == "__main__":
    main()
