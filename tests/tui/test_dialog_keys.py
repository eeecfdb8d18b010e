"""Every dialog driven with keys only: the focus goes where a keyboard user expects, the
arrow keys move between buttons and fields, the keys a dialog offers in its subtitle
never type into a field, and ``esc`` closes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from snapshot_apps import make_app, open_dialog, settle, wait_until, worked_example, xor
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Button, Input, OptionList, Static

from engine.debug.breakpoints import Breakpoint
from tui.app import BpdbgApp
from tui.screens.breakpoints import LIST_KEYS, BreakpointsScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.notes import NotesScreen
from tui.screens.path_suggester import complete, resolve_typed, shown_path
from tui.screens.picker import PickerScreen
from tui.screens.whatif import WhatIfScreen

SIZE = (120, 40)


def subtitle(screen: Screen) -> str:
    """The dialog's subtitle: the keys it offers where the focus is now."""
    return str(screen.query_one(".dialog").border_subtitle)


def focused_id(app: BpdbgApp) -> str | None:
    return app.focused.id if app.focused is not None else None


async def type_text(pilot: Pilot, text: str) -> None:
    await pilot.press(*(c if c != " " else "space" for c in text))


async def focus_is(pilot: Pilot, widget_id: str) -> None:
    app = pilot.app
    assert isinstance(app, BpdbgApp)
    await wait_until(
        pilot,
        lambda: focused_id(app) == widget_id,
        lambda: f"focus on #{widget_id}, not {focused_id(app)}",
    )


async def closes_on_escape(pilot: Pilot) -> None:
    app = pilot.app
    await pilot.press("escape")
    await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "esc to close the dialog")


async def test_breakpoints_dialog_with_keys_only() -> None:
    """A watchpoint and a phase breakpoint on ``loss``, keys only: after each is added the
    focus is back on the list, with the new entry highlighted, so that ``p`` means the
    phases again; ``right`` moves along the phase buttons; in a field the subtitle offers
    no letter key (they would be typed there), and ``p`` is typed."""
    app = make_app(xor())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "B", BreakpointsScreen)
        assert isinstance(app.focused, OptionList)
        assert subtitle(screen) == LIST_KEYS
        await pilot.press("w")
        await focus_is(pilot, "bp-condition")
        assert " p " not in subtitle(screen) and "enter add" in subtitle(screen)
        await type_text(pilot, "norm(grad) > 1")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.focused, OptionList), "focus on the list")
        options = screen.query_one(OptionList)
        assert options.highlighted == 1  # the new watchpoint (0 is the NaN stop)
        assert subtitle(screen) == LIST_KEYS
        await pilot.press("p")
        await focus_is(pilot, "bp-phase-forward")
        await pilot.press("right")
        await focus_is(pilot, "bp-phase-loss")
        await pilot.press("right", "right", "right")  # stops at the last button
        await focus_is(pilot, "bp-phase-update")
        await pilot.press("left", "left")
        await focus_is(pilot, "bp-phase-loss")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.focused, OptionList), "focus on the list")
        assert options.highlighted == 2
        # In a field, p is a letter: it is typed, and no phase is chosen.
        await pilot.press("n")
        await focus_is(pilot, "bp-node")
        await pilot.press("p")
        assert screen.query_one("#bp-node", Input).value == "p"
        await closes_on_escape(pilot)
        assert app.breakpoints == (
            Breakpoint.when("norm(grad) > 1", app.timeline.program.graph),
            Breakpoint.on_phase("loss"),
        )


async def test_a_refused_condition_keeps_the_focus_to_mend_it() -> None:
    app = make_app(xor())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "B", BreakpointsScreen)
        await pilot.press("w")
        await focus_is(pilot, "bp-condition")
        await type_text(pilot, "norm(nope) > 1")
        await pilot.press("enter")
        error = screen.query_one("#bp-condition-error", Static)
        await wait_until(pilot, lambda: error.has_class("-shown"), "the condition's error")
        assert focused_id(app) == "bp-condition"
        # up and down move between the fields and buttons
        await pilot.press("up")
        await focus_is(pilot, "bp-node")
        await pilot.press("up")
        await focus_is(pilot, "bp-phase-update")
        await pilot.press("down", "down")
        await focus_is(pilot, "bp-condition")
        await closes_on_escape(pilot)
        assert app.breakpoints == ()


async def test_whatif_dialog_with_keys_only() -> None:
    """Down and up move between the what-if fields, then into the list of runs; enter in
    a field branches; esc closes."""
    app = make_app(worked_example())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "w", WhatIfScreen)
        await focus_is(pilot, "whatif-params")
        await pilot.press("down")
        await focus_is(pilot, "whatif-lr")
        await pilot.press("down")
        await focus_is(pilot, "whatif-optimizer")
        await pilot.press("up")
        await focus_is(pilot, "whatif-lr")
        assert "enter branch" in subtitle(screen)
        await pilot.press("down", "down")
        await focus_is(pilot, "whatif-runs")
        assert "switch" in subtitle(screen)
        await closes_on_escape(pilot)
        screen = await open_dialog(pilot, "w", WhatIfScreen)
        await focus_is(pilot, "whatif-params")
        await pilot.press("down")
        await focus_is(pilot, "whatif-lr")
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, "0.05")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.runs.branches) == 1, "the branch")
        assert app.timeline is app.runs.branches[0]


@pytest.mark.parametrize(("key", "kind"), [("question_mark", HelpScreen), ("d", NotesScreen)])
async def test_help_and_notes_scroll_with_keys_and_close_on_escape(key: str, kind: type) -> None:
    app = make_app(xor())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, key, kind)
        if kind is HelpScreen:  # the notes of this scenario fit
            scroller = app.focused
            assert scroller is not None and scroller.max_scroll_y > 0
            await pilot.press("pagedown")
            await wait_until(pilot, lambda: scroller.scroll_y > 0, "the help to scroll")
        assert screen.is_attached
        await closes_on_escape(pilot)


