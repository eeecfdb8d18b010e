"""The data view's picture, cell by cell: pure functions from numbers to styled rows.

Three pictures (see :mod:`engine.report.landscape` for their numbers):

- **plane**: the output over the input plane in half-block cells (``▀``: a cell's top
  half is its foreground, its bottom half its background, so each cell is two square
  pixels). Classes are the theme's colours, their strength the confidence; one output is
  a diverging scale between two colours. Strengths come in :data:`BANDS` steps, so the
  regions read as regions and their edges as contours. The data points sit on top,
  coloured by their target: ``●`` in this step's mini-batch, ``○`` not.
- **curve**: the fitted curve in braille dots (2×4 to a cell) with the data points.
- **surface**: the loss over two parameters in bands (log-spaced when it spans orders of
  magnitude), the parameters' path drawn over it, ``○`` where it started, ``●`` now.

Each picture is rows of ``(text, style)`` segments, with the axis ranges along the left
and the bottom and a legend on the top row. Nothing here knows Textual.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import numpy as np
from rich.segment import Segment
from rich.style import Style

from engine.report.landscape import Bounds, DataView
from tui.drawing import scale

RGB = tuple[int, int, int]
Row = list[Segment]

BANDS = 5
"""Steps of strength (confidence, or distance from the middle of a diverging scale)."""
LEVELS = 8
"""Bands of the loss surface."""
UPPER_HALF = "▀"
IN_BATCH = "●"
OUT_OF_BATCH = "○"
START = "○"
NOW = "●"
BRAILLE = 0x2800
_BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
"""The braille dot of each (row, column) of a cell's 4×2 dots."""


class Palette(msgspec.Struct, frozen=True):
    """The colours of a picture, from the app's theme.

    Attributes:
        background: The pane's background.
        foreground: Text.
        muted: Axis labels and other quiet text.
        classes: One colour per class (class 0 first); a diverging scale runs from the
            first to the second.
        bad: Where the output is not a number.
        path: The parameters' path over the loss surface.
    """

    background: RGB
    foreground: RGB
    muted: RGB
    classes: tuple[RGB, ...]
    bad: RGB
    path: RGB


def hex_of(c: RGB) -> str:
    return f"#{c[0]:02x}{c[1]:02x}{c[2]:02x}"


def blend(a: RGB, b: RGB, alpha: float) -> RGB:
    """``b`` over ``a`` at opacity ``alpha``."""
    return tuple(round(x + (y - x) * alpha) for x, y in zip(a, b))  # type: ignore[return-value]


def class_colors(base: Sequence[RGB], n: int) -> tuple[RGB, ...]:
    """``n`` class colours: the theme's first, then evenly spread hues of the same
    lightness when a scenario has more classes than the theme has colours."""
    out = list(dict.fromkeys(base))[:n]
    import colorsys

    r, g, b = (x / 255 for x in base[0])
    h, lightness, s = colorsys.rgb_to_hls(r, g, b)
    k = 0
    while len(out) < n:
        k += 1
        rr, gg, bb = colorsys.hls_to_rgb((h + k * 0.618034) % 1.0, lightness, max(s, 0.5))
        out.append((round(rr * 255), round(gg * 255), round(bb * 255)))
    return tuple(out)


def strength(alpha_band: np.ndarray) -> np.ndarray:
    """Opacity of a class colour over the background for each band (0 to BANDS-1): faint
    where the model is unsure, strong where it is sure."""
    return 0.24 + 0.12 * alpha_band


# --- the plane ---------------------------------------------------------------------------------


