"""What-if branches, live reload, SVG export and the gradient check in the app."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from snapshot_apps import (
    chain,
    event_seq,
    make_app,
    open_dialog,
    said,
    screen_text,
    settle,
    wait_until,
    worked_example,
    xor,
)
from textual.widgets import Input, Label, OptionList, Static

from engine.open import open_program
from engine.report.gradcheck import check_param
from engine.scenario.records import OptimizerSpec, optimizer_spec
from engine.timeline.runs import Branch
from engine.timeline.timeline import Timeline
from engine.timeline.whatif import (
    WhatIfError,
    make_branch,
    optimizer_hint,
    optimizer_text,
    parse_optimizer,
    parse_params,
    parse_tensor,
    parse_whatif,
)
from scenarios import builtin_dir
from tui.app import BpdbgApp
from tui.export import scenario_id
from tui.live_reload import same_place
from tui.panes.chain_rule.gradcheck import check_lines
from tui.panes.timeline import TimelineView
from tui.screens.whatif import WhatIfScreen

# --- helpers ------------------------------------------------------------------------------


def shown(app: BpdbgApp) -> tuple[str, ...]:
    """What the panes show now, as text, and the whole styled screen."""
    return (chain(app), app.query_one(TimelineView).snapshot_text(), screen_text(app))


async def what_if(pilot, params: str = "", lr: str | None = None, optimizer: str | None = None):
    """Open the what-if dialog, fill it in, press enter and wait until the branch is shown."""
    app = pilot.app
    screen = await open_dialog(pilot, "w", WhatIfScreen)
    screen.query_one("#whatif-params", Input).value = params
    if lr is not None:
        screen.query_one("#whatif-lr", Input).value = lr
    if optimizer is not None:
        screen.query_one("#whatif-optimizer", Input).value = optimizer
    screen.query_one("#whatif-params", Input).focus()
    error = screen.query_one("#whatif-error", Static)
    await pilot.press("enter")
    await wait_until(
        pilot, lambda: app.screen is not screen or error.has_class("-shown"), "the what-if"
    )
    assert app.screen is not screen, str(error.render())
    await pilot.pause()  # the dialog's result reaches the app right after it closes


def ravine():
    return open_program("ravine-sgd")


# --- what-if: parsing -----------------------------------------------------------------------


def test_tensors_are_read_as_data() -> None:
    assert parse_tensor("[[0.1, -2], [3e-1, .5]]", "W").tolist() == [[0.1, -2.0], [0.3, 0.5]]
    assert parse_tensor(" -4 ", "a").shape == ()
    for bad, why in [
        ("[[1, 2], [3]]", "different lengths"),
        ("[1, 2", "ends too early"),
        ("[]", "empty list"),
        ("__import__('os')", "expected a number"),
        ("[1, nan]", "expected a number"),
        ("[1 2]", "expected ',' or ']'"),
        ("1e999", "finite"),
        ("", "found nothing"),
    ]:
        with pytest.raises(WhatIfError, match=why):
            parse_tensor(bad, "W")


def test_parameter_edits() -> None:
    params = {"W1": np.zeros((2, 3)), "b1": np.zeros(3), "w": np.array(2.0)}
    edited, changes = parse_params("W1[1,2] = 0.3; b1 = [1, 2, 3]; w = -1", params)
    assert edited["W1"][1, 2] == 0.3 and edited["W1"].sum() == 0.3
    assert edited["b1"].tolist() == [1.0, 2.0, 3.0]
    assert edited["w"].shape == () and float(edited["w"]) == -1.0
    assert changes == ["W1[1,2]=0.3", "b1 edited", "w=-1.0"]
    assert not edited["W1"].flags.writeable
    assert params["W1"].sum() == 0  # the run's own arrays are never written
    assert parse_params("  ", params) == ({}, [])
    one = {"W1": np.zeros((1, 1))}
    assert parse_params("W1 = 0.5", one)[0]["W1"].tolist() == [[0.5]]  # 1×1 takes a number
    for text, why in [
        ("W3 = 1", "unknown parameter 'W3'; the parameters are W1, b1, w"),
        ("W1 = [[1, 2], [3, 4]]", "expected shape 2×3, found 2×2"),
        ("W1 = 1", "expected shape 2×3, found scalar"),
        ("W1[2,0] = 1", "index 2 is out of range for axis 0"),
        ("W1[0] = 1", "takes 2 index"),
        ("W1[0,-1] = 1", "whole numbers"),
        ("W1[0,0] = x", "expected a number, found 'x'"),
        ("w[0] = 1", "scalar"),
        ("W1 0.3", "expected NAME = value"),
    ]:
        with pytest.raises(WhatIfError, match=why.replace("[", r"\[").replace("(", r"\(")):
            parse_params(text, params)


def test_optimizer_edits() -> None:
    sgd = OptimizerSpec("sgd", 0.1)
    assert parse_optimizer("sgd", 0.2, sgd) == OptimizerSpec("sgd", 0.2)
    adam = parse_optimizer("adam betas = 0.8, 0.99  eps=1e-6", 0.01, sgd)
    assert (adam.kind, adam.lr, adam.betas, adam.eps) == ("adam", 0.01, (0.8, 0.99), 1e-6)
    assert parse_optimizer("adam beta2=0.9", 0.01, adam).betas == (0.8, 0.9)
    mom = OptimizerSpec("momentum", 0.1, momentum=0.5)
    assert parse_optimizer("momentum", 0.1, mom).momentum == 0.5  # kept when the kind stays
    assert parse_optimizer("momentum momentum=0.95", 0.1, sgd).momentum == 0.95
    for text, why in [
        ("lbfgs", "unknown optimizer 'lbfgs'; expected one of sgd, momentum, adam"),
        ("", "found nothing"),
        ("sgd momentum=0.9", "momentum is a setting of momentum or rmsprop, not of sgd"),
        ("adam momentum=0.9", "not of adam; adam takes betas, eps, weight_decay"),
        ("momentum momentum=1", r"in \[0, 1\)"),
        ("adam eps=0", "> 0"),
        ("adam betas=0.9", "two numbers"),
        ("sgd lr=0.1", "its own field"),
        ("sgd fast", "key=value"),
        ("sgd weight_decay=-1", "weight_decay: expected a finite number ≥ 0"),
        ("rmsprop centered=yes", "centered: expected true or false, found 'yes'"),
        ("rmsprop alpha=1.5", r"alpha: expected a number in \[0, 1\]"),
        ("adagrad lr_decay=-0.1", "lr_decay: expected a finite number ≥ 0"),
        ("adagrad momentum=0.9", "not of adagrad; adagrad takes eps, weight_decay, lr_decay"),
        # What torch.optim.SGD refuses, refused as a scenario file's [optimizer] is.
        (
            "momentum nesterov=true dampening=0.1",
            "nesterov = true needs momentum > 0 and dampening = 0",
        ),
    ]:
        with pytest.raises(WhatIfError, match=why):
            parse_optimizer(text, 0.1, sgd)


def test_every_optimizer_kind_and_setting_can_be_chosen_and_shown_back() -> None:
    """Each kind with each of its settings away from the default: the field's text for
    the result reads back as the same optimizer, and the branch names what changed."""
    sgd = OptimizerSpec("sgd", 0.1)
    cases = {
        "sgd weight_decay=0.01": optimizer_spec("sgd", 0.1, weight_decay=0.01),
        "momentum momentum=0.5 dampening=0.1 weight_decay=0.2": optimizer_spec(
            "momentum", 0.1, momentum=0.5, dampening=0.1, weight_decay=0.2
        ),
        "momentum nesterov=true": optimizer_spec("momentum", 0.1, nesterov=True),
        "adam betas=0.8,0.9 eps=1e-06 weight_decay=0.1": optimizer_spec(
            "adam", 0.1, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1
        ),
        "adamw weight_decay=0.05": optimizer_spec("adamw", 0.1, weight_decay=0.05),
        "adamw beta1=0.5": optimizer_spec("adamw", 0.1, betas=(0.5, 0.999)),
        "rmsprop momentum=0.3 eps=1e-06 alpha=0.9 centered=true": optimizer_spec(
            "rmsprop", 0.1, momentum=0.3, eps=1e-6, alpha=0.9, centered=True
        ),
        "adagrad lr_decay=0.01 initial_accumulator_value=0.1 eps=1e-08": optimizer_spec(
            "adagrad", 0.1, lr_decay=0.01, initial_accumulator_value=0.1, eps=1e-8
        ),
    }
    for text, expected in cases.items():
        spec = parse_optimizer(text, 0.1, sgd)
        assert spec == expected, text
        assert parse_optimizer(optimizer_text(spec), 0.1, sgd) == spec
    # The field shows only what differs from the kind's defaults.
    assert optimizer_text(optimizer_spec("adamw", 0.1)) == "adamw"
    assert optimizer_text(optimizer_spec("rmsprop", 0.1, centered=True)) == "rmsprop centered=true"
    # The hint above the field: the typed kind's settings with their defaults.
    assert optimizer_hint("adagrad lr_dec") == (
        "adagrad: eps=1e-10 weight_decay=0.0 lr_decay=0.0 initial_accumulator_value=0.0"
    )
    assert optimizer_hint("ad") == "sgd · momentum · adam · adamw · rmsprop · adagrad"


def test_a_whatif_must_change_something_and_names_what_it_changes() -> None:
    timeline = Timeline(ravine())
    timeline.ensure(5)
    with pytest.raises(WhatIfError, match="nothing to change"):
        parse_whatif(timeline, 5, "", "0.035", "sgd")
    for lr in ("0", "-0.1", "abc", "inf"):
        with pytest.raises(WhatIfError, match="learning rate"):
            parse_whatif(timeline, 5, "", lr, "sgd")
    whatif = parse_whatif(timeline, 5, "a = -1", "0.05", "momentum momentum=0.8")
    assert whatif.label == "what-if: a=-1.0, momentum, lr=0.05, momentum=0.8"
    branch = make_branch(timeline, whatif, "Ravine with sgd")
    assert isinstance(branch, Branch) and branch.parent is timeline and branch.first_step == 5
    assert branch.program.scenario.name == "Ravine with sgd · " + whatif.label
    # Another kind of optimizer starts from fresh buffers.
    assert branch.start_of(5)[1] == {"a": {"momentum_buffer": 0.0}, "b": {"momentum_buffer": 0.0}}


# --- what-if in the app ---------------------------------------------------------------------


async def test_a_whatif_branch_changes_the_loss_after_its_step_only() -> None:
    """lr changed at step 5 of ravine-sgd: losses of steps ≤ 5 are those of the original
    (they were computed from the same parameters), later ones differ; earlier steps are
    explained with the original's learning rate."""
    program = ravine()
    app = make_app(program)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        original = app.timeline
        here = event_seq(program, "forward", program.graph.forward_order[0], 5)
        app.cursor = here
        await pilot.pause()
        await what_if(pilot, lr="0.05")
        assert not isinstance(app.screen, WhatIfScreen)
        await settle(pilot)
        branch = app.timeline
        assert isinstance(branch, Branch) and branch is not original
        assert branch.parent is original and branch.first_step == 5
        assert app.runs.branches == [branch] and app.runs.original is original
        assert app.cursor == here  # the same event, now on the branch
        assert branch.program.optimizer.spec.lr == 0.05
        assert "what-if: lr=0.05" in branch.label
        assert "what-if: lr=0.05" in app.header.part("title").plain
        assert branch.done and original.done
        ours, theirs = branch.losses(), original.losses()
        assert len(ours) == len(theirs) == 60
        np.testing.assert_array_equal(ours[:6], theirs[:6])
        assert np.all(ours[6:] != theirs[6:])
        # The branch's update of step 5 uses the new learning rate…
        app.cursor = event_seq(program, "update", "a", 5)
        await pilot.pause()
        assert "0.05" in chain(app) and "0.035" not in chain(app)
        # …and its steps before 5 are the original's, explained as they happened.
        app.cursor = event_seq(program, "update", "a", 3)
        await pilot.pause()
        before = chain(app)
        assert "0.035" in before and "0.05·" not in before
        await pilot.press("W")
        assert app.timeline is original
        assert chain(app) == before


