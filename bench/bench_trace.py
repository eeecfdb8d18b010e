"""Trace benchmark: how fast ``bpdbg trace`` writes, and what a filter saves.

Prints ratios against baselines measured in the same run, never absolute verdicts:

1. JSONL throughput of the trace of ``spiral-mlp`` (a 2-64-64-3 network, ~5 MB a step):
   the whole writer — running the steps, recording their events, writing every number
   as ``repr`` does — against msgspec encoding the same events (arrays by ``tolist``, its
   own float format, the events built beforehand). Goal: ≥ 0.5×. Then the number writer
   alone on every array of every event, against msgspec on the same arrays (the trace
   writes an array shown by several events of a step once; this does not). Also the
   command itself, ``bpdbg trace spiral-mlp > /dev/null``, start-up included.
2. ``trace spiral-mlp --phase loss`` for 1,000 steps against the engine's fast path
   (``Timeline.compute``) for the same steps. Goal: ≤ 2×.

Each side is timed several times, alternating, and the best time of each is compared:
the machine this runs on is shared, and the best is the one least disturbed. The spread
(worst / best) is printed so that a noisy run shows as one.

Run: ``python bench/bench_trace.py [--steps 10] [--loss-steps 1000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import msgspec  # noqa: E402
import numpy as np  # noqa: E402

from engine import trace  # noqa: E402
from engine.open import open_program
from engine.report.json_numbers import array_json  # noqa: E402
from engine.step.events import Backward, Event, Forward, Update
from engine.step.program import Program
from engine.timeline.timeline import Timeline

ROOT = Path(__file__).resolve().parent.parent


def with_steps(program: Program, steps: int) -> Program:
    scenario = program.scenario
    train = msgspec.structs.replace(scenario.train, steps=steps)
    return msgspec.structs.replace(program, scenario=msgspec.structs.replace(scenario, train=train))


def arrays_of(event: Event) -> list[np.ndarray]:
    """The arrays a trace line writes (not 0-d ones, which are single numbers)."""
    if isinstance(event, Forward):
        found = [event.value]
    elif isinstance(event, Backward):
        found = [event.grad]
        for t in event.terms:
            found += [t.upstream, t.value] + ([] if t.local is None else [t.local])
    elif isinstance(event, Update):
        found = [event.before, event.grad, event.after, *event.state.values()]
    else:
        found = []
    return [a for a in found if a.ndim]


def best_of(rounds: int, *runs: Callable[[], int]) -> list[tuple[float, float, int]]:
    """``(best seconds, worst / best, bytes)`` of each run, timed in alternation."""
    times: list[list[float]] = [[] for _ in runs]
    sizes = [0] * len(runs)
    for _ in range(rounds):
        for i, run in enumerate(runs):
            began = time.perf_counter()
            sizes[i] = run()
            times[i].append(time.perf_counter() - began)
    return [(min(t), max(t) / min(t), n) for t, n in zip(times, sizes)]


def throughput(steps: int, rounds: int) -> None:
    program = with_steps(open_program("spiral-mlp"), steps)
    timeline = Timeline(program)
    events: list[Event] = [e for s in range(steps) for e in timeline.record(s).events]

    def to_list(obj: object) -> object:
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        raise TypeError(type(obj))

    encoder = msgspec.json.Encoder(enc_hook=to_list)

    def ours() -> int:
        return sum(len(line) for line in trace.jsonl_bytes(Timeline(program)))

    def msgspec_alone() -> int:
        return sum(len(encoder.encode(e)) + 1 for e in events)

    arrays = [a for e in events for a in arrays_of(e)]

    def numbers_alone() -> int:
        return sum(len(array_json(a)) for a in arrays)

    def msgspec_arrays() -> int:
        return sum(len(msgspec.json.encode(a.tolist())) for a in arrays)

    (t_ours, s_ours, n_ours), (t_ms, s_ms, n_ms), (t_na, _, n_na), (t_ma, _, n_ma) = best_of(
        rounds, ours, msgspec_alone, numbers_alone, msgspec_arrays
    )
    mb_ours, mb_ms = n_ours / t_ours / 1e6, n_ms / t_ms / 1e6
    mb_na, mb_ma = n_na / t_na / 1e6, n_ma / t_ma / 1e6
    print(f"1. JSONL throughput, spiral-mlp, {steps} steps ({n_ours / 1e6:.1f} MB of trace)")
    print(f"   bpdbg's writer (run + record + write): {mb_ours:7.1f} MB/s   spread {s_ours:.2f}")
    print(f"   msgspec encoding the same events:      {mb_ms:7.1f} MB/s   spread {s_ms:.2f}")
    print(f"   ratio: {mb_ours / mb_ms:.2f}×   (goal ≥ 0.5×)")
    print("   the number writer alone, every array of every event (none written once for")
    print("   several events, as the trace does), against msgspec on the same arrays:")
    print(
        f"   array_json: {mb_na:7.1f} MB/s   msgspec: {mb_ma:7.1f} MB/s   ratio {mb_na / mb_ma:.2f}×"
    )

    command = [sys.executable, "-m", "tui.cli", "trace", "spiral-mlp", "--steps", str(steps)]

    def whole_command() -> int:
        with open(os.devnull, "wb") as sink:
            subprocess.run(command, stdout=sink, check=True, cwd=ROOT)
        return n_ours

    [(t_cmd, s_cmd, _)] = best_of(max(1, rounds // 2), whole_command)
    print(
        f"   the command, start-up included: {n_ours / t_cmd / 1e6:7.1f} MB/s   spread {s_cmd:.2f}"
    )


def loss_only(steps: int, rounds: int) -> None:
    program = with_steps(open_program("spiral-mlp"), steps)
    keep = trace.Keep(phases=frozenset({"loss"}))

    def filtered() -> int:
        return sum(len(line) for line in trace.jsonl_bytes(Timeline(program), None, keep))

    def fast_path() -> int:
        return Timeline(program).compute(steps)

    (t_f, s_f, _), (t_p, s_p, _) = best_of(rounds, filtered, fast_path)
    print(f"2. trace spiral-mlp --phase loss, {steps:,} steps")
    print(f"   the filtered trace:              {t_f * 1e3:8.1f} ms   spread {s_f:.2f}")
    print(f"   the engine's fast path (compute): {t_p * 1e3:8.1f} ms   spread {s_p:.2f}")
    print(f"   ratio: {t_f / t_p:.2f}×   (goal ≤ 2×)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="steps for the throughput")
    parser.add_argument("--loss-steps", type=int, default=1000, help="steps for --phase loss")
    parser.add_argument("--rounds", type=int, default=5, help="timings of each side")
    args = parser.parse_args()
    throughput(args.steps, args.rounds)
    print()
    loss_only(args.loss_steps, args.rounds)


if __name__ == "__main__":
    main()
