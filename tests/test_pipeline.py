"""End to end: world -> base CLIP -> oracle pairs -> PC-CLIP -> evaluation, on tiny settings."""

import json
import os
import statistics
import subprocess
import sys

import numpy as np
import pytest

from pcclip import pipeline
from pcclip.cache import settings_hash
from pcclip.config import EvalSettings, FinetuneSettings, ModelSettings, PairSettings, PretrainSettings, RunSettings
from pcclip.models import create_model
from pcclip.pipeline import Pipeline, run
from pcclip.report import format_run_table
from pcclip.world.render import render_batch
from pcclip.world.scene import ATTRIBUTES, WorldConfig


def tiny(cache_dir, seeds=(0, 1)) -> RunSettings:
    return RunSettings(
        world=WorldConfig(image_size=32),
        model=ModelSettings(name="pcclip-vit-nano"),
        pretrain=PretrainSettings(scenes=64, epochs=2, batch_size=16, warmup_steps=0),
        pairs=PairSettings(images=48, pairs=40),
        finetune=FinetuneSettings(trainable="text", epochs=1, batch_size=8, warmup_steps=0),
        eval=EvalSettings(pairs_per_attribute=4, zero_shot_per_class=2, caption_scenes=16),
        seeds=seeds,
        threads=1,
        cache_dir=cache_dir,
    )


def check_metrics(metrics: dict) -> None:
    """The headline numbers agree with their breakdowns (every attribute has as many items, the mean
    over tasks is the headline), and the probe's worst construction is its minimum."""
    by_attribute = metrics["difference_accuracy_by_attribute"]
    assert list(by_attribute) == list(ATTRIBUTES)
    assert metrics["difference_accuracy"] == pytest.approx(statistics.fmean(by_attribute.values()))
    by_task = metrics["zero_shot_accuracy_by_task"]
    assert set(by_task) == {"shape", "colour"} and metrics["zero_shot_accuracy"] == pytest.approx(
        statistics.fmean(by_task.values())
    )
    assert metrics["construction_worst_accuracy"] == min(metrics["difference_accuracy_by_construction"].values())
    assert set(metrics["retrieval"]) == {"image_to_text_r1", "text_to_image_r1"}


def test_end_to_end_then_warm_rerun_is_served_from_the_cache(tmp_path):
    settings = tiny(tmp_path / "cache")
    cold = run(settings, tmp_path / "out1", log=lambda _: None)
    check_metrics(cold["results"]["base"])
    assert set(cold["results"]["pc_clip"]) == {"0", "1"}
    for metrics in cold["results"]["pc_clip"].values():
        check_metrics(metrics)
    assert {"world", "pretrain", "finetune", "evaluate"} <= set(cold["stage_seconds"])
    written = json.loads((tmp_path / "out1" / "results.json").read_text())
    assert written["settings"]["seeds"] == [0, 1] and written["results"] == cold["results"]

    warm = run(settings, tmp_path / "out2", log=lambda _: None)
    assert warm["results"] == cold["results"]
    assert not {"world", "pretrain", "finetune", "evaluate"} & set(warm["stage_seconds"])  # only cached reads
    assert "difference accuracy " in format_run_table(warm)


def test_the_pair_pool_is_built_once_then_read_from_the_cache(tmp_path, monkeypatch):
    settings = tiny(tmp_path / "cache")
    built, _ = Pipeline(settings, tmp_path).pair_pool
    monkeypatch.setattr(pipeline, "sample_scenes", None)  # a second build would fail
    read, load_images = Pipeline(settings, tmp_path).pair_pool
    assert read == built and len(read) == 40
    model, _ = create_model("pcclip-vit-nano", None, "cpu")
    pair = read[0]
    expected = render_batch(list(pair.scenes()), 32)  # each image from its pair's exact attributes
    assert np.array_equal(load_images([pair.id_a, pair.id_b], model), expected)


