"""Where the graph pane puts everything: a graph and the pane's room → a :class:`Plan`.

Pure (no Textual): a plan is the static part of the picture — characters, their roles,
and where each number goes — computed once per graph, view and room, so that a step only
fills in numbers and highlights (:mod:`.render`).

The pane always shows the whole graph. :func:`choose` tries renderings from the most
detailed to the least and takes the first that fits the room:

- **neurons** (layered networks with at most :data:`MAX_UNITS` units a layer): every unit
  a node with its numbers, every weight an edge between them;
- **boxes**: the computation graph in columns, one box per node (a layered network: one
  per layer, holding ``W b z a``), edges routed between them; with values and gradients,
  then with one number a node, then names only;
- **a list**: one line per node (or per layer), in the order the forward pass computes
  them, wrapped into columns when it is taller than the pane.

Zooming in takes the renderings before the one that fits (more detail, larger than the
pane); the widget scrolls over them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import msgspec

from engine import fmt
from engine.graph import Graph, Node
from engine.ops import OPS

MAX_UNITS = 10
"""The widest layer (inputs included) the neuron view draws unit by unit."""
GRAD_PREFIX = "∂L "
"""Starts a gradient's line in a box."""
LIVE_PREFIX = "∂ "
"""Starts a number that is a gradient where one line shows a value or a gradient."""
ARROW = "▸"
MARKER = "▶"
"""Marks the current event's node: a glyph, so that it shows without colour too."""
SUMMARY_WIDTH = 44
"""The most characters :func:`engine.fmt.fit` needs for a summary (norm and range)."""
TAG_TEXT = 24
"""A sub-expression's text is shown in its box's border when at most this long."""
ROW_GAP = 1
"""Blank rows between two boxes of a column."""
COLUMN_SEP = " │ "
"""Between the columns of a wrapped list."""


# --- the plan ------------------------------------------------------------------------------


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


class _Canvas:
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


# --- the renderings, most detailed first ----------------------------------------------------


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


NEURON_SPECS = (
    Spec("neurons", "neurons: bias, sum, activation and their gradients", unit_lines=6),
    Spec("neurons", "neurons: sum, activation and their gradients", unit_lines=4),
    Spec("neurons", "neurons: activation and error signal", unit_lines=2),
    Spec("neurons", "neurons: one number each", numbers="live", unit_lines=1),
)
LAYER_SPECS = (
    Spec("boxes", "boxes with values and gradients", budget=48, tags=True),
    Spec("boxes", "boxes with values and gradients", budget=28, tags=True),
    Spec("boxes", "boxes with values and gradients"),
    Spec("boxes", "boxes, one number each", numbers="live"),
    Spec(
        "boxes",
        "top to bottom, one number each",
        numbers="live",
        bare=True,
        vertical=True,
        tags=True,
    ),
    Spec("boxes", "top to bottom, one number each", numbers="live", bare=True, vertical=True),
    Spec("list", "list with formulas, values and gradients", budget=28),
    Spec("list", "list with values and gradients", numbers="brief"),
    Spec("list", "list, one number each", numbers="live"),
    Spec("list", "list by layer, one number each", numbers="live", folded=True),
    Spec("boxes", "names", numbers="none", bare=True),
    Spec("boxes", "names, top to bottom", numbers="none", bare=True, vertical=True),
    Spec("list", "names", numbers="none", folded=True),
)


def neurons_possible(graph: Graph) -> bool:
    """Whether ``graph`` is a layered network small enough to draw unit by unit."""
    if graph.kind != "model":
        return False
    widths = [graph["x"].shape[1]] + [
        graph[f"z{k}"].shape[1] for k in range(1, _n_layers(graph) + 1)
    ]
    return max(widths) <= MAX_UNITS


def specs(graph: Graph, view: str) -> tuple[Spec, ...]:
    """The renderings tried for ``view``, most detailed first."""
    out: tuple[Spec, ...] = LAYER_SPECS
    if graph.kind != "model":
        out = tuple(s for s in out if not s.folded or s.numbers == "none")
    if view == "neurons" and neurons_possible(graph):
        out = NEURON_SPECS + out
    return out


def build(graph: Graph, spec: Spec, rows: int, columns: int = 0) -> Plan:
    """The plan of ``graph`` drawn as ``spec`` says; a list wraps into columns of at most
    ``rows`` lines; neurons spread their weights' lines over up to ``columns``."""
    if spec.style == "neurons":
        return _neurons(graph, spec, columns)
    if spec.style == "boxes":
        return _boxes(graph, spec)
    return _listing(graph, spec, max(1, rows))


def choose(
    graph: Graph,
    width: int,
    height: int,
    *,
    view: str = "neurons",
    zoom: int = 0,
    cache: dict | None = None,
) -> tuple[Plan, int, int]:
    """The rendering of ``graph`` for a pane of ``width`` × ``height`` cells.

    The first of :func:`specs` that fits is the overview; ``zoom`` steps back towards
    the most detailed (drawings larger than the pane, for the widget to scroll).

    Args:
        graph: The graph.
        width: Columns the pane has.
        height: Rows the pane has.
        view: ``"neurons"`` or ``"layers"``.
        zoom: How many renderings more detailed than the overview.
        cache: Plans already built, kept by the caller between calls (for this graph).

    Returns:
        The plan, its index among :func:`specs`, and the overview's index. When nothing
        fits, the overview is the last (most compact) rendering.
    """
    cache = {} if cache is None else cache
    candidates = specs(graph, view)

    def plan(i: int) -> Plan:
        spec = candidates[i]
        key = (
            spec,
            height if spec.style == "list" else 0,
            width if spec.style == "neurons" else 0,
        )
        got = cache.get(key)
        if got is None:
            got = cache[key] = build(graph, spec, height, width)
        return got

    def fits(i: int) -> bool:
        spec = candidates[i]
        if spec.style == "boxes":
            bound = cache.get(("bound", spec))
            if bound is None:
                bound = cache[("bound", spec)] = box_bound(graph, spec)
            if bound[0] > width or bound[1] > height:
                return False
        return plan(i).fits(width, height)

    overview = len(candidates) - 1
    for i in range(len(candidates)):
        if fits(i):
            overview = i
            break
    index = max(0, overview - zoom)
    return plan(index), index, overview


# --- helpers shared by the renderings -------------------------------------------------------


def _n_layers(graph: Graph) -> int:
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


