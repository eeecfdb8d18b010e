"""The base of the app's dialogs, and of its command palette: screens that close once,
however fast the keys that close them come; dialogs whose keys follow the focus."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, Input

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
    """A dialog over the main screen (help, notes, picker, breakpoints, what-if, confirm).

    Its keys follow the focus: ``down`` and ``up`` move from a field or a button to the
    next or previous one (in a list they move its highlight, as the list binds them
    first), and the frame's subtitle (``.dialog``'s, the dialog's own footer) says what
    the keys do where the focus is now (:meth:`hint`). So a key a list takes (``p`` for
    a phase) is never offered while a field has the focus, where it would be typed.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "move_focus(1)", "Next field", show=False),
        Binding("up", "move_focus(-1)", "Previous field", show=False),
    ]

    def hint(self, focused: Widget | None) -> str | None:
        """The keys that apply with ``focused`` focused, for the subtitle; None: keep it."""
        return None

    def on_descendant_focus(self) -> None:
        self._show_hint()

    def _show_hint(self) -> None:
        if self.dismissed or not self.is_attached:
            return
        text = self.hint(self.focused)
        frames = self.query(".dialog")
        if text is not None and frames:
            frames.first().border_subtitle = text

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.dismissed:
            return False  # keys that came after the one that closed it
        if action == "move_focus":
            # Fields and buttons only: lists and scrolled text use up and down themselves.
            return isinstance(self.focused, (Input, Button))
        return True

    def action_move_focus(self, delta: int) -> None:
        """Focus the next (``delta`` 1) or previous (-1) field or button."""
        if delta > 0:
            self.focus_next()
        else:
            self.focus_previous()


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
