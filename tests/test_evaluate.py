"""The evaluation suite end to end: the held-out set's items, every world metric on crafted embeddings
with exactly known answers, one encoder call per evaluation, real-data evaluation through a lookup
model, and the JSON record and table."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import pcclip.evaluate as evaluate_module
from pcclip.config import EvalSettings
from pcclip.data import RANKING_SENTENCES, ZERO_SHOT_TASKS, heldout_set
from pcclip.datasets import (
    IMAGENET_TEMPLATES,
    Comparative,
    ImageArray,
    LabelledImages,
    load_awa2,
    load_coco_captions,
    load_image_folder,
)
from pcclip.datasets.base import CaptionedImages
from pcclip.datasets.images import encode_image_source
from pcclip.encode import encode_texts
from pcclip.evaluate import (
    HeldoutEmbeddings,
    embed_heldout,
    evaluate,
    evaluate_attribute,
    evaluate_captions,
    evaluate_classification,
    evaluate_embeddings,
)
from pcclip.losses import difference_directions
from pcclip.metrics import class_embeddings, comparative_class_embeddings, zero_shot_credit
from pcclip.models import create_model
from pcclip.world.phrasing import CONSTRUCTIONS
from pcclip.world.scene import ATTRIBUTES, COLOURS, WorldConfig
from test_datasets import make_awa2, make_coco, write_image

WORLD = WorldConfig(image_size=32)
TINY = EvalSettings(pairs_per_attribute=6, zero_shot_per_class=3, caption_scenes=24, bootstrap_resamples=200)


@pytest.fixture(scope="module")
def heldout():
    return heldout_set(WORLD, TINY)


# --- the held-out set -------------------------------------------------------------------------------


def test_choice_candidates_are_the_truth_the_reversal_and_the_other_attributes(heldout):
    h = heldout
    assert h.diff_candidates.shape == (len(h.diff_texts), len(ATTRIBUTES) + 1)
    for i, row in enumerate(h.diff_candidates):
        assert row[0] == i
        assert (h.diff_a[row[1]], h.diff_b[row[1]]) == (h.diff_b[i], h.diff_a[i])  # the same pair, reversed
        assert h.diff_pair[row[1]] == h.diff_pair[i]
        others = [h.diff_attributes[j] for j in row[2:]]
        assert others == [a for a in ATTRIBUTES if a != h.diff_attributes[i]]


def test_comparatives_cover_every_ordered_class_pair(heldout):
    for task in heldout.zero_shot.values():
        n = len(task.class_names)
        pairs = list(zip(task.comparative_first.tolist(), task.comparative_second.tolist()))
        assert len(pairs) == n * (n - 1) * TINY.comparatives_per_pair
        assert set(pairs) == {(a, c) for a in range(n) for c in range(n) if a != c}
        for (a, c), text in zip(pairs, task.comparative_texts):
            assert task.class_names[c] in text and task.class_names[a] in text


def test_ranking_sentences_describe_the_same_pairs_both_ways(heldout):
    size = heldout.ranking["size"]
    assert len(size.comparatives) == len(size.reversed_comparatives) == RANKING_SENTENCES
    size_words = ("more sizeable", "bulkier", "heftier", "tinier", "more diminutive", "less bulky")  # eval wording
    for forward, backward in zip(size.comparatives, size.reversed_comparatives):
        assert forward != backward
        assert any(w in forward for w in size_words) and any(w in backward for w in size_words)
    assert heldout.ranking["count"].values.min() == 1 and heldout.ranking["count"].values.max() == 4


def test_template_sets(heldout):
    assert heldout.zero_shot["shape"].prompts[3][0] == "a rendering of a star."
    imagenet = heldout_set(WORLD, TINY.model_copy(update={"templates": "imagenet"}))
    assert len(imagenet.zero_shot["colour"].prompts[1]) == 80
    assert imagenet.zero_shot["colour"].prompts[1][0] == "a bad photo of a orange object."
    paper = heldout_set(WORLD, TINY.model_copy(update={"templates": "paper"}))
    assert paper.zero_shot["shape"].prompts[3] == ("This is a photo of a star",)
    assert paper.diff_texts == heldout.diff_texts  # the template set changes the prompts only


# --- every world metric on crafted embeddings -------------------------------------------------------


def crafted_embeddings(h) -> HeldoutEmbeddings:
    """Embeddings whose metrics are known exactly (dimension 24):
    - zero-shot images: unit(shape axis + colour axis) (axes 0-7, 8-15); every prompt of a class is
      its axis, so class embeddings are the axes: zero-shot and analogies are right every time;
    - difference sentences (and the construction probe's): exactly the image difference direction of
      their own pair;
    - caption images: angles growing with size, count and x on axes (16, 17), (18, 19), (20, 21); each
      caption's text is its image; ranking texts point along the growing sine axes.
    """
    g = torch.Generator().manual_seed(0)
    images = F.normalize(torch.randn(len(h.images), 24, generator=g), dim=-1)
    axes = torch.eye(24)
    for g_pos, image in enumerate(h.analogy_index):
        shape, colour = h.analogy_labels["shape"][g_pos], h.analogy_labels["colour"][g_pos]
        images[image] = F.normalize(axes[shape] + axes[8 + colour], dim=-1)
    caption_values = {name: torch.from_numpy(task.values) for name, task in h.ranking.items()}
    angle = {name: (v - v.min()) / (v.max() - v.min()) * (math.pi / 2) for name, v in caption_values.items()}
    for name, axis in (("size", 16), ("count", 18), ("x", 20)):
        images[h.caption_index, axis] = torch.cos(angle[name]).float() / math.sqrt(3)
        images[h.caption_index, axis + 1] = torch.sin(angle[name]).float() / math.sqrt(3)
    # Unit length by construction (three cos/sin pairs over sqrt(3)); not renormalised, so that equal
    # counts give bit-identical scores (exact ties) rather than ties broken by rounding.
    images[h.caption_index] = images[h.caption_index] * ((torch.arange(24) >= 16) & (torch.arange(24) < 22))

    texts = {group: F.normalize(torch.randn(len(items), 24, generator=g), dim=-1) for group, items in h.text_groups().items()}
    texts["differences"] = difference_directions(images[h.diff_a], images[h.diff_b])
    texts["constructions"] = difference_directions(images[h.constructions.first], images[h.constructions.second])
    texts["captions"] = images[h.caption_index].clone()
    for name, task in h.zero_shot.items():
        offset = 0 if name == "shape" else 8
        texts[f"prompts/{name}"] = axes[offset + torch.arange(len(task.class_names))].repeat_interleave(len(task.prompts[0]), 0)
    for name, axis in (("size", 16), ("count", 18), ("x", 20)):
        texts[f"ranking/{name}/comparatives"] = axes[axis + 1].expand(len(h.ranking[name].comparatives), -1)
        texts[f"ranking/{name}/reversed"] = -axes[axis + 1].expand(len(h.ranking[name].comparatives), -1)
        texts[f"ranking/{name}/more"] = axes[axis + 1].expand(len(h.ranking[name].more_prompts), -1)
        texts[f"ranking/{name}/less"] = axes[axis].expand(len(h.ranking[name].less_prompts), -1)
    return HeldoutEmbeddings(images, texts)


def test_world_metrics_on_crafted_embeddings_are_exact(heldout):
    h = heldout_set(WORLD, TINY.model_copy(update={"comparative_alpha": 1.0}))
    m = evaluate_embeddings(crafted_embeddings(h), h)
    assert m["difference_accuracy"] == 1.0 and m["difference_accuracy_ci"] == [1.0, 1.0]
    assert m["difference_accuracy_by_attribute"] == {a: 1.0 for a in ATTRIBUTES}
    assert m["difference_choice_accuracy"] == 1.0 and m["difference_choice_candidates"] == 6
    assert m["difference_choice_picks_reversed"] == 0.0
    assert m["difference_accuracy_by_construction"] == {c: 1.0 for c in CONSTRUCTIONS}
    assert m["difference_accuracy_by_construction_ci"] == {c: [1.0, 1.0] for c in CONSTRUCTIONS}
    assert m["construction_worst_accuracy"] == 1.0
    assert m["zero_shot_accuracy"] == 1.0 and m["zero_shot_top5_accuracy_by_task"] == {"shape": 1.0, "colour": 1.0}
    assert m["zero_shot_worst_class_accuracy_by_task"] == {"shape": 1.0, "colour": 1.0}
    assert m["zero_shot_per_class_accuracy"]["colour"] == {c: 1.0 for c in COLOURS}
    assert m["comparative_zero_shot_accuracy_by_task"] == m["zero_shot_accuracy_by_task"]  # alpha 1: no change
    assert m["clipscore"] == pytest.approx(2.5)
    assert m["retrieval"] == {"image_to_text_r1": 1.0, "text_to_image_r1": 1.0}
    for name in ("size", "count", "x"):
        for direction in ("comparative", "comparative_minus_reversed", "contrast"):
            assert m["ranking"][name][direction] == {"spearman": pytest.approx(1.0), "kendall": pytest.approx(1.0)}
    assert m["analogy_accuracy_by_attribute"] == {"shape": 1.0, "colour": 1.0}
    assert 0 < m["analogy_chance"] < 0.2


def test_sentences_that_say_the_opposite_score_zero(heldout):
    emb = crafted_embeddings(heldout)
    emb.texts["differences"] = -emb.texts["differences"]
    m = evaluate_embeddings(emb, heldout)
    assert m["difference_accuracy"] == 0.0
    assert m["difference_choice_accuracy"] == 0.0
    assert m["difference_choice_picks_reversed"] == 1.0  # it now says exactly the true direction


def test_comparative_prompting_on_the_world_uses_the_papers_update(heldout):
    h = heldout
    emb = crafted_embeddings(h)
    task = h.zero_shot["shape"]
    emb.texts["comparatives/shape"] = F.normalize(
        torch.randn(len(task.comparative_texts), 24, generator=torch.Generator().manual_seed(1)), dim=-1
    )
    m = evaluate_embeddings(emb, h)
    classes = class_embeddings(emb.texts["prompts/shape"].view(8, -1, 24))
    # 'nearest' with 3 neighbours: crafted class axes are orthogonal, all similarities tie -> the 3 lowest indices
    pairs = {(a, c) for c in range(8) for a in [x for x in range(8) if x != c][:3]}
    keep = torch.tensor([(a, c) in pairs for a, c in zip(task.comparative_first.tolist(), task.comparative_second.tolist())])
    updated = comparative_class_embeddings(
        classes,
        torch.from_numpy(task.comparative_first)[keep],
        torch.from_numpy(task.comparative_second)[keep],
        emb.texts["comparatives/shape"][keep],
        TINY.comparative_alpha,
    )
    expected = zero_shot_credit(emb.images[task.image_index], torch.from_numpy(task.labels), updated).mean().item()
    assert m["comparative_zero_shot_accuracy_by_task"]["shape"] == expected


def test_each_metric_group_is_timed(heldout):
    seconds = {}
    evaluate_embeddings(crafted_embeddings(heldout), heldout, seconds)
    assert set(seconds) == {
        "class embeddings",
        "difference",
        "constructions",
        "zero-shot",
        "comparative prompting",
        "captions",
        "ranking",
        "analogy",
    }


# --- a real model: one encoder call, the names the pipeline reads --------------------------------


def test_evaluate_embeds_once_and_keeps_the_pipeline_names(heldout, monkeypatch):
    torch.manual_seed(0)
    model, tokenizer = create_model("pcclip-vit-nano")
    calls = []
    real = evaluate_module.encode_texts
    monkeypatch.setattr(evaluate_module, "encode_texts", lambda *a, **k: calls.append(len(a[2])) or real(*a, **k))
    metrics = evaluate(model, tokenizer, heldout)
    assert calls == [sum(len(t) for t in heldout.text_groups().values())]
    assert list(metrics["difference_accuracy_by_attribute"]) == list(ATTRIBUTES)
    assert set(metrics["zero_shot_accuracy_by_task"]) == set(ZERO_SHOT_TASKS)
    assert set(metrics["retrieval"]) == {"image_to_text_r1", "text_to_image_r1"}
    emb = embed_heldout(model, tokenizer, heldout)
    assert metrics == evaluate_embeddings(emb, heldout)  # one call embeds what the metrics read, no more
    cosines = (emb.images[heldout.caption_index] * emb.texts["captions"]).sum(dim=-1)
    assert metrics["clipscore"] == pytest.approx(2.5 * cosines.clamp(min=0).mean().item(), rel=1e-6)
    images = torch.nn.functional.normalize(torch.randn(len(heldout.images), 64), dim=-1)
    reused = embed_heldout(model, tokenizer, heldout, images)
    assert reused.images is images


# --- real data through a lookup model -----------------------------------------------------------------


class LookupCLIP(torch.nn.Module):
    """A text tower that is a table: each known sentence embeds as its given vector."""

    def __init__(self, table: dict[str, torch.Tensor]):
        super().__init__()
        self.sentences = list(table)
        self.vectors = torch.stack([F.normalize(v.float(), dim=-1) for v in table.values()])

    def tokenizer(self, texts):
        return torch.tensor([[self.sentences.index(t)] for t in texts])

    def encode_text(self, ids):
        return self.vectors[ids[:, 0]]


E = torch.eye(4)
BIGGER, SMALLER = "The first animal is bigger than the second.", "The first animal is smaller than the second."


def test_attribute_direction_on_awa2(tmp_path):
    """Elephants and grizzlies are big in AwA2, mice are not. Images embed along big (E0) or small
    (E1); "bigger" embeds as E0 - E1. Read the right way, every pair is classified correctly; with the
    authors' off-by-one ("big" read from the "small" column) every pair would be wrong."""
    awa = load_awa2(make_awa2(tmp_path))
    big = awa.image_values("big")
    assert big.tolist() == [0, 0, 1, 1]
    images = torch.stack([E[1], E[1], E[0], F.normalize(E[0] + 0.1 * E[2], dim=0)])
    model = LookupCLIP({BIGGER: E[0] - E[1], SMALLER: E[1] - E[0], "a big animal": E[0], "a small animal": E[1]})
    args = (model, model.tokenizer, awa.data.images)
    texts = (BIGGER, SMALLER, "a big animal", "a small animal")
    m = evaluate_attribute(*args, big, *texts, pairs=50, resamples=200, image_embeddings=images)
    assert m["difference_accuracy"] == 1.0 and m["difference_accuracy_ci"] == [1.0, 1.0]
    # scores along E0 - E1: mice tie at -1, the grizzly just below the elephant; hand-computed:
    assert m["ranking"]["comparative"] == {
        "spearman": pytest.approx(4 / math.sqrt(18)),
        "kendall": pytest.approx(4 / math.sqrt(20)),
    }
    assert m["ranking"]["contrast"] == m["ranking"]["comparative"] == m["ranking"]["comparative_minus_reversed"]
    swapped = evaluate_attribute(*args, awa.image_values("small"), *texts, pairs=50, resamples=200, image_embeddings=images)
    assert swapped["difference_accuracy"] == 0.0


def test_zero_shot_and_comparative_prompting_on_labelled_images():
    names = ("cat", "dog", "fox")
    template = "This is a photo of a {}"
    table = {template.format(n): E[i] for i, n in enumerate(names)}
    table["Dogs are rounder than foxes."] = E[1] - E[2]
    model = LookupCLIP(table)
    images = torch.stack([E[0], F.normalize(E[1] + 0.9 * E[2], dim=0), F.normalize(E[2] + 0.95 * E[1], dim=0)])
    data = LabelledImages(ImageArray(np.zeros((3, 4, 4, 3), dtype=np.uint8)), np.array([0, 1, 2]), names)
    m = evaluate_classification(model, model.tokenizer, data, (template,), image_embeddings=images)
    assert m["zero_shot_accuracy"] == 1.0 and m["zero_shot_top5_accuracy"] == 1.0
    assert m["zero_shot_per_class_accuracy"] == {"cat": 1.0, "dog": 1.0, "fox": 1.0}
    comparatives = [Comparative("dog", "fox", "Dogs are rounder than foxes.")]
    m = evaluate_classification(
        model, model.tokenizer, data, (template,), comparatives, alpha=0.5, pairs="all", image_embeddings=images
    )
    classes = E[:3]
    updated = comparative_class_embeddings(
        classes, torch.tensor([1]), torch.tensor([2]), F.normalize((E[1] - E[2])[None], dim=-1), 0.5
    )
    expected = zero_shot_credit(images, torch.tensor([0, 1, 2]), updated).mean().item()
    assert m["comparative_zero_shot_accuracy"] == expected


def test_captions_on_a_captioned_dataset():
    model = LookupCLIP({"a cat": E[0], "a kitten": F.normalize(E[0] + E[3], dim=0), "a dog": E[1]})
    data = CaptionedImages(
        ImageArray(np.zeros((2, 4, 4, 3), dtype=np.uint8)), ["a cat", "a kitten", "a dog"], np.array([0, 0, 1])
    )
    m = evaluate_captions(model, model.tokenizer, data, image_embeddings=E[:2])
    assert m["clipscore"] == pytest.approx(2.5 * (1 + 2**-0.5 + 1) / 3)
    assert m["retrieval"] == {"image_to_text_r1": 1.0, "text_to_image_r1": 1.0}


def test_real_data_from_files_through_a_real_model(tmp_path):
    """The loaders' images go through the model's own encoders: an ImageFolder and COCO captions."""
    torch.manual_seed(0)
    model, tokenizer = create_model("pcclip-vit-nano")
    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        for i in range(2):
            write_image(tmp_path / "folder" / name / f"{i}.png", colour, size=(40, 30))
    m = evaluate_classification(model, tokenizer, load_image_folder(tmp_path / "folder"), IMAGENET_TEMPLATES[:3])
    assert set(m) == {
        "zero_shot_accuracy",
        "zero_shot_top5_accuracy",
        "zero_shot_worst_class_accuracy",
        "zero_shot_per_class_accuracy",
    }
    assert m["zero_shot_top5_accuracy"] == 1.0  # two classes
    coco = load_coco_captions(make_coco(tmp_path))
    m = evaluate_captions(model, tokenizer, coco)
    images = encode_image_source(model, coco.images)[torch.from_numpy(coco.caption_owner)]
    cosines = (images * encode_texts(model, tokenizer, coco.captions)).sum(dim=-1)
    assert m["clipscore"] == pytest.approx(2.5 * cosines.clamp(min=0).mean().item(), rel=1e-5)
    assert set(m["retrieval_r5"]) == {"image_to_text_r5", "text_to_image_r5"}
