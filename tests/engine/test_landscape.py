"""The data view's numbers (engine.report.landscape): which picture a program has, the
network's output over its input space and the loss over two parameters, each equal to
the engine's own forward pass bit for bit, and the parameters' path."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from engine.open import open_program
from engine.report import landscape as ls
from engine.scenario.records import GraphSpec, OptimizerSpec, Scenario, TrainSpec
from engine.step.program import Program, make_program
from engine.step.run import forward_values
from engine.timeline.timeline import Timeline


def graph_program(params: dict, nodes: tuple, inputs: dict | None = None) -> Program:
    return make_program(
        Scenario(
            name="graph",
            source="<test>",
            optimizer=OptimizerSpec("sgd", 0.1),
            train=TrainSpec(steps=30),
            graph=GraphSpec(
                inputs={k: np.asarray(v, dtype=np.float64) for k, v in (inputs or {}).items()},
                params={k: np.asarray(v, dtype=np.float64) for k, v in params.items()},
                nodes=nodes,
                loss=nodes[-1][0],
            ),
        )
    )


def params_at(timeline: Timeline, step: int) -> dict:
    timeline.ensure(step)
    return dict(timeline.start_of(step)[0])


def with_inputs(program: Program, x: np.ndarray) -> Program:
    """The same network and parameters, with ``x`` as its (full-batch) data."""
    y = np.zeros(len(x)) if program.y.ndim == 1 else np.zeros((len(x), program.y.shape[1]))
    return msgspec.structs.replace(program, x=x, y=y, batch_size=len(x), _batch_cache={})


# --- which view -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "kind", "target", "output"),
    [
        ("xor", "plane", "binary", "a2"),
        ("softmax-3class", "plane", "classes", "a2"),
        ("spiral-mlp", "plane", "classes", "a3"),
        ("vanishing-sigmoid", "plane", "binary", "a9"),
        ("diverging-lr", "plane", "value", "a1"),
        ("dead-relu", "curve", "value", "a2"),
        ("worked-example", "curve", "value", "a1"),
        ("ravine-momentum", "surface", "", "L"),
        ("worked-example-graph", "surface", "", "L"),
    ],
)
def test_each_builtin_gets_its_picture(scenario: str, kind: str, target: str, output: str) -> None:
    view = ls.view_of(open_program(scenario))
    assert (view.kind, view.target, view.output) == (kind, target, output)
    assert not view.reason


def test_ravine_draws_its_two_parameters() -> None:
    view = ls.view_of(open_program("ravine-adam"))
    assert view.params == ("a", "b") and view.axes == ("a", "b")


@pytest.mark.parametrize(
    ("program", "words"),
    [
        (lambda: open_program("chain"), "1 parameter (w)"),
        (
            lambda: graph_program({"a": 1.0, "b": 2.0, "c": 3.0}, (("L", "a * b * c"),)),
            "3 parameters (a, b, c)",
        ),
        (
            lambda: graph_program({"W": [[1.0, 2.0]], "b": 0.0}, (("L", "sum(W) + b"),)),
            "W is 1×2, not a scalar",
        ),
    ],
)
def test_no_view_says_why(program, words: str) -> None:
    view = ls.view_of(program())
    assert view.kind == "none"
    assert words in view.reason and "2 scalar parameters" in view.reason


# --- the network's output ---------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["xor", "spiral-mlp", "softmax-3class", "dead-relu"])
def test_the_output_at_the_data_is_the_forward_pass(scenario: str) -> None:
    """Where the batch is the whole data set, the output at the data points is exactly
    the step's forward value of the output node."""
    program = open_program(scenario)
    program = with_inputs(program, program.x)  # full batch, whatever the file says
    timeline = Timeline(program)
    output = ls.view_of(program).output
    for step in (0, 7):
        record = timeline.record(step)
        got = ls.model_output(program, record.params_before, program.x)
        assert got.tobytes() == record.result.values[output].tobytes()


@pytest.mark.parametrize("scenario", ["xor", "spiral-mlp", "softmax-3class", "diverging-lr"])
def test_plane_values_are_the_forward_pass_at_the_grid(scenario: str) -> None:
    program = open_program(scenario)
    timeline = Timeline(program)
    params = params_at(timeline, 5)
    bounds = ls.data_bounds(program)
    plane = ls.output_plane(program, params, bounds, 13, 7)
    assert plane.shape == (7, 13, ls.view_of(program).units)
    points = ls.grid_points(bounds, 13, 7)
    values = forward_values(with_inputs(program, points), params, 0)
    expected = values[ls.view_of(program).output]
    if program.scenario.loss == "cross_entropy":  # logits: the view draws probabilities
        e = np.exp(expected - expected.max(axis=1, keepdims=True))
        expected = e / e.sum(axis=1, keepdims=True)
    assert plane.reshape(-1, plane.shape[2]).tobytes() == expected.tobytes()


def test_grid_rows_run_bottom_to_top() -> None:
    xs, ys = ls.grid_axes((0.0, 4.0, 10.0, 12.0), 4, 2)
    assert xs.tolist() == [0.5, 1.5, 2.5, 3.5] and ys.tolist() == [10.5, 11.5]
    points = ls.grid_points((0.0, 4.0, 10.0, 12.0), 4, 2)
    assert points[:4, 1].tolist() == [10.5] * 4 and points[4:, 0].tolist() == xs.tolist()


