"""Driving the debugger with keys: the chain-rule pane following a node selected in the
graph, ``G`` while steps are still being computed, and play (its measured rate, its
step-per-tick mode)."""

from __future__ import annotations

import re

import pytest
from snapshot_apps import chain, event_seq, header, make_app, said, settle, wait_until, xor
from textual.pilot import Pilot

from engine.debug.breakpoints import Breakpoint
from engine.open import open_program
from engine.step.layout import step_layout
from tui.app import BpdbgApp
from tui.debugger import SPEEDS
from tui.play_rate import RateMeter, rate_text

SIZE = (120, 40)


async def focus_graph(pilot: Pilot, app: BpdbgApp) -> None:
    """Tab to the graph pane."""
    for _ in range(12):
        if app.graph_view.has_focus:
            return
        await pilot.press("tab")
    assert app.graph_view.has_focus


def test_latest_event_of_a_node() -> None:
    layout = step_layout(xor().graph)
    eps = len(layout.events)
    w1_grad = layout.backward_pos["W1"]
    w1_update = layout.update_pos["W1"]
    z1 = layout.forward_pos["z1"]
    assert layout.latest_event("W1", 0) == w1_grad  # before any: its first
    assert layout.latest_event("W1", w1_grad) == w1_grad
    assert layout.latest_event("W1", eps - 1) == w1_update
    assert layout.latest_event("W1", eps + z1) == w1_update  # in step 1, before its events
    assert layout.latest_event("z1", 3 * eps + z1) == 3 * eps + z1
    assert layout.latest_event("x", 5) is None  # an input: no event


async def test_the_chain_rule_follows_a_graph_selection_until_the_cursor_moves() -> None:
    """↓ then enter on a node in the graph shows its latest event's derivation in the
    chain-rule pane, saying so; n (the cursor moves) brings back the cursor's event, and
    so does esc."""
    program = xor()
    app = make_app(program)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.cursor = event_seq(program, "forward", "z2", step=2)
        await settle(pilot)
        assert chain(app).startswith("Forward: z2")
        await focus_graph(pilot, app)
        chosen: str | None = None
        for _ in range(len(program.graph.nodes)):  # down until the parameter W1
            await pilot.press("down")
            chosen = app.graph_view.selected
            if chosen == "W1":
                break
        assert chosen == "W1"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.chain_view.following == "W1", "the pane to follow W1")
        latest = event_seq(program, "update", "W1", step=1)  # step 2 has not reached W1 yet
        assert f"W1 · event {latest:,}" in str(app.chain_view.border_subtitle)
        assert chain(app).startswith("Update: W1")
        assert app.cursor == event_seq(program, "forward", "z2", step=2)  # unmoved
        await pilot.press("n")
        await wait_until(pilot, lambda: app.chain_view.following is None, "the cursor's event")
        assert str(app.chain_view.border_subtitle) == ""
        at_cursor = chain(app)
        assert at_cursor.startswith("Forward: a2")
        await pilot.press("enter")  # the graph still has the focus and W1 selected
        await wait_until(pilot, lambda: app.chain_view.following == "W1", "the pane to follow W1")
        assert chain(app).startswith("Update: W1")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.chain_view.following is None, "esc to go back")
        assert app.cursor == event_seq(program, "forward", "a2", step=2)
        assert chain(app) == at_cursor


async def test_G_while_training_ahead_goes_to_what_is_computed_then_follows() -> None:
    """On a long run still being computed by the worker: G goes to the last computed
    event and says more are coming; G again follows the frontier (the cursor moves on
    as steps are computed, the header says `following`); a move stops it, and so does
    esc."""
    app = make_app(open_program("spiral-mlp", steps=200_000))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        eps = app.timeline.events_per_step
        await wait_until(pilot, lambda: app.timeline.computed_steps > 2, "a few steps")
        await pilot.press("G")
        assert not app.timeline.done
        first = app.cursor
        assert first >= 2 * eps and first == app._frontier_at
        await wait_until(pilot, lambda: said(app, "are coming"), "the note that more are coming")
        assert not app.following_frontier
        await pilot.press("G")
        assert app.following_frontier
        await wait_until(pilot, lambda: app.cursor > first, "the cursor to follow the frontier")
        await wait_until(pilot, lambda: "following" in header(app), "the header to say so")
        await pilot.press("p")
        assert not app.following_frontier
        stopped = app.cursor
        await wait_until(pilot, lambda: app.last > stopped + eps, "more steps")
        assert app.cursor == stopped  # no longer following
        await pilot.press("G", "G")
        assert app.following_frontier
        await pilot.press("escape")
        assert not app.following_frontier
        here = app.cursor
        await wait_until(pilot, lambda: app.last > here + eps, "more steps")
        assert app.cursor == here


def test_the_rate_meter_counts_over_a_sliding_window() -> None:
    meter = RateMeter(window=2.0)
    assert meter.rate() is None
    meter.add(10.0, 0)
    meter.add(10.2, 5)
    assert meter.rate() is None  # not enough measured yet
    for i in range(1, 11):
        meter.add(10.2 + 0.1 * i, 3)  # 30 events per second
    assert meter.rate() == pytest.approx((5 + 30) / 1.2)
    for i in range(1, 31):
        meter.add(11.2 + 0.1 * i, 1)  # then 10 per second, for 3 s
    assert meter.rate() == pytest.approx(10.0)  # the old rate has left the window
    meter.clear()
    assert meter.rate() is None
    assert rate_text(48.4) == "48" and rate_text(3.46) == "3.5" and rate_text(0.25) == "0.25"


async def test_play_shows_the_rate_measured_and_plays_by_steps() -> None:
    """space plays one event per tick and the header shows the rate measured (`…/s`
    until there is enough to measure); P plays one training step per tick, to the same
    place in each step, with the rate in steps; P again pauses; space goes back to
    events."""
    app = make_app(open_program("xor"))  # 600 steps: more than played here
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        eps = app.timeline.events_per_step
        app.speed = SPEEDS[-1]
        await pilot.press("space")
        assert app.playing and not app.by_steps
        await wait_until(
            pilot,
            lambda: re.search(r"playing  \d+(\.\d+)?/s", header(app)),
            lambda: f"a measured rate in {header(app)!r}",
        )
        await pilot.press("space")
        assert not app.playing
        start = app.cursor
        await pilot.press("P")
        assert app.playing and app.by_steps
        await wait_until(pilot, lambda: app.cursor >= start + 3 * eps, "three steps played")
        await wait_until(
            pilot, lambda: "steps/s" in header(app), lambda: f"a rate in steps: {header(app)!r}"
        )
        await pilot.press("P")
        assert not app.playing
        assert (app.cursor - start) % eps == 0  # whole steps: the same place in the step
        await pilot.press("P")
        assert app.by_steps
        await pilot.press("space")  # while playing by steps: on by events
        assert app.playing and not app.by_steps
        await pilot.press("space")
        assert not app.playing


async def test_play_by_steps_still_stops_at_a_breakpoint_inside_the_step() -> None:
    program = xor()
    app = make_app(program)
    app.breakpoints = (Breakpoint.on_node("W2"),)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.cursor = event_seq(program, "update", "W2", step=0) + 1
        app.speed = SPEEDS[-1]
        await pilot.press("P")
        await wait_until(pilot, lambda: not app.playing, "playing to stop")
        assert app.cursor == event_seq(program, "backward", "W2", step=1)
