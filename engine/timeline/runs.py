"""The runs of the open scenario: the original and the what-if branches made from it.

A branch (:mod:`engine.timeline.whatif` makes them) is a
:class:`~engine.timeline.timeline.Timeline` that starts at some step of its parent, whose
earlier steps are its parent's.
"""

from __future__ import annotations

import msgspec

from engine.step.program import OptState, Params, Program
from engine.timeline.timeline import Timeline


class Branch(Timeline):
    """A what-if run: a :class:`Timeline` with a name and the step it starts at."""

    def __init__(
        self,
        program: Program,
        *,
        start: tuple[int, Params, OptState],
        parent: Timeline,
        label: str,
    ) -> None:
        super().__init__(program, start=start, parent=parent)
        self.label = label
        """How the history pane's legend and the what-if dialog name this run."""


def run_of_step(timeline: Timeline, step: int) -> Timeline:
    """The run that computed ``step`` of ``timeline``: a branch's earlier steps are its
    parent's (or its parent's parent's…)."""
    while timeline.parent is not None and step < timeline.first_step:
        timeline = timeline.parent
    return timeline


def run_label(timeline: Timeline) -> str:
    """``original`` for a run from the scenario itself, else the branch's label."""
    return getattr(timeline, "label", "original")


class Runs(msgspec.Struct):
    """The original run of the open scenario and the what-if branches made from it.

    Attributes:
        original: The run from the scenario as loaded; never replaced by a what-if.
        branches: Every branch, oldest first.
        last_branch: The branch ``W`` returns to from the original.
    """

    original: Timeline
    branches: list[Branch] = msgspec.field(default_factory=list)
    last_branch: Timeline | None = None

    def all(self) -> list[Timeline]:
        """The original, then the branches."""
        return [self.original, *self.branches]
