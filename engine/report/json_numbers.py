"""Arrays of float64 as JSON text, each number exactly as Python's ``repr`` writes it.

The trace (SPEC §3) writes numbers so that float64 round-trips exactly, in Python's
``repr`` form (``0.1``, ``1e-05``, ``1e+16``, ``-0.0``), and non-finite numbers as the
strings ``"nan"``, ``"inf"``, ``"-inf"``. ``repr`` costs about 450 ns a number, and a
spiral-mlp step writes a quarter of a million of them.

msgspec writes the same shortest round-trip digits (as ``repr``, the shortest text that
reads back as the same double) ten times faster, but in another form in two ranges of
magnitude, and ``null`` for a non-finite number:

==================  ===================  ====================
magnitude           msgspec              ``repr``
==================  ===================  ====================
[1e-5, 1e-4)        ``0.0000123``        ``1.23e-05``
below 1e-5          ``1.5e-7``           ``1.5e-07``
1e16 and above      ``2.5e16``           ``2.5e+16``
==================  ===================  ====================

Everything else, zero and ``-0.0`` included, reads the same. So :func:`array_json` lets
msgspec write the array and rewrites only those numbers, found by their look in the
bytes with a few vectorised numpy passes: the digits stay, the point and the exponent
move. The first call checks the whole scheme against ``repr`` on numbers of every
range; should a msgspec release ever write otherwise, every array goes through
``repr`` instead, slower but never wrong.
"""

from __future__ import annotations

import json
import math
from typing import Any

import msgspec
import numpy as np

_encode = msgspec.json.encode

_COMMA, _OPEN, _CLOSE, _E, _MINUS, _ZERO, _POINT = (ord(c) for c in ",[]e-0.")
_ZEROS = int.from_bytes(b"0000", "little")
_DROP, _E_PLUS, _MINUS_ZERO = 1, 2, 3
_MARKS = ((b"\x01", b""), (b"\x02", b"e+"), (b"\x03", b"-0"))
"""Marks written over bytes of msgspec's text, and what each becomes: control
characters, which msgspec never writes in a list of numbers."""
_E_05 = np.frombuffer(b"e-05", dtype=np.uint8)
_FOUR, _UP_TO_16 = np.arange(4), np.arange(16)
_AFTER_D1 = np.arange(7, 7 + 17)
"""Offsets from a ``0.0000…`` number's start at which its end may be: ≤ 17 digits."""

_FEW = 32
"""Up to this many matches, ``bytes.find`` finds them faster than a pass of numpy."""

_checked: bool | None = None
"""Whether the fast way writes what ``repr`` writes; None until the first array."""


def number(x: float) -> str:
    """One float as the trace writes it: ``repr``, or ``"nan"``/``"inf"``/``"-inf"``."""
    if math.isfinite(x):
        return float.__repr__(x)
    if math.isnan(x):
        return '"nan"'
    return '"inf"' if x > 0 else '"-inf"'


def array_json(a: np.ndarray) -> bytes:
    """An array as JSON: a number for a 0-d array, else nested lists, row-major.

    Every number is written as :func:`number` writes it, so reading the text back
    gives the same 64 bits (a NaN gives a NaN).

    Args:
        a: An array of any shape (or a numpy scalar), written as float64.

    Returns:
        The JSON text, ASCII.
    """
    if a.ndim == 0:
        return number(float(a)).encode()
    if a.dtype != np.float64:
        a = a.astype(np.float64)
    if not _fast_is_exact():
        return _slow(a)
    return _fast(a)


def _fast(a: np.ndarray) -> bytes:
    raw = _encode(a.tolist())
    # Each test is a search of the bytes in C, far cheaper than a pass over the values.
    if b"n" in raw:  # null: a NaN or an infinity, which only repr's way can write
        return _slow(a)
    exponent = b"e" in raw
    magnitude = np.abs(a)
    mid = bool(((magnitude < 1e-4) & (magnitude >= 1e-5)).any())  # written 0.0000…
    if not exponent and not mid:
        return raw  # most arrays: msgspec's text is repr's already
    return _rewrite(raw, exponent, mid)