def test_both_orders_pools_each_minimal_pair_reversed_and_trains_both_or_neither(tmp_path):
    settings = tiny(tmp_path / "cache").model_copy(update={"pairs": PairSettings(images=48, pairs=40, both_orders=True)})
    p = Pipeline(settings, tmp_path)
    pairs, _ = p.pair_pool
    assert len(pairs) == 40 and len({frozenset((q.id_a, q.id_b)) for q in pairs}) == 20
    for first, second in zip(pairs[::2], pairs[1::2]):  # each pair, then the same pair reversed
        assert (second.id_a, second.id_b, second.caption_a, second.attributes_b) == (
            first.id_b,
            first.id_a,
            first.caption_b,
            first.attributes_a,
        )
    data = p.training_data({q.pair_id: f"sentence {q.pair_id}" for q in pairs}, seed=0)
    trained = {frozenset(pair): 0 for pair in data.pairs}
    for pair in data.pairs:
        trained[frozenset(pair)] += 1
    assert len(data.pairs) == 32 and set(trained.values()) == {2}  # 16 of 20 image pairs, each in both orders
    # A setting added later leaves the keys of the pools made before it as they were.
    before = {"pairing": "minimal", "images": 1000, "pairs": 1500, "max_differences": 2, "train_fraction": 0.8, "seed": 0}
    assert settings_hash(PairSettings()) == settings_hash(before)
    assert settings_hash(PairSettings(both_orders=True)) != settings_hash(before)


def test_both_orders_needs_minimal_pairs_and_an_even_count():
    with pytest.raises(ValueError, match="both_orders needs pairing = 'minimal'"):
        PairSettings(pairing="pool", both_orders=True)
    with pytest.raises(ValueError, match="pairs = 41 counts both orders"):
        PairSettings(pairs=41, both_orders=True)


def test_same_settings_and_seed_give_the_same_numbers(tmp_path):
    first = run(tiny(tmp_path / "a", seeds=(0,)), tmp_path / "out-a", log=lambda _: None)
    second = run(tiny(tmp_path / "b", seeds=(0,)), tmp_path / "out-b", log=lambda _: None)
    assert first["results"] == second["results"]


def test_a_new_seed_reuses_the_base_model_and_finished_seeds(tmp_path):
    run(tiny(tmp_path / "cache", seeds=(0,)), tmp_path / "out", log=lambda _: None)
    grown = run(tiny(tmp_path / "cache", seeds=(0, 1)), tmp_path / "out", log=lambda _: None)
    assert "pretrain" not in grown["stage_seconds"]
    assert "finetune" in grown["stage_seconds"]  # seed 1 only: seed 0 came from the cache
    assert set(grown["results"]["pc_clip"]) == {"0", "1"}


def test_weight_averaging_reuses_the_finetune_and_alpha_zero_is_the_base(tmp_path):
    settings = tiny(tmp_path / "cache", seeds=(0,))
    run(settings, tmp_path / "out", log=lambda _: None)
    averaged = settings.model_copy(update={"finetune": settings.finetune.model_copy(update={"wise_alpha": 0.0})})
    summary = run(averaged, tmp_path / "out0", log=lambda _: None)
    assert "finetune" not in summary["stage_seconds"]
    assert summary["results"]["pc_clip"]["0"] == summary["results"]["base"]


def test_a_finetune_is_keyed_by_the_comparisons_it_trains_on(tmp_path):
    settings = tiny(tmp_path / "cache", seeds=(0,))
    pipeline = Pipeline(settings, tmp_path / "out", log=lambda _: None)
    key = pipeline.finetune_key("run", settings.generator, settings.finetune, 0)
    assert key == Pipeline(settings, tmp_path / "out", log=lambda _: None).finetune_key(
        "run", settings.generator, settings.finetune, 0
    )
    sentences, summary = pipeline.comparisons("run", settings.generator)
    dropped = dict(list(sentences.items())[1:])  # as if one generation had failed
    pipeline._comparisons["run"] = dropped, summary
    assert pipeline.finetune_key("run", settings.generator, settings.finetune, 0) != key


