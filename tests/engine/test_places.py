"""The places ``:`` takes: step, step.event, #event; anything else says what is accepted."""

from __future__ import annotations

import pytest

from engine.debug.goto import ACCEPTED, PlaceError, parse_place


@pytest.mark.parametrize(
    "text,seq",
    [("0", 0), ("120", 2160), (" 120.7 ", 2167), ("#5000", 5000), ("#5,000", 5000), ("1_0", 180)],
)
def test_places(text, seq):
    assert parse_place(text, 18, 600) == seq


@pytest.mark.parametrize("text", ["", "abc", "-1", "1.2.3", "step 5", "#", "1e3", "5.x"])
def test_anything_else_says_what_is_accepted(text):
    with pytest.raises(PlaceError, match="is not a place") as err:
        parse_place(text, 18, 600)
    assert ACCEPTED in str(err.value)


@pytest.mark.parametrize(
    "text,said",
    [
        ("600", "steps are 0 to 599"),
        ("#10800", "events are #0 to #10,799"),
        ("3.18", "a step has 18 events, 3.0 to 3.17"),
    ],
)
def test_places_beyond_the_run_are_refused_with_its_bounds(text, said):
    with pytest.raises(PlaceError, match=said):
        parse_place(text, 18, 600)
