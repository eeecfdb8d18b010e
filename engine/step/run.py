"""One training step of a :class:`~engine.step.program.Program`, with or without events.

:func:`run_step` is the per-step engine loop. With ``record=False`` it is the fast path
that training ahead uses (values and gradients only, nothing materialised), run on the
program's :class:`~engine.step.fast.FastPlan`; with ``record=True`` it also builds the
step's events, including every chain-rule term. Both paths call the same ops on the same
arrays in the same order, so their numbers agree to the bit.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
import numpy as np

from engine.graph.ops import SEED
from engine.step.events import Backward, Event, Forward, Loss, Term, Update, frozen
from engine.step.program import OptState, Params, Program


class StepResult(msgspec.Struct, frozen=True, eq=False):
    """Everything one step computed.

    Attributes:
        step: The 0-based step.
        loss: The loss (a Python float; ``nan``/``inf`` when it is not finite).
        values: Every node's value in this step (leaves included).
        grads: ∂L/∂node for every node in ``graph.backward_order``.
        params_after: The parameters after the step's updates.
        state_after: The optimizer's buffers after them.
        events: The step's events in order; empty unless recorded.
    """

    step: int
    loss: float
    values: Mapping[str, np.ndarray]
    grads: Mapping[str, np.ndarray]
    params_after: dict[str, np.ndarray]
    state_after: dict[str, dict[str, np.ndarray]]
    events: tuple[Event, ...] = ()


def forward_values(program: Program, params: Params, step: int) -> dict[str, np.ndarray]:
    """Every node's value for ``step`` with the given parameters (no gradients)."""
    with np.errstate(all="ignore"):
        return _forward(program, params, step)


def _forward(program: Program, params: Params, step: int) -> dict[str, np.ndarray]:
    values = program.inputs(step)
    values.update(params)
    # Calls spelled out by arity: no argument list is built for the common ops (this loop
    # is most of the fast path's own time; the arithmetic is numpy's).
    for name, forward, inputs, attrs in program.graph.forward_plan:
        if attrs:
            values[name] = forward(*[values[i] for i in inputs], **attrs)
        elif len(inputs) == 1:
            values[name] = forward(values[inputs[0]])
        elif len(inputs) == 2:
            values[name] = forward(values[inputs[0]], values[inputs[1]])
        else:
            values[name] = forward(*[values[i] for i in inputs])
    return values


def run_step(
    program: Program,
    step: int,
    params: Params,
    state: OptState,
    *,
    record: bool = False,
    seq0: int = 0,
) -> StepResult:
    """Run one training step: forward, loss, backward, update.

    Args:
        program: What to run.
        step: The 0-based step (selects the mini-batch and Adam's bias correction).
        params: The parameters at the start of the step.
        state: The optimizer's buffers at the start of the step.
        record: Also build the step's events (the slow, complete path).
        seq0: The ``seq`` of the step's first event.

    Returns:
        The step's values, gradients, new parameters and state, and events if recorded.
    """
    if not record:
        with np.errstate(all="ignore"):
            return fast_step(program, step, params, state)
    graph = program.graph
    events: list[Event] = []
    with np.errstate(all="ignore"):
        values = _forward(program, params, step)
        loss_arr = values[graph.loss]
        loss = float(loss_arr.reshape(-1)[0])
        for name in graph.forward_order:
            node = graph[name]
            assert node.op is not None  # the forward pass computes op nodes only
            events.append(
                Forward(len(events) + seq0, step, name, node.op, node.inputs, frozen(values[name]))
            )
        events.append(Loss(len(events) + seq0, step, graph.loss, loss, frozen(loss_arr)))
        grads = _backward(program, values, events, seq0, step)
        params_after, state_after = program.optimizer.update_all(
            step, graph.params, params, grads, state
        )
        for p in graph.params:
            params_after[p] = _seal(params_after[p])
            state_after[p] = {k: _seal(v) for k, v in state_after[p].items()}
            events.append(
                Update(
                    len(events) + seq0,
                    step,
                    p,
                    frozen(params[p]),
                    frozen(grads[p]),
                    params_after[p],
                    state_after[p],
                )
            )
    return StepResult(step, loss, values, grads, params_after, state_after, tuple(events))


