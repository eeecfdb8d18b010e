"""The notes screen: the scenario's description (Markdown), as its author wrote it.

The description is data from a file: its control characters are escaped, and its links
are not followed (a click on one does nothing a file could choose)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Markdown

from engine.fmt import printable
from engine.scenario.records import Scenario
from tui.screens.dialog import Dialog


class NotesScreen(Dialog[None]):
    """Shows a scenario's name, source and description; ``esc``, ``d`` or ``q`` closes it."""

    CSS_PATH = "notes.tcss"

    BINDINGS = [Binding("escape,d,q", "dismiss", "Close")]

    def __init__(self, scenario: Scenario) -> None:
        super().__init__()
        self._scenario = scenario

    def compose(self) -> ComposeResult:
        s = self._scenario
        with Vertical(id="notes-dialog", classes="dialog") as dialog:
            dialog.border_title = Content(printable(s.name))  # a str would be markup
            dialog.border_subtitle = "esc to close"
            with VerticalScroll():
                yield Markdown(
                    printable(s.description, newlines=True)
                    or "_This scenario has no description._",
                    open_links=False,
                )
