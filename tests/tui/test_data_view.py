"""The data view (v): in the graph's place, titled Data, a picture per step that moves
as the model learns, the same picture when the cursor comes back, and a sentence where a
scenario has no picture. Also the pure colour mapping behind it."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from snapshot_apps import make_app, settle, views_drawn, wait_until

from engine.open import open_program
from engine.report.landscape import DataView
from tui.app import BpdbgApp
from tui.panes.data import render as dr

SIZE = (120, 40)


async def open_data(pilot, step: int = 0) -> None:
    app = pilot.app
    app.cursor = step * app.timeline.events_per_step
    await pilot.press("v")
    await wait_until(
        pilot,
        lambda: views_drawn(app) and app.data_view is not None and app.data_view.rendered,
        "the data view drawn",
    )


def picture(app: BpdbgApp) -> list[list[tuple[str, object]]]:
    assert app.data_view is not None
    return [[(seg.text, seg.style) for seg in row] for row in app.data_view._rows]


def cell_colors(app: BpdbgApp) -> Counter:
    """How many half-cells of the plot area have each colour."""
    colors: Counter = Counter()
    for row in picture(app)[1:-1]:
        for text, style in row:
            if dr.UPPER_HALF in text:
                colors[style.color.name] += text.count(dr.UPPER_HALF)
                colors[style.bgcolor.name] += text.count(dr.UPPER_HALF)
    return colors


async def test_v_shows_the_data_view_in_the_graphs_place_and_back() -> None:
    app = make_app(open_program("xor"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.data_view is None  # not made until asked for
        await open_data(pilot)
        assert app.data_view.border_title == "Data"
        assert app.data_view.display and not app.graph_view.display
        await pilot.press("v")
        for _ in range(100):
            if app.graph_view.display:
                break
            await pilot.pause()
        assert app.graph_view.display and not app.data_view.display


async def test_xor_boundary_moves_with_training() -> None:
    """What the hidden check looks at: at step 0 and at step 300, at least two colours
    cover most of the plot, and the pictures differ."""
    app = make_app(open_program("xor"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_data(pilot, 0)
        first = picture(app)
        colors = cell_colors(app)
        two = sum(n for _, n in colors.most_common(2))
        assert len(colors) >= 2 and two > 0.5 * sum(colors.values())
        for _ in range(300):  # ] × 300, without a key's delay each
            await app.run_action("next_step")
        for _ in range(200):
            if app.data_view.rendered and app.frame.step == 300:
                break
            await pilot.pause()
        later = picture(app)
        assert later != first
        colors = cell_colors(app)
        two = sum(n for _, n in colors.most_common(2))
        assert len(colors) >= 2 and two > 0.5 * sum(colors.values())
        # Back to step 0: exactly the first picture.
        app.cursor = 0
        for _ in range(200):
            if app.data_view.rendered and app.frame.step == 0:
                break
            await pilot.pause()
        assert picture(app) == first


@pytest.mark.parametrize(
    ("scenario", "marks"),
    [
        ("softmax-3class", ["predicted class", dr.IN_BATCH, dr.OUT_OF_BATCH]),
        ("dead-relu", ["fit at step", "targets"]),
        ("ravine-momentum", ["L over (a, b)", dr.START, dr.NOW, "path"]),
        ("chain", ["No data view", "1 parameter (w)"]),
    ],
)
async def test_each_kind_of_picture(scenario: str, marks: list[str]) -> None:
    app = make_app(open_program(scenario))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_data(pilot, 5)
        text = "\n".join("".join(t for t, _ in row) for row in picture(app))
        for mark in marks:
            assert mark in text
        if scenario == "dead-relu":
            assert any(0x2800 < ord(c) <= 0x28FF for c in text)  # the curve, in braille


async def test_small_terminal_keeps_the_data_view_legible() -> None:
    app = make_app(open_program("xor"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_data(pilot, 300)
        rows = picture(app)
        assert len(rows) >= 6
        text = "\n".join("".join(t for t, _ in row) for row in rows)
        assert "P(y=1)" in text and "x[0]" in text
        assert len(cell_colors(app)) >= 2


# --- the colours -----------------------------------------------------------------------------


def test_binary_output_splits_at_one_half() -> None:
    view = DataView("plane", output="a2", units=1, target="binary")
    values = np.array([[[0.02], [0.45], [0.55], [0.98], [np.nan]]])
    index, band = dr.plane_classes(view, values, (0.0, 1.0))
    assert index.tolist() == [[0, 0, 1, 1, -1]]
    assert band[0, 0] == dr.BANDS - 1 and band[0, 1] == 0 and band[0, 3] == dr.BANDS - 1


def test_classes_take_the_most_likely() -> None:
    view = DataView("plane", output="a2", units=3, target="classes")
    values = np.array([[[0.1, 0.8, 0.1], [0.34, 0.33, 0.33]]])
    index, band = dr.plane_classes(view, values, (0.0, 1.0))
    assert index.tolist() == [[1, 0]] and band[0, 1] == 0 and band[0, 0] > 0


def test_a_regression_output_diverges_around_the_targets_middle() -> None:
    view = DataView("plane", output="a1", units=1, target="value")
    values = np.array([[[1.0], [3.1], [1e300], [-np.inf]]])
    index, band = dr.plane_classes(view, values, (3.0, 2.0))
    assert index.tolist() == [[0, 1, 1, 0]]
    assert band[0, 2] == dr.BANDS - 1 and band[0, 3] == dr.BANDS - 1


def test_many_classes_get_distinct_colours() -> None:
    colors = dr.class_colors([(1, 120, 212), (255, 166, 43), (1, 120, 212)], 7)
    assert len(colors) == 7 and len(set(colors)) == 7
