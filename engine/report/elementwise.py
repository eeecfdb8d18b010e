"""Element-wise forms: one element of a node's value or gradient, written out term by term.

Where :mod:`engine.report.explain` shows an event as tensors (``∂L/∂W1 = xᵀ · ∂L/∂z1``),
this module opens one element of it, with every number::

    z1[0,1] = Σᵢ x[0,i]·W1[i,1] + b1[1] = 0.0·0.8 + 1.0·0.2 + 0.4 = 0.6
    ∂L/∂W1[1,0] = Σₙ x[n,1]·∂L/∂z1[n,0] = 0.0·0.0123 + 1.0·(-0.02) + … = -0.0077

Each is a :class:`Derivation`: a formula with the summed indices as letters, then the
:class:`Piece` terms that are added (each with its numbers substituted and its float64
value), then the element the engine computed. The pieces' sum (divided by ``divisor``)
reproduces that element; ``tests/engine/test_elementwise.py`` checks it for every op and
random shapes.

How to give an op its form
--------------------------
Every op in :data:`engine.graph.ops.OPS` must have an entry in :data:`FORMS` (a test
fails otherwise). An entry is a :class:`Form`: ``forward(e, idx)`` writes output element
``idx`` of the node ``e`` reads, ``backward(e, k, idx)`` the contribution through this
node to ∂L/∂(input ``k``)[``idx``]. Most ops need one line, from a builder:

- :func:`elementwise` — output element ``i`` reads input elements ``i`` (broadcasting as
  numpy does). It writes the op's own ``formula`` and ``dtext`` with element references,
  and takes its numbers from the op's ``forward`` and ``local``. Every op the table
  marks ``elementwise`` gets this one without a line;
- :func:`reduction` — sum or mean over all elements or over ``attrs["axis"]`` (with
  ``keepdims``);
- :func:`along_axis` — any other reduction along ``attrs["axis"]`` (max, min, logsumexp,
  var): give the forward's text, e.g. ``along_axis("max", "[{x} = {out}]/ties")``; the
  local derivative's numbers come from the op's own ``vjp`` with a one-hot upstream, so
  they are the engine's exactly;
- :func:`gather` — ops that copy elements (transpose, indexing): give the function from an
  output index to the input index it copies.

Anything else writes its own ``Form`` (see ``_matmul``, ``_softmax`` and the losses).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from engine import fmt
from engine.graph.graph import Graph, Node
from engine.graph.ops import BCE_EPS, OPS, Op

Index = tuple[int, ...]
Sym = Sequence[int | str]
"""An index whose entries are numbers or the letters of summed axes (``(n, 0)``)."""

MAX_TERMS = 6
"""A sum of more pieces shows its largest ones and the rest as one count and total."""


class Piece(msgspec.Struct, frozen=True):
    """One term of an element's derivation.

    Attributes:
        text: The term with element references: ``x[0,1]·W1[1,0]``.
        nums: The same with the engine's numbers: ``1.0·0.2``.
        value: Its value in float64, from the engine's numbers.
    """

    text: str
    nums: str
    value: float


class Derivation(msgspec.Struct, frozen=True):
    """One element, derived: ``lhs = formula = pieces' numbers = value``.

    Attributes:
        lhs: The element: ``z1[0,1]`` or ``∂L/∂W1[1,0]``.
        formula: Its formula, summed indices as letters: ``Σᵢ x[0,i]·W1[i,1] + b1[1]``.
        pieces: The terms added up (one, when the element is no sum).
        value: The element as the engine computed it.
        divisor: The sum of the pieces is divided by this (a mean).
        note: A word on the form, or ``""``.
    """

    lhs: str
    formula: str
    pieces: tuple[Piece, ...]
    value: float
    divisor: int = 1
    note: str = ""

    @property
    def total(self) -> float:
        """The pieces' sum over the divisor: what :attr:`value` must equal."""
        return float(sum(p.value for p in self.pieces)) / self.divisor

    def text(self, max_terms: int = MAX_TERMS) -> str:
        """The derivation on one line, long sums shortened (see :func:`numbers`)."""
        parts = [self.lhs, self.formula]
        nums = numbers(self, max_terms)
        if nums not in (self.formula, fmt.num(self.value)):
            parts.append(nums)
        parts.append(fmt.num(self.value))
        return " = ".join(parts)


def numbers(d: Derivation, max_terms: int = MAX_TERMS) -> str:
    """The pieces' numbers joined by ``+``; beyond ``max_terms`` pieces, the largest ones
    (in order) and the others as ``(58 more terms: 0.0123)``, so the sum shown still adds
    up to the value."""
    pieces = list(d.pieces)
    if len(pieces) > max_terms:
        order = sorted(range(len(pieces)), key=lambda i: -abs(pieces[i].value))
        keep = sorted(order[: max_terms - 1])
        rest = len(pieces) - len(keep)
        rest_sum = float(sum(pieces[i].value for i in order[max_terms - 1 :]))
        body = _join([pieces[i].nums for i in keep])
        body += f" + ({rest} more terms: {fmt.num(rest_sum)})"
    else:
        body = _join([p.nums for p in pieces])
    if d.divisor != 1:
        body = f"({body})/{d.divisor}" if len(pieces) > 1 else f"{_group(body)}/{d.divisor}"
    return body


