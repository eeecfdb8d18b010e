"""The bpdbg app: a step debugger over a :class:`~engine.timeline.timeline.Timeline`.

The app owns one reactive ``cursor`` (the current event's ``seq``), clamped to the events
computed so far. When it changes, the app builds the :class:`~engine.timeline.timeline.Frame` once
and hands it to every pane (attributes down); panes report clicks with messages (up).
Training ahead runs in a thread worker that only advances the timeline and posts progress.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.notifications import Notification, Notify, SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import get_current_worker

from engine.fmt import printable
from engine.step.program import Program
from engine.timeline.runs import Runs, run_label, run_of_step
from engine.timeline.timeline import Frame, Timeline
from tui.actions import ACTIONS, ActionsProvider, bindings
from tui.collector import resume_gc
from tui.debugger import Debugger
from tui.pacing import cancel_check
from tui.panes.chain_rule.widget import ChainRuleView
from tui.panes.footer import KeyFooter
from tui.panes.gradients import GradientsView
from tui.panes.graph.widget import GraphView
from tui.panes.header import HeaderBar
from tui.panes.history import HistoryView
from tui.panes.timeline import TimelineView

if TYPE_CHECKING:
    from textual.command import CommandListItem
    from textual.widget import AwaitMount

    from engine.debug.breakpoints import Breakpoint
    from tui.live_reload import FileNews, FileReloaded, ScenarioWatcher
    from tui.panes.data.widget import DataPane
    from tui.panes.inspector.widget import InspectorView

PHASE_COLORS = {
    "forward": "text-primary",
    "loss": "text-error",
    "backward": "text-accent",
    "update": "text-success",
}
"""The theme colour of each phase, published to CSS and markup as ``$phase-<name>``.

Forward and backward match the graph pane's edges (values flow in the primary colour,
gradients in the accent colour); updated parameters are green there too."""

CHUNK_SECONDS = 0.02
"""Roughly how long one chunk of training ahead runs (cancelling waits for a chunk)."""
PROGRESS_SECONDS = 0.25
"""How often training ahead reports progress (header, timeline length)."""
HISTORY_REFRESH_SECONDS = 1.0
"""How often the history pane's plots are redrawn while steps are being computed."""
WATCH_DELAY_SECONDS = 0.5
"""How long after start-up the scenario's file begins to be watched (tui.live_reload)."""

ACTION_NAMES = frozenset(a.action for a in ACTIONS)
FOOTER_ACTIONS = frozenset(a.action for a in ACTIONS if a.footer)
MOVES = ("next_event", "prev_event", "next_step", "prev_step", "first_event", "last_event")
GRAPH_ACTIONS = ("zoom_in", "switch_view", "next_sample")
"""The graph pane's actions, which come and go with what it shows."""
PANS = {"pan_left": (-1, 0), "pan_right": (1, 0), "pan_up": (0, -1), "pan_down": (0, 1)}


