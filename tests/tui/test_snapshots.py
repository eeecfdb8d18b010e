"""Snapshot tests: what the app looks like, one small scenario each.

Each test's docstring says what its SVG must show. Update with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at every changed SVG
before accepting it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from snapshot_apps import (
    adam_example,
    fan_out,
    goto,
    make_app,
    open_dialog,
    settle,
    wait_until,
    worked_example,
    xor,
)
from textual.pilot import Pilot
from textual.widgets import Input

from tui.screens.help import HelpScreen
from tui.screens.picker import PickerScreen

BIG = (120, 40)
PICKER_FOLDER = "bpdbg-snapshot-folder"
"""The working folder of the picker's snapshots, in a home folder of the test's own: the
picker shows it as ``~/bpdbg-snapshot-folder``, the same on every machine, and suites
running side by side on one machine each have their own."""


@pytest.fixture
def picker_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """:data:`PICKER_FOLDER` under a fresh home folder, holding a folder with a scenario
    file in it, as the working folder."""
    home = tmp_path / "home"
    folder = home / PICKER_FOLDER
    (folder / "my-scenarios").mkdir(parents=True)
    source = Path(__file__).parents[2] / "scenarios" / "chain.toml"
    (folder / "my-scenarios" / "chain-copy.toml").write_text(source.read_text())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(folder)
    return folder


def test_startup(snap_compare) -> None:
    """The worked example at its first event: header `step 0/20`, a blue `forward` badge,
    `event 0/200`; the timeline's first line highlighted; the graph with x=1 and W1=0.5;
    the chain rule `z1 = x·W1 + b1 = 1.0·0.5 + 0.0 = 0.5`; the footer's keys."""
    assert snap_compare(make_app(worked_example()), terminal_size=BIG, run_before=settle)


def test_worked_example_forward(snap_compare) -> None:
    """Forward of a1: `a1 = z1 = 0.5` with the identity explained; the graph shows a1 = 0.5."""
    app = make_app(worked_example())
    assert snap_compare(app, terminal_size=BIG, run_before=goto("forward", "a1"))


def test_worked_example_loss(snap_compare) -> None:
    """The loss event: `L = (0.5 − 0.0)² = 0.25`, a `loss` badge in the loss colour."""
    app = make_app(worked_example())
    assert snap_compare(app, terminal_size=BIG, run_before=goto("loss", "L"))


def test_worked_example_backward(snap_compare) -> None:
    """Backward of W1 in textbook order: first the local derivative `∂z1/∂W1 = x = 1.0`,
    then `∂L/∂W1 via z1 = ∂L/∂z1 · ∂z1/∂W1 = 1.0 · 1.0 = 1.0`, then the whole path from
    the loss; gradients in the gradient colour; `◌` nowhere (everything is computed)."""
    app = make_app(worked_example())
    assert snap_compare(app, terminal_size=BIG, run_before=goto("backward", "W1"))


def test_worked_example_update(snap_compare) -> None:
    """Update of W1: `W1 ← W1 − lr·∂L/∂W1 = 0.5 − 0.1·1.0 = 0.4`; the graph shows W1 = 0.4."""
    app = make_app(worked_example())
    assert snap_compare(app, terminal_size=BIG, run_before=goto("update", "W1"))


def test_fan_out_backward(snap_compare) -> None:
    """w feeds u = w*x and v = sin(w): its backward event shows one term per consumer and
    their sum."""
    app = make_app(fan_out())
    assert snap_compare(app, terminal_size=BIG, run_before=goto("backward", "w"))


def test_matrix_backward(snap_compare) -> None:
    """XOR 2-2-1, 4 samples: the backward event of W1, a 2×2 gradient from a matrix
    product, with shapes shown, then the operands' numbers (x, ∂L/∂z1), in words what
    each entry sums, and ∂L/∂W1[0,0] written out term by term with the x values."""
    app = make_app(xor())
    assert snap_compare(app, terminal_size=BIG, run_before=goto("backward", "W1"))


def test_adam_update(snap_compare) -> None:
    """The worked example under Adam, update of W1 in step 1, from g through the moment
    estimates m and v and their bias corrections to the new value, last."""
    app = make_app(adam_example())
    assert snap_compare(app, terminal_size=BIG, run_before=goto("update", "W1", step=1))


def test_help_screen(snap_compare) -> None:
    """The help dialog over the app: every key of the action table, what each pane shows,
    and the four phase colours."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await open_dialog(pilot, "question_mark", HelpScreen)

    assert snap_compare(make_app(worked_example()), terminal_size=BIG, run_before=run_before)


def test_picker(snap_compare, picker_folder: Path) -> None:
    """The scenario picker: each built-in scenario's id, name and first line of
    description, and the path input below, and under it `A relative path starts from the
    working folder: ~/bpdbg-snapshot-folder`; the subtitle `enter open · tab a file
    path · esc cancel`."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await open_dialog(pilot, "o", PickerScreen)

    assert snap_compare(make_app(worked_example()), terminal_size=BIG, run_before=run_before)


def test_picker_completes_a_path(snap_compare, picker_folder: Path) -> None:
    """The picker's path field with `my-scenarios/ch` typed: the rest of the file's name
    `ain-copy.toml` shown greyed after the cursor (→ takes it), and under the field
    `→ ~/bpdbg-snapshot-folder/my-scenarios/ch`; the subtitle `enter open · → take
    the completion · ↑ the list · esc cancel`."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        picker = await open_dialog(pilot, "o", PickerScreen)
        await pilot.press("tab")
        path = picker.query_one(Input)
        await wait_until(pilot, lambda: path.has_focus, "the path field's focus")
        await pilot.press(*"my-scenarios/ch")
        await wait_until(
            pilot, lambda: path._suggestion.endswith("chain-copy.toml"), "the completion"
        )

    assert snap_compare(make_app(worked_example()), terminal_size=BIG, run_before=run_before)


def test_error_in_app(snap_compare, picker_folder: Path) -> None:
    """An invalid file typed into the picker: the picker stays open and shows
    `bad.toml: model.layers[0].activation: …` in the error colour; no traceback."""
    (picker_folder / "bad.toml").write_text(
        'name = "bad"\n[model]\ninputs = 1\n[[model.layers]]\nunits = 1\n'
        'activation = "tanhh"\n[data]\nx = [[1.0]]\ny = [[0.0]]\n[loss]\nkind = "mse"\n'
        '[optimizer]\nkind = "sgd"\nlr = 0.1\n'
    )

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        picker = await open_dialog(pilot, "o", PickerScreen)
        path = picker.query_one(Input)
        path.focus()
        path.value = "bad.toml"
        await pilot.press("enter")
        error = picker.query_one("#picker-error")
        await wait_until(pilot, lambda: error.has_class("-shown"), "the picker's error")

    assert snap_compare(make_app(worked_example()), terminal_size=BIG, run_before=run_before)


def test_small_terminal(snap_compare) -> None:
    """80×24: all four panes still visible — a narrow timeline with short phase names,
    graph, chain rule and history stacked — at the backward event of W1."""
    app = make_app(worked_example())
    assert snap_compare(app, terminal_size=(80, 24), run_before=goto("backward", "W1"))


def test_large_terminal(snap_compare) -> None:
    """160×50: the XOR network at the forward event of a2, every pane roomy."""
    app = make_app(xor())
    assert snap_compare(app, terminal_size=(160, 50), run_before=goto("forward", "a2"))
