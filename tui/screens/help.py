"""The help screen: every key (from the action table) and what each pane shows."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Markdown, Static

from engine.fmt import printable
from tui.actions import ACTIONS
from tui.screens.dialog import Dialog

PANES = """\
- **Timeline** (left): every event computed so far, one a line — the training step, the
  phase, and what the event is about. The highlighted line is where you are; **●** marks
  the events where a node or phase breakpoint stops (**○** a disabled one), and **✖** the
  first event where a NaN or an infinity appears. Click a line to go there.
- **Gradients** (under the timeline): each layer's gradient norm at this step as a bar
  on a log scale, every layer, with the *vanishing* (┊ yellow) and *exploding* (┊ red)
  thresholds drawn across; a flagged layer is marked ⚠. Bars appear at the backward
  events that compute them, from the output layer back. Below them, the ReLU units that
  output zero for every sample (dead: no gradient can revive them). When the run holds a
  NaN or inf, the header says where (`✖ NaN at event 398`) and `c` stops there first.
- **Graph**: the whole computation, from the inputs and parameters to the loss, as
  detailed as the pane has room for: a small network neuron by neuron, each weight an
  edge coloured by its sign (blue positive, red negative in the default theme) and
  brighter the larger, the numbers of the weights the event is about on the last line
  (∂L/∂W while the backward pass computes them); else boxes, a list, names. Values flow
  forward along the edges and gradients flow back; **▶** marks the current event's node. `z` zooms in for more detail, `Z`
  zooms out to the whole graph, `u` switches neurons and layers, `S` shows the next
  sample. A sub-expression is called by a short name (`t1`); its text is beside it, or
  in the pane's subtitle when selected. Click a node to select it (then `b` sets a
  breakpoint on it).
- **Data** (`v`, in the graph's place): what the model computes on its data at this
  step. Two inputs: its output over the plane of inputs (class colours, or a diverging
  scale for one output) with the data points on top, coloured by target; ● marks this
  step's mini-batch. One input: the fitted curve over the points. An expression graph
  with two scalar parameters: the loss over the plane of those parameters, with the path
  they took up to this step. `v` again returns to the graph.
- **Inspector** (`i`, in the graph's place): the current node's value or gradient
  (`tab` switches) as a grid of every element, tinted by sign and size; arrows move to an
  element, and below the grid its forward and backward derivation are written out term by
  term, and at an update the optimizer's rule for that element. It follows the event as
  you step; `esc` or `i` returns to the graph.
- **Chain rule**: the current event worked out with its numbers — a node's value from its
  inputs; the loss; a gradient as upstream gradient × local derivative, summed over every
  path; a parameter's update by the optimizer.
- **History**: the loss of every step, and how the selected parameter moved (pick one in
  its list, or click a parameter in the graph); ● is the current step. A loss falling by
  orders of magnitude is drawn on a log axis (`l` toggles it when the pane is focused), a
  parameter that diverges on a symlog axis; steps whose value is inf or NaN are marked ×
  along the top. A what-if run is drawn with the original, named in the title row. On
  small terminals it shares its place with the graph: `h` swaps them.

Steps and events are counted from 0, as in `bpdbg trace`. The header shows where you are
(`step 3/20` is step 3 of 20 steps, counted from 0) and, while later steps are still being
computed, how far that has got.
"""

PHASES = (
    ("forward", "each node's value, computed from its inputs"),
    ("loss", "how far the prediction is from the target"),
    ("backward", "∂L/∂node for every node, from the loss back to the parameters"),
    ("update", "the optimizer moves each parameter against its gradient"),
)


def key_rows() -> list[tuple[str, str]]:
    """``(keys, what they do)`` for every action of :data:`tui.actions.ACTIONS`, and more."""
    rows = [(a.display, f"{a.title}. {a.help}" if a.help else a.title) for a in ACTIONS]
    rows.append(("ctrl+p", "Command palette: every action above, by name."))
    rows.append(
        (
            "↑ ↓ enter",
            "In the graph: choose a node, and select it (as a click does); the chain rule"
            " then shows its latest event until the cursor moves.",
        )
    )
    rows.append(("esc", "Close this help (also ? or q)."))
    return rows


class HelpScreen(Dialog[None]):
    """Keys, panes and phases; any of ``esc``, ``?`` or ``q`` closes it."""

    CSS_PATH = "help.tcss"

    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def __init__(self, scenario_name: str) -> None:
        super().__init__()
        self._scenario_name = scenario_name

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog") as dialog:
            dialog.border_title = "Help"
            dialog.border_subtitle = "esc to close"
            with VerticalScroll():
                yield Static(
                    Content.from_markup(
                        "bpdbg steps through backpropagation one event at a time. Now open:"
                        " [b]$name[/b] ([b]d[/b] shows its description).",
                        name=printable(self._scenario_name),
                    ),
                    id="help-intro",
                )
                yield Static(Content.from_markup("[b]Keys[/b]"), classes="help-heading")
                with Grid(id="help-keys"):
                    for keys, text in key_rows():
                        yield Static(keys, classes="help-key")
                        yield Static(text, classes="help-text")
                yield Static(Content.from_markup("[b]Panes[/b]"), classes="help-heading")
                yield Markdown(PANES, id="help-panes")
                yield Static(self._phases(), id="help-phases")

    def _phases(self) -> Content:
        parts = [Content.from_markup("[b]Phases[/b] of every training step, in order:\n")]
        for phase, text in PHASES:
            parts.append(
                Content.from_markup(f"  [b $phase-{phase}]$p[/] — $t\n", p=f"{phase:<8}", t=text)
            )
        return Content.assemble(*parts)
