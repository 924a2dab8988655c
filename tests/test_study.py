"""The study grid on tiny settings: tables, statistics, resume (after a finished study and after a
kill midway), generators skipped with their reason, report, and config errors."""

import json
import re
import subprocess
import sys
from pathlib import Path

import open_clip
import pytest
import torch

from pcclip import finetune, pipeline
from pcclip.checkpoint import checkpoint_metadata
from pcclip.errors import PcclipError
from pcclip.generate.mock_server import MockOpenAIServer
from pcclip.models import register_model_configs
from pcclip.report import write_report
from pcclip.settings_io import load_settings
from pcclip.study import DEFAULT_PLAN, StudySettings, load_study, run_study, unavailable_generators, without_skipped
from pcclip.study_tables import holm, mean_ci, paired_test
from pcclip.towers import ENCODER_CHOICES

CONFIGS = Path(__file__).parents[1] / "configs"
SECRET = "sk-test-DO-NOT-LEAK-9d2e41"

TINY_RUN = {
    "world": {"image_size": 32},
    "model": {"name": "pcclip-vit-nano"},
    "pretrain": {"scenes": 64, "epochs": 1, "batch_size": 16, "warmup_steps": 0},
    "pairs": {"images": 32, "pairs": 24},
    "finetune": {"epochs": 1, "batch_size": 8, "warmup_steps": 0},
    "eval": {"pairs_per_attribute": 4, "zero_shot_per_class": 2, "caption_scenes": 16},
    "seeds": [0, 1],
    "threads": 1,
}


