"""What the model computes over its data space at a step: the numbers of the data view.

Three pictures, chosen by :func:`view_of` from the program alone:

- ``plane``: a layered network with 2 inputs. The network's output at every point of a
  grid over the input plane (:func:`output_plane`): class probabilities when it
  classifies (``cross_entropy``, or a softmax output layer), else its output units.
- ``curve``: a layered network with 1 input. The output along a line of inputs
  (:func:`output_curve`).
- ``surface``: an expression graph with exactly two scalar parameters. The loss at every
  point of a grid over the plane of those parameters (:func:`loss_surface`), and the
  path the parameters took (:func:`parameter_path`).

Anything else has no data view, and :attr:`DataView.reason` says why in one sentence.

Every value comes from the engine's own forward functions (the op table, in the graph's
order), so the output at a point equals, bit for bit, what a training step computes for
that point with the same parameters: the data view never has arithmetic of its own.
:class:`Landscape` keeps the recent results of one run, per step.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping

import msgspec
import numpy as np

from engine.graph.ops import OPS
from engine.step.program import Program
from engine.step.run import forward_values
from engine.timeline.timeline import Timeline

Bounds = tuple[float, float, float, float]
"""``(x low, x high, y low, y high)`` of a rectangle of the plane drawn."""

DATA_MARGIN = 0.1
"""Room around the data points, as a fraction of their spread on each axis."""
PATH_MARGIN = 0.15
"""Room around the parameters' path, as a fraction of its spread on each axis."""
CACHED = 16
"""Results a :class:`Landscape` keeps (a few steps' pictures, at a few sizes)."""


class DataView(msgspec.Struct, frozen=True):
    """Which picture of its data space a program has.

    Attributes:
        kind: ``"plane"``, ``"curve"``, ``"surface"`` or ``"none"``.
        reason: For ``"none"``: why there is no data view, in one sentence.
        output: The node whose values are drawn: the network's last activation
            (``"a2"``), or the loss node of an expression graph.
        units: The network's output units (``plane`` and ``curve``).
        target: How the output reads: ``"classes"`` (probabilities of ``units``
            classes), ``"binary"`` (one probability, targets 0 or 1), ``"signed"`` (one
            score, targets −1 or +1) or ``"value"`` (a regression).
        params: For ``surface``, the two parameters: across, then up.
        axes: The names of the axes drawn: ``("x[0]", "x[1]")``, ``("x",)``, ``("a", "b")``.
    """

    kind: str
    reason: str = ""
    output: str = ""
    units: int = 0
    target: str = ""
    params: tuple[str, ...] = ()
    axes: tuple[str, ...] = ()


def view_of(program: Program) -> DataView:
    """The data view ``program`` has (``kind == "none"`` with a reason if it has none)."""
    scenario = program.scenario
    if scenario.model is None:
        return _surface_view(program)
    model = scenario.model
    last = model.layers[-1]
    inputs = model.inputs
    if inputs not in (1, 2):
        return DataView(
            "none",
            f"this network has {inputs} inputs: the data view draws a network with 1 input"
            " (its fitted curve) or 2 (its output over the plane of inputs)",
        )
    if scenario.loss == "cross_entropy" or last.activation == "softmax":
        target = "classes"
    elif last.units == 1 and (scenario.loss == "bce" or last.activation == "sigmoid"):
        target = "binary"
    elif last.units == 1 and scenario.loss == "hinge":
        target = "signed"
    else:
        target = "value"
    return DataView(
        "plane" if inputs == 2 else "curve",
        output=f"a{len(model.layers)}",
        units=last.units,
        target=target,
        axes=("x[0]", "x[1]") if inputs == 2 else ("x",),
    )


def _surface_view(program: Program) -> DataView:
    params = program.graph.params
    why = "the loss surface is drawn over exactly 2 scalar parameters"
    if len(params) != 2:
        word = "parameter" if len(params) == 1 else "parameters"
        return DataView(
            "none",
            f"this expression graph has {len(params)} {word} ({', '.join(params)}): {why}",
        )
    for p in params:
        shape = program.init_params[p].shape
        if math.prod(shape) != 1:
            dims = "×".join(map(str, shape))
            return DataView("none", f"{p} is {dims}, not a scalar: {why}")
    return DataView("surface", output=program.graph.loss, params=params, axes=params)


# --- the network's output ------------------------------------------------------------------


