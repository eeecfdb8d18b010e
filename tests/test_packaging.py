"""What the package carries besides code: the licence its metadata names."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_the_wheel_carries_the_license_its_metadata_names():
    """``pip wheel .`` puts the files of ``license-files`` into the wheel's
    ``.dist-info/licenses/`` (PEP 639); the licence text must be the one declared."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the bpdbg authors\n")
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text
