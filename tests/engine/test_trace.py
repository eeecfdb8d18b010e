"""``bpdbg trace`` writers: JSON Lines exactly per SPEC §3 (golden files, bit-exact round
trip), the text trace, Markdown, and streaming one step at a time.

Golden files live in ``tests/golden/``. After a deliberate change to the trace, rewrite
them with ``BPDBG_REGEN_GOLDEN=1 pytest tests/engine/test_trace.py`` and read the diff.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import msgspec
import numpy as np
import pytest

from engine.open import open_program
from engine.report import trace
from engine.scenario.loader import loads
from engine.step.events import Backward, Forward, Loss, Update
from engine.step.program import Program, make_program
from engine.timeline.timeline import Timeline

GOLDEN = Path(__file__).parent.parent / "golden"
REGEN = os.environ.get("BPDBG_REGEN_GOLDEN") == "1"

SCENARIOS = {
    "worked-example": """
name = "Worked example"
[model]
inputs = 1
[[model.layers]]
units = 1
activation = "identity"
weight = [[0.5]]
bias = [0.0]
[data]
x = [[1.0]]
y = [[0.0]]
[loss]
kind = "mse"
[optimizer]
kind = "sgd"
lr = 0.1
[train]
steps = 3
""",
    "xor-adam": """
name = "XOR with adam"
[model]
inputs = 2
[[model.layers]]
units = 2
activation = "tanh"
weight = [[0.1, -0.2], [0.3, 0.4]]
[[model.layers]]
units = 1
activation = "sigmoid"
weight = [[0.5], [-0.5]]
bias = [0.1]
[data]
x = [[0, 0], [0, 1], [1, 0], [1, 1]]
y = [[0], [1], [1], [0]]
[loss]
kind = "bce"
[optimizer]
kind = "adam"
lr = 0.01
[train]
steps = 2
batch_size = 3
""",
    "fan-out-momentum": """
name = "Fan-out with momentum"
[graph]
inputs = { x = 2.0, y = 1.0 }
params = { w = 0.5, v = [1.0, -2.0] }
nodes = [
  "h = w * x",
  "s = sigmoid(h)",
  "q = h * s + sum(v * h)",
  "L = (q - y) ** 2",
]
[optimizer]
kind = "momentum"
lr = 0.05
momentum = 0.9
[train]
steps = 2
""",
    "non-finite": """
