"""Optimizers, defined exactly as ``torch.optim`` defines them, in float64.

Each optimizer is a pure function of (parameter, gradient, state, step) to
(new parameter, new state): it returns new arrays and never mutates its inputs, so a
step can be replayed from a keyframe and give the same bits. ``t`` below is the 1-based
update count (``step + 1``); ``λ`` is ``weight_decay``, which every kind but ``adamw``
adds to the gradient first (``g ← g + λ·θ``), as torch does.

- ``sgd``: ``θ ← θ − lr·g`` (``torch.optim.SGD`` with momentum 0).
- ``momentum``: ``buf ← g`` on the first update, then ``buf ← μ·buf + (1 − dampening)·g``;
  ``θ ← θ − lr·buf``, or with ``nesterov``, ``θ ← θ − lr·(g + μ·buf)``
  (``torch.optim.SGD(momentum=μ, dampening=…, nesterov=…)``).
- ``adam``: ``m ← β₁·m + (1−β₁)·g`` (rounded as torch's ``lerp`` towards g by 1−β₁
  rounds it: for a tiny β₁ the two roundings differ by far more than a last bit),
  ``v ← β₂·v + (1−β₂)·g²``,
  ``θ ← θ − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)`` (``torch.optim.Adam``).
- ``adamw``: first ``θ ← θ·(1 − lr·λ)`` (decoupled weight decay, default λ = 0.01), then
  Adam's step without weight decay in the gradient (``torch.optim.AdamW``).
- ``rmsprop``: ``square_avg ← α·square_avg + (1−α)·g²``; with ``centered``,
  ``grad_avg ← lerp(grad_avg, g, 1−α)`` and ``avg = √(square_avg − grad_avg²) + ε``, else
  ``avg = √square_avg + ε``; then ``θ ← θ − lr·g/avg``, or with momentum μ > 0,
  ``momentum_buffer ← μ·momentum_buffer + g/avg`` and ``θ ← θ − lr·momentum_buffer``
  (``torch.optim.RMSprop``; lr default there is 0.01, here lr is always given).
- ``adagrad``: ``clr = lr / (1 + (t−1)·lr_decay)``, ``sum ← sum + g²`` (starting at
  ``initial_accumulator_value``), ``θ ← θ − clr·g/(√sum + ε)`` (``torch.optim.Adagrad``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import msgspec
import numpy as np

from engine.scenario.records import OptimizerSpec

State = Mapping[str, np.ndarray]
Params = Mapping[str, np.ndarray]
OptState = Mapping[str, State]
Updated = tuple[np.ndarray, dict[str, np.ndarray]]
"""A parameter after one update, and its buffers after it."""
Update = Callable[[np.ndarray, np.ndarray, State], Updated]
"""One step's update of one parameter: ``(p, g, state) -> (after, state after)``."""
Derivation = list[tuple[str, np.ndarray]]
"""The steps of one update, for the chain-rule pane: ``(formula, value)`` pairs in order."""

STATE_KEYS = {"sgd": (), "momentum": ("momentum_buffer",), "adam": ("m", "v"), "adamw": ("m", "v")}
"""The buffers of the kinds whose buffers do not depend on their settings, as the trace
names them; :func:`state_keys` gives every kind's."""


def state_keys(spec: OptimizerSpec) -> tuple[str, ...]:
    """The buffers the optimizer keeps per parameter (the ``state`` of update events)."""
    if spec.kind in STATE_KEYS:
        return STATE_KEYS[spec.kind]
    if spec.kind == "adagrad":
        return ("sum",)
    keys: tuple[str, ...] = ("square_avg",)
    if spec.momentum > 0:
        keys += ("momentum_buffer",)
    if spec.centered:
        keys += ("grad_avg",)
    return keys