def _join(terms: Sequence[str]) -> str:
    """Terms added: ``a + b``, and ``a − b`` where a term starts with its own minus sign."""
    out = ""
    for i, t in enumerate(terms):
        if i and t.startswith("−"):
            out += " − " + t[1:]
        else:
            out += (" + " if i else "") + t
    if len(terms) == 1 and out.startswith("(-") and out.endswith(")") and "(" not in out[1:]:
        out = out[1:-1]  # one negative number alone needs no parentheses
    return out


# --- references and numbers ---------------------------------------------------------------

_SUB = {"i": "ᵢ", "j": "ⱼ", "k": "ₖ", "m": "ₘ", "n": "ₙ", "p": "ₚ", "a": "ₐ", "e": "ₑ"}
_AXES = {1: ("i",), 2: ("n", "j"), 3: ("m", "n", "j"), 4: ("p", "m", "n", "j")}


def axis_letters(ndim: int) -> tuple[str, ...]:
    """The letters that stand for a summed axis of an ``ndim``-dimensional array."""
    return _AXES.get(ndim, tuple("abcdefghkm"[:ndim]))


def sigma(letters: Sequence[str]) -> str:
    """``Σₙ``, ``Σₙⱼ``: a sum over the given index letters (``Σ`` alone for none)."""
    if all(c in _SUB for c in letters):
        return "Σ" + "".join(_SUB[c] for c in letters)
    return "Σ_" + ",".join(letters) + " "


def ref(name: str, idx: Sym) -> str:
    """``x[0,1]``; a scalar is its name."""
    return name if len(idx) == 0 else f"{name}[{','.join(str(i) for i in idx)}]"


def num(x: float | np.ndarray | Any) -> str:
    """A number as a factor: ``0.5``, ``(-0.5)``."""
    text = fmt.num(x)
    return f"({text})" if text.startswith("-") else text


def _group(text: str) -> str:
    """``text`` in parentheses where, as a factor, it needs them: a sum, a difference, a
    condition or a negative number."""
    if text.startswith(("-", "−")):
        return f"({text})"
    depth = 0
    for i, c in enumerate(text):
        depth += c in "([" and 1 or (c in ")]" and -1 or 0)
        if depth == 0 and text.startswith((" + ", " − ", " if "), i):
            return f"({text})"
    return text


def _fill(template: str, args: Sequence[str], attrs: Mapping[str, Any]) -> str:
    """An op's ``formula``/``dtext`` template with its inputs written in."""
    out = template.replace(" · ", "·")
    for key in ("pm1", "p"):
        if "{" + key + "}" in out:
            p = float(attrs["p"]) - (1.0 if key == "pm1" else 0.0)
            out = out.replace("^{" + key + "}", power(p)).replace("{" + key + "}", _attr(p))
    for k, a in enumerate(args):
        out = out.replace("{" + str(k) + "}", a)
    return out


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power(p: float) -> str:
    """An exponent as written after its base: ``²``, ``⁻¹``, ``^0.5``; nothing for 1."""
    if p == 1:
        return ""
    if float(p).is_integer() and abs(p) < 100:
        return str(int(p)).translate(_SUPERSCRIPT)
    return "^" + _attr(p)


