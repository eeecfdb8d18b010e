"""``bpdbg serve``: the app in a browser, end to end over textual-serve's websocket; and
the served app's confinement to built-ins and the folder served."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import pytest
from textual.widgets import Input, Static

from engine.errors import ScenarioError
from engine.open import open_program
from scenarios import resolve
from tui.app import BpdbgApp
from tui.serve import app_command, is_local

ROOT = Path(__file__).resolve().parent.parent.parent
CSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]")
"""A terminal's control sequences, to read the text between them."""


class Lines:
    """A process's output, line by line, read beside the test so it can wait with a bound."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: [self._lines.put(ln) for ln in stdout], daemon=True).start()

    def next(self, seconds: float) -> str:
        try:
            return self._lines.get(timeout=seconds)
        except queue.Empty:
            pytest.fail(f"no line from the server in {seconds} s")


def app_processes(folder: Path) -> list[int]:
    """The visitors' app processes serving ``folder``, found by their command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"tui.serve" in cmd and str(folder).encode() in cmd:
                found.append(int(entry.name))
    return found


async def visit(url: str, wanted: list[str]) -> tuple[str, str]:
    """Open the page, then its websocket as the page's script does, until every text of
    ``wanted`` has arrived on the screen. Returns the page and the screen's text."""
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 200
            page = await response.text()
        address = re.search(r'data-session-websocket-url="([^"]+)"', page)
        assert address, page
        # textual.js: new WebSocket(url + "?width=" + cols + "&height=" + rows), then, once
        # open, ["resize", {width, height}] and ["ping", time]; keys go as ["stdin", text].
        async with session.ws_connect(f"{address[1]}?width=120&height=40") as ws:
            await ws.send_str(json.dumps(["resize", {"width": 120, "height": 40}]))
            await ws.send_str(json.dumps(["ping", "12345"]))
            screen, pong = b"", False
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                message = await ws.receive(timeout=90)
                if message.type == aiohttp.WSMsgType.BINARY:
                    screen += message.data
                elif message.type == aiohttp.WSMsgType.TEXT:
                    pong = pong or json.loads(message.data) == ["pong", "12345"]
                else:
                    break
                text = CSI.sub(b"", screen).decode("utf-8", "replace")
                if pong and all(w in text for w in wanted):
                    return page, text
            pytest.fail(f"the first screen did not arrive; pong: {pong}; got {screen[-2000:]!r}")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="looks for processes in /proc")
def test_serve_end_to_end(tmp_path):
    """The server starts on a free localhost port and prints its URL; the page's
    websocket gets its own app, whose first screen (the worked example's first event)
    arrives; ctrl+c closes the session, the app process quits, the server exits 0."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "serve", "worked-example", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        lines = Lines(server)
        line = lines.next(60)
        m = re.fullmatch(
            r"bpdbg: serving Worked example: one neuron, one step at (http://127\.0\.0\.1:\d+/)\n",
            line,
        )
        assert m, line
        assert "ctrl+c" in lines.next(10)
        page, text = asyncio.run(
            visit(m[1], ["Worked example: one neuron, one step", "z1 = x·W1 + b1", "Timeline"])
        )
        assert "bpdbg · Worked example" in page
        assert "step 0/20" in text and "forward" in text
        assert len(app_processes(tmp_path)) == 1  # the visitor's own app, still running
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
    assert server.stderr is not None and server.stderr.read() == ""
    deadline = time.monotonic() + 30
    while app_processes(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert app_processes(tmp_path) == []


def test_serve_refuses_a_bad_scenario_and_a_taken_port(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "tui.cli", "serve", "no-such-thing"],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.startswith("bpdbg: error: no-such-thing: no such file or built-in")
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "tui.cli", "serve", "--port", str(port)],
            check=False, capture_output=True, text=True, cwd=ROOT, timeout=60,
        )  # fmt: skip
    assert r.returncode == 2
    assert f"bpdbg: error: cannot serve on 127.0.0.1:{port}: " in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "tui.cli", "serve", "--port", "70000"],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2
    assert "argument --port: expected a port from 0 to 65535" in r.stderr


def test_loopback_or_not():
    assert is_local("127.0.0.1") and is_local("localhost") and is_local("::1")
    assert is_local("127.0.0.2") and is_local("[::1]")
    assert not is_local("0.0.0.0") and not is_local("::") and not is_local("example.org")


def test_each_visitor_runs_the_app_in_served_mode(tmp_path):
    command = app_command("my scenario.toml", tmp_path)
    assert "-m tui.serve --folder" in command
    assert command.endswith("-- 'my scenario.toml'")  # quoted for the shell


# --- the served app: what a visitor can open --------------------------------------------------


SMALL = """
name = "Inside"
[graph]
params = { w = 1.0 }
nodes = ["L = w * w"]
[optimizer]
kind = "sgd"
lr = 0.1
"""


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "inside.toml").write_text(SMALL, "utf-8")
    outside = tmp_path / "outside.toml"
    outside.write_text(SMALL.replace("Inside", "Outside"), "utf-8")
    (folder / "link.toml").symlink_to(outside)
    return folder, outside


def test_resolve_within_a_folder(served):
    folder, outside = served
    assert resolve("sub/inside.toml", within=folder) == (folder / "sub/inside.toml").resolve()
    assert resolve("xor", within=folder).name == "xor.toml"
    for ref in (str(outside), "../outside.toml", "link.toml", "sub/../../outside.toml", "/etc"):
        with pytest.raises(ScenarioError, match="is outside the folder served"):
            resolve(ref, within=folder)
    with pytest.raises(ScenarioError, match="is outside the folder served"):
        resolve("../no-such-file.toml", within=folder)  # no answer about what is out there
    with pytest.raises(ScenarioError, match="is not a scenario file"):
        resolve("sub", within=folder)


async def open_path(app: BpdbgApp, pilot, path: str) -> str:
    """Type ``path`` into the picker; returns the picker's error, or "" once it opened."""
    await pilot.press("o")
    for _ in range(200):
        await pilot.pause()
        if app.screen is not app.screen_stack[0]:
            break
    picker = app.screen
    picker.query_one(Input).value = path
    picker.query_one(Input).focus()
    await pilot.press("enter")
    for _ in range(200):
        await pilot.pause()
        if app.screen is not picker:
            return ""
        error = str(picker.query_one("#picker-error", Static).render())
        if error:
            await pilot.press("escape")
            return error
    pytest.fail("the picker neither opened the file nor said why not")


async def test_a_visitor_opens_files_of_the_folder_served_only(served):
    folder, outside = served
    app = BpdbgApp(open_program("worked-example"), served_from=folder, live_reload=False)
    async with app.run_test(size=(120, 40)) as pilot:
        for ref in (str(outside), "../outside.toml", "link.toml"):
            error = await open_path(app, pilot, ref)
            assert "is outside the folder served (served)" in error
            assert app.timeline.program.scenario.name == "Worked example: one neuron, one step"
        assert await open_path(app, pilot, "sub/inside.toml") == ""
        assert app.timeline.program.scenario.name == "Inside"
        assert await open_path(app, pilot, "xor") == ""
        assert app.timeline.program.scenario.name == "XOR with a 2-2-1 network"


async def test_in_a_terminal_the_picker_opens_any_file(served):
    _, outside = served
    app = BpdbgApp(open_program("worked-example"), live_reload=False)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await open_path(app, pilot, str(outside)) == ""
        assert app.timeline.program.scenario.name == "Outside"
