"""The events one training step emits, as frozen records.

Arrays inside events are read-only, so a widget or a test holding an event can never
change what another sees. ``seq`` is the event's index over the whole run.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
import numpy as np

PHASES = ("forward", "loss", "backward", "update")


def frozen(a: np.ndarray | float) -> np.ndarray:
    """A read-only float64 array holding ``a`` (a view where it already is one)."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.flags.writeable:
        arr = arr.view()
        arr.flags.writeable = False
    return arr


# Records are msgspec Structs: frozen like dataclasses, but made in C. A frozen dataclass
# compiles six methods when its class is created (about a millisecond a class here; the
# app loads some thirty records at start-up) and builds instances several times slower.
# Dataclasses remain where a record needs what a Struct lacks: fields computed after
# init (graph.Graph), fields left out of == or repr (engine.debug.search). Records that hold
# numpy arrays compare by identity (eq=False), here and in run.py, timeline.py,
# gradcheck.py and scenario.py: a field-by-field == cannot compare arrays (their truth
# value is ambiguous).
class Forward(msgspec.Struct, frozen=True, eq=False):
    """A node's value has been computed."""

    seq: int
    step: int
    node: str
    op: str
    inputs: tuple[str, ...]
    value: np.ndarray
    phase = "forward"

    @property
    def subject(self) -> str:
        return self.node


class Loss(msgspec.Struct, frozen=True, eq=False):
    """The loss node's value has been computed."""

    seq: int
    step: int
    node: str
    value: float
    array: np.ndarray
    """The value as a read-only array of the loss node's shape."""
    phase = "loss"

    @property
    def subject(self) -> str:
        return self.node


class Term(msgspec.Struct, frozen=True, eq=False):
    """One consumer's contribution to a node's gradient (one edge of the chain rule).

    ``value == unbroadcast(upstream * local, node.shape)`` whenever ``local`` is not None.
    """

    via: str
    """The consumer node."""
    upstream: np.ndarray
    """∂L/∂via."""
    local: np.ndarray | None
    """∂via/∂node where elementwise or scalar, else None (a full Jacobian)."""
    value: np.ndarray
    """The contribution to ∂L/∂node."""


class Backward(msgspec.Struct, frozen=True, eq=False):
    """∂L/∂node is complete: the sum of its terms (1 for the loss itself)."""

    seq: int
    step: int
    node: str
    grad: np.ndarray
    terms: tuple[Term, ...]
    phase = "backward"

    @property
    def subject(self) -> str:
        return self.node


class Update(msgspec.Struct, frozen=True, eq=False):
    """A parameter has been updated by the optimizer."""

    seq: int
    step: int
    param: str
    before: np.ndarray
    grad: np.ndarray
    after: np.ndarray
    state: Mapping[str, np.ndarray]
    """The optimizer's buffers after the update ({} for plain SGD)."""
    phase = "update"

    @property
    def subject(self) -> str:
        return self.param


Event = Forward | Loss | Backward | Update