name = "Logs of negatives"
[graph]
params = { w = -1.0, u = 0.0 }
nodes = ["L = log(w) + 1 / u"]
[optimizer]
kind = "sgd"
lr = 0.1
[train]
steps = 1
""",
}


def program(name: str) -> Program:
    return make_program(loads(SCENARIOS[name], f"{name}.toml"))


def jsonl_lines(name: str) -> list[str]:
    return list(trace.jsonl(Timeline(program(name))))


def check_golden(path: Path, lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text


# --- JSON Lines ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_jsonl_matches_golden(name):
    check_golden(GOLDEN / f"{name}.jsonl", jsonl_lines(name))


def test_text_matches_golden():
    check_golden(
        GOLDEN / "worked-example.txt", list(trace.text(Timeline(program("worked-example"))))
    )


FIELDS = {
    "forward": ["seq", "step", "phase", "node", "op", "inputs", "value"],
    "loss": ["seq", "step", "phase", "node", "value"],
    "backward": ["seq", "step", "phase", "node", "grad", "terms"],
    "update": ["seq", "step", "phase", "param", "before", "grad", "after", "state"],
}


def _floats(v) -> np.ndarray:
    """A JSON value back to float64, the strings "nan"/"inf"/"-inf" included."""
    if isinstance(v, list):
        return np.array([_floats(e) for e in v], dtype=np.float64)
    return np.array(float(v), dtype=np.float64)


def _same_bits(parsed, array: np.ndarray) -> bool:
    """Whether the parsed trace values are the array's, as the trace promises.

    Every number, -0.0 and ±inf included, comes back bit for bit; a NaN comes back as a
    NaN. The trace writes every NaN as the string ``"nan"``: JSON has no NaN, so its sign
    and payload are not carried (and they differ between machines: ``log(-1)`` gives a
    negative NaN on some CPUs, a positive one on others).
    """
    a = np.array(array, dtype=np.float64, order="C")  # ascontiguousarray would make 0-d 1-d
    b = _floats(parsed)
    if a.shape != b.shape:
        return False
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        return False
    return a[~nan_a].tobytes() == b[~nan_b].tobytes()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_jsonl_round_trips_bit_exactly(name):
    prog = program(name)
    timeline = Timeline(prog)
    lines = list(trace.jsonl(timeline))
    events = [e for s in range(prog.steps) for e in timeline.record(s).events]
    assert len(lines) == len(events) == prog.steps * prog.events_per_step
    for i, (line, ev) in enumerate(zip(lines, events, strict=True)):
        assert "NaN" not in line and "Infinity" not in line  # strict JSON only
        obj = json.loads(line)
        assert list(obj) == FIELDS[obj["phase"]]
        assert (obj["seq"], obj["step"], obj["phase"]) == (i, ev.step, ev.phase)
        if isinstance(ev, Forward):
            assert (obj["node"], obj["op"], obj["inputs"]) == (ev.node, ev.op, list(ev.inputs))
            assert _same_bits(obj["value"], ev.value)
        elif isinstance(ev, Loss):
            assert obj["node"] == ev.node
            assert isinstance(obj["value"], float | str)
            assert _same_bits(obj["value"], np.array(ev.value))
        elif isinstance(ev, Backward):
            assert obj["node"] == ev.node
            assert _same_bits(obj["grad"], ev.grad)
            assert len(obj["terms"]) == len(ev.terms)
            for t, term in zip(obj["terms"], ev.terms, strict=True):
                assert list(t) == ["via", "upstream", "local", "value"]
                assert t["via"] == term.via
                assert _same_bits(t["upstream"], term.upstream)
                assert _same_bits(t["value"], term.value)
                if term.local is None:
                    assert t["local"] is None
                else:
                    assert _same_bits(t["local"], term.local)
        else:
            assert isinstance(ev, Update)
            assert obj["param"] == ev.param
            for key in ("before", "grad", "after"):
                assert _same_bits(obj[key], getattr(ev, key))
            assert sorted(obj["state"]) == sorted(ev.state)
            for key, buf in ev.state.items():
                assert _same_bits(obj["state"][key], buf)


def test_jsonl_event_order_and_one_backward_per_parameter_per_step():
    prog = program("xor-adam")
    objs = [json.loads(line) for line in jsonl_lines("xor-adam")]
    order = ["forward", "loss", "backward", "update"]
    for step in range(prog.steps):
        mine = [o for o in objs if o["step"] == step]
        phases = [o["phase"] for o in mine]
        assert phases == sorted(phases, key=order.index)
        assert phases.count("loss") == 1
        backward = [o["node"] for o in mine if o["phase"] == "backward"]
        assert backward[0] == "L"
        for p in prog.graph.params:
            assert backward.count(p) == 1
        assert [o["param"] for o in mine if o["phase"] == "update"] == list(prog.graph.params)


def test_jsonl_worked_example_numbers():
    objs = [json.loads(line) for line in jsonl_lines("worked-example")]
    step0 = {(o["phase"], o.get("node") or o.get("param")): o for o in objs if o["step"] == 0}
    assert step0[("loss", "L")]["value"] == 0.25
    assert step0[("backward", "L")] == {
        "seq": 3,
        "step": 0,
        "phase": "backward",
        "node": "L",
        "grad": 1.0,
        "terms": [],
    }
    assert step0[("backward", "z1")]["grad"] == [[1.0]]
    assert step0[("backward", "W1")]["terms"] == [
        {"via": "z1", "upstream": [[1.0]], "local": [[1.0]], "value": [[1.0]]}
    ]
    assert step0[("update", "W1")] == {
        "seq": 8,
        "step": 0,
        "phase": "update",
        "param": "W1",
        "before": [[0.5]],
        "grad": [[1.0]],
        "after": [[0.4]],
        "state": {},
    }


def test_jsonl_null_local_for_a_full_jacobian():
    objs = [json.loads(line) for line in jsonl_lines("xor-adam")]
    w1 = next(o for o in objs if o["phase"] == "backward" and o["node"] == "W1")
    assert w1["terms"][0]["local"] is None
    update = next(o for o in objs if o["phase"] == "update")
    assert sorted(update["state"]) == ["m", "v"]


def test_jsonl_non_finite_numbers_are_strings():
    objs = [json.loads(line) for line in jsonl_lines("non-finite")]
    loss = next(o for o in objs if o["phase"] == "loss")
    assert loss["value"] == "nan"  # log(-1) + 1/0 = nan + inf
    forward = {o["node"]: o["value"] for o in objs if o["phase"] == "forward"}
    # Sub-expressions are called by their short names: t1 = log(w), t2 = 1 / u.
    assert forward["t1"] == "nan"
    assert forward["t2"] == "inf"
    u = next(o for o in objs if o["phase"] == "update" and o["param"] == "u")
    assert u["grad"] == "-inf"


def test_json_value_keeps_repr_precision():
    x = 0.1 + 0.2
    assert trace.json_value(np.array(x)) == x
    assert json.dumps(trace.json_value(np.array([x, -0.0, 1e-310]))) == (
        "[0.30000000000000004, -0.0, 1e-310]"
    )
    assert trace.json_value(np.array([[math.nan, math.inf], [-math.inf, 1.0]])) == [
        ["nan", "inf"],
        ["-inf", 1.0],
    ]


# --- text and Markdown ----------------------------------------------------------------------


def test_text_one_line_per_event():
    prog = program("xor-adam")
    lines = list(trace.text(Timeline(prog)))
    heads = [ln for ln in lines if not ln.startswith(trace.INDENT)]
    assert len(heads) == prog.steps * prog.events_per_step
    assert all(h.startswith(("step 0 · ", "step 1 · ")) for h in heads)
    assert heads[0].startswith("step 0 · forward · z1 = x @ W1 + b1 = ")
    assert any(h.startswith("step 0 · update · W1 ← W1 − lr·m̂/(√v̂ + ε) = ") for h in heads)


def test_text_worked_example_step_zero():
    lines = list(trace.text(Timeline(program("worked-example")), 1))
    heads = [ln for ln in lines if not ln.startswith(trace.INDENT)]
    assert heads == [
        "step 0 · forward · z1 = x·W1 + b1 = 1.0·0.5 + 0.0 = 0.5",
        "step 0 · forward · a1 = z1 = 0.5",
        "step 0 · loss · L = mean((a1 − y)²) = (0.5 − 0.0)² = 0.25",
        "step 0 · backward · ∂L/∂L = 1",
        "step 0 · backward · ∂L/∂a1 = 2·(a1 − y)/n = 2·(0.5 − 0.0)/1 = 1.0",
        "step 0 · backward · ∂L/∂z1 via a1 = ∂L/∂a1 · ∂a1/∂z1 = 1.0 · 1.0 = 1.0",
        "step 0 · backward · ∂L/∂b1 via z1 = ∂L/∂z1 · ∂z1/∂b1 = 1.0 · 1.0 = 1.0",
        "step 0 · backward · ∂L/∂W1 via z1 = ∂L/∂z1 · ∂z1/∂W1 = 1.0 · 1.0 = 1.0",
        "step 0 · update · W1 ← W1 − lr·∂L/∂W1 = 0.5 − 0.1·1.0 = 0.4",
        "step 0 · update · b1 ← b1 − lr·∂L/∂b1 = 0.0 − 0.1·1.0 = -0.1",
    ]
    assert "    ∂L/∂W1 = ∂L/∂a1 · ∂a1/∂z1 · ∂z1/∂W1 = 1.0 · 1.0 · 1.0 = 1.0" in lines


def test_text_writes_each_note_once():
    lines = list(trace.text(Timeline(program("worked-example"))))
    seed = [ln for ln in lines if "the seed of backpropagation" in ln]
    assert len(seed) == 1


def test_traces_leave_out_the_apps_keys():
    """The chain-rule pane's pointer to the inspector (a key) is no use on paper."""
    tl = Timeline(open_program("xor"))
    for lines in (trace.text(tl, 1), trace.markdown(tl, 1)):
        written = "\n".join(lines)
        assert "for example ∂L/∂W1[0,0]" in written  # the element the pane writes out…
        assert "press i" not in written  # …without the key that shows the rest


