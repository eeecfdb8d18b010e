"""Axis scales for the plots: which scale a series needs, where its ticks go, how they read.

Pure functions (no Textual), so that every number a plot could meet — 1e-300, 1e308,
inf, NaN, a parameter flipping sign while it grows 10⁸-fold a step — is tested here.

A :class:`Scale` maps data values to the coordinate a plot draws:

- ``linear``: the value itself;
- ``log``: ``log10(y)``, for positive series spanning orders of magnitude (a loss);
- ``symlog``: ``sign(y)·log10(1 + |y|/c)``, for series of both signs spanning orders of
  magnitude (a parameter that diverges): linear within ``c`` of zero, logarithmic beyond.

Non-finite values are never drawn: they are left out before a scale is chosen, so the
axes fit the finite values, and the plots mark where the others are.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

LOG_SPAN = 1e3
"""A positive series is plotted on a log scale once its largest value is this many times
its smallest."""
SYMLOG_SPAN = 1e3
"""A series of both signs (or with zeros) is plotted on a symlog scale once its largest
magnitude is this many times its median magnitude."""
HUGE = 1e300
"""Values beyond this are never on a linear axis: mapping them to a plot's rows would
overflow (the distance times the rows is past the largest float)."""
NICE = (1.0, 2.0, 5.0)
"""Tick spacings within a decade."""


class Scale(msgspec.Struct, frozen=True):
    """How values are mapped to plot coordinates.

    Attributes:
        kind: ``"linear"``, ``"log"`` or ``"symlog"``.
        c: The symlog scale's linear range around zero.
    """

    kind: str = "linear"
    c: float = 1.0

    def forward(self, y: np.ndarray) -> np.ndarray:
        """Plot coordinates of finite values (``log``: of positive ones)."""
        y = np.asarray(y, dtype=np.float64)
        with np.errstate(all="ignore"):
            if self.kind == "log":
                return np.log10(y)
            if self.kind == "symlog":
                # log10(1 + |y|/c), written so that nothing overflows: not |y|/c, and
                # not |y| + c either (1e308 + 1e308), halved first.
                half = 0.5 * np.abs(y) + 0.5 * self.c
                return np.sign(y) * (np.log10(half) + math.log10(2.0) - math.log10(self.c))
        return y

    def inverse(self, t: float) -> float:
        """The value drawn at coordinate ``t``."""
        if self.kind == "log":
            return 10.0**t
        if self.kind == "symlog":
            return math.copysign(self.c * (10.0 ** abs(t) - 1.0), t)
        return t

    def drawable(self, y: np.ndarray) -> np.ndarray:
        """Which values this scale can draw: finite ones (``log``: and positive)."""
        y = np.asarray(y, dtype=np.float64)
        ok = np.isfinite(y)
        if self.kind == "log":
            ok &= y > 0
        return ok

    def ticks(self, lo: float, hi: float, most: int) -> tuple[list[float], list[str]]:
        """Ticks between plot coordinates ``lo`` and ``hi``: positions and labels.

        Args:
            lo: The axis's low end (a plot coordinate).
            hi: Its high end.
            most: The most ticks wanted (at least 2 are given where 2 fit).
        """
        if self.kind == "log":
            return _log_ticks(lo, hi, most)
        if self.kind == "symlog":
            return _symlog_ticks(self, lo, hi, most)
        return linear_ticks(lo, hi, most)


def choose(values: np.ndarray, mode: str = "auto") -> Scale:
    """The scale for a series.

    Args:
        values: The series (any floats; non-finite ones are ignored).
        mode: ``"auto"`` decides from the values; ``"log"`` asks for a log scale (kept
            only if some value is positive); ``"linear"`` asks for a linear one (kept
            unless the values are too far apart for a float to measure the distance).
    """
    y = np.asarray(values, dtype=np.float64)
    y = y[np.isfinite(y)]
    if not len(y):
        return Scale()
    lo, hi = float(y.min()), float(y.max())
    if mode == "log":
        return Scale("log") if hi > 0 else Scale()
    too_wide = not math.isfinite(hi - lo) or max(abs(lo), abs(hi)) > HUGE
    if mode == "linear" and not too_wide:
        return Scale()
    if lo > 0:
        return Scale("log") if too_wide or hi >= LOG_SPAN * lo else Scale()
    magnitude = np.abs(y)
    largest = float(magnitude.max())
    with np.errstate(over="ignore"):  # the median of 1e308 and 1e308 passes through inf
        typical = float(np.median(magnitude))
    if too_wide or (largest > 0 and largest >= SYMLOG_SPAN * typical):
        nonzero = magnitude[magnitude > 0]
        # Linear only up to the smallest magnitudes (the power of ten at or below the
        # tenth percentile), so that almost every value is on the logarithmic part.
        small = float(np.percentile(nonzero, 10, method="lower"))
        return Scale("symlog", c=10.0 ** math.floor(math.log10(small)))
    return Scale()


def limits(t: np.ndarray, *, pad: float = 0.05) -> tuple[float, float]:
    """The axis range for plot coordinates ``t`` (finite), with a little room so that
    the curve does not run along the frame; a single value gets room of its own."""
    if not len(t):
        return 0.0, 1.0
    lo, hi = float(np.min(t)), float(np.max(t))
    span = hi - lo
    if span > 0 and math.isfinite(span):
        return lo - pad * span, hi + pad * span
    room = max(abs(lo) * 0.1, 1e-300) if lo else 1.0
    return lo - room, hi + room


# --- ticks -------------------------------------------------------------------------------------


def nice_step(span: float, most: int) -> float:
    """The smallest 1, 2 or 5 × 10ᵏ that divides ``span`` into at most ``most`` - 1 parts."""
    parts = max(1, most - 1)
    raw = span / parts
    if not (raw > 0 and math.isfinite(raw)):
        return 1.0
    exponent = math.floor(math.log10(raw))
    for m in (*NICE, 10.0):
        step = m * 10.0**exponent
        if step >= raw * (1 - 1e-9):
            return step
    return 10.0 ** (exponent + 1)


def linear_ticks(lo: float, hi: float, most: int) -> tuple[list[float], list[str]]:
    """Ticks at multiples of a nice step between ``lo`` and ``hi``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo], [number(lo)]
    step = nice_step(hi - lo, most)
    # A hair of tolerance: 0.2501 / 5e-5 is 5001.99…, and the tick at 0.2501 belongs.
    first = math.ceil(lo / step - 1e-9)
    ticks = [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]
    ticks = [0.0 if abs(t) < step * 1e-9 else t for t in ticks]  # no "-0" or "1e-17"
    return ticks, labels(ticks, step)


