"""Pilot tests of the debugger: breakpoints, watchpoints, continue and reverse-continue,
the stop at the first non-finite number, play that stops, and the gradients pane's flags.

Expected stops are computed independently of the app: from the engine's diagnostics,
or by evaluating the condition with numpy at every event of a fully computed run.
"""

from __future__ import annotations

import numpy as np
import pytest
from snapshot_apps import (
    event_seq,
    header,
    make_app,
    open_dialog,
    said,
    settle,
    wait_until,
    worked_example,
)
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

from engine.debug.breakpoints import Breakpoint, scenario_breakpoints
from engine.open import open_program
from engine.report.diagnose import first_nonfinite_event
from engine.step.program import Program
from engine.timeline.timeline import Timeline
from tui.app import BpdbgApp
from tui.debugger import SPEEDS
from tui.panes.gradients import GradientsView
from tui.panes.timeline import TimelineView
from tui.screens.breakpoints import BreakpointsScreen

SIZE = (120, 40)


def notifications(app: BpdbgApp) -> list[str]:
    return [n.message for n in app._notifications]


async def press_and_settle(pilot: Pilot, *keys: str) -> None:
    """Press keys, then wait for any search (a worker) to report back."""
    app = pilot.app
    assert isinstance(app, BpdbgApp)
    for key in keys:
        await pilot.press(key)
        await wait_until(pilot, lambda: not app._searching, f"the search after {key}")
        await settle(pilot)


async def close_dialog(pilot: Pilot) -> None:
    """Press esc in a dialog and wait until the main screen is back (the dialog's result,
    handed to the app, is applied when it closes)."""
    app = pilot.app
    await pilot.press("escape")
    await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "the dialog to close")
    await pilot.pause()


def full_timeline(program: Program) -> Timeline:
    timeline = Timeline(program)
    timeline.ensure(program.steps - 1)
    return timeline


def condition_stops(program: Program, node: str, holds) -> list[int]:
    """Every forward event of ``node`` where ``holds(value)`` is true, found with numpy."""
    timeline = full_timeline(program)
    out = []
    for step in range(program.steps):
        seq = event_seq(program, "forward", node, step)
        if holds(np.asarray(timeline.frame(seq).event.value)):
            out.append(seq)
    return out


# --- the stop at the first non-finite number ------------------------------------------------


async def test_continue_stops_at_the_first_nonfinite_event() -> None:
    program = open_program("diverging-lr")
    expected = first_nonfinite_event(full_timeline(program))
    assert expected is not None
    seq, description = expected
    step = seq // program.events_per_step
    app = make_app(program)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        assert "✖ inf at event 192" in header(app)  # the badge, before anyone looks
        await press_and_settle(pilot, "c")
        assert app.cursor == seq
        await wait_until(pilot, lambda: said(app, description), "the stop's notification")
        note = notifications(app)[-1]
        assert f"at step {step}" in note
        assert "the largest 5.1e+154 (in a1)" in note and "too large for a float64" in note
        assert description in header(app)  # why, in the header too
        assert "✖ inf at event" not in header(app)  # the badge steps aside meanwhile
        lines = app.query_one(TimelineView).snapshot_text().splitlines()
        assert [line for line in lines if "✖" in line] == [
            next(line for line in lines if line.startswith("▶"))
        ]


async def test_nonfinite_stop_can_be_disabled() -> None:
    """With the diagnostic off, c goes straight to the scenario's watchpoint isnan(W1)."""
    program = open_program("diverging-lr")
    app = make_app(program)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "B", BreakpointsScreen)
        options = screen.query_one(OptionList)
        options.highlighted = 0  # the pseudo-entry: the first NaN or inf
        await pilot.press("space")
        await close_dialog(pilot)
        await wait_until(pilot, lambda: app.stop_on_nonfinite is False, "the NaN stop to be off")
        await press_and_settle(pilot, "c")
        assert app.cursor == event_seq(program, "update", "W1", 39)
        await wait_until(pilot, lambda: said(app, "isnan(W1)"), "the notification")


# --- watchpoints ---------------------------------------------------------------------------------


