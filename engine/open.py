"""Opening a scenario: what a user typed in, a runnable program out.

Every way bpdbg opens a scenario — the command line, the app's picker, live reload —
goes through :func:`open_program`, so each refuses the same files with the same
messages: resolve the name (a file, else a built-in id), load and validate the file,
build the program, and check what needs the graph (the file's ``[[breakpoints]]``).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from engine.debug.breakpoints import scenario_breakpoints
from engine.scenario.loader import load
from engine.step.program import Program, make_program


def open_program(ref: str, steps: int | None = None, *, within: Path | None = None) -> Program:
    """Load, validate and build the scenario that ``ref`` names.

    Args:
        ref: A ``.toml`` path or a built-in id (see :func:`scenarios.resolve`); messages
            name the scenario as given here.
        steps: Overrides the scenario's ``train.steps`` when given.
        within: If given, only a file under this folder may be opened, and a relative
            path is taken from it (``bpdbg serve``); see :func:`scenarios.resolve`.

    Returns:
        The program, ready to run.

    Raises:
        ScenarioError: The scenario is missing or invalid; the message names the file
            and the place.
    """
    from scenarios import resolve  # the built-in index is data, not UI

    scenario = load(resolve(ref, within=within), source=ref)
    if steps is not None:
        train = msgspec.structs.replace(scenario.train, steps=steps)
        scenario = msgspec.structs.replace(scenario, train=train)
    program = make_program(scenario)
    if scenario.breakpoints:
        scenario_breakpoints(program)  # refuse a breakpoint the graph cannot have, now
    return program
