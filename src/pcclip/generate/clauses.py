"""Which image a comparison names where: the references to "the first image", "image 2", "the
latter picture", ... that the agreement scorer reads, which image a sentence names first, and the
same sentence with its two clauses swapped.

A writer that always says "image 1 has X, image 2 has Y" lets a finetune learn which words come
first instead of which image they belong to (README, 'Which LLM'). Swapping the clauses of some of
its sentences ("image 2 has Y, image 1 has X") says the same thing with the word order broken
(`finetune.swap_clauses`).
"""

from __future__ import annotations

import re

FIRST, SECOND = 0, 1

_NOUN = r"(?:\s+(?:image|picture|photo|scene|one))?"
IMAGE_REFS = (
    (FIRST, re.compile(rf"\b(?:first|former|1st){_NOUN}\b|\b(?:image|picture|photo|scene)\s+(?:1|one|a)\b")),
    (SECOND, re.compile(rf"\b(?:second|latter|2nd){_NOUN}\b|\b(?:image|picture|photo|scene)\s+(?:2|two|b)\b")),
)
# Where a sentence about both images splits into one clause per image: "X, Y", "X; Y", "X where Y", ...
_JOINS = re.compile(r"\s+(?:where|whereas|while|whilst|but)\s+|\s*[;,]\s+")
# A clause "starts by naming its image" when the name comes first, after at most these words.
_LEAD = re.compile(r"(?:(?:in|on|for|with|and)\s+)?(?:the\s+)?")


def first_named(text: str) -> int | None:
    """The image a sentence names first (FIRST, SECOND), or None where it names neither."""
    found = [(m.start(), image) for image, pattern in IMAGE_REFS if (m := pattern.search(text.lower()))]
    return min(found)[1] if found else None


def _images(text: str) -> set[int]:
    return {image for image, pattern in IMAGE_REFS if pattern.search(text.lower())}


def _starts_naming(clause: str) -> bool:
    lower = clause.lower()
    start = _LEAD.match(lower).end()  # type: ignore[union-attr]  # (it matches the empty string)
    return any(pattern.match(lower, start) for _, pattern in IMAGE_REFS)


def swap_clauses(text: str) -> str | None:
    """`text` said with its two clauses in the other order, where it is one clause about one image
    joined to one about the other that starts by naming it ("image 1 has red circles, image 2 has
    blue ones" -> "image 2 has blue ones, image 1 has red circles"; "the first image has X where the
    second image has Y" -> "the second image has Y where the first image has X"); None where it is
    not (one image, a list whose split is ambiguous, ...): such a sentence is not changed."""
    body = text.rstrip()
    end = "." if body.endswith(".") else ""
    body = body.removesuffix(".")
    for join in _JOINS.finditer(body):  # the first join after which the other image is named
        head, tail = body[: join.start()], body[join.end() :]
        one, other = _images(head), _images(tail)
        if len(one) == len(other) == 1 and one != other and _starts_naming(head) and _starts_naming(tail):
            if head[:1].isupper():
                tail, head = tail[:1].upper() + tail[1:], head[:1].lower() + head[1:]
            return f"{tail}{join.group(0)}{head}{end}"
    return None
