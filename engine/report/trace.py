"""Writers for ``bpdbg trace``: the event stream as JSON Lines, as text, or as Markdown.

Every writer is a generator of lines over a :class:`~engine.timeline.timeline.Timeline`, one step
at a time, so a long trace never holds more than a step's events. Each takes a
:class:`Keep`: the phases, nodes and steps to write (``--phase``, ``--node``,
``--every``); ``seq`` always counts every event, written or not.

- :func:`jsonl` is SPEC §3: one JSON object per event; floats written as ``repr`` writes
  them, so float64 round-trips exactly; non-finite numbers as ``"nan"``, ``"inf"``,
  ``"-inf"``. :func:`jsonl_bytes` is the same as bytes (what the command writes), made
  by :mod:`engine.report.json_numbers` at close to msgspec's speed; :func:`event_json`
  is the plain definition of one line, which the tests hold it to.
- :func:`text` is for people: one line per event, the derivation indented under it.
- :func:`markdown` is for notes: headings per step and phase, derivations in code blocks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import numpy as np

from engine import fmt
from engine.report.diagnose import nonfinite_cause, nonfinite_in_event
from engine.report.explain import Line, explain
from engine.report.json_numbers import array_json, number
from engine.step.events import PHASES, Backward, Event, Forward, Loss, Update
from engine.step.program import Params, Program
from engine.step.run import StepResult, run_step
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


class Keep(msgspec.Struct, frozen=True):
    """Which events a trace writes (SPEC §2: ``--phase``, ``--node``, ``--every``).

    Attributes:
        phases: The phases kept.
        nodes: The nodes and parameters whose events are kept; None keeps every one.
            Loss events are kept whatever this says (while ``phases`` keeps them).
        every: Only steps ``0, every, 2·every, …`` are written.
    """

    phases: frozenset[str] = frozenset(PHASES)
    nodes: frozenset[str] | None = None
    every: int = 1

    def keeps_step(self, step: int) -> bool:
        return step % self.every == 0

    def keeps(self, phase: str, subject: str) -> bool:
        return phase in self.phases and (
            self.nodes is None or phase == "loss" or subject in self.nodes
        )


ALL = Keep()
"""Every event of every step."""


def layout(program: Program) -> tuple[tuple[str, str], ...]:
    """``(phase, subject)`` of each event of a step, in order (the same every step)."""
    g = program.graph
    return (
        tuple(("forward", n) for n in g.forward_order)
        + (("loss", g.loss),)
        + tuple(("backward", n) for n in g.backward_order)
        + tuple(("update", p) for p in g.params)
    )


def check_keep(program: Program, keep: Keep) -> None:
    """Refuse node names no event of ``program`` is about.

    Raises:
        ValueError: The message names each unknown name and lists the known ones.
    """
    if keep.nodes is None:
        return
    graph = program.graph
    subjects = {subject for _, subject in layout(program)}
    unknown = [n for n in sorted(keep.nodes) if n not in subjects]
    if not unknown:
        return
    problems = [
        f"{fmt.printable(n)!r} is {'an input' if graph[n].kind == 'input' else 'a constant'}: "
        "no event is about it"
        if n in graph.by_name
        else f"no node or parameter {fmt.printable(n)!r}"
        for n in unknown
    ]
    known = ", ".join(n.name for n in graph.nodes if n.name in subjects)
    raise ValueError("; ".join(problems) + f"; the nodes and parameters with events are: {known}")


def _records(timeline: Timeline, steps: int | None, keep: Keep = ALL) -> Iterator[StepRecord]:
    for step in range(_length(timeline, steps)):
        if keep.keeps_step(step):
            yield timeline.record(step)


def _length(timeline: Timeline, steps: int | None) -> int:
    return timeline.total_steps if steps is None else min(steps, timeline.total_steps)


def jsonl(timeline: Timeline, steps: int | None = None, keep: Keep = ALL) -> Iterator[str]:
    """The trace as JSON Lines (SPEC §3), one line per event (without its newline).

    Args:
        timeline: The run.
        steps: How many steps to write (default: the run's length).
        keep: Which events to write.
    """
    for line in jsonl_bytes(timeline, steps, keep):
        yield line[:-1].decode("ascii")


def jsonl_bytes(timeline: Timeline, steps: int | None = None, keep: Keep = ALL) -> Iterator[bytes]:
    """The trace as JSON Lines, each line ASCII bytes ending in a newline.

    Runs the scenario from its start itself rather than through the timeline's
    records, so that only what is written is computed: a step's events with their
    chain-rule terms are recorded only where a backward event is kept; forward values,
    the loss and updates come from the fast path's results (the same bits). Every
    array is written once per step, however many events show it (a node's gradient
    is also the upstream of its inputs' terms, a parameter's the gradient of its
    update).

    Args:
        timeline: The run (its program, from step 0).
        steps: How many steps to write (default: the run's length).
        keep: Which events to write.
    """
    program = timeline.program
    events = _JsonEvents(program, keep)
    record = any(phase == "backward" for _, phase, _ in events.kept)
    params, state = program.init_params, program.initial_state()
    eps = program.events_per_step
    for step in range(_length(timeline, steps)):
        kept = keep.keeps_step(step)
        result = run_step(program, step, params, state, record=kept and record, seq0=step * eps)
        if kept:
            yield from events.lines(step, step * eps, params, result)
        params, state = result.params_after, result.state_after


class _JsonEvents:
    """Writes a step's kept events as JSON Lines from a :class:`StepResult`.

    Everything in a line but the numbers is the same every step: it is made once, as
    bytes, per event of the step.
    """

    def __init__(self, program: Program, keep: Keep) -> None:
        graph = program.graph
        self.kept: list[tuple[int, str, str]] = [
            (pos, phase, subject)
            for pos, (phase, subject) in enumerate(layout(program))
            if keep.keeps(phase, subject)
        ]
        self._head: dict[int, bytes] = {}
        for pos, phase, subject in self.kept:
            head = f',"phase":"{phase}",'
            if phase == "forward":
                node = graph[subject]
                head += (
                    f'"node":{_string(subject)},"op":{_string(node.op or "")},'
                    f'"inputs":{json.dumps(list(node.inputs), separators=(",", ":"))},'
                    '"value":'
                )
            elif phase == "update":
                head += f'"param":{_string(subject)},"before":'
            elif phase == "loss":
                head += f'"node":{_string(subject)},"value":'
            else:
                head += f'"node":{_string(subject)},"grad":'
            self._head[pos] = head.encode()

    def lines(self, step: int, seq0: int, params: Params, result: StepResult) -> Iterator[bytes]:
        """The kept events of ``step``: ``params`` at its start, ``result`` what it did."""
        written: dict[tuple, tuple[np.ndarray, bytes]] = {}

        def array(a: np.ndarray) -> bytes:
            if type(a) is not np.ndarray or not a.ndim:
                return array_json(a)  # a number (or a numpy scalar, which has no memory)
            # Keyed by the memory an array shows: views of one buffer are written once.
            # Holding the array keeps its memory from being reused within the step.
            key = (a.__array_interface__["data"][0], a.shape, a.strides)
            hit = written.get(key)
            if hit is None:
                hit = written[key] = (a, array_json(a))
            return hit[1]

        step_text = b',"step":%d' % step
        for pos, phase, subject in self.kept:
            parts = [b'{"seq":%d' % (seq0 + pos), step_text, self._head[pos]]
            if phase == "forward":
                parts.append(array(result.values[subject]))
            elif phase == "loss":
                parts.append(number(result.loss).encode())
            elif phase == "backward":
                ev = result.events[pos]
                assert isinstance(ev, Backward) and ev.node == subject
                parts += [array(ev.grad), b',"terms":[']
                for k, t in enumerate(ev.terms):
                    parts += [
                        b',{"via":' if k else b'{"via":',
                        _string(t.via).encode(),
                        b',"upstream":',
                        array(t.upstream),
                        b',"local":',
                        b"null" if t.local is None else array(t.local),
                        b',"value":',
                        array(t.value),
                        b"}",
                    ]
                parts.append(b"]")
            else:
                state = result.state_after[subject]
                parts += [
                    array(params[subject]),
                    b',"grad":',
                    array(result.grads[subject]),
                    b',"after":',
                    array(result.params_after[subject]),
                    b',"state":{',
                    b",".join(_string(k).encode() + b":" + array(v) for k, v in state.items()),
                    b"}",
                ]
            parts.append(b"}\n")
            yield b"".join(parts)


def _string(s: str) -> str:
    """A JSON string, non-ASCII characters escaped (as ``json.dumps`` writes them)."""
    return json.dumps(s)


# --- for people -------------------------------------------------------------------------------


def _frames(timeline: Timeline, rec: StepRecord, keep: Keep = ALL) -> Iterator[Frame]:
    for pos, ev in enumerate(rec.events):
        if keep.keeps(ev.phase, ev.subject):
            yield Frame(rec.seq0 + pos, rec.step, pos, rec, timeline.program)


def text(timeline: Timeline, steps: int | None = None, keep: Keep = ALL) -> Iterator[str]:
    """The trace for people: ``step 0 · forward · z1 = x·W1 + b1 = … = 0.5``.

    Each event is one line, its derivation indented under it. Explanatory notes are
    written the first time they occur only, so the numbers of later steps stand out.
    At the first event holding a NaN or an infinity, one more line says what holds it
    and why it appeared there (:func:`~engine.report.diagnose.nonfinite_cause`).

    Args:
        timeline: The run.
        steps: How many steps to write (default: the run's length).
        keep: Which events to write.
    """
    seen_notes: set[str] = set()
    nonfinite_seen = False
    for rec in _records(timeline, steps, keep):
        for frame in _frames(timeline, rec, keep):
            kept: list[str] = []
            head = -1
            subject = ""
            for ln in explain(frame):
                if ln.kind == "title":
                    subject = ln.text.split(": ", 1)[-1].split(" (")[0]
                    continue
                if ln.kind == "hint":  # a key of the app: no use on paper
                    continue
                if ln.kind == "note" and ln.text in seen_notes:
                    continue
                if ln.kind == "note":
                    seen_notes.add(ln.text)
                elif (
                    head < 0
                    and ln.kind != "state"
                    and ln.text.startswith((subject + " ", subject + "["))
                ):
                    head = len(kept)
                kept.append(ln.text)
            # The headline is the line that says what the event computed (explain writes
            # its derivation in textbook order: what it uses comes before it).
            head = max(head, 0)
            yield f"step {frame.step} · {frame.phase} · {kept[head]}"
            for line in kept[:head] + kept[head + 1 :]:
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


def markdown(timeline: Timeline, steps: int | None = None, keep: Keep = ALL) -> Iterator[str]:
    """The trace as Markdown a learner can paste into notes.

    A heading per step and per phase; each event's derivation in a ``text`` code block,
    its notes as ``#`` comments under the formulas.

    Args:
        timeline: The run.
        steps: How many steps to write (default: the run's length).
        keep: Which events to write; a step none of whose events is kept has no heading.
    """
    scenario = timeline.program.scenario
    yield f"# {_md_escape(fmt.printable(scenario.name))}"
    for rec in _records(timeline, steps, keep):
        phase = ""
        for frame in _frames(timeline, rec, keep):
            if not phase:
                yield ""
                yield f"## Step {rec.step} (loss {fmt.num(rec.result.loss)})"
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
        elif ln.kind not in ("title", "hint"):
            yield ln.text
    yield "```"


WRITERS: dict[str, Callable[[Timeline, int | None, Keep], Iterator[str]]] = {
    "jsonl": jsonl,
    "text": text,
    "md": markdown,
}
"""The trace formats by name, as ``bpdbg trace --format`` takes them."""
