"""The search for the next hit: where ``c`` (forwards) and ``C`` (backwards) stop.

:func:`find_next` scans from an event for the nearest event where a breakpoint hits. It
also stops, by default, at the first event where a non-finite number appears
(:func:`engine.report.diagnose.first_nonfinite_event`), so a diverging run halts where it
breaks rather than thousands of steps later.

Node and phase breakpoints hit at fixed positions of a step
(:class:`~engine.debug.breakpoints.BreakpointPlan`), so a scan for them alone computes
nothing. Watchpoints need values: the scan re-runs the steps in between on the fast
path, one after another, and evaluates each condition only where it can change.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from engine.debug.breakpoints import Breakpoint, BreakpointPlan, Hit
from engine.debug.conditions import At, Previous, run_condition, truth
from engine.report.diagnose import first_nonfinite_event
from engine.step.program import OptState, Params, Program
from engine.step.run import StepResult, run_step
from engine.timeline.timeline import Timeline

BACKWARD_BLOCK = 64
"""Most steps a backward scan replays at once; it starts with one and doubles."""
COMPUTE_CHUNK = 256
"""Steps computed at a time when :func:`find_next` runs the training ahead."""

NonFinite = tuple[int, str]
"""The first non-finite event: its ``seq``, and what holds the NaN or inf."""


class StepChain:
    """Steps run on the fast path one after another, each from the previous one's end."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.program: Program = timeline.program
        self._next: tuple[int, Params, OptState] | None = None
        """The step that follows the last one run, and its starting state."""
        self._last: tuple[int, float, Params] | None = None
        """The last step run, its loss, and its parameters at its start."""

    def run(self, step: int) -> tuple[StepResult, Params, Previous | None]:
        """Run ``step``: what it computed, its starting parameters, and the step before it
        as conditions read it (None for step 0)."""
        tl = self.timeline
        if self._next is not None and self._next[0] == step and step != tl.first_step:
            params, state = self._next[1], self._next[2]
        else:
            params, state = tl.start_of(step)
        if step == 0:
            previous = None
        elif self._last is not None and self._last[0] == step - 1:
            previous = Previous(self._last[1], self._last[2])
        else:
            previous = Previous.lazy(tl, step)
        result = run_step(self.program, step, params, state)
        self._next = (step + 1, result.params_after, result.state_after)
        self._last = (step, result.loss, params)
        return result, params, previous


def find_next(
    timeline: Timeline,
    start_seq: int,
    breakpoints: Sequence[Breakpoint],
    *,
    direction: int = +1,
    limit_steps: int | None = None,
    cancelled: Callable[[], bool] | None = None,
    stop_on_nonfinite: bool = True,
    compute: bool = False,
) -> Hit | None:
    """The nearest hit after (or before) an event.

    Node and phase breakpoints are found from the fixed order of events in a step, without
    computing anything, so skipping over many steps costs O(1). Watchpoints need values:
    the steps in between are re-run on the fast path, one after another (a backward scan
    replays blocks of up to :data:`BACKWARD_BLOCK` steps from the nearest keyframe), and
    each condition is checked only where it can change (:mod:`engine.debug.conditions`). The
    timeline's record cache is left alone.

    When several breakpoints hit at the same event, the first in ``breakpoints`` wins;
    a breakpoint wins over the non-finite diagnostic at the same event.

    Args:
        timeline: The run.
        start_seq: The event to start from; it is never itself a hit. ``-1`` starts
            before the first event; a backward scan from past the computed events starts
            after the last one.
        breakpoints: The breakpoints; disabled ones are ignored.
        direction: ``+1`` to continue, ``-1`` to reverse-continue.
        limit_steps: Scan at most this many steps past (or before) the start's step.
        cancelled: Polled once per step; when it returns True the scan gives up (None).
        stop_on_nonfinite: Also stop at the first event where a non-finite number appears
            (:func:`engine.report.diagnose.first_nonfinite_event`), if the scan passes it.
        compute: Forwards, train ahead as needed (up to the scenario's steps); otherwise
            only the steps computed already are scanned.

    Returns:
        The hit, or None when there is none in range (or the scan was cancelled).

    Raises:
        ConditionError: A condition breakpoint does not compile against this timeline's
            graph (possible only for one that was created for another scenario).
    """
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, found {direction!r}")
    plan = BreakpointPlan.of(breakpoints, timeline.program.graph)
    scan = _Scan(timeline, plan, start_seq, cancelled, stop_on_nonfinite)
    if direction > 0:
        return _scan_forward(scan, limit_steps, compute)
    return _scan_backward(scan, limit_steps)


