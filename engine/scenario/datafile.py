"""Data files beside a scenario: a CSV table or an ``.npz`` of arrays ``x`` and ``y``.

``[data] file = "points.csv"`` names a file relative to the scenario file's folder. It is
read only if it stays inside that folder once resolved (no absolute path, no ``..``, no
symlink leading out), is a regular file, and is within :data:`MAX_DATA_FILE_BYTES`.

- **CSV**: UTF-8 text, a header row of column names, then one row per sample of numbers
  only (decimal or exponent notation; no quotes, no empty cells, no nan or inf). Rows
  and columns are counted from the text before a single number is converted, so the
  limits apply before anything is allocated.
- **NPZ**: a zip of ``.npy`` arrays named ``x`` and ``y`` (nothing else), as
  ``numpy.savez`` writes. Each member's header (its dtype and shape) is read first and
  checked — plain integer or float dtypes only, at most :data:`MAX_ELEMENTS` elements —
  and only then is it loaded, with ``allow_pickle=False`` (an object array can never be
  unpickled).

Every refusal is a :class:`DataFileError` saying where in the file (``line 3, column 2``
for CSV) and what was wrong; the loader puts it under the ``data.file`` key.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Callable
from pathlib import PurePath
from typing import NoReturn

import numpy as np

from engine.scenario.reading import file_problem, read_regular
from engine.scenario.records import MAX_ELEMENTS, MAX_SAMPLES

MAX_DATA_FILE_BYTES = 32 * 1024 * 1024
"""Largest data file read (32 MiB), checked with ``fstat`` before reading."""
MAX_COLUMNS = 4_097
"""Most columns of a CSV (``model.inputs``' limit and one target)."""
SUFFIXES = (".csv", ".npz")

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
"""A number as a CSV cell may write it: no underscores, no nan or inf (``float`` takes all
of those, so cells are matched first)."""
_NPZ_DTYPES = "iuf"
"""The dtype kinds an ``.npz`` array may have: signed and unsigned integers, floats."""


class DataFileError(ValueError):
    """A data file that cannot be used; the message names the file and the place in it."""


def _fail(message: str) -> NoReturn:
    raise DataFileError(message)


def resolve(folder: str, name: str) -> str:
    """The path of data file ``name`` inside ``folder``, or a refusal saying why not.

    Raises:
        DataFileError: ``name`` is empty, absolute, has a ``..`` part, has a suffix other
            than ``.csv``/``.npz``, or resolves (through a symlink) outside ``folder``.
    """
    if not name.strip():
        _fail('expected a file name such as "points.csv", found an empty string')
    if "\0" in name:
        _fail("not a valid file path")
    path = PurePath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        _fail(
            f"{name!r} is an absolute path; a data file is named relative to the scenario's folder"
        )
    if ".." in re.split(r"[/\\]", name):
        _fail(f"{name!r} leaves the scenario's folder ('..'); a data file must be inside it")
    if path.suffix.lower() not in SUFFIXES:
        _fail(f"{name!r} is neither a .csv nor a .npz file")
    root = os.path.realpath(folder)
    target = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, target]) != root:
        _fail(f"{name!r} resolves outside the scenario's folder (through a symbolic link)")
    return target


def read(folder: str, name: str) -> bytes:
    """The bytes of data file ``name`` in ``folder`` (see :func:`resolve`).

    Raises:
        DataFileError: Not confined to the folder, missing, not a regular file, or larger
            than :data:`MAX_DATA_FILE_BYTES`.
    """
    path = resolve(folder, name)

    def fail(place: str, message: str) -> NoReturn:
        _fail(f"{name}: {message.replace('scenario file', 'data file')}")

    try:
        return read_regular(path, MAX_DATA_FILE_BYTES, fail)
    except OSError as err:
        _fail(f"{name}: {file_problem(err)}")


# --- CSV ----------------------------------------------------------------------------------


