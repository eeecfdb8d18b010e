"""Scenario files: TOML in, a validated, immutable :class:`Scenario` out.

A scenario file is data. Loading one parses TOML with :mod:`tomllib`, checks every key,
type, name, shape and size limit, and never executes anything the file contains.
Expressions in ``[graph]`` are kept as text here; :mod:`engine.graph.expr` parses them and
:mod:`engine.graph.build` checks their shapes.

Every refusal is one :class:`~engine.errors.ScenarioError` naming the file, the place
(a key path such as ``model.layers[1].activation (layer 2)``, ``graph.nodes[0]`` or
``line 3, column 7``) and what was found against what was expected.

Limits, checked before anything big is allocated (nested arrays are measured level by
level before a single float is converted), so that no file can exhaust memory:

=============================  ==============  ===================================
constant                       value           what it bounds
=============================  ==============  ===================================
``MAX_FILE_BYTES``             4 MiB           size of a scenario file (checked
                                               with ``os.stat`` before reading)
``MAX_NESTING``                64              arrays and inline tables nested in
                                               the TOML text (counted by a scan
                                               before parsing: the parser recurses)
``MAX_TABLES``                 4,096           tables in the TOML text: headers,
                                               inline tables and the parts of dotted
                                               keys (counted by the same scan: the
                                               parser makes a dict for each)
``MAX_ARRAYS``                 500,000         arrays in the TOML text (the same
                                               scan: the parser makes a list each)
``MAX_KEY_PARTS``              64              parts of one dotted key ``a.b.c``
                                               (the same scan: the parser takes
                                               time quadratic in them)
``MAX_ELEMENTS``               1,000,000       elements of any one array in the file
``MAX_DIMS``                   8               nesting depth of any one array
``MAX_SAMPLES``                100,000         rows of ``data.x``
``MAX_INPUTS``                 4,096           ``model.inputs``
``MAX_LAYERS``                 64              entries of ``model.layers``
``MAX_UNITS``                  4,096           ``units`` of one layer
``MAX_WEIGHT_ELEMENTS``        1,000,000       ``fan_in × units`` of one layer
``MAX_PARAMETERS``             2,000,000       weights + biases of a whole model, or
                                               elements of all ``graph.params``
``MAX_GRAPH_VALUES``           1,024           ``graph.inputs`` + ``graph.params``
``MAX_NODES``                  256             entries of ``graph.nodes``
``MAX_EXPRESSION_CHARS``       2,000           one node's expression text
``MAX_STEPS``                  10,000,000      ``train.steps``
(``train.batch_size``)         samples         at most the number of samples
``MAX_GENERATED_SAMPLES``      100,000         ``data.samples`` with a generator
``MAX_CLASSES``                8               ``data.classes`` (gauss, spiral;
                                               the other generators take 2)
``MAX_SEED``                   2**64 - 1       every ``seed``
``MAX_BREAKPOINTS``            64              entries of ``[[breakpoints]]``
``MAX_STEP_ELEMENTS``          20,000,000      numbers one recorded training step
                                               holds in all: node values,
                                               gradients, chain-rule terms,
                                               parameters and optimizer buffers
                                               (counted from the shapes by
                                               :func:`engine.step.run.step_footprint`
                                               when the graph is built, before
                                               anything is allocated)
=============================  ==============  ===================================

``[[breakpoints]]`` (an extension of SPEC §1) lists breakpoints the app sets when it
opens the scenario: each entry has exactly one of ``node = "W1"`` (every event of a node
or parameter), ``phase = "update"`` (where each step enters a phase) or
``when = "norm(grad) > 10"`` (a watchpoint condition, see :mod:`engine.debug.search`), and may
add ``enabled = false``. Keys and types are checked here; whether the node exists and
whether the condition compiles need the graph, so
:func:`engine.debug.search.compile_scenario_breakpoints` checks those.
"""

from __future__ import annotations

import datetime
import errno
import keyword
import math
import os
import re
import stat
import tomllib
import unicodedata
from collections.abc import Callable
from typing import Any, NoReturn

import msgspec
import numpy as np

from engine.errors import ScenarioError
from engine.graph.ops import ACTIVATIONS, FUNCTIONS, LOSSES
from engine.scenario import data as _data
from engine.step.events import PHASES

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NESTING = 64
MAX_TABLES = 4_096
MAX_ARRAYS = 500_000
MAX_KEY_PARTS = 64
MAX_ELEMENTS = 1_000_000
MAX_DIMS = 8
MAX_SAMPLES = 100_000
MAX_INPUTS = 4_096
MAX_LAYERS = 64
MAX_UNITS = 4_096
MAX_WEIGHT_ELEMENTS = 1_000_000
MAX_PARAMETERS = 2_000_000
MAX_GRAPH_VALUES = 1_024
MAX_NODES = 256
MAX_EXPRESSION_CHARS = 2_000
MAX_STEPS = 10_000_000
MAX_GENERATED_SAMPLES = _data.MAX_SAMPLES
MAX_CLASSES = _data.MAX_CLASSES
MAX_SEED = 2**64 - 1
MAX_BREAKPOINTS = 64
MAX_STEP_ELEMENTS = 20_000_000

INITS: tuple[str, ...] = ("xavier", "he", "zeros", "normal")
OPTIMIZERS: tuple[str, ...] = ("sgd", "momentum", "adam")
GENERATORS: tuple[str, ...] = _data.KINDS
# ACTIVATIONS, LOSSES and FUNCTIONS come from the op table: one list of names each.


class LayerSpec(msgspec.Struct, frozen=True, eq=False):
    """One layer of a ``[model]``: ``z = a_prev @ weight + bias``, ``a = activation(z)``."""

    units: int
    activation: str
    weight: np.ndarray | None = None
    """Shape ``(fan_in, units)``, float64, or ``None`` to draw it from ``init``."""
    bias: np.ndarray | None = None
    """Shape ``(units,)``, float64, or ``None`` for zeros."""


class ModelSpec(msgspec.Struct, frozen=True, eq=False):
    """A layered network (``[model]``)."""

    inputs: int
    layers: tuple[LayerSpec, ...]
    init: str = "xavier"
    seed: int = 0


class GraphSpec(msgspec.Struct, frozen=True, eq=False):
    """An expression graph (``[graph]``), expressions still as text."""

    inputs: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    nodes: tuple[tuple[str, str], ...]
    """``(name, expression)`` pairs in file order, split at the first ``=``."""
    loss: str
    """The loss node's name (the last node when the file gives none)."""


