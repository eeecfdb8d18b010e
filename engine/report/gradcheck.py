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

**Kinks** (SPEC v2 §2). Where the derivative jumps (relu, leaky_relu and abs at 0, a
max/min whose winner changes, maximum/minimum where the two meet, and the l1 and hinge
losses at theirs), a central difference that straddles the jump averages the slopes of
the two sides, and says nothing about either. So each element also watches the kink
ops downstream of it: where the branch one of them takes differs between θ − h, θ and
θ + h (or θ sits exactly on the kink), the element is *at a kink*: both one-sided
slopes are measured (second-order one-sided differences, from θ outwards), and the
element agrees when the analytic value equals either one of them or their mean — the
conventions PyTorch takes (relu′(0) = 0 is the left slope; abs′(0) = 0 the mean of −1
and 1; max splits ties evenly).

``bpdbg check`` and the app's gradient-check display both use :func:`check_step`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import msgspec
import numpy as np

from engine import fmt
from engine.graph.ops import KINKS
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
        kinks: Per element, whether its difference straddles a kink (see the module).
        left: Per element at a kink, the one-sided slope below θ (nan elsewhere).
        right: Per element at a kink, the one-sided slope above θ (nan elsewhere).
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
    kinks: np.ndarray | None = None
    left: np.ndarray | None = None
    right: np.ndarray | None = None

    def kink_notes(self, limit: int = 3) -> list[str]:
        """One line per element at a kink (the first ``limit``, then a count): where, both
        one-sided slopes, the analytic value, and whether it agrees."""
        if self.kinks is None or self.left is None or self.right is None:
            return []
        at = np.flatnonzero(self.kinks.reshape(-1))
        outcomes = self._outcomes().reshape(-1)
        notes = []
        for i in at[:limit]:
            where = self.param + _index(int(i), self.analytic.shape)
            a = float(self.analytic.reshape(-1)[i])
            lo, hi = float(self.left.reshape(-1)[i]), float(self.right.reshape(-1)[i])
            verdict = "agrees" if outcomes[i] == Outcome.AGREE else "DISAGREES"
            notes.append(
                f"{where}: at a kink: one-sided slopes {fmt.num(lo)} (left) and {fmt.num(hi)}"
                f" (right); analytic {fmt.num(a)} {verdict}"
            )
        if at.size > limit:
            notes.append(f"… and {at.size - limit:,} more elements at a kink")
        return notes

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
    """``f(value) -> (loss, branches)`` with ``param`` set to ``value`` and everything
    else fixed; ``branches`` says which side of its kink each kink op downstream takes.

    Only the nodes downstream of ``param`` are recomputed: the rest of the forward pass
    is the same for every perturbation, which makes checking a wide network's first
    layer several times cheaper than rerunning the whole graph.
    """
    graph = program.graph
    base = forward_values(program, params, step)
    affected = graph.descendants(param)
    plan = [entry for entry in graph.forward_plan if entry[0] in affected]
    kinks = [
        (n.name, n.op, n.inputs, dict(n.attrs))
        for n in graph.nodes
        if n.name in affected and n.op in KINK_OPS
    ]
    loss = graph.loss

    def f(value: np.ndarray) -> tuple[float, list[np.ndarray]]:
        values = dict(base)
        values[param] = value
        for name, forward, inputs, attrs in plan:
            args = [values[i] for i in inputs]
            values[name] = forward(*args, **attrs) if attrs else forward(*args)
        branches = [
            _branch(op, [values[i] for i in ins], values[n], at) for n, op, ins, at in kinks
        ]
        return float(np.asarray(values[loss]).reshape(-1)[0]), branches

    return f


KINK_OPS = KINKS + ("l1", "hinge")
"""Ops whose derivative jumps: SPEC's kinks, and the two losses built on abs and max."""


