"""Issue 11's findings, each as it was met: a secret on disk, a traceback for a user's mistake, or a
silent or misleading result. Every test here failed before its fix."""

import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import zlib
from contextlib import contextmanager
from pathlib import Path

import pytest

from pcclip.cli import main
from pcclip.config import DataSettings, PairSettings, RunSettings
from pcclip.datasets.captions import load_caption_table
from pcclip.datasets.images import ImageFiles
from pcclip.errors import PcclipError
from pcclip.generate import GenerationSettings, generate, run_generation
from pcclip.generate.mock_server import MockOpenAIServer, default_answer
from pcclip.generate.pairs import build_pairs, save_pairs, world_minimal_pairs
from pcclip.generate.store import Store, export_jsonl
from pcclip.models import register_model_configs
from pcclip.pipeline import run
from pcclip.real_pairs import real_pair_pool
from pcclip.settings_io import load_settings
from test_generate_filters import LONG, record
from test_real_data import write_table

KEY = "sk-test-DO-NOT-LEAK-4e1b77"
ORACLE = GenerationSettings.model_validate({"backend": {"backend": "oracle"}})
UNREACHABLE = [
    "--set",
    "backend.backend=openai",
    "--set",
    "backend.base_url=http://127.0.0.1:9/v1",
    "--set",
    "backend.model=m",
    "--set",
    "backend.max_retries=0",
]


@contextmanager
def read_only(folder: Path):
    """`folder` and everything in it read-only. Root ignores permission bits, so for root the immutable
    attribute does it (chattr +i); skipped where neither can."""
    if os.geteuid() != 0:
        paths = [folder, *folder.rglob("*")]
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(modes[p] & ~0o222)
        try:
            yield
        finally:
            for p in paths:
                p.chmod(modes[p])
        return
    if not shutil.which("chattr") or subprocess.run(["chattr", "-R", "+i", str(folder)], capture_output=True).returncode:
        subprocess.run(["chattr", "-R", "-i", str(folder)], capture_output=True)
        pytest.skip("running as root, and this file system takes no immutable attribute")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-R", "-i", str(folder)], check=True)


def one_error_line(capsys) -> str:
    """The message of the one line `pcclip: error: ...` a failed command printed on stderr."""
    err = capsys.readouterr().err
    assert err.startswith("pcclip: error: ") and err.count("\n") == 1, err
    return err.removeprefix("pcclip: error: ").rstrip("\n")


# Secrets


def test_an_api_key_echoed_by_the_server_is_nowhere_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    pairs = build_pairs([(f"img{i}", f"a picture of {i} objects") for i in range(3)])
    with MockOpenAIServer(api_key=KEY, fault_rate=1.0, faults=("echo",)) as server:
        settings = GenerationSettings.model_validate(
            {"backend": {"backend": "openai", "base_url": server.url, "model": "m"}, "filter": {"enabled": False}}
        )  # kept as cleaned text too
        records = generate(pairs, settings, tmp_path / "s.sqlite")
    export_jsonl(records, tmp_path / "records.jsonl")
    for path in tmp_path.iterdir():  # the store (and its WAL) and the export
        assert KEY.encode() not in path.read_bytes(), path
    assert all(r.status == "ok" and "'Authorization': 'Bearer ***'" in r.raw for r in records)  # the echo, scrubbed
    assert all(r.kept and "'Authorization': 'Bearer ***'" in r.cleaned for r in records)


def test_a_placeholder_key_is_not_scrubbed_from_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "the")  # "any value" for a server that needs no key
    [pair] = build_pairs([("a", "one circle"), ("b", "two squares")], n_pairs=1)
    with MockOpenAIServer() as server:
        settings = GenerationSettings.model_validate({"backend": {"backend": "openai", "base_url": server.url, "model": "m"}})
        [record_] = generate([pair], settings, tmp_path / "s.sqlite")
    assert record_.raw == default_answer(record_.prompt) and "the first image" in record_.raw.lower()


# Tracebacks for user errors


