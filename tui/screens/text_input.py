"""The dialogs' text field: an input that takes printable text only."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input

PRINTABLE = r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]*"
"""What a field may hold: no control characters (those :func:`engine.fmt.printable`
escapes). Keys cannot type them, but a paste can, and an input draws its text as it is:
an ESC pasted into a field would reach the terminal."""


class TextInput(Input):
    """An :class:`~textual.widgets.Input` that refuses text with control characters.

    A paste holding one is refused whole, and the field says why.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("restrict", PRINTABLE)
        super().__init__(*args, **kwargs)

    def restricted(self) -> None:
        self.notify(
            "Control characters cannot be typed or pasted here.", severity="warning", timeout=3
        )
