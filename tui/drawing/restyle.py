"""Component styles looked up once per CSS change, not once per render.

A Line-API pane styles its text with its component classes. Looking one up walks the
widget's ancestors, which would cost more than the rest of a step's repaint of a few
lines; the styles only change when the CSS does (a theme, focus).
"""

from __future__ import annotations

from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget


class RestyledOnCss(Widget):
    """Calls :meth:`restyle` before the first render after each CSS change."""

    _styles_stale = True

    def restyle(self) -> None:
        """Look the component styles up again (the CSS has changed)."""

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles_stale = True

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._styles_stale:
            self._styles_stale = False
            self.restyle()
        return super().render_lines(crop)
