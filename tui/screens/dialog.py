"""The base of the app's dialogs, and of its command palette: screens that close once,
however fast the keys that close them come."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from textual.await_complete import AwaitComplete
from textual.command import CommandList, CommandPalette
from textual.screen import ModalScreen, Screen

ResultType = TypeVar("ResultType")

if TYPE_CHECKING:
    _Screen = Screen[Any]
else:
    _Screen = object


class ClosesOnce(_Screen):
    """A screen whose :meth:`dismiss` is safe to call at any moment (a mixin).

    Keys arrive in bursts (a fast typist, a paste, a held key): a second ``esc``, or an
    ``enter`` already on its way to a field, would dismiss the screen again, and Textual
    would then pop the screen under it, or fail when that is the last one. And an ``esc``
    right after the key that opened it would close it while it is still being composed,
    so that its ``on_mount`` would find its widgets gone. Handlers of keys and messages
    that arrive after it was dismissed (its widgets may be gone) check :attr:`dismissed`
    and do nothing.
    """

    _dismissed = False

    @property
    def dismissed(self) -> bool:
        """Whether the screen has been dismissed (it may still be taking its leave)."""
        return self._dismissed

    def dismiss(self, result: Any = None) -> AwaitComplete:
        """Close the screen with ``result``, as :meth:`Screen.dismiss` does: once, and only
        once it is up (asked earlier, it closes as soon as it is)."""
        if not self.is_mounted:
            self.call_later(self.dismiss, result)
            return AwaitComplete.nothing()
        if self._dismissed or self.app.screen is not self:
            return AwaitComplete.nothing()
        self._dismissed = True
        return super().dismiss(result)


class Dialog(ClosesOnce, ModalScreen[ResultType]):
    """A dialog over the main screen (help, notes, picker, breakpoints, what-if)."""


class Palette(ClosesOnce, CommandPalette):
    """Textual's command palette, closing once: ``enter enter`` in a burst closed it twice,
    and the second time popped the app's last screen."""

    def _action_command_list(self, action: str) -> None:
        # Textual's list of commands fails (KeyError) on a page key before it has laid
        # out any line: pagedown right after ctrl+p. Until then, page keys do nothing.
        if action in ("page_up", "page_down"):
            commands = self.query(CommandList)
            if not commands or not commands.first().virtual_size.height:
                return
        super()._action_command_list(action)
