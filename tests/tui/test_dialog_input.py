"""Garbage typed into every dialog field (huge numbers, NaN, 5,000 characters, deep
brackets, markup) gives a message in the dialog, or is accepted as what it is, and never
an exception: the app keeps running."""

from __future__ import annotations

import numpy as np
import pytest
from snapshot_apps import (
    make_app,
    open_dialog,
    settle,
    wait_until,
    worked_example,
    xor,
)
from textual.widgets import Input, Static

from engine.timeline.timeline import Timeline
from engine.timeline.whatif import WhatIfError, parse_tensor, parse_whatif
from tui.screens.breakpoints import BreakpointsScreen
from tui.screens.picker import PickerScreen
from tui.screens.whatif import WhatIfScreen

GARBAGE = [
    "1e309",
    "9" * 400,
    "-1e308",
    "1e308",
    "nan",
    "x" * 5000,
    "[" * 5000 + "1" + "]" * 5000,
    "(" * 3000 + "1" + ")" * 3000,
    "-" * 1000 + "1",
    "W1 ** 1" + "0" * 400 + " > 0",
    "[/] [b]not markup",
    "W1[²,0] = 1",
    "W1[" + "9" * 5000 + ",0] = 1",
    "W1 = " + "[" * 5000,
    "W1 = [[1e308]]",
    "b1 = [1e308]",
]
"""What is typed into each field, in turn."""

FIELDS = [
    (WhatIfScreen, "w", "#whatif-params", "#whatif-error"),
    (WhatIfScreen, "w", "#whatif-lr", "#whatif-error"),
    (WhatIfScreen, "w", "#whatif-optimizer", "#whatif-error"),
    (BreakpointsScreen, "B", "#bp-node", "#bp-node-error"),
    (BreakpointsScreen, "B", "#bp-condition", "#bp-condition-error"),
    (PickerScreen, "o", "#picker-path", "#picker-error"),
]


def test_tensors_refuse_deep_nesting_and_odd_digits() -> None:
    params = {"W1": np.zeros((2, 2))}
    timeline = Timeline(xor())
    for text, why in [
        ("W1 = " + "[" * 5000 + "1" + "]" * 5000, "nested deeper than the limit of 8"),
        ("W1[²,0] = 1", "expected whole numbers"),
        ("W1[٣,0] = 1", "expected whole numbers"),
        ("W1[" + "9" * 5000 + ",0] = 1", "out of range"),
        ("W1[0,0] = " + "9" * 400, "expected a finite number"),
    ]:
        with pytest.raises(WhatIfError, match=why):
            parse_whatif(timeline, 0, text, "", "sgd")
    assert params["W1"].sum() == 0
    with pytest.raises(WhatIfError) as refused:
        parse_tensor("x" * 5000, "W1")
    assert len(str(refused.value)) < 200  # the message quotes a short piece of it


@pytest.mark.parametrize(("kind", "key", "field", "error"), FIELDS)
async def test_garbage_in_a_field_is_answered_in_the_dialog(
    kind: type, key: str, field: str, error: str
) -> None:
    app = make_app(worked_example())
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        for text in GARBAGE:
            screen = app.screen
            if not isinstance(screen, kind):
                screen = await open_dialog(pilot, key, kind)
            box = screen.query_one(field, Input)
            message = screen.query_one(error, Static)
            message.remove_class("-shown")
            box.focus()
            box.value = text
            await pilot.press("enter")

            def answered(
                screen: object = screen, message: Static = message, box: Input = box
            ) -> bool:
                # A refusal in the dialog; or accepted: the what-if dialog closes on a
                # valid branch, a breakpoint field clears itself once it adds one.
                return app.screen is not screen or message.has_class("-shown") or not box.value

            await wait_until(pilot, answered, f"an answer to {text[:30]!r} in {field}")
            assert app.is_running and app._exception is None
            await settle(pilot)  # a new what-if branch is computed meanwhile
        while len(app.screen_stack) > 1:
            await pilot.press("escape")
        await settle(pilot)
        assert app.is_running and app._exception is None
