"""The paper's difference-based classification tasks on real data, as data: for each attribute, the
sentences that can say how a first image differs from a second, and which of them is true of which
ordered pair. pcclip.real_eval samples the pairs and scores them (the sign test, and a K-way choice).

Sentence s of an attribute is true of the ordered pair (i, j) when scores[i, s] - scores[j, s] >=
margin; NaN is unknown and never true. Two kinds of attribute:

  ordered      a value per image (AwA2 predicate strength, log size, CUB size level); two sentences,
               'more' (scores = value) and 'less' (scores = -value): "The first animal is bigger than
               the second." is true when the first's value exceeds the second's by the margin, and the
               reversed order is then described by the 'less' sentence.
  categorical  one sentence per value (a colour), scores 1 where the image has it, 0 where it surely
               has not, margin 1: "The first flower is more blue than the second." is true when the
               first is blue and the second is not. A pair whose first is blue and second yellow is
               described by that sentence, and its reversal by "The first flower is more yellow than
               the second.": the sign test needs a sentence about how the first differs from the
               second whose reversal is the other order, which a sentence naming both colours ("the
               first is blue while the second is yellow") would not be.

Tasks:
  AwA2 predicates   ordered, per predicate; the continuous matrix (strengths 0..100, pairs differing by
                    `margin`; -1 marks a missing value, as the dataset's own scripts note) when present,
                    else the binary one; sentences from a template and data/awa2_comparatives.csv
  CIFAR-100 size    ordered on log(size in metres) from data/cifar100_sizes.csv, pairs whose classes
                    differ in size by at least `size_ratio`; scene classes (sea, cloud, ...) left out
  Flowers-102       categorical on the class's dominant colour (data/flowers102_colours.csv); classes
  colour            grown in several colours left out unless `include_varied`
  CUB attributes    per-image annotations with certainty >= 3 ('probably' or 'definitely'):
                    categorical colour groups (wing colour, ...) and ordered groups (size, bill length)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import PcclipError
from .awa2 import AwA2Data
from .base import LabelledImages
from .cub import CubAttributeLabels
from .tables import awa2_comparatives, cifar100_sizes, flowers102_classes

CUB_CONFIDENT = 3  # certainty_id 3 'probably', 4 'definitely' (1 'not visible', 2 'guessing')


@dataclass(frozen=True)
class DifferenceAttribute:
    name: str
    sentences: tuple[str, ...]
    scores: np.ndarray  # float64 (images, sentences); NaN: unknown
    margin: float

    def true_of(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """bool (pairs, sentences): sentence s is true of the ordered pair (first[k], second[k])."""
        with np.errstate(invalid="ignore"):
            return self.scores[first] - self.scores[second] >= self.margin


def ordered_attribute(name: str, values: np.ndarray, more: str, less: str, margin: float) -> DifferenceAttribute:
    """Two sentences: `more` true when the first's value exceeds the second's by `margin`, `less`
    when it falls short by as much. NaN values are unknown."""
    values = np.asarray(values, dtype=np.float64)
    return DifferenceAttribute(name, (more, less), np.stack([values, -values], axis=1), margin)


def categorical_attribute(name: str, sentences: tuple[str, ...], scores: np.ndarray) -> DifferenceAttribute:
    """One sentence per value; scores 1 (has it), 0 (has it not) or NaN (unknown)."""
    return DifferenceAttribute(name, sentences, np.asarray(scores, dtype=np.float64), 1.0)


# --- AwA2 -----------------------------------------------------------------------------------------------


def awa2_predicate_attributes(
    awa: AwA2Data, predicates: tuple[str, ...], template: str, margin: float
) -> tuple[DifferenceAttribute, ...]:
    """One ordered attribute per predicate, its sentences `template` with {more} filled by the
    predicate's more / less words."""
    table = awa2_comparatives()
    attributes = []
    for predicate in predicates:
        if predicate not in table:
            raise PcclipError(f"AwA2: no comparative words for predicate {predicate!r} in data/awa2_comparatives.csv")
        more, less = table[predicate]
        if awa.continuous is not None:
            values = awa.image_values(predicate, continuous=True)
            values[values < 0] = np.nan  # -1: not rated (antelope's colours in the official matrix)
            step = margin
        else:
            values, step = awa.image_values(predicate), 1.0
        attributes.append(ordered_attribute(predicate, values, template.format(more=more), template.format(more=less), step))
    return tuple(attributes)


# --- CIFAR-100 ------------------------------------------------------------------------------------------


