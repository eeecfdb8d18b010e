"""What makes the app a debugger: breakpoints, continue and reverse-continue, playing
that stops at them, and the stop at the first non-finite number.

:class:`Debugger` is a mixin of :class:`tui.app.BpdbgApp`; it owns the breakpoint list
and the search, and leaves layout and stepping to the app module. Finding the next hit
is :func:`engine.debug.search.find_next`; a search that may compute steps or evaluate
conditions over many steps runs in a thread worker that only posts :class:`SearchDone`,
and pressing ``c`` (or ``C``, or ``esc``) again cancels it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import work
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.worker import get_current_worker

from engine.fmt import printable
from engine.report.diagnose import first_nonfinite_event, nonfinite_cause
from engine.timeline.timeline import Frame, Timeline
from tui.pacing import cancel_check

if TYPE_CHECKING:
    from textual.app import App
    from textual.timer import Timer

    from engine.debug.breakpoints import Breakpoint, BreakpointPlan, Hit
    from tui.panes.header import HeaderBar
    from tui.panes.timeline import TimelineView

    _Base = App[int]
else:
    _Base = object

SPEEDS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
"""Play speeds, in events per second, that ``+`` and ``-`` step through."""
DEFAULT_SPEED = 20
MAX_TICKS_PER_SECOND = 50
"""Above this many events per second, playing moves several events per tick."""
HEADER_SPARE = 14
"""Header cells the hit's reason leaves to the title and the margins."""
ICONS = {"node": "●", "phase": "●", "condition": "◆", "nonfinite": "✖"}


class SearchDone(Message):
    """A search for the next (or previous) hit has finished.

    Attributes:
        timeline: The run searched (a reply about a run no longer open is ignored).
        direction: ``+1`` (continue) or ``-1`` (reverse-continue).
        hit: Where it stopped, or None when nothing hit.
        last_step: The last step searched forward (or the first, backwards).
        error: Why the search could not run (a condition that no longer compiles).
        token: Which search this answers (a cancelled one may answer late).
    """

    def __init__(
        self,
        timeline: Timeline,
        direction: int,
        hit: Hit | None,
        last_step: int,
        error: str | None = None,
        token: int = 0,
    ) -> None:
        self.timeline = timeline
        self.direction = direction
        self.hit = hit
        self.last_step = last_step
        self.error = error
        self.token = token
        super().__init__()


def search(
    timeline: Timeline,
    start: int,
    breakpoints: tuple[Breakpoint, ...],
    stop_on_nonfinite: bool,
    direction: int,
    cancelled: Callable[[], bool] | None = None,
) -> SearchDone:
    """Find the nearest hit from event ``start`` (training ahead as needed)."""
    # engine.debug.search loads with the first breakpoint or search, not with the app.
    from engine.debug.errors import BreakpointError
    from engine.debug.search import find_next

    try:
        hit = find_next(
            timeline,
            start,
            breakpoints,
            direction=direction,
            compute=True,
            stop_on_nonfinite=stop_on_nonfinite,
            cancelled=cancelled,
        )
    except BreakpointError as err:
        return SearchDone(timeline, direction, None, 0, str(err))
    except Exception as err:  # a condition that fails on these numbers must not end the app
        return SearchDone(timeline, direction, None, 0, f"The search stopped: {_why(err)}")
    last = timeline.total_steps - 1 if direction > 0 else 0
    return SearchDone(timeline, direction, hit, last)


def _why(err: Exception) -> str:
    """An unexpected error in one line: its kind and message."""
    return f"{type(err).__name__}: {err}"


def nonfinite_badge(found: tuple[int, str]) -> str:
    """The header's word for a non-finite event: ``✖ NaN at event 398``."""
    what = found[1]
    kind = "NaN" if "nan" in what else "inf" if "inf" in what else "NaN/inf"
    return f"  ✖ {kind} at event {found[0]:,}"


