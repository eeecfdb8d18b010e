"""Optimizers, defined exactly as ``torch.optim`` defines them (float64, no weight decay).

Each optimizer is a pure function of (parameter, gradient, state, step) to
(new parameter, new state): it returns new arrays and never mutates its inputs, so a
step can be replayed from a keyframe and give the same bits.

- ``sgd``: ``p ← p − lr·g``  (``torch.optim.SGD`` with momentum 0).
- ``momentum``: ``buf ← μ·buf + g`` (``buf = g`` on the first step), ``p ← p − lr·buf``
  (``torch.optim.SGD(momentum=μ)``, no dampening, no Nesterov).
- ``adam``: ``m ← β₁·m + (1−β₁)·g``, ``v ← β₂·v + (1−β₂)·g²``,
  ``p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)`` with ``t`` the 1-based update
  count (``torch.optim.Adam``, bias-corrected).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec
import numpy as np

from engine.scenario.records import OptimizerSpec

State = Mapping[str, np.ndarray]

STATE_KEYS = {"sgd": (), "momentum": ("momentum_buffer",), "adam": ("m", "v")}
"""The buffers each optimizer keeps per parameter, as the trace names them."""


class Optimizer(msgspec.Struct, frozen=True):
    """An update rule with its hyper-parameters."""

    spec: OptimizerSpec

    @property
    def kind(self) -> str:
        return self.spec.kind

    def init_state(self, p: np.ndarray) -> dict[str, np.ndarray]:
        """The buffers before the first update: zeros of the parameter's shape."""
        return {k: np.zeros_like(p) for k in STATE_KEYS[self.spec.kind]}

    def update(
        self, p: np.ndarray, g: np.ndarray, state: State, step: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One update of one parameter.

        Args:
            p: The parameter before the update.
            g: Its gradient.
            state: Its buffers before the update (from :meth:`init_state` on step 0).
            step: The 0-based training step; Adam's bias correction uses ``step + 1``.

        Returns:
            The parameter after the update and the buffers after it.
        """
        s = self.spec
        if s.kind == "sgd":
            return p - s.lr * g, {}
        if s.kind == "momentum":
            buf = g.copy() if step == 0 else s.momentum * state["momentum_buffer"] + g
            return p - s.lr * buf, {"momentum_buffer": buf}
        b1, b2 = s.betas
        t = step + 1
        m = b1 * state["m"] + (1.0 - b1) * g
        v = b2 * state["v"] + (1.0 - b2) * (g * g)
        step_size = s.lr / (1.0 - b1**t)
        denom = np.sqrt(v) / math.sqrt(1.0 - b2**t) + s.eps
        return p - step_size * (m / denom), {"m": m, "v": v}

    def terms(self, g: np.ndarray, state_after: State, step: int) -> dict[str, object]:
        """The intermediate quantities of one update, for the chain-rule pane.

        For Adam: the bias corrections, the corrected moments and the step taken.
        """
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
