"""The built-ins' numbers can be told apart: a learner reading the chain-rule pane can
say which number came from where."""

from __future__ import annotations

import numpy as np
import pytest

from engine import fmt
from engine.open import open_program
from engine.step.events import Backward, Forward, Loss
from engine.timeline.timeline import Timeline
from scenarios import builtin_ids

WORKED_EXAMPLES = {"worked-example", "worked-example-graph"}
"""The seed document's example, whose round numbers (x = 1, W = 0.5) are its point."""
SAME_BY_DESIGN = {"ninja-cross-entropy"}
"""Built-ins that compute one number two ways to show that they agree (cross-entropy by
hand beside log_softmax's): equal values are their point, so only the 1s are checked."""
STRUCTURAL_OPS = frozenset(
    {"add", "sub", "neg", "identity", "relu", "leaky_relu", "abs", "sum", "mean", "affine"}
)
"""Ops whose local derivatives are constants by definition (±1, 0, a slope, 1/n), or,
for a layer's ``affine`` ``x·W + b``, the layer's other inputs (values checked already,
or the data) and 1 for the bias."""
DIGITS = 4
"""Significant digits to which numbers are compared."""
SIGN_OPS = frozenset({"neg", "identity", "add", "sub"})
"""Ops through which a gradient passes unchanged up to its sign."""
EPSILON = 1e-3
"""A constant at most this large, added to a node, is a guard (``v + 1e-5`` under a
square root), not a new number: the sum equals the node to the digits compared."""


def loss_up_to_sign(program) -> set[str]:
    """The loss and the nodes it is made of by sign changes and sums alone (``L = −m``,
    ``L = a + b``): their gradient is ±1 by the graph's shape, not by accident."""
    graph = program.graph
    near = {graph.loss}
    grew = True
    while grew:
        grew = False
        for node in graph.nodes:
            if node.name in near and node.kind == "op" and node.op in SIGN_OPS:
                for name in node.inputs:
                    if name not in near:
                        near.add(name)
                        grew = True
    return near


def epsilon_pairs(program, values: dict[str, np.ndarray]) -> set[frozenset[str]]:
    """Pairs ``(x + ε, x)``: a node that adds (or subtracts) a tiny constant to another."""
    graph = program.graph
    pairs = set()
    for node in graph.nodes:
        if node.kind != "op" or node.op not in ("add", "sub") or len(node.inputs) != 2:
            continue
        for k, name in enumerate(node.inputs):
            other = node.inputs[1 - k]
            leaf = graph[name]
            if leaf.kind == "const" and abs(float(leaf.attrs.get("value", 1.0))) <= EPSILON:
                pairs.add(frozenset((node.name, other)))
    return pairs


def rounded(a: np.ndarray) -> np.ndarray:
    """Every element rounded to :data:`DIGITS` significant digits."""
    a = np.asarray(a, dtype=np.float64)
    out = np.zeros_like(a)
    nonzero = (a != 0) & np.isfinite(a)
    magnitude = np.floor(np.log10(np.abs(a[nonzero])))
    scale = 10.0 ** (DIGITS - 1 - magnitude)
    out[nonzero] = np.round(a[nonzero] * scale) / scale
    out[~np.isfinite(a)] = a[~np.isfinite(a)]
    return out


def read_whole(a: np.ndarray) -> bool:
    """Whether the panes write ``a`` number by number (else they summarise it)."""
    return np.asarray(a).size <= fmt.MAX_ELEMS


