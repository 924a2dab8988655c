"""Validated settings for every stage. Each stage's cache key is the hash of the settings it reads.

Defaults are the embedded default: a small CLIP pretrained on the procedural world, finetuned the
paper's way on oracle comparisons, sized to run on 2 CPU cores in minutes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from .generate.filters import FilterSettings
from .generate.settings import GenerationSettings
from .losses import LOSSES
from .towers import ENCODER_CHOICES
from .world.scene import WorldConfig


class Settings(BaseModel):
    """Base for all settings: immutable, unknown keys rejected (a typo fails at once), floats finite
    (inf or nan would pass every bound and fail later, mid-training)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    # Fields added after caches were made: left out of a dump while at their default, so that the
    # cache keys (hashes of dumped settings) made before them stay the same.
    later_fields: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _omit_later_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for name in self.later_fields:
            if getattr(self, name) == type(self).model_fields[name].default:
                data.pop(name, None)
        return data


class ModelSettings(Settings):
    name: str = Field("pcclip-vit-t8-minilm", description="open_clip architecture (run `pcclip models` to list)")
    pretrained: str | None = Field(None, description="open_clip pretrained tag or checkpoint path; None: pretrain on the world")


class OptimSettings(Settings):
    """The optimisation loop's settings, shared by pretraining and finetuning."""

    epochs: int = Field(1, ge=1)
    batch_size: int = Field(64, ge=2, description="pairs (or images) per optimiser step")
    accum_steps: int = Field(1, ge=1, description="micro-batches per step (each its own negatives)")
    optimizer: Literal["adamw", "adam"] = Field("adamw", description="'adam' with schedule='exponential' is the paper's")
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0, description="on weight matrices only")
    schedule: Literal["cosine", "exponential", "constant"] = Field(
        "cosine", description="'cosine': warmup then cosine to 0; 'exponential': x gamma per epoch (the paper: 0.9)"
    )
    gamma: float = Field(0.9, gt=0, le=1, description="per-epoch decay of the exponential schedule")
    warmup_steps: int = Field(0, ge=0)
    grad_clip: float = Field(1.0, ge=0, description="clip the gradient norm at this value (0: no clipping, as the paper)")
    precision: Literal["fp32", "bf16", "auto"] = Field(
        "fp32", description="bf16: autocast; auto: bf16 where the device computes it natively (pcclip.optim.native_bf16)"
    )
    compile: bool = Field(False, description="torch.compile the loss computation, forward and backward (for GPUs)")
    checkpoint_every: int = Field(0, ge=0, description="save a resumable training state every N steps (0: never)")

    @model_validator(mode="after")
    def _accum_divides_batch(self):
        if self.batch_size % self.accum_steps:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of accum_steps ({self.accum_steps})")
        return self


class PretrainSettings(OptimSettings):
    """Standard CLIP pretraining of the base model on the world (embedded default only)."""

    scenes: int = Field(10_000, ge=16, description="training scenes rendered from the world")
    captions_per_scene: int = Field(2, ge=1, description="caption variants per scene, one drawn per step")
    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_steps: int = 50
    lock_text_trunk: bool = Field(True, description="keep a pretrained HF text trunk frozen (train its projection)")
    seed: int = 0