# --- boxes ----------------------------------------------------------------------------------


class _Group(msgspec.Struct):
    """A box: one node, or a layer of a layered network."""

    key: str
    title: str
    tag: str
    foot: str
    members: tuple[str, ...]
    labelled: bool


def _groups(graph: Graph, spec: Spec) -> list[_Group]:
    """The boxes of ``graph``, in graph order."""
    groups: dict[str, list[str]] = {}
    if graph.kind == "model":
        layers = _n_layers(graph)
        for n in graph.nodes:
            grouped = 1 <= n.layer <= layers and n.name != graph.loss
            groups.setdefault(f"layer {n.layer}" if grouped else n.name, []).append(n.name)
    else:
        for n in graph.nodes:
            groups[n.name] = [n.name]
    out = []
    for key, members in groups.items():
        nodes = [graph[m] for m in members]
        if len(members) == 1:
            n = nodes[0]
            tag = n.kind if n.is_leaf else (n.op or "")
            if spec.tags and n.kind == "op" and not n.named and len(n.text) <= TAG_TEXT:
                tag = n.text  # a sub-expression: what it computes, beside its short name
            foot = fmt.shape(n.shape) if n.shape else ""
            out.append(_Group(key, n.name, tag, foot, (n.name,), False))
        else:
            # A layer box: W, b, z, a in the textbook's order, titled by fan-in → units.
            rank = {"param": 0, "op": 1}
            ordered = tuple(
                sorted(members, key=lambda m: (rank.get(graph[m].kind, 2), members.index(m)))
            )
            weights = [n for n in nodes if n.kind == "param" and len(n.shape) == 2]
            foot = f"{weights[0].shape[0]}→{weights[0].shape[1]}" if weights else ""
            ops = [n.op for n in nodes if n.op is not None]
            out.append(_Group(key, key, ops[-1] if ops else "", foot, ordered, True))
    return out


class _Item(msgspec.Struct):
    """A box or a dummy point (where a long edge crosses a column) being placed."""

    key: str
    col: int
    w: int
    h: int
    dummy: bool
    y: int = 0
    pos: float = 0.0


class _Seg(msgspec.Struct):
    """One hop of one or more edges between adjacent columns."""

    src: str
    src_off: int
    dst: str
    dst_off: int
    edges: set[int]


_N, _E, _S, _W = 1, 2, 4, 8
_JOIN = {
    _E: "─", _W: "─", _E | _W: "─",
    _N: "│", _S: "│", _N | _S: "│",
    _E | _S: "╭", _S | _W: "╮", _N | _E: "╰", _N | _W: "╯",
    _N | _S | _E: "├", _N | _S | _W: "┤", _E | _W | _S: "┬", _E | _W | _N: "┴",
    _N | _E | _S | _W: "┼",
}  # fmt: skip


class _BoxItems(msgspec.Struct):
    """The boxes of a drawing before they are placed: what each holds and its size."""

    groups: list[_Group]
    box_of: dict[str, str]
    col: dict[str, int]
    pairs: list[tuple[str, str]]
    in_edges: dict[str, list[int]]
    items: dict[str, _Item]
    port: dict[str, int]
    """Member -> offset across the flow where its edges attach."""
    rows_of: dict[str, list[tuple[str, str]]]
    """Bordered box -> ``(member, kind)`` a row."""
    label_w: dict[str, int]
    pieces: dict[str, list[tuple[str, int, int, int]]]
    """Bare box -> ``(member, row, column, slot width)``."""


def _box_items(graph: Graph, spec: Spec) -> _BoxItems:
    """Each box's contents, size (in :func:`_boxes`' abstract coordinates) and column."""
    groups = _groups(graph, spec)
    bare, vertical = spec.bare, spec.vertical
    box_of = {m: g.key for g in groups for m in g.members}
    grads = graph.grad_nodes

    col: dict[str, int] = {}
    for g in groups:
        ops = [graph[m].layer for m in g.members if graph[m].kind == "op"]
        if ops:
            col[g.key] = max(ops)
    for g in groups:
        if g.key not in col:
            uses = [
                col[box_of[c]] for m in g.members for c in graph.consumers[m] if box_of[c] != g.key
            ]
            col[g.key] = max(0, min(uses) - 1) if uses else 0
    if vertical and graph.kind == "model":
        col["y"] = 0  # the data on top, inputs beside targets: the rows are wide already

    pairs: list[tuple[str, str]] = []
    for node in graph.nodes:
        for name in dict.fromkeys(node.inputs):
            if box_of[name] != box_of[node.name]:
                pairs.append((name, node.name))
    in_edges: dict[str, list[int]] = {}
    for k, (_, v) in enumerate(pairs):
        in_edges.setdefault(v, []).append(k)

    items: dict[str, _Item] = {}
    port: dict[str, int] = {}
    rows_of: dict[str, list[tuple[str, str]]] = {}
    label_w: dict[str, int] = {}
    pieces: dict[str, list[tuple[str, int, int, int]]] = {}
    for g in groups:
        if bare:
            # A line per member; top to bottom, two members a line: " name number".
            parts: list[tuple[str, int, int, int]] = []
            real_w = 0
            per_line = 2 if vertical else 1
            for i, m in enumerate(g.members):
                sw = 0
                if spec.numbers != "none" and graph[m].kind != "const":  # "2" says it all
                    sw = widest(graph[m].shape, spec.budget) + len(LIVE_PREFIX)
                text_w = len(_pill_name(graph, m, spec)) + (1 + sw if sw else 0)
                line, place = divmod(i, per_line)
                x_off = 1
                if place:
                    prev = _pill_name(graph, parts[-1][0], spec)
                    x_off = parts[-1][2] + len(prev) + (1 + parts[-1][3] if parts[-1][3] else 0) + 2
                parts.append((m, line, x_off, sw))
                real_w = max(real_w, x_off + text_w)
                if vertical:
                    # Edges meet a line at its start: lines stack straight down.
                    port[m] = 1 + len(g.members[0]) // 2
                else:
                    port[m] = line
            pieces[g.key] = parts
            real_h = parts[-1][1] + 1
        else:
            rows: list[tuple[str, str]] = []
            lw = max(len(m) for m in g.members) + 1 if g.labelled else 0
            if g.labelled and spec.numbers == "full":
                lw = max(lw, len(GRAD_PREFIX))
            inner = 0
            for m in g.members:
                port[m] = 1 + len(rows)
                sw = widest(graph[m].shape, spec.budget)
                if spec.numbers == "live":
                    rows.append((m, "live"))
                    inner = max(inner, lw + len(LIVE_PREFIX) + sw)
                else:
                    rows.append((m, "value"))
                    inner = max(inner, lw + sw)
                    if m in grads:
                        rows.append((m, "grad"))
                        inner = max(inner, max(lw, len(GRAD_PREFIX)) + sw)
            if not g.labelled:
                while len(rows) < len(in_edges.get(g.members[0], ())):
                    rows.append((g.members[0], ""))  # one in-port per incoming edge
            rows_of[g.key] = rows
            label_w[g.key] = lw
            head = len(g.title) + 4 + (len(g.tag) + 3 if g.tag else 1)
            foot = len(g.foot) + 6 if g.foot else 0
            real_w, real_h = max(inner + 4, head, foot), len(rows) + 2
        w, h = (real_h, real_w) if vertical else (real_w, real_h)
        items[g.key] = _Item(g.key, col[g.key], w, h, False)

    return _BoxItems(groups, box_of, col, pairs, in_edges, items, port, rows_of, label_w, pieces)


