"""The graph pane: what a frame draws on a plan, the widget in a pilot, and the whole
pane in the app for every built-in."""

from __future__ import annotations

import re

import numpy as np
import pytest
from rich.style import Style
from snapshot_apps import expression, wait_until, worked_example
from textual.app import App, ComposeResult

from engine import fmt
from engine.open import open_program
from engine.step.program import Program
from engine.timeline.timeline import Frame, Timeline
from scenarios import builtin_ids
from tui.app import BpdbgApp
from tui.panes.graph.layout import LAYER_SPECS, NEURON_SPECS, build
from tui.panes.graph.plan import MARKER, Plan
from tui.panes.graph.render import PENDING, Palette, plain_rows, render_rows
from tui.panes.graph.widget import GraphView

BOXES = LAYER_SPECS[2]  # boxes with values and gradients
LIST = next(s for s in LAYER_SPECS if s.style == "list" and s.numbers == "full")


def frames(program: Program, step: int = 0) -> list[Frame]:
    timeline = Timeline(program)
    n = program.events_per_step
    return [timeline.frame(step * n + i) for i in range(n)]


def slot_text(plan: Plan, rows: list[str], node: str, kind: str, index: tuple = ()) -> str:
    """What the slot of ``node``'s ``kind`` (and element) shows."""
    slot = next(
        s
        for row in plan.slots
        for s in row
        if s.node == node and s.kind == kind and s.index == index
    )
    text = rows[slot.y][slot.x : slot.x + slot.w]
    if slot.align == "center":  # the drawing shows around a centred text: keep the text
        text = "".join(ch for ch in text if not "\u2800" <= ch <= "\u28ff")
    return text.strip()


def styled(rows: list, style: Style) -> set[tuple[int, int]]:
    """Cells covered by a span of exactly ``style``."""
    return {
        (y, x)
        for y, (_, spans) in enumerate(rows)
        for sp in spans
        if sp.style == style
        for x in range(sp.start, sp.end)
    }


# --- numbers ---------------------------------------------------------------------------------


def test_values_appear_with_the_forward_pass_and_gradients_with_the_backward() -> None:
    program = expression()
    for spec in (BOXES, LIST):
        plan = build(program.graph, spec, 16)
        seen = set()
        for frame in frames(program):
            rows = plain_rows(plan, frame)
            known = frame.pos >= frame.record.value_at["z"]
            assert slot_text(plan, rows, "z", "value") == ("0.5" if known else PENDING)
            assert slot_text(plan, rows, "x", "value") == "1.0"  # leaves: from the start
            for node in ("z", "L", "W", "b"):
                grad = slot_text(plan, rows, node, "grad")
                if frame.pos >= frame.record.grad_at[node]:
                    assert grad == "1.0", (spec.style, frame.pos, node)
                    seen.add(node)
                else:
                    assert grad == PENDING
        assert seen == {"z", "L", "W", "b"}


def test_updated_parameters_show_their_new_value() -> None:
    program = worked_example()
    plan = build(program.graph, BOXES, 16)
    palette = Palette()
    for frame in frames(program):
        rows = render_rows(plan, frame, palette=palette)
        updated = frame.pos >= frame.record.update_at["W1"]
        assert slot_text(plan, [r for r, _ in rows], "W1", "value") == ("0.4" if updated else "0.5")
        ((y, x0, w),) = plan.lines["W1"]["value"]
        assert any((y, x) in styled(rows, palette.updated) for x in range(x0, x0 + w)) == updated


_FLOAT = re.compile(r"(?<![\w.-])-?\d+\.\d+(?:e[+-]\d+)?|(?<![\w.-])-?\d+e[+-]\d+")