def first_step_numbers(ref: str) -> tuple[dict[str, np.ndarray], list[tuple[str, np.ndarray]]]:
    """Step 0 of built-in ``ref``: the values of its parameters and computed nodes by
    name, and its factors — those values, every gradient but the loss's own, and every
    local derivative of a non-structural op — as ``(what, array)``."""
    program = open_program(ref)
    graph = program.graph
    near = loss_up_to_sign(program)
    timeline = Timeline(program)
    timeline.compute(1)
    values: dict[str, np.ndarray] = {
        name: np.asarray(value) for name, value in timeline.start_of(0)[0].items()
    }
    factors: list[tuple[str, np.ndarray]] = []
    for seq in range(timeline.events_per_step):
        event = timeline.frame(seq).event
        if isinstance(event, Forward):
            values[event.node] = np.asarray(event.value)
        elif isinstance(event, Loss):
            values[event.node] = np.asarray(event.array)
        elif isinstance(event, Backward):
            if event.node not in near:  # ∂L/∂L = 1 by definition, ∂L/∂m = −1 for L = −m
                factors.append((f"∂L/∂{event.node}", event.grad))
            for term in event.terms:
                op = graph[term.via].op
                if term.local is not None and op not in STRUCTURAL_OPS:
                    factors.append((f"∂{term.via}/∂{event.node} ({op})", term.local))
    factors += [(f"value of {name}", value) for name, value in values.items()]
    return values, factors


@pytest.mark.parametrize("ref", sorted(set(builtin_ids()) - WORKED_EXAMPLES))
def test_built_in_numbers_are_distinguishable(ref: str) -> None:
    """In step 0 of every built-in but the seed's worked example:

    - **no accidental 1s**: no element of a factor rounds to ±1 at :data:`DIGITS`
      significant digits. Factors are the value of every parameter (at the start) and
      computed node, every gradient ∂L/∂n but the loss's own (1 by definition), and every
      local derivative ∂c/∂n the chain-rule pane prints, except those of ops whose
      local derivatives are constants by definition (:data:`STRUCTURAL_OPS`: add, sub,
      neg, identity, relu, leaky_relu, abs, sum, mean; and a layer's affine, whose
      local derivatives are its other inputs and 1 for the bias). A 1 there says "the chain rule
      multiplied by one" when it was an accident of the numbers chosen. The gradient of a
      node the loss is made of by sign changes and sums alone (``L = −mean(…)``) is ±1 by
      the graph's shape and does not count.
    - **no coinciding values**: no two distinct nodes or parameters have values of the
      same shape equal element by element at :data:`DIGITS` significant digits, unless
      one is the ``identity`` of the other, one adds a tiny constant (at most
      :data:`EPSILON`: ``v + 1e-5``) to the other, or both are all zero (zero biases,
      dead units).

    Only arrays the panes write in full count (at most ``fmt.MAX_ELEMS`` elements): a
    larger one is shown as a summary, not read number by number. Inputs (the data and
    targets, often 0 and 1 by nature) are not factors of their own, but a local
    derivative equal to an input (∂(w·x)/∂w = x) is.
    """
    values, factors = first_step_numbers(ref)
    ones = [
        f"{what} = {fmt.tensor(a)}"
        for what, a in factors
        if read_whole(a) and np.any(np.abs(rounded(a)) == 1.0)
    ]
    assert not ones, f"{ref}: accidental 1s in step 0: {'; '.join(ones)}"
    program = open_program(ref)
    identities = {
        frozenset((node.name, node.inputs[0]))
        for node in program.graph.nodes
        if node.kind == "op" and node.op == "identity"
    } | epsilon_pairs(program, values)
    names = [n for n, a in values.items() if read_whole(a)]
    same = [
        f"{a} = {b} = {fmt.tensor(values[a])}"
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        if values[a].shape == values[b].shape
        and np.any(values[a] != 0)
        and np.array_equal(rounded(values[a]), rounded(values[b]))
        and frozenset((a, b)) not in identities
    ]
    if ref not in SAME_BY_DESIGN:
        assert not same, f"{ref}: coinciding values in step 0: {'; '.join(same)}"


def test_the_rule_catches_what_the_issue_saw() -> None:
    """The rule's arithmetic: 0.99996 rounds to 1, 0.9996 does not; 0.7311 twice is a
    coincidence at 4 digits; 0 is never a one."""
    assert rounded(np.array([0.99996]))[0] == 1.0
    assert rounded(np.array([-0.99996]))[0] == -1.0
    assert rounded(np.array([0.9996]))[0] != 1.0
    assert rounded(np.array([0.0]))[0] == 0.0
    assert np.array_equal(rounded(np.array([0.731058])), rounded(np.array([0.731101])))
    assert rounded(np.array([123456.0]))[0] == 123500.0