def labels(ticks: list[float], step: float) -> list[str]:
    """Labels for ticks ``step`` apart, each exact to the step and no longer.

    Plain decimals where they stay short (``0.25``, ``1200``), else a power of ten
    (``1e-3``, ``2.5e-3``, ``4e6``): never ``0.000000012``.
    """
    biggest = max((abs(t) for t in ticks), default=0.0)
    step_k = math.floor(math.log10(step) + 1e-9) if step > 0 else 0
    decimals = max(0, -step_k)
    if biggest < 1e5 and (biggest >= 1e-2 or biggest == 0) and decimals <= 6:
        return [f"{t:.{decimals}f}" for t in ticks]
    top_k = math.floor(math.log10(biggest)) if biggest > 0 else step_k
    for digits in range(max(1, top_k - step_k + 1), 17):
        out = [number(t, digits) for t in ticks]
        if len(set(out)) == len(out):
            return out
    return [number(t, 17) for t in ticks]


def number(x: float, digits: int = 3) -> str:
    """A short label: ``0``, ``0.25``, ``1e-3``, ``2.5e+8`` → ``2.5e8``, ``inf``."""
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if x == 0:
        return "0"
    exponent = math.floor(math.log10(abs(x)))
    if -2 <= exponent < 5:
        text = f"{x:.{digits}g}"
        return text if "e" not in text else _exp(x, digits)
    return _exp(x, digits)


def _exp(x: float, digits: int) -> str:
    mantissa, exponent = f"{x:.{max(0, digits - 1)}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def decade(k: int) -> str:
    """The label of ``10**k``: ``0.01``, ``0.1``, ``1``, ``10``, ``100`` near 1, else
    ``1e-3``, ``1e3``."""
    return f"{10.0**k:g}" if -2 <= k <= 2 else f"1e{k}"


def _decade_step(lo_k: int, hi_k: int, most: int) -> int:
    """Decades between ticks so that at most ``most`` fit from ``lo_k`` to ``hi_k``."""
    count = hi_k - lo_k + 1
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200):
        if math.ceil(count / step) <= max(2, most):
            return step
    return max(1, count // max(2, most) + 1)


def _log_ticks(lo: float, hi: float, most: int) -> tuple[list[float], list[str]]:
    lo_k, hi_k = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
    if hi_k - lo_k < 1:  # less than a decade in view: ticks at the ends, in values
        values = [10.0**lo, 10.0**hi]
        text = labels(values, abs(values[1] - values[0]))
        return [lo, hi], text
    step = _decade_step(lo_k, hi_k, most)
    start = lo_k + (-lo_k) % step  # multiples of the step, so 1 = 10⁰ is one where in range
    ks = list(range(start, hi_k + 1, step)) or [lo_k]
    return [float(k) for k in ks], [decade(k) for k in ks]


def _symlog_ticks(scale: Scale, lo: float, hi: float, most: int) -> tuple[list[float], list[str]]:
    """Zero, and ±10ᵏ above the linear range, as far as the axis reaches each way."""
    c_k = math.floor(math.log10(scale.c))
    # The decade of the largest magnitude in view: log10(c·(10^|t| − 1)), without the
    # overflow of 10^|t| far out.
    reach = max(abs(lo), abs(hi))
    top = math.log10(scale.c) + (reach if reach > 15 else math.log10(max(10.0**reach - 1, 1e-300)))
    top_k = min(308, max(c_k, math.floor(top)))
    sides = (lo < 0) + (hi > 0)
    step = _decade_step(c_k, top_k, max(1, (most - 1) // max(1, sides)))
    ks = list(range(top_k, c_k - 1, -step))[::-1]
    ticks: list[tuple[float, str]] = []
    if lo <= 0 <= hi:
        ticks.append((0.0, "0"))
    for k in ks:
        t = float(scale.forward(np.array(10.0**k)))
        if t <= hi:
            ticks.append((t, decade(k)))
        if -t >= lo:
            ticks.append((-t, "-" + decade(k)))
    ticks.sort()
    return [t for t, _ in ticks], [label for _, label in ticks]
