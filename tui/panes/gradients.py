"""The gradients pane: each layer's gradient norm at the current step, as a bar on a log
scale, with the vanishing and exploding thresholds drawn across the bars.

One row per layer (a layered network's ``W{k}`` and ``b{k}`` together; an expression
graph's parameters one each), every layer, none left out: the bars shrinking from the
output layer back to the input are the picture of vanishing gradients. The flags and
thresholds are :mod:`engine.report.diagnose`'s. A layer's bar appears at the backward events
that compute its gradients, so stepping through the backward pass fills the chart from
the output back; before them the row says the gradient is not computed yet. Below the
bars: the ReLU units that are dead for the whole batch, once their forward event is past.
"""

from __future__ import annotations

import math

from rich.style import Style
from rich.text import Text
from textual.content import Content
from textual.widget import Widget

from engine import fmt
from engine.report.diagnose import (
    EXPLODING_ABS,
    RELU_OPS,
    VANISHING_ABS,
    VANISHING_RATIO,
    LayerHealth,
    dead_units,
    health_of,
)
from engine.timeline.timeline import Frame, Timeline
from tui.drawing import scale
from tui.drawing.theme_colors import style_color, theme_color

EIGHTHS = " ▏▎▍▌▋▊▉█"
"""Partial cells for a bar's end: 0 to 8 eighths."""
THRESHOLD = "┊"
"""A threshold's mark, where no bar covers it."""
PENDING = fmt.PENDING
"""A gradient not computed yet at this event (never ``·``, which means "times")."""
LOWEST_DECADE = -30
"""Bars start at 10⁻³⁰ at the lowest: smaller norms (and zeros) draw no bar."""


def flag_of(layer: LayerHealth) -> str | None:
    """``"vanishing"``, ``"exploding"``, ``"not finite"``, or None when it looks healthy."""
    if layer.nonfinite:
        return "not finite"
    if layer.exploding:
        return "exploding"
    if layer.vanishing:
        return "vanishing"
    return None


def vanishing_threshold(layers: list[LayerHealth]) -> float:
    """The norm below which a layer is flagged vanishing at this step."""
    finite = [r.norm for r in layers if math.isfinite(r.norm)]
    return max(VANISHING_ABS, VANISHING_RATIO * max(finite, default=0.0))


def decades(layers: list[LayerHealth]) -> tuple[int, int]:
    """The scale's ends, as powers of ten: both thresholds with a decade to spare, and
    every finite positive norm."""
    logs = [math.log10(r.norm) for r in layers if math.isfinite(r.norm) and r.norm > 0]
    exploding = math.log10(EXPLODING_ABS)
    lo = math.floor(min([math.log10(vanishing_threshold(layers)) - 1, exploding - 1, *logs]))
    hi = math.ceil(max([exploding + 1, *logs]))
    return max(LOWEST_DECADE, lo), max(hi, max(LOWEST_DECADE, lo) + 1)


def column_of(value: float, lo: int, hi: int, width: int) -> float:
    """Where ``value`` falls along a track of ``width`` cells from 10^lo to 10^hi."""
    if not value > 0:
        return 0.0
    if not math.isfinite(value):
        return float(width)
    return min(float(width), max(0.0, (math.log10(value) - lo) / (hi - lo) * width))


