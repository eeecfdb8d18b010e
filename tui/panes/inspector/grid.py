"""The inspector's pure part: a tensor laid out as a grid, and what its element derivations say.

No Textual here. A tensor of any rank is shown as rows and columns: a scalar is one cell,
a vector one row, a matrix itself, and a higher-rank tensor its last axis as columns and
every combination of the others as a row (labelled ``0,1``). :func:`scroll` keeps the
element cursor in view; :func:`derivations` gives the lines under the grid from
:mod:`engine.report.elementwise`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import numpy as np

from engine import fmt
from engine.report import elementwise as ew
from engine.step.events import Backward, Update
from engine.timeline.timeline import Frame

Index = tuple[int, ...]
BANDS = 5
"""Steps of the colour scale's strength (plus one for zero)."""


def grid_shape(shape: Sequence[int]) -> tuple[int, int]:
    """``(rows, columns)`` of a tensor of ``shape`` laid out as a grid."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return 1, shape[0]
    return math.prod(shape[:-1]), shape[-1]


def index_of(shape: Sequence[int], row: int, col: int) -> Index:
    """The tensor index of grid cell ``(row, col)``."""
    if len(shape) == 0:
        return ()
    if len(shape) == 1:
        return (col,)
    lead = tuple(int(i) for i in np.unravel_index(row, tuple(shape[:-1])))
    return (*lead, col)


def row_label(shape: Sequence[int], row: int) -> str:
    """The label of a grid row: its index along the leading axes (``""`` for a vector)."""
    if len(shape) < 2:
        return ""
    return ",".join(str(i) for i in index_of(shape, row, 0)[:-1])


def scroll(start: int, visible: int, total: int, cursor: int) -> int:
    """The first visible row (or column) after moving the cursor: unchanged while the
    cursor is in view, else the least move that shows it."""
    visible = max(1, visible)
    if cursor < start:
        start = cursor
    elif cursor >= start + visible:
        start = cursor - visible + 1
    return max(0, min(start, max(0, total - visible)))


def bands(a: np.ndarray) -> np.ndarray:
    """Each element's colour strength: 0 for zero (and non-finite), else 1 to
    :data:`BANDS` by its size against the largest finite magnitude, signed."""
    with np.errstate(all="ignore"):
        finite = np.isfinite(a)
        big = float(np.max(np.abs(a[finite]))) if finite.any() else 0.0
        if big == 0.0:
            return np.zeros(a.shape, dtype=np.int8)
        level = np.ceil(np.abs(np.where(finite, a, 0.0)) / big * BANDS)
        return (np.sign(np.where(finite, a, 0.0)) * np.clip(level, 0, BANDS)).astype(np.int8)


class Section(msgspec.Struct, frozen=True):
    """Lines under the grid: a heading and its derivations (or a sentence)."""

    heading: str
    lines: tuple[str, ...]


def derivations(frame: Frame, node: str, idx: Index) -> list[Section]:
    """The element's forward and backward derivations at ``frame``, as the inspector shows
    them: only what the step has computed by the frame's event."""
    graph = frame.program.graph
    n = graph[node]
    values, grads = frame.values, frame.grads
    out: list[Section] = []
    here = ew.ref(node, idx)
    if n.op is None:
        what = {
            "param": f"a parameter: its value at the start of step {frame.step}",
            "input": "data: an input of the model",
            "const": "a constant",
        }.get(n.kind, n.kind)
        out.append(Section("Value", (f"{here} is {what}",)))
    elif node in values:
        d = ew.forward(graph, frame.record.result.values, node, idx)
        if d is not None:
            out.append(Section("Forward", (d.text(),)))
    else:
        out.append(Section("Forward", (f"{here}: {fmt.PENDING} not computed yet at this event",)))
    lhs = f"∂{graph.loss}/∂{here}"
    if node == graph.loss:
        out.append(Section("Backward", (f"{lhs} = 1: the seed of backpropagation",)))
    elif node not in graph.grad_nodes:
        out.append(Section("Backward", (f"{lhs}: none, {node} does not depend on a parameter",)))
    elif node not in grads:
        out.append(Section("Backward", (f"{lhs}: {fmt.PENDING} not computed yet at this event",)))
    else:
        ev = next(e for e in frame.record.events if isinstance(e, Backward) and e.node == node)
        terms = {t.via: t.value for t in ev.terms}
        ds = ew.gradient(graph, frame.record.result.values, grads, node, idx, terms)
        lines = [d.text() for d in ds]
        if ds and ds[0].note:
            lines.append(ds[0].note)
        out.append(Section("Backward", tuple(lines) or (f"{lhs} = {fmt.num(grads[node][idx])}",)))
    update = frame.event
    if isinstance(update, Update) and update.param == node:
        out.append(Section("Update", update_lines(frame, update, idx)))
    return out


def update_lines(frame: Frame, ev: Update, idx: Index) -> tuple[str, ...]:
    """The element's update with its numbers: for plain SGD the rule in one line; for
    every other rule and option, the optimizer's own derivation (the chain-rule pane's,
    for the whole tensor) at this element, from θ, g and the buffers before to the new
    value, then the settings."""
    p = ew.ref(ev.param, idx)
    g = f"∂{frame.program.graph.loss}/∂{p}"
    opt = frame.program.optimizer
    if opt.kind == "sgd" and not opt.spec.weight_decay:
        nums = f"{fmt.num(ev.before[idx])} − {fmt.num(opt.spec.lr)}·{ew.num(ev.grad[idx])}"
        return (f"{p} ← {p} − lr·{g} = {nums} = {fmt.num(ev.after[idx])}",)
    before = frame.record.state_before[ev.param]

    def at(a: np.ndarray) -> str:
        a = np.asarray(a)
        return fmt.num(a if a.size == 1 else a[idx])

    lines = [f"θ = {p} = {at(ev.before)}, g = {g} = {at(ev.grad)}"]
    if before:
        lines.append(", ".join(f"{key} before = {at(buf)}" for key, buf in before.items()))
    steps = opt.derivation(ev.before, ev.grad, before, ev.step)
    for k, (formula, value) in enumerate(steps):
        if k == len(steps) - 1:  # the new value: θ ← … is this element's
            formula = formula.replace("θ ←", f"{p} ←", 1)
        lines.append(f"{formula} = {at(value)}")
    settings = ", ".join(
        f"{symbol} = {str(v).lower() if isinstance(v, bool) else fmt.num(v)}"
        for symbol, v in opt.settings()
    )
    lines.append(settings)
    return tuple(lines)
