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

from collections.abc import Callable, Sequence
from typing import Any

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
        g.sum(axis=0) if need[2] else None,
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


_register(
    Op(
        "sum",
        1,
        lambda x: np.sum(x),
        lambda g, out, inputs, need, attrs: [np.broadcast_to(g, inputs[0].shape)],
        lambda out, inputs, attrs: [np.ones_like(inputs[0])],
        _scalar_shape,
        "Σ {0}",
        ("1",),
        ("{g} (copied to every element)",),
        scalar_out=True,
    )
)
_register(
    Op(
        "mean",
        1,
        lambda x: np.mean(x),
        lambda g, out, inputs, need, attrs: [np.broadcast_to(g / inputs[0].size, inputs[0].shape)],
        lambda out, inputs, attrs: [np.full_like(inputs[0], 1.0 / inputs[0].size)],
        _scalar_shape,
        "mean({0})",
        ("1/n",),
        ("{g} / n (copied to every element)",),
        scalar_out=True,
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
    fwd: Callable[[Array, Array], Array],
    grad: Callable[[Array, Array], Array],
    formula: str,
    dtext: str,
    shape: Callable[..., Shape],
) -> Op:
    """A loss. Its output is a scalar, so its local derivative is a gradient of the
    prediction's shape and the contribution is ``upstream · local``."""

    def vjp(g, out, inputs, need, attrs):
        return [g * grad(inputs[0], inputs[1]) if need[0] else None, None]

    def local(out, inputs, attrs):
        return [grad(inputs[0], inputs[1]), None]

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


def _bce(p: Array, y: Array) -> Array:
    log_p = np.maximum(np.log(p), BCE_LOG_FLOOR)
    log_q = np.maximum(np.log(1.0 - p), BCE_LOG_FLOOR)
    return np.mean(-(y * log_p + (1.0 - y) * log_q))


def _cross_entropy(z: Array, y: Array) -> Array:
    logp = _log_softmax(z)
    return -np.mean(logp[np.arange(z.shape[0]), y.astype(np.intp)])


def _cross_entropy_grad(z: Array, y: Array) -> Array:
    g = _softmax(z)
    g[np.arange(z.shape[0]), y.astype(np.intp)] -= 1.0
    return g / z.shape[0]


_loss(
    "mse",
    lambda a, y: np.mean((a - y) ** 2),
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

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")
"""Activations a ``[model]`` layer may name."""
LOSSES = ("mse", "sse", "bce", "cross_entropy")
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
)
"""Functions an expression in ``[graph]`` may call (one argument each)."""
