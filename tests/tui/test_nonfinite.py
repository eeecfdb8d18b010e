"""Huge finite numbers, and the infinities they overflow to: every pane shows them (the
graph, the chain rule, the header), the history draws what is finite, nothing fails, and
c and playing stop at the first non-finite event."""

from __future__ import annotations

from pathlib import Path

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
from textual.widgets import Input

from engine.open import open_program
from engine.report.diagnose import first_nonfinite_event
from engine.timeline.timeline import Timeline
from scenarios import builtin_dir
from tui.app import BpdbgApp
from tui.debugger import SPEEDS
from tui.screens.whatif import WhatIfScreen

WORKED = (builtin_dir() / "worked-example.toml").read_text(encoding="utf-8")
VARIANTS = {
    "lr": ("lr = 0.1", "lr = 1e308"),
    "weight": ("weight = [[0.5]]", "weight = [[1e308]]"),
    "both": ("bias = [0.0]", "bias = [-1.7e308]"),
}


def variant(folder: Path, which: str) -> str:
    old, new = VARIANTS[which]
    path = folder / f"huge-{which}.toml"
    path.write_text(WORKED.replace(old, new), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("which", sorted(VARIANTS))
async def test_a_scenario_with_huge_numbers_runs_and_stops_at_its_first_inf(
    tmp_path: Path, which: str
) -> None:
    program = open_program(variant(tmp_path, which))
    full = Timeline(program)
    full.ensure(program.steps - 1)
    first = first_nonfinite_event(full)
    assert first is not None
    app = make_app(program)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        assert f"✖ inf at event {first[0]:,}" in header(app) or "✖ NaN" in header(app)
        await pilot.press("c")
        await wait_until(pilot, lambda: not app._searching, "the search")
        await settle(pilot)
        assert app.cursor == first[0]
        assert "first NaN/inf" in app.header.part("status").plain
        graph = app.graph_view
        drawn = "\n".join(graph.render_line(y).text for y in range(graph.size.height))
        assert "inf" in drawn  # the node whose value overflowed
        assert "inf" in app.chain_view.snapshot_text()
        # Every event after it, on every pane, history included: nothing fails.
        for _ in range(3 * program.events_per_step):
            await app.run_action("next_event")
            await pilot.pause(0)
        await pilot.press("G")
        await settle(pilot)
        assert app.is_running and app._exception is None
        # Playing from the start stops there too.
        await pilot.press("g")
        app.speed = SPEEDS[-1]
        await pilot.press("space")
        await wait_until(pilot, lambda: not app.playing, "playing to stop")
        assert app.cursor == first[0]


async def test_a_huge_weight_typed_into_the_whatif_dialog_shows_infs_and_stops_there() -> None:
    """W1 = 1e308 from step 0 of the worked example: the loss overflows at once; the
    panes show inf, the history draws the finite part, and c stops at the first
    non-finite event, the loss."""
    program = worked_example()
    app = make_app(program)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        dialog = await open_dialog(pilot, "w", WhatIfScreen)
        dialog.query_one("#whatif-params", Input).value = "W1 = 1e308"
        dialog.query_one("#whatif-params", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "the branch")
        await settle(pilot)
        assert isinstance(app, BpdbgApp) and app.timeline is not app.runs.original
        assert "✖ inf at event 2" in header(app)
        await pilot.press("c")
        await wait_until(pilot, lambda: not app._searching, "the search")
        await settle(pilot)
        assert app.cursor == event_seq(program, "loss", "L", 0)
        assert "first NaN/inf" in app.header.part("status").plain
        assert "= inf" in app.chain_view.snapshot_text()
        await pilot.press("c")  # nothing further: c stops only at the first NaN or inf
        await wait_until(pilot, lambda: said(app, "first NaN or inf is here"), "the note")
        assert app.cursor == event_seq(program, "loss", "L", 0)
        await pilot.press("G")  # every later step, all non-finite, drawn without a fault
        await settle(pilot)
        assert app.is_running and app._exception is None
