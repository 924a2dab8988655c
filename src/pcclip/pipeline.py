"""The end-to-end run: world -> base CLIP -> oracle pairs -> PC-CLIP finetune (per seed) -> evaluation
of the base model and each finetuned one, with every stage cached by the hash of its settings.

A warm rerun loads the cached evaluations and only prints the table; a run killed midway keeps every
stage it finished.
"""

from __future__ import annotations

import copy
import resource
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import torch

from . import __version__
from .cache import default_cache_root, read_json, settings_hash, write_json
from .checkpoint import save_checkpoint
from .config import RunSettings
from .data import heldout_set, oracle_pairs, training_scenes
from .encode import encode_images
from .evaluate import evaluate
from .finetune import PairData, finetune_pc, image_tower_trains, weight_average
from .models import create_model
from .pretrain import pretrain_clip
from .world.render import render_batch
from .world.scene import sample_scenes


def _file_identity(path: str | None) -> list | None:
    """Size and modification time of a checkpoint file, so a replaced file is not served stale results."""
    if path is None or not Path(path).is_file():
        return None
    stat = Path(path).stat()
    return [stat.st_size, stat.st_mtime_ns]


class StageTimes(dict):
    """Seconds spent per stage in this run (stages served from the cache cost ~0)."""

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        yield
        self[stage] = self.get(stage, 0.0) + time.perf_counter() - start


def run(settings: RunSettings, output_dir: Path, log: Callable[[str], None] = print) -> dict:
    """Run (or resume) the end-to-end job; writes output_dir/results.json and returns its content."""
    torch.set_num_threads(settings.threads)
    cache_root = Path(settings.cache_dir or default_cache_root())
    times = StageTimes()
    base_key = settings_hash(settings.world, settings.model, settings.pretrain, _file_identity(settings.model.pretrained), __version__)
    base_path = cache_root / "checkpoints" / f"base-{settings.model.name}-{base_key}.safetensors"

    def load_base():
        if settings.model.pretrained:
            return create_model(settings.model.name, settings.model.pretrained)
        if base_path.is_file():
            return create_model(settings.model.name, str(base_path))
        with times("world"):
            train = training_scenes(settings.world, settings.pretrain.scenes, settings.pretrain.captions_per_scene, settings.pretrain.seed)
        with times("pretrain"):
            torch.manual_seed(settings.pretrain.seed)  # the random initial weights come from the seed too
            model, tokenizer = create_model(settings.model.name)
            pretrain_clip(model, tokenizer, train.images, train.captions, settings.pretrain, state_path=base_path.with_suffix(".state.pt"), log_dir=Path(output_dir) / "tensorboard" / "pretrain")
            save_checkpoint(model, base_path, settings.model.name, settings.model_dump(mode="json", include={"world", "model", "pretrain"}))
        log(f"base model saved to {base_path}")
        return model, tokenizer

    @cache
    def base():
        return load_base()

    @cache
    def heldout():
        with times("heldout set"):
            return heldout_set(settings.world, settings.eval)

    @cache
    def heldout_image_embeddings():
        # With the image tower frozen (the paper's setting) the base model's held-out image embeddings
        # serve every finetuned model too.
        with times("evaluate"):
            return encode_images(base()[0], heldout().images)

    eval_key_parts = (settings.world, settings.eval, __version__)

    def evaluation(name: str, key: str, get_model, image_tower_changed: Callable[[torch.nn.Module], bool]) -> dict:
        path = cache_root / "evaluations" / f"{name}-{settings_hash(key, *eval_key_parts)}.json"
        if path.is_file():
            return read_json(path)["metrics"]
        model, tokenizer = get_model()
        with times("evaluate"):
            images = None if image_tower_changed(model) else heldout_image_embeddings()
            metrics = evaluate(model, tokenizer, heldout(), images)
        write_json(path, {"model": name, "model_key": key, "settings": settings.model_dump(mode="json"), "metrics": metrics})
        return metrics

    results = {"base": evaluation("base", base_key, base, lambda model: False), "pc_clip": {}}
    alpha = settings.finetune.wise_alpha
    # Weight averaging is applied to a cached finetune, so a sweep over alpha trains nothing new.
    finetune_key_settings = settings.finetune.model_dump(mode="json", exclude={"wise_alpha"})
    for seed in settings.seeds:
        ft_key = settings_hash(base_key, settings.pairs, finetune_key_settings, seed)
        ft_path = cache_root / "checkpoints" / f"pcclip-{settings.model.name}-{ft_key}.safetensors"

        def finetuned(seed=seed, ft_path=ft_path):
            if ft_path.is_file():
                model, tokenizer = create_model(settings.model.name, str(ft_path))
            else:
                base_model, tokenizer = base()
                model = copy.deepcopy(base_model)
                with times("pairs"):
                    scenes = sample_scenes(settings.pretrain.scenes, settings.pretrain.seed, settings.world)
                    pairs = oracle_pairs(scenes, settings.pairs, settings.world, seed)
                    data = PairData(render_batch(pairs.scenes, settings.world.image_size), pairs.pairs, pairs.sentences, pairs.captions)
                with times("finetune"):
                    finetune_pc(
                        model, tokenizer, data, settings.finetune, seed,
                        state_path=ft_path.with_suffix(".state.pt"), log=log,
                        log_dir=Path(output_dir) / "tensorboard" / f"finetune-seed{seed}",
                    )
                    save_checkpoint(model, ft_path, settings.model.name, {"base": base_key, "seed": seed, **settings.model_dump(mode="json", include={"pairs", "finetune"})})
            if alpha < 1:
                weight_average(model, base()[0].state_dict(), alpha)
            return model, tokenizer

        results["pc_clip"][str(seed)] = evaluation(
            f"pcclip-seed{seed}", settings_hash(ft_key, alpha), finetuned,
            lambda model: image_tower_trains(model, settings.finetune),
        )

    summary = {
        "pcclip_version": __version__,
        "settings": settings.model_dump(mode="json"),
        "results": results,
        "stage_seconds": {k: round(v, 2) for k, v in times.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    write_json(Path(output_dir) / "results.json", summary)
    return summary


TABLE_ROWS = [
    ("difference accuracy (sign test)", lambda m: m["difference_accuracy"]),
    *[(f"  {a}", (lambda a: lambda m: m["difference_accuracy_by_attribute"][a])(a))
      for a in ("shape", "colour", "size", "count", "position")],
    ("zero-shot accuracy (mean)", lambda m: m["zero_shot_accuracy"]),
    ("  shape", lambda m: m["zero_shot_accuracy_by_task"]["shape"]),
    ("  colour", lambda m: m["zero_shot_accuracy_by_task"]["colour"]),
    ("CLIPScore", lambda m: m["clipscore"]),
    ("image->text R@1", lambda m: m["retrieval"]["image_to_text_r1"]),
    ("text->image R@1", lambda m: m["retrieval"]["text_to_image_r1"]),
]


def format_table(summary: dict) -> str:
    """Base vs PC-CLIP (mean and sample std over seeds) and the change, one metric per row."""
    base = summary["results"]["base"]
    runs = list(summary["results"]["pc_clip"].values())
    header = f"{'metric':34s} {'base':>8s} {'PC-CLIP (n=' + str(len(runs)) + ')':>18s} {'change':>8s}"
    lines = [header, "-" * len(header)]
    for label, get in TABLE_ROWS:
        values = [get(r) for r in runs]
        mean = statistics.fmean(values)
        spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
        lines.append(f"{label:34s} {get(base):8.3f} {f'{mean:.3f}{spread}':>18s} {mean - get(base):+8.3f}")
    return "\n".join(lines)
