"""The graph pane's plan: the static part of a drawing, and what builds it.

A :class:`Plan` holds the characters, their roles and the places where a frame's numbers
go (:class:`Slot`); :class:`Canvas` is what the renderings (:mod:`.boxes`, :mod:`.listing`,
:mod:`.neurons`) draw one on; :class:`Spec` says which rendering, at which detail. Pure:
no Textual.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import msgspec

from engine import fmt
from engine.graph.graph import Graph, Node
from engine.graph.ops import OPS

GRAD_PREFIX = "∂L "
"""Starts a gradient's line in a box."""
LIVE_PREFIX = "∂ "
"""Starts a number that is a gradient where one line shows a value or a gradient."""
ARROW = "▸"
"""The head of an edge (flowing right)."""
MARKER = "▶"
"""Marks the current event's node: a glyph, so that it shows without colour too."""
SUMMARY_WIDTH = 44
"""The most characters :func:`engine.fmt.fit` needs for a summary (norm and range)."""
TAG_TEXT = 24
"""A sub-expression's text is shown beside its short name when at most this long."""


class Slot(msgspec.Struct, frozen=True):
    """A place for text that changes with the frame.

    Attributes:
        y: Row.
        x: First column.
        w: Width: the text is fitted to it.
        node: Whose number.
        kind: ``"value"``, ``"grad"``, ``"live"`` (the value, or the gradient once the
            backward pass has it), ``"unit"`` (a neuron's one line: its activation, or
            its gradient in the backward pass, labelled), ``"weight"`` (an edge's weight,
            or its gradient while the backward pass computes it) or ``"band"`` (a weight
            band's title).
        index: The element shown (neuron view), on top of the sample; ``()``: all of it.
        align: ``"left"``, or ``"center"`` (the grid shows around a shorter text).
    """

    y: int
    x: int
    w: int
    node: str
    kind: str
    index: tuple[int, ...] = ()
    align: str = "left"


class WeightEdge(msgspec.Struct, frozen=True):
    """One weight of the neuron view, drawn as a line between two units.

    Attributes:
        param: The weight matrix (``W1``).
        index: ``(i, j)``: from unit ``i`` of the layer before to unit ``j``.
        cells: ``(row, column)`` of each cell its line passes through.
    """

    param: str
    index: tuple[int, int]
    cells: tuple[tuple[int, int], ...]


Cell = tuple[int, int]
Span3 = tuple[int, int, int]


