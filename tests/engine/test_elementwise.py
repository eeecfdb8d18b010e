"""Element-wise forms against the engine: every op, random shapes (hypothesis).

For each op of the op table: random inputs of random shapes, the op's forward, a random
upstream gradient and the op's own vjp. Then for every output element, the form's forward
pieces must add up to the engine's value; for every element of every input that takes a
gradient, the form's backward pieces must add up to the engine's contribution. A new op
without a form fails :func:`test_every_op_has_a_form`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import fmt
from engine.graph.graph import Graph, Node
from engine.graph.ops import OPS
from engine.report import elementwise as ew
from engine.report.elementwise import FORMS, Derivation, Piece

LOSSES = ("mse", "sse", "bce", "cross_entropy", "l1", "huber", "hinge")


def anything(rng, shape):
    return rng.normal(size=shape)


def positive(rng, shape):
    return rng.uniform(0.3, 3.0, size=shape)


def away_from_zero(rng, shape):
    return rng.uniform(0.2, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


DOMAIN = {"log": positive, "sqrt": positive, "div": away_from_zero, "pow": positive}

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


def inputs_for(name: str, data: st.DataObject, rng: np.random.Generator) -> tuple[list, dict]:
    """Random inputs of random shapes that fit op ``name``, and its attributes."""
    op = OPS[name]
    make = DOMAIN.get(name, anything)
    if name == "matmul":
        n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
        vec = data.draw(st.sampled_from(["none", "left", "right", "both"]))
        a = make(rng, (k,) if vec in ("left", "both") else (n, k))
        b = make(rng, (k,) if vec in ("right", "both") else (k, m))
        return [a, b], {}
    if name == "affine":
        n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
        return [make(rng, (n, k)), make(rng, (k, m)), make(rng, (m,))], {}
    if name == "cross_entropy":
        n, c = data.draw(st.integers(1, 4)), data.draw(st.integers(2, 4))
        return [make(rng, (n, c)) * 3, rng.integers(0, c, size=n).astype(np.float64)], {}
    if name == "hinge":
        n = data.draw(st.integers(1, 4))
        return [make(rng, (n, 1)), rng.choice([-1.0, 1.0], size=(n, 1))], {}
    if name in LOSSES:
        shape = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=2).map(tuple))
        if name == "bce":
            return [rng.uniform(0.05, 0.95, size=shape), rng.uniform(0, 1, size=shape)], {}
        attrs = {"delta": data.draw(st.sampled_from([0.5, 1.0, 2.0]))} if name == "huber" else {}
        return [make(rng, shape), make(rng, shape)], attrs
    if name in ("index", "index2"):
        rows, cols = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
        picks = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=2).map(tuple))
        ix = rng.integers(0, rows, size=picks).astype(np.float64)  # repeats accumulate
        if name == "index":
            return [make(rng, (rows, cols)), ix], {}
        jx = rng.integers(0, cols, size=picks).astype(np.float64)
        return [make(rng, (rows, cols)), ix, jx], {}
    shape = data.draw(shapes)
    if name in ("softmax", "log_softmax") and shape == ():
        shape = (3,)
    attrs = {"p": data.draw(st.sampled_from([2.0, 3.0, 0.5, -1.0]))} if name == "pow" else {}
    if name in ("sum", "mean", "max", "min", "logsumexp", "var") and shape:
        axis = data.draw(st.sampled_from([None, *range(-len(shape), len(shape))]))
        if axis is not None:
            attrs = {"axis": axis, "keepdims": data.draw(st.booleans())}
    if op.arity == 1:
        return [make(rng, shape)], attrs
    # A second operand that broadcasts against the first: leading axes dropped, some 1s.
    keep = data.draw(st.integers(0, len(shape)))
    other = tuple(n if data.draw(st.booleans()) else 1 for n in shape[len(shape) - keep :])
    pair = [make(rng, shape), make(rng, other)]
    return (pair[::-1] if data.draw(st.booleans()) else pair), attrs


def tiny_graph(name: str, inputs: list, attrs: dict) -> Graph:
    """``c = op(x0, x1, …)``; losses are the graph's loss, other ops feed ``L = sum(c)``."""
    shape = tuple(np.shape(OPS[name].forward(*inputs, **attrs)))
    leaves = [Node(f"x{k}", "param", shape=np.shape(a)) for k, a in enumerate(inputs)]
    node = Node("c", "op", name, tuple(n.name for n in leaves), attrs, shape=shape)
    if name in LOSSES:
        return Graph((*leaves, node), "c", tuple(n.name for n in leaves), "graph")
    loss = Node("L", "op", "sum", ("c",), shape=())
    return Graph((*leaves, node, loss), "L", tuple(n.name for n in leaves), "graph")


def close(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=1e-9, atol=1e-12))


def test_every_op_has_a_form():
    assert set(OPS) <= set(FORMS), f"ops without an element-wise form: {set(OPS) - set(FORMS)}"


