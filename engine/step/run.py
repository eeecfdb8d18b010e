"""Running a scenario: a :class:`Program` and one training step, with or without events.

:func:`run_step` is the per-step engine loop. With ``record=False`` it is the fast path
that training ahead uses (values and gradients only, nothing materialised); with
``record=True`` it also builds the step's events, including every chain-rule term. Both
paths do the same arithmetic in the same order, so their numbers agree to the bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec
import numpy as np

from engine.errors import PlaceError, ScenarioError
from engine.graph.build import build, const_value
from engine.graph.graph import Graph, Node
from engine.scenario.records import MAX_STEP_ELEMENTS, ModelSpec, Scenario
from engine.step.events import Backward, Event, Forward, Loss, Term, Update, frozen
from engine.step.optim import STATE_KEYS, Optimizer

Params = Mapping[str, np.ndarray]
BATCH_CACHE_ENTRIES = 4096
"""Mini-batches kept for reuse, at most (one per starting row)."""
BATCH_CACHE_ELEMENTS = 4 * 2**20
"""Numbers the kept mini-batches may hold in all (32 MiB): with large batches and many
distinct starting rows, 4,096 of them would take gigabytes."""
OptState = Mapping[str, Mapping[str, np.ndarray]]


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


class Program(msgspec.Struct, frozen=True, eq=False):
    """A scenario made runnable: graph, starting parameters, data, optimizer.

    Attributes:
        scenario: The validated scenario.
        graph: Its computation graph.
        init_params: The parameters before step 0 (read-only arrays).
        optimizer: The update rule.
        fixed: Values that never change between steps: constants, and a graph's inputs.
        x: A layered network's samples (``None`` for a graph).
        y: Its targets.
        batch_size: Rows per step; equal to the sample count for full batches.
    """

    scenario: Scenario
    graph: Graph
    init_params: Mapping[str, np.ndarray]
    optimizer: Optimizer
    fixed: Mapping[str, np.ndarray]
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    batch_size: int = 0
    breakpoints: tuple = ()
    """The scenario's ``[[breakpoints]]``, compiled (:class:`engine.debug.search.Breakpoint`)."""
    _batch_cache: dict = msgspec.field(default_factory=dict)

    @property
    def steps(self) -> int:
        """How many steps the scenario trains for."""
        return self.scenario.train.steps

    @property
    def events_per_step(self) -> int:
        g = self.graph
        return len(g.forward_order) + 1 + len(g.backward_order) + len(g.params)

    def inputs(self, step: int) -> dict[str, np.ndarray]:
        """The leaves' values for ``step`` apart from parameters: data batch and fixed."""
        if self.x is None:
            return dict(self.fixed)
        n = self.x.shape[0]
        b = self.batch_size
        if b == n:
            return (
                {"x": self.x, "y": self.y} | self.fixed
                if self.fixed
                else {"x": self.x, "y": self.y}
            )
        start = (step * b) % n
        key = start
        cached = self._batch_cache.get(key)
        if cached is None:
            rows = (start + np.arange(b)) % n  # consecutive rows, wrapping around
            cached = (frozen(self.x[rows]), frozen(self.y[rows]))
            per_batch = cached[0].size + cached[1].size
            kept = len(self._batch_cache)
            if kept < BATCH_CACHE_ENTRIES and (kept + 1) * per_batch <= BATCH_CACHE_ELEMENTS:
                self._batch_cache[key] = cached
        return {"x": cached[0], "y": cached[1], **self.fixed}

    def batch_rows(self, step: int) -> tuple[int, int]:
        """The first row and the row count of ``step``'s mini-batch."""
        n = 0 if self.x is None else self.x.shape[0]
        if n == 0:
            return 0, 0
        return (step * self.batch_size) % n, self.batch_size

    def initial_state(self) -> dict[str, dict[str, np.ndarray]]:
        """The optimizer's buffers before step 0."""
        return {p: self.optimizer.init_state(v) for p, v in self.init_params.items()}


