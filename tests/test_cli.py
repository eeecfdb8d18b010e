"""The ``bpdbg`` command line (SPEC §2): exit statuses, ``bpdbg: error:`` on stderr, never
a traceback, and no Textual import for the headless commands."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import numpy as np
import pytest

import scenarios
from engine.graph import ops
from engine.scenario.records import MAX_STEPS
from tui import cli

ROOT = Path(__file__).parent.parent

GOOD = """
name = "Tiny"
description = "A tiny neuron. It learns."
[model]
inputs = 1
[[model.layers]]
units = 1
activation = "identity"
weight = [[0.5]]
bias = [0.0]
[data]
x = [[1.0]]
y = [[0.0]]
[loss]
kind = "mse"
[optimizer]
kind = "sgd"
lr = 0.1
[train]
steps = 4
"""


def bpdbg(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd or ROOT,
        timeout=120,
    )
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    return result


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(GOOD, encoding="utf-8")
    return path


# --- list -------------------------------------------------------------------------------------


def test_list():
    r = bpdbg("list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    ids = scenarios.builtin_ids()
    assert [ln.split()[0] for ln in lines] == ids
    we = next(ln for ln in lines if ln.startswith("worked-example "))
    assert " — " in we
    assert "\n" not in we


def test_one_line_description():
    assert cli.one_line("A tiny neuron. It learns.") == "A tiny neuron."
    assert cli.one_line("First line\nsame sentence.\n\nSecond paragraph.") == (
        "First line same sentence."
    )
    assert cli.one_line("**Bold** and `x ** 2` code. More.") == "Bold and x ** 2 code."
    assert cli.one_line("") == ""


# --- trace --------------------------------------------------------------------------------------


def test_trace_jsonl_is_the_default(good):
    r = bpdbg("trace", str(good))
    assert r.returncode == 0, r.stderr
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(objs) == 4 * 10
    assert [o["seq"] for o in objs] == list(range(40))
    assert objs[2] == {"seq": 2, "step": 0, "phase": "loss", "node": "L", "value": 0.25}


def test_trace_steps_overrides_train_steps(good):
    r = bpdbg("trace", str(good), "--steps", "2", "--format", "jsonl")
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == 20


def test_trace_text_worked_example():
    r = bpdbg("trace", "worked-example", "--format", "text", "--steps", "1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "step 0 · forward · z1 = x·W1 + b1 = 1.0·0.5 + 0.0 = 0.5"
    assert "step 0 · update · W1 ← W1 − lr·∂L/∂W1 = 0.5 − 0.1·1.0 = 0.4" in lines


def test_trace_md(good):
    r = bpdbg("trace", str(good), "--format", "md", "--steps", "1")
    assert r.returncode == 0
    assert r.stdout.startswith("# Tiny\n")
    assert "### Backward pass" in r.stdout


def test_trace_update_of_one_parameter_keeps_its_seq():
    r = bpdbg("trace", "xor", "--steps", "5", "--phase", "update", "--node", "W1")
    assert r.returncode == 0, r.stderr
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    full = [json.loads(line) for line in bpdbg("trace", "xor", "--steps", "5").stdout.splitlines()]
    assert objs == [o for o in full if o["phase"] == "update" and o["param"] == "W1"]
    assert [o["step"] for o in objs] == [0, 1, 2, 3, 4]


def test_trace_filters_combine_and_repeat():
    r = bpdbg(
        "trace", "xor", "--steps", "6", "--phase", "loss", "--phase", "backward,update",
        "--node", "b2", "--every", "3", "--format", "text",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    heads = [ln.split(" · ")[:2] for ln in r.stdout.splitlines() if ln.startswith("step")]
    assert heads == [[f"step {s}", p] for s in (0, 3) for p in ("loss", "backward", "update")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--phase", "grad"], "argument --phase: unknown phase 'grad'; expected forward, loss"),
        (["--phase", ","], "argument --phase: expected one name or more"),
        (["--every", "0"], "argument --every: expected a whole number from 1 to"),
        (
            ["--node", "W9"],
            "--node: no node or parameter 'W9'; the nodes and parameters with events are: "
            "W1, b1, z1, a1, W2, b2, z2, a2, L",
        ),
        (["--node", "x"], "--node: 'x' is an input: no event is about it;"),
    ],
)
def test_trace_bad_filters_exit_2(args, message):
    r = bpdbg("trace", "xor", *args)
    assert r.returncode == 2
    assert f"bpdbg: error: {message}" in r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("steps", ["0", "-1", "abc", "1.5", str(MAX_STEPS + 1), ""])
def test_bad_steps_are_refused(good, steps):
    r = bpdbg("trace", str(good), "--steps", steps)
    assert r.returncode == 2
    assert "bpdbg: error: argument --steps: expected a whole number from 1 to" in r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["trace"],
        ["trace", "worked-example", "--format", "xml"],
        ["trace", "worked-example", "--nope"],
        ["check"],
        ["list", "extra"],
        ["a.toml", "b.toml"],
    ],
)
def test_bad_usage_exits_2(args):
    r = bpdbg(*args)
    assert r.returncode == 2
    assert "bpdbg: error: " in r.stderr


def test_invalid_scenario_exits_2_with_file_and_place(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace('activation = "identity"', 'activation = "swish"'), "utf-8")
    for args in (["trace", str(bad)], ["check", str(bad)], [str(bad)]):
        r = bpdbg(*args)
        assert r.returncode == 2
        assert r.stderr.startswith(f"bpdbg: error: {bad}: model.layers[0].activation")
        assert r.stderr.count("\n") == 1
        assert r.stdout == ""


def test_toml_syntax_error_names_line_and_column(tmp_path):
    bad = tmp_path / "syntax.toml"
    bad.write_text('name = "x"\n[model\n', "utf-8")
    r = bpdbg("trace", str(bad))
    assert r.returncode == 2
    assert r.stderr.startswith(f"bpdbg: error: {bad}: line 2, column")


def test_missing_scenario_exits_2():
    r = bpdbg("trace", "no-such-scenario")
    assert r.returncode == 2
    assert r.stderr.startswith("bpdbg: error: no-such-scenario: no such file or built-in")


def test_help_exits_0():
    for args in (["--help"], ["trace", "--help"], ["check", "-h"], ["list", "--help"]):
        r = bpdbg(*args)
        assert r.returncode == 0
        assert "usage:" in r.stdout


# --- subcommands win over files; opening the app ---------------------------------------------


def test_subcommand_names_win_over_files(tmp_path):
    (tmp_path / "list").write_text(GOOD, "utf-8")
    r = bpdbg("list", cwd=tmp_path)
    assert r.returncode == 0
    assert r.stdout.splitlines()[0].split()[0] == scenarios.builtin_ids()[0]
    # As the scenario of a subcommand, the file is found.
    r = bpdbg("trace", "list", "--steps", "1", cwd=tmp_path)
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == 10


def test_open_paths(monkeypatch, tmp_path):
    opened: list[str] = []
    monkeypatch.setattr(cli, "cmd_open", lambda ref: opened.append(ref) or 0)
    monkeypatch.chdir(tmp_path)
    assert cli.main([]) == 0
    assert cli.main(["./list"]) == 0
    assert cli.main(["xor"]) == 0
    assert opened == ["worked-example", "./list", "xor"]


def test_open_validates_before_starting_the_app(monkeypatch, tmp_path, capsys):
    started: list[object] = []
    fake_app = type(sys)("tui.app")
    fake_app.run_app = lambda program: started.append(program) or 0
    monkeypatch.setitem(sys.modules, "tui.app", fake_app)
    (tmp_path / "list").write_text(GOOD, "utf-8")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["./list"]) == 0
    assert [p.scenario.name for p in started] == ["Tiny"]
    assert cli.main(["missing.toml"]) == 2
    assert capsys.readouterr().err.startswith("bpdbg: error: missing.toml: ")
    assert len(started) == 1


# --- check -------------------------------------------------------------------------------------


def test_check_worked_example():
    r = bpdbg("check", "worked-example")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[-1].startswith("OK: all 10 gradients agree with finite differences")
    rows = [ln.split() for ln in lines if ln.strip().split(" ")[0].isdigit()]
    assert {int(row[0]) for row in rows} == {0, 5, 10, 14, 19}
    assert all(row[-1] == "OK" for row in rows)


def test_check_steps(good):
    r = bpdbg("check", str(good), "--steps", "1")
    assert r.returncode == 0
    assert "OK: all 2 gradients agree with finite differences (1 step × 2 parameters)" in r.stdout


@pytest.mark.parametrize(
    ("n", "steps"),
    [
        (1, [0]),
        (2, [0, 1]),
        (3, [0, 1, 2]),
        (5, [0, 1, 2, 3, 4]),
        (20, [0, 5, 10, 14, 19]),
        (1000, [0, 250, 500, 749, 999]),
    ],
)
def test_check_steps_are_first_last_and_three_between(n, steps):
    assert cli.check_steps(n) == steps


def test_check_exits_1_when_a_gradient_is_wrong(monkeypatch):
    identity = ops.OPS["identity"]

    def twice(g, out, inputs, need, attrs):  # a wrong backward: twice the true gradient
        return [2.0 * g]

    # Patched before the program is built, as the graph's plans hold the ops they run.
    monkeypatch.setitem(ops.OPS, "identity", msgspec.structs.replace(identity, vjp=twice))
    program = cli.open_program(str(ROOT / "scenarios" / "worked-example.toml"), steps=3)
    out = io.StringIO()
    assert cli.run_check(program, out) == 1
    text = out.getvalue()
    assert "FAIL" in text
    assert "worst element W1[0, 0]: analytic 2.0, numeric 1.0" in text
    assert text.splitlines()[-1].startswith("FAIL: 6 of 6 gradients disagree")


def _graph_file(tmp_path: Path, nodes: list[str], params: str, steps: int = 1, lr: str = "0.1"):
    path = tmp_path / "check.toml"
    node_list = ", ".join(f'"{n}"' for n in nodes)
    path.write_text(
        f'name = "check"\n[graph]\nparams = {{ {params} }}\nnodes = [{node_list}]\n'
        f'[optimizer]\nkind = "sgd"\nlr = {lr}\n[train]\nsteps = {steps}\n',
        "utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("nodes", "params", "why"),
    [
        (["L = log(w)"], "w = -1.0", "CANNOT CHECK: the loss is nan"),
        (["L = exp(1000 * w)"], "w = 1.0", "CANNOT CHECK: the loss is inf"),
        (["z = w - 0.5", "L = z ** -1"], "w = 0.5", "CANNOT CHECK: the loss is inf"),
    ],
    ids=["log(-1)", "exp(1000)", "0 ** -1"],
)
def test_check_cannot_check_where_the_loss_is_not_finite(tmp_path, nodes, params, why):
    """Nothing could be checked: no disagreement (1), but status 3 — never 0, as nothing
    was shown to agree."""
    out = io.StringIO()
    assert cli.run_check(cli.open_program(str(_graph_file(tmp_path, nodes, params))), out) == 3
    text = out.getvalue()
    assert why in text
    assert "FAIL" not in text
    assert "NOTHING CHECKED: no gradient could be checked" in text


def test_check_a_parameter_that_holds_inf_cannot_be_checked(tmp_path):
    """After step 0, w is inf: the loss 1/(w − 0.5) is 0 there, finite, but w is not."""
    path = _graph_file(tmp_path, ["z = w - 0.5", "L = z ** -1"], "w = 0.5", steps=2)
    out = io.StringIO()
    assert cli.run_check(cli.open_program(str(path)), out) == 3
    rows = out.getvalue().splitlines()
    assert any(r.split()[:1] == ["1"] and r.endswith("CANNOT CHECK: w holds inf") for r in rows)


def test_check_counts_what_could_be_checked(tmp_path):
    """b[1] = 709.7827 is a step h from overflowing exp: that element cannot be checked;
    b[0] can, and agrees, so the whole check passes (status 0) and says what it skipped."""
    path = _graph_file(tmp_path, ["L = sum(exp(b) * 1e-300)"], "b = [1.0, 709.7827]", lr="1e-9")
    out = io.StringIO()
    assert cli.run_check(cli.open_program(str(path)), out) == 0
    text = out.getvalue()
    assert "OK on 1 of 2 elements; cannot check: the loss is not finite at b[1] ± h" in text
    assert "OK: all 1 gradients that could be checked agree" in text
    assert text.splitlines()[-1] == "cannot check: step 0 (the loss is not finite at b[1] ± h)"


def test_check_a_disagreement_wins_over_what_cannot_be_checked(monkeypatch, tmp_path):
    """One step's loss is inf, another's gradient is wrong: status 1, both reported."""
    identity = ops.OPS["identity"]
    monkeypatch.setitem(
        ops.OPS, "identity", msgspec.structs.replace(identity, vjp=lambda g, *a: [2.0 * g])
    )
    # The wrong gradient of L = -w is -2, so w grows by 2 a step (lr 1): exp(400 · w) · 0
    # is nan from step 1 on.
    path = _graph_file(
        tmp_path, ["u = identity(w)", "L = exp(400 * u) * 0 - u"], "w = 0.0", steps=5, lr="1"
    )
    out = io.StringIO()
    assert cli.run_check(cli.open_program(str(path)), out) == 1
    text = out.getvalue()
    assert "CANNOT CHECK: the loss is nan" in text
    assert "FAIL: 1 of 1 gradients disagree" in text
    assert "cannot check: step 1 (the loss is nan); step 2" in text


def test_check_help_documents_the_outcomes_and_statuses():
    r = bpdbg("check", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "CANNOT CHECK" in text
    assert "3 nothing could be checked" in text
    assert "1 a gradient disagrees" in text


def test_no_help_text_points_at_documents_users_do_not_have():
    for args in (["--help"], ["trace", "--help"], ["check", "--help"], ["list", "--help"]):
        r = bpdbg(*args)
        assert "SPEC" not in r.stdout and "DESIGN" not in r.stdout, args
    assert "SPEC" not in (ROOT / "README.md").read_text("utf-8")


# --- text from a file never reaches the terminal as control sequences -------------------------


ESCAPES = "\x1b]0;pwned\x07\x1b[31m"
"""A terminal title change, a bell and a colour: what a hostile file would send."""


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.toml"
    escaped = "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 else c for c in ESCAPES)  # as TOML
    text = GOOD.replace('name = "Tiny"', f'name = "Tiny {escaped}"')
    text = text.replace(
        'description = "A tiny neuron. It learns."',
        'description = "A tiny \\u001b[2J neuron. It learns."',
    )
    path.write_text(text, "utf-8")
    return path


def _no_controls(text: str) -> bool:
    return not any(ord(c) < 0x20 and c not in "\n" or 0x7F <= ord(c) < 0xA0 for c in text)


@pytest.mark.parametrize(
    "args",
    [
        ["check"],
        ["trace", "--format", "text", "--steps", "1"],
        ["trace", "--format", "md", "--steps", "1"],
        ["trace", "--format", "jsonl", "--steps", "1"],
    ],
    ids=["check", "text", "md", "jsonl"],
)
def test_file_text_is_printed_with_control_characters_escaped(hostile, args):
    r = bpdbg(args[0], str(hostile), *args[1:])
    assert r.returncode == 0, r.stderr
    assert _no_controls(r.stdout + r.stderr)
    if args[0] == "check":
        assert "checking Tiny \\x1b]0;pwned\\x07\\x1b[31m (" in r.stdout
    if "md" in args:
        assert r.stdout.startswith("# Tiny \\\\x1b")  # escaped, then Markdown-escaped


def test_error_messages_escape_control_characters(tmp_path):
    bad = tmp_path / "bad\x1b[31m.toml"
    bad.write_text('name = "x"\n"\\u001b[1mkey" = 1\n', "utf-8")
    for args in (["trace", str(bad)], ["check", str(bad)], ["trace", "no\x07such"]):
        r = bpdbg(*args)
        assert r.returncode == 2
        assert r.stderr.count("\n") == 1
        assert _no_controls(r.stderr)
    r = bpdbg("trace", str(bad))
    assert "bad\\x1b[31m.toml" in r.stderr and "'\\x1b[1mkey'" in r.stderr


def test_list_escapes_names_and_descriptions(monkeypatch, tmp_path, capsys):
    folder = tmp_path / "builtin"
    folder.mkdir()
    (folder / "odd.toml").write_text(
        GOOD.replace('name = "Tiny"', 'name = "Odd \\u001b[5m"'), "utf-8"
    )
    monkeypatch.setattr(cli, "builtin_dir", lambda: folder)
    monkeypatch.setattr(cli, "builtin_ids", lambda: ["odd"])
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert out == "odd  Odd \\x1b[5m — A tiny neuron.\n"


# --- every malformed file: exit 2, one line, no traceback ------------------------------------


BAD_FILES = sorted((ROOT / "tests" / "data").glob("bad*/*.toml"))


@pytest.mark.parametrize("command", ["trace", "check"])
def test_every_malformed_file_is_one_line_and_exit_2(command, capsys):
    """In process (a subprocess per file would take minutes): the same ``main`` the
    command runs, which turns anything unexpected into status 70."""
    assert len(BAD_FILES) > 150
    for path in BAD_FILES:
        status = cli.main([command, str(path)])
        captured = capsys.readouterr()
        assert status == 2, (path.name, captured.err)
        assert captured.out == "", path.name
        assert captured.err.startswith(f"bpdbg: error: {path}: "), captured.err
        assert captured.err.count("\n") == 1, captured.err
        assert _no_controls(captured.err), captured.err


def test_malformed_files_as_a_user_runs_them():
    """A few of the worst, as real processes: the memory bound, deep nesting, a huge
    integer — each one line on stderr with status 2."""
    for stem in (
        "step_too_large",
        "toml_nested_arrays",
        "expression_unary_chain",
        "expression_huge_exponent",
        "step_too_large_model",
    ):
        path = ROOT / "tests" / "data" / "bad" / f"{stem}.toml"
        for command in ("trace", "check"):
            r = bpdbg(command, str(path))
            assert r.returncode == 2, (stem, r.stderr)
            assert r.stderr.startswith(f"bpdbg: error: {path}: ")
            assert r.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("fifo", "is a named pipe (FIFO), not a regular file; bpdbg reads regular files only"),
        ("loop", "too many levels of symbolic links (a symlink loop?)"),
        ("device", "is a character device, not a regular file; bpdbg reads regular files only"),
    ],
)
def test_only_regular_files_are_opened(tmp_path, kind, expected):
    """A named pipe would block open() for ever (the helper's timeout would end the
    test); a symlink loop is no missing file."""
    path = {"fifo": tmp_path / "pipe.toml", "loop": tmp_path / "a.toml", "device": Path(os.devnull)}
    if kind == "fifo":
        os.mkfifo(path["fifo"])
    if kind == "loop":
        path["loop"].symlink_to(tmp_path / "b.toml")
        (tmp_path / "b.toml").symlink_to(path["loop"])
    for command in ("trace", "check"):
        r = bpdbg(command, str(path[kind]))
        assert r.returncode == 2
        assert r.stderr == f"bpdbg: error: {path[kind]}: {expected}\n"


# --- never a traceback -----------------------------------------------------------------------


def test_headless_commands_do_not_import_textual():
    code = textwrap.dedent("""
        import contextlib, io, sys
        import tui
        assert "textual" not in sys.modules, "tui/__init__ imports textual"
        from tui.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["trace", "worked-example", "--steps", "2", "--format", "text"]) == 0
            assert main(["trace", "xor", "--steps", "1"]) == 0
            assert main(["check", "worked-example", "--steps", "2"]) == 0
            assert main(["list"]) == 0
        assert "textual" not in sys.modules, sorted(m for m in sys.modules if "textual" in m)
        print("clean")
    """)
    r = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "clean"


def test_broken_pipe_is_quiet(tmp_path):
    err = tmp_path / "err.txt"
    script = (
        f"{sys.executable} -m tui.cli trace worked-example --steps 20000 --format text "
        f"2>{err} | head -n 1; echo ${{PIPESTATUS[0]}}"
    )
    r = subprocess.run(
        ["bash", "-c", script], check=False, capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    first, status = r.stdout.splitlines()
    assert first.startswith("step 0 · forward · ")
    assert int(status) in (0, 141)
    assert err.read_text() == ""


def test_interrupt_exits_130(monkeypatch):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_trace", interrupted)
    assert cli.main(["trace", "worked-example"]) == 130


def test_unexpected_errors_are_one_line_with_status_70(monkeypatch, capsys):
    def broken(*args):
        raise RuntimeError("something odd")

    monkeypatch.setattr(cli, "cmd_trace", broken)
    assert cli.main(["trace", "worked-example"]) == 70
    assert capsys.readouterr().err == "bpdbg: internal error: RuntimeError: something odd\n"


def test_main_in_process_writes_the_trace(capsys, good):
    assert cli.main(["trace", str(good), "--steps", "1", "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[-1])["after"] == [-0.1]
    first = json.loads(lines[0])
    assert np.array(first["value"]).shape == (1, 1)


def test_version_exits_0():
    r = bpdbg("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("bpdbg ")


def test_the_entry_point_pauses_the_collector_only_for_start_up():
    """``bpdbg`` (tui.startup.main) starts without the cyclic garbage collector and turns
    it back on before a headless command does its work, and for good when it returns."""
    code = textwrap.dedent("""
        import gc, sys
        from tui import cli, startup
        seen = {}
        parsers, cmd_list = cli._parsers, cli.cmd_list
        def watch_parsers():
            seen["parsing"] = gc.isenabled()
            return parsers()
        def watch_list(out):
            seen["listing"] = gc.isenabled()
            return cmd_list(out)
        cli._parsers, cli.cmd_list = watch_parsers, watch_list
        sys.argv = ["bpdbg", "list"]
        status = startup.main()
        print(seen["parsing"], seen["listing"], gc.isenabled(), status, file=sys.stderr)
    """)
    r = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert r.stderr.split() == ["False", "True", "True", "0"], r.stderr


def test_trace_formats_are_the_writers():
    from engine.report.trace import WRITERS

    assert cli.FORMATS == tuple(WRITERS)
