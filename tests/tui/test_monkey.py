"""Monkey test: on every built-in scenario, seeded random keys (the app's bindings, letters,
digits, esc, enter, tab, arrows, ctrl+p) with random resizes from 20×8 to 220×70, and
garbage (huge numbers, nan, 5,000 characters, deep brackets, markup) typed into every
dialog's fields. Anything that goes wrong fails it: an exception in the app, a worker
that crashed, a non-zero exit, or a message in which a safety net reports an unexpected
error (``SomethingError: …``), which would otherwise hide a bug.

Seeded and bounded for CI; ``BPDBG_MONKEY_KEYS=5000`` sends that many keys to each
scenario instead, and ``BPDBG_MONKEY_SEED`` picks another sequence.
"""

from __future__ import annotations

import os
import random
import re

import pytest
from snapshot_apps import make_app, send_keys, settle, wait_until
from textual.pilot import Pilot
from textual.widgets import Input, Static

from engine.open import open_program
from scenarios import builtin_ids
from tui.actions import ACTIONS
from tui.app import BpdbgApp

KEYS = int(os.environ.get("BPDBG_MONKEY_KEYS", "150"))
"""Keys sent to each scenario."""
SEED = int(os.environ.get("BPDBG_MONKEY_SEED", "0"))

BOUND = sorted({k for a in ACTIONS for k in a.keys.split(",")} - {"q"})
"""Every key the main screen binds but ``q``, which is pressed more rarely (it quits,
and the app starts again)."""
OTHER = [
    *"abcdefhijklmnoruvxyz0123456789",
    *("escape", "enter", "tab", "shift+tab", "up", "down", "left", "right", "ctrl+p"),
    *("backspace", "space", "home", "end", "pageup", "pagedown", "delete"),
]
GARBAGE = [
    "1e309",
    "-1e309",
    "1e308",
    "-1e308",
    "9" * 400,
    "-" + "9" * 400,
    "nan",
    "inf",
    "-0",
    "5e-324",
    "x" * 5000,
    "[" * 5000 + "1" + "]" * 5000,
    "(" * 3000 + "1" + ")" * 3000,
    "-" * 1000 + "1",
    "+".join(["W1"] * 400) + " > 0",
    "W1 ** 1" + "0" * 400 + " > 0",
    "loss > " + "9" * 400,
    "[/] [b]bold",
    "W1 = 1e308",
    "W1 = [[1e308]]",
    "b1 = -1e308",
    "W1[0,0] = 1e308",
    "W1[²,0] = 1",
    "W1[" + "9" * 5000 + ",0] = 1",
    "a = 1e308",
    "adam betas=0.9,0.999 eps=1e-300",
    "momentum momentum=0.999999999",
    "sgd",
    "norm(grad) > 1e308",
    "isnan(value)",
    "W1",
    "z1",
    "/dev/null",
    "/",
    "~",
    "",
    "no/such/file.toml",
    "a" * 300 + ".toml",
]
"""What is typed into dialog fields: numbers that overflow, text that is far too long or
too deep, markup, and some valid entries (so that branches and breakpoints are made)."""
SAFETY_NET = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b: ")
"""How a safety net writes an unexpected error (``cannot use it: OverflowError: …``)."""
DEFERRED = ("OverflowError: int too large to convert to float",)
"""Unexpected errors whose fix belongs to the engine half of issue 9 (engine/expr.py
converting a 400-digit integer in a watchpoint): tolerated here until it lands, then
this should be empty."""


