"""The scenario picker: the built-in scenarios, or a scenario file by path.

Choosing one loads and validates it here; an invalid file shows its error (file, place,
what was wrong) in the picker and keeps it open, so the running scenario stays.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option, OptionDoesNotExist

from engine.errors import ScenarioError
from engine.run import Program, make_program
from engine.scenario import load
from scenarios import builtin_dir, builtin_ids, resolve


class Entry(msgspec.Struct, frozen=True):
    """A built-in scenario as the picker lists it."""

    id: str
    name: str
    summary: str
    """The first sentence of its description, or what is wrong with the file."""
    valid: bool = True


def summary(markdown: str) -> str:
    """The first sentence of a Markdown text's first paragraph, as plain text."""
    paragraph: list[str] = []
    for line in markdown.strip().splitlines():
        line = line.strip().lstrip("#").strip()
        if not line and paragraph:
            break
        if line:
            paragraph.append(line)
    # Drop the marks of code spans and bold text; keep code as written (``h * s``).
    pieces = " ".join(paragraph).split("`")
    text = "".join(p if i % 2 else re.sub(r"\*\*|__", "", p) for i, p in enumerate(pieces))
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def builtin_entries() -> list[Entry]:
    """Every built-in scenario with its name and the first line of its description."""
    entries = []
    for ref in builtin_ids():
        try:
            scenario = load(builtin_dir() / f"{ref}.toml", source=ref)
        except ScenarioError as err:
            entries.append(Entry(ref, ref, f"invalid: {err.message}", valid=False))
        else:
            entries.append(Entry(ref, scenario.name, summary(scenario.description)))
    return entries


class PickerScreen(ModalScreen[Program | None]):
    """Pick a built-in scenario or type a path; dismisses with the loaded program."""

    CSS_PATH = "picker_screen.tcss"

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(
        self, current: str = "", *, cursor_blink: bool = True, within: Path | None = None
    ) -> None:
        """
        Args:
            current: The running scenario's source (a built-in id or a path), to highlight.
            cursor_blink: Whether the path input's cursor blinks (off for snapshots).
            within: Only files under this folder may be opened, paths taken from it
                (the app served to browsers); None: any file.
        """
        super().__init__()
        self._current = current
        self._cursor_blink = cursor_blink
        self._within = within

    def compose(self) -> ComposeResult:
        entries = builtin_entries()
        options: list[Option | None] = []
        for e in entries:
            if options:
                options.append(None)  # a divider between scenarios
            options.append(
                Option(
                    Content.from_markup(
                        "[b]$id[/b]  $name\n[dim]$summary[/dim]",
                        id=e.id, name=e.name, summary=e.summary or "(no description)",
                    ),
                    id=e.id,
                    disabled=not e.valid,
                )
            )
        with Vertical(id="picker-dialog", classes="dialog") as dialog:
            dialog.border_title = "Open a scenario"
            dialog.border_subtitle = "enter to open · esc to cancel"
            yield Label("Built-in scenarios" if entries else "No built-in scenarios found.")
            yield OptionList(*options, id="picker-builtins")
            if self._within is None:
                yield Label("…or a scenario file (.toml):")
            else:
                yield Label(f"…or a scenario file (.toml) in {self._within.name or '/'}:")
            yield Input(placeholder="path/to/scenario.toml", id="picker-path")
            yield Static(id="picker-error")

    def on_mount(self) -> None:
        self.query_one(Input).cursor_blink = self._cursor_blink
        options = self.query_one(OptionList)
        if options.option_count == 0:
            self.query_one(Input).focus()
            return
        try:
            options.highlighted = options.get_option_index(self._current)
        except OptionDoesNotExist:  # the running scenario is not a built-in
            options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _builtin_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.open(event.option.id)

    @on(Input.Submitted)
    def _path_given(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if path:
            self.open(path)

    def open(self, ref: str) -> None:
        """Load ``ref`` (a built-in id or a path); close on success, show the error if not."""
        try:
            # As the command line does: messages and the title name what the user chose.
            program = make_program(load(resolve(ref, within=self._within), source=ref))
        except ScenarioError as err:
            self.show_error(str(err))
        except Exception as err:  # a bug behind a user's file must not end their session
            self.show_error(f"{ref}: {type(err).__name__}: {err}")
        else:
            self.dismiss(program)

    def show_error(self, message: str) -> None:
        """Show why a scenario cannot be opened."""
        error = self.query_one("#picker-error", Static)
        error.update(Content.from_markup("[b]Cannot open it:[/b] $m", m=message))
        error.add_class("-shown")
