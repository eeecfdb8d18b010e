"""Generic checks of a parsed TOML document: keys, tables, numbers, choices, tensors, names.

:class:`Checker` knows the file's name and refuses a value with its place (a key path
such as ``model.layers[1].weight``) and what was found against what was expected. The
rules of each section (which keys, which kinds) are :mod:`engine.scenario.loader`'s.
"""

from __future__ import annotations

import datetime
import keyword
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from engine.errors import ScenarioError
from engine.graph.ops import FUNCTIONS
from engine.scenario.records import MAX_DIMS, MAX_ELEMENTS


def quote(text: str, limit: int = 40) -> str:
    """``text`` quoted for a message, shortened so a huge string cannot flood it."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def describe(value: Any) -> str:
    """What a TOML value is, for "found …" in a message: ``'two' (string)``."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (boolean)"
    if isinstance(value, int):
        if abs(value) >= 10**30:
            return "a very large integer"
        return f"{value} (integer)"
    if isinstance(value, float):
        return f"{value!r} (float)"
    if isinstance(value, str):
        return f"{quote(value)} (string)"
    if isinstance(value, list):
        return f"an array of {len(value)}" if value else "an empty array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.date | datetime.time):
        return f"{value.isoformat()} (date/time)"
    return type(value).__name__


def toml_key(key: str) -> str:
    """A key as it would be written in TOML: bare when it can be, else quoted."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", key):
        return key
    return '"' + quote(key)[1:-1].replace('"', '\\"') + '"'


def join_key(place: str, key: str) -> str:
    return f"{place}.{toml_key(key)}" if place else toml_key(key)


def element_index(flat: int, shape: tuple[int, ...] | list[int]) -> str:
    """``[i][j]…`` of element ``flat`` (row-major) of an array of ``shape``."""
    parts = []
    for size in reversed(shape):
        flat, rest = divmod(flat, size)
        parts.append(f"[{rest}]")
    return "".join(reversed(parts))


def shape_text(shape: tuple[int, ...]) -> str:
    return repr(tuple(shape))


def units_text(n: int) -> str:
    return f"{n} unit" if n == 1 else f"{n} units"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def find_assign(line: str) -> int | None:
    """Index of the first ``=`` that is not part of ``==``, ``<=``, ``>=`` or ``!=``."""
    for i, char in enumerate(line):
        if char != "=":
            continue
        before = line[i - 1] if i else ""
        after = line[i + 1] if i + 1 < len(line) else ""
        if before not in ("=", "<", ">", "!") and after != "=":
            return i
    return None


class Checker:
    """Checks values of one parsed document; knows the file name for its messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, place: str, message: str) -> NoReturn:
        raise ScenarioError(self.source, place, message) from None

    def keys(
        self, table: dict[str, Any], place: str, allowed: tuple[str, ...], note: str = ""
    ) -> None:
        for key in table:
            if key not in allowed:
                self.fail(
                    join_key(place, key) + note,
                    f"unknown key {quote(key)}; allowed keys are {', '.join(allowed)}",
                )

    def table(self, value: Any, place: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(place, f"expected a table, found {describe(value)}")
        return value

    def required(
        self, table: dict[str, Any], key: str, place: str, expected: str, note: str = ""
    ) -> Any:
        if key not in table:
            self.fail(
                join_key(place, key) + note, f"missing required key {key!r}; expected {expected}"
            )
        return table[key]

    def integer(self, value: Any, place: str, minimum: int, maximum: int | None = None) -> int:
        expected = f"an integer ≥ {minimum}"
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(place, f"expected {expected}, found {describe(value)}")
        if value < minimum:
            self.fail(place, f"expected {expected}, found {describe(value)}")
        if maximum is not None and value > maximum:
            found = f"{value:,}" if value < 10**30 else "a very large integer"
            self.fail(place, f"found {found}, above the limit of {maximum:,}")
        return value

    def number(self, value: Any, place: str, expected: str, ok: Callable[[float], bool]) -> float:
        if not is_number(value):
            self.fail(place, f"expected {expected}, found {describe(value)}")
        try:
            number = float(value)
        except OverflowError:
            self.fail(place, f"expected {expected}, found an integer too large for float64")
        if not math.isfinite(number):
            self.fail(place, f"expected {expected}, found {value!r} (not finite)")
        if not ok(number):
            self.fail(place, f"expected {expected}, found {describe(value)}")
        return number

    def choice(self, value: Any, place: str, choices: tuple[str, ...], what: str) -> str:
        if not isinstance(value, str):
            self.fail(
                place,
                f"expected a {what} name, one of {', '.join(choices)}; found {describe(value)}",
            )
        if value not in choices:
            self.fail(place, f"unknown {what} {quote(value)}; expected one of {', '.join(choices)}")
        return value

    def tensor(
        self,
        value: Any,
        place: str,
        note: str = "",
        *,
        scalar: bool = False,
        check: Callable[[tuple[int, ...]], None] | None = None,
    ) -> np.ndarray:
        """A nested array of finite numbers as a read-only float64 array.

        The nesting is walked one level at a time, checking that every level is
        rectangular and that the element count stays within :data:`MAX_ELEMENTS`
        before the next level is gathered; ``check`` sees the shape before any float
        is converted, so a wrong shape is refused without allocating the array.

        Args:
            value: The TOML value.
            place: Its key path, for messages.
            note: Appended to every place (``" (layer 2)"``).
            scalar: Whether a bare number is allowed (it becomes a 0-d array).
            check: Called with the shape; raises to refuse it.
        """
        shape: list[int] = []
        level: list[Any] = [value]
        while isinstance(level[0], list):
            size = len(level[0])
            if size == 0:
                self.fail(
                    place + element_index(0, shape) + note,
                    "expected an array of numbers, found an empty array",
                )
            if len(shape) == MAX_DIMS:
                self.fail(
                    place + note, f"array is nested deeper than the limit of {MAX_DIMS} levels"
                )
            if len(level) * size > MAX_ELEMENTS:
                self.fail(
                    place + note, f"array has more than the limit of {MAX_ELEMENTS:,} elements"
                )
            following: list[Any] = []
            for i, item in enumerate(level):
                if not isinstance(item, list) or len(item) != size:
                    self.fail(
                        place + element_index(i, shape) + note,
                        f"ragged array: found {describe(item)}, expected an array of {size}"
                        f" like {place}{element_index(0, shape)}",
                    )
                following.extend(item)
            shape.append(size)
            level = following
        if not shape and not scalar:
            self.fail(place + note, f"expected an array of numbers, found {describe(value)}")
        if check is not None:
            check(tuple(shape))
        flat: list[float] = []
        for i, item in enumerate(level):
            where = place + element_index(i, shape) + note
            if isinstance(item, list):
                self.fail(
                    where,
                    f"ragged array: found {describe(item)},"
                    " expected a number like the elements beside it",
                )
            if not is_number(item):
                self.fail(where, f"expected a number, found {describe(item)}")
            try:
                number = float(item)
            except OverflowError:
                self.fail(where, "expected a finite number, found an integer too large for float64")
            if not math.isfinite(number):
                self.fail(where, f"expected a finite number, found {item!r}")
            flat.append(number)
        # Freeze the base before reshaping, so the view cannot be made writeable again.
        return read_only(np.array(flat, dtype=np.float64)).reshape(shape)

    def name(self, name: str, place: str, what: str) -> str:
        """Check that ``name`` can stand for ``what`` (``"a param"``) in an expression."""
        if not name.isidentifier() or keyword.iskeyword(name):
            self.fail(
                place,
                f"{quote(name)} cannot name {what}; expected an identifier such as W or x_1"
                " that is not a Python keyword",
            )
        if name in FUNCTIONS:
            self.fail(
                place,
                f"{name!r} is a function name and cannot name {what};"
                f" functions are {', '.join(FUNCTIONS)}",
            )
        normal = unicodedata.normalize("NFKC", name)
        if normal != name:
            # Python's parser reads identifiers in NFKC form, so expressions would miss this one.
            self.fail(
                place, f"{quote(name)} is not in Unicode NFKC form; write it as {quote(normal)}"
            )
        return name