async def test_switching_back_restores_the_original_exactly_and_forth_again() -> None:
    program = ravine()
    app = make_app(program)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        original = app.timeline
        app.cursor = event_seq(program, "update", "b", 7)
        await pilot.pause()
        was = shown(app)
        await what_if(pilot, params="b = 0.5", lr="0.02")
        await settle(pilot)
        branch = app.timeline
        assert branch is not original
        assert app.cursor == event_seq(program, "update", "b", 7)
        assert shown(app) != was
        on_branch = shown(app)
        await pilot.press("W")
        await settle(pilot)
        assert app.timeline is original  # the same object: kept, not recomputed
        assert shown(app) == was
        await pilot.press("W")
        await settle(pilot)
        assert app.timeline is branch
        # The same events and derivation (the timeline pane may scroll otherwise: when the
        # branch was new, only its first step was computed, and the list stopped there).
        assert chain(app) == on_branch[0]
        # The dialog lists both runs; choosing the original switches to it.
        dialog = await open_dialog(pilot, "w", WhatIfScreen)
        runs = dialog.query_one("#whatif-runs", OptionList)
        assert runs.option_count == 2
        assert runs.highlighted == 1  # the run shown now
        labels = [str(runs.get_option_at_index(i).prompt) for i in range(2)]
        assert "original" in labels[0] and "what-if: b=0.5, lr=0.02" in labels[1]
        runs.focus()
        runs.highlighted = 0
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.timeline is original, "the switch to the original")
        await settle(pilot)
        assert shown(app) == was


