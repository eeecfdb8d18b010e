"""The neuron view: a small layered network unit by unit, every weight a line.

Each unit is a node with its numbers (bias, sum, activation, their gradients) for one
sample of the batch; each weight a braille line from a unit to a unit of the next layer,
with its number on it where there are few; a legend line lists the numbers of the
weight matrix the event is about. Pure: no Textual.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine import fmt
from engine.graph.graph import Graph
from tui.panes.graph.plan import ARROW, Canvas, Cell, Plan, Slot, Spec, WeightEdge, count_layers

MAX_UNITS = 10
"""The widest layer (inputs included) the neuron view draws unit by unit."""


def neurons_possible(graph: Graph) -> bool:
    """Whether ``graph`` is a layered network small enough to draw unit by unit."""
    if graph.kind != "model":
        return False
    widths = [graph["x"].shape[1]] + [
        graph[f"z{k}"].shape[1] for k in range(1, count_layers(graph) + 1)
    ]
    return max(widths) <= MAX_UNITS


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
"""Characters of line visible on each side of a weight's label."""
MAX_LABELLED = 6
"""A weight matrix with at most this many elements has its numbers on its edges."""
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
"""Braille dot bits by (row within the cell, column within the cell)."""


def draw_neurons(graph: Graph, spec: Spec, columns: int = 0) -> Plan:
    """Every unit a node and every weight an edge, columns left to right from the inputs;
    the targets and the loss under the output layer, and a line for the numbers of the
    weights the current event is about."""
    n_layers = count_layers(graph)
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
    canvas = Canvas(width, bottom + 1)

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