def _branch(op: str | None, ins: list[np.ndarray], out: np.ndarray, attrs: dict) -> np.ndarray:
    """Where each element of a kink op stands against its kink: the signed distance to it
    (relu, leaky_relu, abs, maximum, minimum, l1, hinge), or for max/min, which elements
    hold the extreme (a mask, whose change is the kink)."""
    x = np.asarray(ins[0])
    if op in ("relu", "leaky_relu", "abs"):
        return x
    if op in ("maximum", "minimum", "l1"):
        return x - np.asarray(ins[1])
    if op == "hinge":
        return 1.0 - np.asarray(ins[1]) * x
    axis, keepdims = attrs.get("axis"), attrs.get("keepdims", False)
    kept = np.asarray(out)
    if axis is None:
        kept = kept.reshape((1,) * x.ndim)
    elif not keepdims:
        kept = np.expand_dims(kept, axis % x.ndim)
    return x == kept


def _straddles(below: list[np.ndarray], at: list[np.ndarray], above: list[np.ndarray]) -> bool:
    """Whether θ − h and θ + h put some kink op on different sides of its kink, or θ sits
    exactly on one that the perturbation moves."""
    for lo, mid, hi in zip(below, at, above):
        if mid.dtype == np.bool_:
            if not (np.array_equal(lo, mid) and np.array_equal(mid, hi)):
                return True
            continue
        with np.errstate(invalid="ignore"):
            if np.any(np.sign(lo) != np.sign(hi)):
                return True
            if np.any((mid == 0) & ((lo != 0) | (hi != 0))):
                return True
    return False


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
    kinks = np.zeros(base.shape, dtype=bool)
    left = np.full(base.shape, np.nan)
    right = np.full(base.shape, np.nan)
    with np.errstate(all="ignore"):
        loss_with = _loss_of(program, params, step, param)
        centre, at = loss_with(base)
        for i in range(base.size):
            theta = base.reshape(-1)[i]
            h = STEP * max(1.0, abs(theta))

            def moved(by: float) -> np.ndarray:
                out = base.copy()
                out.reshape(-1)[i] = theta + by
                return out

            plus, minus = moved(h), moved(-h)
            (lp, above), (lm, below) = loss_with(plus), loss_with(minus)
            flat_sides[i] = np.isfinite(lp) and np.isfinite(lm)
            # Divide by the step actually taken, which rounding may have changed.
            up = plus.reshape(-1)[i] - theta
            down = theta - minus.reshape(-1)[i]
            flat_num[i] = (lp - lm) / (up + down)
            if at and _straddles(below, at, above):
                # Second-order one-sided differences from θ outwards, each on its own side.
                lp2, _ = loss_with(moved(2 * h))
                lm2, _ = loss_with(moved(-2 * h))
                kinks.reshape(-1)[i] = True
                right.reshape(-1)[i] = (-3.0 * centre + 4.0 * lp - lp2) / (2.0 * up)
                left.reshape(-1)[i] = (3.0 * centre - 4.0 * lm + lm2) / (2.0 * down)
            if progress is not None:
                progress(i + 1, base.size)
        a = np.asarray(grad, dtype=np.float64)
        diff = np.abs(a - numeric)
        scale = np.maximum(np.maximum(np.abs(a), np.abs(numeric)), 1e-300)
        rel = np.where(diff == 0, 0.0, diff / scale)
        agree = _agree(a, numeric)
        # At a kink, the analytic value may be either side's slope or their mean.
        one_side = _agree(a, left) | _agree(a, right) | _agree(a, (left + right) / 2.0)
        agree = np.where(kinks, agree | one_side, agree)
        ok = bool(np.all(agree))
        # The numeric side is what a check stands on: where it is not a number (the element
        # or the loss beside it is not finite), nothing can be said about the analytic side.
        cannot = ~np.isfinite(base) | ~np.isfinite(numeric)
        outcomes = np.where(
            cannot, Outcome.CANNOT_CHECK, np.where(agree, Outcome.AGREE, Outcome.DISAGREE)
        )
    return ParamCheck(
        param,
        step,
        a,
        numeric,
        rel,
        ok,
        outcomes.astype(np.int8),
        _frozen_copy(base),
        finite_sides,
        kinks,
        left,
        right,
    )


def _frozen_copy(a: np.ndarray) -> np.ndarray:
    out = np.array(a, dtype=np.float64)
    out.flags.writeable = False
    return out


def check_step(program: Program, step: int, params: Params, state: OptState) -> list[ParamCheck]:
    """Check every parameter's gradient at ``step``, given the state at its start."""
    result = run_step(program, step, params, state)
    return [check_param(program, step, params, result.grads[p], p) for p in program.graph.params]
