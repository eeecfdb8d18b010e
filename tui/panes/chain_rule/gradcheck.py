"""The gradient check in the chain-rule pane: backpropagation's gradient beside central
finite differences, at a parameter's backward event.

The numbers come from :func:`engine.report.gradcheck.check_param`, the code ``bpdbg check``
runs. :class:`GradcheckSection` decides when to check and keeps the results: parameters
of at most :data:`IMMEDIATE_ELEMENTS` elements are checked at once (when that is quick),
so the section is part of the event like the rest of the derivation; larger ones cost
two forward passes per element and are checked in a thread worker that reports
progress (``checking W1 (128/4,096)…``), once the cursor has rested on the event for a
moment (:data:`REST_SECONDS`). Results are cached per (run, step, parameter).

The section is a list of :class:`engine.report.explain.Line` that the pane appends below the
derivation; :func:`check_lines` and :func:`progress_lines` write it.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import msgspec
import numpy as np
from textual.timer import Timer
from textual.worker import get_current_worker

from engine import fmt
from engine.report.explain import Line
from engine.report.gradcheck import ATOL, RTOL, STEP, ParamCheck, check_param
from engine.timeline.runs import run_of_step
from engine.timeline.timeline import Frame, Timeline
from tui.pacing import cancel_check

if TYPE_CHECKING:
    from textual.widget import Widget

IMMEDIATE_ELEMENTS = 64
"""Parameters with at most this many elements are checked while the event is shown…"""
IMMEDIATE_CPU_SECONDS = 0.004
"""…if the whole check is on course to take at most this much CPU time (a big batch or a
wide network downstream may not: 64 elements of spiral-mlp take three times as long as
the rest of the step's screen update); otherwise the worker takes over. Projected from
the first elements, so that a check too slow to wait for is abandoned at once; CPU time,
so that a busy machine does not send small checks to the worker."""
IMMEDIATE_SECONDS = 0.02
"""And in any case, the longest a check may hold the event up in wall-clock time."""
LISTED = 8
"""Parameters with at most this many elements list every one; larger ones the worst."""
WORST = 5
"""How many elements a large parameter's check lists: those that disagree most."""
COLUMNS = ("analytic", "numeric", "rel. err")
CACHE = 64
"""Checks kept per run (by step and parameter), least recently shown dropped first."""
POLL_SECONDS = 0.1
"""How often the pane looks at a running check's progress."""
REST_SECONDS = 0.1
"""A check that needs the worker starts once its event has been shown this long, so
that stepping past backward events (holding ``n``, playing) sets no work going beside
the stepping."""

Key = tuple[Timeline, int, str]
"""``(the run that computed the step, step, parameter)``."""


class _Abandoned(Exception):
    """Raised inside a check whose worker was cancelled (another check replaced it)."""


class _Job(msgspec.Struct):
    """A check for the worker: what it checks and how far it has got."""

    key: Key
    param: str
    total: int
    inputs: tuple
    """What :meth:`GradcheckSection._check` checks: program, step, parameters, gradient."""
    not_before: float
    """When the worker may start it (``time.monotonic()``): see :data:`REST_SECONDS`."""
    started: bool = False
    done: int = 0
    result: ParamCheck | None = None
    error: str | None = None


def _label(param: str, shape: tuple[int, ...], index: int) -> str:
    if not shape:
        return param
    return f"{param}[{','.join(str(int(i)) for i in np.unravel_index(index, shape))}]"


BLANK = Line("note", (("", ""),))


def _heading(param: str, size: int) -> list[Line]:
    """A blank line to set the section apart from the derivation, then its title."""
    elements = "" if size == 1 else f" ({size:,} elements)"
    title = (("Gradient check: ", ""), (param, "param"), (elements, ""))
    return [BLANK, Line("title", title)]


def check_lines(check: ParamCheck, width: int | None = None) -> list[Line]:
    """The section for a finished check: elements, then ✓ agree or ✗ disagree.

    The elements are a table whose columns are two spaces apart, one where that is too
    wide for ``width`` cells; where even that is too wide, each element is written on
    three lines (its relative error, then the two gradients), so no row ever wraps.
    """
    a, n, rel = check.analytic, check.numeric, check.rel_error
    shape = tuple(a.shape)
    size = a.size
    lines = _heading(check.param, size)
    flat_rel = rel.reshape(-1)
    if size <= LISTED:
        order = list(range(size))
    else:
        worst = np.where(np.isnan(flat_rel), np.inf, flat_rel)  # nan is the worst of all
        order = [int(i) for i in np.argsort(-worst, kind="stable")[:WORST]]
        worst_note = f"the {len(order)} elements with the largest relative error:"
        lines.append(Line("note", ((worst_note, ""),)))
    labels = [_label(check.param, shape, i) for i in order]
    label_width = max(len(s) for s in labels)
    num = fmt.num
    rows = [(num(a.reshape(-1)[i]), num(n.reshape(-1)[i]), num(flat_rel[i], 2)) for i in order]
    cols = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(COLUMNS)]
    gap = next(
        (g for g in (2, 1) if width is None or 1 + label_width + sum(g + c for c in cols) <= width),
        0,
    )
    if gap:
        sep = " " * gap
        head = " " + " " * label_width + "".join(sep + h.rjust(w) for h, w in zip(COLUMNS, cols))
        lines.append(Line("note", ((head, ""),)))
    for label, row in zip(labels, rows):
        if not gap:  # too narrow for a table: one element on three lines
            lines.append(Line("formula", ((" " + label, "param"), (f"  rel. err {row[2]}", ""))))
            lines.append(Line("formula", (("     analytic ", ""), (row[0], "grad"))))
            lines.append(Line("formula", (("     numeric  ", ""), (row[1], "num"))))
            continue
        lines.append(
            Line(
                "formula",
                (
                    (" " + label.ljust(label_width), "param"),
                    (sep + row[0].rjust(cols[0]), "grad"),
                    (sep + row[1].rjust(cols[1]), "num"),
                    (sep + row[2].rjust(cols[2]), ""),
                ),
            )
        )
    errors = f" · max rel. error {num(check.max_rel_error, 2)}"
    if check.ok and check.max_rel_error > RTOL:  # within the absolute tolerance: both ≈ 0
        errors = f" · max abs. error {num(check.max_abs_error, 2)}, both ≈ 0"
    if check.ok:
        verdict = (("✓ agree", "ok"), (errors, ""))
    else:
        bad = int(np.count_nonzero(~_agrees(check)))
        of = "" if size == 1 else f" ({bad:,} of {size:,} elements)"
        verdict = (("✗ disagree", "bad"), (of + errors, ""))
    lines.append(Line("sum", verdict))
    lines.append(
        Line("note", ((f"numeric = (L(θ+h) − L(θ−h)) / 2h, with h={STEP:g}·max(1,|θ|)", ""),))
    )
    lines.append(
        Line("note", ((f"they agree when |a − n| ≤ {ATOL:g} + {RTOL:g}·max(|a|, |n|)", ""),))
    )
    return lines


