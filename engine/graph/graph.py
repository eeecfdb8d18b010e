"""The one graph form both kinds of scenario become: named nodes in topological order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import msgspec

from engine.graph.ops import OPS, Op

Shape = tuple[int, ...]

LEAF_KINDS = ("input", "param", "const")


class Node(msgspec.Struct, frozen=True):
    """One node of a computation graph.

    Attributes:
        name: Unique name. Layered networks use ``x y W1 b1 z1 a1 … L``; expression
            graphs use the names of the file and, for sub-expressions, short names of
            their own (``t1``, ``t2``…, numbered in the order they are made and never one
            of the file's names); literal constants are named by their text (``"2"``).
        kind: ``"input"`` (data, no gradient), ``"param"`` (trained), ``"const"`` (a
            literal), or ``"op"`` (computed).
        op: The op's name in :data:`engine.graph.ops.OPS` for ``"op"`` nodes, else ``None``.
        inputs: The names of the nodes it reads, in argument order.
        attrs: Literal parameters of the op (``{"p": 2.0}`` for ``** 2``).
        shape: The value's shape, known before anything runs.
        named: False for sub-expressions the builder made up; True for nodes the user
            (or the layered network's naming scheme) named.
        layer: The layered network's layer (1-based) the node belongs to, 0 for the input
            side and ``len(layers) + 1`` for the loss; in expression graphs, the length
            of the longest path from a leaf. Used for layout.
        source: Where the node comes from in the scenario (``graph.nodes[1]``).
        text: For a computed node of an expression graph, the expression it computes as
            written in the file (normalised by the parser): ``"W * x"`` for a
            sub-expression, ``"W * x + b"`` for the line ``z = W * x + b``. Empty for
            leaves and for layered networks.
    """

    name: str
    kind: str
    op: str | None = None
    inputs: tuple[str, ...] = ()
    attrs: Mapping[str, Any] = msgspec.field(default_factory=dict)
    shape: Shape = ()
    named: bool = True
    layer: int = 0
    source: str = ""
    text: str = ""

    @property
    def is_leaf(self) -> bool:
        return self.kind in LEAF_KINDS


@dataclass(frozen=True)
class Graph:
    """A computation graph, ready to run.

    Attributes:
        nodes: Every node, in topological order. Each leaf stands just before its first
            consumer, so that, read backwards, a parameter comes right after the last
            node whose gradient it needs.
        loss: The loss node's name.
        params: The trained parameters, in the order the scenario declares them.
        kind: ``"model"`` for layered networks, ``"graph"`` for expression graphs.
    """

    nodes: tuple[Node, ...]
    loss: str
    params: tuple[str, ...]
    kind: str
    by_name: Mapping[str, Node] = field(init=False, repr=False)
    consumers: Mapping[str, tuple[str, ...]] = field(init=False, repr=False)
    """For each node, the nodes that read it, in topological order."""
    backward_order: tuple[str, ...] = field(init=False, repr=False)
    """The nodes that get a backward event, in the order they complete: the loss, then
    every node on a path from a parameter to the loss in reverse topological order, and
    every parameter (one that cannot reach the loss gets a zero gradient)."""
    forward_order: tuple[str, ...] = field(init=False, repr=False)
    """The op nodes that get a forward event (all but the loss), in topological order."""
    grad_nodes: frozenset[str] = field(init=False, repr=False)
    """The nodes in :attr:`backward_order`, as a set."""
    op_nodes: tuple[Node, ...] = field(init=False, repr=False)
    """The computed nodes, in topological order."""
    forward_plan: tuple = field(init=False, repr=False)
    """``(name, forward, input names, attrs)`` per computed node: the forward loop's work,
    looked up once rather than on every step."""
    backward_plan: tuple = field(init=False, repr=False)
    """``(name, shape, op or None, input names, indices of inputs that need a gradient,
    the same as one flag per input, attrs, inputs all distinct)`` per node of
    :attr:`backward_order`."""

    def __post_init__(self) -> None:
        by_name = {n.name: n for n in self.nodes}
        consumers: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        for n in self.nodes:
            for i in dict.fromkeys(n.inputs):  # a node read twice is one consumer
                consumers[i].append(n.name)
        # Nodes from which the loss can be reached, walking inputs back from it.
        reaches_loss = {self.loss}
        for n in reversed(self.nodes):
            if n.name in reaches_loss:
                reaches_loss.update(n.inputs)
        # Nodes that depend on a parameter.
        depends_on_param: set[str] = set()
        for n in self.nodes:
            if n.kind == "param" or any(i in depends_on_param for i in n.inputs):
                depends_on_param.add(n.name)
        needs = (reaches_loss & depends_on_param) | {self.loss} | set(self.params)
        object.__setattr__(self, "by_name", MappingProxyType(by_name))
        object.__setattr__(
            self, "consumers", MappingProxyType({k: tuple(v) for k, v in consumers.items()})
        )
        object.__setattr__(
            self,
            "backward_order",
            tuple(n.name for n in reversed(self.nodes) if n.name in needs),
        )
        object.__setattr__(self, "grad_nodes", frozenset(needs))
        op_nodes = tuple(n for n in self.nodes if n.kind == "op")
        object.__setattr__(self, "op_nodes", op_nodes)
        object.__setattr__(
            self,
            "forward_plan",
            tuple((n.name, _op(n).forward, n.inputs, dict(n.attrs)) for n in op_nodes),
        )
        plan = []
        for name in self.backward_order:
            n = by_name[name]
            op = _op(n) if n.kind == "op" else None
            wanted = tuple(k for k, i in enumerate(n.inputs) if i in needs)
            distinct = len(set(n.inputs)) == len(n.inputs)
            plan.append(
                (
                    name,
                    n.shape,
                    op if op and wanted else None,
                    n.inputs,
                    wanted,
                    tuple(k in wanted for k in range(len(n.inputs))),
                    dict(n.attrs),
                    distinct,
                )
            )
        object.__setattr__(self, "backward_plan", tuple(plan))
        object.__setattr__(
            self,
            "forward_order",
            tuple(n.name for n in self.nodes if n.kind == "op" and n.name != self.loss),
        )

    def __getitem__(self, name: str) -> Node:
        return self.by_name[name]

    def descendants(self, name: str) -> frozenset[str]:
        """Every node whose value depends on ``name`` (not ``name`` itself)."""
        seen: set[str] = set()
        todo = [name]
        while todo:
            for c in self.consumers[todo.pop()]:
                if c not in seen:
                    seen.add(c)
                    todo.append(c)
        return frozenset(seen)


def leaves_before_use(nodes: list[Node]) -> tuple[Node, ...]:
    """Reorder so that each leaf stands just before its first consumer.

    ``nodes`` must already be topological (every input defined before its use), which
    both builders guarantee by construction: a name can only be read after it is
    defined. Leaves that nothing reads keep their place at the front.
    """
    leaves = {n.name: n for n in nodes if n.is_leaf}
    placed: set[str] = set()
    out: list[Node] = [n for n in nodes if n.is_leaf and not _is_read(n.name, nodes)]
    placed.update(n.name for n in out)
    for n in nodes:
        if n.is_leaf:
            continue
        for i in n.inputs:
            if i in leaves and i not in placed:
                out.append(leaves[i])
                placed.add(i)
        out.append(n)
    return tuple(out)


def _is_read(name: str, nodes: list[Node]) -> bool:
    return any(name in n.inputs for n in nodes)


def _op(node: Node) -> Op:
    """The op an op node applies (leaves apply none)."""
    assert node.op is not None, node.name
    return OPS[node.op]
