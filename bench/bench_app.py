"""App benchmark: start-up and the latency of a step, as ratios to baselines in the same run.

1. Time to the first frame of ``bpdbg`` (the worked example), against a minimal Textual
   app with a header and a footer. Each is a fresh process started as its users start
   it (``bpdbg``'s own entry point), in a terminal that is drawn to but not there (see
   ``first_frame_driver.py``), taking turns, several rounds; the ratio is the median of
   each round's ratio. Goal: ratio ≤ 1.5. Also printed: the time until each is idle
   after its first frame.
2. Time from a step action (``n``) to the refreshed screen, median and p95 over many
   presses, against an action that changes one label of the same app on the same
   screen (a ``Static`` the benchmark adds above the panes): on the XOR scenario, whose
   graph pane draws it neuron by neuron (every unit, every weight's line and number),
   on the built-in ``spiral-mlp`` (2-64-64-3, the largest built-in) and on a 2-64-64-10
   network. Goal: p95 under 1.5× the baseline's p95.
3. The same after jumping to step 100,000 (the run computed ahead of time), for XOR and
   the 2-64-64-10 network.
4. The same with the data view open (``v``) on ``spiral-mlp`` and on ``xor``, where each
   new step recomputes the network's output over the input plane: goal p95 under 1.5×
   the baseline's. And what that costs alone: one step's heatmap (the output at every
   pixel of the pane's grid) as a multiple of one training step (the fast path).
5. The same with the inspector open (``i``) on ``spiral-mlp`` (150×64 tensors: a
   scrolled grid, and each element's derivation summing up to 150 terms) and on
   ``xor``: goal p95 under 1.5× the baseline's.

"Refreshed" means: the action has run, every message it caused has been handled, and
the screen's update has been rendered and handed to the (headless) driver; and again
for whatever that render caused (a layout repaints every scrollbar), so that no action
is billed for the one before it.

Every press moves the cursor (enough steps are computed first; a press past the last
computed event would do nothing and time an idle app), and both first-frame programs
start from compiled bytecode, as installed programs do (see :func:`first_frame`). Also
printed, for reference: the step against the cheapest label change (same width, no
layout).

Run: ``python bench/bench_app.py [--presses 200] [--far 100000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

# First: importing the engine limits BLAS to one thread, as in the app, which only takes
# effect before numpy is loaded (two BLAS threads made each step ~6× slower here).
import engine  # noqa: F401  # isort: skip

import numpy as np  # isort: skip

FIRST_FRAME_BPDBG = "import sys; from tui.startup import main; sys.exit(main())"
"""Exactly what the installed ``bpdbg`` command runs (run with ``worked-example``)."""

FIRST_FRAME_MINIMAL = """
from textual.app import App
from textual.widgets import Footer, Header
class Minimal(App):
    def compose(self):
        yield Header()
        yield Footer()
