"""Live reload: when the open scenario's file changes on disk, run the new version.

A thread watches the file's folder with :func:`watchfiles.watch` (a folder, not
the file: editors that save by writing a new file and renaming it over the old one
would leave a watch on the file itself looking at nothing). On each change it reads the
file, and if its bytes are new, loads and builds it and computes the steps up to the
cursor's — all off the UI thread. Then, on the UI thread, the app switches to the new
run with the cursor on the same step and the same event (the same phase and node where
it still exists, else the same position, clamped) and says "reloaded". A file that no
longer loads leaves the last good scenario running and shows the error, long enough to
read. A file deleted (or moved away) says so, the last good scenario keeps running, and
the file is picked up again when it is back. Only a regular file is read: a pipe or a
device put in its place is refused without opening it (opening a pipe waits for a
writer, which would stop live reload for good).

Live reload keeps one notification at a time (:func:`_say`): each news replaces the
last, so a burst of bad saves shows one error, updated, not a stack of them.

Only scenarios that come from a file are watched: a ``.toml`` path, or a built-in
(whose file is in the ``scenarios`` package).

The watcher is a daemon thread rather than a Textual worker: it never finishes, and
waiting for the app's workers (as tests do, to let training ahead finish) must not wait
for it. It stops within :data:`STEP_MS` of another scenario being opened or the app
closing.
"""

from __future__ import annotations

import os
import stat
import threading
import time
import weakref
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events
from textual.notifications import Notification, Notify, SeverityLevel

from engine.errors import ScenarioError
from engine.open import open_program
from engine.report.fmt import printable
from engine.scenario.records import MAX_FILE_BYTES
from engine.step.layout import step_layout
from engine.timeline.runs import Runs
from engine.timeline.timeline import Timeline

if TYPE_CHECKING:
    from tui.app import BpdbgApp

_WATCHERS: weakref.WeakKeyDictionary[BpdbgApp, threading.Event] = weakref.WeakKeyDictionary()
"""Each app's watcher, by the event that stops it (one at a time: opening replaces it)."""
_NOTES: weakref.WeakKeyDictionary[BpdbgApp, Notification] = weakref.WeakKeyDictionary()
"""The notification live reload shows now, per app (see :func:`_say`)."""
STEP_MS = 50
"""How long the file must stay unchanged before a change is read (ms)."""
ERROR_SECONDS = 20
"""How long a reload's error stays on screen."""
GONE_SECONDS = 0.5
"""How long a file may be missing before it counts as deleted: an editor that saves by
writing a new file and renaming it over the old one leaves no file for a moment."""
GONE = "gone"
"""What :func:`_read` says of a file that does not exist."""


def watched_file(source: str) -> Path | None:
    """The file that scenario ``source`` (a path or a built-in id) was loaded from, if any."""
    from scenarios import resolve

    try:
        path = resolve(source)
    except ScenarioError:
        return None  # built in memory (tests), or the file is gone
    return path.resolve() if path.is_file() else None


def watch_scenario_file(app: BpdbgApp) -> None:
    """Watch the file of the app's open scenario, instead of any file watched before."""
    previous = _WATCHERS.pop(app, None)
    if previous is not None:
        previous.set()
    source = app.runs.original.program.scenario.source
    path = watched_file(source)
    if path is None:
        return
    stop = _WATCHERS[app] = threading.Event()
    threading.Thread(
        target=_watch,
        args=(app, path, source, stop),
        name=f"bpdbg watching {path.name}",
        daemon=True,
    ).start()


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


class _Stop:
    """What watchfiles polls (every step) to stop: replaced, or the app has closed."""

    def __init__(self, app: BpdbgApp, stop: threading.Event) -> None:
        self._app = app
        self._stop = stop

    def is_set(self) -> bool:
        return self._stop.is_set() or not self._app.is_running


