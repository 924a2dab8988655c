"""The command line as a user meets it: one clear line for a mistake, never a traceback."""

import os
import subprocess
import sys

import pytest

from pcclip.cli import main


def pcclip(*args: str, cache) -> subprocess.CompletedProcess:
    env = {**os.environ, "PCCLIP_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "pcclip", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--set", "finetune.lrr=1"], "finetune.lrr: unknown key; allowed here: epochs, batch_size"),
        (["run", "--set", "model.name=ViT-Q-99"], "unknown model 'ViT-Q-99'"),
        (
            ["run", "--set", "model.pretrained=/nowhere/ckpt.safetensors"],
            "'/nowhere/ckpt.safetensors' for pcclip-vit-t8-minilm is neither a file nor a known tag",
        ),
        (["run", "--config", "/nowhere/run.toml"], "/nowhere/run.toml: file not found"),
        (["run", "--set", "finetune.temperature=-1"], "finetune.temperature: Input should be greater than 0"),
    ],
)
def test_user_errors_are_one_clear_line(args, message, tmp_path, capsys):
    # In-process (the entry point's own handling; any other exception would fail the test with its
    # traceback): a subprocess per case costs ~10 s of imports. The real process is tested below.
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("pcclip: error: ") and message in err


def test_unreadable_checkpoint_is_one_clear_line_from_the_real_command(tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00" * 64)
    result = pcclip("run", "--set", f"model.pretrained={bad}", cache=tmp_path)
    assert result.returncode == 2
    assert f"could not build pcclip-vit-t8-minilm from {bad}" in result.stderr
    assert "Traceback" not in result.stderr


def test_models_lists_own_and_open_clip_architectures(tmp_path):
    result = pcclip("models", cache=tmp_path)
    assert result.returncode == 0
    assert "pcclip-vit-t8-minilm  (pcclip)" in result.stdout and "ViT-L-14" in result.stdout
