"""Diagnostics: the first non-finite number, gradient health per layer, dead ReLU units.

Expectations come from walking the materialised events with plain numpy, and from the
three built-in scenarios made to show each problem.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.open import open_program
from engine.report import diagnose
from engine.report.diagnose import (
    EXPLODING_ABS,
    EXPLODING_RATIO,
    VANISHING_ABS,
    VANISHING_RATIO,
    LayerHealth,
    dead_units,
    first_nonfinite_event,
    gradient_health,
    health_of,
)
from engine.report.gradcheck import check_step
from engine.scenario.loader import loads
from engine.step.events import Event
from engine.step.program import make_program
from engine.timeline.timeline import Timeline


def computed(sid: str, steps: int | None = None) -> Timeline:
    program = open_program(sid)
    tl = Timeline(program)
    tl.compute(steps or program.steps)
    return tl


def from_text(text: str, steps: int | None = None) -> Timeline:
    tl = Timeline(make_program(loads(text, "t.toml")))
    tl.compute(steps or tl.total_steps)
    return tl


def arrays_of(e: Event) -> list[np.ndarray]:
    if e.phase == "forward":
        return [e.value]
    if e.phase == "loss":
        return [e.array]
    if e.phase == "backward":
        return [e.grad] + [t.value for t in e.terms]
    return [e.after, *e.state.values()]


def first_nonfinite_by_scanning(tl: Timeline) -> int | None:
    for s in range(tl.computed_steps):
        for e in tl.record(s).events:
            if any(not np.isfinite(a).all() for a in arrays_of(e)):
                return e.seq
    return None


# --- the first non-finite number ---------------------------------------------------------


def test_diverging_scenario_overflows_at_step_19_and_turns_nan_at_step_39():
    tl = computed("diverging-lr")
    E = tl.events_per_step
    assert first_nonfinite_event(tl) == (19 * E + 2, "the loss L is inf")
    assert first_nonfinite_by_scanning(tl) == 19 * E + 2
    losses = tl.losses()
    assert np.isfinite(losses[:19]).all() and np.all(np.diff(losses[:19]) > 0)
    assert losses[0] == pytest.approx(14.09)
    first_nan = next(
        e
        for s in range(tl.computed_steps)
        for e in tl.record(s).events
        if any(np.isnan(a).any() for a in arrays_of(e))
    )
    assert (first_nan.seq, first_nan.phase, first_nan.subject) == (398, "update", "W1")
    assert diagnose.nonfinite_in_event(first_nan) == "W1 after the update contains nan"


def test_nothing_is_reported_while_everything_is_finite():
    assert first_nonfinite_event(computed("xor", 50)) is None
    tl = Timeline(open_program("diverging-lr"))
    tl.compute(19)  # the overflow is in step 19, not computed yet
    assert first_nonfinite_event(tl) is None
    tl.compute(1)
    assert first_nonfinite_event(tl) == (192, "the loss L is inf")


GRAPH = """
name = "t"
[graph]
inputs = {{ x = {x} }}
params = {{ w = {w} }}
nodes = [{nodes}]
[optimizer]
kind = "sgd"
lr = {lr}
[train]
steps = {steps}
"""


def test_an_overflowing_update_is_found_in_the_step_before_the_bad_loss():
    # The gradient 1e300 is finite, but lr·gradient is not: w becomes -inf in step 0's update.
    tl = from_text(GRAPH.format(x=1e300, w=1.0, nodes='"L = w * x"', lr=1e10, steps=3))
    seq, what = first_nonfinite_event(tl)
    assert (seq, what) == (first_nonfinite_by_scanning(tl), "w after the update is -inf")
    assert tl.frame(seq).event.phase == "update" and seq < tl.events_per_step


def test_the_search_goes_past_a_step_whose_squared_gradients_overflowed():
    # Linear regression on unscaled inputs, as in diverging-lr but slower: the timeline's
    # sum of squared gradients overflows a step or so before any number does.
    text = """