def _attr(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else fmt.num(x)


def _arg_nums(template: str, values: Sequence[float]) -> list[str]:
    """Numbers for a template's placeholders: a negative one in parentheses unless the
    placeholder already sits alone between parentheses (``tanh(-0.5)``)."""
    out = []
    for k, v in enumerate(values):
        text = fmt.num(v)
        alone = "({" + str(k) + "})" in template or template == "{" + str(k) + "}"
        out.append(text if alone or not text.startswith("-") else f"({text})")
    return out


# --- what a form reads ---------------------------------------------------------------------


class Elem:
    """One op node with the numbers of one step: what a :class:`Form` reads.

    Attributes:
        graph: The graph.
        node: The op node.
        op: Its op.
        inputs: Its inputs' values.
        out: Its value.
        upstream: ∂L/∂node (None in a forward-only view).
        attrs: The node's attributes.
    """

    def __init__(
        self,
        graph: Graph,
        node: Node,
        values: Mapping[str, np.ndarray],
        grads: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        assert node.op is not None
        self.graph = graph
        self.node = node
        self.op: Op = OPS[node.op]
        self.inputs = [np.asarray(values[i], dtype=np.float64) for i in node.inputs]
        self.out = np.asarray(values[node.name], dtype=np.float64)
        g = None if grads is None else grads.get(node.name)
        self.upstream = None if g is None else np.asarray(g, dtype=np.float64)
        self.attrs: dict[str, Any] = dict(node.attrs)

    @property
    def is_loss(self) -> bool:
        """Whether this node is the loss (its upstream is 1 by definition)."""
        return self.node.name == self.graph.loss

    def name(self, k: int) -> str:
        return self.node.inputs[k]

    def at(self, k: int, idx: Sym) -> str:
        """Input ``k``'s element reference."""
        return ref(self.node.inputs[k], idx)

    def here(self, idx: Sym) -> str:
        """This node's element reference."""
        return ref(self.node.name, idx)

    def grad(self, idx: Sym, name: str | None = None) -> str:
        """``∂L/∂node[idx]`` (or of another node)."""
        return f"∂{self.graph.loss}/∂{ref(name or self.node.name, idx)}"

    def g(self, idx: Index) -> float:
        assert self.upstream is not None
        return float(self.upstream[idx])

    def upstream_piece(
        self, o: Index, local_text: str, local: float, local_nums: str = ""
    ) -> Piece:
        """``∂L/∂node[o]·local``: one output element's share of an input's gradient.

        A local derivative of exactly 1 is not written (``∂L/∂z[n,j]``, not ``…·1``), nor
        the loss's own upstream of 1; then ``local_nums`` (the local derivative with its
        numbers written in, when given) shows how its value comes.
        """
        text = self.upstream_text(o, local_text)
        if self.is_loss:
            return Piece(text, local_nums or num(local), local)
        g = self.g(o)
        if local_text == "1" and local == 1.0:
            return Piece(text, num(g), g)
        return Piece(text, f"{num(g)}·{num(local)}", g * local)

    def upstream_text(self, o: Sym, local_text: str) -> str:
        """The text of :meth:`upstream_piece`, for a concrete or symbolic ``o``."""
        if self.is_loss:
            return local_text
        if local_text == "1":
            return self.grad(o)
        return f"{self.grad(o)}·{_group(local_text)}"


@dataclass(frozen=True)
class Form:
    """How one op's elements read.

    Attributes:
        forward: ``forward(e, idx)``: output element ``idx``.
        backward: ``backward(e, k, idx)``: the contribution through this node to
            ∂L/∂(input ``k``)[``idx``].
    """

    forward: Callable[[Elem, Index], Derivation]
    backward: Callable[[Elem, int, Index], Derivation]


def _fwd(e: Elem, idx: Index, formula: str, pieces: Sequence[Piece], **kw: Any) -> Derivation:
    return Derivation(e.here(idx), formula, tuple(pieces), float(e.out[idx]), **kw)


def _bwd(
    e: Elem, k: int, idx: Index, formula: str, pieces: Sequence[Piece], **kw: Any
) -> Derivation:
    lhs = f"{e.grad(idx, e.name(k))} via {e.node.name}"
    value = float(sum(p.value for p in pieces)) / kw.get("divisor", 1)
    return Derivation(lhs, formula, tuple(pieces), value, **kw)


# --- broadcasting --------------------------------------------------------------------------


def _bmap(idx: Sym, shape: tuple[int, ...]) -> tuple[Any, ...]:
    """The element of an operand of ``shape`` that output element ``idx`` reads."""
    lead = len(idx) - len(shape)
    return tuple(0 if n == 1 else idx[lead + a] for a, n in enumerate(shape))


def _spread(idx: Index, shape: tuple[int, ...], out_shape: tuple[int, ...]) -> list[Index]:
    """The output elements that read operand element ``idx`` (one without broadcasting)."""
    lead = len(out_shape) - len(shape)
    ranges = []
    for a, n in enumerate(out_shape):
        if a < lead or shape[a - lead] == 1 and n != 1:
            ranges.append(range(n))
        else:
            ranges.append(range(idx[a - lead], idx[a - lead] + 1))
    return [
        tuple(r[i] for r, i in zip(ranges, o, strict=True))
        for o in np.ndindex(*[len(r) for r in ranges])
    ]


def _summed_sym(idx: Index, shape: tuple[int, ...], out_shape: tuple[int, ...]) -> list[int | str]:
    """The output index with the axes that broadcasting summed over as letters."""
    lead = len(out_shape) - len(shape)
    letters = axis_letters(len(out_shape))
    return [
        letters[a] if a < lead or shape[a - lead] == 1 and n != 1 else idx[a - lead]
        for a, n in enumerate(out_shape)
    ]


# --- builders ------------------------------------------------------------------------------


def elementwise() -> Form:
    """The form of an op whose output element ``i`` reads input elements ``i``.

    Written from the op's ``formula`` and ``dtext``; numbers from its ``forward`` on the
    element's inputs and its ``local`` derivative.
    """

    def forward(e: Elem, idx: Index) -> Derivation:
        at = [_bmap(idx, a.shape) for a in e.inputs]
        xs = [float(a[i]) for a, i in zip(e.inputs, at, strict=True)]
        refs = [e.at(k, i) for k, i in enumerate(at)]
        text = _fill(e.op.formula, refs, e.attrs)
        nums = _fill(e.op.formula, _arg_nums(e.op.formula, xs), e.attrs)
        value = float(e.op.forward(*[np.float64(x) for x in xs], **e.attrs))
        return _fwd(e, idx, text, [Piece(text, nums, value)])

    def backward(e: Elem, k: int, idx: Index) -> Derivation:
        locs = e.op.local(e.out, e.inputs, e.attrs)[k]
        local = np.broadcast_to(np.asarray(locs, dtype=np.float64), e.out.shape)
        outs = _spread(idx, e.inputs[k].shape, e.out.shape)
        pieces = []
        for o in outs:
            refs = [e.at(j, _bmap(o, a.shape)) for j, a in enumerate(e.inputs)]
            local_nums = ""
            if e.is_loss:
                xs = [float(a[_bmap(o, a.shape)]) for a in e.inputs]
                local_nums = _fill(e.op.dtext[k], _arg_nums(e.op.dtext[k], xs), e.attrs)
            text = _fill(e.op.dtext[k], refs, e.attrs)
            pieces.append(e.upstream_piece(o, text, local[o], local_nums))
        sym = _summed_sym(idx, e.inputs[k].shape, e.out.shape)
        refs = [e.at(j, _bmap(sym, a.shape)) for j, a in enumerate(e.inputs)]
        formula = e.upstream_text(sym, _fill(e.op.dtext[k], refs, e.attrs))
        summed = [s for s in sym if isinstance(s, str)]
        if summed:
            formula = sigma(summed) + " " + formula
        return _bwd(e, k, idx, formula, pieces)

    return Form(forward, backward)


def _reduced_axes(e: Elem) -> tuple[tuple[int, ...], bool]:
    axis = e.attrs.get("axis")
    nd = e.inputs[0].ndim
    if axis is None:
        return tuple(range(nd)), bool(e.attrs.get("keepdims", False))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % nd for a in axes)), bool(e.attrs.get("keepdims", False))


