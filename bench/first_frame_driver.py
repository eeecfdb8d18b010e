"""A Textual driver for timing start-up: a terminal that is not there, but is drawn to.

Selected with ``TEXTUAL_DRIVER=first_frame_driver:FirstFrameDriver`` (this folder on
``PYTHONPATH``), so that the program under test starts exactly as its users start it.
Unlike Textual's headless driver it is not headless, so the app renders every update
to terminal output as it would for a real terminal; the output goes nowhere. It
reports on file descriptor 2 (Textual captures ``sys.stderr`` while an app runs):

- ``first-frame T``: when the first full screen was written (wall-clock ``time.time()``);
- ``idle T``: when the app, after that frame, had nothing left to do (every message
  handled, the screen up to date); it then asks the app to exit.

The terminal's size comes from ``COLUMNS`` and ``LINES``, as for the headless driver.
"""

from __future__ import annotations

import asyncio
import os
import time

from textual.drivers.headless_driver import HeadlessDriver


def _report(what: str) -> None:
    os.write(2, f"{what} {time.time()!r}\n".encode())


class FirstFrameDriver(HeadlessDriver):
    """Reports the first frame written, then exits the app once it is idle."""

    _framed = False
    _settle: asyncio.Task | None = None

    @property
    def is_headless(self) -> bool:
        return False  # render the output, as for a terminal

    def write(self, data: str) -> None:
        if self._framed:
            return
        width, height = self._get_terminal_size()
        # Before the first frame come only short control sequences (a window title).
        if len(data) >= width * height // 2:
            self._framed = True
            _report("first-frame")
            self._settle = asyncio.get_running_loop().create_task(self._exit_when_idle())

    async def _exit_when_idle(self) -> None:
        from textual.pilot import Pilot

        await Pilot(self._app).pause()  # as a test waits for an app to settle
        _report("idle")
        self._app.exit()
