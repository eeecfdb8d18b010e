"""Where ``:`` goes: a step (``120``), a step and an event within it (``120.7``) or an
event's number over the whole run (``#5000``), read into an event's ``seq``."""

from __future__ import annotations

import re

ACCEPTED = "a step (120), a step and an event within it (120.7) or an event number (#5000)"
"""What a place may be, as the error says it."""

_PLACE = re.compile(r"(?:(?P<seq>#\s*[\d,_]+)|(?P<step>[\d,_]+)(?:\.(?P<pos>\d+))?)")


class PlaceError(ValueError):
    """The text names no place in the run; the message says what is accepted."""


def parse_place(text: str, events_per_step: int, total_steps: int) -> int:
    """The ``seq`` of the event ``text`` names.

    Args:
        text: What the user typed (spaces around it, and thousands separators, allowed).
        events_per_step: Events in one training step.
        total_steps: Steps in the run.

    Returns:
        The event's index over the whole run.

    Raises:
        PlaceError: The text is no place, or a place beyond the run.
    """
    t = text.strip()
    m = _PLACE.fullmatch(t)
    if m is None:
        shown = t if len(t) <= 20 else t[:19] + "…"
        raise PlaceError(f"{shown!r} is not a place: type {ACCEPTED}")
    total = total_steps * events_per_step
    if m["seq"] is not None:
        seq = int(re.sub(r"[#\s,_]", "", m["seq"]))
        if seq >= total:
            raise PlaceError(
                f"event #{seq:,} is beyond the run: its events are #0 to #{total - 1:,}"
            )
        return seq
    step = int(re.sub(r"[,_]", "", m["step"]))
    if step >= total_steps:
        raise PlaceError(f"step {step:,} is beyond the run: its steps are 0 to {total_steps - 1:,}")
    pos = int(m["pos"]) if m["pos"] is not None else 0
    if pos >= events_per_step:
        raise PlaceError(
            f"a step has {events_per_step} events, {step}.0 to {step}.{events_per_step - 1}"
        )
    return step * events_per_step + pos
