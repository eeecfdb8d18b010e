"""Where each event of a training step sits, known from the graph alone.

Every step emits its events in one fixed order: a forward event per node of
``graph.forward_order``, the loss event, a backward event per node of
``graph.backward_order``, and an update event per parameter (:func:`engine.step.run.run_step`).
So the phase and subject of any event, and the position of any node's events, follow
from the graph without running anything. :class:`StepLayout` is that order, computed
once per graph (:func:`step_layout`) and read by the timeline, the debugger's search,
the app's timeline pane and live reload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from engine.graph.graph import Graph


@dataclass(frozen=True, eq=False)
class StepLayout:
    """The positions of a step's events, by phase and by subject.

    Attributes:
        graph: The graph the layout is of.
        events: ``(phase, subject)`` of every event, in order.
        size: Events per step.
        loss_pos: Position of the loss event.
        backward_start: Position of the first backward event.
        update_start: Position of the first update event.
        forward_pos: Each node of the forward pass, and its forward event.
        backward_pos: Each node with a gradient, and its backward event.
        update_pos: Each parameter, and its update event.
        value_pos: Each node, and the event that computes its value in a step: its
            forward event, the loss event for the loss, and -1 for leaves (inputs,
            parameters, constants), whose values are known from the step's start.
    """

    graph: Graph = field(repr=False)
    events: tuple[tuple[str, str], ...]
    size: int
    loss_pos: int
    backward_start: int
    update_start: int
    forward_pos: Mapping[str, int]
    backward_pos: Mapping[str, int]
    update_pos: Mapping[str, int]
    value_pos: Mapping[str, int]

    @classmethod
    def of(cls, graph: Graph) -> StepLayout:
        """The layout of ``graph``'s steps (uncached: :func:`step_layout` caches it)."""
        forward, backward, params = graph.forward_order, graph.backward_order, graph.params
        loss_pos = len(forward)
        backward_start = loss_pos + 1
        update_start = backward_start + len(backward)
        events = (
            *(("forward", n) for n in forward),
            ("loss", graph.loss),
            *(("backward", n) for n in backward),
            *(("update", p) for p in params),
        )
        forward_pos = {n: i for i, n in enumerate(forward)}
        return cls(
            graph=graph,
            events=events,
            size=update_start + len(params),
            loss_pos=loss_pos,
            backward_start=backward_start,
            update_start=update_start,
            forward_pos=MappingProxyType(forward_pos),
            backward_pos=MappingProxyType({n: backward_start + j for j, n in enumerate(backward)}),
            update_pos=MappingProxyType({p: update_start + k for k, p in enumerate(params)}),
            value_pos=MappingProxyType(
                {n.name: -1 for n in graph.nodes} | forward_pos | {graph.loss: loss_pos}
            ),
        )

    def phase(self, pos: int) -> str:
        """The phase of the event at ``pos``."""
        return self.events[pos][0]

    def subject(self, pos: int) -> str:
        """The node or parameter the event at ``pos`` is about."""
        return self.events[pos][1]

    def node_positions(self, name: str) -> list[int]:
        """Positions of the events whose subject is ``name``, in order."""
        out = []
        if name in self.forward_pos:
            out.append(self.forward_pos[name])
        if name == self.graph.loss:
            out.append(self.loss_pos)
        if name in self.backward_pos:
            out.append(self.backward_pos[name])
        if name in self.update_pos:
            out.append(self.update_pos[name])
        return out

    def latest_event(self, name: str, seq: int) -> int | None:
        """The ``seq`` of the last event about ``name`` at or before event ``seq``.

        Before its first event of the run (a parameter's gradient while step 0's forward
        pass runs), its first event instead; None when no event is about it (an input).
        """
        positions = self.node_positions(name)
        if not positions:
            return None
        per_step = len(self.events)
        step, pos = divmod(seq, per_step)
        before = [p for p in positions if p <= pos]
        if before:
            return step * per_step + max(before)
        if step > 0:
            return (step - 1) * per_step + max(positions)
        return min(positions)

    def phase_position(self, phase: str) -> int | None:
        """The first event of ``phase`` in a step (None when the phase has no events)."""
        bounds = {
            "forward": (0, self.loss_pos),
            "loss": (self.loss_pos, self.backward_start),
            "backward": (self.backward_start, self.update_start),
            "update": (self.update_start, self.size),
        }
        start, end = bounds[phase]
        return start if start < end else None

    def event_names(self) -> list[str]:
        """Nodes and parameters that have events, in graph order."""
        seen = set(self.forward_pos) | {self.graph.loss} | set(self.backward_pos)
        return [n.name for n in self.graph.nodes if n.name in seen]


_LAYOUTS: dict[int, StepLayout] = {}
"""Layouts by graph identity; each keeps its graph alive, so an id is never reused while
its entry is here."""
_MAX_LAYOUTS = 32


def step_layout(graph: Graph) -> StepLayout:
    """The layout of ``graph``'s steps, computed once per graph."""
    hit = _LAYOUTS.get(id(graph))
    if hit is not None and hit.graph is graph:
        return hit
    layout = StepLayout.of(graph)
    if len(_LAYOUTS) >= _MAX_LAYOUTS:
        _LAYOUTS.clear()
    _LAYOUTS[id(graph)] = layout
    return layout
