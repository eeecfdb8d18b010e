"""The derivation of every event, for people: the worked example's numbers exactly, and
every kind of event, op, optimizer and graph shape explained without error."""

from __future__ import annotations

import re

import msgspec
import pytest

import scenarios
from engine import fmt
from engine.report.explain import KINDS, ROLES, Line, explain
from engine.scenario.loader import loads
from engine.scenario.records import optimizer_spec
from engine.step.program import Program, make_program
from engine.timeline.timeline import Frame, Timeline

WORKED_EXAMPLE = """
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
"""

XOR = """
name = "XOR"
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
[data]
x = [[0, 0], [0, 1], [1, 0], [1, 1]]
y = [[0], [1], [1], [0]]
[loss]
kind = "bce"
[optimizer]
kind = "adam"
lr = 0.01
[train]
steps = 3
"""


def program_of(text: str) -> Program:
    return make_program(loads(text, "test.toml"))


def graph_program(
    nodes: list[str], params: str, inputs: str = "{}", optimizer: str = 'kind = "sgd"\nlr = 0.1'
) -> Program:
    lines = ",\n".join(f'  "{n}"' for n in nodes)
    return program_of(
        f'name = "g"\n[graph]\ninputs = {inputs}\nparams = {params}\nnodes = [\n{lines}\n]\n'
        f"[optimizer]\n{optimizer}\n[train]\nsteps = 3\n"
    )


def frames(program: Program, step: int = 0) -> list[Frame]:
    timeline = Timeline(program)
    rec = timeline.record(step)
    return [timeline.frame(rec.seq0 + i) for i in range(len(rec.events))]


def lines_for(program: Program, phase: str, subject: str, step: int = 0) -> list[Line]:
    for f in frames(program, step):
        if f.phase == phase and f.event.subject == subject:
            return explain(f)
    raise AssertionError(f"no {phase} event for {subject}")


def texts(lines: list[Line], kind: str | None = None) -> list[str]:
    return [ln.text for ln in lines if kind is None or ln.kind == kind]


# --- the worked example, exactly ---------------------------------------------------------


@pytest.fixture(scope="module")
def worked() -> Program:
    return program_of(WORKED_EXAMPLE)


def test_worked_example_events_have_the_seed_documents_numbers(worked):
    events = {(e.phase, e.subject): e for e in Timeline(worked).record(0).events}
    assert events[("loss", "L")].value == 0.25
    assert events[("backward", "z1")].grad.tolist() == [[1.0]]
    assert events[("backward", "W1")].grad.tolist() == [[1.0]]
    assert events[("update", "W1")].after.tolist() == [[0.4]]


def test_worked_example_forward(worked):
    lines = lines_for(worked, "forward", "z1")
    assert lines[0].kind == "title"
    assert texts(lines, "formula") == ["z1 = x·W1 + b1 = 1.0·0.5 + 0.0 = 0.5"]
    assert texts(lines_for(worked, "forward", "a1"), "formula") == ["a1 = z1 = 0.5"]


def test_worked_example_loss(worked):
    lines = lines_for(worked, "loss", "L")
    assert texts(lines, "formula") == ["L = mean((a1 − y)²) = (0.5 − 0.0)² = 0.25"]
    assert any(t.startswith("mse:") for t in texts(lines, "note"))


def test_worked_example_backward(worked):
    """Textbook order: the loss's derivative as its own formula (no ∂L/∂L · ∂L/∂a1), each
    local derivative before the product it enters, and no product stated twice."""
    assert texts(lines_for(worked, "backward", "L"), "formula") == ["∂L/∂L = 1"]
    assert texts(lines_for(worked, "backward", "a1"), "formula") == [
        "∂L/∂a1 = 2·(a1 − y)/n = 2·(0.5 − 0.0)/1 = 1.0",
    ]
    z1 = lines_for(worked, "backward", "z1")
    assert texts(z1, "formula") == [
        "∂a1/∂z1 = 1",
        "∂L/∂z1 via a1 = ∂L/∂a1 · ∂a1/∂z1 = 1.0 · 1.0 = 1.0",
    ]
    assert texts(z1, "path") == []  # the product above is the whole path
    w1 = lines_for(worked, "backward", "W1")
    assert texts(w1, "formula") == [
        "∂z1/∂W1 = x = 1.0",
        "∂L/∂W1 via z1 = ∂L/∂z1 · ∂z1/∂W1 = 1.0 · 1.0 = 1.0",
    ]
    assert texts(w1, "path") == ["∂L/∂W1 = ∂L/∂a1 · ∂a1/∂z1 · ∂z1/∂W1 = 1.0 · 1.0 · 1.0 = 1.0"]


