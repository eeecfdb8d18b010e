"""Expression graphs: each line of ``[graph]`` parsed and lowered to graph nodes.

One node per named line and one per sub-expression (identical sub-expressions share a
node). A sub-expression gets a short name of its own, ``t1``, ``t2``… in the order the
nodes are made, skipping any name the file uses, so that no label is a whole expression
and none can be mistaken for the user's; its source text stays on the node
(:attr:`Node.text`). Shapes are inferred here, before anything is allocated, so a shape
mismatch or an oversized intermediate is refused with the line it comes from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from engine.errors import PlaceError
from engine.graph import expr as ex
from engine.graph.graph import Graph, Node, leaves_before_use
from engine.graph.ops import OPS, ShapeError
from engine.scenario.checks import element_index
from engine.scenario.records import GraphSpec

MAX_GRAPH_NODES = 1024
"""Most nodes an expression graph may have, sub-expressions and constants included."""
MAX_NODE_ELEMENTS = 1_000_000
"""Most elements any node's value may have."""
SHOWN_NAMES = 60
"""Most defined names an "undefined name" message lists."""
SUB_PREFIX = "t"
"""Sub-expressions are named ``t1``, ``t2``…"""


def build_graph(spec: GraphSpec) -> Graph:
    """The graph of an expression graph, one node per named line and sub-expression."""
    nodes: list[Node] = []
    by_name: dict[str, Node] = {}
    by_text: dict[str, Node] = {}  # sub-expressions by their text: the same one is one node

    def add(node: Node) -> Node:
        if len(nodes) >= MAX_GRAPH_NODES:
            raise PlaceError(
                node.source or "graph.nodes",
                f"the graph has more than {MAX_GRAPH_NODES} nodes (sub-expressions included)",
            )
        nodes.append(node)
        by_name[node.name] = node
        return node

    # Every name the file gives, so that no sub-expression's short name can be one of them
    # (a line further down may use t1 for itself).
    taken = {*spec.inputs, *spec.params, *(name for name, _ in spec.nodes)}
    names = _ShortNames(taken)
    for name, value in spec.inputs.items():
        add(Node(name, "input", shape=value.shape, source=f"graph.inputs.{name}"))
    for name, value in spec.params.items():
        add(Node(name, "param", shape=value.shape, source=f"graph.params.{name}"))

    for i, (name, text) in enumerate(spec.nodes):
        place = f"graph.nodes[{i}]"
        line = f"{name} = {text}"
        try:
            tree = ex.parse(text)
        except ex.ExprError as e:
            # Columns count from the start of the line as shown, "name = expression".
            column = e.column + len(name) + 3 if e.column else 0
            raise PlaceError(place, f"{ex.quote(line, column)}: {e.at(len(name) + 3)}") from None
        _Lowering(add, by_name, by_text, names, place, line, len(name) + 3, spec.inputs).lower(
            tree, name
        )

    loss = by_name.get(spec.loss)
    if loss is None or loss.kind != "op":
        raise PlaceError("graph.loss", f"'{spec.loss}' is not a node of the graph")
    if math.prod(loss.shape) != 1:
        raise PlaceError(
            loss.source,
            f"the loss '{loss.name}' has shape {_shape_text(loss.shape)}; expected a scalar "
            "(wrap it in sum(...) or mean(...))",
        )
    # Nothing may read the loss: its gradient would then not be 1.
    for n in nodes:
        if spec.loss in n.inputs:
            raise PlaceError(
                n.source, f"'{n.name}' reads the loss '{spec.loss}'; nothing may depend on the loss"
            )
    params = tuple(spec.params)
    graph_nodes = leaves_before_use(_with_depths(nodes))
    return Graph(graph_nodes, spec.loss, params, "graph")


