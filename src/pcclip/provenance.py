"""Where and with what a result was computed: versions, commit, hardware. Captured when a result is
computed and stored beside it, so a report over results computed elsewhere (a GPU machine, an older
commit) says so."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import time
from functools import cache
from pathlib import Path


@cache
def _software() -> dict[str, str]:
    import open_clip
    import torch
    import transformers

    from . import __version__

    return {
        "pcclip": __version__,
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


@cache
def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=10
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@cache
def _cpuinfo() -> dict[str, str]:
    """The first CPU's fields in /proc/cpuinfo (Linux; empty elsewhere)."""
    fields: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_flags() -> frozenset[str]:
    """The CPU's instruction-set flags (Linux; empty elsewhere)."""
    return frozenset(_cpuinfo().get("flags", "").split())


@cache
def cpu() -> str:
    """The CPU's model, family and model number (Linux) and the vector unit torch's kernels use: float
    results on the CPU repeat exactly on the same kind of CPU, not always across kinds (README)."""
    import torch

    fields = _cpuinfo()
    name = fields.get("model name") or platform.processor() or "unknown CPU"
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return f"{name}, {torch.backends.cpu.get_cpu_capability()}"


def hardware(device: str = "cpu") -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {cpu()}, {len(os.sched_getaffinity(0))} CPU cores, {gpu}"


def provenance(device: str = "cpu") -> dict[str, str]:
    """This process's software versions, commit, hardware and the time, as stored with a result."""
    return {
        **_software(),
        "git commit": git_commit(),
        "hardware": hardware(device),
        "computed": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def computed_on(records) -> list[dict]:
    """The distinct provenances among results (the time left out), each with how many results it made."""
    counts: dict[str, tuple[dict, int]] = {}
    for record in records:
        where = {k: v for k, v in record.items() if k != "computed"}
        key = repr(sorted(where.items()))
        counts[key] = (where, counts.get(key, (where, 0))[1] + 1)
    return [{**where, "results": n} for where, n in counts.values()]