@pytest.mark.slow
def test_default_model_end_to_end_from_the_command_line(tmp_path):
    """The README's main command on the real default model (MiniLM text tower), scaled down."""
    overrides = [
        "pretrain.scenes=512",
        "pretrain.epochs=2",
        "pairs.images=256",
        "pairs.pairs=128",
        "finetune.epochs=1",
        "eval.pairs_per_attribute=20",
        "eval.zero_shot_per_class=4",
        "eval.caption_scenes=64",
        "seeds=[0, 1]",
    ]
    args = [sys.executable, "-m", "pcclip", "run", "--output", str(tmp_path / "out")]
    for item in overrides:
        args += ["--set", item]
    env = {**os.environ, "PCCLIP_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "difference accuracy " in result.stdout and "PC-CLIP (n=2)" in result.stdout
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    check_metrics(summary["results"]["base"])
    assert summary["peak_rss_mb"] < 4096


def test_stage_times_count_a_nested_stage_once():
    from pcclip.pipeline import StageTimes

    ticks = iter([0.0, 2.0, 5.0, 6.0])  # evaluate starts; finetune runs 2..5; evaluate ends at 6
    times = StageTimes(clock=lambda: next(ticks))
    with times("evaluate"), times("finetune"):
        pass
    assert times == {"finetune": 3.0, "evaluate": 3.0}


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", 2), ("100000 100000\n", 1), ("50000 100000\n", 1), ("800000 100000\n", 2), ("garbage", 2), (None, 2)],
)
def test_available_cores_follows_affinity_and_the_cgroup_quota(cpu_max, expected, tmp_path, monkeypatch):
    import pcclip.pipeline as pipeline

    monkeypatch.setattr(pipeline.os, "sched_getaffinity", lambda _: {0, 1})
    cgroup = tmp_path / "cpu.max"
    if cpu_max is not None:
        cgroup.write_text(cpu_max)
    monkeypatch.setattr(pipeline, "CGROUP_CPU_MAX", cgroup)
    assert pipeline.available_cores() == expected


def test_provenance_names_the_cpu_kind_and_its_vector_unit(monkeypatch, tmp_path):
    """Float results repeat exactly on one kind of CPU, not always across kinds, so a result records
    which CPU made it: model, family and model number, and the vector unit torch dispatches to."""
    import torch

    import pcclip.provenance as prov

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n"
        "flags\t\t: fpu avx512f avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n"
    )
    real_path = prov.Path
    monkeypatch.setattr(prov, "Path", lambda p: cpuinfo if p == "/proc/cpuinfo" else real_path(p))
    prov.cpu.cache_clear()
    prov._cpuinfo.cache_clear()
    try:
        assert prov.cpu() == f"AMD EPYC (family 26, model 2), {torch.backends.cpu.get_cpu_capability()}"
        assert prov.hardware().split(", ")[1:3] == ["AMD EPYC (family 26", "model 2)"]
        assert prov.provenance()["hardware"] == prov.hardware()
        assert prov.cpu_flags() == {"fpu", "avx512f", "avx512_bf16"}  # the first CPU's
    finally:
        prov.cpu.cache_clear()
        prov._cpuinfo.cache_clear()


@pytest.mark.parametrize(
    "flags, expected",
    [("fpu avx512f amx_tile amx_bf16", "bf16"), ("fpu avx512f avx512_bf16", "bf16"), ("fpu avx2 avx512f", "fp32"), ("", "fp32")],
)
def test_auto_precision_is_bf16_only_where_the_cpu_computes_it_and_the_key_names_it(flags, expected, tmp_path, monkeypatch):
    import torch

    from pcclip import optim

    monkeypatch.setattr(optim, "cpu_flags", lambda: frozenset(flags.split()))
    settings = tiny(tmp_path / "cache", seeds=(0,))
    auto = settings.finetune.model_copy(update={"precision": "auto"})
    assert optim.concrete_precision(auto, torch.device("cpu")).precision == expected
    assert optim.concrete_precision(settings.finetune, torch.device("cpu")) == settings.finetune  # fp32 stays
    pipeline = Pipeline(settings, tmp_path / "out", log=lambda _: None)
    keys = {
        p: pipeline.finetune_key("run", settings.generator, auto.model_copy(update={"precision": p}), 0)
        for p in ("auto", "bf16", "fp32")
    }
    assert keys["auto"] == keys[expected] and keys["bf16"] != keys["fp32"]


def test_a_setting_added_later_changes_the_finetune_key_only_when_set(tmp_path):
    from pcclip.pipeline import FINETUNE_HASHED_WHEN_SET

    settings = tiny(tmp_path / "cache", seeds=(0,))
    pipeline = Pipeline(settings, tmp_path / "out", log=lambda _: None)
    key = pipeline.finetune_key("run", settings.generator, settings.finetune, 0)
    for name in FINETUNE_HASHED_WHEN_SET:
        unset = {name: FinetuneSettings.model_fields[name].default}
        assert pipeline.finetune_key("run", settings.generator, settings.finetune.model_copy(update=unset), 0) == key
    swapped = settings.finetune.model_copy(update={"swap_clauses": 0.5})
    assert pipeline.finetune_key("run", settings.generator, swapped, 0) != key
