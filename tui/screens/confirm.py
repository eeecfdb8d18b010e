"""A question with two answers: do it, or keep things as they are (``esc``)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Button, Static

from engine.fmt import printable
from tui.screens.button_row import ButtonRow
from tui.screens.dialog import Dialog


class ConfirmScreen(Dialog[bool]):
    """Ask before something that cannot be undone; dismisses with True to go ahead.

    The safe answer has the focus, so that an ``enter`` typed in a hurry keeps things as
    they are; ``left``/``right`` move between the answers, ``y`` and ``n`` choose one,
    ``esc`` is no.

    Args:
        title: The frame's title.
        question: What would happen, in words (plain text: it may quote a file name).
        yes: The label of the answer that goes ahead.
        no: The label of the answer that keeps things as they are.
    """

    CSS_PATH = "confirm.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "No", show=False),
        Binding("y", "answer(True)", "Yes", show=False),
    ]

    def __init__(self, title: str, question: str, yes: str, no: str) -> None:
        super().__init__()
        self._title = title
        self._question = question
        self._yes = yes
        self._no = no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog") as dialog:
            dialog.border_title = Content(printable(self._title))
            dialog.border_subtitle = "←→ choose · enter · y yes · n or esc no"
            yield Static(Content(printable(self._question, newlines=True)), id="confirm-question")
            with ButtonRow(id="confirm-answers"):
                yield Button(self._no, id="confirm-no", compact=True)
                yield Button(self._yes, id="confirm-yes", variant="warning", compact=True)

    def on_mount(self) -> None:
        if self.is_attached:
            self.query_one("#confirm-no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        """Close with ``yes``."""
        self.dismiss(yes)