def box_bound(graph: Graph, spec: Spec) -> tuple[int, int]:
    """Width and height that :func:`_boxes` needs at least for ``spec``: the widest box
    of each column and the narrowest gaps, the boxes of the tallest column stacked. Much
    cheaper than the drawing, so that a large graph's renderings that cannot fit are not
    drawn to find it out."""
    b = _box_items(graph, spec)
    columns: dict[int, list[_Item]] = {}
    for it in b.items.values():
        columns.setdefault(it.col, []).append(it)
    ncols = max(columns) + 1
    along = sum(max((it.w for it in columns.get(c, ())), default=0) for c in range(ncols))
    along += (ncols - 1) * (1 if spec.vertical else 3)
    gap = 2 if spec.vertical else (0 if spec.bare else ROW_GAP)
    across = max(sum(it.h for it in c) + gap * (len(c) - 1) for c in columns.values())
    return (across, along) if spec.vertical else (along, across)


def _boxes(graph: Graph, spec: Spec) -> Plan:
    """Boxes in columns (Sugiyama-style: dummy points for long edges, barycenter ordering,
    placement along the column by isotonic regression), edges routed between them.

    Columns follow :attr:`Node.layer`: an op box sits in its layer's column; a box of
    leaves sits just before its first consumer, so that parameters and constants stand
    next to where they are used instead of all crowding the first column. With
    ``spec.vertical`` the same placement is turned a quarter: columns become rows, from
    the top down, and each box is one line of text.

    Placement works on abstract coordinates: ``col`` along the flow, ``y`` across it,
    an item's ``w`` along the flow and ``h`` across it.
    """
    b = _box_items(graph, spec)
    groups, box_of, col, pairs = b.groups, b.box_of, b.col, b.pairs
    in_edges, items, port = b.in_edges, b.items, b.port
    rows_of, label_w, pieces = b.rows_of, b.label_w, b.pieces
    bare, vertical = spec.bare, spec.vertical

    def in_off(k: int) -> int:
        v = pairs[k][1]
        if bare:
            return port[v]
        return min(port[v] + in_edges[v].index(k), items[box_of[v]].h - 2)

    segs: dict[tuple[str, int, str, int], _Seg] = {}

    def hop(a: str, a_off: int, b: str, b_off: int, k: int) -> None:
        seg = segs.setdefault((a, a_off, b, b_off), _Seg(a, a_off, b, b_off, set()))
        seg.edges.add(k)

    for k, (u, v) in enumerate(pairs):
        a, a_off = box_of[u], port[u]
        c0, c1 = col[box_of[u]], col[box_of[v]]
        for c in range(c0 + 1, c1):
            d = f"\0{u}@{c}"
            items.setdefault(d, _Item(d, c, 0, 1, True))
            hop(a, a_off, d, 0, k)
            a, a_off = d, 0
        hop(a, a_off, box_of[v], in_off(k), k)

    # Order within columns: graph order, then barycenter sweeps to reduce crossings.
    ncols = max(col.values()) + 1
    columns: list[list[_Item]] = [[] for _ in range(ncols)]
    rank = {g.key: i for i, g in enumerate(groups)}
    for item in items.values():
        columns[item.col].append(item)
    preds: dict[str, list[_Seg]] = {k: [] for k in items}
    succs: dict[str, list[_Seg]] = {k: [] for k in items}
    for seg in segs.values():
        succs[seg.src].append(seg)
        preds[seg.dst].append(seg)
    for column in columns:
        column.sort(key=lambda it: rank.get(it.key, len(rank)))
        for i, it in enumerate(column):
            it.pos = i
    for sweep in range(4):
        forward = sweep % 2 == 0
        cols = range(1, ncols) if forward else range(ncols - 2, -1, -1)
        for c in cols:
            column = columns[c]
            for it in column:
                near = (
                    [items[s.src] for s in preds[it.key]]
                    if forward
                    else [items[s.dst] for s in succs[it.key]]
                )
                if near:
                    it.pos = sum(n.pos for n in near) / len(near)
            column.sort(key=lambda it: it.pos)
            for i, it in enumerate(column):
                it.pos = i

    # Placement across the flow: stack each column, then pull items towards their
    # neighbours' ports without breaking the order (isotonic regression: optimal, cheap).
    gap = 2 if vertical else (0 if bare else ROW_GAP)
    for column in columns:
        y = 0
        for it in column:
            it.y = y
            y += it.h + gap
    for sweep in range(6):
        forward = sweep % 2 == 0 or sweep == 5
        cols = range(ncols) if forward else range(ncols - 1, -1, -1)
        for c in cols:
            column = columns[c]
            want = []
            for it in column:
                if forward:
                    ends = [items[s.src].y + s.src_off - s.dst_off for s in preds[it.key]]
                else:
                    ends = [items[s.dst].y + s.dst_off - s.src_off for s in succs[it.key]]
                want.append(sum(ends) / len(ends) if ends else float(it.y))
            _place(column, want, gap)
    top_y = min(it.y for it in items.values())
    for it in items.values():
        it.y -= top_y

    # Columns' place along the flow: the widest item, then a gap wide enough for one
    # channel per fanning source.
    col_w = [max((it.w for it in column), default=1) for column in columns]
    gap_segs: list[list[_Seg]] = [[] for _ in range(ncols)]
    for seg in segs.values():
        gap_segs[items[seg.src].col].append(seg)
    channels = [_channels(gap_segs[c], items) for c in range(ncols)]
    col_x = [0] * ncols
    x = 0
    for c in range(ncols):
        col_x[c] = x
        if c < ncols - 1:
            used = 1 + max(channels[c].values(), default=-1)
            # Top to bottom, channels are rows right under the sources, then the arrows.
            x += col_w[c] + (used + 1 if vertical else max(3, 2 * used + 2))
        else:
            x += col_w[c]
    across = max(it.y + it.h for it in items.values())
    canvas = _Canvas(across, x) if vertical else _Canvas(x, across)

    def at(it: _Item) -> tuple[int, int, int, int]:
        """An item's real ``(x, y, w, h)``."""
        if vertical:
            return it.y, col_x[it.col], it.h, it.w
        return col_x[it.col], it.y, it.w, it.h

    for g in groups:
        it = items[g.key]
        bx, by, bw, bh = at(it)
        if bare:
            for m, row, x_off, sw in pieces[g.key]:
                ry, rx = by + row, bx + x_off
                text = _pill_name(graph, m, spec)
                canvas.label(m, ry, rx, m, "title")
                canvas.put(ry, rx + len(m), text[len(m) :], "tag")
                canvas.mark(m, ry, rx - 1)
                end = rx + len(text) + (1 + sw if sw else 0)
                canvas.hits.append((rx - 1, ry, end - rx + 1, 1, m))
                if sw:
                    canvas.slot(Slot(ry, rx + len(text) + 1, sw, m, "live"))
                canvas.line(m, "live", ry, rx, end - rx)
            continue
        _draw_box(canvas, bx, by, bw, bh, g)
        for m in g.members:
            canvas.boxes[m] = (bx, by, bw, bh)
        if not g.labelled:
            m = g.members[0]
            canvas.labels[m] = [(by, bx + 2, bx + 2 + len(g.title))]
            canvas.mark(m, by, bx + 1)
            canvas.hits.append((bx, by, bw, bh, m))
        inner_x, inner_w = bx + 2, bw - 4
        lw = label_w[g.key]
        member_rows: dict[str, list[int]] = {}
        for r, (m, kind) in enumerate(rows_of[g.key]):
            row = by + 1 + r
            if not kind:
                continue
            member_rows.setdefault(m, []).append(row)
            x0 = inner_x + lw
            if kind in ("value", "live") and g.labelled:
                canvas.label(m, row, inner_x, m)
                canvas.mark(m, row, bx + 1)
            elif kind == "grad":
                canvas.put(row, inner_x, GRAD_PREFIX)
                canvas.styled[row].append((inner_x, inner_x + len(GRAD_PREFIX) - 1, "grad_prefix"))
                x0 = inner_x + max(lw, len(GRAD_PREFIX))
            canvas.slot(Slot(row, x0, inner_x + inner_w - x0, m, kind))
            canvas.line(m, kind, row, inner_x, inner_w)
        if g.labelled:
            # A click anywhere in a layer box picks the member whose lines are nearest.
            for m, rs in member_rows.items():
                lo = by if m == g.members[0] else min(rs)
                hi = by + bh if m == g.members[-1] else max(rs) + 1
                canvas.hits.append((bx, lo, bw, hi - lo, m))

    _route(canvas, items, segs, gap_segs, channels, col_x, col_w, ncols, pairs, bare, vertical)
    ordered = sorted(groups, key=lambda g: (items[g.key].col, items[g.key].y))
    order = [m for g in ordered for m in g.members]
    return canvas.freeze(graph, "layers", "boxes", spec.name, order)


