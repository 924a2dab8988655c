"""The embedded default's data, drawn from the procedural world: captioned training scenes, ordered
training pairs with oracle difference sentences, and the held-out evaluation set.

Training uses the world's "train" phrasing pool; evaluation uses new scenes (their own seed) and the
disjoint "eval" pool, so a model cannot pass by memorising wording.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import EvalSettings, PairSettings
from .world.phrasing import caption, class_phrase, difference_sentence, difference_sentences, ZERO_SHOT_TEMPLATES
from .world.render import render_batch
from .world.scene import (
    ATTRIBUTES,
    COLOURS,
    SHAPES,
    Scene,
    WorldConfig,
    differing_attributes,
    perturb,
    sample_scene,
    sample_scenes,
)

ZERO_SHOT_TASKS = {"shape": SHAPES, "colour": tuple(COLOURS)}


@dataclass
class CaptionedScenes:
    scenes: list[Scene]
    images: np.ndarray  # (N, H, W, 3) uint8
    captions: list[list[str]]  # captions[i]: phrasing variants for scene i


def training_scenes(world: WorldConfig, n: int, captions_per_scene: int, seed: int) -> CaptionedScenes:
    scenes = sample_scenes(n, seed, world)
    rng = np.random.default_rng([seed, 1])
    captions = [[caption(s, rng, "train") for _ in range(captions_per_scene)] for s in scenes]
    return CaptionedScenes(scenes, render_batch(scenes, world.image_size), captions)


@dataclass
class TrainPairs:
    """Ordered pairs (a, b) of indices into `scenes`, each with a sentence saying how a differs from b."""

    scenes: list[Scene]
    captions: list[str]  # captions[i] describes scenes[i] (train phrasing)
    pairs: list[tuple[int, int]]
    sentences: list[str]
    attributes: list[str]


def oracle_pairs(scenes: list[Scene], settings: PairSettings, world: WorldConfig, seed: int) -> TrainPairs:
    """Sample settings.images of `scenes`, pair them as settings.pairing says, and let the
    ground-truth oracle (train phrasing) describe each pair.

    'pool' pairs random scenes with each other, as the paper pairs COCO images. Random scenes of the
    world differ in ~4 of 5 attributes, and a sentence naming one or two of them explains little of
    the image difference (measured: see the README), so 'pool' keeps pairs that differ in at most
    settings.max_differences attributes. 'minimal' pairs each sampled scene with a perturbed copy
    that differs in one attribute, taking the attributes in turn so that each is equally trained.
    """
    rng = np.random.default_rng([seed, 2])
    sample = [scenes[i] for i in rng.choice(len(scenes), size=settings.images, replace=False)]
    if settings.pairing == "minimal":
        candidates = _minimal_pairs(sample, settings.pairs, world, rng)
    else:
        candidates = _pool_pairs(sample, settings.max_differences, rng)
    result = TrainPairs([], [], [], [], [])
    index: dict[int, int] = {}  # id(scene) -> position in result.scenes

    def add(scene: Scene) -> int:
        if id(scene) not in index:
            index[id(scene)] = len(result.scenes)
            result.scenes.append(scene)
            result.captions.append(caption(scene, rng, "train"))
        return index[id(scene)]

    for a, b in candidates:
        diff = difference_sentence(a, b, rng, "train", settings.attributes_per_sentence)
        if diff is None:
            continue
        result.pairs.append((add(a), add(b)))
        result.sentences.append(diff.text)
        result.attributes.append(diff.attribute)
        if len(result.pairs) == settings.pairs:
            break
    return result


def _minimal_pairs(sample: list[Scene], n_pairs: int, world: WorldConfig, rng: np.random.Generator):
    for k in range(n_pairs):
        a = sample[k % len(sample)]
        b = perturb(a, ATTRIBUTES[k % len(ATTRIBUTES)], rng, world)
        yield (a, b) if rng.random() < 0.5 else (b, a)


def _pool_pairs(sample: list[Scene], max_differences: int, rng: np.random.Generator):
    seen: set[tuple[int, int]] = set()
    while len(seen) < len(sample) * (len(sample) - 1):
        i, j = (int(x) for x in rng.choice(len(sample), size=2, replace=False))
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if len(differing_attributes(sample[i], sample[j])) <= max_differences:
            yield sample[i], sample[j]


@dataclass
class ZeroShotTask:
    image_index: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    class_texts: tuple[str, ...]  # what the templates are filled with


@dataclass
class HeldoutSet:
    """All held-out images in one array (embedded once) and the items of each metric over them."""

    images: np.ndarray
    diff_a: np.ndarray
    diff_b: np.ndarray
    diff_texts: list[str]
    diff_attributes: list[str]
    zero_shot: dict[str, ZeroShotTask]
    caption_index: np.ndarray
    captions: list[str]
    templates: tuple[str, ...] = field(default_factory=lambda: ZERO_SHOT_TEMPLATES["eval"])


def heldout_set(world: WorldConfig, settings: EvalSettings) -> HeldoutSet:
    rng = np.random.default_rng(settings.seed)
    scenes: list[Scene] = []
    diff_a, diff_b, texts, attrs = [], [], [], []
    # Minimal pairs: b differs from a in exactly one attribute. Each pair is scored in both orders,
    # each order with its own sentence, so a bias towards one direction scores exactly 50%.
    for attribute in ATTRIBUTES:
        for _ in range(settings.pairs_per_attribute):
            a = sample_scene(rng, world)
            b = perturb(a, attribute, rng, world)
            ia, ib = len(scenes), len(scenes) + 1
            scenes += [a, b]
            for first, second, i, j in ((a, b, ia, ib), (b, a, ib, ia)):
                sentence = next(d for d in difference_sentences(first, second, "eval", rng) if d.attribute == attribute)
                diff_a.append(i), diff_b.append(j), texts.append(sentence.text), attrs.append(attribute)

    single = world.model_copy(update={"min_objects": 1, "max_objects": 1})
    zero_shot = {}
    for task, class_names in ZERO_SHOT_TASKS.items():
        wanted = {name: settings.zero_shot_per_class for name in class_names}
        index, labels = [], []
        while any(wanted.values()):
            scene = sample_scene(rng, single)
            value = scene.attributes()[task]
            if wanted[value]:
                wanted[value] -= 1
                index.append(len(scenes)), labels.append(class_names.index(value))
                scenes.append(scene)
        phrases = tuple(class_phrase(task, name) for name in class_names)
        zero_shot[task] = ZeroShotTask(np.array(index), np.array(labels), class_names, phrases)

    caption_scenes = [sample_scene(rng, world) for _ in range(settings.caption_scenes)]
    caption_index = np.arange(len(scenes), len(scenes) + len(caption_scenes))
    captions = [caption(s, rng, "eval") for s in caption_scenes]
    scenes += caption_scenes
    return HeldoutSet(
        images=render_batch(scenes, world.image_size),
        diff_a=np.array(diff_a),
        diff_b=np.array(diff_b),
        diff_texts=texts,
        diff_attributes=attrs,
        zero_shot=zero_shot,
        caption_index=caption_index,
        captions=captions,
    )