def test_every_number_is_written_as_the_trace_writes_it() -> None:
    """Each number the pane shows, in every rendering of XOR at every event, is an element
    of the frame's values, gradients or parameters exactly as :func:`engine.fmt.num`
    writes it (the text trace's format), with an ASCII minus."""
    program = open_program("xor")
    for spec in NEURON_SPECS + LAYER_SPECS:
        plan = build(program.graph, spec, 16)
        for frame in frames(program):
            arrays = [*frame.values.values(), *frame.grads.values(), *frame.params.values()]
            written = {fmt.num(v) for a in arrays for v in np.asarray(a).reshape(-1)}
            # A tensor with too little room is summarised as fmt.summary writes it.
            d = fmt.SUMMARY_DIGITS
            for a in arrays:
                a = np.asarray(a)
                written |= {fmt.num(np.sqrt(np.square(a).sum()), d)}
                written |= {fmt.num(a.min(), d), fmt.num(a.max(), d)}
            text = "\n".join(plain_rows(plan, frame))
            assert "−" not in text  # U+2212: never in a number
            for token in _FLOAT.findall(text):
                assert token in written, (spec.name, frame.pos, token)


def test_the_backward_of_a_weight_matrix_puts_its_gradient_on_its_edges() -> None:
    program = open_program("xor")
    plan = build(program.graph, NEURON_SPECS[0], 16)
    frame = next(f for f in frames(program) if f.phase == "backward" and f.event.subject == "W1")
    rows = plain_rows(plan, frame)
    grad = frame.grads["W1"]
    for i in range(2):
        for j in range(2):
            assert slot_text(plan, rows, "W1", "weight", (i, j)) == fmt.num(grad[i, j])
    legend = slot_text(plan, rows, "", "legend")
    assert legend.startswith("∂L/∂W1")
    for i, j in np.ndindex(2, 2):
        assert f"[{i},{j}] {fmt.num(grad[i, j])}" in legend
    assert f"{MARKER} ∂L/∂W1" in slot_text(plan, rows, "W1", "band")
    # W2's edges keep showing the weights themselves.
    assert slot_text(plan, rows, "W2", "weight", (0, 0)) == fmt.num(frame.params["W2"][0, 0])


def test_weight_edges_take_the_colour_of_their_sign() -> None:
    program = open_program("xor")
    plan = build(program.graph, NEURON_SPECS[1], 16)
    plus = tuple(Style(color=f"#0000{k:02x}") for k in (0x40, 0x60, 0x80, 0xA0, 0xFF))
    minus = tuple(Style(color=f"#{k:02x}0000") for k in (0x40, 0x60, 0x80, 0xA0, 0xFF))
    palette = Palette(positive=plus, negative=minus)
    frame = frames(program)[0]
    rows = render_rows(plan, frame, palette=palette)
    W1 = frame.params["W1"]  # [[0.8, -0.2], [0.2, -1.0]]
    pos, neg = styled(rows, plus[-1]) | set(), set()
    for styles, cells in ((plus, pos), (minus, neg)):
        for s in styles:
            cells |= styled(rows, s)
    for w in plan.weights:
        if w.param != "W1":
            continue
        cells = set(w.cells)
        sign = pos if W1[w.index] > 0 else neg
        assert cells & sign, w.index
    # The largest weight (|-1.0|) is drawn at full strength.
    largest = next(w for w in plan.weights if w.param == "W1" and w.index == (1, 1))
    assert set(largest.cells) & styled(rows, minus[-1])


def test_the_neuron_view_shows_one_sample_of_the_batch() -> None:
    program = open_program("xor")
    plan = build(program.graph, NEURON_SPECS[1], 16)
    frame = frames(program)[1]  # a1 computed
    for sample in range(4):
        rows = plain_rows(plan, frame, sample=sample)
        for j in range(2):
            assert slot_text(plan, rows, "x", "value", (j,)) == fmt.num(
                frame.values["x"][sample, j]
            )
            assert slot_text(plan, rows, "a1", "value", (j,)) == fmt.num(
                frame.values["a1"][sample, j]
            )
        assert slot_text(plan, rows, "x", "sample") == f"x · sample {sample}/4"