async def test_a_branch_of_a_branch_compares_with_its_parent() -> None:
    program = ravine()
    app = make_app(program)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.cursor = event_seq(program, "loss", "L", 5)
        await what_if(pilot, lr="0.05")
        first = app.timeline
        app.cursor = event_seq(program, "loss", "L", 10)
        await what_if(pilot, optimizer="momentum momentum=0.5")
        await settle(pilot)
        second = app.timeline
        assert second.parent is first and second.first_step == 10
        assert app.runs.branches == [first, second]
        np.testing.assert_array_equal(second.losses()[:11], first.losses()[:11])
        await pilot.press("W")
        assert app.timeline is app.runs.original
        await pilot.press("W")
        assert app.timeline is second
        # Before a branch's first step the run shown is its parent's: a what-if there
        # branches from that run, with that run's optimizer.
        app.cursor = event_seq(program, "loss", "L", 3)
        await what_if(pilot, params="a = -2")
        await settle(pilot)
        third = app.timeline
        assert third.parent is app.runs.original and third.first_step == 3
        assert third.program.optimizer.spec.lr == 0.035
        assert third.label == "what-if: a=-2.0"


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("params", "W1[0,1] = abc", "W1[0,1]: expected a number, found 'abc'"),
        ("params", "W1 = [[1, 2, 3], [4, 5, 6]]", "W1: expected shape 2×2, found 2×3"),
        ("params", "W9 = 1", "unknown parameter 'W9'"),
        ("lr", "-0.5", "learning rate: expected a number > 0"),
        ("lr", "0", "learning rate: expected a number > 0"),
        ("lr", "fast", "learning rate: expected a number"),
        ("optimizer", "lbfgs", "unknown optimizer 'lbfgs'"),
        ("optimizer", "adam betas=2,0.9", "expected a number in [0, 1)"),
        ("params", "", "nothing to change"),
    ],
)
async def test_an_invalid_whatif_changes_nothing(field: str, value: str, why: str) -> None:
    program = xor()
    app = make_app(program)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.cursor = event_seq(program, "backward", "W1", 4)
        await pilot.pause()
        original, frame, was = app.timeline, app.frame, chain(app)
        screen = await open_dialog(pilot, "w", WhatIfScreen)
        field_input = screen.query_one(f"#whatif-{field}", Input)
        field_input.value = value
        field_input.focus()
        error = screen.query_one("#whatif-error", Static)
        await pilot.press("enter")
        await wait_until(pilot, lambda: error.has_class("-shown"), "the dialog's error")
        assert app.screen is screen  # still open, saying why
        assert why in str(error.render())
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "the dialog to close")
        assert app.timeline is original and app.runs.branches == []
        assert app.cursor == event_seq(program, "backward", "W1", 4)
        assert app.frame is frame and chain(app) == was
        await pilot.press("W")
        assert app.timeline is original
        await wait_until(pilot, lambda: said(app, "No what-if yet"), "the note")


