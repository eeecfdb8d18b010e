"""The breakpoints dialog (``B``): every breakpoint, enabled or not, and ways to add more.

It lists the stop at the first non-finite number (a diagnostic that can be disabled but
not removed), then each breakpoint: on a node or parameter, on a phase, or a watchpoint
condition. Conditions are compiled as they are entered; a refused one shows why, in the
error colour, and changes nothing. Closing the dialog hands the edited list back to the
app (:class:`BreakpointList`).

Keys follow the focus: in the list, ``p``, ``n`` and ``w`` jump to the phase buttons, the
node field and the condition field (in a field those letters are typed, and the subtitle
no longer offers them); ``left`` and ``right`` move along the phase buttons; once an
entry is added, the focus returns to the list with the new entry highlighted.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.cells import cell_len
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from engine.debug.breakpoints import Breakpoint
from engine.debug.conditions import WATCH_FUNCTIONS, valid_names
from engine.debug.errors import BreakpointError, ConditionError
from engine.fmt import printable
from engine.graph.graph import Graph
from engine.step.events import PHASES
from tui.screens.button_row import ButtonRow
from tui.screens.choice_list import ChoiceList
from tui.screens.dialog import Dialog
from tui.screens.text_input import TextInput

KINDS = {"node": "node", "phase": "phase", "condition": "watch"}
"""How each kind of breakpoint is called in the list."""
CARET_WINDOW = 60
"""Characters of a refused condition shown around the caret."""
EXAMPLES = "norm(grad) > 10 · isnan(value) · loss > prev_loss · mean(a1 <= 0) > 0.5"
LIST_KEYS = "space on/off · x remove · p phase · n node · w watch · esc close"
"""The subtitle while the list has the focus."""
PHASE_KEYS = "←→ choose · enter add · ↑↓ fields · esc close"
FIELD_KEYS = "enter add · ↑↓ fields · tab next · esc close"


class BreakpointList(NamedTuple):
    """What the dialog hands back: the breakpoints, and whether ``c`` stops at the first
    non-finite number."""

    breakpoints: tuple[Breakpoint, ...]
    stop_on_nonfinite: bool


def entry(bp: Breakpoint) -> Content:
    """One breakpoint as the list shows it: ``[x] node   W1``; dimmed when disabled."""
    check = "[x]" if bp.enabled else "[ ]"
    # Targets and labels may come from a scenario file: shown as text, escaped.
    target = printable(bp.target)
    if bp.kind == "phase":
        target += " (where every step enters it)"
    label = f"  {printable(bp.label)}" if bp.label else ""
    text = Content.assemble(
        (check, "bold"),
        "  ",
        (f"{KINDS[bp.kind]:<6}", "$text-accent"),
        " ",
        target,
        (label, "italic"),
    )
    return text if bp.enabled else text.stylize("dim")


def nonfinite_entry(enabled: bool, found: tuple[int, str] | None) -> Content:
    """The built-in entry: the stop at the first NaN or infinity, and where it is."""
    check = "[x]" if enabled else "[ ]"
    where = (
        (f"found at event {found[0]:,}: {printable(found[1])}", "$text-error")
        if found is not None
        else ("none in the steps computed so far", "$text-muted")
    )
    text = Content.assemble(
        (check, "bold"),
        "  ",
        (f"{'NaN':<6}", "bold $text-error"),
        " stop at the first NaN or inf (built in) — ",
        where,
    )
    return text if enabled else text.stylize("dim")


def names_hint(graph: Graph) -> Content:
    """The names and functions a condition may use, for the line under its input."""
    names = valid_names(graph)
    shown = " ".join(names[:24]) + (" …" if len(names) > 24 else "")
    return Content.assemble(
        ("names: ", "bold"), shown, ("\nfunctions: ", "bold"), " ".join(WATCH_FUNCTIONS)
    )


class BreakpointsScreen(Dialog[BreakpointList]):
    """List, enable, disable, remove and add breakpoints; ``esc`` closes and applies.

    Args:
        breakpoints: The app's breakpoints.
        stop_on_nonfinite: Whether ``c`` stops at the first non-finite number.
        graph: The running scenario's graph (conditions and node names are checked
            against it).
        nonfinite: The first non-finite event found so far, ``(seq, description)``.
        cursor_blink: Whether the inputs' cursors blink (off for snapshots).
    """

    CSS_PATH = "breakpoints.tcss"
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("space", "toggle", "On/off"),
        Binding("delete,x", "remove", "Remove"),
        Binding("p", "focus('bp-phase-forward')", "Phase", show=False),
        Binding("n", "focus('bp-node')", "Node", show=False),
        Binding("w", "focus('bp-condition')", "Watch", show=False),
    ]

    def __init__(
        self,
        breakpoints: tuple[Breakpoint, ...],
        stop_on_nonfinite: bool,
        graph: Graph,
        nonfinite: tuple[int, str] | None = None,
        *,
        cursor_blink: bool = True,
    ) -> None:
        super().__init__()
        self.breakpoints: list[Breakpoint] = list(breakpoints)
        """The list as edited so far."""
        self.stop_on_nonfinite = stop_on_nonfinite
        self._graph = graph
        self._nonfinite = nonfinite
        self._cursor_blink = cursor_blink

    @property
    def result(self) -> BreakpointList:
        """The list as it stands, as the app receives it on closing."""
        return BreakpointList(tuple(self.breakpoints), self.stop_on_nonfinite)

    def compose(self) -> ComposeResult:
        with Vertical(id="bp-dialog", classes="dialog") as dialog:
            dialog.border_title = "Breakpoints"
            dialog.border_subtitle = LIST_KEYS
            yield Static(
                Content.from_markup(
                    "[b]c[/b] continues to the next event where an enabled entry stops,"
                    " [b]C[/b] goes back to the previous one."
                ),
                id="bp-intro",
            )
            yield ChoiceList(id="bp-list")
            yield Label("Stop where every step enters a phase:")
            with ButtonRow(id="bp-phases"):
                for phase in PHASES:
                    yield Button(phase, id=f"bp-phase-{phase}", compact=True)
            yield Label("Stop at every event of a node or parameter:")
            yield TextInput(placeholder="a name, e.g. W1", id="bp-node")
            yield Static(id="bp-node-error", classes="bp-error")
            yield Label("Watchpoint — stop where a condition is true:")
            yield TextInput(placeholder=f"e.g. {EXAMPLES}", id="bp-condition")
            yield Static(id="bp-condition-error", classes="bp-error")
            yield Static(names_hint(self._graph), id="bp-names")

    def on_mount(self) -> None:
        if not self.is_attached:
            return  # the app is closing: nothing was composed
        for box in self.query(Input):
            box.cursor_blink = self._cursor_blink
        self._fill()
        self.query_one(OptionList).focus()

    # --- the list ----------------------------------------------------------------------------

    def _fill(self, highlight: int | None = None) -> None:
        """Show the list again, keeping (or moving) the highlight."""
        options = self.query_one(OptionList)
        was = options.highlighted
        options.set_options(
            [Option(nonfinite_entry(self.stop_on_nonfinite, self._nonfinite), id="nonfinite")]
            + [Option(entry(bp)) for bp in self.breakpoints]
        )
        at = highlight if highlight is not None else was
        if at is not None and options.option_count:
            options.highlighted = max(0, min(at, options.option_count - 1))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("toggle", "remove"):
            if self.dismissed:
                return False
            return isinstance(self.focused, OptionList)  # elsewhere the keys type or press
        if action == "focus":
            # p, n and w from the list or a button; in a field they are letters.
            return not self.dismissed and not isinstance(self.focused, Input)
        return super().check_action(action, parameters)

    def hint(self, focused: Widget | None) -> str | None:
        if isinstance(focused, Input):
            return FIELD_KEYS
        if focused is not None and focused.id and focused.id.startswith("bp-phase-"):
            return PHASE_KEYS
        return LIST_KEYS

    def _back_to_list(self) -> None:
        """Focus the list (after an entry was added: it is highlighted there)."""
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _selected(self) -> None:
        if not self.dismissed:
            self.action_toggle()

    def action_toggle(self) -> None:  # type: ignore[override]  # not DOMNode's attribute toggle
        """Enable or disable the highlighted entry."""
        i = self.query_one(OptionList).highlighted
        if i is None:
            return
        if i == 0:
            self.stop_on_nonfinite = not self.stop_on_nonfinite
        else:
            self.breakpoints[i - 1] = self.breakpoints[i - 1].toggled()
        self._fill()

    def action_remove(self) -> None:
        """Remove the highlighted breakpoint (the non-finite stop can only be disabled)."""
        i = self.query_one(OptionList).highlighted
        if i is None:
            return
        if i == 0:
            self.app.notify(
                "The stop at the first NaN or inf is built in: space disables it.", timeout=4
            )
            return
        del self.breakpoints[i - 1]
        self._fill()

    async def action_focus(self, widget_id: str) -> None:
        self.query_one(f"#{widget_id}").focus()

    def action_close(self) -> None:
        self.dismiss(self.result)

    def _add(self, bp: Breakpoint) -> bool:
        """Add ``bp`` unless an equal one is there (then enable that); whether it is new."""
        for i, old in enumerate(self.breakpoints):
            if (old.kind, old.target) == (bp.kind, bp.target):
                self.breakpoints[i] = old if old.enabled else old.toggled()
                self._fill(highlight=i + 1)
                self.app.notify(f"Already in the list: {old.describe()}", timeout=3)
                return False
        self.breakpoints.append(bp)
        self._fill(highlight=len(self.breakpoints))
        return True

    # --- adding --------------------------------------------------------------------------------

    @on(Button.Pressed)
    def _phase_chosen(self, event: Button.Pressed) -> None:
        phase = (event.button.id or "").removeprefix("bp-phase-")
        if phase in PHASES and not self.dismissed:
            self._add(Breakpoint.on_phase(phase))
            self._back_to_list()

    @on(Input.Submitted, "#bp-node")
    def _node_given(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        if not name or self.dismissed:
            return
        try:
            bp = Breakpoint.on_node(name, self._graph)
        except BreakpointError as err:
            self._show_error("bp-node-error", str(err))
            return
        except Exception as err:  # nothing typed in a field may end the session
            self._show_error("bp-node-error", f"{type(err).__name__}: {err}")
            return
        self._show_error("bp-node-error", None)
        self._add(bp)
        event.input.clear()
        self._back_to_list()

    @on(Input.Submitted, "#bp-condition")
    def _condition_given(self, event: Input.Submitted) -> None:
        if not self.dismissed and self.add_condition(event.value) is not None:
            self._back_to_list()  # a refused one keeps the focus, to be mended

    def add_condition(self, text: str) -> bool | None:
        """Compile ``text`` as a watchpoint and add it; show why when it is refused.

        Returns:
            Whether it was added (False: it was in the list already, now enabled there);
            None when it was refused, which leaves the list as it was.
        """
        box = self.query_one("#bp-condition", Input)
        try:
            bp = Breakpoint.when(text, self._graph)
        except ConditionError as err:
            self._show_error("bp-condition-error", err.reason, text.strip(), err.column)
            return None
        except Exception as err:  # nothing typed in a field may end the session
            self._show_error("bp-condition-error", f"cannot use it: {type(err).__name__}: {err}")
            return None
        self._show_error("bp-condition-error", None)
        box.clear()
        return self._add(bp)

    def _show_error(
        self, error_id: str, message: str | None, text: str = "", column: int = 0
    ) -> None:
        """Show (or hide, with None) an error under an input, with a caret at ``column``."""
        error = self.query_one(f"#{error_id}", Static)
        if message is None:
            error.update("")
            error.remove_class("-shown")
            return
        parts: list[str | tuple[str, str]] = [("✖ ", "bold"), printable(message)]
        # Text and caret are written in cells; strip() keeps the column of the stripped text.
        # The text is shown escaped (the caret moved by what escaping added before it),
        # and a long one only around the column, cut with … (a condition may be 2,000).
        if column and text:
            start = max(0, min(column - 1 - CARET_WINDOW // 2, len(text) - CARET_WINDOW))
            end = start + CARET_WINDOW
            lead, tail = ("…" if start else ""), ("…" if end < len(text) else "")
            before = cell_len(lead + printable(text[start : column - 1]))
            shown = lead + printable(text[start:end]) + tail
            parts += ["\n  ", (shown, "not bold"), "\n  ", " " * before + "^"]
        error.update(Content.assemble(*parts))
        error.add_class("-shown")
