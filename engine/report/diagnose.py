"""Diagnostics that stop the learner: non-finite numbers, vanishing and exploding
gradients, dead ReLU units.

- :func:`first_nonfinite_event` finds the first event of a run where a NaN or an
  infinity appears, and says which quantity holds it. ``c`` stops there by default
  (:func:`engine.debug.search.find_next`).
- :func:`nonfinite_cause` says why it appeared there: inherited from an input, or made
  by the event itself (an overflow, or an undefined operation).
- :func:`gradient_health` measures each layer's gradient at one step and flags it:

  ==========================  =========  ==============================================
  constant                    value      flag
  ==========================  =========  ==============================================
  ``VANISHING_RATIO``         1e-6       *vanishing*: the layer's gradient norm is below
                                         this fraction of the largest layer's norm …
  ``VANISHING_ABS``           1e-8       … or below this, absolutely
  ``EXPLODING_ABS``           1e3        *exploding*: the norm is above this …
  ``EXPLODING_RATIO``         1e4        … or above this multiple of the smallest
                                         non-vanishing norm of the layers *after* it
                                         (nearer the output); an infinite norm too
  ==========================  =========  ==============================================

  A *layer* of a layered network is ``W{k}`` and ``b{k}`` together (the norm over both);
  in an expression graph every parameter is its own layer. A norm is that of all
  elements (Frobenius). Gradients explode when they *grow* on the way back to the
  input, so the relative test looks only at the layers after a layer: otherwise the
  output layer of a network whose early gradients vanish would be called exploding for
  the same spread. An expression graph has no such order; there the relative test
  compares with the smallest non-vanishing norm of all its parameters. A gradient that
  is tiny because the loss itself is nearly zero is flagged as vanishing too: read the
  flag together with the loss.
- :func:`dead_units` lists the ReLU units that output zero (≤ 0) for every sample of the
  step's batch: their gradient is zero too (``leaky_relu``: 0.01 of it), so nothing
  flowing back through them can revive them on this batch.
"""

from __future__ import annotations

import math
import threading
import weakref

import msgspec
import numpy as np

from engine import fmt
from engine.graph.graph import Graph
from engine.step.events import Backward, Event, Forward, Loss, Update
from engine.step.run import run_step
from engine.timeline.timeline import Frame, StepRecord, Timeline

VANISHING_RATIO = 1e-6
"""A layer's gradient is vanishing below this fraction of the largest layer gradient."""
VANISHING_ABS = 1e-8
"""… or below this norm, whatever the other layers do."""
EXPLODING_ABS = 1e3
"""A layer's gradient is exploding above this norm …"""
EXPLODING_RATIO = 1e4
"""… or above this multiple of the smallest non-vanishing layer gradient."""
RELU_OPS = ("relu", "leaky_relu")
"""Ops whose units can die."""


# --- non-finite numbers ---------------------------------------------------------------------


def _what(a: np.ndarray) -> str | None:
    """``None`` when every element is finite, else what is not: ``"nan"``, ``"inf and -inf"``…"""
    a = np.asarray(a)
    if not a.size or np.isfinite(a).all():
        return None
    kinds = []
    if np.isnan(a).any():
        kinds.append("nan")
    if np.isposinf(a).any():
        kinds.append("inf")
    if np.isneginf(a).any():
        kinds.append("-inf")
    return " and ".join(kinds)


def _holds(subject: str, a: np.ndarray, what: str) -> str:
    return f"{subject} is {what}" if np.asarray(a).size == 1 else f"{subject} contains {what}"


def nonfinite_in_event(ev: Event) -> str | None:
    """What in one event is not finite (None when everything is).

    Looks at a forward event's value, the loss, a backward event's gradient and each of
    its chain-rule terms, and an update's new value and optimizer buffers.
    """
    if isinstance(ev, Forward):
        what = _what(ev.value)
        return None if what is None else _holds(ev.node, ev.value, what)
    if isinstance(ev, Loss):
        what = _what(ev.array)
        return None if what is None else f"the loss {ev.node} is {what}"
    if isinstance(ev, Backward):
        grad = f"∂L/∂{ev.node}"
        what = _what(ev.grad)
        bad_terms = [t.via for t in ev.terms if _what(t.value) is not None]
        if what is not None:
            via = f" (from the term via {bad_terms[0]})" if bad_terms and len(ev.terms) > 1 else ""
            return _holds(grad, ev.grad, what) + via
        if bad_terms:
            return f"the term of {grad} via {bad_terms[0]} is not finite"
        return None
    if isinstance(ev, Update):
        what = _what(ev.after)
        if what is not None:
            return _holds(f"{ev.param} after the update", ev.after, what)
        for k, buf in ev.state.items():
            what = _what(buf)
            if what is not None:
                return _holds(f"the optimizer's {k} of {ev.param}", buf, what)
    return None


