"""Go to (:): a step, step.event or #event moves the cursor there; bad input says what
is accepted and moves nothing; a place not computed yet is reached once it is, or the
wait is cancelled with esc; the command palette offers it."""

from __future__ import annotations

from snapshot_apps import make_app, said, settle, wait_until

from engine.open import open_program
from tui.app import BpdbgApp
from tui.screens.goto import GoToScreen

SIZE = (120, 40)


async def go(pilot, text: str) -> GoToScreen:
    app = pilot.app
    await pilot.press("colon")
    await wait_until(
        pilot, lambda: isinstance(app.screen, GoToScreen) and app.screen.is_mounted, "the prompt"
    )
    screen = app.screen
    await pilot.press(*text, "enter")
    return screen


async def test_a_step_a_step_event_and_an_event_number() -> None:
    app = make_app(open_program("xor"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        eps = app.timeline.events_per_step
        await go(pilot, "120")
        await wait_until(pilot, lambda: app.cursor == 120 * eps, "step 120")
        await wait_until(pilot, lambda: not isinstance(app.screen, GoToScreen), "closed")
        await go(pilot, "120.7")
        await wait_until(pilot, lambda: app.cursor == 120 * eps + 7, "step 120, event 7")
        await go(pilot, "#5000")
        await wait_until(pilot, lambda: app.cursor == 5000, "event 5000")
        assert app.frame is not None and app.frame.seq == 5000


async def test_bad_input_says_what_is_accepted_and_moves_nothing() -> None:
    app = make_app(open_program("xor"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.cursor = 40
        screen = await go(pilot, "abc")
        help_ = screen.query_one("#goto-help")
        await wait_until(pilot, lambda: help_.has_class("-error"), "the error")
        assert "is not a place: type a step (120)" in str(help_.render())
        assert isinstance(app.screen, GoToScreen) and app.cursor == 40
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, GoToScreen), "closed")
        assert app.cursor == 40


async def test_a_place_beyond_the_run_is_refused() -> None:
    app = make_app(open_program("xor"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await go(pilot, "100000")
        help_ = screen.query_one("#goto-help")
        await wait_until(pilot, lambda: help_.has_class("-error"), "the error")
        assert "beyond the run: its steps are 0 to 599" in str(help_.render())


async def test_a_step_not_computed_yet_is_reached_once_computed() -> None:
    app = BpdbgApp(open_program("xor"), cursor_blink=False, compute_ahead=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.frame is not None, "the first frame")
        eps = app.timeline.events_per_step
        assert app.timeline.computed_steps < 500
        await go(pilot, "500")
        await wait_until(pilot, lambda: app.cursor == 500 * eps, "step 500, computed")
        assert app._goto_target is None


async def test_esc_cancels_waiting_for_a_step() -> None:
    """While a step is awaited, esc stops waiting and the cursor stays (the wait is set
    directly: training a real run to it may finish before a key arrives)."""
    app = BpdbgApp(open_program("spiral-mlp"), cursor_blink=False, compute_ahead=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.frame is not None, "the first frame")
        app._goto_target = 999 * app.timeline.events_per_step
        await pilot.press("escape")
        await wait_until(pilot, lambda: said(app, "Go to cancelled"), "cancelled")
        assert app._goto_target is None and app.cursor == 0


async def test_the_command_palette_offers_go_to() -> None:
    app = make_app(open_program("xor"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.run_action("command_palette")
        await wait_until(pilot, lambda: app.screen is not app.screen_stack[0], "the palette")
        await pilot.press(*"Go to a step", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, GoToScreen), "the prompt")
