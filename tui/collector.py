"""The cyclic garbage collector, paused for start-up and resumed once it is over.

Importing numpy, Textual and bpdbg and building the first screen allocates a few hundred
thousand objects that live as long as the program, and next to no garbage. The cyclic
collector, triggered by allocation counts, would walk all of them several times over on
the way to the first frame (about a tenth of a second on a small machine, a sixth of
the start-up). So the entry point (:func:`tui.startup.main`) pauses it, and
:func:`resume_gc` turns it back on once start-up is over: for the app when its first
frame is painted, for the headless commands before they start their work.
``gc.freeze()`` first moves everything alive then out of the collector's way for good,
so later collections stay as cheap as ever.

Only the entry point pauses the collector: importing ``tui.cli`` (as tests do) or opening
the app another way leaves it alone.
"""

from __future__ import annotations

import gc

_paused = False
"""Whether :func:`pause_gc` paused the collector and nothing has resumed it yet."""


def pause_gc() -> None:
    """Pause the collector for start-up, if it is running."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_gc() -> None:
    """Start-up is over: turn the collector back on if :func:`pause_gc` paused it."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
