"""Fuzzing: no input may crash, hang or exhaust bpdbg — a clean refusal or a run, nothing else.

Two fuzzers, both seeded (``derandomize=True``) and bounded so that CI spends a few seconds:

- **mutants**: the built-in scenarios and the good test files, mutated byte by byte, line
  by line and token by token (deleted, duplicated, swapped, or with interesting tokens
  put in: huge integers, ``1e308``, deep brackets, control characters, ``nan``, long
  chains), fed to the loader, the graph builder and one recorded training step, whose
  trace is then written as JSON Lines and as text;
- **expressions**: expressions and watchpoint conditions generated from their grammar,
  valid and near-valid, parsed, built into a graph and evaluated.

Anything but a :class:`~engine.errors.ScenarioError` (or, for a condition typed in the
app, a :class:`~engine.debug.errors.ConditionError`) or a successful run fails: any other
exception, a ``RecursionError``, or a hang (an alarm ends an example after
:data:`HANG_SECONDS`, far beyond what any example needs).

``BPDBG_FUZZ_EXAMPLES=20000 pytest tests/engine/test_fuzz.py -s`` runs each fuzzer for
that many examples (minutes) and prints what they found.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scenarios
from engine.debug.conditions import WATCH_FUNCTIONS, Condition
from engine.debug.errors import ConditionError
from engine.errors import ScenarioError
from engine.graph import expr as ex
from engine.graph.ops import FUNCTIONS
from engine.report import gradcheck, trace
from engine.scenario.loader import load
from engine.scenario.records import GraphSpec, OptimizerSpec, Scenario, TrainSpec
from engine.step.program import make_program
from engine.timeline.timeline import Timeline

# A warning is output too (Python prints it on stderr, beside a one-line refusal).
pytestmark = pytest.mark.filterwarnings("error")

EXAMPLES = int(os.environ.get("BPDBG_FUZZ_EXAMPLES", "0"))
"""Examples per fuzzer when set (a long run); CI uses the small defaults below."""
HANG_SECONDS = 60
"""An example still running after this long is a hang (the slowest take a fraction of a
second; the bound is generous so that a busy machine never trips it)."""

CORPUS = sorted(scenarios.builtin_dir().glob("*.toml")) + sorted(
    (Path(__file__).parent.parent / "data" / "good").glob("*.toml")
)
TEXTS = [path.read_text("utf-8") for path in CORPUS]

FIGURES: dict[str, Counter[str]] = {"mutants": Counter(), "expressions": Counter()}
"""What each fuzzer saw, printed at the end of a run: cases, refusals, runs."""


def _settings(default: int) -> settings:
    return settings(
        max_examples=EXAMPLES or default,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


class Hang(Exception):
    """An example ran for :data:`HANG_SECONDS`."""


@contextlib.contextmanager
def hang_guard() -> Iterator[None]:
    """Fail an example that does not finish (SIGALRM, so the main thread only)."""

    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"still running after {HANG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def counted(seen: Counter[str]) -> Iterator[None]:
    """Count an example, and count it as a failure if anything escapes."""
    seen["cases"] += 1
    try:
        yield
    except BaseException:
        seen["failures"] += 1
        raise


@pytest.fixture(scope="module", autouse=True)
def report_figures() -> Iterator[None]:
    yield
    for name, seen in FIGURES.items():
        if seen:
            print(
                f"\nfuzz {name}: {seen['cases']:,} cases, {seen['refusals']:,} refusals,"
                f" {seen['runs']:,} runs, {seen['failures']:,} failures"
                + "".join(f"; {k} {v:,}" for k, v in sorted(seen.items()) if ":" in k)
            )


# --- mutants of good files ---------------------------------------------------------------------


INTERESTING = [
    "1" + "0" * 400,
    "-" + "9" * 320,
    "1e308",
    "-1e308",
    "1e-320",
    "1e999",
    "nan",
    "inf",
    "-inf",
    "-0.0",
    "0",
    "-1",
    "1000000",
    "[" * 80,
    "]" * 80,
    "{ a = " * 40,
    "[[" + ", ".join(["0"] * 1000) + "]]",
    "\x1b[31m",
    "\x07",
    "\x00",
    "\n",
    "\r\n",
    "\t",
    "\u2028",
    "\\",
    '"',
    "'",
    '"""',
    "'''",
    "#",
    "=",
    ",",
    ".",
    "é",
    "W + " * 400,
    "-" * 1000,
    "exp(" * 70,
    ")" * 70,
    " or L > 0" * 80,
    " < L" * 80,
    "0 ** -1",
    "exp(1000)",
    "log(0 - 1)",
    "x.T",
    "__import__('os')",
    "[[model.layers]]\nunits = 4096\nactivation = 'relu'\n",
    "[[breakpoints]]\nwhen = 'norm(grad) > 1'\n",
    "samples = 100000\n",
    "batch_size = 1\n",
    "steps = 10000000\n",
]
"""Tokens put into mutants: the kinds of thing that broke bpdbg before, and their kin."""