def test_classes_are_probabilities_and_points_carry_labels() -> None:
    program = open_program("softmax-3class")
    params = params_at(Timeline(program), 0)
    plane = ls.output_plane(program, params, ls.data_bounds(program), 9, 5)
    assert np.allclose(plane.sum(axis=2), 1.0) and (plane >= 0).all()
    labels = ls.point_targets(program)
    assert labels.dtype == np.int64 and set(labels.tolist()) == {0, 1, 2}


def test_curve_runs_over_the_data() -> None:
    program = open_program("dead-relu")
    params = params_at(Timeline(program), 0)
    lo, hi, _, _ = ls.data_bounds(program)
    assert lo < 0.0 and hi > 1.0  # six points from 0 to 1, with room around
    xs, ys = ls.output_curve(program, params, lo, hi, 50)
    assert xs[0] == lo and xs[-1] == hi and ys.shape == (50, 1)
    exact = ls.model_output(program, params, xs[:, None])
    assert ys.tobytes() == exact.tobytes()


def test_bounds_hold_the_data_with_room() -> None:
    program = open_program("xor")
    assert ls.data_bounds(program) == pytest.approx((-0.1, 1.1, -0.1, 1.1))
    assert ls.padded(3.0, 3.0, 0.1) == (1.5, 4.5)
    assert ls.padded(0.0, 0.0, 0.1) == (-1.0, 1.0)


# --- the loss over two parameters --------------------------------------------------------------


def test_surface_is_the_loss_at_each_point() -> None:
    program = open_program("ravine-sgd")
    bounds = (-5.0, 1.0, -1.5, 1.5)
    surface = ls.loss_surface(program, bounds, 11, 6)
    xs, ys = ls.grid_axes(bounds, 11, 6)
    for j, b in enumerate(ys):
        for i, a in enumerate(xs):
            one = forward_values(program, {"a": np.array(a), "b": np.array(b)}, 0)["L"]
            assert surface[j, i].tobytes() == np.float64(one).tobytes()


def test_surface_of_a_graph_that_reduces_is_computed_point_by_point() -> None:
    """``mean`` over a vector input cannot take the whole grid at once."""
    program = graph_program(
        {"w": 0.5, "c": -0.2},
        (("p", "tanh(w * x + c)"), ("L", "mean(square(p - t))")),
        inputs={"x": [0.0, 1.0, 2.0], "t": [0.1, 0.4, 0.9]},
    )
    bounds = (-1.0, 2.0, -1.0, 1.0)
    surface = ls.loss_surface(program, bounds, 5, 4)
    xs, ys = ls.grid_axes(bounds, 5, 4)
    one = forward_values(program, {"w": np.array(xs[3]), "c": np.array(ys[2])}, 0)["L"]
    assert surface[2, 3].tobytes() == np.float64(one).tobytes()


def test_path_is_the_parameters_at_each_step() -> None:
    program = open_program("ravine-momentum")
    timeline = Timeline(program)
    timeline.compute(program.steps)
    steps, path = ls.parameter_path(timeline, 12)
    assert steps.tolist() == list(range(13))
    for s in steps:
        params = timeline.start_of(int(s))[0]
        assert path[s].tobytes() == np.array([params["a"], params["b"]]).tobytes()
    assert path[0].tolist() == [-4.0, 0.9]


def test_a_landscape_caches_each_step() -> None:
    program = open_program("xor")
    timeline = Timeline(program)
    land = ls.Landscape(timeline)
    first = land.plane(3, 10, 6)
    assert land.plane(3, 10, 6) is first  # found again, not recomputed
    later = land.plane(300, 10, 6)
    assert later.step == 300 and not np.array_equal(later.values, first.values)
    params = params_at(timeline, 300)
    expected = ls.output_plane(program, params, ls.data_bounds(program), 10, 6)
    assert later.values.tobytes() == expected.tobytes()


def test_surface_bounds_hold_the_whole_path() -> None:
    program = open_program("ravine-sgd")
    timeline = Timeline(program)
    timeline.compute(program.steps)
    surface = ls.Landscape(timeline).surface(20, 10)
    _, path = ls.parameter_path(timeline, program.steps)
    x0, x1, y0, y1 = surface.bounds
    assert x0 < path[:, 0].min() and path[:, 0].max() < x1
    assert y0 < path[:, 1].min() and path[:, 1].max() < y1
    assert surface.values.shape == (10, 20) and np.isfinite(surface.values).all()


def test_path_bounds_skip_what_is_not_finite() -> None:
    points = np.array([[0.0, 1.0], [2.0, 3.0], [np.inf, np.nan]])
    x0, x1, y0, y1 = ls.path_bounds(points)
    assert (x0, x1) == pytest.approx((-0.3, 2.3)) and (y0, y1) == pytest.approx((0.7, 3.3))
    assert ls.path_bounds(np.empty((0, 2))) == (-1.0, 1.0, -1.0, 1.0)
