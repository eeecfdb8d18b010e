"""The history pane: the loss and one parameter over the steps up to the cursor.

Two plots stacked (:class:`tui.drawing.plot.Plot`, on textual-plot): the loss of every
step so far, and the chosen parameter element's value at the start of each step (or its
gradient norm, a choice of its own). The current step is the last point, marked ``●``.

- Each series gets the scale it needs (:mod:`tui.drawing.scale`): a loss falling by orders
  of magnitude is drawn on a log axis, a parameter that diverges on a symlog axis;
  ``l`` toggles the loss's log scale by hand.
- Non-finite values are not drawn: the axes fit the finite ones, and each step whose
  value is inf or NaN is marked ``×`` along the top of the plot. A plot is never blank
  while any value is finite; before there is one, it says why.
- A what-if branch (``w``) is drawn with the run it came from: both curves, the
  original's from the step they part, and a legend in the title row.

Everything plotted is a function of the frame and the timeline's history only, so
stepping back shows exactly what was shown before. Plots are rebuilt only when what
they show changes (a new step, the loss or an update arriving within a step, another
parameter, a toggle, a resize), and long runs are reduced to about two points per
column first.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from engine import fmt
from engine.step.program import Program
from engine.timeline.timeline import Frame, Timeline
from tui.drawing import scale
from tui.drawing.scale import Scale
from tui.drawing.theme_colors import style_color, theme_color

if TYPE_CHECKING:
    from textual.widgets import Select

    from tui.drawing.plot import Plot

MAX_ELEMENTS = 64
"""Elements of one parameter listed in the chooser; larger tensors list the first ones."""
NORM = -1
"""The ``index`` that stands for a parameter's gradient norm rather than an element."""
MIN_PLOT_HEIGHT = 6
"""Rows a plot needs to draw a curve at all: its title, its frame and a few of data.
A pane too short for two plots shows only the loss; shorter still, not even the chooser."""
COMPACT_HEIGHT = 8
"""Plots shorter than this drop their step labels: every row goes to the curve."""
CURVES = 16
"""Curves the history pane remembers (see :meth:`HistoryView._curve`)."""
NONFINITE = "×"
"""The mark of a step whose value is inf or NaN."""
NOW = "●"
"""The mark of the current step's value."""

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
    scale_ = 10
    while True:
        for m in (1, 2, 5):
            if scale_ * m - 1 >= need:
                return max(need, min(scale_ * m - 1, total - 1))
        scale_ *= 10