def _rewrite(raw: bytes, exponent: bool, mid: bool) -> bytes:
    """msgspec's text with every number in ``repr``'s form.

    Every change is first made in place, in a copy of the bytes, where a mark is
    written over a byte that is to go, or to become two. Then a ``bytes.replace`` per
    kind of mark (in C, a fraction of a nanosecond a byte) gives the text its length.
    Numbers are found by their look rather than by counting commas: finding the
    thousands of commas of a 150×64 array would cost more than msgspec's encoding.

    Args:
        raw: msgspec's text of a finite array.
        exponent: Whether it has an ``e``.
        mid: Whether it may have numbers written ``0.0000…``.
    """
    buf = np.frombuffer(raw, dtype=np.uint8)
    # One byte to spare at the end: where the writes that are not needed go.
    out = np.empty(len(raw) + 1, dtype=np.uint8)
    out[:-1] = buf
    start = _find_mid(raw, buf) if mid else None
    if start is not None and len(start):
        # "-0.0000" D1 D2…Dk  →  "-" D1 "." D2…Dk "e-05"   (D1 "e-05" when k = 1): in
        # place, then one byte dropped (two when k = 1).
        window = buf.take(start[:, None] + _AFTER_D1, mode="clip")  # clip: the last "]"
        digits = ((window == _COMMA) | (window == _CLOSE)).argmax(axis=1) + 1  # k
        out[start] = buf[start + 6]  # D1 where the 0 was; the point stays where it is
        moves = _UP_TO_16 < (digits - 1)[:, None]  # D2…Dk, five to the left
        at = start[:, None] + 2 + _UP_TO_16
        out[np.where(moves, at, len(raw))] = buf.take(at + 5, mode="clip")
        suffix = start + digits + 1 - (digits == 1)  # after Dk, or after D1 when k = 1
        out[suffix[:, None] + _FOUR] = _E_05
        out[suffix + 4] = _DROP
        out[suffix[digits == 1] + 5] = _DROP
    if exponent:
        # "e16" → "e+16", "e-7" → "e-07": repr writes a sign and at least two digits.
        exps = _find(raw, b"e")
        if exps is None:
            exps = np.flatnonzero(buf == _E)
        positive = buf[exps + 1] != _MINUS
        out[exps[positive]] = _E_PLUS
        after = buf.take(exps + 3, mode="clip")  # the byte after a one-digit exponent
        short = ~positive & ((after == _COMMA) | (after == _CLOSE))
        out[exps[short] + 1] = _MINUS_ZERO
    text = out[:-1].tobytes()
    for mark, becomes in _MARKS:
        if mark in text:
            text = text.replace(mark, becomes)
    return text


def _find(raw: bytes, needle: bytes) -> np.ndarray | None:
    """Where the byte ``needle`` is in ``raw``, found by ``bytes.find`` if it is there a
    few times only (a pass of numpy over a large array costs more); None if often."""
    if raw.count(needle) > _FEW:
        return None
    found = []
    at = raw.find(needle)
    while at >= 0:
        found.append(at)
        at = raw.find(needle, at + 1)
    return np.array(found, dtype=np.intp)


def _find_mid(raw: bytes, buf: np.ndarray) -> np.ndarray:
    """Where the numbers written ``0.0000…`` begin (after any minus sign), in order."""
    # "0000", four bytes at a time at each of the four alignments (bytes.find is slow
    # for a pattern of several bytes). Other numbers rarely have it, so what follows
    # looks at a few places only.
    hits = []
    for k in range(4):
        words = np.frombuffer(raw, dtype="<u4", count=(len(raw) - k) // 4, offset=k)
        hits.append(np.flatnonzero(words == _ZEROS) * 4 + k)
    zeros = np.sort(np.concatenate(hits))
    zeros = zeros[zeros >= 3]  # after "[0." at least
    before = buf[zeros - 3]
    begins = (
        (buf[zeros - 1] == _POINT)
        & (buf[zeros - 2] == _ZERO)
        & ((before == _COMMA) | (before == _OPEN) | (before == _MINUS))
    )
    return zeros[begins] - 2


def _slow(a: np.ndarray) -> bytes:
    """``repr`` of every number, through the standard library (non-finite ones too)."""
    return json.dumps(_strings(a.tolist()), separators=(",", ":"), allow_nan=False).encode()


def _strings(v: Any) -> Any:
    if isinstance(v, list):
        return [_strings(e) for e in v]
    if math.isfinite(v):
        return v
    if math.isnan(v):
        return "nan"
    return "inf" if v > 0 else "-inf"


# fmt: off
_SAMPLES = (
    0.0, -0.0, 1.0, -0.1, 123.456, 1e15, 2.0**53, 0.0001, 0.00012, 9.999999999999999e-05,
    1e-05, -1.5e-05, 1.2345678901234567e-05, 1e-06, -2.5e-07, 1e-09, 9.87e-10, 1e-10,
    5e-324, -2.2250738585072014e-308, 1e16, -2.5e17, 1.7976931348623157e308,
)
# fmt: on
"""Numbers of every range and form the fast way rewrites, or leaves."""


def _fast_is_exact() -> bool:
    """Whether the fast way writes what ``repr`` writes (checked once, on first use)."""
    global _checked
    if _checked is None:
        samples = np.array(_SAMPLES)
        shapes = ((-1,), (-1, 1), (1, -1), (-1, 1, 1))
        _checked = all(
            _fast(samples.reshape(s)) == _slow(samples.reshape(s)) for s in shapes
        ) and _fast(samples[::-1]) == _slow(samples[::-1])
    return _checked