class DataSpec(msgspec.Struct, frozen=True, eq=False):
    """Samples and targets, generated already when the file names a generator."""

    x: np.ndarray
    """Shape ``(samples, inputs)``, float64."""
    y: np.ndarray
    """Shape ``(samples, outputs)`` float64, or ``(samples,)`` class indices (as float64
    holding whole numbers) for ``cross_entropy``."""
    generator: str | None = None
    """The generator's name when the data was generated, for display."""


class OptimizerSpec(msgspec.Struct, frozen=True):
    """The update rule (``[optimizer]``); settings of the other kinds keep their defaults."""

    kind: str
    lr: float
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


class TrainSpec(msgspec.Struct, frozen=True):
    """How long to train and how to batch (``[train]``); ``batch_size`` 0 is the full batch."""

    steps: int = 20
    batch_size: int = 0
    seed: int = 0


class BreakpointSpec(msgspec.Struct, frozen=True):
    """One ``[[breakpoints]]`` entry, checked for keys and types but not against the graph."""

    kind: str
    """``"node"``, ``"phase"`` or ``"condition"`` (the file's ``when``)."""
    target: str
    """The node or parameter name, the phase, or the condition's text."""
    enabled: bool = True


class Scenario(msgspec.Struct, frozen=True, eq=False):
    """A validated scenario. Exactly one of ``model`` and ``graph`` is set."""

    name: str
    source: str
    """The file path as given, or the built-in id; used in messages."""
    optimizer: OptimizerSpec
    train: TrainSpec = msgspec.field(default_factory=TrainSpec)
    description: str = ""
    model: ModelSpec | None = None
    graph: GraphSpec | None = None
    data: DataSpec | None = None
    loss: str | None = None
    """The loss kind for ``[model]`` scenarios: mse, sse, bce or cross_entropy."""
    breakpoints: tuple[BreakpointSpec, ...] = ()
    """The file's ``[[breakpoints]]``, in file order."""


def load(path: str | os.PathLike[str], *, source: str | None = None) -> Scenario:
    """Read and validate a scenario file.

    Only a regular file is read: :func:`os.stat` says what the path is before anything
    opens it, so a named pipe, socket or device (or bash's ``<(...)``) is refused at once
    rather than blocking in ``open``. The file is then opened without blocking (should it
    have been swapped for a pipe meanwhile, it is refused as well), its size is checked,
    and at most :data:`MAX_FILE_BYTES` + 1 bytes are ever read.

    Args:
        path: The file to read.
        source: The name to use in messages and :attr:`Scenario.source`; defaults to
            ``path`` as given (a CLI passes the built-in id here).

    Returns:
        The validated scenario.

    Raises:
        ScenarioError: The file cannot be read, is not a regular file, is too large, is
            not UTF-8, or is not a valid scenario. Its ``place`` is empty for problems with
            the file as a whole.
    """
    name = os.fsdecode(path) if source is None else source
    fail = _Loader(name).fail
    raw = read_bytes(path, source=name)
    try:
        # utf-8-sig: editors on Windows still write a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        line_start = raw.rfind(b"\n", 0, err.start) + 1
        column = len(raw[line_start : err.start].decode("utf-8", "replace")) + 1
        fail(
            f"line {line}, column {column}",
            f"not UTF-8 text: byte 0x{raw[err.start]:02x} is invalid UTF-8",
        )
    return loads(text, name)


def read_bytes(path: str | os.PathLike[str], *, source: str | None = None) -> bytes:
    """The bytes of a scenario file, read as :func:`load` reads them: a regular file only
    (asked of :func:`os.stat` first, then opened without blocking and checked again), of
    at most :data:`MAX_FILE_BYTES`. For anything that watches a file and reloads it.

    Raises:
        ScenarioError: The path is missing, not a regular file, unreadable or too large;
            ``source`` (default: the path) names it, and its place is empty.
    """
    fail = _Loader(os.fsdecode(path) if source is None else source).fail
    try:
        _check_file(os.stat(path), fail)
        return _read_regular(path, fail)
    except OSError as err:
        fail("", file_problem(err))
    except ValueError:  # a NUL byte in the path
        fail("", "not a valid file path")


_FILE_KINDS = (
    (stat.S_ISDIR, "is a directory, not a scenario file"),
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a regular file; bpdbg reads regular files only"),
    (stat.S_ISSOCK, "is a socket, not a regular file; bpdbg reads regular files only"),
    (stat.S_ISCHR, "is a character device, not a regular file; bpdbg reads regular files only"),
    (stat.S_ISBLK, "is a block device, not a regular file; bpdbg reads regular files only"),
)


def not_regular(mode: int) -> str | None:
    """Why a file of ``mode`` (from :func:`os.stat`) is no scenario file, or None when it is a
    regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, why in _FILE_KINDS:
        if test(mode):
            return why
    return "is not a regular file; bpdbg reads regular files only"


def file_problem(err: OSError) -> str:
    """What went wrong opening or reading a file, for a message."""
    if isinstance(err, FileNotFoundError | NotADirectoryError):
        return "no such file"
    if isinstance(err, PermissionError):
        return "cannot read the file: permission denied"
    if err.errno == errno.ELOOP:
        return "too many levels of symbolic links (a symlink loop?)"
    return f"cannot read the file: {(err.strerror or str(err)).lower()}"


def _check_file(info: os.stat_result, fail: Callable[[str, str], NoReturn]) -> None:
    """Refuse anything but a regular file within :data:`MAX_FILE_BYTES`."""
    why = not_regular(info.st_mode)
    if why is not None:
        fail("", why)
    if info.st_size > MAX_FILE_BYTES:
        fail("", f"file is {info.st_size:,} bytes; the limit is {MAX_FILE_BYTES:,} (4 MiB)")


def _read_regular(path: str | os.PathLike[str], fail: Callable[[str, str], NoReturn]) -> bytes:
    """The bytes of a regular file, at most :data:`MAX_FILE_BYTES` + 1 of them.

    ``O_NONBLOCK`` guards against the path being replaced by a pipe between the caller's
    ``stat`` and this ``open``: opening a pipe then returns at once, and ``fstat`` on the
    open descriptor (the file actually opened) refuses it.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        _check_file(os.fstat(fd), fail)
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_FILE_BYTES:  # the file grew after fstat
        fail("", f"file is larger than the limit of {MAX_FILE_BYTES:,} bytes (4 MiB)")
    return b"".join(chunks)


