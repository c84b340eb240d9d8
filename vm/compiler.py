"""Compile a contract's source (docs/contract-language.md) to bytecode.

Python's ``ast`` parses the source; this module accepts only the documented subset and
rejects everything else with a ``CompileError`` naming the line and column (1-based) of the
offending construct. Compilation is a pure function of the source text: no dict or set
whose order depends on hashing decides anything, so the same source always gives the same
bytes.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

from chain.hashing import Domain, Hash32, hash_domain
from vm import opcodes as o
from vm.builtins import BUILTINS, METHODS
from vm.bytecode import (
    MAX_CODE_SIZE,
    MAX_PARAMS,
    FunctionCode,
    FunctionInfo,
    InvalidBytecode,
    encode_program,
    verify_code,
)
from vm.values import INT_LIMIT, INT_MIN, MAX_LEN

__all__ = ["CompileError", "CompiledContract", "FunctionInfo", "compile_source"]

DECORATORS: Final = ("public", "view")
TYPE_NAMES: Final = {name: 1 << i for i, name in enumerate(o.TYPE_CODES) if name != "None"}
_BINOPS: Final = {
    ast.Add: o.ADD,
    ast.Sub: o.SUB,
    ast.Mult: o.MUL,
    ast.FloorDiv: o.FLOORDIV,
    ast.Mod: o.MOD,
    ast.Pow: o.POW,
}
_CMPOPS: Final = {
    ast.Eq: o.EQ,
    ast.NotEq: o.NE,
    ast.Lt: o.LT,
    ast.LtE: o.LE,
    ast.Gt: o.GT,
    ast.GtE: o.GE,
    ast.In: o.IN,
    ast.NotIn: o.NOT_IN,
}
_DIV_HINT: Final = (
    "true division '/' is not allowed (it gives floats): use div_floor(a, b), "
    "div_round_half_up(a, b) or div_ceil(a, b)"
)


class CompileError(Exception):
    """Source outside the contract language; the message starts with 'line L, column C:'."""


@dataclass(frozen=True, slots=True)
class CompiledContract:
    code: bytes
    source_hash: bytes
    code_hash: bytes
    functions: tuple[FunctionInfo, ...]  # the entry points (public and view)


def _error(node: ast.AST | None, message: str) -> NoReturn:
    line = getattr(node, "lineno", 0)
    col = getattr(node, "col_offset", -1) + 1
    raise CompileError(f"line {line}, column {col}: {message}")


def _check_name(node: ast.AST, name: str) -> None:
    if name.startswith("__"):
        _error(node, f"names starting with '__' are not allowed, found {name!r}")


# --- module-level constants --------------------------------------------------------------


def _literal(node: ast.expr, consts: dict[str, Any]) -> Any:
    """Evaluate a module constant: literals, earlier constants, int arithmetic on them."""
    if isinstance(node, ast.Constant):
        return _constant_value(node)
    if isinstance(node, ast.Name):
        _check_name(node, node.id)
        if node.id not in consts:
            _error(node, f"a literal or an earlier constant expected, found name {node.id!r}")
        return consts[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _literal(node.operand, consts)
        if type(v) is not int:
            _error(node, "unary minus on an int expected")
        return _range_checked(node, -v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a = _literal(node.left, consts)
        b = _literal(node.right, consts)
        if type(a) is not int or type(b) is not int:
            _error(node, "int arithmetic expected in a constant")
        if isinstance(node.op, ast.Pow) and not 0 <= b <= 255:
            _error(node, f"exponent in [0, 255] expected, found {b}")
        if isinstance(node.op, ast.FloorDiv | ast.Mod) and b == 0:
            _error(node, "non-zero divisor expected, found 0")
        return _range_checked(node, _fold(node.op, a, b))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        _error(node, _DIV_HINT)
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e, consts) for e in node.elts)
    if isinstance(node, ast.List):
        return [_literal(e, consts) for e in node.elts]
    if isinstance(node, ast.Dict):
        out: dict[Any, Any] = {}
        for k, v in zip(node.keys, node.values, strict=True):
            if k is None:
                _error(v, "'**' in a dict display is not allowed")
            key = _literal(k, consts)
            if type(key) not in (int, str, bytes):
                _error(k, "dict key of type int, str or bytes expected")
            out[key] = _literal(v, consts)
        return out
    _error(node, f"a literal expected in a module constant, found {type(node).__name__}")


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


def _constant_value(node: ast.Constant) -> Any:
    v = node.value
    if v is None or type(v) in (bool, str, bytes):
        if isinstance(v, str | bytes) and len(v) > MAX_LEN:
            _error(node, f"str or bytes literal of at most {MAX_LEN} items expected")
        return v
    if type(v) is int:
        return _range_checked(node, v)
    if type(v) is float:
        _error(node, "float literals are not allowed: use integers (minor units, Wh, litres)")
    _error(node, f"int, bool, str, bytes or None literal expected, found {type(v).__name__}")


def _range_checked(node: ast.AST, v: int) -> int:
    if not INT_MIN <= v < INT_LIMIT:
        _error(node, "int in [-2**255, 2**255) expected")
    return v


# --- function compiler -------------------------------------------------------------------


@dataclass(slots=True)
class _Label:
    pos: int = -1
    refs: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _FuncSig:
    index: int
    name: str
    kind: str
    params: tuple[str, ...]
    defaults: tuple[Any, ...]  # literal values of the last parameters


@dataclass(slots=True)
class _Loop:
    brk: _Label
    cont: _Label
    is_for: bool


class _ModuleCompiler:
    def __init__(self) -> None:
        self.constants: list[Any] = []
        self.const_index: dict[tuple[str, Any], int] = {}
        self.module_consts: dict[str, Any] = {}
        self.functions: dict[str, _FuncSig] = {}

    def const(self, value: Any) -> int:
        key = (type(value).__name__, value)
        idx = self.const_index.get(key)
        if idx is None:
            idx = len(self.constants)
            if idx > 0xFFFF:
                raise CompileError("line 0, column 0: at most 65536 distinct constants expected")
            self.constants.append(value)
            self.const_index[key] = idx
        return idx

    def compile(self, tree: ast.Module) -> list[FunctionCode]:
        defs: list[ast.FunctionDef] = []
        for i, stmt in enumerate(tree.body):
            if i == 0 and _is_docstring(stmt):
                continue
            if isinstance(stmt, ast.FunctionDef):
                defs.append(stmt)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign):
                self._module_constant(stmt)
            elif isinstance(stmt, ast.Import | ast.ImportFrom):
                _error(stmt, "imports are not allowed")
            elif isinstance(stmt, ast.ClassDef):
                _error(stmt, "classes are not allowed")
            elif isinstance(stmt, ast.AsyncFunctionDef):
                _error(stmt, "async functions are not allowed")
            else:
                _error(stmt, f"only constants and functions expected at module level, found {type(stmt).__name__}")
        if not defs:
            raise CompileError("line 1, column 1: at least one function expected")
        for d in defs:
            self._declare(d)
        return [_FunctionCompiler(self, self.functions[d.name], d).compile() for d in defs]

    def _module_constant(self, stmt: ast.Assign | ast.AnnAssign) -> None:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if len(targets) != 1 or not isinstance(targets[0], ast.Name) or stmt.value is None:
            _error(stmt, "a module constant 'NAME = literal' expected")
        name = targets[0].id
        _check_name(targets[0], name)
        if name in self.module_consts or name in BUILTINS or name in DECORATORS:
            _error(stmt, f"a new name expected, found {name!r} defined already")
        self.module_consts[name] = _literal(stmt.value, self.module_consts)

    def _declare(self, d: ast.FunctionDef) -> None:
        _check_name(d, d.name)
        if d.name in self.functions or d.name in self.module_consts or d.name in BUILTINS:
            _error(d, f"a new function name expected, found {d.name!r} defined already or a builtin")
        kind = "private"
        if len(d.decorator_list) > 1:
            _error(d.decorator_list[1], "at most one decorator (@public or @view) expected")
        for dec in d.decorator_list:
            if not isinstance(dec, ast.Name) or dec.id not in DECORATORS:
                _error(dec, "decorators other than @public and @view are not allowed")
            kind = dec.id
        a = d.args
        if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
            _error(d, "only plain parameters expected (no *args, **kwargs, keyword-only, '/')")
        if len(a.args) > MAX_PARAMS:
            _error(d, f"at most {MAX_PARAMS} parameters expected")
        if getattr(d, "type_params", None):
            _error(d, "type parameters are not allowed")
        params = []
        for arg in a.args:
            _check_name(arg, arg.arg)
            if arg.arg in params:
                _error(arg, f"duplicate parameter {arg.arg!r}")
            if arg.arg in self.module_consts:
                _error(arg, f"parameter name {arg.arg!r} shadows a module constant")
            params.append(arg.arg)
        defaults = []
        for dv in a.defaults:
            if not isinstance(dv, ast.Constant):
                _error(dv, "a literal default value (int, bool, str, bytes, None) expected")
            defaults.append(_constant_value(dv))
        self.functions[d.name] = _FuncSig(len(self.functions), d.name, kind, tuple(params), tuple(defaults))


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


class _FunctionCompiler:
    def __init__(self, module: _ModuleCompiler, sig: _FuncSig, node: ast.FunctionDef) -> None:
        self.m = module
        self.sig = sig
        self.node = node
        self.code: list[list[int]] = []
        self.lines: list[int] = []
        self.line = node.lineno
        self.locals: dict[str, int] = {p: i for i, p in enumerate(sig.params)}
        self.loops: list[_Loop] = []
        self.ntemps = 0
        self.labels: list[_Label] = []

    # emitting

    def emit(self, op: int, arg: int = 0) -> int:
        if not 0 <= arg <= 0xFFFF:
            _error(self.node, "function too large: an instruction argument above 65535")
        self.code.append([op, arg])
        self.lines.append(self.line)
        return len(self.code) - 1

    def jump(self, op: int, label: _Label) -> None:
        if not label.refs:
            self.labels.append(label)
        label.refs.append(self.emit(op, 0))

    def place(self, label: _Label) -> None:
        label.pos = len(self.code)

    def temp(self) -> int:
        self.ntemps += 1
        return self._slot(f"$t{self.ntemps}")

    def _slot(self, name: str) -> int:
        if name not in self.locals:
            self.locals[name] = len(self.locals)
        return self.locals[name]

    def compile(self) -> FunctionCode:
        self._collect_locals(self.node.body)
        body = self.node.body
        if body and _is_docstring(body[0]):
            body = body[1:]
        for stmt in body:
            self.stmt(stmt)
        self.line = getattr(self.node, "end_lineno", None) or self.node.lineno
        self.emit(o.LOAD_CONST, self.m.const(None))
        self.emit(o.RETURN)
        if len(self.code) > 0xFFFF:
            _error(self.node, "function too large: at most 65535 instructions expected")
        for label in self.labels:
            for ref in label.refs:
                self.code[ref][1] = label.pos
        code = bytearray()
        for op, arg in self.code:
            code += bytes((op, arg & 0xFF, arg >> 8))
        lines: list[int] = []
        last = -1
        for i, line in enumerate(self.lines):
            if line != last:
                lines += [i, line]
                last = line
        defaults = tuple(self.m.const(v) for v in self.sig.defaults)
        return FunctionCode(
            self.sig.name,
            self.sig.kind,
            self.sig.params,
            defaults,
            tuple(self.locals)[len(self.sig.params) :],
            bytes(code),
            tuple(lines),
        )

    def _collect_locals(self, body: list[ast.stmt]) -> None:
        """Every name assigned anywhere in the function is a local (as in Python)."""
        for node in ast.walk(ast.Module(body=body, type_ignores=[])):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AugAssign | ast.AnnAssign | ast.For):
                targets = [node.target]
            for t in targets:
                self._declare_target(t)

    def _declare_target(self, t: ast.expr) -> None:
        # Only names bound by the assignment: in ``x[key(m)] = v`` neither ``x`` nor ``key``
        # becomes a local.
        if isinstance(t, ast.Name):
            self._declare_local(t)
        elif isinstance(t, ast.Tuple | ast.List):
            for e in t.elts:
                self._declare_target(e)
        elif isinstance(t, ast.Starred):
            self._declare_target(t.value)

    def _declare_local(self, n: ast.Name) -> None:
        _check_name(n, n.id)
        if n.id in self.m.module_consts:
            _error(n, f"module constant {n.id!r} is read-only")
        self._slot(n.id)

    # statements

    def stmt(self, s: ast.stmt) -> None:
        self.line = s.lineno
        if isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
                return  # a docstring-like comment
            self.expr(s.value)
            self.emit(o.POP)
        elif isinstance(s, ast.Assign):
            self.expr(s.value)
            for i, t in enumerate(s.targets):
                if i < len(s.targets) - 1:
                    self.emit(o.DUP)
                self.store(t)
        elif isinstance(s, ast.AnnAssign):
            if s.value is None:
                _error(s, "an annotated name needs a value ('x: int = 0')")
            self.expr(s.value)
            self.store(s.target)
        elif isinstance(s, ast.AugAssign):
            self.aug_assign(s)
        elif isinstance(s, ast.If):
            self.if_stmt(s)
        elif isinstance(s, ast.While):
            self.while_stmt(s)
        elif isinstance(s, ast.For):
            self.for_stmt(s)
        elif isinstance(s, ast.Break | ast.Continue):
            if not self.loops:
                _error(s, f"'{'break' if isinstance(s, ast.Break) else 'continue'}' outside a loop")
            loop = self.loops[-1]
            if isinstance(s, ast.Break):
                if loop.is_for:
                    self.emit(o.POP)  # the loop's iterator
                self.jump(o.JUMP, loop.brk)
            else:
                self.jump(o.JUMP, loop.cont)
        elif isinstance(s, ast.Return):
            if s.value is None:
                self.emit(o.LOAD_CONST, self.m.const(None))
            else:
                self.expr(s.value)
            self.emit(o.RETURN)
        elif isinstance(s, ast.Pass):
            pass
        elif isinstance(s, ast.Delete):
            for t in s.targets:
                if not isinstance(t, ast.Subscript) or isinstance(t.slice, ast.Slice):
                    _error(t, "only 'del x[k]' (a list index or dict key) is allowed")
                self.expr(t.value)
                self.expr(t.slice)
                self.emit(o.DELETE_SUBSCR)
        elif isinstance(s, ast.Assert):
            _error(s, "assert is not allowed: use require(cond, message)")
        elif isinstance(s, ast.Raise):
            _error(s, "raise is not allowed: use revert(message)")
        elif isinstance(s, ast.Try | ast.TryStar):
            _error(s, "try/except is not allowed: a failure reverts the transaction")
        elif isinstance(s, ast.With | ast.AsyncWith):
            _error(s, "with is not allowed")
        elif isinstance(s, ast.Global | ast.Nonlocal):
            _error(s, "global/nonlocal are not allowed")
        elif isinstance(s, ast.Import | ast.ImportFrom):
            _error(s, "imports are not allowed")
        elif isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef):
            _error(s, "nested functions are not allowed")
        elif isinstance(s, ast.ClassDef):
            _error(s, "classes are not allowed")
        else:
            _error(s, f"statement {type(s).__name__} is not allowed")

    def store(self, t: ast.expr) -> None:
        if isinstance(t, ast.Name):
            self._declare_local(t)
            self.emit(o.STORE_LOCAL, self.locals[t.id])
        elif isinstance(t, ast.Subscript):
            if isinstance(t.slice, ast.Slice):
                _error(t, "assignment to a slice is not allowed")
            self.expr(t.value)
            self.expr(t.slice)
            self.emit(o.STORE_SUBSCR)
        elif isinstance(t, ast.Tuple | ast.List):
            for e in t.elts:
                if isinstance(e, ast.Starred):
                    _error(e, "starred assignment is not allowed")
            self.emit(o.UNPACK, len(t.elts))
            for e in t.elts:
                self.store(e)
        elif isinstance(t, ast.Attribute):
            _error(t, "assignment to an attribute is not allowed")
        else:
            _error(t, f"cannot assign to {type(t).__name__}")

    def aug_assign(self, s: ast.AugAssign) -> None:
        if isinstance(s.op, ast.Div):
            _error(s, _DIV_HINT)
        op = _BINOPS.get(type(s.op))
        if op is None:
            _error(s, f"operator {type(s.op).__name__} is not allowed")
        t = s.target
        if isinstance(t, ast.Name):
            self._declare_local(t)
            self.load_name(t)
            self.expr(s.value)
            self.emit(op)
            self.emit(o.STORE_LOCAL, self.locals[t.id])
        elif isinstance(t, ast.Subscript) and not isinstance(t.slice, ast.Slice):
            self.expr(t.value)
            self.expr(t.slice)
            self.emit(o.DUP2)
            self.emit(o.SUBSCR)
            self.expr(s.value)
            self.emit(op)
            self.emit(o.ROT3)
            self.emit(o.STORE_SUBSCR)
        else:
            _error(t, "augmented assignment to a name or x[k] expected")

    def if_stmt(self, s: ast.If) -> None:
        else_label, end = _Label(), _Label()
        self.expr(s.test)
        self.jump(o.JUMP_IF_FALSE, else_label)
        for b in s.body:
            self.stmt(b)
        if s.orelse:
            self.jump(o.JUMP, end)
        self.place(else_label)
        for b in s.orelse:
            self.stmt(b)
        self.place(end)

    def while_stmt(self, s: ast.While) -> None:
        if s.orelse:
            _error(s, "while ... else is not allowed")
        top, end = _Label(), _Label()
        self.place(top)
        self.line = s.lineno
        self.expr(s.test)
        self.jump(o.JUMP_IF_FALSE, end)
        self.loops.append(_Loop(end, top, False))
        for b in s.body:
            self.stmt(b)
        self.loops.pop()
        self.line = s.lineno
        self.jump(o.JUMP, top)
        self.place(end)

    def for_stmt(self, s: ast.For) -> None:
        if s.orelse:
            _error(s, "for ... else is not allowed")
        it = s.iter
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
            if it.keywords or not 1 <= len(it.args) <= 3:
                _error(it, "range(stop) or range(start, stop[, step]) expected")
            for a in it.args:
                self.expr(a)
            self.line = s.lineno
            self.emit(o.RANGE_ITER, len(it.args))
        else:
            self.expr(it)
            self.line = s.lineno
            self.emit(o.GET_ITER)
        top, end = _Label(), _Label()
        self.place(top)
        self.jump(o.FOR_ITER, end)
        self.store(s.target)
        self.loops.append(_Loop(end, top, True))
        for b in s.body:
            self.stmt(b)
        self.loops.pop()
        self.line = s.lineno
        self.jump(o.JUMP, top)
        self.place(end)

    # expressions

    def expr(self, e: ast.expr) -> None:
        self.line = getattr(e, "lineno", self.line)
        if isinstance(e, ast.Constant):
            self.emit(o.LOAD_CONST, self.m.const(_constant_value(e)))
        elif isinstance(e, ast.Name):
            self.load_name(e)
        elif isinstance(e, ast.BinOp):
            if isinstance(e.op, ast.Div):
                _error(e, _DIV_HINT)
            op = _BINOPS.get(type(e.op))
            if op is None:
                _error(e, f"operator {type(e.op).__name__} is not allowed")
            self.expr(e.left)
            self.expr(e.right)
            self.line = e.lineno
            self.emit(op)
        elif isinstance(e, ast.UnaryOp):
            self.expr(e.operand)
            if isinstance(e.op, ast.USub):
                self.emit(o.NEG)
            elif isinstance(e.op, ast.UAdd):
                self.emit(o.POS)
            elif isinstance(e.op, ast.Not):
                self.emit(o.NOT)
            else:
                _error(e, "bitwise '~' is not allowed")
        elif isinstance(e, ast.BoolOp):
            end = _Label()
            op = o.JUMP_IF_FALSE_OR_POP if isinstance(e.op, ast.And) else o.JUMP_IF_TRUE_OR_POP
            for i, v in enumerate(e.values):
                self.expr(v)
                if i < len(e.values) - 1:
                    self.jump(op, end)
            self.place(end)
        elif isinstance(e, ast.Compare):
            self.compare(e)
        elif isinstance(e, ast.IfExp):
            other, end = _Label(), _Label()
            self.expr(e.test)
            self.jump(o.JUMP_IF_FALSE, other)
            self.expr(e.body)
            self.jump(o.JUMP, end)
            self.place(other)
            self.expr(e.orelse)
            self.place(end)
        elif isinstance(e, ast.Call):
            self.call(e)
        elif isinstance(e, ast.Subscript):
            self.expr(e.value)
            if isinstance(e.slice, ast.Slice):
                sl = e.slice
                if sl.step is not None:
                    _error(sl, "slices with a step are not allowed")
                flags = 0
                if sl.lower is not None:
                    self.expr(sl.lower)
                    flags |= 1
                if sl.upper is not None:
                    self.expr(sl.upper)
                    flags |= 2
                self.emit(o.SLICE, flags)
            else:
                self.expr(e.slice)
                self.emit(o.SUBSCR)
        elif isinstance(e, ast.List | ast.Tuple):
            if len(e.elts) > 0xFFFF:
                _error(e, "display too large")
            for v in e.elts:
                if isinstance(v, ast.Starred):
                    _error(v, "star-unpacking is not allowed")
                self.expr(v)
            self.emit(o.BUILD_LIST if isinstance(e, ast.List) else o.BUILD_TUPLE, len(e.elts))
        elif isinstance(e, ast.Dict):
            for k, v in zip(e.keys, e.values, strict=True):
                if k is None:
                    _error(v, "'**' in a dict display is not allowed")
                self.expr(k)
                self.expr(v)
            self.emit(o.BUILD_DICT, len(e.keys))
        elif isinstance(e, ast.JoinedStr):
            for part in e.values:
                if isinstance(part, ast.Constant):
                    self.emit(o.LOAD_CONST, self.m.const(_constant_value(part)))
                elif isinstance(part, ast.FormattedValue):
                    if part.conversion != -1 or part.format_spec is not None:
                        _error(part, "f-string conversions and format specs are not allowed")
                    self.expr(part.value)
                    self.emit(o.FORMAT_VALUE)
                else:
                    _error(part, "plain f-string expected")
            self.emit(o.BUILD_STRING, len(e.values))
        elif isinstance(e, ast.Attribute):
            _check_name(e, e.attr)
            _error(e, f"attribute access is not allowed (only method calls), found .{e.attr}")
        elif isinstance(e, ast.Lambda):
            _error(e, "lambdas are not allowed")
        elif isinstance(e, ast.ListComp | ast.DictComp | ast.SetComp | ast.GeneratorExp):
            _error(e, "comprehensions are not allowed: use a for loop")
        elif isinstance(e, ast.Set):
            _error(e, "sets are not allowed (their order depends on hashing)")
        elif isinstance(e, ast.Yield | ast.YieldFrom | ast.Await):
            _error(e, "generators and async are not allowed")
        elif isinstance(e, ast.NamedExpr):
            _error(e, "':=' is not allowed")
        else:
            _error(e, f"expression {type(e).__name__} is not allowed")

    def load_name(self, e: ast.Name) -> None:
        _check_name(e, e.id)
        if e.id in self.locals:
            self.emit(o.LOAD_LOCAL, self.locals[e.id])
        elif e.id in self.m.module_consts:
            self.load_literal(self.m.module_consts[e.id])
        elif e.id in self.m.functions or e.id in BUILTINS:
            _error(e, f"{e.id!r} is a function: functions can only be called")
        else:
            _error(e, f"name {e.id!r} is not defined")

    def load_literal(self, v: Any) -> None:
        """A module constant: scalars from the constant table, containers built afresh (so
        a caller mutating its copy can never change the constant)."""
        if isinstance(v, tuple | list):
            for x in v:
                self.load_literal(x)
            self.emit(o.BUILD_TUPLE if isinstance(v, tuple) else o.BUILD_LIST, len(v))
        elif isinstance(v, dict):
            for k, x in v.items():
                self.load_literal(k)
                self.load_literal(x)
            self.emit(o.BUILD_DICT, len(v))
        else:
            self.emit(o.LOAD_CONST, self.m.const(v))

    def compare(self, e: ast.Compare) -> None:
        if len(e.ops) == 1 and isinstance(e.ops[0], ast.Is | ast.IsNot):
            right = e.comparators[0]
            left = e.left
            if isinstance(left, ast.Constant) and left.value is None:
                left, right = right, left
            if not (isinstance(right, ast.Constant) and right.value is None):
                _error(e, "'is' and 'is not' are allowed only with None")
            self.expr(left)
            self.emit(o.IS_NONE if isinstance(e.ops[0], ast.Is) else o.IS_NOT_NONE)
            return
        end = _Label()
        self.expr(e.left)
        n = len(e.ops)
        tmp = self.temp() if n > 1 else -1
        for i, (op_node, right) in enumerate(zip(e.ops, e.comparators, strict=True)):
            op = _CMPOPS.get(type(op_node))
            if op is None:
                _error(e, "'is' is allowed only alone, as 'x is None' or 'x is not None'")
            self.expr(right)
            if i < n - 1:
                self.emit(o.DUP)
                self.emit(o.STORE_LOCAL, tmp)
            self.line = e.lineno
            self.emit(op)
            if i < n - 1:
                self.jump(o.JUMP_IF_FALSE_OR_POP, end)
                self.emit(o.LOAD_LOCAL, tmp)
        self.place(end)

    def call(self, e: ast.Call) -> None:
        f = e.func
        for a in e.args:
            if isinstance(a, ast.Starred):
                _error(a, "star-args are not allowed")
        for kw in e.keywords:
            if kw.arg is None:
                _error(kw.value, "'**' arguments are not allowed")
            _check_name(kw, kw.arg)
        if isinstance(f, ast.Attribute):
            self.method_call(e, f)
            return
        if not isinstance(f, ast.Name):
            _error(e, "only calls of named functions and methods are allowed")
        name = f.id
        _check_name(f, name)
        if name in self.locals or name in self.m.module_consts:
            _error(f, f"{name!r} is not a function")
        if name in self.m.functions:
            sig = self.m.functions[name]
            self.arguments(e, name, sig.params, sig.defaults)
            self.line = e.lineno
            self.emit(o.CALL, sig.index)
        elif name == "isinstance":
            self.isinstance_call(e)
        elif name == "range":
            _error(e, "range() is allowed only as the iterable of a for loop")
        elif name in BUILTINS:
            b = BUILTINS[name]
            if b.variadic:
                if e.keywords or not e.args:
                    _error(e, f"{name}() takes one or more positional arguments")
                if len(e.args) > 255:
                    _error(e, f"at most 255 arguments expected in {name}()")
                for a in e.args:
                    self.expr(a)
                argc = len(e.args)
            else:
                self.arguments(e, name, b.params, b.defaults)
                argc = len(b.params)
            self.line = e.lineno
            self.emit(o.CALL_BUILTIN, (b.id << 8) | argc)
        elif name in ("eval", "exec", "open", "getattr", "setattr", "compile", "__import__", "globals"):
            _error(f, f"{name}() is not allowed")
        else:
            _error(f, f"name {name!r} is not defined (not a function of this contract or a builtin)")

    def arguments(self, e: ast.Call, name: str, params: tuple[str, ...], defaults: tuple[Any, ...]) -> None:
        """Push the arguments in parameter order, resolving keywords and filling defaults."""
        if len(e.args) > len(params):
            _error(e, f"at most {len(params)} arguments expected in {name}(), found {len(e.args)}")
        given: list[ast.expr | None] = [*e.args, *([None] * (len(params) - len(e.args)))]
        for kw in e.keywords:
            assert kw.arg is not None
            if kw.arg not in params:
                _error(kw.value, f"{name}() has no parameter {kw.arg!r}")
            i = params.index(kw.arg)
            if given[i] is not None:
                _error(kw.value, f"{name}() got parameter {kw.arg!r} twice")
            given[i] = kw.value
        first_default = len(params) - len(defaults)
        for i, arg in enumerate(given):
            if arg is not None:
                self.expr(arg)
            elif i >= first_default:
                self.emit(o.LOAD_CONST, self.m.const(defaults[i - first_default]))
            else:
                _error(e, f"argument {params[i]!r} missing in {name}()")

    def isinstance_call(self, e: ast.Call) -> None:
        if e.keywords or len(e.args) != 2:
            _error(e, "isinstance(x, T) expected")
        t = e.args[1]
        names = t.elts if isinstance(t, ast.Tuple) else [t]
        mask = 0
        for n in names:
            if not isinstance(n, ast.Name) or n.id not in TYPE_NAMES:
                _error(n, f"a type among {', '.join(TYPE_NAMES)} expected in isinstance()")
            mask |= TYPE_NAMES[n.id]
        self.expr(e.args[0])
        self.emit(o.ISINSTANCE, mask)

    def method_call(self, e: ast.Call, f: ast.Attribute) -> None:
        _check_name(f, f.attr)
        if f.attr not in METHODS:
            _error(f, f"method .{f.attr}() is not allowed (allowed: {', '.join(METHODS)})")
        if e.keywords:
            _error(e.keywords[0].value, "keyword arguments to methods are not allowed")
        mid, lo, hi = METHODS[f.attr]
        if not lo <= len(e.args) <= hi:
            _error(e, f"{lo} to {hi} arguments expected in .{f.attr}(), found {len(e.args)}")
        self.expr(f.value)
        for a in e.args:
            self.expr(a)
        self.line = e.lineno
        self.emit(o.CALL_METHOD, (mid << 8) | len(e.args))


def compile_source(source: str, name: str = "<contract>") -> CompiledContract:
    """Compile a contract; raise ``CompileError`` ('line L, column C: ...') for anything
    outside the contract language."""
    try:
        with warnings.catch_warnings():
            # Python's own SyntaxWarnings (e.g. '1if') vary by version; they decide nothing.
            warnings.simplefilter("ignore")
            tree = ast.parse(source, filename=name)
    except SyntaxError as exc:
        raise CompileError(f"line {exc.lineno or 0}, column {exc.offset or 0}: invalid syntax: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise CompileError(f"line 0, column 0: source not parseable: {type(exc).__name__}") from None
    module = _ModuleCompiler()
    try:
        functions = module.compile(tree)
    except RecursionError:
        raise CompileError("line 0, column 0: expressions nested too deeply") from None
    code = encode_program(module.constants, functions)
    if len(code) > MAX_CODE_SIZE:
        raise CompileError(f"line 0, column 0: bytecode of at most {MAX_CODE_SIZE} bytes expected, found {len(code)}")
    try:
        verify_code(code)  # the compiler's own output must pass the verifier every node runs
    except InvalidBytecode as exc:
        raise CompileError(f"line 0, column 0: internal compiler error: {exc}") from None
    return CompiledContract(
        code=code,
        source_hash=hash_domain(Domain.SOURCE, source.encode()),
        code_hash=hash_domain(Domain.CODE, code),
        functions=tuple(f.info for f in functions if f.kind != "private"),
    )


def source_hash(source: str) -> Hash32:
    return hash_domain(Domain.SOURCE, source.encode())
