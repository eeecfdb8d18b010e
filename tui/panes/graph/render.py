"""What a frame draws on a plan: the numbers, the current node, the edges it travels.

:func:`render_rows` turns a :class:`~.layout.Plan` and a :class:`~engine.timeline.timeline.Frame`
into styled rows (characters and Rich spans); :func:`segments` cuts a row into the
segments of one screen line. Every number is written by :func:`engine.fmt.fit`, as the
other panes and the text trace write it.

The current event's node is unmistakable without colour too: a marker glyph
(:data:`~.layout.MARKER`) beside it, its line in bold on a highlighted background and its
box's border drawn in the current colour. In the neuron view each weight's edge has the
colour of its sign and an intensity that grows with its size; while the backward pass
computes a weight matrix's gradient, its edges show ∂L/∂w instead, number and colour.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from itertools import pairwise

import msgspec
import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Span

from engine import fmt
from engine.step.events import Backward, Forward, Loss
from engine.timeline.timeline import Frame
from tui.panes.graph.plan import LIVE_PREFIX, MARKER, Plan, Slot

PENDING = fmt.PENDING
"""Stands for a number the run has not reached yet (never ``·``, which means "times")."""
LEVELS = 5
"""Intensities of a weight's colour, from faint (small) to full (the largest)."""


class Palette(msgspec.Struct, frozen=True):
    """The styles of the drawing, one per role.

    Attributes:
        border: Box borders.
        title: A box's title, a column's title.
        tag: A box's op or kind; a list's formulas.
        label: A name inside a box or a unit.
        index: A unit's index.
        edge: Edges at rest.
        value: A known value.
        pending: The mark of a value or gradient not yet known.
        grad: A known gradient.
        grad_prefix: The ``∂L`` before a gradient.
        updated: A parameter's value after its update.
        bad: A value that is not finite.
        current: The current event's marker and box border.
        current_line: The current event's lines (added to what they have).
        forward: An edge the forward pass is traversing.
        backward: An edge the backward pass is traversing.
        selected: The selected node's name.
        selected_border: The border of the selected node's box.
        positive: A positive weight's edge, faint to full.
        negative: A negative weight's edge, faint to full.
    """

    border: Style = Style(dim=True)
    title: Style = Style(bold=True)
    tag: Style = Style(dim=True, italic=True)
    label: Style = Style(bold=True)
    index: Style = Style(dim=True)
    edge: Style = Style(dim=True)
    value: Style = Style()
    pending: Style = Style(dim=True)
    grad: Style = Style(color="magenta")
    grad_prefix: Style = Style(color="magenta", dim=True)
    updated: Style = Style(color="green", bold=True)
    bad: Style = Style(color="red", bold=True)
    current: Style = Style(color="cyan", bold=True, dim=False)
    current_line: Style = Style(bgcolor="grey23", bold=True)
    forward: Style = Style(color="cyan", bold=True, dim=False)
    backward: Style = Style(color="magenta", bold=True, dim=False)
    selected: Style = Style(reverse=True)
    selected_border: Style = Style(bold=True, dim=False)
    positive: tuple[Style, ...] = tuple(Style(color="blue", dim=i < 2) for i in range(LEVELS))
    negative: tuple[Style, ...] = tuple(Style(color="red", dim=i < 2) for i in range(LEVELS))

    @classmethod
    def from_theme(cls, variables: Mapping[str, str]) -> Palette:
        """A palette from a Textual app's theme variables (``app.theme_variables``).

        Theme colours are read by :func:`tui.drawing.theme_colors.theme_color`, which copes with
        every form a theme writes them in; a terminal's own (ANSI) colour is kept as it is
        (the terminal decides its shade), so its ramp dims the faint levels instead.
        """
        # Only the app needs themes; tests use the default palette.
        from textual.color import Color

        from tui.drawing.theme_colors import style_color, theme_color

        background = theme_color(variables, "background", "#000000")
        if background.ansi is not None:
            background = Color(0, 0, 0)

        def color(name: str, fallback: str) -> Color:
            return theme_color(variables, name, fallback)

        def phase(name: str, theme_name: str, fallback: str) -> Color:
            # The app publishes one colour per phase; a bare theme has only its own names.
            return color(f"phase-{name}", variables.get(theme_name, fallback))

        def ramp(c: Color) -> tuple[Style, ...]:
            if c.ansi is not None:
                return tuple(Style(color=c.rich_color.name, dim=i < 2) for i in range(LEVELS))
            # From a third of the way out of the background to the colour itself.
            return tuple(
                Style(color=background.blend(c, 0.3 + 0.7 * i / (LEVELS - 1)).hex)
                for i in range(LEVELS)
            )

        muted = style_color(color("foreground-muted", "#888888"))
        grad = style_color(phase("backward", "text-accent", "#ffc473"))
        fwd = style_color(phase("forward", "text-primary", "#57a5e2"))
        return cls(
            border=Style(color=muted),
            tag=Style(color=muted, italic=True),
            index=Style(color=muted),
            edge=Style(color=muted),
            pending=Style(color=muted),
            grad=Style(color=grad),
            grad_prefix=Style(color=grad, dim=True),
            updated=Style(color=style_color(phase("update", "text-success", "#8ad4a1")), bold=True),
            bad=Style(color=style_color(color("text-error", "#e0788f")), bold=True),
            current=Style(color=fwd, bold=True),
            current_line=Style(bgcolor=style_color(color("primary-muted", "#0c304c")), bold=True),
            forward=Style(color=fwd, bold=True),
            backward=Style(color=grad, bold=True),
            selected_border=Style(color=style_color(color("foreground", "#e0e0e0")), bold=True),
            positive=ramp(color("text-primary", "#57a5e2")),
            negative=ramp(color("text-error", "#d17e92")),
        )