def _reduce_slots(e: Elem, idx: Index) -> tuple[list[Index], list[int | str]]:
    """Input elements that output element ``idx`` reduces, and the input's index with
    the reduced axes as letters."""
    axes, keep = _reduced_axes(e)
    shape = e.inputs[0].shape
    free = iter(i for a, i in enumerate(idx) if not (keep and a in axes))
    letters = axis_letters(len(shape))
    sym: list[int | str] = [letters[a] if a in axes else next(free) for a in range(len(shape))]
    ranges = [
        range(n) if a in axes else range(int(sym[a]), int(sym[a]) + 1) for a, n in enumerate(shape)
    ]
    elems = [
        tuple(r[i] for r, i in zip(ranges, o, strict=True))
        for o in np.ndindex(*[len(r) for r in ranges])
    ]
    return elems, sym


def _out_of(e: Elem, idx: Index) -> Index:
    """The output element that input element ``idx`` of a reduction feeds."""
    axes, keep = _reduced_axes(e)
    return tuple(0 if a in axes else i for a, i in enumerate(idx) if keep or a not in axes)


def reduction(*, mean: bool) -> Form:
    """Sum (or mean) over all elements, or over ``attrs["axis"]`` (``keepdims`` too)."""

    def forward(e: Elem, idx: Index) -> Derivation:
        elems, sym = _reduce_slots(e, idx)
        x = e.inputs[0]
        pieces = [Piece(e.at(0, i), num(x[i]), float(x[i])) for i in elems]
        formula = f"{sigma([s for s in sym if isinstance(s, str)])} {e.at(0, sym)}"
        n = len(elems) if mean else 1
        return _fwd(e, idx, f"({formula})/{n}" if mean else formula, pieces, divisor=n)

    def backward(e: Elem, k: int, idx: Index) -> Derivation:
        o = _out_of(e, idx)
        n = len(_reduce_slots(e, o)[0]) if mean else 1
        p = e.upstream_piece(o, "1", 1.0)
        return _bwd(e, k, idx, e.grad(o) if not mean else f"{e.grad(o)}/{n}", [p], divisor=n)

    return Form(forward, backward)


def _one_hot_local(e: Elem, k: int, o: Index, idx: Index) -> float:
    """∂out[o]/∂input_k[idx] from the op's own vjp with a one-hot upstream: exact, and the
    engine's own arithmetic."""
    g = np.zeros(e.out.shape)
    g[o] = 1.0
    need = [j == k for j in range(len(e.inputs))]
    return float(np.asarray(e.op.vjp(g, e.out, e.inputs, need, e.attrs)[k])[idx])