TOKEN = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|[A-Za-z_][A-Za-z_0-9]*|\S")


@st.composite
def mutants(draw: st.DrawFn) -> bytes:
    """A good file with one to four mutations (one, most often), as the bytes of a file."""
    text = draw(st.sampled_from(TEXTS))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 2, 3, 4]))):
        kind = draw(
            st.sampled_from(
                ["delete", "duplicate", "swap_lines", "insert", "replace_token", "byte"]
            )
        )
        lines = text.split("\n")
        if kind == "swap_lines" and len(lines) > 1:
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
            continue
        if kind == "replace_token":
            tokens = list(TOKEN.finditer(text))
            if tokens:
                token = tokens[draw(st.integers(0, len(tokens) - 1))]
                other = draw(
                    st.one_of(
                        st.sampled_from(INTERESTING),
                        st.sampled_from([t.group() for t in tokens]),
                    )
                )
                text = text[: token.start()] + other + text[token.end() :]
            continue
        start = draw(st.integers(0, len(text)))
        if kind == "insert":
            text = text[:start] + draw(st.sampled_from(INTERESTING)) + text[start:]
        elif kind == "byte":
            text = text[:start] + chr(draw(st.integers(0, 0x10FF))) + text[start + 1 :]
        else:
            end = min(len(text), start + draw(st.integers(1, 200)))
            piece = text[start:end]
            text = (
                text[:start]
                + (piece * draw(st.integers(2, 50)) if kind == "duplicate" else "")
                + text[end:]
            )
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:  # now and then, a byte that is no UTF-8
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + bytes([draw(st.integers(0x80, 0xFF))]) + raw[at:]
    return raw


def run_one_step(program) -> None:
    """One recorded step, written as the trace writes it (JSON Lines and text)."""
    timeline = Timeline(program)
    record = timeline.record(0)
    assert record.events
    for line in trace.jsonl(timeline, 1):
        assert "\n" not in line
    for line in trace.text(timeline, 1):
        assert "\n" not in line
    if sum(v.size for v in program.init_params.values()) <= 64:
        params, state = timeline.start_of(0)
        for check in gradcheck.check_step(program, 0, params, state):
            check.outcome, check.why_not(), check.checked_errors()


@pytest.fixture(scope="module")
def mutant_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "mutant.toml"


@_settings(100)
@given(raw=mutants())
def test_mutants_of_good_files_are_refused_or_run(raw: bytes, mutant_file: Path) -> None:
    seen = FIGURES["mutants"]
    mutant_file.write_bytes(raw)
    with counted(seen), hang_guard():
        try:
            program = make_program(load(mutant_file))
        except ScenarioError as err:
            message = str(err)
            assert "\n" not in message and message.startswith(f"{mutant_file}: ")
            seen["refusals"] += 1
            return
        run_one_step(program)
        seen["runs"] += 1


# --- expressions and conditions from their grammar -------------------------------------------


INPUTS = {"x": 0.5, "v": [1.0, -2.0, 3.0], "M": [[1.0, 0.0, -1.0], [0.5, 2.0, 1.0]]}
PARAMS = {"W": [0.1, -0.2, 0.3], "b": 0.0, "A": [[0.5, -0.5], [1.0, 2.0], [0.0, 1.0]]}
NAMES = [*INPUTS, *PARAMS]

numbers = st.one_of(
    st.integers(0, 10).map(str),
    st.sampled_from(["0.5", "2", "1e308", "1e-320", "1e999", "0", "3.0", "1" + "0" * 400]),
    st.floats(0, 1e6, allow_nan=False).map(repr),
)


