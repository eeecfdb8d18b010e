"""The built-in scenarios: the ``*.toml`` files in this package, and how a name finds one.

A built-in's id is its file stem (``worked-example`` for ``worked-example.toml``).
:func:`resolve` turns what a user typed into a file: an existing file wins, then a
built-in id; anything else is refused with the list of built-ins.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import ScenarioError
from engine.scenario.reading import file_problem, not_regular


def builtin_dir() -> Path:
    """The folder holding the built-in scenario files (this package's folder)."""
    return Path(__file__).resolve().parent


def builtin_ids() -> list[str]:
    """The built-in scenario ids, sorted: the stems of the ``*.toml`` files here."""
    return sorted(path.stem for path in builtin_dir().glob("*.toml") if path.is_file())


def resolve(ref: str) -> Path:
    """Find the scenario file that ``ref`` names.

    An existing regular file wins (so ``./xor.toml`` or ``xor.toml`` in the working
    folder is that file even when a built-in has the same name); otherwise ``ref`` must
    be a built-in id exactly. Ids are matched against the list, never joined onto a path,
    so ``../something`` cannot reach outside this folder. What the path is, is asked of
    :func:`os.stat` alone: nothing is opened here, so a named pipe cannot block.

    Args:
        ref: A file path, or a built-in id such as ``worked-example``.

    Returns:
        The path of the scenario file.

    Raises:
        ScenarioError: ``ref`` is neither a regular file nor a built-in id: it does not
            exist (the message lists the built-ins), or it is a directory, a named pipe,
            a socket or a device, or a symlink loop, or it cannot be examined. Its place
            is empty.
    """
    path = Path(ref)
    problem: str | None = None
    try:
        problem = not_regular(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        problem = ""  # nothing there: perhaps a built-in id
    except OSError as err:
        problem = file_problem(err)
    except ValueError:  # a NUL byte in the path
        problem = "not a valid file path"
    if problem is None:
        return path
    ids = builtin_ids()
    if ref in ids:
        return builtin_dir() / f"{ref}.toml"
    if problem:
        raise ScenarioError(ref, "", problem)
    known = ", ".join(ids) if ids else "(none)"
    raise ScenarioError(ref, "", f"no such file or built-in scenario; built-ins are: {known}")
