"""Test-wide setup: import the engine first, so its BLAS thread setting applies; say
why tests were skipped, when it is for want of PyTorch."""

import pytest

import engine  # noqa: F401  (sets BLAS threads before numpy is imported)

pytest_plugins = ["pytester"]  # tests of the test helpers run pytest on a test file


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    torch = [
        r
        for r in terminalreporter.stats.get("skipped", [])
        if isinstance(r.longrepr, tuple) and "PyTorch is not installed" in str(r.longrepr[2])
    ]
    if torch:
        terminalreporter.write_line(
            f"{len(torch)} of the skipped are the PyTorch reference tests: PyTorch is not "
            'installed (pip install -e ".[test,torch]" runs them)'
        )
