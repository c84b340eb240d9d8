"""What every part of the compiler shares: its error, the name rule, module constants, and
what a function compiler is given (the signatures and constants in scope, the constant table).

A module constant is a literal, an earlier constant, or int arithmetic on them, evaluated
at compile time; its value is copied into the code wherever it is used, so it is read-only.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Final, NoReturn, Protocol

from vm import opcodes as o
from vm.values import INT_LIMIT, INT_MIN, MAX_LEN

BINOPS: Final = {
    ast.Add: o.ADD,
    ast.Sub: o.SUB,
    ast.Mult: o.MUL,
    ast.FloorDiv: o.FLOORDIV,
    ast.Mod: o.MOD,
    ast.Pow: o.POW,
}
TYPE_NAMES: Final = {name: 1 << i for i, name in enumerate(o.TYPE_CODES) if name != "None"}
CMPOPS: Final = {
    ast.Eq: o.EQ,
    ast.NotEq: o.NE,
    ast.Lt: o.LT,
    ast.LtE: o.LE,
    ast.Gt: o.GT,
    ast.GtE: o.GE,
    ast.In: o.IN,
    ast.NotIn: o.NOT_IN,
}
DIV_HINT: Final = (
    "true division '/' is not allowed (it gives floats): use div_floor(a, b), "
    "div_round_half_up(a, b) or div_ceil(a, b)"
)


class CompileError(Exception):
    """Source outside the contract language; the message starts with 'line L, column C:'
    (preceded by 'module M: ' when the construct is in an imported module)."""


def error(node: ast.AST | None, message: str) -> NoReturn:
    line = getattr(node, "lineno", 0)
    col = getattr(node, "col_offset", -1) + 1
    raise CompileError(f"line {line}, column {col}: {message}")


def check_name(node: ast.AST, name: str) -> None:
    if name.startswith("__"):
        error(node, f"names starting with '__' are not allowed, found {name!r}")


def is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def literal(node: ast.expr, consts: dict[str, Any]) -> Any:
    """Evaluate a module constant: literals, earlier constants, int arithmetic on them."""
    if isinstance(node, ast.Constant):
        return constant_value(node)
    if isinstance(node, ast.Name):
        check_name(node, node.id)
        if node.id not in consts:
            error(node, f"a literal or an earlier constant expected, found name {node.id!r}")
        return consts[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = literal(node.operand, consts)
        if type(v) is not int:
            error(node, "unary minus on an int expected")
        return range_checked(node, -v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
        a = literal(node.left, consts)
        b = literal(node.right, consts)
        if type(a) is not int or type(b) is not int:
            error(node, "int arithmetic expected in a constant")
        if isinstance(node.op, ast.Pow) and not 0 <= b <= 255:
            error(node, f"exponent in [0, 255] expected, found {b}")
        if isinstance(node.op, ast.FloorDiv | ast.Mod) and b == 0:
            error(node, "non-zero divisor expected, found 0")
        return range_checked(node, _fold(node.op, a, b))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        error(node, DIV_HINT)
    if isinstance(node, ast.Tuple):
        return tuple(literal(e, consts) for e in node.elts)
    if isinstance(node, ast.List):
        return [literal(e, consts) for e in node.elts]
    if isinstance(node, ast.Dict):
        out: dict[Any, Any] = {}
        for k, v in zip(node.keys, node.values, strict=True):
            if k is None:
                error(v, "'**' in a dict display is not allowed")
            key = literal(k, consts)
            if type(key) not in (int, str, bytes):
                error(k, "dict key of type int, str or bytes expected")
            out[key] = literal(v, consts)
        return out
    error(node, f"a literal expected in a module constant, found {type(node).__name__}")


def _fold(op: ast.operator, a: int, b: int) -> int:
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    if isinstance(op, ast.Mult):
        return a * b
    if isinstance(op, ast.FloorDiv):
        return a // b
    if isinstance(op, ast.Mod):
        return a % b
    # Pow: refuse to compute a power that is certainly out of range.
    if abs(a) < 2 or (abs(a).bit_length() - 1) * b <= 256:
        return int(a**b)
    return INT_LIMIT


def constant_value(node: ast.Constant) -> Any:
    v = node.value
    if v is None or type(v) in (bool, str, bytes):
        if isinstance(v, str | bytes) and len(v) > MAX_LEN:
            error(node, f"str or bytes literal of at most {MAX_LEN} items expected")
        return v
    if type(v) is int:
        return range_checked(node, v)
    if type(v) is float:
        error(node, "float literals are not allowed: use integers (minor units, Wh, litres)")
    error(node, f"int, bool, str, bytes or None literal expected, found {type(v).__name__}")


def range_checked(node: ast.AST, v: int) -> int:
    if not INT_MIN <= v < INT_LIMIT:
        error(node, "int in [-2**255, 2**255) expected")
    return v


@dataclass(frozen=True, slots=True)
class FuncSig:
    """A function compiled into the contract: its index in the program and how to call it."""

    index: int
    name: str
    kind: str
    params: tuple[str, ...]
    defaults: tuple[Any, ...]  # literal values of the last parameters


class ConstantTable(Protocol):
    def const(self, value: Any) -> int:
        """The index of ``value`` in the program's constant table (added if new)."""
        ...


@dataclass(frozen=True, slots=True)
class Scope:
    """The names a function's module can see besides the function's locals."""

    consts: dict[str, Any]
    functions: dict[str, FuncSig]
