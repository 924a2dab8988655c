"""PC-CLIP finetuning, the paper's way: image embeddings precomputed once (the image tower is
frozen), the text tower (or only its transformer blocks) trained with the contrastive difference loss.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from .config import FinetuneSettings
from .encode import fit_tokens, tokenize
from .losses import PCContrastiveLoss
from .optim import epoch_batches, steps_per_run, train_loop

# Parameter-name patterns per choice, for open_clip's CLIP (native text tower) and CustomTextCLIP
# (HF text tower under `text.`). Blocks exclude embeddings, final norm, projection and logit scale.
TRAINABLE_PATTERNS = {
    "text": r"^(text\.|token_embedding\.|positional_embedding$|transformer\.|ln_final\.|text_projection$)",
    "text-blocks": r"^(text\.transformer\.encoder\.layer\.|transformer\.resblocks\.)",
}


def select_trainable(model: torch.nn.Module, choice: str) -> tuple[int, int]:
    """Set requires_grad by `choice`; returns (trainable, frozen) parameter counts."""
    pattern = re.compile(TRAINABLE_PATTERNS[choice])
    trainable = frozen = 0
    for name, param in model.named_parameters():
        param.requires_grad_(bool(pattern.search(name)))
        if param.requires_grad:
            trainable += param.numel()
        else:
            frozen += param.numel()
    if trainable == 0:
        raise ValueError(f"trainable={choice!r} matches no parameter of {type(model).__name__}")
    return trainable, frozen


def finetune_pc(
    model,
    tokenizer,
    image_embeddings: torch.Tensor,
    pairs: Sequence[tuple[int, int]],
    sentences: Sequence[str],
    settings: FinetuneSettings,
    seed: int,
) -> list[float]:
    """Finetune `model` in place so that normalize(v[a] - v[b]) aligns with text(sentence) for each
    pair; `image_embeddings` are the frozen image tower's outputs, indexed by the pairs."""
    torch.manual_seed(seed)
    select_trainable(model, settings.trainable)
    params = [p for p in model.parameters() if p.requires_grad]
    ids = tokenize(model, tokenizer, sentences)
    index_a = torch.tensor([a for a, _ in pairs])
    index_b = torch.tensor([b for _, b in pairs])
    loss_fn = PCContrastiveLoss(settings.temperature)

    def compute_loss(batch: torch.Tensor) -> torch.Tensor:
        text = model.encode_text(fit_tokens(model, ids[batch]))
        return loss_fn(image_embeddings[index_a[batch]], image_embeddings[index_b[batch]], text)

    model.train()
    losses = train_loop(
        params,
        epoch_batches(len(pairs), settings.batch_size, settings.epochs, seed),
        compute_loss,
        total_steps=steps_per_run(len(pairs), settings.batch_size, settings.epochs),
        lr=settings.lr,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_steps,
        grad_clip=settings.grad_clip,
        desc=f"PC-CLIP finetune (seed {seed})",
    )
    model.eval()
    for param in model.parameters():
        param.requires_grad_(True)
    return losses
