"""Breakpoints and watchpoints: where ``c`` stops.

A :class:`Breakpoint` is one of three kinds:

- ``node``: stops at every event whose subject is that node or parameter — its forward
  event, the loss event (for the loss node), its backward event, and a parameter's
  update event;
- ``phase``: stops where a step *enters* that phase — the first forward event, the loss
  event, the first backward event or the first update event of every step;
- ``condition`` (a watchpoint): stops where a :class:`~engine.debug.conditions.Condition`
  becomes true.

A :class:`BreakpointPlan` places breakpoints in a step, from the fixed order of events
(:mod:`engine.step.layout`); :func:`engine.debug.search.find_next` scans with it, and
the app's play loop asks it about each event. The language of conditions is
:mod:`engine.debug.conditions`. A scenario's ``[[breakpoints]]`` become breakpoints
here (:func:`scenario_breakpoints`): they are the debugger's, not the program's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from engine.debug.conditions import Condition
from engine.debug.errors import BreakpointError, ConditionError
from engine.errors import ScenarioError
from engine.graph import expr as ex
from engine.graph.graph import Graph
from engine.step.events import PHASES
from engine.step.layout import StepLayout, step_layout
from engine.step.run import Program
from engine.timeline.timeline import Frame, Timeline

BREAKPOINT_KINDS: tuple[str, ...] = ("node", "phase", "condition")


@dataclass(frozen=True)
class Breakpoint:
    """Where ``c`` stops.

    Attributes:
        kind: ``"node"``, ``"phase"`` or ``"condition"``.
        target: The node or parameter name, the phase name, or the condition's text.
        enabled: A disabled breakpoint is kept but never hits.
        label: An optional name to show instead of the generated description.
        condition: The compiled condition of a ``condition`` breakpoint (compiled on
            first use if not given). Not part of equality.
    """

    kind: str
    target: str
    enabled: bool = True
    label: str | None = None
    condition: Condition | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in BREAKPOINT_KINDS:
            raise BreakpointError(
                f"unknown breakpoint kind {self.kind!r};"
                f" expected one of {', '.join(BREAKPOINT_KINDS)}"
            )
        if self.kind == "phase" and self.target not in PHASES:
            raise BreakpointError(
                f"unknown phase {self.target!r}; expected one of {', '.join(PHASES)}"
            )

    @classmethod
    def on_node(
        cls, name: str, graph: Graph | None = None, *, label: str | None = None
    ) -> Breakpoint:
        """A breakpoint on every event of a node or parameter.

        Raises:
            BreakpointError: ``graph`` is given and ``name`` has no events in it.
        """
        if graph is not None:
            check_node_target(name, graph)
        return cls("node", name, label=label)

    @classmethod
    def on_phase(cls, phase: str, *, label: str | None = None) -> Breakpoint:
        """A breakpoint where every step enters ``phase``.

        Raises:
            BreakpointError: ``phase`` is not one of :data:`engine.step.events.PHASES`.
        """
        return cls("phase", phase, label=label)

    @classmethod
    def when(cls, text: str, graph: Graph, *, label: str | None = None) -> Breakpoint:
        """A watchpoint: stops where ``text`` is true (see :mod:`engine.debug.conditions`).

        Raises:
            ConditionError: The condition is refused; nothing is created.
        """
        cond = Condition.compile(text, graph)
        return cls("condition", cond.text, label=label, condition=cond)

    def toggled(self) -> Breakpoint:
        """The same breakpoint, enabled if it was disabled and vice versa."""
        return replace(self, enabled=not self.enabled)

    def describe(self) -> str:
        """A short description: the label, or e.g. ``node W1``, ``update phase``."""
        if self.label:
            return self.label
        if self.kind == "node":
            return f"node {self.target}"
        if self.kind == "phase":
            return f"{self.target} phase"
        return f"when {self.target}"

    def reason(self, phase: str, subject: str) -> str:
        """Why this breakpoint stops at an event of ``phase`` about ``subject``."""
        if self.kind == "node":
            text = f"breakpoint on {self.target} ({phase})"
        elif self.kind == "phase":
            text = f"breakpoint on the {phase} phase ({subject})"
        else:
            text = f"watchpoint {self.target} is true at {subject} ({phase})"
        return f"{self.label}: {text}" if self.label else text

    def compiled(self, graph: Graph) -> Condition:
        """This condition breakpoint's condition, compiled against ``graph``."""
        if self.condition is not None and self.condition.graph is graph:
            return self.condition
        return Condition.compile(self.target, graph)


