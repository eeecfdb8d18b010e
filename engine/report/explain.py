"""The derivation of any event, with its numbers, written for people.

:func:`explain` turns a :class:`~engine.timeline.timeline.Frame` into :class:`Line` objects: what
the app's chain-rule pane shows and what ``bpdbg trace --format text|md`` prints. Each
line is a sequence of ``(text, role)`` parts so a renderer can colour names, numbers and
gradients without parsing text.

Every number comes from the frame: node values and gradients from the step's record,
local derivatives and contributions from the backward events' terms, buffers from the
update events and :meth:`engine.step.optim.Optimizer.terms`. The only arithmetic done here is
the product along a chain-rule path, which multiplies the events' own local derivatives
in the order backpropagation does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec
import numpy as np

from engine import fmt
from engine.graph.graph import Graph, Node
from engine.graph.ops import OPS
from engine.step.events import Backward, Forward, Loss, Term, Update
from engine.timeline.timeline import Frame

KINDS = ("title", "formula", "path", "sum", "matrix", "state", "note", "hint")
"""The kinds of :class:`Line`."""
ROLES = ("", "name", "num", "op", "grad", "param")
"""The roles of a line's parts."""

Part = tuple[str, str]


class Line(msgspec.Struct, frozen=True):
    """One line of a derivation.

    Attributes:
        kind: ``"title"``, ``"formula"``, ``"path"``, ``"sum"``, ``"matrix"`` (shapes
            of a tensor product), ``"state"`` (a quantity's value), ``"note"``, or
            ``"hint"`` (a pointer to one of the app's keys: traces leave it out).
        parts: ``(text, role)`` pairs; role is ``""``, ``"name"`` (a node), ``"num"``,
            ``"op"`` (operators and function names), ``"grad"`` (a ∂ expression) or
            ``"param"`` (a trained parameter).
    """

    kind: str
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        """The line as plain text."""
        return "".join(t for t, _ in self.parts)


# --- small fragment helpers -------------------------------------------------------------

Frag = list[Part]


def _op(text: str) -> Frag:
    return [(text, "op")]


def _n(x: float | np.ndarray | Any) -> Frag:
    return [(fmt.num(x), "num")]


def _t(a: np.ndarray | float) -> Frag:
    return [(fmt.tensor(a), "num")]


def _txt(text: str) -> Frag:
    return [(text, "")]


def _line(kind: str, *frags: Frag) -> Line:
    parts: list[Part] = []
    for frag in frags:
        for text, role in frag:
            if not text:
                continue
            if parts and parts[-1][1] == role:
                parts[-1] = (parts[-1][0] + text, role)
            else:
                parts.append((text, role))
    return Line(kind, tuple(parts))


def _eq() -> Frag:
    return _op(" = ")


def _text_of(frag: Frag) -> str:
    return "".join(t for t, _ in frag)


def _size1(*arrays: np.ndarray | None) -> bool:
    return all(a is None or np.asarray(a).size == 1 for a in arrays)


def _wrap(frag: Frag) -> Frag:
    return _op("(") + frag + _op(")")


# --- how ops read ---------------------------------------------------------------------------

ATOM = 9
"""Precedence of a name or a number: never needs parentheses."""

# (output precedence, minimum precedence of each operand's text), so that a + (b − c)
# and (a + b)·c keep the parentheses they need and no more.
_PREC: dict[str, tuple[float, tuple[float, ...]]] = {
    "add": (1, (1, 2)),
    "sub": (1, (1, 2)),
    "affine": (1, (2, 3, 2)),
    "mul": (2, (2, 3)),
    "div": (2, (2, 3)),
    "matmul": (2, (2, 3)),
    "neg": (3, (4,)),
    "pow": (4, (5,)),
    "square": (4, (5,)),
    "sqrt": (4, (5,)),
}
_FUNCTION_PREC = (5.0, (0.0, 0.0))

# Products of two names read best written tightly (W·x + b), as in the worked example;
# Σ reads as a function so that h + Σ(v·h) needs no extra parentheses.
_DISPLAY_FORMULA = {"mul": "{0}·{1}", "sum": "Σ({0}{axis})"}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_N = re.compile(r"(?<![\w∂])n\b")
"""The element count ``n`` in a derivative such as ``2·(a − y)/n``."""
_POWER = re.compile(r"\^\{(p|pm1)\}")
_NAME = re.compile(r"[A-Za-z_]\w*")
"""A name in a line's text (``∂`` and ``·`` are not word characters, so ``∂L/∂t2`` has
``L`` and ``t2``)."""
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power(p: float) -> str:
    """An exponent as written after its base: ``²``, ``⁻¹``, ``^0.5``; nothing for 1."""
    if p == 1:
        return ""
    if float(p).is_integer() and abs(p) < 100:
        return str(int(p)).translate(_SUPERSCRIPT)
    return "^" + _attr_text(p)


def _axis_text(attrs: Mapping[str, Any]) -> str:
    """A reduction's keywords as written in an expression, after its argument."""
    text = "" if "axis" not in attrs else f", axis={attrs['axis']}"
    return text + (", keepdims=True" if attrs.get("keepdims") else "")


