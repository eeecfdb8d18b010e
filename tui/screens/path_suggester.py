"""Completion of file paths for the picker's path field: folders and ``.toml`` files.

The field's suggester (Textual's :class:`~textual.suggester.Suggester`) proposes the
rest of the name being typed, greyed after the cursor; ``right`` (or ``end``) at the end
of the text takes it. Folders are read in a thread (a slow network drive must not hold
up the app) and only so far (:data:`MAX_ENTRIES`).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from textual.suggester import Suggester

MAX_ENTRIES = 5_000
"""Entries of one folder read at most when completing (a huge folder completes less)."""


def resolve_typed(text: str, base: Path) -> Path:
    """The absolute path a typed path names: ``~`` expanded, a relative one from ``base``.

    Nothing is read from the file system (no links are followed): this is what the
    picker shows under its field, so the user sees where a relative path points.
    """
    path = Path(os.path.expanduser(text))
    return Path(os.path.normpath(base / path))


def shown_path(path: Path) -> str:
    """``path`` as the picker shows it: under the home folder as ``~/…``, as shells write
    it (shorter, and the same for everyone whose files sit in the same place at home)."""
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no home folder known
        return str(path)
    if path == home:
        return "~"
    if path.is_relative_to(home) and str(home) != home.anchor:
        return "~/" + path.relative_to(home).as_posix()
    return str(path)


def complete(text: str, base: Path, *, confined: bool = False) -> str | None:
    """``text`` with the rest of the folder or ``.toml`` file name it begins, or None.

    When several names begin with what is typed, the part they share is proposed if it
    is longer than what is typed; else the first name in order. A folder gets its ``/``.

    Args:
        text: What is typed so far, a path relative to ``base`` or absolute.
        base: The folder a relative path is taken from.
        confined: Complete only within ``base`` (``bpdbg serve``: a visitor may not list
            other folders); ``~`` is then a name like any other.
    """
    if not text or "\x00" in text:
        return None
    folder_text, _, prefix = text.rpartition("/")
    folder_typed = folder_text + "/" if _ else ""
    expanded = folder_typed if confined else os.path.expanduser(folder_typed)
    folder = base / expanded if expanded else base
    if confined and not _inside(folder, base):
        return None
    names: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for n, entry in enumerate(entries):
                if n >= MAX_ENTRIES:
                    break
                if not entry.name.startswith(prefix) or (
                    entry.name.startswith(".") and not prefix.startswith(".")
                ):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                if is_dir:
                    names.append(entry.name + "/")
                elif entry.name.endswith(".toml"):
                    names.append(entry.name)
    except (OSError, ValueError):
        return None
    if not names:
        return None
    names.sort()
    shared = os.path.commonprefix(names)
    chosen = shared if len(shared) > len(prefix) else names[0]
    if chosen == prefix:
        return None
    return folder_typed + chosen


def _inside(folder: Path, base: Path) -> bool:
    """Whether ``folder`` is ``base`` or under it, once links and ``..`` are resolved."""
    try:
        return folder.resolve().is_relative_to(base.resolve())
    except (OSError, RuntimeError, ValueError):
        return False


class PathSuggester(Suggester):
    """Proposes the rest of a folder or ``.toml`` file name (:func:`complete`).

    Args:
        base: The folder relative paths are taken from (the working folder, or the
            folder served).
        confined: Complete only within ``base`` (see :func:`complete`).
    """

    def __init__(self, base: Path, *, confined: bool = False) -> None:
        # No cache: files come and go while the picker is open.
        super().__init__(use_cache=False, case_sensitive=True)
        self._base = base
        self._confined = confined

    async def get_suggestion(self, value: str) -> str | None:
        return await asyncio.to_thread(complete, value, self._base, confined=self._confined)
