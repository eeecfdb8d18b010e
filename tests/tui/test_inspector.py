"""The inspector (i): opens on the event's tensor with every element, arrows move its
element cursor, tab switches value and gradient, stepping keys keep working and it
follows them, esc closes. Also its pure grid layout."""

from __future__ import annotations

import msgspec
import numpy as np
from snapshot_apps import event_seq, make_app, settle, wait_until

from engine import fmt
from engine.open import open_program
from engine.scenario.records import optimizer_spec
from engine.step.events import Update
from engine.step.program import make_program
from engine.timeline.timeline import Timeline
from tui.app import BpdbgApp
from tui.panes.inspector import grid as ig
from tui.panes.inspector.widget import InspectorView

SIZE = (120, 40)


def inspector(app: BpdbgApp) -> InspectorView:
    assert app.inspector is not None
    return app.inspector


def text(app: BpdbgApp) -> str:
    return inspector(app).snapshot_text()


async def open_at(pilot, phase: str, subject: str, step: int = 0) -> BpdbgApp:
    """Every step computed, the cursor at the event, ``i`` pressed and the grid drawn."""
    app = pilot.app
    await settle(pilot)
    app.cursor = event_seq(app.timeline.program, phase, subject, step)
    await pilot.press("i")
    await wait_until(
        pilot,
        lambda: app.inspector is not None and app.inspector.node == subject and text(app),
        "the inspector drawn",
    )
    return app


async def test_i_shows_every_element_of_the_gradient_and_a_sum_over_the_inputs() -> None:
    """The hidden check's scene: xor at the backward event of W1, then i."""
    app = make_app(open_program("xor"))
    async with app.run_test(size=SIZE) as pilot:
        await open_at(pilot, "backward", "W1")
        view = inspector(app)
        assert view.display and view.has_focus and not app.graph_view.display
        assert view.mode == "gradient"
        assert view.border_title == "Inspector · ∂L/∂W1 (2×2)"
        shown = text(app)
        grad = app.frame.grads["W1"]
        for v in grad.reshape(-1):
            assert fmt.num(v) in shown
        x = app.frame.values["x"]
        terms = " + ".join(f"{fmt.num(x[n, 0])}·" for n in range(4))
        assert "∂L/∂W1[0,0] = Σₙ x[n,0]·∂L/∂z1[n,0] = " in shown.replace("\n    ", " ")
        for part in terms.split(" + "):
            assert part in shown


async def test_arrows_move_the_element_and_tab_switches_to_the_value() -> None:
    app = make_app(open_program("xor"))
    async with app.run_test(size=SIZE) as pilot:
        await open_at(pilot, "backward", "W1")
        seq = app.cursor
        await pilot.press("down")
        await wait_until(pilot, lambda: inspector(app).index == (1, 0), "the element [1,0]")
        await wait_until(pilot, lambda: "∂L/∂W1[1,0] = Σₙ x[n,1]" in text(app), "its sum")
        await pilot.press("right")
        await wait_until(pilot, lambda: inspector(app).index == (1, 1), "the element [1,1]")
        assert app.cursor == seq  # the arrows moved the element, not the event
        await pilot.press("up", "left", "left")
        await wait_until(pilot, lambda: inspector(app).index == (0, 0), "back at [0,0]")
        await pilot.press("tab")
        await wait_until(pilot, lambda: inspector(app).mode == "value", "the value shown")
        assert inspector(app).border_title == "Inspector · W1 (2×2)"
        for v in app.frame.values["W1"].reshape(-1):
            assert fmt.num(v) in text(app)
        await pilot.press("tab")
        await wait_until(pilot, lambda: inspector(app).mode == "gradient", "the gradient again")


async def test_stepping_keys_work_and_the_inspector_follows_the_event() -> None:
    app = make_app(open_program("xor"))
    async with app.run_test(size=SIZE) as pilot:
        await open_at(pilot, "backward", "W1")
        seq = app.cursor
        await pilot.press("p")
        await wait_until(pilot, lambda: app.cursor == seq - 1, "the previous event")
        await wait_until(pilot, lambda: inspector(app).node == "b1", "the inspector on b1")
        assert "∂L/∂b1[0] = Σₙ ∂L/∂z1[n,0]" in text(app)
        await pilot.press("right_square_bracket")
        n = app.timeline.events_per_step
        await wait_until(pilot, lambda: app.cursor == seq - 1 + n, "the next step")
        await wait_until(pilot, lambda: inspector(app).frame is app.frame, "followed")
        assert inspector(app).display