class Monkey:
    """Sends one scenario its keys, resizes and garbage; keeps count of what it did."""

    def __init__(self, scenario: str, seed: int) -> None:
        self.scenario = scenario
        self.rng = random.Random(f"{seed}:{scenario}")
        self.keys = self.resizes = self.garbage = self.restarts = 0
        self.problems: list[str] = []
        self.said: list[str] = []

    def record(self, app: BpdbgApp) -> None:
        """Keep every notification's text, as the app sends it (toasts expire)."""
        notify = app.notify

        def recording(message: str, **kwargs: object) -> None:
            self.said.append(message)
            notify(message, **kwargs)  # type: ignore[arg-type]

        app.notify = recording  # type: ignore[method-assign]

    async def run(self, budget: int) -> None:
        while self.keys < budget and not self.problems:
            app = make_app(open_program(self.scenario))
            self.record(app)
            size = (self.rng.randint(20, 220), self.rng.randint(8, 70))
            async with app.run_test(size=size, notifications=True) as pilot:
                await pilot.pause()
                await self.play(pilot, app, budget)
                if app.is_running:
                    await pilot.pause()
                    self.look_at_dialog(app)
                    app.workers.cancel_all()
            self.check(app)
            if app.return_code == 0 and self.keys < budget:
                self.restarts += 1  # q, or Quit from the palette: start again

    async def play(self, pilot: Pilot, app: BpdbgApp, budget: int) -> None:
        rng = self.rng
        while self.keys < budget and app.is_running and app._exception is None:
            roll = rng.random()
            fields = list(app.screen.query(Input)) if app.screen.is_mounted else []
            if roll < 0.02:
                self.resizes += 1
                await pilot.resize_terminal(rng.randint(20, 220), rng.randint(8, 70))
                continue
            if fields and roll < 0.15:
                await self.type_garbage(pilot, app, rng.choice(fields))
                continue
            # A burst of keys, as from a fast typist: they queue up (see send_keys), and
            # the screen is drawn once for them rather than once a key.
            burst = []
            for _ in range(min(rng.randint(1, 4), budget - self.keys)):
                if rng.random() < 0.01:
                    burst.append("q")
                else:
                    burst.append(rng.choice(BOUND if rng.random() < 0.55 else OTHER))
            self.keys += len(burst)
            await send_keys(pilot, *burst, pause=False)
            await pilot.pause(0)
            if self.keys % 50 < len(burst):
                await pilot.pause()

    async def type_garbage(self, pilot: Pilot, app: BpdbgApp, field: Input) -> None:
        self.garbage += 1
        field.value = self.rng.choice(GARBAGE)
        field.focus()
        await send_keys(pilot, "enter")
        self.look_at_dialog(app)

    def look_at_dialog(self, app: BpdbgApp) -> None:
        """Read the error lines of the dialog open now (if one is)."""
        if not app.screen.is_mounted:
            return
        for error in app.screen.query(Static).filter(".bp-error, #whatif-error, #picker-error"):
            self.look(f"{error.id}: {error.render()}")

    def look(self, text: str) -> None:
        found = SAFETY_NET.search(text)
        if found and not any(d in text for d in DEFERRED):
            self.problems.append(f"{self.scenario}: a safety net caught: {text[:300]}")

    def check(self, app: BpdbgApp) -> None:
        if app._exception is not None:
            err = app._exception
            self.problems.append(f"{self.scenario}: {type(err).__name__}: {err}")
        if app.return_code not in (None, 0):
            self.problems.append(f"{self.scenario}: exit status {app.return_code}")
        for message in self.said:
            self.look(message)
        self.said.clear()


@pytest.mark.parametrize("scenario", builtin_ids())
async def test_monkey(scenario: str) -> None:
    monkey = Monkey(scenario, SEED)
    await monkey.run(KEYS)
    print(
        f"monkey {scenario}: {monkey.keys} keys, {monkey.resizes} resizes,"
        f" {monkey.garbage} garbage entries, {monkey.restarts} restarts"
    )
    assert not monkey.problems, "\n".join(monkey.problems)


