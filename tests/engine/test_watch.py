"""Breakpoints and watchpoints: where ``c`` and reverse-continue stop.

Every expectation is computed independently, by walking the materialised events of a
run and testing them with plain numpy, then compared with :func:`find_next` from many
starting points in both directions.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

import engine.debug.search as watch
from engine.debug.breakpoints import Breakpoint, Hit, scenario_breakpoints
from engine.debug.conditions import WATCH_FUNCTIONS, Condition, valid_names
from engine.debug.errors import BreakpointError, ConditionError
from engine.debug.search import find_next
from engine.errors import ScenarioError
from engine.open import open_program
from engine.scenario.loader import load, loads
from engine.scenario.records import BreakpointSpec
from engine.step.events import Event
from engine.step.program import make_program
from engine.timeline.timeline import Timeline

BAD = Path(__file__).resolve().parent.parent / "data" / "bad_breakpoints"


def computed(sid: str, steps: int | None = None) -> Timeline:
    program = open_program(sid)
    tl = Timeline(program)
    tl.compute(steps or program.steps)
    return tl


def all_events(tl: Timeline) -> list[Event]:
    return [e for s in range(tl.computed_steps) for e in tl.record(s).events]


def subject(e: Event) -> str:
    return e.subject


def expected_next(hits: list[int], start: int) -> int | None:
    return min((h for h in hits if h > start), default=None)


def expected_prev(hits: list[int], start: int) -> int | None:
    return max((h for h in hits if h < start), default=None)


def starts(tl: Timeline, hits: list[int]) -> list[int]:
    """Starting points: the ends, every hit and its neighbours, and a spread between."""
    last = tl.computed_events - 1
    spots = {-1, 0, 1, last, last - 1, tl.computed_events}
    for h in hits:
        spots.update((h - 1, h, h + 1))
    spots.update(range(0, last, max(1, last // 40)))
    return sorted(s for s in spots if -1 <= s <= tl.computed_events)


def assert_scan_matches(tl: Timeline, bps: list[Breakpoint], hits: list[int]) -> None:
    hits = sorted(set(hits))
    for s in starts(tl, hits):
        fwd = find_next(tl, s, bps, stop_on_nonfinite=False)
        assert (fwd.seq if fwd else None) == expected_next(hits, s), f"forward from {s}"
        back = find_next(tl, s, bps, direction=-1, stop_on_nonfinite=False)
        want = expected_prev(hits, min(s, tl.computed_events)) if s >= 0 else None
        assert (back.seq if back else None) == want, f"backward from {s}"


# --- node and phase breakpoints ---------------------------------------------------------


@pytest.mark.parametrize("sid", ["xor", "worked-example-graph", "dead-relu"])
def test_node_breakpoints_stop_at_every_event_of_the_node(sid):
    tl = computed(sid, 12)
    events = all_events(tl)
    graph = tl.program.graph
    for name in (graph.params[0], graph.loss, graph.forward_order[0]):
        hits = [e.seq for e in events if subject(e) == name]
        assert hits
        assert_scan_matches(tl, [Breakpoint.on_node(name, graph)], hits)


@pytest.mark.parametrize("phase", ["forward", "loss", "backward", "update"])
def test_phase_breakpoints_stop_where_each_step_enters_the_phase(phase):
    tl = computed("xor", 10)
    events = all_events(tl)
    hits = [
        e.seq
        for i, e in enumerate(events)
        if e.phase == phase and (i == 0 or events[i - 1].phase != phase)
    ]
    assert len(hits) == 10
    assert_scan_matches(tl, [Breakpoint.on_phase(phase)], hits)


def test_several_breakpoints_union_and_first_in_list_wins_a_tie():
    tl = computed("xor", 8)
    events = all_events(tl)
    bps = [Breakpoint.on_node("W2"), Breakpoint.on_phase("update"), Breakpoint.on_node("z1")]
    hits = [
        e.seq
        for i, e in enumerate(events)
        if subject(e) in ("W2", "z1") or (e.phase == "update" and events[i - 1].phase != "update")
    ]
    assert_scan_matches(tl, bps, hits)
    # W1's update opens the update phase: the phase breakpoint comes first in the list.
    both = [Breakpoint.on_phase("update"), Breakpoint.on_node("W1")]
    w1_backward = tl.record(0).grad_at["W1"]
    hit = find_next(tl, w1_backward, both)
    assert hit is not None and hit.breakpoint == both[0] and hit.seq == w1_backward + 1
    assert hit.reason == "breakpoint on the update phase (W1)"
    hit = find_next(tl, w1_backward, both[::-1])
    assert hit is not None and hit.breakpoint == both[1] and hit.seq == w1_backward + 1
    assert hit.reason == "breakpoint on W1 (update)"


def test_disabled_breakpoints_never_hit():
    tl = computed("xor", 5)
    off = Breakpoint.on_node("W1").toggled()
    assert not off.enabled and off.toggled().enabled
    assert find_next(tl, -1, [off]) is None
    assert find_next(tl, tl.computed_events, [off], direction=-1) is None


def test_node_and_phase_scans_compute_nothing(monkeypatch):
    """Hits of node and phase breakpoints come from positions alone: no step is run."""
    tl = computed("xor", 600)
    b1_update = tl.record(0).update_at["b1"]

    def refuse(*args, **kwargs):
        raise AssertionError("a node/phase scan must not run or materialise a step")

    monkeypatch.setattr(tl, "record", refuse)
    monkeypatch.setattr(watch, "run_step", refuse)
    E = tl.events_per_step
    bps = [Breakpoint.on_node("b1"), Breakpoint.on_phase("loss")]
    loss_pos = len(tl.program.graph.forward_order)
    hit = find_next(tl, 500 * E + E - 1, bps, stop_on_nonfinite=False)
    assert hit is not None and hit.seq == 501 * E + loss_pos
    hit = find_next(tl, 599 * E, bps, direction=-1, stop_on_nonfinite=False)
    assert hit is not None and hit.seq == 598 * E + b1_update  # the last b1 event of a step
    assert find_next(tl, 599 * E + E - 1, bps, stop_on_nonfinite=False) is None


def test_unknown_node_and_phase_are_refused_with_the_choices():
    graph = open_program("xor").graph
    with pytest.raises(BreakpointError, match="no node or parameter named 'W9'; expected one of"):
        Breakpoint.on_node("W9", graph)
    with pytest.raises(BreakpointError, match="'x' is an input with no events"):
        Breakpoint.on_node("x", graph)
    with pytest.raises(BreakpointError, match="unknown phase 'updates'; expected one of"):
        Breakpoint.on_phase("updates")
    with pytest.raises(BreakpointError, match="unknown breakpoint kind"):
        Breakpoint("line", "3")


# --- watchpoints --------------------------------------------------------------------------


def norm(a) -> float:
    return float(np.sqrt(np.sum(np.square(np.asarray(a, dtype=float)))))


def loss_seq(tl: Timeline, step: int) -> int:
    return step * tl.events_per_step + len(tl.program.graph.forward_order)


def test_norm_of_grad_stops_at_backward_and_update_events():
    tl = computed("dead-relu", 30)
    expected = [
        e.seq for e in all_events(tl) if e.phase in ("backward", "update") and norm(e.grad) > 10
    ]
    assert expected and expected[0] < tl.events_per_step
    assert_scan_matches(tl, [Breakpoint.when("norm(grad) > 10", tl.program.graph)], expected)


def test_a_search_is_not_cut_short_by_training_ahead_beside_it():
    """Training ahead in another thread can compute the very steps a forward search was
    about to compute; the search must carry on, not report "no hit to the end"."""

    class Racing(Timeline):
        """Another thread gets a step done between any two looks at the frontier."""

        @property
        def computed_steps(self) -> int:
            if self._head_step < self.total_steps:
                Timeline.compute(self, 1)
            return self._head_step

    program = open_program("diverging-lr")
    tl = Racing(program)
    hit = find_next(
        tl,
        -1,
        [Breakpoint.when("isnan(value)", program.graph)],
        compute=True,
        stop_on_nonfinite=False,
    )
    assert hit is not None and hit.seq == 40 * tl.events_per_step


def test_isnan_of_value_finds_the_first_nan_value():
    tl = computed("diverging-lr")
    expected = [
        e.seq
        for e in all_events(tl)
        if (e.phase == "forward" and np.isnan(e.value).any())
        or (e.phase == "loss" and math.isnan(e.value))
    ]
    assert expected[0] == 40 * tl.events_per_step  # z1 of step 40, after W1 became NaN
    assert_scan_matches(tl, [Breakpoint.when("isnan(value)", tl.program.graph)], expected)


@pytest.mark.parametrize("sid", ["diverging-lr", "ravine-momentum"])
def test_loss_above_previous_loss_stops_once_per_rising_step(sid):
    tl = computed(sid, 60)
    losses = tl.losses()
    with np.errstate(invalid="ignore"):
        rising = [s for s in range(1, len(losses)) if losses[s] > losses[s - 1]]
    assert rising
    hits = [loss_seq(tl, s) for s in rising]
    assert_scan_matches(tl, [Breakpoint.when("loss > prev_loss", tl.program.graph)], hits)


@pytest.mark.parametrize("sid", ["diverging-lr", "dead-relu"])
def test_sign_flip_of_a_weight_stops_at_that_update(sid):
    tl = computed(sid, 45)
    with np.errstate(invalid="ignore"):
        expected = [
            e.seq
            for e in all_events(tl)
            if e.phase == "update"
            and e.param == "W1"
            and np.any(np.sign(e.after) != np.sign(e.before))
        ]
    assert expected
    bp = Breakpoint.when("sign(W1) != sign(prev_W1)", tl.program.graph)
    assert_scan_matches(tl, [bp], expected)


def test_dead_relu_fraction_stops_at_the_activation_event():
    tl = computed("dead-relu", 40)
    expected = [
        e.seq
        for e in all_events(tl)
        if e.phase == "forward" and e.node == "a1" and np.mean(e.value <= 0) > 0.5
    ]
    assert expected[0] == tl.events_per_step + 1  # a1 of step 1
    assert_scan_matches(tl, [Breakpoint.when("mean(a1 <= 0) > 0.5", tl.program.graph)], expected)


def test_watchpoints_mixed_with_node_breakpoints():
    tl = computed("dead-relu", 25)
    events = all_events(tl)
    bps = [Breakpoint.when("loss > prev_loss", tl.program.graph), Breakpoint.on_node("b2")]
    losses = tl.losses()
    hits = [loss_seq(tl, s) for s in range(1, 25) if losses[s] > losses[s - 1]]
    hits += [e.seq for e in events if subject(e) == "b2"]
    assert_scan_matches(tl, bps, hits)


def test_scans_across_many_steps_and_backward_blocks():
    tl = computed("xor", 300)
    E = tl.events_per_step
    bp = Breakpoint.when("step == 3 or step == 250", tl.program.graph)
    assert find_next(tl, 4 * E, [bp]).seq == 250 * E
    assert find_next(tl, 250 * E, [bp], direction=-1).seq == 3 * E
    assert find_next(tl, 299 * E, [bp], direction=-1).seq == 250 * E
    assert find_next(tl, 4 * E, [bp], limit_steps=100) is None
    assert find_next(tl, 250 * E, [bp], direction=-1, limit_steps=100) is None
    assert find_next(tl, 250 * E, [bp], direction=-1, limit_steps=247).seq == 3 * E


def test_a_scan_can_be_cancelled():
    tl = computed("xor", 200)
    bp = Breakpoint.when("step == 150", tl.program.graph)
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 5

    assert find_next(tl, 0, [bp], cancelled=cancelled) is None
    assert len(calls) == 6


def test_a_scan_only_sees_computed_steps_unless_asked_to_compute():
    program = open_program("xor")
    tl = Timeline(program)
    tl.compute(10)
    bp = Breakpoint.when("step == 40", program.graph)
    assert find_next(tl, 0, [bp]) is None and tl.computed_steps == 10
    hit = find_next(tl, 0, [bp], compute=True)
    assert hit is not None and hit.seq == 40 * tl.events_per_step
    assert 41 <= tl.computed_steps <= 42
    labels = find_next(tl, 0, [Breakpoint.on_node("W1")], compute=True)
    assert labels is not None and labels.seq < tl.events_per_step


# --- names: what each means at an event -----------------------------------------------------


def value_at(tl: Timeline, text: str, seq: int):
    return Condition.compile(text, tl.program.graph).evaluate(tl.frame(seq), tl)


def test_prev_param_is_the_value_before_the_most_recent_update():
    tl = computed("xor", 6)
    E = tl.events_per_step
    w1_update = E - 4  # W1 b1 W2 b2 update last, in that order
    start = {s: tl.start_of(s)[0]["W1"] for s in range(5)}
    # Before W1's update in step 3: the change made by step 2's update.
    for pos in (0, 5, w1_update - 1):
        got = value_at(tl, "W1 - prev_W1", 3 * E + pos)
        np.testing.assert_array_equal(got, start[3] - start[2])
    # From the update on: the change made just now.
    for pos in (w1_update, E - 1):
        got = value_at(tl, "W1 - prev_W1", 3 * E + pos)
        np.testing.assert_array_equal(got, start[4] - start[3])
    assert value_at(tl, "prev_W1", 0) is None  # undefined in step 0 before the update
    np.testing.assert_array_equal(value_at(tl, "prev_W1", w1_update), start[0])


def test_loss_prev_loss_step_and_grad_names():
    tl = computed("xor", 4)
    E = tl.events_per_step
    losses = tl.losses()
    loss_pos = len(tl.program.graph.forward_order)
    assert value_at(tl, "loss", 2 * E) == losses[1]  # before the loss event: last step's
    assert value_at(tl, "loss", 2 * E + loss_pos) == losses[2]
    assert value_at(tl, "prev_loss", 2 * E) == losses[1]
    assert math.isnan(value_at(tl, "prev_loss", 0))
    assert value_at(tl, "loss", 0) is None
    assert value_at(tl, "step", 3 * E + 5) == 3
    rec = tl.record(2)
    z1_grad = rec.grad_at["z1"]
    assert value_at(tl, "norm(grad_z1)", 2 * E + z1_grad - 1) is None
    assert value_at(tl, "norm(grad_z1)", 2 * E + z1_grad) == pytest.approx(
        norm(rec.result.grads["z1"])
    )
    # value and grad belong to their events' phases.
    assert value_at(tl, "value", 2 * E + rec.grad_at["L"]) is None
    assert value_at(tl, "grad", 2 * E) is None
    np.testing.assert_array_equal(value_at(tl, "value", 2 * E + 1), rec.result.values["a1"])
    # A node is known once its forward event has happened.
    assert value_at(tl, "a2", 2 * E) is None
    np.testing.assert_array_equal(value_at(tl, "a2", 2 * E + 3), rec.result.values["a2"])


def test_unknown_parts_make_a_condition_false_but_or_can_still_be_true():
    tl = computed("xor", 2)
    graph = tl.program.graph
    backward = tl.frame(tl.record(0).grad_at["z1"])
    assert not Condition.compile("isnan(value)", graph).holds(backward, tl)
    assert not Condition.compile("not isnan(value)", graph).holds(backward, tl)
    assert Condition.compile("isnan(value) or norm(grad) > 0", graph).holds(backward, tl)
    assert not Condition.compile("isnan(value) or norm(grad) < 0", graph).holds(backward, tl)
    assert not Condition.compile("isfinite(value) and norm(grad) > 0", graph).holds(backward, tl)


def test_arrays_are_true_when_any_element_is_and_errors_are_false():
    tl = computed("xor", 1)
    graph = tl.program.graph
    frame = tl.frame(tl.events_per_step - 1)
    assert Condition.compile("W1 > 0", graph).holds(frame, tl)  # some positive, some not
    assert not Condition.compile("all(W1 > 0)", graph).holds(frame, tl)
    assert Condition.compile("count(W1 > 0) == 2", graph).holds(frame, tl)
    assert not Condition.compile("sum(z1 @ x) > 0", graph).holds(frame, tl)  # shapes misfit
    same = Condition.compile("all(x @ W1 + b1 == z1)", graph)
    assert same.holds(tl.frame(1), tl)
    assert not same.holds(frame, tl)  # W1 and b1 have been updated by now


def test_every_watch_function_evaluates():
    tl = computed("xor", 1)
    graph = tl.program.graph
    frame = tl.frame(tl.events_per_step - 1)
    for fn in WATCH_FUNCTIONS:
        arg = "z1" if fn not in ("log", "sqrt") else "a2"
        value = Condition.compile(f"{fn}({arg})", graph).evaluate(frame, tl)
        assert value is not None and np.all(np.isfinite(value)), fn


def test_watchpoints_are_checked_only_where_their_names_change():
    graph = open_program("xor").graph
    E = 4 + 1 + 9 + 4
    assert Condition.compile("loss > prev_loss", graph).triggers == (4,)
    assert Condition.compile("mean(a1 <= 0) > 0.5", graph).triggers == (1,)
    assert Condition.compile("sign(W1) != sign(prev_W1)", graph).triggers == (E - 4,)
    assert Condition.compile("isnan(value)", graph).triggers == (0, 1, 2, 3, 4)
    assert Condition.compile("norm(grad) > 10", graph).triggers == tuple(range(5, E))
    assert Condition.compile("step == 3", graph).triggers == (0,)
    assert Condition.compile("1 > 0", graph).triggers is None


def test_find_next_agrees_with_evaluating_each_frame():
    """The fast scan and :meth:`Condition.holds` on frames are two paths to one answer."""
    tl = computed("dead-relu", 12)
    graph = tl.program.graph
    for text in ("norm(grad_W1) > 5 or loss < 1", "any(W2 > 0) and step > 2", "max(abs(b1)) > 1.5"):
        cond = Condition.compile(text, graph)
        expected = [
            e.seq
            for e in all_events(tl)
            if cond.checked_at(e.seq % tl.events_per_step) and cond.holds(tl.frame(e.seq), tl)
        ]
        assert expected, text
        assert_scan_matches(tl, [Breakpoint.when(text, graph)], expected)


# --- refusing bad conditions ----------------------------------------------------------------


BAD_CONDITIONS = [
    ("__import__('os')", 1, "unknown function '__import__'"),
    ("__import__('os').system('touch PWNED')", 1, "only calls of plain function names"),
    ("x.y", 1, "attribute access is not allowed"),
    ("foo(1)", 1, "unknown function 'foo'; expected one of"),
    ("1 +", 4, "ends before the expression is complete"),
    ("norm(grad) > zz", 14, "unknown name 'zz'; names you can use: value, grad, loss"),
    ("prev_x > 0", 1, "'prev_' works for parameters only"),
    ("grad_x > 0", 1, "'grad_' works for nodes and parameters"),
    ("a1[0] > 0", 1, "a subscript is not allowed"),
    ("loss if 1 else 2", 1, "a conditional expression is not allowed"),
    ("(lambda: 1)()", 1, "only calls of plain function names"),
    ("'nan' == value", 1, "only numbers are allowed"),
    ("norm(grad, 2)", 1, "takes exactly one argument"),
    ("W1 ** W2", 7, "** needs a numeric literal exponent"),
    ("", 0, "the expression is empty"),
    ("x" * 2001, 0, "above the limit of 2,000"),
]


@pytest.mark.parametrize(("text", "column", "message"), BAD_CONDITIONS)
def test_bad_conditions_are_refused_with_column_and_reason(
    text, column, message, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # PWNED would appear here if anything were executed
    graph = open_program("xor").graph
    with pytest.raises(ConditionError) as caught:
        Breakpoint.when(text, graph)
    assert message in str(caught.value)
    assert caught.value.column == column
    if column:
        assert str(caught.value).endswith(f"(column {column})")
    assert not (tmp_path / "PWNED").exists()


def test_unknown_name_message_lists_the_valid_names():
    graph = open_program("xor").graph
    names = valid_names(graph)
    for name in ("value", "grad", "loss", "prev_loss", "step", "x", "y", "W1", "a2", "L"):
        assert name in names
    assert "prev_W2" in names and "grad_z1" in names and "grad_x" not in names
    with pytest.raises(ConditionError) as caught:
        Condition.compile("nrm > 1", graph)
    assert ", ".join(names) in str(caught.value)


def test_watch_module_never_executes_text():
    """No eval, exec, compile-the-builtin or __import__ anywhere in the modules."""
    debug = sorted(Path(watch.__file__).parent.glob("*.py"))
    assert len(debug) >= 4  # conditions, breakpoints, search, errors
    for module in (*debug, watch.first_nonfinite_event.__code__.co_filename):
        source = Path(module).read_text()
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("eval", "exec", "compile", "__import__", "getattr")
            if isinstance(node, ast.Name):
                assert node.id not in ("eval", "exec", "__builtins__", "builtins")
        assert "eval(" not in source.replace("evaluate(", "")
        assert "exec(" not in source


# --- the non-finite diagnostic in find_next -------------------------------------------------


def test_continue_stops_at_the_first_nonfinite_event_by_default():
    tl = computed("diverging-lr")
    first = (192, "the loss L is inf")
    assert watch.first_nonfinite_event(tl) == first
    hit = find_next(tl, -1, [])
    assert hit == Hit(192, None, "first non-finite number: the loss L is inf") and hit.nonfinite
    assert find_next(tl, 191, []).seq == 192
    assert find_next(tl, 192, []) is None  # already passed
    assert find_next(tl, -1, [], stop_on_nonfinite=False) is None
    assert find_next(tl, tl.computed_events, [], direction=-1).seq == 192
    assert find_next(tl, 192, [], direction=-1) is None
    # A breakpoint before it wins; one at the same event wins the tie.
    w1 = Breakpoint.on_node("W1")
    assert find_next(tl, -1, [w1]).breakpoint == w1
    on_loss = Breakpoint.on_node("L")
    tie = find_next(tl, 185, [on_loss])
    assert tie.seq == 192 and tie.breakpoint == on_loss
    # With a watchpoint the diagnostic still comes first, and the watchpoint next.
    nan_w1 = scenario_breakpoints(tl.program)
    assert [b.target for b in nan_w1] == ["isnan(W1)"]
    assert find_next(tl, -1, nan_w1).seq == 192
    assert find_next(tl, 192, nan_w1).seq == 398
    assert find_next(tl, 398, nan_w1, direction=-1).seq == 192


def test_continue_with_compute_finds_the_first_nonfinite_event():
    program = open_program("diverging-lr")
    tl = Timeline(program)
    hit = find_next(tl, -1, [], compute=True)
    assert hit is not None and hit.seq == 192
    tl2 = Timeline(program)
    nan_w1 = scenario_breakpoints(program)
    assert find_next(tl2, -1, nan_w1, compute=True).seq == 192
    tl3 = Timeline(program)
    assert find_next(tl3, -1, nan_w1, compute=True, stop_on_nonfinite=False).seq == 398


# --- [[breakpoints]] in scenario files --------------------------------------------------------


def test_scenario_breakpoints_load_and_compile():
    text = """
