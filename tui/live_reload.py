"""Live reload: when the open scenario's file changes on disk, run the new version.

A thread watches the file's folder with :func:`watchfiles.watch` (a folder, not
the file: editors that save by writing a new file and renaming it over the old one
would leave a watch on the file itself looking at nothing). On each change it reads the
file, and if its bytes are new, loads and builds it and computes the steps up to the
cursor's — all off the UI thread. Then, on the UI thread, the app switches to the new
run with the cursor on the same step and the same event (the same phase and node where
it still exists, else the same position, clamped) and says "reloaded". A file that no
longer loads leaves the last good scenario running and shows the error, long enough to
read.

Only scenarios that come from a file are watched: a ``.toml`` path, or a built-in
(whose file is in the ``scenarios`` package).

The watcher is a daemon thread rather than a Textual worker: it never finishes, and
waiting for the app's workers (as tests do, to let training ahead finish) must not wait
for it. It stops within :data:`STEP_MS` of another scenario being opened or the app
closing.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events

from engine.errors import ScenarioError
from engine.run import make_program
from engine.scenario import MAX_FILE_BYTES, load
from engine.timeline import Timeline
from tui.timeline_view import step_layout
from tui.runs import Runs

if TYPE_CHECKING:
    from tui.app import BpdbgApp

_WATCHERS: weakref.WeakKeyDictionary[BpdbgApp, threading.Event] = weakref.WeakKeyDictionary()
"""Each app's watcher, by the event that stops it (one at a time: opening replaces it)."""
STEP_MS = 50
"""How long the file must stay unchanged before a change is read (ms)."""
ERROR_SECONDS = 20
"""How long a reload's error stays on screen."""


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
        target=_watch, args=(app, path, source, stop), name=f"bpdbg watching {path.name}",
        daemon=True,
    ).start()


def _read(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None


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

    def is_the_file(_change: object, changed: str) -> bool:
        return os.path.normcase(os.path.abspath(changed)) == target

    def on_ui(callback: Callable[[], None]) -> None:
        def run() -> None:
            if not stopped.is_set():  # another scenario was opened meanwhile
                callback()

        app.post_message(events.Callback(callback=run))

    try:
        for _ in watch(
            path.parent, watch_filter=is_the_file, stop_event=stopped, recursive=False,
            step=STEP_MS,
        ):
            text = _read(path)
            if stopped.is_set():
                return
            if text is None or text == seen:
                continue  # gone for a moment while being saved, or saved unchanged
            seen = text
            if text == good:
                back = f"{source} is back to the scenario running now."
                on_ui(partial(app.notify, back, timeout=3))
                continue
            try:
                program = make_program(load(path, source=source))
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
            on_ui(partial(app.notify, message, severity="warning", timeout=6))


def _failed(app: BpdbgApp, message: str) -> None:
    app.notify(
        f"{message}\n(still running the last version that loaded)",
        title="Reload failed", severity="error", timeout=ERROR_SECONDS,
    )


def same_place(old: Timeline, cursor: int, new: Timeline) -> int:
    """The event of ``new`` at the place of event ``cursor`` of ``old``.

    The same step (clamped to ``new``'s length) and the same event of it: the same phase
    and node if ``new`` has that event, else the same position (clamped).
    """
    step, pos = old.locate(cursor)
    before = step_layout(old.program.graph)
    after = step_layout(new.program.graph)
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
    app.notify(f"Reloaded {timeline.program.scenario.source}{note}", timeout=4)
