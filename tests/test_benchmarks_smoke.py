"""The GPU benchmark's pcclip half runs on the CPU with the nano model (the GPU run is benchmarks/gpu_session.sh)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).parent.parent / "benchmarks" / "gpu_vs_open_clip.py"


@pytest.mark.slow  # the whole GPU benchmark script on the CPU, in a subprocess
def test_gpu_benchmark_smoke_on_cpu():
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARK),
            "--device",
            "cpu",
            "--model",
            "pcclip-vit-nano",
            "--batch-size",
            "8",
            "--steps",
            "3",
            "--warmup-steps",
            "1",
            "--modes",
            "eager",
            "--skip-open-clip",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    flops = re.search(r"FLOPs per sample, forward \+ backward \(FlopCounterMode\): ([\d.e+-]+) GFLOP", result.stdout)
    row = re.search(r"^pcclip train_loop, eager\s+([\d,]+)\s", result.stdout, flags=re.MULTILINE)
    assert flops and float(flops.group(1)) > 0
    assert row and int(row.group(1).replace(",", "")) > 0, result.stdout