def tiny_study(tmp_path, **changes) -> StudySettings:
    return StudySettings.model_validate(
        {
            "name": "tiny",
            "run": {**TINY_RUN, "cache_dir": str(tmp_path / "cache")},
            "generators": {
                "oracle": {"filter": {"enabled": False}},
                "rule": {"backend": {"backend": "rule"}, "filter": {"enabled": False}},
            },
            "llm_ablation": ["oracle", "rule"],
            "encoder_ablation": ["text-blocks", "image"],
            "encoder_generator": "oracle",
            "reference": {"generator": "oracle", "trainable": "text-blocks", "why": "test"},
            **changes,
        }
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny study run once, uninterrupted: (its settings, its result)."""
    settings = tiny_study(tmp_path_factory.mktemp("finished"))
    return settings, run_study(settings, settings.run.cache_dir.parent / "out", log=lambda _: None)


def _report_without_manifest(study: dict, output_dir) -> str:
    md, _ = write_report(study, output_dir)
    return md.read_text().split("## Manifest")[0]  # the manifest holds this process's stage times


def test_statistics_by_hand():
    # mean 2, sd 1, n 3: half-width t(0.975, 2) * 1 / sqrt(3) = 4.302653 / 1.732051
    assert mean_ci([1.0, 2.0, 3.0]) == pytest.approx({"mean": 2.0, "ci": 4.302653 / 3**0.5, "n": 3}, rel=1e-6)
    assert mean_ci([0.5]) == {"mean": 0.5, "ci": 0.0, "n": 1}
    # diffs 1, 2, 3: t = 2 / (1 / sqrt 3) = sqrt 12, df 2, whose CDF is 1/2 + t / (2 sqrt(2 + t^2)):
    # two-sided p = 1 - sqrt(12 / 14)
    test = paired_test([1.0, 2.0, 4.0], [0.0, 0.0, 1.0])
    assert test["diff"] == pytest.approx(2.0) and test["p"] == pytest.approx(1 - (12 / 14) ** 0.5, rel=1e-6)
    assert test["ci"] == pytest.approx(4.302653 / 3**0.5, rel=1e-6)  # the interval of the differences 1, 2, 3
    assert paired_test([1.0, 2.0], [0.0, 1.0])["p"] is None  # constant differences: no test


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04 (m = 3): 0.03, max(0.03, 0.04), max(0.04, 0.04); an untested p stays None
    assert holm([0.04, None, 0.01, 0.02]) == pytest.approx([0.04, None, 0.03, 0.04])
    assert holm([0.5, 0.6]) == [1.0, 1.0]


def test_study_runs_resumes_and_reports(tmp_path, finished):
    settings, first = finished
    assert [r["generator"] for r in first["tables"]["llm"]] == ["oracle", "rule"]
    assert [r["trainable"] for r in first["tables"]["encoders"]] == ["text-blocks", "image"]
    for rows in first["tables"].values():
        for row in rows:
            for metric in ("difference_accuracy", "zero_shot_accuracy", "clipscore"):
                assert row[metric]["n"] == 2 and len(row[metric]["values"]) == 2
    reference = first["tables"]["llm"][0]
    assert reference["reference"] and reference["difference_accuracy"]["vs_reference"]["diff"] == 0
    assert first["generation"]["oracle"]["correct"] == 1.0  # the oracle is the ground truth

    again = run_study(settings, tmp_path / "out", log=lambda _: None)
    assert "finetune" not in again["stage_seconds"] and again["tables"] == first["tables"]

    md, page = write_report(again, tmp_path / "out")
    text = md.read_text()
    assert "Ablation 1: which LLM writes the comparisons" in text and "oracle (reference)" in text
    assert (tmp_path / "out" / "figures" / "llm_bars.png").stat().st_size > 1000
    assert "data:image/png;base64," in page.read_text()
    assert json.loads((tmp_path / "out" / "study.json").read_text())["seeds"] == [0, 1]


def test_the_study_lists_each_rows_checkpoint_per_seed_loadable_through_open_clip(finished):
    settings, study = finished
    listed = study["checkpoints"]
    cache = settings.run.cache_dir
    assert listed["llm"]["oracle"] == listed["encoders"]["text-blocks"]  # one run serves both tables' rows
    assert set(listed["llm"]["rule"]) == {"0", "1"} and len({*listed["llm"]["rule"].values()}) == 2
    for seed, path in listed["llm"]["rule"].items():
        written = checkpoint_metadata(cache / path)["settings"]
        assert (written["generator"], written["seed"]) == ("rule", int(seed))
    register_model_configs()  # what `import pcclip` does before a user calls open_clip
    model = open_clip.create_model(settings.run.model.name, pretrained=str(cache / listed["llm"]["rule"]["0"]))
    base = open_clip.create_model(settings.run.model.name, pretrained=str(cache / listed["base"]))
    changed = [name for name, w in model.state_dict().items() if not torch.equal(w, base.state_dict()[name])]
    blocks = ENCODER_CHOICES["text-blocks"].pattern
    assert changed and all(re.match(blocks, name) for name in changed)  # the text blocks trained, nothing else


def test_a_study_served_from_the_cache_loads_no_training_code(tmp_path, finished):
    # open_clip, torchvision and transformers take seconds to import: a warm study reads the cache only.
    settings, first = finished
    script = (
        "import json, sys; from pcclip.study import StudySettings, run_study; "
        f"s = StudySettings.model_validate_json({settings.model_dump_json()!r}); "
        f"study = run_study(s, {str(tmp_path / 'out')!r}, log=lambda _: None); "
        "print(json.dumps({'tables': study['tables'], 'loaded': sorted(m for m in ('open_clip', 'torchvision', "
        "'transformers', 'pcclip.finetune', 'pcclip.evaluate') if m in sys.modules)}))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    warm = json.loads(result.stdout.strip().splitlines()[-1])
    assert warm["loaded"] == [] and warm["tables"] == json.loads(json.dumps(first["tables"]))


def test_config_typos_name_the_key_and_the_choices(tmp_path):
    with pytest.raises(PcclipError, match="llm_ablation: unknown generator 'gpt5'"):
        load_settings(StudySettings, None, ['llm_ablation=["oracle", "gpt5"]'])
    with pytest.raises(PcclipError, match="swapped.generators: unknown generator 'gpt5'"):
        load_settings(StudySettings, None, ['swapped.generators=["gpt5"]'])
    with pytest.raises(PcclipError, match="unknown encoder choice 'images'"):
        load_settings(StudySettings, None, ['encoder_ablation=["images"]'])
    with pytest.raises(PcclipError, match="run.finetune.lrr: unknown key"):
        load_settings(StudySettings, None, ["run.finetune.lrr=1"])
    path = tmp_path / "bad.toml"
    path.write_text('[generators.x]\nbackend = { backend = "gpt" }\n')
    with pytest.raises(PcclipError) as error:
        load_settings(StudySettings, path)
    assert str(error.value).startswith(f"{path}: invalid settings\n  generators.x.backend: ")
    assert "does not match any of the expected tags: 'oracle', 'rule', 'hf', 'openai', 'vllm'" in str(error.value)
    path.write_text('[generators.x]\nbackend = { backend = "hf", modle = "llama-7b" }\n')
    with pytest.raises(
        PcclipError,
        match="generators.x.backend.hf: .*unknown key 'modle' for the hf back end; allowed: backend, model, gguf_file",
    ):
        load_settings(StudySettings, path)


def test_the_default_plan_is_one_file_that_pcclip_study_and_make_study_both_read():
    assert (CONFIGS / "embedded-default.toml").resolve() == DEFAULT_PLAN.resolve()
    assert load_study() == load_settings(StudySettings, CONFIGS / "embedded-default.toml")
    settings = load_study()
    assert settings.reference.generator == "smollm2-135m" and settings.run.seeds == (0, 1, 2, 3, 4)
    assert settings.table_seeds == {"encoders": (0, 1, 2), "quality": (0, 1, 2), "order": (0, 1, 2), "variants": (0, 1, 2)}
    assert settings.swapped.generators == ("rule", "smollm2-135m-values") and settings.swapped.share == 0.5
    assert settings.quality.error_rates == (0.25, 0.5, 0.75, 1.0) and "keep-clip" in settings.variants
    assert settings.run.pairs.both_orders and (settings.run.pairs.pairs, settings.run.finetune.epochs) == (2000, 7)
    assert settings.llm_ablation[-2:] == ("smollm2-135m-values", "gemma3-270m-values")  # each offline LLM at its best prompt


def test_gpu_sized_config_is_the_embedded_default_grid_on_more_data():
    default = load_study()
    gpu = load_settings(StudySettings, CONFIGS / "gpu-sized.toml")
    grid = ("llm_ablation", "encoder_ablation", "encoder_generator", "reference", "quality", "variants")
    assert [getattr(gpu, k) for k in grid] == [getattr(default, k) for k in grid] and gpu.run.seeds == default.run.seeds
    assert gpu.run.pretrain.scenes > default.run.pretrain.scenes and gpu.run.pairs.pairs > default.run.pairs.pairs
    assert gpu.run.finetune.precision == gpu.run.pretrain.precision == "bf16"


def test_paper_scale_config_offline_without_keys_skips_its_api_and_hub_generators(tmp_path, monkeypatch):
    settings = load_settings(StudySettings, CONFIGS / "paper-scale.toml")
    run = settings.run
    assert (run.model.name, run.model.pretrained, run.world.image_size) == ("ViT-L-14", "datacomp_xl_s13b_b90k", 224)
    assert (run.data.source, str(run.data.root), run.data.split, run.pairs.pairing) == ("coco", "data/coco", "train2017", "pool")
    assert (run.pairs.images, run.pairs.pairs) == (1000, 1000 * 999 // 2)
    f = run.finetune
    assert (f.optimizer, f.schedule, f.gamma, f.batch_size, f.epochs, f.warmup_steps) == ("adam", "exponential", 0.9, 512, 20, 0)
    assert settings.reference.generator == settings.encoder_generator == "llama2-13b-chat" and run.seeds == (0, 1, 2)

    for variable in ("OPENAI_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # no ./models/llama-7b, no data/coco: the check reads neither
    reasons = unavailable_generators(settings)
    assert sorted(reasons) == ["gemini2-flash", "gpt35-instruct", "llama-7b", "llama2-13b-chat"]
    assert reasons["llama2-13b-chat"].startswith("weights not found locally: meta-llama/Llama-2-13b-chat-hf")
    assert reasons["gpt35-instruct"].startswith("the API key variable OPENAI_API_KEY is unset")
    assert reasons["gemini2-flash"].startswith("the API key variable GEMINI_API_KEY is unset")
    assert reasons["llama-7b"] == "model path not found: ./models/llama-7b"
    plan, notes = without_skipped(settings, reasons)
    assert plan.llm_ablation == ("rule",) and plan.reference.generator == plan.encoder_generator == "rule" and len(notes) == 2


class Killed(BaseException):
    """Stands for a kill: no `except Exception` on the way stops it."""


def test_a_study_killed_midway_resumes_without_redoing_runs_and_reports_the_same(tmp_path, monkeypatch, finished):
    settings = tiny_study(tmp_path)  # a cache of its own
    real, started = finetune.finetune_pc, []

    def finetune_then_die(*args, kill_at, **kwargs):
        if len(started) == kill_at:
            raise Killed
        started.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(finetune, "finetune_pc", lambda *a, **k: finetune_then_die(*a, kill_at=3, **k))
    with pytest.raises(Killed):
        run_study(settings, tmp_path / "out", log=lambda _: None)
    assert len(started) == 3  # of 6: 3 cells x 2 seeds

    started.clear()
    monkeypatch.setattr(finetune, "finetune_pc", lambda *a, **k: finetune_then_die(*a, kill_at=None, **k))
    resumed = run_study(settings, tmp_path / "out", log=lambda _: None)
    assert len(started) == 3  # only the runs the kill stopped
    _, uninterrupted = finished
    assert resumed["tables"] == uninterrupted["tables"] and resumed["generation"] == uninterrupted["generation"]
    assert _report_without_manifest(resumed, tmp_path / "out") == _report_without_manifest(uninterrupted, tmp_path / "ref")


def test_generators_that_cannot_run_are_skipped_with_the_reason(tmp_path, monkeypatch, finished):
    settings, uninterrupted = finished
    monkeypatch.delenv("PCCLIP_TEST_UNSET_KEY", raising=False)
    monkeypatch.setenv("PCCLIP_TEST_KEY", SECRET)
    with MockOpenAIServer(api_key="another-key") as refusing:
        generators = {
            **settings.model_dump(mode="json")["generators"],
            "gpt": {"backend": {"backend": "openai", "model": "gpt-4o-mini", "api_key_env": "PCCLIP_TEST_UNSET_KEY"}},
            "llama-7b": {"backend": {"backend": "hf", "model": str(tmp_path / "llama-7b")}},
            "vllm-server": {
                "backend": {
                    "backend": "openai",
                    "model": "m",
                    "base_url": "http://127.0.0.1:9/v1",
                    "api_key_env": "PCCLIP_TEST_KEY",
                }
            },
            "refusing": {
                "backend": {
                    "backend": "openai",
                    "model": "m",
                    "base_url": refusing.url,
                    "api_key_env": "PCCLIP_TEST_KEY",
                    "max_retries": 0,
                }
            },
        }
        study = settings.model_validate(
            {
                **settings.model_dump(mode="json"),
                "generators": generators,
                "llm_ablation": ["gpt", "oracle", "rule", "llama-7b", "vllm-server", "refusing"],
                "reference": {"generator": "gpt", "trainable": "text-blocks"},
                "encoder_generator": "llama-7b",
            }
        )
        logged = []
        result = run_study(study, tmp_path / "out", log=logged.append)  # the rest is cached: nothing retrains

    skipped = result["skipped"]
    assert skipped["gpt"].startswith("the API key variable PCCLIP_TEST_UNSET_KEY is unset")
    assert skipped["llama-7b"] == f"model path not found: {tmp_path / 'llama-7b'}"
    assert skipped["vllm-server"].startswith("the server at http://127.0.0.1:9/v1 is not reachable")
    assert skipped["refusing"].startswith("no comparison kept: 24 of 24 pairs failed")
    assert all(any(line.startswith(f"generator {name} skipped: ") for line in logged) for name in skipped)
    # oracle stands in as the reference and for the encoder ablation: the finished study's very tables
    assert result["tables"] == uninterrupted["tables"] and list(result["generation"]) == ["oracle", "rule"]
    assert [note.split(" was skipped")[0] for note in result["fallbacks"]] == [
        "The configured reference generator `gpt`",
        "The encoder ablation's generator `llama-7b`",
    ]

    md, page = write_report(result, tmp_path / "out")
    text = md.read_text()
    assert "## Skipped generators" in text and "| llama-7b | model path not found:" in text
    assert "Reference row: generator `oracle`" in text and "is the reference row instead" in text
    assert "PCCLIP_TEST_UNSET_KEY is unset" in page.read_text()
    for path in [*(tmp_path / "out").rglob("*"), *settings.run.cache_dir.rglob("*")]:
        assert not path.is_file() or SECRET.encode() not in path.read_bytes(), path


def test_no_generator_that_can_run_fails_before_any_work(tmp_path, monkeypatch):
    monkeypatch.delenv("PCCLIP_TEST_UNSET_KEY", raising=False)
    study = tiny_study(
        tmp_path,
        generators={"gpt": {"backend": {"backend": "openai", "model": "m", "api_key_env": "PCCLIP_TEST_UNSET_KEY"}}},
        llm_ablation=["gpt"],
        encoder_generator="gpt",
        reference={"generator": "gpt", "trainable": "text-blocks"},
    )
    with pytest.raises(
        PcclipError,
        match="no generator of llm_ablation can run here:\n  gpt: the API key variable PCCLIP_TEST_UNSET_KEY is unset",
    ):
        run_study(study, tmp_path / "out", log=lambda _: None)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


def test_missing_data_stops_the_study_instead_of_skipping_every_generator(tmp_path, monkeypatch):
    def no_data(self):
        raise PcclipError("data/coco/annotations/captions_train2017.json: file not found")

    monkeypatch.setattr(pipeline.Pipeline, "pair_pool", property(no_data))
    with pytest.raises(PcclipError, match="^data/coco/annotations/captions_train2017.json: file not found$"):
        run_study(tiny_study(tmp_path), tmp_path / "out", log=lambda _: None)


def test_report_without_ground_truth_says_n_a(tmp_path, finished):
    _, study = finished
    unjudged = {"correct": None, "names_a_real_difference": None, "correct_second_first": None}
    generation = {name: {**g, **unjudged} for name, g in study["generation"].items()}
    md, _ = write_report({**study, "generation": generation}, tmp_path)
    text = md.read_text()
    assert "Real data has no ground truth (n/a)." in text and "| n/a | n/a | n/a |" in text


def test_a_study_with_a_quality_axis_swapped_clauses_and_a_variant_fits_the_dose_response(tmp_path):
    settings = tiny_study(
        tmp_path,
        quality={"error_rates": [0.5, 1.0]},
        swapped={"generators": ["rule"], "share": 0.5},
        table_seeds={"quality": [0, 1], "order": [0, 1]},
        variants={"keep-clip": {"caption_loss_weight": 0.1}},
    )
    study = run_study(settings, tmp_path / "out", log=lambda _: None)
    quality = study["tables"]["quality"]
    assert [r["name"] for r in quality] == ["oracle", "oracle-50%-errors", "oracle-100%-errors"] and quality[0]["reference"]
    assert [r["name"] for r in study["tables"]["variants"]] == ["paper's loss", "keep-clip"]
    order = study["tables"]["order"]
    assert [(r["name"], r["generator"]) for r in order] == [("oracle", "oracle"), ("rule, clauses swapped", "rule")]
    cells = {(c.table, c.row): c for c in settings.cells()}
    swapped, rule = cells[("order", "rule, clauses swapped")], cells[("llm", "rule")]
    assert swapped.finetune == rule.finetune.model_copy(update={"swap_clauses": 0.5}) and swapped.run_key != rule.run_key
    assert cells[("order", "oracle")].run_key == cells[("llm", "oracle")].run_key  # the same runs
    # the oracle rows of every table are one set of runs
    assert quality[0]["difference_accuracy"]["values"] == study["tables"]["llm"][0]["difference_accuracy"]["values"]
    correct = {g: study["generation"][g]["correct"] for g in ("oracle", "oracle-50%-errors", "oracle-100%-errors")}
    assert correct["oracle"] == 1.0 and correct["oracle-100%-errors"] == 0.0 and 0 < correct["oracle-50%-errors"] < 1
    curve = study["quality_curves"]["difference_accuracy"]
    assert sorted(p["correctness"] for p in curve["points"]) == sorted(2 * list(correct.values()))
    assert curve["fit"]["n"] == 6 and [p["generator"] for p in curve["placed"]] == ["rule"]
    assert study["quality_curve"]["points"] == curve["points"]  # the shape `pcclip score --curve` reads
    md, _ = write_report(study, tmp_path / "out")
    text = md.read_text()
    assert "## Comparison quality: the dose-response" in text and "## Keeping what CLIP could do" in text
    assert "## Word order: the writers that name image 1 first, with clauses swapped" in text
    assert (tmp_path / "out" / "figures" / "quality_curve.png").stat().st_size > 1000


def test_the_verdict_reads_both_views_and_names_what_the_row_costs():
    from pcclip.report import verdict

    def row(gain, p, constructions, seeds=3, zero_shot=(0.0, 1.0), clipscore=(0.0, 1.0)):
        by = {name: {"mean": mean, "base": 0.5} for name, mean in constructions.items()}

        def tested(diff, p_value, base):
            return {"base": base, "gain": {"diff": diff, "ci": 0.01, "n": seeds, "p": p_value, "p_holm": p_value}}

        return {
            "difference_accuracy": {"gain": {"diff": gain, "ci": 0.01, "n": seeds, "p": p, "p_holm": p}},
            "construction_worst_accuracy": {"by": by},
            "zero_shot_accuracy": tested(*zero_shot, 0.64),
            "clipscore": tested(*clipscore, 1.6),
        }

    assert verdict(row(0.1, 0.001, {"first-named-first": 0.7, "second-named-first": 0.6})) == "gain on every construction"
    assert verdict(row(0.02, 0.01, {"first-named-first": 0.7, "second-named-first": 0.3})) == (
        "gain, but below the base on: second-named-first"
    )
    assert verdict(row(-0.05, 0.01, {"first-named-first": 0.4})) == "loss"
    assert verdict(row(0.01, 0.4, {"first-named-first": 0.55})) == "no significant change"
    assert verdict(row(0.01, None, {"first-named-first": 0.45}, seeds=1)) == (
        "one seed: not tested; below the base on: first-named-first"
    )
    # A significant loss of what the base CLIP could do is named, with its relative size; a loss that
    # is not significant, or a gain, is not.
    assert verdict(row(0.1, 0.001, {"first-named-first": 0.7}, zero_shot=(-0.04, 0.01), clipscore=(-0.4, 0.2))) == (
        "gain on every construction; costs zero-shot accuracy -0.040 (-6%)"
    )
    assert verdict(row(0.0, 0.9, {"first-named-first": 0.55}, zero_shot=(-0.4, 0.03), clipscore=(-1.44, 0.001))) == (
        "no significant change; costs zero-shot accuracy -0.400 (-62%), CLIPScore -1.440 (-90%)"
    )
    assert verdict(row(0.1, 0.001, {"first-named-first": 0.7}, clipscore=(0.2, 0.001))) == "gain on every construction"


def test_the_quick_config_is_the_default_plan_at_toy_size():
    quick, default = load_settings(StudySettings, CONFIGS / "quick.toml"), load_study()
    assert (quick.encoder_ablation, quick.variants) == (default.encoder_ablation, default.variants)
    assert set(quick.llm_ablation) < set(default.llm_ablation)  # one SmolLM2 prompt of the two, for time
    assert quick.run.pairs.pairs < default.run.pairs.pairs and quick.run.pretrain.scenes < default.run.pretrain.scenes
