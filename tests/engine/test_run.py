"""The step loop and the timeline: exact numbers, event order, replay, bounded memory."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

import scenarios
from engine.errors import ScenarioError
from engine.open import open_program
from engine.report.gradcheck import check_step
from engine.scenario.records import (
    DataSpec,
    GraphSpec,
    LayerSpec,
    ModelSpec,
    OptimizerSpec,
    Scenario,
    TrainSpec,
)
from engine.step.program import make_program, step_footprint
from engine.step.run import run_step
from engine.timeline.timeline import History, Timeline


def graph_program(nodes, params, inputs=None, opt=OptimizerSpec("sgd", 0.1), steps=5):
    spec = GraphSpec(
        {k: np.array(v, dtype=float) for k, v in (inputs or {}).items()},
        {k: np.array(v, dtype=float) for k, v in params.items()},
        tuple(tuple(part.strip() for part in n.split("=", 1)) for n in nodes),
        nodes[-1].split("=")[0].strip(),
    )
    return make_program(
        Scenario(name="t", source="t.toml", optimizer=opt, train=TrainSpec(steps=steps), graph=spec)
    )


def test_worked_example_step_zero_matches_the_seed_document():
    program = open_program("worked-example")
    events = Timeline(program).record(0).events
    by = {(e.phase, getattr(e, "node", None) or getattr(e, "param", None)): e for e in events}
    assert by[("forward", "z1")].value.tolist() == [[0.5]]
    assert by[("loss", "L")].value == 0.25
    assert by[("backward", "z1")].grad.tolist() == [[1.0]]
    w = by[("backward", "W1")]
    assert w.grad.tolist() == [[1.0]]
    (term,) = w.terms
    assert (term.via, term.upstream.tolist(), term.local.tolist(), term.value.tolist()) == (
        "z1",
        [[1.0]],
        [[1.0]],
        [[1.0]],
    )
    u = by[("update", "W1")]
    assert (u.before.tolist(), u.grad.tolist(), u.after.tolist(), dict(u.state)) == (
        [[0.5]],
        [[1.0]],
        [[0.4]],
        {},
    )
    assert by[("update", "b1")].after.tolist() == [-0.1]


def test_event_order_is_forward_loss_backward_update():
    program = open_program("xor")
    events = Timeline(program).record(3).events
    phases = [e.phase for e in events]
    assert phases == sorted(phases, key=["forward", "loss", "backward", "update"].index)
    assert [e.seq for e in events] == list(range(3 * len(events), 4 * len(events)))
    assert {e.step for e in events} == {3}
    backward = [e.node for e in events if e.phase == "backward"]
    assert backward[0] == "L"
    # one backward event for every parameter, one update for every parameter
    assert set(program.graph.params) <= set(backward)
    assert [e.param for e in events if e.phase == "update"] == list(program.graph.params)
    # each node's backward event comes after those of all its consumers
    pos = {n: i for i, n in enumerate(backward)}
    for n in backward:
        for c in program.graph.consumers[n]:
            if c in pos:
                assert pos[c] < pos[n]


def test_fan_out_gradient_is_the_sum_of_one_term_per_consumer():
    program = open_program("fan-out")
    events = Timeline(program).record(0).events
    (h,) = [e for e in events if e.phase == "backward" and e.node == "h"]
    assert sorted(t.via for t in h.terms) == ["q", "s"]
    assert h.grad == pytest.approx(sum(t.value for t in h.terms), rel=0, abs=0)
    for t in h.terms:
        # the documented rule: contribution = upstream × local (elementwise here)
        assert t.value == pytest.approx(t.upstream * t.local, rel=1e-15)


def test_a_node_read_twice_by_one_consumer_is_one_term():
    program = graph_program(["L = w * w"], {"w": 3.0})
    events = Timeline(program).record(0).events
    (w,) = [e for e in events if e.phase == "backward" and e.node == "w"]
    assert len(w.terms) == 1
    assert float(w.grad) == 6.0
    assert float(w.terms[0].local) == 6.0


def test_broadcast_gradients_are_reduced_to_the_operand_shape():
    program = graph_program(
        ["z = W * x + b", "L = sum(square(z))"],
        {"W": [[1.0, 2.0, 3.0]], "b": 0.5},
        {"x": [[1.0], [2.0]]},
    )
    r = run_step(program, 0, program.init_params, program.initial_state())
    z = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]) + 0.5
    np.testing.assert_array_equal(
        r.grads["W"], (2 * z * np.array([[1.0], [2.0]])).sum(0, keepdims=True)
    )
    assert r.grads["b"].shape == () and float(r.grads["b"]) == (2 * z).sum()


def test_a_parameter_that_cannot_reach_the_loss_gets_a_zero_gradient():
    program = graph_program(["u = v * 2", "L = square(w)"], {"w": 1.0, "v": 5.0})
    events = Timeline(program).record(0).events
    (v,) = [e for e in events if e.phase == "backward" and e.node == "v"]
    assert float(v.grad) == 0.0 and v.terms == ()
    (upd,) = [e for e in events if e.phase == "update" and e.param == "v"]
    assert float(upd.after) == 5.0


@pytest.mark.parametrize("sid", scenarios.builtin_ids())
def test_recorded_and_fast_paths_agree_to_the_bit(sid):
    program = open_program(sid)
    tl = Timeline(program)
    tl.compute(min(program.steps, 7))
    step = min(program.steps, 7) - 1
    rec = tl.record(step)
    fast = run_step(program, step, *tl.start_of(step))
    assert rec.result.loss == fast.loss or (np.isnan(rec.result.loss) and np.isnan(fast.loss))
    for p in program.graph.params:
        assert np.array_equal(rec.result.grads[p], fast.grads[p], equal_nan=True)
        assert np.array_equal(rec.result.params_after[p], fast.params_after[p], equal_nan=True)


@pytest.mark.parametrize("sid", scenarios.builtin_ids())
def test_every_builtin_passes_the_gradient_check_at_step_zero(sid):
    program = open_program(sid)
    tl = Timeline(program)
    checks = check_step(program, 0, *tl.start_of(0))
    assert checks and all(c.ok for c in checks), [(c.param, c.max_rel_error) for c in checks]


def test_gradient_check_flags_a_wrong_gradient():
    program = open_program("worked-example")
    from engine.report.gradcheck import check_param

    params = program.init_params
    bad = check_param(program, 0, params, np.array([[1.5]]), "W1")
    good = check_param(program, 0, params, np.array([[1.0]]), "W1")
    assert not bad.ok and good.ok
    assert good.numeric[0, 0] == pytest.approx(1.0, rel=1e-8)


def test_gradient_check_outcomes_per_element():
    """Where the element or the loss beside it is not finite, the element cannot be
    checked; a non-finite analytic value where the difference is finite disagrees."""
    from engine.report.gradcheck import Outcome, check_param

    program = graph_program(["L = sum(W * W)"], {"W": [1.0, 2.0, 3.0]})
    wrong = check_param(program, 0, program.init_params, np.array([2.0, np.inf, 6.0]), "W")
    assert wrong.outcomes.tolist() == [Outcome.AGREE, Outcome.DISAGREE, Outcome.AGREE]
    assert wrong.outcome is Outcome.DISAGREE and wrong.why_not() == ""
    assert wrong.checked_errors()[0] == np.inf

    only_nan = check_param(program, 0, {"W": np.full(3, np.nan)}, np.zeros(3), "W")
    assert only_nan.outcome is Outcome.CANNOT_CHECK
    assert only_nan.why_not() == "W[0] holds nan (and 2 more elements)"
    assert only_nan.checked_errors() == (0.0, 0.0)

    # exp(709.7827) is finite; a step h further it overflows.
    edge = graph_program(["L = sum(exp(W) * 1e-300)"], {"W": [1.0, 709.7827]})
    analytic = np.exp(edge.init_params["W"]) * 1e-300
    near = check_param(edge, 0, edge.init_params, analytic, "W")
    assert near.outcomes.tolist() == [Outcome.AGREE, Outcome.CANNOT_CHECK]
    assert near.outcome is Outcome.AGREE and near.count(Outcome.CANNOT_CHECK) == 1
    assert near.why_not() == "the loss is not finite at W[1] ± h"


def test_stepping_back_gives_exactly_the_same_frame():
    program = open_program("softmax-3class")
    tl = Timeline(program, keyframe_budget=1)  # force sparse keyframes and replays
    tl.compute(40)
    seq = 37 * tl.events_per_step + 11
    first = tl.frame(seq)
    for s in range(0, 40, 3):  # wander about so the record cache is evicted
        tl.frame(s * tl.events_per_step)
    again = tl.frame(seq)
    assert first.event.phase == again.event.phase
    for k, v in first.values.items():
        assert np.array_equal(v, again.values[k])
    for k, v in first.grads.items():
        assert np.array_equal(v, again.grads[k])
    for k, v in first.params.items():
        assert np.array_equal(v, again.params[k])


def test_keyframe_spacing_doubles_and_replay_is_exact():
    program = open_program("xor")
    sparse = Timeline(program, keyframe_budget=1)
    dense = Timeline(program)
    sparse.compute(300)
    dense.compute(300)
    assert sparse._kf_stride > 1 and len(sparse._keyframes) <= sparse._kf_cap
    for step in (0, 1, 17, 150, 299, 300):
        a, _ = sparse.start_of(step)
        b, _ = dense.start_of(step)
        for k in a:
            assert np.array_equal(a[k], b[k])


def test_history_stride_doubles_within_its_budget():
    h = History(width=2, budget_bytes=64 * 16)
    for step in range(1000):
        h.add(step, np.array([step, -step], dtype=float))
    assert len(h.steps()) <= h.capacity
    assert h.stride > 1
    steps = h.steps()
    assert steps[0] == 0 and np.all(np.diff(steps) == h.stride)
    np.testing.assert_array_equal(h.column(0), steps)


def test_history_rows_are_the_parameters_and_gradient_norms_of_their_step():
    program = open_program("xor")
    tl = Timeline(program, history_budget=64 * 8 * 12)  # small: the stride doubles
    tl.compute(400)
    assert tl.history.stride > 1
    for p in program.graph.params:
        steps, norms = tl.grad_norm_history(p)
        assert len(steps) > 10
        for step, norm in zip(steps[::7], norms[::7]):
            grads = tl.record(int(step)).result.grads
            assert norm == np.linalg.norm(grads[p])  # the same bits, not just close
        last = tl.start_of(0)[0][p].size - 1
        steps, vals = tl.param_history(p, last)
        for step, val in zip(steps[::7], vals[::7]):
            assert val == tl.start_of(int(step))[0][p].reshape(-1)[last]


def test_one_overflowing_gradient_marks_its_step_non_finite():
    # At w = 0 the loss is tanh(0) = 0, its gradient 1e300 · 1e300 = inf.
    program = graph_program(["t = 1e300 * w", "L = tanh(1e300 * t)"], {"w": 0.0}, steps=3)
    tl = Timeline(program)
    tl.compute(3)
    assert tl.losses()[0] == 0.0
    assert tl.first_nonfinite_step == 0


def test_an_overflowing_squared_norm_of_finite_gradients_is_not_non_finite():
    # ∂L/∂w = [1e200, 1e200]: finite, though its squared norm overflows.
    program = graph_program(
        ["L = sum(1e200 * w)"], {"w": [0.0, 0.0]}, opt=OptimizerSpec("sgd", 1e-300), steps=3
    )
    tl = Timeline(program)
    tl.compute(3)
    assert tl.first_nonfinite_step is None
    _, norms = tl.grad_norm_history("w")
    assert np.isinf(norms[0])  # √(g·g) overflows, as np.linalg.norm's does


def test_a_long_run_opens_lazily():
    program = open_program("worked-example")
    long = make_program(
        Scenario(
            name="long",
            source="long",
            optimizer=program.scenario.optimizer,
            train=TrainSpec(steps=10_000_000),
            model=program.scenario.model,
            data=program.scenario.data,
            loss="mse",
        )
    )
    tl = Timeline(long)
    assert tl.computed_steps == 0 and tl.total_steps == 10_000_000
    frame = tl.frame(0)
    assert frame.event.phase == "forward" and tl.computed_steps == 1


def test_frame_state_follows_the_events():
    program = open_program("worked-example")
    tl = Timeline(program)
    rec = tl.record(0)
    for pos, e in enumerate(rec.events):
        f = tl.frame(pos)
        assert f.event is e
        if e.phase == "forward":
            assert e.node in f.values and f.loss is None
        if e.phase == "backward":
            assert e.node in f.grads
        if e.phase == "update":
            assert f.params[e.param] is e.after
    assert tl.frame(0).grads == {}
    assert "z1" not in tl.frame(0).values or rec.events[0].node == "z1"


def test_non_finite_steps_are_found():
    program = graph_program(
        ["L = square(w)"], {"w": 1.0}, opt=OptimizerSpec("sgd", 1e160), steps=10
    )
    tl = Timeline(program)
    tl.compute(10)
    assert tl.first_nonfinite_step is not None
    assert not np.isfinite(tl.losses()[tl.first_nonfinite_step])


def test_branch_shares_the_past_and_diverges_after():
    program = open_program("ravine-sgd")
    base = Timeline(program)
    base.compute(30)
    params, state = base.start_of(10)
    sgd = msgspec.structs.replace(program.optimizer, spec=OptimizerSpec("sgd", 0.05))
    faster = msgspec.structs.replace(program, optimizer=sgd)
    branch = Timeline(faster, start=(10, params, state), parent=base)
    branch.compute(20)
    lb, lo = branch.losses(), base.losses()
    assert len(lb) == 30
    np.testing.assert_array_equal(lb[:11], lo[:11])
    assert lb[15] != lo[15]
    assert branch.frame(5 * branch.events_per_step).record is base.record(5)


def test_mini_batches_wrap_around_consecutively():
    x = np.arange(10.0).reshape(5, 2)
    y = np.arange(5.0).reshape(5, 1)
    program = make_program(
        Scenario(
            name="b",
            source="b",
            optimizer=OptimizerSpec("sgd", 0.1),
            train=TrainSpec(steps=4, batch_size=2),
            model=ModelSpec(2, (LayerSpec(1, "identity"),)),
            data=DataSpec(x, y),
            loss="mse",
        )
    )
    rows = [program.inputs(t)["y"].reshape(-1).tolist() for t in range(4)]
    assert rows == [[0, 1], [2, 3], [4, 0], [1, 2]]


# --- the memory bound: what one recorded step holds -------------------------------------------


def test_footprint_of_the_worked_example_by_hand():
    """x, W1, b1, z1, a1, y, L: 7 values; ∂L/∂ of L, a1, z1, W1, b1: 5 gradients; terms
    (local + contribution) on L→a1, a1→z1, z1→W1, z1→b1: 8; W1 and b1 after the update
    (SGD keeps no buffers): 2. The scalar L (its value, gradient and term: 4) counts
    thrice, as events copy numpy scalars: 8 more."""
    program = open_program("worked-example")
    footprint = step_footprint(program.graph, "sgd")
    assert sum(n for _, n in footprint) == 22 + 8
    assert {node.name: n for node, n in footprint}["W1"] == 1 + 1 + 1
    # Adam's m and v, before and after the update, for both parameters.
    assert sum(n for _, n in step_footprint(program.graph, "adam")) == 30 + 2 * 4


def _owned_bytes(arrays) -> int:
    """Bytes of the distinct memory blocks behind ``arrays`` (views counted once)."""
    owners = {}
    for a in arrays:
        while isinstance(a, np.ndarray) and a.base is not None:
            a = a.base
        owners[id(a)] = a
    return sum(getattr(a, "nbytes", 8) for a in owners.values())


@pytest.mark.parametrize("sid", scenarios.builtin_ids())
def test_a_recorded_step_holds_no_more_than_its_footprint(sid):
    """The bound counts what a recorded step really keeps: every array reachable from its
    record (values, gradients, events and their terms, parameters and buffers before and
    after) fits in the footprint."""
    program = open_program(sid)
    timeline = Timeline(program)
    rec = timeline.record(min(1, program.steps - 1))
    arrays = [*rec.result.values.values(), *rec.result.grads.values()]
    arrays += [*rec.params_before.values(), *rec.result.params_after.values()]
    for state in (*rec.state_before.values(), *rec.result.state_after.values()):
        arrays += list(state.values())
    for ev in rec.events:
        for field in ("value", "array", "grad", "before", "after"):
            if isinstance(getattr(ev, field, None), np.ndarray):
                arrays.append(getattr(ev, field))
        for term in getattr(ev, "terms", ()):
            arrays += [a for a in (term.upstream, term.local, term.value) if a is not None]
        arrays += list(getattr(ev, "state", {}).values())
    bound = 8 * sum(n for _, n in step_footprint(program.graph, program.optimizer.spec))
    assert _owned_bytes(arrays) <= bound


def test_a_step_beyond_the_total_bound_is_refused_where_the_count_passes_it(monkeypatch):
    """Each node alone is within its limit; together they are not. The refusal names the
    line where the running count (in graph order) passes the bound."""
    import engine.step.program as run_module

    monkeypatch.setattr(run_module, "MAX_STEP_ELEMENTS", 2_000)
    nodes = ["u = a * b * W"] + [
        f"u{i} = {'u' if i == 1 else f'u{i - 1}'} * W" for i in range(1, 9)
    ]
    with pytest.raises(ScenarioError) as caught:
        graph_program([*nodes, "L = sum(u8)"], {"W": 0.5}, {"a": [[1.0]] * 10, "b": [[1.0] * 10]})
    err = caught.value
    # a, b and a * b: 120; W: 3, thrice as a scalar; u: 100 + 100 + terms 200 + 1 = 301
    # (430 so far); u1…u8: 100 + 100 + terms 200 + 101 = 501 each; L = sum(u8):
    # 1 + 1 + 200, thrice as a scalar. The count passes 2,000 at u4: 430 + 4 × 501.
    assert err.place == "graph.nodes[4]"
    assert "one training step would hold up to 5,044 numbers" in err.message
    assert "above the limit of 2,000" in err.message
    assert "passes the limit at u4 (10×10)" in err.message


def test_a_layered_step_beyond_the_bound_names_the_layer(monkeypatch):
    import engine.step.program as run_module

    monkeypatch.setattr(run_module, "MAX_STEP_ELEMENTS", 5_000)
    x = np.zeros((100, 2))
    layers = (LayerSpec(2, "tanh"), LayerSpec(50, "tanh"), LayerSpec(1, "identity"))
    scenario = Scenario(
        name="wide",
        source="wide.toml",
        optimizer=OptimizerSpec("sgd", 0.1),
        model=ModelSpec(inputs=2, layers=layers),
        data=DataSpec(x=x, y=np.zeros((100, 1))),
        loss="mse",
    )
    with pytest.raises(ScenarioError) as caught:
        make_program(scenario)
    assert caught.value.place == "model.layers[1] (layer 2)"
    assert "use a smaller train.batch_size" in caught.value.message


def test_large_steps_keep_fewer_materialised_steps(monkeypatch):
    import engine.timeline.timeline as timeline_module

    program = open_program("spiral-mlp")
    step_bytes = 8 * sum(n for _, n in step_footprint(program.graph, program.optimizer.spec))
    monkeypatch.setattr(timeline_module, "RECORD_BUDGET", 3 * step_bytes)
    timeline = Timeline(program)
    for step in range(6):
        timeline.record(step)
    assert list(timeline._records) == [3, 4, 5]


def test_kept_mini_batches_stay_within_their_budget(monkeypatch):
    import engine.step.program as run_module

    monkeypatch.setattr(run_module, "BATCH_CACHE_ELEMENTS", 100)
    x = np.arange(40.0).reshape(20, 2)
    scenario = Scenario(
        name="batches",
        source="b.toml",
        optimizer=OptimizerSpec("sgd", 0.1),
        train=TrainSpec(steps=20, batch_size=7),
        model=ModelSpec(inputs=2, layers=(LayerSpec(1, "identity"),)),
        data=DataSpec(x=x, y=np.zeros((20, 1))),
        loss="mse",
    )
    program = make_program(scenario)
    for step in range(20):
        batch = program.inputs(step)["x"]
        assert batch[0].tolist() == x[(step * 7) % 20].tolist()  # still the right rows
    assert len(program._batch_cache) == 100 // (7 * 2 + 7)


@pytest.mark.parametrize(
    ("nodes", "params", "inputs"),
    [
        # a node read twice by one consumer, and by several consumers
        (["u = w * w + w", "L = sum(u * u)"], {"w": [1.5, -2.0]}, {}),
        # a parameter that cannot reach the loss, a constant, broadcasting
        (
            ["u = v * 2", "z = W * x + b", "L = mean(square(z))"],
            {"v": 5.0, "W": [[1.0, -2.0]], "b": 0.5},
            {"x": [[1.0], [3.0]]},
        ),
        # a node with three consumers, reductions with axes
        (
            ["h = x @ W", "mu = mean(h, axis=0)", "d = h - mu", "L = sum(d * d) + max(h)"],
            {"W": [[0.3, -0.1], [0.2, 0.4]]},
            {"x": [[1.0, 2.0], [-1.0, 0.5], [0.0, 3.0]]},
        ),
    ],
)
def test_the_fast_plan_gives_every_value_and_gradient_of_the_recorded_path(nodes, params, inputs):
    program = graph_program(nodes, params, inputs)
    p, s = program.init_params, program.initial_state()
    for step in range(3):
        fast = run_step(program, step, p, s)
        rec = run_step(program, step, p, s, record=True)
        assert fast.loss == rec.loss
        assert list(fast.grads) == list(rec.grads) == list(program.graph.backward_order)
        for name, g in rec.grads.items():
            assert np.array_equal(fast.grads[name], g), name
        assert set(fast.values) == set(rec.values)
        for name, v in rec.values.items():
            assert np.array_equal(fast.values[name], v), name
        for name in program.graph.params:
            assert np.array_equal(fast.params_after[name], rec.params_after[name])
        p, s = fast.params_after, fast.state_after
