"""The op table: every op bpdbg knows, each a forward and a vector-Jacobian product.

One :class:`Op` per operation, in one table (:data:`OPS`), in the spirit of HIPS/autograd's
``defvjp``. An op's ``vjp`` *returns* the contribution to each input's gradient and never
writes into anything, so the chain-rule pane can show ``upstream × local = contribution``
for every edge. Broadcasting is undone in exactly one place, :func:`unbroadcast`.

Besides the maths, each op carries what a person needs to read it:

- ``formula``: how the forward reads, with ``{0}``, ``{1}``… for the input names;
- ``dtext``: the local derivative with respect to each input, in the same notation;
- ``vjp_text``: the matrix form of each contribution, with ``{g}`` for the upstream
  gradient (used for tensors, where a scalar product would mislead);
- ``local``: the local derivative as numbers where it is elementwise or scalar, so that
  ``unbroadcast(upstream * local, input.shape)`` equals the contribution exactly; ``None``
  where it is a full Jacobian (matrix products, softmax).

All arithmetic is float64. Conventions at kinks follow PyTorch: relu'(0) = 0,
leaky_relu'(0) = 0.01, abs'(0) = 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import msgspec
import numpy as np

Array = np.ndarray
Shape = tuple[int, ...]
Number = Array | np.floating[Any]
"""What numpy gives back for one op: an array, or a numpy scalar from a 0-d result."""

LEAKY_SLOPE = 0.01
"""Slope of ``leaky_relu`` below zero (PyTorch's default)."""
BCE_LOG_FLOOR = -100.0
"""``bce`` clamps its logarithms here, as PyTorch's ``BCELoss`` does."""
BCE_EPS = float(np.float32(1e-12))
"""PyTorch's ``BCELoss`` backward divides by ``max(p·(1−p), BCE_EPS)``. ATen declares the
constant as a C ``float``, so it is 1e-12 rounded to float32 (9.99999996e-13), and a
float64 reference that matches PyTorch to the last bits must use the same value."""


SEED = np.ones(())
"""∂L/∂L for a scalar loss: one shared read-only 1, so that a loss's vjp can see that its
upstream is the seed and skip multiplying by it (x·1 is x to the bit)."""
SEED.flags.writeable = False

_add_reduce: Callable[..., Any] = np.add.reduce
"""``ndarray.sum`` and ``np.mean`` call this after a layer of Python; the hot ops call it
directly (same function, same arguments, the same bits)."""


class ShapeError(ValueError):
    """The inputs' shapes do not fit the op; the message says how."""


def unbroadcast(g: Array, shape: Shape) -> Array:
    """Sum ``g`` down to ``shape``, undoing numpy broadcasting (the only place that does).

    Args:
        g: A gradient with the broadcast result's shape.
        shape: The shape of the operand that was broadcast.

    Returns:
        ``g`` reduced over the axes that broadcasting added or stretched.
    """
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
        if g.shape == shape:  # the common case (a bias added to every row): done
            return g
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return np.broadcast_to(g, shape) if g.shape != shape else g


class Op(msgspec.Struct, frozen=True):
    """One operation: maths and how to print it.

    Attributes:
        name: The op's name in traces and in expressions.
        arity: How many inputs it takes.
        forward: ``forward(*inputs, **attrs) -> output``.
        vjp: ``vjp(g, out, inputs, need, attrs) -> contributions``, one per input, each of
            that input's shape; ``None`` where ``need[i]`` is false.
        local: ``local(out, inputs, attrs) -> locals``, one per input: the local
            derivative where it is elementwise or scalar, else ``None``.
        shape: ``shape(*input_shapes, **attrs) -> output shape``; raises
            :class:`ShapeError` when the shapes do not fit.
        formula: The forward, e.g. ``"{0} * {1}"``.
        dtext: The local derivative per input, e.g. ``("{1}", "{0}")`` for ``*``.
        vjp_text: The contribution per input in matrix form, ``{g}`` the upstream.
        elementwise: True when output element i depends only on input elements i.
        scalar_out: True when the output is always a scalar (reductions and losses).
    """

    name: str
    arity: int
    forward: Callable[..., Number]
    vjp: Callable[[Array, Array, Sequence[Array], Sequence[bool], dict[str, Any]], list]
    local: Callable[[Array, Sequence[Array], dict[str, Any]], list]
    shape: Callable[..., Shape]
    formula: str
    dtext: tuple[str, ...]
    vjp_text: tuple[str, ...]
    elementwise: bool = False
    scalar_out: bool = False


OPS: dict[str, Op] = {}


def _register(op: Op) -> Op:
    OPS[op.name] = op
    return op


# --- shapes -----------------------------------------------------------------------------


def _broadcast_shape(*shapes: Shape, **_: Any) -> Shape:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(
            "shapes " + " and ".join(_fmt_shape(s) for s in shapes) + " do not broadcast"
        ) from None


def _same_shape(s: Shape, **_: Any) -> Shape:
    return s


def _scalar_shape(*_: Shape, **__: Any) -> Shape:
    return ()


def _last_axis_shape(s: Shape, **_: Any) -> Shape:
    if len(s) == 0:
        raise ShapeError(
            "needs a vector or matrix (it normalises along the last axis), found a scalar"
        )
    return s


def _matmul_shape(a: Shape, b: Shape, **_: Any) -> Shape:
    if not (1 <= len(a) <= 2 and 1 <= len(b) <= 2):
        raise ShapeError(f"@ needs vectors or matrices, found {_fmt_shape(a)} @ {_fmt_shape(b)}")
    inner_a = a[-1]
    inner_b = b[0] if len(b) == 1 else b[-2]
    if inner_a != inner_b:
        raise ShapeError(f"@ needs matching inner sizes, found {_fmt_shape(a)} @ {_fmt_shape(b)}")
    return a[:-1] + b[1:] if len(b) == 2 else a[:-1]


def _fmt_shape(s: Shape) -> str:
    if len(s) == 0:
        return "() (a scalar)"
    return "(" + ", ".join(str(n) for n in s) + (",)" if len(s) == 1 else ")")


# --- elementwise ops from their derivative ------------------------------------------------


def _unary(
    name: str,
    fwd: Callable[[Array], Array],
    deriv: Callable[[Array, Array], Array],
    formula: str,
    dtext: str,
) -> Op:
    """An elementwise one-input op, given ``deriv(out, x)``."""

    def vjp(g, out, inputs, need, attrs):
        return [g * deriv(out, inputs[0])]

    def local(out, inputs, attrs):
        return [deriv(out, inputs[0])]

    return _register(
        Op(
            name,
            1,
            fwd,
            vjp,
            local,
            _same_shape,
            formula,
            (dtext,),
            ("{g} ⊙ " + dtext,),
            elementwise=True,
        )
    )


def _sigmoid(x: Array) -> Array:
    # exp of a non-positive number only, so no overflow warnings for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


_unary("identity", lambda x: x, lambda out, x: np.ones_like(x), "{0}", "1")
_unary("neg", np.negative, lambda out, x: np.full_like(x, -1.0), "−{0}", "-1")
_unary("sigmoid", _sigmoid, lambda out, x: out * (1.0 - out), "σ({0})", "σ({0})·(1 − σ({0}))")
_unary("tanh", np.tanh, lambda out, x: 1.0 - out * out, "tanh({0})", "1 − tanh²({0})")
_unary(
    "relu",
    lambda x: np.maximum(x, 0.0),
    lambda out, x: (x > 0).astype(np.float64),
    "relu({0})",
    "[{0} > 0]",
)
_unary(
    "leaky_relu",
    lambda x: np.where(x > 0, x, LEAKY_SLOPE * x),
    lambda out, x: np.where(x > 0, 1.0, LEAKY_SLOPE),
    "leaky_relu({0})",
    "1 if {0} > 0 else 0.01",
)
_unary("exp", np.exp, lambda out, x: out, "exp({0})", "exp({0})")
_unary("log", np.log, lambda out, x: 1.0 / x, "log({0})", "1/{0}")
_unary("sin", np.sin, lambda out, x: np.cos(x), "sin({0})", "cos({0})")
_unary("cos", np.cos, lambda out, x: -np.sin(x), "cos({0})", "−sin({0})")
_unary("sqrt", np.sqrt, lambda out, x: 0.5 / out, "√{0}", "1/(2√{0})")
_unary("abs", np.abs, lambda out, x: np.sign(x), "|{0}|", "sign({0})")
_unary("square", np.square, lambda out, x: 2.0 * x, "{0}²", "2·{0}")


def _pow_deriv(x: Array, p: float) -> Array:
    if p == 0:
        return np.zeros_like(x)  # d/dx x**0 is 0 everywhere, even where x**-1 is not finite
    return p * x ** (p - 1.0)


_register(
    Op(
        "pow",
        1,
        lambda x, p: x**p,
        lambda g, out, inputs, need, attrs: [g * _pow_deriv(inputs[0], attrs["p"])],
        lambda out, inputs, attrs: [_pow_deriv(inputs[0], attrs["p"])],
        _same_shape,
        "{0}^{p}",
        ("{p}·{0}^{pm1}",),
        ("{g} ⊙ {p}·{0}^{pm1}",),
        elementwise=True,
    )
)


def _binary(
    name: str,
    fwd: Callable[[Array, Array], Array],
    locals_: Callable[[Array, Array, Array], tuple[Number, Number]],
    formula: str,
    dtext: tuple[str, str],
    vjp: Callable | None = None,
) -> Op:
    """An elementwise, broadcasting two-input op, given its two local derivatives."""

    def local(out, inputs, attrs):
        a, b = inputs
        return list(locals_(out, a, b))

    def generic_vjp(g, out, inputs, need, attrs):
        a, b = inputs
        la, lb = locals_(out, a, b)
        return [
            unbroadcast(g * la, a.shape) if need[0] else None,
            unbroadcast(g * lb, b.shape) if need[1] else None,
        ]

    return _register(
        Op(
            name,
            2,
            fwd,
            vjp or generic_vjp,
            local,
            _broadcast_shape,
            formula,
            dtext,
            tuple("unbroadcast({g} ⊙ " + t + ")" for t in dtext),
            elementwise=True,
        )
    )


_ONE = np.float64(1.0)
_MINUS_ONE = np.float64(-1.0)

# add and sub skip the multiplication by ±1 in their vjp: they are on every hot path.
_binary(
    "add",
    np.add,
    lambda out, a, b: (_ONE, _ONE),
    "{0} + {1}",
    ("1", "1"),
    vjp=lambda g, out, inputs, need, attrs: [
        unbroadcast(g, inputs[0].shape) if need[0] else None,
        unbroadcast(g, inputs[1].shape) if need[1] else None,
    ],
)
_binary(
    "sub",
    np.subtract,
    lambda out, a, b: (_ONE, _MINUS_ONE),
    "{0} − {1}",
    ("1", "-1"),
    vjp=lambda g, out, inputs, need, attrs: [
        unbroadcast(g, inputs[0].shape) if need[0] else None,
        -unbroadcast(g, inputs[1].shape) if need[1] else None,
    ],
)
_binary("mul", np.multiply, lambda out, a, b: (b, a), "{0} · {1}", ("{1}", "{0}"))
_binary(
    "div",
    np.divide,
    lambda out, a, b: (1.0 / b, -out / b),
    "{0} / {1}",
    ("1/{1}", "−{0}/{1}²"),
)


# --- matrix products -----------------------------------------------------------------------


def _matmul_vjp(g, out, inputs, need, attrs):
    a, b = inputs
    a2 = a if a.ndim == 2 else a[None, :]
    b2 = b if b.ndim == 2 else b[:, None]
    g2 = g.reshape(a2.shape[0], b2.shape[1])
    ga = (g2 @ b2.T).reshape(a.shape) if need[0] else None
    gb = (a2.T @ g2).reshape(b.shape) if need[1] else None
    return [ga, gb]


def _outer_locals(a: Array, b: Array) -> list:
    # With an inner size of 1, a @ b is the broadcast product a * b, whose local
    # derivatives are elementwise; a real matrix product has a full Jacobian instead.
    if a.ndim == 2 and b.ndim == 2 and a.shape[1] == 1:
        return [b, a]
    return [None, None]


_register(
    Op(
        "matmul",
        2,
        np.matmul,
        _matmul_vjp,
        lambda out, inputs, attrs: _outer_locals(inputs[0], inputs[1]),
        _matmul_shape,
        "{0} @ {1}",
        ("{1}ᵀ", "{0}ᵀ"),
        ("{g} · {1}ᵀ", "{0}ᵀ · {g}"),
    )
)


def _affine_vjp(g, out, inputs, need, attrs):
    a, w, b = inputs
    return [
        g @ w.T if need[0] else None,
        a.T @ g if need[1] else None,
        _add_reduce(g, axis=0) if need[2] else None,
    ]


def _affine_shape(a: Shape, w: Shape, b: Shape, **_: Any) -> Shape:
    out = _matmul_shape(a, w)
    return _broadcast_shape(out, b)


_register(
    Op(
        "affine",
        3,
        lambda a, w, b: a @ w + b,
        _affine_vjp,
        lambda out, inputs, attrs: _outer_locals(inputs[0], inputs[1]) + [_ONE],
        _affine_shape,
        "{0} @ {1} + {2}",
        ("{1}ᵀ", "{0}ᵀ", "1"),
        ("{g} · {1}ᵀ", "{0}ᵀ · {g}", "Σ_rows {g}"),
    )
)


# --- reductions and normalisations ---------------------------------------------------------


def _softmax(x: Array) -> Array:
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _log_softmax(x: Array) -> Array:
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


# Reductions take two literal attributes from the expression: ``axis`` (an integer, or
# absent for every element) and ``keepdims``. Without them a node has no attrs at all and
# the forward is called with one argument, as before axes existed.


def _norm_axis(axis: int | None, ndim: int) -> int | None:
    return None if axis is None else axis % ndim


def _reduce_shape(s: Shape, axis: int | None = None, keepdims: bool = False, **_: Any) -> Shape:
    if axis is None:
        return (1,) * len(s) if keepdims else ()
    if not -len(s) <= axis < len(s):
        if not s:
            raise ShapeError(f"axis={axis} is out of range for a scalar, which has no axes")
        raise ShapeError(
            f"axis={axis} is out of range for shape {_fmt_shape(s)}; expected an axis from"
            f" {-len(s)} to {len(s) - 1}"
        )
    k = axis % len(s)
    return s[:k] + ((1,) if keepdims else ()) + s[k + 1 :]


def _kept(out: Array, shape: Shape, axis: int | None, keepdims: bool) -> Array:
    """A reduction's output (or the upstream gradient of it) with the reduced axis kept
    (length 1), to broadcast against its input. A reshape, a view: cheaper than
    ``np.expand_dims``, and the same numbers."""
    out = np.asarray(out)
    if axis is None:
        return out.reshape((1,) * len(shape))
    if keepdims:
        return out
    k = axis % len(shape)
    return out.reshape(shape[:k] + (1,) + shape[k + 1 :])


def _aligned(ndim: int, axis: int | None, keepdims: bool) -> bool:
    """Whether the upstream gradient of a reduction broadcasts against its input as numpy
    aligns shapes (from the right): then ``upstream · local`` is the contribution and the
    local derivative can be shown elementwise."""
    return axis is None or keepdims or axis % ndim == 0


def _count(shape: Shape, axis: int | None) -> int:
    """How many elements each output element of a reduction reduces."""
    if axis is None:
        return max(1, math.prod(shape))
    return shape[axis % len(shape)]


def _reduction(
    name: str,
    fwd: Callable[[Array, int | None, bool], Number],
    deriv: Callable[[Array, Array, int | None], Number],
    formula: str,
    dtext: str,
    vjp_text: str,
) -> Op:
    """A reduction over all elements or along one axis, given ``deriv(x, kept_out, axis)``:
    ∂out/∂x for every element of x (with the output broadcast back, reduced axis kept)."""

    def forward(x: Array, axis: int | None = None, keepdims: bool = False) -> Number:
        return fwd(x, axis, keepdims)

    def vjp(g, out, inputs, need, attrs):
        x = inputs[0]
        axis, keepdims = attrs.get("axis"), attrs.get("keepdims", False)
        seed = g is SEED  # the loss's own upstream, 1: nothing to multiply by
        g = _kept(g, x.shape, axis, keepdims)
        if name == "sum":
            # sum's local derivative is 1: its contribution is the upstream copied back, a view.
            return [np.broadcast_to(g, x.shape)]
        local = deriv(x, _kept(out, x.shape, axis, keepdims), axis)
        if local.ndim == 0:
            # mean's 1/n: each upstream element scaled once, then copied back as a view (the
            # same products as scaling every copy).
            return [np.broadcast_to(local if seed else g * local, x.shape)]
        return [g * local]  # broadcasting copies the upstream back along the reduced axis

    def local(out, inputs, attrs):
        x = inputs[0]
        axis, keepdims = attrs.get("axis"), attrs.get("keepdims", False)
        if not _aligned(x.ndim, axis, keepdims):
            return [None]
        return [np.broadcast_to(deriv(x, _kept(out, x.shape, axis, keepdims), axis), x.shape)]

    return _register(
        Op(name, 1, forward, vjp, local, _reduce_shape, formula, (dtext,), (vjp_text,))
    )


def _ties(x: Array, kept: Array, axis: int | None) -> Array:
    """Where x holds the reduction's extreme, each share 1/k of k tied elements (as
    ``torch.amax``/``amin`` split the gradient evenly among ties)."""
    hit = (x == kept).astype(np.float64)
    return hit / np.sum(hit, axis=axis, keepdims=True)


def _sum(x: Array, axis: int | None, keepdims: bool) -> Number:
    return _add_reduce(x, axis=axis, keepdims=keepdims)


def _mean_along(x: Array, axis: int | None, keepdims: bool) -> Number:
    """``np.mean(x, axis, keepdims=…)`` to the bit: the same sum, one division by the count,
    without np.mean's Python wrapper (which costs as much as the sum on a small batch)."""
    return _add_reduce(x, axis=axis, keepdims=keepdims) / _count(x.shape, axis)


def _var_along(x: Array, axis: int | None, keepdims: bool) -> Number:
    """``np.var`` (divisor n) to the bit, as numpy computes it: the mean with the axis kept,
    the squared deviations, their mean."""
    d = x - _mean_along(x, axis, True)
    return _mean_along(d * d, axis, keepdims)


def _logsumexp(x: Array, axis: int | None, keepdims: bool) -> Number:
    # The shift is the largest element, as torch takes it (an infinite one shifts by 0).
    m = np.amax(x, axis=axis, keepdims=True)
    m = np.where(np.isinf(m), 0.0, m)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if keepdims:
        return out
    return out.reshape(()) if axis is None else np.squeeze(out, axis=axis)


_reduction(
    "sum",
    _sum,
    lambda x, kept, axis: _ONE,
    "Σ {0}{axis}",
    "1",
    "{g} (copied to every element summed)",
)
_reduction(
    "mean",
    _mean_along,
    lambda x, kept, axis: np.float64(1.0 / _count(x.shape, axis)),
    "mean({0}{axis})",
    "1/n",
    "{g} / n (copied to every element averaged)",
)
_reduction(
    "max",
    lambda x, axis, keepdims: np.amax(x, axis=axis, keepdims=keepdims),
    _ties,
    "max({0}{axis})",
    "[{0} = max]/k",
    "{g} ⊙ [{0} = max]/k (k tied maxima share it)",
)
_reduction(
    "min",
    lambda x, axis, keepdims: np.amin(x, axis=axis, keepdims=keepdims),
    _ties,
    "min({0}{axis})",
    "[{0} = min]/k",
    "{g} ⊙ [{0} = min]/k (k tied minima share it)",
)
_reduction(
    "logsumexp",
    _logsumexp,
    lambda x, kept, axis: np.exp(x - kept),
    "logsumexp({0}{axis})",
    "exp({0} − logsumexp({0}))",
    "{g} ⊙ softmax({0})",
)
_reduction(
    "var",
    _var_along,
    lambda x, kept, axis: 2.0 * (x - _mean_along(x, axis, True)) / _count(x.shape, axis),
    "var({0}{axis})",
    "2·({0} − mean({0}))/n",
    "{g} ⊙ 2·({0} − mean({0}))/n",
)
REDUCTIONS = ("sum", "mean", "max", "min", "logsumexp", "var")
"""The ops that take ``axis=`` and ``keepdims=`` in an expression."""


def _transpose_locals(out, inputs, attrs):
    # A vector or a scalar is its own transpose: then the op is the identity, elementwise.
    return [_ONE if inputs[0].ndim < 2 else None]


_register(
    Op(
        "transpose",
        1,
        np.transpose,
        lambda g, out, inputs, need, attrs: [np.transpose(g)],
        _transpose_locals,
        lambda s, **_: tuple(reversed(s)),
        "{0}ᵀ",
        ("transpose",),
        ("{g}ᵀ",),
    )
)


def _extreme_locals(bigger: bool) -> Callable[[Array, Array, Array], tuple[Number, Number]]:
    """The local derivatives of maximum (or minimum): 1 for the input that wins, 0 for the
    other, and ½ each where they tie, as ``torch.maximum``/``minimum`` split them."""

    def locals_(out, a, b):
        wins = (a > b) if bigger else (a < b)
        loses = (a < b) if bigger else (a > b)
        tie = (a == b) * 0.5
        return wins + tie, loses + tie

    return locals_


_binary(
    "maximum",
    np.maximum,
    _extreme_locals(True),
    "maximum({0}, {1})",
    ("[{0} > {1}] + ½[{0} = {1}]", "[{1} > {0}] + ½[{0} = {1}]"),
)
_binary(
    "minimum",
    np.minimum,
    _extreme_locals(False),
    "minimum({0}, {1})",
    ("[{0} < {1}] + ½[{0} = {1}]", "[{1} < {0}] + ½[{0} = {1}]"),
)


# --- integer indexing: C[ix] (rows picked) and P[ix, jx] (elements picked) ----------------
# The indices are inputs holding whole numbers (checked against the indexed axes when the
# graph is built); they never need a gradient. Repeated indices accumulate, as
# ``np.add.at`` (and torch's ``index_put_(accumulate=True)``) do.


def _rows_shape(c: Shape, ix: Shape, **_: Any) -> Shape:
    if not c:
        raise ShapeError("a scalar cannot be indexed; C[ix] picks rows of a vector or matrix")
    return ix + c[1:]


def _elements_shape(p: Shape, ix: Shape, jx: Shape, **_: Any) -> Shape:
    if len(p) < 2:
        raise ShapeError(
            f"P[ix, jx] picks elements of a matrix, found shape {_fmt_shape(p)}; for a vector"
            " write P[ix]"
        )
    if ix != jx:
        raise ShapeError(
            f"the two indices must have one shape, found {_fmt_shape(ix)} and {_fmt_shape(jx)}"
        )
    return ix + p[2:]


def _as_index(ix: Array) -> Array:
    return np.asarray(ix).astype(np.intp)


def _rows_vjp(g, out, inputs, need, attrs):
    c, ix = inputs
    gc = np.zeros(c.shape)
    np.add.at(gc, _as_index(ix), g)
    return [gc, None]


def _elements_vjp(g, out, inputs, need, attrs):
    p, ix, jx = inputs
    gp = np.zeros(p.shape)
    np.add.at(gp, (_as_index(ix), _as_index(jx)), g)
    return [gp, None, None]


_register(
    Op(
        "index",
        2,
        lambda c, ix: c[_as_index(ix)],
        _rows_vjp,
        lambda out, inputs, attrs: [None, None],
        _rows_shape,
        "{0}[{1}]",
        ("[row = {1}]", "—"),
        ("add.at(0, {1}, {g})", "—"),
    )
)
_register(
    Op(
        "index2",
        3,
        lambda p, ix, jx: p[_as_index(ix), _as_index(jx)],
        _elements_vjp,
        lambda out, inputs, attrs: [None, None, None],
        _elements_shape,
        "{0}[{1}, {2}]",
        ("[(row, column) = ({1}, {2})]", "—", "—"),
        ("add.at(0, ({1}, {2}), {g})", "—", "—"),
    )
)


_register(
    Op(
        "softmax",
        1,
        _softmax,
        lambda g, out, inputs, need, attrs: [out * (g - np.sum(g * out, axis=-1, keepdims=True))],
        lambda out, inputs, attrs: [None],
        _last_axis_shape,
        "softmax({0})",
        ("diag(s) − s·sᵀ",),
        ("s ⊙ ({g} − Σ({g} ⊙ s))",),
    )
)
_register(
    Op(
        "log_softmax",
        1,
        _log_softmax,
        lambda g, out, inputs, need, attrs: [g - np.exp(out) * np.sum(g, axis=-1, keepdims=True)],
        lambda out, inputs, attrs: [None],
        _last_axis_shape,
        "log_softmax({0})",
        ("I − 1·sᵀ",),
        ("{g} − s ⊙ Σ {g}",),
    )
)


# --- losses: (prediction, target) -> scalar; targets never need a gradient -------------------


def _loss(
    name: str,
    fwd: Callable[..., Array],
    grad: Callable[..., Array],
    formula: str,
    dtext: str,
    shape: Callable[..., Shape],
) -> Op:
    """A loss. Its output is a scalar, so its local derivative is a gradient of the
    prediction's shape and the contribution is ``upstream · local``. ``fwd(a, y, **attrs)``
    and ``grad(a, y, **attrs)`` take the loss's settings (huber's ``delta``)."""

    def vjp(g, out, inputs, need, attrs):
        if not need[0]:
            return [None, None]
        # Most losses take no settings: a call without ** is the cheaper one.
        local = grad(inputs[0], inputs[1], **attrs) if attrs else grad(inputs[0], inputs[1])
        return [local if g is SEED else g * local, None]

    def local(out, inputs, attrs):
        return [grad(inputs[0], inputs[1], **attrs), None]

    return _register(
        Op(
            name,
            2,
            fwd,
            vjp,
            local,
            shape,
            formula,
            (dtext, "—"),
            ("{g} · " + dtext, "—"),
            scalar_out=True,
        )
    )


def _same_shapes_to_scalar(a: Shape, b: Shape, **_: Any) -> Shape:
    if a != b:
        raise ShapeError(f"prediction {_fmt_shape(a)} and target {_fmt_shape(b)} differ")
    return ()


def _ce_shape(z: Shape, y: Shape, **_: Any) -> Shape:
    if len(z) != 2 or y != z[:1]:
        raise ShapeError(
            f"cross_entropy needs logits (samples, classes) and labels (samples,), "
            f"found {_fmt_shape(z)} and {_fmt_shape(y)}"
        )
    return ()


def _mean(x: Array) -> Array:
    """The mean of every element (a loss's), as ``np.mean`` computes it: see
    :func:`_mean_along`."""
    return cast(Array, _mean_along(x, None, False))


def _bce(p: Array, y: Array) -> Array:
    log_p = np.maximum(np.log(p), BCE_LOG_FLOOR)
    log_q = np.maximum(np.log(1.0 - p), BCE_LOG_FLOOR)
    return _mean(-(y * log_p + (1.0 - y) * log_q))


def _cross_entropy(z: Array, y: Array) -> Array:
    logp = _log_softmax(z)
    return -_mean(logp[np.arange(z.shape[0]), y.astype(np.intp)])


def _cross_entropy_grad(z: Array, y: Array) -> Array:
    g = _softmax(z)
    g[np.arange(z.shape[0]), y.astype(np.intp)] -= 1.0
    return g / z.shape[0]


_loss(
    "mse",
    lambda a, y: _mean((a - y) ** 2),
    lambda a, y: 2.0 * (a - y) / a.size,
    "mean(({0} − {1})²)",
    "2·({0} − {1})/n",
    _same_shapes_to_scalar,
)
_loss(
    "sse",
    lambda a, y: np.sum((a - y) ** 2),
    lambda a, y: 2.0 * (a - y),
    "Σ ({0} − {1})²",
    "2·({0} − {1})",
    _same_shapes_to_scalar,
)
_loss(
    "bce",
    _bce,
    lambda p, y: (p - y) / np.maximum(p * (1.0 - p), BCE_EPS) / p.size,
    "mean(−{1}·log {0} − (1 − {1})·log(1 − {0}))",
    "({0} − {1}) / ({0}·(1 − {0})) / n",
    _same_shapes_to_scalar,
)
_loss(
    "cross_entropy",
    _cross_entropy,
    _cross_entropy_grad,
    "mean(−log softmax({0})[{1}])",
    "(softmax({0}) − onehot({1}))/n",
    _ce_shape,
)


def _huber(a: Array, y: Array, delta: float = 1.0) -> Array:
    d = np.abs(a - y)
    return _mean(np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)))


