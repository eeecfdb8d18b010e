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


def resolve(ref: str, *, within: Path | None = None) -> Path:
    """Find the scenario file that ``ref`` names.

    An existing regular file wins (so ``./xor.toml`` or ``xor.toml`` in the working
    folder is that file even when a built-in has the same name); otherwise ``ref`` must
    be a built-in id exactly. Ids are matched against the list, never joined onto a path,
    so ``../something`` cannot reach outside this folder. What the path is, is asked of
    :func:`os.stat` alone: nothing is opened here, so a named pipe cannot block.

    Args:
        ref: A file path, or a built-in id such as ``worked-example``.
        within: If given, a file must be under this folder once every link and ``..``
            is resolved, and a relative path is taken from it (``bpdbg serve``: a
            visitor may open built-ins and the files of the folder served, no other).

    Returns:
        The path of the scenario file (resolved, when ``within`` is given).

    Raises:
        ScenarioError: ``ref`` is neither a regular file nor a built-in id: it does not
            exist (the message lists the built-ins), or it is a directory, a named pipe,
            a socket or a device, or a symlink loop, or it cannot be examined, or (with
            ``within``) it is outside that folder. Its place is empty.
    """
    if within is not None:
        return _resolve_within(ref, within)
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
    raise ScenarioError(ref, "", f"no such file or built-in scenario; built-ins are: {_known(ids)}")


def _resolve_within(ref: str, folder: Path) -> Path:
    folder = folder.resolve()
    # Links and ".." resolved first: whether something outside exists is no answer.
    try:
        real = (folder / ref).resolve()  # an absolute ref stays itself
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        raise ScenarioError(ref, "", "is not a path that can be opened") from None
    inside = real.is_relative_to(folder)
    if inside and os.path.lexists(real):
        if not real.is_file():  # a folder, a pipe, a device
            raise ScenarioError(ref, "", "is not a scenario file")
        return real
    ids = builtin_ids()
    if ref in ids:
        return builtin_dir() / f"{ref}.toml"
    if not inside:
        raise ScenarioError(
            ref, "", f"is outside the folder served ({folder.name}): only its files and "
            "the built-in scenarios can be opened here"
        )  # fmt: skip
    raise ScenarioError(
        ref, "", "no such file in the folder served, nor a built-in scenario; built-ins "
        f"are: {_known(ids)}"
    )  # fmt: skip


def _known(ids: list[str]) -> str:
    return ", ".join(ids) if ids else "(none)"