def _agrees(check: ParamCheck) -> np.ndarray:
    a, n = check.analytic, check.numeric
    with np.errstate(all="ignore"):
        return np.abs(a - n) <= ATOL + RTOL * np.maximum(np.abs(a), np.abs(n))


def progress_lines(param: str, done: int, total: int) -> list[Line]:
    """The section while a check runs: ``checking W1 (128/4,096)…``."""
    filled = round(10 * done / max(1, total))
    return [
        *_heading(param, total),
        Line(
            "note",
            (
                (f"checking {param} ({done:,}/{total:,})… ", ""),
                ("▰" * filled + "▱" * (10 - filled), "num"),
            ),
        ),
    ]


def _error_lines(param: str, size: int, error: str) -> list[Line]:
    return [*_heading(param, size), Line("sum", (("✗ the check failed: ", "bad"), (error, "")))]


class GradcheckSection:
    """Checks the gradient of the parameter whose backward event a pane shows.

    Args:
        view: The pane the section belongs to: it hosts the worker and the timer.
        show: Receives the section's lines anew while a check runs (the pane's
            ``set_section``).
    """

    def __init__(self, view: Widget, show: Callable[[list[Line]], None]) -> None:
        self._view = view
        self._show = show
        # Per run, and only while the run exists: a new run never sees an old one's checks.
        self._cache: weakref.WeakKeyDictionary[Timeline, OrderedDict[tuple[int, str], ParamCheck]]
        self._cache = weakref.WeakKeyDictionary()
        self._job: _Job | None = None
        self._shown: Key | None = None
        self._shown_done = -1
        self._timer: Timer | None = None
        self._finished: ParamCheck | None = None
        """The check whose result the section shows now, if it shows one."""

    def cached(self, timeline: Timeline, step: int, param: str) -> ParamCheck | None:
        """The check of ``param`` at ``step`` of ``timeline``, if it has been made."""
        checks = self._cache.get(run_of_step(timeline, step))
        return None if checks is None else checks.get((step, param))

    def lines(self, frame: Frame, timeline: Timeline) -> list[Line]:
        """The section for ``frame``: empty unless it is a parameter's backward event."""
        event = frame.event
        param = event.subject
        self._finished = None
        if frame.phase != "backward" or param not in frame.program.graph.params:
            self._shown = None
            return []
        run = run_of_step(timeline, frame.step)
        key = (run, frame.step, param)
        self._shown = key
        check = self.cached(run, frame.step, param)
        if check is not None:
            self._cache[run].move_to_end((frame.step, param))
            return self._result(check)
        record = frame.record
        params = record.params_before
        grad = record.result.grads[param]
        size = int(params[param].size)
        if size <= IMMEDIATE_ELEMENTS:
            deadline = time.perf_counter() + IMMEDIATE_SECONDS
            began = time.thread_time()

            def in_time(done: int, total: int) -> None:
                projected = (time.thread_time() - began) * total / done
                if projected > IMMEDIATE_CPU_SECONDS or time.perf_counter() > deadline:
                    raise _Abandoned

            try:
                check = check_param(
                    frame.program, frame.step, params, grad, param, progress=in_time
                )
            except _Abandoned:
                check = None  # too slow to wait for: the worker does it
            except Exception as err:  # a bug here must not take the pane down
                return _error_lines(param, size, f"{type(err).__name__}: {err}")
            if check is not None:
                self._store(key, check)
                return self._result(check)
        job = self._job
        if job is None or job.key != key or job.error is not None:
            job = self._start(key, frame, param, size)
        self._shown_done = job.done
        return progress_lines(param, job.done, job.total)

    def relayout(self) -> list[Line] | None:
        """The section laid out anew for the pane's width, when it shows a finished check
        (its table depends on the width); else None."""
        return None if self._finished is None else self._result(self._finished)

    def _result(self, check: ParamCheck) -> list[Line]:
        self._finished = check
        width = self._view.scrollable_content_region.width
        return check_lines(check, width if width > 0 else None)

    def clear(self) -> None:
        """Forget every result (the scenario was replaced)."""
        self._cache.clear()

    # --- the worker ---------------------------------------------------------------------

    def _store(self, key: Key, check: ParamCheck) -> None:
        run, step, param = key
        checks = self._cache.setdefault(run, OrderedDict())
        checks[(step, param)] = check
        while len(checks) > CACHE:
            checks.popitem(last=False)

    def _start(self, key: Key, frame: Frame, param: str, size: int) -> _Job:
        """A job for the worker, which :meth:`_poll` starts once the event has rested."""
        view = self._view
        if self._job is not None and self._job.started and view.is_attached:
            view.workers.cancel_group(view, "gradcheck")  # for an event no longer shown
        record = frame.record
        inputs = (frame.program, frame.step, record.params_before, record.result.grads[param])
        job = self._job = _Job(key, param, size, inputs, time.monotonic() + REST_SECONDS)
        if view.is_attached:
            if self._timer is None:
                self._timer = view.set_interval(POLL_SECONDS, self._poll, pause=True)
            self._timer.resume()
        return job

    def _begin(self, job: _Job) -> None:
        job.started = True
        self._view.run_worker(
            partial(self._check, job, *job.inputs),
            thread=True,
            group="gradcheck",
            exclusive=True,
            exit_on_error=False,
            name=f"gradcheck {job.param}",
        )

    @staticmethod
    def _check(job: _Job, program, step, params, grad) -> None:
        """In a thread: run the check, counting elements; stop if cancelled."""
        cancelled = cancel_check(get_current_worker())

        def progress(done: int, total: int) -> None:
            job.done = done
            if cancelled():
                raise _Abandoned

        try:
            job.result = check_param(program, step, params, grad, job.param, progress=progress)
        except _Abandoned:
            pass
        except Exception as err:  # shown in the section rather than lost in a log
            job.error = f"{type(err).__name__}: {err}"

    def _poll(self) -> None:
        """On the UI thread: show the running check's progress, then its result."""
        job = self._job
        if job is None:
            if self._timer is not None:
                self._timer.pause()
            return
        if not job.started:
            if self._shown != job.key:
                self._job = None  # stepped past before it began: nothing to do
            elif time.monotonic() >= job.not_before and self._view.is_attached:
                self._begin(job)
            return
        finished = job.result is not None or job.error is not None
        if job.result is not None:
            self._store(job.key, job.result)
        if finished:
            self._job = None
            if self._timer is not None:
                self._timer.pause()
        if self._shown != job.key:
            return
        if job.result is not None:
            self._show(self._result(job.result))
        elif job.error is not None:
            self._show(_error_lines(job.param, job.total, job.error))
        elif job.done != self._shown_done:
            self._shown_done = job.done
            self._show(progress_lines(job.param, job.done, job.total))
