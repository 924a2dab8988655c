"""Rendering scenes to anti-aliased RGB images with numpy.

Each shape is a signed-distance field (SDF) in object units: the object is drawn inside the unit
circle, u to the right and v up. A pixel's coverage is clip(0.5 - sdf_in_pixels, 0, 1), evaluated
only over each object's bounding box; the identical objects of a group share one vectorised SDF call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .scene import Scene

Sdf = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _circle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.sqrt(u * u + v * v) - 0.85


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) - 0.68


# Convex polygons use the maximum over their edges' signed distances: exact inside and along the
# edges, a slight underestimate only off the vertices, which is invisible at these sizes.
def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Equilateral, pointing up, circumradius 1, centroid at the origin (inradius 0.5)."""
    return np.maximum(-v, 0.5 * math.sqrt(3.0) * np.abs(u) + 0.5 * v) - 0.5


def _hexagon(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Flat top and bottom, circumradius 0.95."""
    av = np.abs(v)
    return np.maximum(av, 0.5 * math.sqrt(3.0) * np.abs(u) + 0.5 * av) - 0.95 * 0.5 * math.sqrt(3.0)


_DIAMOND_W, _DIAMOND_H = 0.6, 0.97  # a tall rhombus, so it is never a rotated square


def _diamond(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    w, h = _DIAMOND_W, _DIAMOND_H
    return (np.abs(u) * h + np.abs(v) * w - w * h) / math.hypot(w, h)


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A plus sign: the union of two bars of half-length 0.92 and half-width 0.3."""
    au, av = np.abs(u), np.abs(v)
    return np.minimum(np.maximum(au - 0.92, av - 0.3), np.maximum(au - 0.3, av - 0.92))


# Five-pointed star after Inigo Quilez's sdStar5: fold into one point's wedge, then measure the
# distance to that point's edge. Outer radius 0.97, inner/outer ratio set by _STAR_INNER.
_STAR_R, _STAR_INNER = 0.97, 0.45
_K1 = (0.809016994375, -0.587785252292)
_STAR_BA = (_STAR_INNER * -_K1[1], _STAR_INNER * _K1[0] - 1.0)


def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    x, y = np.abs(u) / _STAR_R, v / _STAR_R
    for kx, ky in (_K1, (-_K1[0], _K1[1])):
        d = 2.0 * np.maximum(kx * x + ky * y, 0.0)
        x, y = x - d * kx, y - d * ky
    x, y = np.abs(x), y - 1.0
    bx, by = _STAR_BA
    h = np.clip((x * bx + y * by) / (bx * bx + by * by), 0.0, 1.0)
    return np.hypot(x - bx * h, y - by * h) * np.sign(y * bx - x * by) * _STAR_R


# Heart after Inigo Quilez's sdHeart (tip at the origin, lobes up to y ~ 1.1). Its smallest enclosing
# circle has centre (0, 0.63) and radius ~0.632; map that circle onto radius 0.97 of the unit circle.
_HEART_SCALE, _HEART_SHIFT = 0.632 / 0.97, 0.63


def _heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    x, y = np.abs(u) * _HEART_SCALE, v * _HEART_SCALE + _HEART_SHIFT
    lobe = np.hypot(x - 0.25, y - 0.75) - math.sqrt(2.0) / 4.0
    t = 0.5 * np.maximum(x + y, 0.0)
    body = np.sqrt(np.minimum(x * x + (y - 1.0) ** 2, (x - t) ** 2 + (y - t) ** 2)) * np.sign(x - y)
    return np.where(x + y > 1.0, lobe, body) / _HEART_SCALE


SDFS: dict[str, Sdf] = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "star": _star,
    "hexagon": _hexagon,
    "cross": _cross,
    "heart": _heart,
    "diamond": _diamond,
}


def _coverage(scene: Scene, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Anti-aliased coverage of each object over its bounding box: (alpha (count, n, n) float32 in
    [0, 1], top-left corners (count, 2) int as (x0, y0)). All boxes share one side n."""
    radius = scene.size * image_size
    n = min(image_size, math.ceil(2.0 * radius) + 3)  # + AA fringe and rounding
    centres = np.asarray(scene.centres) * image_size
    corners = np.clip(np.floor(centres - radius) - 1, 0, image_size - n).astype(int)
    pixel = np.arange(n, dtype=np.float32) + 0.5
    dx = (corners[:, 0, None] + pixel - centres[:, 0, None]).astype(np.float32)[:, None, :]  # (count, 1, n)
    dy = (corners[:, 1, None] + pixel - centres[:, 1, None]).astype(np.float32)[:, :, None]  # (count, n, 1)
    # Into object units: v points up, and the object is turned by `rotation` counter-clockwise.
    cos, sin = math.cos(scene.rotation) / radius, math.sin(scene.rotation) / radius
    u = dx * cos - dy * sin
    v = -dx * sin - dy * cos
    alpha = np.clip(0.5 - SDFS[scene.shape](u, v) * radius, 0.0, 1.0)
    return alpha, corners


def render(scene: Scene, image_size: int) -> np.ndarray:
    """The scene as a uint8 (H, W, 3) image; the same scene always gives the same pixels."""
    image = np.empty((image_size, image_size, 3), dtype=np.float32)
    image[:] = scene.background
    alpha, corners = _coverage(scene, image_size)
    n = alpha.shape[1]
    rgb = np.asarray(scene.rgb, dtype=np.float32)
    for a, (x0, y0) in zip(alpha, corners):
        patch = image[y0 : y0 + n, x0 : x0 + n]
        patch += a[..., None] * (rgb - patch)
    if scene.noise > 0:
        noise = np.random.default_rng(scene.noise_seed).standard_normal(image.shape, dtype=np.float32)
        image += noise * (scene.noise * 255.0)
    image += 0.5  # so that the truncating cast rounds
    return np.clip(image, 0.0, 255.0, out=image).astype(np.uint8)


def render_batch(scenes: Sequence[Scene], image_size: int) -> np.ndarray:
    """The scenes as one uint8 (N, H, W, 3) array."""
    images = np.empty((len(scenes), image_size, image_size, 3), dtype=np.uint8)
    for i, scene in enumerate(scenes):
        images[i] = render(scene, image_size)
    return images


def object_masks(scene: Scene, image_size: int) -> np.ndarray:
    """Which pixels each object covers at least half of: bool (count, H, W), in `scene.centres` order."""
    alpha, corners = _coverage(scene, image_size)
    n = alpha.shape[1]
    masks = np.zeros((scene.count, image_size, image_size), dtype=bool)
    for mask, a, (x0, y0) in zip(masks, alpha, corners):
        mask[y0 : y0 + n, x0 : x0 + n] = a >= 0.5
    return masks
