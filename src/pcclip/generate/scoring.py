"""Agreement with the ground truth: does a sentence about the ordered world pair (a, b) name an
attribute that really differs, and say it the right way round?

A keyword scorer. It splits the sentence into clauses (at commas, "while", "whereas", "but",
"than", "instead of", ...), finds which image each clause talks about ("the first image", "image 2",
"the former picture", ...), and reads two kinds of claims:
- values: a shape, colour, size word (small/medium/large), count (one..four) or position word
  (left, top, centre, ...) said of an image. Right if it holds for that image and not the other;
  swapped if it holds for the other and not that one; false if it holds for neither.
- comparatives: "bigger", "fewer", "further to the left", "higher", ... said of an image. Right if
  that image is visibly bigger (x1.25), has more objects, sits further left by the world's margin;
  swapped if the other image does; false if neither.
- changes: "the circles grow", "the number of stars increases", "the group moves to the left",
  "changes from red to blue": said of the change's destination (the second image, or Y in "from X
  to Y" / "between X and Y"); a "from V1 to V2" gives V1 to the origin and V2 to the destination.
- negated comparatives: "the circles in image 1 are not as large as in image 2" says image 1's are
  smaller ("not as many", "not as far left", "not as high" alike).
- relative sizes: size words said of both images ("small in image 1, large in image 2") compare them
  (the image with the bigger word must be visibly bigger), whatever the bins.
A clause naming no image inherits the previous clause's image within the same sentence, or the
other image after a contrast ("rather than red", "not blue", "than in image 2"). Where the text names
no image at all, a value word found in only one of the two captions stands for that image ("the
pink diamonds are smaller" is about the second image when only its caption says pink): the
comparative is judged, the anchoring word itself is not (it is right by construction). Restating the question ("the
difference between an image of <caption a> and an image of <caption b> is ...") names nothing: those
spans are removed first.

It cannot judge: words outside its lists ("crimson", "ball", "enormous"), negation beyond a leading
"not" or "not as ... as", objects other than the scene's group, comparatives when no image is named ("the circles are
larger than the squares"), or a sentence that is right for a reason other than the one it gives
(keywords are read, not meaning: "two hexagons are formed by arranging three" names both counts).
It was checked on hand-written sentences, on the world's own difference sentences in both phrasing
pools and its construction probe, and on 78 templates written by someone who never read them
(experiments/outside_paraphrases.toml): 99% of those true sentences correct, none called backwards,
none of the reversed ones called correct (tests/test_generate_scoring.py).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from ..world.scene import ATTRIBUTES, COLOURS, POSITION_MARGIN, SHAPES, SIZE_RATIO_MARGIN, Scene, differing_attributes, plural
from .clauses import FIRST, IMAGE_REFS, SECOND, first_named
from .prompts import clean_caption

if TYPE_CHECKING:
    from .pairs import PairRecord
    from .store import GenerationRecord

# Clause boundaries; the ones in _CONTRAST start a clause about the other image.
_SPLIT = re.compile(
    r"[,;:]|\.(?:\s|$)|\b(?:while|whereas|but|where|and|than|instead of|in place of|rather than|as opposed to|unlike|"
    r"compared (?:with|to)|relative to|not|whilst|however)\b"
)
_CONTRAST = ("than", "instead of", "in place of", "rather than", "as opposed to", "not")


def _words(*words: str) -> str:
    """A pattern for any of these whole words; a hyphen joins words ("medium-sized" is not "medium")."""
    return r"(?<![\w-])(?:" + "|".join(words) + r")(?![\w-])"


# (attribute, kind, value, pattern), most specific first: a span matched once is not matched again,
# so "more to the left" is a position, not a count.
_FURTHER = r"(?:further|farther|more|positioned more|shifted)(?: to(?:ward)?s? the)?"
_POSITION_CMP = {
    "left": _words(rf"{_FURTHER} left(?:ward)?", r"nearer the left edge", r"to the left of"),
    "right": _words(rf"{_FURTHER} right(?:ward)?", r"nearer the right edge", r"to the right of"),
    "up": _words(
        r"higher(?: up)?",
        r"(?:further|farther) up",
        r"(?:positioned )?more toward the top",
        r"shifted up(?:ward)?",
        r"nearer the top edge",
        r"above",
    ),
    "down": _words(
        r"lower(?: down)?(?!\s*(?:-|left|right|part|half|edge|corner|side))",
        r"(?:further|farther) down",
        r"(?:positioned )?more toward the bottom",
        r"shifted down(?:ward)?",
        r"nearer the bottom edge",
        r"below",
    ),
}
_SIZE_CMP = {
    "+": _words(r"larger", r"bigger", r"more sizeable", r"bulkier", r"heftier", r"greater in size"),
    "-": _words(r"smaller", r"tinier", r"more diminutive", r"less bulky", r"littler"),
}
_OBJECT_NOUNS = "|".join([*SHAPES, *map(plural, SHAPES), r"objects?", r"shapes?", r"figures?", r"items?", r"things?"])
_COUNT_PHRASES = {
    "+": _words(r"a greater number of", r"more numerous", r"a larger number of", r"a higher number of"),
    "-": _words(r"a lower number of", r"less numerous", r"a smaller number of"),
}
# Bare "more"/"less" count only shortly before an object noun: "more vibrant" is not a count.
_COUNT_CMP = {
    "+": rf"\bmore(?=(?:\s+[\w-]+){{0,2}}?\s+(?:{_OBJECT_NOUNS})\b)",
    "-": rf"\bfewer\b|\bless(?=(?:\s+[\w-]+){{0,2}}?\s+(?:{_OBJECT_NOUNS})\b)",
}
_SIZE_VALUES = {
    "small": _words("small", "little", "tiny", "smallish"),
    "medium": _words("medium", "medium-sized", "mid-sized", "moderately sized"),
    "large": _words("large", "big", "sizeable", "hefty", "huge"),
}
_PRONOUN_VERBS = "finds?|sees?|notices?|can|could|would|may|might|is|has|of|another"
_BEFORE_OBJECTS = rf"(?=(?:\s+[\w-]+){{0,2}}?\s+(?:{_OBJECT_NOUNS})\b)"
_NOT_BEFORE_IMAGES = (
    r"(?!(?:\s+[\w-]+)?\s+(?:images?|pictures?|photos?|photographs?|scenes?|times|ways|sides|kinds|types|"
    r"differences|dimensions|versions)\b)"
)
# A number counts unless it counts images ("the two images") or is part of a word ("3-dimensional");
# "one" counts only shortly before an object noun, and not as a pronoun ("one finds", "one of them").
_COUNT_VALUES = {
    1: rf"(?<![\w-])(?:one(?!\s+(?:{_PRONOUN_VERBS})\b){_BEFORE_OBJECTS}|single|lone|1{_NOT_BEFORE_IMAGES})(?![\w-])",
    2: rf"(?<![\w-])(?:(?:two|2){_NOT_BEFORE_IMAGES}|pair of|couple of)(?![\w-])",
    3: rf"(?<![\w-])(?:(?:three|3){_NOT_BEFORE_IMAGES}|trio)(?![\w-])",
    4: rf"(?<![\w-])(?:(?:four|4){_NOT_BEFORE_IMAGES}|quartet)(?![\w-])",
}
_POSITION_VALUES = {
    "left": _words("left"),
    "right": _words("right"),
    "top": _words("top", "upper"),
    "bottom": _words("bottom", "lower"),
    "centre": _words("centre", "center", "middle", "central"),
}
_MENTIONS = {
    "shape": _words("shapes?"),
    "colour": _words("colou?rs?", "colou?red", "hues?"),
    "size": _words("sizes?", "sized"),
    "count": _words("number", "count", "many", "quantity"),
    "position": _words("positions?", "positioned", "locations?", "located", "placement", "placed"),
}
# Verbs of change: the group changes from one image (the origin) to the other (the destination), so the
# comparative is said of the destination: "the circles grow" = the destination's are bigger. Read
# before the comparatives and values, so that "moves to the left" is a change, not a place ("are
# shifted left" stays a comparative of its clause's image, as in "are further left").
_MOVE = r"\b(?:move[sd]?|moving|slid(?:e|es|ing)?|drift(?:s|ed)?)\s+(?:[\w-]+\s+)?(?:to(?:ward)?s?\s+the\s+)?"
_NUMBER_CHANGE = r"\b(?:number|count)\b[^,;.]*?\b"
_CHANGE = {
    ("count", "+"): rf"{_NUMBER_CHANGE}(?:increase[sd]?|rises|rose|goes up|went up|grows|grew)\b|"
    + _words(r"multipl(?:y|ies|ied)", r"proliferated?"),
    ("count", "-"): rf"{_NUMBER_CHANGE}(?:decrease[sd]?|drops|dropped|falls|fell|goes down|went down)\b|"
    + _words(r"dwindled?(?: away)?", r"thin(?:s|ned)? out"),
    ("size", "+"): _words(r"grow(?:s|n)?", r"grew", r"enlarged?", r"swell(?:s|ed)?", r"scaled up", r"expand(?:s|ed)?"),
    ("size", "-"): _words(r"shrink(?:s)?", r"shrank", r"shrunk(?:en)?", r"reduced in size", r"scaled down", r"contract(?:s|ed)?"),
    ("position", "left"): rf"{_MOVE}left(?:ward)?\b",
    ("position", "right"): rf"{_MOVE}right(?:ward)?\b",
    ("position", "up"): rf"{_MOVE}(?:up(?:ward)?|higher)\b|" + _words(r"rise[sn]?", r"rose"),
    ("position", "down"): rf"{_MOVE}(?:down(?:ward)?|lower)\b|" + _words(r"sinks?", r"sank", r"sunk"),
}
# "from the first image to the second", "between picture one and picture two": origin, then destination.
_CHANGE_FRAME = re.compile(r"\b(?:from|between)\s+(?:the\s+)?$")
_FRAME_JOIN = re.compile(r"^\s+(?:to|and)\s+(?:the\s+)?$")
_FROM_VALUE = re.compile(r"\bfrom\s+(?:being\s+)?(?:[\w-]+\s+)?$")
_TO_VALUE = re.compile(r"\bto\s+(?:being\s+)?(?:[\w-]+\s+)?$")
_TO = re.compile(r"\bto\b")
# "not as large as": the opposite comparative, said of the image named before the "not" (which starts
# a clause about the other image).
_AS = r"\bnot\s+(?:quite\s+)?(?:as|so)\s+"
_NEGATED = {
    ("size", "-"): rf"{_AS}(?:large|big|sizeable|bulky)\s+as\b",
    ("size", "+"): rf"{_AS}(?:small|little|tiny)\s+as\b",
    ("count", "-"): rf"{_AS}many\b",
    ("count", "+"): rf"{_AS}few\b",
    ("position", "right"): rf"{_AS}far\s+(?:to\s+the\s+)?left\b",
    ("position", "left"): rf"{_AS}far\s+(?:to\s+the\s+)?right\b",
    ("position", "down"): rf"{_AS}(?:high(?:\s+up)?|far\s+up)\b",
    ("position", "up"): rf"{_AS}(?:low(?:\s+down)?|far\s+down)\b",
}
_PATTERNS: list[tuple[str, str, Any, re.Pattern]] = [
    *((a, "negated", d, re.compile(p)) for (a, d), p in _NEGATED.items()),
    *((a, "change", d, re.compile(p)) for (a, d), p in _CHANGE.items()),
    *(("count", "cmp", d, re.compile(p)) for d, p in _COUNT_PHRASES.items()),
    *(("position", "cmp", d, re.compile(p)) for d, p in _POSITION_CMP.items()),
    *(("size", "cmp", d, re.compile(p)) for d, p in _SIZE_CMP.items()),
    *(("count", "cmp", d, re.compile(p)) for d, p in _COUNT_CMP.items()),
    *(("shape", "value", s, re.compile(_words(s, plural(s)))) for s in SHAPES),
    *(("colour", "value", c, re.compile(_words(c))) for c in COLOURS),
    *(("size", "value", v, re.compile(p)) for v, p in _SIZE_VALUES.items()),
    *(("count", "value", v, re.compile(p)) for v, p in _COUNT_VALUES.items()),
    *(("position", "value", v, re.compile(p)) for v, p in _POSITION_VALUES.items()),
    *((a, "mention", None, re.compile(p)) for a, p in _MENTIONS.items()),
]


@dataclass(frozen=True)
class Claim:
    """Something the sentence says: a value or comparative of one attribute, about one image (or None)."""

    attribute: str
    kind: str  # "value", "cmp", "mention", or "anchor" (a value from one caption, standing for its image)
    value: Any
    image: int | None
    start: int


@dataclass(frozen=True)
class Judgement:
    """The verdict on one sentence, the first that applies: "wrong-direction" (a difference the wrong
    way round), "false" (a claim true of neither image, or a difference that is not there),
    "correct" (a real difference the right way round), "unjudged" (a real difference named with no
    direction to check: "they differ in colour"), "wrong-attribute" (only attributes that do not
    differ are named), "no-attribute"."""

    verdict: str
    named: tuple[str, ...]  # attributes it names as differing (see judge_sentence)
    names_difference: bool  # it names at least one attribute that really differs
    right: int
    swapped: int
    false: int


def _claims(text: str, captions: Sequence[str] = ()) -> list[Claim]:
    text = text.lower()
    ref_matches = [(m, image) for image, pattern in IMAGE_REFS for m in pattern.finditer(text)]
    refs = [(m.start(), image) for m, image in ref_matches]
    taken = [False] * len(text)
    for m, _ in ref_matches:  # "image one" names an image, not a count
        taken[m.start() : m.end()] = [True] * (m.end() - m.start())
    found = []  # (attribute, kind, value, start, anchored image)
    for attribute, kind, value, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if not any(taken[m.start() : m.end()]):
                taken[m.start() : m.end()] = [True] * (m.end() - m.start())
                anchor = _caption_anchor(pattern, captions) if kind == "value" and not ref_matches else None
                found.append((attribute, kind, value, m.start(), anchor))
    if not ref_matches:  # no image named: words from one caption only stand for that image
        refs = [(start, anchor) for *_, start, anchor in found if anchor is not None]
    clauses = _clause_images(text, refs)
    origin, destination = _change_images(text, ref_matches)
    claims = []
    for attribute, kind, value, start, anchor in found:
        if kind == "change":
            claims.append(Claim(attribute, "cmp", value, destination, start))
        elif kind == "negated":  # said of the clause before the "not"
            claims.append(Claim(attribute, "cmp", value, _image_at(max(start - 1, 0), clauses, refs), start))
        else:
            claims.append(
                Claim(attribute, "anchor" if anchor is not None else kind, value, _image_at(start, clauses, refs), start)
            )
    return sorted(_transitions(text, claims, origin, destination), key=lambda c: c.start)


def _change_images(text: str, ref_matches: list) -> tuple[int, int]:
    """(origin, destination) of a change: the images of "from X to Y" / "between X and Y", else the
    first image, then the second (a change is read in the order the pair is shown)."""
    ordered = sorted(ref_matches, key=lambda r: r[0].start())
    for (m1, first), (m2, second) in pairwise(ordered):
        if first != second and _CHANGE_FRAME.search(text[: m1.start()]) and _FRAME_JOIN.match(text[m1.end() : m2.start()]):
            return first, second
    return FIRST, SECOND


def _transitions(text: str, claims: list[Claim], origin: int, destination: int) -> list[Claim]:
    """Values of "goes from X to Y" belong to the origin (X) and the destination (Y), whichever clause
    they sit in: X where a "to" follows it, Y only after such an X of the same attribute."""
    result = list(claims)
    for i, before in enumerate(claims):
        if before.kind != "value" or not _FROM_VALUE.search(text[: before.start]) or not _TO.search(text, before.start):
            continue
        result[i] = replace(before, image=origin)
        after = next((j for j, c in enumerate(claims) if c.start > before.start and c.attribute == before.attribute), None)
        if after is not None and claims[after].kind == "value" and _TO_VALUE.search(text[: claims[after].start]):
            result[after] = replace(claims[after], image=destination)
    return result


def _clause_images(text: str, refs: list[tuple[int, int]]) -> list[tuple[int, int, int | None]]:
    """(start, end, image) of each clause: the last image named in it, else the previous clause's
    image in the same sentence (the other one after a contrast), else None."""
    bounds = [0, *sorted({m.start() for m in _SPLIT.finditer(text)}), len(text)]
    clauses: list[tuple[int, int, int | None]] = []
    previous: int | None = None
    for start, end in pairwise(bounds):
        clause = text[start:end]
        if clause.startswith("."):  # a new sentence inherits nothing
            previous = None
        inside = sorted(r for r in refs if start <= r[0] < end)
        image: int | None
        if inside:
            image = inside[-1][1]
        elif previous is not None and clause.lstrip(",;: ").startswith(_CONTRAST):
            image = 1 - previous
        else:
            image = previous
        clauses.append((start, end, image))
        previous = image
    return clauses


def _image_at(position: int, clauses: list[tuple[int, int, int | None]], refs: list[tuple[int, int]]) -> int | None:
    start, end, image = next(c for c in clauses if c[0] <= position < c[1])
    inside = {img for pos, img in refs if start <= pos < end}
    if len(inside) > 1:  # both images in one clause: the nearer name
        return min((abs(pos - position), img) for pos, img in refs if start <= pos < end)[1]
    return image


def _caption_anchor(pattern: re.Pattern, captions: Sequence[str]) -> int | None:
    """The image whose caption alone has this word, if exactly one caption has it."""
    found = [bool(pattern.search(c.lower())) for c in captions]
    return found.index(True) if len(found) == 2 and sum(found) == 1 else None


def _holds(scene: Scene, attribute: str, value: Any) -> bool:
    if attribute == "size":
        return scene.size_bin == value
    if attribute == "position":
        vertical, horizontal = scene.region
        return value in (horizontal, vertical) or (value == "centre" and scene.region == ("middle", "centre"))
    return getattr(scene, attribute) == value


def _compares(subject: Scene, other: Scene, attribute: str, direction: str) -> bool:
    """Whether the subject is visibly more/less (or further in `direction`) than the other."""
    if attribute == "size":
        big, small = (subject, other) if direction == "+" else (other, subject)
        return big.size >= SIZE_RATIO_MARGIN * small.size
    if attribute == "count":
        return subject.count > other.count if direction == "+" else subject.count < other.count
    delta = {"left": other.x - subject.x, "right": subject.x - other.x, "up": other.y - subject.y, "down": subject.y - other.y}
    return delta[direction] >= POSITION_MARGIN


_OPPOSITE = {"+": "-", "-": "+", "left": "right", "right": "left", "up": "down", "down": "up"}


_WORD = re.compile(r"[\w'-]+")
_ECHO_LEAD = ("image", "picture", "photo")


def without_echo(text: str, captions: Sequence[str]) -> str:
    """The text without restatements of the question: after "image of" / "picture with" (or where the
    caption itself starts so), the longest run of words copying a caption from its start, at least
    three words or the whole caption, punctuation ignored. Echoing the question names both images'
    values in order without saying anything about their difference."""
    words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]
    cut = []
    for caption in captions:
        target = [w.lower() for w in _WORD.findall(clean_caption(caption))]
        if not target:
            continue
        starts_as_echo = len(target) > 2 and target[1] in _ECHO_LEAD and target[2] in ("of", "with")
        for i in range(len(words)):
            led = i >= 2 and words[i - 2][2] in _ECHO_LEAD and words[i - 1][2] in ("of", "with")
            if not (led or starts_as_echo):
                continue
            length = 0
            while i + length < len(words) and length < len(target) and words[i + length][2] == target[length]:
                length += 1
            if length >= min(3, len(target)):
                cut.append((words[i - 2][0] if led else words[i][0], words[i + length - 1][1]))
    merged: list[list[int]] = []
    for start, end in sorted(cut):  # both captions may match the same words
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in reversed(merged):
        text = text[:start] + "..." + text[end:]
    return text


_SIZE_RANK = {name: rank for rank, name in enumerate(_SIZE_VALUES)}


def _relative_sizes(claims: list[Claim]) -> list[Claim]:
    """Size words said of both images in contrast ("small circles in image 1, large ones in image 2")
    compare the two: the image with the bigger word is the bigger one, whatever the size bins."""
    sizes = [c for c in claims if c.attribute == "size" and c.kind == "value" and c.image is not None]
    ranks = {c.image: _SIZE_RANK[c.value] for c in reversed(sizes)}  # each image's first size word
    if len(ranks) < 2 or ranks[FIRST] == ranks[SECOND]:
        return claims
    bigger = FIRST if ranks[FIRST] > ranks[SECOND] else SECOND
    comparison = Claim("size", "cmp", "+", bigger, min(c.start for c in sizes))
    return sorted([c for c in claims if c not in sizes] + [comparison], key=lambda c: c.start)


def judge_sentence(text: str, a: Scene, b: Scene, captions: Sequence[str] = ()) -> Judgement:
    """How `text`, said of the ordered pair (first a, second b), agrees with the ground truth. The
    pair's captions (caption_a, caption_b), when given, remove restatements of the question and
    anchor values in a text that names no image."""
    differing = set(differing_attributes(a, b))
    claims = _relative_sizes(_claims(without_echo(text, captions), captions))
    # What names an attribute as differing: a generic word ("colour"), a comparative, or a value said
    # of one image that is not true of both. Caption words said of no image only restate the captions.
    naming = [
        c
        for c in claims
        if c.kind in ("mention", "cmp")
        or (
            c.kind == "value"
            and c.image is not None
            and not (_holds(a, c.attribute, c.value) and _holds(b, c.attribute, c.value))
        )
    ]
    named = tuple(attr for attr in ATTRIBUTES if any(c.attribute == attr for c in naming))
    right = swapped = false = 0
    for claim in claims:
        if claim.image is None or claim.kind in ("mention", "anchor"):  # an anchor is right by construction
            continue
        own, other = (a, b) if claim.image == FIRST else (b, a)
        if claim.kind == "value":
            here, there = _holds(own, claim.attribute, claim.value), _holds(other, claim.attribute, claim.value)
            if here and not there:
                right += claim.attribute in differing  # a true value that is no visible difference says nothing
            elif there and not here:
                swapped += 1
            elif not here:
                false += 1
        elif _compares(own, other, claim.attribute, claim.value):
            right += 1
        elif _compares(own, other, claim.attribute, _OPPOSITE[claim.value]):
            swapped += 1
        else:
            false += 1
    names_difference = bool(differing & set(named))
    if swapped:
        verdict = "wrong-direction"
    elif false:
        verdict = "false"
    elif right:
        verdict = "correct"
    elif names_difference:
        verdict = "unjudged"
    else:
        verdict = "wrong-attribute" if named else "no-attribute"
    return Judgement(verdict, named, names_difference, right, swapped, false)


@dataclass
class AgreementReport:
    """Agreement of a set of sentences with the ground truth: how many name a real difference, how
    many are correct and how many of those name the second image first, the verdict counts, and the
    share correct by the attribute that differs (for pairs differing in exactly one attribute)."""

    total: int = 0
    names_difference: int = 0
    correct: int = 0
    correct_second_first: int = 0  # correct sentences that name the second image first
    verdicts: dict[str, int] = field(default_factory=dict)
    correct_by_attribute: dict[str, tuple[int, int]] = field(default_factory=dict)  # attribute -> (correct, pairs)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgreementReport:
        by_attribute = {a: (c, t) for a, (c, t) in data["correct_by_attribute"].items()}
        return cls(**{**data, "correct_by_attribute": by_attribute})

    def lines(self) -> list[str]:
        n = max(self.total, 1)
        out = [
            f"agreement on {self.total} sentences: names a real difference {self.names_difference / n:.1%}, "
            f"correct (right attribute, right way round) {self.correct / n:.1%}",
            f"  of the correct, name the second image first: {self.correct_second_first / max(self.correct, 1):.1%} "
            "(a writer that always names one image first teaches word position, not direction)",
            "  verdicts: " + ", ".join(f"{k} {v}" for k, v in self.verdicts.items()),
        ]
        if self.correct_by_attribute:
            out.append(
                "  correct by the attribute that differs: "
                + ", ".join(f"{a} {c}/{t}" for a, (c, t) in self.correct_by_attribute.items())
            )
        return out


def agreement(records: Sequence[GenerationRecord], pairs: Sequence[PairRecord], text: str = "cleaned") -> AgreementReport:
    """Score each completed record's `text` field ("cleaned" or "raw") against its world pair."""
    by_id = {p.pair_id: p for p in pairs}
    report = AgreementReport()
    verdicts: Counter[str] = Counter()
    by_attribute: dict[str, list[int]] = {}
    for record in records:
        sentence = getattr(record, text)
        if record.status != "ok" or sentence is None:
            continue
        a, b = by_id[record.pair_id].scenes()
        judgement = judge_sentence(sentence, a, b, (record.caption_a, record.caption_b))
        report.total += 1
        report.names_difference += judgement.names_difference
        report.correct += judgement.verdict == "correct"
        report.correct_second_first += judgement.verdict == "correct" and first_named(sentence) == SECOND
        verdicts[judgement.verdict] += 1
        differing = differing_attributes(a, b)
        if len(differing) == 1:
            tally = by_attribute.setdefault(differing[0], [0, 0])
            tally[0] += judgement.verdict == "correct"
            tally[1] += 1
    report.verdicts = dict(verdicts.most_common())
    report.correct_by_attribute = {a: (by_attribute[a][0], by_attribute[a][1]) for a in ATTRIBUTES if a in by_attribute}
    return report