class _Scan:
    """What one search knows: the run, the placed breakpoints, where it started, and
    whether to stop at the first non-finite number."""

    def __init__(
        self,
        timeline: Timeline,
        plan: BreakpointPlan,
        start_seq: int,
        cancelled: Callable[[], bool] | None,
        stop_on_nonfinite: bool,
    ) -> None:
        self.timeline = timeline
        self.plan = plan
        self.start_seq = start_seq
        self.per_step = timeline.events_per_step
        self._cancelled = cancelled
        self.stop_on_nonfinite = stop_on_nonfinite

    def cancelled(self) -> bool:
        return self._cancelled is not None and self._cancelled()

    def nonfinite(self) -> NonFinite | None:
        """The first non-finite event of the run computed so far, if it is to be stopped
        at and lies after the start."""
        if not self.stop_on_nonfinite:
            return None
        found = first_nonfinite_event(self.timeline)
        return found if found is not None and found[0] > self.start_seq else None

    def compute_through(self, step: int) -> bool:
        """Train through ``step`` (clamped to the run); False when cancelled."""
        tl = self.timeline
        step = min(step, tl.total_steps - 1)
        while tl.computed_steps <= step:
            if self.cancelled():
                return False
            # Another thread (training ahead) may compute meanwhile: nothing left to do
            # here then, which is no reason to give up; the loop looks again.
            need = min(step + 1 - tl.computed_steps, COMPUTE_CHUNK)
            if need > 0:
                tl.compute(need, cancelled=self._cancelled)
        return True

    def nonfinite_pos(self, nonfinite: NonFinite | None, step: int) -> int | None:
        """The position in ``step`` of the non-finite event, if it is in that step."""
        if nonfinite is None or nonfinite[0] // self.per_step != step:
            return None
        return nonfinite[0] - step * self.per_step

    def check(
        self, pos: int, values: Callable[[], At], nonfinite_here: bool
    ) -> tuple[Breakpoint | None, bool]:
        """The first breakpoint hitting at ``pos`` (in the breakpoints' order), and whether
        the non-finite diagnostic does (only when no breakpoint does)."""
        for bp, cond in self.plan.at.get(pos, ()):
            if cond is None:
                return bp, False
            value = run_condition(cond, values())
            if value is not None and np.any(truth(value)):
                return bp, False
        return None, nonfinite_here

    def check_step(
        self,
        step: int,
        spots: Sequence[int],
        values: Callable[[int], At],
        nonfinite: NonFinite | None,
    ) -> Hit | None:
        """The first hit at ``spots`` of ``step``, in the order given; ``values(pos)`` gives
        the step's numbers at a position, for conditions."""
        nonfinite_pos = self.nonfinite_pos(nonfinite, step)
        for pos in spots:
            bp, nonfinite_hit = self.check(pos, partial(values, pos), pos == nonfinite_pos)
            if bp is not None:
                return Hit(step * self.per_step + pos, bp, self.plan.reason(bp, pos))
            if nonfinite_hit:
                assert nonfinite is not None
                return _nonfinite_hit(nonfinite)
        return None


def _nonfinite_hit(found: NonFinite) -> Hit:
    return Hit(found[0], None, f"first non-finite number: {found[1]}")


