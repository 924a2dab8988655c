"""Checkpoints as safetensors state dicts: the format open_clip itself loads with
`open_clip.create_model_and_transforms(name, pretrained=path)`."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open

from .cache import save_tensors
from .errors import PcclipError


def save_checkpoint(model, path: Path, model_name: str, settings: dict | None = None) -> Path:
    """Write `model`'s state dict atomically; the architecture name and the settings that produced
    it go in the safetensors metadata (strings only, readable without loading the tensors)."""
    metadata = {"model_name": model_name, "settings": json.dumps(settings or {}, sort_keys=True)}
    return save_tensors(path, model.state_dict(), metadata=metadata)


def checkpoint_metadata(path: str | Path) -> dict:
    """What pcclip.checkpoint.save_checkpoint wrote beside the weights: {"model_name": ..., "settings":
    {...}}, or {} for a safetensors file saved by something else."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception as e:  # safetensors raises several types for a file that is not one
        raise PcclipError(f"{path}: not a readable safetensors checkpoint ({e})") from None
    if "model_name" not in metadata:
        return {}
    return {"model_name": metadata["model_name"], "settings": json.loads(metadata.get("settings", "{}"))}
