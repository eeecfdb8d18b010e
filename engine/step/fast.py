"""The fast path's plan: a graph's forward and backward passes, worked out once.

Training ahead runs thousands of small steps, where a step's own Python (looking up what
each node reads, collecting contributions in a dict of lists, deciding how to sum them)
costs as much as numpy's arithmetic. :class:`FastPlan` decides all of that when it is
built, from ``graph.forward_plan`` and ``graph.backward_plan``, and leaves a flat list of
closures per pass:

- forward: one closure per computed node, its inputs' names bound, its arity known;
- backward: every contribution of every edge gets a numbered slot, fixed in advance; a
  node's gradient is its one contribution's slot as it is, or a slot holding the sum of
  several (in consumer order, as :func:`engine.step.run._backward` sums them), or a
  fresh seed (the loss) or zeros (a node nothing reaches).

The arithmetic is each op's own ``forward`` and ``vjp`` from the op table, called with the
same arrays in the same order as the recorded path, so the numbers agree to the bit.
Nothing is kept between steps (two threads may run steps of one program at once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from operator import itemgetter
from typing import Any

import numpy as np

from engine.graph.graph import Graph
from engine.graph.ops import SEED

Values = dict[str, np.ndarray]
Slots = list[Any]
Forward = Callable[[Values], None]
Backward = Callable[[Values, Slots], None]


class FastPlan:
    """One graph's passes as flat lists of closures (see the module docstring).

    Args:
        graph: The graph; its ``forward_plan`` and ``backward_plan`` say what to do.
    """

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.loss = graph.loss
        self.scalar_loss = graph[graph.loss].shape == ()
        self.forward_steps: tuple[Forward, ...] = tuple(
            _forward_step(name, fn, inputs, attrs) for name, fn, inputs, attrs in graph.forward_plan
        )
        plan = graph.backward_plan
        # Each consumer's deliveries, in processing (reverse topological) order: one value
        # per distinct input that needs a gradient (a node read twice is one delivery).
        deliveries: dict[str, list[int]] = {name: [] for name, *_ in plan}
        slots = 0
        consumer_out: dict[str, list[tuple[tuple[int, ...], int]]] = {}
        for name, _, op, inputs, wanted, *_ in plan:
            if op is None:
                continue
            groups: dict[str, list[int]] = {}
            for k in wanted:
                groups.setdefault(inputs[k], []).append(k)
            out = []
            for target, ks in groups.items():
                deliveries[target].append(slots)
                out.append((tuple(ks), slots))
                slots += 1
            consumer_out[name] = out
        seeds: list[tuple[int, Callable[[], np.ndarray]]] = []  # (slot, a fresh start)
        grad_slot: dict[str, int] = {}
        steps: list[Backward] = []
        for name, shape, op, inputs, _, need, attrs, _ in plan:
            parts = deliveries[name]
            if len(parts) == 1:
                grad_slot[name] = parts[0]
            else:
                grad_slot[name] = slots
                if not parts:
                    seeds.append((slots, _start(name == graph.loss, shape)))
                else:
                    # _backward sums the first consumer's contribution (topologically) with
                    # the next: those are the ones processed last here.
                    steps.append(_sum_step(slots, tuple(reversed(parts))))
                slots += 1
            if op is not None:
                steps.append(
                    _backward_step(
                        name, op.vjp, inputs, need, attrs, grad_slot[name], consumer_out[name]
                    )
                )
        self.backward_steps: tuple[Backward, ...] = tuple(steps)
        self.slots = slots
        self.seeds = tuple(seeds)
        self.order = tuple(name for name, *_ in plan)
        order_slots = [grad_slot[n] for n in self.order]
        self._gather: Callable[[Slots], Sequence[np.ndarray]] = (
            itemgetter(*order_slots) if len(order_slots) > 1 else _one_getter(order_slots[0])
        )

    def loss_of(self, values: Values) -> float:
        """The loss as a Python float (its first element, if the loss node is not a scalar)."""
        loss = values[self.loss]
        return float(loss) if self.scalar_loss else float(loss.reshape(-1)[0])

    def forward(self, values: Values) -> None:
        """Compute every op node into ``values`` (which holds the leaves)."""
        for run in self.forward_steps:
            run(values)

    def backward(self, values: Values) -> dict[str, np.ndarray]:
        """∂L/∂node for every node of ``graph.backward_order``, in that order."""
        slots: Slots = [None] * self.slots
        for slot, start in self.seeds:
            slots[slot] = start()
        for run in self.backward_steps:
            run(values, slots)
        return dict(zip(self.order, self._gather(slots)))


def _start(is_loss: bool, shape: tuple[int, ...]) -> Callable[[], np.ndarray]:
    """The gradient of a node no consumer reaches: for the loss ∂L/∂L (the shared
    :data:`SEED` when it is a scalar), zeros for any other node (a fresh array each step,
    as the recorded path makes)."""
    if is_loss:
        return (lambda: SEED) if shape == () else partial(np.ones, shape)
    return partial(np.zeros, shape)


def _one_getter(slot: int) -> Callable[[Slots], Sequence[np.ndarray]]:
    return lambda slots: (slots[slot],)


def _forward_step(
    name: str, fn: Callable[..., Any], inputs: tuple[str, ...], attrs: dict[str, Any]
) -> Forward:
    if attrs:

        def run(v: Values) -> None:
            v[name] = fn(*[v[i] for i in inputs], **attrs)

    elif len(inputs) == 1:
        (a,) = inputs

        def run(v: Values) -> None:
            v[name] = fn(v[a])

    elif len(inputs) == 2:
        a, b = inputs

        def run(v: Values) -> None:
            v[name] = fn(v[a], v[b])

    elif len(inputs) == 3:
        a, b, c = inputs

        def run(v: Values) -> None:
            v[name] = fn(v[a], v[b], v[c])

    else:

        def run(v: Values) -> None:
            v[name] = fn(*[v[i] for i in inputs])

    return run


def _sum_step(out: int, parts: tuple[int, ...]) -> Backward:
    """Sum several contributions into one gradient, left to right."""
    first, *rest = parts

    def run(v: Values, s: Slots) -> None:
        g = s[first]
        for k in rest:
            g = g + s[k]
        s[out] = g

    return run


def _backward_step(
    name: str,
    vjp: Callable[..., list],
    inputs: tuple[str, ...],
    need: tuple[bool, ...],
    attrs: dict[str, Any],
    g: int,
    out: list[tuple[tuple[int, ...], int]],
) -> Backward:
    """Call one node's vjp and put each contribution in its slot (a node read twice by
    this one gets the sum of its contributions, in argument order, as one delivery)."""
    if len(inputs) == 1:  # one input, one delivery: the commonest case, spelled out
        (a,) = inputs
        ((_,), slot) = out[0]

        def unary(v: Values, s: Slots) -> None:
            s[slot] = vjp(s[g], v[name], [v[a]], need, attrs)[0]

        return unary
    fetch = itemgetter(*inputs)
    if all(len(ks) == 1 for ks, _ in out):
        pairs = tuple((ks[0], slot) for ks, slot in out)
        if len(pairs) == 1:
            ((k, slot),) = pairs

            def one(v: Values, s: Slots) -> None:
                s[slot] = vjp(s[g], v[name], fetch(v), need, attrs)[k]

            return one
        if len(pairs) == 2:
            (k0, s0), (k1, s1) = pairs

            def two(v: Values, s: Slots) -> None:
                contrib = vjp(s[g], v[name], fetch(v), need, attrs)
                s[s0] = contrib[k0]
                s[s1] = contrib[k1]

            return two

        def several(v: Values, s: Slots) -> None:
            contrib = vjp(s[g], v[name], fetch(v), need, attrs)
            for k, slot in pairs:
                s[slot] = contrib[k]

        return several

    def merged(v: Values, s: Slots) -> None:
        contrib = vjp(s[g], v[name], fetch(v), need, attrs)
        for ks, slot in out:
            total = contrib[ks[0]]
            for k in ks[1:]:
                total = total + contrib[k]
            s[slot] = total

    return merged
