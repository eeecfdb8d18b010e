"""The graph pane's widget: the whole graph, fitted to the pane, with the current frame.

The screen calls :meth:`GraphView.show` with each new frame. The pane picks by itself the
most detailed rendering that fits its room (:func:`.layout.choose`) and shows it with the
Line API; zooming in shows more detailed renderings, larger than the pane, scrolled to
the node in focus; panning scrolls them. Clicking a node, or ``enter`` on the node chosen
with ``up``/``down``, posts :class:`GraphView.NodeSelected`. ``left``/``right`` are left
to the app, which steps with them.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.graph.graph import Graph
from engine.timeline.timeline import Frame, Timeline
from tui.panes.graph.layout import choose
from tui.panes.graph.neurons import neurons_possible
from tui.panes.graph.plan import Plan
from tui.panes.graph.render import DEFAULT_PALETTE, Palette, Row, render_rows, segments

PAN_STEP = (8, 3)
"""Columns and rows one pan moves."""


class GraphView(ScrollView, can_focus=True, inherit_bindings=False):
    """The computation graph, with the current frame's values and gradients."""

    DEFAULT_CSS = """
    GraphView {
        width: 1fr;
        height: 1fr;
        overflow: hidden hidden;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Previous node", show=False),
        Binding("down", "move(1)", "Next node", show=False),
        Binding("enter", "choose", "Select node", show=False),
    ]

    class NodeSelected(Message):
        """The user selected a node (by click, or ``enter``)."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name
            """The selected node's name."""

    class PlanChanged(Message):
        """The rendering changed (a new graph, room, view or zoom): the app's footer and
        the pane's subtitle follow it."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._frame: Frame | None = None
        self._graph: Graph | None = None
        self._plans: dict = {}
        self._plan: Plan | None = None
        self._index = 0
        self._overview = 0
        self._room = Size(0, 0)
        self._view = "neurons"
        self._zoom = 0
        self._sample = 0
        self._selected: str | None = None
        self._rows: list[Row] = []
        self._strips: dict[tuple, Strip] = {}
        self._pass: tuple[Style, int] | None = None
        self._style_stale = True
        self._focus: str | None = None
        self._palette = DEFAULT_PALETTE

    # --- what the app reads ------------------------------------------------------------

    @property
    def plan(self) -> Plan | None:
        """The rendering on screen (None before the first :meth:`show`)."""
        return self._plan

    @property
    def selected(self) -> str | None:
        """The selected node's name."""
        return self._selected

    @property
    def zoomed(self) -> bool:
        """Whether the pane shows more detail than fits (zoom back with :meth:`overview`)."""
        return self._index < self._overview

    @property
    def can_zoom_in(self) -> bool:
        """Whether there is a more detailed rendering than the one shown."""
        return self._plan is not None and self._index > 0

    @property
    def view(self) -> str:
        """``"neurons"`` or ``"layers"``: the view asked for."""
        return self._view

    @property
    def has_neurons(self) -> bool:
        """Whether the graph is a layered network small enough to draw neuron by neuron."""
        return self._graph is not None and neurons_possible(self._graph)

    @property
    def can_switch_view(self) -> bool:
        """Whether both views fit: a layered network small enough for its neurons."""
        if self._graph is None or not neurons_possible(self._graph):
            return False
        if self._view == "neurons":
            return self._plan is not None and self._plan.view == "neurons"
        plan, _, _ = self._choose("neurons", 0)
        return plan.view == "neurons"

    @property
    def has_samples(self) -> bool:
        """Whether the rendering shows one sample of several (the neuron view)."""
        if self._plan is None or not self._plan.per_sample or self._frame is None:
            return False
        return len(self._frame.values.get("x", ())) > 1

    def describe(self) -> str:
        """For the pane's subtitle: how to get back when zoomed, or around when the graph
        does not fit; else nothing (the whole graph is in view)."""
        if self._plan is None:
            return ""
        if self.zoomed:
            return "zoomed · ⇧arrows pan · Z overview"
        if not self._plan.fits(self._room.width, self._room.height):
            return "too large to fit · ⇧arrows pan"
        return ""

    # --- what the app does --------------------------------------------------------------

    def show(self, frame: Frame, timeline: Timeline | None = None) -> None:
        """Draw ``frame``; when zoomed, scroll its event's node into view.

        Args:
            frame: The state to draw.
            timeline: The run it belongs to (unused: everything drawn is in the frame).
        """
        graph = frame.program.graph
        self._frame = frame
        if graph is not self._graph:
            self._graph = graph
            self._plans = {}
            self._zoom = 0
            self._view = "neurons" if neurons_possible(graph) else "layers"
            if self._selected is not None and self._selected not in graph.by_name:
                self._selected = None
            self._replan()
        self._redraw()
        self._reveal(self._focus_node())

    def select(self, name: str | None) -> None:
        """Highlight ``name`` as the selection without posting a message."""
        if name is not None and self._graph is not None and name not in self._graph.by_name:
            return
        self._selected = name
        self._redraw()
        self._reveal(name)

    def zoom_in(self) -> None:
        """One rendering more detailed, scrolled to the selected (or current) node."""
        if self.can_zoom_in:
            self._zoom += 1
            self._replan()

    def overview(self) -> None:
        """Back to the most detailed rendering that fits."""
        if self._zoom:
            self._zoom = 0
            self._replan()

    def switch_view(self) -> None:
        """Neurons ↔ layers, where both fit."""
        if self.can_switch_view:
            self._view = "layers" if self._view == "neurons" else "neurons"
            self._zoom = 0
            self._replan()

    def next_sample(self) -> None:
        """Show the next sample of the batch in the neuron view."""
        if self.has_samples and self._frame is not None:
            n = len(self._frame.values["x"])
            self._sample = (min(self._sample, n - 1) + 1) % n
            self._redraw()

    def pan(self, dx: int, dy: int) -> None:
        """Scroll a zoomed (or overflowing) drawing by ``dx``, ``dy`` pan steps."""
        self.scroll_to(
            self.scroll_x + dx * PAN_STEP[0],
            self.scroll_y + dy * PAN_STEP[1],
            animate=False,
            immediate=True,
            force=True,
        )

    # --- choosing the rendering ----------------------------------------------------------

    def _choose(self, view: str, zoom: int) -> tuple[Plan, int, int]:
        assert self._graph is not None
        width, height = self._room
        return choose(
            self._graph, max(1, width), max(1, height), view=view, zoom=zoom, cache=self._plans
        )

    def _replan(self) -> None:
        """Choose the rendering again (new graph, room, view or zoom)."""
        if self._graph is None or not self._room.area:
            return
        plan, self._index, self._overview = self._choose(self._view, self._zoom)
        self._zoom = self._overview - self._index
        if plan is self._plan:
            return
        self._plan = plan
        self._rows = []
        self._strips.clear()
        self.virtual_size = Size(plan.width, plan.height)
        self._redraw()
        self.scroll_to(0, 0, animate=False, immediate=True, force=True)
        self._reveal(self._focus_node())
        self.refresh(layout=True)
        self.post_message(self.PlanChanged())

    def _set_room(self, room: Size) -> None:
        if room != self._room:
            self._room = room
            self._replan()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        # With height: auto the pane is as tall as its drawing, up to its max-height: the
        # rendering is chosen for that most, then the pane shrinks to it.
        most = self._extrema.max_height  # resolved by Textual just before this call
        room_h = int(most) if most is not None else container.height
        self._set_room(Size(width, max(1, room_h)))
        if self._plan is None:
            return 1
        return min(self._plan.height, room_h)

    def on_resize(self) -> None:
        size = self.scrollable_content_region.size
        if self.styles.height is not None and self.styles.height.is_auto:
            self._set_room(Size(size.width, max(self._room.height, size.height)))
        else:
            self._set_room(size)
        self._reveal(self._focus_node())

    def _focus_node(self) -> str | None:
        if self.zoomed and self._selected is not None:
            return self._selected
        return self._frame.event.subject if self._frame is not None else None

    # --- drawing ---------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._palette = Palette.from_theme(self.app.theme_variables)
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        self._palette = Palette.from_theme(self.app.theme_variables)
        self._redraw()

    def _redraw(self) -> None:
        if self._plan is None:
            return
        old = self._rows
        self._rows = render_rows(
            self._plan, self._frame, self._selected, sample=self._sample, palette=self._palette
        )
        if len(old) != len(self._rows):
            self._strips.clear()
            self.refresh()
            return
        # An event changes a few numbers and highlights: repaint only the rows that
        # changed, and keep the strips of the others.
        changed = {y for y, (was, now) in enumerate(zip(old, self._rows)) if was != now}
        if changed:
            self._strips = {k: s for k, s in self._strips.items() if k[0] not in changed}
            for y in changed:
                self.refresh_line(y)

    def _reveal(self, node: str | None) -> None:
        """Scroll so that ``node`` is in view, when the drawing is larger than the pane.

        The offset depends only on the node and the pane's size (the least scroll from
        the origin that shows it), never on where the pane was scrolled before, so that
        stepping back shows exactly what was shown before.
        """
        if self._plan is None or node is None:
            return
        window = self.scrollable_content_region.size
        if not window.area or self._plan.fits(window.width, window.height):
            return
        area = self._plan.area(node)
        if area is None:
            return
        region = Region(*area)
        x = min(region.x, max(0, region.right - window.width))
        y = min(region.y, max(0, region.bottom - window.height))
        self.scroll_to(x, y, animate=False, immediate=True, force=True)

    @property
    def allow_horizontal_scroll(self) -> bool:
        # No scrollbars (they would change the room the rendering is chosen for), but the
        # mouse wheel still scrolls a drawing larger than the pane.
        return self.virtual_size.width > self.scrollable_content_region.width

    @property
    def allow_vertical_scroll(self) -> bool:
        return self.virtual_size.height > self.scrollable_content_region.height

    def render_lines(self, crop: Region) -> list[Strip]:
        # Looked up once per pass: each lookup walks the CSS, and there is one per line.
        # The style only after a style update (a theme, focus), not on every step.
        style = self._pass[0] if self._pass is not None and not self._style_stale else None
        self._style_stale = False
        self._pass = (style or self.rich_style, self.scrollable_content_region.width)
        return super().render_lines(crop)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_stale = True

    def render_line(self, y: int) -> Strip:
        style, width = self._pass or (self.rich_style, self.scrollable_content_region.width)
        scroll_x, scroll_y = self.scroll_offset
        line = y + scroll_y
        if line >= len(self._rows):
            return Strip.blank(width, style)
        key = (line, scroll_x, width, style)
        strip = self._strips.get(key)
        if strip is None:
            strip = Strip(segments(self._rows[line], scroll_x, scroll_x + width, style), width)
            if len(self._strips) > 4 * len(self._rows):  # scrolled a lot without a step
                self._strips.clear()
            self._strips[key] = strip
        return strip

    # --- input ---------------------------------------------------------------------------

    def on_click(self, event: Click) -> None:
        if self._plan is None:
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return
        scroll = self.scroll_offset
        node = self._plan.node_at(offset.x + scroll.x, offset.y + scroll.y)
        if node is not None:
            self.select(node)
            self.post_message(self.NodeSelected(node))

    def action_move(self, delta: int) -> None:
        if self._plan is None or not self._plan.order:
            return
        order = self._plan.order
        if self._selected in order:
            i = (order.index(self._selected) + delta) % len(order)
        else:
            subject = self._frame.event.subject if self._frame is not None else None
            i = order.index(subject) if subject in order else 0
        self.select(order[i])

    def action_choose(self) -> None:
        if self._selected is not None:
            self.post_message(self.NodeSelected(self._selected))