def _shape_text(shape: tuple[int, ...]) -> str:
    """A shape in a shapes line: ``(4×2)``, or ``scalar``."""
    return f"({fmt.shape(shape)})" if shape else "scalar"


def _attr_text(x: float) -> str:
    """An op attribute (pow's exponent) as written in an expression: ``2``, not ``2.0``."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else fmt.num(x)


class _Ctx:
    """What the explanations of one frame read: graph, values, the step's events."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.program = frame.program
        self.graph: Graph = frame.program.graph
        self.values: Mapping[str, np.ndarray] = frame.record.result.values
        self.backward: dict[str, Backward] = {
            e.node: e for e in frame.record.events if isinstance(e, Backward)
        }

    # -- names -------------------------------------------------------------------------

    def role(self, node: Node) -> str:
        if node.kind == "param":
            return "param"
        if node.kind == "const":
            return "num"
        return "name"

    def name(self, name: str) -> tuple[Frag, float]:
        """How a node is called: its name (a sub-expression's short name, ``t1``)."""
        node = self.graph[name]
        prec = 1 if node.kind == "const" and name.startswith("-") else ATOM
        return [(name, self.role(node))], prec

    def is_sub(self, name: str) -> bool:
        """Whether ``name`` is a sub-expression (a node with a short name of its own)."""
        node = self.graph.by_name.get(name)
        return node is not None and node.kind == "op" and not node.named

    def definitions(self, lines: Sequence[Line]) -> list[Line]:
        """``t1 = W·x`` for each sub-expression that ``lines`` call by its short name and
        do not define themselves, so that every name in an event can be read."""
        used: dict[str, None] = {}
        defined = set()
        for ln in lines:
            if ln.kind == "note":
                continue
            for token in _NAME.findall(ln.text):
                if self.is_sub(token):
                    used[token] = None
            if ln.kind == "formula" and ln.parts and self.is_sub(ln.parts[0][0]):
                if ln.text.startswith(ln.parts[0][0] + " = "):
                    defined.add(ln.parts[0][0])  # the forward of a sub-expression
        order = {n.name: i for i, n in enumerate(self.graph.nodes)}
        out = []
        for name in sorted(used, key=order.__getitem__):
            if name not in defined:
                sym, _ = self.render(name, top=True)
                out.append(_line("note", [(name, "name")], _eq(), sym))
        return out

    def grad(self, of: str, wrt: str) -> Frag:
        """``∂of/∂wrt`` with each side parenthesised when it is an expression."""
        num, p1 = self.name(of)
        den, p2 = self.name(wrt)
        text = "∂" + _text_of(num if p1 >= ATOM else _wrap(num))
        text += "/∂" + _text_of(den if p2 >= ATOM else _wrap(den))
        return [(text, "grad")]

    # -- expressions -------------------------------------------------------------------

    def scalar_op(self, node: Node) -> bool:
        """Whether a matrix product's operands are numbers (then it reads as x·W)."""
        return all(math.prod(self.graph[i].shape) == 1 for i in node.inputs[:2])

    def formula(self, node: Node) -> str:
        if node.op in ("affine", "matmul") and self.scalar_op(node):
            return OPS[node.op].formula.replace(" @ ", "·")
        return _DISPLAY_FORMULA.get(node.op or "", OPS[node.op or "identity"].formula)

    def template(self, template: str, node: Node) -> str:
        """``template`` with pow's exponents written in (``x²``, ``x⁻¹``, ``x^0.5``, ``x``)
        and a reduction's axis (``Σ(h, axis=0)``; nothing when it reduces every element)."""
        template = template.replace("{axis}", _axis_text(node.attrs))
        return _POWER.sub(lambda m: _power(self._attr(node, m.group(1))), template)

    def render(self, name: str, *, mode: str = "name", top: bool = False) -> tuple[Frag, float]:
        """A node's expression, sub-expressions expanded down to named nodes and leaves.

        Args:
            name: The node.
            mode: What stands for a named node or leaf: ``"name"``; ``"value"`` (its
                number; every one must be of size 1); or ``"shape"`` (its shape in
                parentheses, or its number when it is a true scalar).
            top: Render this node's own op even though it is named.

        Returns:
            The text and its precedence.
        """
        node = self.graph[name]
        if not top and (node.named or node.kind != "op"):
            v = self.values[name]
            if mode == "name":
                return self.name(name)
            if mode == "value" or v.ndim == 0:
                x = float(v.reshape(-1)[0])
                return _n(x), (1 if x < 0 else ATOM)
            return [(f"({fmt.shape(v.shape)})", "")], ATOM
        assert node.op is not None
        if node.op == "identity":
            return self.render(node.inputs[0], mode=mode)
        out_prec, slots = _PREC.get(node.op, _FUNCTION_PREC)
        args = [self.render(i, mode=mode) for i in node.inputs]
        template = self.template(self.formula(node), node)
        frag: Frag = []
        pos = 0
        for m in _PLACEHOLDER.finditer(template):
            frag += _op(template[pos : m.start()])
            k = int(m.group(1))
            text, prec = args[k]
            slot = slots[k] if k < len(slots) else 0
            frag += text if prec >= slot else _wrap(text)
            pos = m.end()
        frag += _op(template[pos:])
        return frag, out_prec

    def _attr(self, node: Node, key: str) -> float:
        if key == "pm1":
            return float(node.attrs["p"]) - 1.0
        return float(node.attrs[key])

    def expansion_leaves(self, name: str) -> Iterator[str]:
        """The named nodes and leaves an expanded expression reads."""
        for i in self.graph[name].inputs:
            n = self.graph[i]
            if n.kind == "op" and not n.named:
                yield from self.expansion_leaves(i)
            else:
                yield i

    def substitute(self, template: str, node: Node, *, mode: str = "name") -> Frag:
        """Fill a ``dtext``/``vjp_text`` template of ``node``'s op.

        ``{0}``… become the inputs, ``{g}`` the upstream gradient ∂L/∂node, and pow's
        exponents are written in. ``mode`` says how an input or ``{g}`` reads: ``"name"``,
        ``"value"`` (its number; all must be of size 1, and then ``n`` becomes the
        element count) or ``"shape"`` (a transposed operand's shape is reversed). Where
        every operand is a number, transposes (ᵀ) are dropped.
        """
        template = self.template(template, node)
        whole = _PLACEHOLDER.fullmatch(template) is not None
        frag: Frag = []
        pos = 0
        for m in _PLACEHOLDER.finditer(template):
            frag += _op(template[pos : m.start()])
            pos = m.end()
            key = m.group(1)
            if key in ("p", "pm1"):
                frag += [(_attr_text(self._attr(node, key)), "num")]
                continue
            upstream = key == "g"  # {g} is ∂L/∂node; {0}… are the node's inputs
            name = node.name if upstream else node.inputs[int(key)]
            if mode == "shape":
                s = self.values[name].shape
                if template[pos : pos + 1] == "ᵀ":
                    s, pos = tuple(reversed(s)), pos + 1
                frag += _txt(_shape_text(s))
            elif mode == "value":
                v = self.frame.record.result.grads[name] if upstream else self.values[name]
                x = float(v.reshape(-1)[0])
                frag += _n(x) if x >= 0 or whole else _wrap(_n(x))
            elif upstream:
                frag += self.grad(self.graph.loss, name)
            else:
                text, prec = self.name(name)
                frag += text if prec >= ATOM or whole else _wrap(text)
        frag += _op(template[pos:])
        if mode == "value" or mode == "name" and self._all_scalar(node):
            frag = [(t.replace("ᵀ", ""), r) for t, r in frag]
        if mode == "value":
            n = str(self.values[node.inputs[0]].size)
            frag = [(_N.sub(n, t) if r == "op" else t, r) for t, r in frag]
        return [p for p in frag if p[0]]

    def _all_scalar(self, node: Node) -> bool:
        return (
            all(self.values[i].size == 1 for i in node.inputs) and self.values[node.name].size == 1
        )


