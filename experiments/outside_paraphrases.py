"""An outside view of the study's checkpoints: sentences the project never wrote, each pair in both
orders, every model built by open_clip itself.

    .venv/bin/python experiments/outside_paraphrases.py [--study docs/study/study.json] [--pairs 300]
        [--tables llm,order,variants] [--json experiments/results/outside_paraphrases.json]

The sentences come from `outside_paraphrases.toml`, templates written by a writer that never read the
project's phrasing (its header says how). The scenes are new (their own seed), one minimal pair per
scene and attribute. For a pair (a, b) each template of its attribute is filled twice, once true of
(a, b) and once true of (b, a), and each is scored against its own order with the paper's sign test
(cos(text, normalize(v_first - v_second)) > 0; chance 1/2). So a model that learned which words come
first, rather than which image they belong to, cannot pass both.

Every checkpoint the study lists (study.json "checkpoints", paths under the cache root) is loaded with
`open_clip.create_model_and_transforms(name, pretrained=path)`, its images preprocessed by open_clip's
own transform. Per row: accuracy over seeds against the base, the study's own difference accuracy
beside it, accuracy for sentences that name the second image first and the first image first, and the
worst construction ("kind") - and whether the two evaluations agree on the sign of the row's effect.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
from PIL import Image

from pcclip.cache import default_cache_root, read_json
from pcclip.checkpoint import checkpoint_metadata
from pcclip.encode import encode_texts
from pcclip.errors import PcclipError
from pcclip.metrics import sign_test_credit
from pcclip.models import quiet_loaders, register_model_configs
from pcclip.study_tables import mean_ci, paired_test
from pcclip.world.render import render
from pcclip.world.scene import ATTRIBUTES, Scene, WorldConfig, perturb, plural, sample_scenes

TEMPLATES = Path(__file__).with_name("outside_paraphrases.toml")
SCENE_SEED = 20261203  # apart from pretraining (0) and the held-out set (1,000,003)
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}
# The `forms` keys of the direction-dependent attributes: how the first image relates to the second.
EXAMPLE = sample_scenes(1, 0, WorldConfig())[0]  # any scene shows which slots an attribute fills
FORMS = {"size": {"+", "-"}, "count": {"+", "-"}, "position": {"left", "right", "up", "down"}}


@dataclass(frozen=True)
class Template:
    attribute: str
    kind: str
    names_first: str
    text: str | None
    forms: dict[str, str] | None

    def sentence(self, first: Scene, second: Scene) -> str:
        """The template said of the ordered pair (first, second)."""
        text = self.text if self.text is not None else self.forms[direction(self.attribute, first, second)]
        return text.format(**slot_values(self.attribute, first, second))


def noun(shape: str, count: int) -> str:
    return shape if count == 1 else plural(shape)


def slot_values(attribute: str, first: Scene, second: Scene) -> dict[str, str]:
    """What the slots of `attribute`'s templates (SLOTS) say of the ordered pair (first, second)."""
    shared = {"shapes": plural(first.shape), "colour": first.colour}
    if attribute == "colour":
        return {"first": first.colour, "second": second.colour, "things": noun(first.shape, first.count), "be": be(first.count)}
    if attribute == "shape":
        pair = {"first": noun(first.shape, first.count), "second": noun(second.shape, second.count)}
        return {**pair, "be_first": be(first.count), "be_second": be(second.count), "colour": first.colour}
    if attribute == "count":
        return {
            **shared,
            "first": str(first.count),
            "second": str(second.count),
            "first_word": NUMBER_WORDS[first.count],
            "second_word": NUMBER_WORDS[second.count],
            "things_first": noun(first.shape, first.count),
            "things_second": noun(first.shape, second.count),
        }
    return shared


def be(count: int) -> str:
    return "is" if count == 1 else "are"


def direction(attribute: str, first: Scene, second: Scene) -> str:
    """The `forms` key of the first image relative to the second (y grows downward)."""
    if attribute == "size":
        return "+" if first.size > second.size else "-"
    if attribute == "count":
        return "+" if first.count > second.count else "-"
    dx, dy = first.x - second.x, first.y - second.y
    if abs(dx) >= abs(dy):
        return "left" if dx < 0 else "right"
    return "up" if dy < 0 else "down"


