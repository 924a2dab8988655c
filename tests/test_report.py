"""The study's tables and report on hand-made metrics (no training): every headline metric of the
registry is aggregated over seeds and shown for the base model and every row, the K-way difference
choice beside the sign test with both chance levels."""

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from pcclip.cli import main
from pcclip.errors import PcclipError
from pcclip.report import README_BEGIN, README_END, format_run_table, read_study, write_report
from pcclip.study_tables import study_tables
from pcclip.world.scene import ATTRIBUTES

CONSTRUCTIONS = ("plain", "reversed")


def metrics(difference: float, choice: float) -> dict:
    """An evaluation's metrics with the headline values the tables read (the rest fixed)."""
    return {
        "difference_accuracy": difference,
        "difference_accuracy_by_attribute": dict.fromkeys(ATTRIBUTES, difference),
        "difference_choice_accuracy": choice,
        "difference_choice_candidates": 6,
        "construction_worst_accuracy": difference,
        "difference_accuracy_by_construction": dict.fromkeys(CONSTRUCTIONS, difference),
        "zero_shot_accuracy": 0.5,
        "zero_shot_accuracy_by_task": {"shape": 0.5, "colour": 0.5},
        "clipscore": 0.25,
        "retrieval": {"image_to_text_r1": 0.1, "text_to_image_r1": 0.1},
    }


BASE = metrics(0.5, 0.15)
RUNS = {
    "oracle": {0: metrics(0.7, 0.3), 1: metrics(0.8, 0.4)},
    "rule": {0: metrics(0.6, 0.2), 1: metrics(0.6, 0.2)},
}


def cell(generator: str) -> SimpleNamespace:
    """What the tables read of a study's cell."""
    return SimpleNamespace(
        table="llm",
        row=generator,
        generator=generator,
        finetune=SimpleNamespace(trainable="text-blocks"),
        seeds=(0, 1),
        run_key=generator,
    )


def generation(correct: float) -> dict:
    return {
        "pairs": 10,
        "failed": 0,
        "kept": 10,
        "mean_chars": 40.0,
        "names_a_real_difference": correct,
        "correct": correct,
        "correct_second_first": 0.5,
        "examples": [],
    }


@pytest.fixture(scope="module")
def study() -> dict:
    cells = [cell("oracle"), cell("rule")]
    return {
        "name": "hand-made",
        "settings": {"reference": {"generator": "oracle"}, "run": {"eval": {"probe_subjects": "balanced"}}},
        "seeds": [0, 1],
        "base": BASE,
        "reference": {"generator": "oracle", "trainable": "text-blocks", "why": "the paper's"},
        "skipped": {},
        "fallbacks": [],
        "generation": {"oracle": generation(1.0), "rule": generation(0.9)},
        "computed_on": [{"pcclip": "test", "results": 4}],
        "stage_seconds": {},
        "peak_rss_mb": 1.0,
        **study_tables(cells, RUNS, BASE, {"llm": "oracle"}, {"oracle": {"correct": 1.0}, "rule": {"correct": 0.9}}),
    }


def test_the_k_way_choice_is_aggregated_over_seeds_beside_the_sign_test(study):
    oracle, rule = study["tables"]["llm"]
    choice = oracle["difference_choice_accuracy"]
    assert choice["values"] == [0.3, 0.4] and choice["mean"] == pytest.approx(0.35) and choice["n"] == 2
    assert choice["ci"] == pytest.approx(0.6353102368087356)  # t(0.975, 1) x stdev / sqrt(2)
    assert choice["base"] == 0.15 and choice["gain"]["diff"] == pytest.approx(0.2)
    assert rule["difference_choice_accuracy"]["vs_reference"]["diff"] == pytest.approx(-0.15)
    # shown, not tested: the Holm family is the sign test's and the other tested metrics'
    assert "p_holm" not in choice["gain"] and "p_holm" in oracle["difference_accuracy"]["gain"]


def test_the_report_shows_the_k_way_choice_for_the_base_and_every_row(study, tmp_path):
    md, page = write_report(study, tmp_path)
    text = md.read_text()
    assert (
        "|  | difference accuracy (chance 1/2) | K-way difference choice (chance 1/6) | worst construction | "
        "zero-shot accuracy | CLIPScore | image->text R@1 |"
    ) in text
    assert "| base model | 0.500 | 0.150 | 0.500 | 0.500 | 0.250 | 0.100 |" in text
    assert "| oracle (reference) | 0.750 ± 0.635 | 0.350 ± 0.635 | 0.750 ± 0.635 |" in text
    assert "| rule | 0.600 ± 0.000 | 0.200 ± 0.000 | 0.600 ± 0.000 |" in text
    assert (
        "Base model (no finetuning): difference accuracy (chance 1/2) 0.500, K-way difference choice (chance 1/6) 0.150,"
    ) in text
    assert "K-way difference choice (chance 1/6)" in page.read_text()