def test_worked_example_update(worked):
    assert texts(lines_for(worked, "update", "W1"), "formula") == [
        "W1 ← W1 − lr·∂L/∂W1 = 0.5 − 0.1·1.0 = 0.4"
    ]
    assert texts(lines_for(worked, "update", "b1"), "formula") == [
        "b1 ← b1 − lr·∂L/∂b1 = 0.0 − 0.1·1.0 = -0.1"
    ]
    # Step 1 starts from the updated values.
    assert texts(lines_for(worked, "forward", "z1", step=1), "formula") == [
        "z1 = x·W1 + b1 = 1.0·0.4 + (-0.1) = 0.3"
    ]


def test_lines_are_well_formed(worked):
    for f in frames(worked):
        lines = explain(f)
        assert lines[0].kind == "title"
        assert lines[1].kind != "note"  # the derivation comes straight after the title
        for ln in lines:
            assert ln.kind in KINDS
            assert ln.text == "".join(t for t, _ in ln.parts)
            assert all(role in ROLES and text for text, role in ln.parts)


def test_roles_mark_params_numbers_and_gradients(worked):
    (line,) = [ln for ln in lines_for(worked, "update", "W1") if ln.kind == "formula"]
    roles = dict(line.parts)
    assert roles["W1"] == "param"
    assert roles["0.4"] == "num"
    assert ("∂L/∂W1", "grad") in line.parts
    z1 = next(ln for ln in lines_for(worked, "forward", "z1") if ln.kind == "formula")
    assert ("z1", "name") in z1.parts


# --- expression graphs ---------------------------------------------------------------------


def test_sub_expressions_are_called_by_short_names_and_expanded_in_formulas():
    program = graph_program(
        ["z = W * x + b", "L = (z - y) ** 2"], "{ W = 0.5, b = 0.0 }", "{ x = 1.0, y = 0.0 }"
    )
    # A named node's formula reads as the file wrote it, sub-expressions expanded.
    assert texts(lines_for(program, "forward", "z"), "formula") == [
        "z = W·x + b = 0.5·1.0 + 0.0 = 0.5"
    ]
    # A sub-expression (t1 = W * x) is called by its short name, and defined where it is
    # computed.
    assert texts(lines_for(program, "forward", "t1"), "formula") == ["t1 = W·x = 0.5·1.0 = 0.5"]
    assert texts(lines_for(program, "loss", "L"), "formula") == [
        "L = (z − y)² = (0.5 − 0.0)² = 0.25"
    ]
    w = lines_for(program, "backward", "W")
    assert texts(w, "formula") == [
        "∂t1/∂W = x = 1.0",
        "∂L/∂W via t1 = ∂L/∂t1 · ∂t1/∂W = 1.0 · 1.0 = 1.0",
    ]
    assert texts(w, "path") == [
        "∂L/∂W = ∂L/∂t2 · ∂t2/∂z · ∂z/∂t1 · ∂t1/∂W = 1.0 · 1.0 · 1.0 · 1.0 = 1.0"
    ]
    # Every short name an event uses is defined in a note, in graph order.
    assert texts(w, "note") == ["t1 = W·x", "t2 = z − y"]
    t2 = lines_for(program, "backward", "t2")
    assert texts(t2, "formula") == ["∂L/∂t2 = 2·t2 = 2·0.5 = 1.0"]
    assert texts(t2, "note") == ["t2 = z − y"]
    # The forward of a sub-expression defines it already: no note repeats it.
    assert "t1 = W·x" not in texts(lines_for(program, "forward", "t1"), "note")


