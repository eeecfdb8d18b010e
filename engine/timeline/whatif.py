"""What-if branches: what the user may change at a step, checked, and the branch it makes.

A what-if starts from the parameters and optimizer buffers at the start of one step of
the run being shown, with some of them edited (a whole tensor, or one element), or with
another learning rate or optimizer, and trains on from there as a new
:class:`~engine.timeline.timeline.Timeline` whose earlier steps are its parent's. The original run
is kept as it is, so switching back to it shows exactly what it showed before.

Everything the user types is parsed here as data (numbers, brackets, commas), never
evaluated, and refused with one message that says which field is wrong and why.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import msgspec
import numpy as np

from engine import fmt
from engine.errors import ScenarioError
from engine.scenario.loader import check_optimizer
from engine.scenario.records import (
    MAX_DIMS,
    OPTIMIZER_SETTINGS,
    OPTIMIZERS,
    OptimizerSpec,
    optimizer_spec,
    settings_of,
)
from engine.step.events import frozen
from engine.step.optim import Optimizer
from engine.timeline.runs import Branch
from engine.timeline.timeline import Timeline

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_ASSIGN = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\[([^\]]*)\])?\s*=\s*(.*?)\s*$", re.S)
_TOKEN = re.compile(r"\s*(?:(\[)|(\])|(,)|([^\s\[\],]+))")
_WHOLE = re.compile(r"[0-9]+")
MAX_INDEX_DIGITS = 18
"""An index longer than this is out of range of any array (and int() refuses 4,300)."""

BETA_PARTS = ("beta1", "beta2")
"""Shorthands the optimizer field takes for one of ``betas``."""


class WhatIfError(ValueError):
    """A what-if the user typed cannot be made; the message says which field and why."""


class WhatIf(msgspec.Struct, frozen=True):
    """A checked what-if: what to change at the start of ``step``.

    Attributes:
        step: The step the branch starts at (its parameters are those at its start).
        params: The parameters to use, edited ones included (read-only arrays).
        optimizer: The update rule from ``step`` on.
        changes: What differs from the run it branches from, for people (``lr=0.05``).
    """

    step: int
    params: Mapping[str, np.ndarray]
    optimizer: OptimizerSpec
    changes: tuple[str, ...]

    @property
    def label(self) -> str:
        """``what-if: lr=0.05`` — how plots and lists name the branch."""
        return "what-if: " + ", ".join(self.changes)


# --- parsing ----------------------------------------------------------------------------


def _cut(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters for a message (a field may hold 5,000)."""
    return text if len(text) <= limit else text[:limit] + "…"


def _shown(text: str) -> str:
    """``text`` quoted and cut, for a message."""
    return repr(_cut(text))


