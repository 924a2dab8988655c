"""The stages of a PC-CLIP experiment, each cached by the hash of its settings, shared by `pcclip run`
(one generator, one encoder choice, several seeds) and `pcclip study` (a grid of them).

world -> base CLIP -> pool of training pairs -> comparisons (a generator) -> filter -> PC-CLIP
finetune (per seed) -> evaluation. A warm rerun loads cached evaluations and trains nothing; a run
killed midway keeps every stage it finished.
"""

from __future__ import annotations

import contextlib
import copy
import os
import resource
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from . import __version__
from .cache import default_cache_root, read_json, settings_hash, write_json
from .checkpoint import save_checkpoint
from .config import BenchmarkSettings, FinetuneSettings, RunSettings
from .data import heldout_set, training_pair_pool, training_scenes
from .errors import PcclipError
from .generate import AgreementReport, GenerationRecord, GenerationSettings, agreement, apply_filter, generate
from .generate.pairs import PairRecord, load_pairs, save_pairs
from .optim import concrete_precision, distributed_rank_and_size, resolve_device
from .provenance import computed_on, provenance
from .stages import STAGES, code_versions, stage_folder
from .world.render import render_batch
from .world.scene import sample_scenes

if TYPE_CHECKING:
    from .finetune import PairData
    from .real_eval import Benchmark
    from .real_pairs import RealPairPool

# The code that trains and evaluates models (open_clip, torchvision, transformers: seconds to import)
# is imported inside the stage that runs it, so a study served from the cache never loads it.


def _file_identity(path: str | Path | None) -> list | None:
    """Size and modification time of a checkpoint file, so a replaced file is not served stale results."""
    if path is None or not Path(path).is_file():
        return None
    stat = Path(path).stat()
    return [stat.st_size, stat.st_mtime_ns]


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"


