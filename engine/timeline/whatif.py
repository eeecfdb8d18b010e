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
from engine.scenario.records import MAX_DIMS, OPTIMIZERS, OptimizerSpec, optimizer_spec
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

OPTIMIZER_SETTINGS = {"momentum": ("momentum",), "adam": ("betas", "beta1", "beta2", "eps")}
"""The settings each optimizer kind takes, besides ``lr`` (which has its own field)."""


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


def optimizer_text(spec: OptimizerSpec) -> str:
    """How the optimizer field shows ``spec``: ``adam betas=0.9,0.999 eps=1e-08``."""
    if spec.kind == "momentum":
        return f"momentum momentum={spec.momentum:g}"
    if spec.kind == "adam":
        return f"adam betas={spec.betas[0]:g},{spec.betas[1]:g} eps={spec.eps:g}"
    return spec.kind


def parse_optimizer(text: str, lr: float, current: OptimizerSpec) -> OptimizerSpec:
    """``KIND [key=value …]``: the kind, then settings of that kind.

    Settings not given keep their current values when the kind stays, and their
    defaults (as in a scenario file) when it changes.
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
    spec = current if kind == current.kind else optimizer_spec(kind, lr)
    spec = msgspec.structs.replace(spec, kind=kind, lr=lr)
    allowed = OPTIMIZER_SETTINGS.get(kind, ())
    for word in settings:
        key, eq, value = word.partition("=")
        if not eq:
            raise WhatIfError(f"optimizer: expected key=value after the kind, found {_shown(word)}")
        if key == "lr":
            raise WhatIfError("optimizer: the learning rate has its own field")
        if key not in allowed:
            owner = next((k for k, keys in OPTIMIZER_SETTINGS.items() if key in keys), None)
            why = (
                f"{key} is a setting of {owner}, not of {kind}"
                if owner
                else f"unknown setting {_shown(key)}"
            )
            takes = f"{kind} takes {', '.join(allowed)}" if allowed else f"{kind} takes none"
            raise WhatIfError(f"optimizer: {why}; {takes}")
        where = f"optimizer {key}"
        if key == "eps":
            eps = parse_number(value, where)
            if eps <= 0:
                raise WhatIfError(f"{where}: expected a number > 0, found {value}")
            spec = msgspec.structs.replace(spec, eps=eps)
            continue
        if key == "betas":
            parts = value.split(",")
            if len(parts) != 2:
                raise WhatIfError(
                    f"{where}: expected two numbers beta1,beta2, found {_shown(value)}"
                )
            b1, b2 = (_unit(p, where) for p in parts)
            spec = msgspec.structs.replace(spec, betas=(b1, b2))
        elif key == "beta1":
            spec = msgspec.structs.replace(spec, betas=(_unit(value, where), spec.betas[1]))
        elif key == "beta2":
            spec = msgspec.structs.replace(spec, betas=(spec.betas[0], _unit(value, where)))
        else:
            spec = msgspec.structs.replace(spec, momentum=_unit(value, where))
    return spec


def _unit(text: str, where: str) -> float:
    value = parse_number(text, where)
    if not 0 <= value < 1:
        raise WhatIfError(f"{where}: expected a number in [0, 1), found {text}")
    return value


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
    if new.kind == "momentum" and new.momentum != base.momentum:
        changes.append(f"momentum={fmt.num(new.momentum)}")
    if new.kind == "adam":
        if new.betas != base.betas:
            changes.append(f"betas={fmt.num(new.betas[0])},{fmt.num(new.betas[1])}")
        if new.eps != base.eps:
            changes.append(f"eps={fmt.num(new.eps)}")
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
