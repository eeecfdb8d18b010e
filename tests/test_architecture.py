"""The shape of the code: import contracts, no import cycles, mypy and ruff format clean,
and a README whose tree names every sub-package.

The tools are pinned in the ``test`` extra, so these give the same answer on every
machine; each runs on the installed tree from the repository's root.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "tui", "scenarios")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )


def test_import_contracts_are_kept() -> None:
    """pyproject's [tool.importlinter] contracts: the engine never imports Textual or the
    app; its sub-packages are layered along the data flow; panes import neither the app
    nor each other; screens no pane's internals; services never the app."""
    code = (
        "import sys; from importlinter.cli import lint_imports;"
        " sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"
    )
    result = run("-c", code)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def import_cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            for j in range(i, len(edges[node])):
                nxt = edges[node][j]
                if nxt not in index:
                    work.append((node, j + 1))
                    work.append((nxt, 0))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    return cycles


def test_no_import_cycles() -> None:
    """No module imports, even lazily or only for type checking, a module that imports it
    back (directly or round a longer loop)."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    modules = {m for m in graph.modules if m.split(".")[0] in PACKAGES}
    assert import_cycles(graph, modules) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a graph with a loop is reported."""
    graph = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")):
        graph.add_import(importer=a, imported=b)
    assert import_cycles(graph, {"p.a", "p.b", "p.c", "p.d"}) == [["p.a", "p.b", "p.c"]]


def test_mypy_is_clean() -> None:
    result = run("-m", "mypy")  # files and settings: pyproject's [tool.mypy]
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = run("-m", "ruff", "format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_are_sorted() -> None:
    """Imports in ruff's isort order (``ruff check --select I --fix`` puts them so): merges
    of branches that each add imports then meet in one order."""
    result = run("-m", "ruff", "check", "--select", "I", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def subpackages() -> list[str]:
    """Every package below engine/ and tui/, as a path: ``engine/step/``."""
    found = []
    for top in ("engine", "tui"):
        for init in sorted((ROOT / top).rglob("__init__.py")):
            if init.parent != ROOT / top:
                found.append(init.parent.relative_to(ROOT).as_posix() + "/")
    return found


def test_every_subpackage_says_what_it_owns() -> None:
    for package in subpackages():
        doc = (ROOT / package / "__init__.py").read_text(encoding="utf-8")
        assert doc.startswith('"""'), f"{package}__init__.py has no docstring"


def test_the_readme_tree_names_every_subpackage() -> None:
    """README's "How it is built" names each sub-package with a line of what it owns."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    built = readme.split("## How it is built", 1)[1]
    for package in subpackages():
        line = re.search(rf"^\s*{re.escape(package)}\s+\S.*$", built, re.MULTILINE)
        assert line is not None, f"README's tree does not name {package}"


@pytest.mark.parametrize("tcss", sorted((ROOT / "tui").rglob("*.tcss")), ids=lambda p: p.name)
def test_the_wheel_carries_each_stylesheet(tcss: Path) -> None:
    """Every .tcss sits in a package the wheel includes, under a glob that takes it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert (tcss.parent / "__init__.py").exists()
    package = tcss.parent.relative_to(ROOT).as_posix().replace("/", ".")
    include = setuptools["packages"]["find"]["include"]
    assert any(
        package == pattern or (pattern.endswith(".*") and package.startswith(pattern[:-1]))
        for pattern in include
    )
    globs = setuptools["package-data"].get(package, []) + setuptools["package-data"].get("*", [])
    assert any(tcss.match(glob) for glob in globs)


def test_importing_the_records_loads_no_loader() -> None:
    """What a scenario is can be read without what reads one: importing ``Scenario``
    loads its records (and the data generators they name), not the loader or TOML."""
    code = (
        "import sys; from engine.scenario.records import Scenario;"
        " print(sorted(m for m in sys.modules if m.startswith('engine') or m == 'tomllib'))"
    )
    result = run("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "['engine',",
        "'engine.scenario',",
        "'engine.scenario.data',",
        "'engine.scenario.records']",
    ]