class DataSettings(Settings):
    """Where the training images and captions come from: the procedural world (the embedded default)
    or a real dataset in its standard layout."""

    source: Literal["world", "coco", "cub", "captions"] = Field(
        "world",
        description="'coco': COCO captions (annotations JSON + image folder); 'cub': CUB-200-2011 with Reed et al.'s "
        "bird descriptions; 'captions': a CSV/TSV/JSONL file of (image path, caption), as open_clip_train reads",
    )
    root: Path | None = Field(
        None,
        description="coco: the folder holding annotations/ and <split>/; cub: the CUB_200_2011 folder; "
        "captions: the .csv, .tsv or .jsonl file",
    )
    split: str | None = Field(None, description="coco: the split (default train2017); cub: train, test or all (default train)")
    descriptions: Path | None = Field(
        None, description="cub: Reed et al.'s text_c10 folder (<class folder>/<image name>.txt, one description per line)"
    )
    image_key: str = Field("filepath", description="captions: the image path column (open_clip_train's --csv-img-key)")
    caption_key: str = Field("title", description="captions: the caption column (open_clip_train's --csv-caption-key)")
    bad_images: Literal["error", "skip"] = Field(
        "error", description="a missing or unreadable image: 'error' names the file and stops; 'skip' leaves it out and counts it"
    )

    @model_validator(mode="after")
    def _source_needs(self) -> DataSettings:
        if self.source != "world" and self.root is None:
            raise ValueError(f"data.source={self.source!r} needs data.root (see `data.root`'s description for the layout)")
        if self.source == "cub" and self.descriptions is None:
            raise ValueError("data.source='cub' needs data.descriptions: the text_c10 folder of Reed et al.'s cvpr2016_cub")
        return self


class PairSettings(Settings):
    """Ordered training pairs built from images sampled among the pretraining scenes."""

    pairing: Literal["minimal", "pool"] = Field(
        "minimal",
        description="'minimal': each sampled scene paired with a copy that differs in one attribute (attributes in "
        "turn, order random; world only); 'pool': pairs among the sampled images, as the paper samples COCO pairs",
    )
    images: int = Field(1000, ge=2, description="images sampled (world: among the pretraining scenes; real data: the dataset's)")
    pairs: int = Field(1500, ge=1, description="ordered pairs (distinct)")
    max_differences: int = Field(
        2, ge=1, le=5, description="pool pairing on the world: keep pairs differing in at most this many attributes (5: any)"
    )
    train_fraction: float = Field(
        0.8, gt=0, le=1, description="each finetuning seed trains on its own seeded sample of this share of the pool"
    )
    seed: int = Field(0, description="seed of the pool (shared by all finetuning seeds, so an LLM describes it once)")
    later_fields: ClassVar[tuple[str, ...]] = ("both_orders",)
    both_orders: bool = Field(
        False,
        description="minimal pairing: each minimal pair in both orders, (a, b) and (b, a), each described by the "
        "generator; `pairs` counts both, and a finetuning seed trains on both orders of a pair or on neither",
    )

    @model_validator(mode="after")
    def _both_orders_of_minimal_pairs(self) -> PairSettings:
        if self.both_orders and self.pairing != "minimal":
            raise ValueError("both_orders needs pairing = 'minimal' (a pool of random pairs has no pair to reverse)")
        if self.both_orders and self.pairs % 2:
            raise ValueError(f"both_orders: pairs = {self.pairs} counts both orders of each minimal pair, so it must be even")
        return self