def loads(text: str, source: str) -> Scenario:
    """Validate a scenario given as TOML text.

    Args:
        text: The TOML text.
        source: The file name (or built-in id) to use in messages and
            :attr:`Scenario.source`.

    Returns:
        The validated scenario; every array in it is float64 and read-only.

    Raises:
        ScenarioError: The text is not valid TOML or not a valid scenario.
    """
    loader = _Loader(source)
    if len(text) > MAX_FILE_BYTES:
        loader.fail("", f"text is longer than the limit of {MAX_FILE_BYTES:,} characters")
    problem = _toml_shape(text)
    if problem is not None:
        at, reason = problem
        line = text.count("\n", 0, at) + 1
        column = at - text.rfind("\n", 0, at)
        loader.fail(f"line {line}, column {column}", f"invalid TOML: {reason}")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        place, reason = _syntax_error(err, text)
        loader.fail(place, f"invalid TOML: {reason}")
    except RecursionError:
        loader.fail("", "invalid TOML: arrays or inline tables are nested too deeply")
    except ValueError:
        # tomllib lets int()'s digit limit escape as a bare ValueError, with no place and
        # advice about sys.set_int_max_str_digits that is no use to someone writing a file.
        long = _LONG_INTEGER.search(text)
        place = ""
        if long is not None:
            line = text.count("\n", 0, long.start()) + 1
            place = f"line {line}, column {long.start() - text.rfind(chr(10), 0, long.start())}"
        loader.fail(
            place,
            "invalid TOML: an integer of more than 4,300 digits (far beyond float64, whose"
            " largest value is about 1.8e308)",
        )
    return loader.scenario(document)


_TOML_TOKEN = re.compile(r"""[\[\]{}"'#]""")
"""What the nesting scan stops at: a bracket, or the start of a string or a comment."""
_TOML_SKIP = {
    '"': re.compile(r'[^"\\\n]*+(?:\\.[^"\\\n]*+)*+(?:"|(?=\n)|$)'),
    "'": re.compile(r"[^'\n]*(?:'|(?=\n)|$)"),
    '"""': re.compile(r'[^"\\]*+(?:(?:\\.|"(?!""))[^"\\]*+)*+(?:"""\"{0,2}|$)', re.DOTALL),
    "'''": re.compile(r"[^']*+(?:'(?!'')[^']*+)*+(?:'''\'{0,2}|$)"),
    "#": re.compile(r"[^\n]*"),
}
"""The rest of a string (by its opening quotes) or of a comment, whose brackets do not count.
Each is an "unrolled loop" (a run of ordinary characters, then any number of an escape
or lone quote followed by another run) with possessive quantifiers (``*+``): the regex
engine keeps no backtracking state, which for a 4 MiB string would take half a gigabyte."""


def _toml_shape(text: str) -> tuple[int, str] | None:
    """Where the text first nests too deeply, holds too many tables or too long a dotted
    key, and what it is; see :class:`_TomlScan`.

    Returns:
        ``(index in the text, reason)``, or None when the text is within the limits.
    """
    return _TomlScan(text).run()


class _TomlScan:
    """A pass over TOML text, before :mod:`tomllib` parses it, for what would overwhelm it.

    tomllib parses nested arrays and inline tables by recursion (100,000 ``[`` reach
    Python's recursion limit); it builds a dict and its bookkeeping for every table,
    including each prefix of a dotted key (4 MiB of ``k1.a.a = 1`` lines take a gigabyte);
    and it takes time quadratic in the parts of one dotted key (a 4 MiB key ``a.a.a…``
    would run for hours). So this scan refuses, with the place:

    - brackets nested deeper than :data:`MAX_NESTING`;
    - more than :data:`MAX_ARRAYS` arrays (tomllib makes a list of each: 4 MiB of
      ``[[[[[[[0]]]]]]]`` take 230 MB);
    - more than :data:`MAX_TABLES` tables: ``[table]`` and ``[[array]]`` headers, inline
      tables ``{…}``, and each dot of a key (``a.b.c = 1`` makes tables ``a`` and ``a.b``);
    - a dotted key of more than :data:`MAX_KEY_PARTS` parts.

    It is one loop over brackets, strings and comments (strings and comments skipped, so
    their brackets and dots do not count), linear in the text. Between them, a key's dots
    are those since the last ``=``, ``,`` or line break, up to an ``=`` (or, for a
    header, its closing ``]``); a value's dots (``1.5``, a time's fraction) end at a
    ``,``, a line break or a bracket instead, and each number has at most one.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.depth = 0
        self.tables = 0
        self.arrays = 0
        self.dots = 0
        """Dots since the last ``=``, ``,`` or line break: one key's, so far."""

    def run(self) -> tuple[int, str] | None:
        text = self.text
        pos = 0
        search = _TOML_TOKEN.search
        while True:
            found = search(text, pos)
            start = len(text) if found is None else found.start()
            problem = self.gap(pos, start)
            if problem is not None or found is None:
                return problem
            token = found.group()
            if token in "[{":
                problem = self.open(token, start)
                if problem is not None:
                    return problem
                pos = start + 1
            elif token in "]}":
                self.depth = max(0, self.depth - 1)
                if token == "]" and self.depth == 0 and self.dots:  # a header's dotted key
                    problem = self.more_tables(self.dots, start)
                    if problem is not None:
                        return problem
                self.dots = 0
                pos = start + 1
            else:
                if token != "#" and text.startswith(token * 3, start):
                    token *= 3
                end = _TOML_SKIP[token].match(text, start + len(token))
                pos = end.end() if end is not None else len(text)

    def open(self, token: str, at: int) -> tuple[int, str] | None:
        if token == "{" or self.depth == 0 and _starts_line(self.text, at):
            problem = self.more_tables(1, at)
            if problem is not None:
                return problem
        else:
            self.arrays += 1
            if self.arrays > MAX_ARRAYS:
                return at, f"more than the limit of {MAX_ARRAYS:,} arrays"
        self.depth += 1
        if self.depth > MAX_NESTING:
            return at, (
                f"arrays or inline tables nested deeper than the limit of {MAX_NESTING} levels"
            )
        return None

    def more_tables(self, n: int, at: int) -> tuple[int, str] | None:
        self.tables += n
        if self.tables <= MAX_TABLES:
            return None
        return at, (
            f"more than the limit of {MAX_TABLES:,} tables (table headers, inline tables and"
            " the parts of dotted keys)"
        )

    def gap(self, start: int, end: int) -> tuple[int, str] | None:
        """Account for ``text[start:end]``, which holds no string, comment or bracket."""
        text = self.text
        dots = text.count(".", start, end)
        if not dots and not self.dots:
            return None
        if text.find("=", start, end) < 0:
            # No key ends here: only runs of a value's dots, or a key's that goes on.
            last = max(text.rfind(",", start, end), text.rfind("\n", start, end))
            if self.dots + dots < MAX_KEY_PARTS:
                self.dots = text.count(".", last + 1, end) if last >= 0 else self.dots + dots
                return None
        # A key ends here, or a run is long: look at each run between = , and line breaks.
        for run in _KEY_RUN.finditer(text, start, end):
            first = run.start() == start
            count = (self.dots if first else 0) + text.count(".", run.start(), run.end())
            if count >= MAX_KEY_PARTS:
                at = run.start() - 1
                for _ in range(MAX_KEY_PARTS - (self.dots if first else 0)):
                    at = text.index(".", at + 1)
                return at, f"a dotted key with more than the limit of {MAX_KEY_PARTS} parts"
            if run.end() < end:  # ended by = , or a line break
                if text[run.end()] == "=" and count:
                    problem = self.more_tables(count, run.start())
                    if problem is not None:
                        return problem
                self.dots = 0
            else:
                self.dots = count  # goes on past this gap
        return None


