"""`meterchain sts ...` through typer's CliRunner (and the installed command when it loads)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from meterchain.commands.sts import app
from tests.cli.refusal import assert_refused

runner = CliRunner()
METER = [
    "--vending-key", "abababababababab",
    "--key-type", "2",
    "--supply-group", "123456",
    "--tariff-index", "1",
    "--key-revision", "1",
    "--pan", "600727000000000009",
]  # fmt: skip
WORKED_EXAMPLE = [
    "token", *METER,
    "--subclass", "electricity",
    "--amount", "1",
    "--issued", "2004-04-21T10:01:00",
    "--base-date", "1993",
    "--random", "5",
]  # fmt: skip


def run(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    return result


def run_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def test_token_reproduces_the_worked_example() -> None:
    payload = run_json(*WORKED_EXAMPLE)
    assert payload["token"] == "66475648316756821785"
    assert payload["tid"] == 5944921
    assert payload["amount"] == 1.0
    assert payload["decoder_key"] == "e653341f9d5bf36f"
    assert payload["issued"] == "2004-04-21T10:01:00Z"
    assert "abababababababab" not in json.dumps(payload)


def test_token_reports_the_rounded_amount() -> None:
    payload = run_json(*_replace(WORKED_EXAMPLE, "--amount", "2000"))
    assert payload["amount"] == 2000.4
    assert payload["requested_amount"] == "2000"


def test_token_in_nectar_notation() -> None:
    payload = run_json(*WORKED_EXAMPLE, "--key-notation", "nectar")
    assert payload["decoder_key"] == "6ff35b9d1f3453e6"


def test_decode_worked_example() -> None:
    payload = run_json("decode", "66475648316756821785", "--decoder-key", "e653341f9d5bf36f")
    assert payload["token_class"] == 0 and payload["subclass"] == 0
    assert (payload["rnd"], payload["tid"], payload["amount"]) == (5, 5944921, 1.0)
    assert payload["crc_ok"] is True
    assert payload["issued"] == "2004-04-21T10:01:00Z"


def test_decode_with_nectar_key_and_2014_base_date() -> None:
    payload = run_json(
        "decode", "66475648316756821785",
        "--decoder-key", "6ff35b9d1f3453e6", "--key-notation", "nectar", "--base-date", "2014",
    )  # fmt: skip
    assert payload["crc_ok"] is True
    assert payload["issued"].startswith("2025-04-21")


def test_invalid_decode_crc_fails_with_exit_1() -> None:
    result = run("decode", "66475648316756821785", "--decoder-key", "e653341f9d5bf36e", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["crc_ok"] is False
    assert "expected the token's CRC to verify" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["decode", "1234", "--decoder-key", "e653341f9d5bf36f"], "20 decimal digits"),
        (["decode", "66475648316756821785", "--decoder-key", "xyz"], "16 hex digits"),
        (
            [
                "decode",
                "66475648316756821785",
                "--decoder-key",
                "e653341f9d5bf36f",
                "--base-date",
                "2000",
            ],
            "base date 1993 or 2014",
        ),
    ],
)
def test_invalid_decode_input(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr


def _replace(args: list[str], option: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(option) + 1] = value
    return out


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--vending-key", "abab", "expected the vending key as 16 hex digits"),
        ("--pan", "600727000000000008", "expected PAN check digit 9"),
        ("--amount", "99999999", "expected an amount of at most 1820162.4"),
        ("--amount", "ten", "expected a decimal amount"),
        ("--issued", "2026-03-01T12:00:00Z", "at most 16,777,215 fit: move this meter"),
        ("--random", "16", "expected a random number 0..15"),
        ("--supply-group", "12", "supply group code as 6 decimal digits"),
    ],
)
def test_invalid_token_input(option: str, value: str, message: str) -> None:
    result = run(*_replace(WORKED_EXAMPLE, option, value))
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_tid_store_refuses_reuse_across_runs(tmp_path: Path) -> None:
    store = str(tmp_path / "tids.json")
    first = run_json(*WORKED_EXAMPLE, "--tid-store", store)
    second = run_json(*WORKED_EXAMPLE, "--tid-store", store)
    assert second["tid"] == first["tid"] + 1
    result = run(*WORKED_EXAMPLE, "--tid-store", store, "--exact-time")
    assert result.exit_code == 2 and "already issued" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff{", "expected a UTF-8 JSON TID store"),
        (b"[" * 100_000, "found unparseable text (nested too deep)"),
        (b'{"version": 1, "issued": []}', "to map each meter to a list of TIDs"),
        (b'{"version": 1, "issued": {"m": [1.5]}}', "to map each meter to a list of TIDs"),
        (b'{"version": 1, "issued": {"m": "12"}}', "to map each meter to a list of TIDs"),
        (b'{"version": 1, "issued": {"m": [99999999999]}}', "(integers 0..16777215)"),
    ],
)
def test_invalid_tid_store_content(tmp_path: Path, content: bytes, message: str) -> None:
    # Each ended in a traceback (UnicodeDecodeError, RecursionError, AttributeError,
    # TypeError) or, for 1.5, silently counted TID 1 as issued (issue 9, item 12).
    store = tmp_path / "tids.json"
    store.write_bytes(content)
    result = run(*WORKED_EXAMPLE, "--tid-store", str(store))
    assert_refused(result, message)
    assert store.read_bytes() == content  # a refused store is left as it was


def test_invalid_tid_store_a_directory(tmp_path: Path) -> None:
    assert_refused(run(*WORKED_EXAMPLE, "--tid-store", str(tmp_path)), "can be read and written", "Is a directory")


def test_management_power_limit_reproduces_compliance_token() -> None:
    payload = run_json(
        "management", *METER, "--kind", "set-power-limit", "--value", "20000",
        "--issued", "2004-04-01T07:15:00", "--base-date", "1993", "--random", "5",
    )  # fmt: skip
    assert payload["token"] == "49240429350369491663"
    assert (payload["value"], payload["unit"]) == (20004, "W")


def test_management_clear_credit_and_tamper() -> None:
    common = ["--base-date", "1993", "--random", "5"]
    clear = run_json(
        "management", *METER, "--kind", "clear-credit", "--issued", "2004-03-28T09:15", *common
    )
    assert clear["token"] == "29511990995826640868" and clear["value"] == 0xFFFF
    water = run_json("management", *METER, "--kind", "clear-credit", "--value", "water",
                     "--issued", "2004-03-28T09:16", *common)  # fmt: skip
    assert water["value"] == 1
    tamper = run_json(
        "management", *METER, "--kind", "clear-tamper", "--issued", "2004-03-28T10:00", *common
    )
    assert tamper["token"] == "37037300014464855694"


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("set-power-limit", None, "expected --value as a whole number of watts"),
        ("set-phase-unbalance", "1.5", "whole number of watts"),
        ("clear-credit", "coal", "expected a register"),
        ("clear-tamper", "3", "expected no --value for clear-tamper"),
    ],
)
def test_invalid_management_input(kind: str, value: str | None, message: str) -> None:
    args = ["management", *METER, "--kind", kind, "--issued", "2026-01-01", "--base-date", "2014"]
    if value is not None:
        args += ["--value", value]
    result = run(*args)
    assert result.exit_code == 2 and message in result.stderr


def test_key_change_prints_both_tokens_that_decode_under_the_old_key() -> None:
    payload = run_json(
        "key-change", *METER, "--base-date", "1993",
        "--new-key-type", "2", "--new-supply-group", "123456", "--new-tariff-index", "1",
        "--new-key-revision", "2", "--new-base-date", "2014",
    )  # fmt: skip
    assert payload["rollover"] is True
    assert payload["tokens"] == [payload["first"], payload["second"]]
    old_key = payload["old_decoder_key"]
    first = run_json("decode", payload["first"], "--decoder-key", old_key)
    second = run_json("decode", payload["second"], "--decoder-key", old_key)
    assert first["key_change"]["rollover"] is True and first["key_change"]["key_revision"] == 2
    assert first["tid"] is None
    new_key = first["key_change"]["nkho"] + second["key_change"]["nklo"]
    assert new_key == payload["new_decoder_key"]
    # The new key is the one `token` derives for the new parameters.
    after = _replace(_replace(WORKED_EXAMPLE, "--key-revision", "2"), "--base-date", "2014")
    token = run_json(*_replace(after, "--issued", "2026-11-22T12:00:00Z"))
    assert token["decoder_key"] == new_key


def test_key_change_reproduces_compliance_pair() -> None:
    payload = run_json(
        "key-change", *_replace(METER, "--tariff-index", "2"), "--base-date", "1993",
        "--new-key-type", "2", "--new-supply-group", "123456", "--new-tariff-index", "1",
        "--new-key-revision", "1", "--new-base-date", "1993",
    )  # fmt: skip
    assert payload["tokens"] == ["26553210520543055412", "00943705441908264439"]
    assert payload["rollover"] is False


def test_invalid_key_change_backwards() -> None:
    result = run(
        "key-change", *METER, "--base-date", "2014",
        "--new-key-type", "2", "--new-supply-group", "123456", "--new-tariff-index", "1",
        "--new-key-revision", "2", "--new-base-date", "1993",
    )  # fmt: skip
    assert result.exit_code == 2 and "base dates only move forward" in result.stderr


def test_plain_text_output() -> None:
    result = run(*WORKED_EXAMPLE)
    assert result.exit_code == 0
    assert "66475648316756821785" in result.stdout and "1.0 kWh" in result.stdout


def test_installed_command() -> None:
    """Through `meterchain sts` itself, once every command group of the CLI exists."""
    try:
        import meterchain.cli  # noqa: F401
    except ModuleNotFoundError as error:
        pytest.skip(f"the meterchain CLI does not load yet: {error}")
    exe = shutil.which("meterchain") or str(Path(__file__).parents[2] / ".venv/bin/meterchain")
    done = subprocess.run(
        [exe, "sts", *WORKED_EXAMPLE, "--json"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["token"] == "66475648316756821785"
