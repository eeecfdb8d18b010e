"""Reading a scenario file safely: regular files only, within the size limit, and TOML
text checked for what would overwhelm :mod:`tomllib` before it parses anything.

Nothing here knows what a scenario says; :mod:`engine.scenario.loader` reads the parsed
document. Every refusal is a :class:`~engine.errors.ScenarioError` with the file and,
for text, the line and column.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tomllib
from collections.abc import Callable
from typing import NoReturn

from engine.errors import ScenarioError
from engine.scenario.records import (
    MAX_ARRAYS,
    MAX_FILE_BYTES,
    MAX_KEY_PARTS,
    MAX_NESTING,
    MAX_TABLES,
)


def failing(source: str) -> Callable[[str, str], NoReturn]:
    """A function that refuses ``source`` at a place, with a message."""

    def fail(place: str, message: str) -> NoReturn:
        raise ScenarioError(source, place, message) from None

    return fail


def read_bytes(path: str | os.PathLike[str], *, source: str | None = None) -> bytes:
    """The bytes of a scenario file, read as :func:`load` reads them: a regular file only
    (asked of :func:`os.stat` first, then opened without blocking and checked again), of
    at most :data:`MAX_FILE_BYTES`. For anything that watches a file and reloads it.

    Raises:
        ScenarioError: The path is missing, not a regular file, unreadable or too large;
            ``source`` (default: the path) names it, and its place is empty.
    """
    fail = failing(os.fsdecode(path) if source is None else source)
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


def _check_file(
    info: os.stat_result, fail: Callable[[str, str], NoReturn], limit: int = MAX_FILE_BYTES
) -> None:
    """Refuse anything but a regular file within ``limit`` bytes."""
    why = not_regular(info.st_mode)
    if why is not None:
        fail("", why)
    if info.st_size > limit:
        fail("", f"file is {info.st_size:,} bytes; the limit is {limit:,} ({_mib(limit)})")


def _mib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB"


def _read_regular(path: str | os.PathLike[str], fail: Callable[[str, str], NoReturn]) -> bytes:
    return read_regular(path, MAX_FILE_BYTES, fail)


def read_regular(
    path: str | os.PathLike[str], limit: int, fail: Callable[[str, str], NoReturn]
) -> bytes:
    """The bytes of a regular file, at most ``limit`` + 1 of them.

    ``O_NONBLOCK`` guards against the path being replaced by a pipe between the caller's
    ``stat`` and this ``open``: opening a pipe then returns at once, and ``fstat`` on the
    open descriptor (the file actually opened) refuses it.

    Raises:
        OSError: The file cannot be opened or read (the caller words it).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        _check_file(os.fstat(fd), fail, limit)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:  # the file grew after fstat
        fail("", f"file is larger than the limit of {limit:,} bytes ({_mib(limit)})")
    return b"".join(chunks)


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


def toml_shape(text: str) -> tuple[int, str] | None:
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


LONG_INTEGER = re.compile(r"(?<![\w.])[+-]?\d(?:_?\d){4300,}")
"""A decimal integer beyond Python's default limit of 4,300 digits for int(str)."""


def syntax_error(err: tomllib.TOMLDecodeError, text: str) -> tuple[str, str]:
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