def load_templates(path: Path) -> list[Template]:
    """The templates, each checked: a known attribute, exactly one of text / forms with the right
    keys, only the slots its attribute fills (slot_values)."""
    try:
        entries = tomllib.loads(path.read_text())["template"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as e:
        raise PcclipError(f"{path}: cannot read [[template]] entries ({e})") from None
    templates = []
    for number, entry in enumerate(entries, 1):
        where = f"{path}, template {number}"
        attribute = entry.get("attribute")
        if attribute not in ATTRIBUTES:
            raise PcclipError(f"{where}: attribute {attribute!r} is not one of {', '.join(ATTRIBUTES)}")
        if ("text" in entry) == ("forms" in entry):
            raise PcclipError(f"{where}: give exactly one of text and forms")
        if "forms" in entry and set(entry["forms"]) != FORMS.get(attribute, set()):
            raise PcclipError(f"{where}: forms of {attribute} need the keys {sorted(FORMS.get(attribute, ()))}")
        texts = [entry["text"]] if "text" in entry else list(entry["forms"].values())
        used = {field for text in texts for _, field, _, _ in string.Formatter().parse(text) if field}
        filled = slot_values(attribute, EXAMPLE, EXAMPLE)
        if unknown := used - set(filled):
            raise PcclipError(f"{where}: {attribute} fills no slot {', '.join(sorted(unknown))}; it fills {', '.join(filled)}")
        if entry.get("names_first") not in ("first", "second"):
            raise PcclipError(f"{where}: names_first must be 'first' or 'second'")
        templates.append(Template(attribute, entry["kind"], entry["names_first"], entry.get("text"), entry.get("forms")))
    return templates


def minimal_pairs(world: WorldConfig, per_attribute: int) -> list[tuple[str, Scene, Scene]]:
    """(attribute, a, b): each attribute changed on its own new scenes."""
    rng = np.random.default_rng([SCENE_SEED, 1])
    scenes = sample_scenes(per_attribute * len(ATTRIBUTES), SCENE_SEED, world)
    return [
        (attribute, scene, perturb(scene, attribute, rng, world))
        for i, attribute in enumerate(ATTRIBUTES)
        for scene in scenes[i * per_attribute : (i + 1) * per_attribute]
    ]


@dataclass(frozen=True)
class Probe:
    """Every (pair, template, order) item: the sentence, the indices of its first and second image,
    and its groups."""

    texts: list[str]
    first: np.ndarray
    second: np.ndarray
    pair: np.ndarray
    kind: list[str]
    names_first: list[str]
    attribute: list[str]


def build_probe(pairs: list[tuple[str, Scene, Scene]], templates: list[Template]) -> Probe:
    texts, first, second, pair, kind, named, attribute = [], [], [], [], [], [], []
    for p, (name, a, b) in enumerate(pairs):
        for t in (t for t in templates if t.attribute == name):
            for i, j, x, y in ((2 * p, 2 * p + 1, a, b), (2 * p + 1, 2 * p, b, a)):
                texts.append(t.sentence(x, y))
                first.append(i), second.append(j), pair.append(p)
                kind.append(t.kind), named.append(t.names_first), attribute.append(name)
    return Probe(texts, np.array(first), np.array(second), np.array(pair), kind, named, attribute)


@torch.no_grad()
def credit(path: Path, name: str, images: list[Image.Image], probe: Probe) -> np.ndarray:
    """Per item: 1 where the sentence fits its own order (sign test), as open_clip builds the model."""
    with quiet_loaders():
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(path))
    model.eval()
    pixels = torch.stack([preprocess(im) for im in images])  # open_clip's own transform
    image = torch.nn.functional.normalize(torch.cat([model.encode_image(x) for x in pixels.split(256)]), dim=-1)
    text = encode_texts(model, open_clip.get_tokenizer(name), probe.texts)  # length-sorted batches, padding trimmed
    return sign_test_credit(text, image[probe.first], image[probe.second]).numpy()


def summary(items: np.ndarray, probe: Probe) -> dict:
    def by(groups: list[str]) -> dict[str, float]:
        values = defaultdict(list)
        for g, c in zip(groups, items):
            values[g].append(c)
        return {g: float(np.mean(v)) for g, v in sorted(values.items())}

    return {
        "accuracy": float(items.mean()),
        "names_first": by(probe.names_first),
        "kind": by(probe.kind),
        "attribute": by(probe.attribute),
    }


def _listed_paths(listed: dict) -> list[str]:
    return [
        listed["base"],
        *(path for table, rows in listed.items() if table != "base" for seeds in rows.values() for path in seeds.values()),
    ]