async def test_a_whatif_to_centered_rmsprop_shows_its_buffers() -> None:
    """Typed key by key, the hint follows the kind; the branch updates with RMSprop's
    buffers, fresh at the branch's step, and the chain-rule pane shows them."""
    program = xor()
    app = make_app(program)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.cursor = event_seq(program, "forward", program.graph.forward_order[0], 2)
        screen = await open_dialog(pilot, "w", WhatIfScreen)
        field = screen.query_one("#whatif-optimizer", Input)
        hint = screen.query_one("#whatif-optimizer-hint", Label)
        assert "sgd: weight_decay=0.0" in str(hint.render())
        field.value = ""
        field.focus()
        await pilot.press(*"rmsprop centered=true")
        await wait_until(pilot, lambda: field.value == "rmsprop centered=true", "the typing")
        assert "rmsprop: momentum=0.0 eps=1e-08 weight_decay=0.0 alpha=0.99 centered=false" in str(
            hint.render()
        )
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is not screen, "the dialog to close")
        await wait_until(pilot, lambda: app.timeline.first_step == 2, "the branch")
        await settle(pilot)
        spec = app.timeline.program.optimizer.spec
        assert (spec.kind, spec.centered, spec.alpha) == ("rmsprop", True, 0.99)
        assert "what-if: rmsprop, centered=true" in app.timeline.label
        _, state = app.timeline.start_of(2)
        assert set(state["W1"]) == {"square_avg", "grad_avg"}
        assert not state["W1"]["square_avg"].any()  # fresh buffers for a new kind
        app.cursor = event_seq(program, "update", "W1", 2)
        await wait_until(pilot, lambda: "grad_avg" in chain(app), "the update's buffers")
        assert "square_avg" in chain(app)