class _ShortNames:
    """Hands out ``t1``, ``t2``… skipping the names in ``taken``."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = taken
        self.count = 0

    def next(self) -> str:
        while True:
            self.count += 1
            name = f"{SUB_PREFIX}{self.count}"
            if name not in self.taken:
                return name


class _Lowering:
    """Turns one line's expression tree into nodes, reusing identical sub-expressions."""

    def __init__(
        self,
        add: Callable[[Node], Node],
        by_name: dict[str, Node],
        by_text: dict[str, Node],
        names: _ShortNames,
        place: str,
        line: str,
        offset: int,
        inputs: Mapping[str, np.ndarray],
    ) -> None:
        self.add = add
        self.by_name = by_name
        self.by_text = by_text
        self.names = names
        self.place = place
        self.text = line
        """The line as written, ``name = expression``."""
        self.line = ex.quote(line)
        """The line, quoted for messages (escaped, shortened)."""
        self.offset = offset
        """Where the expression starts in the line (columns count from the line's start)."""
        self.inputs = inputs

    def refuse(self, message: str, tree: ex.Apply | None) -> PlaceError:
        """A refusal of the line, naming the column where ``tree`` starts when known."""
        column = 0 if tree is None else ex.column_of(self.text[self.offset :], tree.pos)
        if not column:
            return PlaceError(self.place, f"{self.line}: {message}")
        column += self.offset
        return PlaceError(self.place, f"{ex.quote(self.text, column)}: {message} (column {column})")

    def lower(self, tree: ex.Expr, name: str) -> None:
        if isinstance(tree, ex.Name):
            # "a = b": a named copy of another node.
            src = self._resolve(tree)
            self._op(name, "identity", (src,), {}, named=True, text=tree.text)
        elif isinstance(tree, ex.Const):
            self._op(name, "identity", (self._const(tree),), {}, named=True, text=tree.text)
        else:
            self._apply(tree, name)

    def _apply(self, tree: ex.Apply, name: str | None) -> Node:
        args = []
        for a in tree.args:
            if isinstance(a, ex.Name):
                args.append(self._resolve(a))
            elif isinstance(a, ex.Const):
                args.append(self._const(a))
            else:
                args.append(self._apply(a, None))
        attrs = dict(tree.attrs)
        if name is None:
            seen = self.by_text.get(tree.text)
            if seen is not None:
                return seen  # the same sub-expression seen before: one node
        if tree.op in ("index", "index2"):
            self._check_indices(tree, args)
        if name is None:
            node = self._op(
                None, tree.op, tuple(args), attrs, named=False, text=tree.text, tree=tree
            )
            self.by_text[tree.text] = node
            return node
        return self._op(name, tree.op, tuple(args), attrs, named=True, text=tree.text, tree=tree)

    def _check_indices(self, tree: ex.Apply, args: list[Node]) -> None:
        """Each index of ``C[ix]`` / ``P[ix, jx]`` is an input of whole numbers within the
        axis it indexes (rows for the first, columns for the second)."""
        target = args[0]
        for axis, index in enumerate(args[1:]):
            where = f"{ex.excerpt(tree.text)}: the index {index.name!r}"
            if index.kind != "input":
                kind = {"param": "a param", "op": "a node"}.get(index.kind, index.kind)
                raise self.refuse(
                    f"{where} is {kind}; an index must be an input (graph.inputs) holding"
                    " whole numbers",
                    tree,
                )
            if axis >= len(target.shape):
                break  # the shape check says what is wrong
            values = np.asarray(self.inputs[index.name])
            size = target.shape[axis]
            flat = values.reshape(-1)
            for bad, problem in (
                (flat != np.floor(flat), "is not a whole number"),
                ((flat < 0) | (flat >= size), "is out of range"),
            ):
                hits = np.flatnonzero(bad)
                if hits.size:
                    k = int(hits[0])
                    at = "" if not values.shape else element_index(k, values.shape)
                    side = "rows" if axis == 0 else "columns"
                    raise self.refuse(
                        f"{where}: {index.name}{at} = {flat[k]:g} {problem}; expected a whole"
                        f" number from 0 to {size - 1} ({target.name if target.named else 'it'}"
                        f" has {size} {side})",
                        tree,
                    )

    def _op(
        self,
        name: str | None,
        opname: str,
        args: tuple[Node, ...],
        attrs: dict[str, float],
        named: bool,
        text: str,
        tree: ex.Apply | None = None,
    ) -> Node:
        op = OPS[opname]
        # A sub-expression is reported by its text: that is what the user wrote.
        what = name if named and name is not None else text
        try:
            shape = op.shape(*(a.shape for a in args), **attrs)
        except ShapeError as e:
            shown = opname if named else ex.excerpt(what)
            raise self.refuse(f"{shown}: {e}", tree) from None
        if math.prod(shape) > MAX_NODE_ELEMENTS:
            raise PlaceError(
                self.place,
                f"{self.line}: {ex.excerpt(what)} would have shape {_shape_text(shape)},"
                f" more than {MAX_NODE_ELEMENTS:,} elements",
            )
        return self.add(
            Node(
                name if name is not None else self.names.next(),
                "op",
                opname,
                tuple(a.name for a in args),
                attrs,
                shape,
                named=named,
                source=self.place,
                text=text,
            )
        )

    def _resolve(self, n: ex.Name) -> Node:
        node = self.by_name.get(n.id)
        if node is None or not node.named or node.kind == "const":
            defined = [k for k, v in self.by_name.items() if v.named and v.kind != "const"]
            shown = ", ".join(defined[:SHOWN_NAMES]) or "nothing"
            if len(defined) > SHOWN_NAMES:
                shown += f", … ({len(defined) - SHOWN_NAMES} more)"
            raise PlaceError(
                self.place,
                f"{self.line}: undefined name {n.id!r}; defined before this line: {shown}",
            )
        return node

    def _const(self, c: ex.Const) -> Node:
        # Named by its source text, which (unlike an identifier) no user name can be;
        # the value travels in attrs, so -0.0 keeps its sign and 1e999 stays inf.
        node = self.by_name.get(c.text)
        if node is None:
            node = self.add(
                Node(c.text, "const", attrs={"value": c.value}, shape=(), source=self.place)
            )
        return node


def _with_depths(nodes: list[Node]) -> list[Node]:
    depth: dict[str, int] = {}
    out = []
    for n in nodes:
        d = 0 if n.is_leaf else 1 + max(depth[i] for i in n.inputs)
        depth[n.name] = d
        out.append(_replace_layer(n, d))
    return out


def _replace_layer(n: Node, layer: int) -> Node:
    return Node(n.name, n.kind, n.op, n.inputs, n.attrs, n.shape, n.named, layer, n.source, n.text)


def _shape_text(shape: tuple[int, ...]) -> str:
    return (
        "()"
        if not shape
        else "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    )
