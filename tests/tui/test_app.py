"""Pilot tests of the app: stepping, breakpoints, playing, dialogs, resizing."""

from __future__ import annotations

import difflib
import os

import pytest
from snapshot_apps import (
    adam_example,
    chain,
    event_seq,
    fan_out,
    first_frame,
    header,
    make_app,
    open_dialog,
    said,
    screen_text,
    send_keys,
    settle,
    wait_until,
    worked_example,
    xor,
)
from textual.widgets import Input, Markdown, OptionList, Static

from engine.debug.breakpoints import Breakpoint
from engine.step.layout import step_layout
from engine.timeline.timeline import Frame, Timeline
from scenarios import builtin_dir
from tui.actions import ACTIONS, ActionsProvider
from tui.app import BpdbgApp
from tui.panes.chain_rule.widget import wrap
from tui.panes.graph.widget import GraphView
from tui.panes.timeline import TimelineView
from tui.screens.help import HelpScreen, key_rows
from tui.screens.notes import NotesScreen
from tui.screens.picker import PickerScreen

PROGRAMS = (worked_example, fan_out, xor, adam_example)


def pane_texts(app: BpdbgApp) -> tuple[str, ...]:
    """What every pane and the header show now: as text, and the whole styled screen.

    The screen's last line, the footer, is left out: Textual's footer rebuilds its keys
    a refresh after one is enabled or disabled, so a screenshot taken right after a key
    may catch it half-built, depending on what else refreshed in that frame.
    """
    return (
        header(app),
        app.query_one(TimelineView).snapshot_text(),
        chain(app),
        screen_text(app).rsplit("\n", 1)[0],
    )


@pytest.mark.parametrize("make", PROGRAMS)
def test_step_layout_is_the_engines_order(make) -> None:
    """The timeline labels events without computing them; the order must be the engine's."""
    program = make()
    timeline = Timeline(program)
    events = timeline.record(0).events
    assert step_layout(program.graph).events == tuple((e.phase, e.subject) for e in events)


async def test_the_first_frame_shows_the_event_whole() -> None:
    """The first screen a terminal gets already shows the header, the timeline, the
    graph's values and the chain rule with its numbers (the history's plots and the
    footer's keys follow a moment later). The chain rule is drawn in the pass that first
    lays the screen out, before the pane has been told its size."""
    text = await first_frame(make_app(worked_example()))
    assert "Worked example" in text and "step 0/20" in text and "event 0/200" in text
    assert "step  0 · forward  · z1" in text
    # The graph draws the one neuron: its weight W1 on its edge (and in the legend), z1.
    assert "W1  [0,0] 0.5" in text and "z1 0.5" in text
    assert "z1 = x·W1 + b1 = 1.0·0.5 + 0.0 = 0.5" in text


async def test_worked_example_reads_like_the_seed() -> None:
    """Step 0 with n, as the seed document tells it: z, the loss, ∂L/∂W, the update."""
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "step 0/20" in header(app) and "forward" in header(app)
        assert "event 0/200" in header(app)
        assert "z1 = x·W1 + b1 = 1.0·0.5 + 0.0 = 0.5" in chain(app)
        shown = {}
        for _ in range(9):
            await pilot.press("n")
            assert app.frame is not None
            # Wrapped lines continue indented: join them to read each formula whole.
            shown[(app.frame.phase, app.frame.event.subject)] = chain(app).replace("\n    ", " ")
        assert app.cursor == 9
        assert "(0.5 − 0.0)² = 0.25" in shown[("loss", "L")]
        assert "∂L/∂a1 = 2·(a1 − y)/n = 2·(0.5 − 0.0)/1 = 1.0" in shown[("backward", "a1")]
        assert "∂z1/∂W1 = x = 1.0" in shown[("backward", "W1")]
        assert (
            "∂L/∂W1 = ∂L/∂a1 · ∂a1/∂z1 · ∂z1/∂W1 = 1.0 · 1.0 · 1.0 = 1.0"
            in shown[("backward", "W1")]
        )
        assert "W1 ← W1 − lr·∂L/∂W1 = 0.5 − 0.1·1.0 = 0.4" in shown[("update", "W1")]
        assert "b1 ← b1 − lr·∂L/∂b1 = 0.0 − 0.1·1.0 = -0.1" in shown[("update", "b1")]
        for _ in range(9):
            await pilot.press("p")
        assert app.cursor == 0
        assert "z1 = x·W1 + b1 = 1.0·0.5 + 0.0 = 0.5" in chain(app)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_stepping_back_is_exact(size: tuple[int, int]) -> None:
    """Forward N events then back N: every pane shows exactly what it showed before."""
    app = make_app(xor())
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.cursor = 5
        await pilot.pause()
        n = 45
        before = []
        for _ in range(n):
            before.append(pane_texts(app))
            await app.run_action("next_event")
            await pilot.pause(0)
        assert app.cursor == 5 + n
        for i in reversed(range(n)):
            await app.run_action("prev_event")
            await pilot.pause(0)
            now = pane_texts(app)
            if now != before[i]:
                was, is_ = before[i][3].splitlines(), now[3].splitlines()
                diff = "\n".join(difflib.unified_diff(was, is_, lineterm=""))
                raise AssertionError(f"event {5 + i} differs after stepping back:\n{diff}")


