"""The history pane: its data helpers, and the widget in a pilot."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console
from snapshot_apps import expression, wait_until, worked_example
from textual.app import App, ComposeResult
from textual.widgets import Select
from textual_hires_canvas import Canvas

from engine.open import open_program
from engine.scenario.records import (
    DataSpec,
    LayerSpec,
    ModelSpec,
    OptimizerSpec,
    Scenario,
    TrainSpec,
)
from engine.step.program import Program, make_program
from engine.timeline.timeline import Timeline
from tui.drawing.plot import Plot
from tui.panes.history import (
    MAX_ELEMENTS,
    NONFINITE,
    NORM,
    HistoryView,
    downsample,
    element_label,
    param_choices,
    step_label,
    step_ticks,
    x_extent,
)


def wide_model() -> Program:
    rng = np.random.default_rng(0)
    return make_program(
        Scenario(
            name="wide",
            source="<test>",
            optimizer=OptimizerSpec(kind="sgd", lr=0.1),
            train=TrainSpec(steps=5),
            model=ModelSpec(
                inputs=2,
                layers=(
                    LayerSpec(units=64, activation="tanh"),
                    LayerSpec(units=1, activation="identity"),
                ),
            ),
            data=DataSpec(x=rng.normal(size=(8, 2)), y=rng.normal(size=(8, 1))),
            loss="mse",
        )
    )


# --- helpers -----------------------------------------------------------------------------


def test_element_labels() -> None:
    assert element_label("W1", (2, 3), 4) == "W1[1,1]"
    assert element_label("b1", (3,), 2) == "b1[2]"
    assert element_label("W", (), 0) == "W"
    assert element_label("W1", (2, 3), NORM) == "‖∂L/∂W1‖"


def test_choices_list_every_element_of_small_parameters() -> None:
    labels = [label for label, _ in param_choices(worked_example())]
    assert labels == ["W1[0,0]", "‖∂L/∂W1‖", "b1[0]", "‖∂L/∂b1‖"]
    labels = [label for label, _ in param_choices(expression(steps=10))]
    assert labels == ["W", "‖∂L/∂W‖", "b", "‖∂L/∂b‖"]


def test_choices_of_big_parameters_stop_at_the_limit() -> None:
    choices = param_choices(wide_model())
    w1 = [value for _, value in choices if value[0] == "W1"]
    assert len(w1) == MAX_ELEMENTS + 1  # W1 has 128 elements
    assert w1[-1] == ("W1", NORM)
    assert [v for _, v in choices if v[0] == "b2"] == [("b2", 0), ("b2", NORM)]


def test_downsample_keeps_extremes_and_bounds_points() -> None:
    x = np.arange(10_000, dtype=float)
    y = np.sin(x / 100)
    y[1234] = 50.0
    dx, dy = downsample(x, y, 100)
    assert len(dx) == len(dy) <= 200
    assert dy.max() == 50.0
    assert np.all(np.diff(dx) >= 0)
    sx, sy = downsample(x[:50], y[:50], 100)
    assert np.array_equal(sx, x[:50]) and np.array_equal(sy, y[:50])


def test_x_extent_is_stable_and_bounded() -> None:
    assert x_extent(0, 20) == 9 and x_extent(9, 20) == 9
    assert x_extent(10, 20) == 19 and x_extent(19, 20) == 19
    assert x_extent(150, 10_000) == 199
    extents = [x_extent(s, 1000) for s in range(1000)]
    assert extents == sorted(extents) and max(extents) == 999
    assert all(e >= s for s, e in enumerate(extents))


def test_step_labels_stay_short() -> None:
    assert [step_label(s) for s in (0, 950, 12_000, 2_500_000)] == ["0", "950", "12k", "2.5M"]


def test_step_ticks_are_whole_and_few() -> None:
    ticks = step_ticks(499, 60)
    assert ticks[0] == 0 and all(isinstance(t, int) for t in ticks)
    assert len(ticks) <= 60 // 8
    assert step_ticks(499, 22) == [0, 200, 400]  # a narrow axis still gets more than 0
    assert step_ticks(9, 100) == list(range(10))


# --- the widget --------------------------------------------------------------------------


class HistoryApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.chosen: list[tuple[str, int]] = []

    def compose(self) -> ComposeResult:
        yield HistoryView()

    def on_history_view_param_selected(self, message: HistoryView.ParamSelected) -> None:
        self.chosen.append((message.param, message.index))


def plots(app: App) -> tuple[Plot, Plot]:
    return app.query_one("#loss-plot", Plot), app.query_one("#param-plot", Plot)


def text(plot: Plot) -> str:
    """What the plot shows: its title row and every canvas's characters."""
    canvases = ["\n".join("".join(row) for row in c._buffer) for c in plot.query(Canvas)]
    return plot.title_text() + "\n" + "\n".join(canvases)