def parse_number(text: str, what: str) -> float:
    """A finite decimal number (``0.3``, ``-1e-3``, ``.5``), or :class:`WhatIfError`."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        found = _shown(text) if text else "nothing"
        raise WhatIfError(f"{what}: expected a number, found {found}")
    value = float(text)  # a decimal string: too large gives inf, never an error
    if not math.isfinite(value):
        raise WhatIfError(f"{what}: expected a finite number, found {_shown(text)}")
    return value


def parse_tensor(text: str, what: str) -> np.ndarray:
    """A number or a nested list of numbers (``[[0.1, 0.2], [0.3, 0.4]]``) as an array.

    Only brackets, commas and numbers are read; lists must be rectangular and nested at
    most :data:`engine.scenario.records.MAX_DIMS` deep, as in a scenario file (the reading is
    recursive, so 5,000 brackets would otherwise exhaust the stack).
    """
    tokens: list[tuple[str, str]] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        kind = ("[", "]", ",", "num")[m.lastindex - 1]  # type: ignore[operator]
        tokens.append((kind, m.group(m.lastindex)))  # type: ignore[arg-type]
        pos = m.end()
    if not tokens:
        raise WhatIfError(f"{what}: expected a number or a nested list of numbers, found nothing")
    at = 0

    def value(depth: int = 0) -> float | list:
        nonlocal at
        if at >= len(tokens):
            raise WhatIfError(f"{what}: the list ends too early (a ']' is missing)")
        kind, tok = tokens[at]
        at += 1
        if kind == "num":
            return parse_number(tok, what)
        if kind != "[":
            raise WhatIfError(f"{what}: expected a number or '[', found {_shown(tok)}")
        if depth == MAX_DIMS:
            raise WhatIfError(f"{what}: lists nested deeper than the limit of {MAX_DIMS} levels")
        items: list = []
        if at < len(tokens) and tokens[at][0] == "]":
            raise WhatIfError(f"{what}: empty list")
        while True:
            items.append(value(depth + 1))
            if at >= len(tokens):
                raise WhatIfError(f"{what}: the list ends too early (a ']' is missing)")
            kind, tok = tokens[at]
            at += 1
            if kind == "]":
                return items
            if kind != ",":
                raise WhatIfError(f"{what}: expected ',' or ']', found {_shown(tok)}")

    result = value()
    if at != len(tokens):
        raise WhatIfError(f"{what}: unexpected {_shown(tokens[at][1])} after the value")
    try:
        return np.array(result, dtype=np.float64)
    except ValueError:  # ragged lists
        raise WhatIfError(f"{what}: the rows have different lengths") from None


def _index(text: str, shape: tuple[int, ...], name: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != len(shape):
        dims = "a scalar: write no index" if not shape else f"{len(shape)} index(es)"
        raise WhatIfError(
            f"{name}[{_cut(text)}]: {name} has shape {fmt.shape(shape)}, so it takes {dims}"
        )
    index = []
    for axis, (part, size) in enumerate(zip(parts, shape)):
        if not _WHOLE.fullmatch(part):  # ASCII digits: str.isdigit() also takes ² and ٣
            raise WhatIfError(
                f"{name}[{_cut(text)}]: expected whole numbers ≥ 0, found {_shown(part)}"
            )
        if len(part) > MAX_INDEX_DIGITS or int(part) >= size:
            raise WhatIfError(
                f"{name}[{_cut(text)}]: index {_cut(part)} is out of range for axis {axis}"
                f" (size {size})"
            )
        index.append(int(part))
    return tuple(index)


def parse_params(
    text: str, params: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Apply ``NAME = value`` and ``NAME[i,j] = number`` assignments, ``;``-separated.

    Args:
        text: What the user typed (may be empty).
        params: The parameters before the edits.

    Returns:
        The edited parameters (only those assigned) and a short description of each edit.
    """
    edited: dict[str, np.ndarray] = {}
    changes: list[str] = []
    for piece in text.split(";"):
        if not piece.strip():
            continue
        m = _ASSIGN.match(piece)
        if m is None:
            raise WhatIfError(
                "parameters: expected NAME = value or NAME[i,j] = number,"
                f" found {_shown(piece.strip())}"
            )
        name, index_text, value_text = m.groups()
        if name not in params:
            raise WhatIfError(
                f"parameters: unknown parameter {_shown(name)};"
                f" the parameters are {', '.join(params)}"
            )
        current = edited.get(name, params[name])
        shape = tuple(current.shape)
        if index_text is not None:
            index = _index(index_text, shape, name)
            where = f"{name}[{index_text.replace(' ', '')}]"
            number = parse_number(value_text, where)
            new = np.array(current, dtype=np.float64)
            new[index] = number
            changes.append(f"{where}={fmt.num(number)}")
        else:
            value = parse_tensor(value_text, name)
            if value.shape != shape:
                if value.ndim == 0 and current.size == 1:
                    value = value.reshape(shape)  # W1 = 0.3 for a 1×1 weight
                else:
                    raise WhatIfError(
                        f"{name}: expected shape {fmt.shape(shape)}, found {fmt.shape(value.shape)}"
                    )
            new = value
            changes.append(f"{name}={fmt.num(value)}" if value.size == 1 else f"{name} edited")
        edited[name] = frozen(new)
    return edited, changes


