"""The history pane: loss and one parameter over the steps up to the cursor.

Two plots stacked: the loss of every step so far, and the chosen parameter element's
value at the start of each step (with ‖∂L/∂param‖ on a second axis). A vertical line
marks the current step. Everything plotted is a function of the frame and the timeline's
history only, so stepping back shows exactly what was shown before.

Plots are rebuilt only when what they show changes (a new step, the loss or an update
arriving within a step, another parameter, a toggle, a resize), never for other events,
and long runs are reduced to about two points per column first.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.style import Style
from rich.text import Span, Text
from textual import on
from textual.app import RenderResult
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from engine.fmt import printable
from engine.step.program import Program
from engine.timeline.timeline import Frame, Timeline
from tui.drawing.theme_colors import theme_color
from tui.drawing.value_axis import value_axis

if TYPE_CHECKING:
    from textual.widgets import OptionList, Select
    from textual_plotext.plot import Plot

MAX_ELEMENTS = 64
"""Elements of one parameter listed in the chooser; larger tensors list the first ones."""
NORM = -1
"""The ``index`` that stands for a parameter's gradient norm rather than an element."""
MARKER = "hd"
"""Plotext's half-block marker: finer than a cell, and in every monospace font (braille
is not, and renders at the wrong width in some)."""
COMPACT_HEIGHT = 8
"""Plots shorter than this drop their title and step labels: every row goes to the curve."""
MIN_PLOT_HEIGHT = 6
"""Rows a plot needs to draw any curve at all (its frame takes two, plus a few of data).
A pane too short for two plots shows only the loss; shorter still, not even the chooser."""
LOG_SPAN = 1e3
"""In automatic mode, the loss is plotted on a log scale once max/min reaches this."""
CURVES = 16
"""Curves the history pane remembers (see :meth:`HistoryView._curve`)."""

ParamChoice = tuple[str, int]
"""``(parameter, row-major element index)``, or ``(parameter, NORM)``."""


def element_label(param: str, shape: tuple[int, ...], index: int) -> str:
    """``W1[0,1]`` for element ``index`` (row-major) of ``param``; ``W`` for a scalar."""
    if index == NORM:
        return f"‖∂L/∂{param}‖"
    if not shape:
        return param
    return f"{param}[{','.join(map(str, np.unravel_index(index, shape)))}]"


def param_choices(program: Program) -> list[tuple[str, ParamChoice]]:
    """``(label, (param, index))`` for every parameter element the chooser offers."""
    out: list[tuple[str, ParamChoice]] = []
    for p in program.graph.params:
        shape = tuple(program.init_params[p].shape)
        size = math.prod(shape)
        for i in range(min(size, MAX_ELEMENTS)):
            out.append((element_label(p, shape, i), (p, i)))
        out.append((element_label(p, shape, NORM), (p, NORM)))
    return out


def x_extent(step: int, total: int) -> int:
    """The right end of the step axis for a cursor at ``step`` in a run of ``total``.

    It grows in 1-2-5 jumps (9, 19, 49, 99, …) so the axes stay put for a while, stops
    at the run's last step, and depends on nothing else, so stepping back redraws the
    same axes.
    """
    need = max(step, 1)
    scale = 10
    while True:
        for m in (1, 2, 5):
            if scale * m - 1 >= need:
                return max(need, min(scale * m - 1, total - 1))
        scale *= 10


