"""A plot's value axis for any float64 data: its range, its ticks and their labels, and
where each value goes on it.

The history pane's plots draw on a unit scale: each value becomes its fraction of the way
from the bottom of the axis to its top (0 to 1), and the ticks are written here. The
plotting library then only ever sees numbers between 0 and 1, whatever the run produced:
a loss of 1e308 beside -1e308 (whose difference overflows), denormals, a curve whose
values are all equal, or a log scale over 600 orders of magnitude. Non-finite values have
no place on a finite axis: :meth:`ValueAxis.place` gives them NaN, and callers drop them
(the panes that show numbers say ``inf`` and ``nan``).

Everything here is a pure function of the values, so an axis can be tested without a
plot, and survives a change of plotting library.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from engine import fmt

MAX_TICKS = 5
"""The most ticks on an axis (fewer on a short one: about one per two rows)."""
MAX_DIGITS = 12
"""The most significant digits of a tick label."""
HALVE_ABOVE = 1e300
"""Ranges wider than this are worked out in halves of the values, which cannot overflow."""
DECADE_STRIDES = (1, 2, 5, 10, 20, 50, 100, 200, 500)
"""Decades between ticks on a log axis: the smallest that gives few enough ticks."""


class ValueAxis(msgspec.Struct, frozen=True):
    """A value axis and its ticks.

    Attributes:
        lo: The bottom of the axis, in data units (their ``log10`` on a log axis).
        hi: The top of the axis, in the same units; equal to ``lo`` when every value is.
        log: Whether the axis is logarithmic.
        ticks: Where the ticks are, on the unit scale (0 is ``lo``, 1 is ``hi``).
        labels: What each tick says.
    """

    lo: float
    hi: float
    log: bool
    ticks: tuple[float, ...]
    labels: tuple[str, ...]

    def place(self, values: np.ndarray | list[float]) -> np.ndarray:
        """Where ``values`` go on the unit scale: 0 at the bottom, 1 at the top.

        Every value of an axis with no extent goes to its middle (0.5). Values that
        cannot be placed (non-finite; zero or negative on a log axis) come back as NaN.
        """
        v = np.asarray(values, dtype=np.float64)
        with np.errstate(all="ignore"):
            if self.log:
                v = np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.nan)
            v = np.where(np.isfinite(v), v, np.nan)
            if self.hi == self.lo:
                return np.where(np.isnan(v), np.nan, 0.5)
            return _fraction(v, self.lo, self.hi)


def value_axis(values: np.ndarray, rows: int, *, log: bool = False) -> ValueAxis | None:
    """The axis for ``values``: from the smallest to the largest finite one.

    Args:
        values: The values the axis must show (any float64: non-finite ones, and zero or
            negative ones on a log axis, are left out).
        rows: The rows the axis spans; there is about one tick per two rows, 2 to
            :data:`MAX_TICKS` of them.
        log: A logarithmic axis (base 10).

    Returns:
        The axis, or None when no value can be placed on it.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if log:
        v = v[v > 0]  # NaN compares false: dropped too
        with np.errstate(all="ignore"):
            v = np.log10(v)
    v = v[np.isfinite(v)]
    if not v.size:
        return None
    lo, hi = float(v.min()), float(v.max())
    most = max(2, min(MAX_TICKS, rows // 2))
    if lo == hi:
        return ValueAxis(lo, hi, log, (0.5,), (fmt.num(_power(lo) if log else lo, 4),))
    if log:
        ticks, labels = _log_ticks(lo, hi, most)
    else:
        ticks, labels = _linear_ticks(lo, hi, most)
    places = _fraction(np.asarray(ticks), lo, hi)
    return ValueAxis(lo, hi, log, tuple(places.tolist()), tuple(labels))


def _fraction(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``(v - lo) / (hi - lo)``, clipped to [0, 1], without overflow (``lo < hi``)."""
    with np.errstate(all="ignore"):
        if math.isfinite(hi - lo):
            out = (v - lo) / (hi - lo)
        else:
            # Both ends are huge: halving them is exact and makes the difference finite.
            out = (v / 2 - lo / 2) / (hi / 2 - lo / 2)
    return np.clip(out, 0.0, 1.0)


def _linspace(lo: float, hi: float, n: int) -> list[float]:
    """``n`` evenly spaced values from ``lo`` to ``hi``, both included, without overflow."""
    if abs(hi - lo) < HALVE_ABOVE:  # numpy's steps overflow near the largest float
        return np.linspace(lo, hi, n).tolist()
    return (np.linspace(lo / 2, hi / 2, n) * 2).tolist()


def _linear_ticks(lo: float, hi: float, n: int) -> tuple[list[float], list[str]]:
    """``n`` ticks from ``lo`` to ``hi``, labelled with just enough digits to tell them
    apart (plotext writes ``1.2e-08`` as ``0.000000012``; gradient norms are often that
    small, and a loss may be 1e+300)."""
    ticks = _linspace(lo, hi, n)
    magnitude = max(abs(lo), abs(hi))
    with np.errstate(all="ignore"):
        ratio = magnitude * (n - 1) / (hi - lo)
    if math.isfinite(ratio) and ratio > 0:
        needed = math.log10(ratio)
    else:  # huge ends: the same in logarithms (halved, as in _fraction)
        needed = (
            math.log10(magnitude) + math.log10(n - 1) - math.log10(hi / 2 - lo / 2) - math.log10(2)
        )
    digits = min(MAX_DIGITS, max(3, math.ceil(needed) + 1))
    return ticks, [fmt.num(t, digits) for t in ticks]


def _log_ticks(lo: float, hi: float, n: int) -> tuple[list[float], list[str]]:
    """Ticks for a log axis from ``10**lo`` to ``10**hi`` (``lo``, ``hi`` and the ticks are
    exponents): whole decades when the axis spans at least two, else ``n`` evenly spaced
    exponents labelled with the digits that tell their values apart."""
    for stride in DECADE_STRIDES:
        first, last = math.ceil(lo / stride), math.floor(hi / stride)
        if last - first + 1 <= n:
            if last - first + 1 >= 2:
                decades = [k * stride for k in range(first, last + 1)]
                return [float(k) for k in decades], [_decade(k) for k in decades]
            break
    ticks = _linspace(lo, hi, n)
    values = [_power(t) for t in ticks]
    for digits in range(3, MAX_DIGITS + 1):
        labels = [fmt.num(v, digits) for v in values]
        if len(set(labels)) == len(labels):
            break
    return ticks, labels


def _power(exponent: float) -> float:
    """``10**exponent``, at most the largest float64: the log of the largest float, raised
    back, rounds above it."""
    with np.errstate(over="ignore"):
        return min(float(np.power(10.0, exponent)), float(np.finfo(np.float64).max))


def _decade(k: int) -> str:
    """The label of ``10**k``: ``0.001``, ``1.0``, ``1000.0``, or ``1e-05``, ``1e+300``
    (not ``fmt.num(10.0**k)``, which writes ``10.0**-323`` as ``9.88131e-324``)."""
    return fmt.num(10.0**k) if -4 <= k <= 4 else f"1e{k:+03d}"
