"""Compositional benchmarks from local files: the loaders read the official layouts field by field, the
metrics are exact on scores whose winner is known, and `pcclip eval` prints one table and refuses a
missing folder before any model is built."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import pcclip.compositional as compositional
import pcclip.models
from pcclip.cli import main
from pcclip.compositional import (
    COMPOSITIONAL_BENCHMARKS,
    aro_metrics,
    benchmarks_markdown,
    evaluate_compositional,
    format_table,
    parse_benchmark_spec,
    sugarcrepe_metrics,
    winoground_metrics,
)
from pcclip.config import BenchmarkSettings
from pcclip.datasets import load_aro, load_sugarcrepe, load_winoground
from pcclip.datasets.aro import CroppedImageFiles
from pcclip.datasets.sugarcrepe import SUBSETS
from pcclip.errors import PcclipError
from pcclip.real_eval import evaluate_benchmark, headline, headline_metric, load_benchmark

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


def write_image(path: Path, colour: str | tuple, size=(40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, COLOURS.get(colour, colour) if isinstance(colour, str) else colour).save(path)
    return path


def write_halves(path: Path, left: str, right: str) -> Path:
    """A 40 x 30 image: the left half (x < 20) one colour, the right half another."""
    pixels = np.zeros((30, 40, 3), dtype=np.uint8)
    pixels[:, :20], pixels[:, 20:] = COLOURS[left], COLOURS[right]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


# --- fixtures in the official layouts ------------------------------------------------------------------


def sugarcrepe_fixture(tmp_path: Path) -> tuple[Path, Path]:
    """The seven files (one or two records each) and COCO-named JPEGs in their own folder."""
    root, images = tmp_path / "sugar-crepe" / "data", tmp_path / "coco" / "val2017"
    for name, colour in (("000000000139.jpg", "red"), ("000000000285.jpg", "green"), ("000000000632.jpg", "blue")):
        write_image(images / name, colour)
    records = {
        # the caption names the image's colour: right; except where noted
        "add_obj": {
            "0": ("000000000139.jpg", "a red room", "a green room"),
            "1": ("000000000285.jpg", "a green bear", "a blue bear"),
        },
        "add_att": {"0": ("000000000632.jpg", "a blue bed", "a red bed")},
        "replace_obj": {"0": ("000000000139.jpg", "a red sofa", "a blue sofa")},
        "replace_att": {"0": ("000000000285.jpg", "a red bear", "a green bear")},  # the negative names the image's colour
        "replace_rel": {"0": ("000000000632.jpg", "a blue bed", "a red bed")},
        "swap_obj": {"0": ("000000000139.jpg", "a red room", "a red room")},  # a tie: counted wrong
        "swap_att": {
            "1": ("000000000285.jpg", "a green bear", "a red bear"),
            "0": ("000000000632.jpg", "a blue bed", "a green bed"),
        },
    }
    for subset, content in records.items():
        (root / f"{subset}.json").parent.mkdir(parents=True, exist_ok=True)
        body = {k: {"filename": f, "caption": c, "negative_caption": n} for k, (f, c, n) in content.items()}
        (root / f"{subset}.json").write_text(json.dumps(body), encoding="utf-8")
    return root, images


def winoground_fixture(tmp_path: Path) -> Path:
    """The dataset repository as downloaded: data/examples.jsonl and data/images/ex_<id>_img_<k>.png.
    Lines are not in id order; ids count from 0 (there is no ex_4 for a 1-based reading to find); id 3's
    line has no image names (they are ex_3_img_0/1); id 2's captions are swapped (every score wrong)."""
    root = tmp_path / "winoground"
    examples = [
        (1, ("green", "red"), ("a green thing", "a red thing")),
        (0, ("red", "blue"), ("a red thing", "a blue thing")),
        (2, ("blue", "green"), ("a green thing", "a blue thing")),
        (3, ("red", "green"), ("a red thing", "a green thing")),
    ]
    lines = []
    for example_id, colours, captions in examples:
        for k, colour in enumerate(colours):
            write_image(root / "data" / "images" / f"ex_{example_id}_img_{k}.png", colour)
        line = {
            "id": example_id,
            "caption_0": captions[0],
            "caption_1": captions[1],
            "tag": "Object" if example_id < 2 else "Relation",
        }
        if example_id != 3:
            line |= {"image_0": f"ex_{example_id}_img_0", "image_1": f"ex_{example_id}_img_1"}
        lines.append(json.dumps(line | {"secondary_tag": "", "num_main_preds": 1, "collapsed_tag": "Object"}))
    (root / "data" / "examples.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def aro_fixture(tmp_path: Path, subset: str = "relation") -> Path:
    """Images whose halves differ: the box picks one half, and only the crop's colour decides the test."""
    root = tmp_path / "aro"
    write_halves(root / "images" / "2315375.png", "red", "blue")
    write_halves(root / "images" / "2360185.png", "green", "red")
    box_left, box_right = (
        {"bbox_x": 0, "bbox_y": 0, "bbox_w": 20, "bbox_h": 30},
        {"bbox_x": 20, "bbox_y": 0, "bbox_w": 20, "bbox_h": 30},
    )
    tests = [
        ("2315375.png", box_left, "the red horse is eating", "the blue horse is eating", "eating"),  # right
        ("2315375.png", box_right, "the blue grass is on", "the red grass is on", "on"),  # right
        ("2360185.png", box_left, "the red cup is on", "the green cup is on", "on"),  # wrong
        ("2360185.png", box_right, "the red dog is by", "the green dog is by", "by"),  # right; 'by' is left out of the macro
    ]
    records = []
    for image, box, true, false, relation in tests:
        record = {"image_id": image.split(".")[0], "image_path": image, **box, "true_caption": true, "false_caption": false}
        if subset == "relation":
            record |= {"relation_name": relation, "subj": "horse", "obj": "grass"}
        else:
            record |= {"attributes": [relation, "x"], "obj1_name": "a", "obj2_name": "b"}
        records.append(record)
    name = "visual_genome_relation.json" if subset == "relation" else "visual_genome_attribution.json"
    (root / name).write_text(json.dumps(records), encoding="utf-8")
    return root


# --- loaders -------------------------------------------------------------------------------------------


def test_sugarcrepe_reads_every_subset_field_by_field(tmp_path):
    root, images = sugarcrepe_fixture(tmp_path)
    data = load_sugarcrepe(root, images)
    assert [item.subset for item in data.items] == [
        "add_obj", "add_obj", "add_att", "replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "swap_att"
    ]  # fmt: skip
    first = data.items[0]
    assert (first.id, first.image, first.caption, first.negative) == (
        "0",
        images / "000000000139.jpg",
        "a red room",
        "a green room",
    )
    assert [item.id for item in data.items if item.subset == "swap_att"] == ["1", "0"]  # ids are the keys, in file order
    assert data.files == tuple(root / f"{s}.json" for s in SUBSETS)
    # a clone of the repository: the files in its data/ folder; images default to ROOT/val2017
    write_image(root.parent / "val2017" / "000000000139.jpg", "red")
    with pytest.raises(PcclipError, match=r"000000000285.jpg: image not found \(add_obj.json record '1' names it; 2 of"):
        load_sugarcrepe(root.parent)


def test_sugarcrepe_errors_name_the_path_and_the_source(tmp_path):
    root, images = sugarcrepe_fixture(tmp_path)
    with pytest.raises(PcclipError, match=rf"{tmp_path / 'nowhere'}: directory not found; .*github.com/RAIVNLab/sugar-crepe"):
        load_sugarcrepe(tmp_path / "nowhere", images)
    with pytest.raises(PcclipError, match=rf"{root / 'val2017'}: directory not found; .*COCO val2017.*sugarcrepe:ROOT:IMAGES"):
        load_sugarcrepe(root)
    (root / "replace_rel.json").unlink()
    with pytest.raises(PcclipError, match=rf"{root / 'replace_rel.json'}: file not found; expected the seven SugarCrepe files"):
        load_sugarcrepe(root, images)
    (root / "replace_rel.json").write_text(json.dumps({"0": {"filename": "000000000139.jpg", "caption": "a room"}}))
    with pytest.raises(
        PcclipError,
        match=rf"{root / 'replace_rel.json'}: record '0': needs non-empty strings 'filename', 'caption', 'negative_caption'",
    ):
        load_sugarcrepe(root, images)


def test_winoground_reads_ids_from_zero_and_each_examples_own_images(tmp_path):
    root = winoground_fixture(tmp_path)
    data = load_winoground(root)
    images = root / "data" / "images"
    assert [item.id for item in data.items] == [1, 0, 2, 3]  # file order
    by_id = {item.id: item for item in data.items}
    assert (by_id[0].caption_0, by_id[0].caption_1) == ("a red thing", "a blue thing")
    assert (by_id[0].image_0, by_id[0].image_1) == (images / "ex_0_img_0.png", images / "ex_0_img_1.png")
    assert (by_id[3].image_0, by_id[3].image_1) == (images / "ex_3_img_0.png", images / "ex_3_img_1.png")  # from its id
    assert (by_id[1].tag, by_id[2].tag) == ("Object", "Relation")
    assert data.files == (root / "data" / "examples.jsonl",)
    assert [i.id for i in load_winoground(root / "data").items] == [1, 0, 2, 3]  # ROOT may be the data/ folder


def test_winoground_errors_name_the_path_and_line(tmp_path):
    with pytest.raises(PcclipError, match=r"data/examples.jsonl: file not found .*huggingface.co/datasets/facebook/winoground"):
        load_winoground(tmp_path)
    root = winoground_fixture(tmp_path)
    path = root / "data" / "examples.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, json.dumps({"id": 0, "caption_0": "a", "caption_1": "b"})]))
    with pytest.raises(PcclipError, match=rf"{path}: line 5: id 0 already on line 2"):
        load_winoground(root)
    path.write_text("\n".join([*lines, json.dumps({"id": 7, "caption_0": "a", "caption_1": "b"})]))
    with pytest.raises(PcclipError, match=r"ex_7_img_0.png: image not found \(line 5, id 7, image_0\)"):
        load_winoground(root)
    path.write_text("\n".join([lines[0], json.dumps({"id": 5, "caption_0": "a"})]))
    with pytest.raises(PcclipError, match=rf"{path}: line 2 \(id 5\): needs non-empty strings 'caption_0' and 'caption_1'"):
        load_winoground(root)


@pytest.mark.parametrize("subset", ["relation", "attribution"])
def test_aro_reads_boxes_captions_and_groups(tmp_path, subset):
    root = aro_fixture(tmp_path, subset)
    data = load_aro(root, subset)
    first = data.items[0]
    assert (first.index, first.image, first.box) == (0, root / "images" / "2315375.png", (0.0, 0.0, 20.0, 30.0))
    assert (first.true_caption, first.false_caption) == ("the red horse is eating", "the blue horse is eating")
    expected = ["eating", "on", "on", "by"] if subset == "relation" else ["eating_x", "on_x", "on_x", "by_x"]
    assert [item.group for item in data.items] == expected
    assert data.items[1].box == (20.0, 0.0, 20.0, 30.0)


def test_aro_crops_each_image_to_its_box(tmp_path):
    root = aro_fixture(tmp_path)
    image = root / "images" / "2315375.png"  # red | blue
    loaded = CroppedImageFiles([image, image], [(0, 0, 20, 30), (20, 0, 20, 30)]).load([0, 1], 8)
    assert loaded.shape == (2, 8, 8, 3)
    assert (loaded[0] == COLOURS["red"]).all() and (loaded[1] == COLOURS["blue"]).all()


def test_aro_errors_name_the_path_and_record(tmp_path):
    with pytest.raises(
        PcclipError,
        match=rf"{tmp_path / 'visual_genome_relation.json'}: file not found; .*mertyg/vision-language-models-are-bows",
    ):
        load_aro(tmp_path, "relation")
    root = aro_fixture(tmp_path)
    path = root / "visual_genome_relation.json"
    records = json.loads(path.read_text())
    records[2]["bbox_w"] = "wide"
    path.write_text(json.dumps(records))
    with pytest.raises(PcclipError, match=rf"{path}: record \[2\]: 'bbox_w' must be a number, got 'wide'"):
        load_aro(root)
    records[2]["bbox_w"], records[3]["image_path"] = 20, "404.jpg"
    path.write_text(json.dumps(records))
    with pytest.raises(PcclipError, match=r"images/404.jpg: image not found \(record \[3\] names it"):
        load_aro(root)


# --- metrics on scores whose winner is known ------------------------------------------------------------


def test_sugarcrepe_metrics_are_exact():
    subsets = ["add_obj", "add_obj", "add_att", "swap_obj", "replace_rel"]
    scores = np.array([[0.9, 0.1], [0.1, 0.9], [0.5, 0.5], [0.3, 0.2], [0.4, 0.1]])  # right, wrong, tie (wrong), right, right
    metrics, details = sugarcrepe_metrics(subsets, scores)
    assert metrics == {
        "add_obj": 0.5, "add_att": 0.0, "replace_rel": 1.0, "swap_obj": 1.0,
        "add": 0.25, "replace": 1.0, "swap": 1.0, "mean": 0.625,
    }  # fmt: skip
    assert details["count"] == {"add_obj": 2, "add_att": 1, "replace_rel": 1, "swap_obj": 1}


def test_winoground_scores_are_exact_and_not_transposed():
    # scores[n, caption, image]; caption k belongs to image k
    all_right = [[0.9, 0.1], [0.2, 0.8]]
    text_only = [[0.5, 0.6], [0.1, 0.7]]  # each image prefers its caption; caption 0 prefers image 1
    image_only = [[0.5, 0.1], [0.6, 0.7]]  # each caption prefers its image; image 0 prefers caption 1
    all_wrong = [[0.1, 0.9], [0.9, 0.1]]
    assert winoground_metrics(np.array([text_only]))[0] == {"text_score": 1.0, "image_score": 0.0, "group_score": 0.0}
    assert winoground_metrics(np.array([image_only]))[0] == {"text_score": 0.0, "image_score": 1.0, "group_score": 0.0}
    metrics, details = winoground_metrics(
        np.array([all_right, text_only, image_only, all_wrong]), ["Object", "Object", "Relation", None]
    )
    assert metrics == {"text_score": 0.5, "image_score": 0.5, "group_score": 0.25}
    assert details["by_tag"]["Object"] == {"text_score": 1.0, "image_score": 0.5, "group_score": 0.5, "count": 2}
    tie = [[0.5, 0.5], [0.5, 0.5]]
    assert winoground_metrics(np.array([tie]))[0] == {"text_score": 0.0, "image_score": 0.0, "group_score": 0.0}


def test_aro_accuracy_and_macro_accuracy_are_exact():
    groups = ["on", "on", "on", "eating", "by"]
    scores = np.array([[0.9, 0.1], [0.2, 0.3], [0.4, 0.4], [0.6, 0.5], [0.1, 0.2]])  # right, wrong, tie, right, wrong
    metrics, details = aro_metrics(groups, scores, excluded=frozenset({"by"}))
    assert metrics["accuracy"] == 0.4
    assert metrics["macro_accuracy"] == pytest.approx((1 / 3 + 1.0) / 2)  # 'by' left out
    assert details["by_group"]["on"] == {"accuracy": pytest.approx(1 / 3), "count": 3}
    assert aro_metrics(groups, scores, min_count=3)[0]["macro_accuracy"] == pytest.approx(1 / 3)  # only 'on' has 3
    assert "macro_accuracy" not in aro_metrics(groups, scores, min_count=25)[0]


# --- the whole path, with encoders that embed by colour ----------------------------------------------


def colour_image_encoder(model, source, batch_size=256):
    """The mean colour of each image as it reaches the model (after the crop and the resize)."""
    pixels = source.load(range(len(source)), 8).reshape(len(source), -1, 3).astype(np.float32)
    return F.normalize(torch.from_numpy(pixels.mean(1)), dim=-1)


def colour_text_encoder(model, tokenizer, texts, batch_size=256):
    """The colours a text names."""
    return F.normalize(torch.tensor([[float(c in t.split()) for c in COLOURS] for t in texts]), dim=-1)


@pytest.fixture
def colour_encoders(monkeypatch):
    monkeypatch.setattr(compositional, "encode_image_source", colour_image_encoder)
    monkeypatch.setattr(compositional, "encode_texts", colour_text_encoder)


def test_each_benchmark_scores_what_its_images_show(tmp_path, colour_encoders):
    root, images = sugarcrepe_fixture(tmp_path)
    sugar = evaluate_compositional(None, None, "sugarcrepe", root, images)
    assert sugar["items"] == 9 and sugar["images"] == str(images)
    assert sugar["metrics"] == {
        "add_obj": 1.0, "add_att": 1.0, "replace_obj": 1.0, "replace_att": 0.0, "replace_rel": 1.0, "swap_obj": 0.0,
        "swap_att": 1.0, "add": 1.0, "replace": pytest.approx(2 / 3), "swap": 0.5, "mean": pytest.approx(5 / 7),
    }  # fmt: skip
    assert sugar["chance"]["mean"] == 0.5
    # id 2's captions are swapped; a misread id (1-based names, another example's images) breaks the others
    wino = evaluate_compositional(None, None, "winoground", winoground_fixture(tmp_path))
    assert wino["metrics"] == {"text_score": 0.75, "image_score": 0.75, "group_score": 0.75}
    assert wino["chance"] == {"text_score": 0.25, "image_score": 0.25, "group_score": pytest.approx(1 / 6)}
    # uncropped, every image is an even mix of its two colours and every test would tie (wrong)
    aro = evaluate_compositional(None, None, "aro-relation", aro_fixture(tmp_path))
    assert aro["metrics"] == {"accuracy": 0.75, "macro_accuracy": pytest.approx((1.0 + 0.5) / 2)}  # eating, on; not by
    assert aro["details"]["by_group"]["by"] == {"accuracy": 1.0, "count": 1}


def test_a_run_benchmark_scores_sugarcrepe_as_pcclip_eval_does(tmp_path, colour_encoders):
    """`[[run.benchmarks]]` with task 'compositional': `pcclip eval`'s numbers, flat like every benchmark's
    metrics, the registry's headline among them; the same from image embeddings made beforehand (a run
    embeds a benchmark's images once while the image tower is frozen)."""
    root, images = sugarcrepe_fixture(tmp_path)
    b = BenchmarkSettings(name="sc", dataset="sugarcrepe", task="compositional", root=root, images=images)
    benchmark = load_benchmark(b)
    metrics = evaluate_benchmark(None, None, benchmark)
    evaluated = evaluate_compositional(None, None, "sugarcrepe", root, images)
    assert metrics == {**evaluated["metrics"], "chance": evaluated["chance"], "details": evaluated["details"]}
    assert headline_metric("compositional", "sugarcrepe") == "mean" and headline(b, metrics) == pytest.approx(5 / 7)
    assert metrics["details"]["count"]["add_obj"] == 2 and metrics["chance"]["mean"] == 0.5
    embedded = colour_image_encoder(None, benchmark.images)
    assert len(embedded) == 3 and evaluate_benchmark(None, None, benchmark, embedded) == metrics


def test_results_are_cached_per_model_checkpoint_and_annotations(tmp_path, colour_encoders, monkeypatch):
    root = aro_fixture(tmp_path)
    first = evaluate_compositional(None, None, "aro-relation", root, model_name="m", pretrained="tag-a")

    def no_encoding(*args, **kwargs):
        raise AssertionError("embedded again")

    monkeypatch.setattr(compositional, "encode_image_source", no_encoding)
    assert evaluate_compositional(None, None, "aro-relation", root, model_name="m", pretrained="tag-a") == first
    for changed in ({"model_name": "m2", "pretrained": "tag-a"}, {"model_name": "m", "pretrained": "tag-b"}, {}):
        with pytest.raises(AssertionError, match="embedded again"):  # another model, or random weights: never cached
            evaluate_compositional(None, None, "aro-relation", root, **changed)
    path = root / "visual_genome_relation.json"
    path.write_text(path.read_text() + "\n")  # the annotations changed
    with pytest.raises(AssertionError, match="embedded again"):
        evaluate_compositional(None, None, "aro-relation", root, model_name="m", pretrained="tag-a")


def test_table_and_readme_list_come_from_the_registry(tmp_path, colour_encoders):
    result = evaluate_compositional(None, None, "winoground", winoground_fixture(tmp_path))
    lines = format_table([result]).splitlines()
    assert lines[0].split() == ["benchmark", "metric", "value", "chance"]
    assert [line.split() for line in lines[1:]] == [
        ["winoground", "text_score", "0.750", "0.250"],
        ["winoground", "image_score", "0.750", "0.250"],
        ["winoground", "group_score", "0.750", "0.167"],
    ]
    table = benchmarks_markdown().splitlines()
    assert len(table) == 2 + len(COMPOSITIONAL_BENCHMARKS)
    for name, bench in COMPOSITIONAL_BENCHMARKS.items():
        assert any(row.startswith(f"| `{name}:ROOT") and bench.source in row for row in table)


def test_benchmark_specs():
    assert parse_benchmark_spec("sugarcrepe:/d/sc:/d/coco/val2017") == compositional.BenchmarkSpec(
        "sugarcrepe", Path("/d/sc"), Path("/d/coco/val2017")
    )
    assert parse_benchmark_spec("aro-relation:/d/aro") == compositional.BenchmarkSpec("aro-relation", Path("/d/aro"))
    with pytest.raises(PcclipError, match="'winogrand:/d': expected NAME:ROOT with NAME one of sugarcrepe, winoground"):
        parse_benchmark_spec("winogrand:/d")


# --- pcclip eval ---------------------------------------------------------------------------------------


def test_eval_refuses_a_missing_root_before_building_a_model(tmp_path, capsys, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was built")

    monkeypatch.setattr(pcclip.models, "create_model", no_model)
    root, images = sugarcrepe_fixture(tmp_path)
    missing = tmp_path / "aro-missing"
    argv = [
        "eval",
        "--model",
        "pcclip-vit-nano",
        "--benchmark",
        f"sugarcrepe:{root}:{images}",
        "--benchmark",
        f"aro-relation:{missing}",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pcclip: error: {missing}: directory not found; aro-relation expects ")
    assert "mertyg/vision-language-models-are-bows" in err and err.count("\n") == 1 and "Traceback" not in err
    (root / "swap_att.json").unlink()  # a missing file inside an existing root: also before any model
    assert main(argv[:5]) == 2
    assert f"{root / 'swap_att.json'}: file not found" in capsys.readouterr().err


def test_eval_help_names_every_benchmark(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in COMPOSITIONAL_BENCHMARKS)


def test_eval_prints_one_table_and_writes_json_with_the_nano_model(tmp_path, capsys, monkeypatch):
    from pcclip.checkpoint import save_checkpoint
    from pcclip.models import create_model

    torch.manual_seed(0)
    checkpoint = save_checkpoint(create_model("pcclip-vit-nano")[0], tmp_path / "nano.safetensors", "pcclip-vit-nano")
    root, images = sugarcrepe_fixture(tmp_path)
    specs = [
        f"sugarcrepe:{root}:{images}",
        f"winoground:{winoground_fixture(tmp_path)}",
        f"aro-attribution:{aro_fixture(tmp_path, 'attribution')}",
    ]
    out = tmp_path / "out" / "results.json"
    argv = ["eval", "--pretrained", str(checkpoint), "--device", "cpu", "-o", str(out)]  # the checkpoint names its model
    for spec in specs:
        argv += ["--benchmark", spec]
    assert main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["benchmark", "metric", "value", "chance"]
    rows = [line.split() for line in printed[1:-1]]
    assert [r[:2] for r in rows] == (
        [["sugarcrepe", m] for m in (*SUBSETS, "add", "replace", "swap", "mean")]
        + [["winoground", m] for m in ("text_score", "image_score", "group_score")]
        + [["aro-attribution", "accuracy"]]  # no attribute pair has the 25 tests the macro needs
    )
    assert all(0.0 <= float(r[2]) <= 1.0 for r in rows)
    assert printed[-1] == f"results: {out}"
    written = json.loads(out.read_text())
    assert written["model"] == "pcclip-vit-nano" and written["pretrained"] == str(checkpoint)
    assert [r["benchmark"] for r in written["results"]] == ["sugarcrepe", "winoground", "aro-attribution"]
    assert [r["items"] for r in written["results"]] == [9, 4, 4]
    # a rerun reads every result from the cache
    monkeypatch.setattr(compositional, "encode_image_source", None)
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == printed
