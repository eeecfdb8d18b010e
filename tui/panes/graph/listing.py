"""The graph as a list: one line per node (or per layer) in the order the forward pass
computes them, wrapped into columns when it is taller than the pane. Pure: no Textual.
"""

from __future__ import annotations

import msgspec

from engine.graph.graph import Graph
from tui.panes.graph.boxes import box_groups
from tui.panes.graph.plan import LIVE_PREFIX, Canvas, Plan, Slot, Spec, formula, widest

COLUMN_SEP = " │ "
"""Between the columns of a wrapped list."""


class _Entry(msgspec.Struct):
    """One line of a list: pieces of static text and slots, left to right."""

    members: tuple[str, ...]
    parts: list[tuple[str, str, str, str, int]]
    """``(node, static text, role, slot kind, slot width)``; a slot follows its text."""

    @property
    def width(self) -> int:
        return 2 + sum(len(t) + w for _, t, _, _, w in self.parts)


def draw_list(graph: Graph, spec: Spec, rows: int) -> Plan:
    """One line per node (or per layer) in forward order, wrapped into columns of at most
    ``rows`` lines."""
    entries: list[_Entry] = []
    grads = graph.grad_nodes
    if spec.folded:
        for g in box_groups(graph, spec):
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

    ncols = -(-len(entries) // max(1, rows))
    per_col = -(-len(entries) // ncols)  # columns of even length: no node left alone in one
    columns = [entries[c * per_col : (c + 1) * per_col] for c in range(ncols)]
    widths = [max(e.width for e in column) for column in columns]
    width = sum(widths) + len(COLUMN_SEP) * (ncols - 1)
    canvas = Canvas(width, min(per_col, len(entries)))
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
