"""The ``bpdbg`` command line: open the app, list built-ins, trace, check.

``list``, ``trace`` and ``check`` run headless and never import Textual; the app is
imported only when it is opened. A scenario is loaded and validated here, before the
app starts, so an invalid file is reported as one line on stderr with exit status 2.
Nothing a user types may end in a Python traceback: :func:`main` turns every failure
into a ``bpdbg: error: …`` line and an exit status.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from engine import fmt
from engine.errors import ScenarioError
from engine.open import open_program
from engine.report import gradcheck
from engine.scenario.loader import load
from engine.scenario.records import MAX_STEPS
from engine.step.events import PHASES
from engine.step.program import Program
from engine.timeline.timeline import Timeline
from scenarios import builtin_dir, builtin_ids
from tui.collector import resume_gc

PROG = "bpdbg"
DEFAULT_SCENARIO = "worked-example"
"""What ``bpdbg`` opens with no argument: the one-neuron worked example."""
COMMANDS = ("list", "trace", "check", "snapshot", "serve")
"""Subcommands; these words win over files of the same name (``./list`` is a file)."""
FORMATS = ("jsonl", "text", "md")
"""``trace --format`` choices: the writers of :mod:`engine.report.trace`, which loads only for a
trace (its JSON encoder is no part of opening the app)."""

EXIT_OK = 0
EXIT_DISAGREE = 1
EXIT_INVALID = 2
EXIT_NOTHING_CHECKED = 3  # check: no gradient could be checked (an extension of the contract)
EXIT_SOFTWARE = 70  # sysexits.h EX_SOFTWARE: a bug in bpdbg, not in the user's input
EXIT_SIGPIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool cut off by `head`
EXIT_INTERRUPTED = 130  # 128 + SIGINT

USAGE = f"""\
{PROG} [SCENARIO]
       {PROG} list
       {PROG} trace SCENARIO [--steps N] [--format jsonl|text|md]
                   [--phase P[,P…]] [--node N[,N…]] [--every K]
       {PROG} check SCENARIO [--steps N]
       {PROG} snapshot SCENARIO [--at STEP[.EVENT]] [--press KEYS] [--size COLSxROWS]
                      [-o FILE]
       {PROG} serve [SCENARIO] [--host H] [--port P]"""

DESCRIPTION = """\
A terminal step debugger for backpropagation.

  bpdbg [SCENARIO]   open the app on a built-in scenario id or a .toml file
                     (default: worked-example)
  bpdbg list         list the built-in scenarios
  bpdbg trace ...    run headless and write every event to stdout
  bpdbg check ...    compare every analytic gradient with finite differences
  bpdbg snapshot ... the app at one event, as SVG or text, without a terminal
  bpdbg serve ...    the app in web browsers, one app per visitor

Run "bpdbg COMMAND --help" for a command's options."""


