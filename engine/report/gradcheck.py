"""Gradient checking: every analytic gradient against central finite differences.

For each element θᵢ of a parameter, the numerical derivative is
``(L(θ + h·eᵢ) − L(θ − h·eᵢ)) / 2h`` with ``h = STEP · max(1, |θᵢ|)``, computed on the
same mini-batch and parameters as the analytic gradient of that step. The two agree
when ``|analytic − numeric| ≤ ATOL + RTOL · max(|analytic|, |numeric|)``.

Each element gets an :class:`Outcome`. Where the parameter's element is not finite, or
the loss is not finite on either side of it (so the difference is not a number), the
derivative cannot be checked there: that is :attr:`Outcome.CANNOT_CHECK`, not a
disagreement. An analytic gradient that is not finite where the central difference is
finite is a disagreement.

``bpdbg check`` and the app's gradient-check display both use :func:`check_step`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import msgspec
import numpy as np

from engine import fmt
from engine.step.program import OptState, Params, Program
from engine.step.run import forward_values, run_step

STEP = 1e-6
"""Relative finite-difference step."""
RTOL = 1e-5
"""Relative tolerance."""
ATOL = 1e-7
"""Absolute tolerance, for gradients that are (nearly) zero."""


class Outcome(enum.IntEnum):
    """What the check found at one element (or, summed up, for a parameter)."""

    AGREE = 0
    """Analytic and numeric derivatives agree within the tolerances."""
    DISAGREE = 1
    """They do not: the analytic gradient is wrong here (or not finite where the
    difference is)."""
    CANNOT_CHECK = 2
    """The element, or the loss on either side of it, is not finite: a finite difference
    says nothing there."""


class ParamCheck(msgspec.Struct, frozen=True, eq=False):
    """One parameter's check at one step.

    Attributes:
        param: The parameter's name.
        step: The step checked.
        analytic: ∂L/∂param from backpropagation.
        numeric: The central-difference estimate, same shape.
        rel_error: Per element ``|a − n| / max(|a|, |n|, 1e-300)``.
        ok: True when every element agrees within the tolerances.
        outcomes: Per element, an :class:`Outcome` (same shape).
        value: The parameter's value the check was made at.
        finite_sides: Per element, whether the loss was finite at both θ + h and θ − h.
    """

    param: str
    step: int
    analytic: np.ndarray
    numeric: np.ndarray
    rel_error: np.ndarray
    ok: bool
    outcomes: np.ndarray | None = None
    value: np.ndarray | None = None
    finite_sides: np.ndarray | None = None

    @property
    def max_rel_error(self) -> float:
        return float(np.max(self.rel_error)) if self.rel_error.size else 0.0

    @property
    def max_abs_error(self) -> float:
        d = np.abs(self.analytic - self.numeric)
        return float(np.max(d)) if d.size else 0.0

    def _outcomes(self) -> np.ndarray:
        if self.outcomes is not None:
            return self.outcomes
        return np.where(_agree(self.analytic, self.numeric), Outcome.AGREE, Outcome.DISAGREE)

    @property
    def outcome(self) -> Outcome:
        """The parameter's outcome: it disagrees if any element does; it cannot be
        checked if no element can; else it agrees (on the elements that could be checked)."""
        found = self._outcomes()
        if np.any(found == Outcome.DISAGREE):
            return Outcome.DISAGREE
        if found.size and np.all(found == Outcome.CANNOT_CHECK):
            return Outcome.CANNOT_CHECK
        return Outcome.AGREE

    def count(self, outcome: Outcome) -> int:
        """How many elements had ``outcome``."""
        return int(np.count_nonzero(self._outcomes() == outcome))

    def checked_errors(self) -> tuple[float, float]:
        """The largest absolute and relative error over the elements that could be checked
        (0 when none could)."""
        checked = self._outcomes() != Outcome.CANNOT_CHECK
        if not np.any(checked):
            return 0.0, 0.0
        with np.errstate(all="ignore"):
            diff = np.abs(self.analytic - self.numeric)[checked]
            rel = self.rel_error[checked]
        # A non-finite analytic value against a finite difference: the worst error there is.
        return float(np.max(np.where(np.isnan(diff), np.inf, diff))), float(
            np.max(np.where(np.isnan(rel), np.inf, rel))
        )

    def why_not(self) -> str:
        """Why elements could not be checked, naming the first: ``W1[0, 1] holds nan``,
        ``the loss is inf at W ± h``; empty when every element could be."""
        found = self._outcomes().reshape(-1)
        cannot = np.flatnonzero(found == Outcome.CANNOT_CHECK)
        if not cannot.size:
            return ""
        i = int(cannot[0])
        where = self.param + _index(i, self.analytic.shape)
        value = None if self.value is None else float(np.asarray(self.value).reshape(-1)[i])
        sides = None if self.finite_sides is None else bool(self.finite_sides.reshape(-1)[i])
        if value is not None and not np.isfinite(value):
            text = f"{where} holds {fmt.num(value)}"
        elif sides is False:
            text = f"the loss is not finite at {where} ± h"
        else:
            numeric = float(self.numeric.reshape(-1)[i])
            text = f"the central difference at {where} is {fmt.num(numeric)}"
        more = cannot.size - 1
        return text + (f" (and {more:,} more element{'s' if more > 1 else ''})" if more else "")


def _index(flat: int, shape: tuple[int, ...]) -> str:
    """``[i, j]`` of element ``flat`` of an array of ``shape``; empty for one element."""
    if not shape or int(np.prod(shape)) == 1:
        return ""
    return "[" + ", ".join(str(int(k)) for k in np.unravel_index(flat, shape)) + "]"


def _agree(a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Elementwise agreement within the tolerances. Only finite numbers agree: an infinite
    analytic value is within any relative tolerance of itself times anything."""
    with np.errstate(all="ignore"):
        close = np.abs(a - n) <= ATOL + RTOL * np.maximum(np.abs(a), np.abs(n))
    return close & np.isfinite(a) & np.isfinite(n)


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
    finite_sides = np.ones(base.shape, dtype=bool)
    flat_sides = finite_sides.reshape(-1)
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
            flat_sides[i] = np.isfinite(lp) and np.isfinite(lm)
            # Divide by the step actually taken, which rounding may have changed.
            flat_num[i] = (lp - lm) / (plus.reshape(-1)[i] - minus.reshape(-1)[i])
            if progress is not None:
                progress(i + 1, base.size)
        a = np.asarray(grad, dtype=np.float64)
        diff = np.abs(a - numeric)
        scale = np.maximum(np.maximum(np.abs(a), np.abs(numeric)), 1e-300)
        rel = np.where(diff == 0, 0.0, diff / scale)
        agree = _agree(a, numeric)
        ok = bool(np.all(agree))
        # The numeric side is what a check stands on: where it is not a number (the element
        # or the loss beside it is not finite), nothing can be said about the analytic side.
        cannot = ~np.isfinite(base) | ~np.isfinite(numeric)
        outcomes = np.where(
            cannot, Outcome.CANNOT_CHECK, np.where(agree, Outcome.AGREE, Outcome.DISAGREE)
        )
    return ParamCheck(
        param, step, a, numeric, rel, ok, outcomes.astype(np.int8), _frozen_copy(base), finite_sides
    )


def _frozen_copy(a: np.ndarray) -> np.ndarray:
    out = np.array(a, dtype=np.float64)
    out.flags.writeable = False
    return out


def check_step(program: Program, step: int, params: Params, state: OptState) -> list[ParamCheck]:
    """Check every parameter's gradient at ``step``, given the state at its start."""
    result = run_step(program, step, params, state)
    return [check_param(program, step, params, result.grads[p], p) for p in program.graph.params]