def check_node_target(name: str, graph: Graph) -> None:
    """Refuse a node breakpoint on a name that has no events in ``graph``.

    Raises:
        BreakpointError: With the names that do have events.
    """
    layout = step_layout(graph)
    if layout.node_positions(name):
        return
    # Sub-expressions have events too, but a name typed by a person is one of the named.
    names = ", ".join(n for n in layout.event_names() if graph[n].named)
    node = graph.by_name.get(name)
    if node is not None and node.is_leaf:
        what = "an input" if node.kind == "input" else "a constant"
        raise BreakpointError(
            f"'{name}' is {what} with no events to stop at (it gets no gradient);"
            f" nodes and parameters with events: {names}"
        )
    raise BreakpointError(f"no node or parameter named '{name}'; expected one of: {names}")


@dataclass(frozen=True)
class Hit:
    """Where a scan stopped.

    Attributes:
        seq: The event.
        breakpoint: The breakpoint that hit, or None for the non-finite diagnostic.
        reason: One line for the status bar.
    """

    seq: int
    breakpoint: Breakpoint | None
    reason: str

    @property
    def nonfinite(self) -> bool:
        """True when the scan stopped at the first non-finite number, not at a breakpoint."""
        return self.breakpoint is None


Placed = tuple[Breakpoint, "Condition | None"]
"""A breakpoint at a position of a step, with its compiled condition (None for node and
phase breakpoints, which hit wherever they are placed)."""