def _pill_name(graph: Graph, name: str, spec: Spec) -> str:
    """A node's name in a borderless box: a sub-expression's with its text where the
    rendering has room (``t1 = W * x``)."""
    node = graph[name]
    if spec.tags and node.kind == "op" and not node.named and len(node.text) <= TAG_TEXT:
        return f"{name} = {node.text}"
    return name


def _route(
    canvas: _Canvas,
    items: dict[str, _Item],
    segs: dict[tuple[str, int, str, int], _Seg],
    gap_segs: list[list[_Seg]],
    channels: list[dict[tuple[str, int], int]],
    col_x: list[int],
    col_w: list[int],
    ncols: int,
    pairs: list[tuple[str, str]],
    bare: bool,
    vertical: bool,
) -> None:
    """Draw the edges as direction bits turned into box-drawing characters.

    Routes are found in the abstract coordinates of :func:`_boxes` (``(across, along)``
    cells) and turned a quarter for a vertical drawing.
    """
    dirs: dict[Cell, int] = {}
    owners: dict[Cell, set[int]] = {}
    arrows: set[Cell] = set()
    out_ports: set[Cell] = set()
    preds: dict[str, list[_Seg]] = {}
    for seg in segs.values():
        preds.setdefault(seg.dst, []).append(seg)

    def link(a: Cell, b: Cell, ks: set[int]) -> None:
        """A straight run from cell a to cell b (same row or same column)."""
        (r0, c0), (r1, c1) = a, b
        if r0 == r1:
            lo, hi = sorted((c0, c1))
            cells = [(r0, c) for c in range(lo, hi + 1)]
            bits = (_E, _W)
        else:
            lo, hi = sorted((r0, r1))
            cells = [(r, c0) for r in range(lo, hi + 1)]
            bits = (_S, _N)
        for i, cell in enumerate(cells):
            owners.setdefault(cell, set()).update(ks)
            if i + 1 < len(cells):
                dirs[cell] = dirs.get(cell, 0) | bits[0]
                nxt = cells[i + 1]
                dirs[nxt] = dirs.get(nxt, 0) | bits[1]
            elif len(cells) == 1:
                dirs[cell] = dirs.get(cell, 0) | bits[0] | bits[1]

    for it in items.values():
        if it.dummy:
            ks = set().union(*(s.edges for s in preds.get(it.key, ())))
            x0 = col_x[it.col]
            link((it.y, x0 - 1), (it.y, x0 + col_w[it.col]), ks)
    for c in range(ncols - 1):
        gx0 = col_x[c] + col_w[c]
        if vertical:
            chan_x = {src: gx0 + i for src, i in channels[c].items()}
        else:
            chan_x = {src: gx0 + 1 + 2 * i for src, i in channels[c].items()}
        for seg in gap_segs[c]:
            a, b = items[seg.src], items[seg.dst]
            sy, dy = a.y + seg.src_off, b.y + seg.dst_off
            sx = col_x[a.col] + a.w if not a.dummy else gx0
            dx = col_x[b.col] - 1
            if not a.dummy and not bare:
                out_ports.add((sy, sx - 1))
            if not b.dummy:
                arrows.add((dy, dx))
            if sy == dy:
                link((sy, sx), (dy, dx), seg.edges)
            else:
                cx = chan_x[(seg.src, seg.src_off)]
                if cx == sx:
                    # The channel runs right under the source: the trunk is one cell.
                    owners.setdefault((sy, sx), set()).update(seg.edges)
                    dirs[(sy, sx)] = dirs.get((sy, sx), 0) | _W
                else:
                    link((sy, sx), (sy, cx), seg.edges)
                link((sy, cx), (dy, cx), seg.edges)
                link((dy, cx), (dy, dx), seg.edges)

    def real(cell: Cell) -> Cell:
        return (cell[1], cell[0]) if vertical else cell

    turn = {_E: _S, _W: _N, _S: _E, _N: _W}
    for cell, bits in dirs.items():
        if vertical:
            bits = sum(turn[b] for b in (_N, _E, _S, _W) if bits & b)
        r, c = real(cell)
        canvas.cells[r][c] = (
            ("▾" if vertical else ARROW) if cell in arrows else _JOIN.get(bits, "─")
        )
        canvas.styled[r].append((c, c + 1, "edge"))
    for cell in out_ports:
        r, c = real(cell)
        canvas.cells[r][c] = "┬" if vertical else "├"
    edge_cells: dict[int, list[Cell]] = {}
    for cell, ks in owners.items():
        for k in ks:
            edge_cells.setdefault(k, []).append(real(cell))
    for k, pair in enumerate(pairs):
        canvas.edges[pair] = tuple(sorted(edge_cells.get(k, ())))