def make_program(scenario: Scenario) -> Program:
    """Build and initialise a scenario.

    Raises:
        ScenarioError: The graph cannot be built (bad expression, shapes that do not fit).
    """
    try:
        graph = build(scenario)
    except PlaceError as e:
        raise ScenarioError(scenario.source, e.place, e.message) from None
    check_footprint(scenario, graph)
    fixed = {n.name: frozen(const_value(n)) for n in graph.nodes if n.kind == "const"}
    opt = Optimizer(scenario.optimizer)
    if scenario.model is not None:
        assert scenario.data is not None
        params = init_model_params(scenario.model)
        n = scenario.data.x.shape[0]
        program = Program(
            scenario,
            graph,
            params,
            opt,
            fixed,
            x=frozen(scenario.data.x),
            y=frozen(scenario.data.y),
            batch_size=scenario.train.batch_size or n,
        )
    else:
        fixed |= {k: frozen(v) for k, v in scenario.graph.inputs.items()}
        params = {k: frozen(v) for k, v in scenario.graph.params.items()}
        program = Program(scenario, graph, params, opt, fixed)
    if not scenario.breakpoints:
        return program
    from engine.debug.search import (
        compile_scenario_breakpoints,
    )  # watch reads programs: import late

    breakpoints = tuple(compile_scenario_breakpoints(program))
    return msgspec.structs.replace(program, breakpoints=breakpoints)


def step_footprint(graph: Graph, optimizer: str) -> list[tuple[Node, int]]:
    """How many float64 numbers one recorded step holds, by the node that brings them.

    Counted from the shapes alone, before anything is allocated, after what
    :func:`run_step` keeps with ``record=True`` (a step of the app or of a trace):

    - every node's value, leaves included;
    - the gradient of every node that has a backward event;
    - per edge of the chain rule (counted at the consumer), the term's local derivative
      (at most the larger of the two shapes) and its contribution (the input's shape);
    - per parameter, its value after the update, and the optimizer's buffers before and
      after it.

    Events hold no copies of their own: a forward event's value, a term's upstream
    gradient and an update's ``before`` and ``grad`` are the arrays counted above (except
    for scalars, counted three times over).

    Args:
        graph: The graph, with every node's shape.
        optimizer: The optimizer's kind (its buffers per parameter).

    Returns:
        ``(node, numbers)`` for every node, in the graph's (topological) order.
    """
    buffers = len(STATE_KEYS[optimizer])
    sizes = {n.name: math.prod(n.shape) for n in graph.nodes}
    cost = dict(sizes)
    for name in graph.backward_order:
        cost[name] += sizes[name]
    for name, _, op, inputs, wanted, *_ in graph.backward_plan:
        if op is not None:
            cost[name] += sum(max(sizes[name], sizes[inputs[k]]) + sizes[inputs[k]] for k in wanted)
    for p in graph.params:
        cost[p] += sizes[p] * (1 + 2 * buffers)
    # Arithmetic on 0-d arrays gives numpy scalars, which events copy into read-only
    # arrays (a value, a gradient, an upstream per term): a scalar may be held thrice.
    return [(n, cost[n.name] * (3 if not n.shape else 1)) for n in graph.nodes]


def check_footprint(scenario: Scenario, graph: Graph) -> None:
    """Refuse a scenario whose recorded step would hold more than
    :data:`~engine.scenario.records.MAX_STEP_ELEMENTS` numbers (see :func:`step_footprint`).

    The limits of the loader bound each array and node on its own; this bounds them all
    together, so that no valid file can exhaust memory with many large nodes.

    Raises:
        ScenarioError: Naming the place where the running total (in graph order) passes
            the limit, the total, and what to make smaller.
    """
    footprint = step_footprint(graph, scenario.optimizer.kind)
    total = sum(numbers for _, numbers in footprint)
    if total <= MAX_STEP_ELEMENTS:
        return
    running = 0
    for node, numbers in footprint:
        running += numbers
        if running > MAX_STEP_ELEMENTS:
            break
    place = node.source
    if place.startswith("model.layers["):
        place += f" (layer {node.layer})"
    name = node.name if len(node.name) <= 40 else node.name[:39] + "…"
    shape = "×".join(map(str, node.shape)) or "scalar"
    if scenario.model is not None:
        hint = "use a smaller train.batch_size, fewer samples, or fewer or narrower layers"
    else:
        hint = "use smaller values or fewer large nodes"
    raise ScenarioError(
        scenario.source,
        place,
        f"one training step would hold up to {total:,} numbers (node values, gradients,"
        f" chain-rule terms, parameters and optimizer state), above the limit of"
        f" {MAX_STEP_ELEMENTS:,}; the count passes the limit at {name} ({shape}): {hint}",
    )


