"""``bpdbg check`` at kinks (SPEC v2 §2): an element whose central difference straddles a
kink is reported with both one-sided slopes, and agrees when the analytic value equals
either of them or their mean."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from engine.graph import ops
from engine.report.gradcheck import Outcome, check_step
from engine.scenario.loader import loads
from engine.step.program import make_program


def checks(text: str):
    program = make_program(loads(text, "kink.toml"))
    params = dict(program.init_params)
    return {c.param: c for c in check_step(program, 0, params, program.initial_state())}


def graph(params: str, inputs: str, nodes: str) -> str:
    return (
        f'name = "kink"\n[graph]\ninputs = {inputs}\nparams = {params}\nnodes = {nodes}\n'
        '[optimizer]\nkind = "sgd"\nlr = 0.1\n'
    )


def test_relu_exactly_at_zero_takes_the_left_slope_and_agrees():
    # The case: W[0] = 0 puts relu's input exactly on its kink.
    c = checks(graph("{ w = [0.0, 2.0] }", "{ x = [3.0, 1.0] }", '["L = sum(relu(w * x))"]'))["w"]
    assert c.outcome is Outcome.AGREE and c.ok
    assert c.kinks is not None and c.kinks.tolist() == [True, False]
    assert c.left is not None and c.right is not None
    assert c.left[0] == pytest.approx(0.0, abs=1e-9)
    assert c.right[0] == pytest.approx(3.0, rel=1e-6)
    assert c.analytic[0] == 0.0  # relu'(0) = 0, PyTorch's convention: the left slope
    assert c.numeric[0] == pytest.approx(1.5, rel=1e-6)  # the central difference averages
    note = c.kink_notes()[0]
    assert note.startswith("w[0]: at a kink: one-sided slopes ")
    assert "(left) and 3.0 (right); analytic 0.0 agrees" in note


def test_abs_at_zero_is_the_mean_of_its_slopes():
    c = checks(graph("{ w = 0.0 }", "{ x = 2.0 }", '["L = abs(w * x) + w"]'))["w"]
    assert c.outcome is Outcome.AGREE
    assert c.kinks is not None and bool(c.kinks)
    assert float(c.analytic) == 1.0  # abs'(0) = 0, plus 1
    assert float(c.left) == pytest.approx(-1.0, rel=1e-6)
    assert float(c.right) == pytest.approx(3.0, rel=1e-6)


def test_a_tie_of_max_splits_evenly_the_mean_of_its_slopes():
    c = checks(graph("{ a = [1.0, 1.0, 0.0] }", "{}", '["L = max(a) * 4"]'))["a"]
    assert c.outcome is Outcome.AGREE
    assert c.kinks is not None and c.kinks.tolist() == [True, True, False]
    np.testing.assert_allclose(c.analytic, [2.0, 2.0, 0.0])


def test_maximum_and_hinge_kinks_are_found():
    c = checks(graph("{ w = [0.5, 2.0] }", "{ b = [0.5, 0.0] }", '["L = sum(maximum(w, b))"]'))["w"]
    assert c.kinks is not None and c.kinks.tolist() == [True, False]
    assert c.outcome is Outcome.AGREE


def test_smooth_elements_are_not_at_a_kink():
    c = checks(graph("{ w = [0.5, -2.0] }", "{ x = [3.0, 1.0] }", '["L = sum(tanh(w * x))"]'))
    assert c["w"].kinks is not None and not c["w"].kinks.any()
    assert c["w"].kink_notes() == []


def test_a_wrong_gradient_at_a_kink_still_disagrees(monkeypatch):
    relu = ops.OPS["relu"]

    def quarter(g, out, inputs, need, attrs):
        return [g * np.where(inputs[0] >= 0, 0.25, 0.0)]  # neither side, nor their mean

    monkeypatch.setitem(ops.OPS, "relu", msgspec.structs.replace(relu, vjp=quarter))
    c = checks(graph("{ w = [0.0, 2.0] }", "{ x = [3.0, 1.0] }", '["L = sum(relu(w * x))"]'))["w"]
    assert c.outcome is Outcome.DISAGREE
    assert "analytic 0.75 DISAGREES" in c.kink_notes()[0]