async def test_history_draws_the_original_beside_the_whatif() -> None:
    program = ravine()
    app = make_app(program)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.cursor = event_seq(program, "loss", "L", 5)
        await what_if(pilot, lr="0.09")
        await settle(pilot)
        app.cursor = event_seq(program, "loss", "L", 40)
        await settle(pilot)
        text = screen_text(app)
        assert "original" in text and "what-if: lr=0.09" in text
        await pilot.press("W")
        await settle(pilot)
        text = screen_text(app)
        assert "original" not in text and "what-if" not in text


# --- live reload ---------------------------------------------------------------------------


RAVINE = (builtin_dir() / "ravine-sgd.toml").read_text(encoding="utf-8")


async def watching(pilot) -> None:
    """Wait until the app watches its scenario's file (it starts shortly after start-up)."""
    await wait_until(
        pilot,
        lambda: pilot.app._watcher is not None and pilot.app._watcher.ready.is_set(),
        "the scenario's file to be watched",
    )


REWRITE_SECONDS = 2.0
"""How often :func:`wait_for` redoes its file edit while it waits."""


async def wait_for(pilot, condition, rewrite=None, what: str = "the reload") -> bool:
    """Wait until ``condition()``; ``rewrite`` (the file edit) is redone every couple of
    seconds meanwhile, in case the first happened before the watcher's thread was looking
    (which it cannot tell us). Fails, naming ``what``, after a generous bound."""
    last = -REWRITE_SECONDS

    def done() -> bool:
        nonlocal last
        if condition():
            return True
        if rewrite is not None and time.monotonic() - last >= REWRITE_SECONDS:
            last = time.monotonic()
            rewrite()
        return False

    await wait_until(pilot, done, what)
    return True


async def test_live_reload_keeps_the_cursor(tmp_path: Path) -> None:
    path = tmp_path / "valley.toml"
    path.write_text(RAVINE, encoding="utf-8")
    program = open_program(str(path))
    app = make_app(program)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await watching(pilot)
        before = app.timeline
        here = event_seq(program, "update", "b", 7)
        app.cursor = here
        await pilot.pause()
        assert "0.035" in chain(app)

        def edit() -> None:
            path.write_text(RAVINE.replace("lr = 0.035", "lr = 0.02"), encoding="utf-8")

        assert await wait_for(pilot, lambda: app.timeline is not before, edit)
        assert app.timeline.program.optimizer.spec.lr == 0.02
        assert app.runs.original is app.timeline
        assert app.cursor == here
        assert app.frame is not None and (app.frame.step, app.frame.phase) == (7, "update")
        assert "0.02" in chain(app) and "0.035" not in chain(app)
        await wait_until(pilot, lambda: said(app, "Reloaded"), "the note")