@dataclass(frozen=True)
class BreakpointPlan:
    """Breakpoints placed in a step: where each may hit, from the fixed order of events.

    Made by :meth:`of`; both the search (:func:`engine.debug.search.find_next`) and the
    app's play loop (:meth:`hit_at`) read it, so they stop at the same events.

    Attributes:
        layout: The step's layout.
        at: Each position where something may hit, and what, in the breakpoints' order
            (the first that hits wins).
        positions: The positions of ``at``, sorted.
        label_positions: Sorted positions where a node or phase breakpoint hits (no
            values needed to know it).
        has_conditions: Whether any enabled breakpoint is a watchpoint.
        marks: Positions of enabled node and phase breakpoints, for the timeline's ●.
        disabled_marks: Positions of disabled ones only (○).
    """

    layout: StepLayout
    at: dict[int, list[Placed]]
    positions: list[int]
    label_positions: list[int]
    has_conditions: bool
    marks: frozenset[int] = frozenset()
    disabled_marks: frozenset[int] = frozenset()

    @classmethod
    def of(
        cls,
        breakpoints: Sequence[Breakpoint],
        graph: Graph,
        on_error: Callable[[Breakpoint, Exception], None] | None = None,
    ) -> BreakpointPlan:
        """Place ``breakpoints`` in the steps of ``graph``; disabled ones only mark.

        Args:
            breakpoints: In order of precedence.
            graph: The graph they apply to.
            on_error: Called with each watchpoint, enabled or not, whose condition does
                not compile against ``graph`` (and why), which is then left out; without
                it, an enabled one raises and disabled ones are not compiled.

        Raises:
            ConditionError: A condition does not compile and ``on_error`` is None.
        """
        layout = step_layout(graph)
        at: dict[int, list[Placed]] = {}
        labels: set[int] = set()
        enabled: set[int] = set()
        disabled: set[int] = set()
        has_conditions = False
        for bp in breakpoints:
            if bp.kind == "condition":
                if not bp.enabled and on_error is None:
                    continue  # a scan needs only what can hit
                try:
                    cond = bp.compiled(graph)
                except Exception as err:
                    if on_error is None:
                        raise
                    on_error(bp, err)
                    continue
                if not bp.enabled:
                    continue
                spots: Iterable[int] = (
                    range(layout.size) if cond.triggers is None else cond.triggers
                )
                for p in spots:
                    at.setdefault(p, []).append((bp, cond))
                has_conditions = True
                continue
            spots = _label_positions(bp, layout)
            (enabled if bp.enabled else disabled).update(spots)
            if bp.enabled:
                for p in spots:
                    at.setdefault(p, []).append((bp, None))
                    labels.add(p)
        return cls(
            layout,
            at,
            sorted(at),
            sorted(labels),
            has_conditions,
            frozenset(enabled),
            frozenset(disabled - enabled),
        )

    def reason(self, bp: Breakpoint, pos: int) -> str:
        """Why ``bp`` stops at position ``pos`` of a step."""
        return bp.reason(self.layout.phase(pos), self.layout.subject(pos))

    def label_hit(self, seq: int) -> Hit:
        """The hit of the first node or phase breakpoint placed at event ``seq``."""
        pos = seq % self.layout.size
        bp = self.at[pos][0][0]
        return Hit(seq, bp, self.reason(bp, pos))

    def hit_at(self, timeline: Timeline, seq: int) -> Hit | None:
        """Whether a breakpoint stops at event ``seq`` of ``timeline`` (a computed event):
        node and phase breakpoints by position, watchpoints evaluated at the event (only
        where they are checked). A watchpoint that fails there stops, saying why."""
        pos = seq % self.layout.size
        frame: Frame | None = None
        for bp, cond in self.at.get(pos, ()):
            if cond is None:
                return Hit(seq, bp, self.reason(bp, pos))
            frame = frame or timeline.frame(seq)
            try:
                holds = cond.holds(frame, timeline)
            except Exception as err:  # stop here and say why, rather than fail the caller
                why = f"{type(err).__name__}: {err}"
                return Hit(seq, bp, f"{bp.describe()} cannot be evaluated here: {why}")
            if holds:
                return Hit(seq, bp, self.reason(bp, pos))
        return None


def _label_positions(bp: Breakpoint, layout: StepLayout) -> list[int]:
    """Where a node or phase breakpoint hits in a step."""
    if bp.kind == "node":
        return layout.node_positions(bp.target)
    first = layout.phase_position(bp.target)
    return [] if first is None else [first]


def scenario_breakpoints(program: Program) -> tuple[Breakpoint, ...]:
    """The scenario's ``[[breakpoints]]``, checked against its graph.

    The loader (:mod:`engine.scenario.loader`) checks keys and types; this checks what needs the
    graph: node breakpoints must name a node or parameter that has events, and conditions
    must compile.

    Raises:
        ScenarioError: Naming the file and ``breakpoints[i].node`` or ``breakpoints[i].when``.
    """
    scenario = program.scenario
    graph = program.graph
    out: list[Breakpoint] = []
    for i, spec in enumerate(scenario.breakpoints):
        if spec.kind == "node":
            try:
                check_node_target(spec.target, graph)
            except BreakpointError as e:
                raise ScenarioError(scenario.source, f"breakpoints[{i}].node", str(e)) from None
            out.append(Breakpoint("node", spec.target, spec.enabled))
        elif spec.kind == "phase":
            out.append(Breakpoint("phase", spec.target, spec.enabled))
        else:
            try:
                cond = Condition.compile(spec.target, graph)
            except ConditionError as e:
                quoted = ex.quote(spec.target, e.column)
                raise ScenarioError(
                    scenario.source, f"breakpoints[{i}].when", f"{quoted}: {e}"
                ) from None
            out.append(Breakpoint("condition", cond.text, spec.enabled, condition=cond))
    return tuple(out)