# --- forward and loss -------------------------------------------------------------------


def _forward(ctx: _Ctx, ev: Forward) -> list[Line]:
    node = ctx.graph[ev.node]
    lines = [_line("title", _txt("Forward: "), ctx.name(ev.node)[0])]
    lines += _evaluation(ctx, node, ev.value)
    lines += _forward_notes(ctx, node)
    return lines


def _evaluation(ctx: _Ctx, node: Node, value: np.ndarray) -> list[Line]:
    """``name = formula = formula with numbers = result``, or the tensor version."""
    sym, _ = ctx.render(node.name, top=True)
    head: Frag = [(node.name, ctx.role(node))] + _eq() + sym
    leaves = list(ctx.expansion_leaves(node.name))
    if all(ctx.values[i].size == 1 for i in leaves) and value.size == 1:
        nums, _ = ctx.render(node.name, mode="value", top=True)
        frags = [head]
        result = _n(value)
        if _text_of(nums) not in (_text_of(sym), _text_of(result)):
            frags += [_eq(), nums]
        return [_line("formula", *frags, _eq(), result)]
    lines = [_line("formula", head, _eq(), _t(value))]
    op = OPS[node.op or "identity"]
    unary_on_a_name = op.arity == 1 and ctx.graph[node.inputs[0]].named
    if unary_on_a_name and ctx.graph.kind == "model":
        pass  # the layer's activation note says how it applies
    elif unary_on_a_name and op.elementwise:
        lines.append(
            _line("note", _txt(f"applied to each of the {fmt.shape(value.shape)} elements"))
        )
    else:
        shapes, _ = ctx.render(node.name, mode="shape", top=True)
        lines.append(_line("matrix", shapes, _op(" → "), _txt(_shape_text(value.shape))))
    return lines


_ACTIVATION_NOTES = {
    "identity": "passes its input through unchanged",
    "sigmoid": "squashes each element into (0, 1)",
    "tanh": "squashes each element into (-1, 1)",
    "relu": "keeps positive elements, zeroes the rest",
    "leaky_relu": "keeps positive elements, scales the rest by 0.01",
    "softmax": "turns each row into probabilities that sum to 1",
}


