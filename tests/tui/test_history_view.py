"""The history pane: its data helpers, and the widget in a pilot."""

from __future__ import annotations

import io

import numpy as np
from rich.console import Console
from snapshot_apps import expression, wait_until, worked_example
from textual.app import App, ComposeResult
from textual.widgets import Select

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
from tui.panes.history import (
    MAX_ELEMENTS,
    NORM,
    HistoryView,
    _Plot,
    downsample,
    element_label,
    param_choices,
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
    y[4321] = np.nan
    dx, dy = downsample(x, y, 100)
    assert len(dx) == len(dy) <= 200
    assert dy.max() == 50.0 and np.isfinite(dy).all()
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


def test_step_ticks_are_whole_and_few() -> None:
    ticks = step_ticks(499, 60)
    assert ticks[0] == 0 and all(isinstance(t, int) for t in ticks)
    assert len(ticks) <= 60 // 10 + 1
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


def plots(app: App) -> tuple[_Plot, _Plot]:
    return app.query_one("#loss-plot", _Plot), app.query_one("#param-plot", _Plot)


def text(plot: _Plot) -> str:
    return str(plot.render())


async def drawn(pilot, view: HistoryView) -> None:
    """Wait until the pane has drawn the frame it was last shown (its plots arrive after
    the first frame, and replot once laid out)."""
    await wait_until(pilot, lambda: view.is_current, "the history's plots of the frame shown")


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
        await wait_until(pilot, lambda: arrived, "the pane's parts to be asked for")
        await pilot.pause()
        assert arrived == [view] and not view.children
        console = Console(width=40, height=12, file=io.StringIO(), record=True)
        console.print(app.screen._compositor.render_update(full=True))
        assert not console.export_text().strip()


async def test_plots_update_when_the_step_changes() -> None:
    program = worked_example()
    timeline = Timeline(program)
    n = program.events_per_step
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        view.show(timeline.frame(3 * n), timeline)
        await drawn(pilot, view)
        loss_plot, param_plot = plots(app)
        v_loss, v_param = loss_plot.version, param_plot.version
        first = text(loss_plot)
        assert "loss" in first
        # Within a step, before its loss: nothing to replot.
        view.show(timeline.frame(3 * n + 1), timeline)
        await drawn(pilot, view)
        assert (loss_plot.version, param_plot.version) == (v_loss, v_param)
        # The next step: both plots are rebuilt and show more.
        view.show(timeline.frame(4 * n), timeline)
        await drawn(pilot, view)
        assert loss_plot.version > v_loss and param_plot.version > v_param
        assert text(loss_plot) != first
        # Back again: exactly what was shown before.
        view.show(timeline.frame(3 * n), timeline)
        await drawn(pilot, view)
        assert text(loss_plot) == first


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
        view.show(timeline.frame(2 * n), timeline)
        await drawn(pilot, view)
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
        for frame in (timeline.frame(i) for i in range(program.events_per_step)):
            view.show(frame, timeline)
            steps, losses = view._loss_data()
            assert len(steps) == (0 if frame.loss is None else 1)
        await drawn(pilot, view)
        assert "0.25" in text(plots(app)[0])


async def test_the_chooser_follows_select_param() -> None:
    program = worked_example()
    timeline = Timeline(program)
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        view.show(timeline.frame(25), timeline)
        await drawn(pilot, view)
        select = app.query_one(Select)
        assert view.choice == ("W1", 0) and select.value == ("W1", 0)
        before = plots(app)[1].version
        view.select_param("b1")
        assert view.choice == ("b1", 0) and select.value == ("b1", 0)
        await pilot.pause()  # the chooser's Changed message, which must not echo back
        assert plots(app)[1].version > before
        assert "b1[0]" in text(plots(app)[1])
        view.select_param("z1")  # not a parameter: ignored
        assert view.choice == ("b1", 0)
        assert app.chosen == []  # the app's own choice is not echoed back


async def test_choosing_in_the_pane_posts_a_message() -> None:
    program = worked_example()
    timeline = Timeline(program)
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        view.show(timeline.frame(25), timeline)
        await drawn(pilot, view)
        app.query_one(Select).value = ("W1", NORM)
        await wait_until(pilot, lambda: app.chosen, "the chooser's message")
        assert app.chosen == [("W1", NORM)]
        assert view.choice == ("W1", NORM)
        assert "‖∂L/∂W1‖" in text(plots(app)[1])


async def test_log_scale_toggles_with_l() -> None:
    program = worked_example(steps=40)
    timeline = Timeline(program)
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        view.show(timeline.frame(30 * program.events_per_step), timeline)
        view.focus()
        await drawn(pilot, view)
        # The loss falls by orders of magnitude here: automatic mode picks log.
        assert view.log_scale is None and view.loss_is_log
        assert "loss (log)" in text(plots(app)[0])
        await pilot.press("l")
        await wait_until(pilot, lambda: view.log_scale is False, "l to be handled")
        assert not view.loss_is_log
        assert "loss (log)" not in text(plots(app)[0])
        await pilot.press("l")
        await wait_until(pilot, lambda: view.log_scale is True, "l to be handled again")


async def test_a_new_program_resets_the_chooser() -> None:
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        first = worked_example()
        view.show(Timeline(first).frame(0), Timeline(first))
        await drawn(pilot, view)
        second = expression(steps=10)
        timeline = Timeline(second)
        view.show(timeline.frame(0), timeline)
        await drawn(pilot, view)
        assert view.choice == ("W", 0)
        assert app.query_one(Select).value == ("W", 0)


async def test_a_short_pane_keeps_the_loss_plot() -> None:
    program = worked_example()
    timeline = Timeline(program)
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        view.show(timeline.frame(25), timeline)
        await drawn(pilot, view)
        loss_plot, param_plot = plots(app)
        assert param_plot.display and app.query_one("#chooser").display
        view.styles.height = 9
        await wait_until(pilot, lambda: not param_plot.display, "the pane to lose a plot")
        assert loss_plot.display and app.query_one("#chooser").display
        view.styles.height = 5
        await wait_until(pilot, lambda: loss_plot.size.height == 5, "the loss plot to fill it")
        assert loss_plot.display and not app.query_one("#chooser").display


def test_figure_text_is_what_plotext_writes() -> None:
    """The plots are read from plotext's cell matrix, not parsed back from its escape
    codes: the text must be the same, styles and all (log scale, two y axes, a line)."""
    from rich.text import Text
    from textual_plotext.plot import Plot

    from tui.panes.history import figure_text

    def draw() -> Plot:
        plt = Plot()
        x = list(range(40))
        plt.plot(x, [1 / (i + 1) for i in x], marker="hd", color=(200, 80, 80))
        plt.plot(x, [i * 0.1 for i in x], marker="hd", color=(80, 80, 200), yside="right")
        plt.vline(12, color=(128, 128, 128))
        plt.yscale("log")
        plt.title("loss (log)  0.025")
        plt.plotsize(50, 14)
        plt.theme("pro")
        return plt

    fast, slow = figure_text(draw()), Text.from_ansi(draw().build())
    assert fast.plain == slow.plain
    assert fast.spans == slow.spans


async def test_a_log_scale_plot_survives_a_resize() -> None:
    """Building a plotext figure takes the log of its data in place: drawing the same
    figure again at a new size (before the pane replots) must not take logs of logs."""
    program = worked_example(steps=40)
    timeline = Timeline(program)
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(HistoryView)
        view.show(timeline.frame(30 * program.events_per_step), timeline)
        await drawn(pilot, view)
        assert view.loss_is_log
        loss_plot = plots(app)[0]
        await pilot.resize_terminal(90, 26)
        await wait_until(pilot, lambda: loss_plot.size.width == 90, "the plot to be resized")
        await drawn(pilot, view)
        assert "loss (log)" in text(loss_plot)
    assert app.return_code in (None, 0)