def along_axis(fn: str, local_text: str) -> Form:
    """A reduction along ``attrs["axis"]`` (all elements without one) that is no sum.

    Args:
        fn: How the forward reads, applied to the reduced elements: ``"max"``.
        local_text: The local derivative with ``{x}`` for the input element and
            ``{out}`` for the output element: ``"[{x} = {out}]/ties"``.
    """

    def forward(e: Elem, idx: Index) -> Derivation:
        elems, sym = _reduce_slots(e, idx)
        x = e.inputs[0]
        letters = [s for s in sym if isinstance(s, str)]
        nums = ", ".join(fmt.num(x[i]) for i in elems[:MAX_TERMS])
        if len(elems) > MAX_TERMS:
            nums += f", … ({len(elems)} elements)"
        formula = f"{fn}_{''.join(letters)} {e.at(0, sym)}" if letters else f"{fn}({e.at(0, sym)})"
        value = float(e.op.forward(np.array([x[i] for i in elems])))
        return _fwd(e, idx, formula, [Piece(formula, f"{fn}({nums})", value)])

    def backward(e: Elem, k: int, idx: Index) -> Derivation:
        o = _out_of(e, idx)
        text = local_text.replace("{x}", e.at(0, idx)).replace("{out}", e.here(o))
        p = e.upstream_piece(o, text, _one_hot_local(e, k, o, idx))
        return _bwd(e, k, idx, p.text, [p])

    return Form(forward, backward)


def gather(source: Callable[[Elem, Index], tuple[int, Index]]) -> Form:
    """An op that copies elements (transpose, indexing).

    Args:
        source: ``source(e, idx) -> (k, input index)``: the input element that output
            element ``idx`` copies.
    """

    def forward(e: Elem, idx: Index) -> Derivation:
        k, i = source(e, idx)
        text = e.at(k, i)
        return _fwd(e, idx, text, [Piece(text, fmt.num(e.inputs[k][i]), float(e.inputs[k][i]))])

    def backward(e: Elem, k: int, idx: Index) -> Derivation:
        outs = [o for o in np.ndindex(*e.out.shape) if source(e, o) == (k, idx)]
        pieces = [e.upstream_piece(o, "1", 1.0) for o in outs]
        if not pieces:  # no output element copies it: nothing flows back to it
            return _bwd(e, k, idx, "0", [Piece("0", "0", 0.0)], note="no element copies it")
        return _bwd(e, k, idx, " + ".join(p.text for p in pieces), pieces)

    return Form(forward, backward)


# --- matrix products -------------------------------------------------------------------------


def _as2d(a: np.ndarray, first: bool) -> tuple[np.ndarray, Callable[[Sym], tuple]]:
    """``a`` as a matrix (a vector as a row when ``first``, else a column), and the map
    from a matrix index back to ``a``'s own."""
    if a.ndim == 2:
        return a, lambda rc: tuple(rc)
    if first:
        return a.reshape(1, -1), lambda rc: (rc[1],)
    return a.reshape(-1, 1), lambda rc: (rc[0],)


def _matmul_parts(e: Elem) -> tuple:
    a, back_a = _as2d(e.inputs[0], True)
    b, back_b = _as2d(e.inputs[1], False)
    rows, cols = a.shape[0], b.shape[1]
    vec_a, vec_b = e.inputs[0].ndim == 1, e.inputs[1].ndim == 1

    def out_idx(r: int | str, c: int | str) -> tuple:
        return tuple(x for x, drop in ((r, vec_a), (c, vec_b)) if not drop)

    def out_rc(idx: Index) -> tuple[int, int]:
        it = iter(idx)
        return (0 if vec_a else next(it)), (0 if vec_b else next(it))

    return a, b, back_a, back_b, rows, cols, out_idx, out_rc


def _matmul_forward(e: Elem, idx: Index, bias: bool) -> Derivation:
    a, b, back_a, back_b, _, _, _, out_rc = _matmul_parts(e)
    r, c = out_rc(idx)
    pieces = [
        Piece(
            f"{e.at(0, back_a((r, i)))}·{e.at(1, back_b((i, c)))}",
            f"{num(a[r, i])}·{num(b[i, c])}",
            float(a[r, i] * b[i, c]),
        )
        for i in range(a.shape[1])
    ]
    formula = f"Σᵢ {e.at(0, back_a((r, 'i')))}·{e.at(1, back_b(('i', c)))}"
    if bias:
        bi = _bmap(idx, e.inputs[2].shape)
        pieces.append(Piece(e.at(2, bi), num(e.inputs[2][bi]), float(e.inputs[2][bi])))
        formula += f" + {e.at(2, bi)}"
    return _fwd(e, idx, formula, pieces)


def _matmul_backward(e: Elem, k: int, idx: Index) -> Derivation:
    a, b, back_a, back_b, rows, cols, out_idx, _ = _matmul_parts(e)
    if k == 2:  # affine's bias: broadcast over the rows
        return elementwise().backward(e, k, idx)
    pieces = []
    if k == 0:
        r, i = (0, idx[0]) if e.inputs[0].ndim == 1 else idx
        for c in range(cols):
            o = out_idx(r, c)
            pieces.append(e.upstream_piece(o, e.at(1, back_b((i, c))), float(b[i, c])))
        letter = "j"
        sym_o, sym_w = out_idx(r, letter), e.at(1, back_b((i, letter)))
        formula = f"{e.grad(sym_o)}·{sym_w}"
        summed = e.inputs[1].ndim == 2
    else:
        i, c = (idx[0], 0) if e.inputs[1].ndim == 1 else idx
        for r in range(rows):
            o = out_idx(r, c)
            g = e.g(o)
            x = float(a[r, i])
            pieces.append(
                Piece(f"{e.at(0, back_a((r, i)))}·{e.grad(o)}", f"{num(x)}·{num(g)}", x * g)
            )
        letter = "n"
        formula = f"{e.at(0, back_a((letter, i)))}·{e.grad(out_idx(letter, c))}"
        summed = e.inputs[0].ndim == 2
    if summed:
        formula = f"{sigma([letter])} {formula}"
    return _bwd(e, k, idx, formula, pieces)