async def test_scenario_watchpoint_stops_at_each_hit_and_reverse_continue_goes_back() -> None:
    program = open_program("dead-relu")
    stops = condition_stops(program, "a1", lambda a1: np.mean(a1 <= 0) > 0.5)
    a1 = [event_seq(program, "forward", "a1", step) for step in (1, 2)]
    assert stops[:2] == a1  # as the scenario's description says: from step 1 on
    app = make_app(program)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        assert [bp.target for bp in app.breakpoints] == ["mean(a1 <= 0) > 0.5"]
        for expected in stops[:4]:
            await press_and_settle(pilot, "c")
            assert app.cursor == expected
            assert "watchpoint mean(a1 <= 0) > 0.5 is true at a1" in header(app)
        await press_and_settle(pilot, "C")
        assert app.cursor == stops[2]
        await press_and_settle(pilot, "C", "C")
        assert app.cursor == stops[0]
        await press_and_settle(pilot, "C")  # nothing before the first hit
        assert app.cursor == stops[0]
        await wait_until(pilot, lambda: said(app, "No breakpoint hit back to step 0"), "a note")


async def test_a_watchpoint_entered_in_the_dialog_is_where_c_stops() -> None:
    """``loss > prev_loss`` typed in the breakpoints dialog: c stops at the loss event of
    every step whose loss went up (computed here from the run's losses)."""
    program = open_program("ravine-momentum")
    losses = full_timeline(program).losses()
    ups = [s for s in range(1, len(losses)) if losses[s] > losses[s - 1]]
    assert len(ups) >= 2
    app = make_app(program)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "B", BreakpointsScreen)
        box = screen.query_one("#bp-condition", Input)
        box.focus()
        box.value = "loss > prev_loss"
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(screen.breakpoints) == 1, "the watchpoint's entry")
        await close_dialog(pilot)
        assert [bp.describe() for bp in app.breakpoints] == ["when loss > prev_loss"]
        for step in ups[:2]:
            await press_and_settle(pilot, "c")
            assert app.cursor == event_seq(program, "loss", "L", step)


async def test_a_bad_condition_shows_why_and_changes_nothing() -> None:
    program = open_program("dead-relu")
    app = make_app(program)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = app.breakpoints
        screen = await open_dialog(pilot, "B", BreakpointsScreen)
        box = screen.query_one("#bp-condition", Input)
        error = screen.query_one("#bp-condition-error", Static)
        for text, says in (
            ("norm(grad) >", "ends before the expression is complete"),
            ("mean(a7 <= 0) > 0.5", "unknown name 'a7'"),
            ("a1.T > 0", "attribute access is not allowed"),
        ):
            box.focus()
            box.value = text
            await pilot.press("enter")
            await wait_until(pilot, lambda s=says: s in str(error.render()), f"the error {says!r}")
            assert error.display
            assert box.value == text  # kept, to be corrected
            assert screen.query_one(OptionList).option_count == 1 + len(before)
        await close_dialog(pilot)
        assert app.breakpoints == before


# --- node and phase breakpoints, enabling and disabling --------------------------------------


async def test_phase_breakpoint_on_update() -> None:
    program = worked_example()
    app = make_app(program)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "B", BreakpointsScreen)
        await pilot.click("#bp-phase-update")
        await wait_until(pilot, lambda: screen.breakpoints, "the button's message")
        await close_dialog(pilot)
        assert app.breakpoints == (Breakpoint.on_phase("update"),)
        first_update = event_seq(program, "update", "W1", 0)
        assert first_update == event_seq(program, "update", "b1", 0) - 1
        for step in range(3):
            await press_and_settle(pilot, "c")
            assert app.cursor == event_seq(program, "update", "W1", step)
        await press_and_settle(pilot, "C")
        assert app.cursor == event_seq(program, "update", "W1", 1)
        assert "●" in app.query_one(TimelineView).snapshot_text()