def init_model_params(model: ModelSpec) -> dict[str, np.ndarray]:
    """A layered network's starting parameters.

    Layers that give ``weight``/``bias`` use them. Others draw from one generator seeded
    with ``model.seed``, layer by layer in order (a layer with a given weight draws
    nothing): ``xavier`` is uniform on ±√(6/(fan_in+fan_out)) (Glorot), ``he`` is normal
    with standard deviation √(2/fan_in) (Kaiming), ``normal`` is the standard normal,
    ``zeros`` is zeros. Biases that are not given start at zero.
    """
    generator: list[np.random.Generator] = []  # made at the first draw: given weights need none

    def rng() -> np.random.Generator:
        if not generator:
            generator.append(np.random.default_rng(model.seed))
        return generator[0]

    params: dict[str, np.ndarray] = {}
    fan_in = model.inputs
    for k, layer in enumerate(model.layers, start=1):
        shape = (fan_in, layer.units)
        if layer.weight is not None:
            w = np.array(layer.weight, dtype=np.float64)
        elif model.init == "xavier":
            bound = np.sqrt(6.0 / (fan_in + layer.units))
            w = rng().uniform(-bound, bound, size=shape)
        elif model.init == "he":
            w = rng().normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
        elif model.init == "normal":
            w = rng().normal(0.0, 1.0, size=shape)
        else:
            w = np.zeros(shape)
        b = np.zeros(layer.units) if layer.bias is None else np.array(layer.bias, dtype=np.float64)
        params[f"W{k}"] = frozen(w)
        params[f"b{k}"] = frozen(b)
        fan_in = layer.units
    return params


def forward_values(program: Program, params: Params, step: int) -> dict[str, np.ndarray]:
    """Every node's value for ``step`` with the given parameters (no gradients)."""
    with np.errstate(all="ignore"):
        return _forward(program, params, step)


def _forward(program: Program, params: Params, step: int) -> dict[str, np.ndarray]:
    values = program.inputs(step)
    values.update(params)
    for name, forward, inputs, attrs in program.graph.forward_plan:
        if attrs:
            values[name] = forward(*[values[i] for i in inputs], **attrs)
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
    graph = program.graph
    events: list[Event] = []
    with np.errstate(all="ignore"):
        values = _forward(program, params, step)
        loss_arr = values[graph.loss]
        loss = float(loss_arr.reshape(-1)[0])
        if record:
            for name in graph.forward_order:
                node = graph[name]
                events.append(
                    Forward(
                        len(events) + seq0, step, name, node.op, node.inputs, frozen(values[name])
                    )
                )
            events.append(Loss(len(events) + seq0, step, graph.loss, loss, frozen(loss_arr)))
        grads = _backward(program, values, events if record else None, seq0, step)
        params_after: dict[str, np.ndarray] = {}
        state_after: dict[str, dict[str, np.ndarray]] = {}
        update = program.optimizer.update
        for p in graph.params:
            params_after[p], state_after[p] = update(params[p], grads[p], state[p], step)
        if record:
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


def _backward(
    program: Program,
    values: Mapping[str, np.ndarray],
    events: list[Event] | None,
    seq0: int,
    step: int,
) -> dict[str, np.ndarray]:
    """Reverse accumulation over ``graph.backward_order``; appends Backward events if asked.

    A node's gradient is complete when it is reached, because every consumer comes later
    in topological order and so earlier here. The fast path (``events is None``) keeps
    only the contributions; the recorded path also keeps each term's upstream and local
    derivative. Both sum the same arrays in the same order.
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
            g = np.ones(shape) if name == loss else np.zeros(shape)
        else:
            g = parts[-1]
            for k in range(len(parts) - 2, -1, -1):  # in consumer order
                g = g + parts[k]
        grads[name] = g
        if record:
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
                if record:
                    terms.setdefault(inputs[k], []).append((name, g, locs[k], contrib[k]))
            continue
        # The same node read twice (x * x) is one consumer: its contributions, and its
        # local derivatives where both exist, are summed into one term.
        merged: dict[str, tuple] = {}
        for k in wanted:
            i, loc = inputs[k], (locs[k] if record else None)
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


def load_program(ref: str) -> Program:
    """Load, validate and build a scenario from a ``.toml`` path or a built-in id.

    Raises:
        ScenarioError: The file is missing or invalid; the message names file and place.
    """
    from engine.scenario.loader import load
    from scenarios import resolve  # the built-in index is data, not UI

    return make_program(load(resolve(ref)))
