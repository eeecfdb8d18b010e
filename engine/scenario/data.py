"""Seeded 2-D toy data sets in the style of TensorFlow Playground.

Every generator returns ``samples`` points with 2 features (float64, shape
``(samples, 2)``) and integer class labels (int64, shape ``(samples,)``). Points live
in roughly ``[-1, 1] × [-1, 1]`` so that default initialisations and learning rates
train on them without rescaling (``moons`` keeps scikit-learn's own extent, x in
``[-1, 2]`` and y in ``[-0.5, 1]``).

Classes are exactly balanced: label ``i`` is ``i % classes`` before a seeded shuffle,
so the counts differ by at most one and consecutive mini-batches mix the classes.
``noise`` is the standard deviation of Gaussian jitter added to every coordinate
*after* the label is fixed, so a large noise blurs the boundary without relabelling.

The same ``(kind, samples, noise, seed, classes)`` always gives the same arrays
(:func:`numpy.random.default_rng`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MAX_SAMPLES = 100_000
"""Most points one call may generate."""
MAX_CLASSES = 8
"""Most classes ``gauss`` and ``spiral`` accept; the other kinds take exactly 2."""

Generator = Callable[["np.random.Generator", np.ndarray, int], np.ndarray]
"""A dataset kind: ``(rng, labels, classes) -> points``. (The random generator's type is
named, not imported: ``numpy.random`` loads only when data is generated.)"""


def _xor(rng: np.random.Generator, labels: np.ndarray, classes: int) -> np.ndarray:
    """XOR of the signs: class 1 where x and y have opposite signs, class 0 where equal.

    The four quadrants form a checkerboard, as in the XOR truth table ((0, 1) → 1).
    Coordinates keep a margin of 0.1 from the axes so the classes do not touch.
    """
    n = labels.shape[0]
    magnitude = rng.uniform(0.1, 1.0, size=(n, 2))
    sign_x = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    # Same sign for class 0, opposite for class 1.
    sign_y = np.where(labels == 0, sign_x, -sign_x)
    points: np.ndarray = magnitude * np.stack([sign_x, sign_y], axis=1)
    return points


def _circle(rng: np.random.Generator, labels: np.ndarray, classes: int) -> np.ndarray:
    """A disc inside a ring: class 1 within radius 0.5, class 0 at radius 0.7 to 1.0.

    Radius and angle are uniform, as in the Playground, so the disc is denser at its
    centre. Not linearly separable: it needs a hidden layer.
    """
    n = labels.shape[0]
    radius = np.where(labels == 1, rng.uniform(0.0, 0.5, size=n), rng.uniform(0.7, 1.0, size=n))
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)


def _gauss(rng: np.random.Generator, labels: np.ndarray, classes: int) -> np.ndarray:
    """One round Gaussian blob per class (standard deviation 0.15).

    The blob centres sit evenly on a circle of radius 0.6, the first at 45°, so two
    classes are opposite blobs at (0.42, 0.42) and (-0.42, -0.42): linearly separable.
    """
    angle = np.pi / 4 + 2.0 * np.pi * labels / classes
    centres = 0.6 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return centres + rng.normal(0.0, 0.15, size=centres.shape)


def _spiral(rng: np.random.Generator, labels: np.ndarray, classes: int) -> np.ndarray:
    """Interleaved spiral arms, one per class, each turning 1.75 times from the centre.

    A point at fraction ``t`` along its arm has radius ``t`` and angle
    ``1.75·2π·t + 2π·class/classes``. The hardest of the sets.
    """
    t = rng.uniform(0.0, 1.0, size=labels.shape[0])
    angle = 1.75 * 2.0 * np.pi * t + 2.0 * np.pi * labels / classes
    return np.stack([t * np.sin(angle), t * np.cos(angle)], axis=1)


def _linear(rng: np.random.Generator, labels: np.ndarray, classes: int) -> np.ndarray:
    """Two halves of the square split by the diagonal: class 1 where x + y > 0.

    Points are uniform in ``[-1, 1]²``; each point on the wrong side for its label is
    mirrored through the origin, which keeps each half uniform. A single unit suffices.
    """
    points = rng.uniform(-1.0, 1.0, size=(labels.shape[0], 2))
    wrong_side = (points.sum(axis=1) > 0) != (labels == 1)
    points[wrong_side] *= -1.0
    return points


def _moons(rng: np.random.Generator, labels: np.ndarray, classes: int) -> np.ndarray:
    """Two interleaving half circles, scikit-learn's ``make_moons`` without its shuffle.

    The ``n₀`` points of class 0 lie evenly on the upper unit half circle, the k-th (in
    the order they appear) at angle ``θ = π·k/(n₀ − 1)``: ``(cos θ, sin θ)``. The ``n₁``
    points of class 1 lie on the lower one, shifted: ``(1 − cos θ, 0.5 − sin θ)`` with
    ``θ = π·k/(n₁ − 1)`` (a class of one point sits at θ = 0). So x spans [−1, 2] and y
    [−0.5, 1], as in scikit-learn; ``noise`` jitters them as for every generator. The
    order of the points is the seeded shuffle of the labels, not scikit-learn's. Not
    linearly separable: micrograd's demo trains a 2-16-16-1 network on it.
    """
    points = np.empty((labels.shape[0], 2))
    for cls in (0, 1):
        where = np.flatnonzero(labels == cls)
        n = where.size
        theta = np.pi * np.arange(n) / (n - 1) if n > 1 else np.zeros(n)
        if cls == 0:
            points[where] = np.stack([np.cos(theta), np.sin(theta)], axis=1)
        else:
            points[where] = np.stack([1.0 - np.cos(theta), 0.5 - np.sin(theta)], axis=1)
    return points


_GENERATORS: dict[str, tuple[Generator, int]] = {
    "xor": (_xor, 2),
    "circle": (_circle, 2),
    "gauss": (_gauss, MAX_CLASSES),
    "spiral": (_spiral, MAX_CLASSES),
    "linear": (_linear, 2),
    "moons": (_moons, 2),
}

KINDS: tuple[str, ...] = tuple(_GENERATORS)
"""The generator names, in documentation order."""


def max_classes(kind: str) -> int:
    """The most classes generator ``kind`` accepts (2 unless it is gauss or spiral).

    Raises:
        ValueError: ``kind`` is not one of :data:`KINDS`.
    """
    if kind not in _GENERATORS:
        raise ValueError(f"unknown generator {kind!r}; expected one of {', '.join(KINDS)}")
    return _GENERATORS[kind][1]


def generate(
    kind: str,
    samples: int,
    noise: float = 0.0,
    seed: int = 0,
    classes: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate a seeded 2-D classification set.

    Args:
        kind: One of ``xor``, ``circle``, ``gauss``, ``spiral``, ``linear``, ``moons`` (see each
            generator's docstring for the shape its classes make).
        samples: Number of points, 1 to :data:`MAX_SAMPLES`.
        noise: Standard deviation of the Gaussian jitter added to each coordinate, ≥ 0.
        seed: Seed for :func:`numpy.random.default_rng`, ≥ 0.
        classes: Number of classes, 2 up to :func:`max_classes` of ``kind``.

    Returns:
        ``(x, labels)``: ``x`` float64 of shape ``(samples, 2)``, ``labels`` int64 of
        shape ``(samples,)`` with values ``0 .. classes-1``, counts balanced to within one.

    Raises:
        ValueError: An argument is out of range or ``kind`` is unknown.
    """
    limit = max_classes(kind)
    if isinstance(classes, bool) or not isinstance(classes, int) or not 2 <= classes <= limit:
        allowed = "exactly 2" if limit == 2 else f"2 to {limit}"
        raise ValueError(f"generator {kind!r} takes {allowed} classes, got {classes!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise ValueError(f"samples must be an integer from 1 to {MAX_SAMPLES:,}, got {samples!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < np.inf:
        raise ValueError(f"noise must be a finite number ≥ 0, got {noise!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer ≥ 0, got {seed!r}")

    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(samples, dtype=np.int64) % classes)
    x = _GENERATORS[kind][0](rng, labels, classes)
    if noise > 0:
        x = x + rng.normal(0.0, noise, size=x.shape)
    return np.ascontiguousarray(x, dtype=np.float64), labels
