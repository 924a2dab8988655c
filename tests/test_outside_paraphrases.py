"""experiments/outside_paraphrases.py: its templates fill on every pair and flip with the order, bad
templates are named, and it scores a study's checkpoints through open_clip."""

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pcclip.errors import PcclipError
from pcclip.study import run_study
from pcclip.world.scene import ATTRIBUTES, WorldConfig, sample_scenes
from test_study import tiny_study

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))
try:
    import outside_paraphrases as outside
finally:
    sys.path.pop(0)


def test_the_shipped_templates_cover_every_attribute_both_ways_and_flip_with_the_order():
    templates = outside.load_templates(outside.TEMPLATES)
    for attribute in ATTRIBUTES:
        named = [t.names_first for t in templates if t.attribute == attribute]
        assert named.count("first") >= 5 and named.count("second") >= 5
    for attribute, a, b in outside.minimal_pairs(WorldConfig(), 3):
        for template in (t for t in templates if t.attribute == attribute):
            forward, backward = template.sentence(a, b), template.sentence(b, a)
            assert forward != backward and "{" not in forward  # every slot filled; never symmetric


def test_direction_is_the_first_images_side_of_the_second():
    scene = sample_scenes(1, 0, WorldConfig())[0]
    assert outside.direction("size", replace(scene, size=0.1), replace(scene, size=0.07)) == "+"
    assert outside.direction("count", replace(scene, count=1), replace(scene, count=3)) == "-"
    assert outside.direction("position", replace(scene, x=0.2, y=0.5), replace(scene, x=0.6, y=0.55)) == "left"
    assert outside.direction("position", replace(scene, x=0.5, y=0.2), replace(scene, x=0.5, y=0.6)) == "up"  # y grows downward


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('attribute = "texture"\nkind = "k"\nnames_first = "first"\ntext = "x"', "attribute 'texture' is not one of shape"),
        (
            'attribute = "size"\nkind = "k"\nnames_first = "first"\nforms = { "+" = "a" }',
            "forms of size need the keys ['+', '-']",
        ),
        ('attribute = "colour"\nkind = "k"\nnames_first = "first"\ntext = "the {hue}"', "colour fills no slot hue; it fills"),
        ('attribute = "colour"\nkind = "k"\nnames_first = "third"\ntext = "x"', "names_first must be 'first' or 'second'"),
        ('attribute = "colour"\nkind = "k"\nnames_first = "first"', "give exactly one of text and forms"),
    ],
)
def test_a_bad_template_is_named_with_what_to_fix(tmp_path, entry, message):
    path = tmp_path / "templates.toml"
    path.write_text(
        f'[[template]]\nattribute = "colour"\nkind = "k"\nnames_first = "first"\ntext = "{{first}}"\n\n[[template]]\n{entry}\n'
    )
    with pytest.raises(PcclipError, match="template 2: ") as error:
        outside.load_templates(path)
    assert message in str(error.value)


def test_it_scores_each_listed_checkpoint_beside_the_studys_own_number(tmp_path, capsys):
    settings = tiny_study(tmp_path)
    study = run_study(settings, tmp_path / "out", log=lambda _: None)
    study_json, cache, output = tmp_path / "out" / "study.json", settings.run.cache_dir, tmp_path / "outside.json"
    arguments = ["--study", study_json, "--cache-dir", cache, "--pairs", "2", "--tables", "llm,encoders", "--json", output]
    result = outside.main([str(a) for a in arguments])
    assert [(r["table"], r["row"], len(r["checkpoints"])) for r in result["rows"]] == [
        ("llm", "oracle", 2),
        ("llm", "rule", 2),
        ("encoders", "text-blocks", 2),
        ("encoders", "image", 2),
    ]
    oracle, _, text_blocks, _ = result["rows"]
    assert oracle["accuracy"] == text_blocks["accuracy"]  # the same checkpoints score the same
    assert oracle["study_vs_base"] == study["tables"]["llm"][0]["difference_accuracy"]["gain"]
    for row in result["rows"]:
        assert 0 <= row["accuracy"]["mean"] <= 1 and set(row["names_first"]) == {"first", "second"}
    assert json.loads((tmp_path / "outside.json").read_text()) == json.loads(json.dumps(result))
    table = capsys.readouterr().out
    assert "| llm/rule | 2 |" in table and "encoders/text-blocks" not in table  # the oracle's runs, shown once


def test_a_study_whose_checkpoints_are_gone_says_what_to_do(tmp_path):
    listed = {"base": "pretrain/base.safetensors", "llm": {"oracle": {"0": "finetune/a.safetensors"}}}
    (tmp_path / "study.json").write_text(json.dumps({"checkpoints": listed, "tables": {}}))
    with pytest.raises(PcclipError, match=r"lists 2 checkpoints that .* does not hold .*run the study again"):
        outside.main(["--study", str(tmp_path / "study.json"), "--cache-dir", str(tmp_path)])
    (tmp_path / "old.json").write_text(json.dumps({"tables": {}}))
    with pytest.raises(PcclipError, match="lists no checkpoints"):
        outside.main(["--study", str(tmp_path / "old.json")])
