"""Axis scales and ticks (tui.drawing.scale): every number a plot can meet, including
1e-300, 1e308, inf and NaN, gives a scale, finite limits and readable ticks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tui.drawing import scale
from tui.drawing.scale import Scale


def test_a_positive_series_over_orders_of_magnitude_is_log() -> None:
    assert scale.choose(np.array([14.0, 2e17, 3e33])).kind == "log"
    assert scale.choose(np.array([0.69, 0.68, 0.5])).kind == "linear"
    assert scale.choose(np.array([1.0, 999.0])).kind == "linear"
    assert scale.choose(np.array([1.0, 1000.0])).kind == "log"


def test_non_finite_values_are_left_out() -> None:
    y = np.array([14.0, 2e17, np.inf, np.nan, -np.inf])
    s = scale.choose(y)
    assert s.kind == "log"
    assert s.drawable(y).tolist() == [True, True, False, False, False]
    assert scale.choose(np.array([np.inf, np.nan])) == Scale()


def test_a_diverging_parameter_is_symlog() -> None:
    """W1 of diverging-lr: zero, then flipping sign while growing 10⁸-fold a step."""
    w = np.array([0.0, 5.6e4, -5.0e12, 4.0e20, -5.0e28, 4.0e36, -5.03e76])
    s = scale.choose(w)
    assert s.kind == "symlog" and 0 < s.c <= 5.6e4
    t = s.forward(w)
    assert np.all(np.isfinite(t)) and t[0] == 0.0
    assert np.all(np.sign(t) == np.sign(w)) and np.all(np.diff(np.abs(t[1:])) > 0)
    lo, hi = scale.limits(t)
    ticks, labels = s.ticks(lo, hi, 7)
    assert "0" in labels and "-1e76" not in labels[1:]  # the bottom tick is the largest
    assert labels[0].startswith("-1e") and all("e" in x or x == "0" for x in labels)
    assert ticks == sorted(ticks) and len(ticks) <= 7


def test_a_parameter_that_moves_smoothly_stays_linear() -> None:
    assert scale.choose(np.linspace(0.5, -0.3, 50)).kind == "linear"
    assert scale.choose(np.array([0.0, 0.0, 0.0])).kind == "linear"


@pytest.mark.parametrize(
    "values",
    [
        [1e308, -1e308],
        [1e308, 1e-308],
        [0.0, 1e308, -1e308, np.inf],
        [5e-324, 1e308],
        [-1e308, -1e-300],
        [-1e308, 0.5],
        [1e301, 1e301],
    ],
)
def test_huge_values_give_finite_axes(values: list[float]) -> None:
    y = np.array(values)
    s = scale.choose(y)
    t = s.forward(y[s.drawable(y)])
    assert np.all(np.isfinite(t))
    lo, hi = scale.limits(t)
    assert math.isfinite(lo) and math.isfinite(hi) and lo < hi
    ticks, labels = s.ticks(lo, hi, 6)
    assert ticks and all(math.isfinite(x) for x in ticks) and len(ticks) == len(labels)
    assert max(abs(lo), abs(hi)) * 1e4 < 1e308  # rows × coordinates cannot overflow


def test_linear_mode_is_kept_unless_it_cannot_be_drawn() -> None:
    assert scale.choose(np.array([1.0, 1e6]), "linear").kind == "linear"
    assert scale.choose(np.array([1e308, -1e308]), "linear").kind == "symlog"
    assert scale.choose(np.array([-1.0, -2.0]), "log").kind == "linear"


def test_log_ticks_are_decades() -> None:
    ticks, labels = Scale("log").ticks(-9.3, 0.4, 6)
    assert labels == ["1e-8", "1e-6", "1e-4", "0.01", "1"]
    assert ticks == [-8.0, -6.0, -4.0, -2.0, 0.0]
    _, labels = Scale("log").ticks(1.1, 300.2, 5)
    assert labels == ["1e100", "1e200", "1e300"]


def test_log_ticks_within_a_decade_label_the_ends() -> None:
    ticks, labels = Scale("log").ticks(math.log10(0.5), math.log10(0.7), 5)
    assert len(ticks) == 2 and labels == ["0.5", "0.7"]


def test_linear_ticks_read_short() -> None:
    assert scale.linear_ticks(0.0, 1.0, 6) == (
        [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0],
        ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"],
    )
    _, labels = scale.linear_ticks(-0.0013, 0.0042, 5)
    assert labels == ["-1e-3", "0", "1e-3", "2e-3", "3e-3", "4e-3"][: len(labels)] or all(
        "e" in x or x == "0" for x in labels
    )
    assert "0.001000000" not in labels
    _, labels = scale.linear_ticks(0.69312, 0.69318, 4)
    assert all(len(x) <= 8 for x in labels) and len(set(labels)) == len(labels)
    _, labels = scale.linear_ticks(0.0, 4e6, 5)
    assert labels == ["0", "1e6", "2e6", "3e6", "4e6"]


def test_numbers_read_short() -> None:
    assert scale.number(0.25) == "0.25"
    assert scale.number(1e-3) == "1e-3"
    assert scale.number(2.5e8) == "2.5e8"
    assert scale.number(-5.03e76) == "-5.03e76"
    assert scale.number(float("inf")) == "inf" and scale.number(0.0) == "0"


def test_limits_give_room() -> None:
    assert scale.limits(np.array([0.0, 10.0])) == (-0.5, 10.5)
    lo, hi = scale.limits(np.array([2.0]))
    assert lo < 2.0 < hi
    assert scale.limits(np.array([])) == (0.0, 1.0)
