"""The dialogs' lists of choices: an option list whose page keys never fail."""

from __future__ import annotations

from textual.widgets import OptionList


class ChoiceList(OptionList):
    """An :class:`~textual.widgets.OptionList` whose page keys never end the app.

    Textual's list pages by the lines it has laid out for its options, and fails
    (``KeyError``) when the highlighted option has none yet: ``pagedown`` right after the
    key that opened the dialog, or with no room to lay anything out. Such a page key does
    nothing.
    """

    def action_page_down(self) -> None:
        try:
            super().action_page_down()
        except KeyError:
            pass

    def action_page_up(self) -> None:
        try:
            super().action_page_up()
        except KeyError:
            pass
