"""The base of the app's dialogs, and of its command palette: screens that close once,
however fast the keys that close them come."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from textual.await_complete import AwaitComplete
from textual.command import CommandPalette
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
    and the second time popped the app's last screen. It also stops looking for commands
    once dismissed: a key typed right after ``esc`` started a search whose results then
    had no list to go to (a worker error, which ends a Textual app)."""

    def _gather_commands(self, search_value: str) -> Any:
        if self.dismissed:
            return None
        return super()._gather_commands(search_value)

    def _action_command_list(self, action: str) -> None:
        # Textual's list of commands fails (KeyError) on a page key when the highlighted
        # command has no line laid out yet: pagedown right after ctrl+p. Such a page key
        # does nothing (as in tui.choice_list).
        try:
            super()._action_command_list(action)
        except KeyError:
            if action not in ("page_up", "page_down"):
                raise
