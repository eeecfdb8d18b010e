"""The graph pane: layout geometry, what a frame draws, and the widget in a pilot."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from rich.style import Style
from snapshot_apps import expression, wait_until, worked_example
from textual.app import App, ComposeResult

from engine.scenario.records import (
    DataSpec,
    GraphSpec,
    LayerSpec,
    ModelSpec,
    OptimizerSpec,
    Scenario,
    TrainSpec,
)
from engine.step.program import Program, make_program
from engine.timeline.timeline import Frame, Timeline
from tui.graph_view import (
    ARROW,
    GraphView,
    Layout,
    Palette,
    layout,
    render_lines,
    render_rows,
)

# --- programs ----------------------------------------------------------------------------


def big_model() -> Program:
    """The largest built-in shape: a 2-64-64-10 network with cross-entropy."""
    rng = np.random.default_rng(0)
    return make_program(
        Scenario(
            name="big",
            source="<test>",
            optimizer=OptimizerSpec(kind="adam", lr=0.01),
            train=TrainSpec(steps=5),
            model=ModelSpec(
                inputs=2,
                layers=(
                    LayerSpec(units=64, activation="relu"),
                    LayerSpec(units=64, activation="relu"),
                    LayerSpec(units=10, activation="identity"),
                ),
                init="he",
            ),
            data=DataSpec(x=rng.normal(size=(200, 2)), y=rng.integers(0, 10, 200).astype(float)),
            loss="cross_entropy",
        )
    )


def big_expression() -> Program:
    """A two-unit network written out by hand: about 30 nodes, shared leaves, long edges."""
    return make_program(
        Scenario(
            name="big expression",
            source="<test>",
            optimizer=OptimizerSpec(kind="sgd", lr=0.5),
            train=TrainSpec(steps=3),
            graph=GraphSpec(
                inputs={"x1": np.array(0.5), "x2": np.array(-1.0), "t": np.array(1.0)},
                params={
                    "w1": np.array(0.3),
                    "w2": np.array(-0.2),
                    "w3": np.array(0.1),
                    "w4": np.array(0.4),
                    "b1": np.array(0.0),
                    "b2": np.array(0.1),
                    "v1": np.array(0.5),
                    "v2": np.array(-0.5),
                    "c": np.array(0.0),
                },
                nodes=(
                    ("h1", "tanh(w1 * x1 + w2 * x2 + b1)"),
                    ("h2", "sigmoid(w3 * x1 + w4 * x2 + b2)"),
                    ("o", "v1 * h1 + v2 * h2 + c"),
                    ("p", "sigmoid(o)"),
                    ("L", "-(t * log(p) + (1 - t) * log(1 - p))"),
                ),
                loss="L",
            ),
        )
    )


ALL = {
    "worked": worked_example,
    "expression": expression,
    "big": big_model,
    "big_expression": big_expression,
}


@pytest.fixture(params=list(ALL))
def program(request: pytest.FixtureRequest) -> Program:
    return ALL[request.param]()


def frames(program: Program, step: int = 0) -> list[Frame]:
    timeline = Timeline(program)
    n = program.events_per_step
    return [timeline.frame(step * n + i) for i in range(n)]


def line(lay: Layout, lines: list, node: str, kind: str) -> str:
    """The number drawn in ``node``'s value or grad slot."""
    y = lay.lines[node][kind][0]
    slot = next(s for s in lay.slots[y] if s.node == node and s.kind == kind)
    return lines[y].plain[slot.x : slot.x + slot.w].strip()


def whole_line(lay: Layout, lines: list, node: str, kind: str) -> str:
    """The characters of ``node``'s value or grad line, inside its box."""
    y, x, w = lay.lines[node][kind]
    return lines[y].plain[x : x + w].strip()


def styled_cells(text, style: Style) -> set[int]:
    """Columns of a rendered row covered by a span of exactly ``style``."""
    return {x for span in text.spans if span.style == style for x in range(span.start, span.end)}


# --- layout ------------------------------------------------------------------------------


def test_boxes_do_not_overlap(program: Program) -> None:
    lay = layout(program.graph)
    boxes = list(lay.boxes.values())
    for i, a in enumerate(boxes):
        assert a.x >= 0 and a.y >= 0
        assert a.x + a.w <= lay.width and a.y + a.h <= lay.height
        for b in boxes[i + 1 :]:
            assert not a.region.overlaps(b.region), (a.key, b.key)


