"""The embedded default's data, drawn from the procedural world: captioned training scenes, the pool
of ordered training pairs that a generator describes, and the held-out evaluation set.

Training uses the world's "train" phrasing pool; evaluation uses new scenes (their own seed) and the
disjoint "eval" pool, so a model cannot pass by memorising wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .config import EvalSettings, PairSettings
from .datasets.comparatives import gather_comparatives
from .datasets.templates import STANDARD_TEMPLATES
from .world.phrasing import (
    CONSTRUCTIONS,
    ZERO_SHOT_TEMPLATES,
    caption,
    class_phrase,
    construction_sentence,
    construction_subjects,
    difference_sentences,
)
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

if TYPE_CHECKING:
    from .generate.pairs import PairRecord  # imported at run time inside training_pair_pool: generate imports data

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


def training_pair_pool(scenes: list[Scene], settings: PairSettings, world: WorldConfig) -> list[PairRecord]:
    """The pool of ordered training pairs a generator describes: settings.images scenes sampled
    from `scenes`, paired as settings.pairing says: ids, train-phrasing captions and attributes (from
    which `PairRecord.scenes()` rebuilds each image's scene exactly).

    'pool' pairs sampled scenes with each other, as the paper pairs COCO images. Random scenes of the
    world differ in ~4 of 5 attributes, and a sentence naming one or two of them explains little of
    the image difference (measured: see the README), so 'pool' keeps pairs that differ in at most
    settings.max_differences attributes. 'minimal' pairs each sampled scene with a perturbed copy
    that differs in one attribute, taking the attributes in turn so that each is equally trained.
    """
    from .generate.pairs import PairRecord, pair_id  # generate imports data's world helpers lazily

    rng = np.random.default_rng([settings.seed, 2])
    sample = [(f"train-{i}", scenes[i]) for i in rng.choice(len(scenes), size=settings.images, replace=False)]
    if settings.pairing == "minimal":
        candidates = _minimal_pairs(sample, settings.pairs // 2 if settings.both_orders else settings.pairs, world, rng)
        if settings.both_orders:  # each minimal pair, then the same pair reversed
            candidates = (pair for a, b in candidates for pair in ((a, b), (b, a)))
    else:
        candidates = _pool_pairs(sample, settings.max_differences, rng)
    captions: dict[str, str] = {}
    pairs = []
    for (id_a, a), (id_b, b) in candidates:
        for image_id, scene in ((id_a, a), (id_b, b)):
            if image_id not in captions:
                captions[image_id] = caption(scene, rng, "train")
        pairs.append(PairRecord(pair_id(id_a, id_b), id_a, id_b, captions[id_a], captions[id_b], a.attributes(), b.attributes()))
        if len(pairs) == settings.pairs:
            break
    return pairs


def _minimal_pairs(sample: list[tuple[str, Scene]], n_pairs: int, world: WorldConfig, rng: np.random.Generator):
    for k in range(n_pairs):
        image_id, a = sample[k % len(sample)]
        b = (f"{image_id}~{k}", perturb(a, ATTRIBUTES[k % len(ATTRIBUTES)], rng, world))
        yield ((image_id, a), b) if rng.random() < 0.5 else (b, (image_id, a))


def _pool_pairs(sample: list[tuple[str, Scene]], max_differences: int, rng: np.random.Generator):
    seen: set[tuple[int, int]] = set()
    while len(seen) < len(sample) * (len(sample) - 1):
        i, j = (int(x) for x in rng.choice(len(sample), size=2, replace=False))
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if 1 <= len(differing_attributes(sample[i][1], sample[j][1])) <= max_differences:
            yield sample[i], sample[j]


@dataclass
class ZeroShotTask:
    """Single-object scenes labelled with one attribute's value (shape or colour).

    prompts[c]: class c's name filled into each zero-shot template. comparative_first/second/texts:
    the world oracle's comparative sentences for every ordered pair of classes (a, c), each saying how
    a scene of class a differs from the same scene of class c (for comparative prompting)."""

    image_index: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    prompts: tuple[tuple[str, ...], ...]
    comparative_first: np.ndarray
    comparative_second: np.ndarray
    comparative_texts: list[str]


@dataclass
class RankingTask:
    """Scenes to order by one numeric attribute, and the texts that give the direction to order along.

    comparatives: sentences about pairs (first has more of the attribute than second), in eval
    wording; their mean embedding points from less to more. reversed_comparatives: sentences about
    the same pairs in the other order (first has less). more_prompts / less_prompts: "a large
    object" / "a small object" (and the like) in each zero-shot template."""

    image_index: np.ndarray
    values: np.ndarray
    comparatives: list[str]
    reversed_comparatives: list[str]
    more_prompts: tuple[str, ...]
    less_prompts: tuple[str, ...]


@dataclass
class ConstructionProbe:
    """Minimal pairs, each said in every named construction of the eval phrasing (phrasing.CONSTRUCTIONS)
    and in both orders: item i says how image first[i] differs from image second[i] in
    attributes[i], in construction constructions[i], of image subjects[i] ("first": first[i]);
    pair[i] numbers its minimal pair."""

    first: np.ndarray
    second: np.ndarray
    texts: list[str]
    constructions: list[str]
    attributes: list[str]
    pair: np.ndarray
    subjects: list[str]


@dataclass
class HeldoutSet:
    """All held-out images in one array (embedded once) and the items of each metric over them.

    Difference items: ordered pairs (diff_a[i], diff_b[i]) with a sentence saying how a differs from
    b; the two orders of minimal pair diff_pair[i] are consecutive items. diff_candidates[i]: the K
    candidate sentences (indices into diff_texts) of the K-way choice, the true one first, then the
    reversed-direction sentence (the same pair's other order), then one sentence of each other
    attribute, borrowed from another item (false here: this pair differs in one attribute only).
    Analogies use the zero-shot images as their gallery; analogy_labels[task][g] is gallery image g's
    class in that zero-shot task, and analogy_sources[task] the gallery positions of that task's own
    images, whose class in the task the analogies change. constructions: the construction probe, whose
    images follow all the others."""

    settings: EvalSettings
    images: np.ndarray
    diff_a: np.ndarray
    diff_b: np.ndarray
    diff_texts: list[str]
    diff_attributes: list[str]
    diff_pair: np.ndarray
    diff_candidates: np.ndarray
    zero_shot: dict[str, ZeroShotTask]
    caption_index: np.ndarray
    captions: list[str]
    ranking: dict[str, RankingTask]
    analogy_index: np.ndarray
    analogy_labels: dict[str, np.ndarray]
    analogy_sources: dict[str, np.ndarray]
    constructions: ConstructionProbe

    def text_groups(self) -> dict[str, list[str]]:
        """Every text the evaluation embeds, by group name, so one encoder call serves all metrics."""
        groups = {"differences": self.diff_texts, "captions": self.captions}
        for name, task in self.zero_shot.items():
            groups[f"prompts/{name}"] = [p for prompts in task.prompts for p in prompts]
            groups[f"comparatives/{name}"] = task.comparative_texts
        for name, ranking in self.ranking.items():
            groups[f"ranking/{name}/comparatives"] = ranking.comparatives
            groups[f"ranking/{name}/reversed"] = ranking.reversed_comparatives
            groups[f"ranking/{name}/more"] = list(ranking.more_prompts)
            groups[f"ranking/{name}/less"] = list(ranking.less_prompts)
        groups["constructions"] = self.constructions.texts
        return groups


# Ranked attribute -> (world attribute a sentence names, phrase of "more", phrase of "less")
RANKED_ATTRIBUTES = {
    "size": ("size", class_phrase("size", "large"), class_phrase("size", "small")),
    "count": ("count", class_phrase("count", 4), class_phrase("count", 1)),
    "x": ("position", class_phrase("position", "on the right"), class_phrase("position", "on the left")),
}
RANKING_SENTENCES = 32  # comparative sentences per ranking direction (at 8, directions varied much between seeds)
# Minimal pairs per attribute in the construction probe (fewer if settings.pairs_per_attribute is
# smaller). Each is said in both orders in every construction: 40 * 5 * 2 * 7 = 2,800 texts, which
# nearly doubles the texts an evaluation embeds (60 pairs would more than double them).
CONSTRUCTION_PAIRS_PER_ATTRIBUTE = 40


def zero_shot_prompts(templates: str, phrase: str) -> tuple[str, ...]:
    """A class phrase ('an orange object') in each template of a set: the world's held-out templates
    take the article; CLIP's ImageNet templates and the paper's supply their own ('a photo of a {}.')."""
    if templates == "world":
        return tuple(t.format(phrase) for t in ZERO_SHOT_TEMPLATES["eval"])
    return tuple(t.format(re.sub(r"^an? ", "", phrase)) for t in STANDARD_TEMPLATES[templates])


def heldout_set(world: WorldConfig, settings: EvalSettings) -> HeldoutSet:
    """The held-out evaluation set, drawn from settings.seed in the eval phrasing: minimal pairs with
    difference sentences, single-object scenes for zero-shot (and analogies), captioned scenes (for
    CLIPScore, retrieval and ranking), the construction probe's minimal pairs, and the texts each
    metric needs."""
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
                diff_a.append(i)
                diff_b.append(j)
                texts.append(sentence.text)
                attrs.append(attribute)

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
                index.append(len(scenes))
                labels.append(class_names.index(value))
                scenes.append(scene)
        zero_shot[task] = (np.array(index), np.array(labels))

    caption_scenes = [sample_scene(rng, world) for _ in range(settings.caption_scenes)]
    caption_index = np.arange(len(scenes), len(scenes) + len(caption_scenes))
    captions = [caption(s, rng, "eval") for s in caption_scenes]
    scenes += caption_scenes

    # Everything below draws from its own generators, so the scenes above (and every number measured
    # on them before these metrics existed) stay the same.
    comparative_rng, ranking_rng, choice_rng = (np.random.default_rng([settings.seed, k]) for k in (1, 2, 3))
    tasks = {}
    for task, (task_index, task_labels) in zero_shot.items():
        class_names = ZERO_SHOT_TASKS[task]
        prompts = tuple(zero_shot_prompts(settings.templates, class_phrase(task, name)) for name in class_names)
        pairs = [(a, c) for a in range(len(class_names)) for c in range(len(class_names)) if a != c]
        writer = _oracle_comparatives(task, settings.comparatives_per_pair, single, comparative_rng)
        comparative_first, comparative_second, comparative_texts = gather_comparatives(class_names, pairs, writer)
        tasks[task] = ZeroShotTask(
            task_index,
            task_labels,
            class_names,
            prompts,
            np.array(comparative_first),
            np.array(comparative_second),
            comparative_texts,
        )
    ranking = {}
    for name, (_, more, less) in RANKED_ATTRIBUTES.items():
        sentences = [_ranking_sentences(name, ranking_rng, world) for _ in range(RANKING_SENTENCES)]
        ranking[name] = RankingTask(
            image_index=caption_index,
            values=np.array([getattr(s, name) for s in caption_scenes], dtype=np.float64),
            comparatives=[forward for forward, _ in sentences],
            reversed_comparatives=[backward for _, backward in sentences],
            more_prompts=zero_shot_prompts(settings.templates, more),
            less_prompts=zero_shot_prompts(settings.templates, less),
        )
    gallery = np.concatenate([index for index, _ in zero_shot.values()])
    task_ends = np.cumsum([len(index) for index, _ in zero_shot.values()])
    sources = {task: np.arange(end - len(index), end) for (task, (index, _)), end in zip(zero_shot.items(), task_ends)}
    analogy_labels = {
        task: np.array([class_names.index(scenes[i].attributes()[task]) for i in gallery])
        for task, class_names in ZERO_SHOT_TASKS.items()
    }
    pairs_per_attribute = min(CONSTRUCTION_PAIRS_PER_ATTRIBUTE, settings.pairs_per_attribute)
    probe_scenes, probe = _construction_probe(
        world, pairs_per_attribute, len(scenes), np.random.default_rng([settings.seed, 4]), settings.probe_subjects == "balanced"
    )
    scenes += probe_scenes
    return HeldoutSet(
        settings=settings,
        images=render_batch(scenes, world.image_size),
        diff_a=np.array(diff_a),
        diff_b=np.array(diff_b),
        diff_texts=texts,
        diff_attributes=attrs,
        diff_pair=np.arange(len(texts)) // 2,
        diff_candidates=_choice_candidates(attrs, choice_rng),
        zero_shot=tasks,
        caption_index=caption_index,
        captions=captions,
        ranking=ranking,
        analogy_index=gallery,
        analogy_labels=analogy_labels,
        analogy_sources=sources,
        constructions=probe,
    )


def _construction_probe(
    world: WorldConfig, pairs_per_attribute: int, first_image: int, rng: np.random.Generator, balanced: bool
) -> tuple[list[Scene], ConstructionProbe]:
    """Minimal pairs (their images numbered from first_image on), each said in both orders in every
    construction, so constructions differ only in their wording; `balanced`: of the construction's own
    subject for even pairs and of the other image for odd ones, where the construction allows it."""
    scenes: list[Scene] = []
    first, second, texts, constructions, attributes, pair, subjects = [], [], [], [], [], [], []
    for attribute in ATTRIBUTES:
        for _ in range(pairs_per_attribute):
            a = sample_scene(rng, world)
            b = perturb(a, attribute, rng, world)
            pair_id, ia, ib = len(scenes) // 2, first_image + len(scenes), first_image + len(scenes) + 1
            scenes += [a, b]
            for construction in CONSTRUCTIONS:
                allowed = construction_subjects(construction)
                subject = allowed[pair_id % len(allowed)] if balanced else allowed[0]
                for x, y, i, j in ((a, b, ia, ib), (b, a, ib, ia)):
                    first.append(i)
                    second.append(j)
                    pair.append(pair_id)
                    texts.append(construction_sentence(x, y, attribute, construction, rng, subject).text)
                    constructions.append(construction)
                    attributes.append(attribute)
                    subjects.append(subject)
    probe = ConstructionProbe(np.array(first), np.array(second), texts, constructions, attributes, np.array(pair), subjects)
    return scenes, probe


def _choice_candidates(attributes: list[str], rng: np.random.Generator) -> np.ndarray:
    """(items, K) candidate sentences per item: itself, its reversed order (items come in order pairs
    2k, 2k + 1), then a random item of each other attribute, in ATTRIBUTES order."""
    by_attribute = {a: np.flatnonzero(np.array(attributes) == a) for a in ATTRIBUTES}
    rows = []
    for i, attribute in enumerate(attributes):
        others = [int(rng.choice(by_attribute[a])) for a in ATTRIBUTES if a != attribute and len(by_attribute[a])]
        rows.append([i, i ^ 1, *others])
    return np.array(rows)


def _oracle_comparatives(task: str, per_pair: int, world: WorldConfig, rng: np.random.Generator):
    """The world's comparative writer for a zero-shot task: (class a, class c) -> sentences (eval
    wording) saying how a scene of class a differs from the same scene with class c."""

    def with_value(scene: Scene, value: str) -> Scene:
        if task == "colour":
            return replace(scene, colour=value, rgb=COLOURS[value])
        return replace(scene, shape=value)

    def write(first: str, second: str) -> list[str]:
        sentences = []
        for _ in range(per_pair):
            scene = sample_scene(rng, world)
            a, c = with_value(scene, first), with_value(scene, second)
            sentences.append(next(d.text for d in difference_sentences(a, c, "eval", rng) if d.attribute == task))
        return sentences

    return write


def _ranking_sentences(name: str, rng: np.random.Generator, world: WorldConfig) -> tuple[str, str]:
    """Two eval-wording sentences about a pair of scenes that differ only in `name`: one about (more,
    less) (larger size, more objects, further right first), one about (less, more)."""
    less = sample_scene(rng, world)
    if name == "size":
        more = replace(less, size=less.size * 1.5)
    elif name == "count":
        low, high = sorted(int(c) for c in rng.choice(np.arange(1, 5), size=2, replace=False))
        less, more = replace(less, count=low), replace(less, count=high)
    else:  # x: only the text is needed, so the shifted centre may leave the image
        more = replace(less, x=less.x + 0.3)
    attribute = RANKED_ATTRIBUTES[name][0]
    forward = next(d.text for d in difference_sentences(more, less, "eval", rng) if d.attribute == attribute)
    backward = next(d.text for d in difference_sentences(less, more, "eval", rng) if d.attribute == attribute)
    return forward, backward