Setting = float | bool | tuple[float, float]


def setting_text(value: Setting) -> str:
    """A setting as the optimizer field writes it: ``0.9``, ``true``, ``0.9,0.999``.

    Numbers are written in full (Python's shortest round-trip form), so reading the text
    back gives the same setting.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(repr(float(v)) for v in value)
    return repr(float(value))


def optimizer_text(spec: OptimizerSpec) -> str:
    """How the optimizer field shows ``spec``: its kind and the settings that differ from
    that kind's defaults (``adam betas=0.8,0.999``; plain ``adam`` for torch's Adam)."""
    defaults = optimizer_spec(spec.kind, spec.lr)
    words = [spec.kind]
    for key in settings_of(spec.kind):
        if getattr(spec, key) != getattr(defaults, key):
            words.append(f"{key}={setting_text(getattr(spec, key))}")
    return " ".join(words)


def optimizer_hint(text: str) -> str:
    """What the optimizer field accepts, for what is typed in it: the settings of the
    kind typed, with their defaults, or the kinds while none is recognised."""
    words = text.split()
    kind = words[0] if words else ""
    if kind not in OPTIMIZERS:
        return " · ".join(OPTIMIZERS)
    defaults = optimizer_spec(kind, 1.0)
    settings = " ".join(f"{k}={setting_text(getattr(defaults, k))}" for k in settings_of(kind))
    return f"{kind}: {settings}"


def parse_optimizer(text: str, lr: float, current: OptimizerSpec) -> OptimizerSpec:
    """``KIND [key=value …]``: the kind, then settings of that kind.

    Settings not given keep their current values when the kind stays, and their
    defaults (as in a scenario file) when it changes. The result is checked exactly as
    a scenario file's ``[optimizer]`` is (ranges, and what torch refuses).
    """
    normal = re.sub(r"\s*=\s*", "=", text.strip())
    normal = re.sub(r"\s*,\s*", ",", normal)
    words = normal.split()
    if not words:
        raise WhatIfError(f"optimizer: expected one of {', '.join(OPTIMIZERS)}, found nothing")
    kind, settings = words[0], words[1:]
    if kind not in OPTIMIZERS:
        raise WhatIfError(
            f"optimizer: unknown optimizer {_shown(kind)}; expected one of {', '.join(OPTIMIZERS)}"
        )
    allowed = settings_of(kind)
    base = current if kind == current.kind else optimizer_spec(kind, lr)
    table: dict[str, object] = {"kind": kind, "lr": lr}
    table.update({key: _toml(getattr(base, key)) for key in allowed})
    for word in settings:
        key, eq, value = word.partition("=")
        if not eq:
            raise WhatIfError(f"optimizer: expected key=value after the kind, found {_shown(word)}")
        if key == "lr":
            raise WhatIfError("optimizer: the learning rate has its own field")
        where = f"optimizer {key}"
        if key in BETA_PARTS and "betas" in allowed:
            betas = list(table["betas"])  # type: ignore[call-overload]
            betas[BETA_PARTS.index(key)] = parse_number(value, where)
            table["betas"] = betas
            continue
        if key not in allowed:
            owners = OPTIMIZER_SETTINGS.get("betas" if key in BETA_PARTS else key)
            why = (
                f"{key} is a setting of {' or '.join(owners)}, not of {kind}"
                if owners
                else f"unknown setting {_shown(key)}"
            )
            raise WhatIfError(f"optimizer: {why}; {kind} takes {', '.join(allowed)}")
        table[key] = _setting(value, where, isinstance(getattr(base, key), bool))
    try:
        return check_optimizer(table, "what-if")
    except ScenarioError as e:
        place = e.place.removeprefix("optimizer.")
        raise WhatIfError(f"optimizer {place}: {e.message}") from None


def _toml(value: Setting) -> object:
    """A setting as a scenario file's table holds it (``betas`` as a list)."""
    return list(value) if isinstance(value, tuple) else value