def cifar100_size_attribute(data: LabelledImages, template: str, size_ratio: float) -> DifferenceAttribute:
    """Ordered on log size: pairs whose classes' typical sizes differ by `size_ratio` or more."""
    sizes = cifar100_sizes()
    missing = [name for name in data.class_names if name not in sizes]
    if missing:
        raise PcclipError(f"CIFAR-100 size: classes not in data/cifar100_sizes.csv: {', '.join(missing)}")
    per_class = np.array([np.nan if sizes[c].scene else np.log(sizes[c].metres) for c in data.class_names])
    return ordered_attribute(
        "size",
        per_class[data.labels],
        template.format(more="bigger"),
        template.format(more="smaller"),
        float(np.log(size_ratio)),
    )


# --- Flowers-102 ----------------------------------------------------------------------------------------


def flowers102_colour_attribute(data: LabelledImages, template: str, include_varied: bool = False) -> DifferenceAttribute:
    """Categorical on each class's dominant colour; classes grown in several colours are unknown
    (left out) unless include_varied."""
    classes = flowers102_classes()
    if len(data.class_names) != len(classes):
        raise PcclipError(f"Flowers-102 colour: {len(data.class_names)} classes, data/flowers102_colours.csv has {len(classes)}")
    colours = tuple(dict.fromkeys(c.colour for c in classes))
    per_class = np.array([[float(c.colour == colour) for colour in colours] for c in classes])
    per_class[[c.varies and not include_varied for c in classes]] = np.nan
    return categorical_attribute("colour", tuple(template.format(colour=c) for c in colours), per_class[data.labels])


# --- CUB-200-2011 ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CubGroup:
    """A question of CUB's annotation: the attributes named '<prefix>::<value>'. A colour group has
    one sentence per value (`more` with {value}); an ordered group has `levels` (least to most) and a
    `more` and a `less` sentence."""

    prefix: str
    more: str
    less: str = ""
    levels: tuple[str, ...] = ()


CUB_GROUPS = {
    "wing_color": CubGroup("has_wing_color", "The first bird's wings are more {value} than the second's."),
    "primary_color": CubGroup("has_primary_color", "The first bird is more {value} than the second."),
    "breast_color": CubGroup("has_breast_color", "The first bird's breast is more {value} than the second's."),
    "crown_color": CubGroup("has_crown_color", "The first bird's crown is more {value} than the second's."),
    "size": CubGroup(
        "has_size",
        "The first bird is bigger than the second.",
        "The first bird is smaller than the second.",
        ("very_small_(3_-_5_in)", "small_(5_-_9_in)", "medium_(9_-_16_in)", "large_(16_-_32_in)", "very_large_(32_-_72_in)"),
    ),
    "bill_length": CubGroup(
        "has_bill_length",
        "The first bird's bill is longer than the second's.",
        "The first bird's bill is shorter than the second's.",
        ("shorter_than_head", "about_the_same_as_head", "longer_than_head"),
    ),
}


def cub_attributes(labels: CubAttributeLabels, groups: tuple[str, ...]) -> tuple[DifferenceAttribute, ...]:
    """One attribute per group, from the annotations given with certainty >= CUB_CONFIDENT."""
    confident = labels.certainty >= CUB_CONFIDENT
    attributes = []
    for name in groups:
        if name not in CUB_GROUPS:
            raise PcclipError(f"CUB: unknown attribute group {name!r}; known: {', '.join(CUB_GROUPS)}")
        group = CUB_GROUPS[name]
        columns = {n.split("::", 1)[1]: k for k, n in enumerate(labels.attribute_names) if n.split("::", 1)[0] == group.prefix}
        if not columns:
            raise PcclipError(f"CUB: attributes.txt has no '{group.prefix}::...' attributes (group {name!r})")
        if group.levels:
            unknown = sorted(set(columns) ^ set(group.levels))
            if unknown:
                raise PcclipError(
                    f"CUB: the {group.prefix} values in attributes.txt differ from {', '.join(group.levels)} "
                    f"({', '.join(unknown)})"
                )
            seen = np.stack([labels.present[:, columns[v]] & confident[:, columns[v]] for v in group.levels], axis=1)
            level = np.where(seen.sum(axis=1) == 1, seen.argmax(axis=1), np.nan)  # none or several: unknown
            attributes.append(ordered_attribute(name, level, group.more, group.less, 1.0))
        else:
            index = list(columns.values())
            present, sure = labels.present[:, index], confident[:, index]
            scores = np.where(sure, present.astype(np.float64), np.nan)
            sentences = tuple(group.more.format(value=v.replace("_", " ")) for v in columns)
            attributes.append(categorical_attribute(name, sentences, scores))
    return tuple(attributes)
