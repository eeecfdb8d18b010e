"""The scenario picker: the built-in scenarios, or a scenario file by path.

Choosing one loads and validates it here, in a thread: a slow or stuck file (a network
drive, a path that names a pipe) never holds up the app, and ``esc`` still closes the
picker. An invalid file shows its error (file, place, what was wrong) in the picker and
keeps it open, so the running scenario stays.

The path field completes folder and ``.toml`` file names (``right`` takes the rest shown
greyed, :mod:`tui.screens.path_suggester`), and the line under it shows the absolute
path that will be opened, so that a relative path is seen to start from the working
folder. Opening another scenario while the running one has what-if branches asks first
(:class:`~tui.screens.confirm.ConfirmScreen`): they would be gone.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import msgspec
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option, OptionDoesNotExist

from engine.errors import ScenarioError
from engine.fmt import printable
from engine.open import open_program
from engine.scenario.loader import load
from engine.step.program import Program
from scenarios import builtin_dir, builtin_ids
from tui.screens.choice_list import ChoiceList
from tui.screens.confirm import ConfirmScreen
from tui.screens.dialog import Dialog
from tui.screens.path_suggester import PathSuggester, resolve_typed, shown_path
from tui.screens.text_input import TextInput

LIST_KEYS = "enter open · tab a file path · esc cancel"
"""The subtitle while the list has the focus; in the path field, :data:`PATH_KEYS`."""
PATH_KEYS = "enter open · → take the completion · ↑ the list · esc cancel"


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


class PickerScreen(Dialog[Program | None]):
    """Pick a built-in scenario or type a path; dismisses with the loaded program."""

    CSS_PATH = "picker.tcss"

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    class Loaded(Message):
        """A scenario chosen in the picker has loaded, or failed to (from its thread)."""

        def __init__(self, token: int, result: Program | str) -> None:
            super().__init__()
            self.token = token
            """Which choice this answers: only the latest is acted on."""
            self.result = result
            """The program, or why it cannot be opened."""

    def __init__(
        self,
        current: str = "",
        *,
        cursor_blink: bool = True,
        within: Path | None = None,
        branches: int = 0,
    ) -> None:
        """
        Args:
            current: The running scenario's source (a built-in id or a path), to highlight.
            cursor_blink: Whether the path input's cursor blinks (off for snapshots).
            within: Only files under this folder may be opened, paths taken from it
                (the app served to browsers); None: any file.
            branches: The running scenario's what-if branches, which opening another
                would discard: if any, the picker asks before it closes with a program.
        """
        super().__init__()
        self._current = current
        self._branches = branches
        self._builtin_ids: frozenset[str] = frozenset()
        self._base = within if within is not None else Path.cwd()
        """The folder a relative path is taken from."""
        self._cursor_blink = cursor_blink
        self._token = 0
        """Counts choices, so that a slow load answers nothing once another is chosen."""
        self._within = within

    def compose(self) -> ComposeResult:
        entries = builtin_entries()
        self._builtin_ids = frozenset(e.id for e in entries)
        options: list[Option | None] = []
        for e in entries:
            if options:
                options.append(None)  # a divider between scenarios
            options.append(
                Option(
                    Content.from_markup(
                        "[b]$id[/b]  $name\n[dim]$summary[/dim]",
                        id=printable(e.id),
                        name=printable(e.name),
                        summary=printable(e.summary) or "(no description)",
                    ),
                    id=e.id,
                    disabled=not e.valid,
                )
            )
        with Vertical(id="picker-dialog", classes="dialog") as dialog:
            dialog.border_title = "Open a scenario"
            dialog.border_subtitle = LIST_KEYS
            yield Label("Built-in scenarios" if entries else "No built-in scenarios found.")
            yield ChoiceList(*options, id="picker-builtins")
            if self._within is None:
                yield Label("…or a scenario file (.toml):")
            else:
                folder = printable(self._within.name) or "/"
                yield Label(f"…or a scenario file (.toml) in {folder}:")
            yield TextInput(
                placeholder="path/to/scenario.toml",
                id="picker-path",
                suggester=PathSuggester(self._base, confined=self._within is not None),
            )
            yield Static(self._resolved_text(""), id="picker-resolved")
            yield Static(id="picker-status")
            yield Static(id="picker-error")

    def on_mount(self) -> None:
        if not self.is_attached:
            return  # the app is closing: nothing was composed
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

    def hint(self, focused: Widget | None) -> str | None:
        return PATH_KEYS if isinstance(focused, Input) else LIST_KEYS

    def _resolved_text(self, typed: str) -> Content:
        """The line under the path field: the absolute path ``typed`` names."""
        typed = typed.strip()
        if not typed:
            where = printable(
                str(self._base) if self._within is not None else shown_path(self._base)
            )
            what = "the folder served" if self._within is not None else "the working folder"
            return Content.from_markup(
                "[dim]A relative path starts from $what: $where[/dim]", what=what, where=where
            )
        path = resolve_typed(typed if self._within is None else typed.lstrip("~"), self._base)
        shown = str(path) if self._within is not None else shown_path(path)
        text = Content.from_markup("[dim]→[/dim] $path", path=printable(shown))
        if typed in self._builtin_ids and "/" not in typed:
            text += Content.from_markup("[dim]  (if there is no such file: the built-in)[/dim]")
        return text

    @on(Input.Changed, "#picker-path")
    def _path_changed(self, event: Input.Changed) -> None:
        if not self.dismissed:
            self.query_one("#picker-resolved", Static).update(self._resolved_text(event.value))

    @on(OptionList.OptionSelected)
    def _builtin_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None and not self.dismissed:
            self.open(event.option.id)

    @on(Input.Submitted)
    def _path_given(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if path and not self.dismissed:
            # ~ as a shell reads it; otherwise the path as typed, so that messages and
            # the title name it as the command line would.
            self.open(os.path.expanduser(path) if self._within is None else path)

    def open(self, ref: str) -> None:
        """Load ``ref`` (a built-in id or a path) in a thread; the picker closes when it
        has loaded, or shows why it cannot be opened (:meth:`_loaded`)."""
        self._token += 1
        token = self._token
        self._show_status(f"Opening {ref}…")

        def load_it() -> None:
            result: Program | str
            try:
                # As the command line does: messages and the title name what was chosen.
                result = open_program(ref, within=self._within)
            except ScenarioError as err:
                result = str(err)
            except OSError as err:  # from finding the file: a name too long, a loop
                result = f"{ref}: cannot open it: {err.strerror or err}"
            except Exception as err:  # a bug behind a user's file must not end their session
                result = f"{ref}: {type(err).__name__}: {err}"
            self.post_message(self.Loaded(token, result))  # thread-safe; dropped once closed

        # A daemon thread rather than a worker: a load stuck in the kernel (a pipe, a
        # hung network drive) must not keep the app from quitting, as the workers'
        # shared thread pool would.
        threading.Thread(target=load_it, name="bpdbg picker load", daemon=True).start()

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.token != self._token or self.dismissed:
            return  # another scenario was chosen meanwhile, or the picker closed
        self._show_status(None)
        if isinstance(message.result, str):
            self.show_error(message.result)
        elif self._branches:
            self._confirm(message.result)
        else:
            self.dismiss(message.result)

    def _confirm(self, program: Program) -> None:
        """Ask whether to open ``program`` and lose the what-if branches; close if so."""
        n = self._branches
        branches = "1 what-if branch" if n == 1 else f"{n} what-if branches"

        def answered(yes: bool | None) -> None:
            if yes and not self.dismissed:
                self.dismiss(program)
            elif not self.dismissed:
                self._show_status(f"Nothing opened: {printable(self._current)} keeps its branches.")

        self.app.push_screen(
            ConfirmScreen(
                "Discard the what-if branches?",
                f"Opening {program.scenario.name} closes {printable(self._current)} and"
                f" its {branches}: they cannot be brought back.",
                yes="Open it, discard them",
                no="Keep them",
            ),
            answered,
        )

    def _show_status(self, text: str | None) -> None:
        status = self.query_one("#picker-status", Static)
        status.update(Content(printable(text or "")))
        status.set_class(text is not None, "-shown")
        if text is not None:
            self.query_one("#picker-error", Static).remove_class("-shown")

    def show_error(self, message: str) -> None:
        """Show why a scenario cannot be opened."""
        error = self.query_one("#picker-error", Static)
        error.update(Content.from_markup("[b]Cannot open it:[/b] $m", m=printable(message)))
        error.add_class("-shown")
