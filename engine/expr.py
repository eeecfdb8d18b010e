"""The expression language of ``[graph]`` nodes, parsed with :mod:`ast` and never evaluated.

An expression is parsed by :func:`ast.parse` (which only builds a tree; it runs nothing)
and then checked against a whitelist. Anything outside it — attribute access, subscripts,
calls to names that are not in :data:`engine.ops.FUNCTIONS`, keyword arguments, lambdas,
comprehensions, strings — is refused with the column where it starts.

The result is a small tree of :class:`Name`, :class:`Const` and :class:`Apply`, which
:mod:`engine.build` turns into graph nodes. The same module serves conditions
(watchpoints), which also allow comparisons and boolean operators; see :func:`parse`.
"""

from __future__ import annotations

import ast

import msgspec

from .ops import FUNCTIONS


class ExprError(ValueError):
    """A refused expression. ``column`` is 1-based, or 0 when it is the whole text."""

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
    """An op applied to arguments. ``attrs`` holds literal parameters (``pow``'s ``p``)."""

    op: str
    args: tuple[Name | Const | Apply, ...]
    text: str
    """The sub-expression's source, normalised (``ast.unparse``), used as its label."""
    attrs: tuple[tuple[str, float], ...] = ()


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
"""Deepest nesting accepted, so that no expression can exhaust the stack."""


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
        ExprError: The text is not an expression of the language.
    """
    if not text.strip():
        raise ExprError("the expression is empty")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExprError(f"not a valid expression: {e.msg}", e.offset or 0) from None
    return _Converter(functions, conditions).convert(tree.body, 0)


class _Converter:
    def __init__(self, functions: tuple[str, ...], conditions: bool) -> None:
        self.functions = functions
        self.conditions = conditions

    def convert(self, node: ast.AST, depth: int) -> Expr:
        if depth > MAX_DEPTH:
            raise ExprError(f"nested deeper than {MAX_DEPTH} levels")
        col = getattr(node, "col_offset", -1) + 1
        text = ast.unparse(node)
        if isinstance(node, ast.Name):
            return Name(node.id, node.id)
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ExprError(f"only numbers are allowed, found {text}", col)
            try:
                return Const(float(value), text)
            except OverflowError:
                raise ExprError(f"the number {text[:20]}… is too large for float64", col) from None
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                if isinstance(node.operand, ast.Constant):
                    inner = self.convert(node.operand, depth + 1)
                    assert isinstance(inner, Const)
                    return Const(-inner.value, text)
                return Apply("neg", (self.convert(node.operand, depth + 1),), text)
            if isinstance(node.op, ast.UAdd):
                return self.convert(node.operand, depth + 1)
            if isinstance(node.op, ast.Not) and self.conditions:
                return Apply("not", (self.convert(node.operand, depth + 1),), text)
            raise ExprError(f"the operator in {text} is not allowed", col)
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                p = _literal_number(node.right)
                if p is None:
                    raise ExprError(
                        f"** needs a numeric literal exponent, found {ast.unparse(node.right)}",
                        node.right.col_offset + 1,
                    )
                return Apply("pow", (self.convert(node.left, depth + 1),), text, (("p", p),))
            opname = _BINOPS.get(type(node.op))
            if opname is None:
                raise ExprError(f"the operator in {text} is not allowed", col)
            return Apply(
                opname,
                (self.convert(node.left, depth + 1), self.convert(node.right, depth + 1)),
                text,
            )
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise ExprError(
                    f"only calls of plain function names are allowed, found {ast.unparse(node.func)}",
                    col,
                )
            fname = node.func.id
            if fname not in self.functions:
                raise ExprError(
                    f"unknown function '{fname}'; expected one of {', '.join(self.functions)}",
                    col,
                )
            if node.keywords:
                raise ExprError(f"{fname}() takes no keyword arguments", col)
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise ExprError(f"unpacking is not allowed: {text}", col)
            if len(node.args) != 1:
                raise ExprError(
                    f"{fname}() takes exactly one argument, found {len(node.args)}", col
                )
            return Apply(fname, (self.convert(node.args[0], depth + 1),), text)
        if self.conditions and isinstance(node, ast.Compare):
            parts: list[Expr] = []
            left = self.convert(node.left, depth + 1)
            for op, right_node in zip(node.ops, node.comparators):
                opname = _CMPOPS.get(type(op))
                if opname is None:
                    raise ExprError(f"the comparison in {text} is not allowed", col)
                right = self.convert(right_node, depth + 1)
                parts.append(Apply(opname, (left, right), text))
                left = right
            result = parts[0]
            for part in parts[1:]:  # a < b < c means (a < b) and (b < c)
                result = Apply("and", (result, part), text)
            return result
        if self.conditions and isinstance(node, ast.BoolOp):
            opname = "and" if isinstance(node.op, ast.And) else "or"
            values = [self.convert(v, depth + 1) for v in node.values]
            result = values[0]
            for v in values[1:]:
                result = Apply(opname, (result, v), text)
            return result
        raise ExprError(f"{_describe(node)} is not allowed: {text}", col)


def _literal_number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        if not isinstance(node.value, bool):
            return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _literal_number(node.operand)
        if inner is not None:
            return -inner if isinstance(node.op, ast.USub) else inner
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


def names(expr: Expr) -> list[str]:
    """The names an expression reads, in order of first appearance."""
    seen: dict[str, None] = {}

    def walk(e: Expr) -> None:
        if isinstance(e, Name):
            seen.setdefault(e.id, None)
        elif isinstance(e, Apply):
            for a in e.args:
                walk(a)

    walk(expr)
    return list(seen)
