"""The graph pane: the computation graph drawn as boxes in layers, joined by edges.

Columns run left to right from inputs and parameters to the loss. A layered network
(``graph.kind == "model"``) is drawn like the textbook diagram: one box per layer
holding ``W b z a``, and ``x``, ``y`` and the loss as boxes of their own. An expression
graph gets one box per node. Each box shows its value once the forward pass has reached
it and ``∂L`` once the backward pass has, so stepping shows values flowing forward and
gradients flowing back.

Work is split so that stepping stays cheap: :func:`layout` places boxes and routes edges
once per graph (a small Sugiyama-style layering: dummy points for long edges, barycenter
ordering, then vertical placement by isotonic regression), and :func:`render_lines` only
fills in numbers and highlights for a frame. :class:`GraphView` shows the lines with the
Line API and scrolls the current node into view.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence

import msgspec
import numpy as np
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine import fmt
from engine.graph.graph import Graph
from engine.timeline.timeline import Frame, Timeline
from tui.drawing.theme_colors import theme_color

# --- numbers ---------------------------------------------------------------------------
# Numbers and shapes are written by engine.fmt, as in every other pane. Boxes have a
# width fixed per graph, before any value is known, so here numbers give up digits to fit
# a width, and large tensors get a compact one-line summary (fmt.summary's is too wide).

SCALAR_WIDTH = 9
"""Most characters a scalar takes."""
ELEMENT_WIDTH = 6
"""Most characters an element of a small tensor takes."""
SUMMARY_WIDTH = 6
"""Most characters a norm or a range end of a large tensor's summary takes."""
SMALL = 4
"""Tensors with at most this many elements are shown in full."""


def _num(x: float, width: int = SCALAR_WIDTH, digits: int = 4) -> str:
    """``x`` by :func:`engine.fmt.num`, with as many significant digits (up to ``digits``)
    as fit in ``width`` characters."""
    text = ""
    for d in range(digits, 0, -1):
        text = fmt.num(x, d)
        if len(text) <= width:
            return text
    # Small numbers keep leading zeros in fmt's fixed notation ("-0.0006"): try exponents.
    for d in range(digits - 1, -1, -1):
        short = f"{x:.{d}e}"
        if len(short) <= width:
            return short
    return text


def _tensor(a: np.ndarray) -> str:
    """One line: small tensors in full (rows split by ``;``), others as norm and range.

    The shape is not repeated here: the box header shows it.
    """
    a = np.asarray(a)
    if a.size == 1:
        return _num(float(a.reshape(-1)[0]))
    if a.size <= SMALL:
        if a.ndim == 2:
            rows = (" ".join(_num(float(v), ELEMENT_WIDTH) for v in row) for row in a)
            return "[" + "; ".join(rows) + "]"
        return "[" + " ".join(_num(float(v), ELEMENT_WIDTH) for v in a.reshape(-1)) + "]"
    if a.size == 0:
        return "[]"
    with np.errstate(all="ignore"):
        # Not np.linalg.norm: its BLAS call can cost 100× more on a busy machine.
        norm = math.sqrt(float(np.square(a).sum()))
        lo, hi = float(a.min()), float(a.max())
    w, d = SUMMARY_WIDTH, fmt.SUMMARY_DIGITS
    return f"‖{_num(norm, w, d)}‖ [{_num(lo, w, d)},{_num(hi, w, d)}]"


_TEXTS: dict[int, tuple[weakref.ref[np.ndarray], str, bool]] = {}
"""Text of arrays already summarised, by identity: a step's frames show the same arrays
again and again (they are read-only), and summarising a large one is the costly part.
Weak references, so that the memo never keeps a step's arrays alive."""


def _tensor_text(a: np.ndarray) -> tuple[str, bool]:
    """:func:`_tensor` of ``a``, and whether all of it is finite; memoised."""
    if not isinstance(a, np.ndarray) or a.size <= SMALL:
        return _tensor(a), bool(np.isfinite(a).all())  # cheap: not worth a memo entry
    hit = _TEXTS.get(id(a))
    if hit is not None and hit[0]() is a:
        return hit[1], hit[2]
    text, finite = _tensor(a), bool(np.isfinite(a).all())
    if len(_TEXTS) >= 4096:
        _TEXTS.clear()
    _TEXTS[id(a)] = (weakref.ref(a), text, finite)
    return text, finite


def _tensor_width(shape: tuple[int, ...]) -> int:
    """The most characters :func:`_tensor` can take for a tensor of ``shape``."""
    size = math.prod(shape)
    if size == 1:
        return SCALAR_WIDTH
    if size <= SMALL:
        seps = size - 1 + (shape[0] - 1 if len(shape) == 2 else 0)
        return 2 + size * ELEMENT_WIDTH + seps
    return 2 + SUMMARY_WIDTH + 2 + 2 * SUMMARY_WIDTH + 3


GRAD_PREFIX = "∂L "
PENDING = "·"
MAX_TITLE = 16


