"""The rule back end: a caption-to-caption difference writer with no language model (a lower bound).

It names the words each caption has that the other lacks: "the first image has two red circles on
the left where the second image has a blue square at the top" becomes "the first image has two,
red, circles, left where the second image has blue, square, top". It reads the captions, not the
prompt, so it is the same under every prompt setting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from .base import Backend, BackendConfig, Outcome, Request

# Words that carry no content of their own in a caption.
STOPWORDS = frozenset(
    "a an the of in on at to is are there this that with and or its it they their image picture photo "
    "photograph shows showing show we see has have some one 1 size placed found visible".split()
)


class RuleSettings(BackendConfig):
    backend: Literal["rule"] = "rule"


def content_words(caption: str) -> list[str]:
    """The caption's words in order, lower-cased, without stopwords or repeats."""
    words = []
    for word in re.findall(r"[a-z0-9'-]+", caption.lower()):
        if word not in STOPWORDS and word not in words:
            words.append(word)
    return words


def word_difference(caption_a: str, caption_b: str) -> str | None:
    """How caption a's words differ from caption b's, in one sentence; None if they have the same words."""
    words_a, words_b = content_words(caption_a), content_words(caption_b)
    only_a = [w for w in words_a if w not in words_b]
    only_b = [w for w in words_b if w not in words_a]
    if only_a and only_b:
        return f"the first image has {', '.join(only_a)} where the second image has {', '.join(only_b)}"
    if only_a:
        return f"the first image has {', '.join(only_a)}, which the second image lacks"
    if only_b:
        return f"the second image has {', '.join(only_b)}, which the first image lacks"
    return None


class RuleBackend(Backend):
    name = "rule"

    @property
    def model(self) -> str:
        return "word-difference-v1"  # bump the version when the rule changes, so caches do not mix

    def fingerprint(self) -> dict[str, Any]:
        return {}

    def key_inputs(self, request: Request) -> dict[str, Any]:
        return {"caption_a": request.pair.caption_a, "caption_b": request.pair.caption_b}

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Outcome]]:
        for index, request in enumerate(requests):
            text = word_difference(request.pair.caption_a, request.pair.caption_b)
            yield index, Outcome(text=text) if text else Outcome(error="the captions have the same content words")
