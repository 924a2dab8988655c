"""Export a checkpoint in open_clip's shareable layout, loadable without pcclip:

    OUT_DIR/open_clip_config.json        {"model_cfg": ..., "preprocess_cfg": ...}
    OUT_DIR/open_clip_model.safetensors  the weights (pcclip's metadata kept)
    OUT_DIR/tokenizer.json, ...          a Hugging Face text tower's tokenizer (open_clip's local-dir
                                         loading reads it from the folder)
    OUT_DIR/README.md                    model card: usage, training settings, measured metrics
    OUT_DIR/metrics.json                 the metrics shown in the card (only with a metrics file)

`open_clip.create_model_and_transforms("local-dir:OUT_DIR")` loads it; pushed to the Hugging Face
Hub, `"hf-hub:USER/REPO"` does. A text tower that pcclip takes from an installed package is named by
its Hugging Face id instead, so that the config means the same on any machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
from open_clip.constants import HF_CONFIG_NAME, HF_SAFE_WEIGHTS_NAME

from . import __version__
from .cache import read_json, write_json
from .checkpoint import checkpoint_metadata, save_checkpoint
from .errors import PcclipError
from .headline import HEADLINE_METRICS
from .inference import resolve_model_name
from .models import CONFIG_DIR, PACKAGED_HUB_IDS, PACKAGED_PREFIX, create_model


def portable_model_config(name: str) -> dict:
    """The architecture's open_clip config with packaged text models named by their hub ids (the
    config pcclip registers with open_clip holds this machine's folder instead)."""
    own = CONFIG_DIR / f"{name}.json"
    cfg = json.loads(own.read_text()) if own.is_file() else open_clip.get_model_config(name)
    text_cfg = cfg.get("text_cfg", {})
    for key in ("hf_model_name", "hf_tokenizer_name"):
        value = text_cfg.get(key)
        if isinstance(value, str) and value.startswith(PACKAGED_PREFIX):
            package = value[len(PACKAGED_PREFIX) :]
            if package not in PACKAGED_HUB_IDS:
                raise PcclipError(f"{name}: the packaged text model {package!r} has no known Hugging Face id to export")
            text_cfg[key] = PACKAGED_HUB_IDS[package]
    return cfg


def select_metrics(doc: dict, settings: dict, source: Path) -> dict:
    """This model's metrics from a metrics file: an evaluation JSON ({"metrics": ...}), a run's
    results.json (the base model's entry, or the PC-CLIP entry of the checkpoint's seed), or bare
    metrics."""
    if "metrics" in doc:
        return doc["metrics"]
    if "results" not in doc:
        return doc
    results = doc["results"]
    if "seed" not in settings:
        return results["base"]
    seed = str(settings["seed"])
    if seed not in results.get("pc_clip", {}):
        raise PcclipError(f"{source}: no PC-CLIP result for seed {seed}, the checkpoint's; give that run's results.json")
    return results["pc_clip"][seed]


def export_model(checkpoint: Path, out_dir: Path, model_name: str | None = None, metrics_file: Path | None = None) -> Path:
    """Write `checkpoint` to `out_dir` in open_clip's layout with a model card; returns `out_dir`."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise PcclipError(f"{checkpoint}: checkpoint not found")
    name = resolve_model_name(model_name, checkpoint)
    settings = checkpoint_metadata(checkpoint).get("settings", {})
    metrics = select_metrics(read_json(metrics_file), settings, metrics_file) if metrics_file else None
    model, tokenizer = create_model(name, str(checkpoint))  # proves the weights fit the architecture
    config = {"model_cfg": portable_model_config(name), "preprocess_cfg": open_clip.get_model_preprocess_cfg(model)}

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / HF_CONFIG_NAME, config)
    save_checkpoint(model, out_dir / HF_SAFE_WEIGHTS_NAME, name, settings)
    if hasattr(tokenizer, "save_pretrained"):  # an HF tokenizer, as open_clip's own save_for_hf writes it
        tokenizer.save_pretrained(out_dir)
    if metrics is not None:
        write_json(out_dir / "metrics.json", metrics)
    (out_dir / "README.md").write_text(model_card(name, checkpoint.name, config, settings, metrics), encoding="utf-8")
    return out_dir


def _metrics_section(metrics: dict | None) -> str:
    if metrics is None:
        return "Not measured here: export with `--metrics` (an evaluation JSON or a run's results.json) to list them."
    rows = []
    for headline in HEADLINE_METRICS.values():
        try:
            rows.append(f"| {headline.titled(metrics)} | {headline.get(metrics):.3f} |")
        except (KeyError, TypeError):  # a metric this evaluation did not compute
            continue
    if not rows:
        return "The metrics file holds none of pcclip's headline metrics; all of it is in `metrics.json`."
    return (
        "On pcclip's held-out world scenes with held-out phrasing (all of them in `metrics.json`):\n\n"
        "| metric | value |\n| --- | --- |\n" + "\n".join(rows)
    )


def model_card(name: str, checkpoint: str, config: dict, settings: dict, metrics: dict | None) -> str:
    text_cfg = config["model_cfg"].get("text_cfg", {})
    hub_text = text_cfg.get("hf_model_name")
    text_note = (
        f"The text tower is `{hub_text}` from the Hugging Face Hub: loading reads its architecture "
        "config from the hub (its finetuned weights are in `open_clip_model.safetensors`, its tokenizer "
        "files in this folder; loaded with `hf-hub:`, the tokenizer also comes from the hub). Offline, "
        "point `model_cfg.text_cfg.hf_model_name` in `open_clip_config.json` at a local copy of that "
        "model (a folder with its `config.json`)."
        if hub_text
        else "Both towers are open_clip's own: loading needs no other download."
    )
    return f"""---
library_name: open_clip
tags:
- clip
- pc-clip
- pairwise-differences
---

# {name}, finetuned to reason about pairwise differences (PC-CLIP)

Exported by pcclip {__version__} from `{checkpoint}`. PC-CLIP (Sam, Willmott, Semedo, Kolter, TMLR 2025)
finetunes CLIP so that the difference of two image embeddings points the way the embedding of a
sentence saying how the first image differs from the second points.

## Use

```python
import open_clip, torch, torch.nn.functional as F
from PIL import Image

model, _, preprocess = open_clip.create_model_and_transforms("local-dir:PATH/TO/THIS/FOLDER")  # or "hf-hub:USER/REPO"
tokenizer = open_clip.get_tokenizer("local-dir:PATH/TO/THIS/FOLDER")
model.eval()
with torch.no_grad():
    a, b = F.normalize(model.encode_image(torch.stack([preprocess(Image.open(p)) for p in ("a.png", "b.png")])), dim=-1)
    t = F.normalize(model.encode_text(tokenizer(["the shapes in the first image are larger"])), dim=-1)[0]
score = t @ F.normalize(a - b, dim=-1)  # > 0: the sentence says how a differs from b better than how b differs from a
```

With pcclip installed, `pcclip compare`, `pcclip rank` and `pcclip search` (or `pcclip.load`) do this
for files and folders.

{text_note}

## Publish on the Hugging Face Hub

```bash
huggingface-cli login
huggingface-cli upload USER/REPO PATH/TO/THIS/FOLDER .
```

Then anyone loads it with `open_clip.create_model_and_transforms("hf-hub:USER/REPO")`.

## Training settings

Architecture `{name}`; the settings pcclip saved with the checkpoint:

```json
{json.dumps(settings, indent=2, sort_keys=True)}
```

## Measured metrics

{_metrics_section(metrics)}
"""
