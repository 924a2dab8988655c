import torch
import torch.nn.functional as F

from pcclip.config import FinetuneSettings
from pcclip.finetune import finetune_pc, select_trainable
from pcclip.losses import PCContrastiveLoss
from pcclip.models import create_model

TINY = "pcclip-vit-nano"


def test_select_trainable_counts_and_names():
    model, _ = create_model(TINY)
    total = sum(p.numel() for p in model.parameters())
    trainable, frozen = select_trainable(model, "text-blocks")
    blocks = sum(p.numel() for n, p in model.named_parameters() if n.startswith("transformer.resblocks."))
    assert (trainable, frozen) == (blocks, total - blocks)
    trainable, _ = select_trainable(model, "text")
    assert not any(p.requires_grad for p in model.visual.parameters())
    assert model.token_embedding.weight.requires_grad and not model.logit_scale.requires_grad
    assert trainable > blocks


def test_finetune_lowers_the_difference_loss_and_leaves_the_image_tower():
    torch.manual_seed(0)
    model, tokenizer = create_model(TINY)
    visual_before = {k: v.clone() for k, v in model.visual.state_dict().items()}
    images = F.normalize(torch.randn(6, model.visual.output_dim), dim=-1)
    pairs = [(0, 1), (2, 3), (4, 5), (1, 0), (3, 2), (5, 4)]
    sentences = ["first larger", "first more", "first left", "second larger", "second more", "second left"]
    settings = FinetuneSettings(trainable="text", epochs=40, batch_size=6, lr=3e-3, warmup_steps=0)

    def loss() -> float:
        with torch.no_grad():
            text = model.encode_text(tokenizer(sentences))
            a, b = zip(*pairs)
            return PCContrastiveLoss()(images[list(a)], images[list(b)], text).item()

    before = loss()
    finetune_pc(model, tokenizer, images, pairs, sentences, settings, seed=0)
    assert loss() < before - 0.1
    assert all(torch.equal(v, model.visual.state_dict()[k]) for k, v in visual_before.items())
