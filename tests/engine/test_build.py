"""Expression graphs that must be refused, found by parsing and shape inference only.

One file per case under ``tests/data/bad_graph/``; each refusal must name the file, the
node line, and say what was wrong. Nothing in any file may run: the ``import_call`` case
would create a file named PWNED if it were ever evaluated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import ScenarioError
from engine.open import open_program
from engine.scenario.records import GraphSpec, OptimizerSpec, Scenario
from engine.step.program import make_program

BAD = Path(__file__).parent.parent / "data" / "bad_graph"

CASES = [
    ("attribute", "graph.nodes[0]", "only calls of plain function names"),
    ("subscript", "graph.nodes[0]", "a literal index is not allowed: 0; an index must be the name"),
    ("import_call", "graph.nodes[0]", "only calls of plain function names"),
    ("unknown_function", "graph.nodes[0]", "unknown function 'foo'"),
    ("lambda", "graph.nodes[0]", "only calls of plain function names"),
    ("comprehension", "graph.nodes[0]", "a comprehension is not allowed"),
    ("string_literal", "graph.nodes[0]", "only numbers are allowed"),
    ("keyword_arg", "graph.nodes[0]", "takes no keyword arguments"),
    ("two_args", "graph.nodes[0]", "takes exactly one argument, found 2"),
    ("undefined_name", "graph.nodes[0]", "undefined name 'q'"),
    ("used_before_defined", "graph.nodes[0]", "undefined name 'u'"),
    ("pow_non_literal", "graph.nodes[0]", "** needs a numeric literal exponent"),
    ("syntax_error", "graph.nodes[0]", "not a valid expression"),
    ("non_scalar_loss", "graph.nodes[0]", "expected a scalar"),
    ("broadcast_mismatch", "graph.nodes[0]", "shapes (2,) and (3,) do not broadcast"),
    ("matmul_mismatch", "graph.nodes[0]", "@ needs matching inner sizes"),
    ("matmul_scalar", "graph.nodes[0]", "@ needs vectors or matrices"),
    ("comparison", "graph.nodes[0]", "a comparison is not allowed"),
    ("reads_loss", "graph.nodes[1]", "nothing may depend on the loss"),
    ("too_big", "graph.nodes[0]", "more than 1,000,000 elements"),
    ("softmax_scalar", "graph.nodes[0]", "needs a vector or matrix"),
    ("walrus", "graph.nodes[0]", "an assignment is not allowed"),
    ("conditional", "graph.nodes[0]", "a conditional expression is not allowed"),
    ("boolean", "graph.nodes[0]", "a boolean operator is not allowed"),
    ("starred", "graph.nodes[0]", "unpacking is not allowed"),
    # v2: reductions along an axis, transpose, maximum/minimum, integer indexing
    ("axis_not_literal", "graph.nodes[0]", "axis must be an integer literal such as axis=0"),
    ("axis_float", "graph.nodes[0]", "found axis=1.0 (column 22)"),
    ("axis_out_of_range", "graph.nodes[1]", "axis=2 is out of range for shape (3, 2); expected"),
    ("axis_of_scalar", "graph.nodes[0]", "axis=0 is out of range for a scalar"),
    ("keepdims_not_bool", "graph.nodes[0]", "keepdims must be True or False, found keepdims=1"),
    ("keepdims_lowercase", "graph.nodes[0]", "(Python's spelling, not true)"),
    ("keyword_unknown", "graph.nodes[0]", "takes the keywords axis and keepdims only, found dim"),
    ("axis_positional", "graph.nodes[0]", "write sum(M, axis=1) (column 16)"),
    ("transpose_attribute", "graph.nodes[0]", "M.T; for the transpose write transpose(M)"),
    ("method_call", "graph.nodes[0]", "found M.sum(…); write sum(M, axis=…)"),
    ("max_two_args", "graph.nodes[0]", "for the elementwise larger of two write maximum(x, w)"),
    ("maximum_one_arg", "graph.nodes[0]", "maximum() takes exactly two arguments, found 1"),
    ("index_param", "graph.nodes[0]", "the index 'w' is a param; an index must be an input"),
    ("index_node", "graph.nodes[1]", "the index 'i2' is a node"),
    ("index_expression", "graph.nodes[0]", "found an expression ix + 1 (column 11)"),
    ("index_slice", "graph.nodes[0]", "a slice is not allowed in M[:, 0]"),
    ("index_three", "graph.nodes[0]", "at most two indices are allowed"),
    ("index_out_of_range", "graph.nodes[0]", "ix[1] = 2 is out of range; expected a whole number"),
    ("index_negative", "graph.nodes[0]", "ix[1][0] = -1 is out of range"),
    ("index_not_whole", "graph.nodes[0]", "ix[1] = 1.5 is not a whole number"),
    ("index_shapes_differ", "graph.nodes[0]", "the two indices must have one shape"),
    ("index_of_scalar", "graph.nodes[0]", "a scalar cannot be indexed"),
]


def test_every_case_file_is_listed():
    assert {p.stem for p in BAD.glob("*.toml")} == {c[0] for c in CASES}


@pytest.mark.parametrize("stem,place,message", CASES, ids=[c[0] for c in CASES])
def test_bad_graph_is_refused_with_file_place_and_reason(
    stem, place, message, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # PWNED would appear here if anything were executed
    path = BAD / f"{stem}.toml"
    with pytest.raises(ScenarioError) as info:
        open_program(str(path))
    err = info.value
    assert err.file == str(path)
    assert err.place == place
    assert message in err.message
    assert str(err).startswith(f"{path}: {place}: ")
    assert not (tmp_path / "PWNED").exists()


def test_columns_count_from_the_start_of_the_shown_line():
    with pytest.raises(ScenarioError) as info:
        open_program(str(BAD / "subscript.toml"))
    # "L = sum(x[0])": the literal index 0 stands at column 11
    assert "(column 11)" in info.value.message


def graph(nodes, params, inputs=None, loss=None):
    names = [n.split("=")[0].strip() for n in nodes]
    spec = GraphSpec(
        {k: np.array(v, dtype=float) for k, v in (inputs or {}).items()},
        {k: np.array(v, dtype=float) for k, v in params.items()},
        tuple((n.split("=", 1)[0].strip(), n.split("=", 1)[1].strip()) for n in nodes),
        loss or names[-1],
    )
    return make_program(
        Scenario(name="t", source="t.toml", optimizer=OptimizerSpec("sgd", 0.1), graph=spec)
    )


def test_sub_expressions_get_short_names_and_repeats_are_shared():
    p = graph(
        ["z = W * x + b", "L = square(W * x + b - y) + square(W * x)"],
        {"W": 0.5, "b": 0.0},
        {"x": 1.0, "y": 0.0},
    )
    subs = [n for n in p.graph.nodes if n.kind == "op" and not n.named]
    # t1, t2… in the order they are made; each keeps its text, and a repeat is one node.
    assert [(n.name, n.text) for n in subs] == [
        ("t1", "W * x"),
        ("t2", "W * x + b"),
        ("t3", "W * x + b - y"),
        ("t4", "square(W * x + b - y)"),
        ("t5", "square(W * x)"),
    ]
    wx = p.graph["t1"]
    assert (wx.kind, wx.op, wx.inputs, wx.named) == ("op", "mul", ("W", "x"), False)
    assert p.graph["z"].named and p.graph["z"].op == "add" and p.graph["z"].text == "W * x + b"
    # W * x feeds z, the unnamed "W * x + b" of line 2, and square(W * x): three
    # consumers, so three chain-rule terms
    assert p.graph.consumers["t1"] == ("z", "t2", "t5")


def test_short_names_never_take_a_name_of_the_file():
    # t1 and t3 are the file's own (t3 defined only further down): the sub-expressions
    # skip them.
    p = graph(["t3 = t1 * w + 1", "L = square(t3 - t1) + square(w)"], {"w": 0.5}, {"t1": 2.0})
    named = {"t1", "w", "t3", "L"}
    subs = [n.name for n in p.graph.nodes if n.kind == "op" and not n.named]
    assert subs == ["t2", "t4", "t5", "t6"]
    assert not named & set(subs)
    assert p.graph["t3"].named and p.graph["t3"].inputs == ("t2", "1")


def test_constants_are_leaves_without_gradients():
    p = graph(["L = 3 * square(w) - 2"], {"w": 1.0})
    consts = [n for n in p.graph.nodes if n.kind == "const"]
    assert sorted(n.name for n in consts) == ["2", "3"]
    assert not any(n.name in p.graph.grad_nodes for n in consts)


def test_leaves_stand_just_before_their_first_consumer():
    p = open_program("xor")
    order = [n.name for n in p.graph.nodes]
    assert order.index("W2") == order.index("a1") + 1
    assert order.index("y") == order.index("L") - 1
    # so, read backwards, a parameter's event follows the node whose gradient it needs
    back = list(p.graph.backward_order)
    assert back.index("W2") > back.index("z2") and back.index("W2") < back.index("a1")


def test_layered_networks_use_the_fixed_names():
    p = open_program("xor")
    assert [n.name for n in p.graph.nodes if n.kind == "op"] == ["z1", "a1", "z2", "a2", "L"]
    assert p.graph.params == ("W1", "b1", "W2", "b2")
    assert p.graph["W1"].shape == (2, 2) and p.graph["z1"].shape == (4, 2)