async def test_step_keys_keep_the_place_within_the_step() -> None:
    program = xor()
    eps = program.events_per_step
    app = make_app(program)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        start = event_seq(program, "backward", "W1", 0)
        app.cursor = start
        await pilot.press("right_square_bracket")
        assert app.cursor == start + eps
        assert app.frame is not None and app.frame.step == 1
        assert (app.frame.phase, app.frame.event.subject) == ("backward", "W1")
        await pilot.press("left_square_bracket")
        assert app.cursor == start
        await pilot.press("G")
        assert app.cursor == app.timeline.computed_events - 1 == 10 * eps - 1
        assert app.check_action("next_event", ()) is None
        assert app.check_action("next_step", ()) is None
        await pilot.press("n", "right", "right_square_bracket")
        assert app.cursor == 10 * eps - 1
        await pilot.press("g")
        assert app.cursor == 0
        assert app.check_action("prev_event", ()) is None
        assert app.check_action("prev_step", ()) is None
        await pilot.press("p", "left", "left_square_bracket")
        assert app.cursor == 0
        await pilot.press("right", "right")
        assert app.cursor == 2
        await pilot.press("left")
        assert app.cursor == 1


async def test_the_collector_resumes_once_the_first_frame_is_up(monkeypatch) -> None:
    """Started by ``bpdbg`` (tui.startup), the app turns the garbage collector back on,
    after freezing what start-up made, as soon as its first frame is painted."""
    import gc

    from tui import collector

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))  # not this test process
    monkeypatch.setattr(collector, "_paused", True)
    gc.disable()
    try:
        app = make_app(worked_example())
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, gc.isenabled, "the collector to resume")
            assert frozen == [True]
    finally:
        gc.enable()


async def test_cursor_is_clamped() -> None:
    app = make_app(worked_example())
    async with app.run_test() as pilot:
        await settle(pilot)
        app.cursor = 10_000
        assert app.cursor == 199
        app.cursor = -5
        assert app.cursor == 0


async def test_play_and_pause() -> None:
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("space")
        assert app.playing
        await wait_until(pilot, lambda: app.cursor > 0, "playing to move the cursor")
        await pilot.press("space")
        assert not app.playing
        stopped_at = app.cursor
        await pilot.pause(0.2)  # several ticks' time: paused, nothing moves
        assert app.cursor == stopped_at
        # Playing stops by itself at the end.
        app.cursor = app.last - 2
        await pilot.press("space")
        await wait_until(pilot, lambda: not app.playing, "playing to stop at the end")
        assert app.cursor == app.last


async def test_play_stops_at_a_breakpoint() -> None:
    program = worked_example()
    app = make_app(program)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.breakpoints = (Breakpoint.on_node("W1"),)
        await pilot.press("space")
        await wait_until(pilot, lambda: not app.playing, "playing to stop")
        assert app.cursor == event_seq(program, "backward", "W1", 0)


