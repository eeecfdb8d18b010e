"""Snapshots of the data view, the history pane's hard cases and the gradients pane.

Each test's docstring says what its SVG must show. Update with
``pytest tests/tui/test_data_snapshots.py --snapshot-update`` and look at every changed
SVG (as a PNG) before accepting it.
"""

from __future__ import annotations

from snapshot_apps import make_app, settle, views_drawn, wait_until
from textual.pilot import Pilot

from engine.open import open_program
from tui.app import BpdbgApp

BIG = (120, 40)
SMALL = (80, 24)


def at(step: int, pos: int = 0, *, data: bool = False):
    """A ``run_before``: every step computed, the cursor at ``step``'s event ``pos`` (a
    negative ``pos`` counts from the step's end), the data view open if asked."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, BpdbgApp)
        n = app.timeline.events_per_step
        app.cursor = step * n + (pos if pos >= 0 else n + pos)
        if data:
            await pilot.press("v")
        await wait_until(
            pilot,
            lambda: (
                views_drawn(app)
                and (not data or (app.data_view is not None and app.data_view.rendered))
            ),
            "the panes drawn",
        )
        await pilot.pause()

    return run_before


def test_xor_data_step_0(snap_compare) -> None:
    """xor, v at step 0: the `Data` pane in the graph's place; the output P(y=1) over the
    input plane, blue (below ½) at the top left and orange (above) at the bottom right
    with a band edge between; the four points coloured by target; axis ranges -0.1 … 1.1;
    the legend `a2 = P(y=1)  0 ███ 1  ● data`."""
    app = make_app(open_program("xor"))
    assert snap_compare(app, terminal_size=BIG, run_before=at(0, data=True))


def test_xor_data_step_300(snap_compare) -> None:
    """xor at step 300: the boundary has moved — a diagonal orange band through (0, 1) and
    (1, 0) between two blue corners, each point in its own colour's region."""
    app = make_app(open_program("xor"))
    assert snap_compare(app, terminal_size=BIG, run_before=at(300, data=True))


def test_xor_data_small_terminal(snap_compare) -> None:
    """80×24: the same picture at step 300 in the graph's place, legend and axis ranges
    still readable, the chain rule below."""
    app = make_app(open_program("xor"))
    assert snap_compare(app, terminal_size=SMALL, run_before=at(300, data=True))


def test_softmax_data(snap_compare) -> None:
    """softmax-3class at step 30: three class regions (blue 0, orange 1, green 2) with the
    90 points; ● the 30 in this step's mini-batch, ○ the others; `predicted class` legend."""
    app = make_app(open_program("softmax-3class"))
    assert snap_compare(app, terminal_size=BIG, run_before=at(30, data=True))


def test_dead_relu_curve(snap_compare) -> None:
    """dead-relu at step 3: the fitted curve a2 over x in braille and the six targets;
    y range from below 0 to about 1."""
    app = make_app(open_program("dead-relu"))
    assert snap_compare(app, terminal_size=BIG, run_before=at(3, data=True))


def test_ravine_contours_and_path(snap_compare) -> None:
    """ravine-momentum at step 20: the loss over (a, b) in eight log-spaced bands, long
    ellipses around the minimum; the path from ○ at (-4, 0.9) overshooting across the
    valley, ● now; legend with the loss range."""
    app = make_app(open_program("ravine-momentum"))
    assert snap_compare(app, terminal_size=BIG, run_before=at(20, data=True))


def test_ravine_small_terminal(snap_compare) -> None:
    """80×24: the ravine's contours and path at step 20, legible in the small pane."""
    app = make_app(open_program("ravine-momentum"))
    assert snap_compare(app, terminal_size=SMALL, run_before=at(20, data=True))


def test_diverging_history_step_10(snap_compare) -> None:
    """diverging-lr at step 10 (its loss event): the history's loss is drawn, not blank,
    on a log axis with ticks like `1e100`; W1[0,0] on a symlog axis, flipping sign as it
    grows; the current points marked ●."""
    app = make_app(open_program("diverging-lr"))
    assert snap_compare(app, terminal_size=BIG, run_before=at(10, 2))


def test_diverging_history_step_25(snap_compare) -> None:
    """diverging-lr at step 25: the finite losses (steps 0-18) on the log axis, and a ×
    along the top for each step from 19 whose loss is inf; `× inf/nan` in the title row;
    the header's `✖ inf at event 192`."""
    app = make_app(open_program("diverging-lr"))
    assert snap_compare(app, terminal_size=BIG, run_before=at(25, 2))


def test_vanishing_gradient_chart(snap_compare) -> None:
    """vanishing-sigmoid at the last event of step 0: the Gradients pane under the
    timeline lists all 9 layers, bars on a log scale shrinking from layer 9 (3.5e-2) to
    layer 1 (7.6e-9); layers 1 and 2 flagged ⚠ in the warning colour; the vanishing and
    exploding thresholds drawn across as ┊."""
    app = make_app(open_program("vanishing-sigmoid"))
    assert snap_compare(app, terminal_size=BIG, run_before=at(0, -1))


def test_vanishing_gradient_chart_small(snap_compare) -> None:
    """80×24: the Gradients pane still lists every one of the 9 layers."""
    app = make_app(open_program("vanishing-sigmoid"))
    assert snap_compare(app, terminal_size=SMALL, run_before=at(0, -1))
