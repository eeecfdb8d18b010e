"""The expression language of ``[graph]`` nodes, parsed with :mod:`ast` and never evaluated.

An expression is parsed by :func:`ast.parse` (which only builds a tree; it runs nothing)
and then checked against a whitelist. Anything outside it — attribute access, subscripts,
calls to names that are not in :data:`engine.graph.ops.FUNCTIONS`, keyword arguments, lambdas,
comprehensions, strings — is refused with the column where it starts.

The result is a small tree of :class:`Name`, :class:`Const` and :class:`Apply`, which
:mod:`engine.graph.build` turns into graph nodes. The same module serves conditions
(watchpoints), which also allow comparisons and boolean operators; see :func:`parse`.

The text comes from a file, so nothing here may recurse without a bound: the tree's depth
is measured by a loop (:func:`_measure`) before anything walks it recursively, and
refused beyond :data:`MAX_DEPTH`; the sub-expressions' labels are built bottom-up in one
pass, each from its children's labels, rather than by unparsing every subtree again.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable

import msgspec

from engine.fmt import printable
from engine.graph.ops import FUNCTIONS, OPS, REDUCTIONS


class ExprError(ValueError):
    """A refused expression. ``column`` is 1-based, or 0 when it is the whole text.

    Columns count characters of the text as :func:`engine.fmt.printable` shows it (the
    plain character column, unless the text holds control characters such as a newline).
    """

    def __init__(self, message: str, column: int = 0) -> None:
        self.reason = message
        self.column = column
        super().__init__(message if not column else f"{message} (column {column})")

    def at(self, offset: int) -> str:
        """The message with the column shifted by ``offset`` (for a longer line shown)."""
        return self.reason if not self.column else f"{self.reason} (column {self.column + offset})"


class Name(msgspec.Struct, frozen=True):
    id: str
    text: str


class Const(msgspec.Struct, frozen=True):
    value: float
    text: str


class Apply(msgspec.Struct, frozen=True):
    """An op applied to arguments. ``attrs`` holds literal parameters (``pow``'s ``p``, a
    reduction's ``axis`` and ``keepdims``)."""

    op: str
    args: tuple[Name | Const | Apply, ...]
    text: str
    """The sub-expression's source, normalised as :func:`ast.unparse` writes it, used as
    its label."""
    attrs: tuple[tuple[str, float | int | bool], ...] = ()
    pos: tuple[int, int] = (0, 0)
    """Where it starts in the text, as the parser counts (line, UTF-8 byte offset):
    :func:`column_of` turns it into a column, for a refusal found later (a shape)."""


Expr = Name | Const | Apply

_BINOPS: dict[type, str] = {
    ast.Add: "add",
    ast.Sub: "sub",
    ast.Mult: "mul",
    ast.Div: "div",
    ast.MatMult: "matmul",
}
_CMPOPS: dict[type, str] = {
    ast.Lt: "lt",
    ast.LtE: "le",
    ast.Gt: "gt",
    ast.GtE: "ge",
    ast.Eq: "eq",
    ast.NotEq: "ne",
}

MAX_DEPTH = 64
"""Deepest nesting accepted, so that no expression can exhaust the stack. Every operator,
function call and sign is one level; a chain ``a < b < c`` or ``a or b or c`` becomes
nested ``and``/``or`` operations, one level per link."""

QUOTE_WIDTH = 72
"""Longest piece of an expression quoted whole in a message; longer ones are shortened."""


def parse(
    text: str,
    *,
    functions: tuple[str, ...] = FUNCTIONS,
    conditions: bool = False,
) -> Expr:
    """Parse one expression against the whitelist.

    Args:
        text: The expression, e.g. ``"W * x + b"``.
        functions: The function names a call may use.
        conditions: Also allow comparisons (``< <= > >= == !=``) and ``and``/``or``/``not``,
            as watchpoint conditions do. Comparisons become ops ``lt le gt ge eq ne`` and
            boolean operators ``and or not``.

    Returns:
        The expression tree.

    Raises:
        ExprError: The text is not an expression of the language, or nests deeper than
            :data:`MAX_DEPTH`.
    """
    source = text.strip()
    if not source:
        raise ExprError("the expression is empty")
    where = _Source(source)
    try:
        tree = _parse(source)
    except SyntaxError as e:
        column = where.syntax_column(e)
        raise ExprError(f"not a valid expression: {printable(e.msg)}", column) from None
    except (RecursionError, MemoryError):  # CPython's own parser gives up on some nesting
        raise ExprError(f"nested deeper than the limit of {MAX_DEPTH} levels") from None
    _measure(tree.body, where)
    texts = _labels(tree.body)
    return _Converter(functions, conditions, where, texts).convert(tree.body)


def _parse(source: str) -> ast.Expression:
    """:func:`ast.parse` in eval mode (it builds a tree and runs nothing), quietly.

    Python warns about some odd literals as it parses (``1if`` is an "invalid decimal
    literal"), on stderr by default: a second line under the one-line refusal that
    follows, or text over the app's screen. The text is refused or accepted on its own
    merits, so the warnings are dropped.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # invalid escapes, before 3.12
        return ast.parse(source, mode="eval")


def quote(text: str, column: int = 0, width: int = QUOTE_WIDTH) -> str:
    """``text`` in double quotes for a message: see :func:`excerpt`."""
    return f'"{excerpt(text, column, width)}"'


def excerpt(text: str, column: int = 0, width: int = QUOTE_WIDTH) -> str:
    """``text`` safe and short enough for a one-line message.

    Control characters are escaped (:func:`engine.fmt.printable`), and a text longer than
    ``width`` is cut to a window of that many characters around ``column`` (1-based in
    the printable text; 0 keeps the start), marked with ``…`` where it was cut.
    """
    shown = printable(text)
    if len(shown) <= width:
        return shown
    start = 0 if column <= width // 2 else min(column - 1 - width // 3, len(shown) - width)
    head = "…" if start > 0 else ""
    tail = "…" if start + width < len(shown) else ""
    return f"{head}{shown[start : start + width]}{tail}"


def name_column(text: str, name: str) -> int:
    """1-based column of the first bare use of ``name`` in ``text``, 0 if it has none.

    "Bare" leaves out a function's name in a call. ``text`` must be one that
    :func:`parse` accepted (it is parsed again, and is shallow enough to walk).
    """
    source = text.strip()
    where = _Source(source)
    tree = _parse(source)
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    found = [
        where.index(n.lineno, n.col_offset)
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and n.id == name and id(n) not in calls
    ]
    return where.column(min(found)) if found else 0


def column_of(text: str, pos: tuple[int, int]) -> int:
    """1-based column (as :class:`ExprError` counts) of an :attr:`Apply.pos` in ``text``,
    the expression it was parsed from; 0 when the position is unknown."""
    if pos == (0, 0):
        return 0
    where = _Source(text.strip())
    return where.column(where.index(*pos))


class _Source:
    """Columns in the source text: AST positions (UTF-8 byte offsets per line) and
    syntax-error offsets (characters per line) as columns of the printable text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.starts: list[int] = []
        start = 0
        for line in self.lines:
            self.starts.append(start)
            start += len(line) + 1

    def index(self, lineno: int, byte_col: int) -> int:
        """Character index in the text of an AST position."""
        line = self.lines[min(max(lineno, 1), len(self.lines)) - 1]
        chars = len(line.encode("utf-8")[:byte_col].decode("utf-8", "replace"))
        return self.starts[min(max(lineno, 1), len(self.lines)) - 1] + chars

    def column(self, index: int) -> int:
        """1-based column of character ``index`` in the printable form of the text."""
        return len(printable(self.text[:index])) + 1

    def node_column(self, node: ast.AST) -> int:
        lineno = getattr(node, "lineno", None)
        if lineno is None:
            return 0
        return self.column(self.index(lineno, getattr(node, "col_offset", 0)))

    def segment(self, node: ast.AST) -> str:
        """The node's text as written, shortened and escaped for a message."""
        lineno, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        if lineno is None or end is None:
            return ""
        first = self.index(lineno, getattr(node, "col_offset", 0))
        last = self.index(end, getattr(node, "end_col_offset", 0))
        return excerpt(self.text[first:last])

    def syntax_column(self, e: SyntaxError) -> int:
        if not e.offset or not e.lineno:
            return 0  # Python gives no position when the text stops mid-expression
        lineno = min(max(e.lineno, 1), len(self.lines))
        index = self.starts[lineno - 1] + min(e.offset - 1, len(self.lines[lineno - 1]))
        return self.column(index)


def _children(node: ast.AST) -> list[tuple[ast.AST, int]]:
    """The expression children of ``node``, each with how many levels deeper it sits in
    the converted tree (a chain of comparisons or boolean operators nests one per link)."""
    if isinstance(node, ast.Compare):
        step = len(node.ops)
        return [(c, step) for c in (node.left, *node.comparators)]
    if isinstance(node, ast.BoolOp):
        step = max(1, len(node.values) - 1)
        return [(c, step) for c in node.values]
    if isinstance(node, ast.Call):  # the callee's name is no level of its own
        return [(c, 1) for c in (*node.args, *node.keywords)]
    return [(c, 1) for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr | ast.keyword)]


