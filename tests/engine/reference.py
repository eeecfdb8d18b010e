"""An independent float64 reference for layered networks, written from SPEC §1 only.

This module deliberately does not import ``engine.graph.ops``, ``engine.step.run`` or
``engine.step.optim``: it is a second, straight-line implementation of the definitions in
SPEC §1a and §1c, so that the engine's numbers can be checked against it. Only the
scenario reader (:mod:`engine.scenario.loader`) is shared, to read the file.

The definitions it implements:

- layer ``k``: ``z{k} = a{k-1} @ W{k} + b{k}``, ``a{k} = act(z{k})``, ``a0 = x``;
- ``mse`` = mean of ``(a - y)^2`` over all elements, ``sse`` = their sum, ``bce`` = mean
  binary cross-entropy with logs clamped at -100, ``cross_entropy`` = mean softmax
  cross-entropy of the last ``z`` against integer labels;
- ``leaky_relu`` slope 0.01; at exactly 0: ``relu'(0) = 0`` and ``leaky_relu'(0) = 0.01``
  (PyTorch: ``x > 0 ? 1 : slope``);
- ``bce``'s backward is PyTorch's ``(p - y) / max(p (1 - p), eps) / n`` (SPEC: "as
  PyTorch does"), which is the exact derivative wherever the clamps are inactive. Its
  ``eps`` is ``constexpr float EPSILON = 1e-12`` in ATen's ``Loss.cpp``: the float32
  nearest 1e-12, 9.999999960041972e-13, not the double 1e-12 (they differ by 4e-9
  relative, which shows wherever ``p (1 - p) < 1e-12``: a sigmoid output with
  ``|z| > 27.6``, a softmax probability below 1e-12, or p exactly 0 or 1);
- v2 losses: ``l1`` mean ``|a - y|`` (slope ``sign``), ``huber`` with ``delta`` (torch's
  HuberLoss), ``hinge`` mean ``max(0, 1 - y a)`` (slope 0 at the margin);
- optimizers as ``torch.optim`` (v2: weight decay, dampening, Nesterov, AdamW, RMSprop,
  Adagrad; see :func:`update`): SGD ``p -= lr g``; SGD with momentum ``buf = g`` on the
  first update, then ``buf = mu buf + g``, ``p -= lr buf``; Adam with ``t = step + 1``,
  ``m = b1 m + (1 - b1) g`` (as torch's lerp rounds it), ``v = b2 v + (1 - b2) g^2``,
  ``p -= lr m̂ / (sqrt(v̂) + eps)`` with ``m̂ = m / (1 - b1^t)``, ``v̂ = v / (1 - b2^t)``
  (the paper's form; torch.optim rearranges it, equal in exact arithmetic);
- mini-batch ``t`` is rows ``[t B, (t + 1) B)`` of the data, taken cyclically.

Initial weights a layer does not give are drawn as :func:`engine.step.run.init_model_params`
documents (SPEC leaves the distributions to the implementation): one
``numpy.random.default_rng(model.seed)``, layer by layer; ``xavier`` uniform on
``±sqrt(6 / (fan_in + fan_out))``, ``he`` normal with std ``sqrt(2 / fan_in)``, ``normal``
standard normal, ``zeros``; biases not given are zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.scenario.records import Scenario

LEAKY = 0.01
LOG_FLOOR = -100.0
BCE_EPS = float(np.float32(1e-12))
"""PyTorch's clamp in the BCELoss backward: a float32 1e-12 (9.999999960041972e-13)."""


@dataclass
class RefStep:
    """What one training step computes."""

    step: int
    loss: float
    grads: dict[str, np.ndarray]
    """∂L/∂param for every parameter (W1, b1, W2, …)."""
    params_after: dict[str, np.ndarray]
    state_after: dict[str, dict[str, np.ndarray]]
    nodes: dict[str, np.ndarray]
    """Forward values (z1, a1, …) and gradients of them (``dz1``, ``da1``, …)."""


def initial_params(scenario: Scenario) -> dict[str, np.ndarray]:
    """The parameters before step 0 (explicit ones as given, the others drawn)."""
    model = scenario.model
    assert model is not None
    rng = np.random.default_rng(model.seed)
    params: dict[str, np.ndarray] = {}
    fan_in = model.inputs
    for k, layer in enumerate(model.layers, start=1):
        fan_out = layer.units
        if layer.weight is not None:
            w = np.array(layer.weight, dtype=np.float64)
        elif model.init == "xavier":
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            w = rng.uniform(-limit, limit, size=(fan_in, fan_out))
        elif model.init == "he":
            w = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
        elif model.init == "normal":
            w = rng.normal(0.0, 1.0, size=(fan_in, fan_out))
        elif model.init == "zeros":
            w = np.zeros((fan_in, fan_out))
        else:  # pragma: no cover - the scenario reader refuses other names
            raise ValueError(model.init)
        b = np.zeros(fan_out) if layer.bias is None else np.array(layer.bias, dtype=np.float64)
        params[f"W{k}"] = w
        params[f"b{k}"] = b
        fan_in = fan_out
    return params


