"""Swapping a comparison's two clauses: exact outputs on the forms the study's writers use, sentences
left alone where the split is not clear, the meaning kept (the agreement scorer's verdict), and the
finetune setting that swaps a seeded share of its sentences."""

import numpy as np
import pytest

from pcclip.config import FinetuneSettings
from pcclip.finetune import PairData, finetune_pc
from pcclip.generate.clauses import FIRST, SECOND, first_named, swap_clauses
from pcclip.generate.scoring import judge_sentence
from pcclip.models import create_model
from pcclip.world.scene import ATTRIBUTES, WorldConfig, perturb, plural, sample_scenes


@pytest.mark.parametrize(
    "sentence, swapped",
    [
        ("image 1 has red circles, image 2 has blue ones", "image 2 has blue ones, image 1 has red circles"),
        ("Image 1 has 2 pink diamonds, image 2 has 1 pink diamond.", "Image 2 has 1 pink diamond, image 1 has 2 pink diamonds."),
        (  # the rule's form: lists of caption words
            "the first image has medium-sized, hearts, upper where the second image has top, medium, diamonds",
            "the second image has top, medium, diamonds where the first image has medium-sized, hearts, upper",
        ),
        ("image 1 has red, small squares, image 2 has blue squares", "image 2 has blue squares, image 1 has red, small squares"),
        (
            "In image two the circle is green; in image one it is red.",
            "In image one it is red; in image two the circle is green.",
        ),
        ("the second image has blue, which the first image lacks", None),  # a relative clause: not two statements
        ("where the second picture has diamonds, the first picture has hearts", None),
        ("the shapes in the first image are bigger", None),
        ("Image 1: red circles. Image 2: blue circles", None),
    ],
)
def test_swap_clauses(sentence, swapped):
    assert swap_clauses(sentence) == swapped


def test_a_swapped_sentence_means_the_same_and_names_the_other_image_first():
    world, rng = WorldConfig(), np.random.default_rng(0)
    verdicts = []
    for k, a in enumerate(sample_scenes(100, 3, world)):
        b = perturb(a, ATTRIBUTES[k % 2], rng, world)  # shape or colour: said as values
        sentence = f"image 1 has {a.colour} {plural(a.shape)}, image 2 has {b.colour} {plural(b.shape)}"
        swapped = swap_clauses(sentence)
        assert first_named(sentence) == FIRST and first_named(swapped) == SECOND
        verdicts.append((judge_sentence(sentence, a, b).verdict, judge_sentence(swapped, a, b).verdict))
    assert {v for pair in verdicts for v in pair} == {"correct"}


def test_finetune_swaps_a_seeded_share_of_its_sentences():
    rng = np.random.default_rng(0)
    sentences = [f"image 1 has {k} circles, image 2 has {k + 1} circles" for k in range(8)] + ["the first is bigger"] * 4
    data = PairData(
        rng.integers(0, 256, size=(24, 32, 32, 3), dtype=np.uint8), [(2 * k, 2 * k + 1) for k in range(12)], sentences
    )
    logs: dict[float, list[str]] = {}
    for share in (0.0, 0.5, 1.0):
        model, tokenizer = create_model("pcclip-vit-nano")
        settings = FinetuneSettings(trainable="text", epochs=1, batch_size=4, swap_clauses=share)
        logs[share] = []
        finetune_pc(model, tokenizer, data, settings, seed=0, log=logs[share].append)
    assert not any("swap_clauses" in line for line in logs[0.0])
    assert "swap_clauses: 8 of 12 sentences swapped" in logs[1.0]  # every swappable one, never the others
    half = next(line for line in logs[0.5] if line.startswith("swap_clauses"))
    assert half != "swap_clauses: 0 of 12 sentences swapped" and half != "swap_clauses: 8 of 12 sentences swapped"
