"""Compile one function of a contract (statements and expressions) to bytecode.

Names resolve in the scope of the module the function is written in: its locals, then the
module's constants and functions (its own and those it imports), then the builtins.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Final

from vm import opcodes as o
from vm.builtins import BUILTINS, METHODS
from vm.bytecode import FunctionCode
from vm.compile_constants import (
    BINOPS,
    CMPOPS,
    DIV_HINT,
    TYPE_NAMES,
    ConstantTable,
    FuncSig,
    Scope,
    check_name,
    constant_value,
    error,
    is_docstring,
)

# Statements Python has and the language refuses, with what to write instead.
_REFUSED: Final[dict[type[ast.stmt], str]] = {
    ast.Assert: "assert is not allowed: use require(cond, message)",
    ast.Raise: "raise is not allowed: use revert(message)",
    ast.Try: "try/except is not allowed: a failure reverts the transaction",
    ast.TryStar: "try/except is not allowed: a failure reverts the transaction",
    ast.With: "with is not allowed",
    ast.AsyncWith: "with is not allowed",
    ast.Global: "global/nonlocal are not allowed",
    ast.Nonlocal: "global/nonlocal are not allowed",
    ast.Import: "imports are allowed only at module level",
    ast.ImportFrom: "imports are allowed only at module level",
    ast.FunctionDef: "nested functions are not allowed",
    ast.AsyncFunctionDef: "nested functions are not allowed",
    ast.ClassDef: "classes are not allowed",
}


@dataclass(slots=True)
class _Label:
    pos: int = -1
    refs: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Loop:
    brk: _Label
    cont: _Label
    is_for: bool


class FunctionCompiler:
    def __init__(self, table: ConstantTable, scope: Scope, sig: FuncSig, node: ast.FunctionDef) -> None:
        self.table = table
        self.scope = scope
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
            error(self.node, "function too large: an instruction argument above 65535")
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
        if body and is_docstring(body[0]):
            body = body[1:]
        for stmt in body:
            self.stmt(stmt)
        self.line = getattr(self.node, "end_lineno", None) or self.node.lineno
        self.emit(o.LOAD_CONST, self.table.const(None))
        self.emit(o.RETURN)
        if len(self.code) > 0xFFFF:
            error(self.node, "function too large: at most 65535 instructions expected")
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
        defaults = tuple(self.table.const(v) for v in self.sig.defaults)
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
        check_name(n, n.id)
        if n.id in self.scope.consts:
            error(n, f"module constant {n.id!r} is read-only")
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
                error(s, "an annotated name needs a value ('x: int = 0')")
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
                error(s, f"'{'break' if isinstance(s, ast.Break) else 'continue'}' outside a loop")
            loop = self.loops[-1]
            if isinstance(s, ast.Break):
                if loop.is_for:
                    self.emit(o.POP)  # the loop's iterator
                self.jump(o.JUMP, loop.brk)
            else:
                self.jump(o.JUMP, loop.cont)
        elif isinstance(s, ast.Return):
            if s.value is None:
                self.emit(o.LOAD_CONST, self.table.const(None))
            else:
                self.expr(s.value)
            self.emit(o.RETURN)
        elif isinstance(s, ast.Pass):
            pass
        elif isinstance(s, ast.Delete):
            for t in s.targets:
                if not isinstance(t, ast.Subscript) or isinstance(t.slice, ast.Slice):
                    error(t, "only 'del x[k]' (a list index or dict key) is allowed")
                self.expr(t.value)
                self.expr(t.slice)
                self.emit(o.DELETE_SUBSCR)
        else:
            error(s, _REFUSED.get(type(s), f"statement {type(s).__name__} is not allowed"))

    def store(self, t: ast.expr) -> None:
        if isinstance(t, ast.Name):
            self._declare_local(t)
            self.emit(o.STORE_LOCAL, self.locals[t.id])
        elif isinstance(t, ast.Subscript):
            if isinstance(t.slice, ast.Slice):
                error(t, "assignment to a slice is not allowed")
            self.expr(t.value)
            self.expr(t.slice)
            self.emit(o.STORE_SUBSCR)
        elif isinstance(t, ast.Tuple | ast.List):
            for e in t.elts:
                if isinstance(e, ast.Starred):
                    error(e, "starred assignment is not allowed")
            self.emit(o.UNPACK, len(t.elts))
            for e in t.elts:
                self.store(e)
        elif isinstance(t, ast.Attribute):
            error(t, "assignment to an attribute is not allowed")
        else:
            error(t, f"cannot assign to {type(t).__name__}")

    def aug_assign(self, s: ast.AugAssign) -> None:
        if isinstance(s.op, ast.Div):
            error(s, DIV_HINT)
        op = BINOPS.get(type(s.op))
        if op is None:
            error(s, f"operator {type(s.op).__name__} is not allowed")
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
            error(t, "augmented assignment to a name or x[k] expected")

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
            error(s, "while ... else is not allowed")
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
            error(s, "for ... else is not allowed")
        it = s.iter
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
            if it.keywords or not 1 <= len(it.args) <= 3:
                error(it, "range(stop) or range(start, stop[, step]) expected")
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
            self.emit(o.LOAD_CONST, self.table.const(constant_value(e)))
        elif isinstance(e, ast.Name):
            self.load_name(e)
        elif isinstance(e, ast.BinOp):
            if isinstance(e.op, ast.Div):
                error(e, DIV_HINT)
            op = BINOPS.get(type(e.op))
            if op is None:
                error(e, f"operator {type(e.op).__name__} is not allowed")
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
                error(e, "bitwise '~' is not allowed")
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
                    error(sl, "slices with a step are not allowed")
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
                error(e, "display too large")
            for v in e.elts:
                if isinstance(v, ast.Starred):
                    error(v, "star-unpacking is not allowed")
                self.expr(v)
            self.emit(o.BUILD_LIST if isinstance(e, ast.List) else o.BUILD_TUPLE, len(e.elts))
        elif isinstance(e, ast.Dict):
            for k, v in zip(e.keys, e.values, strict=True):
                if k is None:
                    error(v, "'**' in a dict display is not allowed")
                self.expr(k)
                self.expr(v)
            self.emit(o.BUILD_DICT, len(e.keys))
        elif isinstance(e, ast.JoinedStr):
            for part in e.values:
                if isinstance(part, ast.Constant):
                    self.emit(o.LOAD_CONST, self.table.const(constant_value(part)))
                elif isinstance(part, ast.FormattedValue):
                    if part.conversion != -1 or part.format_spec is not None:
                        error(part, "f-string conversions and format specs are not allowed")
                    self.expr(part.value)
                    self.emit(o.FORMAT_VALUE)
                else:
                    error(part, "plain f-string expected")
            self.emit(o.BUILD_STRING, len(e.values))
        elif isinstance(e, ast.Attribute):
            check_name(e, e.attr)
            error(e, f"attribute access is not allowed (only method calls), found .{e.attr}")
        elif isinstance(e, ast.Lambda):
            error(e, "lambdas are not allowed")
        elif isinstance(e, ast.ListComp | ast.DictComp | ast.SetComp | ast.GeneratorExp):
            error(e, "comprehensions are not allowed: use a for loop")
        elif isinstance(e, ast.Set):
            error(e, "sets are not allowed (their order depends on hashing)")
        elif isinstance(e, ast.Yield | ast.YieldFrom | ast.Await):
            error(e, "generators and async are not allowed")
        elif isinstance(e, ast.NamedExpr):
            error(e, "':=' is not allowed")
        else:
            error(e, f"expression {type(e).__name__} is not allowed")

    def load_name(self, e: ast.Name) -> None:
        check_name(e, e.id)
        if e.id in self.locals:
            self.emit(o.LOAD_LOCAL, self.locals[e.id])
        elif e.id in self.scope.consts:
            self.load_literal(self.scope.consts[e.id])
        elif e.id in self.scope.functions or e.id in BUILTINS:
            error(e, f"{e.id!r} is a function: functions can only be called")
        else:
            error(e, f"name {e.id!r} is not defined")

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
            self.emit(o.LOAD_CONST, self.table.const(v))

    def compare(self, e: ast.Compare) -> None:
        if len(e.ops) == 1 and isinstance(e.ops[0], ast.Is | ast.IsNot):
            right = e.comparators[0]
            left = e.left
            if isinstance(left, ast.Constant) and left.value is None:
                left, right = right, left
            if not (isinstance(right, ast.Constant) and right.value is None):
                error(e, "'is' and 'is not' are allowed only with None")
            self.expr(left)
            self.emit(o.IS_NONE if isinstance(e.ops[0], ast.Is) else o.IS_NOT_NONE)
            return
        end = _Label()
        self.expr(e.left)
        n = len(e.ops)
        tmp = self.temp() if n > 1 else -1
        for i, (op_node, right) in enumerate(zip(e.ops, e.comparators, strict=True)):
            op = CMPOPS.get(type(op_node))
            if op is None:
                error(e, "'is' is allowed only alone, as 'x is None' or 'x is not None'")
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
                error(a, "star-args are not allowed")
        for kw in e.keywords:
            if kw.arg is None:
                error(kw.value, "'**' arguments are not allowed")
            check_name(kw, kw.arg)
        if isinstance(f, ast.Attribute):
            self.method_call(e, f)
            return
        if not isinstance(f, ast.Name):
            error(e, "only calls of named functions and methods are allowed")
        name = f.id
        check_name(f, name)
        if name in self.locals or name in self.scope.consts:
            error(f, f"{name!r} is not a function")
        if name in self.scope.functions:
            sig = self.scope.functions[name]
            self.arguments(e, name, sig.params, sig.defaults)
            self.line = e.lineno
            self.emit(o.CALL, sig.index)
        elif name == "isinstance":
            self.isinstance_call(e)
        elif name == "range":
            error(e, "range() is allowed only as the iterable of a for loop")
        elif name in BUILTINS:
            b = BUILTINS[name]
            if b.variadic:
                if e.keywords or not e.args:
                    error(e, f"{name}() takes one or more positional arguments")
                if len(e.args) > 255:
                    error(e, f"at most 255 arguments expected in {name}()")
                for a in e.args:
                    self.expr(a)
                argc = len(e.args)
            else:
                self.arguments(e, name, b.params, b.defaults)
                argc = len(b.params)
            self.line = e.lineno
            self.emit(o.CALL_BUILTIN, (b.id << 8) | argc)
        elif name in ("eval", "exec", "open", "getattr", "setattr", "compile", "__import__", "globals"):
            error(f, f"{name}() is not allowed")
        else:
            error(f, f"name {name!r} is not defined (not a function of this module, an imported one or a builtin)")

    def arguments(self, e: ast.Call, name: str, params: tuple[str, ...], defaults: tuple[Any, ...]) -> None:
        """Push the arguments in parameter order, resolving keywords and filling defaults."""
        if len(e.args) > len(params):
            error(e, f"at most {len(params)} arguments expected in {name}(), found {len(e.args)}")
        given: list[ast.expr | None] = [*e.args, *([None] * (len(params) - len(e.args)))]
        for kw in e.keywords:
            assert kw.arg is not None
            if kw.arg not in params:
                error(kw.value, f"{name}() has no parameter {kw.arg!r}")
            i = params.index(kw.arg)
            if given[i] is not None:
                error(kw.value, f"{name}() got parameter {kw.arg!r} twice")
            given[i] = kw.value
        first_default = len(params) - len(defaults)
        for i, arg in enumerate(given):
            if arg is not None:
                self.expr(arg)
            elif i >= first_default:
                self.emit(o.LOAD_CONST, self.table.const(defaults[i - first_default]))
            else:
                error(e, f"argument {params[i]!r} missing in {name}()")

    def isinstance_call(self, e: ast.Call) -> None:
        if e.keywords or len(e.args) != 2:
            error(e, "isinstance(x, T) expected")
        t = e.args[1]
        names = t.elts if isinstance(t, ast.Tuple) else [t]
        mask = 0
        for n in names:
            if not isinstance(n, ast.Name) or n.id not in TYPE_NAMES:
                error(n, f"a type among {', '.join(TYPE_NAMES)} expected in isinstance()")
            mask |= TYPE_NAMES[n.id]
        self.expr(e.args[0])
        self.emit(o.ISINSTANCE, mask)

    def method_call(self, e: ast.Call, f: ast.Attribute) -> None:
        check_name(f, f.attr)
        if f.attr not in METHODS:
            error(f, f"method .{f.attr}() is not allowed (allowed: {', '.join(METHODS)})")
        if e.keywords:
            error(e.keywords[0].value, "keyword arguments to methods are not allowed")
        mid, lo, hi = METHODS[f.attr]
        if not lo <= len(e.args) <= hi:
            error(e, f"{lo} to {hi} arguments expected in .{f.attr}(), found {len(e.args)}")
        self.expr(f.value)
        for a in e.args:
            self.expr(a)
        self.line = e.lineno
        self.emit(o.CALL_METHOD, (mid << 8) | len(e.args))