Minimal().run()
"""

FIRST_FRAME_SIZE = (120, 40)
"""The terminal both programs start in: a size bpdbg is meant to be good at."""


def first_frame(rounds: int) -> None:
    """Start each program in a fresh process, taking turns; report medians and ratios
    (the median of the rounds' ratios, and the middle half of them).

    Both run their ordinary start-up in a terminal that is drawn to but not there
    (``first_frame_driver``): the first frame is when the first full screen is
    written; idle is when, after it, the app has nothing left to do.
    """
    # Both apps start from compiled bytecode, as an installed program does. Textual's is
    # in site-packages already; bpdbg's is not when PYTHONDONTWRITEBYTECODE is set (as it
    # is in some sandboxes), which would add compiling every module to bpdbg's time only.
    # So: bytecode goes to a scratch folder, and one untimed round fills it.
    here = os.path.dirname(os.path.abspath(__file__))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {
        "TEXTUAL_DRIVER": "first_frame_driver:FirstFrameDriver",
        "PYTHONPATH": os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p),
        "COLUMNS": str(FIRST_FRAME_SIZE[0]),
        "LINES": str(FIRST_FRAME_SIZE[1]),
    }
    programs = {
        "bpdbg": [sys.executable, "-c", FIRST_FRAME_BPDBG, "worked-example"],
        "minimal": [sys.executable, "-c", FIRST_FRAME_MINIMAL],
    }
    times: dict[str, dict[str, list[float]]] = {
        name: {"first-frame": [], "idle": []} for name in programs
    }
    with tempfile.TemporaryDirectory() as cache:
        env["PYTHONPYCACHEPREFIX"] = cache
        for r in range(rounds + 1):
            # Each round runs both, in turns that alternate (no program always goes first).
            for name in sorted(programs, reverse=r % 2 == 1):
                started = time.time()
                done = subprocess.run(
                    programs[name], check=True, capture_output=True, env=env, text=True
                )
                reports = dict(ln.split() for ln in done.stderr.splitlines() if ln[:1] in "fi")
                if r:
                    for what, at in times[name].items():
                        at.append(float(reports[what]) - started)
    print("start-up of bpdbg (worked example) against a minimal Textual app with a header")
    print(
        f"and a footer, each a fresh process in a {FIRST_FRAME_SIZE[0]}×{FIRST_FRAME_SIZE[1]} "
        f"terminal, {rounds} rounds"
    )
    for what, label, goal in (
        ("first-frame", "time to the first frame", "   (goal ≤ 1.5×)"),
        ("idle", "time until idle after it", ""),
    ):
        b, m = (times[name][what] for name in ("bpdbg", "minimal"))
        # The ratio within each round, whose two runs are seconds apart: this machine's
        # speed drifts by more than the difference being measured, over a benchmark.
        q1, ratio, q3 = statistics.quantiles([x / y for x, y in zip(b, m)], n=4)
        print(
            f"  {label:26} minimal {statistics.median(m) * 1e3:6.1f} ms   bpdbg"
            f" {statistics.median(b) * 1e3:6.1f} ms   ratio {ratio:4.2f}×"
            f" (middle half {q1:4.2f}–{q3:4.2f}){goal}"
        )


def mlp_program(steps: int):
    from engine.scenario.records import (
        DataSpec,
        LayerSpec,
        ModelSpec,
        OptimizerSpec,
        Scenario,
        TrainSpec,
    )
    from engine.step.program import make_program

    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 2))
    y = rng.integers(0, 10, size=128).astype(np.float64)
    return make_program(
        Scenario(
            name="2-64-64-10",
            source="bench",
            optimizer=OptimizerSpec("adam", 0.01),
            train=TrainSpec(steps=steps),
            model=ModelSpec(
                2,
                (LayerSpec(64, "tanh"), LayerSpec(64, "tanh"), LayerSpec(10, "identity")),
            ),
            data=DataSpec(x, y),
            loss="cross_entropy",
        )
    )


def spiral_program(steps: int):
    return builtin_program("spiral-mlp", steps)


def xor_program(steps: int):
    return builtin_program("xor", steps)


def builtin_program(name: str, steps: int):
    import msgspec

    from engine.open import open_program

    p = open_program(name)
    train = msgspec.structs.replace(p.scenario.train, steps=steps)
    sc = msgspec.structs.replace(p.scenario, train=train)
    return msgspec.structs.replace(p, scenario=sc)


async def latencies(
    program,
    presses: int,
    start_step: int,
    view: str | None = None,
    *,
    data: bool = False,
    inspector: bool = False,
) -> tuple[tuple[list[float], list[float], list[float]], float]:
    """Step and label times (ms) from ``start_step``, and the seconds spent computing
    the run up to there first. ``view``: the graph pane must be drawing this view
    (``"neurons"``), or the measurement is of something else; with ``data``, the data
    view open; with ``inspector``, the inspector open."""
    from textual.widgets import Static

    from tui.app import BpdbgApp
    from tui.collector import pause_gc

    # As the installed command starts it (tui.startup): the cyclic collector paused for
    # start-up, and once the first frame is painted everything alive then frozen out of
    # its way and the collector resumed (tui.collector). Without this, each full
    # collection would walk every object of Textual, numpy and the app, a tenth of a
    # second at random presses, which users never see.
    pause_gc()
    app = BpdbgApp(program, compute_ahead=False, cursor_blink=False)
    # Every press must step: computed up to the last step the presses reach (past the
    # last computed event, ``n`` does nothing and would time an idle app).
    began = time.perf_counter()
    app.timeline.compute(start_step + presses // program.events_per_step + 2)
    computing = time.perf_counter() - began
    steps_ms: list[float] = []
    label_ms: list[float] = []
    same_width_ms: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        if start_step:
            app.cursor = start_step * app.timeline.events_per_step
            await pilot.pause()
        # The baseline's label: a plain Static in a row of its own above the panes (the
        # app's header is one widget that paints its parts itself and lays nothing out).
        label = Static("label", id="bench-label")
        await app.screen.mount(label, before=app.query_one("#main"))
        await pilot.pause()
        if view is not None:
            plan = app.graph_view.plan
            assert plan is not None and plan.view == view, plan and plan.name
        if data:
            await app.run_action("toggle_data")
            for _ in range(200):
                if app.data_view is not None and app.data_view.rendered:
                    break
                await pilot.pause()
            assert app.data_view is not None and app.data_view.rendered
        if inspector:
            await app.run_action("inspect")
            for _ in range(200):
                if app.inspector is not None and app.inspector.snapshot_text():
                    break
                await pilot.pause()
            assert app.inspector is not None and app.inspector.snapshot_text()

        async def refreshed() -> None:
            # Private but exact: drain the messages the action caused, then render the
            # screen update as the app's own timer would; until nothing is left to do.
            # Rendering can cause more: a layout (the label's width changes) resizes
            # widgets and repaints every scroll view's scrollbars, whose updates arrive
            # after the render. Stopping at one pass would bill them to the next action.
            screen = app.screen
            for _ in range(5):
                await pilot._wait_for_screen()
                if not (
                    screen._dirty_widgets
                    or screen._layout_required
                    or screen._repaint_required
                    or screen._scroll_required
                    or screen._callbacks
                ):
                    break
                screen._on_timer_update()

        for i in range(presses):
            t = time.perf_counter()
            await app.run_action("next_event")
            await refreshed()
            steps_ms.append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter()
            label.update(f"label {i}")
            await refreshed()
            label_ms.append((time.perf_counter() - t) * 1e3)
            # For reference, the cheapest change there is: the same label, its width
            # unchanged, so without the layout (as the app's own header does).
            t = time.perf_counter()
            label.update(f"LABEL {i}", layout=False)
            await refreshed()
            same_width_ms.append((time.perf_counter() - t) * 1e3)
        assert app.cursor == start_step * app.timeline.events_per_step + presses
    return (steps_ms, label_ms, same_width_ms), computing


def heatmap_cost(name: str, repeats: int = 30) -> None:
    """One step's heatmap for the data view at 120×40 against one training step."""
    from engine.open import open_program
    from engine.report.landscape import Landscape, data_bounds, output_plane
    from engine.step.run import run_step
    from engine.timeline.timeline import Timeline
    from tui.panes.data.render import plane_frame

    program = open_program(name)
    timeline = Timeline(program)
    timeline.compute(20)
    params, state = timeline.start_of(10)
    bounds = data_bounds(program)
    # The data pane's inner size at 120×40: the graph's place, less borders.
    fr = plane_frame(120 - 33 - 2, 18 - 2, bounds)
    nx, ny = fr.width, 2 * fr.height

    def timed(f) -> float:
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1e3

    step = timed(lambda: run_step(program, 10, params, state))
    plane = timed(lambda: output_plane(program, params, bounds, nx, ny))
    Landscape(timeline)  # (the cache's own cost is a dict look-up)
    print(
        f"  {name}: heatmap of {nx}×{ny} pixels {plane:6.2f} ms, one training step"
        f" {step:6.3f} ms ({program.x.shape[0]} samples): {plane / step:5.1f}× a step"
    )


def report(
    name: str,
    steps_ms: list[float],
    label_ms: list[float],
    same_width_ms: list[float],
    goal: float = 1.5,
) -> None:
    def p95(v: list[float]) -> float:
        return float(np.percentile(v, 95))

    print(f"  {name}")
    print(
        f"    step action   median {statistics.median(steps_ms):7.2f} ms   p95 {p95(steps_ms):7.2f} ms"
    )
    print(
        f"    one label     median {statistics.median(label_ms):7.2f} ms   p95 {p95(label_ms):7.2f} ms"
    )
    print(f"    p95 ratio     {p95(steps_ms) / p95(label_ms):7.2f}×   (goal < {goal:g}×)")
    print(
        f"    (no layout:   median {statistics.median(same_width_ms):7.2f} ms   p95"
        f" {p95(same_width_ms):7.2f} ms; step/this p95 {p95(steps_ms) / p95(same_width_ms):.2f}×)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presses", type=int, default=200)
    ap.add_argument("--far", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=31)
    ap.add_argument("--data-only", action="store_true", help="only the data view's part (4)")
    ap.add_argument("--inspector-only", action="store_true", help="only the inspector's part (5)")
    args = ap.parse_args()
    if args.data_only:
        data_view(args)
        return
    if args.inspector_only:
        inspector_view(args)
        return
    first_frame(args.rounds)
    print(f"step latency at 120×40 ({args.presses} presses of n, each followed by label changes)")
    cases = (
        ("xor (graph: neurons)", xor_program, "neurons", True),
        ("spiral-mlp", spiral_program, None, False),
        ("2-64-64-10", mlp_program, None, True),
    )
    for name, make, view, far in cases:
        program = make((args.far if far else 0) + args.presses + 10)  # room for every press
        steps = asyncio.run(latencies(program, args.presses, 0, view))[0]
        report(f"{name}, from step 0", *steps)
        if far:
            result, computing = asyncio.run(latencies(program, args.presses, args.far, view))
            print(f"  ({name}: computing the first {args.far:,} steps took {computing:.1f} s)")
            report(f"{name}, after jumping to step {args.far:,}", *result)
    data_view(args)
    inspector_view(args)


def inspector_view(args: argparse.Namespace) -> None:
    """Part 5: stepping with the inspector open."""
    print(f"step latency with the inspector open (i), {args.presses} presses of n from step 0")
    for name in ("spiral-mlp", "xor"):
        program = builtin_program(name, args.presses + 10)
        result, _ = asyncio.run(latencies(program, args.presses, 0, inspector=True))
        report(f"{name}, inspector", *result)


def data_view(args: argparse.Namespace) -> None:
    """Part 4: stepping with the data view open, and one step's heatmap alone."""
    print(f"step latency with the data view open (v), {args.presses} presses of n from step 0")
    for name in ("spiral-mlp", "xor"):
        program = builtin_program(name, args.presses + 10)
        result, _ = asyncio.run(latencies(program, args.presses, 0, data=True))
        report(f"{name}, data view", *result)
    print("one step's heatmap (the network's output at every pixel of the data view)")
    for name in ("spiral-mlp", "xor"):
        heatmap_cost(name)


if __name__ == "__main__":
    main()
