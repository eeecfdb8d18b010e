"""The README's set-up commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", text)


def test_readme_has_an_app_command_and_a_test_command():
    cmds = readme_commands()
    assert any(c.endswith("bpdbg") for c in cmds)
    assert any("pytest" in c for c in cmds)


def test_ci_runs_the_readme_test_command_verbatim():
    test_cmd = next(c for c in readme_commands() if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_cmd in ci.splitlines()


def builtins_table() -> str:
    """The README's table of built-ins, made from what ``bpdbg list`` prints."""
    import io

    from tui.cli import cmd_list

    out = io.StringIO()
    assert cmd_list(out) == 0
    rows = ["| id | name | what it shows |", "|---|---|---|"]
    for line in out.getvalue().splitlines():
        ident, rest = line.split(maxsplit=1)
        name, _, description = rest.partition(" — ")
        cells = [f"`{ident}`", name, description]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def test_readme_lists_every_built_in_as_bpdbg_list_does():
    """The README's table is ``bpdbg list``'s output; when a built-in is added, renamed or
    redescribed, paste the table this prints between the two markers."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- bpdbg list -->\n(.*?)\n<!-- /bpdbg list -->", text, re.S)
    assert found, "the README has no <!-- bpdbg list --> block"
    expected = builtins_table()
    assert found[1] == expected, "the README's built-ins differ from bpdbg list:\n" + expected
