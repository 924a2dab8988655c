"""Settings of the generation stage: the back end (a discriminated union on `backend`), prompt,
decoding and filter, read from TOML plus `--set key.path=value` like every pcclip setting.

    [backend]
    backend = "hf"            # oracle | rule | hf | openai | vllm | degraded-oracle
    model = "smollm2-135m"
    [prompt]
    style = "chat"
    [decoding]
    max_new_tokens = 48
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..settings_io import load_settings
from .backends import BACKENDS, BackendSettings, DecodingSettings
from .backends.oracle import OracleSettings
from .filters import FilterSettings
from .prompts import PromptSettings


class GenerationSettings(BaseModel):
    """Everything that decides what the generation stage writes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: BackendSettings = Field(default_factory=OracleSettings, description="who writes the comparisons")
    prompt: PromptSettings = PromptSettings()
    decoding: DecodingSettings = DecodingSettings()
    filter: FilterSettings = FilterSettings()
    max_output_chars: int = Field(4000, ge=1, description="a longer output fails with the reason (kept truncated)")

    @model_validator(mode="before")
    @classmethod
    def _backend_named(cls, data: Any) -> Any:
        backend = data.get("backend") if isinstance(data, dict) else None
        if isinstance(backend, dict) and "backend" not in backend:
            raise ValueError(f"backend.backend is missing: name the back end, one of {', '.join(BACKENDS)}")
        return data


def load_generation_settings(path: Path | None = None, overrides: Sequence[str] = ()) -> GenerationSettings:
    """Settings from a TOML file (or the defaults) and KEY=VALUE overrides; PcclipError on a mistake."""
    return load_settings(GenerationSettings, path, overrides)
