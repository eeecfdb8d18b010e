"""Colours read from the app's theme variables, whatever form a theme writes them in.

Most themes write a variable as a colour (``#57a5e2``), but the ANSI themes (which the
command palette offers) write some as a colour and an opacity (``ansi_blue 50%``), and
every theme writes some relative to the background (``auto 87%``); ``Color.parse``
refuses both. Panes that draw with theme colours (the graph, the history's plots) read
them here, falling back to a fixed colour where a variable cannot be resolved.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.color import Color, ColorParseError

BLACK = Color(0, 0, 0)


def parse(text: str | None) -> Color | None:
    """``text`` as a colour (``#57a5e2``, ``ansi_blue``, ``ansi_blue 50%``), or None."""
    if not text:
        return None
    try:
        return Color.parse(text)
    except ColorParseError:
        pass
    # A colour and an opacity, as Textual's CSS writes them.
    parts = text.split()
    if len(parts) == 2 and parts[1].endswith("%"):
        try:
            return Color.parse(parts[0]).with_alpha(float(parts[1][:-1]) / 100)
        except (ColorParseError, ValueError):
            return None
    return None  # relative to what is under it ("auto 87%"): not a colour on its own


def theme_color(variables: Mapping[str, str], name: str, fallback: str) -> Color:
    """The colour of theme variable ``name`` (else of ``fallback``: a variable's name or a
    colour), blended over the background where it is translucent. A terminal's own
    (ANSI) colours are kept as they are: the terminal decides what they look like."""
    color = parse(variables.get(name)) or parse(variables.get(fallback, fallback))
    if color is None:
        color = Color(136, 136, 136)
    if color.a < 1 and color.ansi is None:
        background = parse(variables.get("background")) or BLACK
        color = (background if background.ansi is None else BLACK) + color
    return color


def style_color(color: Color) -> str:
    """``color`` written so that both Rich's and Textual's styles read it: a terminal's
    own colour by its number (``color(2)``; Rich does not know ``ansi_green``), any other
    as ``#rrggbb``."""
    return color.hex if color.ansi is None else color.rich_color.name
