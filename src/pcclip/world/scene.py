"""The procedural scene world: what a scene is, how scenes are drawn, and minimal-pair perturbations.

A scene is ONE homogeneous group of 1-4 identical objects (same shape, colour, size and rotation) on a
plain muted background, so every difference between two scenes is unambiguous and known exactly.
Coordinates are fractions of the image side: x to the right, y downward, both in [0, 1]. An object's
`size` is the radius of the disc around its centre that it is drawn inside; the discs of a group
never overlap and stay inside the image.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import PcclipError

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "hexagon", "cross", "heart", "diamond")

# Saturated colours that stand out from the muted background. Neighbours on the hue wheel
# (red/orange, orange/yellow, green/cyan, cyan/blue, blue/purple, purple/pink) keep colour
# recognition from being trivial once colour_jitter is applied, while a human still tells them apart.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "orange": (245, 135, 20),
    "yellow": (240, 220, 40),
    "green": (40, 165, 50),
    "cyan": (30, 195, 205),
    "blue": (35, 70, 215),
    "purple": (135, 50, 190),
    "pink": (240, 100, 190),
}

ATTRIBUTES: tuple[str, ...] = ("shape", "colour", "size", "count", "position")

# Named size bins: (name, exclusive upper bound on size). Each bin spans a ratio below 1.35, so the
# >= 1.5x change of a size perturbation always moves a scene into another bin.
SIZE_BINS: tuple[tuple[str, float], ...] = (("small", 0.085), ("medium", 0.113), ("large", math.inf))

# A minimal pair (perturb) differs by at least this much: clearly visible at 48-96 px.
PERTURB_SIZE_RATIO = 1.5
PERTURB_SHIFT = 0.3
# Two arbitrary scenes count as differing in size / position only beyond these margins; below
# them a comparative sentence would be true but invisible, so none is written.
SIZE_RATIO_MARGIN = 1.25
POSITION_MARGIN = 0.15

# Held out of the "seen" combinations: one colour per shape, each colour exactly once
# (3 is coprime with 8, so i -> 3i + 1 mod 8 is a permutation).
HELDOUT_COMBINATIONS: frozenset[tuple[str, str]] = frozenset(
    (shape, tuple(COLOURS)[(3 * i + 1) % len(COLOURS)]) for i, shape in enumerate(SHAPES)
)

_BACKGROUND_GREY = 0.55  # mean background level in [0, 1]; colours above keep contrast against it
_GAP = (0.1, 0.6)  # gap between neighbouring objects' discs, as a fraction of their diameter
_MAX_TRIES = 1000  # sampling attempts before a config is declared unplaceable

# Group layouts per count: object offsets from the group centre (mean zero), in units of the
# centre-to-centre spacing, so neighbours never come closer than one spacing.
_S3 = math.sqrt(3.0)
_D2 = 0.5 / math.sqrt(2.0)
_LAYOUTS: dict[int, list[list[tuple[float, float]]]] = {
    1: [[(0, 0)]],
    2: [[(-0.5, 0), (0.5, 0)], [(0, -0.5), (0, 0.5)], [(-_D2, -_D2), (_D2, _D2)], [(-_D2, _D2), (_D2, -_D2)]],
    3: [
        [(-1, 0), (0, 0), (1, 0)],
        [(0, -1), (0, 0), (0, 1)],
        [(0, -1 / _S3), (-0.5, 0.5 / _S3), (0.5, 0.5 / _S3)],
        [(0, 1 / _S3), (-0.5, -0.5 / _S3), (0.5, -0.5 / _S3)],
    ],
    4: [
        [(-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5)],
        [(-1.5, 0), (-0.5, 0), (0.5, 0), (1.5, 0)],
        [(0, -1.5), (0, -0.5), (0, 0.5), (0, 1.5)],
    ],
}
_ARRANGEMENTS: dict[int, tuple[np.ndarray, ...]] = {
    n: tuple(np.array(a, dtype=float) for a in arrangements) for n, arrangements in _LAYOUTS.items()
}


def plural(shape: str) -> str:
    """The plural noun of a shape name: 'star' -> 'stars', 'cross' -> 'crosses'."""
    return shape + ("es" if shape.endswith(("s", "x", "ch", "sh")) else "s")


def size_bin(size: float) -> str:
    """The name of the size bin ('small', 'medium', 'large') that an object radius falls in."""
    return next(name for name, upper in SIZE_BINS if size < upper)


class WorldConfig(BaseModel):
    """How scenes are drawn and rendered. Defaults are the embedded default's world."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image_size: int = Field(64, ge=32, le=256, description="rendered image side in pixels")
    min_objects: int = Field(1, ge=1, le=4, description="fewest objects in a scene's group")
    max_objects: int = Field(4, ge=1, le=4, description="most objects in a scene's group")
    min_size: float = Field(0.065, ge=0.02, le=0.2, description="smallest object radius, as a fraction of the image side")
    max_size: float = Field(0.15, ge=0.02, le=0.2, description="largest object radius, as a fraction of the image side")
    colour_jitter: float = Field(
        0.2,  # calibrated: at 0.08 the base model's colour zero-shot was 99% (useless); see the README
        ge=0.0,
        le=0.5,
        description="per-scene uniform perturbation of each RGB channel of the named colour, in [0, 1] units",
    )
    background_jitter: float = Field(
        0.15, ge=0.0, le=0.3, description="per-scene spread of the muted background around mid grey, in [0, 1] units"
    )
    noise: float = Field(0.02, ge=0.0, le=0.5, description="per-pixel gaussian noise standard deviation, in [0, 1] units")
    max_rotation: float = Field(0.25, ge=0.0, le=math.pi, description="largest rotation of the objects, in radians (either way)")
    combinations: Literal["all", "seen", "unseen"] = Field(
        "all",
        description="which (shape, colour) combinations scenes draw: all, only those outside HELDOUT_COMBINATIONS "
        "(for training), or only the held-out ones (for testing generalisation to new combinations)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> WorldConfig:
        if self.min_objects > self.max_objects:
            raise ValueError(f"min_objects ({self.min_objects}) must not exceed max_objects ({self.max_objects})")
        # Every size needs room to grow or shrink by PERTURB_SIZE_RATIO within the range.
        if self.max_size < self.min_size * PERTURB_SIZE_RATIO**2:
            raise ValueError(
                f"max_size ({self.max_size}) must be at least {PERTURB_SIZE_RATIO**2:g} x min_size ({self.min_size}) "
                "so that every size can change by a visible margin"
            )
        return self


@dataclass(frozen=True)
class Scene:
    """One scene with its exact ground truth.

    shape, colour: names from SHAPES and COLOURS; size: object radius (fraction of the image side);
    count: number of objects; x, y: group centre (mean of the object centres); centres: exact object
    centres; rgb: the actual (jittered) object colour; background: the background colour; rotation:
    rotation of every object in radians; noise: per-pixel noise std in [0, 1] units; noise_seed: seeds
    the noise, so rendering is deterministic.
    """

    shape: str
    colour: str
    size: float
    count: int
    x: float
    y: float
    centres: tuple[tuple[float, float], ...]
    rgb: tuple[int, int, int]
    background: tuple[int, int, int]
    rotation: float
    noise: float
    noise_seed: int

    @property
    def size_bin(self) -> str:
        return size_bin(self.size)

    @property
    def region(self) -> tuple[str, str]:
        """(vertical, horizontal) third of the image holding the group centre: ('top'|'middle'|'bottom',
        'left'|'centre'|'right')."""
        return _third(self.y, ("top", "middle", "bottom")), _third(self.x, ("left", "centre", "right"))

    @property
    def position_name(self) -> str:
        """Where the group sits, in words: 'in the top left', 'at the top', 'on the left', 'in the centre', ..."""
        vertical, horizontal = self.region
        if vertical == "middle":
            return "in the centre" if horizontal == "centre" else f"on the {horizontal}"
        return f"at the {vertical}" if horizontal == "centre" else f"in the {vertical} {horizontal}"

    def attributes(self) -> dict[str, Any]:
        """Every field plus the derived names, as JSON-serialisable exact values."""
        return {
            "shape": self.shape,
            "colour": self.colour,
            "size": self.size,
            "size_bin": self.size_bin,
            "count": self.count,
            "x": self.x,
            "y": self.y,
            "position": self.position_name,
            "centres": [list(c) for c in self.centres],
            "rgb": list(self.rgb),
            "background": list(self.background),
            "rotation": self.rotation,
            "noise": self.noise,
            "noise_seed": self.noise_seed,
        }

    @classmethod
    def from_attributes(cls, attributes: dict[str, Any]) -> Scene:
        """The scene that `attributes()` described (derived names are ignored)."""
        a = attributes
        return cls(
            shape=a["shape"],
            colour=a["colour"],
            size=a["size"],
            count=a["count"],
            x=a["x"],
            y=a["y"],
            centres=tuple((cx, cy) for cx, cy in a["centres"]),
            rgb=tuple(a["rgb"]),
            background=tuple(a["background"]),
            rotation=a["rotation"],
            noise=a["noise"],
            noise_seed=a["noise_seed"],
        )


def _third(v: float, names: tuple[str, str, str]) -> str:
    return names[min(int(v * 3), 2)]


def differing_attributes(a: Scene, b: Scene) -> tuple[str, ...]:
    """The attributes (in ATTRIBUTES order) in which a and b visibly differ: another shape or colour
    name, another count, a size ratio of at least SIZE_RATIO_MARGIN, or a group centre at least
    POSITION_MARGIN away along x or y."""
    differs = {
        "shape": a.shape != b.shape,
        "colour": a.colour != b.colour,
        "size": max(a.size, b.size) >= SIZE_RATIO_MARGIN * min(a.size, b.size),
        "count": a.count != b.count,
        "position": max(abs(a.x - b.x), abs(a.y - b.y)) >= POSITION_MARGIN,
    }
    return tuple(attribute for attribute in ATTRIBUTES if differs[attribute])


def _layout(offsets: np.ndarray, size: float, x: float, y: float) -> tuple[tuple[float, float], ...] | None:
    """Object centres for `offsets` (image fractions) around (x, y), or None if an object would leave
    the image."""
    centres = offsets + np.array((x, y))
    if centres.min() < size or centres.max() > 1.0 - size:
        return None
    return tuple((float(cx), float(cy)) for cx, cy in centres)


def _spacing(size: float, gap: float) -> float:
    return 2.0 * size * (1.0 + gap)


def _place(count: int, size: float, x: float, y: float, rng: np.random.Generator) -> tuple[tuple[float, float], ...] | None:
    """Centres of `count` objects of radius `size` grouped around (x, y): a random arrangement and
    gap that fit, falling back to the tightest gap; None if nothing fits there."""
    for index in rng.permutation(len(_ARRANGEMENTS[count])):
        arrangement = _ARRANGEMENTS[count][index]
        for gap in (rng.uniform(*_GAP), _GAP[0]):
            centres = _layout(arrangement * _spacing(size, gap), size, x, y)
            if centres is not None:
                return centres
    return None


def _allowed(shape: str, colour: str, config: WorldConfig) -> bool:
    """Whether a perturbation may produce this combination: a "seen" world never shows a held-out one."""
    return config.combinations != "seen" or (shape, colour) not in HELDOUT_COMBINATIONS


def _sample_combination(rng: np.random.Generator, config: WorldConfig) -> tuple[str, str]:
    if config.combinations == "unseen":
        pool = sorted(HELDOUT_COMBINATIONS)
        return pool[rng.integers(len(pool))]
    while True:
        shape, colour = SHAPES[rng.integers(len(SHAPES))], tuple(COLOURS)[rng.integers(len(COLOURS))]
        if _allowed(shape, colour, config):
            return shape, colour


def _jittered(base: tuple[int, int, int], offset: np.ndarray) -> tuple[int, int, int]:
    r, g, b = np.clip(np.rint(np.asarray(base) + offset), 0, 255).astype(int)
    return int(r), int(g), int(b)


def sample_scene(rng: np.random.Generator, config: WorldConfig) -> Scene:
    """Draw one scene. Only scenes that can be perturbed in every attribute are returned, so that
    `perturb` never fails on a sampled scene (e.g. four large objects cannot sit where they have no
    room to move by PERTURB_SHIFT)."""
    shape, colour = _sample_combination(rng, config)
    count = int(rng.integers(config.min_objects, config.max_objects + 1))
    appearance: dict[str, Any] = dict(
        shape=shape,
        colour=colour,
        count=count,
        rgb=_jittered(COLOURS[colour], rng.uniform(-config.colour_jitter, config.colour_jitter, 3) * 255),
        # A muted tone: one random grey level plus a smaller random tint per channel.
        background=_jittered(
            (round(_BACKGROUND_GREY * 255),) * 3,
            (rng.uniform(-1, 1) + rng.uniform(-1 / 3, 1 / 3, 3)) * config.background_jitter * 255,
        ),
        rotation=float(rng.uniform(-config.max_rotation, config.max_rotation)),
        noise=config.noise,
        noise_seed=int(rng.integers(2**31)),
    )
    # Shape and colour can always change; count only where the config allows several counts.
    geometric = ("size", "position", "count") if config.min_objects < config.max_objects else ("size", "position")
    # Only the geometry is redrawn until it fits, so the counts stay uniform.
    for _ in range(_MAX_TRIES):
        # Log-uniform, so the geometric size bins are equally likely.
        size = float(np.exp(rng.uniform(np.log(config.min_size), np.log(config.max_size))))
        arrangements = _ARRANGEMENTS[count]
        offsets = arrangements[rng.integers(len(arrangements))] * _spacing(size, rng.uniform(*_GAP))
        # The group centre falls in a random third of the image along each axis, so that the nine
        # position names are about equally likely although large groups cannot reach the edges.
        bounds = []
        for half, third in zip(np.abs(offsets).max(axis=0) + size, rng.integers(3, size=2)):
            bounds.append((max(half, third / 3), min(1 - half, (third + 1) / 3)))
        if any(lo >= hi for lo, hi in bounds):
            continue
        x, y = (float(rng.uniform(lo, hi)) for lo, hi in bounds)
        centres = _layout(offsets, size, x, y)
        if centres is None:  # only from rounding at the very edge
            continue
        scene = Scene(size=size, x=x, y=y, centres=centres, **appearance)
        if all(next(_perturbations(scene, a, rng, config), None) is not None for a in geometric):
            return scene
    raise PcclipError(
        f"could not place {count} objects of size {config.min_size}-{config.max_size} so that they can still move "
        "and change size; lower max_size or max_objects"
    )


def sample_scenes(n: int, seed: int, config: WorldConfig) -> list[Scene]:
    """n scenes drawn deterministically from `seed`."""
    rng = np.random.default_rng(seed)
    return [sample_scene(rng, config) for _ in range(n)]


def perturb(scene: Scene, attribute: str, rng: np.random.Generator, config: WorldConfig) -> Scene:
    """A scene that differs from `scene` in exactly `attribute`, by a clear margin: another shape or
    colour; a size ratio >= PERTURB_SIZE_RATIO; another count; a group centre moved by >=
    PERTURB_SHIFT along x or y. Everything else (group centre, colour jitter, background, rotation,
    noise) stays identical; object centres are laid out again where the size or count changes."""
    if attribute not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {attribute!r}; expected one of {ATTRIBUTES}")
    result = next(_perturbations(scene, attribute, rng, config), None)
    if result is None:
        raise ValueError(f"cannot change {attribute} of {scene} within {config}")
    return result


def _perturbations(scene: Scene, attribute: str, rng: np.random.Generator, config: WorldConfig) -> Iterator[Scene]:
    """Valid perturbations of one attribute, random ones first. For size, the candidates end with the
    smallest allowed change each way, so an empty iterator means no valid perturbation exists."""
    if attribute == "shape":
        for shape in rng.permutation([s for s in SHAPES if s != scene.shape and _allowed(s, scene.colour, config)]):
            yield replace(scene, shape=str(shape))
    elif attribute == "colour":
        offset = np.asarray(scene.rgb) - COLOURS[scene.colour]  # re-apply the scene's own jitter
        for colour in rng.permutation([c for c in COLOURS if c != scene.colour and _allowed(scene.shape, c, config)]):
            yield replace(scene, colour=str(colour), rgb=_jittered(COLOURS[str(colour)], offset))
    elif attribute == "size":
        lo, hi = scene.size / PERTURB_SIZE_RATIO, scene.size * PERTURB_SIZE_RATIO
        intervals = [(i0, i1) for i0, i1 in ((config.min_size, lo), (hi, config.max_size)) if i0 <= i1]
        random_sizes = [float(np.exp(rng.uniform(np.log(i0), np.log(i1)))) for i0, i1 in intervals]
        for size in [*rng.permutation(random_sizes), lo, hi]:
            if config.min_size <= size <= config.max_size:
                centres = _place(scene.count, float(size), scene.x, scene.y, rng)
                if centres is not None:
                    yield replace(scene, size=float(size), centres=centres)
    elif attribute == "count":
        counts = [c for c in range(config.min_objects, config.max_objects + 1) if c != scene.count]
        for count in rng.permutation(counts):
            centres = _place(int(count), scene.size, scene.x, scene.y, rng)
            if centres is not None:
                yield replace(scene, count=int(count), centres=centres)
    else:  # position: translate the whole group along one axis
        offsets = np.asarray(scene.centres) - (scene.x, scene.y)
        moves = []
        for axis, centre in ((0, scene.x), (1, scene.y)):
            half = np.abs(offsets[:, axis]).max() + scene.size
            for i0, i1 in ((half, centre - PERTURB_SHIFT), (centre + PERTURB_SHIFT, 1 - half)):
                if i0 <= i1:
                    moves.append((axis, i0, i1))
        for index in rng.permutation(len(moves)):
            axis, i0, i1 = moves[index]
            new = [scene.x, scene.y]
            new[axis] = float(rng.uniform(i0, i1))
            centres = _layout(offsets, scene.size, *new)
            if centres is not None:
                yield replace(scene, x=new[0], y=new[1], centres=centres)