def step_ticks(extent: int, width: int) -> list[int]:
    """Whole-number ticks for a step axis from 0 to ``extent``, about one per 10 columns."""
    most = max(2, width // 10)
    scale = 1
    while True:
        for m in (1, 2, 5):
            if extent / (scale * m) <= most:
                return list(range(0, extent + 1, scale * m))
        scale *= 10


def downsample(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``2 * buckets`` points: each bucket's min and max, so spikes survive.

    Non-finite values are dropped first (a plot cannot draw them).
    """
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) <= 2 * buckets:
        return x, y
    edges = np.linspace(0, len(x), buckets + 1).astype(np.int64)[:-1]
    lo, hi = np.minimum.reduceat(y, edges), np.maximum.reduceat(y, edges)
    ends = np.append(edges[1:], len(x)) - 1
    mid = (x[edges] + x[ends]) / 2
    return np.repeat(mid, 2), np.column_stack([lo, hi]).reshape(-1)


def _steps_before(
    history: tuple[np.ndarray, np.ndarray], step: int
) -> tuple[np.ndarray, np.ndarray]:
    """The samples of a ``(steps, values)`` history taken before ``step``."""
    steps, values = history
    keep = steps < step
    return steps[keep].astype(np.float64), values[keep]


class _Plot(Widget):
    """A plotext plot that rebuilds its text only when its data, size or theme change.

    Textual re-renders widgets for reasons of its own (focus, hover, layout); building a
    plotext figure each time would cost milliseconds per redraw.

    It does what textual-plotext's ``PlotextPlot`` does, but imports plotext only when
    a plot is first drawn: that import alone costs about a tenth of a second, which
    start-up need not pay when the history pane is hidden (small terminals) or not yet
    drawn.
    """

    DEFAULT_CSS = """
    _Plot {
        width: 1fr;
        height: 1fr;
    }
    """

    version: reactive[int] = reactive(0, layout=False)

    class Sized(Message):
        """The plot was laid out at a new size (its first included): the pane replots.

        The pane's own size may not change when its plots arrive or when it hides and
        shows one, so its resize alone would leave a plot undrawn."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._plot: Plot | None = None
        self._cache: tuple[tuple, RenderResult] | None = None

    @property
    def plt(self) -> Plot:
        """The plotext figure (textual-plotext's ``Plot``: plotext without global state)."""
        if self._plot is None:
            from textual_plotext.plot import Plot

            self._plot = Plot()
        return self._plot

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    def on_resize(self) -> None:
        self.post_message(self.Sized())

    def render(self) -> RenderResult:
        if not self.version:
            return Text()  # nothing plotted yet: no need for plotext
        key = (self.size, self.version, self.app.theme)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._build())
        return self._cache[1]

    def _build(self) -> Text:
        """The figure as text, in a plotext theme made from the app's (as PlotextPlot)."""
        from plotext._dict import themes
        from textual_plotext.plot import _rgbify_theme, _sequence

        plt = self.plt
        width, height = self.size
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as PlotextPlot does (textual-plotext issue 5)
        name = f"textual-auto-{self.app.theme}"
        if name not in themes:
            variables = self.app.theme_variables
            surface = theme_color(variables, "surface", "#1e1e1e").rgb
            foreground = theme_color(variables, "foreground", "#e0e0e0").rgb
            themes[name] = _rgbify_theme(surface, surface, foreground, "default", _sequence)
        plt.theme(name)
        # Building a figure changes its data in place (a log scale takes the log of it),
        # so a second build (at a new size, before the pane replots) would take the log
        # of logs and fail: build a copy of what was drawn.
        drawn = plt.monitor
        plt.monitor = drawn.copy()
        try:
            return figure_text(plt)
        finally:
            plt.monitor = drawn


_RUN_STYLES: dict[tuple, Style | None] = {}
"""The style of each ``(foreground, style, background)`` of plotext's cells, as
``Text.from_ansi`` decodes the escape codes plotext writes for it."""


def figure_text(plt: Plot) -> Text:
    """A plotext figure as a Rich ``Text``: exactly ``Text.from_ansi(plt.build())``.

    Read from the figure's cell matrix instead: writing escape codes for every run of
    cells and parsing them back took two thirds of drawing a plot, at every new step.
    """
    from plotext._utility import colors_to_ansi

    monitor = getattr(plt, "monitor", None)
    if monitor is None or getattr(monitor, "fast_plot", True):
        return Text.from_ansi(plt.build())  # not the plotext this was written for
    plt._set_sizes()  # what build() does, short of writing its escape codes
    plt._build_matrix()
    try:
        return _matrix_text(plt.monitor.matrix, colors_to_ansi)
    except TypeError:  # a colour given as a list: not a key
        return Text.from_ansi(plt.build())


def _matrix_text(matrix: Any, colors_to_ansi: Callable[..., str]) -> Text:
    chars: list[str] = []
    spans: list[Span] = []
    offset = 0
    for row in reversed(range(matrix.rows)):
        marker, fg = matrix.marker[row], matrix.fullground[row]
        style, bg = matrix.style[row], matrix.background[row]
        start = 0
        while start < matrix.cols:
            key = (fg[start], style[start], bg[start])
            end = start + 1
            while end < matrix.cols and (fg[end], style[end], bg[end]) == key:
                end += 1
            text = "".join(marker[start:end])
            try:
                run_style = _RUN_STYLES[key]
            except KeyError:
                from rich.ansi import AnsiDecoder  # plotted only after the first frame

                decoded = AnsiDecoder().decode_line(colors_to_ansi(*key) + "x")
                run_style = _RUN_STYLES[key] = decoded.spans[0].style if decoded.spans else None
            if run_style is not None:
                spans.append(Span(offset, offset + len(text), run_style))
            chars.append(text)
            offset += len(text)
            start = end
        chars.append("\n")
        offset += 1
    return Text("".join(chars), end="\n", tab_size=8, spans=spans)


class HistoryView(Widget, can_focus=True):
    """Loss and parameter history up to the current step.

    The screen calls :meth:`show` with each frame and :meth:`select_param` when the user
    selects a parameter elsewhere. Choosing in the pane's own chooser posts
    :class:`HistoryView.ParamSelected`. Keys when focused: ``l`` toggles the loss's log
    scale, ``r`` toggles the gradient norm (right axis) on the parameter plot.
    """

    DEFAULT_CSS = """
    HistoryView {
        width: 1fr;
        height: 1fr;
        layout: vertical;
    }
    HistoryView > #chooser {
        height: 1;
    }
    HistoryView > #chooser > Select {
        width: 1fr;
    }
    """

    BINDINGS = [
        Binding("l", "toggle_log", "Log scale"),
        # Not "d": the app's notes key. "r" for the right axis the norm is drawn on.
        Binding("r", "toggle_grad_norm", "Grad norm"),
        # The chooser (a Select) pops its options up in a list that fails (KeyError) on a
        # page key before it has laid out a line. While that list has focus, these take
        # the page keys first, and pass them on once it can page.
        Binding("pagedown", "page_choices(1)", show=False, priority=True),
        Binding("pageup", "page_choices(-1)", show=False, priority=True),
    ]

    log_scale: reactive[bool | None] = reactive(None)
    """Log scale for the loss: True, False, or None to decide from the data."""
    show_grad_norm: reactive[bool] = reactive(True)
    """Also plot ‖∂L/∂param‖ (on a second axis) with the parameter's value."""

    class ParamSelected(Message):
        """The user chose a parameter element in the pane's chooser."""

        def __init__(self, param: str, index: int) -> None:
            super().__init__()
            self.param = param
            """The parameter's name."""
            self.index = index
            """Row-major element index, or :data:`NORM` for the gradient norm."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._program: Program | None = None
        self._frame: Frame | None = None
        self._timeline: Timeline | None = None
        self._choice: ParamChoice | None = None
        self._keys: dict[str, tuple | None] = {"loss": None, "param": None}
        self._loss_log = False
        self._curves: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        """Curves already read from the history and reduced, by what they depend on."""
        self._plots: tuple[_Plot, _Plot] | None = None
        """The loss plot and the parameter plot, once they are mounted (:meth:`_add_parts`)."""
        self._chooser: Select[ParamChoice] | None = None
        """The parameter chooser, once it is mounted, and the row it is in."""
        self._chooser_row: Widget | None = None
        self._plotted: Frame | None = None
        """The frame the plots were last brought up to date with."""

    # --- public ------------------------------------------------------------------------

    @property
    def loss_is_log(self) -> bool:
        """Whether the loss is plotted on a log scale now (chosen, or decided from data)."""
        return self._loss_log

    @property
    def is_current(self) -> bool:
        """Whether the pane draws the last frame it was shown: its plots are up to date
        with it, or there is nothing to draw (no frame yet, or the pane is hidden)."""
        if self._frame is None or not self.display or not self.is_attached:
            return True
        return self._plots is not None and self._plotted is self._frame

    @property
    def choice(self) -> ParamChoice | None:
        """The parameter element plotted: ``(param, index)``."""
        return self._choice

    def show(self, frame: Frame, timeline: Timeline) -> None:
        """Plot the history up to ``frame``.

        Args:
            frame: The current state; its step bounds what is plotted.
            timeline: The run, for its loss and parameter history.
        """
        if timeline is not self._timeline:
            self._curves.clear()
        self._frame, self._timeline = frame, timeline
        if frame.program is not self._program:
            self._program = frame.program
            self.set_reactive(HistoryView.log_scale, None)  # a new loss: decide afresh
            choices = param_choices(frame.program)
            keep = self._choice if self._choice in {v for _, v in choices} else None
            self._choice = keep or (choices[0][1] if choices else None)
            self._fill_chooser(choices)
        self._replot()

    def select_param(self, name: str, index: int = 0) -> None:
        """Plot element ``index`` of parameter ``name`` (ignored if it is not one)."""
        if self._program is None or name not in self._program.graph.params:
            return
        size = self._program.init_params[name].size
        if index != NORM and not 0 <= index < min(size, MAX_ELEMENTS):
            index = 0
        self._choice = (name, index)
        select = self._chooser
        if select is not None and select.value != self._choice:
            select.value = self._choice
        self._replot()

    # --- internals -----------------------------------------------------------------------

    def on_mount(self) -> None:
        self.call_after_refresh(self._add_parts)

    async def _add_parts(self) -> None:
        """Mount the chooser and the two plots.

        Not in the first frame: there is nothing to plot before the first step's loss,
        and the chooser (a ``Select``, with its option list and overlay) and the plots
        would cost start-up several stylings each. The pane's frame is there from the
        start, so nothing moves when they arrive.
        """
        from textual.widgets import Select

        if self._plots is not None or not self.is_attached:
            return
        chooser = Select[ParamChoice]([], prompt="parameter", allow_blank=True, compact=True)
        plots = (_Plot(id="loss-plot"), _Plot(id="param-plot"))
        row = Widget(chooser, id="chooser")
        await self.mount(row, *plots)
        self._chooser, self._chooser_row, self._plots = chooser, row, plots
        self._fit_parts()
        if self._program is not None:  # what was shown meanwhile
            self._fill_chooser(param_choices(self._program))
        self.call_after_refresh(self._replot)  # once the plots are laid out

    def _fill_chooser(self, choices: list[tuple[str, ParamChoice]]) -> None:
        select = self._chooser
        if select is None:
            return  # it fills itself when it arrives
        select.set_options(choices)
        if self._choice is not None:
            select.value = self._choice

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        value = event.value
        if not isinstance(value, tuple) or value == self._choice:
            return  # blank, or the echo of select_param / a program change
        self._choice = value
        self._replot()
        self.post_message(self.ParamSelected(*value))

    def on_resize(self) -> None:
        self._fit_parts()
        # Once the screen is painted: a resize may hide the pane again (size classes).
        self.call_after_refresh(self._replot)

    @on(_Plot.Sized)
    def _plot_sized(self, message: _Plot.Sized) -> None:
        message.stop()
        self.call_after_refresh(self._replot)

    def _fit_parts(self) -> None:
        """Show the chooser and the parameter plot only where there is room for them."""
        if self._plots is None or self._chooser_row is None:
            return
        height = self.size.height
        self._chooser_row.display = height > MIN_PLOT_HEIGHT
        self._plots[1].display = height > 2 * MIN_PLOT_HEIGHT

    def _open_choices(self) -> OptionList | None:
        """The chooser's list of options, if it is open and has focus."""
        from textual.widgets import OptionList  # loaded with the chooser, not at start-up

        focused = self.app.focused
        chooser = self._chooser
        if isinstance(focused, OptionList) and chooser is not None and chooser in focused.ancestors:
            return focused
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "page_choices":
            return self._open_choices() is not None  # else the keys go on as usual
        return True

    def action_page_choices(self, direction: int) -> None:
        choices = self._open_choices()
        if choices is not None and choices.virtual_size.height:
            (choices.action_page_down if direction > 0 else choices.action_page_up)()

    def action_toggle_log(self) -> None:
        self.log_scale = not self._loss_log

    def action_toggle_grad_norm(self) -> None:
        self.show_grad_norm = not self.show_grad_norm

    def watch_log_scale(self) -> None:
        self._replot()

    def watch_show_grad_norm(self) -> None:
        self._replot()

    def _colors(self) -> dict[str, tuple[int, int, int]]:
        """Curve colours: the app's phase colours (``$phase-*``) where it publishes them,
        so the loss, the parameter and its gradient match the other panes."""
        v = self.app.theme_variables

        def rgb(name: str, fallback: str) -> tuple[int, int, int]:
            return theme_color(v, name, fallback).rgb

        return {
            "loss": rgb("phase-loss", "text-error"),
            "value": rgb("phase-update", "text-success"),
            "grad": rgb("phase-backward", "text-accent"),
            "cursor": rgb("foreground-muted", "foreground"),
        }

    def _loss_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Steps and losses up to the cursor: the current step's once its loss event is past."""
        assert self._frame is not None and self._timeline is not None
        frame = self._frame
        n = frame.step + (1 if frame.loss is not None else 0)
        losses = self._timeline.losses()[:n]
        return np.arange(len(losses), dtype=np.float64), losses

    def _replot(self) -> None:
        if self._plots is None or self._frame is None or self._timeline is None:
            return
        loss_plot, param_plot = self._plots
        if not loss_plot.size.area or not self.display:
            return  # not laid out yet, or hidden: on_resize plots once it is shown
        frame = self._frame
        rec = frame.record
        choice = self._choice
        updated = grad_known = False
        if choice is not None:
            updated = rec.update_at[choice[0]] <= frame.pos
            grad_known = rec.grad_at[choice[0]] <= frame.pos
        extent = x_extent(frame.step + 1, self._timeline.total_steps)
        theme = self.app.theme
        # Keys of what each plot shows: the data is fetched only when one changes.
        loss_key = (
            id(self._program),
            id(self._timeline),
            frame.step,
            frame.loss is not None,
            self.log_scale,
            extent,
            loss_plot.size,
            theme,
        )
        if loss_key != self._keys["loss"]:
            self._keys["loss"] = loss_key
            self._plot_loss(loss_plot, extent)
        param_key = (
            id(self._program),
            frame.step,
            choice,
            updated,
            grad_known,
            self.show_grad_norm,
            extent,
            param_plot.size,
            theme,
        )
        if param_key != self._keys["param"]:
            self._keys["param"] = param_key
            self._plot_param(param_plot, extent, updated, grad_known)
        self._plotted = frame

    def _plot_loss(self, plot: _Plot, extent: int) -> None:
        frame = self._frame
        assert frame is not None
        colors = self._colors()
        plt = plot.plt
        plt.clear_figure()
        n = frame.step + (1 if frame.loss is not None else 0)
        log = self.log_scale
        if log is None:
            log = self._curve(("log", n), lambda: self._auto_log(n))
        self._loss_log = bool(log)
        x, y = self._curve(("loss", n, log, plot.size.width), lambda: self._loss_curve(log, plot))
        # A what-if branch (engine.timeline.whatif): the run it was made from too, under it, labelled.
        parent = self._timeline.parent
        px, py = x[:0], y[:0]
        labels: dict[str, dict[str, str]] = {"parent": {}, "run": {}}
        if parent is not None:
            n = frame.step + (1 if frame.loss is not None else 0)  # as _loss_data
            px, py = self._parent_losses(parent, n, log)
            px, py = downsample(px, py, max(8, plot.size.width))
            labels = {  # plotext writes them into its cells as they are: escaped
                "parent": {"label": printable(getattr(parent, "label", "original"))},
                "run": {"label": printable(getattr(self._timeline, "label", "what-if"))},
            }
        title = "loss (log)" if log else "loss"
        if frame.loss is not None:
            title += f"  {frame.loss:.4g}"
        self._title(plot, title)
        # Drawn on the unit scale of an axis made here (tui.drawing.value_axis): plotext itself
        # fails on values whose range overflows, and writes poor log ticks.
        axis = value_axis(np.concatenate([y, py]), self._rows(plot), log=bool(log))
        if axis is not None:
            if len(px):
                plt.plot(
                    px.tolist(),
                    axis.place(py).tolist(),
                    marker=MARKER,
                    color=colors["cursor"],
                    **labels["parent"],
                )
            if len(x):
                plt.plot(
                    x.tolist(),
                    axis.place(y).tolist(),
                    marker=MARKER,
                    color=colors["loss"],
                    **labels["run"],
                )
            plt.yticks(list(axis.ticks), list(axis.labels))
            plt.ylim(0, 1)
        self._axes(plot, extent)
        plot.version += 1

    def _auto_log(self, n: int) -> bool:
        """Whether the first ``n`` losses span enough orders of magnitude for a log scale."""
        _, y = self._loss_data()
        positive = y[np.isfinite(y) & (y > 0)]
        return len(positive) > 1 and float(positive.max()) >= LOG_SPAN * float(positive.min())

    def _loss_curve(self, log: bool, plot: _Plot) -> tuple[np.ndarray, np.ndarray]:
        """The loss curve up to the cursor, reduced to the plot's width."""
        x, y = self._loss_data()
        if log:
            keep = y > 0
            x, y = x[keep], y[keep]
        return downsample(x, y, max(8, plot.size.width))

    def _curve(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()``, remembered by ``key`` and the run.

        A new step replots from the whole history (after 100,000 steps, copying and
        reducing it takes milliseconds), and events within a step replot it with the
        same history two or three times: each curve is read once.
        """
        key = (self._timeline.computed_steps, *key)  # the run: show() empties them
        if key in self._curves:
            self._curves.move_to_end(key)
        else:
            self._curves[key] = compute()
            while len(self._curves) > CURVES:
                self._curves.popitem(last=False)
        return self._curves[key]

    @staticmethod
    def _parent_losses(parent: Timeline, n: int, log: bool) -> tuple[np.ndarray, np.ndarray]:
        """The first ``n`` losses of the run a what-if branched from (positive ones if log)."""
        y = parent.losses()[:n]
        x = np.arange(len(y), dtype=np.float64)
        keep = np.isfinite(y) & (y > 0 if log else True)
        return x[keep], y[keep]

    def _axes(self, plot: _Plot, extent: int) -> None:
        """The step axis and the current step's line, the same on both plots."""
        assert self._frame is not None
        plt = plot.plt
        plt.vline(self._frame.step, color=self._colors()["cursor"])
        plt.xlim(0, extent)
        if plot.size.height < COMPACT_HEIGHT:
            plt.xticks([])
        else:
            ticks = step_ticks(extent, plot.size.width)
            plt.xticks(ticks, [str(t) for t in ticks])

    @staticmethod
    def _rows(plot: _Plot) -> int:
        """Rows of a plot's canvas: less its frame, step labels and title."""
        return plot.size.height - (2 if plot.size.height < COMPACT_HEIGHT else 4)

    @staticmethod
    def _title(plot: _Plot, title: str) -> None:
        if plot.size.height >= COMPACT_HEIGHT:
            plot.plt.title(title)

    def _plot_param(self, plot: _Plot, extent: int, updated: bool, grad_known: bool) -> None:
        frame, timeline, choice = self._frame, self._timeline, self._choice
        assert frame is not None and timeline is not None
        colors = self._colors()
        plt = plot.plt
        plt.clear_figure()
        self._axes(plot, extent)
        plot.version += 1
        if choice is None:
            return
        param, index = choice
        width = max(8, plot.size.width)
        shape = tuple(frame.program.init_params[param].shape)
        # The gradient of step s is known once its backward event is past.
        known = frame.step + (1 if grad_known else 0)
        gx, gy = self._curve(
            ("grad", param, known, width),
            lambda: downsample(*_steps_before(timeline.grad_norm_history(param), known), width),
        )
        grad_label = element_label(param, shape, NORM)
        if index == NORM:
            self._title(plot, grad_label)
            self._draw(plot, gx, gy, colors["grad"])
            return

        def values() -> tuple[np.ndarray, np.ndarray]:
            px, py = _steps_before(timeline.param_history(param, index), frame.step + 1)
            if updated:  # the update's result is the value at the start of the next step
                after = frame.params[param].reshape(-1)[index]
                px, py = np.append(px, frame.step + 1), np.append(py, after)
            return downsample(px, py, width)

        px, py = self._curve(("param", param, index, frame.step, updated, width), values)
        label = element_label(param, shape, index)
        current = float(frame.params[param].reshape(-1)[index])
        title = f"{label} {current:.4g}"
        if self.show_grad_norm and len(gx):
            # Legends would cover the data in a pane this small; the title names the axes.
            title += f"  ·  right: {grad_label}"
            self._draw(plot, gx, gy, colors["grad"], yside="right")
        self._draw(plot, px, py, colors["value"])  # last, so that the parameter is on top
        self._title(plot, title)

    def _draw(
        self,
        plot: _Plot,
        x: np.ndarray,
        y: np.ndarray,
        color: tuple[int, int, int],
        yside: str = "left",
    ) -> None:
        """One curve with its own value axis on ``yside``, on that axis's unit scale
        (see :mod:`tui.drawing.value_axis`); nothing when it has no finite value."""
        axis = value_axis(y, self._rows(plot))
        if axis is None or not len(x):
            return
        plt = plot.plt
        plt.plot(x.tolist(), axis.place(y).tolist(), marker=MARKER, color=color, yside=yside)
        plt.yticks(list(axis.ticks), list(axis.labels), yside=yside)
        plt.ylim(0, 1, yside=yside)
