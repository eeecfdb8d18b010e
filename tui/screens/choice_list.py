"""The dialogs' lists of choices: an option list that pages only once it is laid out."""

from __future__ import annotations

from textual.widgets import OptionList


class ChoiceList(OptionList):
    """An :class:`~textual.widgets.OptionList` whose page keys wait for its layout.

    Textual's list pages by the lines it has laid out, and fails (``KeyError``) on a page
    key that comes before it has any: ``pagedown`` right after the key that opened the
    dialog. Until then a page key does nothing.
    """

    def action_page_down(self) -> None:
        if self.virtual_size.height:
            super().action_page_down()

    def action_page_up(self) -> None:
        if self.virtual_size.height:
            super().action_page_up()
