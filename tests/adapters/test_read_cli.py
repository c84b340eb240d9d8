"""``meterchain read``: JSON readings from files and ports, non-zero exit with the reason
on stderr for rejected input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from meter_adapters.signed_reading import encode_signed_reading, meter_public_key, sign_reading
from meter_adapters.simulator import PtyMeter, TcpMeter
from meterchain.commands import read
from tests.adapters.conftest import DSMR_FIXTURES, REPO, iec_fixture

app = typer.Typer()
app.command()(read.main)
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_basic_dsmr_file_json() -> None:
    result = run("dsmr", "--file", str(DSMR_FIXTURES / "v5.p1"), "--json")
    assert result.exit_code == 0, result.stderr
    items = json.loads(result.stdout)
    first = items[0]
    assert set(first) >= {
        "meter",
        "obis",
        "quantity",
        "value",
        "unit",
        "timestamp",
        "source",
        "raw_hash",
    }
    assert first == {
        **first,
        "meter": "K8EG004046395507",
        "obis": "1-0:1.8.1",
        "value": 4426,
        "unit": "Wh",
        "timestamp": "2017-01-02T18:20:02Z",
        "source": "dsmr",
    }
    gas = [i for i in items if i["obis"] == "0-1:24.2.1"]
    assert gas == [{**gas[0], "value": 107, "unit": "dm3", "timestamp": "2017-01-02T15:10:05Z"}]
    assert all(isinstance(i["value"], int) for i in items)


def test_invalid_dsmr_tampered_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.p1"
    bad.write_bytes((DSMR_FIXTURES / "v5.p1").read_bytes().replace(b"000004.426", b"000004.427"))
    result = run("dsmr", "--file", str(bad), "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "CRC16 0x6EEE expected (from telegram), found 0x" in result.stderr


def test_invalid_iec_bcc_strict_by_default_then_relaxed() -> None:
    iec_fixture("kamstrup_mc66_iec62056pkg.bin")  # skips when the GPL captures are absent
    path = str(
        REPO.parent / "shared" / "fixtures" / "iec62056_21" / "kamstrup_mc66_iec62056pkg.bin"
    )
    result = run("iec62056-21", "--file", path, "--json")
    assert result.exit_code == 1
    assert "BCC 0x61 expected (from readout), found 0x3D computed" in result.stderr
    result = run("iec62056-21", "--file", path, "--json", "--relaxed-bcc", "--medium", "6")
    assert result.exit_code == 0, result.stderr
    assert [i["value"] for i in json.loads(result.stdout)] == [
        433_650_000_000,
        3_052_950,
        395_524_800,
    ]


def test_basic_nfc_file_with_meter_key(tmp_path: Path) -> None:
    seed = bytes([3]) * 32
    message = tmp_path / "tag.ndef"
    message.write_bytes(
        encode_signed_reading(sign_reading(seed, "SN1", "1-0:1.8.0", 42, "Wh", 1_700_000_000))
    )
    result = run("nfc", "--file", str(message), "--key", meter_public_key(seed).hex(), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["value"] == 42
    result = run(
        "nfc", "--file", str(message), "--key", meter_public_key(bytes(32)).hex(), "--json"
    )
    assert result.exit_code == 1
    assert "does not verify" in result.stderr


def test_basic_mbus_hex_text_file_uses_the_other_adapter(tmp_path: Path) -> None:
    pytest.importorskip("meter_adapters.mbus")
    frames = REPO.parent / "shared" / "fixtures" / "mbus_wired" / "libmbus_test_frames"
    if not frames.exists():
        pytest.skip(f"shared M-Bus frames not present at {frames}")
    text = (frames / "EDC.hex").read_bytes()
    binary = tmp_path / "edc.bin"
    binary.write_bytes(bytes.fromhex(text.decode().replace(" ", "").strip()))
    from_text = run("mbus", "--file", str(frames / "EDC.hex"), "--json")
    from_binary = run("mbus", "--file", str(binary), "--json")
    assert from_text.exit_code == 0, from_text.stderr
    assert from_text.stdout == from_binary.stdout
    assert json.loads(from_text.stdout)


def test_invalid_usage() -> None:
    result = run("modbus", "--file", "x")
    assert result.exit_code == 2 and "FORMAT one of dsmr, iec62056-21" in result.stderr
    result = run("dsmr")
    assert result.exit_code == 2 and "exactly one of --file or --port expected" in result.stderr
    result = run("wmbus", "--file", "x", "--key", "zz")
    assert result.exit_code == 2 and "--key: hex digits expected" in result.stderr
    result = run("dsmr", "--file", str(DSMR_FIXTURES / "v5.p1"), "--zone", "Mars/Olympus")
    assert result.exit_code == 2 and "--zone: an IANA time zone" in result.stderr
    result = run("dsmr", "--file", "/nonexistent/file.p1")
    assert result.exit_code == 1 and "cannot read /nonexistent/file.p1" in result.stderr


@pytest.mark.parametrize("transport", ["pty", "tcp"])
@pytest.mark.parametrize("fmt", ["dsmr", "iec62056-21"])
def test_basic_port_reads_a_simulated_meter(transport: str, fmt: str) -> None:
    meter = PtyMeter(fmt, interval=0.2) if transport == "pty" else TcpMeter(fmt, interval=0.2)
    with meter:
        where = meter.device if transport == "pty" else meter.url
        result = run(fmt, "--port", where, "--json", "--timeout", "10")
    assert result.exit_code == 0, result.stderr
    items = json.loads(result.stdout)
    energy = [i for i in items if i["obis"] == "1-0:1.8.1"]
    assert energy and energy[0]["meter"] == "SIM0000000000001" and energy[0]["value"] > 1_234_000


def test_basic_installed_entry_point_if_cli_assembles() -> None:
    # The full `meterchain` app imports every command group; when all exist, `read` is
    # reachable through it exactly like this module's own app.
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from meterchain.cli import app; app()",
            "read",
            "dsmr",
            "--file",
            str(DSMR_FIXTURES / "v4_2.p1"),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    if proc.returncode != 0 and "No module named 'meterchain.commands." in proc.stderr:
        pytest.skip(
            f"another command group is not written yet: {proc.stderr.strip().splitlines()[-1]}"
        )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["value"] == 1581123


def test_basic_wmbus_hex_file_with_key_and_wrong_key(tmp_path: Path) -> None:
    pytest.importorskip("meter_adapters.wmbus")
    source = REPO.parent / "shared" / "fixtures" / "mbus_wired" / "pymeterbus_test_frames.json"
    if not source.exists():
        pytest.skip(f"shared wM-Bus frame not present at {source}")
    frame = next(f for f in json.loads(source.read_text())["frames"] if f.get("aes_key"))
    capture = tmp_path / "frame.hex"
    capture.write_text(frame["hex"] + "\n")
    result = run("wmbus", "--file", str(capture), "--key", frame["aes_key"], "--json")
    assert result.exit_code == 0, result.stderr
    # pymeterbus expects 0 Wh and 0.071 m3 (the other adapter's own tests check the rest).
    assert {(0, "Wh"), (71, "dm3")} <= {(i["value"], i["unit"]) for i in json.loads(result.stdout)}
    result = run("wmbus", "--file", str(capture), "--key", "00" * 16, "--json")
    assert result.exit_code == 1 and "wmbus input rejected" in result.stderr


# A DATA-NOTIFICATION with one register (1-0:1.8.0 = 5) whose scaler is a long64 of 2**40:
# a power of ten no decimal context holds (issue 9, item 12: a decimal.InvalidOperation
# traceback before).
UNBOUNDED_SCALER = bytes.fromhex(
    "0F0000000100" "0101" "0203" "09060100010800FF" "0600000005" "0202" "140000010000000000" "161E"
)


def test_invalid_dlms_unbounded_scaler_is_one_error_line(tmp_path: Path) -> None:
    frame = tmp_path / "scaler.bin"
    frame.write_bytes(UNBOUNDED_SCALER)
    result = run("dlms", "--file", str(frame))
    assert result.exit_code == 1
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: dlms input rejected: scaler_unit (integer8 scaler")
    assert "found Structure(items=(1099511627776" in result.stderr


def test_invalid_capture_file_larger_than_any_capture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Refused from its size before it is read whole (issue 9, item 12: bounded memory).
    from meter_adapters import serial_io
    from tests.cli.refusal import assert_refused

    monkeypatch.setattr(serial_io, "MAX_CAPTURE_FILE", 1024)
    big = tmp_path / "big.p1"
    big.write_bytes((DSMR_FIXTURES / "v5.p1").read_bytes() * 2)
    assert big.stat().st_size > 1024
    assert_refused(run("dsmr", "--file", str(big)), "a capture file of at most 1024 bytes expected, found")
