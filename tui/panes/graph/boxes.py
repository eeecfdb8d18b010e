"""The graph as boxes in columns, joined by routed edges (or, turned a quarter, as lines
of text from the top down).

Sugiyama-style: dummy points where long edges cross a column, barycenter ordering to
reduce crossings, placement along each column by isotonic regression, one channel per
fanning source in each gap. Pure: no Textual.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

from engine import fmt
from engine.graph.graph import Graph
from tui.panes.graph.plan import (
    ARROW,
    GRAD_PREFIX,
    LIVE_PREFIX,
    TAG_TEXT,
    Canvas,
    Cell,
    Plan,
    Slot,
    Spec,
    count_layers,
    widest,
)

ROW_GAP = 1
"""Blank rows between two boxes of a column."""


class _Group(msgspec.Struct):
    """A box: one node, or a layer of a layered network."""

    key: str
    title: str
    tag: str
    foot: str
    members: tuple[str, ...]
    labelled: bool


def box_groups(graph: Graph, spec: Spec) -> list[_Group]:
    """The boxes of ``graph``, in graph order."""
    groups: dict[str, list[str]] = {}
    if graph.kind == "model":
        layers = count_layers(graph)
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
    """Each box's contents, size (in :func:`draw_boxes`' abstract coordinates) and column."""
    groups = box_groups(graph, spec)
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
    """Width and height that :func:`draw_boxes` needs at least for ``spec``: the widest box
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


def draw_boxes(graph: Graph, spec: Spec) -> Plan:
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
    canvas = Canvas(across, x) if vertical else Canvas(x, across)

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
    canvas: Canvas,
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

    Routes are found in the abstract coordinates of :func:`draw_boxes` (``(across, along)``
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


def _draw_box(canvas: Canvas, x: int, y: int, w: int, h: int, g: _Group) -> None:
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