async def until(pilot, condition, what: str = "") -> None:
    """Wait until ``condition()`` holds: the plots arrive after the first frame and draw
    on their next refresh (:func:`snapshot_apps.wait_until`, bounded in seconds)."""
    await wait_until(pilot, condition, what or "the condition")


async def test_the_pane_draws_nothing_until_its_parts_arrive(monkeypatch) -> None:
    """The chooser and the plots are mounted after the first frame. Until then the pane
    is blank: no stray text (a bare row would draw its own name, ``Widget#chooser``)."""
    arrived: list[HistoryView] = []

    async def not_yet(self: HistoryView) -> None:
        arrived.append(self)

    monkeypatch.setattr(HistoryView, "_add_parts", not_yet)
    program = worked_example()
    timeline = Timeline(program)
    app = HistoryApp()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(HistoryView)
        view.show(timeline.frame(2 * program.events_per_step), timeline)
        await until(pilot, lambda: arrived == [view], "the parts were asked for")
        assert not view.children
        console = Console(width=40, height=12, file=io.StringIO(), record=True)
        console.print(app.screen._compositor.render_update(full=True))
        assert not console.export_text().strip()


async def shown(pilot, view: HistoryView, frame, timeline) -> tuple[Plot, Plot]:
    """Show ``frame`` and wait until both plots have drawn it."""
    view.show(frame, timeline)
    await until(pilot, lambda: view.plots is not None, "the plots arrived")
    loss_plot, param_plot = view.plots
    await until(
        pilot,
        lambda: loss_plot.version and param_plot.version and not loss_plot._needs_rerender,
        "the plots drew",
    )
    return loss_plot, param_plot


async def test_plots_update_when_the_step_changes() -> None:
    program = worked_example()
    timeline = Timeline(program)
    n = program.events_per_step
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        loss_plot, param_plot = await shown(pilot, view, timeline.frame(3 * n), timeline)
        v_loss, v_param = loss_plot.version, param_plot.version
        first = text(loss_plot)
        assert first.startswith("loss")
        # Within a step, before its loss: nothing to replot.
        view.show(timeline.frame(3 * n + 1), timeline)
        assert (loss_plot.version, param_plot.version) == (v_loss, v_param)
        # The next step: both plots are rebuilt and show more.
        view.show(timeline.frame(4 * n), timeline)
        assert loss_plot.version > v_loss and param_plot.version > v_param
        await until(pilot, lambda: text(loss_plot) != first, "the new step drawn")
        # Back again: exactly what was shown before.
        view.show(timeline.frame(3 * n), timeline)
        await until(pilot, lambda: text(loss_plot) == first, "the old step drawn again")