# --- highlights ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["xor", "fan-out", "worked-example-graph", "spiral-mlp"])
def test_the_current_node_is_marked_in_every_rendering(name: str) -> None:
    """A marker glyph (visible without colour) beside the current event's node, at every
    event, in every rendering."""
    program = open_program(name)
    for spec in (*NEURON_SPECS, *LAYER_SPECS):
        if spec.style == "neurons" and program.graph.kind != "model":
            continue
        if spec.style == "neurons" and name == "spiral-mlp":
            continue
        plan = build(program.graph, spec, 16)
        for frame in frames(program):
            rows = plain_rows(plan, frame)
            assert sum(r.count(MARKER) for r in rows) >= 1, (spec.name, frame.pos)
            marks = plan.marks.get(frame.event.subject, {})
            cells = [c for cells in marks.values() for c in cells]
            assert not cells or any(rows[y][x] == MARKER for y, x in cells), spec.name


def test_the_current_line_and_the_traversed_edges_are_highlighted() -> None:
    program = expression()
    plan = build(program.graph, BOXES, 16)
    palette = Palette(
        current_line=Style(bgcolor="#123456"),
        forward=Style(color="#00ff00"),
        backward=Style(color="#0000ff"),
    )
    checked = set()
    for frame in frames(program):
        e = frame.event
        rows = render_rows(plan, frame, palette=palette)
        lit = styled(rows, palette.current_line)
        kind = "grad" if e.phase == "backward" else "value"
        ((y, x0, w),) = plan.lines[e.subject][kind]
        assert {(y, x) for x in range(x0, x0 + w)} <= lit
        fwd, bwd = styled(rows, palette.forward), styled(rows, palette.backward)
        if e.phase == "forward" and e.node == "z":
            want = {c for (a, b), cells in plan.edges.items() if b == "z" for c in cells}
            assert want and want <= fwd and not want & bwd
            checked.add("forward")
        if e.phase == "backward" and e.node == "b":
            want = set(plan.edges[("b", "z")])
            assert want and want <= bwd
            checked.add("backward")
    assert checked == {"forward", "backward"}


def test_the_selection_is_highlighted() -> None:
    program = worked_example()
    plan = build(program.graph, BOXES, 16)
    palette = Palette()
    rows = render_rows(plan, frames(program)[0], "b1", palette=palette)
    ((y, x0, x1),) = plan.labels["b1"]
    assert {(y, x) for x in range(x0, x1)} <= styled(rows, palette.selected)
    for other in ("W1", "z1", "a1", "L"):
        ((y, x0, x1),) = plan.labels[other]
        assert not {(y, x) for x in range(x0, x1)} & styled(rows, palette.selected)


def test_stepping_back_renders_exactly_what_was_rendered() -> None:
    program = open_program("xor")
    for spec in (NEURON_SPECS[0], BOXES, LIST):
        plan = build(program.graph, spec, 16)
        fs = frames(program)
        before = [render_rows(plan, f) for f in fs]
        after = [render_rows(plan, f) for f in reversed(fs)][::-1]
        assert before == after


# --- the widget --------------------------------------------------------------------------------


class GraphApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield GraphView()

    def on_graph_view_node_selected(self, message: GraphView.NodeSelected) -> None:
        self.selected.append(message.name)


def screen_rows(view: GraphView) -> list[str]:
    return ["".join(s.text for s in view.render_line(y)) for y in range(view.size.height)]