class FinetuneSettings(OptimSettings):
    """PC-CLIP finetuning: which encoders train, the difference loss, and the loop."""

    trainable: Literal[tuple(ENCODER_CHOICES)] = Field(  # type: ignore[valid-type]
        "text-blocks",
        description="; ".join(f"'{name}': {c.description}" for name, c in ENCODER_CHOICES.items()),
    )
    include: tuple[str, ...] = Field((), description="regexes on parameter names to train as well")
    exclude: tuple[str, ...] = Field((), description="regexes on parameter names to keep frozen (wins over include)")
    loss: Literal[tuple(LOSSES)] = Field(  # type: ignore[valid-type]
        "contrastive",
        description="; ".join(f"'{name}': {loss.description}" for name, loss in LOSSES.items()),
    )
    temperature: float = Field(1.0, gt=0, description="tau in S = <t, d> / tau (the paper: 1, fixed)")
    learn_temperature: bool = Field(False, description="train tau (initialised at `temperature`)")
    reversed_negatives: bool = Field(
        False,
        description="contrastive: each sentence also meets every pair's reversed direction b - a as a negative "
        "(its own pair's among them), so that it must read the direction (False: the paper)",
    )
    swap_clauses: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of the training sentences of the form 'image 1 has X, image 2 has Y' said with their clauses "
        "swapped, drawn per seed: breaks a fixed-order writer's word-position shortcut (0: the paper; "
        "pcclip.generate.clauses)",
    )
    caption_loss_weight: float = Field(
        0.0, ge=0, description="weight of the standard CLIP loss on the batch's images and captions (0: the paper)"
    )
    cache_image_embeddings: bool = Field(
        True, description="with the image tower frozen, embed the training images once (False: every step)"
    )
    length_buckets: bool = Field(
        False,
        description="batches of sentences of similar length (each still a random draw within 16 batches): less "
        "padding, ~10% faster here, but fewer kinds of sentence per batch (measured: -2 to -4 points; README)",
    )
    dropout: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="dropout probability of every dropout layer while finetuning (None: the model's own, e.g. "
        "MiniLM's 0.1; 0: none, as OpenAI CLIP's towers, which the paper finetunes)",
    )
    wise_alpha: float = Field(
        1.0, ge=0, le=1, description="WiSE-FT: final weights alpha * finetuned + (1 - alpha) * base (1: no averaging)"
    )
    epochs: int = 10
    lr: float = Field(
        2e-4,
        gt=0,
        description="the paper's 1e-8 barely moves the weights; 2e-4 x 10 epochs measured best and stable (README, Calibration)",
    )
    warmup_steps: int = 10

    @model_validator(mode="after")
    def _options_fit_the_loss(self) -> FinetuneSettings:
        contrastive = ", ".join(name for name, loss in LOSSES.items() if loss.contrastive)
        if self.reversed_negatives and not LOSSES[self.loss].contrastive:
            raise ValueError(f"reversed_negatives: loss {self.loss!r} has no negatives (losses with them: {contrastive})")
        if self.learn_temperature and not LOSSES[self.loss].contrastive:
            raise ValueError(
                f"learn_temperature: loss {self.loss!r} has no temperature to learn (losses with one: {contrastive})"
            )
        return self


class EvalSettings(Settings):
    """Held-out evaluation: new scenes (a seed the training never uses) and the eval phrasing pool."""

    pairs_per_attribute: int = Field(200, ge=1, description="minimal pairs per attribute, each scored in both orders")
    zero_shot_per_class: int = Field(60, ge=1, description="single-object scenes per class and task")
    caption_scenes: int = Field(1000, ge=1, description="captioned scenes for CLIPScore and retrieval")
    seed: int = Field(1_000_003, description="seed of the held-out scenes; keep it apart from training seeds")
    templates: Literal["world", "imagenet", "paper"] = Field(
        "world",
        description="zero-shot prompts: 'world': the world's 6 held-out templates; 'imagenet': CLIP's 80 ImageNet "
        "templates; 'paper': the paper's single 'This is a photo of a {}'",
    )
    bootstrap_resamples: int = Field(1000, ge=100, description="resamples of the seeded bootstrap 95% intervals")
    comparative_alpha: float = Field(
        0.8, ge=0, le=1, description="comparative prompting: weight of a class's own embedding (the paper: 0.8-0.9)"
    )
    comparative_pairs: Literal["nearest", "all"] = Field(
        "nearest",
        description="comparative prompting: pair each class with its nearest classes by text embedding, or with all "
        "(never chosen from test predictions)",
    )
    comparative_neighbours: int = Field(3, ge=1, description="comparative prompting: classes paired with each class ('nearest')")
    comparatives_per_pair: int = Field(2, ge=1, description="oracle comparative sentences per ordered class pair")
    probe_subjects: Literal["balanced", "fixed"] = Field(
        "balanced",
        description="construction probe: 'balanced' says each construction whose subject may move of the first "
        "image for half the pairs and of the second for the rest, so that matching words without reading direction "
        "scores 1/2 on each; 'fixed' says each one of the image it is defined with (studies before 2026-12-02)",
    )


