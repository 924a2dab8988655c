"""The construction probe with the subject in both places: does a construction's score measure
direction, or which image its one named value belongs to?

The study's probe (`eval.probe_subjects = "fixed"`) says each construction of one image, fixed per
construction (the comparative adjective, "compared with", the relative clause and both-values of the
first image; the verb of change of the second). A sentence that names only its subject's value ("the figures of the first
photo are more red in tone than those of the second photo") is then right for a model that matches
words and ignores direction whenever the subject is the first image, and wrong whenever it is the
second. Here every construction whose subject may move is said of each image in turn, on new minimal
pairs in both orders, so word matching scores 1/2 on it, and the split by subject shows the shortcut
(`eval.probe_subjects = "balanced"` does the same inside the evaluation, alternating by pair).

    .venv/bin/python experiments/construction_subjects.py --seeds 0 1 2

Finetunes come from (or go to) the study's cache under the study's keys. Writes
experiments/results/construction_subjects.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pcclip.encode import encode_images, encode_texts, image_size
from pcclip.metrics import accuracy_by_group, sign_test_credit
from pcclip.pipeline import Pipeline, use_threads
from pcclip.study import load_study
from pcclip.world.phrasing import CONSTRUCTIONS, construction_sentence, construction_subjects
from pcclip.world.render import render_batch
from pcclip.world.scene import ATTRIBUTES, perturb, sample_scene

ROOT = Path(__file__).resolve().parent.parent
SUBJECTS = ("first", "second")


def probe_items(world, pairs_per_attribute: int, seed: int):
    """New minimal pairs; for each, every construction said of each image it may be said of, in both orders."""
    rng = np.random.default_rng([seed, 40])
    scenes, items = [], []  # items: (first image, second image, text, construction, subject, attribute)
    for attribute in ATTRIBUTES:
        for _ in range(pairs_per_attribute):
            a = sample_scene(rng, world)
            b = perturb(a, attribute, rng, world)
            ia, ib = len(scenes), len(scenes) + 1
            scenes += [a, b]
            for construction in CONSTRUCTIONS:
                for subject in construction_subjects(construction):
                    for x, y, i, j in ((a, b, ia, ib), (b, a, ib, ia)):
                        text = construction_sentence(x, y, attribute, construction, rng, subject).text
                        items.append((i, j, text, construction, subject, attribute))
    return render_batch(scenes, world.image_size), items


def accuracies(model, tokenizer, images: np.ndarray, items: list) -> dict:
    """Sign-test accuracy per construction and subject, per construction, and per construction and attribute."""
    embedded = encode_images(model, images)
    texts = encode_texts(model, tokenizer, [it[2] for it in items])
    first = np.array([it[0] for it in items])
    second = np.array([it[1] for it in items])
    credit = sign_test_credit(texts, embedded[first], embedded[second])
    groupings = (
        [f"{c}|{s}" for _, _, _, c, s, _ in items],
        [f"{c}|both" for _, _, _, c, _, _ in items],
        [f"{c}|both|{a}" for _, _, _, c, _, a in items],
    )
    return {key: value for groups in groupings for key, value in accuracy_by_group(credit, groups).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--generator", default="oracle")
    parser.add_argument("--pairs-per-attribute", type=int, default=60)
    args = parser.parse_args()
    study = load_study(None)
    use_threads(study.run.threads)
    pipeline = Pipeline(study.run, ROOT / "runs" / "construction_subjects", log=lambda _: None)
    base, tokenizer = pipeline.base
    world = study.run.world.model_copy(update={"image_size": image_size(base)})
    images, items = probe_items(world, args.pairs_per_attribute, study.run.eval.seed)
    results = {"base": accuracies(base, tokenizer, images, items)}
    generation = study.generators[args.generator]
    for seed in args.seeds:
        model, _ = pipeline.finetuned(args.generator, generation, study.run.finetune, seed)
        results[f"{args.generator} seed {seed}"] = accuracies(model, tokenizer, images, items)
    finetuned = [name for name in results if name != "base"]
    mean = {key: float(np.mean([results[n][key] for n in finetuned])) for key in results["base"]}
    print(f"{len(items)} sentences; sign-test accuracy, base -> {args.generator} (mean of seeds {args.seeds})")
    print(f"{'construction':22s} {'said of the first':>20s} {'said of the second':>20s} {'both (word matching: 1/2)':>27s}")
    for c in CONSTRUCTIONS:
        cells = [
            f"{results['base'][f'{c}|{s}']:.3f} -> {mean[f'{c}|{s}']:.3f}" if f"{c}|{s}" in mean else "(its definition)"
            for s in (*SUBJECTS, "both")
        ]
        print(f"{c:22s} {cells[0]:>20s} {cells[1]:>20s} {cells[2]:>27s}")
    print("\nboth subjects, by attribute:")
    for c in CONSTRUCTIONS:
        cells = [f"{a} {results['base'][f'{c}|both|{a}']:.2f}->{mean[f'{c}|both|{a}']:.2f}" for a in ATTRIBUTES]
        print(f"{c:22s} " + "  ".join(cells))
    out = ROOT / "experiments" / "results" / "construction_subjects.json"
    summary = {"seeds": args.seeds, "generator": args.generator, "sentences": len(items), "results": results}
    out.write_text(json.dumps(summary, indent=1))
    print(f"\nwritten {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
