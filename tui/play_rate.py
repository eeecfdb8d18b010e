"""The rate at which playing moves: events (or steps) per second, measured over the last
few seconds rather than taken from the speed asked for.

Playing shows one event per painted frame (:mod:`tui.debugger`), so how fast it goes is
bounded by how fast the screen is drawn, which depends on the machine, the terminal and
the panes shown. The header shows what this meter measures.
"""

from __future__ import annotations

from collections import deque

WINDOW_SECONDS = 2.0
"""How far back the rate is measured."""
MIN_SECONDS = 0.5
"""How much must have been measured before a rate is given."""


class RateMeter:
    """Counts moves against time over a sliding window of :data:`WINDOW_SECONDS`."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self._window = window
        self._moves: deque[tuple[float, int]] = deque()

    def clear(self) -> None:
        """Forget every move (playing starts again)."""
        self._moves.clear()

    def add(self, now: float, count: int) -> None:
        """Record ``count`` moves at time ``now`` (seconds, from one monotonic clock)."""
        self._moves.append((now, count))
        while self._moves and now - self._moves[0][0] > self._window:
            self._moves.popleft()

    def rate(self) -> float | None:
        """Moves per second over the window; None until :data:`MIN_SECONDS` are measured.

        The first record marks where the window starts: its own moves are not counted,
        as they were made before the time it was taken.
        """
        if len(self._moves) < 2:
            return None
        span = self._moves[-1][0] - self._moves[0][0]
        if span < MIN_SECONDS:
            return None
        return sum(n for _, n in list(self._moves)[1:]) / span


def rate_text(rate: float) -> str:
    """A rate as the header shows it: ``48``, ``3.5``, ``0.25``."""
    if rate >= 10:
        return f"{rate:,.0f}"
    if rate >= 1:
        return f"{rate:.1f}"
    return f"{rate:.2g}"
