"""The diagnostics strip: one line under the header about the current step's health.

It shows each layer's gradient norm at the current step, flagging vanishing and
exploding gradients (:func:`engine.report.diagnose.health_of`), and the ReLU units that are
dead for the whole batch (:func:`engine.report.diagnose.dead_units`). Both are facts about a
whole step, so the strip changes only when the step does, and they are computed once
per step from the step's record, which the panes have materialised already.
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

from engine import fmt
from engine.report.diagnose import RELU_OPS, LayerHealth, dead_units, health_of
from engine.timeline.timeline import Frame, Timeline

SEPARATOR = "  "
GAP = "…"


def _flag(layer: LayerHealth) -> tuple[str, str] | None:
    """``(words, style)`` of a layer's flag, or None when its gradient looks healthy."""
    if layer.nonfinite:
        return "⚠ not finite", "$text-error"
    if layer.exploding:
        return "⚠ exploding", "$text-error"
    if layer.vanishing:
        return "⚠ vanishing", "$text-warning"
    return None


def _entry(layer: LayerHealth) -> Content:
    flag = _flag(layer)
    text = Content.assemble(layer.name, " ", (fmt.num(layer.norm, 3), "$phase-backward"))
    if flag is not None:
        text = Content.assemble(text, " ", (flag[0], f"bold {flag[1]}"))
    return text


def _fit(entries: list[Content], keep: list[bool], width: int) -> Content:
    """The entries joined, dropping unflagged ones from the middle (``…``) until they fit."""
    shown = list(range(len(entries)))

    def joined() -> Content:
        parts: list[Content] = []
        last = -1
        for i in shown:
            if parts:
                parts.append(Content(SEPARATOR))
            if last >= 0 and i != last + 1:
                parts.extend([Content.styled(GAP, "$text-muted"), Content(SEPARATOR)])
            parts.append(entries[i])
            last = i
        return Content.assemble(*parts)

    text = joined()
    # Keep the first and the last layer and every flagged one; drop the others from the
    # middle outwards, so that what remains still reads from the input to the output.
    droppable = [i for i in shown[1:-1] if not keep[i]]
    droppable.sort(key=lambda i: abs(i - (len(entries) - 1) / 2))
    while text.cell_length > width and droppable:
        shown.remove(droppable.pop(0))
        text = joined()
    return text


class DiagnosticsBar(Widget):
    """Gradient norms per layer with ⚠ flags, and dead ReLU units, at the current step.

    The app hands it each frame (:meth:`show`), as it does the panes.
    """

    DEFAULT_CSS = """
    DiagnosticsBar {
        height: 1;
        padding: 0 1;
    }
    """

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._key: tuple[int, int] | None = None
        self._step = 0
        self._layers: list[LayerHealth] = []
        self._dead: dict[str, list[int]] | None = None
        """Dead units of each ReLU node; None when the graph has no ReLU."""

    def show(self, frame: Frame, timeline: Timeline) -> None:
        """Show the diagnostics of ``frame``'s step (computed once per step)."""
        key = (id(frame.record), frame.step)
        if key == self._key:
            return
        self._key = key
        self._step = frame.step
        graph = frame.program.graph
        self._layers = health_of(graph, dict(frame.record.result.grads))
        has_relu = any(n.op in RELU_OPS for n in graph.nodes)
        self._dead = dead_units(frame.record) if has_relu else None
        self.refresh()

    @property
    def flags(self) -> list[str]:
        """What is flagged now, as plain words (for tests): ``"layer 1 vanishing"``…"""
        out = [
            f"{layer.name} {flag[0].removeprefix('⚠ ')}"
            for layer in self._layers
            if (flag := _flag(layer)) is not None
        ]
        out += [f"{node} dead {units}" for node, units in (self._dead or {}).items() if units]
        return out

    def _dead_text(self) -> Content:
        if self._dead is None:
            return Content("")
        dead = {node: units for node, units in self._dead.items() if units}
        if not dead:
            return Content.styled("no dead ReLU units", "$text-muted")
        parts: list[Content] = [Content.styled("dead ReLU ", "bold $text-warning")]
        for i, (node, units) in enumerate(dead.items()):
            word = "unit" if len(units) == 1 else "units"
            listed = ", ".join(str(u) for u in units)
            if i:
                parts.append(Content("; "))
            parts.append(Content.assemble(node, f": {word} {listed}"))
        return Content.assemble(*parts)

    def render(self) -> Content:
        width = self.content_region.width
        head = Content.assemble(
            ("gradient norms", "bold"), (f" step {self._step:,}", "$text-muted"), SEPARATOR
        )
        dead = self._dead_text()
        tail = Content.assemble(SEPARATOR, "│ ", dead) if dead.cell_length else Content("")
        entries = [_entry(layer) for layer in self._layers]
        keep = [_flag(layer) is not None for layer in self._layers]
        room = width - head.cell_length - tail.cell_length
        text = Content.assemble(head, _fit(entries, keep, room), tail)
        # Flagged layers are never dropped: on a narrow terminal the line may still be long.
        return text if text.cell_length <= width else text.truncate(width, ellipsis=True)
