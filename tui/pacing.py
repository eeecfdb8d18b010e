"""Pacing for thread workers that compute beside the UI.

A worker running numpy in a tight loop holds the GIL for the interpreter's whole switch
interval (5 ms) at a time, and the UI thread pays that wait on every pass of its event
loop: keys lagged by seconds. Sleeping for 0 s releases the GIL, so a waiting UI thread
runs within a millisecond. Training ahead, breakpoint searches and gradient checks all
call :func:`cancel_check` between units of work.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.worker import Worker

YIELD_SECONDS = 0.001
"""How long a worker holds the GIL at most before letting the UI thread run."""


def cancel_check(worker: Worker) -> Callable[[], bool]:
    """A ``cancelled()`` callable for ``worker``: it also yields the GIL now and then.

    Returns:
        A function to call between units of work; True once the worker is cancelled.
    """
    yielded = time.perf_counter()

    def cancelled() -> bool:
        nonlocal yielded
        now = time.perf_counter()
        if now - yielded > YIELD_SECONDS:
            time.sleep(0)
            yielded = now
        return worker.is_cancelled

    return cancelled
