"""The chain-rule pane: the derivation, with numbers, of the current event.

It renders what :func:`engine.report.explain.explain` says about a frame, styling each part
by its role (names, numbers, operators, gradients, parameters). Long lines wrap at
spaces, never inside a number, and continue indented under their first line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.content import Content
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.fmt import printable
from engine.report.explain import Line, explain
from engine.timeline.timeline import Frame, Timeline
from tui.drawing.restyle import RestyledOnCss
from tui.panes.chain_rule.gradcheck import GradcheckSection

Fragment = tuple[str, str]
"""``(text, role)``, as in :class:`engine.report.explain.Line` parts."""

_PIECES = re.compile(r"\s+|\S+")
ROLES = ("name", "num", "op", "grad", "param", "ok", "bad")
KINDS_STYLED = ("title", "note", "sum", "state")
CONTINUATION = 4
"""Extra indent of a wrapped line's continuation."""


def wrap(parts: Sequence[Fragment], width: int) -> list[list[Fragment]]:
    """Wrap a line's parts to ``width`` cells, breaking only at whitespace.

    Text without whitespace between parts (``x·W1``) stays together, so a number is never
    cut; only a word wider than the whole line is split. Continuation lines are indented
    by the line's own indent plus :data:`CONTINUATION`.
    """
    width = max(width, 8)
    words: list[list[Fragment]] = []  # alternating runs: spaces are one-fragment words
    for text, role in parts:
        for piece in _PIECES.findall(text):
            if words and not piece.isspace() and not words[-1][-1][0].isspace():
                words[-1].append((piece, role))
            else:
                words.append([(piece, role)])
    lead = ""
    if words and words[0][0][0].isspace():
        lead = words.pop(0)[0][0]
    indent = " " * min(cell_len(lead) + CONTINUATION, width // 3)
    lines: list[list[Fragment]] = []
    cur: list[Fragment] = [(lead, "")] if lead else []
    cur_w = cell_len(lead)
    filled = False  # whether ``cur`` holds a word yet (not just indent)
    space: Fragment | None = None

    def newline() -> None:
        nonlocal cur, cur_w, filled
        lines.append(cur)
        cur, cur_w, filled = [(indent, "")], len(indent), False

    widths = [sum(cell_len(t) for t, _ in word) for word in words]
    for i, word in enumerate(words):
        if word[0][0].isspace():
            space = word[0]
            continue
        w = need = widths[i]
        if _is_operator(word) and i + 2 < len(words):
            need += widths[i + 1] + widths[i + 2]  # an operator begins a line, never ends one
        gap = cell_len(space[0]) if space and filled else 0
        if cur_w + gap + need > width and filled:
            newline()
            gap = 0
        if gap and space:
            cur.append(space)
            cur_w += gap
        for text, role in word:  # a word wider than a line is the one thing split
            while cur_w + cell_len(text) > width:
                room = max(1, width - cur_w)
                cur.append((text[:room], role))
                newline()
                text = text[room:]
            cur.append((text, role))
            cur_w += cell_len(text)
        filled = True
        space = None
    lines.append(cur)
    return lines


def _is_operator(word: list[Fragment]) -> bool:
    text = "".join(t for t, _ in word)
    return len(text) <= 2 and not any(c.isalnum() for c in text)


class ChainRuleView(RestyledOnCss, ScrollView, can_focus=True, inherit_bindings=False):
    """The current event's derivation: formulas with their numbers, one line each."""

    COMPONENT_CLASSES = {
        *(f"chain-rule-view--{r}" for r in ROLES),
        *(f"chain-rule-view--{k}" for k in KINDS_STYLED),
    }

    # The scrollbar always shows: lines are laid out for a width that must not change as
    # it comes and goes, and whether it shows must not depend on the previous event.
    DEFAULT_CSS = """
    ChainRuleView {
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
    }
    """

    BINDINGS = [
        Binding("up", "scroll_up", "Scroll up", show=False),
        Binding("down", "scroll_down", "Scroll down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._lines: list[Line] = []
        self._section: list[Line] = []
        """Lines below the derivation: the gradient check at a parameter's backward event."""
        self.gradcheck = GradcheckSection(self, self.set_section)
        self.following: str | None = None
        """The graph's selected node whose latest event is shown (None: the cursor's)."""
        self._wrapped: list[tuple[str, list[Fragment]]] = []
        self._wrap_width = -1
        self._base = Style()
        self._styles: dict[str, Style] = {}

    def show(self, frame: Frame, timeline: Timeline) -> None:
        """Explain ``frame``'s event."""
        if self.following is not None:
            self.following = None
            self.border_subtitle = ""
        was, width = self._wrapped, self._wrap_width
        self._lines = explain(frame)
        self._section = self.gradcheck.lines(frame, timeline)
        self._rewrap(force=True)
        self.scroll_to(y=0, animate=False, immediate=True)  # repaints all if it scrolls
        if width != self._wrap_width or width <= 0:
            self.refresh()
            return
        # Consecutive events often share lines (a heading, the blank rows below the
        # text): repaint only the lines that changed, which is what a step costs most.
        now, top = self._wrapped, self.scroll_offset.y
        for y in range(top, top + self.scrollable_content_region.height):
            if (was[y] if y < len(was) else None) != (now[y] if y < len(now) else None):
                self.refresh_line(y)

    def show_node_event(self, node: str, frame: Frame, timeline: Timeline) -> None:
        """Explain ``frame``, the latest event of ``node`` (selected in the graph), in
        place of the cursor's, saying so in the subtitle until :meth:`show` is called."""
        self.show(frame, timeline)
        self.border_subtitle = Content(
            printable(f"{node} · event {frame.seq:,} · esc: back to the cursor")
        )
        self.following = node

    def set_section(self, lines: list[Line]) -> None:
        """Replace the lines below the derivation, where the view is scrolled to now."""
        self._section = lines
        self._rewrap(force=True)
        self.refresh()

    def _rewrap(self, force: bool = False) -> None:
        width = self.scrollable_content_region.width
        if width <= 0 or (width == self._wrap_width and not force):
            return
        if width != self._wrap_width and self._section:
            relaid = self.gradcheck.relayout()  # its table is laid out for the width
            if relaid is not None:
                self._section = relaid
        self._wrap_width = width
        self._wrapped = [
            (line.kind, piece)
            for line in (*self._lines, *self._section)
            for piece in wrap(line.parts, width)
        ]
        size = Size(0, len(self._wrapped))
        if size != self.virtual_size:
            # Setting virtual_size lays out the whole screen, which would cost more than
            # the rest of a step. The scrollbar always shows and the width is fixed (see
            # DEFAULT_CSS), so a new length changes only the scrollbar's thumb; and while
            # the text fits (most events), the thumb fills the bar whatever the length.
            window = self.scrollable_content_region.height
            fits = self.virtual_size.height < window and size.height < window
            self.set_reactive(ChainRuleView.virtual_size, size)
            if not fits:
                self._scroll_update(size)

    def on_resize(self, event: events.Resize) -> None:
        self._rewrap()
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        # The screen's first frame is drawn in the pass that first lays it out, before
        # any pane has heard of its size: wrap for the width being drawn.
        if self.scrollable_content_region.width != self._wrap_width:
            self._rewrap()
        return super().render_lines(crop)

    def restyle(self) -> None:
        self._base = self.rich_style
        self._styles = {"": Style()} | {
            name: self.get_component_rich_style(f"chain-rule-view--{name}", partial=True)
            for name in (*ROLES, *KINDS_STYLED)
        }
        self._styles["hint"] = self._styles["note"]  # a pointer to a key, worded as a note

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base, styles = self._base, self._styles
        i = self.scroll_offset.y + y
        if i >= len(self._wrapped):
            return Strip.blank(width, base)
        kind, fragments = self._wrapped[i]
        plain = styles[""]
        line_style = base + styles.get(kind, plain)
        segments = [Segment(t, line_style + styles.get(role, plain)) for t, role in fragments]
        return Strip(segments).crop_extend(0, width, base)

    def snapshot_text(self) -> str:
        """Every wrapped line as plain text (for tests)."""
        return "\n".join("".join(t for t, _ in frags) for _, frags in self._wrapped)