def test_markdown_has_headings_and_balanced_code_blocks():
    lines = list(trace.markdown(Timeline(program("worked-example")), 2))
    assert lines[0] == "# Worked example"
    assert "## Step 0 (loss 0.25)" in lines
    assert "## Step 1 (loss 0.09)" in lines
    for heading in ("### Forward pass", "### Loss", "### Backward pass", "### Update"):
        assert lines.count(heading) == 2
    assert lines.count("```text") == lines.count("```") == 2 * 10
    assert "W1 ← W1 − lr·∂L/∂W1 = 0.5 − 0.1·1.0 = 0.4" in lines
    assert "**Backward: ∂L/∂W1**" in lines


# --- streaming ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(trace.WRITERS))
def test_writers_stream_one_step_at_a_time(fmt):
    text = SCENARIOS["worked-example"].replace("steps = 3", "steps = 100000")
    timeline = Timeline(make_program(loads(text, "long.toml")))
    first = next(iter(trace.WRITERS[fmt](timeline, None)))
    assert first
    assert timeline.computed_steps <= 1


def test_steps_limits_the_trace():
    timeline = Timeline(program("worked-example"))
    assert len(list(trace.jsonl(timeline, 1))) == 10
    assert len(list(trace.jsonl(timeline, 99))) == 30  # never past the run's length