async def test_a_bad_edit_shows_the_error_and_keeps_the_last_good_scenario(
    tmp_path: Path,
) -> None:
    path = tmp_path / "valley.toml"
    path.write_text(RAVINE, encoding="utf-8")
    program = open_program(str(path))
    app = make_app(program)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await watching(pilot)
        good = app.timeline
        here = event_seq(program, "backward", "a", 3)
        app.cursor = here
        await pilot.pause()

        def break_it() -> None:
            path.write_text(RAVINE.replace("lr = 0.035", 'lr = "fast"'), encoding="utf-8")

        def error_shown() -> bool:
            return any(n.severity == "error" for n in app._notifications)

        assert await wait_for(pilot, error_shown, break_it)
        error = next(n for n in app._notifications if n.severity == "error")
        assert "valley.toml: optimizer.lr: expected a finite number > 0" in error.message
        assert error.timeout >= 10
        assert app.timeline is good and app.cursor == here
        assert app.timeline.program.optimizer.spec.lr == 0.035
        # Fixing it reloads.
        fixed = RAVINE.replace("lr = 0.035", "lr = 0.03")
        assert await wait_for(
            pilot,
            lambda: app.timeline is not good,
            lambda: path.write_text(fixed, encoding="utf-8"),
        )
        assert app.timeline.program.optimizer.spec.lr == 0.03 and app.cursor == here


def reload_notes(app: BpdbgApp, severity: str | None = None) -> list[str]:
    return [n.message for n in app._notifications if severity is None or n.severity == severity]


async def test_a_burst_of_bad_saves_shows_one_error_updated(tmp_path: Path) -> None:
    """Thirty bad saves in a row (an editor saving as one types): one error on screen,
    the latest, not a stack of them."""
    path = tmp_path / "valley.toml"
    path.write_text(RAVINE, encoding="utf-8")
    app = make_app(open_program(str(path)))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await watching(pilot)
        good = app.timeline

        def burst() -> None:
            for i in range(30):
                path.write_text(RAVINE.replace("lr = 0.035", f'lr = "fast{i}"'), encoding="utf-8")
                time.sleep(0.005)

        def last_error_shown() -> bool:
            return any("'fast29'" in m for m in reload_notes(app, "error"))

        await wait_for(pilot, last_error_shown, burst, "the last save's error")
        await pilot.pause(0.2)  # any stragglers of the burst
        assert len(reload_notes(app, "error")) == 1
        assert app.timeline is good


async def test_a_deleted_file_says_so_and_is_picked_up_when_back(tmp_path: Path) -> None:
    path = tmp_path / "valley.toml"
    path.write_text(RAVINE, encoding="utf-8")
    program = open_program(str(path))
    app = make_app(program)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await watching(pilot)
        good = app.timeline
        here = event_seq(program, "update", "b", 4)
        app.cursor = here

        def gone() -> bool:
            return any("valley.toml is gone" in m for m in reload_notes(app, "warning"))

        await wait_for(pilot, gone, lambda: path.unlink(missing_ok=True), "the file gone")
        assert app.timeline is good and app.cursor == here  # still running
        # Back, edited: reloaded, and the note about it replaces the one about its absence.
        edited = RAVINE.replace("lr = 0.035", "lr = 0.02")
        await wait_for(
            pilot,
            lambda: app.timeline is not good,
            lambda: path.write_text(edited, encoding="utf-8"),
            "the file back",
        )
        assert app.timeline.program.optimizer.spec.lr == 0.02 and app.cursor == here
        await wait_until(pilot, lambda: said(app, "Reloaded"), "the reload's note")
        assert not gone()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
