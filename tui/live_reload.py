"""Live reload: when the open scenario's file changes on disk, run the new version.

A thread watches the file's folder with :func:`watchfiles.watch` (a folder, not
the file: editors that save by writing a new file and renaming it over the old one
would leave a watch on the file itself looking at nothing). On each change it reads the
file, and if its bytes are new, opens it (:func:`engine.open.open_program`) and computes
the steps up to the cursor's — all off the UI thread. Then it posts
:class:`FileReloaded`, and the app switches to the new run with the cursor on the same
step and the same event (:func:`same_place`: the same phase and node where it still
exists, else the same position, clamped). A file that no longer loads leaves the last
good scenario running, and the watcher posts the error as :class:`FileNews`, long enough
to read. A file deleted (or moved away) says so, the last good scenario keeps running,
and the file is picked up again when it is back. Only a regular file is read: a pipe or
a device put in its place is refused without opening it (opening a pipe waits for a
writer, which would stop live reload for good).

Each news replaces the last (the app shows one at a time), so a burst of bad saves
shows one error, updated, not a stack of them.

Only scenarios that come from a file are watched: a ``.toml`` path, or a built-in
(whose file is in the ``scenarios`` package).

The watcher is a daemon thread rather than a Textual worker: it never finishes, and
waiting for the app's workers (as tests do, to let training ahead finish) must not wait
for it. It stops within :data:`STEP_MS` of :meth:`ScenarioWatcher.stop` or of the app
closing. It knows nothing of the app: it is handed how to post a message, where the
cursor is, and whether the app still runs.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual.message import Message
from textual.notifications import SeverityLevel

from engine.errors import ScenarioError
from engine.open import open_program
from engine.scenario.records import MAX_FILE_BYTES
from engine.step.layout import step_layout
from engine.timeline.timeline import Timeline

STEP_MS = 50
"""How long the file must stay unchanged before a change is read (ms)."""
TIMEOUT_MS = 500
"""How long the watch waits quietly before the loop looks round (to see it is in place)."""
ERROR_SECONDS = 20
"""How long a reload's error stays on screen."""
GONE_SECONDS = 0.5
"""How long a file may be missing before it counts as deleted: an editor that saves by
writing a new file and renaming it over the old one leaves no file for a moment."""
GONE = "gone"
"""What :func:`_read` says of a file that does not exist."""


class FileNews(Message):
    """News of the watched file to show, in place of the news shown before.

    Attributes:
        watcher: The watcher it comes from (news of a replaced one is stale).
        text: What to say.
        title: The notification's title.
        severity: Its severity.
        timeout: How long it stays, in seconds.
    """

    def __init__(
        self,
        watcher: ScenarioWatcher,
        text: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float = 4,
    ) -> None:
        self.watcher = watcher
        self.text = text
        self.title = title
        self.severity: SeverityLevel = severity
        self.timeout = timeout
        super().__init__()


class FileReloaded(Message):
    """The watched file loaded anew: ``timeline`` runs it, computed up to the cursor's
    step (as it was when the reload began)."""

    def __init__(self, watcher: ScenarioWatcher, timeline: Timeline) -> None:
        self.watcher = watcher
        self.timeline = timeline
        super().__init__()


def failed_news(watcher: ScenarioWatcher, message: str) -> FileNews:
    """The news of a save that does not load."""
    return FileNews(
        watcher,
        f"{message}\n(still running the last version that loaded)",
        title="Reload failed",
        severity="error",
        timeout=ERROR_SECONDS,
    )