async def test_disabled_breakpoints_are_skipped_and_removed_ones_gone() -> None:
    program = worked_example()
    app = make_app(program)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.breakpoints = (Breakpoint.on_node("W1"), Breakpoint.on_phase("update"))
        await press_and_settle(pilot, "c")
        assert app.cursor == event_seq(program, "backward", "W1", 0)
        screen = await open_dialog(pilot, "B", BreakpointsScreen)
        options = screen.query_one(OptionList)
        options.highlighted = 1  # node W1
        await pilot.press("space")
        assert screen.breakpoints[0].enabled is False
        await close_dialog(pilot)
        assert app.breakpoints == (Breakpoint("node", "W1", False), Breakpoint.on_phase("update"))
        assert "○" in app.query_one(TimelineView).snapshot_text()
        await press_and_settle(pilot, "c")
        assert app.cursor == event_seq(program, "update", "W1", 0)
        await press_and_settle(pilot, "c")
        assert app.cursor == event_seq(program, "update", "W1", 1)  # not W1's backward
        # Remove the phase breakpoint: with W1 disabled, nothing is left to stop at.
        screen = await open_dialog(pilot, "B", BreakpointsScreen)
        screen.query_one(OptionList).highlighted = 2
        await pilot.press("x")
        await close_dialog(pilot)
        assert app.breakpoints == (Breakpoint("node", "W1", False),)
        here = app.cursor
        await press_and_settle(pilot, "c")
        assert app.cursor == here
        note = "No breakpoints set, and no NaN or inf up to step 19"
        await wait_until(pilot, lambda: said(app, note), "the note")


async def test_the_dialog_adds_node_breakpoints_and_refuses_bad_names() -> None:
    program = worked_example()
    app = make_app(program)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "B", BreakpointsScreen)
        box = screen.query_one("#bp-node", Input)
        box.focus()
        error = screen.query_one("#bp-node-error", Static)
        for name, says in (
            ("W7", "no node or parameter named 'W7'"),
            ("x", "'x' is an input with no events"),
        ):
            box.value = name
            await pilot.press("enter")
            await wait_until(pilot, lambda s=says: s in str(error.render()), f"the error {says!r}")
        box.value = "b1"
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.breakpoints, "the breakpoint's entry")
        assert not error.display
        await close_dialog(pilot)
        assert app.breakpoints == (Breakpoint.on_node("b1"),)
        await press_and_settle(pilot, "c")
        assert app.cursor == event_seq(program, "backward", "b1", 0)


async def test_b_on_an_input_says_why_not() -> None:
    app = make_app(worked_example())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        app.selected = "x"
        await pilot.press("b")
        assert app.breakpoints == ()
        await wait_until(
            pilot, lambda: said(app, "'x' is an input with no events to stop at"), "the note"
        )


async def test_a_new_scenario_brings_its_own_breakpoints() -> None:
    app = make_app(worked_example())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.breakpoints = (Breakpoint.on_node("W1"),)
        program = open_program("dead-relu")
        app.set_program(program)
        await settle(pilot)
        assert app.breakpoints == scenario_breakpoints(program)
        assert [bp.target for bp in app.breakpoints] == ["mean(a1 <= 0) > 0.5"]
        assert "mean(a1 <= 0) > 0.5" in app.query_one(TimelineView).border_subtitle


# --- searching in a worker -------------------------------------------------------------------


async def test_a_long_search_keeps_the_ui_live_and_can_be_cancelled() -> None:
    """A watchpoint that never holds, over a long run: c searches in a worker; keys still
    work meanwhile; c again (or esc) cancels and the cursor stays where it was.

    Keys are sent with ``run_action``: ``pilot.press`` waits for the process to go idle,
    which it does not while two workers compute."""
    app = make_app(worked_example(steps=1_000_000))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause(0)
        app.breakpoints = (Breakpoint.when("isnan(value)", app.timeline.program.graph),)
        for cancel in ("continue_to_breakpoint", "cancel_search"):
            await app.run_action("continue_to_breakpoint")
            await pilot.pause(0)
            assert app._searching == 1
            assert "searching forwards…" in header(app)
            at = app.cursor
            await app.run_action("next_event")
            await pilot.pause(0)
            assert app.cursor == at + 1  # handled while the search runs
            assert app._searching == 1
            await app.run_action(cancel)
            assert app._searching == 0
            assert "searching" not in header(app)
            await wait_until(pilot, lambda: said(app, "Search cancelled"), "the note")
            assert app.cursor == at + 1
        assert app.check_action("cancel_search", ()) is False  # esc is free again
        app.set_program(worked_example())  # cancels the long run's training
        await settle(pilot)


