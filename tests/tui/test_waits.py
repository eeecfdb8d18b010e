"""The test helpers' waits: a wait that times out fails its test, wherever it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent

SNAPSHOT_TEST = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
from snapshot_apps import make_app, settle, wait_until
from engine.open import open_program

def test_a_wait_that_never_ends(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await wait_until(pilot, lambda: False, "something that never comes", timeout=0.2)

    app = make_app(open_program("worked-example"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
"""


def test_a_timed_out_wait_fails_a_snapshot_test_rather_than_hanging_it(
    pytester: pytest.Pytester,
) -> None:
    """A snapshot's run_before does not hand a BaseException (pytest.fail's) back to the
    test: the app never closed and the suite hung. wait_until raises an AssertionError."""
    pytester.makepyfile(test_wait=SNAPSHOT_TEST)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*waited 0.2 s for something that never comes*"])