def test_a_negative_local_derivative_is_a_number_with_an_ascii_minus():
    program = graph_program(["d = w - u", "L = d * d"], "{ w = 0.5, u = 0.25 }", "{}")
    lines = lines_for(program, "backward", "u")
    assert "∂d/∂u = -1" in texts(lines, "formula")


def test_fan_out_sums_its_terms_and_lists_both_paths():
    program = graph_program(
        ["h = w * x", "s = sigmoid(h)", "q = h * s", "L = (q - y) ** 2"],
        "{ w = 0.5 }",
        "{ x = 2.0, y = 1.0 }",
    )
    ev = next(f.event for f in frames(program) if f.phase == "backward" and f.event.subject == "h")
    lines = lines_for(program, "backward", "h")
    (total,) = texts(lines, "sum")
    parts = [fmt.num(t.value) for t in ev.terms]
    assert total == f"∂L/∂h = {parts[0]} + ({parts[1]}) = {fmt.num(ev.grad)}"
    assert len(texts(lines, "path")) == 2
    assert texts(lines, "path")[0].startswith("path 1: ")
    assert "h reaches L along 2 paths; the gradient is their sum" in texts(lines, "note")
    # The local derivative of the sigmoid, with numbers.
    assert "∂s/∂h = σ(h)·(1 − σ(h)) = σ(1.0)·(1 − σ(1.0)) = 0.196612" in texts(lines)


def test_path_numbers_are_the_events_local_derivatives_and_negatives_are_parenthesised():
    program = graph_program(
        ["h = w * x", "L = (h - y) ** 2"], "{ w = -0.5 }", "{ x = -2.0, y = 3.0 }"
    )
    (path,) = texts(lines_for(program, "backward", "w"), "path")
    # ∂L/∂(h − y) = 2·(1 − 3) = -4; ∂(h − y)/∂h = 1; ∂h/∂w = x = -2.
    assert path.endswith("= -4.0 · 1.0 · (-2.0) = 8.0")


def test_many_paths_are_capped_with_a_count():
    nodes = ["a0 = w * x"]
    for i in range(4):  # each diamond doubles the paths: 16 in all
        nodes += [f"b{i} = sin(a{i})", f"c{i} = cos(a{i})", f"a{i + 1} = b{i} + c{i}"]
    nodes.append("L = a4 * a4")
    program = graph_program(nodes, "{ w = 0.3 }", "{ x = 1.0 }")
    lines = next(
        explain(f) for f in frames(program) if f.event.subject == "w" and f.phase == "backward"
    )
    assert len(texts(lines, "path")) == 8
    assert "… and 8 more paths" in texts(lines, "note")
    lines = explain(
        next(f for f in frames(program) if f.phase == "backward" and f.event.subject == "w"),
        max_paths=3,
    )
    assert len(texts(lines, "path")) == 3


def test_a_node_named_like_a_placeholder_is_still_a_name():
    # "g" is also the upstream placeholder of the op table's texts.
    program = graph_program(["g = tanh(w)", "f = exp(g)", "L = f * f"], "{ w = 1.0 }")
    assert "∂f/∂g = exp(g) = exp(0.761594) = 2.14169" in texts(lines_for(program, "backward", "g"))


def test_a_parameter_that_does_not_reach_the_loss():
    program = graph_program(["L = w * w"], "{ w = 1.0, u = 2.0 }")
    lines = lines_for(program, "backward", "u")
    assert texts(lines, "formula") == ["∂L/∂u = 0.0"]
    assert "no path leads from u to L: changing it cannot change the loss" in texts(lines, "note")


def test_pow_exponents_read_naturally():
    program = graph_program(["r = sqrt(w) ** -1", "L = r ** 0.5"], "{ w = 4.0 }")
    assert texts(lines_for(program, "forward", "r"), "formula") == ["r = (√w)⁻¹ = (√4.0)⁻¹ = 0.5"]
    assert texts(lines_for(program, "loss", "L"), "formula")[0] == "L = r^0.5 = 0.5^0.5 = 0.707107"


# --- tensors -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xor() -> Program:
    return program_of(XOR)