def initial_state(scenario: Scenario, params: dict[str, np.ndarray]) -> dict[str, dict]:
    opt = scenario.optimizer
    kind = opt.kind
    if kind == "sgd":
        return {p: {} for p in params}
    if kind == "momentum":
        return {p: {"momentum_buffer": np.zeros_like(v)} for p, v in params.items()}
    if kind == "rmsprop":
        names = ["square_avg"]
        names += ["momentum_buffer"] if opt.momentum > 0 else []
        names += ["grad_avg"] if opt.centered else []
        return {p: {k: np.zeros_like(v) for k in names} for p, v in params.items()}
    if kind == "adagrad":
        return {
            p: {"sum": np.full_like(v, opt.initial_accumulator_value)} for p, v in params.items()
        }
    return {p: {"m": np.zeros_like(v), "v": np.zeros_like(v)} for p, v in params.items()}


def batch(scenario: Scenario, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Mini-batch ``step``: rows ``[t B, (t + 1) B)`` modulo the sample count."""
    assert scenario.data is not None
    x, y = np.asarray(scenario.data.x), np.asarray(scenario.data.y)
    n = x.shape[0]
    b = scenario.train.batch_size or n
    rows = [(step * b + i) % n for i in range(b)]
    return x[rows], y[rows]


# --- activations, written out ------------------------------------------------------------


def _softmax_rows(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    return e / e.sum(axis=1, keepdims=True)


def _act(kind: str, z: np.ndarray) -> np.ndarray:
    if kind == "identity":
        return z.copy()
    if kind == "sigmoid":
        out = np.empty_like(z)
        pos = z >= 0
        out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
        ez = np.exp(z[~pos])
        out[~pos] = ez / (1.0 + ez)
        return out
    if kind == "tanh":
        return np.tanh(z)
    if kind == "relu":
        return np.where(z > 0, z, 0.0)
    if kind == "leaky_relu":
        return np.where(z > 0, z, LEAKY * z)
    if kind == "softmax":
        return _softmax_rows(z)
    raise ValueError(kind)


def _act_back(kind: str, z: np.ndarray, a: np.ndarray, da: np.ndarray) -> np.ndarray:
    """∂L/∂z from ∂L/∂a."""
    if kind == "identity":
        return da.copy()
    if kind == "sigmoid":
        return da * a * (1.0 - a)
    if kind == "tanh":
        return da * (1.0 - a * a)
    if kind == "relu":
        return np.where(z > 0, da, 0.0)
    if kind == "leaky_relu":
        return np.where(z > 0, da, LEAKY * da)
    if kind == "softmax":
        # Row-wise Jacobian-vector product: dz_j = a_j (da_j - Σ_k da_k a_k).
        return a * (da - (da * a).sum(axis=1, keepdims=True))
    raise ValueError(kind)


# --- losses --------------------------------------------------------------------------------


def _loss_and_grad(
    kind: str, pred: np.ndarray, y: np.ndarray, delta: float = 1.0
) -> tuple[float, np.ndarray]:
    """The loss and ∂L/∂pred (pred is the last ``a``, or the last ``z`` for cross_entropy)."""
    if kind == "mse":
        d = pred - y
        return float(np.mean(d * d)), 2.0 * d / d.size
    if kind == "sse":
        d = pred - y
        return float(np.sum(d * d)), 2.0 * d
    if kind == "bce":
        n = pred.size
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(pred), LOG_FLOOR)
            log_q = np.maximum(np.log(1.0 - pred), LOG_FLOOR)
        loss = float(np.mean(-(y * log_p + (1.0 - y) * log_q)))
        grad = (pred - y) / np.maximum((1.0 - pred) * pred, BCE_EPS) / n
        return loss, grad
    if kind == "cross_entropy":
        n = pred.shape[0]
        labels = y.reshape(n).astype(np.int64)
        shifted = pred - pred.max(axis=1, keepdims=True)
        logsumexp = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_probs = shifted - logsumexp
        loss = -float(np.mean(log_probs[np.arange(n), labels]))
        onehot = np.zeros_like(pred)
        onehot[np.arange(n), labels] = 1.0
        return loss, (np.exp(log_probs) - onehot) / n
    d = pred - y
    n = d.size
    if kind == "l1":
        return float(np.mean(np.abs(d))), np.sign(d) / n
    if kind == "huber":
        small = np.abs(d) < delta
        loss = float(np.mean(np.where(small, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))))
        grad = np.where(d < -delta, -delta, np.where(d > delta, delta, d)) / n
        return loss, grad
    if kind == "hinge":
        margin = 1.0 - y * pred
        return float(np.mean(np.maximum(margin, 0.0))), np.where(margin > 0, -y, 0.0) / n
    raise ValueError(kind)


# --- one step ------------------------------------------------------------------------------


def update(scenario: Scenario, step: int, p, g, state):
    """One parameter's update at training step ``step``: (new value, new buffers).

    Written from the algorithms torch.optim documents (its docstrings' pseudocode), with
    ``t = step + 1`` and ``λ`` the weight decay, which all but AdamW add to the gradient.
    """
    opt = scenario.optimizer
    t = step + 1
    if opt.weight_decay and opt.kind != "adamw":
        g = g + opt.weight_decay * p
    if opt.kind == "sgd":
        return p - opt.lr * g, {}
    if opt.kind == "momentum":
        if step == 0 or opt.momentum == 0:  # torch.optim.SGD keeps no buffer with μ = 0
            buf = g.copy()
        else:
            buf = opt.momentum * state["momentum_buffer"] + (1.0 - opt.dampening) * g
        step_dir = g + opt.momentum * buf if opt.nesterov else buf
        return p - opt.lr * step_dir, {"momentum_buffer": buf}
    if opt.kind == "rmsprop":
        a = opt.alpha
        new = {"square_avg": a * state["square_avg"] + (1.0 - a) * g * g}
        if opt.centered:
            new["grad_avg"] = a * state["grad_avg"] + (1.0 - a) * g
            avg = np.sqrt(new["square_avg"] - new["grad_avg"] ** 2) + opt.eps
        else:
            avg = np.sqrt(new["square_avg"]) + opt.eps
        if opt.momentum > 0:
            new["momentum_buffer"] = opt.momentum * state["momentum_buffer"] + g / avg
            return p - opt.lr * new["momentum_buffer"], new
        return p - opt.lr * g / avg, new
    if opt.kind == "adagrad":
        clr = opt.lr / (1.0 + (t - 1) * opt.lr_decay)
        total = state["sum"] + g * g
        return p - clr * g / (np.sqrt(total) + opt.eps), {"sum": total}
    if opt.kind == "adamw":
        p = p * (1.0 - opt.lr * opt.weight_decay)
    b1, b2 = opt.betas
    # torch.optim.Adam moves m towards g with exp_avg.lerp_(grad, 1 - b1); torch's lerp
    # rounds as below, which differs from b1 m + (1 - b1) g by far more than a last bit
    # when 1 - b1 loses b1's digits (b1 = 1e-10).
    w = 1.0 - b1
    m_prev = state["m"]
    m = m_prev + w * (g - m_prev) if w < 0.5 else g - (g - m_prev) * (1.0 - w)
    v = b2 * state["v"] + (1.0 - b2) * g * g
    m_hat = m / (1.0 - b1**t)
    v_hat = v / (1.0 - b2**t)
    return p - opt.lr * m_hat / (np.sqrt(v_hat) + opt.eps), {"m": m, "v": v}


def step(
    scenario: Scenario,
    t: int,
    params: dict[str, np.ndarray],
    state: dict[str, dict[str, np.ndarray]],
) -> RefStep:
    """Training step ``t`` from ``params`` and optimizer ``state``."""
    model = scenario.model
    assert model is not None and scenario.loss is not None
    layers = model.layers
    n = len(layers)
    x, y = batch(scenario, t)
    nodes: dict[str, np.ndarray] = {"x": x, "y": y}
    with np.errstate(all="ignore"):
        a = x
        for k, layer in enumerate(layers, start=1):
            z = a @ params[f"W{k}"] + params[f"b{k}"]
            a = _act(layer.activation, z)
            nodes[f"z{k}"], nodes[f"a{k}"] = z, a
        pred = nodes[f"z{n}"] if scenario.loss == "cross_entropy" else nodes[f"a{n}"]
        loss, dpred = _loss_and_grad(scenario.loss, pred, y, scenario.loss_delta)

        grads: dict[str, np.ndarray] = {}
        if scenario.loss == "cross_entropy":
            dz = dpred
        else:
            nodes[f"da{n}"] = dpred
            dz = _act_back(layers[-1].activation, nodes[f"z{n}"], nodes[f"a{n}"], dpred)
        for k in range(n, 0, -1):
            nodes[f"dz{k}"] = dz
            a_prev = nodes[f"a{k - 1}"] if k > 1 else x
            grads[f"W{k}"] = a_prev.T @ dz
            grads[f"b{k}"] = dz.sum(axis=0)
            if k > 1:
                da = dz @ params[f"W{k}"].T
                nodes[f"da{k - 1}"] = da
                dz = _act_back(layers[k - 2].activation, nodes[f"z{k - 1}"], nodes[f"a{k - 1}"], da)

        params_after, state_after = {}, {}
        for name in params:
            params_after[name], state_after[name] = update(
                scenario, t, params[name], grads[name], state[name]
            )
    return RefStep(t, loss, grads, params_after, state_after, nodes)


def train(
    scenario: Scenario,
    steps: int | None = None,
    params: dict[str, np.ndarray] | None = None,
) -> list[RefStep]:
    """Train for ``steps`` (default ``train.steps``) from ``params`` (default: the init)."""
    params = initial_params(scenario) if params is None else dict(params)
    state = initial_state(scenario, params)
    out = []
    for t in range(scenario.train.steps if steps is None else steps):
        r = step(scenario, t, params, state)
        out.append(r)
        params, state = r.params_after, r.state_after
    return out