def step_ticks(extent: int, width: int) -> list[int]:
    """Whole-number ticks for a step axis from 0 to ``extent``: about one per 8 columns,
    and never fewer than three allowed, so that a narrow axis still gets a second tick."""
    most = max(3, width // 8)
    unit = 1
    while True:
        for m in (1, 2, 5):
            step = unit * m
            if extent // step + 1 <= most:
                return list(range(0, extent + 1, step))
        unit *= 10


def step_label(step: int) -> str:
    """``950``, ``12k``, ``2.5M``: a step number short enough for an axis."""
    if step < 10_000:
        return str(step)
    if step < 1_000_000:
        return f"{step / 1000:g}k"
    return f"{step / 1_000_000:g}M"


def downsample(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``2 * buckets`` points: each bucket's min and max, so spikes survive.

    Values the plot cannot draw must be dropped first (a NaN would poison a bucket).
    """
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


class Series:
    """One curve as the plot draws it: the drawable points (in plot coordinates, reduced
    to the plot's width) and the steps whose values are not finite."""

    def __init__(self, x: np.ndarray, y: np.ndarray, sc: Scale, width: int) -> None:
        ok = sc.drawable(y)
        self.x, self.t = downsample(x[ok], sc.forward(y[ok]), width)
        self.bad = x[~np.isfinite(y)]
        """Steps whose value is inf or NaN."""
        self.last = (float(x[-1]), float(y[-1])) if len(x) else None
        """The current step's point (step, value), finite or not."""


def _mend_page_keys(chooser: Widget) -> None:
    """Make the page keys of the list a Select pops up do nothing where they would fail.

    Textual's option list fails (``KeyError``) on a page key when its highlighted option
    has no line laid out (no room, or lines kept from the options it had before), as
    :class:`tui.screens.choice_list.ChoiceList` mends for the dialogs. The Select makes its list
    itself, so its two page actions are wrapped where they are: a binding ahead of the
    list's own cannot catch a key that reaches the list after focus moved to it.
    """
    for overlay in chooser.query("SelectOverlay"):
        for name in ("action_page_up", "action_page_down"):
            setattr(overlay, name, _ignoring_key_error(getattr(overlay, name)))


def _ignoring_key_error(action: Callable[[], None]) -> Callable[[], None]:
    def mended() -> None:
        try:
            action()
        except KeyError:
            pass  # nothing laid out to page through

    return mended


class HistoryView(Widget, can_focus=True):
    """Loss and parameter history up to the current step.

    The screen calls :meth:`show` with each frame and :meth:`select_param` when the user
    selects a parameter elsewhere. Choosing in the pane's own chooser posts
    :class:`HistoryView.ParamSelected`. Key when focused: ``l`` toggles the loss's log
    scale.
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
    HistoryView > Plot {
        height: 1fr;
    }
    """

    BINDINGS: ClassVar = [
        Binding("l", "toggle_log", "Log scale"),
    ]

    log_scale: reactive[bool | None] = reactive(None)
    """Log scale for the loss: True, False, or None to decide from the data."""

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
        self._loss_scale = Scale()
        self._curves: OrderedDict[tuple, Any] = OrderedDict()
        """Curves already read from the history, by what they depend on."""
        self._plots: tuple[Plot, Plot] | None = None
        """The loss plot and the parameter plot, once they are mounted (:meth:`_add_parts`)."""
        self._chooser: Select[ParamChoice] | None = None
        """The parameter chooser, once it is mounted, and the row it is in."""
        self._chooser_row: Widget | None = None
        self._plotted: Frame | None = None
        """The frame the plots were last brought up to date with."""
        self._drawn: dict[Plot, tuple] = {}
        """What each plot was last drawn with, but for its title (see :meth:`_draw`)."""

    # --- public ------------------------------------------------------------------------

    @property
    def is_current(self) -> bool:
        """Whether the pane draws the last frame it was shown: its plots are up to date
        with it and drawn, or there is nothing to draw (no frame yet, or it is hidden)."""
        if self._frame is None or not self.display or not self.is_attached:
            return True
        if self._plots is None or self._plotted is not self._frame:
            return False
        return not any(p.display and p._needs_rerender for p in self._plots)

    def drawing_state(self) -> str:
        """What :attr:`is_current` depends on, said for a failed wait or a bug report."""
        plots = ", ".join(
            f"{p.id}: shown {p.display} {p.size.width}x{p.size.height} stale {p._needs_rerender}"
            for p in self._plots or ()
        )
        return (
            f"frame {None if self._frame is None else self._frame.seq}, "
            f"plotted {self._plotted is self._frame}, shown {self.display}, "
            f"attached {self.is_attached}; {plots or 'no plots'}"
        )

    @property
    def loss_is_log(self) -> bool:
        """Whether the loss is plotted on a log scale now (chosen, or decided from data)."""
        return self._loss_scale.kind == "log"

    @property
    def loss_scale(self) -> Scale:
        """The loss plot's scale now."""
        return self._loss_scale

    @property
    def choice(self) -> ParamChoice | None:
        """The parameter element plotted: ``(param, index)``."""
        return self._choice

    @property
    def plots(self) -> tuple[Plot, Plot] | None:
        """The loss plot and the parameter plot, once mounted."""
        return self._plots

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

    # --- parts ---------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.call_after_refresh(self._add_parts)

    async def _add_parts(self) -> None:
        """Mount the chooser and the two plots.

        Not in the first frame: there is nothing to plot before the first step's loss,
        and the chooser (a ``Select``, with its option list and overlay) and the plots
        (textual-plot, a few canvases each) would cost start-up their imports and
        several stylings each. The pane's frame is there from the start, so nothing
        moves when they arrive.
        """
        from textual.widgets import Select

        from tui.drawing.plot import Plot

        if self._plots is not None or not self.is_attached:
            return
        chooser = Select[ParamChoice]([], prompt="parameter", allow_blank=True, compact=True)
        plots = (Plot(id="loss-plot"), Plot(id="param-plot"))
        row = Widget(chooser, id="chooser")
        await self.mount(row, *plots)
        if not self.is_attached or not chooser.query("SelectOverlay"):
            return  # removed while they mounted: the app is closing
        _mend_page_keys(chooser)
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

    def on_plot_resized(self, event: Plot.Resized) -> None:
        event.stop()
        self.call_after_refresh(self._replot)

    def on_resize(self) -> None:
        self._fit_parts()
        # Once the screen is painted: a resize may hide the pane again (size classes).
        self.call_after_refresh(self._replot)

    def _fit_parts(self) -> None:
        """Show the chooser and the parameter plot only where there is room for them."""
        if self._plots is None or self._chooser_row is None:
            return
        height = self.size.height
        self._chooser_row.display = height > MIN_PLOT_HEIGHT
        self._plots[1].display = height > 2 * MIN_PLOT_HEIGHT

    def action_toggle_log(self) -> None:
        self.log_scale = not self.loss_is_log

    def watch_log_scale(self) -> None:
        self._replot()

    def _colors(self) -> dict[str, str]:
        """Curve colours: the app's phase colours (``$phase-*``) where it publishes them,
        so the loss and the parameter match the other panes."""
        v = self.app.theme_variables

        def color(name: str, fallback: str) -> str:
            return style_color(theme_color(v, name, fallback))

        return {
            "loss": color("phase-loss", "text-error"),
            "value": color("phase-update", "text-success"),
            "grad": color("phase-backward", "text-accent"),
            "muted": color("foreground-muted", "foreground"),
            "bad": color("text-error", "error"),
            "text": color("foreground", "foreground"),
        }

    # --- plotting ------------------------------------------------------------------------

    def _loss_count(self) -> int:
        """Losses known at the cursor: the current step's once its loss event is past."""
        frame = self._frame
        assert frame is not None
        return frame.step + (1 if frame.loss is not None else 0)

    def _loss_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Steps and losses up to the cursor."""
        assert self._timeline is not None
        losses = self._timeline.losses()[: self._loss_count()]
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
        # Within a step, an element's curve changes only with its update (the value after
        # it is drawn) and a gradient norm's only with its backward event: the other of
        # the two stays False, so it does not replot the same picture.
        updated = grad_known = False
        if choice is not None:
            if choice[1] == NORM:
                grad_known = rec.grad_at[choice[0]] <= frame.pos
            else:
                updated = rec.update_at[choice[0]] <= frame.pos
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
            id(self._timeline),
            frame.step,
            choice,
            updated,
            grad_known,
            extent,
            param_plot.size,
            param_plot.display,
            theme,
        )
        if param_key != self._keys["param"] and param_plot.display:
            self._keys["param"] = param_key
            self._plot_param(param_plot, extent, updated, grad_known)
        self._plotted = frame

    def _curve(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()``, remembered by ``key`` and the run.

        A new step replots from the whole history (after 100,000 steps, copying and
        reducing it takes milliseconds), and events within a step replot it with the
        same history two or three times: each curve is read once.
        """
        assert self._timeline is not None
        key = (self._timeline.computed_steps, *key)  # the run: show() empties them
        if key in self._curves:
            self._curves.move_to_end(key)
        else:
            self._curves[key] = compute()
            while len(self._curves) > CURVES:
                self._curves.popitem(last=False)
        return self._curves[key]

    def _origin(self) -> tuple[Timeline, str, str] | None:
        """The run a what-if branch was made from, and both runs' names."""
        timeline = self._timeline
        parent = timeline.parent if timeline is not None else None
        if parent is None or timeline is None:
            return None
        # A branch's label holds what the user typed: shown as text, escaped.
        return (
            parent,
            fmt.printable(getattr(timeline, "label", "what-if")),
            fmt.printable(getattr(parent, "label", "original")),
        )

    def _plot_loss(self, plot: Plot, extent: int) -> None:
        frame, timeline = self._frame, self._timeline
        assert frame is not None and timeline is not None
        n = self._loss_count()
        x, y = self._curve(("loss", n), self._loss_data)
        parent = self._origin()
        px, py = x[:0], y[:0]
        if parent is not None:
            first = timeline.first_step
            py = parent[0].losses()[:n]
            px = np.arange(len(py), dtype=np.float64)
            # The original from the step before the two parted: before it they are one curve.
            px, py = px[max(0, first - 1) :], py[max(0, first - 1) :]
        mode = {None: "auto", True: "log", False: "linear"}[self.log_scale]
        sc = self._loss_scale = scale.choose(np.concatenate([y, py]), mode)
        colors = self._colors()
        title = [("loss", "bold"), (" (log)" if sc.kind == "log" else "", "")]
        if sc.kind == "symlog":
            title.append((" (symlog)", ""))
        if frame.loss is not None:
            value = fmt.num(frame.loss, 4)
            bad = not math.isfinite(frame.loss)
            title.append((f"  {value}", f"bold {colors['bad']}" if bad else ""))
        self._draw(
            plot,
            extent,
            sc,
            main=(x, y, colors["loss"]),
            other=(px, py, colors["muted"]) if parent is not None else None,
            title=title,
            names=(parent[1], parent[2]) if parent is not None else None,
            empty="no loss yet: it comes with the loss event" if n == 0 else "",
        )

    def _plot_param(self, plot: Plot, extent: int, updated: bool, grad_known: bool) -> None:
        frame, timeline, choice = self._frame, self._timeline, self._choice
        assert frame is not None and timeline is not None
        colors = self._colors()
        if choice is None:
            self._draw(plot, extent, Scale(), main=None, title=[("no parameters", "")])
            return
        param, index = choice
        shape = tuple(frame.program.init_params[param].shape)
        label = element_label(param, shape, index)
        parent = self._origin()

        def series(run: Timeline) -> tuple[np.ndarray, np.ndarray]:
            if index == NORM:
                # The gradient of step s is known once its backward event is past.
                known = frame.step + (1 if grad_known else 0)
                return _steps_before(run.grad_norm_history(param), known)
            px, py = _steps_before(run.param_history(param, index), frame.step + 1)
            if updated and run is timeline:
                # The update's result is the value at the start of the next step.
                after = frame.params[param].reshape(-1)[index]
                px, py = np.append(px, frame.step + 1), np.append(py, after)
            return px, py

        key = (param, index, frame.step, updated, grad_known)
        x, y = self._curve(("param", id(timeline), *key), lambda: series(timeline))
        px, py = x[:0], y[:0]
        if parent is not None:
            px, py = self._curve(("param", id(parent[0]), *key), lambda: series(parent[0]))
            keep = px >= timeline.first_step - 1
            px, py = px[keep], py[keep]
        sc = scale.choose(np.concatenate([y, py]))
        if index == NORM:
            now = float(y[-1]) if len(y) else None
            color = colors["grad"]
        else:
            now = float(frame.params[param].reshape(-1)[index])
            color = colors["value"]
        title = [(label, "bold")]
        if sc.kind != "linear":
            title.append((f" ({sc.kind})", ""))
        if now is not None:
            bad = not math.isfinite(now)
            title.append((f"  {fmt.num(now, 4)}", f"bold {colors['bad']}" if bad else ""))
        empty = ""
        if not len(x):
            empty = "its first gradient comes with its backward event" if index == NORM else ""
        self._draw(
            plot,
            extent,
            sc,
            main=(x, y, color),
            other=(px, py, colors["muted"]) if parent is not None else None,
            title=title,
            names=(parent[1], parent[2]) if parent is not None else None,
            empty=empty,
        )

    def _draw(
        self,
        plot: Plot,
        extent: int,
        sc: Scale,
        *,
        main: tuple[np.ndarray, np.ndarray, str] | None,
        title: list[tuple[str, str]],
        other: tuple[np.ndarray, np.ndarray, str] | None = None,
        names: tuple[str, str] | None = None,
        empty: str = "",
    ) -> None:
        """Draw a plot: the other run's curve (if any) under this run's, the current
        point marked, inf and NaN marked along the top; axes, ticks, title and legend.

        What is drawn is worked out first and compared with what the plot shows: drawing
        it again (every cell of the curves, the axes, the ticks) is most of a step's
        cost where it changes, and events within a step often change only the title
        (the loss's value comes and goes) or nothing at all (the parameter's curve at a
        step's first event is the one its update drew).
        """
        from textual_plot import HiResMode

        colors = self._colors()
        width, height = plot.size
        buckets = max(8, width)
        margin_bottom = 1 if height >= COMPACT_HEIGHT else 0
        runs = [r for r in (other, main) if r is not None]
        drawn = [(Series(x, y, sc, buckets), color) for x, y, color in runs]
        finite = np.concatenate([s.t for s, _ in drawn]) if drawn else np.empty(0)
        lo, hi = scale.limits(finite)
        lines = [(s.x, s.t, color) for s, color in drawn if len(s.x) > 1]
        marks: list[tuple[np.ndarray, np.ndarray, str, str]] = []
        legend: list[tuple[str, str]] = []
        if names is not None and other is not None and main is not None:
            legend = [("━ ", main[2]), (names[0], ""), ("  ━ ", other[2]), (names[1], "")]
        if drawn:
            s, color = drawn[-1]
            now = s.last
            if now is not None and sc.drawable(np.array([now[1]]))[0]:
                t = sc.forward(np.array([now[1]]))
                marks.append((np.array([now[0]]), t, NOW, f"bold {color}"))
            if len(s.bad):
                top = np.full(len(s.bad), hi - (hi - lo) * 0.02)
                marks.append((s.bad, top, NONFINITE, f"bold {colors['bad']}"))
                bad = [(f"{NONFINITE} ", f"bold {colors['bad']}"), ("inf/nan", "")]
                legend = bad + ([("  ", "")] + legend if legend else [])
        if not len(finite):
            bad_only = bool(drawn) and len(drawn[-1][0].bad) > 0
            note = empty or ("inf or nan at every step so far" if bad_only else "")
            if note:
                title = [*title, (f"  {note}", f"italic {colors['muted']}")]
        # The step axis's ticks fit the width the previous drawing left the curves.
        ticks = step_ticks(extent, max(1, width - plot.margin_left))
        rows = max(2, (height - 1 - margin_bottom - 2) // 2)
        y_ticks, y_labels = sc.ticks(lo, hi, max(3, min(5, rows)))
        margin_left = max(4, max((len(label) for label in y_labels), default=1) + 2)
        body = (
            (width, height, margin_bottom, margin_left, self.app.theme),
            (extent, lo, hi, tuple(ticks), tuple(y_ticks), tuple(y_labels)),
            tuple((x.tobytes(), t.tobytes(), color) for x, t, color in lines),
            tuple((x.tobytes(), t.tobytes(), m, style) for x, t, m, style in marks),
        )
        ready = not (plot._needs_rerender or plot._needs_canvas_resize)
        if ready and plot._scale_rectangle.area and self._drawn.get(plot) == body:
            if (title, legend) != plot.title_parts:
                plot.set_title(title, legend)
                plot.draw_title()
                plot.version += 1
            return
        self._drawn[plot] = body
        plot.clear()
        plot.margin_bottom = margin_bottom
        plot.set_xlimits(0, extent)
        plot.set_ylimits(lo, hi)
        for x, t, color in lines:
            plot.plot(x, t, line_style=color, hires_mode=HiResMode.QUADRANT)
        for x, t, marker, style in marks:
            plot.scatter(x, t, marker=marker, marker_style=style)
        plot.set_axis_ticks("x", [float(t) for t in ticks], [step_label(t) for t in ticks])
        plot.set_axis_ticks("y", y_ticks, y_labels)
        plot.margin_left = margin_left
        plot.set_title(title, legend)
        plot.version += 1
        plot.draw_now()
