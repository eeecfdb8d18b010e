"""The graph pane's layout (pure: no Textual): every rendering's geometry, and the choice
of the rendering that fits."""

from __future__ import annotations

import subprocess
import sys
from collections import deque
from itertools import pairwise

import numpy as np
import pytest
from snapshot_apps import expression, xor

from engine import fmt
from engine.graph.graph import Graph
from engine.open import open_program
from engine.step.program import Program
from scenarios import builtin_ids
from tui.panes.graph.boxes import box_bound
from tui.panes.graph.layout import LAYER_SPECS, NEURON_SPECS, build, choose, specs
from tui.panes.graph.neurons import MAX_UNITS, neurons_possible
from tui.panes.graph.plan import ARROW, Plan, Spec, formula, widest

BUILTINS = builtin_ids()


def every_plan(graph: Graph, rows: int = 16) -> list[tuple[Spec, Plan]]:
    return [(spec, build(graph, spec, rows)) for spec in specs(graph, "neurons")]


@pytest.fixture(params=BUILTINS)
def builtin(request: pytest.FixtureRequest) -> Program:
    return open_program(request.param)


def test_the_layout_imports_no_textual() -> None:
    code = (
        "import sys, tui.panes.graph.layout;"
        "print(any(m.startswith(('textual', 'rich')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- every rendering of every built-in: sound geometry -----------------------------------------


def test_plans_are_rectangles_with_everything_inside(builtin: Program) -> None:
    for spec, plan in every_plan(builtin.graph):
        assert len(plan.grid) == plan.height, spec
        assert all(len(row) == plan.width for row in plan.grid), spec
        assert len(plan.slots) == plan.height and len(plan.styled) == plan.height
        for y, row in enumerate(plan.slots):
            ends = []
            for slot in row:
                assert slot.y == y and 0 <= slot.x and slot.x + slot.w <= plan.width, (spec, slot)
                ends.append((slot.x, slot.x + slot.w))
            ends.sort()
            # Slots never overlap: a number cannot be written over another.
            assert all(a[1] <= b[0] for a, b in pairwise(ends)), (spec, ends)
        for x, y, w, h, node in plan.hits:
            assert 0 <= x and x + w <= plan.width and 0 <= y and y + h <= plan.height
            assert node in builtin.graph.by_name
        for node, by_kind in plan.marks.items():
            for cells in by_kind.values():
                assert all(0 <= y < plan.height and 0 <= x < plan.width for y, x in cells)


def test_every_node_can_be_found_and_walked(builtin: Program) -> None:
    names = {n.name for n in builtin.graph.nodes}
    for spec, plan in every_plan(builtin.graph):
        assert set(plan.order) == names, spec
        # Every node can be clicked, and each that has events a place for the current
        # event's marker (the neuron view's weights have theirs in their band's title).
        assert {h[4] for h in plan.hits} == names, spec
        markable = set(plan.marks)
        if spec.style == "neurons":
            markable |= set(builtin.graph.params)
        assert markable >= set(builtin.graph.backward_order), spec
        for node in names:
            assert plan.area(node) is not None, (spec, node)


def test_boxes_do_not_overlap_and_edges_connect_them(builtin: Program) -> None:
    graph = builtin.graph
    for spec, plan in every_plan(graph):
        if spec.style != "boxes":
            continue
        boxes = {box for box in plan.boxes.values()}
        for a in boxes:
            for b in boxes:
                if a < b:
                    ax, ay, aw, ah = a
                    bx, by, bw, bh = b
                    assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay
        arrow = "▾" if spec.vertical else ARROW
        for (src, dst), cells in plan.edges.items():
            assert cells, (spec, src, dst)
            cells_set = set(cells)
            # One unbroken run of cells, ending in an arrow, never through a box.
            ends = [(y, x) for y, x in cells if plan.grid[y][x] == arrow]
            assert ends, (spec, src, dst)
            seen, todo = set(), deque(cells[:1])
            while todo:
                y, x = todo.popleft()
                if (y, x) in seen:
                    continue
                seen.add((y, x))
                todo.extend(
                    c for c in ((y, x + 1), (y, x - 1), (y + 1, x), (y - 1, x)) if c in cells_set
                )
            assert seen == cells_set, (spec, src, dst)
            for bx, by, bw, bh in boxes:
                assert not any(bx <= x < bx + bw and by <= y < by + bh for y, x in cells)


def test_every_input_of_a_node_has_an_edge_in_box_drawings(builtin: Program) -> None:
    graph = builtin.graph
    for spec, plan in every_plan(graph):
        if spec.style != "boxes" or spec.bare:
            continue
        box_of = {n: plan.boxes[n] for n in plan.boxes}
        wanted = {
            (i, n.name)
            for n in graph.nodes
            for i in n.inputs
            if box_of.get(i) != box_of.get(n.name)
        }
        assert set(plan.edges) == wanted, spec


def test_layer_boxes_hold_w_b_z_a_in_textbook_order() -> None:
    graph = open_program("spiral-mlp").graph
    plan = build(graph, LAYER_SPECS[0], 16)
    for k in (1, 2, 3):
        members = [f"W{k}", f"b{k}", f"z{k}", f"a{k}"]
        assert len({plan.boxes[m] for m in members}) == 1  # one box
        rows = [plan.labels[m][0][0] for m in members]
        assert rows == sorted(rows)
    assert plan.boxes["x"] != plan.boxes["z1"]
    # Columns follow layers: each layer's box is right of the one before.
    xs = [plan.boxes[f"z{k}"][0] for k in (1, 2, 3)]
    assert xs == sorted(xs) and len(set(xs)) == 3


def test_vertical_drawings_flow_from_the_top() -> None:
    graph = open_program("chain").graph
    spec = next(s for s in LAYER_SPECS if s.vertical and s.numbers == "live")
    plan = build(graph, spec, 16)
    rows = {n: plan.labels[n][0][0] for n in ("w", "h", "g", "f", "t1", "L")}
    assert rows["w"] < rows["h"] < rows["g"] < rows["f"] < rows["t1"] < rows["L"]
    # A sub-expression shows its text beside its short name.
    y, x0, _ = plan.labels["t1"][0]
    assert plan.grid[y][x0:].startswith("t1 = f - t")


def test_a_list_wraps_into_columns_of_the_rows_it_has() -> None:
    graph = open_program("vanishing-sigmoid").graph
    spec = next(s for s in LAYER_SPECS if s.style == "list" and s.numbers == "live")
    n = len(graph.nodes)
    for rows in (5, 9, 16, 40):
        plan = build(graph, spec, rows)
        columns = -(-n // rows)
        # As few columns as the rows allow, and of even length (the last one at most one
        # shorter): no node is left alone in a column.
        assert plan.height == -(-n // columns) <= rows
        assert set(plan.order) == {node.name for node in graph.nodes}
    folded = next(s for s in LAYER_SPECS if s.style == "list" and s.numbers == "none")
    plan = build(graph, folded, 9)
    assert plan.height <= 9
    assert "layer 9 · W9 b9 z9 a9" in "\n".join(plan.grid)


# --- the neuron view --------------------------------------------------------------------------


def test_neurons_are_for_small_layered_networks_only() -> None:
    assert neurons_possible(xor().graph)
    assert neurons_possible(open_program("softmax-3class").graph)
    assert not neurons_possible(open_program("spiral-mlp").graph)  # 64 units
    assert not neurons_possible(expression().graph)
    assert specs(expression().graph, "neurons") == tuple(
        s for s in LAYER_SPECS if not s.folded or s.numbers == "none"
    )
    assert specs(xor().graph, "layers")[0] == LAYER_SPECS[0]
    assert MAX_UNITS == 10


@pytest.mark.parametrize("spec", NEURON_SPECS, ids=lambda s: f"{s.unit_lines}-lines")
def test_every_unit_and_weight_of_xor_has_its_place(spec: Spec) -> None:
    graph = xor().graph
    plan = build(graph, spec, 16)
    slots = [s for row in plan.slots for s in row]
    # Each unit of each layer has its line(s); each weight an edge from left to right.
    for k, units in ((1, 2), (2, 1)):
        for j in range(units):
            assert any(s.index == (j,) and s.node[1:] == str(k) for s in slots), (k, j)
    for j in range(2):
        assert any(s.node == "x" and s.index == (j,) for s in slots)
    edges = {(w.param, w.index): w for w in plan.weights}
    assert set(edges) == {("W1", (i, j)) for i in range(2) for j in range(2)} | {
        ("W2", (0, 0)),
        ("W2", (1, 0)),
    }
    for w in edges.values():
        xs = [x for _, x in w.cells]
        assert len(set(xs)) == max(xs) - min(xs) + 1  # no gap along the way
        assert all(
            "\u2800" <= plan.grid[y][x] <= "\u28ff" or plan.grid[y][x] == " " for y, x in w.cells
        )
    # Few enough weights: each has its number on its edge (where the units are tall enough
    # to leave room), no two numbers touching; the legend line has them all anyway.
    labels = [s for s in slots if s.kind == "weight"]
    assert {(s.node, s.index) for s in labels} <= set(edges)
    if spec.unit_lines > 1:
        assert {(s.node, s.index) for s in labels} == set(edges)
    for a in labels:
        for b in labels:
            if a is not b and a.y == b.y:
                assert a.x + a.w < b.x or b.x + b.w < a.x
    assert [s for s in slots if s.kind == "legend"]


def test_equal_layers_face_each_other() -> None:
    """Units are spread so that x[j] sits level with unit j of a layer as wide: the
    weights W1[j, j] are straight lines."""
    plan = build(xor().graph, NEURON_SPECS[1], 16)
    x_rows = sorted(s.y for row in plan.slots for s in row if s.node == "x" and s.index)
    z_rows = sorted(s.y for row in plan.slots for s in row if s.node == "z1" and s.kind == "value")
    assert x_rows == z_rows


# --- choosing ---------------------------------------------------------------------------------


def test_choose_takes_the_first_rendering_that_fits() -> None:
    graph = open_program("fan-out").graph
    candidates = specs(graph, "layers")
    for width, height in ((200, 60), (85, 16), (54, 9), (30, 5)):
        plan, index, overview = choose(graph, width, height, view="layers")
        assert index == overview
        if plan.fits(width, height):
            for earlier in candidates[:index]:
                assert not build(graph, earlier, height).fits(width, height)
        else:
            assert index == len(candidates) - 1  # nothing fits: the most compact


def test_more_room_never_means_less_detail() -> None:
    for name in ("xor", "spiral-mlp", "vanishing-sigmoid", "chain"):
        graph = open_program(name).graph
        sizes = [(54, 9), (85, 16), (120, 30), (200, 60)]
        indices = [choose(graph, w, h)[1] for w, h in sizes]
        assert indices == sorted(indices, reverse=True), name


def test_zoom_steps_towards_the_most_detailed() -> None:
    graph = open_program("spiral-mlp").graph
    cache: dict = {}
    _, overview, _ = choose(graph, 54, 9, cache=cache)
    assert overview > 0
    for zoom in range(overview + 3):
        _, index, ov = choose(graph, 54, 9, zoom=zoom, cache=cache)
        assert ov == overview and index == max(0, overview - zoom)
    # Zoomed plans are larger than the room; the cache hands back the same plans.
    assert (
        choose(graph, 54, 9, zoom=1, cache=cache)[0] is choose(graph, 54, 9, zoom=1, cache=cache)[0]
    )


def test_every_builtin_fits_the_pane_at_both_sizes(builtin: Program) -> None:
    """The graph pane's room at 120×40 and at 80×24 (see the app's layout)."""
    for width, height in ((85, 16), (54, 9)):
        plan, _, _ = choose(builtin.graph, width, height)
        assert plan.fits(width, height), (builtin.scenario.name, width, height, plan.name)


# --- helpers ----------------------------------------------------------------------------------


def test_formulas_read_in_names() -> None:
    graph = expression().graph
    assert formula(graph, graph["z"]) == "t1 + b"
    assert formula(graph, graph["t1"]) == "W · x"
    assert formula(graph, graph["L"]) == "t2²"
    assert formula(graph, graph["W"]) == "param"
    model = open_program("xor").graph
    assert formula(model, model["z1"]) == "x @ W1 + b1"
    assert formula(model, model["a1"]) == "tanh(z1)"
    assert formula(model, model["L"]) == "bce(a2, y)"  # the whole formula is too long


def test_widest_bounds_every_fitted_text() -> None:
    rng = np.random.default_rng(0)
    for shape in ((), (1,), (3,), (2, 2), (4, 3), (30, 30)):
        for budget in (13, 28, 48):
            bound = widest(shape, budget)
            for _ in range(20):
                a = rng.normal(size=shape) * 10.0 ** rng.integers(-8, 8, size=shape)
                assert len(fmt.fit(a, bound)) <= bound


def test_box_bounds_never_exceed_the_drawings(builtin: Program) -> None:
    """box_bound lets choose skip drawings that cannot fit: it must never claim more
    room than a drawing takes."""
    for spec in specs(builtin.graph, "layers"):
        if spec.style == "boxes":
            width, height = box_bound(builtin.graph, spec)
            plan = build(builtin.graph, spec, 16)
            assert width <= plan.width and height <= plan.height, spec
