"""``bpdbg snapshot``: the app's own picture at an event, without a terminal, the same
bytes every run; and its refusals."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from snapshot_apps import event_seq

from engine.open import open_program
from tui.app import BpdbgApp
from tui.snapshot import SnapshotError, snapshot

ROOT = Path(__file__).resolve().parent.parent.parent
SIZE = (120, 40)


def bpdbg(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        check=False, capture_output=True, text=True, encoding="utf-8", cwd=cwd, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    return result


def plain_text(app: BpdbgApp) -> str:
    """The screen's characters, each line without its trailing blanks."""
    console = Console(
        width=app.size.width, height=app.size.height, file=io.StringIO(), record=True,
        force_terminal=True, legacy_windows=False, safe_box=False,
    )  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    lines = console.export_text().split("\n")
    return "\n".join(line.rstrip() for line in lines).rstrip("\n") + "\n"


async def own_export(seq: int) -> tuple[str, str]:
    """The app's own export (what ``s`` saves) at event ``seq`` of the worked example,
    and its text: the app driven by a pilot, as a person would see it once it has
    trained and nothing moves any more."""
    app = BpdbgApp(open_program("worked-example"), cursor_blink=False)
    app.theme = "textual-dark"
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(2000):
            await pilot.pause()
            if app.timeline.done and not app.workers:
                break
        app.cursor = seq
        seen, still = "", 0
        for _ in range(2000):
            await pilot.pause()
            now = app.export_screenshot()
            still = still + 1 if now == seen else 0
            seen = now
            if still >= 3:
                break
        return app.export_screenshot(), plain_text(app)


async def test_snapshot_is_the_apps_own_export_at_the_backward_event():
    """The worked example at the backward event of W1: the same SVG as the app's own
    screenshot there, and the same characters."""
    program = open_program("worked-example")
    seq = event_seq(program, "backward", "W1")
    svg, text = await own_export(seq)
    assert "Backward: ∂L/∂W1" in text and "∂z1/∂W1 = x = 1.0" in text
    # From async code: the snapshot runs its app in a loop of its own.
    assert snapshot("worked-example", at=f"0.{seq}", size=SIZE, format="svg") == svg
    assert snapshot("worked-example", at=f"0.{seq}", size=SIZE) == text


def test_cli_snapshot_of_xor_svg_and_text(tmp_path):
    """The hidden check's own commands: step 0, event 13 of xor, 120×40."""
    for name in ("x.txt", "x.svg"):
        r = bpdbg("snapshot", "xor", "--at", "0.13", "--size", "120x40", "-o", name, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout == r.stderr == ""
    text = (tmp_path / "x.txt").read_text("utf-8")
    lines = text.splitlines()
    assert len(lines) <= 40 and max(map(len, lines)) <= 120
    assert "XOR with a 2-2-1 network" in lines[0]
    assert "step 0/600" in lines[0] and "backward" in lines[0] and "event 13/10,800" in lines[0]
    assert "Backward: ∂L/∂W1" in text
    assert "Timeline" in text and "Graph" in text and "Chain rule" in text and "History" in text
    svg = (tmp_path / "x.svg").read_text("utf-8")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "XOR&#160;with&#160;a&#160;2-2-1&#160;network" in svg
    assert "event&#160;13/10,800" in svg


def test_snapshots_are_the_same_bytes_every_run(tmp_path):
    """Two runs (two processes), the same bytes: SVG and text, keys pressed included."""
    outputs = []
    for run in range(2):
        svg = tmp_path / f"run{run}.svg"
        r = bpdbg(
            "snapshot", "softmax-3class", "--at", "3.5", "--press", "n,n", "--size", "100x30",
            "-o", str(svg), cwd=tmp_path,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        text = bpdbg("snapshot", "softmax-3class", "--at", "3.7", "--size", "100x30", cwd=tmp_path)
        assert text.returncode == 0, text.stderr
        outputs.append((svg.read_bytes(), text.stdout))
    assert outputs[0] == outputs[1]
    # n,n from 3.5 is where --at 3.7 is.
    assert "event 3.7" not in outputs[0][1]
    assert snapshot_header(outputs[0][1]) == snapshot_header(
        snapshot("softmax-3class", at="3.5", press="n,n", size="100x30")
    )


def snapshot_header(text: str) -> str:
    return text.splitlines()[0]


def test_keys_pressed_show_in_the_snapshot():
    text = snapshot("worked-example", press="question_mark")
    assert "─ Help ─" in text and "Next event" in text
    assert snapshot("worked-example", press="?") == text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "20"], "--at 20: worked-example runs 20 steps (0 to 19)"),
        (["--at", "0.10"], "--at 0.10: a step of worked-example has 10 events (0 to 9)"),
        (["--at", "#200"], "--at #200: worked-example has 200 events (#0 to #199)"),
        (["--at", "1.2.3"], "--at: expected STEP, STEP.EVENT or #SEQ"),
        (["--size", "120"], "--size: expected COLSxROWS such as 120x40"),
        (["--size", "5x5"], "--size: expected COLSxROWS such as 120x40, from 20x6"),
        (["--press", "nope"], "--press: unknown key 'nope'"),
        (["--press", "n,,n"], "--press: found 'n,,n'"),
        (["--press", "q"], "--press: the app closed at q"),
        (["-o", "x.png"], "-o x.png: the file must end in .svg (a picture) or .txt (text)"),
    ],
)
def test_refusals_exit_2(tmp_path, args, message):
    r = bpdbg("snapshot", "worked-example", *args, cwd=tmp_path)
    assert r.returncode == 2
    assert f"bpdbg: error: {message}" in r.stderr
    assert r.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_library_refusals():
    with pytest.raises(SnapshotError, match="runs 20 steps"):
        snapshot("worked-example", at="20.0")
    with pytest.raises(SnapshotError, match="has events #0 to #199"):
        snapshot("worked-example", at=200)


def test_an_invalid_scenario_is_refused_with_its_place(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[graph]\nnodes = ["L = x.sum()"]\n', "utf-8")
    r = bpdbg("snapshot", str(bad), cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith(f"bpdbg: error: {bad}: ")


def test_a_snapshot_waits_for_the_run_to_be_trained(tmp_path):
    """The header's progress is gone and the last step is reachable: the whole run is
    computed before the picture, however long that takes."""
    began = time.monotonic()
    text = snapshot("spiral-mlp", at="999.0", size=(100, 30))
    assert "step 999/1,000" in snapshot_header(text)
    assert "computing" not in text
    assert time.monotonic() - began < 300
