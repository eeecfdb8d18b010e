"""Snapshots of the graph pane: the whole graph at 120×40 and at 80×24.

Each test's docstring says what its SVG must show; each also checks, before the
screenshot, that every node's and parameter's name is in the pane. The built-ins are run
for 20 steps (their own length only changes the header's step count and the history).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import msgspec
from snapshot_apps import event_seq, make_app, settle
from textual.pilot import Pilot

from engine.open import open_program
from engine.step.program import Program
from tui.app import BpdbgApp

BIG = (120, 40)
SMALL = (80, 24)


def builtin(name: str, steps: int = 20) -> Program:
    program = open_program(name)
    train = msgspec.structs.replace(program.scenario.train, steps=steps)
    scenario = msgspec.structs.replace(program.scenario, train=train)
    return msgspec.structs.replace(program, scenario=scenario)


def graph_text(app: BpdbgApp) -> str:
    view = app.graph_view
    return "\n".join("".join(s.text for s in view.render_line(y)) for y in range(view.size.height))


def at(
    phase: str, subject: str, *, zoom_to: str | None = None, whole: bool = True
) -> Callable[[Pilot], Awaitable[None]]:
    """Go to the event, zoom until the pane shows ``zoom_to``'s view if asked, and check
    that the whole graph is on screen (when it is not zoomed)."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, BpdbgApp)
        app.cursor = event_seq(app.timeline.program, phase, subject)
        await pilot.pause()
        if zoom_to is not None:
            for _ in range(20):
                if app.graph_view.plan.view == zoom_to:
                    break
                await pilot.press("z")
            assert app.graph_view.plan.view == zoom_to
        await pilot.pause()
        if whole:
            words = set(re.findall(r"\w+", graph_text(app)))
            graph = app.timeline.program.graph
            missing = [n.name for n in graph.nodes if n.kind != "const" and n.name not in words]
            assert not missing, missing

    return run_before


def test_xor_neurons_forward(snap_compare) -> None:
    """XOR at the forward event of z1, neuron by neuron: inputs x[0] x[1], two tanh units,
    one sigmoid unit; each unit's b1 z1 a1 lines (z1 filled in, marked ▶ on a highlighted
    line), the four W1 edges blue where positive and red where negative with 0.8 -0.2 0.2
    -0.9 on them, their arrowheads into layer 1 in the forward colour, the W2 edges with
    0.7 0.8, y and L above the output unit, and the legend line
    `W1  [0,0] 0.8  [0,1] -0.2  [1,0] 0.2  [1,1] -0.9`."""
    app = make_app(builtin("xor"))
    assert snap_compare(app, terminal_size=BIG, run_before=at("forward", "z1"))


def test_xor_neurons_backward_of_w1(snap_compare) -> None:
    """XOR at the backward event of W1: the band's title reads `▶ ∂L/∂W1`, W1's edges carry
    ∂L/∂W1 (0.00358946, 0.00038898, -0.0540592, -0.0192366) in the gradient colour, the
    legend line lists them with their indices, and every unit shows its gradients."""
    app = make_app(builtin("xor"))
    assert snap_compare(app, terminal_size=BIG, run_before=at("backward", "W1"))


def test_xor_small_forward(snap_compare) -> None:
    """80×24, XOR at the forward event of z1: the pane is too small for the neurons, so
    the graph is a list in two columns, x W1 b1 z1 a1 W2 b2 z2 a2 y L with one number
    each, z1 marked ▶ and its inputs' names in the forward colour."""
    app = make_app(builtin("xor"))
    assert snap_compare(app, terminal_size=SMALL, run_before=at("forward", "z1"))


def test_xor_small_zoomed_into_neurons_at_w1(snap_compare) -> None:
    """80×24, XOR at the backward event of W1, zoomed (z) into the neuron view: the part of
    it around ▶ ∂L/∂W1, with the gradients on W1's edges, and the subtitle
    `zoomed · ⇧arrows pan · Z overview`."""
    app = make_app(builtin("xor"))
    run_before = at("backward", "W1", zoom_to="neurons", whole=False)
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


def test_spiral_mlp(snap_compare) -> None:
    """The 2-64-64-3 spiral network at the backward event of W2, top to bottom: x and y,
    then each layer's W b z a with the norm of each tensor (∂ and the gradient's norm
    once the backward pass has it), W2 marked ▶, and the loss."""
    app = make_app(builtin("spiral-mlp"))
    assert snap_compare(app, terminal_size=BIG, run_before=at("backward", "W2"))


def test_spiral_mlp_small(snap_compare) -> None:
    """80×24, the spiral network at the backward event of W2: a list in two columns with
    every node and parameter of the three layers, W2 marked ▶."""
    app = make_app(builtin("spiral-mlp"))
    assert snap_compare(app, terminal_size=SMALL, run_before=at("backward", "W2"))


def test_vanishing_sigmoid(snap_compare) -> None:
    """Nine sigmoid layers at the loss event: a list in columns with every node and
    parameter (x, W1 b1 z1 a1 … W9 b9 z9 a9, y, L), the loss marked ▶ and its inputs'
    names in the forward colour."""
    app = make_app(builtin("vanishing-sigmoid"))
    assert snap_compare(app, terminal_size=BIG, run_before=at("loss", "L"))


def test_vanishing_sigmoid_small(snap_compare) -> None:
    """80×24, nine sigmoid layers at the loss event: one line a layer
    (`layer 1 · W1 b1 z1 a1` … `layer 9 · W9 b9 z9 a9`), x, y and L, in two columns."""
    app = make_app(builtin("vanishing-sigmoid"))
    assert snap_compare(app, terminal_size=SMALL, run_before=at("loss", "L"))


def test_fan_out(snap_compare) -> None:
    """Fan-out's first backward event of h, top to bottom: w and x into h, h into s and q,
    q and y into t1 = q - y, t1 into L; h marked ▶ with ∂ and its gradient, the two edges
    leaving h (to s and to q) in the gradient colour. Its numbers can be told apart
    (w = 0.4, so h = 0.8 and s = 0.689974): the chain-rule pane reads
    `∂L/∂h = -0.153337 + (-0.618245) = -0.771583`, `∂q/∂h = s = 0.689974`, and path 1
    `-0.896041 · 1.0 · 0.8 · 0.21391` (the 1.0 is ∂t1/∂q of the subtraction)."""
    app = make_app(builtin("fan-out"))
    assert snap_compare(app, terminal_size=BIG, run_before=at("backward", "h"))


def test_fan_out_small(snap_compare) -> None:
    """80×24, fan-out at the backward event of h: a list with formulas (h = w · x,
    t1 = q − y, L = t1²), each node's value and gradient, h marked ▶."""
    app = make_app(builtin("fan-out"))
    assert snap_compare(app, terminal_size=SMALL, run_before=at("backward", "h"))


def test_chain(snap_compare) -> None:
    """The chain w·x → tanh → exp → t1 = f - t → L, top to bottom, at the backward event of
    w: every gradient known down to w, which is marked ▶."""
    app = make_app(builtin("chain"))
    assert snap_compare(app, terminal_size=BIG, run_before=at("backward", "w"))


def test_chain_small(snap_compare) -> None:
    """80×24, the chain at the backward event of w: a list with formulas, values and
    gradients, w marked ▶."""
    app = make_app(builtin("chain"))
    assert snap_compare(app, terminal_size=SMALL, run_before=at("backward", "w"))