# ----------------------------------------------------------------------------------------
# Forwards


def _scan_forward(scan: _Scan, limit_steps: int | None, compute: bool) -> Hit | None:
    tl, per_step = scan.timeline, scan.per_step
    start_step, start_pos = (0, -1) if scan.start_seq < 0 else divmod(scan.start_seq, per_step)
    last_step = (tl.total_steps if compute else tl.computed_steps) - 1
    if limit_steps is not None:
        last_step = min(last_step, start_step + limit_steps)
    if start_step > last_step:
        return None
    label_seq = _next_label_seq(scan.plan, start_step, start_pos, last_step, per_step)
    if not scan.plan.has_conditions:
        return _forward_by_position(scan, label_seq, last_step, compute)
    stop_step = last_step if label_seq is None else min(last_step, label_seq // per_step)
    return _forward_by_value(scan, start_step, start_pos, stop_step, compute)


def _next_label_seq(
    plan: BreakpointPlan, start_step: int, start_pos: int, last_step: int, per_step: int
) -> int | None:
    """The nearest event after the start where a node or phase breakpoint hits."""
    positions = plan.label_positions
    if not positions:
        return None
    i = bisect.bisect_right(positions, start_pos)
    if i < len(positions):
        return start_step * per_step + positions[i]
    if start_step + 1 <= last_step:
        return (start_step + 1) * per_step + positions[0]
    return None


def _forward_by_position(
    scan: _Scan, label_seq: int | None, last_step: int, compute: bool
) -> Hit | None:
    """Forwards with node and phase breakpoints only: the next label hit, unless the first
    non-finite number comes before it (training ahead to find out, if asked to)."""
    tl, per_step = scan.timeline, scan.per_step
    if compute:
        target = last_step if label_seq is None else label_seq // per_step
        # One step beyond the target: an update that overflowed shows up only as the
        # next step's non-finite loss.
        while tl.computed_steps <= min(target + 1, tl.total_steps - 1):
            nonfinite = scan.nonfinite()
            if nonfinite is not None and (label_seq is None or nonfinite[0] < label_seq):
                return _nonfinite_hit(nonfinite)
            if not scan.compute_through(min(tl.computed_steps + COMPUTE_CHUNK - 1, target + 1)):
                return None
    nonfinite = scan.nonfinite()
    if (
        nonfinite is not None
        and nonfinite[0] // per_step <= last_step
        and (label_seq is None or nonfinite[0] < label_seq)
    ):
        return _nonfinite_hit(nonfinite)
    if label_seq is None or label_seq // per_step >= tl.computed_steps:
        return None
    return scan.plan.label_hit(label_seq)


def _forward_by_value(
    scan: _Scan, start_step: int, start_pos: int, stop_step: int, compute: bool
) -> Hit | None:
    """Forwards with watchpoints: step by step, each run (once) only if a condition needs
    its numbers, until a hit, the first non-finite number, or ``stop_step``."""
    tl, plan, per_step = scan.timeline, scan.plan, scan.per_step
    chain = StepChain(tl)
    for step in range(start_step, stop_step + 1):
        if scan.cancelled():
            return None
        if compute and not scan.compute_through(step + 1):
            return None
        if step >= tl.computed_steps:
            return None
        nonfinite = scan.nonfinite()
        if nonfinite is not None and nonfinite[0] < step * per_step:
            return _nonfinite_hit(nonfinite)  # known only now, and already passed
        after = start_pos if step == start_step else -1
        spots = plan.positions[bisect.bisect_right(plan.positions, after) :]
        nonfinite_pos = scan.nonfinite_pos(nonfinite, step)
        if nonfinite_pos is not None:
            spots = sorted({p for p in spots if p <= nonfinite_pos} | {nonfinite_pos})
        hit = scan.check_step(step, spots, _lazy_values(chain, plan, step), nonfinite)
        if hit is not None:
            return hit
    return None


def _lazy_values(chain: StepChain, plan: BreakpointPlan, step: int) -> Callable[[int], At]:
    """The numbers of ``step`` at a position, the step run only when first asked."""
    seen: list[At] = []

    def at(pos: int) -> At:
        if not seen:
            result, params, previous = chain.run(step)
            seen.append(At(plan.layout, step, pos, result, params, previous))
        seen[0].pos = pos
        return seen[0]

    return at


# ----------------------------------------------------------------------------------------
# Backwards


def _scan_backward(scan: _Scan, limit_steps: int | None) -> Hit | None:
    tl, per_step = scan.timeline, scan.per_step
    computed = tl.computed_steps
    if scan.start_seq <= 0 or computed == 0:
        return None
    start_step, start_pos = divmod(scan.start_seq, per_step)
    if start_step >= computed:
        start_step, start_pos = computed - 1, per_step
    first_step = 0 if limit_steps is None else max(0, start_step - limit_steps)
    label_seq = _previous_label_seq(scan.plan, start_step, start_pos, first_step, per_step)
    nonfinite = first_nonfinite_event(tl) if scan.stop_on_nonfinite else None
    if nonfinite is not None and not (first_step * per_step <= nonfinite[0] < scan.start_seq):
        nonfinite = None
    if not scan.plan.has_conditions:
        if nonfinite is not None and (label_seq is None or nonfinite[0] > label_seq):
            return _nonfinite_hit(nonfinite)
        return None if label_seq is None else scan.plan.label_hit(label_seq)
    floor_step = first_step if label_seq is None else max(first_step, label_seq // per_step)
    # The diagnostic stops the scan there at the latest.
    floor_step = max(floor_step, -1 if nonfinite is None else nonfinite[0] // per_step)
    return _backward_by_value(scan, start_step, start_pos, floor_step, nonfinite)


def _previous_label_seq(
    plan: BreakpointPlan, start_step: int, start_pos: int, first_step: int, per_step: int
) -> int | None:
    """The nearest event before the start where a node or phase breakpoint hits."""
    positions = plan.label_positions
    if not positions:
        return None
    i = bisect.bisect_left(positions, start_pos)
    if i > 0:
        return start_step * per_step + positions[i - 1]
    if start_step - 1 >= first_step:
        return (start_step - 1) * per_step + positions[-1]
    return None


def _backward_by_value(
    scan: _Scan, start_step: int, start_pos: int, floor_step: int, nonfinite: NonFinite | None
) -> Hit | None:
    """Backwards with watchpoints: blocks of steps, each replayed forwards from its start
    (the block doubles up to :data:`BACKWARD_BLOCK`), the latest hit of a block winning."""
    high = start_step
    block = 1
    while high >= floor_step:
        low = max(floor_step, high - block + 1)
        block = min(2 * block, BACKWARD_BLOCK)
        latest: Hit | None = None
        chain = StepChain(scan.timeline)
        for step in range(low, high + 1):
            if scan.cancelled():
                return None
            end = start_pos if step == start_step else scan.per_step
            hit = _latest_in_step(scan, chain, step, end, nonfinite)
            if hit is not None:
                latest = hit
        if latest is not None:
            return latest
        high = low - 1
    return None


def _latest_in_step(
    scan: _Scan, chain: StepChain, step: int, end: int, nonfinite: NonFinite | None
) -> Hit | None:
    """The last hit of ``step`` before position ``end``."""
    plan = scan.plan
    result, params, previous = chain.run(step)
    values = At(plan.layout, step, 0, result, params, previous)
    spots = plan.positions[: bisect.bisect_left(plan.positions, end)]
    nonfinite_pos = scan.nonfinite_pos(nonfinite, step)
    if nonfinite_pos is not None:
        spots = sorted({p for p in spots if p >= nonfinite_pos} | {nonfinite_pos})

    def at(pos: int) -> At:
        values.pos = pos
        return values

    return scan.check_step(step, list(reversed(spots)), at, nonfinite)