_matmul = Form(lambda e, idx: _matmul_forward(e, idx, False), _matmul_backward)
_affine = Form(lambda e, idx: _matmul_forward(e, idx, True), _matmul_backward)


# --- softmax, log_softmax -----------------------------------------------------------------


def _row(e: Elem, idx: Index) -> tuple[Index, int, list[Index]]:
    """The row (all but the last axis), the position along it, and the row's elements."""
    row = idx[:-1]
    return row, idx[-1], [row + (j,) for j in range(e.out.shape[-1])]


def _softmax_forward(e: Elem, idx: Index, log: bool) -> Derivation:
    row, k, elems = _row(e, idx)
    z = e.inputs[0]
    zs = np.array([z[i] for i in elems])
    m = float(zs.max())
    exps = np.exp(zs - m)
    denom = " + ".join(f"exp({fmt.num(z[i])})" for i in elems[:MAX_TERMS])
    if len(elems) > MAX_TERMS:
        denom += f" + … ({len(elems)} terms)"
    if log:
        formula = f"{e.at(0, idx)} − log Σⱼ exp({e.at(0, row + ('j',))})"
        nums = f"{num(z[idx])} − log({denom})"
        value = float(zs[k] - m - np.log(exps.sum()))
    else:
        formula = f"exp({e.at(0, idx)}) / Σⱼ exp({e.at(0, row + ('j',))})"
        nums = f"exp({fmt.num(z[idx])}) / ({denom})"
        value = float(exps[k] / exps.sum())
    return _fwd(e, idx, formula, [Piece(formula, nums, value)])


def _softmax_backward(e: Elem, k_in: int, idx: Index, log: bool) -> Derivation:
    row, k, elems = _row(e, idx)
    s = np.exp(e.out) if log else e.out
    sk = e.here(idx) if not log else f"exp({e.here(idx)})"
    pieces = []
    for j, o in enumerate(elems):
        sj = e.here(o)
        if log:
            text = f"[{j} = {k}] − {sk}"
            local = (1.0 if j == k else 0.0) - float(s[idx])
        elif j == k:
            text, local = f"{sj}·(1 − {sj})", float(s[o] * (1.0 - s[o]))
        else:
            text, local = f"−{sj}·{sk}", float(-s[o] * s[idx])
        pieces.append(e.upstream_piece(o, text, local))
    rj = row + ("j",)
    if log:
        formula = f"Σⱼ {e.grad(rj)}·([j = {k}] − {sk})"
    else:
        formula = f"Σⱼ {e.grad(rj)}·{e.here(rj)}·([j = {k}] − {sk})"
    return _bwd(e, k_in, idx, formula, pieces)


_softmax = Form(
    lambda e, idx: _softmax_forward(e, idx, False),
    lambda e, k, idx: _softmax_backward(e, k, idx, False),
)
_log_softmax = Form(
    lambda e, idx: _softmax_forward(e, idx, True),
    lambda e, k, idx: _softmax_backward(e, k, idx, True),
)


# --- losses: (prediction, target) -> scalar ------------------------------------------------


def _loss(
    piece: Callable[[str, str], str],
    value: Callable[[float, float], float],
    grad: Callable[[str, str, int], str],
    grad_value: Callable[[float, float, int], float],
    *,
    mean: bool,
) -> Form:
    """A loss summed (or averaged) over its elements.

    Args:
        piece: The element's term from the prediction's and target's texts.
        value: Its value from their numbers.
        grad: ∂L/∂prediction's element from their texts and the element count.
        grad_value: Its value.
        mean: Whether the loss is the mean (else the sum) over the elements.
    """

    def forward(e: Elem, idx: Index) -> Derivation:
        p, y = e.inputs
        pieces = []
        for i in np.ndindex(*p.shape):
            pn, yn = fmt.num(p[i]), fmt.num(y[i])
            pieces.append(
                Piece(piece(e.at(0, i), e.at(1, i)), piece(pn, yn), value(float(p[i]), float(y[i])))
            )
        letters = axis_letters(p.ndim)
        formula = f"{sigma(letters)} {piece(e.at(0, letters), e.at(1, letters))}"
        n = p.size if mean else 1
        return _fwd(e, idx, f"({formula})/{n}" if mean else formula, pieces, divisor=n)

    def backward(e: Elem, k: int, idx: Index) -> Derivation:
        p, y = e.inputs
        n = p.size if mean else 1
        local = grad_value(float(p[idx]), float(y[idx]), n)
        text = grad(e.at(0, idx), e.at(1, idx), n)
        nums = grad(fmt.num(p[idx]), fmt.num(y[idx]), n)
        piece_ = e.upstream_piece((), text, local)
        if e.is_loss:
            piece_ = Piece(text, nums, local)
        return _bwd(e, k, idx, piece_.text, [piece_])

    return Form(forward, backward)