def nonfinite_in_record(rec: StepRecord) -> tuple[int, str] | None:
    """The first event of a step holding a non-finite number: ``(seq, description)``."""
    for ev in rec.events:
        found = nonfinite_in_event(ev)
        if found is not None:
            return ev.seq, found
    return None


def _nonfinite_in_step(timeline: Timeline, step: int) -> tuple[int, str] | None:
    # Recorded here rather than with Timeline.record: this may run in a worker thread,
    # and the timeline's record cache belongs to the thread that shows frames.
    params, state = timeline.start_of(step)
    seq0 = step * timeline.events_per_step
    result = run_step(timeline.program, step, params, state, record=True, seq0=seq0)
    for ev in result.events:
        found = nonfinite_in_event(ev)
        if found is not None:
            return ev.seq, found
    return None


_CACHE: weakref.WeakKeyDictionary[Timeline, tuple[int, int, tuple[int, str] | None]] = (
    weakref.WeakKeyDictionary()
)
"""Per timeline: the ``first_nonfinite_step`` searched from, the next step to search, and
what was found."""
_CACHE_LOCK = threading.Lock()


def first_nonfinite_event(timeline: Timeline) -> tuple[int, str] | None:
    """The first event where a non-finite number appears, among the computed steps.

    The timeline notes, as it computes, the first step whose loss or parameter gradients
    are not all finite (:attr:`Timeline.first_nonfinite_step`); nothing is computed here
    beyond the computed steps. The search records the steps from the one *before*
    that step onwards, event by event, until it finds a non-finite number: the one
    before, because an update that overflows shows up only in the next step's loss; and
    onwards, because the timeline sums squared gradients, which overflow a little before
    the gradients themselves do. The answer is cached per timeline. A non-finite
    intermediate value that reaches neither the loss nor a gradient (a saturating op
    can absorb an infinity) is not reported.

    Returns:
        ``(seq, description)``, e.g. ``(123, "∂L/∂z1 contains inf")``, or None while no
        computed step has a non-finite number.
    """
    parent = timeline.parent
    if parent is not None and timeline.first_step:
        inherited = first_nonfinite_event(parent)
        if inherited is not None and inherited[0] < timeline.first_step * timeline.events_per_step:
            return inherited
    start = timeline.first_nonfinite_step
    if start is None:
        return None
    with _CACHE_LOCK:
        cached = _CACHE.get(timeline)
    if cached is not None and cached[0] == start:
        _, step, found = cached
        if found is not None:
            return found
    else:
        step, found = max(start - 1, timeline.first_step, 0), None
    while found is None and step < timeline.computed_steps:
        found = _nonfinite_in_step(timeline, step)
        step += 1
    with _CACHE_LOCK:
        _CACHE[timeline] = (start, step, found)
    return found


def nonfinite_cause(frame: Frame) -> str:
    """Why the first non-finite number appeared at ``frame``'s event, read from the
    numbers the event was computed from: one sentence (empty for an event computed from
    nothing), which the app's notification and ``bpdbg trace --format text`` show.

    Either an input already holds a NaN or inf (the event inherits it), or every input
    is finite and the event made it: an overflow past float64's largest number, or an
    undefined operation (∞ − ∞, 0·∞, 0/0) for a NaN."""
    ev = frame.event
    values = frame.values
    inputs: list[tuple[str, np.ndarray]] = []
    if isinstance(ev, (Forward, Loss)):
        node = frame.program.graph[ev.node]
        inputs = [(n, values[n]) for n in node.inputs if n in values]
    elif isinstance(ev, Backward):
        for t in ev.terms:
            inputs.append((f"∂L/∂{t.via}", t.upstream))
            if t.local is not None:
                inputs.append((f"∂{t.via}/∂{ev.node}", t.local))
    elif isinstance(ev, Update):
        inputs = [(ev.param, ev.before), (f"∂L/∂{ev.param}", ev.grad)]
        state = frame.record.state_before[ev.param]
        inputs += [(f"the optimizer's {k}", v) for k, v in state.items()]
    if not inputs:
        return ""
    arrays = [(name, np.asarray(a, dtype=np.float64)) for name, a in inputs]
    for name, a in arrays:
        if a.size and not np.isfinite(a).all():
            return f"It is computed from {name}, which already holds a NaN or inf."
    name, largest = max(
        ((name, float(np.max(np.abs(a)))) for name, a in arrays if a.size), key=lambda t: t[1]
    )
    size = f"the largest {fmt.num(largest, 2)} (in {name})"
    if "nan" in (nonfinite_in_event(ev) or ""):
        return (
            f"Everything it is computed from is finite, {size}: NaN comes from an undefined"
            " operation such as ∞ − ∞, 0·∞ or 0/0 along the way."
        )
    return (
        f"Everything it is computed from is finite, {size}: the result is too large for"
        " a float64, whose largest number is about 1.8e+308."
    )