def _clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` with a "…" in the middle (a sub-expression's top op can
    be anywhere in its text, and both ends tell most)."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


# --- layout ----------------------------------------------------------------------------


class Box(msgspec.Struct, frozen=True):
    """One box of the drawing.

    Attributes:
        key: The box's id: a node's name, or ``"layer k"`` for a layered network's layer.
        title: Shown in the top border, left.
        tag: Shown in the top border, right: the op, or the leaf's kind.
        foot: Shown in the bottom border, right: the shape, or a layer's fan-in → units.
        members: The nodes shown inside, top to bottom.
        col: Its column (0 = leftmost).
        x: Left border's column in the drawing.
        y: Top border's row.
        w: Width, borders included.
        h: Height, borders included.
        labelled: True when each member's lines start with its name (layer boxes).
    """

    key: str
    title: str
    tag: str
    foot: str
    members: tuple[str, ...]
    col: int
    x: int
    y: int
    w: int
    h: int
    labelled: bool

    @property
    def region(self) -> Region:
        return Region(self.x, self.y, self.w, self.h)


class Edge(msgspec.Struct, frozen=True):
    """A drawn edge: ``src`` is read by ``dst``, and they sit in different boxes.

    Attributes:
        src: The input node.
        dst: The consuming node.
        cells: ``(row, column)`` of every character drawn for it, arrowhead included.
            Edges from one node share the cells of their common trunk.
    """

    src: str
    dst: str
    cells: tuple[tuple[int, int], ...]


class Slot(msgspec.Struct, frozen=True):
    """A place for a number, filled in per frame.

    Attributes:
        y: Row.
        x: First column.
        w: Width (the text is clipped or padded to it).
        node: Whose number.
        kind: ``"value"`` or ``"grad"``.
    """

    y: int
    x: int
    w: int
    node: str
    kind: str


class Layout(msgspec.Struct, frozen=True, eq=False):
    """Where everything of a graph's drawing goes; computed once per graph (and compared
    by identity: it keeps caches).

    Attributes:
        graph: The graph drawn.
        width: Columns of the drawing.
        height: Rows of the drawing.
        boxes: Every box, by key, in reading order (column, then top to bottom).
        box_of: For each node, the key of the box that shows it.
        edges: Every drawn edge.
        order: The nodes in reading order; up/down selection walks it.
        lines: For each node, ``(row, first column, width)`` of its value line and,
            if it has a gradient, its grad line: ``{"value": …, "grad": …}``.
        labels: For each node, ``(row, start, end)`` of its name in the drawing.
        grid: The static drawing (borders, titles, labels, edges), one string a row.
        styled: Per row, static ``(start, end, role)`` ranges; roles name
            :class:`Palette` fields.
        slots: Per row, the slots on it.
    """

    graph: Graph
    width: int
    height: int
    boxes: Mapping[str, Box]
    box_of: Mapping[str, str]
    edges: tuple[Edge, ...]
    order: tuple[str, ...]
    lines: Mapping[str, Mapping[str, tuple[int, int, int]]]
    labels: Mapping[str, tuple[int, int, int]]
    grid: tuple[str, ...]
    styled: tuple[tuple[tuple[int, int, str], ...], ...]
    slots: tuple[tuple[Slot, ...], ...]
    edges_by_pair: Mapping[tuple[str, str], int] = msgspec.field(default_factory=dict)
    _span_cache: dict = msgspec.field(default_factory=dict)

    def box(self, node: str) -> Box:
        """The box showing ``node``."""
        return self.boxes[self.box_of[node]]

    def node_at(self, x: int, y: int) -> str | None:
        """The node drawn at ``(x, y)`` of the drawing, if any.

        Inside a layer box, the member whose lines are nearest the row.
        """
        for box in self.boxes.values():
            if box.region.contains(x, y):
                if len(box.members) == 1:
                    return box.members[0]
                return min(box.members, key=lambda m: abs(self.lines[m]["value"][0] - y))
        return None

    def region_of(self, node: str) -> Region:
        """The part of the drawing that shows ``node``: its lines, or its whole box."""
        box = self.box(node)
        if len(box.members) == 1:
            return box.region
        rows = [r for r, _, _ in self.lines[node].values()]
        return Region(box.x, min(rows), box.w, max(rows) - min(rows) + 1)


# Item placement: boxes and dummy points (where a long edge crosses a column).


class _Item(msgspec.Struct):
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
    _E: "─",
    _W: "─",
    _E | _W: "─",
    _N: "│",
    _S: "│",
    _N | _S: "│",
    _E | _S: "╭",
    _S | _W: "╮",
    _N | _E: "╰",
    _N | _W: "╯",
    _N | _S | _E: "├",
    _N | _S | _W: "┤",
    _E | _W | _S: "┬",
    _E | _W | _N: "┴",
    _N | _E | _S | _W: "┼",
}
ARROW = "▸"
ROW_GAP = 1
"""Blank rows between two boxes of a column."""


def _groups(graph: Graph) -> list[tuple[str, str, str, str, tuple[str, ...], bool]]:
    """``(key, title, tag, foot, members, labelled)`` of each box, in graph order."""
    groups: dict[str, list[str]] = {}
    if graph.kind == "model":
        layers = max((n.layer for n in graph.nodes if n.kind == "param"), default=0)
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
            # A sub-expression's name is its text, which already shows its op.
            tag = n.kind if n.is_leaf else (n.op or "") if n.named else ""
            foot = fmt.shape(n.shape) if n.shape else ""
            out.append((key, _clip(n.name, MAX_TITLE), tag, foot, (n.name,), False))
        else:
            # A layer box: W, b, z, a in the textbook's order, titled by fan-in → units.
            rank = {"param": 0, "op": 1}
            ordered = tuple(
                sorted(members, key=lambda m: (rank.get(graph[m].kind, 2), members.index(m)))
            )
            weights = [n for n in nodes if n.kind == "param" and len(n.shape) == 2]
            foot = f"{weights[0].shape[0]}→{weights[0].shape[1]}" if weights else ""
            ops = [n.op for n in nodes if n.op is not None]
            out.append((key, key, ops[-1] if ops else "", foot, ordered, True))
    return out


def layout(graph: Graph) -> Layout:
    """Place a graph's boxes in columns and route its edges.

    Columns follow :attr:`Node.layer`: an op box sits in its layer's column; a box of
    leaves sits just left of its first consumer, so parameters and constants stand next
    to where they are used instead of all crowding the first column.

    Args:
        graph: The graph to draw.

    Returns:
        The layout: pure data, independent of any frame.
    """
    groups = _groups(graph)
    box_of = {m: key for key, _, _, _, members, _ in groups for m in members}
    grads = graph.grad_nodes

    # Columns: op boxes by layer, leaf boxes just before their first consumer.
    col: dict[str, int] = {}
    for key, _, _, _, members, _ in groups:
        ops = [graph[m].layer for m in members if graph[m].kind == "op"]
        if ops:
            col[key] = max(ops)
    for key, _, _, _, members, _ in groups:
        if key not in col:
            uses = [col[box_of[c]] for m in members for c in graph.consumers[m] if box_of[c] != key]
            col[key] = max(0, min(uses) - 1) if uses else 0

    # Edges between boxes, one per (input, consumer) pair.
    pairs: list[tuple[str, str]] = []
    for n in graph.nodes:
        for i in dict.fromkeys(n.inputs):
            if box_of[i] != box_of[n.name]:
                pairs.append((i, n.name))
    in_edges: dict[str, list[int]] = {}
    for k, (_, v) in enumerate(pairs):
        in_edges.setdefault(v, []).append(k)

    # Box contents: for each member a value line and, if it has a gradient, a grad line.
    # Layer boxes label value lines with the member's name; grad lines read "∂L".
    items: dict[str, _Item] = {}
    first_line: dict[str, int] = {}  # member -> interior row offset of its first line
    line_kinds: dict[str, list[tuple[str, str]]] = {}  # box -> [(member, kind)] per row
    heads: dict[str, tuple[str, str, str, int]] = {}  # box -> (title, tag, foot, label w)
    for key, title, tag, foot, members, labelled in groups:
        rows: list[tuple[str, str]] = []
        label_w = max(len(GRAD_PREFIX), *(len(m) + 1 for m in members)) if labelled else 0
        inner = 0
        for m in members:
            first_line[m] = 1 + len(rows)
            width = _tensor_width(graph[m].shape)
            rows.append((m, "value"))
            inner = max(inner, label_w + width)
            if m in grads:
                rows.append((m, "grad"))
                inner = max(inner, max(label_w, len(GRAD_PREFIX)) + width)
        if not labelled:
            # Room for one in-port per incoming edge.
            while len(rows) < len(in_edges.get(members[0], ())):
                rows.append((members[0], ""))
        tag = _clip(tag, MAX_TITLE)
        # "╭ title ─ tag ╮" and "╰─ foot ─╯" need at least one "─" each.
        top = len(title) + 4 + (len(tag) + 3 if tag else 1)
        bottom = len(foot) + 6 if foot else 0
        heads[key] = (title, tag, foot, label_w)
        line_kinds[key] = rows
        items[key] = _Item(key, col[key], max(inner + 4, top, bottom), len(rows) + 2, False)

    def in_off(k: int) -> int:
        v = pairs[k][1]
        box = items[box_of[v]]
        off = first_line[v] + in_edges[v].index(k)
        return min(off, box.h - 2)

    # Split long edges with dummy points, shared by edges from the same node.
    segs: dict[tuple[str, int, str, int], _Seg] = {}

    def hop(a: str, a_off: int, b: str, b_off: int, k: int) -> None:
        seg = segs.setdefault((a, a_off, b, b_off), _Seg(a, a_off, b, b_off, set()))
        seg.edges.add(k)

    for k, (u, v) in enumerate(pairs):
        a, a_off = box_of[u], first_line[u]
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
    rank = {key: i for i, (key, *_rest) in enumerate(groups)}
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

    # Vertical placement: stack each column, then pull items towards their neighbours'
    # ports without breaking the order (isotonic regression keeps it optimal and cheap).
    for column in columns:
        y = 0
        for it in column:
            it.y = y
            y += it.h + ROW_GAP
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
            _place(column, want)
    top = min(it.y for it in items.values())
    for it in items.values():
        it.y -= top

    # Columns' x: widest box, then a gap wide enough for one channel per fanning source.
    col_w = [max((it.w for it in column), default=1) for column in columns]
    gap_segs: list[list[_Seg]] = [[] for _ in range(ncols)]
    for seg in segs.values():
        gap_segs[items[seg.src].col].append(seg)
    channels: list[list[tuple[str, int]]] = []
    for c in range(ncols):
        sources = _channel_order(gap_segs[c], items)
        channels.append(sources)
    col_x = [0] * ncols
    x = 0
    for c in range(ncols):
        col_x[c] = x
        x += col_w[c] + (max(3, 2 * len(channels[c]) + 2) if c < ncols - 1 else 0)
    width = x
    height = max(it.y + it.h for it in items.values())

    # Draw: boxes, then edges as direction bits turned into box-drawing characters.
    canvas = [[" "] * width for _ in range(height)]
    styled: list[list[tuple[int, int, str]]] = [[] for _ in range(height)]
    slots: list[list[Slot]] = [[] for _ in range(height)]
    lines: dict[str, dict[str, tuple[int, int, int]]] = {}
    labels: dict[str, tuple[int, int, int]] = {}
    boxes: dict[str, Box] = {}
    for key, _, _, _, members, labelled in groups:
        it = items[key]
        it_x = col_x[it.col]
        title, tag, foot, label_w = heads[key]
        box = Box(key, title, tag, foot, members, it.col, it_x, it.y, it.w, it.h, labelled)
        boxes[key] = box
        _draw_box(canvas, styled, box)
        if not labelled:
            name_w = min(len(members[0]), len(title))
            labels[members[0]] = (box.y, box.x + 2, box.x + 2 + name_w)
        inner_x, inner_w = box.x + 2, box.w - 4
        for r, (m, kind) in enumerate(line_kinds[key]):
            row = box.y + 1 + r
            if not kind:
                continue
            x0 = inner_x + label_w
            if kind == "value" and labelled:
                _put(canvas, row, inner_x, m)
                styled[row].append((inner_x, inner_x + len(m), "label"))
                labels[m] = (row, inner_x, inner_x + len(m))
            elif kind == "grad":
                _put(canvas, row, inner_x, GRAD_PREFIX)
                styled[row].append((inner_x, inner_x + len(GRAD_PREFIX) - 1, "grad_prefix"))
                x0 = inner_x + max(label_w, len(GRAD_PREFIX))
            w = inner_x + inner_w - x0
            slots[row].append(Slot(row, x0, w, m, kind))
            lines.setdefault(m, {})[kind] = (row, inner_x, inner_w)

    dirs: dict[tuple[int, int], int] = {}
    owners: dict[tuple[int, int], set[int]] = {}
    arrows: set[tuple[int, int]] = set()
    out_ports: set[tuple[int, int]] = set()

    def link(a: tuple[int, int], b: tuple[int, int], ks: set[int]) -> None:
        """Draw a straight run from cell a to cell b (same row or same column)."""
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
            ks = set().union(*(s.edges for s in preds[it.key]))
            x0 = col_x[it.col]
            link((it.y, x0 - 1), (it.y, x0 + col_w[it.col]), ks)
    for c in range(ncols - 1):
        gx0 = col_x[c] + col_w[c]
        chan_x = {src: gx0 + 1 + 2 * i for i, src in enumerate(channels[c])}
        for seg in gap_segs[c]:
            a, b = items[seg.src], items[seg.dst]
            sy, dy = a.y + seg.src_off, b.y + seg.dst_off
            sx = col_x[a.col] + a.w if not a.dummy else gx0
            dx = col_x[b.col] - 1
            if not a.dummy:
                out_ports.add((sy, sx - 1))
            if not b.dummy:
                arrows.add((dy, dx))
            if sy == dy:
                link((sy, sx), (dy, dx), seg.edges)
            else:
                cx = chan_x[(seg.src, seg.src_off)]
                link((sy, sx), (sy, cx), seg.edges)
                link((sy, cx), (dy, cx), seg.edges)
                link((dy, cx), (dy, dx), seg.edges)
    for (r, c), bits in dirs.items():
        canvas[r][c] = ARROW if (r, c) in arrows else _JOIN.get(bits, "─")
    for r, c in out_ports:
        canvas[r][c] = "├"
    for r, c in dirs:
        styled[r].append((c, c + 1, "edge"))

    edge_cells: dict[int, list[tuple[int, int]]] = {}
    for cell, ks in owners.items():
        for k in ks:
            edge_cells.setdefault(k, []).append(cell)
    edges = tuple(
        Edge(u, v, tuple(sorted(edge_cells.get(k, ())))) for k, (u, v) in enumerate(pairs)
    )
    ordered = sorted(boxes.values(), key=lambda b: (b.col, b.y))
    order = tuple(m for b in ordered for m in b.members)
    return Layout(
        graph=graph,
        width=width,
        height=height,
        boxes={b.key: b for b in ordered},
        box_of=box_of,
        edges=edges,
        order=order,
        lines=lines,
        labels=labels,
        grid=tuple("".join(row) for row in canvas),
        styled=tuple(tuple(_merge(r)) for r in styled),
        slots=tuple(tuple(r) for r in slots),
        edges_by_pair={(e.src, e.dst): k for k, e in enumerate(edges)},
    )


def _place(column: list[_Item], want: Sequence[float]) -> None:
    """Set ``y`` as near ``want`` as the column's order and spacing allow."""
    offsets = []
    off = 0
    for i, it in enumerate(column):
        offsets.append(off)
        nxt = column[i + 1] if i + 1 < len(column) else None
        gap = 0 if nxt is not None and it.dummy and nxt.dummy else ROW_GAP
        off += it.h + gap
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
        it.y = int(math.floor(f + 0.5)) + o


def _channel_order(segs: list[_Seg], items: dict[str, _Item]) -> list[tuple[str, int]]:
    """The sources that need a vertical channel in a gap, left to right.

    A source's trunk runs along its own row to its channel, and an edge leaves its
    channel along its destination row; a source whose row is another's destination row
    therefore takes the channel further left, so the two runs cannot overlap.
    """
    rows: dict[tuple[str, int], tuple[int, set[int]]] = {}
    for seg in segs:
        src = (seg.src, seg.src_off)
        sy = items[seg.src].y + seg.src_off
        dy = items[seg.dst].y + seg.dst_off
        row, dests = rows.setdefault(src, (sy, set()))
        dests.add(dy)
    bent = [s for s, (sy, dests) in rows.items() if dests != {sy}]
    bent.sort(key=lambda s: rows[s][0])
    # Kahn's walk over "must be left of", ties by source row; cycles fall back to row order.
    before = {s: {t for t in bent if t != s and rows[s][0] in rows[t][1]} for s in bent}
    indeg = {s: 0 for s in bent}
    for s in bent:
        for t in before[s]:
            indeg[t] += 1
    out: list[tuple[str, int]] = []
    ready = [s for s in bent if indeg[s] == 0]
    while ready:
        s = ready.pop(0)
        out.append(s)
        for t in sorted(before[s], key=lambda t: rows[t][0]):
            indeg[t] -= 1
            if indeg[t] == 0:
                ready.append(t)
        ready.sort(key=lambda t: rows[t][0])
    out += [s for s in bent if s not in out]
    return out


def _put(canvas: list[list[str]], row: int, x: int, text: str) -> None:
    for i, ch in enumerate(text):
        canvas[row][x + i] = ch


def _draw_box(canvas: list[list[str]], styled: list[list[tuple[int, int, str]]], box: Box) -> None:
    x, y, w, h = box.x, box.y, box.w, box.h
    head = "╭ " + box.title + " "
    tail = (" " + box.tag + " ╮") if box.tag else "╮"
    _put(canvas, y, x, head + "─" * (w - len(head) - len(tail)) + tail)
    styled[y].append((x, x + w, "border"))
    styled[y].append((x + 2, x + 2 + len(box.title), "title"))
    if box.tag:
        styled[y].append((x + w - len(box.tag) - 2, x + w - 2, "tag"))
    for r in range(y + 1, y + h - 1):
        canvas[r][x] = canvas[r][x + w - 1] = "│"
        styled[r].append((x, x + 1, "border"))
        styled[r].append((x + w - 1, x + w, "border"))
    foot = f" {box.foot} ─╯" if box.foot else "╯"
    _put(canvas, y + h - 1, x, "╰" + "─" * (w - 1 - len(foot)) + foot)
    styled[y + h - 1].append((x, x + w, "border"))
    if box.foot:
        styled[y + h - 1].append((x + w - len(box.foot) - 3, x + w - 3, "tag"))


def _merge(ranges: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Join touching ranges of one role (edges are added cell by cell)."""
    out: list[tuple[int, int, str]] = []
    for start, end, role in sorted(ranges, key=lambda r: (r[2] != "border", r[0])):
        if out and out[-1][2] == role and out[-1][1] == start:
            out[-1] = (out[-1][0], end, role)
        else:
            out.append((start, end, role))
    # Borders first, so titles and labels drawn over them win.
    return out


# --- rendering -------------------------------------------------------------------------


class Palette(msgspec.Struct, frozen=True):
    """The styles of the drawing, one per role.

    Attributes:
        border: Box borders.
        title: A box's title.
        tag: A box's op or kind.
        label: A member's name inside a layer box.
        edge: Edges at rest.
        value: A known value.
        pending: The mark of a value or gradient not yet known.
        grad: A known gradient.
        grad_prefix: The ``∂L`` before a gradient.
        updated: A parameter's value after its update.
        bad: A value that is not finite.
        current: The border of the current event's box.
        current_line: The background of the current event's line.
        forward: An edge the forward pass is traversing.
        backward: An edge the backward pass is traversing.
        selected: The selected node's name.
        selected_border: The border of the selected node's box.
    """

    border: Style = Style(dim=True)
    title: Style = Style(bold=True)
    tag: Style = Style(dim=True, italic=True)
    label: Style = Style(bold=True)
    edge: Style = Style(dim=True)
    value: Style = Style()
    pending: Style = Style(dim=True)
    grad: Style = Style(color="magenta")
    grad_prefix: Style = Style(color="magenta", dim=True)
    updated: Style = Style(color="green", bold=True)
    bad: Style = Style(color="red", bold=True)
    current: Style = Style(color="cyan", bold=True, dim=False)
    current_line: Style = Style(bgcolor="grey23")
    forward: Style = Style(color="cyan", bold=True, dim=False)
    backward: Style = Style(color="magenta", bold=True, dim=False)
    selected: Style = Style(reverse=True)
    selected_border: Style = Style(bold=True, dim=False)

    @classmethod
    def from_theme(cls, variables: Mapping[str, str]) -> Palette:
        """A palette from a Textual app's theme variables (``app.theme_variables``)."""

        def color(name: str, fallback: str) -> str | RichColor:
            c = theme_color(variables, name, fallback)
            return c.hex if c.ansi is None else c.rich_color  # ANSI: the terminal's own

        def phase(name: str, theme_name: str, fallback: str) -> str | RichColor:
            # The app publishes one colour per phase; a bare theme has only its own names.
            return color(f"phase-{name}", variables.get(theme_name, fallback))

        muted = color("foreground-muted", "#888888")
        grad = phase("backward", "text-accent", "#ffc473")
        fwd = phase("forward", "text-primary", "#57a5e2")
        return cls(
            border=Style(color=muted),
            tag=Style(color=muted, italic=True),
            edge=Style(color=muted),
            pending=Style(color=muted),
            grad=Style(color=grad),
            grad_prefix=Style(color=grad, dim=True),
            updated=Style(color=phase("update", "text-success", "#8ad4a1"), bold=True),
            bad=Style(color=color("text-error", "#e0788f"), bold=True),
            current=Style(color=fwd, bold=True),
            current_line=Style(bgcolor=color("primary-muted", "#0c304c")),
            forward=Style(color=fwd, bold=True),
            backward=Style(color=grad, bold=True),
            selected_border=Style(color=color("foreground", "#e0e0e0"), bold=True),
        )


DEFAULT_PALETTE = Palette()


def traversed(frame: Frame) -> tuple[list[tuple[str, str]], str]:
    """The ``(input, consumer)`` pairs the frame's event travels along, and the phase."""
    e = frame.event
    if e.phase == "forward":
        return [(i, e.node) for i in e.inputs], "forward"
    if e.phase == "loss":
        return [(i, e.node) for i in frame.program.graph[e.node].inputs], "forward"
    if e.phase == "backward":
        return [(e.node, t.via) for t in e.terms], "backward"
    return [], "update"


def render_lines(
    layout: Layout,
    frame: Frame | None,
    selected: str | None = None,
    width: int | None = None,
    *,
    palette: Palette = DEFAULT_PALETTE,
) -> list[Text]:
    """The drawing of ``layout`` at ``frame``, one :class:`Text` a row.

    Args:
        layout: From :func:`layout`.
        frame: What to show; None draws the graph with no numbers.
        selected: The selected node, if any.
        width: Crop or pad rows to this width; None keeps the drawing's width.
        palette: The styles.

    Returns:
        One Text per row of the drawing.
    """
    out = []
    for row, spans in render_rows(layout, frame, selected, palette=palette):
        text = Text(row, no_wrap=True, end="", spans=spans)
        if width is not None:
            if width < len(row):
                text.truncate(width)
            else:
                text.pad_right(width - len(row))
        out.append(text)
    return out


def render_rows(
    layout: Layout,
    frame: Frame | None,
    selected: str | None = None,
    *,
    palette: Palette = DEFAULT_PALETTE,
) -> list[tuple[str, list[Span]]]:
    """Like :func:`render_lines`, as ``(characters, spans)`` pairs: what the widget draws
    from, skipping the cost of building a :class:`Text` for every row of every frame."""
    static = layout._span_cache.get(palette)
    if static is None:
        static = [
            [Span(s, e, getattr(palette, role)) for s, e, role in row] for row in layout.styled
        ]
        layout._span_cache.clear()
        layout._span_cache[palette] = static
    rows = list(layout.grid)
    spans = [list(r) for r in static]
    extra: list[list[Span]] = [[] for _ in rows]

    if frame is not None:
        values, grads = frame.values, frame.grads
        params = frame.params
        update_at, pos = frame.record.update_at, frame.pos
        for y, row_slots in enumerate(layout.slots):
            if not row_slots:
                continue
            row = rows[y]
            for slot in row_slots:
                style = palette.value
                if slot.kind == "value":
                    if slot.node in params:
                        a = params[slot.node]
                        if update_at[slot.node] <= pos:
                            style = palette.updated
                    else:
                        a = values.get(slot.node)
                else:
                    a = grads.get(slot.node)
                    style = palette.grad
                if a is None:
                    text, style = PENDING, palette.pending
                else:
                    text, finite = _tensor_text(a)
                    if not finite:
                        style = palette.bad
                if len(text) > slot.w:  # only if a format outgrew its width bound
                    text = text[: slot.w - 1] + "…"
                row = row[: slot.x] + text.ljust(slot.w) + row[slot.x + slot.w :]
                spans[y].append(Span(slot.x, slot.x + len(text), style))
            rows[y] = row

    if selected is not None and selected in layout.box_of:
        box = layout.box(selected)
        for y, x0, x1 in _border(box):
            extra[y].append(Span(x0, x1, palette.selected_border))
        y, x0, x1 = layout.labels[selected]
        extra[y].append(Span(x0, x1, palette.selected))

    if frame is not None:
        subject = frame.event.subject
        if subject in layout.box_of:
            box = layout.box(subject)
            for y, x0, x1 in _border(box):
                extra[y].append(Span(x0, x1, palette.current))
            kind = "grad" if frame.phase == "backward" else "value"
            line = layout.lines[subject].get(kind) or layout.lines[subject]["value"]
            y, x0, w = line
            extra[y].insert(0, Span(x0 - 1, x0 + w + 1, palette.current_line))
        pairs, phase = traversed(frame)
        style = palette.forward if phase == "forward" else palette.backward
        for pair in pairs:
            k = layout.edges_by_pair.get(pair)
            if k is None:
                continue
            for y, x in layout.edges[k].cells:
                extra[y].append(Span(x, x + 1, style))

    for y, extras in enumerate(extra):
        spans[y].extend(extras)
    return list(zip(rows, spans))


def _segments(row: tuple[str, list[Span]], start: int, end: int, base: Style) -> list[Segment]:
    """Columns ``start``–``end`` of a drawing row as segments, padded to the full width.

    Rich's own ``Text`` handles wrapping, markup and wide characters, none of
    which a drawing row has; doing just the span arithmetic here is several times faster,
    which matters because every visible row is redrawn on every step.
    """
    plain, row_spans = row
    stop = min(end, len(plain))
    out: list[Segment] = []
    if start < stop:
        spans = [
            (max(sp.start, start), min(sp.end, stop), sp.style)
            for sp in row_spans
            if sp.end > start and sp.start < stop
        ]
        cuts = sorted({start, stop, *(a for a, _, _ in spans), *(b for _, b, _ in spans)})
        for a, b in zip(cuts, cuts[1:]):
            style = base
            for s0, s1, sp_style in spans:
                if s0 <= a and s1 >= b:
                    style = style + sp_style  # type: ignore[operator]
            out.append(Segment(plain[a:b], style))
    if end > max(start, stop):
        out.append(Segment(" " * (end - max(start, stop)), base))
    return out


def _border(box: Box) -> list[tuple[int, int, int]]:
    """``(row, start, end)`` ranges of a box's border."""
    x, y, w, h = box.x, box.y, box.w, box.h
    out = [(y, x, x + w), (y + h - 1, x, x + w)]
    for r in range(y + 1, y + h - 1):
        out += [(r, x, x + 1), (r, x + w - 1, x + w)]
    return out


# --- widget ----------------------------------------------------------------------------


class GraphView(ScrollView, can_focus=True, inherit_bindings=False):
    """The computation graph, with the current frame's values and gradients.

    The screen calls :meth:`show` with each new frame. Clicking a node, or ``enter`` on
    the node chosen with ``up``/``down``, posts :class:`GraphView.NodeSelected`.
    ``left``/``right`` are left to the app, which steps with them.
    """

    DEFAULT_CSS = """
    GraphView {
        width: 1fr;
        height: 1fr;
    }
    """

    BINDINGS = [
        Binding("up", "move(-1)", "Previous node", show=False),
        Binding("down", "move(1)", "Next node", show=False),
        Binding("enter", "choose", "Select node", show=False),
        Binding("shift+left", "scroll_left", "Scroll left", show=False),
        Binding("shift+right", "scroll_right", "Scroll right", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]

    class NodeSelected(Message):
        """The user selected a node (by click, or ``enter``)."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name
            """The selected node's name."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._layout: Layout | None = None
        self._frame: Frame | None = None
        self._selected: str | None = None
        self._lines: list[tuple[str, list[Span]]] = []
        self._strips: dict[tuple, Strip] = {}
        self._pass: tuple[Style, int] | None = None
        self._style_stale = True
        self._revealed: Region | None = None
        self._palette = DEFAULT_PALETTE

    # --- public ------------------------------------------------------------------------

    @property
    def graph_layout(self) -> Layout | None:
        """The current graph's layout (None before the first :meth:`show`)."""
        return self._layout

    @property
    def selected(self) -> str | None:
        """The selected node's name."""
        return self._selected

    def select(self, name: str | None) -> None:
        """Highlight ``name`` as the selection without posting a message."""
        if self._layout is not None and name is not None and name not in self._layout.box_of:
            return
        self._selected = name
        self._redraw()
        if name is not None and self._layout is not None:
            self._reveal(self._layout.region_of(name))

    def show(self, frame: Frame, timeline: Timeline | None = None) -> None:
        """Draw ``frame`` and scroll its event's node into view.

        Args:
            frame: The state to draw.
            timeline: The run it belongs to (unused: everything drawn is in the frame).
        """
        graph = frame.program.graph
        if self._layout is None or self._layout.graph is not graph:
            self._layout = layout(graph)
            if self._selected not in self._layout.box_of:
                self._selected = None
            self.virtual_size = Size(self._layout.width, self._layout.height)
            # Scrollbars appearing shrink the window; place it again once they have.
            self.call_after_refresh(self.on_resize)
        self._frame = frame
        self._redraw()
        subject = frame.event.subject
        if subject in self._layout.box_of:
            self._reveal(self._layout.region_of(subject))

    # --- internals -----------------------------------------------------------------------

    def on_mount(self) -> None:
        super().on_mount()
        self._palette = Palette.from_theme(self.app.theme_variables)
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        self._palette = Palette.from_theme(self.app.theme_variables)
        self._redraw()

    def _redraw(self) -> None:
        if self._layout is None:
            return
        old = self._lines
        self._lines = render_rows(self._layout, self._frame, self._selected, palette=self._palette)
        if len(old) != len(self._lines):
            self._strips.clear()
            self.refresh()
            return
        # An event changes a few numbers and highlights: repaint only the rows that
        # changed, and keep the strips of the others.
        changed = {y for y, (was, now) in enumerate(zip(old, self._lines)) if was != now}
        if changed:
            self._strips = {k: s for k, s in self._strips.items() if k[0] not in changed}
            for y in changed:
                self.refresh_line(y)

    def _reveal(self, region: Region) -> None:
        """Scroll so that ``region`` is in view.

        The offset depends only on the region and the pane's size (the least scroll from
        the origin that shows it), never on where the pane was scrolled before, so that
        stepping back shows exactly what was shown before.
        """
        self._revealed = region
        window = self.scrollable_content_region.size
        if not window.area:
            return  # not laid out yet: on_resize does it
        x = min(region.x, max(0, region.right - window.width))
        y = min(region.y, max(0, region.bottom - window.height))
        # force: the scrollbars of a just-replaced drawing are only shown after a refresh.
        self.scroll_to(x, y, animate=False, immediate=True, force=True)

    def on_resize(self) -> None:
        if self._revealed is not None:
            self._reveal(self._revealed)

    def render_lines(self, crop: Region) -> list[Strip]:
        # Looked up once per pass: each lookup walks the CSS, and there is one per line.
        # The style only after a style update (a theme, focus), not on every step.
        style = self._pass[0] if self._pass is not None and not self._style_stale else None
        self._style_stale = False
        self._pass = (style or self.rich_style, self.scrollable_content_region.width)
        return super().render_lines(crop)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_stale = True

    def render_line(self, y: int) -> Strip:
        style, width = self._pass or (self.rich_style, self.scrollable_content_region.width)
        scroll_x, scroll_y = self.scroll_offset
        line = y + scroll_y
        if line >= len(self._lines):
            return Strip.blank(width, style)
        key = (line, scroll_x, width, style)
        strip = self._strips.get(key)
        if strip is None:
            segments = _segments(self._lines[line], scroll_x, scroll_x + width, style)
            strip = Strip(segments, width)
            if len(self._strips) > 4 * len(self._lines):  # scrolled a lot without a step
                self._strips.clear()
            self._strips[key] = strip
        return strip

    def on_click(self, event: Click) -> None:
        if self._layout is None:
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return
        scroll = self.scroll_offset
        node = self._layout.node_at(offset.x + scroll.x, offset.y + scroll.y)
        if node is not None:
            self.select(node)
            self.post_message(self.NodeSelected(node))

    def action_move(self, delta: int) -> None:
        if self._layout is None or not self._layout.order:
            return
        order = self._layout.order
        if self._selected in order:
            i = (order.index(self._selected) + delta) % len(order)
        else:
            subject = self._frame.event.subject if self._frame is not None else None
            i = order.index(subject) if subject in order else 0
        self.select(order[i])

    def action_choose(self) -> None:
        if self._selected is not None:
            self.post_message(self.NodeSelected(self._selected))