def _forward_notes(ctx: _Ctx, node: Node) -> list[Line]:
    if ctx.graph.kind == "model":
        if node.op == "affine":
            prev = node.inputs[0]
            return [
                _line(
                    "note",
                    _txt(f"layer {node.layer}: each unit's weighted sum of {prev}, plus its bias"),
                )
            ]
        act = node.op or "identity"
        what = _ACTIVATION_NOTES.get(act, "is applied elementwise")
        return [_line("note", _txt(f"layer {node.layer} activation: {act}, which {what}"))]
    if not node.named:
        return [_line("note", _txt(f"a sub-expression of {node.source}"))]
    return []


_ONE_ELEMENT_LOSS = {
    "mse": "({0} − {1})²",
    "sse": "({0} − {1})²",
    "bce": "−{1}·log {0} − (1 − {1})·log(1 − {0})",
}


def _loss(ctx: _Ctx, ev: Loss) -> list[Line]:
    node = ctx.graph[ev.node]
    lines = [_line("title", _txt("Loss: "), [(node.name, "name")])]
    if ctx.graph.kind != "model":
        lines += _evaluation(ctx, node, ev.array)
        lines.append(_line("note", _txt("the loss, the node that backpropagation starts from")))
        return lines
    kind = node.op or ""
    pred, target = node.inputs
    p = ctx.values[pred]
    sym, _ = ctx.render(node.name, top=True)
    head = [(node.name, "name")] + _eq() + sym
    frags = [head]
    if p.size == 1 and kind in _ONE_ELEMENT_LOSS:
        frags += [_eq(), ctx.substitute(_ONE_ELEMENT_LOSS[kind], node, mode="value")]
    lines.append(_line("formula", *frags, _eq(), _n(ev.value)))
    n = p.size
    elems = f"{n} element" + ("s" if n != 1 else "")
    notes = {
        "mse": f"mse: the mean of the squared errors ({pred} − {target})² over {elems}",
        "sse": f"sse: the sum of the squared errors ({pred} − {target})² over {elems}",
        "bce": f"bce: binary cross-entropy of the probabilities {pred}, the mean over {elems}"
        " (logs clamped at -100, as PyTorch does)",
        "cross_entropy": f"cross_entropy: softmax of the logits {pred}, then the mean over "
        f"{p.shape[0]} sample"
        + ("s" if p.shape[0] != 1 else "")
        + " of −log(probability of the true class)",
    }
    lines.append(_line("note", _txt(notes.get(kind, kind))))
    return lines


# --- backward -------------------------------------------------------------------------------


def _backward(ctx: _Ctx, ev: Backward, max_paths: int) -> list[Line]:
    g = ctx.graph
    loss = g.loss
    lines = [_line("title", _txt("Backward: "), ctx.grad(loss, ev.node))]
    if ev.node == loss:
        lines.append(_line("formula", ctx.grad(loss, loss), _eq(), [("1", "num")]))
        lines.append(
            _line(
                "note",
                _txt(
                    "the seed of backpropagation: the loss changes one-for-one with itself; "
                    "every other gradient is this 1 pushed back through the chain rule"
                ),
            )
        )
        return lines
    if not ev.terms:
        lines.append(_line("formula", ctx.grad(loss, ev.node), _eq(), _t(ev.grad)))
        lines.append(
            _line(
                "note",
                _txt("no path leads from "),
                ctx.name(ev.node)[0],
                _txt(f" to {loss}: changing it cannot change the loss"),
            )
        )
        return lines
    term_lines: list[Line] = []
    notes: dict[str, None] = {}
    for term in ev.terms:
        term_lines += _term(ctx, ev, term, notes)
    if len(ev.terms) > 1:
        lines.append(_sum(ctx, ev))
    lines += term_lines
    lines += _paths(ctx, ev, max_paths)
    lines += [_line("note", _txt(n)) for n in notes]
    return lines