async def test_breakpoint_and_continue() -> None:
    program = worked_example()
    app = make_app(program)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        graph = app.query_one(GraphView)
        graph.post_message(GraphView.NodeSelected("W1"))
        await wait_until(pilot, lambda: app.selected == "W1", "the selection message")
        await pilot.press("b")
        assert app.breakpoints == (Breakpoint.on_node("W1"),)
        assert "●" in app.query_one(TimelineView).snapshot_text()
        await pilot.press("c")
        assert app.cursor == event_seq(program, "backward", "W1", 0)
        await pilot.press("c")
        assert app.cursor == event_seq(program, "update", "W1", 0)
        await pilot.press("c")
        assert app.cursor == event_seq(program, "backward", "W1", 1)
        await pilot.press("b")  # the selection is still W1: this removes it
        assert app.breakpoints == ()
        here = app.cursor
        await pilot.press("c")
        assert app.cursor == here
        await wait_until(pilot, lambda: said(app, "No breakpoints"), "the notification")


async def test_breakpoint_defaults_to_the_events_subject_and_can_miss() -> None:
    program = worked_example()
    app = make_app(program)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        app.cursor = event_seq(program, "forward", "a1", 19)
        await pilot.press("b")
        assert app.breakpoints == (Breakpoint.on_node("a1"),)
        await pilot.press("c")
        assert app.cursor == event_seq(program, "backward", "a1", 19)
        await pilot.press("c")  # no a1 event after the last backward of a1
        assert app.cursor == event_seq(program, "backward", "a1", 19)
        await wait_until(pilot, lambda: said(app, "No breakpoint hit"), "the notification")


async def test_clicking_a_timeline_line_moves_there() -> None:
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.click(TimelineView, offset=(6, 4))  # row 4 = border + 3 lines
        await wait_until(pilot, lambda: app.cursor == 3, "the click's message")


async def test_every_action_is_bound_listed_and_in_the_palette() -> None:
    app = make_app(worked_example())
    async with app.run_test() as pilot:
        await settle(pilot)
        bound = {b.action for bs in app._bindings.key_to_bindings.values() for b in bs}
        assert {a.action for a in ACTIONS} <= bound
        help_text = "\n".join(f"{k} {t}" for k, t in key_rows())
        assert all(a.title in help_text and a.display in help_text for a in ACTIONS)
        provider = ActionsProvider(app.screen)
        titles = [hit.text async for hit in provider.discover()]
        assert titles == [a.title for a in ACTIONS]
        hits = [hit.text async for hit in provider.search("breakpoint")]
        assert "Toggle a breakpoint" in hits


async def test_palette_runs_an_action() -> None:
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        provider = ActionsProvider(app.screen)
        hit = [h async for h in provider.search("Last computed event")][0]
        await hit.command()
        await pilot.pause()
        assert app.cursor == app.last


async def test_help_and_notes() -> None:
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await open_dialog(pilot, "question_mark", HelpScreen)
        await pilot.press("n")  # the panes behind a dialog stay still
        assert app.cursor == 0
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "help to close")
        notes = await open_dialog(pilot, "d", NotesScreen)
        markdown = notes.query_one(Markdown)
        assert "One neuron" in markdown.source
        await pilot.press("d")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "the notes to close")


async def test_picker_refuses_a_bad_file_and_keeps_the_scenario(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "bad"\n[model]\ninputs = 1\n[[model.layers]]\nunits = 1\nactivation = "tanhh"\n'
    )
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.cursor = 7
        picker = await open_dialog(pilot, "o", PickerScreen)
        path = picker.query_one(Input)
        path.focus()
        path.value = str(bad)
        await pilot.press("enter")
        box = picker.query_one("#picker-error", Static)
        await wait_until(pilot, lambda: str(bad) in str(box.render()), "the picker's error")
        assert app.screen is picker
        assert "Traceback" not in str(box.render())
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "the picker to close")
        assert app.timeline.program.scenario.name == "Worked example"
        assert app.cursor == 7