def test_every_node_is_in_exactly_one_box(program: Program) -> None:
    lay = layout(program.graph)
    shown = [m for box in lay.boxes.values() for m in box.members]
    assert sorted(shown) == sorted(n.name for n in program.graph.nodes)
    assert sorted(lay.order) == sorted(shown)


def test_every_edge_connects_its_boxes(program: Program) -> None:
    graph = program.graph
    lay = layout(graph)
    wanted = {
        (i, n.name) for n in graph.nodes for i in n.inputs if lay.box_of[i] != lay.box_of[n.name]
    }
    assert {(e.src, e.dst) for e in lay.edges} == wanted
    for edge in lay.edges:
        src, dst = lay.box(edge.src), lay.box(edge.dst)
        cells = set(edge.cells)
        # It leaves the source's right border and ends in an arrow at the target's left.
        starts = {(y, src.x + src.w) for y in range(src.y + 1, src.y + src.h - 1)}
        ends = {(y, dst.x - 1) for y in range(dst.y + 1, dst.y + dst.h - 1)}
        assert cells & starts, edge
        arrow = cells & ends
        assert arrow and all(lay.grid[y][x] == ARROW for y, x in arrow), edge
        # One unbroken run of cells from start to arrow.
        seen, todo = set(), deque(cells & starts)
        while todo:
            y, x = todo.popleft()
            if (y, x) in seen:
                continue
            seen.add((y, x))
            todo.extend(c for c in ((y, x + 1), (y, x - 1), (y + 1, x), (y - 1, x)) if c in cells)
        assert arrow <= seen, edge
        # Edges never run through a box.
        for box in lay.boxes.values():
            assert not any(box.region.contains(x, y) for y, x in cells), (edge, box.key)


def test_columns_follow_layers(program: Program) -> None:
    graph = program.graph
    lay = layout(graph)
    for n in graph.nodes:
        for i in n.inputs:
            a, b = lay.box(i), lay.box(n.name)
            if a is not b:
                assert a.col < b.col and a.x + a.w < b.x, (i, n.name)
    ops = [n for n in graph.nodes if n.kind == "op"]
    for a in ops:
        for b in ops:
            if a.layer < b.layer:
                assert lay.box(a.name).col <= lay.box(b.name).col


def test_grid_is_rectangular(program: Program) -> None:
    lay = layout(program.graph)
    assert len(lay.grid) == lay.height
    assert all(len(row) == lay.width for row in lay.grid)


def test_models_draw_one_box_per_layer() -> None:
    lay = layout(big_model().graph)
    assert set(lay.boxes) == {"x", "layer 1", "layer 2", "layer 3", "y", "L"}
    for k in (1, 2, 3):
        box = lay.boxes[f"layer {k}"]
        assert box.members == (f"W{k}", f"b{k}", f"z{k}", f"a{k}")
        assert box.col == k
    assert lay.boxes["x"].col == 0
    assert lay.boxes["L"].col == 4
    assert lay.boxes["layer 3"].foot == "64→10"


def test_expression_graphs_draw_one_box_per_node() -> None:
    program = expression()
    lay = layout(program.graph)
    assert set(lay.boxes) == {n.name for n in program.graph.nodes}
    # Leaves stand just left of their first consumer.
    assert lay.box("b").col == lay.box("z").col - 1
    assert lay.box("y").col == lay.box("z - y").col - 1


def test_node_at_finds_members() -> None:
    lay = layout(worked_example().graph)
    box = lay.boxes["layer 1"]
    for m in box.members:
        y, x, _ = lay.lines[m]["value"]
        assert lay.node_at(x + 3, y) == m
    x_box = lay.boxes["x"]
    assert lay.node_at(x_box.x, x_box.y) == "x"
    assert lay.node_at(lay.width + 5, 0) is None


# --- rendering ---------------------------------------------------------------------------


def test_values_appear_with_the_forward_pass() -> None:
    program = expression()
    lay = layout(program.graph)
    for frame in frames(program):
        lines = render_lines(lay, frame)
        at = frame.record.value_at["z"]
        assert (line(lay, lines, "z", "value") == "0.5") == (frame.pos >= at)
        if frame.pos < at:
            assert line(lay, lines, "z", "value") == "·"
        # Leaves are known from the start.
        assert line(lay, lines, "x", "value") == "1.0"


