"""The inspector pane (``i``): a tensor's every element as a grid, and the chain rule of one.

Shown in the place of the graph and the panes under it, beside the timeline, so stepping
keeps working while it is open (``n``/``p``/``]``/``[`` are the app's): it follows the
event's node, or the node selected in the graph. The grid shows the value or the
gradient (``tab`` switches), each number as ``bpdbg trace --format text`` writes it, on
a diverging colour scale (hue for the sign, strength for the size); arrows move the
element cursor and scroll a large tensor; ``esc`` closes. Under the grid, the selected
element's forward and backward derivations term by term
(:mod:`engine.report.elementwise`).
"""

from __future__ import annotations

import textwrap

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.color import Color
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from engine import fmt
from engine.timeline.timeline import Frame
from tui.drawing.restyle import RestyledOnCss
from tui.drawing.theme_colors import theme_color
from tui.panes.inspector import grid as ig

MODES = ("value", "gradient")
MIN_GRID_ROWS = 3
"""Grid rows kept in view however long the derivations are (fewer if the tensor has fewer)."""


class InspectorView(RestyledOnCss, Widget, can_focus=True, inherit_bindings=False):
    """One tensor of the current frame, element by element."""

    COMPONENT_CLASSES = {
        "inspector-view--heading",
        "inspector-view--label",
        "inspector-view--note",
        "inspector-view--cursor",
    }

    BINDINGS = [
        Binding("up", "move(-1, 0)", "Up", show=False),
        Binding("down", "move(1, 0)", "Down", show=False),
        Binding("left", "move(0, -1)", "Left", show=False),
        Binding("right", "move(0, 1)", "Right", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "move(-1000000000, -1000000000)", "First", show=False),
        Binding("end", "move(1000000000, 1000000000)", "Last", show=False),
        Binding("tab", "switch_mode", "Value/gradient", show=False),
        Binding("escape", "close", "Close", show=False),
    ]

    class Closed(Message):
        """The user closed the inspector (esc)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.frame: Frame | None = None
        self.node: str | None = None
        self.mode = "gradient"
        self._mode_chosen = False
        """Whether the user has chosen the mode (tab): it then stays while stepping."""
        self.row = 0
        self.col = 0
        self._top = 0
        self._left = 0
        self._grid_rows = 1
        self._grid_cols = 1
        self._lines: list[list[Segment]] = []
        self._styles: dict[str, Style] = {}
        self._scale: dict[int, Style] = {}

    # --- what it shows ----------------------------------------------------------------------

    def show(self, frame: Frame, node: str) -> None:
        """Show ``node`` of ``frame``: the grid follows a new node, keeping the element
        cursor where the new tensor has that element."""
        if node != self.node and not self._mode_chosen:
            self.mode = "gradient" if frame.phase in ("backward", "update") else "value"
        self.frame, self.node = frame, node
        self._rebuild()

    @property
    def index(self) -> tuple[int, ...]:
        """The selected element's index in the tensor."""
        return ig.index_of(self._shape(), self.row, self.col)

    @property
    def array(self) -> np.ndarray | None:
        """The tensor shown (None where it is not computed yet at this event)."""
        if self.frame is None or self.node is None:
            return None
        source = self.frame.values if self.mode == "value" else self.frame.grads
        return source.get(self.node)

    def _shape(self) -> tuple[int, ...]:
        if self.frame is None or self.node is None:
            return ()
        return tuple(self.frame.record.result.values[self.node].shape)

    def title(self) -> str:
        """The pane's title: what tensor is shown."""
        if self.node is None or self.frame is None:
            return "Inspector"
        loss = self.frame.program.graph.loss
        what = self.node if self.mode == "value" else f"∂{loss}/∂{self.node}"
        return f"Inspector · {what} ({fmt.shape(self._shape())})"

    def snapshot_text(self) -> str:
        """The pane as plain text (for tests)."""
        return "\n".join("".join(s.text for s in line) for line in self._lines)

    # --- keys ----------------------------------------------------------------------------------

    def action_move(self, rows: int, cols: int) -> None:
        self.row = max(0, min(self.row + rows, self._grid_rows - 1))
        self.col = max(0, min(self.col + cols, self._grid_cols - 1))
        self._rebuild()

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self._visible_rows), 0)

    def action_switch_mode(self) -> None:
        self.mode = MODES[1 - MODES.index(self.mode)]
        self._mode_chosen = True
        self._rebuild()

    def action_close(self) -> None:
        self._mode_chosen = False
        self.post_message(self.Closed())

    # --- layout --------------------------------------------------------------------------------

    _visible_rows = 1

    def on_resize(self, event: events.Resize) -> None:
        self._rebuild()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle_now())

    def _restyle_now(self) -> None:
        self._styles_stale = True
        self._rebuild()

    def restyle(self) -> None:
        base = self.rich_style
        self._styles = {"": base} | {
            k: base + self.get_component_rich_style(f"inspector-view--{k}", partial=True)
            for k in ("heading", "label", "note", "cursor")
        }
        v = self.app.theme_variables
        # Blended as plain RGB: a tint between two of a terminal's own (ANSI) colours
        # has no ANSI name, and Rich reads none of Textual's (``ansi_red``).
        background = Color(*theme_color(v, "background", "#000000").rgb)
        pos = Color(*theme_color(v, "error", "#d2504f").rgb)
        neg = Color(*theme_color(v, "primary", "#4a90d9").rgb)
        self._scale = {0: base}
        for b in range(1, ig.BANDS + 1):
            alpha = 0.12 + 0.6 * b / ig.BANDS
            self._scale[b] = base + Style(bgcolor=background.blend(pos, alpha).hex)
            self._scale[-b] = base + Style(bgcolor=background.blend(neg, alpha).hex)

    def _rebuild(self) -> None:
        if self._styles_stale and self.is_attached:
            self._styles_stale = False
            self.restyle()
        width, height = self.content_size
        if self.frame is None or self.node is None or width <= 0 or height <= 0:
            return
        shape = self._shape()
        rows, cols = ig.grid_shape(shape)
        self._grid_rows, self._grid_cols = rows, cols
        self.row, self.col = min(self.row, rows - 1), min(self.col, cols - 1)
        arr = self.array
        # The derivations first: the grid gets the room they leave (at least a few rows).
        notes: list[list[Segment]] = []
        for section in ig.derivations(self.frame, self.node, self.index):
            if notes:
                notes.append([])
            notes.append([Segment(section.heading, self._st("heading"))])
            for text in section.lines:
                for piece in textwrap.wrap(
                    text, width, subsequent_indent="    ", break_long_words=False
                ) or [""]:
                    notes.append([Segment(piece, self._st(""))])
        room = height - 3  # the summary, the column labels, a blank line before the notes
        visible = max(min(rows, MIN_GRID_ROWS), min(rows, room - len(notes)))
        self._visible_rows = visible
        self._top = ig.scroll(self._top, visible, rows, self.row)
        lines: list[list[Segment]] = [self._summary(arr)]
        lines += self._grid(arr, shape, width, visible)
        lines.append([])
        lines += notes
        self._lines = lines[:height]
        self.border_title = self.title()
        self.refresh()

    def _summary(self, arr: np.ndarray | None) -> list[Segment]:
        here = ",".join(str(i) for i in self.index)
        other = MODES[1 - MODES.index(self.mode)]
        if arr is None:
            head = f"{self.mode}: {fmt.PENDING} not computed yet at this event"
        else:
            head = f"{self.mode} " + fmt.summary(arr).split(") ", 1)[-1]  # shape: in the title
        tail = f"  [{here}]  tab: {other} · esc"
        return [Segment(head, self._st("heading")), Segment(tail, self._st("note"))]

    def _grid(
        self, arr: np.ndarray | None, shape: tuple[int, ...], width: int, visible: int
    ) -> list[list[Segment]]:
        cols = self._grid_cols
        labels = [ig.row_label(shape, r) for r in range(self._top, self._top + visible)]
        lw = max((len(s) for s in labels), default=0)
        lw = max(lw, len(str(self._top + visible - 1)) if len(shape) >= 2 else 0)
        # The cell width from the numbers that could show: the visible rows' numbers in
        # the columns around the cursor (a few hundred at most, however large the tensor).
        span = min(cols, max(1, (width - lw) // 4))
        lo = max(0, min(self._left, self.col) - span)
        hi = min(cols, max(self._left, self.col) + span + 1)
        b = ig.bands(np.asarray(arr)) if arr is not None else None
        texts: dict[tuple[int, int], str] = {}
        for r in range(self._top, self._top + visible):
            for c in range(lo, hi):
                texts[r, c] = (
                    fmt.num(arr[ig.index_of(shape, r, c)]) if arr is not None else fmt.PENDING
                )
        cw = max([len(t) for t in texts.values()] + [len(str(cols - 1))])
        fit = max(1, (width - lw - 1) // (cw + 1))
        self._left = ig.scroll(self._left, fit, cols, self.col)
        header = [Segment(" " * (lw + 1), self._st(""))]
        for c in range(self._left, min(cols, self._left + fit)):
            label = str(c)
            header.append(Segment(" " * (cw - len(label)), self._st("")))
            header.append(Segment(label + " ", self._st("label")))
        out = [header]
        for k, r in enumerate(range(self._top, self._top + visible)):
            line = [Segment(labels[k].rjust(lw) + " ", self._st("label"))]
            for c in range(self._left, min(cols, self._left + fit)):
                text = texts.get((r, c))
                idx = ig.index_of(shape, r, c)
                if text is None:
                    text = fmt.num(arr[idx]) if arr is not None else fmt.PENDING
                style = (
                    self._scale.get(int(b[idx])) or self._st("") if b is not None else self._st("")
                )
                if (r, c) == (self.row, self.col):
                    style = style + self._st("cursor")
                # The padding a segment of its own: an SVG screenshot drops a segment's
                # leading spaces, which would show the numbers left-aligned.
                line.append(Segment(" " * (cw - len(text)), style))
                line.append(Segment(text, style))
                line.append(Segment(" ", self._st("")))
            out.append(line)
        return out

    def _st(self, name: str) -> Style:
        return self._styles.get(name) or Style()

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        base = self._styles.get("", self.rich_style)
        if y < len(self._lines):
            return Strip(self._lines[y]).crop_extend(0, width, base)
        return Strip.blank(width, base)