class UsageError(Exception):
    """Bad command-line usage; the message follows ``bpdbg: error:``."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that reports errors as ``bpdbg: error: …`` via :func:`main`."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise UsageError(message)


def _steps_arg(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_STEPS:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {MAX_STEPS:,}, found {text[:40]!r}"
        )
    return n


def _phases_arg(text: str) -> list[str]:
    phases = _names_arg(text)
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown phase {unknown[0][:40]!r}; expected {', '.join(PHASES)} "
            "(several separated by commas)"
        )
    return phases


def _names_arg(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected one name or more, found {text[:40]!r}")
    return names


def _every_arg(text: str) -> int:
    try:
        k = int(text)
    except ValueError:
        k = 0
    if not 1 <= k <= MAX_STEPS:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {MAX_STEPS:,}, found {text[:40]!r}"
        )
    return k


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """The parser for opening the app (``""``) and one per subcommand."""
    formatter = argparse.RawDescriptionHelpFormatter
    open_ = _Parser(prog=PROG, usage=USAGE, description=DESCRIPTION, formatter_class=formatter)
    open_.add_argument(
        "scenario",
        nargs="?",
        default=DEFAULT_SCENARIO,
        metavar="SCENARIO",
        help=f"a built-in scenario id or a .toml file (default: {DEFAULT_SCENARIO})",
    )
    open_.add_argument("--version", action=_VersionAction)

    list_ = _Parser(
        prog=f"{PROG} list",
        description="List the built-in scenarios: id, name and a one-line description.",
    )

    trace = _Parser(
        prog=f"{PROG} trace",
        description="Run a scenario headless and write its trace to stdout.",
        epilog='jsonl is one JSON object per event (see "The trace" in the README); text '
        "is for people; md is a step-by-step derivation in Markdown. --phase, --node and "
        "--every choose which events are written; seq still counts every event.",
    )
    trace.add_argument("scenario", metavar="SCENARIO", help="a built-in id or a .toml file")
    trace.add_argument(
        "--steps", type=_steps_arg, metavar="N", help="training steps (overrides train.steps)"
    )
    trace.add_argument(
        "--format", choices=FORMATS, default="jsonl", help="output format (default: jsonl)"
    )
    trace.add_argument(
        "--phase",
        type=_phases_arg,
        action="extend",
        metavar="P[,P…]",
        help="only events of these phases: " + ", ".join(PHASES),
    )
    trace.add_argument(
        "--node",
        type=_names_arg,
        action="extend",
        metavar="N[,N…]",
        help="only events about these nodes or parameters (and the loss events)",
    )
    trace.add_argument(
        "--every", type=_every_arg, default=1, metavar="K", help="only every K-th step: 0, K, 2K, …"
    )

    check = _Parser(
        prog=f"{PROG} check",
        description="Validate a scenario and compare every analytic gradient with central "
        "finite differences at the first and last step and up to three steps between.",
        epilog="Each result is OK, FAIL (a gradient disagrees; the worst element is shown) or "
        "CANNOT CHECK where the loss or a parameter is not finite (nan or inf), so that a "
        "finite difference says nothing there; a parameter checked on some of its elements "
        "only says which could not be. Exit status: 0 every gradient that could be checked "
        "agrees, and at least one could; 1 a gradient disagrees; 2 invalid scenario; "
        "3 nothing could be checked.",
    )
    check.add_argument("scenario", metavar="SCENARIO", help="a built-in id or a .toml file")
    check.add_argument(
        "--steps", type=_steps_arg, metavar="N", help="training steps (overrides train.steps)"
    )
    snapshot = _Parser(
        prog=f"{PROG} snapshot",
        description="Draw the app at one event without a terminal, the same bytes every "
        "run: SVG (the app's own screenshot) when FILE ends in .svg, the screen's text "
        "when it ends in .txt or when there is no -o.",
        epilog="Examples: bpdbg snapshot worked-example --at 0.6 -o backward.svg; "
        "bpdbg snapshot xor --at 120 --press i --size 100x30",
    )
    snapshot.add_argument("scenario", metavar="SCENARIO", help="a built-in id or a .toml file")
    snapshot.add_argument(
        "--at",
        default="0",
        metavar="STEP[.EVENT]",
        help="the event: a step from 0 and the event's index within it (default 0.0), "
        "or #N, the event's index in the whole run",
    )
    snapshot.add_argument(
        "--press",
        default="",
        metavar="KEYS",
        help="keys to press there first, separated by commas: i, or n,n,v, or right,escape",
    )
    snapshot.add_argument(
        "--size", default="120x40", metavar="COLSxROWS", help="the screen's size (default 120x40)"
    )
    snapshot.add_argument(
        "-o", "--output", metavar="FILE", help="write here (.svg or .txt) instead of stdout"
    )

    serve = _Parser(
        prog=f"{PROG} serve",
        description="Serve the app to web browsers: each visitor (each browser tab) gets an "
        "app of their own. A visitor can open the built-in scenarios and the scenario files "
        "under the current folder, nothing else. Stop with ctrl+c.",
    )
    serve.add_argument(
        "scenario",
        nargs="?",
        default=DEFAULT_SCENARIO,
        metavar="SCENARIO",
        help=f"a built-in id or a .toml file (default: {DEFAULT_SCENARIO})",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="H",
        help="the address to listen on (default 127.0.0.1: this machine only)",
    )
    serve.add_argument(
        "--port",
        type=_port_arg,
        default=8000,
        metavar="P",
        help="the port (default 8000; 0: any free one)",
    )
    return {
        "": open_,
        "list": list_,
        "trace": trace,
        "check": check,
        "snapshot": snapshot,
        "serve": serve,
    }


def _port_arg(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, found {text[:40]!r}")
    return port


class _VersionAction(argparse.Action):
    """``--version``, which looks the version up only when asked (that costs ~20 ms)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bpdbg")
    except PackageNotFoundError:
        return "(not installed)"