_KEY_RUN = re.compile(r"[^=,\n]*+")
"""A run of text between ``=``, ``,`` and line breaks, where one key's dots can be."""


def _starts_line(text: str, at: int) -> bool:
    """Whether only spaces or tabs stand between ``at`` and the start of its line (a table
    header's ``[``; ``[[`` counts once, as its second bracket is one level deeper). Looks
    back over the blanks only, so the scan stays linear however long the line."""
    i = at - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    return i < 0 or text[i] in "\r\n"


_LONG_INTEGER = re.compile(r"(?<![\w.])[+-]?\d(?:_?\d){4300,}")
"""A decimal integer beyond Python's default limit of 4,300 digits for int(str)."""


def _syntax_error(err: tomllib.TOMLDecodeError, text: str) -> tuple[str, str]:
    """The place (``line L, column C``) and reason of a TOML syntax error."""
    lineno, colno, msg = (getattr(err, a, None) for a in ("lineno", "colno", "msg"))
    if isinstance(lineno, int) and isinstance(colno, int) and isinstance(msg, str):
        return f"line {lineno}, column {colno}", _lower_first(msg)  # Python ≥ 3.14
    message = str(err)
    found = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message, re.DOTALL)
    if found:
        return f"line {found[2]}, column {found[3]}", _lower_first(found[1])
    found = re.fullmatch(r"(.*) \(at end of document\)", message, re.DOTALL)
    if found:
        # Point just past the last visible character rather than at a trailing newline.
        end = len(text.rstrip())
        line = text.count("\n", 0, end) + 1
        column = end - text.rfind("\n", 0, end)
        return f"line {line}, column {column}", f"{_lower_first(found[1])} at the end of the file"
    return "", _lower_first(message)


def _lower_first(reason: str) -> str:
    """``"Invalid value"`` → ``"invalid value"``, leaving acronyms such as ``TOML`` alone."""
    if len(reason) > 1 and reason[0].isupper() and reason[1].islower():
        return reason[0].lower() + reason[1:]
    return reason


# ----------------------------------------------------------------------------------------
# Describing what was found


def _quote(text: str, limit: int = 40) -> str:
    """``text`` quoted for a message, shortened so a huge string cannot flood it."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _describe(value: Any) -> str:
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
        return f"{_quote(value)} (string)"
    if isinstance(value, list):
        return f"an array of {len(value)}" if value else "an empty array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.date | datetime.time):
        return f"{value.isoformat()} (date/time)"
    return type(value).__name__


def _key(key: str) -> str:
    """A key as it would be written in TOML: bare when it can be, else quoted."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", key):
        return key
    return '"' + _quote(key)[1:-1].replace('"', '\\"') + '"'


def _join(place: str, key: str) -> str:
    return f"{place}.{_key(key)}" if place else _key(key)


def _index(flat: int, shape: tuple[int, ...] | list[int]) -> str:
    """``[i][j]…`` of element ``flat`` (row-major) of an array of ``shape``."""
    parts = []
    for size in reversed(shape):
        flat, rest = divmod(flat, size)
        parts.append(f"[{rest}]")
    return "".join(reversed(parts))


def _shape(shape: tuple[int, ...]) -> str:
    return repr(tuple(shape))


def _units(n: int) -> str:
    return f"{n} unit" if n == 1 else f"{n} units"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _find_assign(line: str) -> int | None:
    """Index of the first ``=`` that is not part of ``==``, ``<=``, ``>=`` or ``!=``."""
    for i, char in enumerate(line):
        if char != "=":
            continue
        before = line[i - 1] if i else ""
        after = line[i + 1] if i + 1 < len(line) else ""
        if before not in ("=", "<", ">", "!") and after != "=":
            return i
    return None


# ----------------------------------------------------------------------------------------
# The loader


_TOP_KEYS = (
    "name",
    "description",
    "model",
    "graph",
    "data",
    "loss",
    "optimizer",
    "train",
    "breakpoints",
)
_MODEL_KEYS = ("inputs", "init", "seed", "layers")
_LAYER_KEYS = ("units", "activation", "weight", "bias")
_DATA_KEYS = ("x", "y", "generator", "samples", "noise", "seed", "classes")
_GENERATOR_KEYS = ("samples", "noise", "seed", "classes")
_LOSS_KEYS = ("kind",)
_OPTIMIZER_KEYS = ("kind", "lr", "momentum", "betas", "eps")
_OPTIMIZER_SETTINGS = {"momentum": "momentum", "betas": "adam", "eps": "adam"}
"""Each optional optimizer key and the one kind it belongs to."""
_TRAIN_KEYS = ("steps", "batch_size", "seed")
_GRAPH_KEYS = ("inputs", "params", "nodes", "loss")
_BREAKPOINT_KEYS = ("node", "phase", "when", "enabled")
_BREAKPOINT_KINDS = {"node": "node", "phase": "phase", "when": "condition"}
"""Each key that says where a breakpoint stops, and the kind it makes."""


