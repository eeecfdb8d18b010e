"""Apps for the pilot and snapshot tests, built from Scenario objects (no files needed),
helpers that move an app to a given event before a screenshot, and :func:`wait_until`,
which every test uses to wait for a state rather than for a number of pauses."""

from __future__ import annotations

import io
import re
import time
import weakref
from collections.abc import Awaitable, Callable

import numpy as np
from rich.console import Console
from textual import events
from textual.app import App
from textual.drivers.headless_driver import HeadlessDriver
from textual.notifications import Notification, Notifications
from textual.pilot import Pilot
from textual.screen import Screen
from textual.worker import WorkerCancelled

from engine.scenario.records import (
    DataSpec,
    GraphSpec,
    LayerSpec,
    ModelSpec,
    OptimizerSpec,
    Scenario,
    TrainSpec,
)
from engine.step.layout import step_layout
from engine.step.program import Program, make_program
from tui.app import BpdbgApp
from tui.panes.chain_rule.widget import ChainRuleView
from tui.panes.header import PARTS

THEME = "textual-dark"


def worked_example(steps: int = 20, optimizer: OptimizerSpec | None = None) -> Program:
    """The seed document's example: x=1, W=0.5, b=0, y=0, identity, mse, sgd lr=0.1."""
    return make_program(
        Scenario(
            name="Worked example",
            source="worked-example",
            description="# Worked example\n\nOne neuron: `z1 = x·W1 + b1`, squared error.",
            optimizer=optimizer or OptimizerSpec("sgd", 0.1),
            train=TrainSpec(steps=steps),
            model=ModelSpec(
                inputs=1,
                layers=(LayerSpec(1, "identity", np.array([[0.5]]), np.array([0.0])),),
            ),
            data=DataSpec(np.array([[1.0]]), np.array([[0.0]])),
            loss="mse",
        )
    )


def expression(steps: int = 3) -> Program:
    """The worked example as an expression graph: ``z = W * x + b``, ``L = (z - y) ** 2``."""
    return make_program(
        Scenario(
            name="expression",
            source="<test>",
            optimizer=OptimizerSpec("sgd", 0.1),
            train=TrainSpec(steps=steps),
            graph=GraphSpec(
                inputs={"x": np.array(1.0), "y": np.array(0.0)},
                params={"W": np.array(0.5), "b": np.array(0.0)},
                nodes=(("z", "W * x + b"), ("L", "(z - y) ** 2")),
                loss="L",
            ),
        )
    )


def adam_example() -> Program:
    """The worked example trained with Adam."""
    return worked_example(optimizer=OptimizerSpec("adam", 0.1))


def fan_out() -> Program:
    """An expression graph where ``w`` feeds two consumers: ``u = w*x`` and ``v = sin(w)``."""
    return make_program(
        Scenario(
            name="Fan-out",
            source="fan-out-test",
            optimizer=OptimizerSpec("sgd", 0.1),
            train=TrainSpec(steps=5),
            graph=GraphSpec(
                inputs={"x": np.array(3.0)},
                params={"w": np.array(2.0)},
                nodes=(("u", "w * x"), ("v", "sin(w)"), ("L", "u * v")),
                loss="L",
            ),
        )
    )


def xor() -> Program:
    """A 2-2-1 tanh/sigmoid network on the 4 XOR samples (matrix-shaped gradients)."""
    return make_program(
        Scenario(
            name="XOR 2-2-1",
            source="xor-test",
            optimizer=OptimizerSpec("sgd", 0.5),
            train=TrainSpec(steps=10),
            model=ModelSpec(
                inputs=2,
                layers=(
                    LayerSpec(2, "tanh", np.array([[0.5, -0.4], [0.3, 0.8]]), np.array([0.0, 0.1])),
                    LayerSpec(1, "sigmoid", np.array([[0.7], [-0.6]]), np.array([0.2])),
                ),
            ),
            data=DataSpec(
                np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]),
                np.array([[0.0], [1.0], [1.0], [0.0]]),
            ),
            loss="mse",
        )
    )


def make_app(program: Program) -> BpdbgApp:
    """An app for tests: fixed theme, no blinking cursor, its notifications recorded."""
    app = BpdbgApp(program, cursor_blink=False)
    app.theme = THEME
    _record_notifications(app)
    return app


_SHOWN: weakref.WeakKeyDictionary[App, list[Notification]] = weakref.WeakKeyDictionary()


def _record_notifications(app: App) -> None:
    """Keep each notification the app shows, also once it has expired: a note with a
    3-second timeout can come and go between two looks of a test on a busy machine."""
    shown = _SHOWN[app] = []
    add = app._notifications.add

    def recording(notification: Notification) -> Notifications:
        shown.append(notification)
        return add(notification)

    app._notifications.add = recording  # type: ignore[method-assign]


def notes_shown(app: App) -> list[Notification]:
    """Every notification the app has shown, in order (expired ones too)."""
    return _SHOWN.get(app, list(app._notifications))


def event_seq(program: Program, phase: str, subject: str, step: int = 0) -> int:
    """The ``seq`` of the event of ``phase`` about ``subject`` in ``step``."""
    layout = step_layout(program.graph).events
    return step * len(layout) + layout.index((phase, subject))


WAIT_SECONDS = 60.0
"""How long :func:`wait_until` waits before failing: a guard against a hang, not a timing
assertion (a busy CI machine may take a while; a state that never comes fails)."""


class WaitTimedOut(AssertionError):
    """What :func:`wait_until` waited for did not come in time."""