DEFAULT_PALETTE = Palette()

Row = tuple[str, list[Span]]


# --- numbers --------------------------------------------------------------------------------

_TEXTS: dict[tuple[int, int], tuple[weakref.ref[np.ndarray], str, bool]] = {}
"""Text of arrays already fitted, by identity and width: a step's frames show the same
(read-only) arrays again and again, and summarising a large one is the costly part. Weak
references, so that the memo never keeps a step's arrays alive."""


def number(a: np.ndarray | float, width: int) -> tuple[str, bool]:
    """:func:`engine.fmt.fit` of ``a`` in ``width``, and whether all of it is finite."""
    if not isinstance(a, np.ndarray) or a.size <= fmt.MAX_ELEMS:
        arr = np.asarray(a)
        return fmt.fit(arr, width), bool(np.isfinite(arr).all())
    key = (id(a), width)
    hit = _TEXTS.get(key)
    if hit is not None and hit[0]() is a:
        return hit[1], hit[2]
    text, finite = fmt.fit(a, width), bool(np.isfinite(a).all())
    if len(_TEXTS) >= 4096:
        _TEXTS.clear()
    _TEXTS[key] = (weakref.ref(a), text, finite)
    return text, finite


def traversed(frame: Frame) -> tuple[list[tuple[str, str]], str]:
    """The ``(input, consumer)`` pairs the frame's event travels along, and the phase."""
    e = frame.event
    if isinstance(e, Forward):
        return [(i, e.node) for i in e.inputs], "forward"
    if isinstance(e, Loss):
        return [(i, e.node) for i in frame.program.graph[e.node].inputs], "forward"
    if isinstance(e, Backward):
        return [(e.node, t.via) for t in e.terms], "backward"
    return [], "update"


class _State:
    """What one frame knows, looked up once per render."""

    def __init__(self, plan: Plan, frame: Frame, sample: int) -> None:
        self.frame = frame
        self.values = frame.values
        self.grads = frame.grads
        self.params = frame.params
        self.update_at = frame.record.update_at
        self.pos = frame.pos
        self.phase = frame.phase
        self.subject = frame.event.subject
        graph = plan.graph
        self.batched = {
            n.name
            for n in graph.nodes
            if plan.per_sample and n.kind in ("input", "op") and n.name != graph.loss
        }
        self.batch = next((len(v) for k, v in self.values.items() if k in self.batched), 1)
        self.sample = min(sample, max(0, self.batch - 1))

    def array(self, node: str, kind: str) -> tuple[np.ndarray | None, bool]:
        """The node's value or gradient now (None if not known yet), and whether it is a
        parameter's updated value."""
        if kind == "grad":
            return self.grads.get(node), False
        if node in self.params:
            return self.params[node], self.update_at[node] <= self.pos
        return self.values.get(node), False

    def element(self, node: str, a: np.ndarray, index: tuple[int, ...]) -> np.ndarray:
        if node in self.batched:
            a = a[self.sample]
        return a[index] if index else a