def test_gradients_appear_with_the_backward_pass() -> None:
    program = expression()
    lay = layout(program.graph)
    seen = set()
    for frame in frames(program):
        lines = render_lines(lay, frame)
        for node, grad in (("z", "1.0"), ("L", "1.0"), ("W", "1.0"), ("b", "1.0")):
            text = line(lay, lines, node, "grad")
            if frame.pos >= frame.record.grad_at[node]:
                assert text == grad, (frame.pos, node)
                assert whole_line(lay, lines, node, "grad") == f"∂L {grad}"
                seen.add(node)
            else:
                assert text == "·", (frame.pos, node)
    assert seen == {"z", "L", "W", "b"}
    # Inputs have no gradient line at all.
    assert "grad" not in lay.lines["x"]


def test_updated_parameters_show_their_new_value() -> None:
    program = worked_example()
    lay = layout(program.graph)
    palette = Palette()
    for frame in frames(program):
        lines = render_lines(lay, frame, palette=palette)
        updated = frame.pos >= frame.record.update_at["W1"]
        assert line(lay, lines, "W1", "value") == ("0.4" if updated else "0.5")
        y, x, _ = lay.lines["W1"]["value"]
        assert bool(styled_cells(lines[y], palette.updated)) == updated


def test_worked_example_numbers() -> None:
    program = worked_example()
    lay = layout(program.graph)
    last = frames(program)[-1]
    lines = render_lines(lay, last)
    assert line(lay, lines, "a1", "value") == "0.5"
    assert line(lay, lines, "L", "value") == "0.25"
    assert line(lay, lines, "W1", "grad") == "1.0"
    assert line(lay, lines, "b1", "value") == "-0.1"
    assert whole_line(lay, lines, "b1", "value") == "b1 -0.1"
    assert whole_line(lay, lines, "b1", "grad") == "∂L 1.0"


def test_the_current_node_is_highlighted(program: Program) -> None:
    lay = layout(program.graph)
    palette = Palette(current=Style(color="#ff0000"), forward=Style(color="#00ff00"))
    for frame in frames(program):
        lines = render_lines(lay, frame, palette=palette)
        lit = {
            key
            for key, box in lay.boxes.items()
            if box.x in styled_cells(lines[box.y], palette.current)
        }
        assert lit == {lay.box_of[frame.event.subject]}, frame.event


def test_the_traversed_edges_are_highlighted() -> None:
    program = expression()
    lay = layout(program.graph)
    palette = Palette(forward=Style(color="#00ff00"), backward=Style(color="#0000ff"))
    checked = set()
    for frame in frames(program):
        e = frame.event
        lines = render_lines(lay, frame, palette=palette)
        fwd = {(y, x) for y, t in enumerate(lines) for x in styled_cells(t, palette.forward)}
        bwd = {(y, x) for y, t in enumerate(lines) for x in styled_cells(t, palette.backward)}
        if e.phase == "forward" and e.node == "z":
            want = {c for edge in lay.edges if edge.dst == "z" for c in edge.cells}
            assert want and want <= fwd and not bwd
            checked.add("forward")
        if e.phase == "backward" and e.node == "b":
            edge = lay.edges[lay.edges_by_pair[("b", "z")]]
            want = set(edge.cells)
            assert want and want <= bwd and not fwd
            checked.add("backward")
        if e.phase == "update":
            assert not fwd and not bwd
    assert checked == {"forward", "backward"}


def test_the_selection_is_highlighted() -> None:
    program = worked_example()
    lay = layout(program.graph)
    palette = Palette()
    frame = frames(program)[0]
    lines = render_lines(lay, frame, "b1", palette=palette)
    y, x0, x1 = lay.labels["b1"]
    assert set(range(x0, x1)) <= styled_cells(lines[y], palette.selected)
    others = [lay.labels[m] for m in ("W1", "z1", "a1", "x", "L")]
    for r, a, b in others:
        assert not set(range(a, b)) & styled_cells(lines[r], palette.selected)


def test_render_lines_width() -> None:
    lay = layout(expression().graph)
    frame = frames(expression())[0]
    assert {len(t.plain) for t in render_lines(lay, frame, width=30)} == {30}
    assert {len(t.plain) for t in render_lines(lay, frame, width=lay.width + 7)} == {lay.width + 7}
    assert [t.plain for t in render_lines(lay, None)] == list(lay.grid)


def test_large_tensors_are_summarised() -> None:
    program = big_model()
    lay = layout(program.graph)
    lines = render_lines(lay, frames(program)[0])
    text = whole_line(lay, lines, "W2", "value")
    assert text.startswith("W2 ‖") and "[" in text and "," in text
    assert lay.boxes["layer 2"].foot == "64→64"


def test_every_frame_of_the_largest_graphs_renders_to_the_layout_height() -> None:
    """Speed is measured by bench/, not here; this checks the big cases render at all."""
    for make in (big_model, big_expression):
        program = make()
        lay = layout(program.graph)
        for frame in frames(program):
            assert len(render_rows(lay, frame, "W1")) == lay.height


