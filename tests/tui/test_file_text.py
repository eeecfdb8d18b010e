"""Text from a file is shown as text: never parsed as markup, its control characters
escaped (engine.fmt.printable), in every place the app shows it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from snapshot_apps import (
    header,
    make_app,
    notes_shown,
    open_dialog,
    said,
    settle,
    wait_until,
    worked_example,
)
from textual import events
from textual.content import Content
from textual.widgets import Input, Markdown, OptionList, Static

from engine.open import open_program
from tui.app import BpdbgApp
from tui.screens.breakpoints import BreakpointsScreen
from tui.screens.help import HelpScreen
from tui.screens.notes import NotesScreen
from tui.screens.picker import PickerScreen

NASTY = "[b]bold[/b] [/] \x1b[2J\x07 end"
"""Markup that would fail to parse ([/] closes nothing), a clear-screen sequence and BEL."""
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def nasty_scenario(folder: Path) -> Path:
    """The worked example whose name, description and watchpoint hold :data:`NASTY`."""
    escaped = NASTY.replace("\x1b", "\\u001b").replace("\x07", "\\u0007")
    path = folder / "nasty.toml"
    path.write_text(
        f'name = "Nasty {escaped}"\n'
        f'description = "# Notes {escaped}\\n\\nA link: [here](https://example.com)."\n'
        '[model]\ninputs = 1\n[[model.layers]]\nunits = 1\nactivation = "identity"\n'
        "weight = [[0.5]]\nbias = [0.0]\n[data]\nx = [[1.0]]\ny = [[0.0]]\n"
        '[loss]\nkind = "mse"\n[optimizer]\nkind = "sgd"\nlr = 0.1\n'
        '[[breakpoints]]\nwhen = "loss >\\f 100"\n',
        encoding="utf-8",
    )
    return path


def drawn(app: BpdbgApp) -> str:
    """Every character the screen draws now (dialogs and notifications included)."""
    update = app.screen._compositor.render_update(full=True)
    return "".join(
        segment.text
        for line in update.strips
        for strip in line
        for segment in strip
        if not segment.control
    )


def assert_clean(app: BpdbgApp) -> None:
    text = drawn(app)
    assert not CONTROL.search(text), repr(CONTROL.search(text))
    assert app.is_running


async def test_the_name_and_description_are_shown_escaped_everywhere(tmp_path: Path) -> None:
    program = open_program(str(nasty_scenario(tmp_path)))
    app = make_app(program)
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        await settle(pilot)
        title = app.header.part("title").plain
        assert "Nasty [b]bold[/b] [/] \\x1b[2J\\x07 end" in title
        assert_clean(app)
        # The watchpoint's condition (from the file) in the timeline's subtitle.
        assert "when loss" in str(app.timeline_view.border_subtitle)
        notes = await open_dialog(pilot, "d", NotesScreen)
        markdown = notes.query_one(Markdown)
        assert "\\x1b[2J\\x07" in markdown.source and "\x1b" not in markdown.source
        title = Content.from_markup(notes.query_one("#notes-dialog").border_title).plain
        assert "Nasty [b]bold[/b] [/] \\x1b" in title
        assert_clean(app)
        await pilot.press("escape")
        help_screen = await open_dialog(pilot, "question_mark", HelpScreen)
        assert "\\x1b[2J" in str(help_screen.query_one("#help-intro", Static).render())
        assert_clean(app)
        await pilot.press("escape")
        breakpoints = await open_dialog(pilot, "B", BreakpointsScreen)
        entries = breakpoints.query_one(OptionList)
        assert entries.option_count == 2
        assert_clean(app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "the dialog to close")
        assert_clean(app)


async def test_opened_says_the_name_as_text(tmp_path: Path) -> None:
    """The "Opened …" notification: it used to parse the name as markup ([/] ended the
    app) and pass the ESC through."""
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        app.set_program(open_program(str(nasty_scenario(tmp_path))))
        await wait_until(pilot, lambda: said(app, "Opened Nasty"), "the Opened note")
        note = notes_shown(app)[-1]
        assert "[/]" in note.message and "\\x1b[2J\\x07" in note.message
        assert not CONTROL.search(note.message) and not note.markup
        await wait_until(pilot, lambda: app.screen.query("Toast"), "its toast")
        await settle(pilot)
        assert_clean(app)
        assert "\\x1b[2J" in header(app)


@pytest.mark.parametrize("path", ["missing [/] here.toml", "[b]x[/b].toml"])
async def test_the_picker_shows_a_path_as_text(path: str) -> None:
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        picker = await open_dialog(pilot, "o", PickerScreen)
        box = picker.query_one(Input)
        box.focus()
        box.value = path
        await pilot.press("enter")
        error = picker.query_one("#picker-error", Static)
        await wait_until(pilot, lambda: error.has_class("-shown"), "the picker's error")
        shown = str(error.render())
        assert f"{path}: no such file" in shown
        assert_clean(app)


@pytest.mark.parametrize("opener", ["o", "w", "B"])
async def test_a_paste_with_control_characters_is_refused(opener: str) -> None:
    """Keys cannot type control characters, but a paste can; a field draws its text as it
    is, so one holding an ESC would send it to the terminal."""
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press(opener)
        await wait_until(pilot, lambda: app.screen.is_mounted and app.screen.query(Input), "it")
        box = app.screen.query(Input).first()
        box.focus()
        before = box.value
        box.post_message(events.Paste("ok \x1b[2J\x07 then"))
        await wait_until(pilot, lambda: said(app, "Control characters"), "the refusal")
        assert box.value == before
        box.post_message(events.Paste("fine [/] text"))
        await wait_until(pilot, lambda: "fine [/] text" in box.value, "the paste")
        assert_clean(app)
