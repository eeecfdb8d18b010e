"""The timeline: every event of a run, and the exact state at each, in bounded memory.

Storing every tensor of every event of a long run would not fit in memory, so the
timeline keeps only:

- **keyframes**: the parameters and optimizer buffers at the start of some steps. Their
  spacing doubles whenever they would outgrow :data:`KEYFRAME_BUDGET`, so memory stays
  bounded however long the run, and replaying to any step costs at most one spacing;
- **history**: the loss of every step, and samples of every parameter and gradient norm
  (:class:`History`, also bounded, its stride doubling the same way);
- a few **materialised steps** (:class:`StepRecord`), each holding all of one step's
  events and values, recomputed on demand from the nearest keyframe.

Steps are computed lazily. :meth:`Timeline.compute` advances the frontier on the fast
path and may run in a worker thread while another thread reads frames; both take the
timeline's lock only for short moments. Replaying is deterministic, so stepping back
to an event shows exactly what was shown before.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping

import msgspec
import numpy as np

from engine.graph.graph import Graph
from engine.step.events import Event
from engine.step.layout import StepLayout, step_layout
from engine.step.program import OptState, Params, Program, step_footprint
from engine.step.run import StepResult, fast_step, run_step

KEYFRAME_BUDGET = 16 * 2**20
"""Bytes of keyframes a timeline keeps at most (parameters + optimizer buffers)."""
HISTORY_BUDGET = 16 * 2**20
"""Bytes of parameter samples a timeline keeps at most."""
RECORD_CACHE = 8
"""Materialised steps kept for quick stepping back and forth, at most."""
RECORD_BUDGET = 256 * 2**20
"""Bytes the cached steps may take (by :func:`engine.step.program.step_footprint`); a step larger
than this is still kept, alone."""


class StepRecord(msgspec.Struct, frozen=True, eq=False):
    """One step, materialised: its events and everything they refer to.

    Attributes:
        step: The 0-based step.
        seq0: ``seq`` of the first event.
        params_before: Parameters at the start of the step.
        state_before: Optimizer buffers at the start of the step.
        result: What the step computed, events included.
        layout: Where each event sits in the step.
    """

    step: int
    seq0: int
    params_before: Params
    state_before: OptState
    result: StepResult
    layout: StepLayout

    @property
    def events(self) -> tuple[Event, ...]:
        return self.result.events

    @property
    def value_at(self) -> Mapping[str, int]:
        """For each node, the position (in the step) of the event that computes it; -1 for
        leaves, known from the start."""
        return self.layout.value_pos

    @property
    def grad_at(self) -> Mapping[str, int]:
        """For each node with a gradient, the position of its backward event."""
        return self.layout.backward_pos

    @property
    def update_at(self) -> Mapping[str, int]:
        """For each parameter, the position of its update event."""
        return self.layout.update_pos

    @property
    def loss_at(self) -> int:
        """Position of the loss event."""
        return self.layout.loss_pos


class Frame(msgspec.Struct, frozen=True, eq=False):
    """The state of the run at one event: what every pane renders.

    Attributes:
        seq: The event's index over the whole run.
        step: Its training step.
        pos: Its position within the step.
        record: The whole step (for panes that look at other events of it).
        program: The program being run (graph, scenario, optimizer).
    """

    seq: int
    step: int
    pos: int
    record: StepRecord
    program: Program

    @property
    def event(self) -> Event:
        return self.record.events[self.pos]

    @property
    def phase(self) -> str:
        return self.event.phase

    @property
    def values(self) -> dict[str, np.ndarray]:
        """Node values known at this event (leaves, and nodes the forward has reached).

        Parameters hold their values at the start of the step: the forward pass used those.
        """
        at, vals, pos = self.record.layout.value_pos, self.record.result.values, self.pos
        return {k: v for k, v in vals.items() if at.get(k, -1) <= pos}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """∂L/∂node for the nodes whose backward events have happened."""
        at, grads, pos = self.record.layout.backward_pos, self.record.result.grads, self.pos
        return {k: grads[k] for k, p in at.items() if p <= pos}

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Parameters as they are now: updated ones hold their new values."""
        r, pos = self.record, self.pos
        return {
            k: (r.result.params_after[k] if r.update_at[k] <= pos else r.params_before[k])
            for k in r.params_before
        }

    @property
    def opt_state(self) -> dict[str, Mapping[str, np.ndarray]]:
        """Optimizer buffers as they are now."""
        r, pos = self.record, self.pos
        return {
            k: (r.result.state_after[k] if r.update_at[k] <= pos else r.state_before[k])
            for k in r.params_before
        }

    @property
    def loss(self) -> float | None:
        """The step's loss once the loss event has happened, else None."""
        return self.record.result.loss if self.pos >= self.record.loss_at else None