# --- playing ---------------------------------------------------------------------------------


async def wait_until_stopped(pilot: Pilot, app: BpdbgApp) -> None:
    await wait_until(pilot, lambda: not app.playing, "playing to stop")


async def test_play_stops_at_a_watchpoint_and_at_a_node_breakpoint() -> None:
    program = open_program("dead-relu")
    app = make_app(program)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        while app.speed < SPEEDS[-1]:
            await pilot.press("plus")
        await pilot.press("space")
        await wait_until_stopped(pilot, app)
        assert app.cursor == event_seq(program, "forward", "a1", 1)
        assert "watchpoint mean(a1 <= 0) > 0.5" in header(app)
        app.breakpoints = (Breakpoint.on_node("b2"),)
        await pilot.press("space")
        await wait_until_stopped(pilot, app)
        assert app.cursor == event_seq(program, "backward", "b2", 1)
        assert "breakpoint on b2 (backward)" in header(app)


async def test_play_stops_at_the_first_nonfinite_event() -> None:
    program = open_program("diverging-lr")
    expected = first_nonfinite_event(full_timeline(program))
    assert expected is not None
    app = make_app(program)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.speed = SPEEDS[-1]
        await pilot.press("space")
        await wait_until_stopped(pilot, app)
        assert app.cursor == expected[0]


async def test_speed_keys() -> None:
    app = make_app(worked_example())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        speed = app.speed
        await pilot.press("plus")
        assert app.speed > speed
        await pilot.press("minus", "minus")
        assert app.speed < speed
        for _ in SPEEDS:
            await pilot.press("minus")
        assert app.speed == SPEEDS[0]
        for _ in SPEEDS:
            await pilot.press("plus")
        assert app.speed == SPEEDS[-1]
        await pilot.press("space")
        assert "playing" in header(app) and "/s" in header(app)  # a rate, once measured
        await pilot.press("space")
        assert "/s" not in header(app)


# --- the gradients pane ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "seq", "flags"),
    [
        ("vanishing-sigmoid", 0, []),  # a forward event: no gradient is known yet
        ("vanishing-sigmoid", -1, ["layer 1 vanishing", "layer 2 vanishing"]),
        ("dead-relu", 0, []),
        ("dead-relu", 18, []),  # step 1's first event: a1 is not computed yet
        ("dead-relu", 19, ["a1 dead [0, 3]"]),
        ("diverging-lr", 0, []),
        ("diverging-lr", -1, ["layer 1 exploding"]),
    ],
)
async def test_gradient_flags(scenario: str, seq: int, flags: list[str]) -> None:
    app = make_app(open_program(scenario))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.cursor = seq if seq >= 0 else app.timeline.events_per_step + seq  # -1: step 0's last
        await pilot.pause()
        pane = app.query_one(GradientsView)
        assert pane.flags == flags
        text = str(pane.render())
        if scenario == "dead-relu":
            assert ("dead ReLU a1 0, 3" in text) == bool(flags)


async def test_gradients_appear_with_their_backward_events() -> None:
    """Each layer's bar appears at the backward event that completes its gradient: from
    the output layer back to the input, never before (the forward events show none)."""
    program = open_program("vanishing-sigmoid")
    app = make_app(program)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = app.query_one(GradientsView)
        record = app.timeline.record(2)
        n = app.timeline.events_per_step
        seen = []
        for pos in range(n):
            app.cursor = 2 * n + pos
            await pilot.pause()
            seen.append(sum(pane._known))
            expected = [
                all(record.grad_at[p] <= pos for p in ps)
                for ps in [(f"W{k}", f"b{k}") for k in range(1, 10)]
            ]
            assert pane._known == expected
        assert seen[0] == 0 and seen[-1] == 9 and seen == sorted(seen)
