"""``meterchain contract`` refuses files it cannot use with one line (issue 9, item 12)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from meterchain.cli import app
from tests.cli.refusal import assert_refused

SOURCE = "@view\ndef one() -> int:\n    return 1\n"
runner = CliRunner()


def test_compile_writes_the_bytecode_with_out(tmp_path: Path) -> None:
    (tmp_path / "c.py").write_text(SOURCE)
    result = runner.invoke(app, ["contract", "compile", str(tmp_path / "c.py"), "--out", str(tmp_path / "c.bin")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c.bin").stat().st_size > 0


def test_invalid_out_in_a_missing_folder(tmp_path: Path) -> None:
    # Was a FileNotFoundError traceback after a successful compile.
    (tmp_path / "c.py").write_text(SOURCE)
    result = runner.invoke(app, ["contract", "compile", str(tmp_path / "c.py"), "--out", str(tmp_path / "no" / "c.bin")])
    assert_refused(result, "--out: a writable file expected", "No such file or directory")


def test_invalid_source_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "c.py").write_bytes(SOURCE.encode() + b"# \xff\n")
    assert_refused(runner.invoke(app, ["contract", "compile", str(tmp_path / "c.py")]), "UTF-8 text expected")
