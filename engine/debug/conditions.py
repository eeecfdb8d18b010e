"""Watchpoint conditions: a small language over an event's numbers, parsed once and
evaluated by walking its tree with numpy.

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

Functions: the v1 functions of ``[graph]`` expressions (:data:`GRAPH_FUNCTIONS`: ``sum``
and ``mean`` reduce every element) and ``norm`` (the
2-norm of all elements), ``max``, ``min``, ``any``, ``all``, ``count`` (how many elements
are non-zero), ``isnan``, ``isinf``, ``isfinite`` and ``sign``, each taking one argument.

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

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.debug.errors import ConditionError
from engine.graph import expr as ex
from engine.graph.graph import Graph
from engine.graph.ops import FUNCTIONS, OPS
from engine.scenario.records import MAX_EXPRESSION_CHARS
from engine.step.layout import StepLayout, step_layout
from engine.step.run import Params, StepResult, forward_values
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
GRAPH_FUNCTIONS: tuple[str, ...] = FUNCTIONS[: FUNCTIONS.index("log_softmax") + 1]
"""The functions of ``[graph]`` expressions that conditions offer too: the elementwise
ones, ``sum`` and ``mean`` (of every element: conditions take no keywords), ``softmax``
and ``log_softmax``. The v2 reductions are left to the extras (``max``, ``min``, ``norm``)."""
WATCH_FUNCTIONS: tuple[str, ...] = GRAPH_FUNCTIONS + WATCH_EXTRAS
"""Every function a condition may call."""
SPECIAL_NAMES: tuple[str, ...] = ("value", "grad", "loss", "prev_loss", "step")
"""Names every condition may read, whatever the graph."""
MAX_CONDITION_CHARS = MAX_EXPRESSION_CHARS
"""Longest condition text accepted (the limit of a ``[graph]`` node's expression)."""

UNKNOWN = object()
"""The value of a name that is not defined at the event (and of anything computed from it)."""

Value = Any  # np.ndarray or UNKNOWN


def _as_float(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def truth(a: np.ndarray) -> np.ndarray:
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
    "any": lambda a: np.any(truth(a)),
    "all": lambda a: np.all(truth(a)),
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

    Build one with :meth:`compile`. See this module's docstring for the names it may read,
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
        layout = step_layout(graph)
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
        prev = Previous.lazy(timeline, frame.step) if timeline is not None else None
        at = At(step_layout(self.graph), frame.step, frame.pos, rec.result, rec.params_before, prev)
        return run_condition(self, at)

    def holds(self, frame: Frame, timeline: Timeline | None = None) -> bool:
        """Whether the condition is true at the event (whether or not it is checked there)."""
        value = self.evaluate(frame, timeline)
        return value is not None and bool(np.any(truth(value)))

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


def _trigger_positions(kinds: Iterable[tuple[str, str]], layout: StepLayout) -> set[int]:
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
            out.update(range(layout.backward_start, layout.size))
        elif kind in ("loss", "prev_loss"):
            out.add(layout.loss_pos)
        elif kind == "gradof":
            out.add(layout.backward_pos[subject])
    return {p for p in out if 0 <= p < layout.size}


class Previous:
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
    def lazy(cls, timeline: Timeline | None, step: int) -> Previous | None:
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
class At:
    """One event, as a condition sees it: enough to resolve every name."""

    layout: StepLayout
    step: int
    pos: int
    result: StepResult
    params_before: Params
    prev: Previous | None

    def resolve(self, kind: str, subject: str) -> Value:
        lay, pos, r = self.layout, self.pos, self.result
        if kind == "param":
            updated = pos >= lay.update_pos[subject]
            return r.params_after[subject] if updated else self.params_before[subject]
        if kind == "leaf":
            return r.values[subject]
        if kind == "node":
            at = lay.loss_pos if subject == lay.graph.loss else lay.forward_pos[subject]
            return r.values[subject] if pos >= at else UNKNOWN
        if kind == "value":
            return r.values[lay.subject(pos)] if pos <= lay.loss_pos else UNKNOWN
        if kind == "grad":
            return r.grads[lay.subject(pos)] if pos >= lay.backward_start else UNKNOWN
        if kind == "loss":
            if pos >= lay.loss_pos:
                return _as_float(r.loss)
            return UNKNOWN if self.prev is None else _as_float(self.prev.loss)
        if kind == "prev_loss":
            if self.step == 0:
                return _as_float(math.nan)
            return UNKNOWN if self.prev is None else _as_float(self.prev.loss)
        if kind == "step":
            return _as_float(self.step)
        if kind == "prev":
            if pos >= lay.update_pos[subject]:
                return self.params_before[subject]
            return UNKNOWN if self.prev is None else self.prev.params[subject]
        if kind == "gradof":
            return r.grads[subject] if pos >= lay.backward_pos[subject] else UNKNOWN
        raise AssertionError(kind)


def run_condition(cond: Condition, at: At) -> np.ndarray | None:
    cache: dict[str, Value] = {}

    def name(n: str) -> Value:
        if n not in cache:
            cache[n] = at.resolve(*cond._kinds[n])
        return cache[n]

    try:
        with np.errstate(all="ignore"):
            value = _walk(cond.tree, name)
    except Exception:  # a condition must never break stepping: a failure is "false"
        return None
    return None if value is UNKNOWN else _as_float(value)


def _walk(e: ex.Expr, name: Callable[[str], Value]) -> Value:
    if isinstance(e, ex.Const):
        return np.float64(e.value)
    if isinstance(e, ex.Name):
        return name(e.id)
    args = [_walk(a, name) for a in e.args]
    op = e.op
    if op in ("and", "or"):
        a, b = args
        if a is UNKNOWN or b is UNKNOWN:
            known = b if a is UNKNOWN else a
            if known is UNKNOWN:
                return UNKNOWN
            if op == "or" and np.any(truth(known)):
                return truth(known).astype(np.float64)
            return UNKNOWN
        fn = np.logical_and if op == "and" else np.logical_or
        return fn(truth(a), truth(b)).astype(np.float64)
    if any(a is UNKNOWN for a in args):
        return UNKNOWN
    if op == "not":
        return np.logical_not(truth(args[0])).astype(np.float64)
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
