"""`pcclip finetune`: the finetune stage alone, in one process, as two torchrun ranks, or on a GPU."""

import os
import re
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from pcclip.cli import main

TINY_CONFIG = """
seeds = [0]
threads = 1

[world]
image_size = 32

[model]
name = "pcclip-vit-nano"

[pretrain]
scenes = 64
epochs = 1
batch_size = 16
warmup_steps = 0

[pairs]
images = 48
pairs = 40

[finetune]
trainable = "both"
epochs = 2
batch_size = 8
warmup_steps = 0
"""


def pcclip(*args: str, launcher: tuple[str, ...] = (), env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *launcher, "-m", "pcclip", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def checkpoint_paths(stdout: str) -> list[str]:
    return re.findall(r"^checkpoint \(seed \d+\): (.+)$", stdout, flags=re.MULTILINE)


def finetune_twice(config, tmp_path, *args: str, launcher: tuple[str, ...] = (), env: dict[str, str] | None = None):
    """(single-process CPU checkpoint, the one `args` / `launcher` make, base): both finetunes start from
    the same base model (copied, not pretrained again) and each has a cache of its own."""
    alone = pcclip(
        "finetune", str(config), "--device", "cpu", "--set", f"cache_dir={tmp_path / 'alone'}", "--output", str(tmp_path / "out")
    )
    assert alone.returncode == 0, alone.stderr
    [first] = checkpoint_paths(alone.stdout)
    for base in (tmp_path / "alone").glob("pretrain/*/base-*.safetensors"):
        shared_base = tmp_path / "other" / base.relative_to(tmp_path / "alone").parent
        shared_base.mkdir(parents=True)
        shutil.copy(base, shared_base)
    other = pcclip(
        "finetune",
        str(config),
        *args,
        "--set",
        f"cache_dir={tmp_path / 'other'}",
        "--output",
        str(tmp_path / "out"),
        launcher=launcher,
        env=env,
    )
    assert other.returncode == 0, other.stderr
    assert "base model saved" not in other.stdout
    [second] = checkpoint_paths(other.stdout)  # printed once: by rank 0 only under torchrun
    assert second != first
    one, two = load_file(first), load_file(second)
    assert one.keys() == two.keys()
    return one, two, load_file(next(shared_base.glob("base-*.safetensors")))


def max_difference(one: dict, two: dict) -> float:
    """Largest absolute difference between two state dicts, attention key biases aside: they have no
    true gradient (softmax ignores a shift shared by all keys), so Adam turns their float-rounding
    noise into lr-sized steps that differ with summation order; query and value biases are compared."""

    def comparable(name: str, tensor: torch.Tensor) -> torch.Tensor:
        if name.endswith("attn.in_proj_bias"):
            query, _, value = tensor.chunk(3)
            return torch.cat([query, value])
        return tensor

    return max((comparable(k, one[k]) - comparable(k, two[k])).abs().max().item() for k in one)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_CONFIG)
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (["/nowhere/run.toml"], "/nowhere/run.toml: file not found"),
        (["--set", "finetune.lrr=1"], "finetune.lrr: unknown key; allowed here: epochs, batch_size"),
    ],
)
def test_user_errors_are_one_clear_line(args, message, capsys):
    assert main(["finetune", *args]) == 2  # in-process: the entry point's own handling, without ~10 s of imports
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_is_one_clear_line(config):
    result = pcclip("finetune", str(config), "--device", "cuda")
    assert result.returncode == 2
    assert "device cuda: no CUDA GPU is visible" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow  # two torchrun processes, each importing torch and open_clip
def test_two_torchrun_ranks_write_the_single_process_checkpoint(config, tmp_path):
    # finetune.batch_size is the global batch: the two ranks train on the single process's batches.
    one, two, base = finetune_twice(
        config, tmp_path, "--device", "cpu", launcher=("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")
    )
    assert max_difference(one, base) > 1e-4  # the comparison below is not vacuous
    assert max_difference(one, two) < 1e-5


@pytest.mark.slow  # two torchrun processes, each importing torch and open_clip
def test_under_torchrun_rank_zero_pretrains_the_base_alone(config, tmp_path):
    # From a cold cache rank 0 pretrains while rank 1 waits at a barrier: pretraining must not wait
    # for rank 1 in a gradient all-reduce (it did, and both hung).
    result = pcclip(
        "finetune",
        str(config),
        "--device",
        "cpu",
        "--set",
        f"cache_dir={tmp_path / 'cache'}",
        "--output",
        str(tmp_path / "out"),
        launcher=("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"),
    )
    assert result.returncode == 0, result.stderr
    assert "base model saved" in result.stdout and len(checkpoint_paths(result.stdout)) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run by benchmarks/gpu_session.sh)")
def test_finetune_on_the_gpu_follows_the_cpu(config, tmp_path):
    # fp32 on both, TF32 off: what differs is the GPU's summation order, which Adam amplifies where
    # gradients are tiny, hence a looser bound than between CPU ranks; a wrong input or device mix-up
    # would move the weights by ~lr per step (~1e-3 in all).
    one, two, base = finetune_twice(config, tmp_path, "--device", "cuda", env={"NVIDIA_TF32_OVERRIDE": "0"})
    assert max_difference(one, base) > 3e-4
    assert max_difference(one, two) < 1e-4