class History:
    """Per-step samples in bounded memory: each row is one step's vector.

    Rows are kept every ``stride`` steps; when the store is full, every other row is
    dropped and the stride doubles. Plots therefore always have evenly spaced points.
    """

    def __init__(self, width: int, budget_bytes: int = HISTORY_BUDGET) -> None:
        self.width = width
        self.capacity = max(64, budget_bytes // max(1, 8 * width))
        self.stride = 1
        self._rows = np.empty((min(self.capacity, 1024), width))
        self._steps = np.empty(min(self.capacity, 1024), dtype=np.int64)
        self._n = 0

    def add(self, step: int, row: np.ndarray) -> None:
        slot = self.slot(step)
        if slot is not None:
            slot[:] = row

    def slot(self, step: int) -> np.ndarray | None:
        """The row to fill with ``step``'s vector, or None when ``step`` is not kept.

        The row is the store's own memory (filling it in place spares a copy per step);
        it must be filled before the next call.
        """
        if step % self.stride:
            return None
        if self._n == self.capacity:
            keep = self._steps[: self._n] % (2 * self.stride) == 0
            kept = int(keep.sum())
            self._rows[:kept] = self._rows[: self._n][keep]
            self._steps[:kept] = self._steps[: self._n][keep]
            self._n = kept
            self.stride *= 2
            if step % self.stride:
                return None
        if self._n == len(self._steps):
            grow = min(self.capacity, 2 * len(self._steps))
            self._rows = np.resize(self._rows, (grow, self.width))
            self._steps = np.resize(self._steps, grow)
        self._steps[self._n] = step
        self._n += 1
        return self._rows[self._n - 1]

    def truncate(self, steps: int) -> None:
        """Forget rows of steps ≥ ``steps``."""
        self._n = int(np.searchsorted(self._steps[: self._n], steps))

    def steps(self) -> np.ndarray:
        return self._steps[: self._n].copy()

    def column(self, j: int) -> np.ndarray:
        return self._rows[: self._n, j].copy()


class Timeline:
    """A cursor-free view of a whole run: any event, and the state at it, on demand.

    Args:
        program: What to run.
        start: For a branch (what-if): ``(step, params, state)`` to start from; steps
            before ``step`` belong to ``parent``.
        parent: The timeline a branch was made from.
    """

    def __init__(
        self,
        program: Program,
        *,
        start: tuple[int, Params, OptState] | None = None,
        parent: Timeline | None = None,
        keyframe_budget: int = KEYFRAME_BUDGET,
        history_budget: int = HISTORY_BUDGET,
    ) -> None:
        self.program = program
        self.parent = parent
        self.events_per_step = program.events_per_step
        self._lock = threading.RLock()
        self._compute_lock = threading.Lock()  # one thread advances the frontier at a time
        params = self.graph_params = program.graph.params
        if start is None:
            start = (0, program.init_params, program.initial_state())
        self.first_step = start[0]
        self._head_step = start[0]
        self._head: tuple[Params, OptState] = (dict(start[1]), dict(start[2]))
        self._keyframes: dict[int, tuple[Params, OptState]] = {start[0]: self._head}
        # A keyframe's cost counts Python's per-array and per-dict overhead, not just data.
        n_arrays = len(params) * (1 + len(next(iter(start[2].values()), {})))
        per_kf = (
            sum(v.nbytes for v in start[1].values()) * (1 + len(next(iter(start[2].values()), {})))
            + 128 * n_arrays
            + 512 * (1 + len(params))
        )
        self._kf_cap = max(16, keyframe_budget // max(1, per_kf))
        self._kf_stride = 1
        self._losses = np.empty(1024)
        # Parameter sample layout: every parameter flattened, then one gradient norm each.
        self.param_slices: dict[str, slice] = {}
        j = 0
        for p in params:
            n = start[1][p].size
            self.param_slices[p] = slice(j, j + n)
            j += n
        self.grad_norm_cols = {p: j + i for i, p in enumerate(params)}
        self._norms_at = j
        self.history = History(j + len(params), history_budget)
        self.first_nonfinite_step: int | None = None
        """The first step whose loss or gradients are not all finite, once computed."""
        self._records: OrderedDict[int, StepRecord] = OrderedDict()
        step_bytes = 8 * sum(n for _, n in step_footprint(program.graph, program.optimizer.spec))
        self._record_cap = max(1, min(RECORD_CACHE, RECORD_BUDGET // max(1, step_bytes)))
        """Materialised steps kept: :data:`RECORD_CACHE`, fewer for large steps."""

    # --- sizes ---------------------------------------------------------------------------

    @property
    def total_steps(self) -> int:
        """Steps the scenario trains for (the run's length once fully computed)."""
        return self.program.steps

    @property
    def computed_steps(self) -> int:
        """Steps whose results are known (from step 0, a branch's parent included)."""
        return self._head_step

    @property
    def computed_events(self) -> int:
        return self._head_step * self.events_per_step

    @property
    def done(self) -> bool:
        return self._head_step >= self.total_steps

    def locate(self, seq: int) -> tuple[int, int]:
        """``(step, position in step)`` of event ``seq``."""
        return divmod(seq, self.events_per_step)

    # --- computing ahead ---------------------------------------------------------------

    def compute(
        self,
        n: int,
        *,
        cancelled: Callable[[], bool] | None = None,
    ) -> int:
        """Advance the frontier by up to ``n`` steps on the fast path.

        Safe to call from a worker thread while other threads read frames. Stops early
        when ``cancelled()`` returns True or the run is complete.

        Returns:
            How many steps were computed.
        """
        done = 0
        program = self.program
        # One errstate for the whole loop (fast_step and _commit count on it): entering it
        # per step cost as much as a sixth of the timeline's own work per step.
        with self._compute_lock, np.errstate(all="ignore"):
            while done < n and self._head_step < self.total_steps:
                if cancelled is not None and cancelled():
                    break
                step = self._head_step
                params, state = self._head
                result = fast_step(program, step, params, state)
                self._commit(step, params, result)
                done += 1
        return done

    def ensure(self, step: int) -> None:
        """Compute up to and including ``step`` (clamped to the run's length)."""
        target = min(step + 1, self.total_steps)
        if target > self._head_step:
            self.compute(target - self._head_step)

    def _commit(self, step: int, params: Params, result: StepResult) -> None:
        """Keep what a step leaves behind: its loss, a history row, the finite check, the
        new head and maybe a keyframe. Runs under :meth:`compute`'s ``np.errstate``."""
        grads = result.grads
        sq_norms = [float(np.vdot(grads[p], grads[p])) for p in self.graph_params]
        # A squared norm (and their sum) overflows long before the gradient does: only
        # then look closer.
        finite = math.isfinite(result.loss) and (
            math.isfinite(sum(sq_norms))
            or all(
                math.isfinite(sq) or bool(np.isfinite(grads[p]).all())
                for p, sq in zip(self.graph_params, sq_norms)
            )
        )
        with self._lock:
            i = step - self.first_step
            if i >= len(self._losses):
                self._losses = np.resize(self._losses, 2 * len(self._losses))
            self._losses[i] = result.loss
            row = self.history.slot(step)  # None on most steps of a long run
            if row is not None:
                # Every parameter flattened, then ‖g‖ = √(g·g) for each: np.linalg.norm
                # takes the same square root of the same dot product (the same bits).
                np.concatenate(
                    [params[p].reshape(-1) for p in self.graph_params], out=row[: self._norms_at]
                )
                norms = row[self._norms_at :]
                norms[:] = sq_norms
                np.sqrt(norms, out=norms)
            if not finite and self.first_nonfinite_step is None:
                self.first_nonfinite_step = step
            self._head = (result.params_after, result.state_after)
            self._head_step = step + 1
            if (step + 1) % self._kf_stride == 0:
                self._keyframes[step + 1] = self._head
                if len(self._keyframes) > self._kf_cap:
                    self._kf_stride *= 2
                    self._keyframes = {
                        k: v
                        for k, v in self._keyframes.items()
                        if k % self._kf_stride == 0 or k == self.first_step
                    }

    # --- reading ---------------------------------------------------------------------------

    def losses(self) -> np.ndarray:
        """The loss of every computed step, from step 0 (a branch includes its parent's)."""
        with self._lock:
            own = self._losses[: self._head_step - self.first_step].copy()
        if self.parent is not None and self.first_step:
            own = np.concatenate([self.parent.losses()[: self.first_step], own])
        return own

    def param_history(self, param: str, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Samples of one element (row-major ``index``) of a parameter at step starts."""
        sl = self.param_slices[param]
        with self._lock:
            steps, vals = self.history.steps(), self.history.column(sl.start + index)
        return self._with_parent(steps, vals, lambda t: t.param_history(param, index))

    def grad_norm_history(self, param: str) -> tuple[np.ndarray, np.ndarray]:
        """Samples of ‖∂L/∂param‖ per step."""
        with self._lock:
            steps, vals = self.history.steps(), self.history.column(self.grad_norm_cols[param])
        return self._with_parent(steps, vals, lambda t: t.grad_norm_history(param))

    def _with_parent(self, steps, vals, get):
        if self.parent is None or not self.first_step:
            return steps, vals
        ps, pv = get(self.parent)
        keep = ps < self.first_step
        return np.concatenate([ps[keep], steps]), np.concatenate([pv[keep], vals])

    def start_of(self, step: int) -> tuple[Params, OptState]:
        """Parameters and optimizer buffers at the start of a computed ``step``."""
        if step < self.first_step:
            assert self.parent is not None
            return self.parent.start_of(step)
        if step > self._head_step:
            raise IndexError(f"step {step} is not computed yet")
        cached = self._records.get(step)
        if cached is not None:
            return cached.params_before, cached.state_before
        before = self._records.get(step - 1)
        if before is not None:
            return before.result.params_after, before.result.state_after
        with self._lock:
            if step == self._head_step:
                return self._head
            k = max(s for s in self._keyframes if s <= step)
            params, state = self._keyframes[k]
        for s in range(k, step):  # replay from the keyframe; same code, same bits
            r = run_step(self.program, s, params, state)
            params, state = r.params_after, r.state_after
        return params, state

    def record(self, step: int) -> StepRecord:
        """The materialised ``step`` (computing up to it first if needed)."""
        if step < self.first_step:
            assert self.parent is not None
            return self.parent.record(step)
        cached = self._records.get(step)
        if cached is not None:
            self._records.move_to_end(step)
            return cached
        self.ensure(step)
        params, state = self.start_of(step)
        result = run_step(
            self.program, step, params, state, record=True, seq0=step * self.events_per_step
        )
        rec = _make_record(
            step, step * self.events_per_step, params, state, result, self.program.graph
        )
        self._records[step] = rec
        while len(self._records) > self._record_cap:
            self._records.popitem(last=False)
        return rec

    def frame(self, seq: int) -> Frame:
        """The state at event ``seq``."""
        step, pos = self.locate(seq)
        if step < self.first_step and self.parent is not None:
            # A branch's earlier steps were run by its parent's program (its optimizer,
            # its learning rate): their frames must explain them as they happened.
            return self.parent.frame(seq)
        return Frame(seq, step, pos, self.record(step), self.program)

    def event(self, seq: int) -> Event:
        return self.frame(seq).event


def _make_record(
    step: int, seq0: int, params: Params, state: OptState, result: StepResult, graph: Graph
) -> StepRecord:
    return StepRecord(step, seq0, params, state, result, step_layout(graph))