async def test_events_within_a_step_fetch_no_history() -> None:
    """Most events change nothing plotted; they must not even copy the loss history."""
    program = worked_example()
    timeline = Timeline(program)
    calls = []
    losses, param_history = timeline.losses, timeline.param_history
    timeline.losses = lambda: calls.append("loss") or losses()  # type: ignore[method-assign]
    timeline.param_history = (  # type: ignore[method-assign]
        lambda *a: calls.append("param") or param_history(*a)
    )
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        n = program.events_per_step
        await shown(pilot, view, timeline.frame(2 * n), timeline)
        calls.clear()
        for pos in range(1, timeline.record(2).loss_at):  # forward events before the loss
            view.show(timeline.frame(2 * n + pos), timeline)
        assert calls == []


async def test_loss_appears_with_its_event() -> None:
    program = worked_example()
    timeline = Timeline(program)
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        loss_plot, _ = await shown(pilot, view, timeline.frame(0), timeline)
        assert "no loss yet" in loss_plot.title_text()
        for frame in (timeline.frame(i) for i in range(program.events_per_step)):
            view.show(frame, timeline)
            steps, losses = view._loss_data()
            assert len(steps) == (0 if frame.loss is None else 1)
        assert "0.25" in loss_plot.title_text() and "no loss yet" not in loss_plot.title_text()


async def test_the_chooser_follows_select_param() -> None:
    program = worked_example()
    timeline = Timeline(program)
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        _, param_plot = await shown(pilot, view, timeline.frame(25), timeline)
        select = app.query_one(Select)
        assert view.choice == ("W1", 0) and select.value == ("W1", 0)
        before = param_plot.version
        view.select_param("b1")
        assert view.choice == ("b1", 0)
        await until(pilot, lambda: select.value == ("b1", 0), "the chooser followed")
        assert param_plot.version > before
        assert param_plot.title_text().startswith("b1[0]")
        view.select_param("z1")  # not a parameter: ignored
        assert view.choice == ("b1", 0)
        await pilot.pause()
        assert app.chosen == []  # the app's own choice is not echoed back


async def test_choosing_in_the_pane_posts_a_message() -> None:
    program = worked_example()
    timeline = Timeline(program)
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        _, param_plot = await shown(pilot, view, timeline.frame(25), timeline)
        app.query_one(Select).value = ("W1", NORM)
        await until(pilot, lambda: app.chosen == [("W1", NORM)], "the message arrived")
        assert view.choice == ("W1", NORM)
        assert param_plot.title_text().startswith("‖∂L/∂W1‖")


async def test_log_scale_toggles_with_l() -> None:
    program = worked_example(steps=40)
    timeline = Timeline(program)
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        loss_plot, _ = await shown(
            pilot, view, timeline.frame(30 * program.events_per_step), timeline
        )
        view.focus()
        # The loss falls by orders of magnitude here: automatic mode picks log.
        assert view.log_scale is None and view.loss_is_log
        assert loss_plot.title_text().startswith("loss (log)")
        await pilot.press("l")
        await until(pilot, lambda: view.log_scale is False, "l pressed")
        assert not view.loss_is_log and not loss_plot.title_text().startswith("loss (log)")
        await pilot.press("l")
        await until(pilot, lambda: view.log_scale is True, "l pressed again")
        assert view.loss_is_log


async def test_a_new_program_resets_the_chooser() -> None:
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        first = worked_example()
        await shown(pilot, view, Timeline(first).frame(0), Timeline(first))
        second = expression(steps=10)
        timeline = Timeline(second)
        view.show(timeline.frame(0), timeline)
        assert view.choice == ("W", 0)
        await until(pilot, lambda: app.query_one(Select).value == ("W", 0), "chooser reset")


async def test_a_short_pane_keeps_the_loss_plot() -> None:
    program = worked_example()
    timeline = Timeline(program)
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        loss_plot, param_plot = await shown(pilot, view, timeline.frame(25), timeline)
        chooser = app.query_one("#chooser")
        assert param_plot.display and chooser.display
        view.styles.height = 9
        await until(pilot, lambda: not param_plot.display, "the parameter plot hidden")
        assert loss_plot.display and chooser.display
        view.styles.height = 5
        await until(pilot, lambda: not chooser.display, "the chooser hidden")
        await until(pilot, lambda: loss_plot.size.height == 5, "the loss plot takes all")
        assert loss_plot.display