class BpdbgApp(Debugger, App[int]):
    """Step through backpropagation one event at a time.

    Args:
        program: The scenario to run, already loaded and validated.
        compute_ahead: Train ahead in a worker (off in tests that want a quiet app).
        cursor_blink: Whether text cursors blink (off for snapshots).
        live_reload: Run a new version of the scenario's file when it changes (off for
            snapshots: nothing may change while one is taken).
        served_from: When the app is served to browsers (``bpdbg serve``), the folder
            it serves: the picker opens built-ins and files under it only, and ``s``
            sends the screenshot to the browser instead of writing it here.
    """

    CSS_PATH = "app.tcss"
    TITLE = "bpdbg"
    BINDINGS = bindings()
    COMMANDS = App.COMMANDS | {ActionsProvider}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    cursor: reactive[int] = reactive(0, init=False, repaint=False)
    """The current event's ``seq``, within the events computed so far.

    ``repaint=False`` here and below: an app's repainting reactive redraws the whole
    screen on every change; the panes repaint just what changed themselves."""
    playing: reactive[bool] = reactive(False, init=False, repaint=False)
    """Whether the cursor advances by itself, one event per tick."""
    history_shown: reactive[bool] = reactive(False, init=False, repaint=False)
    """On small terminals, whether the history takes the graph's place."""
    data_shown: reactive[bool] = reactive(False, init=False, repaint=False)
    """Whether the data view (v) is shown in the graph's place."""
    inspector_shown: reactive[bool] = reactive(False, init=False, repaint=False)
    """Whether the inspector (i) is shown in the place of the graph and the panes under it."""

    class Computed(Message):
        """The worker advanced ``timeline``'s frontier (``stopped``: and computes no more,
        after an error)."""

        def __init__(self, timeline: Timeline, stopped: bool = False) -> None:
            self.timeline = timeline
            self.stopped = stopped
            super().__init__()

    def __init__(
        self,
        program: Program,
        *,
        compute_ahead: bool = True,
        cursor_blink: bool = True,
        live_reload: bool = True,
        served_from: Path | None = None,
    ) -> None:
        super().__init__()
        self.timeline = Timeline(program)
        self.runs = Runs(self.timeline)
        """The open scenario's original run and its what-if branches (w, W)."""
        self.frame: Frame | None = None
        """The frame every pane shows now."""
        self.selected: str | None = None
        """The node picked in the graph, which ``b`` toggles; None: the event's subject."""
        self._compute_ahead = compute_ahead
        self._ahead: Timeline | None = None
        """The run being trained ahead, until the app has shown that it is all computed
        (or has stopped): see :attr:`training_ahead`."""
        self._cursor_blink = cursor_blink
        self._live_reload = live_reload
        self.served_from = served_from
        """The folder served to browsers, or None in a terminal."""
        self._history_shown_at = 0.0
        self._bindings_shown: tuple[bool | None, ...] = ()
        self._quitting = False
        self._watcher: ScenarioWatcher | None = None
        """The open scenario's file watcher (live reload), if it comes from a file."""
        self._frontier_at: int | None = None
        """Where the last G put the cursor while steps were still being computed: G there
        again follows the frontier."""
        self.following_frontier = False
        """Whether the cursor moves on to the newest event as steps are computed (G G)."""
        self._file_note: Notification | None = None
        """Live reload's news shown now: the next replaces it."""
        self.header = HeaderBar(id="header")
        self.timeline_view = TimelineView(id="timeline")
        self.graph_view = GraphView(id="graph")
        self.chain_view = ChainRuleView(id="chain")
        self.history_view = HistoryView(id="history")
        self.gradients_view = GradientsView(id="gradients")
        self.data_view: DataPane | None = None
        """The data view, mounted the first time it is shown (tui.panes.data.widget)."""
        self._goto_target: int | None = None
        """An event ``:`` asked for that is not computed yet: the cursor goes there once
        it is (esc cancels)."""
        self.inspector: InspectorView | None = None
        """The inspector, mounted the first time it is shown (tui.panes.inspector)."""
        self.set_reactive(BpdbgApp.breakpoints, _scenario_breakpoints(program))

    # --- layout ---------------------------------------------------------------------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Show a notification, as :meth:`App.notify` does, but as plain text by default
        and with control characters escaped (:func:`engine.fmt.printable`).

        Notifications quote text from files: scenario names, error messages naming a
        file, conditions. Parsed as markup, a name with ``[/]`` in it would end the app,
        and an ESC in it would reach the terminal.
        """
        super().notify(
            printable(message, newlines=True),
            title=printable(title),
            severity=severity,
            timeout=timeout,
            markup=markup,
        )

    def get_css_variables(self) -> dict[str, str]:
        variables = super().get_css_variables()
        variables.update({f"phase-{p}": variables[c] for p, c in PHASE_COLORS.items()})
        self.theme_variables = variables
        return variables

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # The action table offers Quit already (ActionsProvider).
        yield from (c for c in super().get_system_commands(screen) if c.title != "Quit")

    def compose(self) -> ComposeResult:
        self._set_size_classes()  # before the panes are styled: they are styled once
        yield self.header
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield self.timeline_view
                yield self.gradients_view
            with Vertical(id="right"):
                yield self.graph_view
                with Horizontal(id="lower"):
                    yield self.chain_view
                    yield self.history_view
        yield KeyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        for pane, title in zip(self.panes, ("Timeline", "Graph", "Chain rule", "History")):
            pane.border_title = title
        self.gradients_view.border_title = "Gradients"
        self._start()
        # Live reload starts once the first frame is up: watchfiles takes a while to load.
        self.set_timer(WATCH_DELAY_SECONDS, self._watch_scenario_file)
        self.call_after_refresh(resume_gc)  # start-up is over once the frame is painted

    def _set_size_classes(self) -> None:
        """Give the screen its size classes (``-narrow``, ``-short``, …) before its
        children are styled and laid out.

        Textual sets them after laying out for a new size: the first frame would be laid
        out and drawn for a large terminal (plots and all), then again for the real size.
        """
        width, height = self.size
        classes: dict[str, bool] = {}
        for breakpoints, size in (
            (self.HORIZONTAL_BREAKPOINTS, width),
            (self.VERTICAL_BREAKPOINTS, height),
        ):
            chosen = max((b for b in breakpoints if size >= b[0]), default=None)
            classes |= {name: (at, name) == chosen for at, name in breakpoints}
        self.screen.update_classes(classes, animate=False)

    @property
    def panes(self) -> tuple[TimelineView, GraphView, ChainRuleView, HistoryView]:
        """The four panes, each of which shows the current frame."""
        return (self.timeline_view, self.graph_view, self.chain_view, self.history_view)

    # --- the cursor --------------------------------------------------------------------------

    @property
    def last(self) -> int:
        """The last event the cursor can reach now."""
        return max(0, self.timeline.computed_events - 1)

    def validate_cursor(self, cursor: int) -> int:
        return max(0, min(cursor, self.last))

    def watch_cursor(self, cursor: int) -> None:
        if self.following_frontier and cursor != self._frontier_at:
            self.following_frontier = False  # the user moved: the cursor is theirs again
        self._show()

    def _show(self) -> None:
        """Build the frame at the cursor and hand it to every pane."""
        frame = self.frame = self.timeline.frame(self.cursor)
        # The inspector covers the graph, chain-rule and history panes: they catch up
        # when it closes (watch_inspector_shown), a step need not draw them meanwhile.
        covered = self.inspector_shown
        for pane in self.panes:
            if not covered or pane is self.timeline_view:
                pane.show(frame, self.timeline)
        self.gradients_view.show(frame, self.timeline)
        if self.data_shown and self.data_view is not None:
            self.data_view.show(frame, self.timeline)
        if self.inspector_shown:
            self._show_inspector()
        self._history_shown_at = time.monotonic()
        self._update_header()
        self._refresh_footer()

    def _start(self, cursor: int = 0) -> None:
        """Show the current timeline at event ``cursor`` (clamped), start training ahead."""
        self._goto_target = None  # a place in the run shown before
        self.set_reactive(BpdbgApp.cursor, self.validate_cursor(cursor))
        self.following_frontier = False
        self._frontier_at = None
        self._debugger_start()
        self._show()
        self._ahead = self.timeline if self._compute_ahead and not self.timeline.done else None
        if self._ahead is not None:
            # Once the screen shows this timeline: a worker computing beside the first
            # paint would only slow it down (they share the interpreter).
            self.call_after_refresh(self._start_training, self.timeline)

    def _start_training(self, timeline: Timeline) -> None:
        if timeline is self.timeline and not timeline.done:
            self._train_ahead(timeline)

    def set_program(self, program: Program) -> None:
        """Replace the running scenario: a new timeline, the cursor at its start."""
        self.playing = False
        self.timeline = Timeline(program)
        self.runs = Runs(self.timeline)
        self.selected = None
        self.breakpoints = _scenario_breakpoints(program)
        self._start()
        self.notify(f"Opened {program.scenario.name}", timeout=3)
        self._watch_scenario_file()

    def set_timeline(self, timeline: Timeline, cursor: int | None = None) -> None:
        """Show another run of the open scenario — a what-if branch, the original, a
        reloaded file — at the same event (``cursor``, default the cursor now), clamped
        to what that run has computed. Breakpoints and the selection stay."""
        seq = self.cursor if cursor is None else cursor
        self.playing = False
        self.timeline = timeline
        graph = timeline.program.graph
        if self.selected is not None and self.selected not in {n.name for n in graph.nodes}:
            self.selected = None
        # The cursor's step, if it is not computed yet: a branch's first step, or steps a
        # cancelled run had not reached (at most a moment's work; the rest comes ahead).
        step = min(timeline.locate(seq)[0], timeline.total_steps - 1)
        if step >= timeline.computed_steps:
            deadline = time.perf_counter() + 0.25
            timeline.compute(
                step + 1 - timeline.computed_steps,
                cancelled=lambda: time.perf_counter() > deadline,
            )
        self._start(seq)

    def _watch_scenario_file(self) -> None:
        """Watch the file of the open scenario (:mod:`tui.live_reload`), instead of any
        file watched before; not when live reload is off (``bpdbg snapshot``)."""
        if not self._live_reload:
            return
        from tui.live_reload import ScenarioWatcher, watched_file

        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        source = self.runs.original.program.scenario.source
        path = watched_file(source)
        if path is None:
            return
        self._watcher = ScenarioWatcher(
            path,
            source,
            post=self.post_message,
            cursor_step=lambda: self.cursor // self.timeline.events_per_step,
            running=lambda: self.is_running,
        )
        self._watcher.start()

    def on_file_news(self, message: FileNews) -> None:
        if message.watcher is self._watcher:  # else from a file no longer open
            self._file_news(
                message.text,
                title=message.title,
                severity=message.severity,
                timeout=message.timeout,
            )

    def on_file_reloaded(self, message: FileReloaded) -> None:
        """Show the reloaded scenario where the cursor was; its what-ifs were of the old."""
        from tui.live_reload import same_place

        if message.watcher is not self._watcher:
            return
        timeline = message.timeline
        seq = same_place(self.timeline, self.cursor, timeline)
        dropped = len(self.runs.branches)
        self.runs = Runs(timeline)
        self.set_timeline(timeline, seq)
        note = f" (its {dropped} what-if branch(es) were of the old version)" if dropped else ""
        self._file_news(f"Reloaded {timeline.program.scenario.source}{note}", timeout=4)

    def _file_news(
        self,
        text: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float = 4,
    ) -> None:
        """Show live reload's news, in place of the news it showed before.

        Textual has no public call to withdraw one notification; ``_unnotify`` is what its
        toasts call when they expire. The one withdrawn is also made to expire now, in
        case the app has not handled its :class:`Notify` yet (news can come in quick
        succession): Textual drops an expired notification instead of showing it. A burst
        of bad saves then shows one error, updated.
        """
        previous, self._file_note = self._file_note, None
        if previous is not None:
            previous.timeout = 0
            if previous in self._notifications:
                self._unnotify(previous)
        note = Notification(
            printable(text, newlines=True), printable(title), severity, timeout, markup=False
        )
        self._file_note = note
        self.post_message(Notify(note))

    # --- the header --------------------------------------------------------------------------

    def _update_header(self) -> None:
        t, frame = self.timeline, self.frame
        self.header.set_part(
            "title",
            Content.from_markup(
                "[b]bpdbg[/b] [dim]│[/dim] $name", name=printable(t.program.scenario.name)
            ),
        )
        if frame is not None:
            self.header.set_part(
                "position",
                Content.from_markup(
                    f"step $step/$steps  [reverse b $phase-{frame.phase}] $phase [/]"
                    "  event $seq/$events",
                    step=f"{frame.step:,}",
                    steps=f"{t.total_steps:,}",
                    phase=f"{frame.phase:^8}",
                    seq=f"{frame.seq:,}",
                    events=f"{t.total_steps * t.events_per_step:,}",
                ),
            )
        self._update_status()

    def _update_status(self) -> None:
        t = self.timeline
        if not t.done:
            fraction = t.computed_steps / max(1, t.total_steps)
            filled = round(8 * fraction)
            text = Content.from_markup(
                "[dim]computing[/dim] $done/$total $bar",
                done=f"{t.computed_steps:,}",
                total=f"{t.total_steps:,}",
                bar="▰" * filled + "▱" * (8 - filled),
            )
            if self.following_frontier:
                text = Content.assemble(Content.from_markup("[b]following[/b]  "), text)
        elif self.playing:
            text = Content.from_markup("[b]▶ playing[/b]")
        else:
            text = Content("")
        self.header.set_part("status", self._debugger_status(text))

    # --- training ahead ----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="compute")
    def _train_ahead(self, timeline: Timeline) -> None:
        """Compute the rest of the run in chunks of about :data:`CHUNK_SECONDS`."""
        worker = get_current_worker()
        cancelled = cancel_check(worker)

        chunk = 1  # the first frame waits on step 0 only
        reported = 0.0
        try:
            while not timeline.done and not worker.is_cancelled:
                began = time.perf_counter()
                timeline.compute(chunk, cancelled=cancelled)
                took = time.perf_counter() - began
                if took < CHUNK_SECONDS / 2:
                    chunk *= 2
                elif took > CHUNK_SECONDS * 2 and chunk > 1:
                    chunk //= 2
                # Each report redraws the header, the timeline's scrollbar and the plots:
                # reporting every chunk would keep the UI thread busy and slow both down.
                if timeline.done or began - reported >= PROGRESS_SECONDS:
                    reported = began
                    self.post_message(self.Computed(timeline))
        except Exception as err:  # the steps computed so far stay steppable; say why no more
            self.post_message(self.Computed(timeline, stopped=True))
            self.notify(
                f"Training ahead stopped at step {timeline.computed_steps:,}:"
                f" {type(err).__name__}: {err}",
                severity="error",
                timeout=10,
            )

    @property
    def training_ahead(self) -> bool:
        """Whether the run shown is still being computed ahead: from when it is shown
        until the app has handled the news that it is all computed (or that computing
        stopped). False for a run that needed no training ahead."""
        return self._ahead is not None and self._ahead is self.timeline

    def on_bpdbg_app_computed(self, message: Computed) -> None:
        if message.timeline is not self.timeline or not self.history_view.is_attached:
            return  # from the scenario that was open before, or the app is closing
        if message.stopped or self.timeline.done:
            self._ahead = None
        self.timeline_view.set_computed(self.timeline.computed_events)
        if self.following_frontier:
            self._follow_frontier()
        now = time.monotonic()
        if self.frame is not None and (
            self.timeline.done or now - self._history_shown_at > HISTORY_REFRESH_SECONDS
        ):
            self.history_view.show(self.frame, self.timeline)  # its curves grow with the run
            self._history_shown_at = now
        self._update_status()
        self._refresh_footer()
        self._reach_goto_target()

    # --- messages from the panes -------------------------------------------------------------

    @on(TimelineView.EventClicked)
    def _event_clicked(self, message: TimelineView.EventClicked) -> None:
        self.cursor = message.seq

    @on(GraphView.NodeSelected)
    def _node_selected(self, message: GraphView.NodeSelected) -> None:
        self.selected = message.name
        if message.name in self.timeline.program.graph.params:
            self.history_view.select_param(message.name)
        self._graph_subtitle()
        if self.inspector_shown:
            self._show_inspector()
        self._chain_shows_node(message.name)

    def _chain_shows_node(self, name: str) -> None:
        """The chain-rule pane shows ``name``'s latest event (up to the cursor) until the
        cursor moves or ``esc`` (:meth:`action_chain_back`)."""
        from engine.step.layout import step_layout

        seq = step_layout(self.timeline.program.graph).latest_event(name, self.cursor)
        if seq is None:
            self.notify(f"{name} is an input: no event computes it.", timeout=3)
            return
        self.chain_view.show_node_event(name, self.timeline.frame(seq), self.timeline)
        self._refresh_footer()

    def action_chain_back(self) -> None:
        if self.frame is not None:
            self.chain_view.show(self.frame, self.timeline)

    @on(GraphView.PlanChanged)
    def _graph_plan_changed(self) -> None:
        if not self.screen_stack or not self.graph_view.is_attached:
            return  # the app is closing
        self._graph_subtitle()
        self._refresh_footer()

    def _graph_subtitle(self) -> None:
        """The graph pane's subtitle: the selection (a sub-expression with its text), and
        how the graph is drawn."""
        parts = []
        graph = self.timeline.program.graph
        if self.selected is not None and self.selected in graph.by_name:
            node = graph[self.selected]
            sub = node.kind == "op" and not node.named and node.text
            name = f"{node.name} = {node.text}" if sub else node.name
            parts.append(f"selected {name} · b: breakpoint")
        parts.append(self.graph_view.describe())
        # A sub-expression's text comes from the file: never markup.
        self.graph_view.border_subtitle = Content(printable(" · ".join(p for p in parts if p)))

    # --- actions (see tui.actions) -----------------------------------------------------------

    def exit(self, *args: Any, **kwargs: Any) -> None:
        self._quitting = True
        super().exit(*args, **kwargs)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self._quitting:
            return False  # keys typed after q: no dialog may open while the app closes
        if action in ACTION_NAMES and self.screen is not self.screen_stack[0]:
            return False  # a dialog is open: its own keys apply, the panes behind stay still
        eps = self.timeline.events_per_step
        match action:
            case "next_event":
                enabled = self.cursor < self.last
            case "last_event":  # while computing, G (again) follows the frontier
                enabled = self.cursor < self.last or not self.timeline.done
            case "stop_following":
                return self.following_frontier
            case "prev_event" | "first_event":
                enabled = self.cursor > 0
            case "next_step":
                enabled = self.cursor + eps <= self.last
            case "prev_step":
                enabled = self.cursor >= eps
            case "toggle_play" | "play_steps":
                enabled = self.playing or self.cursor < self.last or not self.timeline.done
            case "toggle_history":
                return self.compact  # hidden where graph and history both fit
            case "zoom_in":
                enabled = self.graph_view.can_zoom_in
            case "zoom_overview":
                return self.graph_view.zoomed  # shown only while zoomed
            case "switch_view":
                return self.graph_view.has_neurons
            case "next_sample":
                return self.graph_view.has_samples
            case "pan_left" | "pan_right" | "pan_up" | "pan_down":
                plan = self.graph_view.plan
                size = self.graph_view.scrollable_content_region.size
                enabled = plan is not None and not plan.fits(size.width, size.height)
            case "cancel_search":
                # Else esc is free for others.
                return bool(self._searching) or self._goto_target is not None
            case "chain_back":
                return self.chain_view.following is not None
            case _:
                return True
        return True if enabled else None  # None: shown in the footer, greyed out

    def _refresh_footer(self) -> None:
        """Redraw the footer's keys, but only when one it shows has been enabled or disabled.

        The footer rebuilds all its widgets on every refresh, which at every event (or
        every progress report) would cost more than the rest of a step together. Keys it
        does not show (``[``, ``g``, ``G``) change nothing there.
        """
        state = tuple(
            self.check_action(a, ())
            for a in (*MOVES, "toggle_play", "toggle_history", *GRAPH_ACTIONS)
            if a in FOOTER_ACTIONS
        )
        if state != self._bindings_shown:
            self._bindings_shown = state
            self.refresh_bindings()

    @property
    def compact(self) -> bool:
        """Whether the terminal is too small to show the graph and the history at once."""
        main = self.screen_stack[0] if self.screen_stack else None
        return main is not None and main.has_class("-narrow") and main.has_class("-short")

    def on_resize(self) -> None:
        self.call_after_refresh(self._refresh_footer)  # once the size classes are set

    def action_toggle_history(self) -> None:
        self.history_shown = not self.history_shown

    def watch_history_shown(self, shown: bool) -> None:
        self.screen_stack[0].set_class(shown, "-history-shown")

    def action_zoom_in(self) -> None:
        self.graph_view.zoom_in()

    def action_zoom_overview(self) -> None:
        self.graph_view.overview()

    def action_switch_view(self) -> None:
        if self.graph_view.can_switch_view:
            self.graph_view.switch_view()
        else:
            self.notify(
                "The neurons do not fit in the graph pane here: z zooms into them.", timeout=4
            )

    def action_next_sample(self) -> None:
        self.graph_view.next_sample()

    def action_pan_left(self) -> None:
        self.graph_view.pan(*PANS["pan_left"])

    def action_pan_right(self) -> None:
        self.graph_view.pan(*PANS["pan_right"])

    def action_pan_up(self) -> None:
        self.graph_view.pan(*PANS["pan_up"])

    def action_pan_down(self) -> None:
        self.graph_view.pan(*PANS["pan_down"])

    def action_toggle_data(self) -> None:
        self.data_shown = not self.data_shown

    def watch_data_shown(self, shown: bool) -> None:
        if shown and self.data_view is None:
            # Loaded and mounted when first asked for: start-up need not pay for it.
            from tui.panes.data.widget import DataPane

            self.data_view = DataPane(id="data")
            self.data_view.border_title = "Data"
            self.query_one("#right").mount(self.data_view, before=self.graph_view)
        self.screen_stack[0].set_class(shown, "-data-shown")
        if shown:
            self.call_after_refresh(self._show_data)  # once it is styled and laid out

    def _show_data(self) -> None:
        if self.data_shown and self.data_view is not None and self.frame is not None:
            self.data_view.show(self.frame, self.timeline)

    def action_go_to(self) -> None:
        """``:``: a prompt for a step, step.event or #event; the cursor goes there."""
        from tui.screens.goto import GoToScreen

        t = self.timeline

        def chosen(seq: int | None) -> None:
            if seq is None or t is not self.timeline:
                return
            self._goto_target = None
            if seq <= self.last:
                self.cursor = seq
                return
            step = seq // t.events_per_step
            self._goto_target = seq
            self.notify(
                f"Step {step:,} is not computed yet: going there once it is"
                " (the header shows the progress; esc cancels).",
                timeout=4,
            )
            if not t.done and not any(w.group == "compute" for w in self.workers):
                self._train_ahead(t)  # training ahead was off or stopped: it runs now
            self._refresh_footer()

        screen = GoToScreen(t.events_per_step, t.total_steps, cursor_blink=self._cursor_blink)
        self.push_screen(screen, chosen)

    def _reach_goto_target(self) -> None:
        """Move to the event ``:`` asked for, once it is computed."""
        seq = self._goto_target
        if seq is not None and seq <= self.last:
            self._goto_target = None
            self.cursor = seq
            self._refresh_footer()

    def action_cancel_search(self) -> None:
        if self._goto_target is not None:
            self._goto_target = None
            self.notify("Go to cancelled: the cursor stays here.", timeout=3)
            self._refresh_footer()
            return
        super().action_cancel_search()

    def action_inspect(self) -> None:
        self.inspector_shown = not self.inspector_shown

    def watch_inspector_shown(self, shown: bool) -> None:
        if shown and self.inspector is None:
            # Loaded and mounted when first asked for: start-up need not pay for it.
            from tui.panes.inspector.widget import InspectorView

            self.inspector = InspectorView(id="inspector")
            self.query_one("#right").mount(self.inspector)
        self.screen_stack[0].set_class(shown, "-inspector-shown")
        if self.inspector is None:
            return
        if shown:
            self.inspector.focus()
            self.call_after_refresh(self._show_inspector)  # once it is laid out
        else:
            if self.inspector.has_focus:
                self.graph_view.focus()
            if self.frame is not None:
                self._show()  # the panes it covered show the cursor's frame again

    def _show_inspector(self) -> None:
        """The inspector at the cursor: the graph's selected node, else the event's."""
        if not self.inspector_shown or self.inspector is None or self.frame is None:
            return
        graph = self.timeline.program.graph
        node = self.selected if self.selected in graph.by_name else self.frame.event.subject
        assert node is not None
        self.inspector.show(self.frame, node)

    def on_inspector_view_closed(self) -> None:
        self.inspector_shown = False

    def action_next_event(self) -> None:
        self.cursor += 1

    def action_prev_event(self) -> None:
        self.cursor -= 1

    def action_next_step(self) -> None:
        self.cursor += self.timeline.events_per_step

    def action_prev_step(self) -> None:
        self.cursor -= self.timeline.events_per_step

    def action_first_event(self) -> None:
        self.cursor = 0

    def action_last_event(self) -> None:
        """``G``: the last computed event; while steps are still being computed, say so,
        and ``G`` there again follows them (:meth:`_follow_frontier`)."""
        t = self.timeline
        if t.done:
            self.cursor = self.last
            return
        if self.cursor == self._frontier_at and not self.following_frontier:
            self.following_frontier = True
            self.notify(
                "Following the steps as they are computed. Any move, or esc, stops.",
                timeout=4,
            )
            self._follow_frontier()
            return
        self._frontier_at = self.last
        self.cursor = self.last
        self.notify(
            f"Step {t.computed_steps - 1:,} is the last computed so far; steps up to"
            f" {t.total_steps - 1:,} are coming. G again follows them.",
            timeout=5,
        )

    def _follow_frontier(self) -> None:
        """Move the cursor to the newest event (G G), until the run is computed."""
        self._frontier_at = self.last
        self.cursor = self.last
        if self.timeline.done:
            self.following_frontier = False
            self.notify(f"All {self.timeline.total_steps:,} steps computed.", timeout=3)
        self._update_status()

    def action_stop_following(self) -> None:
        self.following_frontier = False
        self._update_status()

    def action_toggle_play(self) -> None:
        if self.playing and self.by_steps:
            self.by_steps = False  # space while playing by steps: on by events
            self._play(True)
            self._update_status()
            return
        if not self.playing:
            self.by_steps = False
        self.playing = not self.playing

    def watch_playing(self, playing: bool) -> None:
        self._play(playing)
        self._update_status()
        self._refresh_footer()

    # Breakpoints, c / C, playing that stops and its speed: see tui.debugger.

    # Dialogs are imported when first opened: they bring in Markdown and the scenario
    # index, a tenth of a second that start-up need not pay.

    # The command palette, and the palettes its "Change theme" and "Keys" open, are
    # Textual's with a fault or two mended (tui.screens.dialog.Palette): these are as App's own.

    def action_command_palette(self) -> None:
        from textual.command import CommandPalette

        from tui.screens.dialog import Palette

        # Textual types is_open's app as App[object]; this one returns an int.
        if self.use_command_palette and not CommandPalette.is_open(self):  # type: ignore[arg-type]
            # No id (App's gives "--command-palette"): a palette just closed may not have
            # left yet when ctrl+p opens the next, and two screens may not share an id.
            self.push_screen(Palette())

    def search_commands(
        self, commands: Sequence[CommandListItem], placeholder: str = "Search for commands…"
    ) -> AwaitMount:
        from textual.command import SimpleProvider

        from tui.screens.dialog import Palette

        provider = SimpleProvider(self.screen, list(commands))
        # An instance, as Textual's own search_commands passes: its type says classes only.
        palette = Palette(providers=[provider], placeholder=placeholder)  # type: ignore[list-item]
        return self.push_screen(palette)

    def search_themes(self) -> None:
        from textual.theme import ThemeProvider

        from tui.screens.dialog import Palette

        self.push_screen(Palette(providers=[ThemeProvider], placeholder="Search for themes…"))

    def action_open_scenario(self) -> None:
        from tui.screens.picker import PickerScreen

        current = self.timeline.program.scenario.source

        def opened(program: Program | None) -> None:
            if program is not None:
                self.set_program(program)

        picker = PickerScreen(
            current,
            cursor_blink=self._cursor_blink,
            within=self.served_from,
            branches=len(self.runs.branches),
        )
        self.push_screen(picker, opened)

    def action_description(self) -> None:
        from tui.screens.notes import NotesScreen

        self.push_screen(NotesScreen(self.timeline.program.scenario))

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.timeline.program.scenario.name))

    def action_what_if(self) -> None:
        """``w``: the what-if dialog at the cursor's step; switch to the run it hands back."""
        from tui.screens.whatif import WhatIfScreen

        if self.frame is None:
            return
        step = self.frame.step
        # Before a branch's first step, the run shown is its parent's: branch from that.
        current = run_of_step(self.timeline, step)
        runs = self.runs

        def chosen(run: Timeline | None) -> None:
            if run is None or run is self.timeline:
                return
            if self.runs is not runs:  # the file was reloaded while the dialog was open
                self.notify("The scenario was reloaded meanwhile: make the what-if again.")
                return
            if run is not runs.original and run not in runs.branches:
                runs.branches.append(run)  # type: ignore[arg-type]  # a new Branch
                note = f"New branch from step {run.first_step}: {run_label(run)}. W: the original."
            else:
                note = f"Now showing {run_label(run)}."
            if run is not runs.original:
                runs.last_branch = run
            self.set_timeline(run)
            self.notify(note, timeout=4)

        screen = WhatIfScreen(
            runs, current, step, shown=self.timeline, cursor_blink=self._cursor_blink
        )
        self.push_screen(screen, chosen)

    def action_original_run(self) -> None:
        """``W``: back to the original run, or from it forth to the last what-if shown."""
        runs = self.runs
        if self.timeline is not runs.original:
            runs.last_branch = self.timeline
            self.set_timeline(runs.original)
            self.notify("Back to the original run (W: forth to the what-if).", timeout=3)
        elif runs.last_branch is not None:
            self.set_timeline(runs.last_branch)
            self.notify(f"Forth to {run_label(runs.last_branch)}.", timeout=3)
        else:
            self.notify("No what-if yet: press w to make one.", timeout=3)

    def action_save_screenshot(self) -> None:
        from tui.export import deliver_screenshot, save_screenshot, screenshot_name

        frame = self.frame
        step, seq = (frame.step, frame.seq) if frame is not None else (0, 0)
        branches: list[Timeline] = list(self.runs.branches)
        branch = branches.index(self.timeline) + 1 if self.timeline in branches else 0
        name = screenshot_name(self.runs.original.program.scenario.source, step, seq, branch)
        if self.served_from is not None:
            deliver_screenshot(self, name)  # to the browser's downloads, not the server's disk
        else:
            save_screenshot(self, name)


def _scenario_breakpoints(program: Program) -> tuple[Breakpoint, ...]:
    """The breakpoints the scenario's file sets (loading the debugger's engine only then)."""
    if not program.scenario.breakpoints:
        return ()
    from engine.debug.breakpoints import scenario_breakpoints

    return scenario_breakpoints(program)


def run_app(program: Program) -> int:
    """Open the app on ``program`` and return the exit status when it closes."""
    app = BpdbgApp(program)
    app.run()
    return app.return_code or 0