async def test_a_pipe_in_place_of_the_file_is_refused_and_reload_goes_on(tmp_path: Path) -> None:
    """Opening a named pipe waits for a writer: the watcher used to block there for good,
    silently. It says the file is not a regular file, and reloads once it is one again."""
    path = tmp_path / "valley.toml"
    path.write_text(RAVINE, encoding="utf-8")
    app = make_app(open_program(str(path)))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await watching(pilot)
        good = app.timeline

        def to_pipe() -> None:
            path.unlink(missing_ok=True)
            os.mkfifo(path)

        def refused() -> bool:
            return any("is not a regular file" in m for m in reload_notes(app, "error"))

        await wait_for(pilot, refused, to_pipe, "the pipe refused")
        assert app.timeline is good
        edited = RAVINE.replace("lr = 0.035", "lr = 0.03")

        def to_file() -> None:
            path.unlink(missing_ok=True)
            path.write_text(edited, encoding="utf-8")

        await wait_for(pilot, lambda: app.timeline is not good, to_file, "the file again")
        assert app.timeline.program.optimizer.spec.lr == 0.03


def test_same_place_after_a_reload_that_changes_the_graph() -> None:
    small, big = Timeline(worked_example()), Timeline(xor())
    at = event_seq(small.program, "backward", "W1", 3)
    assert same_place(small, at, big) == event_seq(big.program, "backward", "W1", 3)
    # An event the new graph lacks keeps its position; a step past the end is clamped.
    at = event_seq(big.program, "forward", "a2", 9)
    pos = big.locate(at)[1]
    assert same_place(big, at, small) == 9 * small.events_per_step + min(
        pos, small.events_per_step - 1
    )
    late = Timeline(worked_example(steps=4))
    assert same_place(small, event_seq(small.program, "loss", "L", 15), late) == event_seq(
        late.program, "loss", "L", 3
    )


# --- export -----------------------------------------------------------------------------------


async def test_s_saves_an_svg_screenshot_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "shots"
    monkeypatch.setenv("BPDBG_SCREENSHOT_DIR", str(folder))
    program = worked_example()
    app = make_app(program)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.cursor = event_seq(program, "backward", "W1", 2)
        await pilot.pause()
        await pilot.press("s")
        path = folder / f"bpdbg-worked-example-step2-event{app.cursor}.svg"
        assert path.is_file()
        assert path.read_text(encoding="utf-8").lstrip().startswith("<svg")
        await wait_until(pilot, lambda: said(app, str(path.resolve())), "the note")
        await pilot.press("s")  # the same place again: a new file, not overwritten
        again = folder / f"bpdbg-worked-example-step2-event{app.cursor}-2.svg"
        assert again.is_file()
        await wait_until(pilot, lambda: said(app, str(again.resolve())), "the second note")


async def test_screenshots_go_to_the_working_folder_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BPDBG_SCREENSHOT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    app = make_app(xor())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.run_action("save_screenshot")
        assert (tmp_path / "bpdbg-xor-test-step0-event0.svg").is_file()


def test_scenario_ids_are_file_name_safe() -> None:
    assert scenario_id("ravine-sgd") == "ravine-sgd"
    assert scenario_id("/tmp/my runs/valley.toml") == "valley"
    assert scenario_id("a b?.toml") == "a_b"


# --- the gradient check ----------------------------------------------------------------------


async def test_gradient_check_agrees_at_the_worked_examples_backward_of_w1() -> None:
    program = worked_example()
    app = make_app(program)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.cursor = event_seq(program, "backward", "W1", 0)
        await pilot.pause()
        text = chain(app)
        assert "Gradient check: W1" in text
        assert "✓ agree" in text and "✗" not in text
        row = next(line for line in text.splitlines() if line.strip().startswith("W1[0,0]"))
        assert row.split()[1:3] == ["1.0", "1.0"]  # analytic, numeric
        check = app.chain_view.gradcheck.cached(app.timeline, 0, "W1")
        assert check is not None and check.ok
        assert check.analytic.item() == 1.0
        assert check.numeric.item() == pytest.approx(1.0, abs=1e-6)
        # Not at other events.
        app.cursor = event_seq(program, "backward", "z1", 0)
        await pilot.pause()
        assert "Gradient check" not in chain(app)
        app.cursor = event_seq(program, "update", "W1", 0)
        await pilot.pause()
        assert "Gradient check" not in chain(app)