def _watch(app: BpdbgApp, path: Path, source: str, stop: threading.Event) -> None:
    """In a thread: reload ``path`` whenever its contents change, until stopped."""
    from watchfiles import watch  # here, off the UI thread: it takes 30 ms to import

    stopped = _Stop(app, stop)
    good = seen = _read(path)  # what is running now: unchanged bytes are no change
    target = os.path.normcase(str(path))
    say: partial[None] = partial(_say, app)

    def is_the_file(_change: object, changed: str) -> bool:
        return os.path.normcase(os.path.abspath(changed)) == target

    def on_ui(callback: Callable[[], None]) -> None:
        def run() -> None:
            if not stopped.is_set():  # another scenario was opened meanwhile
                callback()

        app.post_message(events.Callback(callback=run))

    try:
        for _ in watch(
            path.parent,
            watch_filter=is_the_file,
            stop_event=stopped,
            recursive=False,
            step=STEP_MS,
        ):
            text = _read(path)
            deadline = time.monotonic() + GONE_SECONDS
            while text == GONE and time.monotonic() < deadline and not stopped.is_set():
                time.sleep(STEP_MS / 1000)  # perhaps being saved: a new file comes soon
                text = _read(path)
            if stopped.is_set():
                return
            if text == seen:
                continue  # saved unchanged, or still gone, or still unreadable
            seen = text
            if text == GONE:
                on_ui(partial(say, _gone_message(source), severity="warning", timeout=10))
                continue
            if isinstance(text, str):
                on_ui(partial(_failed, app, f"{source}: {text}"))
                continue
            if text == good:
                back = f"{source} is back to the scenario running now."
                on_ui(partial(say, back, timeout=3))
                continue
            try:
                program = open_program(source)
            except ScenarioError as err:
                on_ui(partial(_failed, app, str(err)))
                continue
            except Exception as err:  # a bug behind a user's file must not end their session
                on_ui(partial(_failed, app, f"{source}: {type(err).__name__}: {err}"))
                continue
            good = text
            timeline = Timeline(program)
            # The steps up to the cursor's, here rather than on the UI thread.
            step = min(app.cursor // app.timeline.events_per_step, timeline.total_steps - 1)
            timeline.compute(step + 1, cancelled=stopped.is_set)
            on_ui(partial(_reloaded, app, timeline))
    except Exception as err:  # no watching (e.g. the system's limit on watches)
        if not stopped.is_set():
            message = f"Live reload is off: {type(err).__name__}: {err}"
            on_ui(partial(say, message, severity="warning", timeout=6))


def _gone_message(source: str) -> str:
    return (
        f"{source} is gone (deleted or moved away). Still running the last version that"
        " loaded; it reloads when the file is back."
    )


def _say(
    app: BpdbgApp,
    message: str,
    *,
    title: str = "",
    severity: SeverityLevel = "information",
    timeout: float = 4,
) -> None:
    """On the UI thread: show live reload's news, in place of the news it showed before.

    Textual has no public call to withdraw one notification; ``_unnotify`` is what its
    toasts call when they expire. The one withdrawn is also made to expire now, in case
    the app has not handled its :class:`Notify` yet (news can come in quick succession):
    Textual drops an expired notification instead of showing it. A burst of bad saves
    then shows one error, updated.
    """
    previous = _NOTES.pop(app, None)
    if previous is not None:
        previous.timeout = 0
        if previous in app._notifications:
            app._unnotify(previous)
    note = Notification(
        printable(message, newlines=True), printable(title), severity, timeout, markup=False
    )
    _NOTES[app] = note
    app.post_message(Notify(note))


def _failed(app: BpdbgApp, message: str) -> None:
    _say(
        app,
        f"{message}\n(still running the last version that loaded)",
        title="Reload failed",
        severity="error",
        timeout=ERROR_SECONDS,
    )


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


def _reloaded(app: BpdbgApp, timeline: Timeline) -> None:
    """On the UI thread: show the reloaded scenario where the cursor was."""
    seq = same_place(app.timeline, app.cursor, timeline)
    dropped = len(app.runs.branches)
    app.runs = Runs(timeline)
    app.set_timeline(timeline, seq)
    note = f" (its {dropped} what-if branch(es) were of the old version)" if dropped else ""
    _say(app, f"Reloaded {timeline.program.scenario.source}{note}", timeout=4)