name = "t"
[model]
inputs = 2
[[model.layers]]
units = 1
activation = "identity"
weight = [[0.0], [0.0]]
bias = [0.0]
[data]
x = [[850, 2], [1200, 3], [1500, 3], [1800, 4], [2100, 4], [2400, 5]]
y = [[1.6], [2.2], [2.7], [3.1], [3.6], [4.2]]
[loss]
kind = "mse"
[optimizer]
kind = "sgd"
lr = 0.01
[train]
steps = 40
"""
    tl = from_text(text)
    seq, what = first_nonfinite_event(tl)
    assert seq == first_nonfinite_by_scanning(tl)
    assert what == "the loss L is inf"
    assert tl.first_nonfinite_step is not None
    assert tl.first_nonfinite_step <= seq // tl.events_per_step


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        ('"u = log(w)", "L = square(u)"', "u is nan"),
        ('"u = w * x", "v = exp(u)", "L = sum(v)"', "v contains inf"),
        ('"u = sqrt(w)", "L = u * x"', "∂L/∂w is inf"),
    ],
)
def test_descriptions_name_the_quantity(nodes, expected):
    w = -1.0 if "log" in nodes else (0.0 if "sqrt" in nodes else 1.0)
    x = "[1.0, 800.0]" if "exp" in nodes else "1.0"
    tl = from_text(GRAPH.format(x=x, w=w, nodes=nodes, lr=0.1, steps=2))
    found = first_nonfinite_event(tl)
    assert found is not None and found[1] == expected
    assert found[0] == first_nonfinite_by_scanning(tl)


def test_backward_descriptions_say_which_term_broke():
    # ∂L/∂w sums two terms: via u (finite) and via v (infinite).
    text = GRAPH.format(
        x=1.0, w=0.0, nodes='"u = w * x", "v = sqrt(w)", "L = u + v"', lr=0.1, steps=1
    )
    tl = from_text(text)
    assert first_nonfinite_event(tl)[1] == "∂L/∂w is inf (from the term via v)"


# --- gradient health -------------------------------------------------------------------------


def test_vanishing_sigmoid_flags_the_first_two_layers():
    tl = computed("vanishing-sigmoid", 1)
    rows = gradient_health(tl, 0)
    grads = tl.record(0).result.grads
    assert [r.name for r in rows] == [f"layer {k}" for k in range(1, 10)]
    for k, r in enumerate(rows, start=1):
        assert r.params == (f"W{k}", f"b{k}")
        both = np.concatenate([grads[f"W{k}"].ravel(), grads[f"b{k}"].ravel()])
        assert r.norm == pytest.approx(np.linalg.norm(both), rel=1e-12)
        assert r.param_norms[0] == pytest.approx(np.linalg.norm(grads[f"W{k}"]), rel=1e-12)
    norms = [r.norm for r in rows]
    assert norms == sorted(norms)  # smaller and smaller on the way back to the input
    assert norms[-1] / norms[0] > 1e6
    assert [r.vanishing for r in rows] == [True, True] + [False] * 7
    assert not any(r.exploding or r.nonfinite for r in rows)
    assert rows[-1].ratio == 1.0 and rows[0].ratio < VANISHING_RATIO


def test_vanishing_sigmoid_does_not_learn():
    tl = computed("vanishing-sigmoid")
    assert tl.losses()[-1] == pytest.approx(math.log(2), abs=1e-6)
    start, end = tl.program.init_params, tl.start_of(tl.computed_steps)[0]
    assert np.abs(end["W1"] - start["W1"]).max() < 1e-5
    assert np.abs(end["W9"] - start["W9"]).max() > 1e-2


def test_diverging_gradient_is_exploding_from_step_0():
    rows = gradient_health(computed("diverging-lr", 2), 0)
    assert len(rows) == 1 and rows[0].exploding and rows[0].norm > EXPLODING_ABS


def test_an_expression_graph_has_one_row_per_parameter():
    tl = computed("ravine-sgd", 1)
    rows = gradient_health(tl, 0)
    assert [(r.name, r.params) for r in rows] == [("a", ("a",)), ("b", ("b",))]
    assert not any(r.vanishing or r.exploding for r in rows)


def fake_graph(kind: str, n: int):
    """A stand-in with what :func:`health_of` reads: kind, params and each one's layer."""

    class Node:
        def __init__(self, layer: int) -> None:
            self.layer = layer

    class G:
        params = tuple(p for k in range(1, n + 1) for p in (f"W{k}", f"b{k}"))

        def __getitem__(self, name: str) -> Node:
            return Node(int(name[1:]))

    g = G()
    g.kind = kind
    return g


def layer_grads(norms: list[float]) -> dict[str, np.ndarray]:
    out = {}
    for k, n in enumerate(norms, start=1):
        out[f"W{k}"] = np.array([[n]])
        out[f"b{k}"] = np.zeros(1)
    return out