# Difference tasks beyond a single AwA2 predicate: the dataset each needs, and its default template
# ({more}: the comparative word, e.g. 'bigger' / 'smaller'; {colour}: a colour). CUB's sentences are
# fixed per attribute group (pcclip.datasets.differences.CUB_GROUPS).
DIFFERENCE_TASKS: dict[str, tuple[str, str | None]] = {
    "differences": ("awa2", "The first animal is {more} than the second."),
    "size-differences": ("cifar100", "The first object is {more} than the second."),
    "colour-differences": ("flowers102", "The first flower is more {colour} than the second."),
    "attribute-differences": ("cub", None),
}


# The datasets of pcclip.datasets a benchmark reads. A compositional benchmark (task 'compositional')
# names its entry of pcclip.compositional's registry as its dataset instead.
DATASETS = ("image-folder", "cifar10", "cifar100", "cub", "awa2", "coco", "flowers102")


class BenchmarkSettings(Settings):
    """A real-data benchmark every model of a run is also evaluated on, read from local files in its
    standard layout (see pcclip.datasets), as CLIP_benchmark and the paper evaluate."""

    later_fields: ClassVar[tuple[str, ...]] = (
        "predicates",
        "attributes",
        "template",
        "margin",
        "size_ratio",
        "include_varied",
        "images",
        "choices",
    )
    name: str = Field(..., min_length=1, description="the benchmark's name in results and reports")
    dataset: str = Field(
        ...,
        description=f"one of {', '.join(DATASETS)}; or with task 'compositional' a benchmark of `pcclip eval` "
        "(`pcclip eval --help` lists them)",
    )
    root: Path = Field(..., description="the dataset's folder in its official layout")
    split: str | None = Field(
        None,
        description="cifar: train|test (default test); cub: train|test|all (default test); awa2: all|train|test "
        "(default all); flowers102: train|val|test|all (default test); coco: the captions split (default val2017)",
    )
    task: Literal[
        "zero-shot",
        "captions",
        "differences",
        "size-differences",
        "colour-differences",
        "attribute-differences",
        "compositional",
    ] = Field(
        "zero-shot",
        description="'zero-shot': classification with a template ensemble; 'captions': CLIPScore and "
        "retrieval (coco); the paper's difference-based classification (sign test over ordered pairs, both "
        "orders): 'differences' (awa2: `predicate`, or each of `predicates`), 'size-differences' (cifar100: "
        "classes by typical size), 'colour-differences' (flowers102: classes by petal colour), "
        "'attribute-differences' (cub: per-image attribute groups); 'compositional': the `pcclip eval` "
        "benchmark named by `dataset`, e.g. sugarcrepe (its metrics as `pcclip eval` gives them)",
    )
    templates: Literal["paper", "imagenet"] = Field("paper", description="zero-shot: the paper's single template or CLIP's 80")
    predicate: str = Field("big", description="differences: the AwA2 predicate whose value orders the images")
    more_sentence: str = "The first animal is bigger than the second."
    less_sentence: str = "The first animal is smaller than the second."
    more_prompt: str = "a photo of a big animal."
    less_prompt: str = "a photo of a small animal."
    pairs: int = Field(5000, ge=1, description="differences: random image pairs with different values (the paper: 5,000)")
    seed: int = 0
    # The options below came later; at their defaults they are left out of the settings' dump, so that
    # the cache keys (hashes of the dump) of benchmarks defined before them do not change.
    predicates: tuple[str, ...] = Field(
        (),
        description="differences (awa2): several predicates, each with its more/less words from pcclip's "
        "data/awa2_comparatives.csv, reported per predicate and as their mean (empty: the single `predicate`)",
    )
    attributes: tuple[str, ...] = Field(
        ("wing_color", "size", "bill_length"),
        description="attribute-differences (cub): the attribute groups (wing_color, primary_color, breast_color, "
        "crown_color, size, bill_length)",
    )
    template: str | None = Field(
        None,
        description="the sentence of a difference task with {more} (awa2 predicates, cifar100 size) or {colour} "
        "(flowers102); None: " + "; ".join(f"{t}: {s!r}" for t, (_, s) in DIFFERENCE_TASKS.items() if s),
    )
    margin: float = Field(
        20.0, gt=0, description="differences (awa2 predicates): least difference of continuous strengths (0-100) in a pair"
    )
    size_ratio: float = Field(2.0, gt=1, description="size-differences: least ratio of the two classes' typical sizes")
    include_varied: bool = Field(
        False, description="colour-differences: also use flower classes grown in several colours (their listed colour)"
    )
    images: Path | None = Field(
        None,
        description="compositional benchmarks with images in a folder of their own (sugarcrepe: COCO val2017; "
        "None: ROOT/val2017)",
    )
    choices: int | None = Field(
        None,
        ge=3,
        description="tasks with several attributes (awa2 predicates, cub): K of the K-way choice (chance 1/K): the "
        "true sentence, its reversal and K - 2 sentences of other attributes not true of the pair (None: 4, or "
        "with n awa2 predicates at most n + 1, what they guarantee)",
    )

    @property
    def choice_k(self) -> int:
        """K of the K-way choice (`choices` or its default)."""
        if self.choices is not None:
            return self.choices
        return min(4, len(self.predicates) + 1) if self.task == "differences" else 4

    @property
    def difference_template(self) -> str:
        """The task's sentence template (its default when `template` is None)."""
        return self.template or DIFFERENCE_TASKS[self.task][1] or ""

    @model_validator(mode="after")
    def _task_fits_dataset(self) -> BenchmarkSettings:
        from .compositional import COMPOSITIONAL_BENCHMARKS  # imported late: it reads the datasets, which are heavy

        if self.dataset not in (*DATASETS, *COMPOSITIONAL_BENCHMARKS):
            raise ValueError(
                f"benchmark {self.name!r}: unknown dataset {self.dataset!r}; known: {', '.join(DATASETS)}, and with "
                f"task 'compositional' {', '.join(COMPOSITIONAL_BENCHMARKS)}"
            )
        if (self.task == "compositional") != (self.dataset in COMPOSITIONAL_BENCHMARKS):
            raise ValueError(
                f"benchmark {self.name!r}: task 'compositional' goes with the compositional benchmarks "
                f"({', '.join(COMPOSITIONAL_BENCHMARKS)}), and they only with it"
            )
        if self.images is not None and not (self.task == "compositional" and COMPOSITIONAL_BENCHMARKS[self.dataset].takes_images):
            takes = [name for name, b in COMPOSITIONAL_BENCHMARKS.items() if b.takes_images]
            raise ValueError(f"benchmark {self.name!r}: images applies to {', '.join(takes)} only (their images' folder)")
        if (self.task == "captions") != (self.dataset == "coco"):
            raise ValueError(f"benchmark {self.name!r}: task 'captions' goes with dataset 'coco' (and coco only with 'captions')")
        if self.task == "differences" and self.dataset != "awa2":
            raise ValueError(
                f"benchmark {self.name!r}: task 'differences' needs dataset 'awa2' (its predicates order the images)"
            )
        if self.task in DIFFERENCE_TASKS and DIFFERENCE_TASKS[self.task][0] != self.dataset:
            raise ValueError(f"benchmark {self.name!r}: task {self.task!r} needs dataset {DIFFERENCE_TASKS[self.task][0]!r}")
        self._check_difference_options()
        return self

    def _check_difference_options(self) -> None:
        from .datasets.differences import CUB_GROUPS  # the package's tables; imported late: datasets is heavy
        from .datasets.tables import awa2_comparatives

        where = f"benchmark {self.name!r}"
        if self.template is not None:
            placeholder = "{colour}" if self.task == "colour-differences" else "{more}"
            if self.task in ("zero-shot", "captions", "attribute-differences", "compositional") or (
                self.task == "differences" and not self.predicates
            ):
                raise ValueError(f"{where}: template applies to awa2 predicates, size-differences and colour-differences only")
            if placeholder not in self.template:
                raise ValueError(f"{where}: template {self.template!r} must contain {placeholder}")
        unknown = [p for p in self.predicates if p not in awa2_comparatives()]
        if unknown:
            raise ValueError(
                f"{where}: predicates without comparative words: {', '.join(unknown)}; "
                f"known (data/awa2_comparatives.csv): {', '.join(awa2_comparatives())}"
            )
        if len(set(self.predicates)) != len(self.predicates) or len(set(self.attributes)) != len(self.attributes):
            raise ValueError(f"{where}: predicates and attributes must not repeat")
        if self.task == "attribute-differences":
            unknown = [a for a in self.attributes if a not in CUB_GROUPS]
            if unknown or not self.attributes:
                raise ValueError(
                    f"{where}: attributes must be CUB groups among {', '.join(CUB_GROUPS)}; got {list(self.attributes)}"
                )
        if self.choices is not None and len(self.predicates) >= 2 and self.choices > len(self.predicates) + 1:
            raise ValueError(
                f"{where}: choices={self.choices} needs {self.choices - 2} false sentences of other predicates for "
                f"every pair; {len(self.predicates)} predicates guarantee {len(self.predicates) - 1} (choices <= "
                f"{len(self.predicates) + 1})"
            )