def _term(ctx: _Ctx, ev: Backward, term: Term, notes: dict[str, None]) -> list[Line]:
    """One consumer's contribution, as a teacher writes it: the local derivative first
    (its formula, its numbers, its value), then the product with the upstream gradient.

    Where the consumer is the loss, its upstream ∂L/∂L is 1 and the contribution is the
    loss's own derivative, written as its formula (``∂L/∂a1 = 2·(a1 − y)/n = …``)."""
    g, loss = ctx.graph, ctx.graph.loss
    node, via = g[ev.node], g[term.via]
    op = OPS[via.op or "identity"]
    idx = [k for k, i in enumerate(via.inputs) if i == node.name]
    lhs = ctx.grad(loss, node.name) + _txt(" via ") + ctx.name(term.via)[0]
    up, loc, val = term.upstream, term.local, term.value
    if term.via == loss and loc is not None and _broadcasts_to(val.shape, loc.shape):
        line = _local_line(ctx, via, node, idx, loc)
        if len(ev.terms) > 1:  # the sum above names each term by its consumer
            line = _line(line.kind, lhs, [(line.text.split(" = ", 1)[1], "")])
        return [line]
    if loc is not None and _size1(up, loc, val):
        return [
            _local_line(ctx, via, node, idx, loc),
            _line(
                "formula",
                lhs,
                _eq(),
                ctx.grad(loss, term.via),
                _op(" · "),
                ctx.grad(term.via, node.name),
                _eq(),
                _n(up),
                _op(" · "),
                _paren_neg(loc),
                _eq(),
                _n(val),
            ),
        ]
    if loc is not None and _broadcasts_to(val.shape, up.shape, loc.shape):
        times = " ⊙ " if up.size > 1 and loc.size > 1 else " · "
        return [
            _local_line(ctx, via, node, idx, loc),
            _line(
                "formula",
                lhs,
                _eq(),
                ctx.grad(loss, term.via),
                _op(times),
                ctx.grad(term.via, node.name),
                _eq(),
                _t(val),
            ),
            *_element(ctx, ev, term),
        ]
    # A full Jacobian (a matrix product, softmax) or a broadcast operand: the matrix form,
    # the operands' numbers where they fit, and one element written out.
    matrix = _join_plus([ctx.substitute(op.vjp_text[k], via) for k in idx])
    lines = [_line("formula", lhs, _eq(), matrix, _eq(), _t(val))]
    if via.op in ("affine", "matmul") or loc is not None:
        sh = _join_plus([ctx.substitute(op.vjp_text[k], via, mode="shape") for k in idx])
        lines.append(_line("matrix", sh, _op(" → "), _txt(_shape_text(val.shape))))
    lines += _operands(ctx, via, node)
    lines += _element(ctx, ev, term)
    text = _text_of(matrix)
    if "unbroadcast" in text:
        notes["unbroadcast(…) sums over the axes that broadcasting stretched"] = None
    if "Σ_rows" in text:
        notes["Σ_rows sums over the samples (rows): the bias is shared by every sample"] = None
    if via.op in ("softmax", "log_softmax"):
        notes[f"s = softmax of {via.inputs[0]}, row by row; Σ sums along each row"] = None
    return lines


OPERAND_ROWS = 3
"""Rows of a medium-sized operand shown in the chain-rule pane (the rest elided)."""
OPERAND_MAX = 64
"""Operands with more elements than this are summarised."""


def _operand_text(a: np.ndarray) -> str:
    """An operand's numbers: in full when small, its first rows when medium, else a
    summary."""
    if a.size <= fmt.MAX_ELEMS:
        return fmt.tensor(a)
    if a.ndim == 2 and a.shape[1] <= fmt.MAX_ELEMS and a.size <= OPERAND_MAX:
        rows = ", ".join(fmt.tensor(r, max_elems=a.shape[1]) for r in a[:OPERAND_ROWS])
        more = a.shape[0] - OPERAND_ROWS
        return f"[{rows}, … {more} more rows]" if more > 0 else f"[{rows}]"
    return fmt.summary(a)


def _operands(ctx: _Ctx, via: Node, node: Node) -> list[Line]:
    """The numbers the matrix form multiplies: the consumer's other inputs and its
    upstream gradient."""
    if via.op in ("affine", "matmul"):
        # ∂L/∂a reads the weights, ∂L/∂W the inputs, ∂L/∂b the upstream gradient alone.
        pos = via.inputs.index(node.name)
        others = [via.inputs[1 - pos]] if pos < 2 else []
    elif via.op in ("softmax", "log_softmax"):
        others = [via.name]
    else:
        others = [i for i in dict.fromkeys(via.inputs) if i != node.name]
    lines = [
        _line("state", ctx.name(i)[0], _eq(), _txt(_operand_text(ctx.values[i])))
        for i in others
        if not (ctx.graph[i].kind == "const" and ctx.values[i].size == 1)
    ]
    up = ctx.frame.record.result.grads[via.name]
    lines.append(_line("state", ctx.grad(ctx.graph.loss, via.name), _eq(), _txt(_operand_text(up))))
    return lines


_SUMMED = re.compile(r"Σ([ₙⱼᵢₖₘₚ]+)")
_LETTER_NAMES = {"ₙ": "samples", "ⱼ": "units", "ᵢ": "inputs"}


def _element(ctx: _Ctx, ev: Backward, term: Term) -> list[Line]:
    """A tensor contribution's first element written out term by term, in plain words
    first, and where to see every element (the inspector, ``i``)."""
    from engine.report import elementwise as ew  # only for tensors

    node = ev.node
    first = (0,) * term.value.ndim
    try:
        d = ew.contribution(
            ctx.graph, ctx.values, ctx.frame.record.result.grads, term.via, node, first
        )
    except (KeyError, IndexError, ValueError):  # a graph the forms cannot read: no example
        return []
    d = msgspec.structs.replace(d, value=float(term.value[first]))
    words = _in_words(ctx, node, term.via, d)
    lines = [_line("note", _txt(words))] if words else []
    lines.append(_line("note", _txt("for example " + _without_via(d.text()))))
    lines.append(_line("hint", _txt(INSPECT_NOTE)))
    return lines


INSPECT_NOTE = "press i (the inspector) for every element, each written out like this"


def _without_via(text: str) -> str:
    head, _, rest = text.partition(" = ")
    return head.split(" via ", 1)[0] + " = " + rest