def markdown(base: dict, rows: list[dict]) -> str:
    """The rows as a markdown table, each run once: a row whose checkpoints a row above already scored
    (the oracle's seeds 0-2 in the tables after ablation 1) is left out."""
    named = base["names_first"]
    lines = [
        "| row | seeds | outside accuracy | vs base (points) | the study's gain | second image named first "
        "| first image named first | constructions below the base | worst construction (base) |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| base model | - | {base['accuracy']:.3f} | | | {named['second']:.3f} | {named['first']:.3f} | | |",
    ]
    shown: list[set[str]] = []
    for r in rows:
        if any(set(r["checkpoints"]) <= runs for runs in shown):
            continue
        shown.append(set(r["checkpoints"]))
        d, own, worst = r["vs_base"], r["study_vs_base"], r["worst_kind"]
        lines.append(
            f"| {r['table']}/{r['row']} | {len(r['checkpoints'])} | {r['accuracy']['mean']:.3f} "
            f"| {100 * d['diff']:+.1f} ± {100 * d['ci']:.1f} | {100 * own['diff']:+.1f} | {r['names_first']['second']:.3f} "
            f"| {r['names_first']['first']:.3f} | {len(r['kinds_below_base'])} of {len(base['kind'])} "
            f"| {worst} {r['kind'][worst]:.3f} ({base['kind'][worst]:.3f}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", type=Path, default=Path("docs/study/study.json"))
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: $PCCLIP_CACHE or ~/.cache/pcclip")
    parser.add_argument("--pairs", type=int, default=60, help="minimal pairs per attribute")
    parser.add_argument("--tables", default="llm,order,variants,quality,encoders", help="the study's tables to score")
    parser.add_argument("--templates", type=Path, default=TEMPLATES)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)

    study = read_json(args.study)
    if "checkpoints" not in study:
        raise PcclipError(f"{args.study}: lists no checkpoints (written by a pcclip before 2026-12-03): run `pcclip study` again")
    cache = args.cache_dir or default_cache_root()
    listed = study["checkpoints"]
    if missing := [path for path in _listed_paths(listed) if not (cache / path).is_file()]:
        raise PcclipError(
            f"{args.study} lists {len(missing)} checkpoints that {cache} does not hold (e.g. {missing[0]}): "
            "run the study again to make them (`pcclip study`), or give --cache-dir"
        )
    register_model_configs()
    base_path = cache / listed["base"]
    name = checkpoint_metadata(base_path)["model_name"]
    world = WorldConfig(**checkpoint_metadata(base_path)["settings"].get("world", {}))
    pairs = minimal_pairs(world, args.pairs)
    images = [Image.fromarray(render(scene, world.image_size)) for _, a, b in pairs for scene in (a, b)]
    probe = build_probe(pairs, load_templates(args.templates))
    print(f"{len(pairs)} new minimal pairs, {len(probe.texts)} sentences (every template in both orders); models by open_clip")

    scored: dict[str, np.ndarray] = {}

    def scores(relative: str) -> dict:
        if relative not in scored:
            scored[relative] = credit(cache / relative, name, images, probe)
        return summary(scored[relative], probe)

    base = scores(listed["base"])
    own = {(table, row["name"]): row for table, rows in study["tables"].items() for row in rows}
    rows = []
    for table in args.tables.split(","):
        for row, seeds in listed.get(table, {}).items():
            runs = [scores(path) for path in seeds.values()]
            accuracy = [r["accuracy"] for r in runs]
            outside = paired_test(accuracy, [base["accuracy"]] * len(accuracy))
            inside = own[(table, row)]["difference_accuracy"]["gain"]
            mean = {
                group: {g: float(np.mean([r[group][g] for r in runs])) for g in base[group]}
                for group in ("names_first", "kind", "attribute")
            }
            worst = min(mean["kind"], key=lambda k: mean["kind"][k] - base["kind"][k])
            rows.append(
                {
                    "table": table,
                    "row": row,
                    "checkpoints": list(seeds.values()),
                    "accuracy": mean_ci(accuracy),
                    "vs_base": outside,
                    "study_vs_base": inside,
                    **mean,
                    "worst_kind": worst,
                    "kinds_below_base": sorted(k for k in mean["kind"] if mean["kind"][k] < base["kind"][k]),
                }
            )
    print(markdown(base, rows))
    result = {"pairs": len(pairs), "sentences": len(probe.texts), "scene_seed": SCENE_SEED, "base": base, "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    try:
        main()
    except PcclipError as e:  # a user error: one line, no traceback
        sys.exit(f"error: {e}")
