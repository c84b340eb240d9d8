"""Compile a contract's source (docs/contract-language.md) to bytecode.

Python's ``ast`` parses the source; the compiler accepts only the documented subset and
rejects everything else with a ``CompileError`` naming the line and column (1-based) of the
offending construct. Compilation is a pure function of the sources: no dict or set whose
order depends on hashing decides anything, so the same sources always give the same bytes.

The parts: ``compile_constants`` (the error, names, module constants), ``compile_modules``
(the contract's file and the modules it imports), ``compile_function`` (one function's
statements and expressions); this module decides which functions the contract holds,
lays out the program and hashes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chain.hashing import Domain, Hash32, hash_domain
from vm.bytecode import (
    MAX_CODE_SIZE,
    FunctionCode,
    FunctionInfo,
    InvalidBytecode,
    encode_program,
    verify_code,
)
from vm.compile_constants import CompileError, FuncSig, Scope, error
from vm.compile_function import FunctionCompiler
from vm.compile_modules import (
    MAIN,
    Declared,
    Module,
    ModuleLoader,
    ModuleSources,
    called_names,
    in_module,
)

__all__ = ["CompileError", "CompiledContract", "CompiledModule", "FunctionInfo", "ModuleSources", "compile_source"]


@dataclass(frozen=True, slots=True)
class CompiledModule:
    """An imported module compiled into a contract, for the regulator's comparison."""

    name: str  # dotted, as imported: "billing.tariffs"
    source_hash: Hash32  # of this module's source alone
    functions: tuple[str, ...]  # the functions of this module the contract holds


@dataclass(frozen=True, slots=True)
class CompiledContract:
    code: bytes
    source_hash: bytes  # covers the contract's file and every module compiled in
    code_hash: bytes
    functions: tuple[FunctionInfo, ...]  # the entry points (public and view)
    modules: tuple[CompiledModule, ...] = ()  # imported modules, by name


class _ConstantTable:
    def __init__(self) -> None:
        self.constants: list[Any] = []
        self.index: dict[tuple[str, Any], int] = {}

    def const(self, value: Any) -> int:
        key = (type(value).__name__, value)
        idx = self.index.get(key)
        if idx is None:
            idx = len(self.constants)
            if idx > 0xFFFF:
                raise CompileError("line 0, column 0: at most 65536 distinct constants expected")
            self.constants.append(value)
            self.index[key] = idx
        return idx


def _contract_functions(modules: dict[str, Module]) -> list[tuple[Declared, str]]:
    """The functions the contract holds, each with its kind in the contract.

    Every function of the contract's own file, then what it imports, then whatever those
    call, transitively. A function is an entry point (public or view) only if the contract's
    own file defines or imports it: a module's ``@public`` function that the contract does
    not name stays private, so the contract's file lists every entry point it has.
    """
    main = modules[MAIN]
    chosen: list[tuple[Declared, str]] = [(d, d.kind) for d in main.defs.values()]
    for module_name, name in main.imported.values():
        d = modules[module_name].defs[name]
        chosen.append((d, d.kind))
    seen = {(d.module, d.node.name) for d, _ in chosen}
    i = 0
    while i < len(chosen):
        declared = chosen[i][0]
        module = modules[declared.module]
        for called in called_names(declared.node):
            target = module.resolve(called)
            if target is not None and target not in seen:
                seen.add(target)
                chosen.append((modules[target[0]].defs[target[1]], "private"))
        i += 1
    owner: dict[str, str] = {}
    for d, _ in chosen:
        name = d.node.name
        if name in owner:
            where = "the contract's file" if owner[name] == MAIN else f"module {owner[name]}"
            try:
                error(d.node, f"function names unique in the contract expected, found {name!r} also in {where}")
            except CompileError as exc:
                raise in_module(d.module, exc) from None
        owner[name] = d.module
    return chosen


def _source_hash(modules: dict[str, Module]) -> Hash32:
    """A contract without imports: the hash of its source text, as always. With imports:
    the hash of 0xFF (a byte UTF-8 text never holds, so the two forms cannot collide), then
    the contract's file and each module by name, each as length-prefixed name and source."""
    if len(modules) == 1:
        return hash_domain(Domain.SOURCE, modules[MAIN].source.encode())
    bundle = bytearray(b"\xff")
    for name in sorted(modules):
        for part in (name.encode(), modules[name].source.encode()):
            bundle += len(part).to_bytes(4, "big") + part
    return hash_domain(Domain.SOURCE, bytes(bundle))


def compile_source(source: str, name: str = "<contract>", modules: ModuleSources | None = None) -> CompiledContract:
    """Compile a contract; raise ``CompileError`` ('line L, column C: ...', or 'module M:
    line L, ...' inside an imported module) for anything outside the contract language.
    ``modules`` gives the source of each module the contract imports."""
    loader = ModuleLoader(modules)
    try:
        loader.load(MAIN, source, name)
        chosen = _contract_functions(loader.modules)
    except RecursionError:
        raise CompileError("line 0, column 0: expressions nested too deeply") from None
    sigs = {
        (d.module, d.node.name): FuncSig(i, d.node.name, kind, d.params, d.defaults)
        for i, (d, kind) in enumerate(chosen)
    }
    scopes = {
        m.name: Scope(m.consts, {local: sigs[target] for local in [*m.defs, *m.imported] if (target := m.resolve(local)) in sigs})
        for m in loader.modules.values()
    }
    table = _ConstantTable()
    functions: list[FunctionCode] = []
    for d, _ in chosen:
        try:
            functions.append(FunctionCompiler(table, scopes[d.module], sigs[(d.module, d.node.name)], d.node).compile())
        except CompileError as exc:
            raise in_module(d.module, exc) from None
        except RecursionError:
            raise in_module(d.module, CompileError("line 0, column 0: expressions nested too deeply")) from None
    code = encode_program(table.constants, functions)
    if len(code) > MAX_CODE_SIZE:
        raise CompileError(f"line 0, column 0: bytecode of at most {MAX_CODE_SIZE} bytes expected, found {len(code)}")
    try:
        verify_code(code)  # the compiler's own output must pass the verifier every node runs
    except InvalidBytecode as exc:
        raise CompileError(f"line 0, column 0: internal compiler error: {exc}") from None
    imported = sorted(m for m in loader.modules if m != MAIN)
    return CompiledContract(
        code=code,
        source_hash=_source_hash(loader.modules),
        code_hash=hash_domain(Domain.CODE, code),
        functions=tuple(f.info for f in functions if f.kind != "private"),
        modules=tuple(
            CompiledModule(
                m,
                hash_domain(Domain.SOURCE, loader.modules[m].source.encode()),
                tuple(d.node.name for d, _ in chosen if d.module == m),
            )
            for m in imported
        ),
    )

