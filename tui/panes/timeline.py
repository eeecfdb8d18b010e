"""The timeline pane: one line per computed event, the current one highlighted.

A run can hold millions of events, so this is a Line API widget: it renders only the
visible lines, and builds each from the graph alone. Every step emits the same events in
the same order (:class:`engine.step.layout.StepLayout`), so a line's label is a lookup,
and scrolling never computes or materialises a step.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.step.layout import step_layout
from engine.timeline.timeline import Frame, Timeline
from tui.drawing.restyle import RestyledOnCss

PHASE_WORDS = {"forward": "forward", "loss": "loss", "backward": "backward", "update": "update"}
PHASE_SHORT = {"forward": "fwd", "loss": "loss", "backward": "bwd", "update": "upd"}
BREAKPOINT = "●"
"""Marks the events where a node or phase breakpoint stops."""
DISABLED = "○"
"""Marks the events of a disabled node or phase breakpoint."""
NONFINITE = "✖"
"""Marks the first event where a NaN or an infinity appears."""
MARKS = {"breakpoint": BREAKPOINT, "disabled": DISABLED, "nonfinite": NONFINITE}


def event_label(phase: str, subject: str, loss: str) -> str:
    """What an event is about, in the notation of the chain rule: ``∂L/∂W1`` for a backward."""
    if phase != "backward":
        return subject
    name = subject if subject.isidentifier() else f"({subject})"
    return f"∂{loss}/∂{name}"


class TimelineView(RestyledOnCss, ScrollView, can_focus=False):
    """Every computed event, one per line: ``step 3 · backward · ∂L/∂W1``.

    The app hands it each new frame (:meth:`show`), the number of computed events as the
    worker advances (:meth:`set_computed`) and the marks: node and phase breakpoints and
    the first non-finite event (:meth:`set_marks`).
    What is in view is a function of the cursor alone (see :meth:`_follow_cursor`), so
    stepping back shows exactly what was shown before.
    """

    COMPONENT_CLASSES = {
        "timeline-view--cursor",
        "timeline-view--step",
        "timeline-view--forward",
        "timeline-view--loss",
        "timeline-view--backward",
        "timeline-view--update",
        "timeline-view--breakpoint",
        "timeline-view--disabled",
        "timeline-view--nonfinite",
    }

    # The scrollbar always shows: lines are laid out for a width that must not change as
    # it comes and goes, and whether it shows must not depend on the previous event.
    DEFAULT_CSS = """
    TimelineView {
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
    }
    """

    class EventClicked(Message):
        """The user clicked the line of event ``seq``."""

        def __init__(self, seq: int) -> None:
            self.seq = seq
            super().__init__()

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._timeline: Timeline | None = None
        self._layout: tuple[tuple[str, str], ...] = ()
        self._labels: tuple[str, ...] = ()
        self._label_room = 8
        self._eps = 1
        self._digits = 1
        self._cursor = 0
        self._total = 0
        self._marks: dict[int, str] = {}
        """Position in a step → its mark (``breakpoint`` or ``disabled``)."""
        self._nonfinite: int | None = None
        self._styles: dict[str, Style] = {}
        self._strips: dict[tuple[int, bool, int], Strip] = {}

    # --- attributes down -----------------------------------------------------------------

    def show(self, frame: Frame, timeline: Timeline) -> None:
        """Show ``frame`` as the current event of ``timeline``."""
        if timeline is not self._timeline:
            self._timeline = timeline
            graph = timeline.program.graph
            self._layout = step_layout(graph).events
            self._labels = tuple(event_label(p, s, graph.loss) for p, s in self._layout)
            # Room the long form keeps for labels: every line takes the same form, so that
            # the columns line up whatever the event.
            self._label_room = min(max(map(len, self._labels), default=0), 8)
            self._eps = len(self._layout)
            self._digits = len(str(max(0, timeline.total_steps - 1)))
            self._strips.clear()
            self.refresh()
        was = self._cursor
        self._cursor = frame.seq
        self.set_computed(timeline.computed_events)
        if not self._follow_cursor():
            self.refresh_line(was)  # the list stays put: only the highlight moves
            self.refresh_line(self._cursor)

    @property
    def listed(self) -> int:
        """How many events the list holds (those computed so far)."""
        return self._total

    def set_computed(self, total: int) -> None:
        """Tell the view how many events exist so far."""
        total = max(total, self._cursor + 1)
        if total != self._total:
            was, self._total = self._total, total
            # Not by assigning virtual_size: that lays out the whole screen (and repaints
            # every scrollbar), at every progress report of training ahead. The scrollbar
            # always shows and lines have a fixed width (DEFAULT_CSS): only its thumb moves,
            # and the lines of the new events appear.
            self.set_reactive(TimelineView.virtual_size, Size(0, total))
            if self.is_mounted:
                self._scroll_update(self.virtual_size)
                self.refresh_lines(min(was, total), abs(total - was))

    def set_marks(
        self,
        enabled: Iterable[int] = (),
        disabled: Iterable[int] = (),
        nonfinite: int | None = None,
    ) -> None:
        """Mark events: ● at positions in a step where an enabled breakpoint stops, ○ for a
        disabled one, ✖ at the event ``nonfinite`` (the first NaN or infinity)."""
        marks = {p: "disabled" for p in disabled} | {p: "breakpoint" for p in enabled}
        if marks != self._marks or nonfinite != self._nonfinite:
            self._marks = marks
            self._nonfinite = nonfinite
            self._strips.clear()
            self.refresh()

    # --- scrolling -----------------------------------------------------------------------

    def _follow_cursor(self) -> bool:
        """Scroll so that the cursor is in view; whether the view scrolled.

        The top line is a function of the cursor and the height alone, so that stepping
        back shows exactly what was shown before. It moves in jumps of half a page, with
        at least a quarter of a page above the cursor: the list mostly stays still while
        the highlight moves, which is easier to follow and cheap to redraw.
        """
        height = self.scrollable_content_region.height
        if height <= 0:
            return False
        stride = max(1, height // 2)
        top = (self._cursor - height // 4) // stride * stride
        top = max(0, min(top, self._total - height))
        if top == self.scroll_offset.y:
            return False
        self.scroll_to(y=top, animate=False, immediate=True)
        return True

    def on_resize(self, event: events.Resize) -> None:
        self._follow_cursor()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        seq = self.scroll_offset.y + offset.y
        if 0 <= seq < self._total:
            self.post_message(self.EventClicked(seq))

    # --- rendering -----------------------------------------------------------------------

    def line_text(self, seq: int, width: int) -> list[tuple[str, str]]:
        """The ``(text, component)`` pieces of event ``seq``'s line for a given width."""
        step, pos = divmod(seq, self._eps)
        phase, subject = self._layout[pos]
        label = self._labels[pos]
        marked = "nonfinite" if seq == self._nonfinite else self._marks.get(pos, "breakpoint")
        mark = MARKS[marked] if marked != "breakpoint" or pos in self._marks else " "
        full_prefix = 1 + len(" step ") + self._digits + len(" · backward · ")
        if width >= full_prefix + self._label_room:
            parts = [
                (mark, marked),
                (f" step {step:>{self._digits}} · ", "step"),
                (f"{PHASE_WORDS[phase]:<8}", phase),
                (" · ", "step"),
            ]
        else:
            parts = [
                (mark, marked),
                (f"{step:>{self._digits}} ", "step"),
                (f"{PHASE_SHORT[phase]:<4} ", phase),
            ]
        parts.append((label, ""))
        return parts

    def restyle(self) -> None:
        base = self.rich_style
        partial = {
            name.removeprefix("timeline-view--"): self.get_component_rich_style(name, partial=True)
            for name in self.COMPONENT_CLASSES
        }
        styles = {"": base} | {name: base + style for name, style in partial.items()}
        cursor = styles["cursor"]
        styles |= {f"cursor-{name}": cursor + style for name, style in partial.items()}
        styles["cursor-"] = cursor
        if styles != self._styles:  # first render, or the theme changed
            self._styles = styles
            self._strips.clear()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        seq = self.scroll_offset.y + y
        if seq >= self._total or not self._layout:
            return Strip.blank(width, self._styles[""])
        # A step moves the cursor by one line and scrolls by one: all other visible lines
        # are the ones drawn last time.
        key = (seq, seq == self._cursor, width)
        strip = self._strips.get(key)
        if strip is None:
            if len(self._strips) > 4 * 1024:
                self._strips.clear()
            strip = self._strips[key] = self._render_event(seq, seq == self._cursor, width)
        return strip

    def _render_event(self, seq: int, current: bool, width: int) -> Strip:
        prefix = "cursor-" if current else ""
        styles = self._styles
        base = styles[prefix]
        segments = [Segment(text, styles[prefix + c]) for text, c in self.line_text(seq, width)]
        strip = Strip(segments)
        if strip.cell_length > width > 1:
            strip = strip.crop(0, width - 1) + Strip([Segment("…", base)])
        return strip.crop_extend(0, width, base).apply_offsets(0, seq)

    def snapshot_text(self) -> str:
        """The visible lines as plain text (for tests), the cursor's line marked with ▶."""
        width = self.scrollable_content_region.width
        top = self.scroll_offset.y
        rows = []
        for seq in range(top, min(top + self.scrollable_content_region.height, self._total)):
            text = "".join(t for t, _ in self.line_text(seq, width))
            if len(text) > width:
                text = text[: width - 1] + "…"
            rows.append(("▶" if seq == self._cursor else " ") + text)
        return "\n".join(rows)
