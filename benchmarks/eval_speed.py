"""Time of the evaluation suite on the embedded default's held-out set once the embeddings exist.

Builds the default held-out set (2,000 difference items over 3,960 images), takes its embeddings
(by default random unit vectors of the default model's width, 128: every metric's cost depends on
the shapes only; with --checkpoint, a model's real embeddings, computed once and cached under the
pcclip cache), then times `evaluate_embeddings` and prints the seconds of each metric group, best of
--repeats runs.

    .venv/bin/python benchmarks/eval_speed.py [--threads 2] [--repeats 3] [--checkpoint base.safetensors]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from pcclip.cache import default_cache_root, load_tensors, save_tensors, settings_hash
from pcclip.config import EvalSettings, ModelSettings
from pcclip.data import HeldoutSet, heldout_set
from pcclip.evaluate import HeldoutEmbeddings, embed_heldout, evaluate_embeddings
from pcclip.world.scene import WorldConfig

LIMIT_SECONDS = 30.0  # issue 5: <= 30 s on 2 cores with cached embeddings


def random_embeddings(heldout: HeldoutSet, dim: int = 128) -> HeldoutEmbeddings:
    g = torch.Generator().manual_seed(0)
    unit = lambda n: F.normalize(torch.randn(n, dim, generator=g), dim=-1)  # noqa: E731
    return HeldoutEmbeddings(unit(len(heldout.images)), {name: unit(len(t)) for name, t in heldout.text_groups().items()})


def model_embeddings(heldout: HeldoutSet, settings: EvalSettings, model_name: str, checkpoint: Path) -> HeldoutEmbeddings:
    """A checkpoint's held-out embeddings, from the cache when this checkpoint embedded these very texts
    (and this set's images) before."""
    stat = checkpoint.stat()
    key = settings_hash(settings, model_name, str(checkpoint.resolve()), stat.st_size, stat.st_mtime_ns, heldout.text_groups())
    path = default_cache_root() / "benchmarks" / f"heldout-embeddings-{key}.safetensors"
    if not path.is_file():
        from pcclip.models import create_model

        model, tokenizer = create_model(model_name, str(checkpoint))
        emb = embed_heldout(model, tokenizer, heldout)
        save_tensors(path, {"images": emb.images, **{f"text:{k}": v for k, v in emb.texts.items()}})
    tensors = load_tensors(path)
    return HeldoutEmbeddings(tensors["images"], {k[5:]: v for k, v in tensors.items() if k.startswith("text:")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path, help="embed with this checkpoint (default: random embeddings)")
    parser.add_argument("--model", default=ModelSettings().name)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    settings = EvalSettings()
    start = time.perf_counter()
    heldout = heldout_set(WorldConfig(), settings)
    build = time.perf_counter() - start
    emb = (
        random_embeddings(heldout)
        if args.checkpoint is None
        else model_embeddings(heldout, settings, args.model, args.checkpoint)
    )
    n_texts = sum(len(t) for t in emb.texts.values())
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(
        f"held-out set: {len(heldout.diff_texts)} difference items, {len(heldout.images)} images, {n_texts} texts "
        f"(built in {build:.1f} s); embeddings: {'random' if args.checkpoint is None else args.checkpoint.name}"
    )

    runs = []
    for _ in range(args.repeats):
        seconds: dict[str, float] = {}
        start = time.perf_counter()
        evaluate_embeddings(emb, heldout, seconds)
        seconds["total"] = time.perf_counter() - start
        runs.append(seconds)
    best = min(runs, key=lambda s: s["total"])
    print(f"\n{'metric group':24s} {'seconds':>8s}   (best of {args.repeats} runs by total)")
    for name, value in best.items():
        print(f"{name:24s} {value:8.3f}")
    verdict = "within" if best["total"] <= LIMIT_SECONDS else "OVER"
    print(f"\n{verdict} the {LIMIT_SECONDS:.0f} s limit")


if __name__ == "__main__":
    main()