def model_output(program: Program, params: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The network's last activation for the rows of ``x``: exactly the forward pass's.

    Runs the graph's forward plan (the same functions, in the same order, as a training
    step) with ``x`` as the batch, up to the output node; the loss, which needs targets,
    is not computed.

    Args:
        program: A layered network.
        params: Its parameters.
        x: Inputs, shape ``(n, inputs)``.

    Returns:
        Shape ``(n, units)``.
    """
    graph = program.graph
    output = view_of(program).output
    values: dict[str, np.ndarray] = dict(program.fixed)
    values.update(params)
    values["x"] = x
    with np.errstate(all="ignore"):
        for name, forward, inputs, attrs in graph.forward_plan:
            values[name] = forward(*[values[i] for i in inputs], **attrs)
            if name == output:
                break
    return values[output]


def shown_output(program: Program, params: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """What the data view draws for the rows of ``x``: the class probabilities of a
    classifier whose loss applies the softmax itself (``cross_entropy``, the op table's
    own softmax of the logits), else :func:`model_output`."""
    out = model_output(program, params, x)
    scenario = program.scenario
    assert scenario.model is not None
    if scenario.loss == "cross_entropy" and scenario.model.layers[-1].activation != "softmax":
        with np.errstate(all="ignore"):
            out = np.asarray(OPS["softmax"].forward(out))
    return out


def data_bounds(program: Program) -> Bounds:
    """The rectangle of the input plane drawn: the data's range on each axis, with
    :data:`DATA_MARGIN` around it (a 1-input network: the second pair is ``(0, 0)``)."""
    assert program.x is not None
    x = program.x
    lo0, hi0 = padded(float(x[:, 0].min()), float(x[:, 0].max()), DATA_MARGIN)
    if x.shape[1] < 2:
        return lo0, hi0, 0.0, 0.0
    lo1, hi1 = padded(float(x[:, 1].min()), float(x[:, 1].max()), DATA_MARGIN)
    return lo0, hi0, lo1, hi1


def padded(lo: float, hi: float, fraction: float) -> tuple[float, float]:
    """``lo`` and ``hi`` moved apart by ``fraction`` of their distance on each side; a
    single value (or one too large to measure) gets room of its own."""
    span = hi - lo
    if span > 0 and math.isfinite(span):
        return lo - fraction * span, hi + fraction * span
    room = max(1.0, abs(lo) * 0.5) if math.isfinite(lo) else 1.0
    return lo - room, lo + room


def grid_axes(bounds: Bounds, nx: int, ny: int) -> tuple[np.ndarray, np.ndarray]:
    """The centres of ``nx`` columns across and ``ny`` rows up the rectangle ``bounds``."""
    x0, x1, y0, y1 = bounds
    xs = x0 + (np.arange(nx) + 0.5) * ((x1 - x0) / nx)
    ys = y0 + (np.arange(ny) + 0.5) * ((y1 - y0) / ny)
    return xs, ys


def grid_points(bounds: Bounds, nx: int, ny: int) -> np.ndarray:
    """Every grid centre as a row ``(x, y)``: the bottom row first, left to right."""
    xs, ys = grid_axes(bounds, nx, ny)
    gx, gy = np.meshgrid(xs, ys)
    return np.column_stack([gx.reshape(-1), gy.reshape(-1)])


def output_plane(
    program: Program, params: Mapping[str, np.ndarray], bounds: Bounds, nx: int, ny: int
) -> np.ndarray:
    """:func:`shown_output` at every centre of an ``nx`` × ``ny`` grid over ``bounds``.

    Returns:
        Shape ``(ny, nx, units)``; row 0 is the bottom of the rectangle.
    """
    out = shown_output(program, params, grid_points(bounds, nx, ny))
    return out.reshape(ny, nx, -1)


def output_curve(
    program: Program, params: Mapping[str, np.ndarray], lo: float, hi: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`shown_output` at ``n`` evenly spaced inputs from ``lo`` to ``hi``.

    Returns:
        The inputs, shape ``(n,)``, and the outputs, shape ``(n, units)``.
    """
    xs = np.linspace(lo, hi, n)
    return xs, shown_output(program, params, xs[:, None])


def point_targets(program: Program) -> np.ndarray:
    """Each sample's target as the data view colours it: the class index for
    ``classes`` (the label, or the one-hot row's largest entry), else the first target."""
    assert program.y is not None
    y = program.y
    if view_of(program).target == "classes":
        return (y if y.ndim == 1 else np.argmax(y, axis=1)).astype(np.int64)
    return y.reshape(len(y), -1)[:, 0]


# --- the loss over two parameters ------------------------------------------------------------