class RunSettings(Settings):
    """One end-to-end run: world -> base model -> oracle pairs -> PC-CLIP finetune per seed -> evaluation."""

    world: WorldConfig = WorldConfig()
    data: DataSettings = DataSettings()
    model: ModelSettings = ModelSettings()
    pretrain: PretrainSettings = PretrainSettings()
    pairs: PairSettings = PairSettings()
    generator: GenerationSettings = Field(
        GenerationSettings(filter=FilterSettings(enabled=False)),
        description="who writes the comparisons (default: the world's oracle; the paper's filter, made for LLM "
        "answers, would drop its short sentences)",
    )
    finetune: FinetuneSettings = FinetuneSettings()
    eval: EvalSettings = EvalSettings()
    benchmarks: tuple[BenchmarkSettings, ...] = Field((), description="real-data benchmarks evaluated besides the world")
    seeds: tuple[int, ...] = Field((0, 1, 2), min_length=1, description="finetuning seeds (pairs, phrasing, order)")
    threads: int | None = Field(
        None, ge=1, le=1024, description="torch threads (None: the cores this process may use, affinity and cgroup quota)"
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where models train and embed: 'auto' is cuda when a GPU is visible (under torchrun: LOCAL_RANK's)"
    )
    cache_dir: Path | None = Field(None, description="artifact cache; default $PCCLIP_CACHE or ~/.cache/pcclip")

    @model_validator(mode="after")
    def _pairs_fit(self) -> RunSettings:
        if self.data.source == "world" and self.pairs.images > self.pretrain.scenes:
            raise ValueError(f"pairs.images ({self.pairs.images}) exceeds pretrain.scenes ({self.pretrain.scenes})")
        if self.pairs.pairing == "pool" and self.pairs.pairs > self.pairs.images * (self.pairs.images - 1):
            raise ValueError(f"pairs.pairs ({self.pairs.pairs}) exceeds the ordered pairs of {self.pairs.images} images")
        if self.data.source != "world":
            if self.model.pretrained is None:
                raise ValueError(
                    f"data.source={self.data.source!r} needs model.pretrained (an open_clip tag or checkpoint): "
                    "pcclip pretrains base models on the world only"
                )
            if self.pairs.pairing != "pool":
                raise ValueError(
                    f"data.source={self.data.source!r} needs pairs.pairing='pool': 'minimal' pairs edit world scenes"
                )
        return self