# --- the widget --------------------------------------------------------------------------


def placed_now(view: GraphView) -> bool:
    """Whether the pane is laid out with the scrollbars its drawing needs (they appear a
    refresh after a new drawing, and move the window)."""
    region = view.scrollable_content_region
    if not region.area or view.graph_layout is None:
        return False
    wide = view.graph_layout.width > region.width
    tall = view.graph_layout.height > region.height
    return view.show_horizontal_scrollbar == wide and view.show_vertical_scrollbar == tall


async def placed(pilot, view: GraphView) -> None:
    await wait_until(pilot, lambda: placed_now(view), "the graph pane to be laid out")
    await pilot.pause()


class GraphApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield GraphView()

    def on_graph_view_node_selected(self, message: GraphView.NodeSelected) -> None:
        self.selected.append(message.name)


async def test_clicking_a_node_selects_it() -> None:
    program = expression()
    timeline = Timeline(program)
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(GraphView)
        view.show(timeline.frame(0), timeline)
        await placed(pilot, view)
        box = view.graph_layout.box("z")
        sx, sy = view.scroll_offset
        await pilot.click(GraphView, offset=(box.x + 2 - sx, box.y + 1 - sy))
        await wait_until(pilot, lambda: app.selected, "the click's message")
        assert app.selected == ["z"]
        assert view.selected == "z"


async def test_clicking_a_layer_member_selects_it() -> None:
    program = worked_example()
    timeline = Timeline(program)
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(GraphView)
        view.show(timeline.frame(0), timeline)
        await placed(pilot, view)
        y, x, _ = view.graph_layout.lines["b1"]["value"]
        await pilot.click(GraphView, offset=(x + 4, y))
        await wait_until(pilot, lambda: app.selected, "the click's message")
        assert app.selected == ["b1"]


async def test_keys_move_the_selection_and_enter_posts_it() -> None:
    program = worked_example()
    timeline = Timeline(program)
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(GraphView)
        view.show(timeline.frame(0), timeline)
        view.focus()
        await placed(pilot, view)
        order = view.graph_layout.order
        subject = timeline.frame(0).event.subject
        await pilot.press("down")  # no selection yet: starts at the current node
        assert view.selected == subject
        await pilot.press("down", "down")
        i = order.index(subject)
        assert view.selected == order[(i + 2) % len(order)]
        await pilot.press("up")
        assert view.selected == order[(i + 1) % len(order)]
        assert app.selected == []  # moving does not post
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.selected, "the selection's message")
        assert app.selected == [order[(i + 1) % len(order)]]


async def test_left_and_right_are_left_to_the_app() -> None:
    assert not {b.key for b in GraphView.BINDINGS} & {"left", "right", "n", "p"}


async def test_the_current_node_scrolls_into_view() -> None:
    program = big_model()
    timeline = Timeline(program)
    app = GraphApp()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(GraphView)
        view.show(timeline.frame(0), timeline)
        await placed(pilot, view)
        lay = view.graph_layout
        assert lay.width > 60  # the drawing is wider than the pane
        loss_event = next(i for i, e in enumerate(timeline.record(0).events) if e.phase == "loss")
        view.show(timeline.frame(loss_event), timeline)
        box = lay.boxes["L"]

        def in_view() -> bool:
            sx, sy = view.scroll_offset
            window = view.scrollable_content_region.size
            return (
                sx <= box.x
                and box.x + box.w <= sx + window.width
                and sy <= box.y
                and box.y + box.h <= sy + window.height
            )

        # Once the scrollbars are there (they take room from the window after a refresh).
        await wait_until(pilot, lambda: placed_now(view) and in_view(), "L scrolled into view")
        sx, sy = view.scroll_offset
        # What is on screen is the drawing, scrolled.
        strip = view.render_line(box.y - sy)
        text = "".join(seg.text for seg in strip)
        assert "╭ L " in text


async def test_stepping_back_redraws_exactly() -> None:
    program = expression()
    timeline = Timeline(program)
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(GraphView)

        def screen() -> list[str]:
            return ["".join(s.text for s in view.render_line(y)) for y in range(view.size.height)]

        view.show(timeline.frame(3), timeline)
        await placed(pilot, view)
        before = screen()
        view.show(timeline.frame(4), timeline)
        await placed(pilot, view)
        assert screen() != before
        view.show(timeline.frame(3), timeline)
        await placed(pilot, view)
        assert screen() == before