async def test_a_log_scale_plot_survives_a_resize() -> None:
    """Resizing replots at the new size, on the same scale."""
    program = worked_example(steps=40)
    timeline = Timeline(program)
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        loss_plot, _ = await shown(
            pilot, view, timeline.frame(30 * program.events_per_step), timeline
        )
        assert view.loss_is_log
        version = loss_plot.version
        await pilot.resize_terminal(90, 26)
        await until(pilot, lambda: loss_plot.version > version, "replotted at the new size")
        assert view.loss_is_log and loss_plot.title_text().startswith("loss (log)")
    assert app.return_code in (None, 0)


# --- numbers a plot can meet ---------------------------------------------------------------------


async def test_diverging_loss_is_drawn_while_any_is_finite() -> None:
    """diverging-lr at step 10: every loss so far is finite but they span 10¹⁶⁰: the plot
    is on a log scale with decade ticks, never blank; at step 25 the losses from step 19
    on are inf, marked × along the top, and the finite ones still drawn."""
    program = open_program("diverging-lr")
    timeline = Timeline(program)
    timeline.compute(30)
    n = program.events_per_step
    app = HistoryApp()
    async with app.run_test(size=(60, 30)) as pilot:
        view = app.query_one(HistoryView)
        loss_plot, param_plot = await shown(pilot, view, timeline.frame(10 * n + 3), timeline)
        assert view.loss_is_log
        drawn = text(loss_plot)
        assert any(c in drawn for c in "▘▝▀▖▗▄▌▐▚▞▙▛▜▟█")  # a curve at sub-cell resolution
        assert "1e100" in drawn and NONFINITE not in drawn
        assert "0.000" not in drawn and "0.0000" not in text(param_plot)
        assert "symlog" in param_plot.title_text()  # W1 flips sign as it grows 10⁸-fold
        await shown(pilot, view, timeline.frame(25 * n + 3), timeline)
        await until(pilot, lambda: NONFINITE in text(loss_plot), "inf marked")
        assert "inf/nan" in loss_plot.title_text()
        assert view.loss_is_log


@pytest.mark.parametrize("lr", [1e308, 1e200])
async def test_huge_numbers_never_crash_the_plots(lr: float) -> None:
    program = worked_example(steps=12, optimizer=OptimizerSpec("sgd", lr))
    timeline = Timeline(program)
    timeline.compute(12)
    app = HistoryApp()
    async with app.run_test(size=(60, 30)) as pilot:
        view = app.query_one(HistoryView)
        for step in (1, 2, 5, 11):
            loss_plot, _ = await shown(
                pilot, view, timeline.frame(step * program.events_per_step + 4), timeline
            )
            for choice in [("W1", 0), ("W1", NORM)]:
                view.select_param(*choice)
                await pilot.pause()
    assert app.return_code in (None, 0)


async def test_a_what_if_shows_both_runs_with_a_legend() -> None:
    from engine.timeline.runs import Branch

    program = worked_example(steps=20)
    original = Timeline(program)
    original.compute(20)
    params, state = original.start_of(5)
    branch = Branch(
        program,
        start=(5, {"W1": np.array([[2.0]]), "b1": params["b1"]}, state),
        parent=original,
        label="W1 = 2",
    )
    branch.compute(15)
    app = HistoryApp()
    async with app.run_test(size=(80, 30)) as pilot:
        view = app.query_one(HistoryView)
        loss_plot, param_plot = await shown(
            pilot, view, branch.frame(12 * program.events_per_step + 4), branch
        )
        for plot in (loss_plot, param_plot):
            title = plot.title_text()
            assert "━ W1 = 2" in title and "━ original" in title
