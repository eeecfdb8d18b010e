"""Snapshots of the gradient check and of a what-if comparison.

Each test's docstring says what its SVG must show. Update with
``pytest tests/tui/test_whatif_snapshots.py --snapshot-update`` and look at every
changed SVG (``rsvg-convert -o x.png x.svg``) before accepting it.
"""

from __future__ import annotations

from snapshot_apps import event_seq, goto, make_app, open_dialog, settle, wait_until, worked_example
from textual.pilot import Pilot
from textual.widgets import Input

from engine.open import open_program
from engine.timeline.runs import Branch
from tui.screens.whatif import WhatIfScreen

BIG = (120, 40)


def test_gradient_check_of_w1(snap_compare) -> None:
    """The worked example at the backward event of W1: below the derivation, a
    `Gradient check: W1` section with a row `W1[0,0]  1.0  1.0  1.4e-11` (analytic,
    numeric, relative error), `✓ agree` in the success colour, and how numeric is
    computed and when the two agree."""
    app = make_app(worked_example())
    assert snap_compare(app, terminal_size=BIG, run_before=goto("backward", "W1"))


def test_whatif_comparison(snap_compare) -> None:
    """ravine-sgd with a what-if from step 5 (lr 0.035 → 0.09), at the loss of step 40:
    the title says `· what-if: lr=0.09`; the history's loss plot draws the original run
    (muted) and the branch (loss colour), labelled `original` and `what-if: lr=0.09`,
    together until step 6 and apart after it."""
    program = open_program("ravine-sgd")

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        app = pilot.app
        app.cursor = event_seq(program, "loss", "L", 5)
        dialog = await open_dialog(pilot, "w", WhatIfScreen)
        lr = dialog.query_one("#whatif-lr", Input)
        lr.value = "0.09"
        lr.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.timeline, Branch), "the what-if branch")
        await settle(pilot)
        app.clear_notifications()
        app.cursor = event_seq(program, "loss", "L", 40)
        await settle(pilot)

    assert snap_compare(make_app(program), terminal_size=(160, 50), run_before=run_before)


def test_whatif_dialog_small(snap_compare) -> None:
    """xor at 80×24, the what-if dialog scrolled to its optimizer field, where
    `rmsprop centered=true` is typed: the line above it lists RMSprop's settings with
    their defaults, `momentum=0.0 eps=1e-08 weight_decay=0.0 alpha=0.99
    centered=false`, wrapped onto a second line rather than cut."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        dialog = await open_dialog(pilot, "w", WhatIfScreen)
        field = dialog.query_one("#whatif-optimizer", Input)
        field.focus()
        field.value = "rmsprop centered=true"
        hint = dialog.query_one("#whatif-optimizer-hint")
        await wait_until(pilot, lambda: "rmsprop:" in str(hint.render()), "the hint")
        field.scroll_visible(immediate=True)
        box = dialog.query_one("#whatif-dialog")
        await wait_until(
            pilot,
            lambda: (
                box.region.contains_region(hint.region) and box.region.contains_region(field.region)
            ),
            "the hint and the field in view",
        )

    assert snap_compare(
        make_app(open_program("xor")), terminal_size=(80, 24), run_before=run_before
    )
