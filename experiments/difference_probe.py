"""Which differences the image embeddings hold at all: a linear probe on normalize(v_a - v_b).

    .venv/bin/python experiments/difference_probe.py [--study docs/study/study.json] [--pairs 400]
        [--rows base,encoders/image/0,encoders/both/0] [--json FILE]

For each attribute, new minimal pairs (a, b) with b = a changed in that attribute alone, in both
orders; the label is what the text would have to say: which way the group moved (left / right / up /
down), whether a is bigger, whether a has more objects, a's colour. Five-fold cross-validated
logistic regression on the difference direction, the quantity the paper's sign test reads. A
difference the probe cannot read is one no text tower can be aligned with, whatever it is trained on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import open_clip
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from pcclip.cache import default_cache_root
from pcclip.checkpoint import checkpoint_metadata
from pcclip.encode import encode_images
from pcclip.metrics import difference_directions
from pcclip.models import quiet_loaders, register_model_configs
from pcclip.world.render import render_batch
from pcclip.world.scene import Scene, WorldConfig, perturb, sample_scenes

SCENE_SEED = 777  # apart from pretraining (0), the held-out set (1,000,003) and the outside view
PROBED = ("position", "size", "count", "colour")


def label(attribute: str, a: Scene, b: Scene) -> str:
    """What a true sentence about (a, b) must say: a's side of b, or a's colour."""
    if attribute == "position":
        dx, dy = a.x - b.x, a.y - b.y
        return ("left" if dx < 0 else "right") if abs(dx) >= abs(dy) else ("up" if dy < 0 else "down")
    if attribute == "size":
        return "bigger" if a.size > b.size else "smaller"
    if attribute == "count":
        return "more" if a.count > b.count else "fewer"
    return a.colour


def probe_accuracy(model, world: WorldConfig, attribute: str, scenes: list[Scene]) -> float:
    rng = np.random.default_rng([SCENE_SEED, PROBED.index(attribute)])
    pairs = [(scene, perturb(scene, attribute, rng, world)) for scene in scenes]
    firsts, seconds = (encode_images(model, render_batch(list(side), world.image_size)) for side in zip(*pairs))
    direction = difference_directions(firsts, seconds).numpy()
    features = np.concatenate([direction, -direction])  # both orders: (a, b) and (b, a)
    labels = [label(attribute, a, b) for a, b in pairs] + [label(attribute, b, a) for a, b in pairs]
    return float(cross_val_score(LogisticRegression(max_iter=2000), features, labels, cv=5).mean())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", type=Path, default=Path("docs/study/study.json"))
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: $PCCLIP_CACHE or ~/.cache/pcclip")
    parser.add_argument("--pairs", type=int, default=400, help="minimal pairs per attribute")
    parser.add_argument(
        "--rows", default="base,encoders/image/0,encoders/both/0", help="base, or TABLE/ROW/SEED of study.json's checkpoints"
    )
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)

    listed = json.loads(args.study.read_text())["checkpoints"]
    cache = args.cache_dir or default_cache_root()
    base = cache / listed["base"]
    name = checkpoint_metadata(base)["model_name"]
    world = WorldConfig(**checkpoint_metadata(base)["settings"].get("world", {}))
    scenes = sample_scenes(args.pairs, SCENE_SEED, world)
    register_model_configs()
    results = {}
    for row in args.rows.split(","):
        table, _, rest = row.partition("/")
        path = base if row == "base" else cache / listed[table][rest.rsplit("/", 1)[0]][rest.rsplit("/", 1)[1]]
        with quiet_loaders():
            model = open_clip.create_model(name, pretrained=str(path))
        results[row] = {attribute: probe_accuracy(model, world, attribute, scenes) for attribute in PROBED}
        print(f"{row:24s}" + "".join(f"  {a} {v:.3f}" for a, v in results[row].items()), flush=True)
    print("chance: position 0.25 (4 ways), size 0.5, count 0.5, colour 0.125 (8 ways)")
    if args.json:
        args.json.write_text(json.dumps({"pairs": args.pairs, "scene_seed": SCENE_SEED, "accuracy": results}, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