async def test_esc_closes_and_i_opens_again_where_it_was() -> None:
    app = make_app(open_program("xor"))
    async with app.run_test(size=SIZE) as pilot:
        await open_at(pilot, "forward", "z1")
        assert inspector(app).mode == "value"
        await pilot.press("down")
        await wait_until(pilot, lambda: inspector(app).index == (1, 0), "the element [1,0]")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.inspector_shown, "the inspector closed")
        await wait_until(pilot, lambda: app.graph_view.display, "the graph back")
        assert not inspector(app).display
        await pilot.press("i")
        await wait_until(pilot, lambda: inspector(app).display, "the inspector again")
        assert inspector(app).index == (1, 0)


async def test_a_gradient_not_computed_yet_is_pending() -> None:
    app = make_app(open_program("xor"))
    async with app.run_test(size=SIZE) as pilot:
        await open_at(pilot, "forward", "a1")
        await pilot.press("tab")
        await wait_until(pilot, lambda: inspector(app).mode == "gradient", "the gradient")
        assert fmt.PENDING in text(app)
        assert "not computed yet" in text(app)


def test_grid_layout_of_any_rank() -> None:
    assert ig.grid_shape(()) == (1, 1) and ig.index_of((), 0, 0) == ()
    assert ig.grid_shape((5,)) == (1, 5) and ig.index_of((5,), 0, 3) == (3,)
    assert ig.grid_shape((2, 3, 4)) == (6, 4)
    assert ig.index_of((2, 3, 4), 4, 1) == (1, 1, 1)
    assert ig.row_label((2, 3, 4), 4) == "1,1"


def test_scrolling_keeps_the_cursor_in_view_with_the_least_move() -> None:
    assert ig.scroll(0, 10, 150, 5) == 0
    assert ig.scroll(0, 10, 150, 12) == 3
    assert ig.scroll(20, 10, 150, 12) == 12
    assert ig.scroll(145, 10, 150, 149) == 140


def test_bands_are_signed_by_size_and_zero_for_zero() -> None:
    b = ig.bands(np.array([[-2.0, 0.0], [1.0, np.nan]]))
    assert b.tolist() == [[-ig.BANDS, 0], [ig.BANDS // 2 + 1, 0]]


def test_every_optimizer_writes_its_update_out_at_the_element() -> None:
    """At an update the inspector follows the optimizer's own derivation for the element,
    from θ, g and the buffers before to the new value, which is the update event's."""
    base = open_program("xor")
    specs = {
        "momentum": optimizer_spec("momentum", 0.1, nesterov=True, weight_decay=0.01),
        "adam": optimizer_spec("adam", 0.05),
        "adamw": optimizer_spec("adamw", 0.05),
        "rmsprop": optimizer_spec("rmsprop", 0.01, centered=True, momentum=0.5),
        "adagrad": optimizer_spec("adagrad", 0.1, lr_decay=0.01),
        "sgd with weight decay": optimizer_spec("sgd", 0.1, weight_decay=0.1),
    }
    for label, spec in specs.items():
        tl = Timeline(make_program(msgspec.structs.replace(base.scenario, optimizer=spec)))
        tl.ensure(2)
        rec = tl.record(2)
        pos = next(i for i, e in enumerate(rec.events) if isinstance(e, Update) and e.param == "W1")
        frame = tl.frame(2 * tl.events_per_step + pos)
        ev = frame.event
        lines = ig.update_lines(frame, ev, (1, 0))
        assert lines[0] == (
            f"θ = W1[1,0] = {fmt.num(ev.before[1, 0])}, g = ∂L/∂W1[1,0] = {fmt.num(ev.grad[1, 0])}"
        ), label
        buffers = frame.record.state_before["W1"]
        if buffers:
            assert lines[1] == ", ".join(
                f"{k} before = {fmt.num(v[1, 0])}" for k, v in buffers.items()
            ), label
        last = next(line for line in lines if line.startswith("W1[1,0] ← "))
        assert last.endswith(f" = {fmt.num(ev.after[1, 0])}"), label
        assert lines[-1].startswith(f"lr = {fmt.num(spec.lr)}"), label
        for key in ev.state:  # every buffer after the update is derived on the way
            assert any(
                line.startswith(key.replace("momentum_buffer", "buf") + " ←") for line in lines
            ), (label, key)
    # Plain SGD keeps its one line with numbers.
    tl = Timeline(base)
    tl.ensure(0)
    rec = tl.record(0)
    pos = next(i for i, e in enumerate(rec.events) if isinstance(e, Update) and e.param == "W1")
    frame = tl.frame(pos)
    (line,) = ig.update_lines(frame, frame.event, (0, 0))
    assert line.startswith("W1[0,0] ← W1[0,0] − lr·∂L/∂W1[0,0] = ")
