"""`pcclip finetune`: the finetune stage alone, in one process or as two torchrun ranks."""

import os
import re
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

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


def pcclip(*args: str, launcher: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *launcher, "-m", "pcclip", *args], capture_output=True, text=True, timeout=600)


def checkpoint_paths(stdout: str) -> list[str]:
    return re.findall(r"^checkpoint \(seed \d+\): (.+)$", stdout, flags=re.MULTILINE)


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
def test_user_errors_are_one_clear_line(args, message):
    result = pcclip("finetune", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_is_one_clear_line(config):
    result = pcclip("finetune", str(config), "--device", "cuda")
    assert result.returncode == 2
    assert "--device cuda (nccl): no CUDA GPU is visible" in result.stderr and "Traceback" not in result.stderr


def test_two_torchrun_ranks_write_the_single_process_checkpoint(config, tmp_path):
    alone = pcclip("finetune", str(config), "--set", f"cache_dir={tmp_path / 'alone'}", "--output", str(tmp_path / "out"))
    assert alone.returncode == 0, alone.stderr
    [single] = checkpoint_paths(alone.stdout)

    # The same base model (copied, not pretrained again) and a cache of its own for the finetune;
    # finetune.batch_size is the global batch, so the two ranks train on the single process's batches.
    shared_base = tmp_path / "ranks" / "checkpoints"
    shared_base.mkdir(parents=True)
    for base in (tmp_path / "alone" / "checkpoints").glob("base-*.safetensors"):
        shutil.copy(base, shared_base)
    ranks = pcclip(
        "finetune", str(config), "--device", "cpu", "--set", f"cache_dir={tmp_path / 'ranks'}", "--output", str(tmp_path / "out"),
        launcher=("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"),
    )
    assert ranks.returncode == 0, ranks.stderr
    [distributed] = checkpoint_paths(ranks.stdout)  # printed by rank 0 only
    assert distributed != single and "base model saved" not in ranks.stdout

    one, two = load_file(single), load_file(distributed)
    base = load_file(next(shared_base.glob("base-*.safetensors")))
    assert one.keys() == two.keys()
    moved = max((one[k] - base[k]).abs().max().item() for k in one)
    assert moved > 1e-4  # the comparison below is not vacuous
    for name in one:
        a, b = one[name], two[name]
        if name.endswith("attn.in_proj_bias"):
            # The key bias has no true gradient (softmax ignores a shift shared by all keys), so Adam
            # turns its float-rounding noise into lr-sized steps that differ with summation order:
            # compare the query and value biases only.
            q, _, v = a.chunk(3)
            q2, _, v2 = b.chunk(3)
            a, b = torch.cat([q, v]), torch.cat([q2, v2])
        assert (a - b).abs().max().item() < 1e-5, name
