"""Evaluate a model on the held-out set: every text and image is embedded once and shared by all
metrics. Metric names here are the names used in every results file and table."""

from __future__ import annotations

import torch

from .data import HeldoutSet
from .encode import encode_images, encode_texts
from .metrics import (
    accuracy_by_group,
    class_embeddings,
    clipscore,
    recall_at_k,
    sign_test_correct,
    zero_shot_accuracy,
)


def evaluate(model, tokenizer, heldout: HeldoutSet, image_embeddings: torch.Tensor | None = None) -> dict:
    """Returns {metric name: value}; pass `image_embeddings` to reuse a frozen image tower's outputs."""
    images = encode_images(model, heldout.images) if image_embeddings is None else image_embeddings
    prompts = [t.format(c) for task in heldout.zero_shot.values() for c in task.class_texts for t in heldout.templates]
    all_texts = heldout.diff_texts + heldout.captions + prompts
    texts = encode_texts(model, tokenizer, all_texts)
    n_diff, n_cap = len(heldout.diff_texts), len(heldout.captions)
    diff_texts, caption_texts, prompt_texts = texts[:n_diff], texts[n_diff : n_diff + n_cap], texts[n_diff + n_cap :]

    correct = sign_test_correct(diff_texts, images[heldout.diff_a], images[heldout.diff_b])
    results = {
        "difference_accuracy": correct.double().mean().item(),
        "difference_accuracy_by_attribute": accuracy_by_group(correct, heldout.diff_attributes),
    }

    zero_shot, offset, n_templates = {}, 0, len(heldout.templates)
    for name, task in heldout.zero_shot.items():
        n_prompts = len(task.class_texts) * n_templates
        classes = class_embeddings(prompt_texts[offset : offset + n_prompts].view(len(task.class_texts), n_templates, -1))
        offset += n_prompts
        zero_shot[name] = zero_shot_accuracy(images[task.image_index], torch.from_numpy(task.labels), classes)
    results["zero_shot_accuracy"] = sum(zero_shot.values()) / len(zero_shot)
    results["zero_shot_accuracy_by_task"] = zero_shot

    caption_images = images[heldout.caption_index]
    results["clipscore"] = clipscore(caption_images, caption_texts)
    results["retrieval"] = {
        "image_to_text_r1": recall_at_k(caption_images, caption_texts, 1),
        "text_to_image_r1": recall_at_k(caption_texts, caption_images, 1),
    }
    return results