def _in_words(ctx: _Ctx, node: str, via: str, d: Any) -> str:
    """What a matrix-form contribution does, in plain words."""
    v = ctx.graph[via]
    g = f"∂{ctx.graph.loss}/∂{node}"
    if v.op in ("affine", "matmul") and v.inputs[0] != node and len(v.inputs) > 1:
        if node == v.inputs[1]:
            n = ctx.values[v.inputs[0]].shape[0] if ctx.values[v.inputs[0]].ndim == 2 else 1
            if n > 1:
                return (
                    f"each entry of {g} sums, over the {n} samples, "
                    f"input × upstream gradient ({v.inputs[0]} × ∂{ctx.graph.loss}/∂{via})"
                )
        elif len(v.inputs) > 2 and node == v.inputs[2]:
            n = ctx.values[via].shape[0] if ctx.values[via].ndim == 2 else 1
            return f"each entry of {g} sums the upstream gradient ∂{ctx.graph.loss}/∂{via} over the {n} samples"
    if v.op in ("affine", "matmul") and node == v.inputs[0]:
        w = ctx.values[v.inputs[1]]
        m = w.shape[1] if w.ndim == 2 else 1
        if m > 1:
            return (
                f"each entry of {g} sums, over the {m} outputs of {via}, "
                f"upstream gradient × weight (∂{ctx.graph.loss}/∂{via} × {v.inputs[1]})"
            )
    return ""


def _local_line(ctx: _Ctx, via: Node, node: Node, idx: list[int], loc: np.ndarray) -> Line:
    """``∂via/∂node = dtext = dtext with numbers = value``, skipping repeats."""
    op = OPS[via.op or "identity"]
    sym = _join_plus([ctx.substitute(op.dtext[k], via) for k in idx])
    frags = [ctx.grad(via.name, node.name), _eq(), sym]
    last = sym
    if all(ctx.values[i].size == 1 for i in via.inputs):
        nums = _join_plus([ctx.substitute(op.dtext[k], via, mode="value") for k in idx])
        if _text_of(nums) != _text_of(sym):
            frags += [_eq(), nums]
            last = nums
    # A constant derivative such as "1" needs no "= 1.0", nor "= [1.0, 1.0]" when uniform.
    uniform = loc.size > 0 and bool(np.all(loc == loc.reshape(-1)[0]))
    if not (uniform and _same_number(_text_of(last), loc.reshape(-1)[0])):
        frags += [_eq(), _t(loc)]
    return _line("formula", *frags)


def _broadcasts_to(shape: tuple[int, ...], *shapes: tuple[int, ...]) -> bool:
    """Whether ``shapes`` broadcast together to exactly ``shape`` (no reduction needed)."""
    try:
        return np.broadcast_shapes(*shapes) == shape
    except ValueError:
        return False


def _join_plus(frags: Sequence[Frag]) -> Frag:
    out: Frag = []
    for i, f in enumerate(frags):
        out += (_op(" + ") if i else []) + f
    return out


def _same_number(text: str, x: np.ndarray) -> bool:
    if text == fmt.num(x):
        return True
    try:
        return float(text) == float(np.asarray(x).reshape(-1)[0])
    except ValueError:
        return False


def _sum(ctx: _Ctx, ev: Backward) -> Line:
    lhs = ctx.grad(ctx.graph.loss, ev.node)
    if all(t.value.size == 1 for t in ev.terms):
        frag: Frag = []
        for i, t in enumerate(ev.terms):
            x = float(t.value.reshape(-1)[0])
            frag += (_op(" + ") if i else []) + (_n(x) if x >= 0 or not i else _wrap(_n(x)))
        return _line("sum", lhs, _eq(), frag, _eq(), _n(ev.grad))
    return _line(
        "sum", lhs, _eq(), _txt(f"the sum of the {len(ev.terms)} terms below"), _eq(), _t(ev.grad)
    )


def _paths(ctx: _Ctx, ev: Backward, max_paths: int) -> list[Line]:
    """Each path from the loss down to the node, as a product of local derivatives."""
    g = ctx.graph
    paths, total = _enumerate_paths(g, ev.node, max_paths)
    if all(len(p) <= 3 for p in paths) and total == len(paths):
        # The node feeds the loss directly, or through one node whose gradient is the
        # loss's own derivative: each term above already states its path's product.
        return []
    lines: list[Line] = []
    for k, path in enumerate(paths):
        # path = [node, c1, …, L]; the factors read from the loss down.
        edges = _edges(path)
        head = ctx.grad(g.loss, ev.node) + _eq() if total == 1 else _txt(f"path {k + 1}: ")
        factors: Frag = []
        for i, (a, b) in enumerate(edges):
            factors += (_op(" · ") if i else []) + ctx.grad(a, b)
        locals_ = _path_locals(ctx, path)
        frags = [head, factors]
        scalars = [loc for loc in locals_ if loc is not None and loc.size == 1]
        if len(scalars) == len(locals_):
            # Left to right from the loss, as backpropagation multiplies them.
            product = scalars[0]
            nums: Frag = _n(product)
            for loc in scalars[1:]:
                nums += _op(" · ") + _paren_neg(loc)
                product = product * loc
            frags += [_eq(), nums, _eq(), _n(product)]
        lines.append(_line("path", *frags))
    if total > len(paths):
        lines.append(_line("note", _txt(f"… and {total - len(paths)} more paths")))
    elif total > 1:
        lines.append(
            _line(
                "note",
                ctx.name(ev.node)[0],
                _txt(f" reaches {g.loss} along {total} paths; the gradient is their sum"),
            )
        )
    return lines