def _bce_term(p: float, y: float) -> float:
    log_p = max(np.log(p), -100.0) if p > 0 else -100.0
    log_q = max(np.log(1.0 - p), -100.0) if p < 1 else -100.0
    return float(-(y * log_p + (1.0 - y) * log_q))


def _bce_grad(p: float, y: float, n: int) -> float:
    return float((p - y) / max(p * (1.0 - p), BCE_EPS) / n)


def _ce_forward(e: Elem, idx: Index) -> Derivation:
    z, y = e.inputs
    n = z.shape[0]
    pieces = []
    for r in range(n):
        c = int(y[r])
        row = z[r]
        m = float(row.max())
        logp = float(row[c] - m - np.log(np.exp(row - m).sum()))
        p = float(np.exp(logp))
        pieces.append(Piece(f"−log softmax({e.at(0, (r,))})[{c}]", f"−log {fmt.num(p)}", -logp))
    formula = f"(Σₙ −log softmax({e.at(0, ('n',))})[{e.at(1, ('n',))}])/{n}"
    return _fwd(e, idx, formula, pieces, divisor=n)


def _ce_backward(e: Elem, k: int, idx: Index) -> Derivation:
    z, y = e.inputs
    r, c = idx
    n = z.shape[0]
    row = z[r]
    ex = np.exp(row - row.max())
    p = float(ex[c] / ex.sum())
    hit = 1.0 if int(y[r]) == c else 0.0
    text = f"(softmax({e.at(0, (r,))})[{c}] − [{c} = {e.at(1, (r,))}])/{n}"
    nums = f"({fmt.num(p)} − {fmt.num(hit)})/{n}"
    local = (p - hit) / n
    piece = Piece(text, nums, local) if e.is_loss else e.upstream_piece((), text, local)
    return _bwd(e, k, idx, piece.text, [piece])


FORMS: dict[str, Form] = {name: elementwise() for name, op in OPS.items() if op.elementwise}
"""Each op's element-wise form, keyed by op name (every op in ``OPS`` has one)."""
FORMS["matmul"] = _matmul
FORMS["affine"] = _affine
FORMS["sum"] = reduction(mean=False)
FORMS["mean"] = reduction(mean=True)
FORMS["softmax"] = _softmax
FORMS["log_softmax"] = _log_softmax
FORMS["mse"] = _loss(
    lambda a, y: f"({a} − {_neg(y)})²",
    lambda a, y: float((a - y) ** 2),
    lambda a, y, n: f"2·({a} − {_neg(y)})/{n}",
    lambda a, y, n: float(2.0 * (a - y) / n),
    mean=True,
)
FORMS["sse"] = _loss(
    lambda a, y: f"({a} − {_neg(y)})²",
    lambda a, y: float((a - y) ** 2),
    lambda a, y, n: f"2·({a} − {_neg(y)})",
    lambda a, y, n: float(2.0 * (a - y)),
    mean=False,
)
FORMS["bce"] = _loss(
    lambda p, y: f"−{_neg(y)}·log {_neg(p)} − (1 − {_neg(y)})·log(1 − {_neg(p)})",
    _bce_term,
    lambda p, y, n: f"({p} − {_neg(y)}) / ({_neg(p)}·(1 − {_neg(p)})) / {n}",
    _bce_grad,
    mean=True,
)
FORMS["cross_entropy"] = Form(_ce_forward, _ce_backward)
FORMS["l1"] = _loss(
    lambda a, y: f"|{a} − {_neg(y)}|",
    lambda a, y: float(abs(a - y)),
    lambda a, y, n: f"sign({a} − {_neg(y)})/{n}",
    lambda a, y, n: float(np.sign(a - y) / n),
    mean=True,
)
FORMS["hinge"] = _loss(
    lambda s, y: f"max(0, 1 − {_neg(y)}·{_neg(s)})",
    lambda s, y: float(max(0.0, 1.0 - y * s)),
    lambda s, y, n: f"−{_neg(y)}·[1 − {_neg(y)}·{_neg(s)} > 0]/{n}",
    lambda s, y, n: float((-y if 1.0 - y * s > 0 else 0.0) / n),
    mean=True,
)


def _huber(delta: float) -> Form:
    """Huber's loss with threshold ``delta``: ½d² within it, δ·(|d| − ½δ) beyond."""
    d_text = _attr(delta)

    def value(a: float, y: float) -> float:
        d = abs(a - y)
        return float(0.5 * d * d if d < delta else delta * (d - 0.5 * delta))

    return _loss(
        lambda a, y: f"huber_{d_text}({a} − {_neg(y)})",
        value,
        lambda a, y, n: f"clip({a} − {_neg(y)}, −{d_text}, {d_text})/{n}",
        lambda a, y, n: float(np.clip(a - y, -delta, delta) / n),
        mean=True,
    )