def _setting(text: str, where: str, switch: bool) -> object:
    """One typed setting: ``true``/``false`` for a switch, else a number or numbers
    joined by commas."""
    if switch:
        if text.lower() not in ("true", "false"):
            raise WhatIfError(f"{where}: expected true or false, found {_shown(text)}")
        return text.lower() == "true"
    if "," in text:
        return [parse_number(part, where) for part in text.split(",")]
    return parse_number(text, where)


def parse_lr(text: str, current: float) -> float:
    """The learning rate field: a finite number > 0 (empty keeps ``current``)."""
    if not text.strip():
        return current
    lr = parse_number(text, "learning rate")
    if lr <= 0:
        raise WhatIfError(f"learning rate: expected a number > 0, found {text.strip()}")
    return lr


def _optimizer_changes(old: OptimizerSpec, new: OptimizerSpec) -> list[str]:
    changes = []
    if new.kind != old.kind:
        changes.append(new.kind)
    if new.lr != old.lr:
        changes.append(f"lr={fmt.num(new.lr)}")
    # Settings are news when they differ from before, or from the defaults of a new kind.
    base = old if new.kind == old.kind else optimizer_spec(new.kind, new.lr)
    for key in settings_of(new.kind):
        value = getattr(new, key)
        if value != getattr(base, key):
            if isinstance(value, bool):
                changes.append(f"{key}={setting_text(value)}")
            elif isinstance(value, tuple):
                changes.append(f"{key}={','.join(fmt.num(v) for v in value)}")
            else:
                changes.append(f"{key}={fmt.num(value)}")
    return changes


def parse_whatif(
    timeline: Timeline, step: int, params_text: str, lr_text: str, optimizer_text_: str
) -> WhatIf:
    """Check the what-if dialog's three fields against the run at the start of ``step``.

    Raises:
        WhatIfError: A field is invalid, or nothing would change.
    """
    params, _ = timeline.start_of(step)
    current = timeline.program.optimizer.spec
    edited, changes = parse_params(params_text, params)
    lr = parse_lr(lr_text, current.lr)
    spec = parse_optimizer(optimizer_text_, lr, current)
    changes += _optimizer_changes(current, spec)
    if not changes:
        raise WhatIfError(
            "nothing to change: edit a parameter, the learning rate or the optimizer first"
        )
    return WhatIf(step, {**params, **edited}, spec, tuple(changes))


def make_branch(timeline: Timeline, whatif: WhatIf, base_name: str) -> Branch:
    """The branch of ``timeline`` that ``whatif`` describes (nothing computed yet).

    The optimizer's buffers carry over when its kind stays (momentum keeps its velocity,
    Adam its moments); another kind starts from fresh buffers. Adam's bias correction
    still counts steps from the start of the run (``t = step + 1``).

    Args:
        timeline: The run to branch from.
        whatif: What to change, checked by :func:`parse_whatif`.
        base_name: The scenario's own name; the branch's is this plus its label.
    """
    program = timeline.program
    _, state = timeline.start_of(whatif.step)
    optimizer = Optimizer(whatif.optimizer)
    if whatif.optimizer.kind != program.optimizer.kind:
        state = {p: optimizer.init_state(v) for p, v in whatif.params.items()}
    scenario = msgspec.structs.replace(
        program.scenario, optimizer=whatif.optimizer, name=f"{base_name} · {whatif.label}"
    )
    variant = msgspec.structs.replace(program, scenario=scenario, optimizer=optimizer)
    return Branch(
        variant,
        start=(whatif.step, dict(whatif.params), dict(state)),
        parent=timeline,
        label=whatif.label,
    )
