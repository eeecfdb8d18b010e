"""Breakpoints and watchpoints: where ``c`` stops, and how it finds the place quickly.

A :class:`Breakpoint` is one of three kinds:

- ``node``: stops at every event whose subject is that node or parameter — its forward
  event, the loss event (for the loss node), its backward event, and a parameter's
  update event;
- ``phase``: stops where a step *enters* that phase — the first forward event, the loss
  event, the first backward event or the first update event of every step;
- ``condition`` (a watchpoint): stops where a :class:`Condition` becomes true, as
  described below.

:func:`find_next` scans forwards or backwards from an event for the nearest hit. It also
stops, by default, at the first event where a non-finite number appears
(:func:`engine.report.diagnose.first_nonfinite_event`), so a diverging run halts where it
breaks rather than thousands of steps later.

Conditions
----------

A condition is written in the language of ``[graph]`` nodes (:mod:`engine.graph.expr`) plus
comparisons (``< <= > >= == !=``) and ``and``/``or``/``not``. It is parsed once into a
tree and evaluated by walking that tree with numpy; nothing is ever passed to ``eval``
or ``exec``. Names a condition may read, evaluated at one event of step ``t``:

=====================  ==================================================================
name                   meaning
=====================  ==================================================================
``value``              the event's value: a forward event's node value, or the loss at
                       the loss event; undefined at backward and update events
``grad``               the event's gradient: ∂L/∂node at a backward event, the gradient
                       the optimizer used at an update event; undefined elsewhere
``loss``               the loss of step ``t`` once its loss event has happened, before
                       that the loss of step ``t − 1`` (undefined before step 0's loss)
``prev_loss``          the loss of step ``t − 1``; ``nan`` in step 0
``step``               ``t``
a node name            its value as the event knows it: inputs always; computed nodes
(``a1``, ``z``)        once their forward (or loss) event has happened in step ``t``
a parameter (``W1``)   its current value: after its update event in step ``t``, the
                       updated value; before it, the value at the start of step ``t``
``prev_<param>``       the parameter before its most recent update: from its update event
                       of step ``t`` on, its value at the start of step ``t``; before that
                       event, its value at the start of step ``t − 1`` (undefined in
                       step 0). So ``W1 - prev_W1`` is always the last change to ``W1``.
``grad_<name>``        ∂L/∂name, once its backward event has happened in step ``t``
=====================  ==================================================================

A name of the graph wins over the special names above when both exist (an expression
graph may call a node ``loss``). Names that can never exist — not in the graph, not
special — are refused when the condition is compiled, with the list of valid names.

Functions: those of ``[graph]`` expressions (:data:`engine.graph.ops.FUNCTIONS`: ``sum`` and
``mean`` reduce every element) and ``norm`` (the 2-norm of all elements), ``max``,
``min``, ``any``, ``all``, ``count`` (how many elements are non-zero), ``isnan``,
``isinf``, ``isfinite`` and ``sign``, each taking one argument.

Arithmetic and comparisons are elementwise and broadcast as numpy does; ``and``, ``or``
and ``not`` are elementwise too. True is 1.0 and false 0.0, so ``mean(a1 <= 0)`` is the
fraction of non-positive activations. **A condition is true when any element of its
result is non-zero** (NaN counts as non-zero, as in numpy). Where a name is undefined
at an event, the parts of the condition that read it are *unknown*: ``unknown or x`` is
``x`` when ``x`` is true, and every other use of an unknown stays unknown; a condition
that ends unknown is false. A numpy error (shapes that do not broadcast, say) makes the
condition false at that event rather than failing.

When a watchpoint stops
-----------------------

Like a debugger's watchpoint, a condition is checked at the events that *produce* one of
the names it reads, not at every event: ``value`` at forward and loss events, ``grad``
at backward and update events, ``loss`` and ``prev_loss`` at the loss event, a node's
name at its forward (or loss) event, a parameter's name and ``prev_<param>`` at the
parameter's update event, ``grad_<name>`` at that backward event, ``step`` and the
inputs (``x``, ``y``: the mini-batch changes) at the first event of each step. A
condition that reads no name is checked everywhere. So ``loss > prev_loss`` stops once
per step, at the loss event of every step whose loss went up, and
``sign(W1) != sign(prev_W1)`` stops at the update where a weight of ``W1`` changed sign
— not at every event after it. :meth:`Condition.evaluate` gives the value at any event.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from engine.errors import ScenarioError
from engine.graph import expr as ex
from engine.graph.graph import Graph
from engine.graph.ops import FUNCTIONS, OPS
from engine.report.diagnose import first_nonfinite_event
from engine.scenario.records import MAX_EXPRESSION_CHARS
from engine.step.events import PHASES
from engine.step.run import OptState, Params, Program, StepResult, forward_values, run_step
from engine.timeline.timeline import Frame, Timeline

WATCH_EXTRAS: tuple[str, ...] = (
    "norm",
    "max",
    "min",
    "any",
    "all",
    "count",
    "isnan",
    "isinf",
    "isfinite",
    "sign",
)
"""Functions conditions may call besides those of ``[graph]`` expressions."""
WATCH_FUNCTIONS: tuple[str, ...] = FUNCTIONS + WATCH_EXTRAS
"""Every function a condition may call."""
SPECIAL_NAMES: tuple[str, ...] = ("value", "grad", "loss", "prev_loss", "step")
"""Names every condition may read, whatever the graph."""
MAX_CONDITION_CHARS = MAX_EXPRESSION_CHARS
"""Longest condition text accepted (the limit of a ``[graph]`` node's expression)."""
BACKWARD_BLOCK = 64
"""Most steps a backward scan replays at once; it starts with one and doubles."""
COMPUTE_CHUNK = 256
"""Steps computed at a time when :func:`find_next` runs the training ahead."""
BREAKPOINT_KINDS: tuple[str, ...] = ("node", "phase", "condition")


class BreakpointError(ValueError):
    """A breakpoint that cannot be set: the message says why."""


class ConditionError(BreakpointError):
    """A refused condition. ``column`` is 1-based, or 0 when it is the whole text.

    ``str()`` is ``reason (column N)``, the form :class:`engine.graph.expr.ExprError` uses.
    """

    def __init__(self, message: str, column: int = 0) -> None:
        self.column = column
        self.reason = message
        super().__init__(message if not column else f"{message} (column {column})")


# ----------------------------------------------------------------------------------------
# Where events sit in a step


class _Layout:
    """Positions of a step's events, known from the graph alone (the order is fixed)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        fwd, bwd, params = graph.forward_order, graph.backward_order, graph.params
        self.loss_pos = len(fwd)
        self.bwd0 = self.loss_pos + 1
        self.upd0 = self.bwd0 + len(bwd)
        self.size = self.upd0 + len(params)
        self.forward_pos = {n: i for i, n in enumerate(fwd)}
        self.backward_pos = {n: self.bwd0 + j for j, n in enumerate(bwd)}
        self.update_pos = {p: self.upd0 + k for k, p in enumerate(params)}

    def phase(self, pos: int) -> str:
        if pos < self.loss_pos:
            return "forward"
        if pos == self.loss_pos:
            return "loss"
        return "backward" if pos < self.upd0 else "update"

    def subject(self, pos: int) -> str:
        g = self.graph
        if pos < self.loss_pos:
            return g.forward_order[pos]
        if pos == self.loss_pos:
            return g.loss
        if pos < self.upd0:
            return g.backward_order[pos - self.bwd0]
        return g.params[pos - self.upd0]

    def node_positions(self, name: str) -> list[int]:
        """Positions of the events whose subject is ``name``."""
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

    def phase_position(self, phase: str) -> int | None:
        """The first event of ``phase`` in a step (None when the phase has no events)."""
        start = {"forward": 0, "loss": self.loss_pos, "backward": self.bwd0, "update": self.upd0}
        end = {
            "forward": self.loss_pos,
            "loss": self.bwd0,
            "backward": self.upd0,
            "update": self.size,
        }
        return start[phase] if start[phase] < end[phase] else None

    def event_names(self) -> list[str]:
        """Nodes and parameters that have events, in graph order."""
        seen = set(self.forward_pos) | {self.graph.loss} | set(self.backward_pos)
        return [n.name for n in self.graph.nodes if n.name in seen]


_LAYOUTS: dict[int, tuple[Graph, _Layout]] = {}


def _layout(graph: Graph) -> _Layout:
    hit = _LAYOUTS.get(id(graph))
    if hit is not None and hit[0] is graph:
        return hit[1]
    layout = _Layout(graph)
    if len(_LAYOUTS) > 32:
        _LAYOUTS.clear()
    _LAYOUTS[id(graph)] = (graph, layout)
    return layout


# ----------------------------------------------------------------------------------------
# Conditions


_UNKNOWN = object()
"""The value of a name that is not defined at the event (and of anything computed from it)."""

_Value = Any  # np.ndarray or _UNKNOWN


def _as_float(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _truth(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).astype(bool)


_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "matmul": np.matmul,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "eq": np.equal,
    "ne": np.not_equal,
}
_EXTRA_FUNCS: dict[str, Callable[[np.ndarray], Any]] = {
    "norm": lambda a: np.sqrt(np.sum(np.square(a))),
    "max": np.max,
    "min": np.min,
    "any": lambda a: np.any(_truth(a)),
    "all": lambda a: np.all(_truth(a)),
    "count": lambda a: np.count_nonzero(a),
    "isnan": np.isnan,
    "isinf": np.isinf,
    "isfinite": np.isfinite,
    "sign": np.sign,
}


def _kind_of(name: str, graph: Graph) -> tuple[str, str] | None:
    """How a condition reads ``name`` in ``graph``: ``(kind, subject)``, or None if it cannot."""
    node = graph.by_name.get(name)
    if node is not None and node.named and node.kind != "const":
        if node.kind == "param":
            return ("param", name)
        return ("leaf", name) if node.is_leaf else ("node", name)
    if name in SPECIAL_NAMES:
        return (name, "")
    if name.startswith("prev_") and name[5:] in graph.params:
        return ("prev", name[5:])
    if name.startswith("grad_"):
        target = graph.by_name.get(name[5:])
        if target is not None and target.named and name[5:] in graph.grad_nodes:
            return ("gradof", name[5:])
    return None


def valid_names(graph: Graph) -> list[str]:
    """Every name a condition may read in ``graph``, specials first."""
    own = [n.name for n in graph.nodes if n.named and n.kind != "const" and n.name.isidentifier()]
    out = [s for s in SPECIAL_NAMES if s not in own] + own
    out += [f"prev_{p}" for p in graph.params]
    out += [f"grad_{n}" for n in own if n in graph.grad_nodes]
    return list(dict.fromkeys(out))


def _name_column(text: str, name: str) -> int:
    """1-based column of the first bare use of ``name`` in ``text`` (0 if none)."""
    return ex.name_column(text, name)


@dataclass(frozen=True, eq=False)
class Condition:
    """A compiled watchpoint condition, bound to one graph.

    Build one with :meth:`compile`. See the module docstring for the names it may read,
    when it is checked and how its value becomes true or false.

    Attributes:
        text: The condition as written (surrounding whitespace removed).
        tree: Its parsed form.
        names: The names it reads, in order of first appearance.
        graph: The graph it was compiled against.
        triggers: Positions in a step where it is checked (sorted), or None for every event.
    """

    text: str
    tree: ex.Expr
    names: tuple[str, ...]
    graph: Graph = field(repr=False)
    triggers: tuple[int, ...] | None = field(repr=False)
    _kinds: Mapping[str, tuple[str, str]] = field(repr=False)

    @classmethod
    def compile(cls, text: str, graph: Graph) -> Condition:
        """Parse and check a condition against a graph.

        Args:
            text: The condition, e.g. ``"norm(grad) > 10"``.
            graph: The graph whose names it may read.

        Returns:
            The compiled condition.

        Raises:
            ConditionError: Bad syntax, forbidden syntax, an unknown function or a name
                that can never exist in this graph; the message names the column.
        """
        if not isinstance(text, str):
            raise ConditionError(f"a condition is text, found {type(text).__name__}")
        text = text.strip()
        if len(text) > MAX_CONDITION_CHARS:
            raise ConditionError(
                f"the condition has {len(text):,} characters, above the limit of"
                f" {MAX_CONDITION_CHARS:,}"
            )
        try:
            tree = ex.parse(text, functions=WATCH_FUNCTIONS, conditions=True)
        except ex.ExprError as e:
            if not e.column and e.reason.startswith("not a valid expression"):
                # Python reports no position when the text stops mid-expression.
                raise ConditionError(
                    "not a valid condition: it ends before the expression is complete",
                    len(text) + 1,
                ) from None
            raise ConditionError(e.reason, e.column) from None
        names = tuple(ex.names(tree))
        kinds: dict[str, tuple[str, str]] = {}
        for name in names:
            kind = _kind_of(name, graph)
            if kind is None:
                raise ConditionError(_unknown_name_message(name, graph), _name_column(text, name))
            kinds[name] = kind
        layout = _layout(graph)
        triggers = None if not names else tuple(sorted(_trigger_positions(kinds.values(), layout)))
        return cls(text, tree, names, graph, triggers, kinds)

    def evaluate(self, frame: Frame, timeline: Timeline | None = None) -> np.ndarray | None:
        """The condition's value at an event, or None where it is undefined or fails.

        Args:
            frame: The event.
            timeline: Where to read the previous step from (for ``prev_loss``,
                ``prev_<param>`` and ``loss`` before the loss event); without it those
                are undefined, except ``prev_loss`` in step 0 (``nan``).
        """
        rec = frame.record
        prev = _Previous.lazy(timeline, frame.step) if timeline is not None else None
        at = _At(_layout(self.graph), frame.step, frame.pos, rec.result, rec.params_before, prev)
        return _run(self, at)

    def holds(self, frame: Frame, timeline: Timeline | None = None) -> bool:
        """Whether the condition is true at the event (whether or not it is checked there)."""
        value = self.evaluate(frame, timeline)
        return value is not None and bool(np.any(_truth(value)))

    def checked_at(self, pos: int) -> bool:
        """Whether a watchpoint with this condition is checked at position ``pos`` of a step."""
        return self.triggers is None or pos in self.triggers


def compile_condition(text: str, graph: Graph) -> Condition:
    """Shorthand for :meth:`Condition.compile`."""
    return Condition.compile(text, graph)


def _unknown_name_message(name: str, graph: Graph) -> str:
    names = valid_names(graph)
    shown = ", ".join(names[:60]) + (f", … ({len(names) - 60} more)" if len(names) > 60 else "")
    hint = ""
    if name.startswith("prev_"):
        hint = f" ('prev_' works for parameters only: {', '.join(graph.params)})"
    elif name.startswith("grad_"):
        hint = " ('grad_' works for nodes and parameters on a path to the loss)"
    return f"unknown name '{name}'{hint}; names you can use: {shown}"


def _trigger_positions(kinds: Iterable[tuple[str, str]], layout: _Layout) -> set[int]:
    g = layout.graph
    out: set[int] = set()
    for kind, subject in kinds:
        if kind in ("param", "prev"):
            out.add(layout.update_pos[subject])
        elif kind in ("leaf", "step"):
            out.add(0)
        elif kind == "node":
            out.add(layout.loss_pos if subject == g.loss else layout.forward_pos[subject])
        elif kind == "value":
            out.update(range(layout.loss_pos + 1))
        elif kind == "grad":
            out.update(range(layout.bwd0, layout.size))
        elif kind in ("loss", "prev_loss"):
            out.add(layout.loss_pos)
        elif kind == "gradof":
            out.add(layout.backward_pos[subject])
    return {p for p in out if 0 <= p < layout.size}


class _Previous:
    """The previous step's loss and starting parameters, fetched only when read."""

    def __init__(
        self,
        loss: float | None = None,
        params: Params | None = None,
        fetch: Callable[[], tuple[float, Params]] | None = None,
    ) -> None:
        self._loss = loss
        self._params = params
        self._fetch = fetch

    @classmethod
    def lazy(cls, timeline: Timeline | None, step: int) -> _Previous | None:
        if timeline is None or step <= 0:
            return None

        def fetch() -> tuple[float, Params]:
            params, _ = timeline.start_of(step - 1)
            values = forward_values(timeline.program, params, step - 1)
            loss = float(np.asarray(values[timeline.program.graph.loss]).reshape(-1)[0])
            return loss, params

        return cls(fetch=fetch)

    def _load(self) -> None:
        if self._fetch is not None:
            self._loss, self._params = self._fetch()
            self._fetch = None

    @property
    def loss(self) -> float:
        self._load()
        assert self._loss is not None
        return self._loss

    @property
    def params(self) -> Params:
        self._load()
        assert self._params is not None
        return self._params


@dataclass(slots=True)
class _At:
    """One event, as a condition sees it: enough to resolve every name."""

    layout: _Layout
    step: int
    pos: int
    result: StepResult
    params_before: Params
    prev: _Previous | None

    def resolve(self, kind: str, subject: str) -> _Value:
        lay, pos, r = self.layout, self.pos, self.result
        if kind == "param":
            updated = pos >= lay.update_pos[subject]
            return r.params_after[subject] if updated else self.params_before[subject]
        if kind == "leaf":
            return r.values[subject]
        if kind == "node":
            at = lay.loss_pos if subject == lay.graph.loss else lay.forward_pos[subject]
            return r.values[subject] if pos >= at else _UNKNOWN
        if kind == "value":
            return r.values[lay.subject(pos)] if pos <= lay.loss_pos else _UNKNOWN
        if kind == "grad":
            return r.grads[lay.subject(pos)] if pos >= lay.bwd0 else _UNKNOWN
        if kind == "loss":
            if pos >= lay.loss_pos:
                return _as_float(r.loss)
            return _UNKNOWN if self.prev is None else _as_float(self.prev.loss)
        if kind == "prev_loss":
            if self.step == 0:
                return _as_float(math.nan)
            return _UNKNOWN if self.prev is None else _as_float(self.prev.loss)
        if kind == "step":
            return _as_float(self.step)
        if kind == "prev":
            if pos >= lay.update_pos[subject]:
                return self.params_before[subject]
            return _UNKNOWN if self.prev is None else self.prev.params[subject]
        if kind == "gradof":
            return r.grads[subject] if pos >= lay.backward_pos[subject] else _UNKNOWN
        raise AssertionError(kind)


def _run(cond: Condition, at: _At) -> np.ndarray | None:
    cache: dict[str, _Value] = {}

    def name(n: str) -> _Value:
        if n not in cache:
            cache[n] = at.resolve(*cond._kinds[n])
        return cache[n]

    try:
        with np.errstate(all="ignore"):
            value = _walk(cond.tree, name)
    except Exception:  # a condition must never break stepping: a failure is "false"
        return None
    return None if value is _UNKNOWN else _as_float(value)


def _walk(e: ex.Expr, name: Callable[[str], _Value]) -> _Value:
    if isinstance(e, ex.Const):
        return np.float64(e.value)
    if isinstance(e, ex.Name):
        return name(e.id)
    args = [_walk(a, name) for a in e.args]
    op = e.op
    if op in ("and", "or"):
        a, b = args
        if a is _UNKNOWN or b is _UNKNOWN:
            known = b if a is _UNKNOWN else a
            if known is _UNKNOWN:
                return _UNKNOWN
            if op == "or" and np.any(_truth(known)):
                return _truth(known).astype(np.float64)
            return _UNKNOWN
        fn = np.logical_and if op == "and" else np.logical_or
        return fn(_truth(a), _truth(b)).astype(np.float64)
    if any(a is _UNKNOWN for a in args):
        return _UNKNOWN
    if op == "not":
        return np.logical_not(_truth(args[0])).astype(np.float64)
    if op == "neg":
        return np.negative(_as_float(args[0]))
    if op == "pow":
        return np.power(_as_float(args[0]), dict(e.attrs)["p"])
    if op in _BINARY:
        out = _BINARY[op](_as_float(args[0]), _as_float(args[1]))
        return _as_float(out)
    if op in _EXTRA_FUNCS:
        return _as_float(_EXTRA_FUNCS[op](_as_float(args[0])))
    return _as_float(OPS[op].forward(_as_float(args[0])))


# ----------------------------------------------------------------------------------------
# Breakpoints


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
        """A watchpoint: stops where ``text`` is true (see the module docstring).

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
    layout = _layout(graph)
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


def _reason(bp: Breakpoint, layout: _Layout, pos: int) -> str:
    return bp.reason(layout.phase(pos), layout.subject(pos))


# ----------------------------------------------------------------------------------------
# Scanning


@dataclass
class _Plan:
    """The enabled breakpoints, by the positions in a step where each may hit."""

    layout: _Layout
    at: dict[int, list[tuple[Breakpoint, Condition | None]]]
    positions: list[int]
    """Sorted positions where something may hit."""
    label_positions: list[int]
    """Sorted positions where a node or phase breakpoint hits (no values needed)."""
    has_conditions: bool


def _plan(breakpoints: Sequence[Breakpoint], graph: Graph) -> _Plan:
    layout = _layout(graph)
    at: dict[int, list[tuple[Breakpoint, Condition | None]]] = {}
    labels: set[int] = set()
    has_conditions = False
    for bp in breakpoints:
        if not bp.enabled:
            continue
        if bp.kind == "condition":
            cond = bp.compiled(graph)
            spots: Iterable[int] = range(layout.size) if cond.triggers is None else cond.triggers
            for p in spots:
                at.setdefault(p, []).append((bp, cond))
            has_conditions = True
            continue
        if bp.kind == "node":
            spots = layout.node_positions(bp.target)
        else:
            first = layout.phase_position(bp.target)
            spots = [] if first is None else [first]
        for p in spots:
            at.setdefault(p, []).append((bp, None))
            labels.add(p)
    return _Plan(layout, at, sorted(at), sorted(labels), has_conditions)


class _Chain:
    """Steps run on the fast path one after another, each from the previous one's end."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.program: Program = timeline.program
        self._next: tuple[int, Params, OptState] | None = None
        self._last: tuple[int, float, Params] | None = None  # step, loss, params at its start

    def run(self, step: int) -> tuple[StepResult, Params, _Previous | None]:
        tl = self.timeline
        if self._next is not None and self._next[0] == step and step != tl.first_step:
            params, state = self._next[1], self._next[2]
        else:
            params, state = tl.start_of(step)
        if step == 0:
            prev = None
        elif self._last is not None and self._last[0] == step - 1:
            prev = _Previous(self._last[1], self._last[2])
        else:
            prev = _Previous.lazy(tl, step)
        result = run_step(self.program, step, params, state)
        self._next = (step + 1, result.params_after, result.state_after)
        self._last = (step, result.loss, params)
        return result, params, prev


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
    each condition is checked only where it can change (see the module docstring). The
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
    plan = _plan(breakpoints, timeline.program.graph)
    if direction > 0:
        return _forward(
            timeline, start_seq, plan, limit_steps, cancelled, stop_on_nonfinite, compute
        )
    return _backward(timeline, start_seq, plan, limit_steps, cancelled, stop_on_nonfinite)


def _nf_hit(found: tuple[int, str]) -> Hit:
    return Hit(found[0], None, f"first non-finite number: {found[1]}")


def _check_at(
    plan: _Plan, pos: int, get: Callable[[], _At], nf_here: bool
) -> tuple[Breakpoint | None, bool]:
    """The first breakpoint hitting at ``pos`` (list order); whether the diagnostic does."""
    for bp, cond in plan.at.get(pos, ()):
        if cond is None:
            return bp, False
        value = _run(cond, get())
        if value is not None and np.any(_truth(value)):
            return bp, False
    return None, nf_here


def _forward(
    tl: Timeline,
    start_seq: int,
    plan: _Plan,
    limit_steps: int | None,
    cancelled: Callable[[], bool] | None,
    stop_nf: bool,
    compute: bool,
) -> Hit | None:
    E = tl.events_per_step
    s0, p0 = (0, -1) if start_seq < 0 else divmod(start_seq, E)
    last = (tl.total_steps if compute else tl.computed_steps) - 1
    if limit_steps is not None:
        last = min(last, s0 + limit_steps)
    if s0 > last:
        return None

    # The nearest node/phase hit, from positions alone.
    label_seq: int | None = None
    if plan.label_positions:
        i = bisect.bisect_right(plan.label_positions, p0)
        if i < len(plan.label_positions):
            label_seq = s0 * E + plan.label_positions[i]
        elif s0 + 1 <= last:
            label_seq = (s0 + 1) * E + plan.label_positions[0]

    def nonfinite() -> tuple[int, str] | None:
        if not stop_nf:
            return None
        found = first_nonfinite_event(tl)
        return found if found is not None and found[0] > start_seq else None

    def advance(to_step: int) -> bool:
        """Compute through ``to_step`` (clamped to the run); False when cancelled."""
        to_step = min(to_step, tl.total_steps - 1)
        while tl.computed_steps <= to_step:
            if cancelled is not None and cancelled():
                return False
            # Another thread (training ahead) may compute meanwhile: nothing left to do
            # here then, which is no reason to give up; the loop looks again.
            need = min(to_step + 1 - tl.computed_steps, COMPUTE_CHUNK)
            if need > 0:
                tl.compute(need, cancelled=cancelled)
        return True

    if not plan.has_conditions:
        if compute:
            target = last if label_seq is None else label_seq // E
            # One step beyond the target: an update that overflowed shows up only as the
            # next step's non-finite loss.
            while tl.computed_steps <= min(target + 1, tl.total_steps - 1):
                nf = nonfinite()
                if nf is not None and (label_seq is None or nf[0] < label_seq):
                    return _nf_hit(nf)
                if not advance(min(tl.computed_steps + COMPUTE_CHUNK - 1, target + 1)):
                    return None
        nf = nonfinite()
        if nf is not None and nf[0] // E <= last and (label_seq is None or nf[0] < label_seq):
            return _nf_hit(nf)
        if label_seq is None or label_seq // E >= tl.computed_steps:
            return None
        pos = label_seq % E
        bp = plan.at[pos][0][0]
        return Hit(label_seq, bp, _reason(bp, plan.layout, pos))

    chain = _Chain(tl)
    stop_step = last if label_seq is None else min(last, label_seq // E)
    for step in range(s0, stop_step + 1):
        if cancelled is not None and cancelled():
            return None
        if compute and not advance(step + 1):
            return None
        if step >= tl.computed_steps:
            return None
        nf = nonfinite()
        if nf is not None and nf[0] < step * E:  # known only now, and already passed
            return _nf_hit(nf)
        nf_pos = nf[0] - step * E if nf is not None and nf[0] // E == step else None
        lo = p0 if step == s0 else -1
        spots = plan.positions[bisect.bisect_right(plan.positions, lo) :]
        if nf_pos is not None:
            spots = sorted({p for p in spots if p <= nf_pos} | {nf_pos})
        state: list[_At] = []

        def at_pos(pos: int, step: int = step, state: list[_At] = state) -> _At:
            if not state:  # run the step only when a condition needs its values
                result, params, prev = chain.run(step)
                state.append(_At(plan.layout, step, pos, result, params, prev))
            state[0].pos = pos
            return state[0]

        for pos in spots:
            bp, nf_hit = _check_at(plan, pos, lambda pos=pos: at_pos(pos), pos == nf_pos)
            if bp is not None:
                return Hit(step * E + pos, bp, _reason(bp, plan.layout, pos))
            if nf_hit:
                assert nf is not None
                return _nf_hit(nf)
    return None


def _backward(
    tl: Timeline,
    start_seq: int,
    plan: _Plan,
    limit_steps: int | None,
    cancelled: Callable[[], bool] | None,
    stop_nf: bool,
) -> Hit | None:
    E = tl.events_per_step
    computed = tl.computed_steps
    if start_seq <= 0 or computed == 0:
        return None
    s0, p0 = divmod(start_seq, E)
    if s0 >= computed:
        s0, p0 = computed - 1, E
    first = 0 if limit_steps is None else max(0, s0 - limit_steps)

    label_seq: int | None = None
    if plan.label_positions:
        i = bisect.bisect_left(plan.label_positions, p0)
        if i > 0:
            label_seq = s0 * E + plan.label_positions[i - 1]
        elif s0 - 1 >= first:
            label_seq = (s0 - 1) * E + plan.label_positions[-1]

    nf = first_nonfinite_event(tl) if stop_nf else None
    if nf is not None and not (first * E <= nf[0] < start_seq):
        nf = None
    nf_step = -1 if nf is None else nf[0] // E

    if not plan.has_conditions:
        if nf is not None and (label_seq is None or nf[0] > label_seq):
            return _nf_hit(nf)
        if label_seq is None:
            return None
        pos = label_seq % E
        bp = plan.at[pos][0][0]
        return Hit(label_seq, bp, _reason(bp, plan.layout, pos))

    floor_step = first if label_seq is None else max(first, label_seq // E)
    floor_step = max(floor_step, nf_step)  # the diagnostic stops the scan there at the latest
    hi = s0
    block = 1
    while hi >= floor_step:
        lo = max(floor_step, hi - block + 1)
        block = min(2 * block, BACKWARD_BLOCK)
        chain = _Chain(tl)
        best: Hit | None = None
        for step in range(lo, hi + 1):
            if cancelled is not None and cancelled():
                return None
            upper = p0 if step == s0 else E
            nf_pos = nf[0] - step * E if nf is not None and nf[0] // E == step else None
            result, params, prev = chain.run(step)
            base = _At(plan.layout, step, 0, result, params, prev)
            spots = plan.positions[: bisect.bisect_left(plan.positions, upper)]
            if nf_pos is not None:
                spots = sorted({p for p in spots if p >= nf_pos} | {nf_pos})

            def at_pos(pos: int, base: _At = base) -> _At:
                base.pos = pos
                return base

            for pos in reversed(spots):
                bp, nf_hit = _check_at(plan, pos, lambda pos=pos: at_pos(pos), pos == nf_pos)
                if bp is not None:
                    best = Hit(step * E + pos, bp, _reason(bp, plan.layout, pos))
                    break
                if nf_hit:
                    assert nf is not None
                    best = _nf_hit(nf)
                    break
        if best is not None:
            return best
        hi = lo - 1
    return None


# ----------------------------------------------------------------------------------------
# Breakpoints from scenario files


def compile_scenario_breakpoints(program: Program) -> list[Breakpoint]:
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
    return out