def _edges(path: list[str]) -> list[tuple[str, str]]:
    """``(consumer, node)`` pairs of a path ``[node, c1, …, L]``, read from the loss down."""
    return [(path[i + 1], path[i]) for i in reversed(range(len(path) - 1))]


def _path_locals(ctx: _Ctx, path: list[str]) -> list[np.ndarray | None]:
    return [_local(ctx, a, b) for a, b in _edges(path)]


def _local(ctx: _Ctx, via: str, node: str) -> np.ndarray | None:
    """∂via/∂node as the backward event of ``node`` in this step recorded it."""
    ev = ctx.backward.get(node)
    if ev is None:
        return None
    for t in ev.terms:
        if t.via == via:
            return t.local
    return None


def _enumerate_paths(graph: Graph, node: str, limit: int) -> tuple[list[list[str]], int]:
    """Up to ``limit`` paths from ``node`` to the loss along consumers, and their count.

    Counting is done by dynamic programming so a graph with exponentially many paths
    costs time linear in its size.
    """
    wanted = graph.grad_nodes
    count: dict[str, int] = {}
    for n in graph.backward_order:  # consumers come before the nodes they read
        count[n] = (
            1
            if n == graph.loss
            else sum(count.get(c, 0) for c in graph.consumers[n] if c in wanted)
        )
    paths: list[list[str]] = []
    stack: list[list[str]] = [[node]]
    while stack and len(paths) < limit:
        path = stack.pop()
        last = path[-1]
        if last == graph.loss:
            paths.append(path)
            continue
        nexts = [c for c in graph.consumers[last] if c in wanted and count.get(c, 0)]
        stack += [path + [c] for c in reversed(nexts)]
    return paths, count.get(node, 0)


# --- update -------------------------------------------------------------------------------


def _update(ctx: _Ctx, ev: Update) -> list[Line]:
    """The update with numbers, as a teacher writes it: the gradient, the optimizer's
    buffers from it (m, v, m̂, v̂), then the rule that gives the new value."""
    opt = ctx.program.optimizer
    p = ev.param
    P: Frag = [(p, "param")]
    G = ctx.grad(ctx.graph.loss, p)
    terms: dict[str, Any] = opt.terms(ev.grad, ev.state, ev.step)
    before = ctx.frame.record.state_before.get(p, {})
    scalar = ev.after.size == 1
    lr = terms["lr"]

    def rule(sym: Frag, nums: Frag, result: np.ndarray) -> Line:
        if scalar:
            return _line("formula", sym, _eq(), nums, _eq(), _n(result))
        return _line("formula", sym, _eq(), _t(result))

    title = _line("title", _txt("Update: "), P, _txt(f" ({opt.kind})"))
    if not opt.plain:
        return _derived_update(ctx, ev, title, before)
    before_line = _line("state", P, _txt(" before"), _eq(), _t(ev.before))
    lr_line = _line("state", _op("lr"), _eq(), _n(lr))
    if opt.kind == "sgd":
        sym = P + _op(" ← ") + P + _op(" − lr·") + G
        nums = _n(ev.before) + _op(" − ") + _n(lr) + _op("·") + _paren_neg(ev.grad)
        lines = [title]
        if not scalar:
            lines += [before_line, _line("state", G, _eq(), _t(ev.grad)), lr_line]
        return lines + [rule(sym, nums, ev.after)]
    g_line = _line("formula", _op("g = "), G, _eq(), _t(ev.grad))
    if opt.kind == "momentum":
        buf = ev.state["momentum_buffer"]
        mu = terms["momentum"]
        sym = P + _op(" ← ") + P + _op(" − lr·buf")
        nums = _n(ev.before) + _op(" − ") + _n(lr) + _op("·") + _paren_neg(buf)
        final = rule(sym, nums, ev.after)
        lines = [title, g_line]
        if ev.step == 0:
            # torch starts the buffer as a copy of the first gradient, not μ·0 + g.
            lines.append(_line("formula", _op("buf ← g"), _eq(), _t(buf)))
            lines.append(
                _line("note", _txt("first step: the buffer starts as the gradient itself"))
            )
        else:
            nums = (
                _n(mu)
                + _op("·")
                + _paren_neg(before["momentum_buffer"])
                + _op(" + ")
                + _paren_neg(ev.grad)
            )
            lines.append(rule(_op("buf ← μ·buf + g"), nums, buf))
        if not scalar:
            lines += [before_line, lr_line]
        lines.append(_line("state", _op("μ"), _eq(), _n(mu)))
        return lines + [final]
    b1, b2, eps, t = terms["beta1"], terms["beta2"], terms["eps"], terms["t"]
    m, v = ev.state["m"], ev.state["v"]
    m_hat, v_hat = terms["m_hat"], terms["v_hat"]
    sym = P + _op(" ← ") + P + _op(" − lr·m̂/(√v̂ + ε)")
    nums = (
        _n(ev.before)
        + _op(" − ")
        + _n(lr)
        + _op("·")
        + _paren_neg(m_hat)
        + _op("/(√")
        + _n(v_hat)
        + _op(" + ")
        + _n(eps)
        + _op(")")
    )
    final = rule(sym, nums, ev.after)
    lines = [title, g_line]
    nums = (
        _n(b1)
        + _op("·")
        + _paren_neg(before["m"])
        + _op(" + ")
        + _n(1.0 - b1)
        + _op("·")
        + _paren_neg(ev.grad)
    )
    lines.append(rule(_op("m ← β₁·m + (1−β₁)·g"), nums, m))
    nums = (
        _n(b2)
        + _op("·")
        + _n(before["v"])
        + _op(" + ")
        + _n(1.0 - b2)
        + _op("·")
        + _paren_neg(ev.grad)
        + _op("²")
    )
    lines.append(rule(_op("v ← β₂·v + (1−β₂)·g²"), nums, v))
    lines.append(rule(_op("m̂ = m/(1−β₁ᵗ)"), _paren_neg(m) + _op("/") + _n(terms["bias1"]), m_hat))
    lines.append(rule(_op("v̂ = v/(1−β₂ᵗ)"), _n(v) + _op("/") + _n(terms["bias2"]), v_hat))
    if not scalar:
        lines += [before_line, lr_line]
    lines.append(
        _line(
            "state",
            _op("t"),
            _eq(),
            [(str(t), "num")],
            _op(", β₁"),
            _eq(),
            _n(b1),
            _op(", β₂"),
            _eq(),
            _n(b2),
            _op(", ε"),
            _eq(),
            _n(eps),
        )
    )
    lines.append(final)
    lines.append(
        _line(
            "note",
            _txt(
                "t counts the updates so far. The new value is computed as torch.optim.Adam "
                "does, lr/(1−β₁ᵗ)·m/(√v/√(1−β₂ᵗ) + ε): the same rule, rounded in another order"
            ),
        )
    )
    return lines