# --- loading ------------------------------------------------------------------------------


# --- commands -------------------------------------------------------------------------------


def _write_lines(lines: Iterable[str], out: TextIO) -> None:
    write = out.write
    for line in lines:
        write(line)
        write("\n")
    out.flush()


def one_line(description: str) -> str:
    """The first sentence of a Markdown description, as plain text on one line."""
    paragraph = description.strip().split("\n\n", 1)[0]
    text = " ".join(line.strip().lstrip("#").strip() for line in paragraph.splitlines())
    # Drop emphasis and code marks, but not a ``**`` inside code such as `x ** 2`.
    pieces = text.split("`")
    text = "".join(p if i % 2 else re.sub(r"\*\*|__", "", p) for i, p in enumerate(pieces))
    m = re.search(r"(?<=[.!?])\s", text)
    return (text[: m.start()] if m else text).strip()


def cmd_list(out: TextIO) -> int:
    """``bpdbg list``: one line per built-in, ``id  name — description``."""
    ids = builtin_ids()
    width = max((len(i) for i in ids), default=0)
    status = EXIT_OK
    rows = []
    for ident in ids:
        try:
            scenario = load(builtin_dir() / f"{ident}.toml", source=ident)
        except ScenarioError as e:
            _error(e)
            status = EXIT_INVALID
            rows.append(f"{ident:<{width}}  (invalid: see the error above)")
            continue
        desc = fmt.printable(one_line(scenario.description))
        name = fmt.printable(scenario.name)
        rows.append(f"{ident:<{width}}  {name}" + (f" — {desc}" if desc else ""))
    _write_lines(rows, out)
    return status


def cmd_trace(
    ref: str,
    steps: int | None,
    output_format: str,
    out: TextIO,
    phases: Sequence[str] | None = None,
    nodes: Sequence[str] | None = None,
    every: int = 1,
) -> int:
    """``bpdbg trace``: the run's events to ``out`` in ``output_format``, those kept."""
    from engine.report import trace

    program = open_program(ref, steps)
    keep = trace.Keep(
        frozenset(phases) if phases else frozenset(PHASES),
        None if nodes is None else frozenset(nodes),
        every,
    )
    try:
        trace.check_keep(program, keep)
    except ValueError as e:
        raise UsageError(f"--node: {e}") from None
    timeline = Timeline(program)
    binary = getattr(out, "buffer", None)
    if output_format == "jsonl" and binary is not None:
        out.flush()  # anything written as text goes first
        write = binary.write
        for line in trace.jsonl_bytes(timeline, None, keep):
            write(line)
        binary.flush()
        return EXIT_OK
    _write_lines(trace.WRITERS[output_format](timeline, None, keep), out)
    return EXIT_OK


def check_steps(n: int) -> list[int]:
    """The steps ``check`` examines: the first, the last, and up to three evenly between."""
    if n <= 0:
        return []
    return sorted({0, n - 1} | {round(k * (n - 1) / 4) for k in (1, 2, 3)})