async def test_a_slow_load_never_holds_up_the_picker(monkeypatch, tmp_path) -> None:
    """A file that takes its time to read (a network drive; before the engine refused
    them, a named pipe, which waits for a writer forever): the picker says it is opening
    it, keys still work, esc closes it, and the late answer changes nothing."""
    import threading

    from tui.screens import picker as picker_screen

    release = threading.Event()
    real_open = picker_screen.open_program

    def slow_open(ref, steps=None, **kwargs):
        if ref == str(good):
            release.wait(60)
        return real_open(ref, steps, **kwargs)

    good = tmp_path / "other.toml"
    good.write_text((builtin_dir() / "xor.toml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(picker_screen, "open_program", slow_open)
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        picker = await open_dialog(pilot, "o", PickerScreen)
        path = picker.query_one(Input)
        path.focus()
        path.value = str(good)
        await pilot.press("enter")
        status = picker.query_one("#picker-status", Static)
        assert status.has_class("-shown") and "Opening" in str(status.render())
        await pilot.press("x")
        await wait_until(pilot, lambda: path.value.endswith("x"), "a key typed meanwhile")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "the picker to close")
        await pilot.press("n")
        assert app.cursor == 1
        release.set()
        await pilot.pause(0.3)  # the answer, to a picker that is gone: nothing happens
        assert app.timeline.program.scenario.name == "Worked example" and app.is_running


def load_refuses_pipes() -> bool:
    """Whether the engine's loader refuses a named pipe instead of opening it (which
    waits for a writer). Tried in a daemon thread, so that a loader without the check
    cannot hang this; a blocked one is released by opening the pipe's other end."""
    import tempfile
    import threading

    from engine.errors import ScenarioError
    from engine.scenario.loader import load

    with tempfile.TemporaryDirectory() as folder:
        pipe = os.path.join(folder, "pipe.toml")
        os.mkfifo(pipe)
        refused: list[bool] = []

        def attempt() -> None:
            try:
                load(pipe)
            except ScenarioError as err:
                refused.append("regular file" in err.message)

        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        thread.join(2)
        if thread.is_alive():
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
            thread.join(5)
            return False
        return refused == [True]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
async def test_a_pipe_typed_into_the_picker_is_refused(tmp_path) -> None:
    if not load_refuses_pipes():
        pytest.skip("needs the engine's loader to refuse named pipes (issue 9, engine half)")
    pipe = tmp_path / "pipe.toml"
    os.mkfifo(pipe)
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        picker = await open_dialog(pilot, "o", PickerScreen)
        path = picker.query_one(Input)
        path.focus()
        path.value = str(pipe)
        await pilot.press("enter")
        error = picker.query_one("#picker-error", Static)
        await wait_until(pilot, lambda: error.has_class("-shown"), "the refusal")
        assert "regular file" in str(error.render())
        assert app.screen is picker and app.timeline.program.scenario.name == "Worked example"


async def test_picker_path_input_takes_every_key(tmp_path) -> None:
    """Typing a path in the picker types, whatever the app binds the keys to."""
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        picker = await open_dialog(pilot, "o", PickerScreen)
        path = picker.query_one(Input)
        path.focus()
        await pilot.press("q", "n", "p", "b", "d", "o", "g", "G", "c", "question_mark", "space")
        await wait_until(pilot, lambda: path.value == "qnpbdogGc? ", "the keys to be typed")
        assert app.screen is picker


async def test_picker_opens_a_builtin_and_resets_the_cursor() -> None:
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.breakpoints = (Breakpoint.on_node("W1"),)
        app.cursor = 15
        picker = await open_dialog(pilot, "o", PickerScreen)
        options = picker.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert "fan-out" in ids
        options.highlighted = ids.index("fan-out")
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: app.timeline.program.scenario.source == "fan-out", "fan-out to open"
        )
        await settle(pilot)
        assert app.screen is app.screen_stack[0]
        assert app.cursor == 0
        assert app.breakpoints == ()
        assert "Fan-out" in header(app)
        assert "h = w·x" in chain(app) or "h = w" in chain(app)


async def test_switching_program_replaces_the_timeline() -> None:
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.cursor = 12
        app.set_program(fan_out())
        await settle(pilot)
        assert app.cursor == 0
        assert app.timeline.program.scenario.name == "Fan-out"
        assert app.query_one(TimelineView).snapshot_text().splitlines()[0].startswith("▶")


async def test_training_ahead_shows_progress_and_keeps_the_ui_live() -> None:
    app = make_app(worked_example(steps=200_000))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0)
        for _ in range(3):
            await app.run_action("next_event")
            await pilot.pause(0)
        assert app.cursor == 3  # the keys were handled while the worker computes
        assert not app.timeline.done
        assert "computing" in header(app)
        await wait_until(pilot, lambda: app.timeline.computed_steps > 1, "training ahead")
        computed = app.timeline.computed_steps
        await pilot.press("G")
        assert app.cursor >= computed * 10 - 1
        app.set_program(worked_example())  # cancels the old run's worker
        await settle(pilot)
        assert app.timeline.done
        assert "computing" not in header(app)
        await pilot.press("G")
        assert app.cursor == 199