class ScenarioWatcher:
    """Watches one scenario file in a daemon thread and posts what happens to it.

    Args:
        path: The file (see :func:`watched_file`).
        source: The scenario as the user named it (messages use it; reloads open it).
        post: Posts a message to the app (thread-safe, as ``App.post_message`` is).
        cursor_step: The step the app's cursor is on (read from the thread).
        running: Whether the app still runs.
    """

    def __init__(
        self,
        path: Path,
        source: str,
        *,
        post: Callable[[Message], object],
        cursor_step: Callable[[], int],
        running: Callable[[], bool],
    ) -> None:
        self.path = path
        self.source = source
        self._post = post
        self._cursor_step = cursor_step
        self._running = running
        self._stop = threading.Event()
        self.ready = threading.Event()
        """Set once the watcher has read the file as it is now (what it compares with)."""

    def start(self) -> None:
        """Start watching, in a daemon thread."""
        threading.Thread(
            target=self._watch, name=f"bpdbg watching {self.path.name}", daemon=True
        ).start()

    def stop(self) -> None:
        """Stop watching (within :data:`STEP_MS`); nothing is posted after this returns."""
        self._stop.set()

    def is_set(self) -> bool:
        """Whether to stop: stopped, or the app has closed (what watchfiles polls)."""
        return self._stop.is_set() or not self._running()

    def _send(self, message: Message) -> None:
        if not self.is_set():  # another scenario was opened meanwhile
            self._post(message)

    def _watch(self) -> None:
        """In the thread: reload the file whenever its contents change, until stopped."""
        from watchfiles import watch  # here, off the UI thread: it takes 30 ms to import

        path, source = self.path, self.source
        good = seen = _read(path)  # what is running now: unchanged bytes are no change
        self.ready.set()
        target = os.path.normcase(str(path))
        watching = False

        def is_the_file(_change: object, changed: str) -> bool:
            return os.path.normcase(os.path.abspath(changed)) == target

        try:
            for changes in watch(
                path.parent,
                watch_filter=is_the_file,
                stop_event=self,
                recursive=False,
                step=STEP_MS,
                rust_timeout=TIMEOUT_MS,
                yield_on_timeout=True,
            ):
                if not changes:
                    if watching:
                        continue  # a quiet moment
                    # The first: the watch is in place now. A save between the first read
                    # and then raised no event: read the file once more to see it.
                    watching = True
                text = _read(path)
                deadline = time.monotonic() + GONE_SECONDS
                while text == GONE and time.monotonic() < deadline and not self.is_set():
                    time.sleep(STEP_MS / 1000)  # perhaps being saved: a new file comes soon
                    text = _read(path)
                if self.is_set():
                    return
                if text == seen:
                    continue  # saved unchanged, or still gone, or still unreadable
                seen = text
                if text == GONE:
                    self._send(
                        FileNews(self, _gone_message(source), severity="warning", timeout=10)
                    )
                    continue
                if isinstance(text, str):
                    self._send(failed_news(self, f"{source}: {text}"))
                    continue
                if text == good:
                    back = f"{source} is back to the scenario running now."
                    self._send(FileNews(self, back, timeout=3))
                    continue
                try:
                    program = open_program(source)
                except ScenarioError as err:
                    self._send(failed_news(self, str(err)))
                    continue
                except Exception as err:  # a bug behind a user's file must not end their session
                    self._send(failed_news(self, f"{source}: {type(err).__name__}: {err}"))
                    continue
                good = text
                timeline = Timeline(program)
                # The steps up to the cursor's, here rather than on the UI thread.
                step = min(self._cursor_step(), timeline.total_steps - 1)
                timeline.compute(step + 1, cancelled=self.is_set)
                self._send(FileReloaded(self, timeline))
        except Exception as err:  # no watching (e.g. the system's limit on watches)
            if not self.is_set():
                message = f"Live reload is off: {type(err).__name__}: {err}"
                self._send(FileNews(self, message, severity="warning", timeout=6))


def _gone_message(source: str) -> str:
    return (
        f"{source} is gone (deleted or moved away). Still running the last version that"
        " loaded; it reloads when the file is back."
    )


def watched_file(source: str) -> Path | None:
    """The file that scenario ``source`` (a path or a built-in id) was loaded from, if any."""
    from scenarios import resolve

    try:
        path = resolve(source)
    except ScenarioError:
        return None  # built in memory (tests), or the file is gone
    return path.resolve() if path.is_file() else None


def _read(path: Path) -> bytes | str:
    """The bytes of the regular file at ``path``, or why they cannot be read (:data:`GONE`
    when there is no file). Never waits: nothing but a regular file is opened."""
    not_regular = "is not a regular file (a pipe, socket, device or folder); only a file is read"
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return not_regular
        # Non-blocking, and checked again once open: it may have been replaced meanwhile.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return not_regular
            return handle.read(MAX_FILE_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return GONE
    except OSError as err:
        return f"cannot read the file: {err.strerror or err}"


def same_place(old: Timeline, cursor: int, new: Timeline) -> int:
    """The event of ``new`` at the place of event ``cursor`` of ``old``.

    The same step (clamped to ``new``'s length) and the same event of it: the same phase
    and node if ``new`` has that event, else the same position (clamped).
    """
    step, pos = old.locate(cursor)
    before = step_layout(old.program.graph).events
    after = step_layout(new.program.graph).events
    here = before[pos] if pos < len(before) else None
    pos = after.index(here) if here in after else min(pos, len(after) - 1)
    step = max(0, min(step, new.total_steps - 1))
    return step * len(after) + pos
