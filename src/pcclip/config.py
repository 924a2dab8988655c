"""Validated settings for every stage. Each stage's cache key is the hash of the settings it reads.

Defaults are the embedded default: a small CLIP pretrained on the procedural world, finetuned the
paper's way on oracle comparisons, sized to run on 2 CPU cores in minutes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .world.scene import WorldConfig


class Settings(BaseModel):
    """Base for all settings: immutable, unknown keys rejected (a typo fails at once)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelSettings(Settings):
    name: str = Field("pcclip-vit-t8-minilm", description="open_clip architecture (run `pcclip models` to list)")
    pretrained: str | None = Field(None, description="open_clip pretrained tag or checkpoint path; None: pretrain on the world")


class PretrainSettings(Settings):
    """Standard CLIP pretraining of the base model on the world (embedded default only)."""

    scenes: int = Field(10_000, ge=16, description="training scenes rendered from the world")
    captions_per_scene: int = Field(2, ge=1, description="caption variants per scene, one drawn per step")
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=2)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(0.1, ge=0)
    warmup_steps: int = Field(50, ge=0)
    grad_clip: float | None = Field(1.0, gt=0)
    lock_text_trunk: bool = Field(True, description="keep a pretrained HF text trunk frozen (train its projection)")
    seed: int = 0


class PairSettings(Settings):
    """Ordered training pairs built from images sampled among the pretraining scenes."""

    pairing: Literal["minimal", "pool"] = Field(
        "minimal",
        description="'minimal': each sampled scene paired with a copy that differs in one attribute (attributes in "
        "turn, order random); 'pool': pairs among the sampled scenes, as the paper samples COCO pairs",
    )
    images: int = Field(1000, ge=2, description="scenes sampled from the pretraining scenes")
    pairs: int = Field(1500, ge=1, description="ordered pairs (distinct)")
    max_differences: int = Field(
        2, ge=1, le=5, description="pool pairing: keep pairs differing in at most this many attributes (5: any)"
    )
    attributes_per_sentence: int = Field(2, ge=1, le=5, description="differences named per oracle sentence (at most)")


class FinetuneSettings(Settings):
    """PC-CLIP finetuning with the contrastive difference loss; image embeddings precomputed."""

    trainable: Literal["text", "text-blocks"] = Field(
        "text-blocks", description="'text': the whole text tower; 'text-blocks': only its transformer blocks (the paper)"
    )
    epochs: int = Field(5, ge=1)
    batch_size: int = Field(64, ge=2)
    lr: float = Field(1.5e-4, gt=0, description="the paper's 1e-8 barely moves the weights; see the README")
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(10, ge=0)
    grad_clip: float | None = Field(1.0, gt=0)
    temperature: float = Field(1.0, gt=0, description="tau in S = <t, d> / tau (the paper: 1, fixed)")


class EvalSettings(Settings):
    """Held-out evaluation: new scenes (a seed the training never uses) and the eval phrasing pool."""

    pairs_per_attribute: int = Field(200, ge=1, description="minimal pairs per attribute, each scored in both orders")
    zero_shot_per_class: int = Field(60, ge=1, description="single-object scenes per class and task")
    caption_scenes: int = Field(1000, ge=1, description="captioned scenes for CLIPScore and retrieval")
    seed: int = Field(1_000_003, description="seed of the held-out scenes; keep it apart from training seeds")


class RunSettings(Settings):
    """One end-to-end run: world -> base model -> oracle pairs -> PC-CLIP finetune per seed -> evaluation."""

    world: WorldConfig = WorldConfig()
    model: ModelSettings = ModelSettings()
    pretrain: PretrainSettings = PretrainSettings()
    pairs: PairSettings = PairSettings()
    finetune: FinetuneSettings = FinetuneSettings()
    eval: EvalSettings = EvalSettings()
    seeds: tuple[int, ...] = Field((0, 1, 2), min_length=1, description="finetuning seeds (pairs, phrasing, order)")
    threads: int = Field(2, ge=1, description="torch threads")
    cache_dir: Path | None = Field(None, description="artifact cache; default $PCCLIP_CACHE or ~/.cache/pcclip")

    @model_validator(mode="after")
    def _pairs_fit(self) -> "RunSettings":
        if self.pairs.images > self.pretrain.scenes:
            raise ValueError(f"pairs.images ({self.pairs.images}) exceeds pretrain.scenes ({self.pretrain.scenes})")
        if self.pairs.pairing == "pool" and self.pairs.pairs > self.pairs.images * (self.pairs.images - 1):
            raise ValueError(f"pairs.pairs ({self.pairs.pairs}) exceeds the ordered pairs of {self.pairs.images} images")
        return self