async def test_the_pane_picks_a_rendering_that_fits_and_clicks_select() -> None:
    program = expression()
    timeline = Timeline(program)
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(GraphView)
        view.show(timeline.frame(0), timeline)
        await wait_until(pilot, lambda: view.plan is not None and view.size.area, "a plan")
        plan = view.plan
        assert plan.fits(view.size.width, view.size.height)
        x, y, w, h, _ = next(hit for hit in plan.hits if hit[4] == "z")
        await pilot.click(GraphView, offset=(x + w // 2, y + h // 2))
        await wait_until(pilot, lambda: app.selected == ["z"], "the click")
        assert view.selected == "z"


async def test_keys_move_the_selection_and_enter_posts_it() -> None:
    program = worked_example()
    timeline = Timeline(program)
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(GraphView)
        view.show(timeline.frame(0), timeline)
        view.focus()
        await wait_until(pilot, lambda: view.plan is not None, "a plan")
        order = view.plan.order
        await pilot.press("down")
        first = view.selected
        assert first in order
        await pilot.press("down")
        assert view.selected == order[(order.index(first) + 1) % len(order)]
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.selected == [view.selected], "enter")
    # left/right and n/p stay with the app, which steps with them.
    assert not {b.key for b in GraphView.BINDINGS} & {"left", "right", "n", "p"}


async def test_zoom_shows_more_detail_and_overview_comes_back() -> None:
    program = open_program("spiral-mlp")
    timeline = Timeline(program)
    app = GraphApp()
    async with app.run_test(size=(60, 12)) as pilot:
        view = app.query_one(GraphView)
        view.show(timeline.frame(0), timeline)
        await wait_until(pilot, lambda: view.plan is not None and view.size.area, "a plan")
        overview = view.plan
        assert overview.fits(view.size.width, view.size.height) and not view.zoomed
        assert view.can_zoom_in
        view.zoom_in()
        await wait_until(pilot, lambda: view.zoomed and view.plan is not overview, "zoomed")
        assert not view.plan.fits(view.size.width, view.size.height)
        assert "Z overview" in view.describe()
        # The current node is scrolled into view; panning moves, stepping brings it back.
        subject = timeline.frame(0).event.subject
        x, _, w, _ = view.plan.area(subject)
        sx = view.scroll_offset.x
        assert sx <= x and x + min(w, view.size.width) <= sx + view.size.width
        view.pan(1, 0)
        await wait_until(
            pilot, lambda: view.scroll_offset.x > sx or sx == view.max_scroll_x, "the pan"
        )
        view.overview()
        await wait_until(pilot, lambda: view.plan is overview and not view.zoomed, "overview")


async def test_neurons_and_layers_switch_and_samples_cycle() -> None:
    program = open_program("xor")
    timeline = Timeline(program)
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(GraphView)
        view.show(timeline.frame(1), timeline)
        await wait_until(pilot, lambda: view.plan is not None and view.size.area, "a plan")
        assert view.plan.view == "neurons" and view.can_switch_view and view.has_samples
        assert any("x · sample 0/4" in row for row in screen_rows(view))
        view.next_sample()
        await wait_until(
            pilot, lambda: any("x · sample 1/4" in row for row in screen_rows(view)), "sample 1"
        )
        view.switch_view()
        await wait_until(
            pilot, lambda: view.plan.view == "layers" and view.view == "layers", "layers"
        )
        assert not view.has_samples
        view.switch_view()
        await wait_until(pilot, lambda: view.plan.view == "neurons", "neurons")


async def test_the_widget_redraws_exactly_when_stepping_back() -> None:
    program = open_program("xor")
    timeline = Timeline(program)
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(GraphView)
        view.show(timeline.frame(12), timeline)
        await wait_until(pilot, lambda: view.plan is not None and view.size.area, "a plan")
        before = screen_rows(view)
        view.show(timeline.frame(13), timeline)
        await wait_until(pilot, lambda: screen_rows(view) != before, "the next event drawn")
        view.show(timeline.frame(12), timeline)
        await wait_until(pilot, lambda: screen_rows(view) == before, "the event drawn again")


# --- the pane in the app, for every built-in -----------------------------------------------------


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
@pytest.mark.parametrize("name", builtin_ids())
async def test_every_node_and_parameter_is_on_screen(name: str, size: tuple[int, int]) -> None:
    """In the pane titled Graph, the whole graph: every node's and parameter's name, with
    nothing cut at the pane's edge."""
    program = open_program(name)
    app = BpdbgApp(program, compute_ahead=False, cursor_blink=False)
    async with app.run_test(size=size) as pilot:
        view = app.graph_view
        await wait_until(pilot, lambda: view.plan is not None and view.size.area, "a plan")
        assert view.border_title == "Graph"
        plan = view.plan
        assert plan.fits(view.size.width, view.size.height), plan.name
        text = "\n".join(screen_rows(view))
        words = set(re.findall(r"[\w]+", text))
        for node in program.graph.nodes:
            if node.kind == "const":
                continue  # a literal's name is its number
            assert node.name in words, (name, size, plan.name, node.name)