FORMS["huber"] = Form(
    lambda e, idx: _huber(float(e.attrs.get("delta", 1.0))).forward(e, idx),
    lambda e, k, idx: _huber(float(e.attrs.get("delta", 1.0))).backward(e, k, idx),
)
FORMS["max"] = along_axis("max", "[{x} = {out}]/k")
FORMS["min"] = along_axis("min", "[{x} = {out}]/k")
FORMS["logsumexp"] = along_axis("logsumexp", "exp({x} − {out})")
FORMS["var"] = along_axis("var", "2·({x} − mean)/n")
FORMS["transpose"] = gather(lambda e, idx: (0, tuple(reversed(idx))))


def _picked_row(e: Elem, idx: Index) -> tuple[int, Index]:
    """``C[ix]``: output element ``idx`` copies row ``ix[idx[:m]]`` of C (m = ix's rank)."""
    ix = e.inputs[1]
    m = ix.ndim
    return 0, (int(ix[idx[:m]]), *idx[m:])


def _picked_element(e: Elem, idx: Index) -> tuple[int, Index]:
    """``P[ix, jx]``: output element ``idx`` copies ``P[ix[i], jx[i]]`` (i = idx[:m])."""
    ix, jx = e.inputs[1], e.inputs[2]
    m = ix.ndim
    return 0, (int(ix[idx[:m]]), int(jx[idx[:m]]), *idx[m:])


FORMS["index"] = gather(_picked_row)
FORMS["index2"] = gather(_picked_element)


def _neg(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


# --- entry points ----------------------------------------------------------------------------


def forward(
    graph: Graph, values: Mapping[str, np.ndarray], name: str, idx: Index
) -> Derivation | None:
    """Element ``idx`` of node ``name``'s value, derived (None for a leaf)."""
    node = graph[name]
    if node.op is None:
        return None
    with np.errstate(all="ignore"):
        return FORMS[node.op].forward(Elem(graph, node, values), tuple(idx))


def contribution(
    graph: Graph,
    values: Mapping[str, np.ndarray],
    grads: Mapping[str, np.ndarray],
    via: str,
    name: str,
    idx: Index,
) -> Derivation:
    """The contribution through consumer ``via`` to ∂L/∂name[idx] (both operand slots
    when ``via`` reads ``name`` twice)."""
    node = graph[via]
    assert node.op is not None
    e = Elem(graph, node, values, grads)
    slots = [k for k, i in enumerate(node.inputs) if i == name]
    with np.errstate(all="ignore"):
        parts = [FORMS[node.op].backward(e, k, tuple(idx)) for k in slots]
    if len(parts) == 1:
        return parts[0]
    pieces = tuple(p for d in parts for p in d.pieces)
    formula = " + ".join(d.formula for d in parts)
    return Derivation(parts[0].lhs, formula, pieces, float(sum(d.value for d in parts)))


def gradient(
    graph: Graph,
    values: Mapping[str, np.ndarray],
    grads: Mapping[str, np.ndarray],
    name: str,
    idx: Index,
    terms: Mapping[str, np.ndarray] | None = None,
) -> list[Derivation]:
    """∂L/∂name[idx], derived: one derivation per consumer on a path to the loss, and
    before them, when there are several (fan-out), their sum.

    Args:
        graph: The graph.
        values: Every node's value in the step.
        grads: ∂L/∂node for the nodes whose gradients are known.
        name: The node.
        idx: The element.
        terms: The backward event's terms as ``{consumer: contribution}``: each edge then
            shows the engine's own contribution as its value. By default every consumer
            that has a gradient, each valued by its pieces.

    Returns:
        The derivations; empty for the loss itself (its gradient is 1) or a node that
        does not reach the loss.
    """
    idx = tuple(idx)
    if name == graph.loss:
        return []
    vias = list(terms) if terms is not None else [c for c in graph.consumers[name] if c in grads]
    edges = []
    for c in vias:
        d = contribution(graph, values, grads, c, name, idx)
        if terms is not None:
            d = msgspec.structs.replace(d, value=float(np.asarray(terms[c])[idx]))
        edges.append(d)
    known = name in grads
    whole = float(np.asarray(grads[name])[idx]) if known else None
    if len(edges) == 1 and whole is not None:
        lhs = f"∂{graph.loss}/∂{ref(name, idx)}"  # one path: no "via" to tell apart
        edges[0] = msgspec.structs.replace(edges[0], lhs=lhs, value=whole)
    if len(edges) <= 1:
        return edges
    lhs = f"∂{graph.loss}/∂{ref(name, idx)}"
    pieces = tuple(
        Piece(f"{lhs} via {c}", num(d.value), d.value) for c, d in zip(vias, edges, strict=True)
    )
    total = Derivation(
        lhs,
        " + ".join(p.text for p in pieces),
        pieces,
        whole if whole is not None else float(sum(p.value for p in pieces)),
        note=f"{name} feeds {len(vias)} nodes: its gradient is the sum over the paths through them",
    )
    return [total, *edges]
