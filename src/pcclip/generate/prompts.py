"""The question put to the language model for an ordered pair, in completion or chat style.

The default is the paper's completion prompt (its method figure):

    Q: What is the visual difference between an image of {caption_1} and an image of {caption_2}?
    A:

Chat style asks the same question as a user message (for instruction-tuned models, whose chat
template the back end applies). Optional few-shot examples come first in either style.
"""

from __future__ import annotations

import json
import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PAPER_QUESTION = "What is the visual difference between an image of {caption_1} and an image of {caption_2}?"
PAPER_COMPLETION = "Q: {question}\nA:"

Message = dict[str, str]
# A rendered prompt: the text to continue (completion style) or the messages (chat style).
Prompt = str | tuple[Message, ...]


class FewShotExample(BaseModel):
    """A worked example shown before the question: two captions and the answer wanted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    caption_1: str
    caption_2: str
    answer: str


class PromptSettings(BaseModel):
    """How a pair becomes a prompt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    style: Literal["completion", "chat"] = Field(
        "completion", description="'completion': text the model continues (the paper); 'chat': user/assistant messages"
    )
    question: str = Field(PAPER_QUESTION, description="the question, with {caption_1} and {caption_2}")
    completion: str = Field(
        PAPER_COMPLETION, description="completion style: how the question is laid out, with {question}; the model continues it"
    )
    system: str | None = Field(None, description="chat style: a system message (None: the model's own default)")
    examples: tuple[FewShotExample, ...] = Field((), description="few-shot examples shown before the question")
    max_chars: int = Field(8000, ge=1, description="a longer rendered prompt is not sent; its pair fails with the reason")

    @field_validator("question")
    @classmethod
    def _question_fields(cls, value: str) -> str:
        return _check_fields(value, {"caption_1", "caption_2"})

    @field_validator("completion")
    @classmethod
    def _completion_fields(cls, value: str) -> str:
        return _check_fields(value, {"question"})


def _check_fields(template: str, wanted: set[str]) -> str:
    try:
        found = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as e:
        raise ValueError(f"not a valid template ({e}); write literal braces as {{{{ and }}}}") from None
    if found != wanted:
        raise ValueError(f"the template must use exactly the fields {sorted(wanted)}, found {sorted(found)}")
    return template


def clean_caption(text: str) -> str:
    """A caption as it goes into the question: outer whitespace and a final full stop removed."""
    text = text.strip()
    return text[:-1].rstrip() if text.endswith(".") else text


def render_prompt(caption_a: str, caption_b: str, settings: PromptSettings) -> Prompt:
    """The prompt asking how the image captioned caption_a differs from the one captioned caption_b."""

    def ask(c1: str, c2: str) -> str:
        return settings.question.format(caption_1=clean_caption(c1), caption_2=clean_caption(c2))

    if settings.style == "completion":
        shots = "".join(
            f"{settings.completion.format(question=ask(e.caption_1, e.caption_2))} {e.answer}\n\n" for e in settings.examples
        )
        return shots + settings.completion.format(question=ask(caption_a, caption_b))
    messages: list[Message] = [{"role": "system", "content": settings.system}] if settings.system else []
    for e in settings.examples:
        messages += [{"role": "user", "content": ask(e.caption_1, e.caption_2)}, {"role": "assistant", "content": e.answer}]
    messages.append({"role": "user", "content": ask(caption_a, caption_b)})
    return tuple(messages)


def prompt_text(prompt: Prompt) -> str:
    """The form stored with each record and hashed into its key: the text itself, or the chat
    messages as JSON."""
    return prompt if isinstance(prompt, str) else json.dumps(list(prompt), ensure_ascii=False)


def prompt_problem(prompt: Prompt, caption_a: str, caption_b: str, max_chars: int) -> str | None:
    """Why a prompt must not be sent (an empty caption, text that is not valid UTF-8, a prompt over
    max_chars), or None if it may."""
    for name, text in (("caption_a", caption_a), ("caption_b", caption_b)):
        if not clean_caption(text):
            return f"empty {name}"
    text = prompt_text(prompt)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:  # lone surrogates, e.g. from bytes decoded with errors="surrogateescape"
        return f"prompt is not valid UTF-8 text ({e.reason} at character {e.start})"
    if len(text) > max_chars:
        return f"prompt too long ({len(text)} characters > prompt.max_chars {max_chars})"
    return None
