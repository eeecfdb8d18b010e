"""The ``bpdbg`` command's entry point: start-up without the cyclic garbage collector.

:func:`main` pauses the collector (:mod:`tui.collector` says why) before anything heavy
is imported, then runs the command line; whatever the command, the collector is back on
when it returns.
"""

from __future__ import annotations

from tui.collector import pause_gc, resume_gc


def main() -> int:
    """``bpdbg``: run :func:`tui.cli.main` with the collector paused for start-up."""
    pause_gc()
    try:
        from tui.cli import main as cli_main

        return cli_main()
    finally:
        resume_gc()