def test_the_run_table_states_both_chance_levels():
    summary = {"results": {"base": BASE, "pc_clip": {str(s): m for s, m in RUNS["oracle"].items()}}, "settings": {}}
    lines = format_run_table(summary).splitlines()
    assert lines[0] == "metric                                   base      PC-CLIP (n=2)   change"
    assert lines[2] == "difference accuracy (chance 1/2)        0.500      0.750 ± 0.071   +0.250"
    assert lines[8] == "K-way difference choice (chance 1/6)    0.150      0.350 ± 0.071   +0.200"


def test_a_figure_is_redrawn_only_when_what_it_shows_changed(study, tmp_path):
    write_report(study, tmp_path)
    bars = tmp_path / "figures" / "llm_bars.png"
    drawn = bars.stat().st_mtime_ns
    write_report(study, tmp_path)
    assert bars.stat().st_mtime_ns == drawn  # same inputs, same code: the file is kept
    changed = copy.deepcopy(study)
    changed["tables"]["llm"][1]["difference_accuracy"]["mean"] = 0.61
    write_report(changed, tmp_path)
    assert bars.stat().st_mtime_ns != drawn
    bars.write_bytes(b"not a png")  # a damaged file is drawn again, not trusted
    write_report(changed, tmp_path)
    assert bars.read_bytes().startswith(b"\x89PNG")


def test_the_manifest_says_when_results_come_from_more_than_one_kind_of_hardware(study, tmp_path):
    one = {"pcclip": "test", "hardware": "x86_64, AMD EPYC (family 25, model 17), AVX512, 2 CPU cores, no GPU"}
    other = {**one, "hardware": "x86_64, AMD EPYC (family 26, model 2), AVX512, 2 CPU cores, no GPU"}
    same = {**study, "computed_on": [{**one, "git commit": "a", "results": 2}, {**one, "git commit": "b", "results": 2}]}
    assert "kinds of hardware" not in write_report(same, tmp_path / "same")[0].read_text()
    mixed = {**study, "computed_on": [{**one, "results": 3}, {**other, "results": 1}]}
    text = write_report(mixed, tmp_path / "mixed")[0].read_text()
    assert f"**Computed on 2 kinds of hardware** ({one['hardware']}; {other['hardware']})" in text


def test_the_readme_holds_the_reports_summary_and_tables_and_nothing_else_changes(study, tmp_path):
    readme = tmp_path / "README.md"
    before, after = "# A project\n\nIts prose.\n\n", "\n\n## Later\n\nMore prose.\n"
    readme.write_text(before + README_BEGIN + "\nan old table\n" + README_END + after)
    md, _ = write_report(study, tmp_path / "docs" / "study", readme)
    text = readme.read_text()
    assert text.startswith(before + README_BEGIN + "\n") and text.endswith("\n\n" + README_END + after)
    block = text[len(before + README_BEGIN) : -len(README_END + after)]
    assert "an old table" not in block
    # the report's summary: its intro (no title), its tables one heading level down, figures linked from the README
    assert "# PC-CLIP" not in block and "Base model (no finetuning): difference accuracy" in block
    assert "each construction said of the first image for half the pairs" in block  # the balanced probe
    assert "\n### Ablation 1: which LLM writes the comparisons\n" in block
    assert "![llm_bars](docs/study/figures/llm_bars.png)" in block
    assert not any(t in block for t in ("Manifest", "Generation quality", "by attribute"))  # the report's details
    report_lines = set(md.read_text().splitlines())
    tables = [line for line in block.splitlines() if line.startswith("|")]
    assert tables and all(line in report_lines for line in tables)
    echoed = []
    write_report(study, tmp_path / "docs" / "study", readme, echo=echoed.append)
    assert readme.read_text() == text  # a second copy replaces the first
    # the console (`pcclip study`) shows the same summary, under the report's title
    (console,) = echoed
    assert console.startswith("# PC-CLIP") and all(line in console.splitlines() for line in tables)
    assert not any(t in console for t in ("Manifest", "Generation quality", "by attribute"))


def test_the_report_command_names_what_is_wrong(study, tmp_path, capsys):
    not_a_study = tmp_path / "results.json"
    not_a_study.write_text('{"name": "x", "settings": {}}')
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    study_json = tmp_path / "study.json"
    study_json.write_text(json.dumps(study))
    for args, message in (
        ([str(not_a_study)], f"{not_a_study}: not a study written by `pcclip study` (no seeds, base, reference,"),
        ([str(tmp_path / "nowhere.json")], "nowhere.json: file not found"),
        ([str(study_json), "--readme", str(readme)], f"{readme}: no place for the report; put the lines"),
    ):
        assert main(["report", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("pcclip: error: ") and message in err, err
    with pytest.raises(PcclipError, match="no place for the report"):
        write_report(study, tmp_path / "out", readme)
    assert readme.read_text() == "# no markers\n"  # left as it was


def test_the_readme_shows_the_committed_study(tmp_path):
    """The README's tables are docs/study/study.json's report, to the character: rendering that
    study again changes nothing in them."""
    root = Path(__file__).resolve().parents[1]
    readme = tmp_path / "README.md"
    readme.write_text((root / "README.md").read_text())
    write_report(read_study(root / "docs" / "study" / "study.json"), tmp_path / "docs" / "study", readme)
    assert readme.read_text() == (root / "README.md").read_text()
