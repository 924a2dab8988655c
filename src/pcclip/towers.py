"""Which parameters each encoder choice finetunes: the one registry that the settings, the finetune
stage and the study read. Adding a choice is one entry here.

Patterns are regexes on parameter names of open_clip's CLIP (native text tower) and CustomTextCLIP
(a Hugging Face text tower under `text.`).
"""

from __future__ import annotations

from dataclasses import dataclass

_TEXT = r"^(text\.|token_embedding\.|positional_embedding$|transformer\.|ln_final\.|text_projection$)"
_IMAGE = r"^visual\."


@dataclass(frozen=True)
class EncoderChoice:
    pattern: str
    description: str


ENCODER_CHOICES: dict[str, EncoderChoice] = {
    # The paper: only the text transformer's blocks (no embeddings, final norm, projection or logit scale).
    "text-blocks": EncoderChoice(
        r"^(text\.transformer\.encoder\.layer\.|transformer\.resblocks\.)", "only the text transformer's blocks (the paper)"
    ),
    "text": EncoderChoice(_TEXT, "the whole text tower"),
    "image": EncoderChoice(_IMAGE, "the whole image tower"),
    "both": EncoderChoice(rf"{_IMAGE}|{_TEXT}", "both towers"),
}
IMAGE_TOWER_PREFIX = "visual."