def test_tensor_forward_shows_shapes_and_the_value(xor):
    lines = lines_for(xor, "forward", "z1")
    assert texts(lines, "formula") == [
        "z1 = x @ W1 + b1 = [[0.0, 0.0], [0.3, 0.4], [0.1, -0.2], [0.4, 0.2]]"
    ]
    assert texts(lines, "matrix") == ["(4×2) @ (2×2) + (2) → (4×2)"]


def test_tensor_backward_uses_the_matrix_form(xor):
    ev = next(f.event for f in frames(xor) if f.phase == "backward" and f.event.subject == "W1")
    lines = lines_for(xor, "backward", "W1")
    assert texts(lines, "formula") == [f"∂L/∂W1 via z1 = xᵀ · ∂L/∂z1 = {fmt.tensor(ev.grad)}"]
    assert texts(lines, "matrix") == ["(2×4) · (4×2) → (2×2)"]
    b1 = lines_for(xor, "backward", "b1")
    assert texts(b1, "matrix") == ["Σ_rows (4×2) → (2)"]
    z1 = texts(lines_for(xor, "backward", "z1"), "formula")
    assert z1[0].startswith("∂a1/∂z1 = 1 − tanh²(z1) = [[")
    assert z1[1].startswith("∂L/∂z1 via a1 = ∂L/∂a1 ⊙ ∂a1/∂z1 = [[")


def test_tensor_backward_shows_its_operands_and_one_element_in_words(xor):
    """The chain-rule pane for tensors: the operands' numbers, the matrix form in plain
    words, one element written out with the x values, and where to see every element."""
    f = next(f for f in frames(xor) if f.phase == "backward" and f.event.subject == "W1")
    lines = explain(f)
    x, gz = f.record.result.values["x"], f.record.result.grads["z1"]
    assert f"x = {fmt.tensor(x)}" in texts(lines, "state")
    assert f"∂L/∂z1 = {fmt.tensor(gz)}" in texts(lines, "state")
    notes = texts(lines, "note")
    assert "each entry of ∂L/∂W1 sums, over the 4 samples, input × upstream gradient" in notes[0]
    example = f"for example ∂L/∂W1[0,0] = Σₙ x[n,0]·∂L/∂z1[n,0] = {fmt.num(x[0, 0])}·"
    assert any(n.startswith(example) for n in notes)
    assert any(n.endswith(f" = {fmt.num(f.event.grad[0, 0])}") for n in notes)
    assert texts(lines, "hint") == [
        "press i (the inspector) for every element, each written out like this"
    ]
    assert not any("with tensors, each factor" in n for n in notes)


def test_adam_update_with_tensors(xor):
    lines = lines_for(xor, "update", "W1")
    formulas = texts(lines, "formula")
    # From g through the buffers to the new value.
    assert formulas[-1].startswith("W1 ← W1 − lr·m̂/(√v̂ + ε) = [[")
    assert [f.split(" = ")[0] for f in formulas[:-1]] == [
        "g",
        "m ← β₁·m + (1−β₁)·g",
        "v ← β₂·v + (1−β₂)·g²",
        "m̂",
        "v̂",
    ]
    assert "t = 1, β₁ = 0.9, β₂ = 0.999, ε = 1e-08" in texts(lines, "state")


def test_large_tensors_are_summarised():
    program = make_program(
        loads((scenarios.builtin_dir() / "spiral-mlp.toml").read_text(encoding="utf-8"), "spiral")
    )
    lines = lines_for(program, "backward", "W2")
    assert re.fullmatch(
        r"∂L/∂W2 via z2 = a1ᵀ · ∂L/∂z2 = \(64×64\) ‖·‖=\S+ range \[\S+, \S+\]",
        texts(lines, "formula")[0],
    )


# --- optimizers with numbers -------------------------------------------------------------------