def test_a_toml_config_that_is_not_utf8_is_one_line(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_bytes(b'threads = 1\nname = "caf\xe9"\n')
    assert main(["run", "--config", str(config)]) == 2
    assert one_error_line(capsys) == f"{config}: not UTF-8 text (invalid continuation byte at byte 23); TOML files are UTF-8"


def test_a_caption_table_that_is_not_utf8_names_its_line(tmp_path):
    table = tmp_path / "captions.csv"
    table.write_bytes(b"filepath,title\nimg/0.jpg,caf\xe9 au lait\n")
    with pytest.raises(PcclipError) as error:
        load_caption_table(table)
    assert str(error.value) == f"{table}: line 2: not UTF-8 text (invalid continuation byte at byte 28); save the table as UTF-8"


def test_a_directory_given_for_a_file_is_one_line(tmp_path, capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    pairs = save_pairs(world_minimal_pairs(2, seed=0), tmp_path / "pairs.jsonl")
    store = tmp_path / "s.sqlite"
    assert main(["run", "--config", str(folder)]) == 2
    assert one_error_line(capsys) == f"{folder}: is a directory; give the TOML settings file"
    assert main(["generate", str(folder), "--store", str(store)]) == 2
    assert one_error_line(capsys) == f"{folder}: is a directory; the pairs file must be a file"
    assert main(["generate", str(pairs), "--store", str(store), "-o", str(folder)]) == 2
    assert one_error_line(capsys) == f"{folder}: is a directory; --output must be a file"
    assert not store.exists()  # refused before any generation


@pytest.mark.parametrize(
    "override, message",
    [
        ("threads=100000000000000000000", "threads: Input should be less than or equal to 1024 (got 100000000000000000000)"),
        ("finetune.temperature=inf", "finetune.temperature: Input should be a finite number (got inf)"),
        ("pretrain.lr=nan", "pretrain.lr: Input should be a finite number (got nan)"),
    ],
)
def test_settings_out_of_any_sane_range_are_refused(override, message):
    with pytest.raises(PcclipError) as error:
        load_settings(RunSettings, None, [override])
    assert str(error.value) == f"settings: invalid settings\n  {message}"


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels and holds none."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def test_an_image_claiming_billions_of_pixels_is_unreadable_and_skippable(tmp_path):
    table = write_table(tmp_path, 3)
    bomb = tmp_path / "img" / "1.jpg"
    bomb.write_bytes(png_header(30_000, 30_000))
    with pytest.raises(PcclipError) as error:
        ImageFiles([bomb]).load([0], 8)
    assert str(error.value) == (
        f"{bomb}: image too large to load (Image size (900000000 pixels) exceeds limit of "
        "178956970 pixels, could be decompression bomb DOS attack.)"
    )
    pool = real_pair_pool(
        DataSettings(source="captions", root=table, bad_images="skip"), PairSettings(pairing="pool", images=2, pairs=2)
    )
    assert sorted(pool.paths) == ["img/0.jpg", "img/2.jpg"] and pool.skipped == [str(error.value)]


def test_a_store_damaged_in_the_middle_is_one_line(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    with Store(store) as s:
        s.put([record(LONG * 4, pair=f"p{i}") for i in range(300)])
    page = 4096
    pages = store.stat().st_size // page
    with open(store, "r+b") as f:  # the header page stays intact, so the store opens
        f.seek(pages // 2 * page)
        f.write(b"\xff" * 4 * page)
    assert main(["store", "export", str(store), str(tmp_path / "out.jsonl")]) == 2
    assert one_error_line(capsys) == f"{store}: not a usable generation store (database disk image is malformed)"


def test_a_reader_that_stops_early_ends_the_output_quietly(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # `pcclip models | head -0`
    done = subprocess.run(
        [sys.executable, "-m", "pcclip", "models"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        env={**os.environ, "PCCLIP_CACHE": str(tmp_path)},
        text=True,
        timeout=120,
    )
    os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


# Silent or misleading results


def test_generate_that_fails_every_pair_exits_non_zero_with_a_summary(tmp_path, capsys):
    pairs = save_pairs(build_pairs([("a", "one circle"), ("b", "two squares"), ("c", "a star")]), tmp_path / "pairs.jsonl")
    store = tmp_path / "s.sqlite"
    assert main(["generate", str(pairs), "--store", str(store), "--quiet", *UNREACHABLE]) == 2
    out, err = capsys.readouterr()
    assert "\n6 of 6 pairs failed (a rerun retries them): connection failed: [Errno 111] Connection refused x6\n" in out
    assert err == f"pcclip: error: every one of the 6 pairs failed (the reasons are above and in {store})\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--world", "-3"], "--world -3: give a positive number of scenes"),
        (["--world", "-3", "--minimal"], "--world -3: give a positive number of pairs"),
        (["--world", "1"], "--world 1: 1 item(s) make no ordered pair; give at least 2"),
    ],
)
def test_pairs_that_would_write_no_pair_are_refused(args, message, tmp_path, capsys):
    assert main(["pairs", *args, "-o", str(tmp_path / "pairs.jsonl")]) == 2
    assert one_error_line(capsys) == message
    assert not (tmp_path / "pairs.jsonl").exists()


def test_a_store_of_a_newer_schema_is_refused_untouched(tmp_path):
    store = tmp_path / "s.sqlite"
    pairs = world_minimal_pairs(2, seed=0)
    generate(pairs, ORACLE, store)
    db = sqlite3.connect(store)
    db.execute("PRAGMA user_version = 2")
    db.close()
    with pytest.raises(PcclipError) as error:
        generate(pairs, ORACLE, store)
    assert str(error.value) == f"{store}: store schema version 2, this pcclip reads 1"
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()


def test_a_store_in_a_read_only_folder_is_read_or_refused_as_read_only(tmp_path, capsys):
    folder = tmp_path / "cache"
    folder.mkdir()
    pairs = world_minimal_pairs(4, seed=0)
    save_pairs(pairs, tmp_path / "pairs.jsonl")
    with read_only(folder):  # cold: nothing to read, and no store can be made
        assert main(["generate", str(tmp_path / "pairs.jsonl"), "--store", str(folder / "s.sqlite")]) == 2
    assert one_error_line(capsys) == (
        f"{folder / 's.sqlite'}: cannot create the generation store: its folder is read-only; "
        "make it writable or choose another path (for a run's stores: $PCCLIP_CACHE or run.cache_dir)"
    )
    first = run_generation(pairs, ORACLE, folder / "s.sqlite")
    with read_only(folder):
        warm = run_generation(pairs, ORACLE, folder / "s.sqlite")  # complete: read without a write
        with pytest.raises(PcclipError) as error:
            generate(world_minimal_pairs(5, seed=1), ORACLE, folder / "s.sqlite")
    assert (warm.records, warm.reused, warm.generated) == (first.records, 4, 0)
    assert str(error.value) == (
        f"{folder / 's.sqlite'}: the generation store is read-only and this run has outputs to "
        "store; make it and its folder writable, or choose another path"
    )


def test_failures_are_summed_up_by_reason_where_the_run_shows_its_progress(tmp_path, capsys):
    items = [("a", "a huge caption " + "x" * 100_000), ("b", "a red square"), ("c", "a blue circle")]
    rule = GenerationSettings.model_validate({"backend": {"backend": "rule"}})
    result = run_generation(build_pairs(items), rule, tmp_path / "s.sqlite", progress=True)
    first = next(r for r in result.records if r.status == "failed")
    assert first.reason.startswith("prompt too long (100") and result.failed == 4
    assert (
        f"rule word-difference-v1: 4 of 6 pairs failed (a rerun retries them): prompt too long x4, e.g. {first.reason}"
        in capsys.readouterr().err.splitlines()
    )


# A whole run on a read-only cache, and one whose generator kept nothing: tiny settings, one base model.

TINY = """threads = 1
seeds = [0]
cache_dir = "{cache}"
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
images = 24
pairs = 20
[finetune]
trainable = "text"
batch_size = 8
warmup_steps = 0
[eval]
pairs_per_attribute = 4
zero_shot_per_class = 2
caption_scenes = 16
"""


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    """(config, cache, results): a tiny run done once, its cache also the model configs' cache."""
    folder = tmp_path_factory.mktemp("warm")
    cache, config = folder / "cache", folder / "tiny.toml"
    config.write_text(TINY.format(cache=cache))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PCCLIP_CACHE", str(cache))
        register_model_configs.cache_clear()
        summary = run(load_settings(RunSettings, config), folder / "out", log=lambda _: None)
    return config, cache, summary["results"]


@pytest.fixture
def fresh_model_registry():
    """Model configs registered anew (they are written at the first registration of a process)."""
    register_model_configs.cache_clear()
    yield
    register_model_configs.cache_clear()


def test_a_warm_run_reads_a_read_only_cache(warm_cache, tmp_path, monkeypatch, fresh_model_registry):
    config, cache, results = warm_cache
    monkeypatch.setenv("PCCLIP_CACHE", str(cache))
    with read_only(cache):
        assert main(["run", "--config", str(config), "--output", str(tmp_path / "out")]) == 0
        assert main(["models"]) == 0  # registers pcclip's model configs: they are there already
    assert json.loads((tmp_path / "out" / "results.json").read_text())["results"] == results


def test_a_cold_run_on_a_read_only_cache_is_one_line(tmp_path, monkeypatch, capsys, fresh_model_registry):
    cache = tmp_path / "cache"
    cache.mkdir()
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.format(cache=cache))
    monkeypatch.setenv("PCCLIP_CACHE", str(cache))
    with read_only(cache):
        assert main(["run", "--config", str(config), "--output", str(tmp_path / "out")]) == 2
    message = one_error_line(capsys)
    assert message.startswith(f"{cache / 'model_configs'}: cannot write the resolved model configs (")
    assert message.endswith("); make the pcclip cache writable or point $PCCLIP_CACHE at a writable folder")


def test_a_cold_run_with_a_read_only_cache_dir_is_one_line(tmp_path, capsys):
    cache = tmp_path / "cache"  # run.cache_dir; the model configs go to $PCCLIP_CACHE, writable
    cache.mkdir()
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.format(cache=cache))
    with read_only(cache):
        assert main(["run", "--config", str(config), "--output", str(tmp_path / "out")]) == 2
    assert one_error_line(capsys).startswith(f"{cache / 'pretrain'}: ")  # the base model could not be saved


def test_a_run_whose_generator_kept_no_comparison_is_one_line(warm_cache, tmp_path, capsys):
    config, cache, _ = warm_cache
    unreachable = [f"generator.{s}" if s != "--set" else s for s in UNREACHABLE]
    assert main(["run", "--config", str(config), "--output", str(tmp_path / "out"), *unreachable]) == 2
    _, err = capsys.readouterr()
    assert "openai m: 20 of 20 pairs failed (a rerun retries them): connection failed: [Errno 111] Connection refused x20" in err
    assert err.endswith(
        f"\npcclip: error: the generator kept no comparison to train on (every pair failed or the filter "
        f"removed it); the reasons are in its generation store under {cache}\n"
    )
