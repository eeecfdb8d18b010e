"""The history plots' value axes: any float64 data gets an axis, ticks and places in
[0, 1] (huge, tiny, equal and non-finite values included), and plotext draws them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tui.drawing.value_axis import MAX_TICKS, value_axis

BIG = np.finfo(np.float64).max
TINY = 5e-324  # the smallest denormal

ANY_FLOATS = arrays(
    np.float64,
    st.integers(0, 40),
    elements=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([BIG, -BIG, 1e308, -1e308, TINY, -TINY, 0.0, -0.0, 1.0]),
    ),
)


def check_axis(values: np.ndarray, rows: int, log: bool) -> None:
    """What every axis promises, whatever the values."""
    axis = value_axis(values, rows, log=log)
    usable = values[np.isfinite(values) & ((values > 0) if log else True)]
    if not usable.size:
        assert axis is None
        return
    assert axis is not None
    assert math.isfinite(axis.lo) and math.isfinite(axis.hi) and axis.lo <= axis.hi
    assert 1 <= len(axis.ticks) == len(axis.labels) <= MAX_TICKS
    assert all(0.0 <= t <= 1.0 for t in axis.ticks)
    assert list(axis.ticks) == sorted(axis.ticks)
    assert all(label and "\n" not in label for label in axis.labels)
    placed = axis.place(values)
    assert placed.shape == values.shape
    ok = np.isfinite(values) & ((values > 0) if log else True)
    assert np.isnan(placed[~ok]).all()
    inside = placed[ok]
    assert ((inside >= 0) & (inside <= 1)).all()
    # Order is kept: a larger value is never placed lower.
    order = np.argsort(values[ok], kind="stable")
    assert (np.diff(inside[order]) >= 0).all()
    if axis.lo < axis.hi:
        assert inside.min() == 0.0 and inside.max() == 1.0
    else:
        assert (inside == 0.5).all()


@settings(max_examples=300, deadline=None)
@given(values=ANY_FLOATS, rows=st.integers(0, 80), log=st.booleans())
def test_any_values_get_an_axis(values: np.ndarray, rows: int, log: bool) -> None:
    check_axis(values, rows, log)


@pytest.mark.parametrize(
    "values",
    [
        [1e308, -1e308],  # the range overflows
        [BIG, -BIG, 0.0],
        [1e308, 1e308],  # all equal, huge (plotext's own limits overflow)
        [TINY, 2 * TINY, 0.0],  # denormals
        [0.25, 0.25, 0.25],
        [np.inf, -np.inf, np.nan, 0.25, 0.5],
        [1e-300, 1e300],
    ],
)
@pytest.mark.parametrize("log", [False, True])
def test_hard_cases(values: list[float], log: bool) -> None:
    check_axis(np.array(values), 20, log)


def test_linear_ticks_are_evenly_spaced_and_tell_values_apart() -> None:
    axis = value_axis(np.array([0.0, 1.0, 0.5]), 10)
    assert axis is not None
    assert axis.ticks == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert axis.labels == ("0.0", "0.25", "0.5", "0.75", "1.0")
    huge = value_axis(np.array([-1e308, 1e308]), 10)
    assert huge is not None and huge.labels == ("-1e+308", "-5e+307", "0.0", "5e+307", "1e+308")
    close = value_axis(np.array([1.0, 1.0 + 1e-9]), 4)
    assert close is not None and len(set(close.labels)) == 2


def test_equal_values_sit_in_the_middle_with_one_tick() -> None:
    axis = value_axis(np.array([1e308, 1e308, np.inf]), 10)
    assert axis is not None and axis.ticks == (0.5,) and axis.labels == ("1e+308",)


def test_log_axes_tick_whole_decades_when_there_are_several() -> None:
    axis = value_axis(np.array([18.0, 0.0076, 3.0]), 10, log=True)
    assert axis is not None and axis.log
    assert axis.labels == ("0.01", "0.1", "1.0", "10.0")
    wide = value_axis(np.array([TINY, 1e308]), 10, log=True)
    assert wide is not None and wide.labels == ("1e-200", "1.0", "1e+200")
    narrow = value_axis(np.array([2.0, 3.0]), 10, log=True)
    assert narrow is not None and narrow.labels[0] == "2.0" and narrow.labels[-1] == "3.0"
    assert value_axis(np.array([0.0, -1.0, np.nan]), 10, log=True) is None


@pytest.mark.parametrize("size", [(8, 3), (12, 6), (40, 12)])
@pytest.mark.parametrize("values", [[1e308, -1e308, 0.0], [TINY, 0.0], [7.0, 7.0], [1e300]])
def test_plotext_draws_the_placed_values(size: tuple[int, int], values: list[float]) -> None:
    """plotext fails on values whose range overflows; on the unit scale it cannot."""
    from textual_plotext.plot import Plot

    axis = value_axis(np.array(values), size[1])
    assert axis is not None
    plt = Plot()
    plt.plot(list(range(len(values))), axis.place(values).tolist(), marker="hd")
    plt.yticks(axis.ticks, axis.labels)
    plt.ylim(0, 1)
    plt.plotsize(*size)
    assert plt.build()
