"""Gradient checking: every analytic gradient against central finite differences.

For each element θᵢ of a parameter, the numerical derivative is
``(L(θ + h·eᵢ) − L(θ − h·eᵢ)) / 2h`` with ``h = STEP · max(1, |θᵢ|)``, computed on the
same mini-batch and parameters as the analytic gradient of that step. The two agree
when ``|analytic − numeric| ≤ ATOL + RTOL · max(|analytic|, |numeric|)``.

``bpdbg check`` and the app's gradient-check display both use :func:`check_step`.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import numpy as np

from .run import OptState, Params, Program, forward_values, run_step

STEP = 1e-6
"""Relative finite-difference step."""
RTOL = 1e-5
"""Relative tolerance."""
ATOL = 1e-7
"""Absolute tolerance, for gradients that are (nearly) zero."""


class ParamCheck(msgspec.Struct, frozen=True, eq=False):
    """One parameter's check at one step.

    Attributes:
        param: The parameter's name.
        step: The step checked.
        analytic: ∂L/∂param from backpropagation.
        numeric: The central-difference estimate, same shape.
        rel_error: Per element ``|a − n| / max(|a|, |n|, 1e-300)``.
        ok: True when every element agrees within the tolerances.
    """

    param: str
    step: int
    analytic: np.ndarray
    numeric: np.ndarray
    rel_error: np.ndarray
    ok: bool

    @property
    def max_rel_error(self) -> float:
        return float(np.max(self.rel_error)) if self.rel_error.size else 0.0

    @property
    def max_abs_error(self) -> float:
        d = np.abs(self.analytic - self.numeric)
        return float(np.max(d)) if d.size else 0.0


def loss_at(program: Program, params: Params, step: int) -> float:
    """The loss of ``step``'s mini-batch with the given parameters."""
    values = forward_values(program, params, step)
    return float(np.asarray(values[program.graph.loss]).reshape(-1)[0])


def _loss_of(program: Program, params: Params, step: int, param: str):
    """``f(value) -> loss`` with ``param`` set to ``value`` and everything else fixed.

    Only the nodes downstream of ``param`` are recomputed: the rest of the forward pass
    is the same for every perturbation, which makes checking a wide network's first
    layer several times cheaper than rerunning the whole graph.
    """
    graph = program.graph
    base = forward_values(program, params, step)
    affected = graph.descendants(param)
    plan = [entry for entry in graph.forward_plan if entry[0] in affected]
    loss = graph.loss

    def f(value: np.ndarray) -> float:
        values = dict(base)
        values[param] = value
        for name, forward, inputs, attrs in plan:
            args = [values[i] for i in inputs]
            values[name] = forward(*args, **attrs) if attrs else forward(*args)
        return float(np.asarray(values[loss]).reshape(-1)[0])

    return f


def check_param(
    program: Program,
    step: int,
    params: Params,
    grad: np.ndarray,
    param: str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ParamCheck:
    """Check one parameter's analytic gradient ``grad`` at ``step``.

    Args:
        progress: Called as ``progress(done, total)`` after each element (the app shows
            it for large parameters); it may raise to abandon the check.
    """
    # An array even where the step loop left a numpy scalar (a scalar parameter after an
    # update): a scalar's copy is immutable, so perturbing it would silently do nothing.
    base = np.array(params[param], dtype=np.float64)
    numeric = np.zeros(base.shape)
    flat_num = numeric.reshape(-1)
    with np.errstate(all="ignore"):
        loss_with = _loss_of(program, params, step, param)
        for i in range(base.size):
            theta = base.reshape(-1)[i]
            h = STEP * max(1.0, abs(theta))
            plus = base.copy()
            plus.reshape(-1)[i] = theta + h
            minus = base.copy()
            minus.reshape(-1)[i] = theta - h
            lp, lm = loss_with(plus), loss_with(minus)
            # Divide by the step actually taken, which rounding may have changed.
            flat_num[i] = (lp - lm) / (plus.reshape(-1)[i] - minus.reshape(-1)[i])
            if progress is not None:
                progress(i + 1, base.size)
        a = np.asarray(grad, dtype=np.float64)
        diff = np.abs(a - numeric)
        scale = np.maximum(np.maximum(np.abs(a), np.abs(numeric)), 1e-300)
        rel = np.where(diff == 0, 0.0, diff / scale)
        ok = bool(np.all(diff <= ATOL + RTOL * np.maximum(np.abs(a), np.abs(numeric))))
    return ParamCheck(param, step, a, numeric, rel, ok)


def check_step(
    program: Program, step: int, params: Params, state: OptState
) -> list[ParamCheck]:
    """Check every parameter's gradient at ``step``, given the state at its start."""
    result = run_step(program, step, params, state)
    return [check_param(program, step, params, result.grads[p], p) for p in program.graph.params]