def test_json_values_carry_every_float64_but_a_nans_sign():
    """The promise in the README: numbers bit for bit, ±inf exactly, NaN as NaN."""
    special = [
        -0.0,
        0.0,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        -1.7976931348623157e308,
        0.1,
        1 / 3,
        math.inf,
        -math.inf,
    ]
    negative_nan = np.frombuffer(b"\x00\x00\x00\x00\x00\x00\xf8\xff", dtype=np.float64)[0]
    values = np.array(special + [np.nan, negative_nan], dtype=np.float64)
    parsed = json.loads(json.dumps(trace.json_value(values)))
    assert parsed[-2:] == ["nan", "nan"]
    back = _floats(parsed)
    assert back[:-2].tobytes() == values[:-2].tobytes()
    assert np.isnan(back[-2:]).all()
    # and the comparison the round-trip test uses really looks at the bits
    assert not _same_bits([0.0], np.array([-0.0]))
    assert _same_bits(["nan"], np.array([negative_nan]))


# --- the fast writer against the plain definition -------------------------------------------


def reference_lines(prog: Program) -> list[str]:
    """Every event of the run as :func:`trace.event_json` defines its line."""
    timeline = Timeline(prog)
    return [
        json.dumps(trace.event_json(ev), separators=(",", ":"), allow_nan=False)
        for step in range(prog.steps)
        for ev in timeline.record(step).events
    ]


@pytest.mark.parametrize("ref", ["xor", "softmax-3class", "diverging-lr", "fan-out"])
def test_jsonl_is_the_plain_definition_for_built_ins(ref):
    prog = open_program(ref)
    prog = msgspec.structs.replace(
        prog,
        scenario=msgspec.structs.replace(
            prog.scenario, train=msgspec.structs.replace(prog.scenario.train, steps=40)
        ),
    )
    assert list(trace.jsonl(Timeline(prog))) == reference_lines(prog)


# --- filters ------------------------------------------------------------------------------------


def subject(obj: dict) -> str:
    return obj.get("node") or obj["param"]


KEEPS = [
    trace.Keep(phases=frozenset({"update"}), nodes=frozenset({"W1"})),
    trace.Keep(phases=frozenset({"loss"})),
    trace.Keep(phases=frozenset({"forward", "update"})),  # no step is recorded
    trace.Keep(nodes=frozenset({"a1", "b2"})),
    trace.Keep(phases=frozenset({"backward"}), every=3),
    trace.Keep(every=2),
]


@pytest.mark.parametrize("keep", KEEPS, ids=repr)
def test_a_filtered_trace_is_the_unfiltered_ones_lines(keep):
    """The same lines, byte for byte, whether a step was recorded or run on the fast path;
    `seq` keeps its unfiltered value."""
    prog = open_program("xor")
    prog = msgspec.structs.replace(
        prog,
        scenario=msgspec.structs.replace(
            prog.scenario, train=msgspec.structs.replace(prog.scenario.train, steps=7)
        ),
    )
    everything = reference_lines(prog)
    expected = []
    for line in everything:
        obj = json.loads(line)
        if keep.keeps_step(obj["step"]) and keep.keeps(obj["phase"], subject(obj)):
            expected.append(line)
    got = list(trace.jsonl(Timeline(prog), None, keep))
    assert got == expected
    assert got  # every filter above keeps something


def test_update_of_one_parameter():
    prog = program("xor-adam")
    keep = trace.Keep(phases=frozenset({"update"}), nodes=frozenset({"W1"}))
    objs = [json.loads(line) for line in trace.jsonl(Timeline(prog), None, keep)]
    eps = prog.events_per_step
    pos = len(prog.graph.forward_order) + 1 + len(prog.graph.backward_order)
    assert [(o["phase"], o["param"], o["seq"]) for o in objs] == [
        ("update", "W1", step * eps + pos) for step in range(prog.steps)
    ]