name = "t"
[graph]
inputs = { x = 2.0 }
params = { W = 0.5, b = 0.0 }
nodes = ["z = W * x + b", "L = square(z)"]
[optimizer]
kind = "sgd"
lr = 0.1
[[breakpoints]]
node = "W"
[[breakpoints]]
phase = "update"
enabled = false
[[breakpoints]]
when = "  norm(grad) > 10  "
"""
    scenario = loads(text, "t.toml")
    assert scenario.breakpoints == (
        BreakpointSpec("node", "W"),
        BreakpointSpec("phase", "update", enabled=False),
        BreakpointSpec("condition", "norm(grad) > 10"),
    )
    bps = scenario_breakpoints(make_program(scenario))
    assert bps == (
        Breakpoint("node", "W"),
        Breakpoint("phase", "update", enabled=False),
        Breakpoint("condition", "norm(grad) > 10"),
    )
    assert bps[2].condition is not None and bps[2].condition.names == ("grad",)


def test_scenarios_without_breakpoints_have_none():
    assert open_program("xor").scenario.breakpoints == ()
    assert scenario_breakpoints(open_program("xor")) == ()


# (file stem, checked by the loader (1) or against the graph (2), place, message parts)
BAD_FILES: list[tuple[str, int, str, tuple[str, ...]]] = [
    (
        "unknown_phase",
        1,
        "breakpoints[0].phase",
        ("unknown phase 'updates'; expected one of forward, loss, backward, update",),
    ),
    ("phase_not_string", 1, "breakpoints[0].phase", ("expected a phase name", "found 1 (integer)")),
    (
        "unknown_key",
        1,
        "breakpoints[0].line",
        ("unknown key 'line'; allowed keys are node, phase, when, enabled",),
    ),
    (
        "two_kinds",
        1,
        "breakpoints[0].phase",
        ("found both node and phase", "exactly one of node, phase or when"),
    ),
    ("no_kind", 1, "breakpoints[0]", ("expected exactly one of node, phase or when", "found none")),
    ("enabled_not_bool", 1, "breakpoints[0].enabled", ("expected true or false, found 'yes'",)),
    ("node_not_string", 1, "breakpoints[0].node", ("found 3 (integer)",)),
    ("node_bad_name", 1, "breakpoints[0].node", ("such as W1 or a1, found 'W b'",)),
    ("when_not_string", 1, "breakpoints[0].when", ("expected a condition as a string",)),
    ("when_empty", 1, "breakpoints[0].when", ("found an empty string",)),
    ("not_array", 1, "breakpoints", ("expected an array of tables ([[breakpoints]])",)),
    ("entry_not_table", 1, "breakpoints[0]", ("expected a table", "found 'W' (string)")),
    ("too_many", 1, "breakpoints", ("found 65 breakpoints, above the limit of 64",)),
    (
        "unknown_node",
        2,
        "breakpoints[1].node",
        ("no node or parameter named 'W9'; expected one of: W, b, z, L",),
    ),
    ("input_node", 2, "breakpoints[0].node", ("'x' is an input with no events",)),
    ("condition_code", 2, "breakpoints[0].when", ("only calls of plain function names",)),
    (
        "condition_attribute",
        2,
        "breakpoints[0].when",
        ('"W.real > 0"', "attribute access is not allowed", "(column 1)"),
    ),
    (
        "condition_unknown_name",
        2,
        "breakpoints[1].when",
        ("unknown name 'gradW'", "names you can use: value, grad, loss", "(column 6)"),
    ),
    ("condition_syntax", 2, "breakpoints[0].when", ("ends before the expression is complete",)),
]


def test_every_bad_breakpoint_file_has_a_case():
    assert {p.stem for p in BAD.glob("*.toml")} == {case[0] for case in BAD_FILES}


@pytest.mark.parametrize(
    ("stem", "stage", "place", "parts"), BAD_FILES, ids=[c[0] for c in BAD_FILES]
)
def test_bad_breakpoint_file_is_refused(stem, stage, place, parts, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = BAD / f"{stem}.toml"
    with pytest.raises(ScenarioError) as caught:
        scenario = load(path)
        assert stage == 2, "the loader should have refused this file"
        scenario_breakpoints(make_program(scenario))
    err = caught.value
    assert err.file == str(path) and err.place == place
    for part in parts:
        assert part in err.message, err.message
    assert str(err).startswith(f"{path}: {place}: ")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("sid", ["diverging-lr", "dead-relu", "vanishing-sigmoid"])
def test_new_builtins_compile_their_breakpoints(sid):
    program = open_program(sid)
    for bp in scenario_breakpoints(program):
        assert bp.enabled and bp.kind == "condition"