async def wait_until(
    pilot: Pilot,
    predicate: Callable[[], object],
    what: str | Callable[[], str],
    timeout: float = WAIT_SECONDS,
) -> None:
    """Pause until ``predicate()`` is true; fail, naming ``what``, if it is not after
    ``timeout`` seconds.

    For anything that arrives asynchronously (a worker's result, a timer, a message, a
    callback after a refresh, a resize, the history's plots): a fixed number of pauses
    is enough on an idle machine and not on a busy one. ``what`` may be a function that
    says, when the wait fails, what the state is then.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            # An AssertionError, not pytest.fail: that one is a BaseException, which a
            # snapshot's run_before does not hand back, so the test hung instead of failing.
            raise WaitTimedOut(f"waited {timeout:g} s for {said}")
        await pilot.pause(0.01)


async def settle(pilot: Pilot) -> None:
    """Wait until training ahead (and any other worker) has finished, and every pane shows
    the current frame: the history's plots, which follow the first frame, included."""
    app = pilot.app
    if isinstance(app, BpdbgApp):
        # Training ahead starts after the first frame is painted: waiting for the workers
        # alone may find none started yet on a busy machine.
        await wait_until(pilot, lambda: not app.training_ahead, "training ahead to finish")
    for _ in range(10):
        try:
            await app.workers.wait_for_complete()
            break
        except WorkerCancelled:  # the run of a scenario that was replaced
            continue
    if isinstance(app, BpdbgApp):
        await wait_until(pilot, lambda: views_drawn(app), lambda: undrawn_views(app))
    await pilot.pause()


def views_drawn(app: BpdbgApp) -> bool:
    """Whether the panes that draw after the first frame have drawn what they show: the
    history's plots (and the data view, when it is open)."""
    history = app.history_view
    if history.is_attached and history.display and history.size.area and not history.is_current:
        return False
    data = app.data_view
    return not (app.data_shown and data is not None and not data.rendered)


def undrawn_views(app: BpdbgApp) -> str:
    """What :func:`views_drawn` waits for, and the state of each."""
    history, data = app.history_view, app.data_view
    said = [f"the history's plots ({history.drawing_state()})"]
    if app.data_shown and data is not None:
        said.append(f"the data view (rendered: {data.rendered})")
    return " and ".join(said)


async def open_dialog(pilot: Pilot, key: str, kind: type[Screen]) -> Screen:
    """Press ``key`` and wait until the dialog it opens, a screen of type ``kind``, is
    mounted (its widgets composed, its ``on_mount`` run)."""
    await pilot.press(key)
    app = pilot.app
    await wait_until(
        pilot, lambda: isinstance(app.screen, kind) and app.screen.is_mounted, kind.__name__
    )
    return app.screen


CHARACTERS = {
    "space": " ",
    "enter": "\r",
    "tab": "\t",
    "escape": "\x1b",
    "backspace": "\x7f",
    "question_mark": "?",
    "plus": "+",
    "minus": "-",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
}
"""The character each named key types, where it types one."""


async def send_keys(pilot: Pilot, *keys: str, pause: bool = True) -> None:
    """Send keys as the terminal's driver does, without :meth:`Pilot.press`'s wait for the
    process to go idle after each (about 80 ms a key): for tests that press hundreds of
    keys and assert only that nothing fails, not what each key did.

    Args:
        pilot: The app's pilot.
        keys: Textual key names.
        pause: Let the app handle each key before the next is sent (``pause(0)``); if
            false, they queue up as a burst, handled in order.
    """
    for key in keys:
        pilot.app.post_message(events.Key(key, key if len(key) == 1 else CHARACTERS.get(key)))
        if pause:
            await pilot.pause(0)


def said(app: App, text: str) -> bool:
    """Whether the latest notification says ``text`` (for :func:`wait_until`: a
    notification is a message the app handles after the code that sent it), even if it
    has expired since."""
    shown = notes_shown(app)
    return bool(shown) and text in shown[-1].message


def goto(phase: str, subject: str, step: int = 0) -> Callable[[Pilot], Awaitable[None]]:
    """A ``run_before`` that moves the cursor to an event, once every step is computed."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, BpdbgApp)
        app.cursor = event_seq(app.timeline.program, phase, subject, step)
        await settle(pilot)

    return run_before


def header(app: BpdbgApp) -> str:
    """Every part of the header, whole (the screen may cut the title short)."""
    return " ".join(app.header.part(part).plain for part in PARTS)


def chain(app: BpdbgApp) -> str:
    """The chain-rule pane's text."""
    return app.query_one(ChainRuleView).snapshot_text()


def screen_text(app: BpdbgApp) -> str:
    """The whole screen as styled text, the way the terminal shows it."""
    console = Console(
        width=app.size.width,
        height=app.size.height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=True)


class _FirstFrame(HeadlessDriver):
    """A terminal that is drawn to but not there: keeps the first full screen written,
    then closes the app (as ``bench/first_frame_driver.py`` times it)."""

    frame = ""

    @property
    def is_headless(self) -> bool:
        return False  # render the output, as for a terminal

    def write(self, data: str) -> None:
        width, height = self._get_terminal_size()
        if not type(self).frame and len(data) >= width * height // 2:
            type(self).frame = data
            self._app.call_later(self._app.exit)


async def first_frame(app: BpdbgApp, size: tuple[int, int] = (120, 40)) -> str:
    """The first full screen ``app`` writes to a terminal of ``size``, as plain text."""
    driver = type("FirstFrame", (_FirstFrame,), {})  # a class of its own, for its frame
    app.driver_class = driver
    await app.run_async(size=size)
    text = re.sub(r"\x1b\[(\d+);1H", "\n", driver.frame)  # a row begins
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