class Debugger(_Base):
    """Breakpoints, ``c``/``C``, play that stops at hits, and the play speed."""

    if TYPE_CHECKING:  # provided by the app
        timeline: Timeline
        cursor: int
        playing: bool
        frame: Frame | None
        selected: str | None
        timeline_view: TimelineView
        _player: Timer | None
        _cursor_blink: bool
        header: HeaderBar

        @property
        def last(self) -> int: ...
        def _update_status(self) -> None: ...

    breakpoints: reactive[tuple[Breakpoint, ...]] = reactive((), init=False, repaint=False)
    """Where ``c`` and ``C`` stop (and playing): node, phase and condition breakpoints,
    each enabled or not, in the order they were set (the first wins at one event)."""
    stop_on_nonfinite: reactive[bool] = reactive(True, init=False, repaint=False)
    """Whether ``c`` and playing also stop at the first event holding a NaN or inf."""
    speed: reactive[int] = reactive(DEFAULT_SPEED, init=False, repaint=False)
    """Events per second while playing."""

    _searching = 0
    """The direction of the search running now; 0 when none is."""
    _search_token = 0
    """Counts searches, so that a late answer to a cancelled one is ignored."""
    _hit: tuple[Timeline, Hit] | None = None
    """The last place a search or playing stopped, and why."""
    _plan: BreakpointPlan | None = None
    """The breakpoints placed in the open run's steps: where playing stops."""
    _marks: tuple[frozenset[int], frozenset[int]] = (frozenset(), frozenset())
    """Positions in a step marked ● (enabled) and ○ (disabled) in the timeline."""
    _marks_shown: tuple[frozenset[int], frozenset[int], int | None] | None = None
    _per_tick = 1

    # --- state -----------------------------------------------------------------------------

    def _debugger_start(self) -> None:
        """A new timeline is shown: forget the last hit and any search, mark the events."""
        self._cancel_search(quiet=True)
        self._hit = None
        self.watch_breakpoints(self.breakpoints)

    def watch_breakpoints(self, breakpoints: tuple[Breakpoint, ...]) -> None:
        if not breakpoints:  # the debugger's engine loads with the first breakpoint
            self._plan = None
            self._marks = (frozenset(), frozenset())
            self._show_marks(self._nonfinite())
            self.timeline_view.border_subtitle = ""
            return
        from engine.debug.breakpoints import BreakpointPlan

        def refused(bp: Breakpoint, err: Exception) -> None:
            # A condition from a file (or for another graph) must not end the app.
            from engine.debug.errors import BreakpointError

            why = str(err) if isinstance(err, BreakpointError) else _why(err)
            self.notify(f"{bp.describe()}: {why}", severity="error", timeout=6)

        plan = BreakpointPlan.of(breakpoints, self.timeline.program.graph, on_error=refused)
        self._plan = plan
        self._marks = (plan.marks, plan.disabled_marks)
        self._show_marks(self._nonfinite())
        shown = [bp.describe() for bp in breakpoints if bp.enabled]
        # Conditions come from files and may hold brackets (C[ix] > 0): never markup.
        self.timeline_view.border_subtitle = (
            Content(printable(f"● {', '.join(shown)}")) if shown else ""
        )

    def _nonfinite(self) -> tuple[int, str] | None:
        """The first event of the computed run holding a NaN or inf (cached by the engine)."""
        if self.timeline.first_nonfinite_step is None and self.timeline.parent is None:
            return None  # the common case, without a lock
        return first_nonfinite_event(self.timeline)

    def _show_marks(self, found: tuple[int, str] | None = None) -> None:
        """Hand the timeline its marks (only when they changed: this runs at every event)."""
        marks = (*self._marks, None if found is None else found[0])
        if marks != self._marks_shown:
            self._marks_shown = marks
            self.timeline_view.set_marks(marks[0], marks[1], nonfinite=marks[2])

    def _debugger_status(self, text: Content) -> Content:
        """The header's status while debugging (``text``: what it would show otherwise);
        also updates the non-finite badge and the timeline's ✖."""
        found = self._nonfinite()
        self._show_marks(found)
        hit = self._hit[1] if self._hit is not None and self._hit[0] is self.timeline else None
        if hit is not None and (hit.seq != self.cursor or self.playing):
            hit = None  # the reason shows only while the cursor is where it stopped
        badge = Content("")
        if found is not None and hit is None:  # at a hit, its reason needs the room
            badge = Content.styled(nonfinite_badge(found), "bold $text-error")
        self.header.set_part("badge", badge)
        if self._searching:
            way = "forwards" if self._searching > 0 else "backwards"
            return Content.from_markup(f"[b]searching {way}…[/b] [dim](c or esc cancels)[/dim]")
        if hit is not None:
            kind = "nonfinite" if hit.breakpoint is None else hit.breakpoint.kind
            style = "bold $text-error" if hit.nonfinite else "bold $text-warning"
            reason = printable(hit.reason)  # it may quote a condition from a file
            if hit.nonfinite:
                # What comes first: if the header is narrow, the end is cut.
                reason = reason.removeprefix("first non-finite number: ") + " (first NaN/inf)"
            text = Content.assemble((ICONS[kind], style), " ", reason)
            # The position must stay whole, and a little of the title: the reason gives way.
            position = self.header.part("position")
            room = self.size.width - position.cell_length - badge.cell_length - HEADER_SPARE
            return text if text.cell_length <= room else text.truncate(max(room, 8), ellipsis=True)
        if self.playing:
            return Content.assemble(text, "  ", (f"{self.speed}/s", "$text-muted"))
        return text

    # --- continue and reverse-continue -------------------------------------------------------

    def action_continue_to_breakpoint(self) -> None:
        self._continue(+1)

    def action_reverse_continue(self) -> None:
        self._continue(-1)

    def action_cancel_search(self) -> None:
        self._cancel_search()

    def _continue(self, direction: int) -> None:
        if self._searching:  # the same key again: stop looking
            self._cancel_search()
            return
        self.playing = False
        active = [bp for bp in self.breakpoints if bp.enabled]
        if not active and not self.stop_on_nonfinite:
            self.notify(
                "No breakpoints. Press b to set one on the current node, B to list them.",
                timeout=4,
            )
            return
        conditions = any(bp.kind == "condition" for bp in active)
        args = (self.timeline, self.cursor, self.breakpoints, self.stop_on_nonfinite, direction)
        if not conditions and (direction < 0 or self.timeline.done):
            # From the fixed order of events alone: nothing to compute, answered at once.
            self._arrive(search(*args))
            return
        self._searching = direction
        self._search_token += 1
        self._update_status()
        self._search(*args, self._search_token)

    @work(thread=True, exclusive=True, group="search")
    def _search(
        self,
        timeline: Timeline,
        start: int,
        breakpoints: tuple[Breakpoint, ...],
        stop_on_nonfinite: bool,
        direction: int,
        token: int,
    ) -> None:
        worker = get_current_worker()
        cancelled = cancel_check(worker)

        done = search(timeline, start, breakpoints, stop_on_nonfinite, direction, cancelled)
        done.token = token
        if not worker.is_cancelled:
            self.post_message(done)

    def _cancel_search(self, *, quiet: bool = False) -> None:
        self.workers.cancel_group(self, "search")
        if self._searching:
            self._searching = 0
            if not quiet:
                self.notify("Search cancelled.", timeout=2)
                self._update_status()

    def on_search_done(self, message: SearchDone) -> None:
        if (
            message.timeline is not self.timeline
            or not self._searching
            or message.token != self._search_token
        ):
            return  # for a run no longer open, or a search cancelled meanwhile
        self._searching = 0
        self._arrive(message)

    def _arrive(self, done: SearchDone) -> None:
        """Go to the hit a search found, and say why it stopped there."""
        hit = done.hit
        if done.error is not None:
            self.notify(done.error, severity="error", timeout=8)
        elif hit is None:
            self.notify(self._no_hit(done), severity="warning", timeout=5)
        else:
            self._hit = (done.timeline, hit)
            self.cursor = hit.seq
            self._say_hit(hit)
        self._update_status()

    def _no_hit(self, done: SearchDone) -> str:
        where = (
            f"up to step {done.last_step:,}, the end of the run"
            if done.direction > 0
            else "back to step 0"
        )
        found = self._nonfinite() if self.stop_on_nonfinite else None
        if found is not None:
            # It is behind the search (or here): c stops only at the first one.
            at = "here" if found[0] == self.cursor else f"at event {found[0]:,}"
            first = f"the first NaN or inf is {at}, and c stops only at the first"
        if not any(bp.enabled for bp in self.breakpoints):
            if found is not None:
                return (
                    f"No breakpoints set, and {first}. Press b to set a breakpoint on the"
                    " current node, B to list them."
                )
            return (
                f"No breakpoints set, and no NaN or inf {where}. Press b to set a breakpoint"
                " on the current node, B to list them."
            )
        return f"No breakpoint hit {where}" + (f"; {first}." if found is not None else ".")

    def _say_hit(self, hit: Hit) -> None:
        step = hit.seq // self.timeline.events_per_step
        if hit.nonfinite:
            cause = nonfinite_cause(self.timeline.frame(hit.seq))
            self.notify(
                f"{hit.reason} at step {step:,} (event {hit.seq:,}). {cause}".strip(),
                title="Stopped: NaN or inf",
                severity="error",
                timeout=8,
            )
        else:
            self.notify(f"{hit.reason}, step {step:,}.", title="Stopped", timeout=4)

    # --- playing -----------------------------------------------------------------------------

    def _stop_at(self, seq: int) -> Hit | None:
        """Whether playing stops at event ``seq``: where a breakpoint hits
        (:meth:`~engine.debug.breakpoints.BreakpointPlan.hit_at`), then the first
        non-finite number."""
        from engine.debug.breakpoints import Hit

        if self._plan is not None:
            hit = self._plan.hit_at(self.timeline, seq)
            if hit is not None:
                return hit
        if self.stop_on_nonfinite:
            found = self._nonfinite()
            if found is not None and found[0] == seq:
                return Hit(seq, None, f"first non-finite number: {found[1]}")
        return None

    def _tick(self) -> None:
        seq, last = self.cursor, self.last
        stop: Hit | None = None
        for _ in range(self._per_tick):
            if seq >= last:
                break
            seq += 1
            stop = self._stop_at(seq)
            if stop is not None:
                break
        if stop is not None:
            self._hit = (self.timeline, stop)
            self.playing = False
        elif seq >= last and self.timeline.done:
            self.playing = False
        self.cursor = seq
        if stop is not None:
            self._say_hit(stop)
            self._update_status()

    def action_faster(self) -> None:
        self.speed = next((s for s in SPEEDS if s > self.speed), SPEEDS[-1])

    def action_slower(self) -> None:
        self.speed = next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0])

    def watch_speed(self, speed: int) -> None:
        rate = min(speed, MAX_TICKS_PER_SECOND)
        self._per_tick = max(1, round(speed / rate))
        if self._player is not None:
            self._player.stop()
        self._player = self.set_interval(1 / rate, self._tick, pause=not self.playing)
        if not self.playing:
            self.notify(f"Play speed: {speed} events per second.", timeout=2)
        self._update_status()

    # --- setting breakpoints ----------------------------------------------------------------

    def action_toggle_breakpoint(self) -> None:
        if self.frame is None:
            return
        name = self.selected or self.frame.event.subject
        if any(bp.kind == "node" and bp.target == name for bp in self.breakpoints):
            self.breakpoints = tuple(
                bp for bp in self.breakpoints if not (bp.kind == "node" and bp.target == name)
            )
            self.notify(f"Breakpoint on {name} removed.", timeout=3)
            return
        from engine.debug.breakpoints import Breakpoint
        from engine.debug.errors import BreakpointError

        try:
            bp = Breakpoint.on_node(name, self.timeline.program.graph)
        except BreakpointError as err:
            self.notify(str(err), severity="error", timeout=6)
            return
        self.breakpoints = (*self.breakpoints, bp)
        self.notify(f"Breakpoint on {name}: c continues to its next event.", timeout=3)

    def action_breakpoints(self) -> None:
        from tui.screens.breakpoints import BreakpointList, BreakpointsScreen

        def closed(result: BreakpointList | None) -> None:
            if result is not None:
                self.breakpoints = result.breakpoints
                self.stop_on_nonfinite = result.stop_on_nonfinite
                self._update_status()

        screen = BreakpointsScreen(
            self.breakpoints,
            self.stop_on_nonfinite,
            self.timeline.program.graph,
            self._nonfinite(),
            cursor_blink=self._cursor_blink,
        )
        self.push_screen(screen, closed)