@pytest.mark.parametrize("name", sorted(OPS))
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=20, deadline=None)
def test_element_sums_equal_the_engine(name, data, seed):
    rng = np.random.default_rng(seed)
    op = OPS[name]
    inputs, attrs = inputs_for(name, data, rng)
    inputs = [np.array(a, dtype=np.float64) for a in inputs]
    graph = tiny_graph(name, inputs, attrs)
    out = np.asarray(op.forward(*inputs, **attrs), dtype=np.float64)
    values = {f"x{k}": a for k, a in enumerate(inputs)} | {"c": out}
    g = np.ones(()) if name in LOSSES else rng.normal(size=out.shape)
    # A loss's target and an index take no gradient.
    need = [
        not ((name in LOSSES or name in ("index", "index2")) and k >= 1) for k in range(len(inputs))
    ]
    vjp = op.vjp(g, out, inputs, need, attrs)
    grads = {"c": g}
    for idx in np.ndindex(*out.shape):
        d = ew.forward(graph, values, "c", idx)
        assert d is not None
        assert d.value == float(out[idx])
        assert close(d.total, out[idx]), (name, idx, d.text())
    for k, a in enumerate(inputs):
        if not need[k]:
            continue
        for idx in np.ndindex(*a.shape):
            d = ew.contribution(graph, values, grads, "c", f"x{k}", idx)
            assert close(d.total, np.asarray(vjp[k])[idx]), (name, k, idx, d.text())
            assert d.pieces, (name, k, idx)


def xor_like():
    """``z1 = x @ W1 + b1`` with the brief's numbers, ``a1 = tanh(z1)``, ``L = mse(a1, y)``."""
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    W1 = np.array([[0.8, -0.2], [0.2, 0.5]])
    b1 = np.array([0.4, 0.1])
    y = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    nodes = (
        Node("x", "input", shape=(4, 2)),
        Node("W1", "param", shape=(2, 2)),
        Node("b1", "param", shape=(2,)),
        Node("z1", "op", "affine", ("x", "W1", "b1"), shape=(4, 2)),
        Node("a1", "op", "tanh", ("z1",), shape=(4, 2)),
        Node("y", "input", shape=(4, 2)),
        Node("L", "op", "mse", ("a1", "y"), shape=()),
    )
    graph = Graph(nodes, "L", ("W1", "b1"), "model")
    z1 = x @ W1 + b1
    a1 = np.tanh(z1)
    ga1 = 2 * (a1 - y) / a1.size
    gz1 = ga1 * (1 - a1 * a1)
    values = {"x": x, "W1": W1, "b1": b1, "z1": z1, "a1": a1, "y": y, "L": np.mean((a1 - y) ** 2)}
    grads = {"a1": ga1, "z1": gz1, "W1": x.T @ gz1, "b1": gz1.sum(axis=0), "L": np.ones(())}
    return graph, values, grads


def test_affine_forward_reads_as_the_textbook():
    graph, values, _ = xor_like()
    d = ew.forward(graph, values, "z1", (1, 0))
    assert d is not None
    assert d.text() == "z1[1,0] = Σᵢ x[1,i]·W1[i,0] + b1[0] = 0.0·0.8 + 1.0·0.2 + 0.4 = 0.6"


def test_weight_gradient_sums_over_samples_with_the_inputs():
    graph, values, grads = xor_like()
    (d,) = ew.gradient(graph, values, grads, "W1", (1, 0))
    assert d.lhs == "∂L/∂W1[1,0]"
    assert d.formula == "Σₙ x[n,1]·∂L/∂z1[n,0]"
    gz = grads["z1"]
    terms = [f"{fmt.num(values['x'][n, 1])}·{ew.num(gz[n, 0])}" for n in range(4)]
    assert ew.numbers(d) == " + ".join(terms)
    assert d.value == float(grads["W1"][1, 0])
    assert close(d.total, d.value)


def test_bias_and_activation_and_loss_gradients():
    graph, values, grads = xor_like()
    (b,) = ew.gradient(graph, values, grads, "b1", (1,))
    assert b.formula == "Σₙ ∂L/∂z1[n,1]"
    (z,) = ew.gradient(graph, values, grads, "z1", (2, 1))
    assert z.formula == "∂L/∂a1[2,1]·(1 − tanh²(z1[2,1]))"
    (a,) = ew.gradient(graph, values, grads, "a1", (0, 0))
    assert a.formula == "2·(a1[0,0] − y[0,0])/8"
    assert ew.numbers(a) == f"2·({fmt.num(values['a1'][0, 0])} − 0.0)/8"


def test_fan_out_is_the_sum_of_its_paths():
    x = Node("x", "param", shape=(2,))
    nodes = (
        x,
        Node("s", "op", "sin", ("x",), shape=(2,)),
        Node("c", "op", "mul", ("x", "s"), shape=(2,)),
        Node("L", "op", "sum", ("c",), shape=()),
    )
    graph = Graph(nodes, "L", ("x",), "graph")
    xv = np.array([0.3, -1.2])
    s = np.sin(xv)
    values = {"x": xv, "s": s, "c": xv * s, "L": np.sum(xv * s)}
    gc = np.ones(2)
    gs = gc * xv
    gx = gc * s + gs * np.cos(xv)
    grads = {"L": np.ones(()), "c": gc, "s": gs, "x": gx}
    total, *edges = ew.gradient(graph, values, grads, "x", (1,))
    assert len(edges) == 2
    assert total.formula == "∂L/∂x[1] via s + ∂L/∂x[1] via c"
    assert close(total.total, gx[1]) and total.value == gx[1]


def test_long_sums_show_the_largest_terms_and_count_the_rest():
    values = [0.1, 5.0, 0.2, -7.0, 0.3, 6.0, 0.05]
    pieces = tuple(Piece(f"t{i}", ew.num(v), v) for i, v in enumerate(values))
    d = Derivation("s", "Σ t", pieces, float(sum(values)))
    assert ew.numbers(d, max_terms=4) == "5.0 + (-7.0) + 6.0 + (4 more terms: 0.65)"
    assert ew.numbers(d, max_terms=7) == " + ".join(p.nums for p in pieces)