def test_momentum_update_numbers_come_from_the_events():
    program = graph_program(
        ["L = w * w"], "{ w = 1.0 }", optimizer='kind = "momentum"\nlr = 0.1\nmomentum = 0.9'
    )
    first = texts(lines_for(program, "update", "w", step=0), "formula")
    assert first == ["g = ∂L/∂w = 2.0", "buf ← g = 2.0", "w ← w − lr·buf = 1.0 − 0.1·2.0 = 0.8"]
    second = texts(lines_for(program, "update", "w", step=1), "formula")
    # g = 2·0.8 = 1.6; buf = 0.9·2.0 + 1.6 = 3.4; w = 0.8 − 0.34 = 0.46
    assert second == [
        "g = ∂L/∂w = 1.6",
        "buf ← μ·buf + g = 0.9·2.0 + 1.6 = 3.4",
        "w ← w − lr·buf = 0.8 − 0.1·3.4 = 0.46",
    ]


def test_adam_update_numbers_come_from_the_events():
    program = graph_program(["L = w * w"], "{ w = 1.0 }", optimizer='kind = "adam"\nlr = 0.1')
    ev = next(f.event for f in frames(program) if f.phase == "update")
    formulas = texts(lines_for(program, "update", "w"), "formula")
    assert formulas == [
        "g = ∂L/∂w = 2.0",
        "m ← β₁·m + (1−β₁)·g = 0.9·0.0 + 0.1·2.0 = 0.2",
        "v ← β₂·v + (1−β₂)·g² = 0.999·0.0 + 0.001·2.0² = 0.004",
        "m̂ = m/(1−β₁ᵗ) = 0.2/0.1 = 2.0",
        "v̂ = v/(1−β₂ᵗ) = 0.004/0.001 = 4.0",
        f"w ← w − lr·m̂/(√v̂ + ε) = 1.0 − 0.1·2.0/(√4.0 + 1e-08) = {fmt.num(ev.after)}",
    ]
    assert fmt.num(ev.state["m"]) == "0.2" and fmt.num(ev.state["v"]) == "0.004"


# --- losses and odd numbers ----------------------------------------------------------------------


def test_cross_entropy_loss_is_named():
    program = make_program(
        loads((scenarios.builtin_dir() / "softmax-3class.toml").read_text(encoding="utf-8"), "s")
    )
    lines = lines_for(program, "loss", "L")
    assert texts(lines, "formula")[0].startswith("L = mean(−log softmax(z2)[y]) = ")
    assert texts(lines, "note")[0].startswith("cross_entropy: softmax of the logits z2")


def test_non_finite_values_are_explained_not_raised():
    program = graph_program(["L = log(w) * w"], "{ w = -1.0 }")
    for f in frames(program):
        explain(f)
    assert texts(lines_for(program, "loss", "L"), "formula") == [
        "L = log(w)·w = log(-1.0)·(-1.0) = nan"
    ]


@pytest.mark.parametrize("ident", scenarios.builtin_ids())
def test_every_event_of_every_builtin_is_explained(ident):
    program = make_program(
        loads(
            (scenarios.builtin_dir() / f"{ident}.toml").read_text(encoding="utf-8"),
            ident,
            folder=str(scenarios.builtin_dir()),
        )
    )
    for f in frames(program, step=1):
        lines = explain(f)
        assert lines[0].kind == "title"
        assert len(lines) >= 2
        assert all(ln.text for ln in lines)


def test_the_update_note_counts_updates_only_for_rules_that_use_the_count(xor):
    """t (the update count) is named where the rule depends on it: bias corrections, a
    decaying rate, momentum's first step; not for SGD with weight decay or RMSprop."""
    for spec, counted in (
        (optimizer_spec("sgd", 0.1, weight_decay=0.1), False),
        (optimizer_spec("rmsprop", 0.01), False),
        (optimizer_spec("adagrad", 0.1, lr_decay=0.1), True),
        (optimizer_spec("adamw", 0.01), True),
        (optimizer_spec("momentum", 0.1, dampening=0.5), True),
    ):
        program = make_program(msgspec.structs.replace(xor.scenario, optimizer=spec))
        notes = texts(lines_for(program, "update", "W1", step=1), "note")
        assert any("Computed as torch.optim's" in n for n in notes), spec.kind
        assert any(n.startswith("t = 2 counts the updates") for n in notes) == counted, spec.kind
