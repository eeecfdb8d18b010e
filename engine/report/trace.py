"""Writers for ``bpdbg trace``: the event stream as JSON Lines, as text, or as Markdown.

Every writer is a generator of lines (without newlines) over a
:class:`~engine.timeline.timeline.Timeline`. Steps are materialised one at a time with
:meth:`Timeline.record`, so a long trace never holds more than a step's events.

- :func:`jsonl` is SPEC §3: one JSON object per event; floats written with ``repr`` so
  float64 round-trips exactly; non-finite numbers as ``"nan"``, ``"inf"``, ``"-inf"``.
- :func:`text` is for people: one line per event, the derivation indented under it.
- :func:`markdown` is for notes: headings per step and phase, derivations in code blocks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from engine import fmt
from engine.report.diagnose import nonfinite_cause, nonfinite_in_event
from engine.report.explain import Line, explain
from engine.step.events import Backward, Event, Forward, Loss, Update
from engine.timeline.timeline import Frame, StepRecord, Timeline

INDENT = "    "
"""How the text trace indents an event's derivation under its line."""


# --- JSON Lines -------------------------------------------------------------------------


def _number(x: float) -> float | str:
    if math.isfinite(x):
        return x
    if math.isnan(x):
        return "nan"
    return "inf" if x > 0 else "-inf"


def _nonfinite(v: Any) -> Any:
    if isinstance(v, list):
        return [_nonfinite(e) for e in v]
    return _number(v)


def json_value(a: np.ndarray | float) -> float | str | list:
    """A number or nested list (row-major) of Python floats, non-finite ones as strings."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        return _number(float(arr))
    values = arr.tolist()
    return values if np.isfinite(arr).all() else _nonfinite(values)


def event_json(ev: Event) -> dict[str, Any]:
    """One event as the JSON object of SPEC §3 (field order: seq, step, phase, …)."""
    out: dict[str, Any] = {"seq": ev.seq, "step": ev.step, "phase": ev.phase}
    if isinstance(ev, Forward):
        out |= {
            "node": ev.node,
            "op": ev.op,
            "inputs": list(ev.inputs),
            "value": json_value(ev.value),
        }
    elif isinstance(ev, Loss):
        out |= {"node": ev.node, "value": _number(float(ev.value))}
    elif isinstance(ev, Backward):
        out |= {
            "node": ev.node,
            "grad": json_value(ev.grad),
            "terms": [
                {
                    "via": t.via,
                    "upstream": json_value(t.upstream),
                    "local": None if t.local is None else json_value(t.local),
                    "value": json_value(t.value),
                }
                for t in ev.terms
            ],
        }
    else:
        assert isinstance(ev, Update)
        out |= {
            "param": ev.param,
            "before": json_value(ev.before),
            "grad": json_value(ev.grad),
            "after": json_value(ev.after),
            "state": {k: json_value(v) for k, v in ev.state.items()},
        }
    return out


def _records(timeline: Timeline, steps: int | None) -> Iterator[StepRecord]:
    n = timeline.total_steps if steps is None else min(steps, timeline.total_steps)
    for step in range(n):
        yield timeline.record(step)


def jsonl(timeline: Timeline, steps: int | None = None) -> Iterator[str]:
    """The trace as JSON Lines (SPEC §3), one line per event.

    Args:
        timeline: The run.
        steps: How many steps to write (default: the run's length).
    """
    for rec in _records(timeline, steps):
        for ev in rec.events:
            # allow_nan=False: a non-finite float that escaped json_value is a bug, not output.
            yield json.dumps(event_json(ev), separators=(",", ":"), allow_nan=False)


# --- for people -------------------------------------------------------------------------------


def _frames(timeline: Timeline, rec: StepRecord) -> Iterator[Frame]:
    for pos in range(len(rec.events)):
        yield Frame(rec.seq0 + pos, rec.step, pos, rec, timeline.program)


def text(timeline: Timeline, steps: int | None = None) -> Iterator[str]:
    """The trace for people: ``step 0 · forward · z1 = x·W1 + b1 = … = 0.5``.

    Each event is one line, its derivation indented under it. Explanatory notes are
    written the first time they occur only, so the numbers of later steps stand out.
    At the first event holding a NaN or an infinity, one more line says what holds it
    and why it appeared there (:func:`~engine.report.diagnose.nonfinite_cause`).

    Args:
        timeline: The run.
        steps: How many steps to write (default: the run's length).
    """
    seen_notes: set[str] = set()
    nonfinite_seen = False
    for rec in _records(timeline, steps):
        for frame in _frames(timeline, rec):
            kept: list[str] = []
            for ln in explain(frame):
                if ln.kind == "title" or ln.kind == "note" and ln.text in seen_notes:
                    continue
                if ln.kind == "note":
                    seen_notes.add(ln.text)
                kept.append(ln.text)
            # explain always puts the event's headline formula right after its title.
            yield f"step {frame.step} · {frame.phase} · {kept[0]}"
            for line in kept[1:]:
                yield INDENT + line
            if not nonfinite_seen:
                found = nonfinite_in_event(frame.event)
                if found is not None:
                    nonfinite_seen = True
                    yield (
                        INDENT
                        + f"✖ first non-finite number: {found}. {nonfinite_cause(frame)}".rstrip()
                    )


_PHASE_HEADINGS = {
    "forward": "Forward pass",
    "loss": "Loss",
    "backward": "Backward pass",
    "update": "Update",
}


def _md_escape(s: str) -> str:
    return "".join("\\" + c if c in "\\`*_[]<>#" else c for c in s)


def markdown(timeline: Timeline, steps: int | None = None) -> Iterator[str]:
    """The trace as Markdown a learner can paste into notes.

    A heading per step and per phase; each event's derivation in a ``text`` code block,
    its notes as ``#`` comments under the formulas.

    Args:
        timeline: The run.
        steps: How many steps to write (default: the run's length).
    """
    scenario = timeline.program.scenario
    yield f"# {_md_escape(fmt.printable(scenario.name))}"
    for rec in _records(timeline, steps):
        yield ""
        yield f"## Step {rec.step} (loss {fmt.num(rec.result.loss)})"
        phase = ""
        for frame in _frames(timeline, rec):
            if frame.phase != phase:
                phase = frame.phase
                yield ""
                yield f"### {_PHASE_HEADINGS[phase]}"
            yield from _md_event(explain(frame))


def _md_event(lines: list[Line]) -> Iterator[str]:
    yield ""
    for ln in lines:
        if ln.kind == "title":
            yield f"**{_md_escape(ln.text)}**"
            yield ""
    yield "```text"
    for ln in lines:
        if ln.kind == "note":
            yield "# " + ln.text
        elif ln.kind != "title":
            yield ln.text
    yield "```"


WRITERS: dict[str, Callable[[Timeline, int | None], Iterator[str]]] = {
    "jsonl": jsonl,
    "text": text,
    "md": markdown,
}
"""The trace formats by name, as ``bpdbg trace --format`` takes them."""