def _huber_grad(a: Array, y: Array, delta: float = 1.0) -> Array:
    # Within delta the square's slope d, beyond it ±delta: torch's huber_loss_backward.
    return np.clip(a - y, -delta, delta) / a.size


def _hinge_shape(a: Shape, y: Shape, **_: Any) -> Shape:
    _same_shapes_to_scalar(a, y)
    if len(a) != 2 or a[1] != 1:
        raise ShapeError(f"hinge needs one output unit, found scores of shape {_fmt_shape(a)}")
    return ()


_loss(
    "l1",
    lambda a, y: _mean(np.abs(a - y)),
    # sign(0) = 0: where the prediction hits its target, torch's L1Loss has slope 0.
    lambda a, y: np.sign(a - y) / a.size,
    "mean(|{0} − {1}|)",
    "sign({0} − {1})/n",
    _same_shapes_to_scalar,
)
_loss(
    "huber",
    _huber,
    _huber_grad,
    "mean(huber_δ({0} − {1}))",
    "clip({0} − {1}, −δ, δ)/n",
    _same_shapes_to_scalar,
)
_loss(
    "hinge",
    lambda s, y: _mean(np.maximum(0.0, 1.0 - y * s)),
    # relu'(0) = 0, as micrograd's (1 − y·s).relu() and torch's relu give at the margin.
    lambda s, y: np.where(1.0 - y * s > 0, -y, 0.0) / s.size,
    "mean(max(0, 1 − {1}·{0}))",
    "−{1}·[1 − {1}·{0} > 0]/n",
    _hinge_shape,
)


ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")
"""Activations a ``[model]`` layer may name."""
LOSSES = ("mse", "sse", "bce", "cross_entropy", "l1", "huber", "hinge")
"""Loss kinds a ``[model]`` scenario may name."""
FUNCTIONS = (
    "identity",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "exp",
    "log",
    "sin",
    "cos",
    "sqrt",
    "abs",
    "square",
    "sum",
    "mean",
    "softmax",
    "log_softmax",
    "max",
    "min",
    "logsumexp",
    "var",
    "transpose",
    "maximum",
    "minimum",
)
"""Functions an expression in ``[graph]`` may call: one argument each, but two for
``maximum`` and ``minimum``; the :data:`REDUCTIONS` also take ``axis=`` and ``keepdims=``."""
KINKS = ("relu", "leaky_relu", "abs", "max", "min", "maximum", "minimum")
"""Ops whose derivative jumps somewhere (``bpdbg check`` looks for these at each element)."""
