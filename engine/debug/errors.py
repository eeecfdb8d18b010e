"""Why a breakpoint cannot be set: the one error type of the debugger's engine."""

from __future__ import annotations


class BreakpointError(ValueError):
    """A breakpoint that cannot be set: the message says why."""


class ConditionError(BreakpointError):
    """A refused condition. ``column`` is 1-based, or 0 when it is the whole text.

    ``str()`` is ``reason (column N)``, the form :class:`engine.graph.expr.ExprError` uses.
    """

    def __init__(self, message: str, column: int = 0) -> None:
        self.column = column
        self.reason = message
        super().__init__(message if not column else f"{message} (column {column})")