def _place(column: list[_Item], want: Sequence[float], gap: int) -> None:
    """Set ``y`` as near ``want`` as the column's order and spacing allow."""
    offsets = []
    off = 0
    for i, it in enumerate(column):
        offsets.append(off)
        nxt = column[i + 1] if i + 1 < len(column) else None
        between = 0 if nxt is not None and it.dummy and nxt.dummy else gap
        off += it.h + between
    # Pool adjacent violators: the best non-decreasing fit to want - offset.
    blocks: list[list[float]] = []
    for w, o in zip(want, offsets):
        blocks.append([w - o, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, n = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += n
    fit = [s / n for s, n in blocks for _ in range(int(n))]
    for it, f, o in zip(column, fit, offsets):
        it.y = math.floor(f + 0.5) + o


def _channels(segs: list[_Seg], items: dict[str, _Item]) -> dict[tuple[str, int], int]:
    """The channel (0 = nearest the sources) of each source that needs one in a gap.

    A source's trunk runs along its own row to its channel, and its edges leave the
    channel along their destinations' rows; a source whose row is another's destination
    row therefore takes a channel further left, so that the two runs cannot overlap.
    Sources whose channel runs do not overlap share a channel (two edges meeting at one
    destination from either side, for example).
    """
    rows: dict[tuple[str, int], tuple[int, set[int]]] = {}
    for seg in segs:
        src = (seg.src, seg.src_off)
        sy = items[seg.src].y + seg.src_off
        dy = items[seg.dst].y + seg.dst_off
        _, dests = rows.setdefault(src, (sy, set()))
        dests.add(dy)
    bent = [s for s, (sy, dests) in rows.items() if dests != {sy}]
    bent.sort(key=lambda s: rows[s][0])
    # Kahn's walk over "must be left of", ties by source row; cycles fall back to row order.
    before = {s: {t for t in bent if t != s and rows[s][0] in rows[t][1]} for s in bent}
    indeg = {s: 0 for s in bent}
    for s in bent:
        for t in before[s]:
            indeg[t] += 1
    order: list[tuple[str, int]] = []
    ready = [s for s in bent if indeg[s] == 0]
    while ready:
        s = ready.pop(0)
        order.append(s)
        for t in sorted(before[s], key=lambda t: rows[t][0]):
            indeg[t] -= 1
            if indeg[t] == 0:
                ready.append(t)
        ready.sort(key=lambda t: rows[t][0])
    order += [s for s in bent if s not in order]

    def span(s: tuple[str, int]) -> tuple[int, int]:
        sy, dests = rows[s]
        return min(sy, *dests), max(sy, *dests)

    def apart(s: tuple[str, int], t: tuple[str, int]) -> bool:
        (a0, a1), (b0, b1) = span(s), span(t)
        if a1 < b0 or b1 < a0:
            return True
        # Touching at one end, where both only arrive: a join, not a crossing.
        meet = a1 if a1 == b0 else b1 if b1 == a0 else None
        return (
            meet is not None
            and meet in rows[s][1]
            and meet in rows[t][1]
            and meet not in (rows[s][0], rows[t][0])
        )

    channel: dict[tuple[str, int], int] = {}
    for s in order:
        c = 1 + max((channel[t] for t in order if t in channel and s in before[t]), default=-1)
        while any(channel[t] == c and not apart(s, t) for t in channel):
            c += 1
        channel[s] = c
    return channel


def _draw_box(canvas: _Canvas, x: int, y: int, w: int, h: int, g: _Group) -> None:
    head = "╭ " + g.title + " "
    tail = (" " + g.tag + " ╮") if g.tag else "╮"
    canvas.put(y, x, head + "─" * (w - len(head) - len(tail)) + tail, "border")
    canvas.styled[y].append((x + 2, x + 2 + len(g.title), "title"))
    if g.tag:
        canvas.styled[y].append((x + w - len(g.tag) - 2, x + w - 2, "tag"))
    for r in range(y + 1, y + h - 1):
        canvas.put(r, x, "│", "border")
        canvas.put(r, x + w - 1, "│", "border")
    foot = f" {g.foot} ─╯" if g.foot else "╯"
    canvas.put(y + h - 1, x, "╰" + "─" * (w - 1 - len(foot)) + foot, "border")
    if g.foot:
        canvas.styled[y + h - 1].append((x + w - len(g.foot) - 3, x + w - 3, "tag"))


# --- a list ---------------------------------------------------------------------------------


class _Entry(msgspec.Struct):
    """One line of a list: pieces of static text and slots, left to right."""

    members: tuple[str, ...]
    parts: list[tuple[str, str, str, str, int]]
    """``(node, static text, role, slot kind, slot width)``; a slot follows its text."""

    @property
    def width(self) -> int:
        return 2 + sum(len(t) + w for _, t, _, _, w in self.parts)


def _listing(graph: Graph, spec: Spec, rows: int) -> Plan:
    """One line per node (or per layer) in forward order, wrapped into columns of at most
    ``rows`` lines."""
    entries: list[_Entry] = []
    grads = graph.grad_nodes
    if spec.folded:
        for g in _groups(graph, spec):
            parts: list[tuple[str, str, str, str, int]] = []
            if g.labelled:
                parts.append((g.members[0], g.title + " ·", "title", "", 0))
            for m in g.members:
                role = "title" if not g.labelled else "label"
                if spec.numbers == "none":
                    parts.append((m, " " + m, role, "", 0))
                else:
                    sw = widest(graph[m].shape, spec.budget) + len(LIVE_PREFIX)
                    parts.append((m, " " + m + " ", role, "live", sw))
            entries.append(_Entry(g.members, parts))
    else:
        names = [n.name for n in graph.nodes]
        nw = max(len(n) for n in names)
        fw = 0
        if spec.numbers == "full":
            fw = max(len(formula(graph, n)) for n in graph.nodes) + 2
        # One width for every node's numbers, so that they line up.
        sw = max(widest(n.shape, spec.budget) for n in graph.nodes)
        for n in graph.nodes:
            m = n.name
            parts = [(m, m.ljust(nw), "title", "", 0)]
            if spec.numbers == "full":
                f = formula(graph, n)
                text = ("= " + f if n.kind == "op" else f).ljust(fw)
                parts.append((m, " " + text, "tag", "", 0))
            if spec.numbers in ("full", "brief"):
                parts.append((m, " ", "", "value", sw))
                if m in grads:
                    parts.append((m, " " + LIVE_PREFIX, "grad_prefix", "grad", sw))
            elif spec.numbers == "live":
                parts.append((m, " ", "", "live", sw + len(LIVE_PREFIX)))
            entries.append(_Entry((m,), parts))

    per_col = max(1, rows)
    ncols = -(-len(entries) // per_col)
    columns = [entries[c * per_col : (c + 1) * per_col] for c in range(ncols)]
    widths = [max(e.width for e in column) for column in columns]
    width = sum(widths) + len(COLUMN_SEP) * (ncols - 1)
    canvas = _Canvas(width, min(per_col, len(entries)))
    x = 0
    for c, column in enumerate(columns):
        for r, entry in enumerate(column):
            cx = x + 2
            for m in entry.members:
                canvas.mark(m, r, x)
            spans: dict[str, list[int]] = {}
            for m, text, role, kind, w in entry.parts:
                start = cx
                if role in ("title", "label"):
                    name = text.strip().removesuffix(" ·")
                    at = cx + text.index(name)
                    if name == m:
                        canvas.label(m, r, at, name, role)
                        canvas.put(r, cx, text)
                    else:
                        canvas.put(r, cx, text, role)
                else:
                    canvas.put(r, cx, text, role)
                cx += len(text)
                if kind:
                    canvas.slot(Slot(r, cx, w, m, kind))
                    cx += w
                span = spans.setdefault(m, [start, cx])
                span[1] = cx
            for m in entry.members:
                s0, s1 = spans.get(m, [x + 2, x + widths[c]])
                canvas.hits.append((s0 if len(entry.members) > 1 else x, r, s1 - s0, 1, m))
                for kind in ("value", "grad", "live"):
                    canvas.line(m, kind, r, s0, s1 - s0)
        x += widths[c]
        if c < ncols - 1:
            for r in range(canvas.height):
                canvas.put(r, x, COLUMN_SEP, "edge")
            x += len(COLUMN_SEP)
    order = [m for e in entries for m in e.members]
    return canvas.freeze(graph, "layers", "list", spec.name, order)


# --- neurons --------------------------------------------------------------------------------

UNIT_LINES: dict[int, tuple[tuple[str, str], ...]] = {
    6: (("b", "value"), ("b", "grad"), ("z", "value"), ("z", "grad"), ("a", "value"),
        ("a", "grad")),
    4: (("z", "value"), ("z", "grad"), ("a", "value"), ("a", "grad")),
    2: (("a", "value"), ("z", "grad")),
    1: (("a", "unit"),),
}  # fmt: skip
"""The lines of a unit at each detail: which of its layer's nodes, and which number."""
NUM = fmt.NUM_WIDTH - 1
"""Characters for a number in the neuron view: every number up to two-digit exponents
(``-1.23457e-05``); a three-digit exponent shows as ``…``."""
BAND_PAD = 2
MAX_LABELLED = 6
"""A weight matrix with at most this many elements has its numbers on its edges."""
"""Characters of line visible on each side of a weight's label."""
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
"""Braille dot bits by (row within the cell, column within the cell)."""


def _neurons(graph: Graph, spec: Spec, columns: int = 0) -> Plan:
    """Every unit a node and every weight an edge, columns left to right from the inputs;
    the targets and the loss under the output layer, and a line for the numbers of the
    weights the current event is about."""
    n_layers = _n_layers(graph)
    layout = UNIT_LINES[spec.unit_lines]
    widths = [graph["x"].shape[1]] + [graph[f"z{k}"].shape[1] for k in range(1, n_layers + 1)]
    # Each line's label: a value's is its node ("z1"); a gradient's is "∂" under its own
    # value, else "∂z1". Units with one line label it as they go ("a1", "∂z1").
    k_w = len(str(n_layers))
    label_of = []
    for r, (what, kind) in enumerate(layout):
        above = layout[r - 1] if r else None
        if kind == "grad":
            label_of.append("∂" if above == (what, "value") else "∂" + what)
        else:
            label_of.append(what)
    lw = max(2, *(len(t) + k_w * (t[-1] != "∂") for t in label_of))
    unit_w = 2 + lw + 1 + NUM + (1 if spec.unit_lines == 1 else 0)
    in_w = 2 + NUM
    # One line a unit is for wide layers, where few weights have room for their numbers.
    band_w = NUM + 2 + BAND_PAD + (BAND_PAD - 1 if spec.unit_lines > 1 else 0)
    col_w = [in_w] + [unit_w] * n_layers
    # With room to spare, longer weights' lines: flatter, and easier to follow (up to
    # twice as long; the title of the last layer may need a few more columns).
    spare = columns - (sum(col_w) + n_layers * band_w) - 4
    if spare > 0 and n_layers:
        band_w += min(band_w, spare // n_layers)
    col_x = [0]
    for k in range(1, n_layers + 1):
        col_x.append(col_x[-1] + col_w[k - 1] + band_w)
    # The last column's title may run past its units: nothing is to its right.
    last_title = f"layer {n_layers} · {graph[f'a{n_layers}'].op or ''}"
    width = col_x[-1] + max(col_w[-1], len(last_title) if spec.unit_lines > 1 else 0)

    # Each unit a block of lines, a blank line between units; edges come in at its sum
    # (z) and leave from its activation (a).
    block = [1] + [len(layout)] * n_layers
    lines_of = [w for w, _ in layout]
    in_at = [0] + [lines_of.index("z") if "z" in lines_of else 0] * n_layers
    out_at = [0] + [len(lines_of) - 1 - lines_of[::-1].index("a")] * n_layers
    gap = 1 if spec.unit_lines > 1 or max(widths) <= 4 else 0
    top = 1  # the column titles
    tops = _unit_rows(widths, block, in_at, out_at, gap, top)
    loss_lines = 2 if spec.unit_lines > 1 else 1
    # y and L (and ∂L) above the output units where there is room, else under them.
    tail = 1 + loss_lines
    if tops[-1][0] - top >= tail + 1:
        tail_y = tops[-1][0] - tail - 1
    else:
        tail_y = tops[-1][-1] + block[-1] + 1
    bottom = max(max(t[-1] + b for t, b in zip(tops, block)), tail_y + tail)
    legend_y = bottom
    canvas = _Canvas(width, bottom + 1)

    # Column titles: the sample shown, each layer, each weight band.
    canvas.labels.setdefault("x", []).append((0, 0, 1))
    canvas.slot(Slot(0, 0, in_w, "x", "sample"))
    for k in range(1, n_layers + 1):
        act = graph[f"a{k}"].op or ""
        # With one line a unit, the line's label changes with the event: the title names
        # both of the layer's nodes.
        tries = (
            (f"layer {k} · {act}", f"{k} · {act}", act)
            if spec.unit_lines > 1
            else (f"z{k} → a{k} · {act}", f"z{k} → a{k} {act}", f"z{k} → a{k}")
        )
        room = width - col_x[k] if k == n_layers else col_w[k]
        title = next((t for t in tries if len(t) <= room), tries[-1][:room])
        canvas.put(0, col_x[k], title, "title")
        canvas.hits.append((col_x[k], 0, col_w[k], 1, f"z{k}"))
        # The band's title: W1 · b1, or ∂L/∂W1 while its gradient is computed.
        bx = col_x[k - 1] + col_w[k - 1]
        canvas.slot(Slot(0, bx + 1, band_w - 2, f"W{k}", "band", align="center"))
        canvas.labels.setdefault(f"W{k}", []).append((0, bx + 1, bx + band_w - 1))
        canvas.labels.setdefault(f"b{k}", []).append((0, bx + 1, bx + band_w - 1))
        # Its title "W1 · b1" picks W1 on the left, b1 on the right (and shows the
        # marker when the event is about either).
        half = band_w // 2
        canvas.hits.append((bx, 0, half, 1, f"W{k}"))
        canvas.hits.append((bx + half, 0, band_w - half, 1, f"b{k}"))

    ports: list[list[tuple[int, int]]] = []  # per column, per unit: (in row, out row)
    for k, units in enumerate(widths):
        x0 = col_x[k]
        col_ports = []
        for j in range(units):
            y = tops[k][j]
            if k == 0:
                canvas.put(y, x0, str(j), "index")
                canvas.slot(Slot(y, x0 + 2, NUM, "x", "value", (j,)))
                canvas.line("x", "value", y, x0 + 2, in_w - 2)
                canvas.hits.append((x0, y, in_w, 1, "x"))
                col_ports.append((y, y))
                continue
            for r, (what, kind) in enumerate(layout):
                node = f"{what}{k}"
                row = y + r
                canvas.put(row, x0, str(j) if r == 0 else "│", "index")
                if kind == "grad":
                    label = "∂" if label_of[r] == "∂" else "∂" + node
                    canvas.put(row, x0 + 2 + lw - len(label), "∂", "grad_prefix")
                    if len(label) > 1:
                        canvas.label(node, row, x0 + 3 + lw - len(label), node)
                elif kind == "value":
                    canvas.label(node, row, x0 + 2, node)
                if kind == "unit":
                    canvas.labels.setdefault(node, []).append((row, x0 + 2, x0 + 2 + lw))
                    canvas.slot(Slot(row, x0 + 2, unit_w - 2, node, "unit", (j,)))
                    # One line stands for the unit's bias, sum and activation alike.
                    for other in ("b", "z", "a"):
                        canvas.mark(f"{other}{k}", row, x0 + 1)
                        canvas.line(f"{other}{k}", "unit", row, x0 + 2, unit_w - 2)
                else:
                    canvas.slot(Slot(row, x0 + 3 + lw, NUM, node, kind, (j,)))
                    canvas.mark(node, row, x0 + 1, kind)
                    canvas.line(node, kind, row, x0 + 2, unit_w - 2)
                canvas.hits.append((x0, row, unit_w, 1, node if kind != "unit" else f"a{k}"))
            col_ports.append((y + in_at[k], y + out_at[k]))
        ports.append(col_ports)

    # Targets and loss, under the output layer.
    x0 = col_x[n_layers]
    y = tail_y
    canvas.label("y", y, x0 + 2, "y")
    canvas.slot(Slot(y, x0 + 3 + lw, unit_w - 3 - lw, "y", "value"))
    canvas.line("y", "value", y, x0 + 2, unit_w - 2)
    canvas.hits.append((x0, y, unit_w, 1, "y"))
    loss = graph.loss
    canvas.label(loss, y + 1, x0 + 2, loss, "title")
    canvas.mark(loss, y + 1, x0 + 1, "value")
    canvas.mark(loss, y + loss_lines, x0 + 1, "grad")
    canvas.hits.append((x0, y + 1, unit_w, loss_lines, loss))
    if loss_lines == 2:
        canvas.slot(Slot(y + 1, x0 + 3 + lw, NUM, loss, "value"))
        canvas.line(loss, "value", y + 1, x0 + 2, unit_w - 2)
        canvas.put(y + 2, x0 + 2 + lw - 1, "∂", "grad_prefix")
        canvas.slot(Slot(y + 2, x0 + 3 + lw, NUM, loss, "grad"))
        canvas.line(loss, "grad", y + 2, x0 + 2, unit_w - 2)
    else:
        at = x0 + 3 + len(loss)
        canvas.slot(Slot(y + 1, at, x0 + unit_w - at, loss, "live"))
        canvas.line(loss, "live", y + 1, x0 + 2, unit_w - 2)

    # Weights: a braille line from each unit to each unit of the next layer, with its
    # number on it where there is room.
    for k in range(1, n_layers + 1):
        x_from = col_x[k - 1] + col_w[k - 1]
        x_to = col_x[k] - 2
        labels: list[tuple[int, int, int]] = []
        lines = []
        for i, (_, src) in enumerate(ports[k - 1]):
            for j, (dst, _) in enumerate(ports[k]):
                lines.append((i, j, src, dst))
        dots: dict[Cell, int] = {}
        arrows: dict[Cell, None] = {}
        for i, j, src, dst in lines:
            cells = _braille_line(dots, x_from, src, x_to, dst)
            canvas.put(dst, x_to + 1, ARROW, "edge")
            arrows[(dst, x_to + 1)] = None
            canvas.weights.append(WeightEdge(f"W{k}", (i, j), cells))
        # What the events travel along: the arrowheads into the layer's units (lighting
        # whole lines would repaint the band on every forward event).
        prev = "x" if k == 1 else f"a{k - 1}"
        for feeds in (prev, f"W{k}", f"b{k}"):
            canvas.edges[(feeds, f"z{k}")] = tuple(arrows)
        for (r, c), bits in dots.items():
            canvas.cells[r][c] = chr(0x2800 + bits)
        # Numbers on the lines where there are few: the flattest edges' first (they read
        # best), each where it overlaps no other. Many would hide the lines; the legend
        # line lists them all.
        few = len(lines) <= MAX_LABELLED
        for i, j, src, dst in sorted(lines, key=lambda e: abs(e[3] - e[2])) if few else ():
            spot = _label_spot(labels, x_from, src, x_to, dst, NUM + 2)
            if spot is not None:
                row, x = spot
                labels.append((row, x, x + NUM + 2))
                canvas.slot(Slot(row, x, NUM + 2, f"W{k}", "weight", (i, j), align="center"))
    canvas.slot(Slot(legend_y, 0, width, "", "legend"))
    order = ["x"] + [f"{w}{k}" for k in range(1, n_layers + 1) for w in "Wbza"] + ["y", loss]
    return canvas.freeze(graph, "neurons", "neurons", spec.name, order, per_sample=True)


def _unit_rows(
    widths: Sequence[int],
    block: Sequence[int],
    in_at: Sequence[int],
    out_at: Sequence[int],
    gap: int,
    top: int,
) -> list[list[int]]:
    """The first row of each unit's block, column by column.

    The tallest column is stacked from ``top``; the columns on either side spread their
    units over the rows their neighbours' edges attach to, so that equal layers face
    each other with straight edges and a narrow layer sits in the middle of a wide one.
    """
    heights = [w * b + (w - 1) * gap for w, b in zip(widths, block)]
    tallest = max(range(len(widths)), key=lambda k: (heights[k], -k))
    tops: list[list[int]] = [[] for _ in widths]
    tops[tallest] = [top + j * (block[tallest] + gap) for j in range(widths[tallest])]

    def spread(k: int, targets: list[int], offset: int) -> list[int]:
        n = widths[k]
        lo, hi = min(targets), max(targets)
        want = [(lo + hi) / 2] if n == 1 else [lo + (hi - lo) * j / (n - 1) for j in range(n)]
        rows = [round(w) - offset for w in want]
        for j in range(1, n):  # keep blocks apart, then back within the top
            rows[j] = max(rows[j], rows[j - 1] + block[k] + gap)
        shift = max(0, top - rows[0])
        return [r + shift for r in rows]

    for k in range(tallest - 1, -1, -1):
        targets = [t + in_at[k + 1] for t in tops[k + 1]]
        tops[k] = spread(k, targets, out_at[k])
    for k in range(tallest + 1, len(widths)):
        targets = [t + out_at[k - 1] for t in tops[k - 1]]
        tops[k] = spread(k, targets, in_at[k])
    return tops


def _braille_line(dots: dict[Cell, int], x0: int, y0: int, x1: int, y1: int) -> tuple[Cell, ...]:
    """Draw a line from cell ``(x0, y0)`` to ``(x1, y1)`` in braille dots (2×4 a cell),
    adding to ``dots``; returns the cells it passes through."""
    px0, py0 = 2 * x0, 4 * y0 + 1
    px1, py1 = 2 * x1 + 1, 4 * y1 + 1
    n = max(abs(px1 - px0), abs(py1 - py0), 1)
    cells: dict[Cell, None] = {}
    for s in range(n + 1):
        px = px0 + round((px1 - px0) * s / n)
        py = py0 + round((py1 - py0) * s / n)
        cell = (py // 4, px // 2)
        dots[cell] = dots.get(cell, 0) | _DOTS[py % 4][px % 2]
        cells[cell] = None
    return tuple(cells)


def _label_spot(
    taken: list[tuple[int, int, int]], x0: int, y0: int, x1: int, y1: int, w: int
) -> tuple[int, int] | None:
    """Where on the line from ``(x0, y0)`` to ``(x1, y1)`` a label ``w`` wide can go
    without touching another: ``(row, first column)``, or None."""
    for t in (0.5, 0.35, 0.65, 0.25, 0.75, 0.15, 0.85):
        cx = x0 + (x1 - x0) * t
        row = round(y0 + (y1 - y0) * t)
        x = round(cx - w / 2)
        x = max(x0 + 1, min(x, x1 - w))
        if x < x0 + 1 or x + w > x1 + 1:
            return None
        if all(r != row or x + w + 1 <= a or b + 1 <= x for r, a, b in taken):
            return row, x
    return None
