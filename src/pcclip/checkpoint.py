"""Checkpoints as safetensors state dicts: the format open_clip itself loads with
`open_clip.create_model_and_transforms(name, pretrained=path)`."""

from __future__ import annotations

import json
from pathlib import Path

from .cache import save_tensors


def save_checkpoint(model, path: Path, model_name: str, settings: dict | None = None) -> Path:
    """Write `model`'s state dict atomically; the architecture name and the settings that produced
    it go in the safetensors metadata (strings only, readable without loading the tensors)."""
    metadata = {"model_name": model_name, "settings": json.dumps(settings or {}, sort_keys=True)}
    return save_tensors(path, model.state_dict(), metadata=metadata)
