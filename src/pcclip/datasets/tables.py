"""Small tables pcclip ships as package data (pcclip/datasets/data/*.csv) for the paper's
difference-based classification tasks. Each file states its source and how its values were set in
its header comment ('#' lines); they are read with importlib.resources, so they work from a wheel.

    awa2_comparatives.csv   AwA2 predicate -> (more word, less word), e.g. big -> (bigger, smaller)
    cifar100_sizes.csv      CIFAR-100 fine class -> typical real-world size in metres, object or scene
    flowers102_colours.csv  Flowers-102 label 1..102 -> CLIP's class name, dominant petal colour, varies
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..errors import PcclipError


def read_table(name: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of data/<name> (comment lines starting with '#' skipped), checked to have `columns`."""
    try:
        text = resources.files("pcclip.datasets").joinpath("data", name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PcclipError(f"pcclip's table data/{name} is missing from the installed package (reinstall pcclip)") from None
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    if tuple(reader.fieldnames or ()) != columns:
        raise PcclipError(f"data/{name}: columns must be {', '.join(columns)}; got {', '.join(reader.fieldnames or ())}")
    return list(reader)


@cache
def awa2_comparatives() -> dict[str, tuple[str, str]]:
    """{predicate: (more, less)}: the words that say the first animal has more / less of it."""
    return {
        row["predicate"]: (row["more"], row["less"]) for row in read_table("awa2_comparatives.csv", ("predicate", "more", "less"))
    }


@dataclass(frozen=True)
class ClassSize:
    metres: float
    scene: bool  # a place or landscape (cloud, sea, ...), not an object: the size task leaves it out


@cache
def cifar100_sizes() -> dict[str, ClassSize]:
    """{CIFAR-100 fine class name: its typical size}, in the dataset's class order."""
    sizes = {}
    for row in read_table("cifar100_sizes.csv", ("class", "size_m", "kind")):
        if row["kind"] not in ("object", "scene") or not float(row["size_m"]) > 0:
            raise PcclipError(f"data/cifar100_sizes.csv: bad row {row}")
        sizes[row["class"]] = ClassSize(float(row["size_m"]), row["kind"] == "scene")
    return sizes


@dataclass(frozen=True)
class FlowerClass:
    name: str  # CLIP's class name
    colour: str  # dominant petal colour
    varies: bool  # grown in several colours or bicoloured


@cache
def flowers102_classes() -> tuple[FlowerClass, ...]:
    """The 102 classes in label order: position k is imagelabels.mat's label k + 1."""
    rows = read_table("flowers102_colours.csv", ("label", "name", "colour", "varies"))
    if [int(row["label"]) for row in rows] != list(range(1, len(rows) + 1)):
        raise PcclipError("data/flowers102_colours.csv: labels must run 1..102 in order")
    return tuple(FlowerClass(row["name"], row["colour"], row["varies"] == "1") for row in rows)
