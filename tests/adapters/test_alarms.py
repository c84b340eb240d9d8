"""The faults a meter reports about itself (meter_adapters.alarms): the EN 13757-3 status
byte and error-flags record of the real libmbus frames (tests/fixtures/mbus/libmbus, checked
against the status libmbus itself prints in each frame's .norm.xml), the IEC 62056-21 error
register F.F, and `meterchain read --faults`. A collector recording such a fault on chain:
tests/contracts/test_meter_alarms.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from meter_adapters.alarms import parse_alarms, status_faults, telegram_alarms
from meter_adapters.iec62056_21 import build_readout
from meter_adapters.mbus import decode_frame
from meterchain.cli import app

LIBMBUS = Path(__file__).resolve().parents[1] / "fixtures" / "mbus" / "libmbus"
FAULT_TYPES = ("tamper", "magnetic_tamper", "cover_open", "terminal_cover_open", "bypass", "reverse_flow",
               "meter_broken", "display_fault", "clock_fault", "communication_loss", "other")  # billing/faults.py


def frame(name: str) -> bytes:
    return bytes.fromhex((LIBMBUS / f"{name}.hex").read_text().replace("\n", " "))


def libmbus_status(name: str) -> int:
    """The status byte as libmbus printed it for the frame (its own decode: the oracle)."""
    found = re.search(r"<Status>([0-9A-Fa-f]+)</Status>", (LIBMBUS / f"{name}.norm.xml").read_text())
    return int(found.group(1), 16) if found else 0


# --- the status byte and error flags of real frames -------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("siemens_rvd235", [("meter_broken", "M-Bus status 0x28: permanent error (manufacturer bits 0x20)")]),
        ("landis+gyr_ultraheat_t230", [("other", "M-Bus status 0x10: temporary error")]),
        ("ELS_Elster-F96-Plus", [("other", "M-Bus status 0x70: temporary error (manufacturer bits 0x60)")]),
        ("abb_f95", [("other", "M-Bus status 0x50: temporary error (manufacturer bits 0x40)")]),
        ("minol_minocal_wr3", [("other", "M-Bus error flags record: 0x4 (the manufacturer's bits)")]),
    ],
)
def test_real_frames_report_their_faults(name: str, expected: list[tuple[str, str]]) -> None:
    data = frame(name)
    alarms = parse_alarms("mbus", data)
    assert [(a.fault_type, a.detail) for a in alarms] == expected
    telegram = decode_frame(data)
    assert telegram.status == libmbus_status(name)
    assert all(a.meter == telegram.address.meter_id and a.protocol == "mbus" for a in alarms if telegram.address)


@pytest.mark.parametrize("path", sorted(LIBMBUS.glob("*.hex")), ids=lambda p: p.stem)
def test_every_local_frame_has_the_faults_its_libmbus_status_flags(path: Path) -> None:
    status = libmbus_status(path.stem)
    expected = bin(status & 0x1C).count("1") + (1 if status & 0x03 in (0x02, 0x03) else 0)
    telegram = decode_frame(frame(path.stem))
    flagged = [a for a in telegram_alarms(telegram, frame(path.stem), "mbus") if a.detail.startswith("M-Bus status")]
    assert len(flagged) == expected


def test_invalid_a_healthy_frame_reports_nothing() -> None:
    healthy = [p.stem for p in sorted(LIBMBUS.glob("*.hex")) if libmbus_status(p.stem) == 0 and p.stem != "minol_minocal_wr3"]
    assert healthy
    for name in healthy:
        assert parse_alarms("mbus", frame(name)) == [], name


@given(st.integers(0, 255))
def test_status_faults_name_only_the_standard_bits(status: int) -> None:
    found = status_faults(status)
    assert all(t in FAULT_TYPES and d.startswith(f"M-Bus status 0x{status:02X}: ") for t, d in found)
    # Busy (01) and the manufacturer's bits alone are not faults.
    if status & 0x1C == 0 and status & 0x03 in (0x00, 0x01):
        assert found == []
    assert ("meter_broken" in [t for t, _ in found]) == bool(status & 0x08)


# --- IEC 62056-21: the error register F.F ---------------------------------------------------


def test_a_readout_with_an_error_code_in_f_f_reports_a_broken_meter() -> None:
    data = build_readout("LGZ5ZMD120AP", ["0.0.0(12345678)", "F.F(00000020)", "1.8.0(001234.5*kWh)"])
    [alarm] = parse_alarms("iec62056-21", data)
    assert (alarm.meter, alarm.fault_type, alarm.detail) == ("12345678", "meter_broken", "IEC 62056-21 error register F.F(00000020)")


def test_invalid_a_readout_with_f_f_all_zeros_reports_nothing() -> None:
    data = build_readout("LGZ5ZMD120AP", ["0.0.0(12345678)", "F.F(00000000)", "1.8.0(001234.5*kWh)"])
    assert parse_alarms("iec62056-21", data) == []


def test_formats_without_fault_flags_report_nothing() -> None:
    dsmr = (Path(__file__).resolve().parents[1] / "fixtures" / "dsmr_p1" / "v5.p1").read_bytes()
    assert parse_alarms("dsmr", dsmr) == []


# --- the command line and the chain -------------------------------------------------------------


def test_read_faults_prints_them(tmp_path: Path) -> None:
    capture = tmp_path / "rvd235.hex"
    capture.write_text((LIBMBUS / "siemens_rvd235.hex").read_text())
    result = CliRunner().invoke(app, ["read", "mbus", "--file", str(capture), "--faults", "--json"])
    assert result.exit_code == 0, result.output
    [shown] = json.loads(result.output)
    assert (shown["fault_type"], shown["protocol"]) == ("meter_broken", "mbus")
    healthy = tmp_path / "healthy.hex"
    healthy.write_text((LIBMBUS / "EMU_EMU-Professional-375-M-Bus.hex").read_text())
    result = CliRunner().invoke(app, ["read", "mbus", "--file", str(healthy), "--faults"])
    assert result.exit_code == 0 and "no faults reported" in result.output