def plane_classes(
    view: DataView, values: np.ndarray, spread: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's colour index and band.

    Args:
        view: What the output means.
        values: ``(ny, nx, units)`` outputs.
        spread: For a ``value`` output, the targets' middle and half-range (the
            diverging scale's centre and reach).

    Returns:
        ``(index, band)`` arrays of shape ``(ny, nx)``; index -1 marks a pixel whose
        output is not a number.
    """
    with np.errstate(all="ignore"):
        if view.target == "classes":
            index = np.argmax(values, axis=2)
            k = values.shape[2]
            top = np.max(values, axis=2)
            conf = (top - 1.0 / k) / (1.0 - 1.0 / k) if k > 1 else np.ones_like(top)
            bad = ~np.isfinite(values).all(axis=2)
        else:
            v = values[:, :, 0]
            if view.target == "binary":
                t = 2.0 * v - 1.0
            elif view.target == "signed":
                t = np.clip(v, -1.0, 1.0)
            else:
                mid, half = spread
                t = (v - mid) / half
            t = np.clip(t, -1.0, 1.0)
            index = (t >= 0).astype(np.int64)
            conf = np.abs(t)
            bad = np.isnan(v)
    band = np.clip((np.nan_to_num(conf) * BANDS).astype(np.int64), 0, BANDS - 1)
    index = np.where(bad, -1, index)
    return index, band


def color_table(palette: Palette, n: int) -> np.ndarray:
    """``table[index + 1, band]``: the colour of each class (index -1: not a number) at
    each band, as ``(n + 1, BANDS, 3)`` integers."""
    bands = strength(np.arange(BANDS))
    table = np.zeros((n + 1, BANDS, 3), dtype=np.int64)
    table[0, :] = blend(palette.background, palette.bad, 0.55)
    for i, c in enumerate(palette.classes[:n]):
        for b, a in enumerate(bands):
            table[i + 1, b] = blend(palette.background, c, float(a))
    return table


# --- cells and rows ----------------------------------------------------------------------------


NO_COLOR = -1
"""A cell's foreground code where it has no colour of its own."""


def color_code(c: RGB) -> int:
    """``0xRRGGBB``: a colour as one number, so that a grid of them is one array."""
    return (int(c[0]) << 16) | (int(c[1]) << 8) | int(c[2])


class Canvas:
    """A grid of cells, each a character with a foreground and a background colour.

    The colours are arrays of :func:`color_code` numbers: a heatmap fills every cell
    each step, and its rows are cut into runs of cells styled alike by comparing whole
    rows at once rather than cell by cell.
    """

    def __init__(self, width: int, height: int, background: RGB) -> None:
        self.width, self.height = width, height
        self.chars = [[" "] * width for _ in range(height)]
        self.fg = np.full((height, width), NO_COLOR, dtype=np.int64)
        self.bg = np.full((height, width), color_code(background), dtype=np.int64)
        self.bold = np.zeros((height, width), dtype=bool)

    def pixels(self, colors: np.ndarray) -> None:
        """Fill every cell with two pixels of ``colors`` (``(2·height, width, 3)``, top
        row first): the top half as the foreground of ``▀``, the bottom as background."""
        c = np.asarray(colors, dtype=np.int64)[: 2 * self.height]
        codes = (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]
        for r in range(self.height):
            self.chars[r] = [UPPER_HALF] * self.width
        self.fg[:] = codes[0::2]
        self.bg[:] = codes[1::2]

    def put(
        self, row: int, col: int, char: str, fg: RGB, *, bold: bool = False, bg: RGB | None = None
    ) -> None:
        if 0 <= row < self.height and 0 <= col < self.width:
            self.chars[row][col] = char
            self.fg[row, col] = color_code(fg)
            if bg is not None:
                self.bg[row, col] = color_code(bg)
            self.bold[row, col] = bold

    def rows(self) -> list[Row]:
        """Segments, one run per stretch of cells styled alike."""
        out: list[Row] = []
        styles: dict[tuple, Style] = {}
        if not self.width:
            return [[] for _ in range(self.height)]
        fg, bg, bold = self.fg, self.bg, self.bold
        # Where each row's style changes from the cell before: the runs' starts.
        change = (fg[:, 1:] != fg[:, :-1]) | (bg[:, 1:] != bg[:, :-1])
        change |= bold[:, 1:] != bold[:, :-1]
        for r in range(self.height):
            cuts = (np.flatnonzero(change[r]) + 1).tolist()
            starts, ends = [0, *cuts], [*cuts, self.width]
            fg_r, bg_r, bold_r = fg[r].tolist(), bg[r].tolist(), bold[r].tolist()
            chars = self.chars[r]
            out.append(
                [
                    Segment("".join(chars[a:b]), _style(styles, (fg_r[a], bg_r[a], bold_r[a])))
                    for a, b in zip(starts, ends)
                ]
            )
        return out


def _style(cache: dict[tuple, Style], key: tuple) -> Style:
    style = cache.get(key)
    if style is None:
        fg, bg, bold = key
        style = cache[key] = Style(
            color=f"#{fg:06x}" if fg != NO_COLOR else None, bgcolor=f"#{bg:06x}", bold=bold or None
        )
    return style


def text_row(parts: Sequence[tuple[str, RGB | None, bool]], width: int, palette: Palette) -> Row:
    """A row of text, cut or padded to ``width``: ``(text, colour, bold)`` parts."""
    out: Row = []
    used = 0
    bg = hex_of(palette.background)
    for text, color, bold in parts:
        if used >= width:
            break
        text = text[: width - used]
        out.append(
            Segment(
                text,
                Style(color=hex_of(color or palette.foreground), bgcolor=bg, bold=bold or None),
            )
        )
        used += len(text)
    if used < width:
        out.append(Segment(" " * (width - used), Style(bgcolor=bg)))
    return out


class Frame(msgspec.Struct, frozen=True):
    """Where the plot area sits in the pane: its size and the labels around it."""

    width: int
    height: int
    gutter: int


def frame_of(width: int, height: int, y_labels: Sequence[str]) -> Frame:
    """The plot area of a pane ``width`` × ``height``: a gutter for the y labels at the
    left, the legend above and the x axis below."""
    gutter = min(max(len(s) for s in y_labels) + 1, max(0, width // 4))
    return Frame(max(1, width - gutter), max(1, height - 2), gutter)


def axes(
    plot: list[Row],
    fr: Frame,
    bounds: Bounds,
    names: Sequence[str],
    palette: Palette,
    width: int,
    legend: Sequence[tuple[str, RGB | None, bool]],
) -> list[Row]:
    """The plot's rows with the legend above, the y range at the left, the x below."""
    x0, x1, y0, y1 = bounds
    y_hi, y_lo = scale.number(y1), scale.number(y0)
    name_y = names[1] if len(names) > 1 else ""
    bg = hex_of(palette.background)
    muted = Style(color=hex_of(palette.muted), bgcolor=bg)
    rows = [text_row(legend, width, palette)]
    for r, row in enumerate(plot):
        if r == 0:
            label = y_hi
        elif r == len(plot) - 1:
            label = y_lo
        elif r == len(plot) // 2:
            label = name_y
        else:
            label = ""
        label = label[: max(0, fr.gutter - 1)].rjust(fr.gutter - 1) + " " if fr.gutter else ""
        rows.append([Segment(label, muted), *row])
    lo, hi = scale.number(x0), scale.number(x1)
    name_x = names[0]
    room = fr.width - len(lo) - len(hi)
    middle = name_x.center(room) if room > len(name_x) + 1 else " " * max(0, room)
    axis = " " * fr.gutter + lo + middle + hi
    rows.append(text_row([(axis, palette.muted, False)], width, palette))
    return rows


def _cell_of(x: float, y: float, bounds: Bounds, fr: Frame) -> tuple[int, int, int] | None:
    """``(row, column, half)`` of the plot cell holding ``(x, y)``; None outside."""
    x0, x1, y0, y1 = bounds
    if not (x1 > x0 and y1 > y0) or not (math.isfinite(x) and math.isfinite(y)):
        return None
    col = math.floor((x - x0) / (x1 - x0) * fr.width)
    pixel = math.floor((y1 - y) / (y1 - y0) * 2 * fr.height)
    if not (0 <= col < fr.width and 0 <= pixel < 2 * fr.height):
        return None
    return pixel // 2, col, pixel % 2


# --- the three pictures ------------------------------------------------------------------------


def plane_picture(
    view: DataView,
    values: np.ndarray,
    bounds: Bounds,
    points: np.ndarray,
    targets: np.ndarray,
    in_batch: np.ndarray,
    spread: tuple[float, float],
    palette: Palette,
    width: int,
    height: int,
    caption: str,
) -> list[Row]:
    """The output over the input plane, with the data points.

    Args:
        view: What the output means.
        values: ``(ny, nx, units)`` outputs, row 0 at the bottom, for the plot area of
            :func:`frame_of` (``ny`` = 2 × its height, ``nx`` = its width).
        bounds: The rectangle the values cover.
        points: The data's inputs, ``(n, 2)``.
        targets: Each point's class, or its target value.
        in_batch: Which points are in this step's mini-batch.
        spread: The diverging scale's centre and reach (``value`` outputs).
        palette: Colours.
        width: The pane's width in cells.
        height: Its height.
        caption: What the colours are, before the legend's swatches.
    """
    fr = plane_frame(width, height, bounds)
    n = max(2, values.shape[2]) if view.target == "classes" else 2
    colors = class_colors(palette.classes, n)
    pal = msgspec.structs.replace(palette, classes=colors)
    index, band = plane_classes(view, values, spread)
    table = color_table(pal, n)
    pixels = table[index[::-1] + 1, band[::-1]]  # top row first
    canvas = Canvas(fr.width, fr.height, palette.background)
    canvas.pixels(pixels)
    _points(canvas, fr, bounds, points, targets, in_batch, view, spread, pal, pixels)
    legend = _plane_legend(view, caption, pal, spread, bool((~in_batch).any()))
    return axes(canvas.rows(), fr, bounds, view.axes, palette, width, legend)


def plane_frame(width: int, height: int, bounds: Bounds) -> Frame:
    """The plot area of a plane picture (the grid :func:`plane_picture` needs)."""
    return frame_of(width, height, [scale.number(bounds[2]), scale.number(bounds[3]), "x[1]"])


def _point_color(
    view: DataView, target: float, spread: tuple[float, float], colors: Sequence[RGB]
) -> RGB:
    if view.target == "classes":
        return colors[int(target) % len(colors)]
    if view.target == "binary":
        t = 2.0 * target - 1.0
    elif view.target == "signed":
        t = target
    else:
        t = (target - spread[0]) / spread[1]
    return colors[1] if t >= 0 else colors[0]


def _points(
    canvas: Canvas,
    fr: Frame,
    bounds: Bounds,
    points: np.ndarray,
    targets: np.ndarray,
    in_batch: np.ndarray,
    view: DataView,
    spread: tuple[float, float],
    pal: Palette,
    pixels: np.ndarray,
) -> None:
    x0, x1, y0, y1 = bounds
    if not (x1 > x0 and y1 > y0):
        return
    # Every point's cell at once, as _cell_of finds one (a spiral has hundreds of points).
    xs, ys = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    with np.errstate(all="ignore"):
        cols = np.floor((xs - x0) / (x1 - x0) * fr.width)
        rows = np.floor((y1 - ys) / (y1 - y0) * 2 * fr.height)
        inside_plot = np.isfinite(xs) & np.isfinite(ys)
        inside_plot &= (cols >= 0) & (cols < fr.width) & (rows >= 0) & (rows < 2 * fr.height)
    colors: dict[float, RGB] = {}
    # Points outside the batch first, so that a batch point sharing a cell wins it.
    for want in (False, True):
        for i in np.flatnonzero(inside_plot & (in_batch.astype(bool) == want)).tolist():
            pixel, col = int(rows[i]), int(cols[i])
            under = pixels[pixel, col]
            bg = (int(under[0]), int(under[1]), int(under[2]))
            target = float(targets[i])
            color = colors.get(target)
            if color is None:
                # Lighter than any region of its class, so that it stands out on its own.
                color = colors[target] = blend(
                    _point_color(view, target, spread, pal.classes), pal.foreground, 0.3
                )
            mark = IN_BATCH if want else OUT_OF_BATCH
            canvas.put(pixel // 2, col, mark, color, bold=True, bg=bg)


def _plane_legend(
    view: DataView, caption: str, pal: Palette, spread: tuple[float, float], partial_batch: bool
) -> list[tuple[str, RGB | None, bool]]:
    parts: list[tuple[str, RGB | None, bool]] = [(caption + "  ", pal.foreground, True)]
    if view.target == "classes":
        for i, c in enumerate(pal.classes):
            parts += [("█", c, False), (f" {i}  ", pal.muted, False)]
    else:
        if view.target == "binary":
            ends = ("0", "1")
        elif view.target == "signed":
            ends = ("-1", "+1")
        else:
            mid, half = spread
            ends = (scale.number(mid - half), scale.number(mid + half))
        parts.append((ends[0] + " ", pal.muted, False))
        bands = strength(np.arange(BANDS))
        for b in range(BANDS - 1, -1, -1):
            parts.append(("█", blend(pal.background, pal.classes[0], float(bands[b])), False))
        for b in range(BANDS):
            parts.append(("█", blend(pal.background, pal.classes[1], float(bands[b])), False))
        parts.append((" " + ends[1] + "  ", pal.muted, False))
    if partial_batch:
        parts += [
            (IN_BATCH, pal.foreground, True),
            (" batch ", pal.muted, False),
            (OUT_OF_BATCH, pal.foreground, True),
            (" other", pal.muted, False),
        ]
    else:
        parts += [(IN_BATCH, pal.foreground, True), (" data", pal.muted, False)]
    return parts


def curve_frame(width: int, height: int, y_range: tuple[float, float]) -> Frame:
    """The plot area of a curve picture."""
    return frame_of(width, height, [scale.number(y_range[0]), scale.number(y_range[1])])


def curve_picture(
    view: DataView,
    xs: np.ndarray,
    values: np.ndarray,
    points: np.ndarray,
    targets: np.ndarray,
    in_batch: np.ndarray,
    y_range: tuple[float, float],
    palette: Palette,
    width: int,
    height: int,
    caption: str,
) -> list[Row]:
    """The output along the input line (one curve per output unit) over the data points.

    Args:
        xs: The inputs the curve was computed at, evenly spaced.
        values: ``(len(xs), units)`` outputs.
        points: The data's inputs, ``(n,)``.
        targets: ``(n,)`` targets (class indices for ``classes``: drawn at 1).
        y_range: The vertical range drawn.
    """
    fr = curve_frame(width, height, y_range)
    bounds = (float(xs[0]), float(xs[-1]), y_range[0], y_range[1])
    units = values.shape[1]
    colors = class_colors(palette.classes, max(2, units))
    canvas = Canvas(fr.width, fr.height, palette.background)
    dots_w, dots_h = 2 * fr.width, 4 * fr.height
    for u in range(units):
        dots = np.zeros((dots_h, dots_w), dtype=bool)
        y = values[:, u]
        cols = (xs - bounds[0]) / (bounds[1] - bounds[0]) * (dots_w - 1)
        with np.errstate(all="ignore"):
            rows = (y_range[1] - y) / (y_range[1] - y_range[0]) * (dots_h - 1)
        prev: tuple[int, int] | None = None
        for c, r in zip(cols, rows):
            if not math.isfinite(r) or r < -dots_h or r > 2 * dots_h:
                prev = None
                continue
            here = (round(c), round(r))
            for pc, pr in _line(prev or here, here):
                if 0 <= pr < dots_h and 0 <= pc < dots_w:
                    dots[pr, pc] = True
            prev = here
        color = colors[u] if units > 1 else palette.classes[0]
        _braille(canvas, dots, color)
    point_color = palette.classes[1]
    for want in (False, True):
        for x, target, inside in zip(points, targets, in_batch):
            if bool(inside) != want:
                continue
            t = 1.0 if view.target == "classes" else float(target)
            cell = _cell_of(float(x), t, bounds, fr)
            if cell is None:
                continue
            color = colors[int(target) % len(colors)] if view.target == "classes" else point_color
            canvas.put(cell[0], cell[1], IN_BATCH if inside else OUT_OF_BATCH, color, bold=True)
    legend: list[tuple[str, RGB | None, bool]] = [(caption + "  ", palette.foreground, True)]
    if units == 1:
        legend += [("⠒⠒", palette.classes[0], False), (f" {view.output}  ", palette.muted, False)]
    else:
        for u in range(units):
            legend += [("⠒⠒", colors[u], False), (f" {u}  ", palette.muted, False)]
    legend += [(IN_BATCH, point_color, True), (" targets", palette.muted, False)]
    if (~in_batch).any():
        legend += [
            (" ", None, False),
            (OUT_OF_BATCH, point_color, True),
            (" not in batch", palette.muted, False),
        ]
    return axes(canvas.rows(), fr, bounds, view.axes + ("",), palette, width, legend)


def _braille(canvas: Canvas, dots: np.ndarray, color: RGB) -> None:
    """Draw the set dots of ``(4·height, 2·width)`` as braille characters."""
    for r in range(canvas.height):
        block = dots[4 * r : 4 * r + 4]
        if not block.any():
            continue
        for c in range(canvas.width):
            cell = block[:, 2 * c : 2 * c + 2]
            if not cell.any():
                continue
            code = 0
            for dr in range(4):
                for dc in range(2):
                    if cell[dr, dc]:
                        code |= _BRAILLE_BITS[dr][dc]
            existing = canvas.chars[r][c]
            if BRAILLE <= ord(existing) <= BRAILLE + 0xFF:
                code |= ord(existing) - BRAILLE
            canvas.put(r, c, chr(BRAILLE + code), color)


def _line(a: tuple[int, int], b: tuple[int, int]) -> list[tuple[int, int]]:
    """The cells of a straight line from ``a`` to ``b`` (Bresenham), both included."""
    (x0, y0), (x1, y1) = a, b
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    out = []
    for _ in range(dx - dy + 1):
        out.append((x0, y0))
        if (x0, y0) == (x1, y1):
            break
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy
    return out


def surface_levels(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """The band edges of a loss surface (:data:`LEVELS` bands) and whether they are
    log-spaced (a positive loss spanning orders of magnitude)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return np.linspace(0.0, 1.0, LEVELS + 1), False
    lo, hi = float(finite.min()), float(finite.max())
    if lo > 0 and hi >= 10 * lo:
        return np.geomspace(lo, hi, LEVELS + 1), True
    if hi == lo:
        hi = lo + 1.0
    return np.linspace(lo, hi, LEVELS + 1), False


def surface_frame(width: int, height: int, bounds: Bounds) -> Frame:
    """The plot area of a surface picture."""
    return frame_of(width, height, [scale.number(bounds[2]), scale.number(bounds[3]), "xx"])


def surface_picture(
    view: DataView,
    values: np.ndarray,
    bounds: Bounds,
    path: np.ndarray,
    now: tuple[float, float],
    palette: Palette,
    width: int,
    height: int,
) -> list[Row]:
    """The loss over the plane of two parameters, in bands, with the path taken.

    Args:
        values: ``(ny, nx)`` losses, row 0 at the bottom, for :func:`surface_frame`.
        path: ``(n, 2)`` parameters at the start of each step so far.
        now: The parameters now (after the current step's updates, once they happen).
    """
    fr = surface_frame(width, height, bounds)
    edges, log = surface_levels(values)
    with np.errstate(invalid="ignore"):
        level = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, LEVELS - 1)
    level = np.where(np.isfinite(values), level, -1)
    low, high = palette.classes[0], palette.classes[1]
    ramp = [
        blend(palette.background, blend(low, high, i / (LEVELS - 1)), 0.25 + 0.5 * i / (LEVELS - 1))
        for i in range(LEVELS)
    ]
    table = np.array([blend(palette.background, palette.bad, 0.55), *ramp], dtype=np.int64)
    pixels = table[level[::-1] + 1].copy()  # top row first
    # The path, pixel by pixel, over the bands.
    x0, x1, y0, y1 = bounds
    ny, nx = 2 * fr.height, fr.width
    prev: tuple[int, int] | None = None
    cells: list[tuple[int, int]] = []
    for a, b in np.vstack([path, [now]]) if len(path) else [now]:
        if not (math.isfinite(a) and math.isfinite(b)):
            prev = None
            continue
        here = (math.floor((a - x0) / (x1 - x0) * nx), math.floor((y1 - b) / (y1 - y0) * ny))
        for px, py in _line(prev or here, here):
            if 0 <= px < nx and 0 <= py < ny:
                pixels[py, px] = palette.path
        prev = here
        cells.append(here)
    canvas = Canvas(fr.width, fr.height, palette.background)
    canvas.pixels(pixels)
    for (px, py), mark in ((cells[0], START), (cells[-1], NOW)) if cells else ():
        if 0 <= px < nx and 0 <= py < ny:
            under = pixels[min(py + 1, ny - 1) if py % 2 == 0 else py - 1, px]  # the other half
            bg = (int(under[0]), int(under[1]), int(under[2]))
            canvas.put(py // 2, px, mark, palette.path, bold=True, bg=bg)
    legend: list[tuple[str, RGB | None, bool]] = [
        (f"{view.output} over ({view.params[0]}, {view.params[1]})  ", palette.foreground, True),
        (scale.number(float(edges[0]), 2) + " ", palette.muted, False),
        *[("█", c, False) for c in ramp],
        (
            " " + scale.number(float(edges[-1]), 2) + (" log" if log else "") + "  ",
            palette.muted,
            False,
        ),
        ("━", palette.path, True),
        (" path ", palette.muted, False),
        (START, palette.path, True),
        (" start ", palette.muted, False),
        (NOW, palette.path, True),
        (" now", palette.muted, False),
    ]
    return axes(canvas.rows(), fr, bounds, view.axes, palette, width, legend)


def message_picture(lines: Sequence[str], palette: Palette, width: int, height: int) -> list[Row]:
    """A plain message, for a scenario without a data view."""
    rows = [
        text_row([(line, palette.muted if i else palette.foreground, i == 0)], width, palette)
        for i, line in enumerate(lines)
    ]
    while len(rows) < height:
        rows.append(text_row([], width, palette))
    return rows[:height]
