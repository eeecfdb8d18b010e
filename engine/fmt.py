"""How numbers, tensors and shapes are written in every output (app, text trace, Markdown).

One module so that the chain-rule pane, ``bpdbg trace --format text`` and ``bpdbg check``
never disagree on how ``0.1`` or a 256×16 matrix looks. Numbers keep up to six
significant digits and are never cut mid-number; the JSON trace does not use this
module (it writes exact ``repr`` floats).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

SIGNIFICANT = 6
"""Significant digits in a formatted number."""
SUMMARY_DIGITS = 3
"""Significant digits of the norm and range in a summary: a glance, not a value."""
MAX_ELEMS = 12
"""Arrays with at most this many elements are written in full; larger ones summarised."""


def num(x: float | np.ndarray | Any, digits: int = SIGNIFICANT) -> str:
    """A number, short and readable: ``0.25``, ``1.0``, ``-0.1``, ``1.23e-05``, ``nan``.

    Up to :data:`SIGNIFICANT` significant digits; there is always a decimal point or an
    exponent, so a float never reads as an integer (``1.0``, not ``1``).

    Args:
        x: Any real number (Python or numpy scalar, or a size-1 array).
        digits: Significant digits at most.

    Returns:
        The text.
    """
    x = float(np.asarray(x, dtype=np.float64).reshape(-1)[0])
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0.0"  # -0.0 reads as a sign error to a learner; the value is zero either way
    text = f"{x:.{digits}g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def shape(s: Sequence[int]) -> str:
    """A shape for people: ``2×4``; ``(4,)`` is ``4``; ``()`` is ``scalar``."""
    s = tuple(s)
    if not s:
        return "scalar"
    return "×".join(str(n) for n in s)


def tensor(a: np.ndarray | float, max_elems: int = MAX_ELEMS) -> str:
    """An array for people.

    Scalars and size-1 arrays are one number (``0.5``); arrays of at most ``max_elems``
    elements are written in full with brackets (``[[0.1, -0.2], [0.3, 0.4]]``); larger
    ones as a summary: ``(256×16) ‖·‖=3.21 range [-0.98, 0.99]``, with a count of any
    non-finite elements.

    Args:
        a: The array (or a number).
        max_elems: The largest array written in full.

    Returns:
        The text.
    """
    arr = np.asarray(a, dtype=np.float64)
    if arr.size == 1:
        return num(arr.reshape(-1)[0])
    if arr.size == 0:
        return f"({shape(arr.shape)}) empty"
    if arr.size <= max_elems:
        return _nested(arr)
    return summary(arr)


def summary(arr: np.ndarray) -> str:
    """A one-line summary of an array: shape, Euclidean norm, range, non-finite count."""
    arr = np.asarray(arr, dtype=np.float64)
    finite = np.isfinite(arr)
    n_bad = int(arr.size - np.count_nonzero(finite))
    with np.errstate(all="ignore"):
        norm = float(np.linalg.norm(arr.reshape(-1)))
    d = SUMMARY_DIGITS
    text = f"({shape(arr.shape)}) ‖·‖={num(norm, d)}"
    if n_bad < arr.size:
        vals = arr[finite] if n_bad else arr
        text += f" range [{num(vals.min(), d)}, {num(vals.max(), d)}]"
    if n_bad:
        kinds = [
            f"{int(c)} {k}"
            for k, c in (
                ("nan", np.isnan(arr).sum()),
                ("inf", np.isposinf(arr).sum()),
                ("-inf", np.isneginf(arr).sum()),
            )
            if c
        ]
        text += " (" + ", ".join(kinds) + ")"
    return text


def _nested(arr: np.ndarray) -> str:
    if arr.ndim == 0:
        return num(arr)
    return "[" + ", ".join(_nested(sub) for sub in arr) + "]"


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str, *, newlines: bool = False) -> str:
    """Text from a file, safe to show on a terminal: control characters escaped.

    A scenario's name, description or expression is data: an ESC or BEL in it must not
    reach the terminal as a control sequence. Every C0/C1 control character (and the
    Unicode line and paragraph separators) is written as a visible escape such as
    ``\\x1b``; tabs become a space; newlines are kept only where ``newlines`` is true
    (a Markdown description), else written as ``\\n`` so one line stays one line.

    Args:
        text: Any text.
        newlines: Keep ``\\n`` (and drop ``\\r`` before it) instead of escaping it.

    Returns:
        The text with nothing a terminal would interpret.
    """
    text = text.replace("\t", " ")
    if newlines:
        text = text.replace("\r\n", "\n")
    else:
        text = text.replace("\r\n", "\\n").replace("\n", "\\n")
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