@pytest.mark.parametrize(
    ("norms", "vanishing", "exploding"),
    [
        ([1.0, 1.0, 1.0], [False] * 3, [False] * 3),
        ([0.5 * VANISHING_ABS, 1e-9, 1e-9], [True] * 3, [False] * 3),  # tiny everywhere
        ([1e-7, 1.0], [True, False], [False, False]),  # relative to the largest layer
        ([1e-5, 1.0], [False, False], [False, False]),
        ([2 * EXPLODING_ABS, 1.0], [False, False], [True, False]),  # absolute
        ([20.0, 1e-3], [False, False], [True, False]),  # grew 2·10⁴ going back: explodes
        ([1e-3, 20.0], [False, False], [False, False]),  # shrank going back: not exploding
        ([5.0, 1e-9, 1.0], [False, True, False], [False, False, False]),  # vanishing ignored
        ([math.inf, 1.0], [False, False], [True, False]),
        ([math.nan, 1.0], [False, False], [False, False]),
    ],
)
def test_flags_follow_the_documented_thresholds(norms, vanishing, exploding):
    rows = health_of(fake_graph("model", len(norms)), layer_grads(norms))
    assert [r.vanishing for r in rows] == vanishing
    assert [r.exploding for r in rows] == exploding
    assert [r.nonfinite for r in rows] == [not math.isfinite(n) for n in norms]


def test_relative_exploding_in_a_graph_ignores_order():
    g = fake_graph("graph", 2)
    rows = health_of(g, layer_grads([1e-3, 20.0]))
    # In a graph every parameter is a row, so W1 b1 W2 b2; b's are zero: vanishing.
    by = {r.name: r for r in rows}
    assert by["W2"].exploding and not by["W1"].exploding
    assert by["b1"].vanishing and by["b2"].vanishing


def test_thresholds_are_the_documented_ones():
    thresholds = (VANISHING_RATIO, VANISHING_ABS, EXPLODING_ABS, EXPLODING_RATIO)
    assert thresholds == (1e-6, 1e-8, 1e3, 1e4)
    doc = diagnose.__doc__
    for name in ("VANISHING_RATIO", "VANISHING_ABS", "EXPLODING_ABS", "EXPLODING_RATIO"):
        assert name in doc
    assert LayerHealth.__doc__


# --- dead ReLU units -------------------------------------------------------------------------


def test_dead_relu_scenario_loses_units_0_and_3_in_the_first_update():
    tl = computed("dead-relu")
    assert dead_units(tl.record(0)) == {"a1": []}
    for step in (1, 2, 50, tl.computed_steps - 1):
        rec = tl.record(step)
        z1 = rec.result.values["z1"]
        assert dead_units(rec) == {"a1": [int(j) for j in np.flatnonzero(np.all(z1 <= 0, axis=0))]}
        assert dead_units(rec) == {"a1": [0, 3]}
        # Dead units pass no gradient: their weights and biases stay where they are.
        assert np.all(rec.result.grads["W1"][:, [0, 3]] == 0)
        assert np.all(rec.result.grads["b1"][[0, 3]] == 0)
    b1 = tl.start_of(1)[0]["b1"]
    assert b1[0] == pytest.approx(-0.845) and b1[3] == pytest.approx(-0.9933333333333333)
    losses = tl.losses()
    assert losses[0] > 22 and losses[-1] < 0.05


def test_dead_units_of_a_frame_see_only_the_forward_pass_so_far():
    tl = computed("dead-relu", 2)
    E = tl.events_per_step
    assert dead_units(tl.frame(E)) == {}  # z1: a1 not computed yet
    assert dead_units(tl.frame(E + 1)) == {"a1": [0, 3]}
    assert dead_units(tl.frame(2 * E - 1)) == {"a1": [0, 3]}


def test_dead_units_in_graphs_and_leaky_layers():
    text = GRAPH.format(
        x="[[1.0, -2.0, 3.0], [2.0, -1.0, -1.0]]",
        w="[1.0, 1.0, -1.0]",
        nodes='"h = relu(x * w)", "g = leaky_relu(sum(h) - 100)", "L = square(g)"',
        lr=0.1,
        steps=1,
    )
    rec = from_text(text).record(0)
    # h is (2, 3): units are columns; g is a scalar: one unit, dead (≤ 0).
    assert dead_units(rec) == {"h": [1], "g": [0]}


def test_every_new_builtin_passes_the_gradient_check_at_step_zero():
    for sid in ("diverging-lr", "vanishing-sigmoid", "dead-relu"):
        program = open_program(sid)
        checks = check_step(program, 0, *Timeline(program).start_of(0))
        assert all(c.ok for c in checks), sid
