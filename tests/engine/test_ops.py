"""Every op's vjp against central finite differences, over random shapes (hypothesis).

One table-driven test in the manner of autograd's ``check_grads``: for each op, random
inputs of random (broadcast-compatible) shapes, a random upstream gradient ``g``, and
the check ``<g, J·e_i> == vjp(g)_i`` for every input element ``i``, where ``J·e_i`` is
the central difference of the forward. Also checked: ``local`` agrees with ``vjp``
wherever an op claims an elementwise/scalar local derivative.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.graph.ops import OPS, ShapeError, unbroadcast

H = 1e-6


def numeric_vjp(op, inputs, attrs, g, k):
    """<g, ∂forward/∂inputs[k]> by central differences, one element at a time."""
    base = inputs[k]
    out = np.zeros(base.shape)
    for i in range(base.size):
        plus = [a.copy() for a in inputs]
        minus = [a.copy() for a in inputs]
        h = H * max(1.0, abs(base.reshape(-1)[i]))
        plus[k].reshape(-1)[i] += h
        minus[k].reshape(-1)[i] -= h
        fp = np.asarray(op.forward(*plus, **attrs))
        fm = np.asarray(op.forward(*minus, **attrs))
        out.reshape(-1)[i] = np.sum(g * (fp - fm)) / (2 * h)
    return out


def assert_close(a, n, what):
    a, n = np.asarray(a), np.asarray(n)
    assert a.shape == n.shape, what
    np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-6, err_msg=what)


# Input domains that keep each op smooth around the sample (no kinks within ±H).
def away_from_zero(rng, shape):
    x = rng.uniform(0.2, 2.0, size=shape)
    return x * rng.choice([-1.0, 1.0], size=shape)


def positive(rng, shape):
    return rng.uniform(0.3, 3.0, size=shape)


def anything(rng, shape):
    return rng.normal(size=shape)


def probabilities(rng, shape):
    return rng.uniform(0.05, 0.95, size=shape)


UNARY = {
    "identity": anything,
    "neg": anything,
    "sigmoid": anything,
    "tanh": anything,
    "relu": away_from_zero,
    "leaky_relu": away_from_zero,
    "exp": anything,
    "log": positive,
    "sin": anything,
    "cos": anything,
    "sqrt": positive,
    "abs": away_from_zero,
    "square": anything,
    "sum": anything,
    "mean": anything,
    "softmax": anything,
    "log_softmax": anything,
    "max": anything,
    "min": anything,
    "logsumexp": anything,
    "var": anything,
}
BINARY = {
    "add": anything,
    "sub": anything,
    "mul": anything,
    "div": away_from_zero,
    "maximum": anything,
    "minimum": anything,
}
REDUCTIONS = ("sum", "mean", "max", "min", "logsumexp", "var")

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


def drop_to_broadcast(draw_list, shape):
    """A shape that broadcasts against ``shape``: some leading axes dropped, some set to 1."""
    keep, ones = draw_list
    tail = shape[len(shape) - keep :] if keep <= len(shape) else shape
    return tuple(1 if (i < len(ones) and ones[i]) else n for i, n in enumerate(tail))


def check_op(name, inputs, attrs, seed):
    op = OPS[name]
    rng = np.random.default_rng(seed)
    inputs = [np.array(a, dtype=np.float64) for a in inputs]  # rng gives scalars for shape ()
    out = np.asarray(op.forward(*inputs, **attrs))
    g = rng.normal(size=out.shape)
    need = [True] * len(inputs)
    if name in ("mse", "sse", "bce", "cross_entropy", "l1", "huber", "hinge"):
        need = [True, False]
    if name in ("index", "index2"):
        need = [True] + [False] * (len(inputs) - 1)
    vj = op.vjp(g, out, inputs, need, attrs)
    locs = op.local(out, inputs, attrs)
    for k, a in enumerate(inputs):
        if not need[k]:
            continue
        assert_close(vj[k], numeric_vjp(op, inputs, attrs, g, k), f"{name} input {k}")
        if locs[k] is not None:
            # The local derivative is what the chain-rule pane shows: it must reproduce
            # the contribution exactly by the rule the trace documents.
            via_local = unbroadcast(np.asarray(g * locs[k]), a.shape)
            np.testing.assert_allclose(via_local, vj[k], rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_unary_vjp(name, shape, seed):
    if name in ("softmax", "log_softmax") and shape == ():
        shape = (3,)
    rng = np.random.default_rng(seed)
    check_op(name, [UNARY[name](rng, shape)], {}, seed)


@pytest.mark.parametrize("name", sorted(BINARY))
@given(
    shape=shapes,
    other=st.tuples(st.integers(0, 3), st.lists(st.booleans(), max_size=3)),
    swap=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=25, deadline=None)
def test_binary_vjp_with_broadcasting(name, shape, other, swap, seed):
    rng = np.random.default_rng(seed)
    second = drop_to_broadcast(other, shape)
    a_shape, b_shape = (second, shape) if swap else (shape, second)
    a = BINARY[name](rng, a_shape)
    b = BINARY[name](rng, b_shape)
    check_op(name, [a, b], {}, seed)


@given(
    p=st.sampled_from([2.0, 3.0, 0.5, -1.0, 1.5, 0.0, 1.0]),
    shape=shapes,
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=30, deadline=None)
def test_pow_vjp(p, shape, seed):
    rng = np.random.default_rng(seed)
    check_op("pow", [positive(rng, shape)], {"p": p}, seed)


@given(
    n=st.integers(1, 4),
    k=st.integers(1, 4),
    m=st.integers(1, 4),
    vec=st.sampled_from(["none", "left", "right", "both"]),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=40, deadline=None)
def test_matmul_vjp(n, k, m, vec, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k,) if vec in ("left", "both") else (n, k))
    b = rng.normal(size=(k,) if vec in ("right", "both") else (k, m))
    check_op("matmul", [a, b], {}, seed)


@given(
    n=st.integers(1, 5), k=st.integers(1, 4), m=st.integers(1, 4), seed=st.integers(0, 2**32 - 1)
)
@settings(max_examples=40, deadline=None)
def test_affine_vjp(n, k, m, seed):
    rng = np.random.default_rng(seed)
    check_op(
        "affine",
        [rng.normal(size=(n, k)), rng.normal(size=(k, m)), rng.normal(size=(m,))],
        {},
        seed,
    )


@given(n=st.integers(1, 5), m=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_regression_losses_vjp(n, m, seed):
    rng = np.random.default_rng(seed)
    for name in ("mse", "sse"):
        check_op(name, [rng.normal(size=(n, m)), rng.normal(size=(n, m))], {}, seed)
    check_op("bce", [probabilities(rng, (n, m)), rng.uniform(0, 1, size=(n, m))], {}, seed)


@given(n=st.integers(1, 5), c=st.integers(2, 5), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_cross_entropy_vjp(n, c, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, size=n).astype(np.float64)
    check_op("cross_entropy", [rng.normal(size=(n, c)) * 3, labels], {}, seed)


@pytest.mark.parametrize("name", REDUCTIONS)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    pick=st.integers(0, 5),
    keepdims=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=30, deadline=None)
def test_reductions_along_an_axis(name, shape, pick, keepdims, seed):
    rng = np.random.default_rng(seed)
    axis = pick % len(shape) - (len(shape) if pick >= 3 else 0)  # negative axes too
    attrs = {"axis": axis, "keepdims": keepdims}
    x = anything(rng, shape)
    assert OPS[name].shape(shape, **attrs) == np.asarray(OPS[name].forward(x, **attrs)).shape
    check_op(name, [x], attrs, seed)


@pytest.mark.parametrize("name", REDUCTIONS)
@given(shape=shapes, seed=st.integers(0, 2**32 - 1))
@settings(max_examples=15, deadline=None)
def test_reductions_of_every_element_with_keepdims(name, shape, seed):
    rng = np.random.default_rng(seed)
    check_op(name, [anything(rng, shape)], {"keepdims": True}, seed)


@given(shape=shapes, seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_transpose_vjp(shape, seed):
    rng = np.random.default_rng(seed)
    check_op("transpose", [anything(rng, shape)], {}, seed)


@given(
    rows=st.integers(1, 5),
    tail=st.lists(st.integers(1, 3), max_size=2).map(tuple),
    index_shape=st.lists(st.integers(1, 4), max_size=2).map(tuple),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=30, deadline=None)
def test_row_indexing_accumulates_repeated_rows(rows, tail, index_shape, seed):
    rng = np.random.default_rng(seed)
    ix = rng.integers(0, rows, size=index_shape).astype(np.float64)
    check_op("index", [anything(rng, (rows, *tail)), ix], {}, seed)


@given(
    rows=st.integers(1, 4),
    cols=st.integers(1, 4),
    index_shape=st.lists(st.integers(1, 5), max_size=2).map(tuple),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=30, deadline=None)
def test_element_indexing_accumulates_repeated_elements(rows, cols, index_shape, seed):
    rng = np.random.default_rng(seed)
    ix = rng.integers(0, rows, size=index_shape).astype(np.float64)
    jx = rng.integers(0, cols, size=index_shape).astype(np.float64)
    check_op("index2", [anything(rng, (rows, cols)), ix, jx], {}, seed)


@given(n=st.integers(1, 5), m=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_v2_losses_vjp(n, m, seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, m))
    # Predictions kept away from the kinks: |a − y| ≥ 0.1, and |a − y| ≠ delta.
    check_op("l1", [y + away_from_zero(rng, (n, m)), y], {}, seed)
    for delta in (1.0, 0.3, 2.5):
        d = away_from_zero(rng, (n, m))
        d = np.where(np.abs(np.abs(d) - delta) < 0.05, d * 1.2, d)
        check_op("huber", [y + d, y], {"delta": delta}, seed)
    labels = rng.choice([-1.0, 1.0], size=(n, 1))
    scores = away_from_zero(rng, (n, 1)) + labels  # margins 1 − y·s ≠ 0
    check_op("hinge", [scores, labels], {}, seed)


def test_max_and_min_split_ties_evenly_like_amax():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    g = np.array([6.0, 3.0])
    for name in ("max", "min"):
        out = OPS[name].forward(x, axis=1)
        got = OPS[name].vjp(g, out, [x], [True], {"axis": 1})[0]
        want = [[0, 3, 3], [1, 1, 1]] if name == "max" else [[6, 0, 0], [1, 1, 1]]
        np.testing.assert_array_equal(got, want)
    out = OPS["max"].forward(x)
    np.testing.assert_array_equal(
        OPS["max"].vjp(np.float64(1.0), out, [x], [True], {})[0], [[0, 0.5, 0.5], [0, 0, 0]]
    )


def test_maximum_and_minimum_split_ties_in_half():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0])
    g = np.ones(3)
    for name, want_a in (("maximum", [0, 0.5, 1]), ("minimum", [1, 0.5, 0])):
        out = OPS[name].forward(a, b)
        ga, gb = OPS[name].vjp(g, out, [a, b], [True, True], {})
        np.testing.assert_array_equal(ga, want_a)
        np.testing.assert_array_equal(gb, 1.0 - np.array(want_a))


def test_logsumexp_is_stable_and_var_divides_by_n():
    x = np.array([[1000.0, 1000.0], [-1000.0, 0.0]])
    with np.errstate(over="raise", invalid="raise"):
        out = OPS["logsumexp"].forward(x, axis=1)
    np.testing.assert_allclose(out, [1000.0 + np.log(2.0), 0.0])
    assert OPS["var"].forward(np.array([1.0, 3.0])) == 1.0


def test_every_op_is_covered():
    covered = (
        set(UNARY)
        | set(BINARY)
        | set(REDUCTIONS)
        | {"pow", "matmul", "affine", "mse", "sse", "bce", "cross_entropy"}
        | {"transpose", "index", "index2", "l1", "huber", "hinge"}
    )
    assert covered == set(OPS)


def test_kinks_follow_pytorch():
    z = np.array([-1.0, 0.0, 2.0])
    g = np.ones(3)
    assert OPS["relu"].vjp(g, OPS["relu"].forward(z), [z], [True], {})[0].tolist() == [0, 0, 1]
    assert OPS["leaky_relu"].vjp(g, OPS["leaky_relu"].forward(z), [z], [True], {})[0].tolist() == [
        0.01,
        0.01,
        1,
    ]
    assert OPS["abs"].vjp(g, OPS["abs"].forward(z), [z], [True], {})[0].tolist() == [-1, 0, 1]


def test_bce_clamps_log_like_pytorch():
    p = np.array([0.0, 1.0])
    y = np.array([1.0, 0.0])
    with np.errstate(all="ignore"):
        assert OPS["bce"].forward(p, y) == pytest.approx(100.0)


def test_sigmoid_is_stable_for_large_inputs():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = OPS["sigmoid"].forward(np.array([-800.0, 0.0, 800.0]))
    assert out.tolist() == [0.0, 0.5, 1.0]


def test_unbroadcast_sums_stretched_and_added_axes():
    g = np.arange(24.0).reshape(2, 3, 4)
    assert unbroadcast(g, (3, 1)).shape == (3, 1)
    np.testing.assert_array_equal(unbroadcast(g, (3, 1)), g.sum(axis=0).sum(axis=1, keepdims=True))
    assert unbroadcast(g, ()).shape == ()
    assert float(unbroadcast(g, ())) == g.sum()


@pytest.mark.parametrize(
    "name,shapes",
    [
        ("add", ((2, 3), (4,))),
        ("matmul", ((2, 3), (2, 3))),
        ("matmul", ((2, 3, 4), (4, 2))),
        ("softmax", ((),)),
        ("mse", ((2, 1), (2, 2))),
        ("cross_entropy", ((4, 3), (3,))),
        ("hinge", ((4, 2), (4, 2))),
        ("index", ((), (3,))),
        ("index2", ((3,), (2,), (2,))),
        ("index2", ((3, 3), (2,), (3,))),
    ],
)
def test_shape_errors_are_found_before_running(name, shapes):
    with pytest.raises(ShapeError):
        OPS[name].shape(*shapes)


@settings(max_examples=200, deadline=None)
@given(
    shape=st.lists(st.integers(1, 12), min_size=0, max_size=3),
    axis=st.integers(-3, 2) | st.none(),
    keepdims=st.booleans(),
    scale=st.floats(-6, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_sum_mean_var_give_numpys_own_bits(shape, axis, keepdims, scale, seed):
    """The reductions call numpy's ufuncs directly (its Python wrappers cost as much as a
    small sum); what they give must be np.sum/np.mean/np.var's numbers to the bit, so the
    engine's numbers are the ones numpy users get."""
    x = np.random.default_rng(seed).normal(size=tuple(shape)) * 10.0**scale
    if axis is not None and not -len(shape) <= axis < len(shape):
        axis = None
    attrs = {"axis": axis, "keepdims": keepdims} if axis is not None or keepdims else {}
    for name, reference in (("sum", np.sum), ("mean", np.mean), ("var", np.var)):
        ours = OPS[name].forward(x, **attrs)
        theirs = reference(x, axis=axis, keepdims=keepdims)
        assert np.shape(ours) == np.shape(theirs)
        assert np.array_equal(ours, theirs), name
