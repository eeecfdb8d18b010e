"""The app's actions as data: one table feeds the key bindings, the help screen and the
command palette, so the three can never disagree.

Each row names the keys (Textual key syntax, comma-separated), the action (a method
``action_<name>`` on the app) and what it does, in words a learner would use.
"""

from __future__ import annotations

from functools import partial

import msgspec
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider


class Action(msgspec.Struct, frozen=True):
    """One thing the user can do.

    Attributes:
        keys: Textual key names, comma-separated (``"n,right"``); the first is the main one.
        action: The app action it runs (``"next_event"`` runs ``action_next_event``).
        label: One word for the footer.
        title: What it does, for the command palette and the help screen's key table.
        help: More about it, for the help screen.
        display: How the keys are written for people (``"n →"``).
        footer: Whether the footer shows it.
    """

    keys: str
    action: str
    label: str
    title: str
    display: str
    help: str = ""
    footer: bool = True


ACTIONS: tuple[Action, ...] = (
    Action("n,right", "next_event", "next", "Next event", "n →"),
    Action(
        "p,left",
        "prev_event",
        "prev",
        "Previous event",
        "p ←",
        "Stepping back is exact: every pane shows what it showed before.",
    ),
    Action(
        "right_square_bracket",
        "next_step",
        "step",
        "Next training step",
        "]",
        "Same place within the step: same phase, same node.",
    ),
    Action(
        "left_square_bracket",
        "prev_step",
        "step",
        "Previous training step",
        "[",
        "Same place within the step.",
        footer=False,
    ),
    Action("g", "first_event", "first", "First event", "g", footer=False),
    Action(
        "G",
        "last_event",
        "last",
        "Last computed event",
        "G",
        "While later steps are still being computed (the header says so), G goes to the"
        " last one computed and says more are coming; G again follows them: the cursor"
        " stays on the newest event as steps are computed, until any move or esc.",
        footer=False,
    ),
    Action(
        "space",
        "toggle_play",
        "play",
        "Play / pause",
        "space",
        "Stops by itself where c would stop: at a breakpoint, or the first NaN or inf.",
    ),
    Action(
        "P",
        "play_steps",
        "steps",
        "Play by steps (one training step per tick)",
        "P",
        "Like space, but each tick moves a whole training step, to the same place in the"
        " next step; it still stops at every breakpoint inside the step. space while"
        " playing by steps goes back to one event per tick.",
        footer=False,
    ),
    Action(
        "plus",
        "faster",
        "faster",
        "Play faster",
        "+",
        "More events (or steps) per second, up to as fast as the screen is drawn: every"
        " event played is painted. The header shows the rate measured over the last two"
        " seconds, with max when the drawing sets the pace.",
        footer=False,
    ),
    Action("minus", "slower", "slower", "Play slower", "-", footer=False),
    Action(
        "c",
        "continue_to_breakpoint",
        "continue",
        "Continue to the next breakpoint",
        "c",
        "Runs forward, computing steps as needed, to the next event where a breakpoint (●)"
        " or watchpoint stops, or to the first NaN or inf (✖). Press c or esc again to stop"
        " a long search.",
    ),
    Action(
        "C",
        "reverse_continue",
        "back",
        "Reverse continue to the previous breakpoint",
        "C",
        "The same, backwards: to the previous event where a breakpoint stops.",
        footer=False,
    ),
    Action(
        "b",
        "toggle_breakpoint",
        "break",
        "Toggle a breakpoint",
        "b",
        "On the node selected in the graph (click one), else on the current event's"
        " node or parameter.",
    ),
    Action(
        "B",
        "breakpoints",
        "breakpoints",
        "Breakpoints and watchpoints",
        "B",
        "List them, enable, disable or remove one; add one on a phase or a node, or a"
        " watchpoint: a condition such as norm(grad) > 10.",
        footer=False,
    ),
    Action(
        "escape",
        "cancel_search",
        "cancel",
        "Cancel a search",
        "esc",
        "While c or C is searching (the header says so): stop where it is.",
        footer=False,
    ),
    Action(
        "escape",
        "stop_following",
        "stop",
        "Stop following the computed steps",
        "esc",
        "After G G: leave the cursor where it is.",
        footer=False,
    ),
    Action(
        "escape",
        "chain_back",
        "back",
        "Chain rule: back to the cursor's event",
        "esc",
        "Selecting a node in the graph (↑↓ then enter, or a click) shows its latest event's"
        " derivation in the chain-rule pane, until the cursor moves; esc shows the cursor's"
        " event again.",
        footer=False,
    ),
    Action(
        "h",
        "toggle_history",
        "hist",
        "Show the history instead of the graph",
        "h",
        "On small terminals the graph and the history share one place; h swaps them.",
    ),
    Action(
        "z",
        "zoom_in",
        "zoom",
        "Zoom into the graph",
        "z",
        "The graph pane always shows the whole graph, as detailed as fits; z shows more"
        " detail (values and gradients, whole tensors) around the selected or current"
        " node, larger than the pane. z again for more.",
    ),
    Action(
        "Z",
        "zoom_overview",
        "overview",
        "Back to the whole graph",
        "Z",
        "Zooms the graph pane back out to the overview that fits (its subtitle says so"
        " while zoomed).",
        footer=False,
    ),
    Action(
        "shift+left",
        "pan_left",
        "pan",
        "Pan the zoomed graph left",
        "⇧←",
        "Shift and the arrow keys move over a zoomed graph (the mouse wheel too).",
        footer=False,
    ),
    Action("shift+right", "pan_right", "pan", "Pan the zoomed graph right", "⇧→", footer=False),
    Action("shift+up", "pan_up", "pan", "Pan the zoomed graph up", "⇧↑", footer=False),
    Action("shift+down", "pan_down", "pan", "Pan the zoomed graph down", "⇧↓", footer=False),
    Action(
        "u",
        "switch_view",
        "view",
        "Neurons ↔ layers in the graph",
        "u",
        "A small layered network is drawn unit by unit: each neuron with its numbers, each"
        " weight an edge coloured by its sign, brighter the larger it is. u switches to"
        " one box per layer and back.",
        footer=False,
    ),
    Action(
        "S",
        "next_sample",
        "sample",
        "Next sample in the neuron view",
        "S",
        "The neurons show one sample of the batch at a time (x · sample 0/4); S shows the next.",
        footer=False,
    ),
    Action(
        "v",
        "toggle_data",
        "data",
        "Data view in place of the graph (v again: the graph)",
        "v",
        "What the model computes on its data at this step: a network's output over the plane"
        " of its 2 inputs with the data points (the mini-batch ●), or its fitted curve for 1"
        " input; for an expression graph with 2 scalar parameters, the loss over their plane"
        " and the path they took. Step with ] to watch it change.",
    ),
    Action(
        "i",
        "inspect",
        "inspect",
        "Inspect a tensor: every element, and the chain rule of one",
        "i",
        "The current node's (or the graph's selected node's) value or gradient as a grid of"
        " numbers coloured by sign and size. Arrows move the element cursor, tab switches"
        " value and gradient, esc (or i) closes. Under the grid, the selected element's"
        " forward and backward derivations with every term's numbers. Stepping keeps"
        " working: the inspector follows the event.",
        footer=False,
    ),
    Action(
        "colon",
        "go_to",
        "go to",
        "Go to a step or event",
        ":",
        "Type a step (120), a step and an event within it (120.7, counted from 0) or an"
        " event's number over the whole run (#5000). A step not computed yet is computed"
        " first (esc cancels).",
        footer=False,
    ),
    Action(
        "o",
        "open_scenario",
        "open",
        "Open a scenario",
        "o",
        "A built-in, or a .toml file.",
        footer=False,
    ),
    Action("d", "description", "notes", "Scenario description", "d", footer=False),
    Action(
        "w",
        "what_if",
        "what-if",
        "What if… (change something and branch)",
        "w",
        "From the start of the current step: set a parameter (W1[0,1] = 0.3, or a whole"
        " tensor), the learning rate or the optimizer, and train on as a new branch. The"
        " history compares its loss with the original's. Lists the branches, to switch.",
        footer=False,
    ),
    Action(
        "W",
        "original_run",
        "original",
        "Back to the original run (or forth to the what-if)",
        "W",
        "The original run is kept as it was; W again returns to the last what-if.",
        footer=False,
    ),
    Action(
        "s",
        "save_screenshot",
        "save",
        "Save a screenshot (SVG)",
        "s",
        "Written to the current folder, or to $BPDBG_SCREENSHOT_DIR if it is set.",
        footer=False,
    ),
    Action("question_mark", "help", "help", "Help", "?", "Every key, and what each pane shows."),
    Action("q", "quit", "quit", "Quit", "q"),
)
"""Every action of the main screen, in the order the help screen lists them."""


def bindings() -> list[BindingType]:
    """The key bindings for :data:`ACTIONS`."""
    return [
        Binding(a.keys, a.action, a.label, show=a.footer, key_display=a.display.split()[0])
        for a in ACTIONS
    ]


class ActionsProvider(Provider):
    """Offers every action of :data:`ACTIONS` in the command palette (ctrl+p)."""

    async def discover(self) -> Hits:
        for a in ACTIONS:
            yield DiscoveryHit(
                a.title, partial(self.app.run_action, a.action), help=f"key: {a.display}"
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for a in ACTIONS:
            score = matcher.match(a.title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(a.title),
                    partial(self.app.run_action, a.action),
                    text=a.title,
                    help=f"key: {a.display}",
                )