def run_check(program: Program, out: TextIO) -> int:
    """Compare every parameter's analytic gradient with central differences.

    Prints a table (step, param, shape, max abs error, max rel error, result) and a
    summary line. A result is ``OK``, ``FAIL`` (with the worst element), or
    ``CANNOT CHECK: why`` where the loss or the parameter is not finite, so a finite
    difference says nothing (:class:`engine.report.gradcheck.Outcome`); a parameter checked on
    only some of its elements says which could not be.

    Returns:
        1 when any gradient disagrees; else 0 when at least one could be checked (and
        all that could agree); 3 when none could be checked at all.
    """
    scenario = program.scenario
    steps = check_steps(program.steps)
    params = program.graph.params
    shapes = {p: fmt.shape(program.init_params[p].shape) for p in params}
    wp = max([5, *map(len, params)])
    ws = max([5, *map(len, shapes.values())])
    print(f"checking {fmt.printable(scenario.name)} ({fmt.printable(scenario.source)})", file=out)
    print(
        f"central differences, h = {gradcheck.STEP:g}·max(1, |θ|); agree when "
        f"|analytic − numeric| ≤ {gradcheck.ATOL:g} + {gradcheck.RTOL:g}·max(|analytic|, |numeric|)",
        file=out,
    )
    print(file=out)
    print(
        f"{'step':>8}  {'param':<{wp}}  {'shape':<{ws}}  {'max abs err':>11}  "
        f"{'max rel err':>11}  result",
        file=out,
    )
    out.flush()
    timeline = Timeline(program)
    timeline.compute(steps[-1])  # the state at the start of the last step checked
    counts = dict.fromkeys(gradcheck.Outcome, 0)
    finite_steps = 0
    unchecked: list[str] = []  # why some gradients (or elements) could not be checked
    no_errors = f"{'—':>11}  {'—':>11}"
    for step in steps:
        start_params, start_state = timeline.start_of(step)
        loss = gradcheck.loss_at(program, start_params, step)
        if not math.isfinite(loss):
            why = f"the loss is {fmt.num(loss)}"
            counts[gradcheck.Outcome.CANNOT_CHECK] += len(params)
            unchecked.append(f"step {step} ({why})")
            print(
                f"{step:>8}  {'(all)':<{wp}}  {'':<{ws}}  {no_errors}  CANNOT CHECK: {why}",
                file=out,
            )
            continue
        finite_steps += 1
        for c in gradcheck.check_step(program, step, start_params, start_state):
            outcome = c.outcome
            counts[outcome] += 1
            lead = f"{step:>8}  {c.param:<{wp}}  {shapes[c.param]:<{ws}}"
            if outcome is gradcheck.Outcome.CANNOT_CHECK:
                why = c.why_not()
                unchecked.append(f"step {step} ({why})")
                print(f"{lead}  {no_errors}  CANNOT CHECK: {why}", file=out)
                continue
            abs_err, rel_err = c.checked_errors()
            result = "OK" if outcome is gradcheck.Outcome.AGREE else "FAIL"
            skipped = c.count(gradcheck.Outcome.CANNOT_CHECK)
            if skipped:
                why = c.why_not()
                unchecked.append(f"step {step} ({why})")
                size = c.analytic.size
                result += f" on {size - skipped:,} of {size:,} elements; cannot check: {why}"
            print(f"{lead}  {abs_err:>11.2e}  {rel_err:>11.2e}  {result}", file=out)
            for note in c.kink_notes():
                print(f"{'':>10}{note}", file=out)
            if outcome is gradcheck.Outcome.DISAGREE:
                print(_worst(c), file=out)
        out.flush()
    print(file=out)
    agreed, failed = counts[gradcheck.Outcome.AGREE], counts[gradcheck.Outcome.DISAGREE]
    checked = agreed + failed
    where = _count(finite_steps, "step") + " × " + _count(len(params), "parameter")
    if failed:
        print(
            f"FAIL: {failed} of {checked} gradients disagree with finite differences ({where})",
            file=out,
        )
    elif checked:
        that_could = " that could be checked" if unchecked else ""
        print(
            f"OK: all {checked} gradients{that_could} agree with finite differences ({where})",
            file=out,
        )
    else:
        print(
            "NOTHING CHECKED: no gradient could be checked, as the numbers are not finite", file=out
        )
    if unchecked:
        print("cannot check: " + "; ".join(unchecked), file=out)
    if failed:
        return EXIT_DISAGREE
    return EXIT_OK if checked else EXIT_NOTHING_CHECKED


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _worst(c: gradcheck.ParamCheck) -> str:
    """The disagreeing element with the largest difference (a nan one is the worst)."""
    with np.errstate(all="ignore"):
        diff = np.abs(c.analytic - c.numeric)
    disagree = c.outcomes == gradcheck.Outcome.DISAGREE if c.outcomes is not None else True
    ranked = np.where(disagree, np.where(np.isnan(diff), np.inf, diff), -1.0)
    i = int(np.argmax(ranked)) if diff.size else 0
    index = np.unravel_index(i, c.analytic.shape) if c.analytic.ndim else ()
    where = "[" + ", ".join(str(int(k)) for k in index) + "]" if index else ""
    analytic, numeric = c.analytic.reshape(-1)[i], c.numeric.reshape(-1)[i]
    return (
        f"{'':>8}  worst element {c.param}{where}: "
        f"analytic {fmt.num(analytic)}, numeric {fmt.num(numeric)}"
    )


