"""``meterchain contract``: compile a contract and inspect its bytecode.

``meterchain contract compile FILE [--json] [--out FILE]`` compiles a contract source with
the same compiler every node and regulator uses and prints its code hash, source hash,
size, entry points and the modules compiled in (a module ``billing.tariffs`` imported by
the contract is the file ``billing/tariffs.py`` beside FILE); a regulator compares the code
hash and the source hash with the ones on chain.
``meterchain contract disasm FILE`` prints the bytecode listing (from a source file, or
from a bytecode file with ``--bytecode``); ``--python`` prints the translation every node
runs instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer

from meterchain.failure import fail
from vm import CompiledContract, CompileError, InvalidBytecode, compile_source, verify_code
from vm.bytecode import disassemble
from vm.translator import source_of

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


def _read_source(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except UnicodeDecodeError:
        fail(f"{path}: UTF-8 text expected")
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror}")


def _modules_beside(file: Path) -> Callable[[str], str | None]:
    """The contract's modules: ``a.b`` is ``a/b.py`` in FILE's folder."""

    def module_source(name: str) -> str | None:
        path = file.parent.joinpath(*name.split(".")).with_suffix(".py")
        return _read_source(path) if path.is_file() else None

    return module_source


def _compile(file: Path) -> CompiledContract:
    try:
        return compile_source(_read_source(file), file.name, _modules_beside(file))
    except CompileError as exc:
        fail(f"{file}: {exc}")


@app.command("compile")
def compile_command(
    file: Path = typer.Argument(..., help="contract source file"),
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
    out: Path | None = typer.Option(None, "--out", help="also write the bytecode to this file"),
) -> None:
    """Compile FILE; print code hash, source hash, size and entry points."""
    compiled = _compile(file)
    if out is not None:
        try:
            out.write_bytes(compiled.code)
        except OSError as exc:
            fail(f"--out: a writable file expected, found {out}: {exc.strerror}")
    info = {
        "name": file.stem,
        "code_hash": compiled.code_hash.hex(),
        "source_hash": compiled.source_hash.hex(),
        "size": len(compiled.code),
        "functions": [
            {"name": f.name, "kind": f.kind, "params": list(f.params)} for f in compiled.functions
        ],
        "modules": [
            {"name": m.name, "source_hash": m.source_hash.hex(), "functions": list(m.functions)}
            for m in compiled.modules
        ],
    }
    if json_out:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(f"{info['name']}: {info['size']} bytes of bytecode")
    typer.echo(f"  code hash   {info['code_hash']}")
    typer.echo(f"  source hash {info['source_hash']}")
    for f in compiled.functions:
        typer.echo(f"  {f.kind:<6} {f.name}({', '.join(f.params)})")
    for m in compiled.modules:
        typer.echo(f"  module {m.name}: source hash {m.source_hash.hex()}, {len(m.functions)} functions compiled in")


@app.command("disasm")
def disasm_command(
    file: Path = typer.Argument(..., help="contract source file (or bytecode with --bytecode)"),
    bytecode: bool = typer.Option(False, "--bytecode", help="FILE holds bytecode, not source"),
    python: bool = typer.Option(False, "--python", help="print the Python every node runs for it instead"),
) -> None:
    """Print the verified bytecode listing: line, index, instruction, argument (or, with
    --python, the Python functions the VM translates it to)."""
    if bytecode:
        try:
            code = file.read_bytes()
        except OSError as exc:
            fail(f"{file}: cannot read: {exc.strerror}")
    else:
        code = _compile(file).code
    try:
        program = verify_code(code)
    except InvalidBytecode as exc:
        fail(f"{file}: invalid bytecode: {exc}")
    typer.echo(source_of(program) if python else disassemble(program))
