"""Compile-time imports: the modules a contract is built from (model: Vyper 0.4 modules).

A contract may write ``from billing.tariffs import price_share, MICRO`` at module level:
the named functions and constants of another contract module become visible in the
importing module, and the functions the contract reaches are compiled into its bytecode.
Nothing is linked at run time; the deployed code is self-contained. The compiler stays a
pure function: the caller hands it ``ModuleSources``, a function from a dotted module name
to that module's source text (the contracts package reads its own files; the CLI reads
files beside the contract), and the source hash covers every module loaded, so anyone with
the same files rebuilds the same code and the same hashes.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from vm.builtins import BUILTINS
from vm.bytecode import MAX_PARAMS
from vm.compile_constants import (
    CompileError,
    check_name,
    constant_value,
    error,
    is_docstring,
    literal,
)

ModuleSources = Callable[[str], str | None]  # dotted module name -> source, None: no such module
DECORATORS: Final = ("public", "view")
MAIN: Final = ""  # the module name of the contract's own file


@dataclass(frozen=True, slots=True)
class Declared:
    """A function as declared: where it is written and how it is called."""

    module: str
    node: ast.FunctionDef
    kind: str  # its decorator: public, view or private
    params: tuple[str, ...]
    defaults: tuple[Any, ...]


@dataclass(slots=True)
class Module:
    """One source file of a contract: its constants, its functions, what it imports."""

    name: str
    source: str
    consts: dict[str, Any] = field(default_factory=dict)
    defs: dict[str, Declared] = field(default_factory=dict)  # in source order
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (module, name)

    def resolve(self, name: str) -> tuple[str, str] | None:
        """The function a call of ``name`` in this module means, as (module, name)."""
        if name in self.defs:
            return (self.name, name)
        return self.imported.get(name)


def parse(source: str, filename: str) -> ast.Module:
    try:
        with warnings.catch_warnings():
            # Python's own SyntaxWarnings (e.g. '1if') vary by version; they decide nothing.
            warnings.simplefilter("ignore")
            return ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise CompileError(f"line {exc.lineno or 0}, column {exc.offset or 0}: invalid syntax: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise CompileError(f"line 0, column 0: source not parseable: {type(exc).__name__}") from None


def in_module(name: str, exc: CompileError) -> CompileError:
    """``exc`` located in module ``name`` (the contract's own file needs no prefix)."""
    message = str(exc)
    if name == MAIN or message.startswith("module "):
        return exc
    return CompileError(f"module {name}: {message}")


class ModuleLoader:
    """Loads the contract's file and, depth first, every module it imports (each once)."""

    def __init__(self, sources: ModuleSources | None) -> None:
        self.sources = sources
        self.modules: dict[str, Module] = {}
        self.loading: list[str] = []

    def load(self, name: str, source: str, filename: str) -> Module:
        self.loading.append(name)
        module = Module(name, source)
        try:
            self._read_body(module, parse(source, filename))
        except CompileError as exc:
            raise in_module(name, exc) from None
        self.loading.pop()
        self.modules[name] = module
        return module

    def _read_body(self, module: Module, tree: ast.Module) -> None:
        defs: list[ast.FunctionDef] = []
        for i, stmt in enumerate(tree.body):
            if i == 0 and is_docstring(stmt):
                continue
            if isinstance(stmt, ast.FunctionDef):
                defs.append(stmt)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign):
                self._constant(module, stmt)
            elif isinstance(stmt, ast.ImportFrom):
                self._import(module, stmt)
            elif isinstance(stmt, ast.Import):
                error(stmt, "only 'from <module> import <names>' is allowed, found 'import'")
            elif isinstance(stmt, ast.ClassDef):
                error(stmt, "classes are not allowed")
            elif isinstance(stmt, ast.AsyncFunctionDef):
                error(stmt, "async functions are not allowed")
            else:
                error(stmt, f"only constants, imports and functions expected at module level, found {type(stmt).__name__}")
        if not defs and module.name == MAIN:
            raise CompileError("line 1, column 1: at least one function expected")
        for d in defs:
            self._declare(module, d)

    def _new_name(self, module: Module, node: ast.AST, name: str) -> None:
        check_name(node, name)
        taken = name in module.consts or name in module.imported or name in module.defs
        if taken or name in BUILTINS or name in DECORATORS:
            error(node, f"a new name expected, found {name!r} defined already")

    def _constant(self, module: Module, stmt: ast.Assign | ast.AnnAssign) -> None:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if len(targets) != 1 or not isinstance(targets[0], ast.Name) or stmt.value is None:
            error(stmt, "a module constant 'NAME = literal' expected")
        name = targets[0].id
        self._new_name(module, stmt, name)
        module.consts[name] = literal(stmt.value, module.consts)

    def _import(self, module: Module, stmt: ast.ImportFrom) -> None:
        if stmt.level != 0 or stmt.module is None:
            error(stmt, "an absolute module name expected ('from billing.tariffs import ...'), found a relative import")
        target = self._module(stmt, stmt.module)
        for alias in stmt.names:
            if alias.name == "*":
                error(stmt, "named imports expected, found 'import *'")
            if alias.asname is not None:
                error(stmt, f"an import without 'as' expected (a name means one thing), found {alias.name!r} as {alias.asname!r}")
            name = alias.name
            self._new_name(module, stmt, name)
            if name in target.consts:
                module.consts[name] = target.consts[name]
            elif name in target.defs:
                module.imported[name] = (target.name, name)
            else:
                error(stmt, f"a function or constant defined in module {target.name} expected, found {name!r}")

    def _module(self, stmt: ast.ImportFrom, name: str) -> Module:
        if name in self.modules:
            return self.modules[name]
        if name in self.loading:
            cycle = " -> ".join([*self.loading[self.loading.index(name) :], name])
            error(stmt, f"modules that import each other are not allowed, found the cycle {cycle}")
        source = self.sources(name) if self.sources is not None else None
        if source is None:
            error(stmt, f"a contract module expected, found no module {name!r}")
        return self.load(name, source, name.replace(".", "/") + ".py")

    def _declare(self, module: Module, d: ast.FunctionDef) -> None:
        check_name(d, d.name)
        if d.name in module.defs or d.name in module.consts or d.name in module.imported or d.name in BUILTINS:
            error(d, f"a new function name expected, found {d.name!r} defined already or a builtin")
        kind = "private"
        if len(d.decorator_list) > 1:
            error(d.decorator_list[1], "at most one decorator (@public or @view) expected")
        for dec in d.decorator_list:
            if not isinstance(dec, ast.Name) or dec.id not in DECORATORS:
                error(dec, "decorators other than @public and @view are not allowed")
            kind = dec.id
        a = d.args
        if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
            error(d, "only plain parameters expected (no *args, **kwargs, keyword-only, '/')")
        if len(a.args) > MAX_PARAMS:
            error(d, f"at most {MAX_PARAMS} parameters expected")
        if getattr(d, "type_params", None):
            error(d, "type parameters are not allowed")
        params: list[str] = []
        for arg in a.args:
            check_name(arg, arg.arg)
            if arg.arg in params:
                error(arg, f"duplicate parameter {arg.arg!r}")
            if arg.arg in module.consts:
                error(arg, f"parameter name {arg.arg!r} shadows a module constant")
            params.append(arg.arg)
        defaults = []
        for dv in a.defaults:
            if not isinstance(dv, ast.Constant):
                error(dv, "a literal default value (int, bool, str, bytes, None) expected")
            defaults.append(constant_value(dv))
        module.defs[d.name] = Declared(module.name, d, kind, tuple(params), tuple(defaults))


def called_names(node: ast.FunctionDef) -> list[str]:
    """The plain names a function calls, in a fixed order (``ast.walk`` is breadth first)."""
    return [n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
