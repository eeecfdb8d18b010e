"""The footer: Textual's compact ``Footer``, made cheaper to rebuild.

The footer rebuilds all its keys whenever one is enabled or disabled (and a few times at
start-up). A compact footer's keys each get the ``-compact`` class only once mounted,
and adding a class restyles the widget: a stylesheet pass per key, per rebuild. Here the
keys are created with the class, so mounting them restyles nothing; what they show is
the same.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeyFooter(Footer):
    """A compact :class:`~textual.widgets.Footer` whose keys are born compact."""

    def __init__(self, *, show_command_palette: bool = True) -> None:
        super().__init__(compact=True, show_command_palette=show_command_palette)

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                widget.set_class(self.compact, "-compact", update=False)
            yield widget