def _derived_update(ctx: _Ctx, ev: Update, title: Line, before: Mapping[str, Any]) -> list[Line]:
    """An update written as the optimizer's own derivation: each intermediate quantity with
    its formula and value (θ for the parameter, g for its gradient), then the buffers before
    the update and the settings. For the v2 kinds and options (weight decay, dampening,
    Nesterov, AdamW, RMSprop, Adagrad)."""
    opt = ctx.program.optimizer
    p = ev.param
    G = ctx.grad(ctx.graph.loss, p)

    def value(a: np.ndarray) -> Frag:
        return _n(a) if np.asarray(a).size == 1 else _t(a)

    steps = opt.derivation(ev.before, ev.grad, before, ev.step)
    lines = [title, _line("formula", _op("θ = "), [(p, "param")], _eq(), value(ev.before))]
    lines.append(_line("formula", _op("g = "), G, _eq(), value(ev.grad)))
    for formula, result in steps:
        lines.append(_line("formula", _op(formula), _eq(), value(result)))
    for key, buf in before.items():
        lines.append(_line("state", _op(f"{key} before"), _eq(), value(buf)))
    settings: Frag = []
    for k, (symbol, v) in enumerate(opt.settings()):
        settings += _op(", " if k else "") + _op(symbol) + _eq()
        settings += [(str(v).lower(), "num")] if isinstance(v, bool) else _n(v)
    lines.append(_line("state", settings))
    # t only matters to rules that count updates (bias corrections, a decaying rate, the
    # first momentum step); for the others it would be a number with nothing to do.
    counted = f"t = {ev.step + 1} counts the updates so far. " if opt.kind in _COUNTING else ""
    buffers = "; the buffers after it are the update event's state" if before else ""
    torch_name = _TORCH_NAMES.get(opt.kind, opt.kind)
    lines.append(
        _line("note", _txt(f"{counted}Computed as torch.optim's {torch_name} does{buffers}"))
    )
    return lines


_COUNTING = ("momentum", "adam", "adamw", "adagrad")
"""The update rules whose step depends on t."""


_TORCH_NAMES = {
    "sgd": "SGD",
    "momentum": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
}


def _paren_neg(a: np.ndarray | float | Any) -> Frag:
    x = float(np.asarray(a).reshape(-1)[0])
    return _n(x) if x >= 0 or math.isnan(x) else _wrap(_n(x))


# --- entry point --------------------------------------------------------------------------


def explain(frame: Frame, *, max_paths: int = 8) -> list[Line]:
    """The derivation of the frame's event, with its numbers.

    Args:
        frame: The frame; its event is explained, using the rest of its step.
        max_paths: For backward events, the most chain-rule paths listed one by one.

    Returns:
        The lines: a title, then formulas, sums, paths, states and notes.
    """
    # Products of local derivatives may be inf · 0: the nan is what is shown, and numpy's
    # warning about it would otherwise reach stderr beside a trace.
    with np.errstate(all="ignore"):
        ctx = _Ctx(frame)
        ev = frame.event
        if isinstance(ev, Forward):
            lines = _forward(ctx, ev)
        elif isinstance(ev, Loss):
            lines = _loss(ctx, ev)
        elif isinstance(ev, Backward):
            lines = _backward(ctx, ev, max_paths)
        else:
            assert isinstance(ev, Update)
            lines = _update(ctx, ev)
        return lines + ctx.definitions(lines)