def _lerp(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """``torch.lerp``: from ``start`` towards ``end``, rounded as torch rounds it."""
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


class Optimizer(msgspec.Struct, frozen=True):
    """An update rule with its hyper-parameters."""

    spec: OptimizerSpec

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def plain(self) -> bool:
        """True for the v1 rules (sgd, momentum, adam) with none of the v2 options set:
        the chain-rule pane writes those out with every number substituted."""
        s = self.spec
        return (
            s.kind in ("sgd", "momentum", "adam")
            and s.weight_decay == 0
            and s.dampening == 0
            and not s.nesterov
        )

    def init_state(self, p: np.ndarray) -> dict[str, np.ndarray]:
        """The buffers before the first update: zeros of the parameter's shape (Adagrad's
        ``sum`` starts at ``initial_accumulator_value``)."""
        keys = state_keys(self.spec)
        if self.spec.kind == "adagrad":
            return {"sum": np.full(np.shape(p), self.spec.initial_accumulator_value)}
        return {k: np.zeros_like(p) for k in keys}

    def update(
        self, p: np.ndarray, g: np.ndarray, state: State, step: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One update of one parameter.

        Args:
            p: The parameter before the update.
            g: Its gradient.
            state: Its buffers before the update (from :meth:`init_state` on step 0).
            step: The 0-based training step; bias corrections and Adagrad's decay use
                ``step + 1``.

        Returns:
            The parameter after the update and the buffers after it.
        """
        return self.updater(step)(p, g, state)

    def update_all(
        self, step: int, names: tuple[str, ...], params: Params, grads: Params, state: OptState
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
        """:meth:`update` for the parameters ``names`` of one step, in that order.

        Returns:
            The parameters after the updates and their buffers after them, by name.
        """
        s = self.spec
        if s.kind == "sgd" and not s.weight_decay:  # most scenarios: no per-parameter call
            lr = s.lr
            return {p: params[p] - lr * grads[p] for p in names}, {p: {} for p in names}
        update = self.updater(step)
        params_after: dict[str, np.ndarray] = {}
        state_after: dict[str, dict[str, np.ndarray]] = {}
        for p in names:
            params_after[p], state_after[p] = update(params[p], grads[p], state[p])
        return params_after, state_after

    def updater(self, step: int) -> Update:
        """:meth:`update` for every parameter of one step: ``fn(p, g, state)``.

        The step's constants (Adam's bias corrections) are worked out once, not once per
        parameter, and the common kinds (``sgd``, ``adam``, ``adamw``) skip the
        derivation's bookkeeping; every rule's arithmetic is :meth:`derivation`'s, in the
        same order, so the bits are the same (tests/engine/test_optim.py checks it).
        """
        s = self.spec
        lr, wd = s.lr, s.weight_decay
        if s.kind == "sgd":
            if not wd:  # the hot path of most scenarios

                def sgd(p: np.ndarray, g: np.ndarray, state: State) -> Updated:
                    return p - lr * g, {}

                return sgd

            def sgd_decay(p: np.ndarray, g: np.ndarray, state: State) -> Updated:
                return p - lr * (g + wd * p), {}

            return sgd_decay
        if s.kind in ("adam", "adamw"):
            return _adam(s, step)
        return lambda p, g, state: self._step(p, g, state, step, None)

    def derivation(self, p: np.ndarray, g: np.ndarray, state: State, step: int) -> Derivation:
        """The update's intermediate quantities in order, each with its formula: what the
        chain-rule pane shows for the rules and options it does not write out by hand."""
        lines: Derivation = []
        self._step(p, g, state, step, lines)
        return lines

    def _step(
        self, p: np.ndarray, g: np.ndarray, state: State, step: int, lines: Derivation | None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        s = self.spec
        t = step + 1

        def show(formula: str, value: np.ndarray | float) -> None:
            if lines is not None:
                lines.append((formula, np.asarray(value, dtype=np.float64)))

        if s.weight_decay and s.kind != "adamw":
            g = g + s.weight_decay * p
            show("g ← g + λ·θ", g)
        if s.kind == "sgd":
            after = p - s.lr * g
            show("θ ← θ − lr·g", after)
            return after, {}
        if s.kind == "momentum":
            if step == 0 or s.momentum == 0:
                # With μ = 0 torch skips the buffer (and its dampening) altogether: the step
                # is the gradient itself, which the buffer then shows.
                buf = g.copy()
                show("buf ← g (first update)" if step == 0 else "buf ← g (μ = 0)", buf)
            elif s.dampening:
                buf = s.momentum * state["momentum_buffer"] + (1.0 - s.dampening) * g
                show("buf ← μ·buf + (1 − τ)·g", buf)
            else:
                buf = s.momentum * state["momentum_buffer"] + g
                show("buf ← μ·buf + g", buf)
            if s.nesterov:
                d = g + s.momentum * buf
                show("g ← g + μ·buf (Nesterov)", d)
                after = p - s.lr * d
                show("θ ← θ − lr·g", after)
            else:
                after = p - s.lr * buf
                show("θ ← θ − lr·buf", after)
            return after, {"momentum_buffer": buf}
        if s.kind in ("adam", "adamw"):
            if s.kind == "adamw" and s.weight_decay:
                p = p * (1.0 - s.lr * s.weight_decay)
                show("θ ← θ·(1 − lr·λ)", p)
            b1, b2 = s.betas
            m = _lerp(state["m"], g, 1.0 - b1)  # torch: exp_avg.lerp_(grad, 1 − β₁)
            show("m ← β₁·m + (1−β₁)·g", m)
            v = b2 * state["v"] + (1.0 - b2) * (g * g)
            show("v ← β₂·v + (1−β₂)·g²", v)
            step_size = s.lr / (1.0 - b1**t)
            denom = np.sqrt(v) / math.sqrt(1.0 - b2**t) + s.eps
            show(f"√v̂ + ε = √v/√(1−β₂ᵗ) + ε   (t = {t})", denom)
            after = p - step_size * (m / denom)
            show("θ ← θ − lr/(1−β₁ᵗ) · m/(√v̂ + ε)", after)
            return after, {"m": m, "v": v}
        if s.kind == "rmsprop":
            new: dict[str, np.ndarray] = {}
            a = s.alpha
            sq = a * state["square_avg"] + (1.0 - a) * (g * g)
            show("square_avg ← α·square_avg + (1−α)·g²", sq)
            new["square_avg"] = sq
            if s.centered:
                ga = _lerp(state["grad_avg"], g, 1.0 - a)
                show("grad_avg ← α·grad_avg + (1−α)·g", ga)
                new["grad_avg"] = ga
                avg = np.sqrt(sq - ga * ga) + s.eps
                show("avg = √(square_avg − grad_avg²) + ε", avg)
            else:
                avg = np.sqrt(sq) + s.eps
                show("avg = √square_avg + ε", avg)
            if s.momentum > 0:
                buf = s.momentum * state["momentum_buffer"] + g / avg
                show("buf ← μ·buf + g/avg", buf)
                new["momentum_buffer"] = buf
                after = p - s.lr * buf
                show("θ ← θ − lr·buf", after)
            else:
                after = p - s.lr * (g / avg)
                show("θ ← θ − lr·g/avg", after)
            # The trace lists buffers in state_keys' order.
            return after, {k: new[k] for k in state_keys(s)}
        assert s.kind == "adagrad", s.kind
        clr = s.lr / (1.0 + (t - 1) * s.lr_decay)
        show(f"clr = lr/(1 + (t−1)·lr_decay)   (t = {t})", clr)
        total = state["sum"] + g * g
        show("sum ← sum + g²", total)
        std = np.sqrt(total) + s.eps
        show("√sum + ε", std)
        after = p - clr * (g / std)
        show("θ ← θ − clr·g/(√sum + ε)", after)
        return after, {"sum": total}

    def terms(self, g: np.ndarray, state_after: State, step: int) -> dict[str, object]:
        """The intermediate quantities of one update of a :attr:`plain` rule, for the
        chain-rule pane. For Adam: the bias corrections, the corrected moments."""
        s = self.spec
        if s.kind != "adam":
            terms: dict[str, object] = {"lr": s.lr}
            if s.kind == "momentum":
                terms["momentum"] = s.momentum
            return terms
        b1, b2 = s.betas
        t = step + 1
        m, v = state_after["m"], state_after["v"]
        c1, c2 = 1.0 - b1**t, 1.0 - b2**t
        return {
            "lr": s.lr,
            "beta1": b1,
            "beta2": b2,
            "eps": s.eps,
            "t": t,
            "bias1": c1,
            "bias2": c2,
            "m_hat": m / c1,
            "v_hat": v / c2,
        }

    def settings(self) -> list[tuple[str, float | bool]]:
        """The hyper-parameters the rule uses, as ``(symbol, value)`` for display."""
        s = self.spec
        out: list[tuple[str, float | bool]] = [("lr", s.lr)]
        if s.weight_decay or s.kind == "adamw":
            out.append(("λ", s.weight_decay))
        if s.kind == "momentum":
            out += [("μ", s.momentum), ("τ", s.dampening), ("nesterov", s.nesterov)]
        elif s.kind in ("adam", "adamw"):
            out += [("β₁", s.betas[0]), ("β₂", s.betas[1]), ("ε", s.eps)]
        elif s.kind == "rmsprop":
            out += [("α", s.alpha), ("ε", s.eps), ("μ", s.momentum), ("centered", s.centered)]
        elif s.kind == "adagrad":
            out += [("lr_decay", s.lr_decay), ("ε", s.eps)]
        return out


def _adam(s: OptimizerSpec, step: int) -> Update:
    """Adam's (or AdamW's) update for one step: :meth:`Optimizer.derivation`'s arithmetic,
    its constants worked out once for every parameter."""
    b1, b2 = s.betas
    t = step + 1
    c1, c2 = 1.0 - b1, 1.0 - b2
    step_size = s.lr / (1.0 - b1**t)
    bias2 = math.sqrt(1.0 - b2**t)
    eps, wd = s.eps, s.weight_decay
    coupled = bool(wd) and s.kind == "adam"  # Adam adds λ·θ to the gradient
    decay = 1.0 - s.lr * wd if s.kind == "adamw" and wd else None  # AdamW shrinks θ first

    def adam(p: np.ndarray, g: np.ndarray, state: State) -> Updated:
        if coupled:
            g = g + wd * p
        if decay is not None:
            p = p * decay
        m = _lerp(state["m"], g, c1)
        v = b2 * state["v"] + c2 * (g * g)
        return p - step_size * (m / (np.sqrt(v) / bias2 + eps)), {"m": m, "v": v}

    return adam
