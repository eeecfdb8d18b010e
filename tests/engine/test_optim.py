"""The optimizers' hot path (:meth:`Optimizer.updater`) against their written-out form
(:meth:`Optimizer.derivation`, what the chain-rule pane shows): the same bits, for every
kind and option, over several steps."""

from __future__ import annotations

import numpy as np
import pytest

from engine.scenario.records import optimizer_spec
from engine.step.optim import Optimizer

CASES = [
    ("sgd", {}),
    ("sgd", {"weight_decay": 0.05}),
    ("momentum", {}),
    ("momentum", {"nesterov": True, "weight_decay": 0.01}),
    ("momentum", {"dampening": 0.3}),
    ("adam", {}),
    ("adam", {"weight_decay": 0.02, "betas": (0.8, 0.99)}),
    ("adamw", {}),
    ("adamw", {"weight_decay": 0.0}),
    ("rmsprop", {"momentum": 0.5, "centered": True}),
    ("adagrad", {"lr_decay": 0.1}),
]


@pytest.mark.parametrize(("kind", "settings"), CASES)
def test_the_update_is_the_derivation_to_the_bit(kind, settings):
    opt = Optimizer(optimizer_spec(kind, 0.03, **settings))
    rng = np.random.default_rng(7)
    p = rng.normal(size=(3, 4))
    state = opt.init_state(p)
    for step in range(4):
        g = rng.normal(size=p.shape)
        after, new_state = opt.updater(step)(p, g, state)
        lines = opt.derivation(p, g, state, step)
        assert lines[-1][0].startswith("θ ←")
        assert np.array_equal(after, lines[-1][1])
        _, written_state = opt._step(p, g, state, step, None)
        assert list(new_state) == list(written_state)
        for key, value in written_state.items():
            assert np.array_equal(new_state[key], value)
        # update() is the same rule, one parameter at a time.
        once, _ = opt.update(p, g, state, step)
        assert np.array_equal(once, after)
        p, state = after, new_state


@pytest.mark.parametrize(("kind", "settings"), CASES)
def test_updating_every_parameter_at_once_is_updating_each(kind, settings):
    opt = Optimizer(optimizer_spec(kind, 0.03, **settings))
    rng = np.random.default_rng(3)
    params = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=3)}
    state = {k: opt.init_state(v) for k, v in params.items()}
    for step in range(3):
        grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
        after, new_state = opt.update_all(step, ("W", "b"), params, grads, state)
        assert list(after) == list(new_state) == ["W", "b"]
        for k in params:
            one, one_state = opt.updater(step)(params[k], grads[k], state[k])
            assert np.array_equal(after[k], one)
            assert list(new_state[k]) == list(one_state)
            assert all(np.array_equal(new_state[k][s], one_state[s]) for s in one_state)
        params, state = after, new_state
