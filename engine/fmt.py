"""How numbers, tensors and shapes are written in every output (app, text trace, Markdown).

One module so that the graph and chain-rule panes, ``bpdbg trace --format text`` and
``bpdbg check`` never disagree on how ``0.1`` or a 256×16 matrix looks: one number format
(up to six significant digits, never cut mid-number, an ASCII minus sign), one matrix
notation (nested lists, ``[[0.8, -0.2], [0.2, -1.0]]``) and one summary of large arrays.
Where a pane has less room than a tensor needs, :func:`fit` leaves elements out, never
digits. The JSON trace does not use this module (it writes exact ``repr`` floats).
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
NUM_WIDTH = 13
"""The most characters :func:`num` takes with :data:`SIGNIFICANT` digits
(``-1.23457e-100``)."""
ELIDED = "…"
"""Stands for the elements (or the whole text) :func:`fit` leaves out."""
PENDING = "◌"
"""Stands for a number not computed yet at the event shown (a value before its forward
event, a gradient before its backward event). Not ``·``, which means "times"."""


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
    return f"({shape(arr.shape)}) " + " ".join(p for p in _summary_parts(arr) if p)


def _summary_parts(arr: np.ndarray) -> tuple[str, str, str]:
    """``("‖·‖=3.21", "range [-0.98, 0.99]", "(2 nan)")`` of a summary; empty parts are
    absent."""
    finite = np.isfinite(arr)
    n_bad = int(arr.size - np.count_nonzero(finite))
    with np.errstate(all="ignore"):
        # Summed without BLAS (np.linalg.norm calls it): on a busy machine a BLAS call
        # can cost a hundred times more, and a pane summarises on every step.
        norm = math.sqrt(float(np.square(arr).sum()))
    d = SUMMARY_DIGITS
    span = ""
    if n_bad < arr.size:
        vals = arr[finite] if n_bad else arr
        span = f"range [{num(vals.min(), d)}, {num(vals.max(), d)}]"
    bad = ""
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
        bad = "(" + ", ".join(kinds) + ")"
    return f"‖·‖={num(norm, d)}", span, bad


def fit(a: np.ndarray | float, width: int, max_elems: int = MAX_ELEMS) -> str:
    """As much of :func:`tensor`'s text of ``a`` as fits in ``width`` characters.

    The shape is left to the caller (a pane shows it elsewhere). In order of preference:
    a number; an array of at most ``max_elems`` elements in full (``[[0.8, -0.2], [0.2,
    -1.0]]``), then its leading elements with the rest elided (``[[0.8, -0.2], …]``); the
    summary without its shape (``‖·‖=1.96 range [-0.8, 1.2]``), then its norm alone
    (``‖·‖=1.96``, with a count of any non-finite elements when it fits). Every number
    is written as :func:`num` writes it: elements are left out, never digits. When not
    even that fits, the text is :data:`ELIDED`.

    Args:
        a: The array (or a number).
        width: The most characters the text may take.
        max_elems: The largest array written element by element.

    Returns:
        The text, at most ``width`` characters (or :data:`ELIDED`).
    """
    arr = np.asarray(a, dtype=np.float64)
    if arr.size == 1:
        text = num(arr.reshape(-1)[0])
        return text if len(text) <= width else ELIDED
    if arr.size == 0:
        return "empty" if width >= 5 else ELIDED
    if arr.size <= max_elems:
        whole = _nested(arr)
        if len(whole) <= width:
            return whole
        for k in range(arr.size - 1, 0, -1):
            text = _leading(arr, k)[0]
            if len(text) <= width:
                return text
    norm, span, bad = _summary_parts(arr)
    for text in (" ".join(p for p in (norm, span, bad) if p), f"{norm} {bad}".strip(), norm):
        if len(text) <= width:
            return text
    return ELIDED


def _leading(arr: np.ndarray, k: int) -> tuple[str, int]:
    """``arr`` in nested brackets with only its first ``k`` elements (row-major) written,
    each level's remaining entries as one :data:`ELIDED`; and how many were written."""
    if arr.ndim == 0:
        return num(arr), 1
    parts: list[str] = []
    used = 0
    for sub in arr:
        if used >= k:
            parts.append(ELIDED)
            break
        text, n = _leading(sub, k - used)
        parts.append(text)
        used += n
    return "[" + ", ".join(parts) + "]", used


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