class _Loader:
    """Validates one parsed document; knows the file name for its messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, place: str, message: str) -> NoReturn:
        raise ScenarioError(self.source, place, message) from None

    # -- generic checks ------------------------------------------------------------------

    def keys(
        self, table: dict[str, Any], place: str, allowed: tuple[str, ...], note: str = ""
    ) -> None:
        for key in table:
            if key not in allowed:
                self.fail(
                    _join(place, key) + note,
                    f"unknown key {_quote(key)}; allowed keys are {', '.join(allowed)}",
                )

    def table(self, value: Any, place: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(place, f"expected a table, found {_describe(value)}")
        return value

    def required(
        self, table: dict[str, Any], key: str, place: str, expected: str, note: str = ""
    ) -> Any:
        if key not in table:
            self.fail(
                _join(place, key) + note, f"missing required key {key!r}; expected {expected}"
            )
        return table[key]

    def integer(self, value: Any, place: str, minimum: int, maximum: int | None = None) -> int:
        expected = f"an integer ≥ {minimum}"
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(place, f"expected {expected}, found {_describe(value)}")
        if value < minimum:
            self.fail(place, f"expected {expected}, found {_describe(value)}")
        if maximum is not None and value > maximum:
            found = f"{value:,}" if value < 10**30 else "a very large integer"
            self.fail(place, f"found {found}, above the limit of {maximum:,}")
        return value

    def number(self, value: Any, place: str, expected: str, ok: Callable[[float], bool]) -> float:
        if not _is_number(value):
            self.fail(place, f"expected {expected}, found {_describe(value)}")
        try:
            number = float(value)
        except OverflowError:
            self.fail(place, f"expected {expected}, found an integer too large for float64")
        if not math.isfinite(number):
            self.fail(place, f"expected {expected}, found {value!r} (not finite)")
        if not ok(number):
            self.fail(place, f"expected {expected}, found {_describe(value)}")
        return number

    def choice(self, value: Any, place: str, choices: tuple[str, ...], what: str) -> str:
        if not isinstance(value, str):
            self.fail(
                place,
                f"expected a {what} name, one of {', '.join(choices)}; found {_describe(value)}",
            )
        if value not in choices:
            self.fail(
                place, f"unknown {what} {_quote(value)}; expected one of {', '.join(choices)}"
            )
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
                    place + _index(0, shape) + note,
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
                        place + _index(i, shape) + note,
                        f"ragged array: found {_describe(item)}, expected an array of {size}"
                        f" like {place}{_index(0, shape)}",
                    )
                following.extend(item)
            shape.append(size)
            level = following
        if not shape and not scalar:
            self.fail(place + note, f"expected an array of numbers, found {_describe(value)}")
        if check is not None:
            check(tuple(shape))
        flat: list[float] = []
        for i, item in enumerate(level):
            where = place + _index(i, shape) + note
            if isinstance(item, list):
                self.fail(
                    where,
                    f"ragged array: found {_describe(item)},"
                    " expected a number like the elements beside it",
                )
            if not _is_number(item):
                self.fail(where, f"expected a number, found {_describe(item)}")
            try:
                number = float(item)
            except OverflowError:
                self.fail(where, "expected a finite number, found an integer too large for float64")
            if not math.isfinite(number):
                self.fail(where, f"expected a finite number, found {item!r}")
            flat.append(number)
        # Freeze the base before reshaping, so the view cannot be made writeable again.
        return _frozen(np.array(flat, dtype=np.float64)).reshape(shape)

    def name(self, name: str, place: str, what: str) -> str:
        """Check that ``name`` can stand for ``what`` (``"a param"``) in an expression."""
        if not name.isidentifier() or keyword.iskeyword(name):
            self.fail(
                place,
                f"{_quote(name)} cannot name {what}; expected an identifier such as W or x_1"
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
                place, f"{_quote(name)} is not in Unicode NFKC form; write it as {_quote(normal)}"
            )
        return name

    # -- the document ----------------------------------------------------------------------

    def scenario(self, doc: dict[str, Any]) -> Scenario:
        self.keys(doc, "", _TOP_KEYS)
        name = self.required(doc, "name", "", "a non-empty string")
        if not isinstance(name, str):
            self.fail("name", f"expected a non-empty string, found {_describe(name)}")
        if not name.strip():
            self.fail("name", "expected a non-empty string, found an empty one")
        if "\n" in name or "\r" in name:
            self.fail("name", "expected a one-line name, found a line break")
        description = doc.get("description", "")
        if not isinstance(description, str):
            self.fail("description", f"expected a string, found {_describe(description)}")

        if "model" in doc and "graph" in doc:
            self.fail("graph", "found both [model] and [graph]; a scenario has exactly one of them")
        if "model" not in doc and "graph" not in doc:
            self.fail("", "found neither [model] nor [graph]; a scenario needs exactly one of them")
        if "optimizer" not in doc:
            self.fail("optimizer", "missing [optimizer]; expected a table with kind and lr")

        model = graph = data = loss = None
        samples = None
        if "model" in doc:
            for key, what in (("data", "samples x and targets y"), ("loss", "a table with kind")):
                if key not in doc:
                    self.fail(key, f"missing [{key}]; a [model] scenario needs {what}")
            model = self.model(self.table(doc["model"], "model"))
            loss = self.loss(self.table(doc["loss"], "loss"), model)
            data = self.data(self.table(doc["data"], "data"), model, loss)
            samples = data.x.shape[0]
        else:
            for key in ("data", "loss"):
                if key in doc:
                    self.fail(
                        key,
                        f"[{key}] belongs to [model] scenarios; a [graph] keeps its values in"
                        " graph.inputs and names its loss node with graph.loss",
                    )
            graph = self.graph(self.table(doc["graph"], "graph"))

        optimizer = self.optimizer(self.table(doc["optimizer"], "optimizer"))
        train = self.train(self.table(doc.get("train", {}), "train"), samples)
        breakpoints = self.breakpoints(doc["breakpoints"]) if "breakpoints" in doc else ()
        return Scenario(
            name=name,
            source=self.source,
            optimizer=optimizer,
            train=train,
            description=description,
            model=model,
            graph=graph,
            data=data,
            loss=loss,
            breakpoints=breakpoints,
        )

    # -- [model] ---------------------------------------------------------------------------

    def model(self, table: dict[str, Any]) -> ModelSpec:
        self.keys(table, "model", _MODEL_KEYS)
        inputs = self.integer(
            self.required(table, "inputs", "model", "an integer ≥ 1 (features per sample)"),
            "model.inputs",
            1,
            MAX_INPUTS,
        )
        init = self.choice(table.get("init", "xavier"), "model.init", INITS, "init")
        seed = self.integer(table.get("seed", 0), "model.seed", 0, MAX_SEED)
        layers = self.required(table, "layers", "model", "an array of tables ([[model.layers]])")
        if not isinstance(layers, list):
            self.fail(
                "model.layers",
                f"expected an array of tables ([[model.layers]]), found {_describe(layers)}",
            )
        if not layers:
            self.fail("model.layers", "expected at least one layer, found an empty array")
        if len(layers) > MAX_LAYERS:
            self.fail(
                "model.layers", f"found {len(layers)} layers, above the limit of {MAX_LAYERS}"
            )
        # Every size is checked from the integers before any weight is read or drawn.
        heads: list[tuple[int, int, str]] = []
        fan_in, total = inputs, 0
        for i, layer in enumerate(layers):
            units, activation = self.layer_head(layer, i, fan_in)
            heads.append((fan_in, units, activation))
            total += (fan_in + 1) * units
            fan_in = units
        if total > MAX_PARAMETERS:
            self.fail(
                "model.layers",
                f"the layers have {total:,} weights and biases in all,"
                f" above the limit of {MAX_PARAMETERS:,}",
            )
        specs = tuple(self.layer_values(layers[i], i, *head) for i, head in enumerate(heads))
        return ModelSpec(inputs=inputs, layers=specs, init=init, seed=seed)

    def layer_head(self, layer: Any, i: int, fan_in: int) -> tuple[int, str]:
        """A layer's keys, ``units`` and ``activation``: everything but its arrays."""
        place, note = f"model.layers[{i}]", f" (layer {i + 1})"
        if not isinstance(layer, dict):
            self.fail(
                place + note,
                f"expected a table with units and activation, found {_describe(layer)}",
            )
        self.keys(layer, place, _LAYER_KEYS, note)
        units = self.integer(
            self.required(layer, "units", place, "an integer ≥ 1", note),
            f"{place}.units{note}",
            1,
            MAX_UNITS,
        )
        if fan_in * units > MAX_WEIGHT_ELEMENTS:
            self.fail(
                f"{place}.units{note}",
                f"layer {i + 1} would have {fan_in:,} × {units:,} = {fan_in * units:,} weights,"
                f" above the limit of {MAX_WEIGHT_ELEMENTS:,}",
            )
        activation = self.choice(
            self.required(layer, "activation", place, f"one of {', '.join(ACTIVATIONS)}", note),
            f"{place}.activation{note}",
            ACTIVATIONS,
            "activation",
        )
        return units, activation

    def layer_values(
        self, layer: dict[str, Any], i: int, fan_in: int, units: int, activation: str
    ) -> LayerSpec:
        """A layer's optional ``weight`` and ``bias``, checked against its shape."""
        place, note = f"model.layers[{i}]", f" (layer {i + 1})"
        origin = f"model.inputs = {fan_in}" if i == 0 else f"layer {i}'s units = {fan_in}"

        def weight_shape(shape: tuple[int, ...]) -> None:
            if shape != (fan_in, units):
                self.fail(
                    f"{place}.weight{note}",
                    f"expected shape {_shape((fan_in, units))} = (fan_in, units), where fan_in"
                    f" is {origin}; found shape {_shape(shape)}",
                )

        def bias_shape(shape: tuple[int, ...]) -> None:
            if shape != (units,):
                self.fail(
                    f"{place}.bias{note}",
                    f"expected shape {_shape((units,))} = (units,); found shape {_shape(shape)}",
                )

        weight = bias = None
        if "weight" in layer:
            weight = self.tensor(layer["weight"], f"{place}.weight", note, check=weight_shape)
        if "bias" in layer:
            bias = self.tensor(layer["bias"], f"{place}.bias", note, check=bias_shape)
        return LayerSpec(units=units, activation=activation, weight=weight, bias=bias)

    # -- [loss] ----------------------------------------------------------------------------

    def loss(self, table: dict[str, Any], model: ModelSpec) -> str:
        self.keys(table, "loss", _LOSS_KEYS)
        kind = self.choice(
            self.required(table, "kind", "loss", f"one of {', '.join(LOSSES)}"),
            "loss.kind",
            LOSSES,
            "loss",
        )
        n = len(model.layers)
        last = model.layers[-1]
        where = f"model.layers[{n - 1}].activation (layer {n})"
        if kind == "cross_entropy" and last.activation != "identity":
            self.fail(
                "loss.kind",
                "cross_entropy takes logits, so the last layer's activation must be identity;"
                f" found {last.activation!r} at {where}",
            )
        if kind == "cross_entropy" and last.units < 2:
            self.fail(
                "loss.kind",
                "cross_entropy needs one output unit per class (at least 2), but the last layer"
                " has 1 unit; for two classes use bce with a sigmoid output",
            )
        if kind == "bce" and last.activation not in ("sigmoid", "softmax"):
            self.fail(
                "loss.kind",
                "bce takes probabilities, so the last layer's activation must be sigmoid or"
                f" softmax; found {last.activation!r} at {where}",
            )
        return kind

    # -- [data] ----------------------------------------------------------------------------

    def data(self, table: dict[str, Any], model: ModelSpec, loss: str) -> DataSpec:
        self.keys(table, "data", _DATA_KEYS)
        if "generator" in table:
            for key in ("x", "y"):
                if key in table:
                    self.fail(
                        f"data.{key}",
                        f"{key} cannot be given together with data.generator; give either"
                        " x and y, or a generator",
                    )
            return self.generated(table, model, loss)
        for key in _GENERATOR_KEYS:
            if key in table:
                self.fail(
                    f"data.{key}",
                    f"{key} is a generator setting; it needs data.generator, not x and y",
                )
        inputs = model.inputs

        def x_shape(shape: tuple[int, ...]) -> None:
            if len(shape) != 2 or shape[1] != inputs:
                self.fail(
                    "data.x",
                    f"expected shape (samples, {inputs}), as model.inputs = {inputs};"
                    f" found shape {_shape(shape)}",
                )
            if shape[0] > MAX_SAMPLES:
                self.fail(
                    "data.x", f"found {shape[0]:,} samples, above the limit of {MAX_SAMPLES:,}"
                )

        x = self.tensor(
            self.required(
                table, "x", "data", f"an array of shape (samples, {inputs}), or a generator"
            ),
            "data.x",
            check=x_shape,
        )
        samples = x.shape[0]
        y_value = self.required(table, "y", "data", "the targets, one per sample")
        units = model.layers[-1].units

        def y_samples(shape: tuple[int, ...]) -> None:
            if shape and shape[0] != samples:
                self.fail(
                    "data.y",
                    f"y has {shape[0]} samples but x has {samples}; expected one target per sample",
                )

        if loss == "cross_entropy":

            def labels_shape(shape: tuple[int, ...]) -> None:
                if len(shape) == 2 and shape[1] == 1:
                    shape = shape[:1]
                if len(shape) != 1:
                    self.fail(
                        "data.y",
                        f"cross_entropy takes class indices of shape (samples,) = ({samples},);"
                        f" found shape {_shape(shape)}",
                    )
                y_samples(shape)

            labels = self.tensor(y_value, "data.y", check=labels_shape)
            original = labels.shape
            labels = labels.reshape(samples)
            for bad, problem in (
                (labels != np.floor(labels), "is not a whole number"),
                ((labels < 0) | (labels >= units), "is out of range"),
            ):
                hits = np.flatnonzero(bad)
                if hits.size:
                    i = int(hits[0])
                    self.fail(
                        "data.y" + _index(i, original),
                        f"class index {labels[i]:g} {problem}; expected a whole number from 0"
                        f" to {units - 1} (the last layer has {_units(units)})",
                    )
            return DataSpec(x=x, y=labels)

        def targets_shape(shape: tuple[int, ...]) -> None:
            # A plain list of numbers is the natural way to write one output per sample.
            one_column = len(shape) == 1 and units == 1
            if not one_column and (len(shape) != 2 or shape[1] != units):
                self.fail(
                    "data.y",
                    f"expected shape (samples, {units}), as the last layer has {_units(units)};"
                    f" found shape {_shape(shape)}",
                )
            y_samples(shape)

        y = self.tensor(y_value, "data.y", check=targets_shape)
        original = y.shape
        y = y.reshape(samples, units)
        if loss == "bce":
            hits = np.flatnonzero((y < 0) | (y > 1))
            if hits.size:
                i = int(hits[0])
                self.fail(
                    "data.y" + _index(i, original),
                    f"bce targets are probabilities; expected a number from 0 to 1,"
                    f" found {y.flat[i]:g}",
                )
        return DataSpec(x=x, y=y)

    def generated(self, table: dict[str, Any], model: ModelSpec, loss: str) -> DataSpec:
        kind = self.choice(table["generator"], "data.generator", GENERATORS, "generator")
        samples = self.integer(table.get("samples", 200), "data.samples", 1, MAX_GENERATED_SAMPLES)
        noise = self.number(
            table.get("noise", 0.0), "data.noise", "a finite number ≥ 0", lambda v: v >= 0
        )
        seed = self.integer(table.get("seed", 0), "data.seed", 0, MAX_SEED)
        limit = _data.max_classes(kind)
        classes = self.integer(table.get("classes", 2), "data.classes", 2, MAX_CLASSES)
        if classes > limit:
            self.fail(
                "data.classes", f"generator {kind!r} makes exactly 2 classes; found {classes}"
            )
        if model.inputs != 2:
            self.fail(
                "data.generator",
                f"generated data has 2 features, but model.inputs = {model.inputs};"
                " expected model.inputs = 2",
            )
        units = model.layers[-1].units
        if loss == "cross_entropy":
            if classes > units:
                self.fail(
                    "data.classes",
                    f"found {classes} classes, but the last layer has {_units(units)};"
                    " cross_entropy needs one unit per class",
                )
        else:
            if units != 1:
                self.fail(
                    "data.generator",
                    f"with loss {loss!r}, generated targets are one 0/1 column, so the last layer"
                    f" needs 1 unit; found {units} (use cross_entropy for one unit per class)",
                )
            if classes != 2:
                self.fail(
                    "data.classes",
                    f"with loss {loss!r}, generated targets are 0/1, so classes must be 2;"
                    f" found {classes} (use cross_entropy for more classes)",
                )
        x, labels = _data.generate(kind, samples, noise, seed, classes)
        y = _frozen(labels.astype(np.float64))
        if loss != "cross_entropy":
            y = y.reshape(samples, 1)
        return DataSpec(x=_frozen(x), y=y, generator=kind)

    # -- [graph] ---------------------------------------------------------------------------

    def values(self, value: Any, place: str, what: str) -> dict[str, np.ndarray]:
        table = self.table(value, place)
        if len(table) > MAX_GRAPH_VALUES:
            self.fail(
                place, f"found {len(table):,} entries, above the limit of {MAX_GRAPH_VALUES:,}"
            )
        out: dict[str, np.ndarray] = {}
        for key, item in table.items():
            where = _join(place, key)
            self.name(key, where, what)
            out[key] = self.tensor(item, where, scalar=True)
        return out

    def graph(self, table: dict[str, Any]) -> GraphSpec:
        self.keys(table, "graph", _GRAPH_KEYS)
        inputs = self.values(table.get("inputs", {}), "graph.inputs", "an input")
        params = self.values(
            self.required(
                table, "params", "graph", "a table of trainable values, e.g. { W = 0.5 }"
            ),
            "graph.params",
            "a param",
        )
        if not params:
            self.fail(
                "graph.params", "expected at least one parameter to train, found an empty table"
            )
        total = sum(value.size for value in params.values())
        if total > MAX_PARAMETERS:
            self.fail(
                "graph.params",
                f"the params have {total:,} elements in all, above the limit of {MAX_PARAMETERS:,}",
            )
        for key in params:
            if key in inputs:
                self.fail(
                    _join("graph.params", key),
                    f"{key!r} is both an input and a param; a name may be only one of them",
                )
        if len(inputs) + len(params) > MAX_GRAPH_VALUES:
            self.fail(
                "graph.params",
                f"found {len(inputs) + len(params):,} inputs and params,"
                f" above the limit of {MAX_GRAPH_VALUES:,}",
            )

        lines = self.required(table, "nodes", "graph", 'an array of "name = expression" strings')
        if not isinstance(lines, list):
            self.fail(
                "graph.nodes",
                f'expected an array of "name = expression" strings, found {_describe(lines)}',
            )
        if not lines:
            self.fail("graph.nodes", "expected at least one node, found an empty array")
        if len(lines) > MAX_NODES:
            self.fail("graph.nodes", f"found {len(lines)} nodes, above the limit of {MAX_NODES}")
        nodes: list[tuple[str, str]] = []
        first_line: dict[str, int] = {}
        for i, line in enumerate(lines):
            place = f"graph.nodes[{i}]"
            if not isinstance(line, str):
                self.fail(place, f'expected a string "name = expression", found {_describe(line)}')
            cut = _find_assign(line)
            if cut is None:
                self.fail(
                    place, f"expected \"name = expression\", found {_quote(line)} with no '='"
                )
            name, expression = line[:cut].strip(), line[cut + 1 :].strip()
            if not name:
                self.fail(place, f"expected a name before '=', found {_quote(line)}")
            self.name(name, place, "a node")
            if name in inputs or name in params:
                kind = "an input" if name in inputs else "a param"
                self.fail(place, f"node {name!r} has the name of {kind}; choose another name")
            if name in first_line:
                self.fail(
                    place,
                    f"node {name!r} is defined twice; first at graph.nodes[{first_line[name]}]",
                )
            if not expression:
                self.fail(place, f"node {name!r} has an empty expression after '='")
            if len(expression) > MAX_EXPRESSION_CHARS:
                self.fail(
                    place,
                    f"expression has {len(expression):,} characters,"
                    f" above the limit of {MAX_EXPRESSION_CHARS:,}",
                )
            first_line[name] = i
            nodes.append((name, expression))

        loss = table.get("loss", nodes[-1][0])
        if not isinstance(loss, str):
            self.fail("graph.loss", f"expected the name of a node, found {_describe(loss)}")
        if loss not in first_line:
            names = ", ".join(name for name, _ in nodes)
            self.fail(
                "graph.loss", f"no node named {_quote(loss)}; expected one of the nodes: {names}"
            )
        return GraphSpec(inputs=inputs, params=params, nodes=tuple(nodes), loss=loss)

    # -- [optimizer] and [train] -----------------------------------------------------------

    def optimizer(self, table: dict[str, Any]) -> OptimizerSpec:
        self.keys(table, "optimizer", _OPTIMIZER_KEYS)
        kind = self.choice(
            self.required(table, "kind", "optimizer", f"one of {', '.join(OPTIMIZERS)}"),
            "optimizer.kind",
            OPTIMIZERS,
            "optimizer",
        )
        for key, owner in _OPTIMIZER_SETTINGS.items():
            if key in table and owner != kind:
                self.fail(
                    f"optimizer.{key}",
                    f"{key} is a setting of kind = {owner!r}, not of kind = {kind!r}",
                )
        lr = self.number(
            self.required(table, "lr", "optimizer", "a finite number > 0"),
            "optimizer.lr",
            "a finite number > 0",
            lambda v: v > 0,
        )
        in_unit = "a number in [0, 1)"
        momentum = self.number(
            table.get("momentum", 0.9), "optimizer.momentum", in_unit, lambda v: 0 <= v < 1
        )
        betas_value = table.get("betas", [0.9, 0.999])
        if not isinstance(betas_value, list) or len(betas_value) != 2:
            self.fail(
                "optimizer.betas",
                f"expected an array of two numbers [beta1, beta2], found {_describe(betas_value)}",
            )
        beta1, beta2 = (
            self.number(b, f"optimizer.betas[{i}]", in_unit, lambda v: 0 <= v < 1)
            for i, b in enumerate(betas_value)
        )
        eps = self.number(
            table.get("eps", 1e-8), "optimizer.eps", "a finite number > 0", lambda v: v > 0
        )
        return OptimizerSpec(kind=kind, lr=lr, momentum=momentum, betas=(beta1, beta2), eps=eps)

    def train(self, table: dict[str, Any], samples: int | None) -> TrainSpec:
        self.keys(table, "train", _TRAIN_KEYS)
        steps = self.integer(table.get("steps", 20), "train.steps", 1, MAX_STEPS)
        batch_size = self.integer(table.get("batch_size", 0), "train.batch_size", 0)
        if samples is None and batch_size != 0:
            self.fail(
                "train.batch_size",
                f"a [graph] has no samples to batch; expected 0 or no batch_size,"
                f" found {batch_size}",
            )
        if samples is not None and batch_size > samples:
            self.fail(
                "train.batch_size",
                f"found {batch_size}, but the data has {samples} samples; expected 0 (full batch)"
                f" to {samples}",
            )
        seed = self.integer(table.get("seed", 0), "train.seed", 0, MAX_SEED)
        return TrainSpec(steps=steps, batch_size=batch_size, seed=seed)

    # -- [[breakpoints]] -------------------------------------------------------------------

    def breakpoints(self, value: Any) -> tuple[BreakpointSpec, ...]:
        expected = "an array of tables ([[breakpoints]]), each with node, phase or when"
        if not isinstance(value, list):
            self.fail("breakpoints", f"expected {expected}, found {_describe(value)}")
        if len(value) > MAX_BREAKPOINTS:
            self.fail(
                "breakpoints",
                f"found {len(value)} breakpoints, above the limit of {MAX_BREAKPOINTS}",
            )
        return tuple(self.breakpoint(entry, i) for i, entry in enumerate(value))

    def breakpoint(self, entry: Any, i: int) -> BreakpointSpec:
        place = f"breakpoints[{i}]"
        one_of = "exactly one of node, phase or when"
        if not isinstance(entry, dict):
            self.fail(place, f"expected a table with {one_of}, found {_describe(entry)}")
        self.keys(entry, place, _BREAKPOINT_KEYS)
        given = [key for key in _BREAKPOINT_KINDS if key in entry]
        if not given:
            self.fail(
                place,
                f'expected {one_of}, e.g. node = "W1", phase = "update" or'
                f' when = "norm(grad) > 10"; found none',
            )
        if len(given) > 1:
            self.fail(
                _join(place, given[1]),
                f"found both {given[0]} and {given[1]}; a breakpoint has {one_of}"
                " (write two [[breakpoints]] entries for two)",
            )
        key = given[0]
        where = _join(place, key)
        value = entry[key]
        if key == "phase":
            target = self.choice(value, where, PHASES, "phase")
        elif key == "node":
            if not isinstance(value, str):
                self.fail(
                    where, f"expected the name of a node or parameter, found {_describe(value)}"
                )
            if not value.isidentifier():
                self.fail(
                    where,
                    f"expected the name of a node or parameter such as W1 or a1,"
                    f" found {_quote(value)}",
                )
            target = value
        else:
            if not isinstance(value, str):
                self.fail(
                    where,
                    f'expected a condition as a string, e.g. "norm(grad) > 10";'
                    f" found {_describe(value)}",
                )
            if not value.strip():
                self.fail(where, "expected a condition, found an empty string")
            if len(value) > MAX_EXPRESSION_CHARS:
                self.fail(
                    where,
                    f"condition has {len(value):,} characters,"
                    f" above the limit of {MAX_EXPRESSION_CHARS:,}",
                )
            target = value.strip()
        enabled = entry.get("enabled", True)
        if not isinstance(enabled, bool):
            self.fail(
                _join(place, "enabled"), f"expected true or false, found {_describe(enabled)}"
            )
        return BreakpointSpec(kind=_BREAKPOINT_KINDS[key], target=target, enabled=enabled)