def fast_step(program: Program, step: int, params: Params, state: OptState) -> StepResult:
    """:func:`run_step` without events, on the program's :class:`FastPlan`.

    The caller holds ``np.errstate(all="ignore")`` (a loop of steps enters it once: per
    step, entering it costs about 1% of a small network's step).
    """
    plan = program.fast_plan()
    values = program.inputs(step)
    values.update(params)
    plan.forward(values)
    loss = plan.loss_of(values)
    grads = plan.backward(values)
    params_after, state_after = program.optimizer.update_all(
        step, plan.graph.params, params, grads, state
    )
    return StepResult(step, loss, values, grads, params_after, state_after)


def _backward(
    program: Program,
    values: Mapping[str, np.ndarray],
    events: list[Event] | None,
    seq0: int,
    step: int,
) -> dict[str, np.ndarray]:
    """Reverse accumulation over ``graph.backward_order``; appends Backward events if asked.

    A node's gradient is complete when it is reached, because every consumer comes later
    in topological order and so earlier here. With ``events`` it also keeps each term's
    upstream and local derivative. The fast path (:class:`~engine.step.fast.FastPlan`)
    sums the same contributions in the same order.
    """
    graph = program.graph
    loss = graph.loss
    record = events is not None
    pending: dict[str, list[np.ndarray]] = {}  # contributions, last consumer first
    terms: dict[str, list[tuple]] = {}  # (via, upstream, local, value), when recording
    grads: dict[str, np.ndarray] = {}
    for name, shape, op, inputs, wanted, need, attrs, distinct in graph.backward_plan:
        parts = pending.pop(name, None)
        if parts is None:
            g = (SEED if shape == () else np.ones(shape)) if name == loss else np.zeros(shape)
        else:
            g = parts[-1]
            for k in range(len(parts) - 2, -1, -1):  # in consumer order
                g = g + parts[k]
        grads[name] = g
        if events is not None:
            node_terms = terms.pop(name, [])
            events.append(
                Backward(
                    len(events) + seq0,
                    step,
                    name,
                    frozen(g),
                    tuple(
                        Term(via, frozen(up), None if loc is None else frozen(loc), frozen(val))
                        for via, up, loc, val in reversed(node_terms)
                    ),
                )
            )
        if op is None:  # a leaf, or a node none of whose inputs needs a gradient
            continue
        out = values[name]
        ins = [values[i] for i in inputs]
        contrib = op.vjp(g, out, ins, need, attrs)
        locs = op.local(out, ins, attrs) if record else None
        if distinct:
            for k in wanted:
                pending.setdefault(inputs[k], []).append(contrib[k])
                if locs is not None:
                    terms.setdefault(inputs[k], []).append((name, g, locs[k], contrib[k]))
            continue
        # The same node read twice (x * x) is one consumer: its contributions, and its
        # local derivatives where both exist, are summed into one term.
        merged: dict[str, tuple] = {}
        for k in wanted:
            i, loc = inputs[k], (locs[k] if locs is not None else None)
            if i in merged:
                val, prev = merged[i]
                both = prev is not None and loc is not None
                merged[i] = (val + contrib[k], prev + loc if both else None)
            else:
                merged[i] = (contrib[k], loc)
        for i, (val, loc) in merged.items():
            pending.setdefault(i, []).append(val)
            if record:
                terms.setdefault(i, []).append((name, g, loc, val))
    return grads


def _seal(a: np.ndarray) -> np.ndarray:
    """Make a freshly computed array read-only in place (cheaper than :func:`frozen`)."""
    if type(a) is not np.ndarray:  # arithmetic on 0-d arrays gives numpy scalars
        a = np.array(a, dtype=np.float64)
    a.flags.writeable = False
    return a
