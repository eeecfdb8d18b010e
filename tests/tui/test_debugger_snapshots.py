"""Snapshot tests of the debugger: the breakpoints dialog, the non-finite markers and
the gradients pane.

Each test's docstring says what its SVG must show. Update with
``pytest tests/tui/test_debugger_snapshots.py --snapshot-update`` and look at every
changed SVG before accepting it.
"""

from __future__ import annotations

from snapshot_apps import event_seq, make_app, open_dialog, said, settle, wait_until, xor
from textual.pilot import Pilot
from textual.widgets import Input

from engine.debug.breakpoints import Breakpoint
from engine.open import open_program
from tui.screens.breakpoints import BreakpointsScreen

BIG = (120, 40)


def xor_with_breakpoints():
    """The XOR app with a node breakpoint, a disabled phase one and a watchpoint."""
    program = xor()
    app = make_app(program)
    app.set_reactive(
        type(app).breakpoints,
        (
            Breakpoint.on_node("W1"),
            Breakpoint("phase", "update", enabled=False),
            Breakpoint.when("norm(grad) > 0.1", program.graph),
        ),
    )
    return app


def test_breakpoints_screen(snap_compare) -> None:
    """The breakpoints dialog over XOR: the built-in `[x] NaN stop at the first NaN or inf
    (built in) — none in the steps computed so far`, `[x] node W1`, a dimmed `[ ] phase
    update` (disabled)
    and `[x] watch norm(grad) > 0.1`; below, the four phase buttons, the node and
    condition inputs with their examples, and the names and functions a condition may use.
    Behind it, the timeline marks W1's events with ● and the first update of each step
    with ○."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await open_dialog(pilot, "B", BreakpointsScreen)

    assert snap_compare(xor_with_breakpoints(), terminal_size=BIG, run_before=run_before)


def test_breakpoints_screen_refuses_a_bad_condition(snap_compare) -> None:
    """`mean(a3 <= 0) > 0.5` typed into the condition input of XOR's dialog: under it, in
    the error colour, `✖ unknown name 'a3'; names you can use: …` and the condition with a
    caret under column 6; the list above still has its three breakpoints."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        screen = await open_dialog(pilot, "B", BreakpointsScreen)
        box = screen.query_one("#bp-condition", Input)
        box.focus()
        box.value = "mean(a3 <= 0) > 0.5"
        await pilot.press("enter")
        error = screen.query_one("#bp-condition-error")
        await wait_until(pilot, lambda: error.has_class("-shown"), "the condition's error")

    assert snap_compare(xor_with_breakpoints(), terminal_size=BIG, run_before=run_before)


def test_breakpoints_screen_after_adding_a_watchpoint(snap_compare) -> None:
    """XOR's dialog after `w`, `norm(grad) > 1` and enter, keys only: the list has a
    fourth entry `[x] watch norm(grad) > 1`, highlighted, and the focus is on the list
    (its border drawn in the focus colour; the condition field empty and unfocused); the
    subtitle offers the list's keys again: `space on/off · x remove · p phase · …`."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        screen = await open_dialog(pilot, "B", BreakpointsScreen)
        await pilot.press("w")
        box = screen.query_one("#bp-condition", Input)
        await wait_until(pilot, lambda: box.has_focus, "the condition field's focus")
        await pilot.press(*"norm(grad)", "space", ">", "space", "1", "enter")
        options = screen.query_one("#bp-list")
        await wait_until(pilot, lambda: options.has_focus, "the list's focus")

    assert snap_compare(xor_with_breakpoints(), terminal_size=BIG, run_before=run_before)


def test_diverging_stops_at_the_first_nonfinite_event(snap_compare) -> None:
    """`diverging-lr` after `c`: the cursor on the loss event of step 19, marked ✖ in the
    timeline; the header says `✖ the loss L is inf (first NaN/inf)`; the strip
    under it `layer 1 inf ⚠ not finite`; the chain rule `L = mean((a1 − y)²) = inf`;
    a notification `… the loss L is inf at step 19 (event 192).` that says why: its inputs
    are finite, the largest 5.1e+154 in a1, and the result is too large for a float64."""

    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        await settle(pilot)
        await pilot.press("c")
        await wait_until(pilot, lambda: said(app, "the loss L is inf"), "the stop's note")
        await wait_until(pilot, lambda: app.screen.query("Toast"), "the note's toast")
        await settle(pilot)

    app = make_app(open_program("diverging-lr"))
    assert snap_compare(app, terminal_size=BIG, run_before=run_before)


def test_vanishing_gradients_pane(snap_compare) -> None:
    """`vanishing-sigmoid` at the backward event of z1 in step 0: the Gradients pane under
    the timeline has a row for each of the 9 layers; layers 9 down to 2 have their bars
    (3.5e-2 … 3e-8, layer 2 flagged ⚠ in the warning colour), layer 1's gradient is not
    computed yet (·); the thresholds drawn across as ┊."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        app = pilot.app
        app.cursor = event_seq(app.timeline.program, "backward", "z1", 0)
        await settle(pilot)

    app = make_app(open_program("vanishing-sigmoid"))
    assert snap_compare(app, terminal_size=BIG, run_before=run_before)
