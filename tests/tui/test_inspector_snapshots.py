"""Snapshots of the inspector (i). Each test's docstring says what its SVG must show.

Update with ``pytest tests/tui/test_inspector_snapshots.py --snapshot-update`` and look at
every changed SVG (as a PNG) before accepting it.
"""

from __future__ import annotations

from snapshot_apps import event_seq, make_app, settle, wait_until
from textual.pilot import Pilot

from engine.open import open_program
from tui.app import BpdbgApp

BIG = (120, 40)


def inspect(phase: str, subject: str, step: int = 0, keys: tuple[str, ...] = ()):
    """A ``run_before``: every step computed, the cursor at the event, ``i`` and ``keys``
    pressed, the inspector drawn at the element they lead to."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, BpdbgApp)
        app.cursor = event_seq(app.timeline.program, phase, subject, step)
        await pilot.press("i")
        await wait_until(
            pilot,
            lambda: app.inspector is not None and app.inspector.node == subject,
            "the inspector",
        )
        await pilot.press(*keys)
        rows = keys.count("down") - keys.count("up")
        cols = keys.count("right") - keys.count("left")
        await wait_until(
            pilot,
            lambda: (
                app.inspector is not None and (app.inspector.row, app.inspector.col) == (rows, cols)
            ),
            "the element cursor",
        )
        await pilot.pause()

    return run_before


def test_xor_gradient_of_w1_element_1_0(snap_compare) -> None:
    """xor, backward event of W1, i, ↓: `Inspector · ∂L/∂W1 (2×2)` in the graph's place;
    the four gradients in a 2×2 grid with row and column indices, tinted red (positive)
    or blue (negative), [1,0] highlighted; below, `∂L/∂W1[1,0] = Σₙ x[n,1]·∂L/∂z1[n,0] =
    0.0·… + 1.0·… + …` — each term an x value times an upstream gradient — `= -0.0535944`,
    the grid's number."""
    app = make_app(open_program("xor"))
    assert snap_compare(app, terminal_size=BIG, run_before=inspect("backward", "W1", 0, ("down",)))


def test_softmax_3class_rows_of_dz2(snap_compare) -> None:
    """softmax-3class, backward event of z2, i, ↓: ∂L/∂z2 (30×3) as rows of three; in
    each row the true class's entry is the negative (blue) one; below, element [1,0]
    derived as `(softmax(z2[1])[0] − [0 = y[1]])/30` with its numbers."""
    app = make_app(open_program("softmax-3class"))
    assert snap_compare(app, terminal_size=BIG, run_before=inspect("backward", "z2", 0, ("down",)))


def test_dead_relu_zeroed_columns(snap_compare) -> None:
    """dead-relu, step 1, backward event of z1, i: ∂L/∂z1 (6×4) with columns 0 and 3 all
    `0.0` and untinted (the dead units) beside the tinted columns 1 and 2; below, element
    [0,0] as `∂L/∂a1[0,0]·[z1[0,0] > 0] = …·0.0 = 0.0`."""
    app = make_app(open_program("dead-relu"))
    assert snap_compare(app, terminal_size=BIG, run_before=inspect("backward", "z1", 1))