def parse_csv(raw: bytes, name: str) -> tuple[tuple[str, ...], np.ndarray]:
    """A CSV table: its column names and its numbers, float64 of shape (rows, columns).

    Raises:
        DataFileError: Not UTF-8, no header, a repeated or empty column name, a row of the
            wrong length, a cell that is not a finite number, or more rows or numbers than
            the limits; the message names the line and column (both 1-based).
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        _fail(f"{name}: line {line}: not UTF-8 text (byte 0x{raw[err.start]:02x})")
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        _fail(f"{name}: the file is empty; expected a header row of column names")
    header = [c.strip() for c in lines[0].split(",")]
    if len(header) > MAX_COLUMNS:
        _fail(f"{name}: line 1: {len(header):,} columns, above the limit of {MAX_COLUMNS:,}")
    seen: dict[str, int] = {}
    for k, column in enumerate(header, start=1):
        if not column:
            _fail(
                f"{name}: line 1, column {k}: an empty column name; the first row names the columns"
            )
        if _NUMBER.fullmatch(column):
            _fail(
                f"{name}: line 1, column {k}: found the number {column}; the first row must name"
                " the columns (a header row)"
            )
        if column in seen:
            _fail(
                f"{name}: line 1, column {k}: column {column!r} is named twice (also column {seen[column]})"
            )
        seen[column] = k
    rows = len(lines) - 1
    if rows == 0:
        _fail(f"{name}: only a header row; expected at least one row of numbers")
    if rows > MAX_SAMPLES:
        _fail(f"{name}: {rows:,} rows, above the limit of {MAX_SAMPLES:,} samples")
    if rows * len(header) > MAX_ELEMENTS:
        _fail(
            f"{name}: {rows:,} rows × {len(header):,} columns = {rows * len(header):,} numbers,"
            f" above the limit of {MAX_ELEMENTS:,}"
        )
    values = np.empty((rows, len(header)))
    for r, row in enumerate(lines[1:]):
        where = f"{name}: line {r + 2}"
        cells = row.split(",")
        if len(cells) != len(header):
            if not row.strip():
                _fail(f"{where}: an empty line; every row after the header holds one sample")
            _fail(
                f"{where}: {len(cells)} values, expected {len(header)} (one per column of the header)"
            )
        for c, cell in enumerate(cells):
            cell = cell.strip()
            if not _NUMBER.fullmatch(cell):
                found = "an empty cell" if not cell else f"{_shown(cell)}"
                _fail(f"{where}, column {c + 1} ({header[c]}): {found} is not a number")
            number = float(cell)
            if not np.isfinite(number):
                _fail(f"{where}, column {c + 1} ({header[c]}): {cell} is beyond float64's range")
            values[r, c] = number
    return tuple(header), values


def _shown(cell: str) -> str:
    return repr(cell if len(cell) <= 24 else cell[:24] + "…")


# --- NPZ ----------------------------------------------------------------------------------

_HEADER_READERS: dict[tuple[int, int], Callable] = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def parse_npz(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``x`` and ``y`` of an ``.npz`` (it holds nothing else), as float64.

    Raises:
        DataFileError: See :func:`npz_arrays`; also members other than x and y.
    """
    arrays = npz_arrays(raw, name, ("x", "y"), only=True, max_axes=2)
    return arrays["x"], arrays["y"]


def npz_arrays(
    raw: bytes, name: str, wanted: tuple[str, ...], *, only: bool = False, max_axes: int = 2
) -> dict[str, np.ndarray]:
    """The arrays ``wanted`` of an ``.npz``, as float64, each checked before it is loaded.

    Args:
        raw: The file's bytes.
        name: The file as the scenario names it, for messages.
        wanted: The arrays to load (others are never read).
        only: Refuse an archive holding anything but ``wanted``.
        max_axes: The most axes an array may have.

    Raises:
        DataFileError: Not a zip of ``.npy`` arrays, a wanted array missing (or, with
            ``only``, others present), a dtype that is not a plain number (objects,
            strings, records, complex), too many axes or elements, or values that are not
            finite.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, ValueError, OSError):
        _fail(f"{name}: not an .npz file (a zip archive of .npy arrays, as numpy.savez writes)")
    with archive:
        members = {info.filename: info for info in archive.infolist()}
        names = sorted(members)
        held = ", ".join(n.removesuffix(".npy") for n in names[:8]) or "nothing"
        if only and set(names) != {f"{key}.npy" for key in wanted}:
            _fail(f"{name}: expected exactly the arrays {' and '.join(wanted)}, found {held}")
        for key in wanted:
            info = members.get(f"{key}.npy")
            if info is None:
                _fail(f"{name}: has no array {key!r}; its arrays are {held}")
            # The declared size bounds what reading the member can produce.
            if info.file_size > 8 * MAX_ELEMENTS + 65_536:
                _fail(f"{name}: array {key} is {info.file_size:,} bytes uncompressed, too large")
            try:
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    reader = _HEADER_READERS.get(version)
                    if reader is None:
                        _fail(
                            f"{name}: array {key}: .npy format version {version} is not supported"
                        )
                    shape, _fortran, dtype = reader(member)
            except DataFileError:
                raise
            except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
                _fail(f"{name}: array {key}: not a valid .npy array ({err})")
            if dtype.hasobject or dtype.fields is not None or dtype.kind not in _NPZ_DTYPES:
                _fail(
                    f"{name}: array {key} has dtype {dtype}; expected integers or floats"
                    " (objects, strings, records and complex numbers are refused)"
                )
            size = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if len(shape) > max_axes or size > MAX_ELEMENTS:
                _fail(
                    f"{name}: array {key} has shape {tuple(shape)}; expected at most {max_axes}"
                    f" axes and {MAX_ELEMENTS:,} elements"
                )
        arrays: dict[str, np.ndarray] = {}
        try:
            loaded = np.load(io.BytesIO(raw), allow_pickle=False)
            with loaded:
                for key in wanted:
                    arrays[key] = np.asarray(loaded[key], dtype=np.float64)
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
            _fail(f"{name}: cannot load the arrays ({err})")
    for key, a in arrays.items():
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            at = np.unravel_index(int(bad[0]), a.shape) if a.ndim else ()
            _fail(
                f"{name}: array {key}{list(map(int, at))}: {a.flat[bad[0]]} is not a finite number"
            )
    return arrays