def _measure(root: ast.AST, where: _Source) -> None:
    """Refuse a tree deeper than :data:`MAX_DEPTH`, without recursion.

    Depth-first, left to right, so the refusal names the leftmost place that is too deep.
    """
    stack: list[tuple[ast.AST, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExprError(
                f"nested deeper than the limit of {MAX_DEPTH} levels (each operator, function"
                " call and sign is a level); split it into several shorter expressions",
                where.node_column(node),
            )
        for child, step in reversed(_children(node)):
            stack.append((child, depth + step))


# Binding strength, as Python's grammar (and so ast.unparse) orders it.
_TEST, _OR, _AND, _NOT, _CMP, _EXPR, _ARITH, _TERM, _FACTOR, _POWER, _AWAIT, _ATOM = range(12)
_BINOP_TEXT: dict[type, tuple[str, int]] = {
    ast.Add: ("+", _ARITH),
    ast.Sub: ("-", _ARITH),
    ast.Mult: ("*", _TERM),
    ast.Div: ("/", _TERM),
    ast.MatMult: ("@", _TERM),
    ast.Pow: ("**", _POWER),
}
_CMP_TEXT: dict[type, str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
_INF_TEXT = "1e" + repr(1 + 308)
"""How ast.unparse writes an infinite literal (``1e999`` parses to inf): ``1e309``."""


def _labels(root: ast.AST) -> dict[int, str]:
    """Each node's text as :func:`ast.unparse` would write it on its own, by node id.

    Built bottom-up in one pass (a loop, not recursion): a node's text is its children's
    texts joined by its operator, each child in parentheses where its operator binds more
    loosely than the place it stands in requires — the rule ``ast.unparse`` follows. Only
    the whitelisted forms get a text; others are refused before a text is needed.
    """
    done: dict[int, tuple[str, int]] = {}
    stack: list[tuple[ast.AST, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if not ready:
            stack.append((node, True))
            stack.extend((child, False) for child, _ in _children(node))
            continue
        label = _label(node, done)
        if label is not None:
            done[id(node)] = label
    return {key: text for key, (text, _) in done.items()}


def _label(node: ast.AST, done: dict[int, tuple[str, int]]) -> tuple[str, int] | None:
    """``(text, binding strength)`` of one node from its children's, or None."""

    def part(child: ast.AST, needs: int) -> str | None:
        found = done.get(id(child))
        if found is None:
            return None
        text, strength = found
        return f"({text})" if strength < needs else text

    if isinstance(node, ast.Name):
        return node.id, _ATOM
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):  # keepdims=True
            return repr(value), _ATOM
        if isinstance(value, float):
            return repr(value).replace("inf", _INF_TEXT), _ATOM
        if isinstance(value, int) and not isinstance(value, bool):
            return repr(value), _ATOM
        return None
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            operand = part(node.operand, _NOT)
            return None if operand is None else (f"not {operand}", _NOT)
        sign = {ast.USub: "-", ast.UAdd: "+"}.get(type(node.op))
        operand = part(node.operand, _FACTOR)
        return None if sign is None or operand is None else (sign + operand, _FACTOR)
    if isinstance(node, ast.BinOp):
        found = _BINOP_TEXT.get(type(node.op))
        if found is None:
            return None
        symbol, strength = found
        right_assoc = isinstance(node.op, ast.Pow)
        left = part(node.left, strength + 1 if right_assoc else strength)
        right = part(node.right, strength if right_assoc else strength + 1)
        if left is None or right is None:
            return None
        return f"{left} {symbol} {right}", strength
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            return None
        args = [part(a, _TEST) for a in node.args]
        for kw in node.keywords:
            value = part(kw.value, _TEST)
            args.append(None if kw.arg is None or value is None else f"{kw.arg}={value}")
        if any(a is None for a in args):
            return None
        return f"{node.func.id}({', '.join(a for a in args if a is not None)})", _ATOM
    if isinstance(node, ast.Subscript):  # C[ix] and P[ix, jx]
        value = part(node.value, _ATOM)
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        indices = [part(e, _TEST) for e in elts]
        if value is None or any(i is None for i in indices):
            return None
        return f"{value}[{', '.join(i for i in indices if i is not None)}]", _ATOM
    if isinstance(node, ast.Compare):
        pieces = [part(node.left, _CMP + 1)]
        for op, comparator in zip(node.ops, node.comparators):
            relation = _CMP_TEXT.get(type(op))
            if relation is None:
                return None
            pieces += [relation, part(comparator, _CMP + 1)]
        if any(p is None for p in pieces):
            return None
        return " ".join(p for p in pieces if p is not None), _CMP
    if isinstance(node, ast.BoolOp):
        word = " and " if isinstance(node.op, ast.And) else " or "
        strength = _AND if isinstance(node.op, ast.And) else _OR
        # ast.unparse asks each further operand to bind one step more tightly.
        values = [part(v, min(strength + 1 + i, _ATOM)) for i, v in enumerate(node.values)]
        if any(v is None for v in values):
            return None
        return word.join(v for v in values if v is not None), strength
    return None


class _Converter:
    """Turns a measured tree into :data:`Expr`. Recursive, but only over trees that
    :func:`_measure` has bounded to :data:`MAX_DEPTH` levels."""

    def __init__(
        self, functions: tuple[str, ...], conditions: bool, where: _Source, texts: dict[int, str]
    ) -> None:
        self.functions = functions
        self.conditions = conditions
        self.where = where
        self.texts = texts

    def text(self, node: ast.AST) -> str:
        return self.texts[id(node)]

    def convert(self, node: ast.AST) -> Expr:
        # Positions are worked out only for a refusal: they cost a pass over the line.
        seg = self.where.segment

        def fail(message: str, at: ast.AST = node) -> ExprError:
            return ExprError(message, self.where.node_column(at))

        if isinstance(node, ast.Name):
            return Name(node.id, node.id)
        if isinstance(node, ast.Constant):
            return Const(_number(node, self.where), self.text(node))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                inner = self.convert(node.operand)
                if isinstance(inner, Const) and isinstance(node.operand, ast.Constant):
                    return Const(-inner.value, self.text(node))
                return Apply("neg", (inner,), self.text(node))
            if isinstance(node.op, ast.UAdd):
                return self.convert(node.operand)
            if isinstance(node.op, ast.Not) and self.conditions:
                return Apply("not", (self.convert(node.operand),), self.text(node))
            raise fail(f"the operator in {seg(node)} is not allowed")
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                p = _literal_number(node.right, self.where)
                if p is None:
                    raise fail(
                        f"** needs a numeric literal exponent, found {seg(node.right)}",
                        node.right,
                    )
                return Apply("pow", (self.convert(node.left),), self.text(node), (("p", p),))
            opname = _BINOPS.get(type(node.op))
            if opname is None:
                raise fail(f"the operator in {seg(node)} is not allowed")
            return Apply(
                opname,
                (self.convert(node.left), self.convert(node.right)),
                self.text(node),
                pos=(node.lineno, node.col_offset),
            )
        if isinstance(node, ast.Call):
            return self.call(node, fail)
        if isinstance(node, ast.Subscript) and not self.conditions:
            return self.subscript(node, fail)
        if isinstance(node, ast.Attribute) and node.attr == "T":
            raise fail(
                f"attribute access is not allowed: {seg(node)}; for the transpose write"
                f" transpose({seg(node.value)})"
            )
        if self.conditions and isinstance(node, ast.Compare):
            text = self.texts.get(id(node), "")
            parts: list[Expr] = []
            left = self.convert(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                opname = _CMPOPS.get(type(op))
                if opname is None:
                    raise fail(f"the comparison in {seg(node)} is not allowed")
                right = self.convert(right_node)
                parts.append(Apply(opname, (left, right), text))
                left = right
            result = parts[0]
            for part in parts[1:]:  # a < b < c means (a < b) and (b < c)
                result = Apply("and", (result, part), text)
            return result
        if self.conditions and isinstance(node, ast.BoolOp):
            opname = "and" if isinstance(node.op, ast.And) else "or"
            values = [self.convert(v) for v in node.values]
            result = values[0]
            for v in values[1:]:
                result = Apply(opname, (result, v), self.text(node))
            return result
        raise fail(f"{_describe(node)} is not allowed: {seg(node)}")

    def call(self, node: ast.Call, fail: Callable[..., ExprError]) -> Expr:
        """A function call: a known name, its arguments, and a reduction's keywords."""
        seg = self.where.segment
        if not isinstance(node.func, ast.Name):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in self.functions:
                # counts.sum(1), as numpy and torch write it
                hint = "axis=…" if func.attr in REDUCTIONS and not self.conditions else "…"
                raise fail(
                    f"only calls of plain function names are allowed, found {seg(func)}(…);"
                    f" write {func.attr}({seg(func.value)}, {hint})"
                    if node.args
                    else f"only calls of plain function names are allowed, found {seg(func)}();"
                    f" write {func.attr}({seg(func.value)})"
                )
            raise fail(f"only calls of plain function names are allowed, found {seg(func)}")
        fname = node.func.id
        if fname not in self.functions:
            raise fail(f"unknown function {fname!r}; expected one of {', '.join(self.functions)}")
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
            kw.arg is None for kw in node.keywords
        ):
            raise fail(f"unpacking is not allowed: {seg(node)}")
        takes_keywords = fname in REDUCTIONS and not self.conditions
        arity = OPS[fname].arity if fname in OPS and not self.conditions else 1
        if len(node.args) != arity:
            if takes_keywords and len(node.args) == 2:
                second = node.args[1]
                if fname in ("max", "min"):
                    raise fail(
                        f"{fname}() reduces one argument (along axis=… if given); for the"
                        f" elementwise {'larger' if fname == 'max' else 'smaller'} of two"
                        f" write {fname}imum({seg(node.args[0])}, {seg(second)})",
                        second,
                    )
                literal = _literal_number(second, self.where)
                if literal is not None and float(literal).is_integer():
                    raise fail(
                        f"{fname}() takes the axis as a keyword: write"
                        f" {fname}({seg(node.args[0])}, axis={seg(second)})",
                        second,
                    )
            count = "exactly one argument" if arity == 1 else "exactly two arguments"
            raise fail(f"{fname}() takes {count}, found {len(node.args)}")
        attrs: list[tuple[str, float | int | bool]] = []
        for kw in node.keywords:
            if not takes_keywords:
                raise fail(f"{fname}() takes no keyword arguments", kw)
            if kw.arg == "axis":
                attrs.append(("axis", self.axis(kw.value, fail)))
            elif kw.arg == "keepdims":
                attrs.append(("keepdims", self.flag(kw.value, fail)))
            else:
                raise fail(
                    f"{fname}() takes the keywords axis and keepdims only, found {kw.arg}", kw
                )
        # keepdims=False is what no keyword means: one form, so the node runs the same way
        kept = tuple(sorted((k, v) for k, v in attrs if (k, v) != ("keepdims", False)))
        args = tuple(self.convert(a) for a in node.args)
        return Apply(fname, args, self.text(node), kept, (node.lineno, node.col_offset))

    def axis(self, value: ast.AST, fail: Callable[..., ExprError]) -> int:
        """An ``axis=`` value: an integer literal, possibly signed."""
        sign, inner = 1, value
        while isinstance(inner, ast.UnaryOp) and isinstance(inner.op, ast.USub | ast.UAdd):
            sign = -sign if isinstance(inner.op, ast.USub) else sign
            inner = inner.operand
        literal = inner.value if isinstance(inner, ast.Constant) else None
        if isinstance(literal, int) and not isinstance(literal, bool):
            if abs(literal) > 64:  # no value has that many axes
                raise fail(f"axis={sign * literal} is out of range", value)
            return sign * literal
        raise fail(
            f"axis must be an integer literal such as axis=0 or axis=-1,"
            f" found axis={self.where.segment(value)}",
            value,
        )

    def flag(self, value: ast.AST, fail: Callable[..., ExprError]) -> bool:
        """A ``keepdims=`` value: the literal True or False."""
        literal = value.value if isinstance(value, ast.Constant) else None
        if isinstance(literal, bool):
            return literal
        found = self.where.segment(value)
        hint = f" (Python's spelling, not {found})" if found in ("true", "false") else ""
        raise fail(f"keepdims must be True or False{hint}, found keepdims={found}", value)

    def subscript(self, node: ast.Subscript, fail: Callable[..., ExprError]) -> Expr:
        """``C[ix]`` (rows of C) or ``P[ix, jx]`` (elements), each index a plain name; that
        it names an input of whole numbers within range is checked with the graph."""
        seg = self.where.segment
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if len(elts) > 2:
            raise fail(
                f"at most two indices are allowed, C[ix] or P[ix, jx]; found {len(elts)} in"
                f" {seg(node)}",
                node.slice,
            )
        need = "an index must be the name of an input holding whole numbers"
        for e in elts:
            if isinstance(e, ast.Slice):
                raise fail(f"a slice is not allowed in {seg(node)}; {need}", e)
            if isinstance(e, ast.Constant) or (
                isinstance(e, ast.UnaryOp) and isinstance(e.operand, ast.Constant)
            ):
                raise fail(
                    f"a literal index is not allowed: {seg(e)}; {need} (add one to graph.inputs)",
                    e,
                )
            if not isinstance(e, ast.Name):
                raise fail(f"{need}, found {_describe_index(e)} {seg(e)}", e)
        value = self.convert(node.value)
        indices = tuple(Name(e.id, e.id) for e in elts if isinstance(e, ast.Name))
        op = "index" if len(indices) == 1 else "index2"
        return Apply(op, (value, *indices), self.text(node), (), (node.lineno, node.col_offset))


def _number(node: ast.Constant, where: _Source) -> float:
    """A numeric literal as float64; anything else (or an integer too large) refused."""
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExprError(
            f"only numbers are allowed, found {where.segment(node)}", where.node_column(node)
        )
    try:
        return float(value)
    except OverflowError:
        # Only an integer overflows here (a float literal beyond range is already inf).
        digits = len(str(abs(value)))
        raise ExprError(
            f"the integer {str(value)[:12]}… ({digits:,} digits) is too large for float64,"
            " whose largest value is about 1.8e308",
            where.node_column(node),
        ) from None


def _literal_number(node: ast.AST, where: _Source) -> float | None:
    """The value of a numeric literal, possibly signed (``-2``), or None if it is not one.

    A sign on a sign (``--2``) is a chain as deep as the text is long, so it is walked by
    a loop; the tree's depth is bounded already, but this needs no bound at all.
    """
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        if isinstance(node.op, ast.USub):
            sign = -sign
        node = node.operand
    value = node.value if isinstance(node, ast.Constant) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        assert isinstance(node, ast.Constant)
        return sign * _number(node, where)
    return None


_DESCRIPTIONS: dict[type, str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "a subscript",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.Compare: "a comparison",
    ast.BoolOp: "a boolean operator",
    ast.IfExp: "a conditional expression",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.JoinedStr: "a string",
    ast.NamedExpr: "an assignment",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.Starred: "unpacking",
}


def _describe(node: ast.AST) -> str:
    return _DESCRIPTIONS.get(type(node), type(node).__name__)


def _describe_index(node: ast.AST) -> str:
    if isinstance(node, ast.BinOp | ast.UnaryOp | ast.Call):
        return "an expression"
    return _describe(node)


def names(expr: Expr) -> list[str]:
    """The names an expression reads, in order of first appearance."""
    seen: dict[str, None] = {}
    stack: list[Expr] = [expr]
    while stack:  # a loop, left to right: the order of first appearance in the text
        e = stack.pop()
        if isinstance(e, Name):
            seen.setdefault(e.id, None)
        elif isinstance(e, Apply):
            stack.extend(reversed(e.args))
    return list(seen)
