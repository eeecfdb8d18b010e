"""The data pane (``v``): what the model computes on its data at the current step.

Shown in the graph's place (the pane is titled ``Data``). A network with 2 inputs: its
output over the plane of inputs, with the data points on top; with 1 input: its fitted
curve over the points; an expression graph with 2 scalar parameters: the loss over the
plane of those parameters with the path they took up to the cursor. Anything else gets
a sentence saying why there is no picture.

The numbers are :mod:`engine.report.landscape`'s, computed with the parameters at the
start of the cursor's step (those its forward pass uses) and cached per step, so
stepping with ``]`` shows the decision boundary move and stepping back shows exactly
what was shown before. The picture is drawn by :mod:`tui.panes.data.render`.
"""

from __future__ import annotations

import math

import numpy as np
from rich.segment import Segment
from textual.strip import Strip
from textual.widget import Widget

from engine.report.landscape import (
    Landscape,
    parameter_path,
    path_bounds,
    point_targets,
)
from engine.timeline.timeline import Frame, Timeline
from tui.drawing import scale
from tui.drawing.theme_colors import theme_color
from tui.panes.data import render as dr

CURVE_SAMPLES_PER_CELL = 2
"""Points of a fitted curve per column of the pane (a braille cell is two dots wide)."""


class DataPane(Widget):
    """The data view of the current frame.

    The screen calls :meth:`show` with each frame while the pane is shown.
    """

    DEFAULT_CSS = """
    DataPane {
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._landscape: Landscape | None = None
        self._frame: Frame | None = None
        self._rows: list[list[Segment]] = []
        self._key: tuple | None = None

    @property
    def rendered(self) -> bool:
        """Whether the pane shows the picture of the frame it was last given."""
        return (
            self._frame is not None and self._key is not None and self._key[1] == self._frame.step
        )

    @property
    def landscape(self) -> Landscape | None:
        """The numbers of the run shown."""
        return self._landscape

    def show(self, frame: Frame, timeline: Timeline) -> None:
        """Draw the data view at ``frame`` of ``timeline``."""
        if self._landscape is None or self._landscape.timeline is not timeline:
            self._landscape = Landscape(timeline)
        self._frame = frame
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw())

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if y < len(self._rows):
            return Strip(self._rows[y], width).crop_extend(0, width, self.rich_style)
        return Strip.blank(width, self.rich_style)

    # --- drawing ---------------------------------------------------------------------------

    def _palette(self) -> dr.Palette:
        v = self.app.theme_variables
        background = theme_color(v, "background", "#000000")

        def rgb(name: str, fallback: str = "#888888") -> tuple[int, int, int]:
            return theme_color(v, name, fallback).rgb

        classes = [
            rgb(n) for n in ("primary", "accent", "success", "error", "warning", "secondary")
        ]
        return dr.Palette(
            background=background.rgb,
            foreground=rgb("foreground", "#e0e0e0"),
            muted=rgb("foreground-muted", "#a0a0a0"),
            classes=tuple(classes),
            bad=rgb("error", "#ff0000"),
            path=rgb("foreground", "#e0e0e0"),
        )

    def _redraw(self) -> None:
        land, frame = self._landscape, self._frame
        if land is None or frame is None or not self.display:
            return
        width, height = self.content_size
        if width < 8 or height < 4:
            return  # not laid out yet: on_resize comes
        view = land.view
        # What the picture depends on: the step (its parameters); for the loss surface
        # also the parameters now (the path ends there) and the run's length (its bounds).
        now: tuple = ()
        if view.kind == "surface":
            now = tuple(float(frame.params[p].reshape(-1)[0]) for p in view.params)
            now += (land.timeline.computed_steps,)
        key = (id(land), frame.step, now, width, height, self.app.theme)
        if key == self._key:
            return
        self._key = key
        palette = self._palette()
        if view.kind == "plane":
            self._rows = self._plane(frame, palette, width, height)
        elif view.kind == "curve":
            self._rows = self._curve(frame, palette, width, height)
        elif view.kind == "surface":
            self._rows = self._surface(frame, palette, width, height)
        else:
            lines = ["No data view for this scenario:", view.reason, "", "v returns to the graph."]
            self._rows = dr.message_picture(lines, palette, width, height)
        self.border_subtitle = f"step {frame.step:,}"
        self.refresh()

    def _batch(self, frame: Frame) -> np.ndarray:
        program = frame.program
        assert program.x is not None
        n = program.x.shape[0]
        start, count = program.batch_rows(frame.step)
        mask = np.zeros(n, dtype=bool)
        mask[(start + np.arange(count)) % n] = True
        return mask

    def _spread(self, frame: Frame) -> tuple[float, float]:
        """The centre and reach of a diverging scale for one output: the targets'."""
        y = point_targets(frame.program)
        lo, hi = float(np.min(y)), float(np.max(y))
        half = (hi - lo) / 2 if hi > lo else max(abs(lo), 1.0)
        return (lo + hi) / 2, half

    def _caption(self) -> str:
        assert self._landscape is not None
        view = self._landscape.view
        if view.target == "classes":
            return "predicted class"
        if view.target == "binary":
            return f"{view.output} = P(y=1)"
        return view.output

    def _plane(self, frame: Frame, palette: dr.Palette, width: int, height: int) -> list:
        land = self._landscape
        assert land is not None and frame.program.x is not None
        from engine.report.landscape import data_bounds

        fr = dr.plane_frame(width, height, data_bounds(frame.program))
        plane = land.plane(frame.step, fr.width, 2 * fr.height)
        return dr.plane_picture(
            land.view,
            plane.values,
            plane.bounds,
            frame.program.x,
            point_targets(frame.program),
            self._batch(frame),
            self._spread(frame),
            palette,
            width,
            height,
            self._caption(),
        )

    def _curve(self, frame: Frame, palette: dr.Palette, width: int, height: int) -> list:
        land = self._landscape
        assert land is not None and frame.program.x is not None
        view = land.view
        curve = land.curve(frame.step, max(2, CURVE_SAMPLES_PER_CELL * width))
        targets = point_targets(frame.program)
        if view.target in ("classes", "binary"):
            y_range = (-0.05, 1.05)
        else:
            both = np.concatenate([targets, curve.values.reshape(-1)])
            both = both[np.isfinite(both)]
            lo, hi = scale.limits(both, pad=0.08) if len(both) else (0.0, 1.0)
            y_range = (lo, hi) if math.isfinite(hi - lo) else (-1.0, 1.0)
        return dr.curve_picture(
            view,
            curve.xs,
            curve.values,
            frame.program.x[:, 0],
            targets,
            self._batch(frame),
            y_range,
            palette,
            width,
            height,
            f"fit at step {frame.step:,}",
        )

    def _surface(self, frame: Frame, palette: dr.Palette, width: int, height: int) -> list:
        land = self._landscape
        assert land is not None
        view = land.view
        timeline = land.timeline
        _, everything = parameter_path(timeline, timeline.computed_steps)
        fr = dr.surface_frame(width, height, path_bounds(everything))
        surface = land.surface(fr.width, 2 * fr.height)
        _, path = parameter_path(timeline, frame.step)
        a, b = (float(frame.params[p].reshape(-1)[0]) for p in view.params)
        return dr.surface_picture(
            view, surface.values, surface.bounds, path, (a, b), palette, width, height
        )
