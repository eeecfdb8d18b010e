"""What makes the app a debugger: breakpoints, continue and reverse-continue, playing
that stops at them, and the stop at the first non-finite number.

:class:`Debugger` is a mixin of :class:`tui.app.BpdbgApp`; it owns the breakpoint list
and the search, and leaves layout and stepping to the app module. Finding the next hit
is :func:`engine.debug.search.find_next`; a search that may compute steps or evaluate
conditions over many steps runs in a thread worker that only posts :class:`SearchDone`,
and pressing ``c`` (or ``C``, or ``esc``) again cancels it.

Playing moves one event (or, by steps, one training step) per tick, and the next tick
comes once the last one is painted: every event played is drawn, so the top speed is
what this machine and terminal can draw, and the header shows the rate measured
(:class:`tui.play_rate.RateMeter`), never the rate asked for.
"""

from __future__ import annotations

import math
import time
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
from tui.play_rate import RateMeter, rate_text

if TYPE_CHECKING:
    from textual.app import App
    from textual.timer import Timer

    from engine.debug.breakpoints import Breakpoint, BreakpointPlan, Hit
    from tui.panes.header import HeaderBar
    from tui.panes.timeline import TimelineView

    _Base = App[int]
else:
    _Base = object

SPEEDS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, math.inf)
"""Play speeds, in events (or steps) per second, that ``+`` and ``-`` step through; the
last is as fast as the screen is drawn. Each played event is painted, and a terminal
app paints at most 60 frames a second (Textual's limit): faster would be a promise."""
DEFAULT_SPEED = 20.0
IDLE_SECONDS = 0.05
"""How long playing waits for the next step when it is at the last computed event."""
MIN_TICK_SECONDS = 0.001
"""The shortest wait between ticks (Textual's timers need a wait of more than 0)."""
"""How long playing waits for the next step when it is at the last computed event."""
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
    speed: reactive[float] = reactive(DEFAULT_SPEED, init=False, repaint=False)
    """Events (or steps, playing by steps) per second asked for; ``inf``: as fast as drawn."""
    by_steps: reactive[bool] = reactive(False, init=False, repaint=False)
    """Whether playing moves one training step per tick (``P``) rather than one event."""

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
    _player: Timer | None = None
    """The timer of the next tick while playing."""
    _play_token = 0
    """Counts plays, so that a paint that follows a stopped play starts no tick."""
    _meter: RateMeter | None = None

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
            return Content.assemble(text, "  ", (self._rate_shown(), "$text-muted"))
        return text

    def _rate_shown(self) -> str:
        """The header's rate while playing: measured, ``max`` when no faster is drawn."""
        unit = "steps/s" if self.by_steps else "/s"
        rate = self._meter.rate() if self._meter is not None else None
        if rate is None:
            return f"… {unit}" if self.by_steps else "…/s"
        # Asked for more than is achieved: the drawing sets the pace.
        top = " max" if self.speed > rate * 1.25 else ""
        return f"{rate_text(rate)} {unit}{top}" if self.by_steps else f"{rate_text(rate)}/s{top}"

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

    def _play(self, playing: bool) -> None:
        """Start (or stop) the ticks of playing; called when ``playing`` changes."""
        self._play_token += 1
        if self._player is not None:
            self._player.stop()
            self._player = None
        if playing:
            self._meter = RateMeter()
            self._meter.add(time.perf_counter(), 0)
            self._player = self.set_timer(MIN_TICK_SECONDS, self._tick)

    def _tick(self) -> None:
        """Move one event (or one step), stopping where ``c`` would; the next tick is
        set once this one is painted (:meth:`_painted`)."""
        self._player = None
        if not self.playing or not self.screen_stack:
            return  # stopped meanwhile, or the app is closing
        began = time.perf_counter()
        seq, last = self.cursor, self.last
        target = min(seq + (self.timeline.events_per_step if self.by_steps else 1), last)
        stop: Hit | None = None
        while seq < target:
            seq += 1
            stop = self._stop_at(seq)
            if stop is not None:
                break
        if stop is not None:
            self._hit = (self.timeline, stop)
            self.playing = False
        elif seq >= last and self.timeline.done:
            self.playing = False
        moved = seq - self.cursor
        self.cursor = seq
        if stop is not None:
            self._say_hit(stop)
            self._update_status()
        if self.playing:
            token = self._play_token
            self.call_after_refresh(self._painted, token, began, moved)

    def _painted(self, token: int, began: float, moved: int) -> None:
        """The tick that began at ``began`` is on the screen: count it, set the next."""
        if token != self._play_token or not self.playing:
            return
        now = time.perf_counter()
        if self._meter is not None:
            steps = 1 if moved else 0
            self._meter.add(now, steps if self.by_steps else moved)
        # The frame's cost is part of the interval: at the top speed the next event
        # follows the paint at once, and no speed shows events faster than they are drawn.
        wait = 1 / self.speed - (now - began)
        wait = max(wait, MIN_TICK_SECONDS if moved else IDLE_SECONDS)
        self._player = self.set_timer(wait, self._tick)
        self._update_status()

    def action_faster(self) -> None:
        self.speed = next((s for s in SPEEDS if s > self.speed), SPEEDS[-1])

    def action_slower(self) -> None:
        self.speed = next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0])

    def action_play_steps(self) -> None:
        """``P``: play one training step per tick (or stop, when already playing so)."""
        if self.playing and self.by_steps:
            self.playing = False
            return
        self.by_steps = True
        if self.playing:
            self._play(True)  # the meter counts steps from now
            self._update_status()
        else:
            self.playing = True

    def watch_speed(self, speed: float) -> None:
        unit = "steps" if self.by_steps else "events"
        said = "as fast as it is drawn" if math.isinf(speed) else f"{speed:g} {unit} per second"
        if self.playing:
            self._play(True)  # measure the new speed from now
        self.notify(f"Play speed: {said}.", timeout=2)
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