def available_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a container's cgroup CPU quota
    (os.cpu_count() counts the host's cores, which oversubscribes a limited container)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()
        if quota != "max":
            cores = min(cores, max(1, int(quota) // int(period)))
    except (OSError, ValueError):  # no cgroup v2 file here, or one this code does not understand
        pass
    return cores


def use_threads(threads: int | None) -> None:
    """torch's intra-op threads for this process (a process-wide setting, so the entry points set it);
    None: available_cores()."""
    torch.set_num_threads(threads or available_cores())


FINETUNE_HASHED_WHEN_SET = ("swap_clauses",)


def pair_data(
    chosen: list[PairRecord],
    sentences: dict[str, str],
    load_images: Callable[[list[str], torch.nn.Module], np.ndarray],
    model: torch.nn.Module,
) -> PairData:
    """The finetune's input for `chosen` pairs: each image once (rendered or read for `model`), the
    pairs as rows of them, each pair's sentence and each image's caption."""
    from .finetune import PairData

    ids = sorted({i for p in chosen for i in (p.id_a, p.id_b)})
    row = {image_id: k for k, image_id in enumerate(ids)}
    captions = {p.id_a: p.caption_a for p in chosen} | {p.id_b: p.caption_b for p in chosen}
    return PairData(
        images=load_images(ids, model),
        pairs=[(row[p.id_a], row[p.id_b]) for p in chosen],
        sentences=[sentences[p.pair_id] for p in chosen],
        captions=[captions[i] for i in ids],
    )


class StageTimes(dict):
    """Seconds spent per stage in this process (stages served from the cache cost ~0). Exclusive: a
    stage that starts inside another (a finetune its evaluation needs) counts for itself only, so
    the stages add up to the time spent in stages."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        super().__init__()
        self._clock = clock
        self._inner: list[float] = []  # per open stage, the seconds of stages nested inside it

    @contextmanager
    def __call__(self, stage: str):
        start = self._clock()
        self._inner.append(0.0)
        try:
            yield
        finally:
            elapsed = self._clock() - start
            self[stage] = self.get(stage, 0.0) + elapsed - self._inner.pop()
            if self._inner:
                self._inner[-1] += elapsed


class Pipeline:
    """The cached stages over one world, base model, pair pool and held-out set."""

    def __init__(self, settings: RunSettings, output_dir: Path, log: Callable[[str], None] = print):
        self.settings = settings
        self.output_dir = Path(output_dir)
        self.log = log
        self.cache_root = Path(settings.cache_dir or default_cache_root())
        self.times = StageTimes()
        self.device = resolve_device(settings.device)
        # Each key hashes the stage's settings and the code versions of the stage and of those it builds on.
        self.base_key = settings_hash(
            settings.world,
            settings.model,
            concrete_precision(settings.pretrain, self.device),
            _file_identity(settings.model.pretrained),
            code_versions("pretrain"),
        )
        self.base_path = stage_folder(self.cache_root, "pretrain") / f"base-{settings.model.name}-{self.base_key}.safetensors"
        real = settings.data.source != "world"
        self.pool_key = settings_hash(
            self.base_key,
            settings.pairs,
            code_versions("pairs"),
            *([settings.data, _file_identity(settings.data.root)] if real else []),
        )
        self._comparisons: dict[str, tuple[dict[str, str], dict]] = {}
        self._benchmark_embeddings: dict[str, torch.Tensor] = {}
        self.provenance: dict[str, dict] = {}  # evaluation file -> where and with what it was computed

    def check_inputs(self) -> tuple[int, list[str]]:
        """Read what later stages need from disk now, so that a missing file stops the run before any
        training: (pairs in the training pool, the benchmarks loaded)."""
        pairs, _ = self.pair_pool
        return len(pairs), list(self.benchmark_data)

    @cached_property
    def base(self):
        """(model, tokenizer): the user's checkpoint, the cached base model, or one pretrained now."""
        from .models import create_model
        from .pretrain import pretrain_clip

        s = self.settings
        if s.model.pretrained:
            return create_model(s.model.name, s.model.pretrained, self.device)
        if self.base_path.is_file():
            return create_model(s.model.name, str(self.base_path), self.device)
        with self.times("world"):
            train = training_scenes(s.world, s.pretrain.scenes, s.pretrain.captions_per_scene, s.pretrain.seed)
        with self.times("pretrain"):
            torch.manual_seed(s.pretrain.seed)  # the random initial weights come from the seed too
            model, tokenizer = create_model(s.model.name, device=self.device)
            pretrain_clip(
                model,
                tokenizer,
                train.images,
                train.captions,
                s.pretrain,
                state_path=self.base_path.with_suffix(".state.pt"),
                log_dir=self.output_dir / "tensorboard" / "pretrain",
            )
            save_checkpoint(
                model, self.base_path, s.model.name, s.model_dump(mode="json", include={"world", "model", "pretrain"})
            )
        self.log(f"base model saved to {self.base_path}")
        return model, tokenizer

    @cached_property
    def heldout(self):
        # Object sizes are fractions of the image side, so the world renders at any model's input size
        # (a user's ViT-B or ViT-L takes 224 px) without changing what the scenes show.
        from .encode import image_size

        world = self.settings.world.model_copy(update={"image_size": image_size(self.base[0])})
        with self.times("heldout set"):
            return heldout_set(world, self.settings.eval)

    @cached_property
    def heldout_image_embeddings(self) -> torch.Tensor:
        # With the image tower frozen (the paper's setting) the base model's held-out image embeddings
        # serve every finetuned model too.
        from .encode import encode_images

        with self.times("evaluate"):
            return encode_images(self.base[0], self.heldout.images)

    @cached_property
    def pair_pool(self) -> tuple[list[PairRecord], Callable[[list[str], torch.nn.Module], np.ndarray]]:
        """(pairs, load(image ids, model) -> uint8 images as the model takes them): the training pairs
        every generator describes. Real images go through the model's own open_clip preprocessing."""
        s = self.settings
        if s.data.source != "world":
            from .datasets.images import model_preprocess

            pool = self.real_pool
            return pool.pairs, lambda ids, model: pool.load(ids, model_preprocess(model))
        with self.times("pairs"):
            # Cached: sampling the pretraining scenes to draw the pool from takes seconds on every run.
            path = stage_folder(self.cache_root, "pairs") / f"world-{self.pool_key}.jsonl"
            if path.is_file():
                pairs = load_pairs(path)
            else:
                pairs = training_pair_pool(sample_scenes(s.pretrain.scenes, s.pretrain.seed, s.world), s.pairs, s.world)
                # A read-only cache: the pool is cheap to rebuild, and a stage that must write says so.
                with contextlib.suppress(OSError):
                    save_pairs(pairs, path)
        scenes = {image_id: scene for p in pairs for image_id, scene in zip((p.id_a, p.id_b), p.scenes())}

        def render(ids: list[str], model: torch.nn.Module) -> np.ndarray:
            from .encode import image_size

            return render_batch([scenes[i] for i in ids], image_size(model))

        return pairs, render

    @cached_property
    def real_pool(self) -> RealPairPool:
        """The pool of a real dataset, cached: sampling reads (and checks) every sampled image."""
        from .real_pairs import RealPairPool, real_pair_pool

        path = stage_folder(self.cache_root, "pairs") / f"{self.settings.data.source}-{self.pool_key}.json"
        if path.is_file():
            return RealPairPool.from_json(read_json(path))
        with self.times("pairs"):
            pool = real_pair_pool(self.settings.data, self.settings.pairs)
        write_json(path, pool.to_json())
        if pool.skipped:
            self.log(f"{len(pool.skipped)} unreadable images left out (data.bad_images='skip'), e.g. {pool.skipped[0]}")
        return pool

    def comparisons(self, generator: str, settings: GenerationSettings) -> tuple[dict[str, str], dict]:
        """{pair id: kept sentence} written by `generator` for the pool, and a summary of the stage
        (counts, the filter's removals per rule, mean length, agreement with the ground truth)."""
        if generator not in self._comparisons:
            pairs, _ = self.pair_pool
            store_key = settings_hash(self.pool_key, code_versions("generation"))
            store = stage_folder(self.cache_root, "generation") / f"{generator}-{store_key}.sqlite"
            with self.times(f"generate {generator}"):
                records = generate(pairs, settings, store, progress=True)
            kept, report = apply_filter(records, settings.filter.enabled, settings.filter)
            sentences = {r.pair_id: r.cleaned for r in kept}
            truth = self._agreement(generator, kept, pairs) if self.settings.data.source == "world" else None
            summary = {
                "pairs": len(pairs),
                "failed": sum(r.status == "failed" for r in records),
                "kept": len(kept),
                "removed_by_rule": report.removed,
                "mean_chars": statistics.fmean(len(t) for t in sentences.values()) if sentences else 0.0,
                "names_a_real_difference": truth.names_difference / max(truth.total, 1) if truth else None,
                "correct": truth.correct / max(truth.total, 1) if truth else None,
                "correct_second_first": truth.correct_second_first / max(truth.correct, 1) if truth else None,
                "examples": [
                    {"caption_a": r.caption_a, "caption_b": r.caption_b, "raw": r.raw, "kept": r.cleaned} for r in kept[:4]
                ],
            }
            self._comparisons[generator] = sentences, summary
        return self._comparisons[generator]

    def _agreement(self, generator: str, kept: list[GenerationRecord], pairs: list[PairRecord]) -> AgreementReport:
        """The kept sentences scored against the world's ground truth, cached: scoring thousands of
        sentences takes a warm study seconds per generator."""
        key = settings_hash(self.pool_key, [(r.pair_id, r.cleaned) for r in kept], code_versions("scoring"))
        path = stage_folder(self.cache_root, "scoring") / f"{generator}-{key}.json"
        if path.is_file():
            return AgreementReport.from_json(read_json(path))
        report = agreement(kept, pairs)
        with contextlib.suppress(OSError):  # a read-only cache: the score is recomputed on every run
            write_json(path, report.to_json())
        return report

    def training_data(self, sentences: dict[str, str], seed: int) -> PairData:
        """The seed's share of the described pool, with images rendered and captions kept."""
        if not sentences:  # every pair failed or was filtered out: nothing to sample from
            raise PcclipError(
                f"the generator kept no comparison to train on (every pair failed or the filter removed it); "
                f"the reasons are in its generation store under {self.cache_root}"
            )
        pairs, load_images = self.pair_pool
        # With pairs.both_orders the seed samples image pairs, so both orders of a pair train together.
        both = self.settings.pairs.both_orders
        described: dict[Any, list[PairRecord]] = {}
        for p in pairs:
            if p.pair_id in sentences:
                described.setdefault(frozenset((p.id_a, p.id_b)) if both else p.pair_id, []).append(p)
        groups = list(described.values())
        rng = np.random.default_rng([self.settings.pairs.seed, seed, 5])
        n = max(1, round(self.settings.pairs.train_fraction * len(groups)))
        chosen = [p for i in sorted(rng.choice(len(groups), size=n, replace=False)) for p in groups[i]]
        return pair_data(chosen, sentences, load_images, self.base[0])

    def finetune_key(self, generator: str, generation: GenerationSettings, finetune: FinetuneSettings, seed: int) -> str:
        # Weight averaging is applied to a cached finetune, so a sweep over alpha trains nothing new. The
        # kept comparisons are hashed too: a rerun that completes generations which failed before, or a
        # store that gained records, trains a new model instead of serving the old one.
        sentences, _ = self.comparisons(generator, generation)
        # A setting added after finetunes were cached is hashed only when it is set: at its default it
        # changes nothing, and the finetunes cached before it existed stay valid.
        unset = {
            name for name in FINETUNE_HASHED_WHEN_SET if getattr(finetune, name) == FinetuneSettings.model_fields[name].default
        }
        return settings_hash(
            self.pool_key,
            generator,
            generation,
            concrete_precision(finetune, self.device).model_dump(mode="json", exclude={"wise_alpha", *unset}),
            seed,
            sorted(sentences.items()),
            code_versions("finetune"),
        )

    def finetune_path(self, generator: str, generation: GenerationSettings, finetune: FinetuneSettings, seed: int) -> Path:
        """Where the finetuned checkpoint is cached (before weight averaging)."""
        key = self.finetune_key(generator, generation, finetune, seed)
        return stage_folder(self.cache_root, "finetune") / f"pcclip-{self.settings.model.name}-{key}.safetensors"

    def finetuned(self, generator: str, generation: GenerationSettings, finetune: FinetuneSettings, seed: int):
        """(model, tokenizer) finetuned on `generator`'s comparisons, from the cache when it is there."""
        from .finetune import finetune_pc, weight_average
        from .models import create_model

        path = self.finetune_path(generator, generation, finetune, seed)
        if path.is_file():
            model, tokenizer = create_model(self.settings.model.name, str(path), self.device)
        else:
            sentences, _ = self.comparisons(generator, generation)
            data = self.training_data(sentences, seed)
            base_model, tokenizer = self.base
            model = copy.deepcopy(base_model)
            with self.times("finetune"):
                finetune_pc(
                    model,
                    tokenizer,
                    data,
                    finetune,
                    seed,
                    state_path=path.with_suffix(".state.pt"),
                    log=self.log,
                    log_dir=self.output_dir / "tensorboard" / f"{generator}-{finetune.trainable}-seed{seed}",
                )
                rank, world_size = distributed_rank_and_size()
                if rank == 0:  # under torchrun every rank holds the same weights: one writes them
                    save_checkpoint(
                        model,
                        path,
                        self.settings.model.name,
                        {
                            "base": self.base_key,
                            "generator": generator,
                            "seed": seed,
                            "generation": generation.model_dump(mode="json"),
                            "finetune": finetune.model_dump(mode="json"),
                        },
                    )
                if world_size > 1:
                    torch.distributed.barrier()  # no rank returns before the checkpoint exists
        if finetune.wise_alpha < 1:
            weight_average(model, self.base[0].state_dict(), finetune.wise_alpha)
        return model, tokenizer

    def _cached_metrics(self, path: Path, compute: Callable[[], dict], record: dict) -> dict:
        """Metrics read from `path`, or computed and written there with `record` and this process's
        provenance beside them; the provenance of every result read or made is kept for the manifest."""
        if not path.is_file():
            write_json(path, {**record, "provenance": provenance(str(self.device)), "metrics": compute()})
        saved = read_json(path)
        self.provenance[path.name] = saved.get("provenance", {})
        return saved["metrics"]

    def evaluation(
        self,
        name: str,
        model_key: str,
        get_model: Callable[[], tuple[Any, Any]],
        image_tower_changed: Callable[[torch.nn.Module], bool],
    ) -> dict:
        """Metrics of the model `get_model()` returns on the world's held-out set, cached under
        (model_key, held-out settings), and under "benchmarks" those of each real-data benchmark."""
        model: tuple[Any, Any] | None = None  # (model, tokenizer)

        def loaded() -> tuple[Any, Any]:
            nonlocal model
            model = model or get_model()  # built once, and only when some result is not cached
            return model

        def on_world() -> dict:
            from .evaluate import evaluate

            with self.times("evaluate"):
                images = None if image_tower_changed(loaded()[0]) else self.heldout_image_embeddings
                return evaluate(*loaded(), self.heldout, images)

        key = settings_hash(model_key, self.settings.world, self.settings.eval, code_versions("evaluation"))
        metrics = self._cached_metrics(
            stage_folder(self.cache_root, "evaluation") / f"{name}-{key}.json",
            on_world,
            {
                "model": name,
                "model_key": model_key,
                "settings": self.settings.model_dump(mode="json"),
            },
        )
        if self.settings.benchmarks:
            metrics = {
                **metrics,
                "benchmarks": {
                    b.name: self.benchmark_evaluation(name, model_key, b, loaded, image_tower_changed)
                    for b in self.settings.benchmarks
                },
            }
        return metrics

    def benchmark_evaluation(self, name: str, model_key: str, b: BenchmarkSettings, loaded, image_tower_changed) -> dict:
        def on_benchmark() -> dict:
            from .real_eval import evaluate_benchmark

            model, tokenizer = loaded()
            with self.times(f"benchmark {b.name}"):
                images = None if image_tower_changed(model) else self.benchmark_image_embeddings(b.name)
                return evaluate_benchmark(model, tokenizer, self.benchmark_data[b.name], images)

        key = settings_hash(model_key, b, _file_identity(str(b.root)), code_versions("benchmarks"))
        return self._cached_metrics(
            stage_folder(self.cache_root, "benchmarks") / f"{name}-{b.name}-{key}.json",
            on_benchmark,
            {
                "model": name,
                "benchmark": b.model_dump(mode="json"),
            },
        )

    @cached_property
    def benchmark_data(self) -> dict[str, Benchmark]:
        if not self.settings.benchmarks:
            return {}
        from .real_eval import load_benchmark

        return {b.name: load_benchmark(b) for b in self.settings.benchmarks}

    def benchmark_image_embeddings(self, name: str) -> torch.Tensor:
        """The base model's embeddings of a benchmark's images: with the image tower frozen they serve
        every finetuned model, so each benchmark's images are embedded once per run."""
        from .real_eval import embed_benchmark_images

        if name not in self._benchmark_embeddings:
            self._benchmark_embeddings[name] = embed_benchmark_images(self.base[0], self.benchmark_data[name])
        return self._benchmark_embeddings[name]

    def base_metrics(self) -> dict:
        return self.evaluation("base", self.base_key, lambda: self.base, lambda model: False)

    def finetuned_metrics(self, generator: str, generation: GenerationSettings, finetune: FinetuneSettings, seed: int) -> dict:
        def image_tower_changed(model: torch.nn.Module) -> bool:
            from .finetune import image_tower_trains

            return image_tower_trains(model, finetune)

        key = settings_hash(self.finetune_key(generator, generation, finetune, seed), finetune.wise_alpha)
        return self.evaluation(
            f"pcclip-{generator}-{finetune.trainable}-seed{seed}",
            key,
            lambda: self.finetuned(generator, generation, finetune, seed),
            image_tower_changed,
        )

    def manifest(self) -> dict:
        manifest = {
            "pcclip_version": __version__,
            "stage_versions": {name: stage.version for name, stage in STAGES.items()},
            "computed_on": computed_on(self.provenance.values()),
            "stage_seconds": {k: round(v, 2) for k, v in self.times.items()},
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        if self.settings.data.source != "world":
            manifest["training_data"] = {"source": self.settings.data.source, **self.real_pool.summary()}
        return manifest


def run(settings: RunSettings, output_dir: Path, log: Callable[[str], None] = print) -> dict:
    """Base model vs PC-CLIP finetuned on settings.generator's comparisons, one finetune per seed;
    writes output_dir/results.json and returns its content."""
    use_threads(settings.threads)
    pipeline = Pipeline(settings, output_dir, log)
    pipeline.check_inputs()
    results = {
        "base": pipeline.base_metrics(),
        "pc_clip": {
            str(seed): pipeline.finetuned_metrics("run", settings.generator, settings.finetune, seed) for seed in settings.seeds
        },
    }
    summary = {"settings": settings.model_dump(mode="json"), "results": results, **pipeline.manifest()}
    write_json(Path(output_dir) / "results.json", summary)
    return summary