class Plan(msgspec.Struct, frozen=True, eq=False):
    """Everything static about one rendering of a graph (compared by identity: it keeps
    caches).

    Attributes:
        graph: The graph drawn.
        view: ``"neurons"`` or ``"layers"`` (what the view key switches between; an
            expression graph is always ``"layers"``).
        style: ``"neurons"``, ``"boxes"`` or ``"list"``.
        name: The rendering, in words (``"boxes with values and gradients"``).
        width: Columns of the drawing.
        height: Rows of the drawing.
        grid: The static characters, one string a row.
        styled: Per row, static ``(start, end, role)`` ranges; roles name palette styles.
        slots: Per row, the slots on it.
        hits: ``(x, y, w, h, node)``: a click inside selects the node (first match).
        lines: For each node, by kind (``"value"``, ``"grad"``, ``"live"``), the
            ``(row, start, width)`` ranges highlighted when its event is the current one.
        labels: For each node, the ``(row, start, end)`` ranges of its name.
        marks: For each node, by kind as in ``lines`` (``""``: any), the cells where the
            current event's marker goes.
        boxes: For each node, the ``(x, y, w, h)`` of the box around it.
        edges: For each ``(input, consumer)`` pair drawn, the cells of its edge.
        weights: The neuron view's weight edges.
        order: The nodes in reading order (up/down walk it).
        per_sample: Whether numbers are one sample's (the neuron view).
    """

    graph: Graph
    view: str
    style: str
    name: str
    width: int
    height: int
    grid: tuple[str, ...]
    styled: tuple[tuple[tuple[int, int, str], ...], ...]
    slots: tuple[tuple[Slot, ...], ...]
    hits: tuple[tuple[int, int, int, int, str], ...]
    lines: Mapping[str, Mapping[str, tuple[Span3, ...]]]
    labels: Mapping[str, tuple[Span3, ...]]
    marks: Mapping[str, Mapping[str, tuple[Cell, ...]]]
    boxes: Mapping[str, tuple[int, int, int, int]]
    edges: Mapping[tuple[str, str], tuple[Cell, ...]]
    weights: tuple[WeightEdge, ...]
    order: tuple[str, ...]
    per_sample: bool = False
    cache: dict = msgspec.field(default_factory=dict)
    """Render caches that live as long as the plan (styled static spans per palette)."""

    def fits(self, width: int, height: int) -> bool:
        """Whether the whole drawing fits in ``width`` × ``height`` cells."""
        return self.width <= width and self.height <= height

    def node_at(self, x: int, y: int) -> str | None:
        """The node drawn at ``(x, y)``, if any."""
        for hx, hy, hw, hh, node in self.hits:
            if hx <= x < hx + hw and hy <= y < hy + hh:
                return node
        return None

    def area(self, node: str) -> tuple[int, int, int, int] | None:
        """``(x, y, w, h)`` around everything that shows ``node`` (to scroll it into view)."""
        cells = [(x, y, w, 1) for kind in self.lines.get(node, {}).values() for y, x, w in kind]
        cells += [(x0, y, x1 - x0, 1) for y, x0, x1 in self.labels.get(node, ())]
        cells += [(x, y, 1, 1) for by_kind in self.marks.get(node, {}).values() for y, x in by_kind]
        if node in self.boxes:
            cells.append(self.boxes[node])
        if not cells:
            return None
        x0 = min(c[0] for c in cells)
        y0 = min(c[1] for c in cells)
        x1 = max(c[0] + c[2] for c in cells)
        y1 = max(c[1] + c[3] for c in cells)
        return x0, y0, x1 - x0, y1 - y0


class Canvas:
    """A plan being drawn: characters, roles, slots and where each node is."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.cells = [[" "] * width for _ in range(height)]
        self.styled: list[list[tuple[int, int, str]]] = [[] for _ in range(height)]
        self.slots: list[list[Slot]] = [[] for _ in range(height)]
        self.hits: list[tuple[int, int, int, int, str]] = []
        self.lines: dict[str, dict[str, list[Span3]]] = {}
        self.labels: dict[str, list[Span3]] = {}
        self.marks: dict[str, dict[str, list[Cell]]] = {}
        self.boxes: dict[str, tuple[int, int, int, int]] = {}
        self.edges: dict[tuple[str, str], tuple[Cell, ...]] = {}
        self.weights: list[WeightEdge] = []

    def put(self, y: int, x: int, text: str, role: str = "") -> None:
        row = self.cells[y]
        for i, ch in enumerate(text):
            if 0 <= x + i < self.width:
                row[x + i] = ch
        if role and text:
            self.styled[y].append((x, x + len(text), role))

    def slot(self, slot: Slot) -> None:
        self.slots[slot.y].append(slot)

    def line(self, node: str, kind: str, y: int, x: int, w: int) -> None:
        self.lines.setdefault(node, {}).setdefault(kind, []).append((y, x, w))

    def label(self, node: str, y: int, x: int, text: str, role: str = "label") -> None:
        self.put(y, x, text, role)
        self.labels.setdefault(node, []).append((y, x, x + len(text)))

    def mark(self, node: str, y: int, x: int, kind: str = "") -> None:
        self.marks.setdefault(node, {}).setdefault(kind, []).append((y, x))

    def freeze(
        self,
        graph: Graph,
        view: str,
        style: str,
        name: str,
        order: Sequence[str],
        *,
        per_sample: bool = False,
    ) -> Plan:
        return Plan(
            graph=graph,
            view=view,
            style=style,
            name=name,
            width=self.width,
            height=self.height,
            grid=tuple("".join(r) for r in self.cells),
            styled=tuple(tuple(_merge(r)) for r in self.styled),
            slots=tuple(tuple(sorted(r, key=lambda s: s.x)) for r in self.slots),
            hits=tuple(self.hits),
            lines={n: {k: tuple(v) for k, v in d.items()} for n, d in self.lines.items()},
            labels={n: tuple(v) for n, v in self.labels.items()},
            marks={n: {k: tuple(v) for k, v in d.items()} for n, d in self.marks.items()},
            boxes=dict(self.boxes),
            edges=dict(self.edges),
            weights=tuple(self.weights),
            order=tuple(order),
            per_sample=per_sample,
        )


def _merge(ranges: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Join touching ranges of one role; borders first, so that titles over them win."""
    out: list[tuple[int, int, str]] = []
    for start, end, role in sorted(ranges, key=lambda r: (r[2] != "border", r[0])):
        if out and out[-1][2] == role and out[-1][1] == start:
            out[-1] = (out[-1][0], end, role)
        else:
            out.append((start, end, role))
    return out


