"""One plot of a pane: textual-plot's ``PlotWidget`` with bpdbg's scales and a title row.

textual-plot draws lines and markers at sub-cell resolution with axes and ticks, all
inside Textual (no escape codes to parse back). This subclass adds what the panes need:

- a **title row** in the plot's top margin, with the legend at its right: a legend in
  the margin can never cover the curves, as a floating box would in a pane this small;
- **ticks from** :mod:`tui.drawing.scale` (log and symlog axes, labels like ``1e-3``):
  textual-plot's own axes are linear, so series are given to it already mapped by a
  :class:`~tui.drawing.scale.Scale` and its ticks are labelled in the series' values;
- **no panning or zooming**: the app's keys (``←`` ``→`` ``+`` ``-``) step and set the
  speed, and the plot is never focused.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from textual.message import Message
from textual_hires_canvas import Canvas, TextAlign
from textual_plot import AxisFormatter, PlotWidget


class _Labels(AxisFormatter):
    """Ticks placed by the pane, with the labels it gave them."""

    def __init__(self) -> None:
        self.ticks: list[float] = []
        self.labels: list[str] = []

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        return list(self.ticks)

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        known = dict(zip(self.ticks, self.labels))
        return [known.get(t, "") for t in ticks]


def fit_legend(parts: list[tuple[str, str]], room: int) -> list[tuple[str, str]]:
    """The legend in ``room`` columns: its names (the unstyled parts) shortened with "…"
    longest first, down to a few letters each; nothing if even that does not fit."""
    parts = list(parts)
    while sum(len(t) for t, _ in parts) > room:
        names = [i for i, (t, s) in enumerate(parts) if not s and len(t.strip()) > 4]
        if not names:
            return []
        i = max(names, key=lambda k: len(parts[k][0]))
        text = parts[i][0].rstrip("…")
        parts[i] = (text[: len(text) - 2] + "…", "")
    return parts


class Plot(PlotWidget, can_focus=False):
    """A plot with a title row, explicit ticks and no pan or zoom.

    Args:
        id: The widget's id.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, allow_pan_and_zoom=False)
        self._title: list[tuple[str, str]] = []
        self._legend: list[tuple[str, str]] = []
        self._x_labels = _Labels()
        self._y_labels = _Labels()
        self.set_x_formatter(self._x_labels)
        self.set_y_formatter(self._y_labels)
        self.version = 0
        """Bumped each time the pane plots something new (tests wait on it)."""

    class Resized(Message):
        """The plot has a new size: what it shows may be plotted (again) for it. The
        pane's own resize is not enough: the plots are laid out after it, and the first
        layout gives them their size without resizing the pane."""

    def on_mount(self) -> None:
        super().on_mount()
        self.margin_top = 1  # the title row

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    def set_title(self, parts: list[tuple[str, str]], legend: list[tuple[str, str]]) -> None:
        """The title row: ``(text, style)`` parts at the left, legend entries at the right
        (each a swatch's ``(text, style)``; the legend is dropped before the title is cut)."""
        self._title, self._legend = parts, legend

    @property
    def title_parts(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The title row's parts and legend entries, as :meth:`set_title` was last given."""
        return self._title, self._legend

    def draw_title(self) -> None:
        """Draw the title row again, and nothing else: for a new title over the same
        curves (the canvases of the curves and the axes keep what they hold)."""
        self._render_y_label()

    def set_axis_ticks(self, axis: str, ticks: Sequence[float], labels: Sequence[str]) -> None:
        """Ticks of ``axis`` (``"x"`` or ``"y"``) at plot coordinates, with their labels."""
        target = self._x_labels if axis == "x" else self._y_labels
        target.ticks, target.labels = list(ticks), list(labels)
        (self.set_xticks if axis == "x" else self.set_yticks)(list(ticks))

    def draw_now(self) -> None:
        """Draw what was plotted into the canvases now, rather than when the widget is next
        rendered (textual-plot's way): the canvases then repaint in the same screen update
        as the other panes, not one update later, so a screen is never half old, half new.
        Before the canvases have their size, drawing waits for the render as usual."""
        if self._needs_canvas_resize or not self._scale_rectangle.area:
            return
        self._render_plot()
        self._needs_rerender = False

    def title_text(self) -> str:
        """The title row as plain text (what the user reads; for tests)."""
        return "".join(t for t, _ in self._title) + "  " + "".join(t for t, _ in self._legend)

    def _update_margin_sizes(self) -> None:
        super()._update_margin_sizes()
        # The canvases change size with the margins while the widget keeps its own, and
        # textual-plot resizes its canvases only on a layout refresh of the widget.
        self.refresh(layout=True)

    def _render_y_label(self) -> None:
        # textual-plot writes its y label here; the title row takes its place.
        margin = self.query_one("#margin-top", Canvas)
        margin.reset()
        width = margin.size.width
        if not width:
            return
        title = "".join(f"[{s}]{escape(t)}[/]" if s else escape(t) for t, s in self._title)
        title_len = sum(len(t) for t, _ in self._title)
        legend = fit_legend(self._legend, width - title_len - 2)
        if legend:
            text = "".join(f"[{s}]{escape(t)}[/]" if s else escape(t) for t, s in legend)
            margin.write_text(width - 1, 0, text, TextAlign.RIGHT)
        margin.write_text(0, 0, title, TextAlign.LEFT)
