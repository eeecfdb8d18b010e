"""A row of buttons that the arrow keys move along (the breakpoints dialog's phases, a
confirmation's answers)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button


class ButtonRow(Horizontal):
    """Buttons side by side: ``left`` and ``right`` move the focus from one to the next.

    ``tab`` still leaves the row, as everywhere; the arrows stop at its ends rather than
    wrap, so that holding one lands on the last button, not somewhere in between.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "step(-1)", "Previous button", show=False),
        Binding("right", "step(1)", "Next button", show=False),
    ]

    def action_step(self, delta: int) -> None:
        """Focus the button ``delta`` places from the focused one, stopping at the ends."""
        buttons = [b for b in self.query(Button) if b.focusable]
        focused = self.screen.focused
        if not buttons or focused not in buttons:
            return
        i = buttons.index(focused) + delta
        buttons[max(0, min(i, len(buttons) - 1))].focus()