def _expressions(functions: tuple[str, ...], conditions: bool) -> st.SearchStrategy[str]:
    leaves = st.one_of(st.sampled_from(NAMES), numbers)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "@"]), inner).map(
            lambda t: f"{t[0]} {t[1]} {t[2]}"
        )
        options = [
            binary,
            st.tuples(inner, numbers, st.booleans()).map(
                lambda t: f"({t[0]}) ** {'-' if t[2] else ''}{t[1]}"
            ),
            inner.map(lambda e: f"-({e})"),
            st.tuples(st.sampled_from(["-", "+", "- -"]), inner).map(lambda t: t[0] + t[1]),
            inner.map(lambda e: f"({e})"),
            st.tuples(st.sampled_from(functions), inner).map(lambda t: f"{t[0]}({t[1]})"),
        ]
        if conditions:
            options += [
                st.tuples(inner, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), inner).map(
                    lambda t: f"{t[0]} {t[1]} {t[2]}"
                ),
                st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
                    lambda t: f"({t[0]}) {t[1]} ({t[2]})"
                ),
                inner.map(lambda e: f"not ({e})"),
            ]
        return st.one_of(*options)

    valid = st.recursive(leaves, extend, max_leaves=12)
    chains = st.tuples(
        st.sampled_from(NAMES),
        st.sampled_from(["+", "*", " or " if conditions else "-", "<"]),
        st.integers(2, 400),
    ).map(lambda t: t[1].join([t[0]] * t[2]))
    signs = st.tuples(
        st.sampled_from(["-", "+", "not " if conditions else "-"]), st.integers(1, 700)
    ).map(lambda t: t[0] * t[1] + "x")
    wrapped = st.tuples(st.sampled_from(functions), st.integers(1, 120)).map(
        lambda t: f"{t[0]}(" * t[1] + "x" + ")" * t[1]
    )
    breakers = st.sampled_from(
        [
            ".T",
            "[0]",
            "lambda: 1",
            "'s'",
            ",",
            "=",
            "**W",
            "(",
            ")",
            "\n",
            "\x1b",
            ":=",
            "if",
            "*",
            "~",
            "%",
            "//",
            "x,",
            "y=1",
            "...",
            "await x",
            "{}",
            "[]",
            "\\",
            "#",
            "é",
            "nan",
        ]
    )
    near_valid = st.tuples(valid, breakers, st.integers(0, 60)).map(
        lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]
    )
    return st.one_of(valid, valid, near_valid, chains, signs, wrapped)


def _program(expression: str):
    spec = GraphSpec(
        {k: np.array(v, dtype=float) for k, v in INPUTS.items()},
        {k: np.array(v, dtype=float) for k, v in PARAMS.items()},
        (("z", expression.strip()), ("L", "sum(z * z)")),
        "L",
    )
    scenario = Scenario(
        name="fuzz",
        source="fuzz.toml",
        optimizer=OptimizerSpec("adam", 0.1),
        train=TrainSpec(steps=1),
        graph=spec,
    )
    return make_program(scenario)


def _same_labels_as_unparse(tree: ex.Expr) -> None:
    """The labels built bottom-up are what ``ast.unparse`` writes (the tree is shallow)."""
    stack = [tree]
    while stack:
        e = stack.pop()
        if isinstance(e, ex.Apply):
            if e.op not in ("and", "or", "lt", "le", "gt", "ge", "eq", "ne"):  # chains share a text
                assert e.text == ast.unparse(ast.parse(e.text, mode="eval")), e.text
            stack.extend(e.args)


@_settings(300)
@given(_expressions(FUNCTIONS, conditions=False))
def test_expressions_are_refused_or_run(expression: str) -> None:
    seen = FIGURES["expressions"]
    with counted(seen), hang_guard():
        try:
            tree = ex.parse(expression)
        except ex.ExprError as err:
            assert "\n" not in str(err)
            seen["refusals"] += 1
            seen["refused: parse"] += 1
            return
        _same_labels_as_unparse(tree)
        try:
            program = _program(expression)
        except ScenarioError as err:
            assert "\n" not in str(err) and str(err).startswith("fuzz.toml: graph.nodes[0]: ")
            seen["refusals"] += 1
            seen["refused: build"] += 1
            return
        run_one_step(program)
        seen["runs"] += 1


CONDITION_GRAPH = None


def _condition_setup():
    global CONDITION_GRAPH
    if CONDITION_GRAPH is None:
        program = _program("A @ (M @ W) + b * v")
        timeline = Timeline(program)
        timeline.compute(2)
        # Step 1 (so prev_loss and prev_W are known), every third event: each phase.
        per_step = timeline.events_per_step
        frames = [timeline.frame(seq) for seq in range(per_step, 2 * per_step, 3)]
        CONDITION_GRAPH = (program.graph, timeline, frames)
    return CONDITION_GRAPH


@_settings(200)
@given(
    st.one_of(
        _expressions(WATCH_FUNCTIONS, conditions=True),
        st.sampled_from(["grad", "value", "loss", "prev_loss", "step", "prev_W", "grad_z"]).flatmap(
            lambda name: _expressions(WATCH_FUNCTIONS, conditions=True).map(
                lambda e: f"{name} > ({e})"
            )
        ),
    )
)
def test_conditions_are_refused_or_evaluate(condition: str) -> None:
    seen = FIGURES["expressions"]
    graph, timeline, frames = _condition_setup()
    with counted(seen), hang_guard():
        try:
            compiled = Condition.compile(condition, graph)
        except ConditionError as err:
            assert "\n" not in str(err)
            seen["refusals"] += 1
            seen["refused: condition"] += 1
            return
        _same_labels_as_unparse(compiled.tree)
        for frame in frames:
            value = compiled.evaluate(frame, timeline)
            assert value is None or isinstance(value, np.ndarray)
            compiled.holds(frame, timeline)
        seen["runs"] += 1
