"""``meterchain contract compile`` and ``disasm``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from chain.hashing import Domain, hash_domain
from meterchain.commands.contract import app

SOURCE = '''
@public
def submit(meter: str, index: int) -> None:
    storage_set(meter, index)

@view
def last(meter: str) -> int:
    return storage_get(meter, 0)
'''

runner = CliRunner()


def test_compile_json(tmp_path: Path) -> None:
    path = tmp_path / "meters.py"
    path.write_text(SOURCE)
    result = runner.invoke(app, ["compile", str(path), "--json", "--out", str(tmp_path / "m.bin")])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    code = (tmp_path / "m.bin").read_bytes()
    assert info == {
        "name": "meters",
        "code_hash": hash_domain(Domain.CODE, code).hex(),
        "source_hash": hash_domain(Domain.SOURCE, SOURCE.encode()).hex(),
        "size": len(code),
        "functions": [
            {"name": "submit", "kind": "public", "params": ["meter", "index"]},
            {"name": "last", "kind": "view", "params": ["meter"]},
        ],
        "modules": [],
    }


def test_compile_text(tmp_path: Path) -> None:
    path = tmp_path / "meters.py"
    path.write_text(SOURCE)
    result = runner.invoke(app, ["compile", str(path)])
    assert result.exit_code == 0
    assert "public submit(meter, index)" in result.stdout and "code hash" in result.stdout


def test_invalid_source_exits_1_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text("@public\ndef f():\n    return 1 / 2\n")
    result = runner.invoke(app, ["compile", str(path), "--json"])
    assert result.exit_code == 1
    assert "line 3, column 12" in result.stderr and "div_floor" in result.stderr


def test_invalid_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["compile", str(tmp_path / "nope.py")])
    assert result.exit_code == 1 and "no such file" in result.stderr


def test_disasm(tmp_path: Path) -> None:
    path = tmp_path / "meters.py"
    path.write_text(SOURCE)
    result = runner.invoke(app, ["disasm", str(path)])
    assert result.exit_code == 0
    assert "storage_set/2" in result.stdout and "RETURN" in result.stdout
    runner.invoke(app, ["compile", str(path), "--out", str(tmp_path / "m.bin")])
    from_code = runner.invoke(app, ["disasm", str(tmp_path / "m.bin"), "--bytecode"])
    assert from_code.stdout == result.stdout
    python = runner.invoke(app, ["disasm", str(path), "--python"])
    assert python.exit_code == 0
    assert "def f0(ex, depth, cross" in python.stdout and "host_33(ex, " in python.stdout  # storage_set, called with its arguments
    compile(python.stdout, "translation", "exec")  # the listing is the Python itself


def test_invalid_disasm_of_corrupt_bytecode(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"\x93\x01\x02")
    result = runner.invoke(app, ["disasm", str(tmp_path / "x.bin"), "--bytecode"])
    assert result.exit_code == 1 and "invalid bytecode" in result.stderr


def test_compile_json_lists_the_modules_compiled_in(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    module = "DAY = 86400\n\n\ndef days(seconds: int) -> int:\n    return seconds // DAY\n"
    (tmp_path / "lib" / "units.py").write_text(module)
    contract = "from lib.units import days\n\n\n@view\ndef age(seconds: int) -> int:\n    return days(seconds)\n"
    (tmp_path / "ages.py").write_text(contract)
    result = runner.invoke(app, ["compile", str(tmp_path / "ages.py"), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["modules"] == [
        {"name": "lib.units", "source_hash": hash_domain(Domain.SOURCE, module.encode()).hex(), "functions": ["days"]}
    ]
    assert info["source_hash"] != hash_domain(Domain.SOURCE, contract.encode()).hex()


def test_invalid_import_of_a_module_not_beside_the_contract(tmp_path: Path) -> None:
    (tmp_path / "ages.py").write_text("from lib.units import days\n")
    result = runner.invoke(app, ["compile", str(tmp_path / "ages.py")])
    assert result.exit_code == 1
    assert "line 1, column 1: a contract module expected, found no module 'lib.units'" in result.stderr
