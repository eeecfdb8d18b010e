"""The header: one line with the scenario's title, the cursor's position and a status.

One widget that lays its parts out itself, rather than a row of labels: at start-up each
widget costs two stylings and a layout, and the parts change at every step, which here
repaints one line and never lays the screen out again.
"""

from __future__ import annotations

from textual.app import RenderResult
from textual.content import Content
from textual.widget import Widget

PARTS = ("title", "position", "badge", "status")
"""The header's parts, left to right. The title takes the room the others leave."""
GAP = 2
"""Cells before the position and before the status."""
STATUS_SHARE = 0.6
"""The largest part of the line the status may take (a long one is cut with …)."""


class HeaderBar(Widget):
    """``bpdbg │ <title>`` at the left; position, badge and status at the right.

    The parts on the right are shown whole (the status up to :data:`STATUS_SHARE` of the
    line), and the title is cut with an ellipsis to the room that is left. The badge
    (the debugger's ``✖ NaN at event N``) brings its own leading space when it shows.
    """

    DEFAULT_CSS = """
    HeaderBar {
        height: 1;
        background: $panel;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._parts: dict[str, Content] = dict.fromkeys(PARTS, Content(""))

    def part(self, name: str) -> Content:
        """What part ``name`` (one of :data:`PARTS`) shows now."""
        return self._parts[name]

    def set_part(self, name: str, text: Content) -> None:
        """Show ``text`` in part ``name``; repaint only if it changed."""
        if name not in self._parts:
            raise KeyError(f"the header has no part {name!r}")
        if text != self._parts[name]:
            self._parts[name] = text
            self.refresh()

    def render(self) -> RenderResult:
        width = self.content_region.width
        title, position, badge, status = (self._parts[p] for p in PARTS)
        status = status.truncate(int(width * STATUS_SHARE), ellipsis=True)
        gap = " " * GAP
        right = Content.assemble(gap, position, badge, gap, status)
        title = title.truncate(max(0, width - right.cell_length), ellipsis=True)
        fill = " " * max(0, width - title.cell_length - right.cell_length)
        return Content.assemble(title, fill, right)