def _slot_text(slot: Slot, st: _State, palette: Palette) -> list[tuple[str, Style]]:
    """The pieces of text a slot shows now, each with its style."""
    kind, node = slot.kind, slot.node
    if kind == "sample":
        n = st.batch
        for text in (f"x · sample {st.sample}/{n}", f"x · {st.sample}/{n}", "x"):
            if len(text) <= slot.w and (n > 1 or text == "x"):
                return [(text, palette.title)]
    if kind == "legend":
        return _legend(slot, st, palette)
    if kind == "band":
        # The weights' title, with the marker when the event is about them (the marker
        # goes where the centred title begins, so it is part of the title's text).
        k = node[1:]
        if st.subject in (node, f"b{k}"):
            marker = (MARKER + " ", palette.current)
            if st.phase == "backward":
                return [marker, (f"∂L/∂{st.subject}", palette.backward)]
            return [marker, (f"{node} · b{k}", palette.current)]
        return [(f"{node} · b{k}", palette.title)]
    if kind == "weight":
        showing_grad = st.phase == "backward" and st.subject == node
        a = st.grads.get(node) if showing_grad else st.params.get(node)
        if a is None:
            return [(PENDING, palette.pending)]
        text, finite = number(a[slot.index], slot.w - 2)
        if showing_grad:
            style = palette.backward
        else:
            style = palette.updated if st.update_at[node] <= st.pos else palette.value
        return [(f" {text} ", style if finite else palette.bad)]
    if kind == "unit":
        return _unit_text(slot, st, palette)
    if kind == "live":
        grad = st.grads.get(node) if st.phase == "backward" else None
        if grad is not None:
            text, finite = number(st.element(node, grad, slot.index), slot.w - len(LIVE_PREFIX))
            return [
                (LIVE_PREFIX, palette.grad_prefix),
                (text, palette.grad if finite else palette.bad),
            ]
        kind = "value"
    a, updated = st.array(node, kind)
    if a is None:
        return [(PENDING, palette.pending)]
    text, finite = number(st.element(node, a, slot.index), slot.w)
    if not finite:
        style = palette.bad
    elif kind == "grad":
        style = palette.grad
    else:
        style = palette.updated if updated else palette.value
    return [(text, style)]


def _legend(slot: Slot, st: _State, palette: Palette) -> list[tuple[str, Style]]:
    """The numbers of the weights (or biases) the current event is about, each with its
    index, as many as fit: ``∂L/∂W1  [0,0] 0.00285408  [0,1] -0.00679267 …``."""
    subject, phase = st.subject, st.phase
    k = subject[1:]
    if subject[:1] in ("W", "b") and k.isdigit():
        param = subject
    elif subject[:1] == "z" and k.isdigit() and phase == "forward":
        param = f"W{k}"
    else:
        return []
    showing_grad = phase == "backward" and subject == param
    a = st.grads.get(param) if showing_grad else st.params.get(param)
    if a is None:
        return []
    head = f"∂L/∂{param}" if showing_grad else param
    style = (
        palette.grad if showing_grad else (palette.updated if phase == "update" else palette.value)
    )
    out: list[tuple[str, Style]] = [(head, palette.title)]
    used = len(head)
    for index in np.ndindex(a.shape):
        where = "[" + ",".join(map(str, index)) + "] "
        text = fmt.num(a[index])
        if used + 2 + len(where) + len(text) + 2 > slot.w:
            out.append(("  " + fmt.ELIDED, palette.pending))
            break
        out += [("  " + where, palette.index), (text, style)]
        used += 2 + len(where) + len(text)
    return out