class Spec(msgspec.Struct, frozen=True):
    """One way to draw a graph.

    Attributes:
        style: ``"neurons"``, ``"boxes"`` or ``"list"``.
        name: In words, for the pane's subtitle.
        numbers: ``"full"`` (value and gradient lines), ``"live"`` (one line a node),
            ``"brief"`` (a list's value and gradient without formulas) or ``"none"``.
        budget: The most characters a tensor's text may take.
        folded: A list with one line per layer instead of per node.
        tags: Boxes show a sub-expression's text in their border.
        unit_lines: Lines per unit in the neuron view (6, 4, 2 or 1).
        bare: Boxes without borders: a node (or a layer's nodes) as a line of text.
        vertical: Bare boxes in rows from top to bottom instead of columns.
    """

    style: str
    name: str
    numbers: str = "full"
    budget: int = fmt.NUM_WIDTH
    folded: bool = False
    tags: bool = False
    unit_lines: int = 0
    bare: bool = False
    vertical: bool = False


def count_layers(graph: Graph) -> int:
    return max((n.layer for n in graph.nodes if n.kind == "param"), default=0)


def widest(shape: Sequence[int], budget: int) -> int:
    """The most characters :func:`engine.fmt.fit` can write for a tensor of ``shape``,
    within ``budget``."""
    size = math.prod(shape)
    if size <= 1:
        return min(budget, fmt.NUM_WIDTH)
    if size <= fmt.MAX_ELEMS:
        # Each element NUM_WIDTH; ", " between elements, "[" "]" per sub-list.
        lists = 1
        for k in range(len(shape) - 1):
            lists += math.prod(shape[: k + 1])
        full = size * fmt.NUM_WIDTH + 2 * (size - 1) + 2 * lists
        return min(budget, max(full, SUMMARY_WIDTH))
    return min(budget, SUMMARY_WIDTH)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def formula(graph: Graph, node: Node) -> str:
    """How ``node`` is computed, in terms of its inputs' names: ``x @ W1 + b1``,
    ``tanh(z1)``, ``t1 + b``; for a leaf its kind."""
    if node.kind != "op":
        return node.kind
    op = OPS[node.op or "identity"]
    text = op.formula
    attrs = node.attrs
    if "{p}" in text:
        p = float(attrs.get("p", 1.0))
        power = str(int(p)).translate(_SUPERSCRIPT) if p.is_integer() and abs(p) < 100 else ""
        text = text.replace("^{p}", power or "^" + fmt.num(p))
    for k, name in enumerate(node.inputs):
        text = text.replace("{" + str(k) + "}", name)
    if len(text) > TAG_TEXT or "{" in text:
        text = f"{op.name}({', '.join(node.inputs)})"
    return text