# --- gradient health -------------------------------------------------------------------------


class LayerHealth(msgspec.Struct, frozen=True):
    """One layer's gradient at one step.

    Attributes:
        name: ``"layer 2"`` for a layered network, the parameter's name in a graph.
        params: The parameters it groups (``("W2", "b2")``).
        norm: The gradient norm over all of them.
        param_norms: Each parameter's own gradient norm, in ``params`` order.
        ratio: ``norm`` over the largest finite layer norm (0 when that is 0).
        vanishing: Below ``VANISHING_RATIO`` × the largest, or below ``VANISHING_ABS``.
        exploding: Above ``EXPLODING_ABS``, or ``EXPLODING_RATIO`` × the smallest
            non-vanishing norm of the later layers (of all parameters in an expression
            graph), or infinite.
        nonfinite: The gradient holds a NaN or an infinity.
    """

    name: str
    params: tuple[str, ...]
    norm: float
    param_norms: tuple[float, ...]
    ratio: float
    vanishing: bool
    exploding: bool
    nonfinite: bool


def _norm(a: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        return float(np.sqrt(np.sum(np.square(np.asarray(a, dtype=np.float64)))))


def layer_groups(graph: Graph) -> list[tuple[str, tuple[str, ...]]]:
    """``(name, params)`` per layer: ``W{k}, b{k}`` in a layered network, else one each."""
    if graph.kind != "model":
        return [(p, (p,)) for p in graph.params]
    groups: dict[int, list[str]] = {}
    for p in graph.params:
        groups.setdefault(graph[p].layer, []).append(p)
    return [(f"layer {k}", tuple(ps)) for k, ps in groups.items()]


def health_of(graph: Graph, grads: dict[str, np.ndarray]) -> list[LayerHealth]:
    """Flag each layer of ``graph`` given one step's parameter gradients."""
    rows = []
    for name, params in layer_groups(graph):
        pn = tuple(_norm(grads[p]) for p in params)
        with np.errstate(all="ignore"):
            total = float(np.sqrt(np.sum(np.square(pn))))
        rows.append((name, params, total, pn))
    finite = [r[2] for r in rows if math.isfinite(r[2])]
    largest = max(finite, default=0.0)

    def vanishing(n: float) -> bool:
        return math.isfinite(n) and (n < VANISHING_ABS or n < VANISHING_RATIO * largest)

    alive = [math.isfinite(r[2]) and not vanishing(r[2]) for r in rows]
    ordered = graph.kind == "model"  # layers run from the input to the output
    out = []
    for i, (name, params, n, pn) in enumerate(rows):
        others = [r[2] for j, r in enumerate(rows) if alive[j] and (j > i if ordered else True)]
        smallest = min(others, default=0.0)
        exploding = n == math.inf or (
            math.isfinite(n)
            and (n > EXPLODING_ABS or (smallest > 0 and n > EXPLODING_RATIO * smallest))
        )
        ratio = n / largest if largest > 0 and math.isfinite(n) else 0.0
        out.append(
            LayerHealth(
                name,
                params,
                n,
                pn,
                ratio,
                vanishing(n),
                exploding,
                nonfinite=not all(math.isfinite(v) for v in pn),
            )
        )
    return out


def gradient_health(timeline: Timeline, step: int) -> list[LayerHealth]:
    """Per-layer gradient norms and flags at a computed ``step`` (see the module docstring)."""
    rec = timeline.record(step)
    return health_of(timeline.program.graph, dict(rec.result.grads))


# --- dead ReLUs --------------------------------------------------------------------------------


def dead_units(frame_or_record: Frame | StepRecord) -> dict[str, list[int]]:
    """Units of ``relu``/``leaky_relu`` nodes that are ≤ 0 for every sample of the batch.

    A node's value of shape ``(samples, units)`` (every layer of a layered network) has
    one unit per column; any other shape (an expression graph's scalar or vector) has one
    unit per element, numbered in row-major order.

    Args:
        frame_or_record: A frame (only the nodes its forward pass has reached so far) or
            a whole step.

    Returns:
        For each ReLU node computed, in forward order, the sorted indices of its dead
        units (an empty list when none are dead).
    """
    if isinstance(frame_or_record, Frame):
        events = frame_or_record.record.events[: frame_or_record.pos + 1]
    else:
        events = frame_or_record.events
    out: dict[str, list[int]] = {}
    for ev in events:
        if not isinstance(ev, Forward) or ev.op not in RELU_OPS:
            continue
        v = np.asarray(ev.value)
        with np.errstate(invalid="ignore"):
            if v.ndim == 2:
                dead = np.all(v <= 0, axis=0)
            else:
                dead = (v <= 0).reshape(-1)
        out[ev.node] = [int(i) for i in np.flatnonzero(dead)]
    return out