def test_loss_only_records_no_step(monkeypatch):
    """`--phase loss` runs the fast path only: no events are built."""
    import engine.report.trace as module

    recorded = []
    real = module.run_step

    def spy(*args, **kwargs):
        recorded.append(kwargs.get("record", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "run_step", spy)
    keep = trace.Keep(phases=frozenset({"loss", "forward", "update"}))
    lines = list(trace.jsonl(Timeline(program("xor-adam")), None, keep))
    assert lines and recorded and not any(recorded)


def test_node_filter_keeps_loss_events_unless_the_phase_drops_them():
    prog = program("worked-example")
    objs = [
        json.loads(line)
        for line in trace.jsonl(Timeline(prog), None, trace.Keep(nodes=frozenset({"z1"})))
    ]
    assert {(o["phase"], subject(o)) for o in objs} == {
        ("forward", "z1"),
        ("loss", "L"),
        ("backward", "z1"),
    }
    keep = trace.Keep(phases=frozenset({"backward"}), nodes=frozenset({"z1"}))
    assert {json.loads(line)["phase"] for line in trace.jsonl(Timeline(prog), None, keep)} == {
        "backward"
    }


def test_unknown_nodes_are_refused_with_the_known_ones():
    prog = program("worked-example")
    trace.check_keep(prog, trace.Keep(nodes=frozenset({"W1", "L"})))
    with pytest.raises(ValueError) as err:
        trace.check_keep(prog, trace.Keep(nodes=frozenset({"W9", "x"})))
    assert str(err.value) == (
        "no node or parameter 'W9'; 'x' is an input: no event is about it; "
        "the nodes and parameters with events are: W1, b1, z1, a1, L"
    )


def test_text_and_markdown_filtered():
    prog = program("worked-example")
    keep = trace.Keep(phases=frozenset({"update"}), nodes=frozenset({"W1"}), every=2)
    heads = [ln for ln in trace.text(Timeline(prog), None, keep) if not ln.startswith(" ")]
    assert heads == [
        "step 0 · update · W1 ← W1 − lr·∂L/∂W1 = 0.5 − 0.1·1.0 = 0.4",
        "step 2 · update · W1 ← W1 − lr·∂L/∂W1 = 0.34 − 0.1·0.36 = 0.304",
    ]
    md = list(trace.markdown(Timeline(prog), None, keep))
    assert [ln for ln in md if ln.startswith("#")] == [
        "# Worked example",
        "## Step 0 (loss 0.25)",
        "### Update",
        "## Step 2 (loss 0.0324)",
        "### Update",
    ]


# --- the first non-finite number ------------------------------------------------------------

OVERFLOW = """
name = "Overflow"
[graph]
params = { w = 1e200 }
nodes = ["z = w * w", "L = sum(z)"]
[optimizer]
kind = "sgd"
lr = 0.1
[train]
steps = 2
"""


def test_text_says_where_and_why_the_first_non_finite_number_appears():
    """One line, under the first event holding a NaN or inf, says what holds it and why
    it appeared there (here w·w overflows float64); later non-finite events add none."""
    lines = list(trace.text(Timeline(make_program(loads(OVERFLOW, "overflow.toml")))))
    marked = [i for i, ln in enumerate(lines) if "first non-finite number" in ln]
    assert len(marked) == 1
    line = lines[marked[0]]
    assert line.startswith(trace.INDENT + "✖ first non-finite number: z is inf.")
    assert "Everything it is computed from is finite, the largest 1e+200 (in w)" in line
    assert "too large for a float64" in line
    # It belongs to the forward event of z, the first one with an inf, in step 0.
    event = max(i for i in range(marked[0]) if not lines[i].startswith(trace.INDENT))
    assert lines[event].startswith("step 0 · forward · z = w·w = ")


def test_text_names_an_undefined_operation_as_the_cause_of_a_nan():
    lines = list(trace.text(Timeline(program("non-finite"))))
    marked = [ln for ln in lines if "first non-finite number" in ln]
    assert len(marked) == 1
    assert "NaN comes from an undefined operation" in marked[0]


def test_text_of_a_finite_run_has_no_non_finite_line():
    assert not any("non-finite" in ln for ln in trace.text(Timeline(program("xor-adam"))))


def test_nonfinite_cause_of_an_event_that_inherits_an_inf():
    """An event computed from a value that is already infinite says so, by name."""
    from engine.report.diagnose import nonfinite_cause

    timeline = Timeline(make_program(loads(OVERFLOW, "overflow.toml")))
    rec = timeline.record(0)
    loss_seq = rec.seq0 + rec.loss_at
    assert nonfinite_cause(timeline.frame(loss_seq)) == (
        "It is computed from z, which already holds a NaN or inf."
    )
