"""The what-if dialog (``w``): change a parameter, the learning rate or the optimizer at
the start of the current step, and train on as a new branch; or switch to another run.

The three fields are checked together by :func:`engine.timeline.whatif.parse_whatif` when ``enter``
is pressed in any of them. A refused what-if shows why, in the error colour, and
changes nothing. The list below shows the original run and every branch made so far;
choosing one switches to it. The dialog hands back the run to show, or None.
"""

from __future__ import annotations

import numpy as np
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from engine import fmt
from engine.fmt import printable
from engine.timeline.runs import Runs, run_label
from engine.timeline.timeline import Timeline
from engine.timeline.whatif import (
    WhatIfError,
    make_branch,
    optimizer_hint,
    optimizer_text,
    parse_whatif,
)
from tui.screens.choice_list import ChoiceList
from tui.screens.dialog import Dialog
from tui.screens.text_input import TextInput

MAX_SHOWN = 12
FIELD_KEYS = "enter branch · ↑↓ fields · esc cancel"
"""The subtitle while a field has the focus; in the list of runs, :data:`LIST_KEYS`."""
LIST_KEYS = "enter switch to this run · tab fields · esc cancel"
"""Parameters listed with their values; more are counted."""


def params_hint(params: dict[str, np.ndarray]) -> str:
    """An example for the parameters field, in this scenario's names: ``W1[0,1] = 0.3``."""
    examples = []
    for name, value in list(params.items())[:2]:
        if value.size == 1:  # a number will do, whatever its shape
            examples.append(f"{name} = 0.5")
        elif not examples and value.size > 1:
            examples.append(f"{name}[{','.join('0' * value.ndim)}] = 0.3")
        elif value.ndim == 1 and value.size <= 4:
            examples.append(f"{name} = [{', '.join(['0.0'] * value.size)}]")
    return "; ".join(examples) or "W1[0,1] = 0.3"


def current_values(timeline: Timeline, step: int) -> Content:
    """``W1 = [[0.1, 0.2]] (1×2)`` for each parameter at the start of ``step``."""
    params, _ = timeline.start_of(step)
    parts: list[Content] = []
    for name, value in list(params.items())[:MAX_SHOWN]:
        shape = "" if value.size == 1 else f"  ({fmt.shape(value.shape)})"
        parts.append(
            Content.assemble((name, "bold $text-success"), " = ", fmt.tensor(value), (shape, "dim"))
        )
    if len(params) > MAX_SHOWN:
        parts.append(Content(f"… and {len(params) - MAX_SHOWN} more"))
    return Content("\n").join(parts)


def run_entry(run: Timeline, current: Timeline, runs: Runs) -> Content:
    """One run as the list shows it: ``● what-if: lr=0.05  from step 5``."""
    mark = "● " if run is current else "  "
    where = "" if run is runs.original else f"  from step {run.first_step}"
    losses = run.losses()
    last = f"  loss {fmt.num(losses[-1], 4)} at step {len(losses) - 1}" if len(losses) else ""
    return Content.assemble(
        (mark, "bold $text-accent"),
        (printable(run_label(run)), "bold"),
        (where, ""),
        (last, "dim"),
    )


class WhatIfScreen(Dialog[Timeline | None]):
    """Make a what-if branch at ``step``, or pick a run; dismisses with the run to show.

    Args:
        runs: The open scenario's runs.
        current: The run shown now, which a new branch starts from.
        step: The step the branch starts at (its parameters are those at its start).
        shown: The run the app shows, marked in the list (default ``current``).
        cursor_blink: Whether the inputs' cursors blink (off for snapshots).
    """

    CSS_PATH = "whatif.tcss"
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(
        self,
        runs: Runs,
        current: Timeline,
        step: int,
        *,
        shown: Timeline | None = None,
        cursor_blink: bool = True,
    ) -> None:
        super().__init__()
        self._runs = runs
        self._current = current
        self._shown = shown or current
        self._step = step
        self._cursor_blink = cursor_blink

    def compose(self) -> ComposeResult:
        spec = self._current.program.optimizer.spec
        with VerticalScroll(id="whatif-dialog", classes="dialog") as dialog:
            dialog.border_title = "What if…"
            dialog.border_subtitle = FIELD_KEYS
            yield Static(
                Content.from_markup(
                    "Branch [b]$run[/b] at the start of [b]step $step[/b]: change what you"
                    " like, press [b]enter[/b], and training goes on from there as a new run."
                    " The original is kept — [b]W[/b] switches back and forth.",
                    run=printable(run_label(self._current)),
                    step=str(self._step),
                ),
                id="whatif-intro",
            )
            yield Static(current_values(self._current, self._step), id="whatif-values")
            hint = params_hint(dict(self._current.start_of(self._step)[0]))
            yield Label(f"Parameters   e.g. {hint}")
            yield TextInput(placeholder=hint, id="whatif-params")
            yield Label("Learning rate")
            yield TextInput(f"{spec.lr:g}", id="whatif-lr")
            text = optimizer_text(spec)
            yield Label(f"Optimizer   {optimizer_hint(text)}", id="whatif-optimizer-hint")
            yield TextInput(text, id="whatif-optimizer")
            yield Static(id="whatif-error")
            yield Label("Runs of this scenario   enter switches to one")
            yield ChoiceList(*self._run_options(), id="whatif-runs")

    def _run_options(self) -> list[Option]:
        return [
            Option(run_entry(run, self._shown, self._runs), id=str(i))
            for i, run in enumerate(self._runs.all())
        ]

    def hint(self, focused: Widget | None) -> str | None:
        return LIST_KEYS if isinstance(focused, OptionList) else FIELD_KEYS

    def on_mount(self) -> None:
        if not self.is_attached:
            return  # the app is closing: nothing was composed
        for field in self.query(Input):
            field.cursor_blink = self._cursor_blink
        runs = self._runs.all()
        if self._shown in runs:
            self.query_one(OptionList).highlighted = runs.index(self._shown)
        self.query_one("#whatif-params", Input).focus()

    @on(Input.Submitted)
    def _apply(self) -> None:
        self.apply()

    @on(Input.Changed, "#whatif-optimizer")
    def _optimizer_typed(self, event: Input.Changed) -> None:
        """The hint above the field follows the kind typed: its settings and defaults."""
        label = self.query_one("#whatif-optimizer-hint", Label)
        label.update(f"Optimizer   {optimizer_hint(event.value)}")

    def apply(self) -> None:
        """Check the fields; dismiss with the new branch, or show why it cannot be made."""
        if self.dismissed:
            return  # an enter that came after the one that closed it
        names = ("params", "lr", "optimizer")
        fields = [self.query_one(f"#whatif-{n}", Input).value for n in names]
        try:
            whatif = parse_whatif(self._current, self._step, *fields)
            branch = make_branch(self._current, whatif, self._runs.original.program.scenario.name)
        except WhatIfError as err:
            self.show_error(str(err))
            return
        except Exception as err:  # nothing typed in a field may end the session
            self.show_error(f"{type(err).__name__}: {err}")
            return
        self.dismiss(branch)

    def show_error(self, message: str) -> None:
        """Show why the what-if cannot be made."""
        error = self.query_one("#whatif-error", Static)
        error.update(Content.from_markup("[b]Cannot branch:[/b] $m", m=printable(message)))
        error.add_class("-shown")

    @on(OptionList.OptionSelected, "#whatif-runs")
    def _run_chosen(self, event: OptionList.OptionSelected) -> None:
        runs = self._runs.all()
        index = int(event.option.id or 0)
        if 0 <= index < len(runs):
            self.dismiss(runs[index])
