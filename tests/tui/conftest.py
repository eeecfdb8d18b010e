"""Determinism for the app's tests: no colour or theme from the environment, seeded numpy."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "TEXTUAL_THEME", "TEXTUAL_ANIMATIONS", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    np.random.seed(0)


@pytest.fixture(autouse=True)
def _screenshots_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """``s`` saves a screenshot: tests that press every key must not leave SVG files in
    the working folder."""
    monkeypatch.setenv("BPDBG_SCREENSHOT_DIR", str(tmp_path / "screenshots"))
