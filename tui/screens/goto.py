"""The go-to prompt (``:``): a step, a step and an event within it, or an event number.

A field and a line saying what it takes. ``enter`` on a place that parses closes the
prompt with its event's ``seq``; anything else says, under the field, what is accepted,
and moves nothing. ``esc`` closes it.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from engine.debug.goto import ACCEPTED, PlaceError, parse_place
from tui.screens.dialog import Dialog
from tui.screens.text_input import TextInput


class GoToScreen(Dialog[int | None]):
    """Asks where to go; dismissed with the event's ``seq``, or None.

    Args:
        events_per_step: Events in one training step of the run shown.
        total_steps: Steps in the run.
        cursor_blink: Whether the field's cursor blinks (off for snapshots).
    """

    CSS_PATH = "goto.tcss"

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, events_per_step: int, total_steps: int, *, cursor_blink: bool = True):
        super().__init__()
        self._eps = events_per_step
        self._steps = total_steps
        self._blink = cursor_blink

    def compose(self) -> ComposeResult:
        with Vertical(id="goto-dialog", classes="dialog") as dialog:
            dialog.border_title = "Go to"
            dialog.border_subtitle = "enter to go · esc to close"
            yield TextInput(placeholder="120, 120.7 or #5000", id="goto-place")
            yield Static(f"Type {ACCEPTED}.", id="goto-help", markup=False)

    def on_mount(self) -> None:
        field = self.query_one("#goto-place", Input)
        field.cursor_blink = self._blink
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.dismissed:
            return
        try:
            seq = parse_place(event.value, self._eps, self._steps)
        except PlaceError as err:
            help_ = self.query_one("#goto-help", Static)
            help_.update(str(err))
            help_.add_class("-error")
            return
        self.dismiss(seq)

    def action_close(self) -> None:
        self.dismiss(None)
