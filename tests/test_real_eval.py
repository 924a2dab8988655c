"""Real-data benchmarks in a run and a study: COCO captions, CUB / CIFAR zero-shot, AwA2 size
differences and SugarCrepe, each from a tiny fixture in its official layout, evaluated on every model."""

import re

import pytest

from pcclip.config import BenchmarkSettings, RunSettings
from pcclip.pipeline import Pipeline, run
from pcclip.real_eval import evaluate_benchmark, load_benchmark
from pcclip.report import format_run_table, write_report
from pcclip.study import run_study
from test_compositional import sugarcrepe_fixture
from test_datasets import make_awa2, make_cifar10, make_coco, make_cub, write_image
from test_pipeline import tiny
from test_study import tiny_study


def benchmarks(tmp_path) -> list[dict]:
    make_cifar10(tmp_path / "cifar")
    awa2 = make_awa2(tmp_path)
    for k, image in enumerate(sorted((awa2 / "JPEGImages").rglob("*.jpg"))):  # distinct images: rankings need spread
        write_image(image, colour=(60 * k, 255 - 60 * k, 30 * k))
    sugarcrepe, val2017 = sugarcrepe_fixture(tmp_path / "sugarcrepe")
    return [
        {"name": "coco", "dataset": "coco", "root": str(make_coco(tmp_path)), "task": "captions"},
        {"name": "cub", "dataset": "cub", "root": str(make_cub(tmp_path / "cub-data")), "split": "all"},
        {"name": "cifar10", "dataset": "cifar10", "root": str(tmp_path / "cifar"), "templates": "imagenet"},
        {"name": "awa2-size", "dataset": "awa2", "root": str(awa2), "task": "differences", "pairs": 20},
        {"name": "sugarcrepe", "dataset": "sugarcrepe", "task": "compositional", "root": str(sugarcrepe), "images": str(val2017)},
    ]


def test_benchmark_settings_pair_tasks_with_datasets():
    with pytest.raises(ValueError, match="task 'captions' goes with dataset 'coco'"):
        BenchmarkSettings(name="x", dataset="coco", root="coco")
    with pytest.raises(ValueError, match="task 'differences' needs dataset 'awa2'"):
        BenchmarkSettings(name="x", dataset="cub", root="cub", task="differences")
    pairing = (
        "benchmark 'x': task 'compositional' goes with the compositional benchmarks "
        "(sugarcrepe, winoground, aro-relation, aro-attribution), and they only with it"
    )
    with pytest.raises(ValueError, match=re.escape(pairing)):
        BenchmarkSettings(name="x", dataset="sugarcrepe", root="sc")
    with pytest.raises(ValueError, match=re.escape(pairing)):
        BenchmarkSettings(name="x", dataset="coco", root="coco", task="compositional")
    with pytest.raises(ValueError, match=re.escape("benchmark 'x': images applies to sugarcrepe only (their images' folder)")):
        BenchmarkSettings(name="x", dataset="winoground", root="w", task="compositional", images="w/images")
    with pytest.raises(
        ValueError,
        match=re.escape(
            "benchmark 'x': unknown dataset 'imagenet'; known: image-folder, cifar10, cifar100, cub, awa2, coco, "
            "flowers102, and with task 'compositional' sugarcrepe, winoground, aro-relation, aro-attribution"
        ),
    ):
        BenchmarkSettings(name="x", dataset="imagenet", root="i")


@pytest.mark.filterwarnings("ignore:zero-shot. class .* has no images")  # the CIFAR fixture fills 3 of 10 classes
def test_every_model_of_a_run_is_evaluated_on_each_benchmark(tmp_path):
    settings = tiny(tmp_path / "cache", seeds=(0,)).model_copy(
        update={"benchmarks": tuple(BenchmarkSettings.model_validate(b) for b in benchmarks(tmp_path))}
    )
    summary = run(settings, tmp_path / "out", log=lambda _: None)
    for model in (summary["results"]["base"], summary["results"]["pc_clip"]["0"]):
        got = model["benchmarks"]
        assert list(got) == ["coco", "cub", "cifar10", "awa2-size", "sugarcrepe"]
        assert set(got["coco"]["retrieval"]) == {"image_to_text_r1", "text_to_image_r1"} and "ranking" in got["awa2-size"]
        assert set(got["cub"]["zero_shot_per_class_accuracy"]) == {
            "Black footed Albatross",
            "Laysan Albatross",
            "Sooty Albatross",
        }
    # the cached numbers are what the base model gives when evaluated afresh on each benchmark
    base_model, tokenizer = Pipeline(settings, tmp_path / "out", log=lambda _: None).base
    for b in settings.benchmarks:
        assert evaluate_benchmark(base_model, tokenizer, load_benchmark(b)) == summary["results"]["base"]["benchmarks"][b.name]
    assert (
        summary["results"]["base"]["difference_accuracy"]
        == run(tiny(tmp_path / "cache", seeds=(0,)), tmp_path / "plain", log=lambda _: None)["results"]["base"][
            "difference_accuracy"
        ]
    )  # the world's numbers do not depend on the benchmarks
    table = format_run_table(summary)
    assert "coco: clipscore" in table and "awa2-size: difference accuracy" in table and "cifar10: zero shot accuracy" in table
    assert "sugarcrepe: mean" in table
    warm = run(settings, tmp_path / "out2", log=lambda _: None)
    assert warm["results"] == summary["results"] and not any(k.startswith("benchmark") for k in warm["stage_seconds"])


def test_a_study_reports_each_benchmark_with_statistics(tmp_path):
    settings = tiny_study(tmp_path)
    settings = settings.model_copy(
        update={"run": RunSettings.model_validate({**settings.run.model_dump(), "benchmarks": benchmarks(tmp_path)[:1]})}
    )
    study = run_study(settings, tmp_path / "out", log=lambda _: None)
    for rows in study["tables"].values():
        for row in rows:
            cell = row["benchmarks"]["coco"]
            assert cell["metric"] == "clipscore" and cell["n"] == 2 and len(cell["values"]) == 2
            assert cell["base"] == study["base"]["benchmarks"]["coco"]["clipscore"]
            if row["reference"]:
                assert cell["vs_reference"]["diff"] == 0
    md, html = write_report(study, tmp_path / "out")
    text = md.read_text()
    assert "| real-data benchmark | coco: clipscore | vs reference: coco |" in text
    assert text.count("| base model |") == 6  # the world, construction and benchmark tables of each ablation
    assert "coco: clipscore" in html.read_text()