SIZES = [(40, 12), (80, 24), (120, 40), (200, 60)]


async def test_every_key_on_every_screen_at_every_size() -> None:
    """Nothing raises, whatever is pressed where; the app is still running afterwards."""
    keys = [k for a in ACTIONS for k in a.keys.split(",") if k != "q"]
    app = make_app(xor())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for width, height in SIZES:
            await pilot.resize_terminal(width, height)
            await pilot.pause()
            for opener in (None, "question_mark", "d", "o"):
                if opener:
                    await pilot.press(opener)
                await send_keys(pilot, *keys)  # (tests/tui/test_monkey.py does more)
                while len(app.screen_stack) > 1:
                    await pilot.press("escape")
            app.playing = False
        assert app.is_running
        await pilot.press("q")
    assert app.return_code == 0


async def test_every_theme_draws() -> None:
    """The command palette offers every theme; the ANSI ones write some colours as
    ``ansi_blue 50%``, which the graph, the plots and the inspector's tints used to fail
    to read. Every theme, with the graph, then the inspector, then the data view."""
    app = make_app(xor())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.cursor = 30

        async def every_theme() -> None:
            for theme in sorted(app.available_themes):
                app.theme = theme
                await settle(pilot)
                assert app._exception is None, theme

        await every_theme()
        await pilot.press("i")
        await wait_until(pilot, lambda: app.inspector_shown, "the inspector")
        await every_theme()
        await pilot.press("i")
        await wait_until(pilot, lambda: not app.inspector_shown, "the inspector to close")
        await pilot.press("v")
        await wait_until(pilot, lambda: app.data_shown, "the data view")
        await every_theme()
        assert app.is_running


async def test_q_quits() -> None:
    app = make_app(worked_example())
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("q")
    assert app.return_code == 0


def test_timeline_view_cost_does_not_grow_with_the_run() -> None:
    """Rendering around event 5,000,000 of a 10,000,000-event run materialises nothing."""
    program = worked_example(steps=1_000_000)
    real = Timeline(program)
    record = real.record(0)

    class Huge:
        """Just what the timeline pane reads; any attempt to compute fails the test."""

        def __init__(self) -> None:
            self.program = program
            self.total_steps = 1_000_000
            self.computed_events = 10_000_000

        def record(self, step: int):
            raise AssertionError("the timeline pane must not materialise steps")

    view = TimelineView()
    frame = Frame(5_000_000, 500_000, 0, record, program)
    view.show(frame, Huge())  # type: ignore[arg-type]
    lines = [view.line_text(seq, 40) for seq in range(5_000_000 - 20, 5_000_000 + 20)]
    assert "".join(t for t, _ in lines[20]).strip().startswith("step 500000 · forward")


def test_wrap_never_cuts_a_number() -> None:
    parts = (
        ("∂L/∂W1", "grad"),
        (" = ", ""),
        ("0.123456", "num"),
        (" · ", "op"),
        ("-1.5e-07", "num"),
        (" = ", ""),
        ("[[0.25, -0.5], [1.0, 2.0]]", "num"),
    )
    for width in range(12, 60):
        lines = wrap(parts, width)
        texts = ["".join(t for t, _ in line) for line in lines]
        assert all(len(t) <= width for t in texts)
        words = " ".join(texts).split()
        for number in ("0.123456", "-1.5e-07", "[[0.25,", "-0.5],", "[1.0,", "2.0]]"):
            assert number in words, (width, texts)


async def test_training_ahead_is_said_until_the_whole_run_is_shown_computed() -> None:
    """``training_ahead`` (what tests settle on) turns false only once the app has handled
    the news that the run is all computed: the timeline lists every event by then."""
    app = make_app(xor())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: not app.training_ahead, "training ahead to finish")
        assert app.timeline.done
        assert app.timeline_view.listed == app.timeline.total_steps * app.timeline.events_per_step