async def test_picker_with_keys_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tab to the path field; typing completes folder and file names (right takes the
    completion); the line under the field shows the absolute path a relative one names;
    enter opens it."""
    folder = tmp_path / "my-scenarios"
    folder.mkdir()
    source = Path(__file__).parents[2] / "scenarios" / "chain.toml"
    (folder / "chain-copy.toml").write_text(source.read_text())
    monkeypatch.chdir(tmp_path)
    app = make_app(worked_example())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "o", PickerScreen)
        assert isinstance(app.focused, OptionList)
        resolved = screen.query_one("#picker-resolved", Static)
        assert str(tmp_path) in str(resolved.render())
        await pilot.press("tab")
        await focus_is(pilot, "picker-path")
        field = screen.query_one("#picker-path", Input)
        await type_text(pilot, "my")
        await wait_until(
            pilot, lambda: field._suggestion == "my-scenarios/", "the folder's completion"
        )
        await pilot.press("right")
        assert field.value == "my-scenarios/"
        await pilot.press("c")
        await wait_until(
            pilot,
            lambda: field._suggestion == "my-scenarios/chain-copy.toml",
            "the file's completion",
        )
        await pilot.press("right")
        assert field.value == "my-scenarios/chain-copy.toml"
        await wait_until(
            pilot,
            lambda: str(folder / "chain-copy.toml") in str(resolved.render()),
            lambda: f"the absolute path, not {resolved.render()}",
        )
        await pilot.press("up")  # back to the list
        assert isinstance(app.focused, OptionList)
        await pilot.press("tab", "enter")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "the picker to close")
        assert app.timeline.program.scenario.source == "my-scenarios/chain-copy.toml"


async def test_opening_another_scenario_asks_before_discarding_a_whatif() -> None:
    """With a what-if branch, choosing another scenario asks first; the safe answer has
    the focus (enter keeps the branch); right then enter opens it; with no branch, no
    question."""
    app = make_app(worked_example())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_dialog(pilot, "w", WhatIfScreen)
        await pilot.press("down", "ctrl+a", "ctrl+k", "0", ".", "0", "5", "enter")
        await wait_until(pilot, lambda: len(app.runs.branches) == 1, "the branch")
        picker = await open_dialog(pilot, "o", PickerScreen)
        options = picker.query_one(OptionList)
        options.highlighted = options.get_option_index("chain")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        confirm = app.screen
        await wait_until(pilot, lambda: focused_id(app) == "confirm-no", "focus on 'Keep them'")
        assert "1 what-if branch" in str(confirm.query_one("#confirm-question", Static).render())
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is picker, "back in the picker")
        status = picker.query_one("#picker-status", Static)
        assert "keeps its branches" in str(status.render())
        assert len(app.runs.branches) == 1
        await pilot.press("tab", "shift+tab", "enter")  # the list again, the same choice
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("right")
        await focus_is(pilot, "confirm-yes")
        assert isinstance(app.focused, Button)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "the picker to close")
        assert app.timeline.program.scenario.source == "chain"
        assert app.runs.branches == []
        # No branch now: no question.
        picker = await open_dialog(pilot, "o", PickerScreen)
        options = picker.query_one(OptionList)
        options.highlighted = options.get_option_index("xor")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.timeline.program.scenario.source == "xor", "xor")


async def test_confirm_answers_to_y_n_and_escape() -> None:
    app = make_app(worked_example())
    answers: list[bool | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in ("escape", "n", "y"):
            app.push_screen(
                ConfirmScreen("Sure?", "Something happens.", "Do it", "Keep"), answers.append
            )
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
            await wait_until(pilot, lambda: app.screen.is_mounted, "the question mounted")
            await pilot.press(key)
            await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "the answer")
    assert answers == [False, False, True]


def test_completion_of_paths(tmp_path: Path) -> None:
    (tmp_path / "alpha").mkdir()
    (tmp_path / "alpine.toml").write_text("")
    (tmp_path / "alpha" / "one.toml").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / ".hidden.toml").write_text("")
    assert complete("al", tmp_path) == "alp"  # what the two share
    assert complete("alph", tmp_path) == "alpha/"
    assert complete("alpha/", tmp_path) == "alpha/one.toml"
    assert complete("alpi", tmp_path) == "alpine.toml"
    assert complete("no", tmp_path) is None  # not a .toml file
    assert complete("", tmp_path) is None
    assert complete(".h", tmp_path) == ".hidden.toml"
    assert complete("missing/x", tmp_path) is None
    assert complete(f"{tmp_path}/alph", Path("/")) == f"{tmp_path}/alpha/"
    inner = tmp_path / "alpha"
    assert complete("../al", inner, confined=True) is None  # outside the folder served
    assert complete("on", inner, confined=True) == "one.toml"
    assert resolve_typed("x/../y.toml", tmp_path) == tmp_path / "y.toml"
    assert resolve_typed("/abs/y.toml", tmp_path) == Path("/abs/y.toml")


def test_paths_at_home_are_shown_with_a_tilde(tmp_path, monkeypatch) -> None:
    home = tmp_path / "me"
    monkeypatch.setenv("HOME", str(home))
    assert shown_path(home / "scenarios" / "a.toml") == "~/scenarios/a.toml"
    assert shown_path(home) == "~"
    assert shown_path(tmp_path / "elsewhere.toml") == str(tmp_path / "elsewhere.toml")
    assert shown_path(tmp_path / "me2" / "x.toml") == str(tmp_path / "me2" / "x.toml")
