"""Determinism for the app's tests: no colour or theme from the environment, seeded numpy."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "TEXTUAL_THEME", "TEXTUAL_ANIMATIONS", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    np.random.seed(0)