def loss_surface(program: Program, bounds: Bounds, nx: int, ny: int) -> np.ndarray:
    """The loss at every centre of an ``nx`` × ``ny`` grid over the plane of the graph's
    two parameters (the first across, the second up), other leaves as the file gives them.

    A graph whose nodes are all scalars and whose ops are all elementwise is evaluated
    for the whole grid at once (each element is computed by the same ufunc as a single
    point would be); any other graph one point at a time.

    Returns:
        Shape ``(ny, nx)``; row 0 is the bottom of the rectangle.
    """
    graph = program.graph
    p, q = view_of(program).params
    xs, ys = grid_axes(bounds, nx, ny)
    vectorised = all(n.shape == () for n in graph.nodes) and all(
        n.op is not None and OPS[n.op].elementwise for n in graph.op_nodes
    )
    if vectorised:
        gp, gq = (np.ascontiguousarray(g) for g in np.meshgrid(xs, ys))
        loss = forward_values(program, {p: gp, q: gq}, 0)[graph.loss]
        return np.broadcast_to(loss, (ny, nx)).astype(np.float64, copy=True)
    shape_p, shape_q = program.init_params[p].shape, program.init_params[q].shape
    out = np.empty((ny, nx))
    for j, b in enumerate(ys):
        for i, a in enumerate(xs):
            params = {p: np.full(shape_p, a), q: np.full(shape_q, b)}
            out[j, i] = forward_values(program, params, 0)[graph.loss].reshape(-1)[0]
    return out


def parameter_path(timeline: Timeline, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the two parameters of a ``surface`` view were at the start of each step up
    to ``step``, as the timeline's history samples them (every step of a run shorter
    than the history's budget; see :class:`engine.timeline.timeline.History`).

    Returns:
        The steps, shape ``(n,)``, and the two parameters' values, shape ``(n, 2)``.
    """
    p, q = view_of(timeline.program).params
    steps, a = timeline.param_history(p, 0)
    _, b = timeline.param_history(q, 0)
    keep = steps <= step
    return steps[keep], np.column_stack([a[keep], b[keep]])


def path_bounds(points: np.ndarray) -> Bounds:
    """A rectangle holding every finite point of a path, with :data:`PATH_MARGIN` around."""
    finite = points[np.isfinite(points).all(axis=1)] if len(points) else points
    if not len(finite):
        return -1.0, 1.0, -1.0, 1.0
    lo0, hi0 = padded(float(finite[:, 0].min()), float(finite[:, 0].max()), PATH_MARGIN)
    lo1, hi1 = padded(float(finite[:, 1].min()), float(finite[:, 1].max()), PATH_MARGIN)
    return lo0, hi0, lo1, hi1


# --- one run's pictures, cached ----------------------------------------------------------------


class Plane(msgspec.Struct, frozen=True, eq=False):
    """The output over the input plane at one step: ``values[row, column, unit]``."""

    step: int
    bounds: Bounds
    values: np.ndarray


class Curve(msgspec.Struct, frozen=True, eq=False):
    """The output along the input line at one step."""

    step: int
    xs: np.ndarray
    values: np.ndarray


class Surface(msgspec.Struct, frozen=True, eq=False):
    """The loss over the plane of two parameters: ``values[row, column]``."""

    bounds: Bounds
    values: np.ndarray


class Landscape:
    """The data-space pictures of one run, computed on demand and cached per step.

    The network's output depends on the parameters at the start of a step (those its
    forward pass uses), so a step's picture is computed once and found again when the
    cursor comes back; the loss surface of an expression graph does not depend on the
    step at all, only on the rectangle its path needs.

    Args:
        timeline: The run.
    """

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.view = view_of(timeline.program)
        self._cache: OrderedDict[tuple, object] = OrderedDict()

    def _cached(self, key: tuple, compute):
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        value = self._cache[key] = compute()
        while len(self._cache) > CACHED:
            self._cache.popitem(last=False)
        return value

    def _params(self, step: int) -> Mapping[str, np.ndarray]:
        self.timeline.ensure(step)
        return self.timeline.start_of(step)[0]

    def plane(self, step: int, nx: int, ny: int) -> Plane:
        """The output over the input plane with the parameters at the start of ``step``."""
        program = self.timeline.program
        bounds = data_bounds(program)
        return self._cached(
            ("plane", step, nx, ny),
            lambda: Plane(step, bounds, output_plane(program, self._params(step), bounds, nx, ny)),
        )

    def curve(self, step: int, n: int) -> Curve:
        """The output along the input line with the parameters at the start of ``step``."""
        program = self.timeline.program
        lo, hi, _, _ = data_bounds(program)

        def compute() -> Curve:
            xs, values = output_curve(program, self._params(step), lo, hi, n)
            return Curve(step, xs, values)

        return self._cached(("curve", step, n), compute)

    def surface(self, nx: int, ny: int) -> Surface:
        """The loss over a rectangle holding the path of every step computed so far."""
        program = self.timeline.program
        _, points = parameter_path(self.timeline, self.timeline.computed_steps)
        bounds = path_bounds(points)
        return self._cached(
            ("surface", bounds, nx, ny),
            lambda: Surface(bounds, loss_surface(program, bounds, nx, ny)),
        )
