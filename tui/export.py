"""Screenshots (``s``): the screen as an SVG file named after where it was taken.

Files are named ``bpdbg-<scenario>-step<k>-event<n>.svg`` (with ``-whatif<i>`` after
the scenario on a what-if branch) and written to ``$BPDBG_SCREENSHOT_DIR`` if it is
set, else to the current folder. A name already taken gets ``-2``, ``-3``, … rather than
overwriting an earlier screenshot. In a browser (``bpdbg serve``), the screenshot is
sent to the browser instead, under the same name: a visitor writes nothing on the server.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from textual.app import App

DIR_VARIABLE = "BPDBG_SCREENSHOT_DIR"


def scenario_id(source: str) -> str:
    """A file-name-safe id: a built-in's id, or a file's stem (``xor`` for ``a/xor.toml``)."""
    stem = Path(source).stem if source.endswith(".toml") or os.sep in source else source
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "scenario"


def screenshot_name(source: str, step: int, seq: int, branch: int = 0) -> str:
    """``bpdbg-ravine-sgd-step5-event12.svg``: the file name for a screenshot of scenario
    ``source`` at event ``seq`` (in ``step``), on what-if branch ``branch`` (1, 2, …) or
    the original run (0)."""
    name = scenario_id(source)
    if branch:
        name += f"-whatif{branch}"
    return f"bpdbg-{name}-step{step}-event{seq}.svg"


def save_screenshot(app: App[Any], base: str) -> Path | None:
    """Save ``app``'s screen as SVG, named ``base`` (or ``base`` with ``-2``, ``-3``, … if
    taken), and say where; returns the file written, or None."""
    folder = Path(os.environ.get(DIR_VARIABLE) or ".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / base
        n = 1
        while path.exists():
            n += 1
            path = folder / base.replace(".svg", f"-{n}.svg")
        written = Path(app.save_screenshot(filename=path.name, path=str(folder))).resolve()
    except OSError as err:
        app.notify(
            f"Cannot save the screenshot in {folder}: {err.strerror or err}",
            severity="error",
            timeout=8,
        )
        return None
    app.notify(f"Saved screenshot: {written}", timeout=6)
    return written


def deliver_screenshot(app: App[Any], name: str) -> None:
    """Send the screen as SVG, named ``name``, to the browser the app is served to (it
    opens in a tab)."""
    app.deliver_screenshot(filename=name)
    app.notify("Screenshot sent to your browser", timeout=4)