@pytest.mark.parametrize(
    ("size", "keys"),
    [
        ((120, 40), ("o", "escape", "escape")),  # dismissed twice: popped the main screen
        ((120, 40), ("w", "escape")),  # closed while composing: on_mount found no widgets
        ((120, 40), ("B", "escape", "escape", "escape")),
        ((120, 40), ("ctrl+p", "enter", "enter")),  # Textual's palette, the same
        ((120, 40), ("ctrl+p", "pagedown")),  # paged before its list was laid out
        ((120, 40), ("o", "pagedown", "pageup")),
        ((12, 5), ("w",)),  # a list with no width at all failed to wrap its options
        ((6, 8), ("ctrl+p",)),
        ((120, 40), ("q", "o")),  # a dialog opened on the closing app
    ],
)
async def test_what_the_monkey_found(size: tuple[int, int], keys: tuple[str, ...]) -> None:
    """Each burst of keys that once ended the app."""
    app = make_app(open_program("xor"))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await send_keys(pilot, *keys, pause=False)
        await pilot.pause()
        await pilot.pause(0.2)
        assert app._exception is None
    assert app._exception is None and app.return_code in (None, 0)


@pytest.mark.parametrize("burst", [False, True])
@pytest.mark.parametrize("size", [(100, 14), (200, 12)])
async def test_page_keys_in_the_history_chooser_with_no_room(
    size: tuple[int, int], burst: bool
) -> None:
    """On a short terminal the history's parameter chooser opens a list with no room to
    show; a page key there failed inside Textual (the monkey found it)."""
    app = make_app(open_program("xor"))
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        chooser = app.history_view._chooser
        assert chooser is not None
        chooser.focus()
        # In a burst, the page keys reach the list as focus moves to it.
        await send_keys(pilot, "enter", "pagedown", "pagedown", "pageup", pause=not burst)
        await pilot.pause()
        assert app._exception is None
    assert app._exception is None and app.return_code in (None, 0)


@pytest.mark.parametrize("opens", ["search_themes", "action_command_palette"])
async def test_page_keys_in_a_palette_right_away(opens: str) -> None:
    """The palettes the app opens (ctrl+p, and "Change theme" from it) page only once
    their list is laid out (the monkey found Textual's failing before)."""
    app = make_app(open_program("xor"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        getattr(app, opens)()
        await send_keys(pilot, "pageup", "pagedown", "pageup", pause=False)
        await pilot.pause()
        assert app._exception is None
    assert app._exception is None and app.return_code in (None, 0)


async def test_page_keys_in_the_history_chooser_after_a_new_scenario() -> None:
    """The chooser's list, laid out for one scenario's parameters, given another's and
    then no room: a page key failed on the lines it had kept (the monkey found it)."""
    app = make_app(open_program("xor"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        chooser = app.history_view._chooser
        assert chooser is not None
        chooser.focus()
        await send_keys(pilot, "enter")
        await wait_until(pilot, lambda: chooser.expanded, "the chooser to open")
        await send_keys(pilot, "down", "down", "enter")
        await wait_until(pilot, lambda: not chooser.expanded, "the choice")
        app.set_program(open_program("spiral-mlp"))
        await settle(pilot)
        await pilot.resize_terminal(100, 14)
        await settle(pilot)
        chooser.focus()
        await send_keys(pilot, "enter")
        await wait_until(pilot, lambda: chooser.expanded, "the chooser to open again")
        await send_keys(pilot, "pageup", "pagedown")
        await pilot.pause()
        assert app._exception is None
    assert app._exception is None and app.return_code in (None, 0)


@pytest.mark.parametrize("seed", [5, 6])
async def test_bursts_of_keys_in_the_command_palette(seed: int) -> None:
    """Random bursts of palette keys (ctrl+p, letters, enter, esc, backspace), seeded: the
    monkey found keys typed into a palette that was closing starting a search with no
    list left to show it in (a worker error), and ctrl+p opening a palette while the last
    one was still leaving (two screens with one id). Each seed here failed before."""
    rng = random.Random(seed)
    keys = ["ctrl+p", "a", "t", "h", "e", "m", "enter", "escape", "backspace"]
    app = make_app(open_program("xor"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for _ in range(40):
            await send_keys(pilot, *rng.choices(keys, k=rng.randint(1, 5)), pause=False)
            await pilot.pause(0)
            if rng.random() < 0.3:
                await pilot.pause(rng.choice([0.01, 0.05, 0.26, 0.3]))
            assert app._exception is None
            if not app.is_running:
                break  # a command quit it
    assert app._exception is None and app.return_code in (None, 0)
