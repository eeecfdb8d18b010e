"""Headless snapshots (``bpdbg snapshot``): the app at one event, as SVG or as text.

The app runs without a terminal at a given size, trains its whole run, moves to the
event asked for, presses the keys asked for, waits until nothing more changes on the
screen, and exports it: SVG exactly as the app's own screenshot (``s``) writes it, or
the screen's text. Nothing that varies between runs reaches the picture: the theme is
fixed, text cursors do not blink, animations are off, notifications (which time out)
are not shown, the scenario's file is not watched, and the environment's colour
settings (``NO_COLOR``, ``TEXTUAL_FILTERS``) are not applied. The same scenario, event,
keys and size give the same bytes, run after run.

For a user's own tests::

    from tui.snapshot import snapshot

    def test_backward_of_w1():
        text = snapshot("my-scenario.toml", at="0.7", size=(100, 30))
        assert "∂L/∂W1" in text
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import re
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from rich.console import Console
from textual.filter import ANSIToTruecolor, LineFilter
from textual.keys import Keys, _get_unicode_name_from_key
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from engine.open import open_program
from engine.step.program import Program
from tui.app import BpdbgApp

THEME = "textual-dark"
"""The theme of every snapshot, whatever the environment says."""
DEFAULT_SIZE = (120, 40)
"""Columns and rows of a snapshot unless told otherwise."""
MIN_SIZE, MAX_SIZE = (20, 6), (1000, 500)
"""The smallest and largest sizes a snapshot may have (columns, rows)."""
SETTLE_SECONDS = 120.0
"""How long to wait at most for the screen to stop changing (a huge run trains first)."""
STILL_ROUNDS = 3
"""Consecutive identical renders after which the screen counts as settled."""
MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")

Format = Literal["text", "svg"]


class SnapshotError(ValueError):
    """A point, size or key the snapshot cannot use; the message says why."""


class _SnapshotApp(BpdbgApp):
    """The app, rendered the same way in every environment."""

    def get_line_filters(self) -> Sequence[LineFilter]:
        # Only the filter every terminal gets; NO_COLOR's and TEXTUAL_FILTERS' are the
        # environment's, and a snapshot must not depend on them.
        return [f for f in super().get_line_filters() if isinstance(f, ANSIToTruecolor)]


def parse_at(text: str, program: Program) -> int:
    """The ``seq`` of the event ``text`` names: ``STEP``, ``STEP.EVENT`` or ``#SEQ``.

    Raises:
        SnapshotError: ``text`` is not one of those forms, or is past the run's end.
    """
    steps, per_step = program.steps, program.events_per_step
    name = program.scenario.source
    text = text.strip()
    m = re.fullmatch(r"#(\d{1,12})", text)
    if m:
        seq = int(m[1])
        if seq >= steps * per_step:
            raise SnapshotError(
                f"--at {text}: {name} has {steps * per_step:,} events "
                f"(#0 to #{steps * per_step - 1:,})"
            )
        return seq
    m = re.fullmatch(r"(\d{1,12})(?:\.(\d{1,12}))?", text)
    if not m:
        raise SnapshotError(
            f"--at: expected STEP, STEP.EVENT or #SEQ (such as 3, 0.13 or #40), found {text[:40]!r}"
        )
    step, event = int(m[1]), int(m[2] or 0)
    if step >= steps:
        raise SnapshotError(f"--at {text}: {name} runs {steps:,} steps (0 to {steps - 1:,})")
    if event >= per_step:
        raise SnapshotError(
            f"--at {text}: a step of {name} has {per_step} events (0 to {per_step - 1})"
        )
    return step * per_step + event


def parse_size(text: str) -> tuple[int, int]:
    """``"120x40"`` as ``(120, 40)``.

    Raises:
        SnapshotError: Not ``COLSxROWS``, or outside :data:`MIN_SIZE`…:data:`MAX_SIZE`.
    """
    m = re.fullmatch(r"\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*", text)
    size = (int(m[1]), int(m[2])) if m else None
    if size is None or not all(lo <= n <= hi for lo, n, hi in zip(MIN_SIZE, size, MAX_SIZE)):
        raise SnapshotError(
            f"--size: expected COLSxROWS such as 120x40, from {MIN_SIZE[0]}x{MIN_SIZE[1]} "
            f"to {MAX_SIZE[0]}x{MAX_SIZE[1]}, found {text[:40]!r}"
        )
    return size


def parse_keys(text: str) -> list[str]:
    """Keys separated by commas: characters (``i``, ``?``) or key names (``right``,
    ``escape``, ``ctrl+p``, ``comma``).

    Raises:
        SnapshotError: A name that is no key; the message shows how keys are written.
    """
    keys = [k.strip() for k in text.split(",")]
    if text.strip() and all(keys):
        bad = next((k for k in keys if not _is_key(k)), None)
        if bad is None:
            return keys
        found = f"unknown key {bad[:40]!r}"
    else:
        found = f"found {text[:40]!r}"
    raise SnapshotError(
        f"--press: {found}; give keys separated by commas, each a character or a key "
        "name, such as i or n,n,v or right,escape,ctrl+p"
    )


def _is_key(key: str) -> bool:
    *mods, base = key.split("+") if len(key) > 1 else [key]
    if any(m not in MODIFIERS for m in mods) or not base:
        return False
    if len(base) == 1:
        return base.isprintable()
    if base in _KEY_NAMES:
        return True
    try:  # a character by its name: question_mark, space, left_square_bracket
        unicodedata.lookup(_get_unicode_name_from_key(base))
    except KeyError:
        return False
    return True


_KEY_NAMES = frozenset(k.value for k in Keys) | {"enter", "space"}


def load_scenario(scenario: str | Path | Program) -> Program:
    """A program from a built-in id, a ``.toml`` path or a program (returned as it is).

    Raises:
        ScenarioError: The scenario is missing or invalid.
    """
    if isinstance(scenario, Program):
        return scenario
    ref = str(scenario)
    return open_program(ref)


async def snapshot_async(
    scenario: str | Path | Program,
    *,
    at: str | int = 0,
    press: str | Sequence[str] = (),
    size: str | tuple[int, int] = DEFAULT_SIZE,
    format: Format = "text",
) -> str:
    """:func:`snapshot`, for a caller already in an event loop."""
    program = load_scenario(scenario)
    seq = parse_at(str(at), program) if isinstance(at, str) else _seq(at, program)
    keys = parse_keys(press) if isinstance(press, str) else list(press)
    if isinstance(press, str) and not press.strip():
        keys = []
    if isinstance(size, str):
        size = parse_size(size)
    app = _SnapshotApp(program, cursor_blink=False, live_reload=False)
    app.theme = THEME
    app.animation_level = "none"
    async with app.run_test(size=size, notifications=False) as pilot:
        await _settle(pilot, trained=True)
        app.cursor = seq
        await _settle(pilot)
        if keys:
            await pilot.press(*keys)
            if not app.is_running:
                raise SnapshotError(f"--press: the app closed at {', '.join(keys)}")
            await _settle(pilot)
        return app.export_screenshot() if format == "svg" else screen_text(app)


def snapshot(
    scenario: str | Path | Program,
    *,
    at: str | int = 0,
    press: str | Sequence[str] = (),
    size: str | tuple[int, int] = DEFAULT_SIZE,
    format: Format = "text",
) -> str:
    """The app at one event, drawn without a terminal: the same text every run.

    Args:
        scenario: A built-in id, a ``.toml`` file, or a loaded program.
        at: The event: ``"STEP"``, ``"STEP.EVENT"`` (its index within the step),
            ``"#SEQ"``, or the ``seq`` as an int.
        press: Keys pressed there, before the snapshot: ``"i"``, ``"n,n,v"``, or a list
            of key names.
        size: ``(columns, rows)`` or ``"120x40"``.
        format: ``"text"``, the screen's characters, or ``"svg"``, the picture the
            app's screenshot key saves.

    Returns:
        The text, or the SVG document.

    Raises:
        ScenarioError: The scenario is missing or invalid.
        SnapshotError: The event is past the run's end, or a key or size is not one.
    """
    call = snapshot_async(scenario, at=at, press=press, size=size, format=format)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(call)
    # Called from async code (a test with an event loop): the app gets a loop of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, call).result()


def _seq(seq: int, program: Program) -> int:
    total = program.steps * program.events_per_step
    if not 0 <= seq < total:
        raise SnapshotError(
            f"event #{seq}: {program.scenario.source} has events #0 to #{total - 1}"
        )
    return seq


def screen_text(app: BpdbgApp) -> str:
    """The screen's characters as the SVG shows them, without trailing blanks."""
    lines = _render(app, styles=False).split("\n")
    return "\n".join(line.rstrip() for line in lines).rstrip("\n") + "\n"


def _render(app: BpdbgApp, *, styles: bool) -> str:
    """What :meth:`App.export_screenshot` draws (the screen over the screens behind it),
    as text, with its colours and styles as escape codes if ``styles``."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), force_terminal=True,
        color_system="truecolor", record=True, legacy_windows=False, safe_box=False,
    )  # fmt: skip
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text(styles=styles)


async def _settle(pilot: Pilot, *, trained: bool = False) -> None:
    """Wait until the app has stopped changing: its workers done (with ``trained``, the
    whole run computed), and the same screen drawn :data:`STILL_ROUNDS` times running."""
    app = pilot.app
    assert isinstance(app, BpdbgApp)
    deadline = time.monotonic() + SETTLE_SECONDS
    last, still = "", 0
    while time.monotonic() < deadline:
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:  # replaced by a newer one: wait for that
            continue
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        if trained and not app.timeline.done:
            await asyncio.sleep(0.01)
            continue
        now = _render(app, styles=True)
        still = still + 1 if now == last else 0
        last = now
        if still >= STILL_ROUNDS:
            return