async def test_a_large_parameter_is_checked_in_the_background_with_progress() -> None:
    program = open_program("spiral-mlp", steps=4)  # W1 is 2×64: more than checked at once
    app = make_app(program)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.cursor = event_seq(program, "backward", "W1", 2)
        # Shown at once, before the worker has had a chance to finish.
        assert "checking W1 (0/128)…" in chain(app)
        await wait_until(pilot, lambda: "✓ agree" in chain(app), "the check in the background")
        text = chain(app)
        assert "Gradient check: W1 (128 elements)" in text and "✓ agree" in text
        assert "the 5 elements with the largest relative error" in text
        check = app.chain_view.gradcheck.cached(app.timeline, 2, "W1")
        assert check is not None and check.ok and check.numeric.shape == (2, 64)
        # Cached: coming back shows the result at once.
        await pilot.press("n")
        await pilot.press("p")
        assert chain(app) == text


async def test_the_check_table_is_laid_out_for_the_panes_width() -> None:
    """No row of the check wraps: a table where it fits (columns two spaces apart, then
    one), each element on three lines where it does not; resizing lays it out anew."""
    program = open_program("spiral-mlp", steps=2)
    app = make_app(program)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        app.cursor = event_seq(program, "backward", "b2", 0)
        await wait_until(pilot, lambda: "✓ agree" in chain(app), "the check")
        layouts = set()
        for size in ((200, 50), (80, 24), (64, 24), (56, 24)):
            await pilot.resize_terminal(*size)
            view = app.chain_view
            await wait_until(
                pilot,
                lambda: view._wrap_width == view.scrollable_content_region.width,
                f"the pane laid out at {size}",
            )
            width = view.scrollable_content_region.width
            lines = chain(app).splitlines()
            rows = [i for i, line in enumerate(lines) if line.startswith(" b2[")]
            assert len(rows) == 5, (size, lines)
            for i in rows:
                words = lines[i].split()
                if words[1:3] == ["rel.", "err"]:  # three lines per element
                    assert len(words) == 4, (size, lines[i])
                    assert lines[i + 1].split()[0] == "analytic"
                    assert lines[i + 2].split()[0] == "numeric"
                    layouts.add("stacked")
                else:  # a table row: label, analytic, numeric, rel. err
                    assert len(words) == 4, (size, lines[i])
                    layouts.add("table")
                assert len(lines[i]) <= width
        assert layouts == {"table", "stacked"}


def test_check_rows_fit_every_width() -> None:
    program = open_program("spiral-mlp", steps=1)
    tl = Timeline(program)
    record = tl.record(0)
    params, _ = tl.start_of(0)
    check = check_param(program, 0, params, record.result.grads["W2"], "W2")
    for width in (None, 60, 52, 48, 44, 40, 30):
        lines = check_lines(check, width)
        rows = [ln.text for ln in lines if ln.kind == "formula"]
        assert rows and (width is None or all(len(r) <= width for r in rows)), width
        assert "".join(rows).count("W2[") == 5


async def test_stepping_past_a_backward_event_sets_no_check_going() -> None:
    """Only an event the cursor rests on is checked in the background: flying past it
    (holding n, playing) leaves the interpreter to the stepping."""
    program = open_program("spiral-mlp", steps=4)
    app = make_app(program)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.cursor = event_seq(program, "backward", "W1", 2)
        assert "checking W1 (0/128)…" in chain(app)
        app.cursor += 1  # gone before the check began
        await pilot.pause(0.4)
        assert not [w for w in app.chain_view.workers if w.group == "gradcheck"]
        assert app.chain_view.gradcheck.cached(app.timeline, 2, "W1") is None


def test_the_check_perturbs_scalar_parameters_after_updates() -> None:
    """The step loop leaves a scalar parameter as a numpy scalar after an update; the
    check must still perturb it (it used to compute 0/0 = nan there)."""
    program = ravine()
    timeline = Timeline(program)
    timeline.ensure(15)
    params, _ = timeline.start_of(15)
    grads = timeline.record(15).result.grads
    for p in ("a", "b"):
        check = check_param(program, 15, params, grads[p], p)
        assert check.ok and np.isfinite(check.numeric).all()
