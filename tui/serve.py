"""``bpdbg serve``: the app in web browsers, one app process per visitor.

textual-serve does the work: a small aiohttp server whose page runs xterm.js and opens
a websocket; for each websocket it starts one app process (``python -m tui.serve``,
with Textual's web driver) and relays the terminal's bytes both ways.

What this module adds:

- the served app is :class:`~tui.app.BpdbgApp` in its served mode (``served_from``): the
  picker opens only built-in scenarios and files under the folder served (the folder
  ``bpdbg serve`` runs in; links and ``..`` resolved first), and a screenshot is sent
  to the browser instead of being written on the server. A visitor reads and writes
  nothing else on the server;
- addresses: 127.0.0.1:8000 unless told otherwise; port 0 takes a free port; the URL
  is printed once the port is open; binding another address prints a warning; the page
  and its websocket address come from the host the browser asked for, so the page
  works at whatever address it was reached;
- ``ctrl+c`` (or SIGTERM) closes every session, lets their app processes quit, and
  exits with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import shlex
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from engine.errors import ScenarioError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
PROG = "bpdbg"


class ServeError(Exception):
    """The server cannot start (the address is taken, say); the message says why."""


def is_local(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def app_command(ref: str, folder: Path) -> str:
    """The shell command textual-serve runs for each visitor: this module as a script."""
    args = [sys.executable, "-m", "tui.serve", "--folder", str(folder), "--", ref]
    return shlex.join(args)


def serve(ref: str, host: str, port: int, out: TextIO, err: TextIO) -> int:
    """Serve the app on ``scenario`` until interrupted.

    The scenario is loaded once here first, so that a bad one is refused before the
    server starts (each visitor's app loads it again).

    Args:
        ref: A built-in id or a ``.toml`` path (relative to the current folder).
        host: The address to bind.
        port: The port; 0 takes a free one.
        out: Where the URL is printed.
        err: Where warnings go.

    Returns:
        0 once stopped by ctrl+c or SIGTERM.

    Raises:
        ScenarioError: The scenario is missing or invalid.
        ServeError: The server cannot listen there.
    """
    from engine.open import open_program

    program = open_program(ref)
    folder = Path.cwd().resolve()
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s", stream=err)
    server = _server(app_command(ref, folder), f"bpdbg · {program.scenario.name}")
    if not is_local(host):
        print(
            f"{PROG}: warning: serving on {host}, not only to this machine: whoever can reach "
            f"it on port {port} can run the app here (files stay confined to {folder})",
            file=err,
            flush=True,
        )
    return asyncio.run(_run(server, program.scenario.name, host, port, out))


async def _run(server: Any, name: str, host: str, port: int, out: TextIO) -> int:
    from aiohttp import web

    runner = web.AppRunner(server.web_app(), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as e:
        await runner.cleanup()
        raise ServeError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None
    bound = runner.addresses[0][1] if runner.addresses else port
    shown = f"[{host}]" if ":" in host else host
    print(f"{PROG}: serving {name} at http://{shown}:{bound}/", file=out)
    print("one app per browser tab; ctrl+c stops", file=out, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()  # closes the websockets; each app process is told to quit
    return 0


def _server(command: str, title: str) -> Any:
    """textual-serve's server, with its page addressed by the host the browser used.

    Made when serving starts: textual-serve brings in aiohttp and jinja2, which neither
    the other commands nor each visitor's app process need.
    """
    import aiohttp_jinja2
    import jinja2
    from aiohttp import web
    from textual_serve.server import Server

    class _Server(Server):
        sessions: set[asyncio.Task[Any]]
        """Each visitor's websocket handler, running."""

        def web_app(self) -> web.Application:
            """The aiohttp application: the page, the websocket, downloads, static files."""
            app = web.Application()
            aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
            app.on_shutdown.append(self.end_sessions)
            app.add_routes(
                [
                    web.get("/", self.page, name="index"),
                    web.get("/ws", self.session, name="websocket"),
                    web.get("/download/{key}", self.handle_download, name="download"),
                    web.static("/static", self.statics_path, name="static"),
                ]
            )
            return app

        async def page(self, request: web.Request) -> web.StreamResponse:
            """The page that runs the terminal, its URLs those of the host asked."""
            origin = f"{request.scheme}://{request.host}"
            socket = ("wss" if request.scheme == "https" else "ws") + f"://{request.host}"
            try:
                font_size = int(request.query.get("fontsize", "16"))
            except ValueError:
                font_size = 16
            context: dict[str, Any] = {
                "font_size": max(6, min(font_size, 64)),
                "app_websocket_url": socket + str(request.app.router["websocket"].url_for()),
                "config": {"static": {"url": f"{origin}/static/"}},
                "application": {"name": self.title},
            }
            return aiohttp_jinja2.render_template("app_index.html", request, context)

        async def session(self, request: web.Request) -> web.StreamResponse:
            """One visitor's app, for as long as their websocket is open."""
            task = asyncio.current_task()
            assert task is not None
            self.sessions.add(task)
            try:
                response: web.StreamResponse = await self.handle_websocket(request)
                return response
            finally:
                self.sessions.discard(task)

        async def end_sessions(self, _app: web.Application) -> None:
            """On the way out: close every websocket, and so tell every app to quit.

            A visitor's open page would otherwise keep the server waiting."""
            for task in list(self.sessions):
                task.cancel()  # textual-serve closes the socket and stops the app process
            await asyncio.gather(*self.sessions, return_exceptions=True)

    server = _Server(command, title=title)
    server.sessions = set()
    return server


# --- each visitor's app process ---------------------------------------------------------------


def _app_main(argv: list[str]) -> int:
    """``python -m tui.serve --folder DIR -- SCENARIO``: one visitor's app."""
    parser = argparse.ArgumentParser(prog="python -m tui.serve")
    parser.add_argument("--folder", required=True, type=Path)
    parser.add_argument("scenario")
    args = parser.parse_args(argv)
    from engine.open import open_program

    try:
        program = open_program(args.scenario)
    except ScenarioError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    from tui.app import BpdbgApp

    app = BpdbgApp(program, served_from=args.folder)
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(_app_main(sys.argv[1:]))
