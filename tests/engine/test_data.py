"""The seeded toy data generators: shapes, determinism, balance, and class geometry."""

from __future__ import annotations

import numpy as np
import pytest

from engine.scenario.data import KINDS, MAX_CLASSES, MAX_SAMPLES, generate, max_classes

MULTI = ("gauss", "spiral")


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_dtypes(kind: str) -> None:
    x, labels = generate(kind, 101, noise=0.1, seed=4)
    assert x.shape == (101, 2) and x.dtype == np.float64
    assert labels.shape == (101,) and labels.dtype == np.int64
    assert np.isfinite(x).all()
    assert set(np.unique(labels)) == {0, 1}


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_data(kind: str) -> None:
    x1, y1 = generate(kind, 64, noise=0.2, seed=9)
    x2, y2 = generate(kind, 64, noise=0.2, seed=9)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize("kind", KINDS)
def test_different_seeds_differ(kind: str) -> None:
    x1, y1 = generate(kind, 64, seed=1)
    x2, y2 = generate(kind, 64, seed=2)
    assert not np.array_equal(x1, x2)
    assert not np.array_equal(y1, y2)


@pytest.mark.parametrize("kind", KINDS)
def test_labels_are_balanced_and_shuffled(kind: str) -> None:
    _, labels = generate(kind, 201, seed=0)
    counts = np.bincount(labels)
    assert counts.tolist() in ([101, 100], [100, 101])
    # Shuffled: a mini-batch of consecutive rows sees both classes.
    assert len(set(labels[:20].tolist())) == 2


@pytest.mark.parametrize("kind", MULTI)
@pytest.mark.parametrize("classes", [2, 3, 5, MAX_CLASSES])
def test_classes_argument(kind: str, classes: int) -> None:
    _, labels = generate(kind, 40 * classes, seed=1, classes=classes)
    assert np.bincount(labels).tolist() == [40] * classes


def test_noise_jitters_points_but_keeps_labels() -> None:
    x0, y0 = generate("gauss", 500, noise=0.0, seed=5)
    x1, y1 = generate("gauss", 500, noise=0.3, seed=5)
    np.testing.assert_array_equal(y0, y1)
    jitter = x1 - x0
    assert 0.25 < jitter.std() < 0.35


def test_xor_is_a_checkerboard() -> None:
    x, labels = generate("xor", 400, seed=0)
    opposite = np.sign(x[:, 0]) != np.sign(x[:, 1])
    np.testing.assert_array_equal(labels == 1, opposite)
    assert (np.abs(x) >= 0.1).all() and (np.abs(x) <= 1.0).all()


def test_circle_is_a_disc_inside_a_ring() -> None:
    x, labels = generate("circle", 400, seed=0)
    radius = np.hypot(x[:, 0], x[:, 1])
    assert (radius[labels == 1] <= 0.5).all()
    assert ((radius[labels == 0] >= 0.7) & (radius[labels == 0] <= 1.0)).all()


def test_gauss_blobs_sit_around_their_centres() -> None:
    x, labels = generate("gauss", 400, seed=0)
    np.testing.assert_allclose(x[labels == 0].mean(axis=0), [0.42, 0.42], atol=0.05)
    np.testing.assert_allclose(x[labels == 1].mean(axis=0), [-0.42, -0.42], atol=0.05)


def test_spiral_points_lie_on_their_arm() -> None:
    x, labels = generate("spiral", 300, seed=0, classes=3)
    radius = np.hypot(x[:, 0], x[:, 1])
    assert (radius <= 1.0).all()
    # Undo each point's arm offset: all arms then coincide with arm 0.
    angle = np.arctan2(x[:, 0], x[:, 1]) - 2 * np.pi * labels / 3
    expected = 1.75 * 2 * np.pi * radius
    np.testing.assert_allclose(np.cos(angle), np.cos(expected), atol=1e-9)


def test_linear_splits_along_the_diagonal() -> None:
    x, labels = generate("linear", 400, seed=0)
    np.testing.assert_array_equal(labels == 1, x.sum(axis=1) > 0)
    assert (np.abs(x) <= 1.0).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "blobs", "samples": 10}, "unknown generator 'blobs'"),
        ({"kind": "xor", "samples": 10, "classes": 3}, "takes exactly 2 classes"),
        ({"kind": "circle", "samples": 10, "classes": 1}, "takes exactly 2 classes"),
        ({"kind": "gauss", "samples": 10, "classes": 9}, "takes 2 to 8 classes"),
        ({"kind": "gauss", "samples": 0}, "samples must be"),
        ({"kind": "gauss", "samples": MAX_SAMPLES + 1}, "samples must be"),
        ({"kind": "gauss", "samples": 2.0}, "samples must be"),
        ({"kind": "gauss", "samples": 10, "noise": -0.1}, "noise must be"),
        ({"kind": "gauss", "samples": 10, "noise": float("nan")}, "noise must be"),
        ({"kind": "gauss", "samples": 10, "seed": -1}, "seed must be"),
    ],
)
def test_refusals(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(**kwargs)  # type: ignore[arg-type]


def test_max_classes() -> None:
    assert {kind: max_classes(kind) for kind in KINDS} == {
        "xor": 2,
        "circle": 2,
        "gauss": 8,
        "spiral": 8,
        "linear": 2,
        "moons": 2,
    }


@pytest.mark.parametrize("kind", KINDS)
def test_every_generator_is_documented(kind: str) -> None:
    from engine.scenario import data

    doc = getattr(data, f"_{kind}").__doc__
    assert doc and len(doc.strip()) > 40


def test_moons_lie_on_scikit_learns_two_half_circles() -> None:
    x, labels = generate("moons", 9, seed=3)
    outer, inner = x[labels == 0], x[labels == 1]
    # Class 0: the upper unit half circle; class 1: the lower one, shifted by (1, 0.5).
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(1.0 - inner[:, 0], 0.5 - inner[:, 1]), 1.0)
    assert np.all(outer[:, 1] >= 0) and np.all(inner[:, 1] <= 0.5 + 1e-15)
    # Evenly spaced in angle, ends included, in the order the points appear.
    np.testing.assert_allclose(np.arctan2(outer[:, 1], outer[:, 0]), np.linspace(0, np.pi, 5))
    np.testing.assert_allclose(
        np.arctan2(0.5 - inner[:, 1], 1.0 - inner[:, 0]), np.linspace(0, np.pi, 4)
    )