def bar(value: float, lo: int, hi: int, width: int) -> str:
    """A bar of eighth-blocks reaching ``value`` (inf fills the track), padded to ``width``."""
    eighths = round(column_of(value, lo, hi, width) * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (EIGHTHS[part] if part and full < width else "")
    return text.ljust(width)


class GradientsView(Widget):
    """Per-layer gradient norms at the current step, with flags; dead ReLU units.

    The app hands it each frame (:meth:`show`), as it does the panes.
    """

    DEFAULT_CSS = """
    GradientsView {
        height: auto;
        padding: 0 1;
    }
    """

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._key: tuple | None = None
        self._record_key: tuple[int, int] | None = None
        self._layers: list[LayerHealth] = []
        self._known: list[bool] = []
        self._dead: dict[str, list[int]] | None = None
        """Dead units of each ReLU node reached so far; None when the graph has no ReLU."""
        self._names: list[str] = []
        self._laid_rows = -1
        """The rows the pane was last laid out for (see :meth:`show`)."""

    def show(self, frame: Frame, timeline: Timeline) -> None:
        """Show the gradients known at ``frame`` (computed once per step)."""
        record = frame.record
        graph = frame.program.graph
        if (id(record), frame.step) != self._record_key:
            self._record_key = (id(record), frame.step)
            self._layers = health_of(graph, dict(record.result.grads))
            self._names = [
                layer.name.removeprefix("layer ") if graph.kind == "model" else layer.name
                for layer in self._layers
            ]
        known = [all(record.grad_at[p] <= frame.pos for p in r.params) for r in self._layers]
        has_relu = any(n.op in RELU_OPS for n in graph.nodes)
        dead = dead_units(frame) if has_relu else None
        key = (self._record_key, tuple(known), repr(dead))
        if key == self._key:
            return
        self._key = key
        self._known, self._dead = known, dead
        # The pane's height follows its rows (height: auto): a layout only when their
        # number changes. Every layout reflows the whole screen and repaints every
        # scrollbar, which would cost a step more than everything else it draws.
        rows = self._rows()
        self.refresh(layout=rows != self._laid_rows)
        self._laid_rows = rows
        self._legend(frame.step)

    def _legend(self, step: int) -> None:
        """The border's subtitle: the step, and which threshold mark is which."""
        s = self._styles()
        self.border_subtitle = Content.assemble(
            (f"step {step:,} ", str(s["muted"])),
            (THRESHOLD, str(s["vanishing"])),
            ("vanishing ", str(s["muted"])),
            (THRESHOLD, str(s["exploding"])),
            ("exploding", str(s["muted"])),
        )

    @property
    def flags(self) -> list[str]:
        """What is flagged now, as plain words (for tests): ``"layer 1 vanishing"``…"""
        out = [
            f"{layer.name} {flag}"
            for layer, known in zip(self._layers, self._known)
            if known and (flag := flag_of(layer)) is not None
        ]
        out += [f"{node} dead {units}" for node, units in (self._dead or {}).items() if units]
        return out

    def _styles(self) -> dict[str, Style]:
        v = self.app.theme_variables

        def color(name: str, fallback: str) -> str:
            return style_color(theme_color(v, name, fallback))

        return {
            "bar": Style(color=color("phase-backward", "text-accent")),
            "vanishing": Style(color=color("text-warning", "warning")),
            "exploding": Style(color=color("text-error", "error")),
            "muted": Style(color=color("foreground-muted", "foreground")),
            "bold": Style(bold=True),
        }

    def _rows(self) -> int:
        """Rows of content: the scale, one per layer, and the dead units' row (if ReLU)."""
        rows = len(self._layers) + 1
        if self._dead is not None:
            rows += 1
        return max(1, rows)

    def get_content_height(self, container, viewport, width: int) -> int:
        return self._rows()

    def render(self) -> Text:
        width = self.content_region.width
        s = self._styles()
        text = Text(no_wrap=True, overflow="ellipsis")
        if not self._layers:
            return text
        name_w = min(8, max(len(n) for n in self._names))
        value_w = 8
        track = max(4, width - name_w - value_w - 3)
        lo, hi = decades(self._layers)
        v_col = int(column_of(vanishing_threshold(self._layers), lo, hi, track))
        e_col = int(column_of(EXPLODING_ABS, lo, hi, track))
        text.append_text(self._scale_row(name_w, track, lo, hi, v_col, e_col, s))
        for name, layer, known in zip(self._names, self._layers, self._known):
            text.append("\n")
            label = (name if len(name) <= name_w else name[: name_w - 1] + "…").rjust(name_w)
            text.append(label, s["muted"] if not known else s["bold"])
            text.append(" ")
            flag = flag_of(layer) if known else None
            style = (
                s["bar"] if flag is None else s["vanishing" if flag == "vanishing" else "exploding"]
            )
            cells = bar(layer.norm, lo, hi, track) if known else " " * track
            marks = {v_col: s["vanishing"], e_col: s["exploding"]}
            for i, c in enumerate(cells):
                mark = marks.get(i)
                if mark is None:
                    text.append(c, style)
                elif c == " ":
                    text.append(THRESHOLD, mark)
                else:  # the threshold crosses the bar: its mark on the bar's colour
                    text.append(THRESHOLD, mark + Style(bgcolor=style.color, bold=True))
            if known:
                value = scale.number(layer.norm, 2)
                text.append(" " + value.rjust(value_w - 1), style if flag else s["muted"])
                text.append("⚠" if flag else " ", style)
            else:
                text.append(" " + PENDING.rjust(value_w - 1) + " ", s["muted"])
        if self._dead is not None:
            text.append("\n")
            dead = {node: units for node, units in self._dead.items() if units}
            if not self._dead:  # no ReLU node's forward event yet in this step
                text.append(f"dead ReLU units {PENDING}", s["muted"])
            elif not dead:
                text.append("no dead ReLU units", s["muted"])
            else:
                parts = [f"{node} {', '.join(map(str, units))}" for node, units in dead.items()]
                text.append("dead ReLU ", s["vanishing"] + s["bold"])
                text.append("; ".join(parts))
        return text

    def _scale_row(
        self,
        name_w: int,
        track: int,
        lo: int,
        hi: int,
        v_col: int,
        e_col: int,
        s: dict[str, Style],
    ) -> Text:
        """The decades along the track, and which mark is which threshold."""
        row = [" "] * track
        styles: list[Style | None] = [None] * track
        # Decade labels, left to right, wherever one fits without touching the last.
        step = max(1, math.ceil((hi - lo) / max(1, track // 6)))
        free = 0
        for k in range(lo, hi + 1, step):
            label = scale.decade(k)
            col = int(column_of(10.0**k, lo, hi, track))
            start = min(max(col, free), track - len(label))
            if start < free or start < 0:
                continue
            row[start : start + len(label)] = label
            for i in range(start, start + len(label)):
                styles[i] = s["muted"]
            free = start + len(label) + 1
        out = Text(" " * (name_w + 1))
        for c, st in zip(row, styles):
            out.append(c, st)
        return out