def cmd_check(ref: str, steps: int | None, out: TextIO) -> int:
    """``bpdbg check``: validate, then :func:`run_check`."""
    return run_check(open_program(ref, steps), out)


def cmd_snapshot(ref: str, at: str, press: str, size: str, output: str | None, out: TextIO) -> int:
    """``bpdbg snapshot``: the app at one event, as SVG or text (importing Textual now)."""
    kind = "txt" if output is None else Path(output).suffix.lower().lstrip(".")
    if kind not in ("svg", "txt"):
        raise UsageError(f"-o {output}: the file must end in .svg (a picture) or .txt (text)")
    from tui import snapshot

    try:
        keys = snapshot.parse_keys(press) if press.strip() else []
        columns_rows = snapshot.parse_size(size)
        program = open_program(ref)
        seq = snapshot.parse_at(at, program)
        picture = snapshot.snapshot(
            program,
            at=seq,
            press=keys,
            size=columns_rows,
            format="svg" if kind == "svg" else "text",
        )
    except snapshot.SnapshotError as e:
        raise UsageError(str(e)) from None
    if output is None:
        out.write(picture)
        out.flush()
        return EXIT_OK
    try:
        Path(output).write_text(picture, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{output}: cannot write it: {e.strerror or e}") from None
    return EXIT_OK


def cmd_serve(ref: str, host: str, port: int, out: TextIO) -> int:
    """``bpdbg serve``: the app in web browsers until ctrl+c."""
    from tui import serve

    if not host.strip():
        raise UsageError("--host: expected an address such as 127.0.0.1 or 0.0.0.0")
    try:
        return serve.serve(ref, host.strip(), port, out, sys.stderr)
    except serve.ServeError as e:
        raise UsageError(str(e)) from None


def cmd_open(ref: str) -> int:
    """``bpdbg [SCENARIO]``: validate first, then open the app (importing Textual now)."""
    program = open_program(ref)
    from tui.app import run_app

    status = run_app(program)
    return status if isinstance(status, int) else EXIT_OK


# --- entry point ------------------------------------------------------------------------------


def _dispatch(argv: list[str]) -> int:
    parsers = _parsers()
    command = argv[0] if argv and argv[0] in COMMANDS else ""
    args = parsers[command].parse_args(argv[1:] if command else argv)
    if command:
        resume_gc()  # the app resumes it once its first frame is up (tui.startup)
    out = sys.stdout
    if command == "list":
        return cmd_list(out)
    if command == "trace":
        return cmd_trace(
            args.scenario, args.steps, args.format, out, args.phase, args.node, args.every
        )
    if command == "check":
        return cmd_check(args.scenario, args.steps, out)
    if command == "snapshot":
        return cmd_snapshot(args.scenario, args.at, args.press, args.size, args.output, out)
    if command == "serve":
        return cmd_serve(args.scenario, args.host, args.port, out)
    return cmd_open(args.scenario)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _replace_unencodable() -> None:
    # Formulas use ∂, ←, ², ·: a terminal that cannot show them gets "?" rather than a crash.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):
                pass


def _error(e: Exception) -> None:
    """``bpdbg: error: …`` on stderr, as one line of text: a file name, a key or an
    expression in the message may hold any character, and none may reach the terminal
    as a control sequence."""
    print(f"{PROG}: error: {fmt.printable(str(e))}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bpdbg`` with ``argv`` (default: the process's arguments).

    Returns:
        The exit status: 0 success; 1 a gradient disagrees (``check``); 2 an invalid
        scenario or bad usage; 130 interrupted; 141 stdout closed early; 70 a bug.
    """
    _replace_unencodable()
    try:
        return _dispatch(list(sys.argv[1:] if argv is None else argv))
    except (ScenarioError, UsageError) as e:
        _error(e)
        return EXIT_INVALID
    except SystemExit as e:  # argparse's --help and --version
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_INVALID)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_SIGPIPE
    except Exception as e:  # noqa: BLE001 - the last line of defence against a traceback
        print(
            f"{PROG}: internal error: {type(e).__name__}: {fmt.printable(str(e))}", file=sys.stderr
        )
        return EXIT_SOFTWARE


if __name__ == "__main__":
    sys.exit(main())