def _unit_text(slot: Slot, st: _State, palette: Palette) -> list[tuple[str, Style]]:
    """A neuron's one line: its error signal ∂L/∂z (or ∂L/∂a) in the backward pass, else
    its activation (or its sum before that)."""
    k = slot.node[1:]
    lw = max(2, len(slot.node))
    choices = [(f"z{k}", "grad"), (f"a{k}", "grad")] if st.phase == "backward" else []
    choices += [(f"a{k}", "value"), (f"z{k}", "value")]
    for node, kind in choices:
        a, _ = st.array(node, kind)
        if a is None:
            continue
        text, finite = number(st.element(node, a, slot.index), slot.w - lw - 2)
        label = ("∂" + node if kind == "grad" else node).rjust(lw + 1)
        style = palette.grad if kind == "grad" else palette.value
        return [(label + " ", palette.label), (text, style if finite else palette.bad)]
    return [(slot.node.rjust(lw + 1) + " ", palette.label), (PENDING, palette.pending)]


def _weight_styles(plan: Plan, st: _State, palette: Palette) -> dict[tuple[int, int], Style]:
    """The colour of each weight edge's cells: its sign, and its size against the largest
    of its matrix; while the backward pass computes the matrix's gradient, the gradient's."""
    out: dict[tuple[int, int], Style] = {}
    strength: dict[tuple[int, int], float] = {}
    by_param: dict[str, list] = {}
    for w in plan.weights:
        by_param.setdefault(w.param, []).append(w)
    for param, edges in by_param.items():
        current = st.phase == "backward" and st.subject == param
        a = st.grads.get(param) if current else st.params.get(param)
        if a is None:
            continue
        sizes = np.abs(a[np.isfinite(a)])
        top = float(sizes.max()) if sizes.size else 0.0
        for w in edges:
            v = float(a[w.index])
            size = abs(v) / top if top > 0 and np.isfinite(top) and np.isfinite(v) else 0.0
            level = min(LEVELS - 1, int(size * LEVELS))
            style = (palette.positive if v >= 0 else palette.negative)[level]
            if current:
                style = style + Style(bold=True)
            for cell in w.cells:
                # Where lines cross, the stronger one shows.
                if size >= strength.get(cell, -1.0):
                    strength[cell] = size
                    out[cell] = style
    return out


