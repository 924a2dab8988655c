"""What the difference geometry buys in use: rank and search on the world's held-out scenes, for a
base checkpoint and a PC-CLIP checkpoint, through pcclip.load (what `pcclip rank` and `pcclip search`
run).

    .venv/bin/python experiments/use_cases.py BASE.safetensors PCCLIP.safetensors [PCCLIP ...] [--scenes 200] [--json FILE]

Several PC-CLIP checkpoints (e.g. a study row's seeds, listed in its study.json "checkpoints") are each
measured and averaged.

(a) rank: the first N held-out captioned scenes (pcclip.data.heldout_set) ordered by size and by
    count with `rank(more=..., less=...)`, `more` the held-out phrasing's sentences saying the first
    image has more of the attribute and `less` the same pairs said the other way round; Spearman's rho
    with the true values.
(b) search: every scene as a query against the other N - 1, for "the result has more" and "the
    result has less" of each attribute (the same sentences); precision@5 = the share of the top 5
    that visibly differ that way (another count; a size ratio of at least SIZE_RATIO_MARGIN, the
    world's visible difference). Queries with fewer than 5 right answers in the gallery are left out;
    chance is the share of right answers among the gallery.

Each model is embedded once and searched with the API's own scoring (pcclip.inference.search_scores),
so 4N searches cost one embedding of the scenes.
"""

from __future__ import annotations

import argparse
import json
from functools import cache
from pathlib import Path

import numpy as np
import torch

from pcclip.checkpoint import checkpoint_metadata
from pcclip.config import EvalSettings
from pcclip.data import HeldoutSet, heldout_set
from pcclip.encode import image_size
from pcclip.inference import DifferenceModel, load, search_scores
from pcclip.metrics import spearman
from pcclip.world.scene import SIZE_RATIO_MARGIN, WorldConfig

ATTRIBUTES = ("size", "count")
K = 5


def visibly_more(name: str, result: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(Q, M) bool: result m has visibly more of the attribute than query q."""
    if name == "size":
        return result[None, :] >= SIZE_RATIO_MARGIN * query[:, None]
    return result[None, :] > query[:, None]


def search_precision(
    model: DifferenceModel, images: torch.Tensor, sentences: list[str], right: np.ndarray, k: int = K
) -> tuple[float, float, int]:
    """(precision@k, chance, queries) of searching every image against the others with `sentences`;
    right[q, m]: image m differs from query q as the sentences say (never true for m = q)."""
    scores = search_scores(images, model.direction(sentences), images)
    scores.fill_diagonal_(-torch.inf)  # the query is never an answer
    answerable = right.sum(axis=1) >= k
    top = scores.topk(k, dim=1).indices.numpy()
    hits = np.take_along_axis(right, top, axis=1)[answerable]
    chance = right[answerable].sum(axis=1) / (len(images) - 1)
    return float(hits.mean()), float(chance.mean()), int(answerable.sum())


def use_cases(model: DifferenceModel, heldout: HeldoutSet, scenes: int) -> dict:
    index = heldout.caption_index[:scenes]
    images = heldout.images[index]
    embedded = model.embed_images(images)
    result = {}
    for name in ATTRIBUTES:
        task = heldout.ranking[name]
        values = task.values[:scenes]
        ranked = model.rank(images, more=task.comparatives, less=task.reversed_comparatives)
        scores = np.empty(len(ranked))
        scores[[r.index for r in ranked]] = [r.score for r in ranked]
        more = visibly_more(name, values, values)
        searches = {
            "more": search_precision(model, embedded, task.comparatives, more),
            "less": search_precision(model, embedded, task.reversed_comparatives, more.T),  # q has more than m
        }
        result[name] = {
            "spearman": spearman(scores, values),
            "search": {d: {"precision": p, "chance": c, "queries": q} for d, (p, c, q) in searches.items()},
        }
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=Path, help="base model checkpoint (pcclip's, naming its architecture)")
    parser.add_argument("pcclip", type=Path, nargs="+", help="PC-CLIP checkpoints (several: each, and their mean)")
    parser.add_argument("--model", help="architecture, for checkpoints that do not name theirs")
    parser.add_argument("--scenes", type=int, default=200, help="held-out scenes ranked and searched")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument(
        "--pairs-per-attribute",
        type=int,
        default=EvalSettings().pairs_per_attribute,
        help="held-out minimal pairs drawn before the scenes (default: the evaluation's); fewer make "
        "a quick check, on other scenes",
    )
    args = parser.parse_args(argv)

    # The world the base model was pretrained on (saved in its checkpoint), rendered at each model's input size.
    world = WorldConfig(**checkpoint_metadata(args.base).get("settings", {}).get("world", {}))
    settings = EvalSettings(caption_scenes=args.scenes, pairs_per_attribute=args.pairs_per_attribute)

    @cache
    def heldout_at(size: int) -> HeldoutSet:
        return heldout_set(world.model_copy(update={"image_size": size}), settings)

    results = {}
    labels = ["PC-CLIP"] if len(args.pcclip) == 1 else [f"PC-CLIP {i}" for i in range(len(args.pcclip))]
    for label, path in (("base", args.base), *zip(labels, args.pcclip)):
        model = load(args.model, path, args.device)
        results[label] = use_cases(model, heldout_at(image_size(model.model)), args.scenes)

    print(
        f"{args.scenes} held-out scenes; rank: Spearman rho with the true value; search: precision@{K} "
        "(share of the top 5 that differ from the query as the sentence says), mean of more/less"
    )
    columns = [f"rank {a}" for a in ATTRIBUTES] + [f"search {a}" for a in ATTRIBUTES]
    print(f"{'model':13s}" + "".join(f"{c:>14s}" for c in columns))

    def search_mean(r: dict, key: str) -> float:
        return float(np.mean([d[key] for d in r["search"].values()]))

    def cells(r: dict) -> list[float]:
        return [r[a]["spearman"] for a in ATTRIBUTES] + [search_mean(r[a], "precision") for a in ATTRIBUTES]

    for label, r in results.items():
        print(f"{label:13s}" + "".join(f"{v:14.3f}" for v in cells(r)))
    if len(labels) > 1:
        mean = np.mean([cells(results[label]) for label in labels], axis=0)
        print(f"{'PC-CLIP mean':13s}" + "".join(f"{v:14.3f}" for v in mean))
    chance = [0.0, 0.0] + [search_mean(results["base"][a], "chance") for a in ATTRIBUTES]
    print(f"{'chance':13s}" + "".join(f"{v:14.3f}" for v in chance))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
