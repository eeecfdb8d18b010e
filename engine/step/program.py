"""A scenario made runnable: its graph, starting parameters, data batches and optimizer.

:func:`make_program` builds a validated :class:`~engine.scenario.records.Scenario` into a
:class:`Program`, after checking that one recorded step fits the memory bound
(:func:`step_footprint`). Running it is :mod:`engine.step.run`'s; opening a scenario
from what a user typed is :func:`engine.open.open_program`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec
import numpy as np

from engine.errors import PlaceError, ScenarioError
from engine.graph.build import build, const_value
from engine.graph.graph import Graph, Node
from engine.scenario.records import MAX_STEP_ELEMENTS, ModelSpec, OptimizerSpec, Scenario
from engine.step.events import frozen
from engine.step.fast import FastPlan
from engine.step.layout import step_layout
from engine.step.optim import STATE_KEYS, Optimizer, state_keys

Params = Mapping[str, np.ndarray]
BATCH_CACHE_ENTRIES = 4096
"""Mini-batches kept for reuse, at most (one per starting row)."""
BATCH_CACHE_ELEMENTS = 4 * 2**20
"""Numbers the kept mini-batches may hold in all (32 MiB): with large batches and many
distinct starting rows, 4,096 of them would take gigabytes."""
OptState = Mapping[str, Mapping[str, np.ndarray]]


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
    _batch_cache: dict = msgspec.field(default_factory=dict)
    _plans: dict = msgspec.field(default_factory=dict)

    def fast_plan(self) -> FastPlan:
        """The fast path's plan of this program's graph, made at the first call.

        Kept by the graph's identity, holding the graph itself so the identity cannot be
        reused while the plan is kept: a program copied with ``msgspec.structs.replace``
        shares this cache, and may have another graph.
        """
        kept = self._plans.get(id(self.graph))
        if kept is None:
            kept = self._plans[id(self.graph)] = FastPlan(self.graph)
        return kept

    @property
    def steps(self) -> int:
        """How many steps the scenario trains for."""
        return self.scenario.train.steps

    @property
    def events_per_step(self) -> int:
        """How many events each step emits (:class:`~engine.step.layout.StepLayout`)."""
        return step_layout(self.graph).size

    def inputs(self, step: int) -> dict[str, np.ndarray]:
        """The leaves' values for ``step`` apart from parameters: data batch and fixed."""
        x, y = self.x, self.y
        if x is None or y is None:
            return dict(self.fixed)
        n = x.shape[0]
        b = self.batch_size
        if b == n:
            return {"x": x, "y": y, **self.fixed} if self.fixed else {"x": x, "y": y}
        start = (step * b) % n
        key = start
        cached = self._batch_cache.get(key)
        if cached is None:
            rows = (start + np.arange(b)) % n  # consecutive rows, wrapping around
            cached = (frozen(x[rows]), frozen(y[rows]))
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
        assert scenario.graph is not None  # a scenario has a model or a graph
        fixed |= {k: frozen(v) for k, v in scenario.graph.inputs.items()}
        params = {k: frozen(v) for k, v in scenario.graph.params.items()}
        program = Program(scenario, graph, params, opt, fixed)
    return program


def step_footprint(graph: Graph, optimizer: str | OptimizerSpec) -> list[tuple[Node, int]]:
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
        optimizer: The optimizer (its buffers per parameter), or the kind of one whose
            buffers do not depend on its settings (``sgd``, ``momentum``, ``adam``).

    Returns:
        ``(node, numbers)`` for every node, in the graph's (topological) order.
    """
    if isinstance(optimizer, str):
        buffers = len(STATE_KEYS[optimizer])
    else:
        buffers = len(state_keys(optimizer))
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
    footprint = step_footprint(graph, scenario.optimizer)
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