def render_rows(
    plan: Plan,
    frame: Frame | None,
    selected: str | None = None,
    *,
    sample: int = 0,
    palette: Palette = DEFAULT_PALETTE,
) -> list[Row]:
    """The drawing of ``plan`` at ``frame``, as ``(characters, spans)`` per row.

    Args:
        plan: From :func:`~.layout.choose`.
        frame: What to show; None draws the graph with no numbers.
        selected: The selected node, if any.
        sample: Which sample the neuron view shows (clamped to the batch).
        palette: The styles.

    Returns:
        One row per line of the drawing, each exactly ``plan.width`` characters.
    """
    static = plan.cache.get(palette)
    if static is None:
        static = [[Span(s, e, getattr(palette, role)) for s, e, role in row] for row in plan.styled]
        plan.cache.clear()
        plan.cache[palette] = static
    rows = [list(r) for r in plan.grid]
    spans = [list(r) for r in static]
    extra: list[list[Span]] = [[] for _ in rows]

    if frame is not None:
        st = _State(plan, frame, sample)
        for y, row_slots in enumerate(plan.slots):
            row = rows[y]
            for slot in row_slots:
                pieces = _slot_text(slot, st, palette)
                length = sum(len(t) for t, _ in pieces)
                if length > slot.w:  # never: fit keeps to the width; a label never spills
                    pieces = [(fmt.ELIDED, palette.pending)]
                    length = 1
                if slot.align == "center":
                    x = slot.x + (slot.w - length) // 2
                else:
                    x = slot.x
                    row[slot.x : slot.x + slot.w] = " " * slot.w
                for text, style in pieces:
                    row[x : x + len(text)] = text
                    spans[y].append(Span(x, x + len(text), style))
                    x += len(text)

        if plan.weights:
            # The lines' colours, where a line shows (a weight's number is written over
            # its line and keeps its own style).
            # Neighbouring cells of one style make one span: fewer segments to draw.
            runs: dict[int, list[list]] = {}
            for (y, x), style in sorted(_weight_styles(plan, st, palette).items()):
                if not "\u2800" <= rows[y][x] <= "\u28ff":
                    continue
                row_runs = runs.setdefault(y, [])
                if row_runs and row_runs[-1][1] == x and row_runs[-1][2] is style:
                    row_runs[-1][1] = x + 1
                else:
                    row_runs.append([x, x + 1, style])
            for y, row_runs in runs.items():
                spans[y].extend(Span(a, b, style) for a, b, style in row_runs)
        subject = st.subject
        # The edges the event travels along.
        pairs, phase = traversed(frame)
        style = palette.forward if phase == "forward" else palette.backward
        for pair in pairs:
            for y, x in plan.edges.get(pair, ()):
                extra[y].append(Span(x, x + 1, style))
            if not plan.edges and not plan.weights:
                # A list has no edges: its partners' names take the colour instead.
                other = pair[0] if pair[1] == subject else pair[1]
                for y, x0, x1 in plan.labels.get(other, ()):
                    extra[y].append(Span(x0, x1, style))
        # The current node: its box, its lines, its marker.
        if subject in plan.boxes:
            for y, x0, x1 in _border(*plan.boxes[subject]):
                extra[y].append(Span(x0, x1, palette.current))
        kind = "grad" if frame.phase == "backward" else "value"
        lines = plan.lines.get(subject, {})
        for y, x0, width in lines.get(kind) or lines.get("live") or lines.get("unit") or ():
            extra[y].insert(0, Span(x0 - 1, x0 + width + 1, palette.current_line))
        marks = plan.marks.get(subject, {})
        for y, x in marks.get(kind) or marks.get("") or next(iter(marks.values()), ()):
            rows[y][x] = MARKER
            extra[y].append(Span(x, x + 1, palette.current))

    if selected is not None:
        if selected in plan.boxes:
            for y, x0, x1 in _border(*plan.boxes[selected]):
                extra[y].append(Span(x0, x1, palette.selected_border))
        for y, x0, x1 in plan.labels.get(selected, ()):
            extra[y].append(Span(x0, x1, palette.selected))

    for y, extras in enumerate(extra):
        spans[y].extend(extras)
    return [("".join(r), s) for r, s in zip(rows, spans)]


def _border(x: int, y: int, w: int, h: int) -> list[tuple[int, int, int]]:
    """``(row, start, end)`` ranges of a box's border."""
    out = [(y, x, x + w), (y + h - 1, x, x + w)]
    for r in range(y + 1, y + h - 1):
        out += [(r, x, x + 1), (r, x + w - 1, x + w)]
    return out


def segments(row: Row, start: int, end: int, base: Style) -> list[Segment]:
    """Columns ``start``–``end`` of a drawing row as segments, padded to the full width.

    Rich's own ``Text`` handles wrapping, markup and wide characters, none of which a
    drawing row has; doing just the span arithmetic here is several times faster, which
    matters because every visible row is redrawn on every step.
    """
    plain, row_spans = row
    stop = min(end, len(plain))
    out: list[Segment] = []
    if start < stop:
        cut = [
            (max(sp.start, start), min(sp.end, stop), sp.style)
            for sp in row_spans
            if sp.end > start and sp.start < stop
        ]
        cuts = sorted({start, stop, *(a for a, _, _ in cut), *(b for _, b, _ in cut)})
        for a, b in pairwise(cuts):
            style = base
            for s0, s1, sp_style in cut:
                if s0 <= a and s1 >= b:
                    style = style + sp_style  # type: ignore[operator]
            out.append(Segment(plain[a:b], style))
    if end > max(start, stop):
        out.append(Segment(" " * (end - max(start, stop)), base))
    return out


def plain_rows(
    plan: Plan, frame: Frame | None, selected: str | None = None, sample: int = 0
) -> list[str]:
    """The drawing's characters alone, one string a row (for tests and text exports)."""
    return [text for text, _ in render_rows(plan, frame, selected, sample=sample)]
