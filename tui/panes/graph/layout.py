"""Where the graph pane puts everything: a graph and the pane's room → a plan.

Pure (no Textual): a plan (:class:`~.plan.Plan`) is the static part of the picture — characters, their roles,
and where each number goes — computed once per graph, view and room, so that a step only
fills in numbers and highlights (:mod:`.render`).

The pane always shows the whole graph. :func:`choose` tries renderings from the most
detailed to the least and takes the first that fits the room:

- **neurons** (:mod:`.neurons`; layered networks with at most 10 units a layer): every
  unit a node with its numbers, every weight an edge between them;
- **boxes** (:mod:`.boxes`): the computation graph in columns, one box per node (a layered network: one
  per layer, holding ``W b z a``), edges routed between them; with values and gradients,
  then with one number a node, then names only;
- **a list** (:mod:`.listing`): one line per node (or per layer), in the order the forward pass computes
  them, wrapped into columns when it is taller than the pane.

Zooming in takes the renderings before the one that fits (more detail, larger than the
pane); the widget scrolls over them.
"""

from __future__ import annotations

from engine.graph.graph import Graph
from tui.panes.graph.boxes import box_bound, draw_boxes
from tui.panes.graph.listing import draw_list
from tui.panes.graph.neurons import draw_neurons, neurons_possible
from tui.panes.graph.plan import Plan, Spec

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
        return draw_neurons(graph, spec, columns)
    if spec.style == "boxes":
        return draw_boxes(graph, spec)
    return draw_list(graph, spec, max(1, rows))


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
