"""``meterchain read FORMAT --file F | --port DEV``: a meter's bytes -> normalized readings.

Prints the readings (a JSON list with ``--json``); a rejected input (bad CRC or BCC,
truncated frame, wrong key, unknown unit) exits with status 1 and the reason on stderr;
a usage error exits with status 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from meter_adapters.errors import AdapterError
from meter_adapters.reading import Reading
from meterchain.failure import fail

FORMATS: Final = ("dsmr", "iec62056-21", "mbus", "wmbus", "dlms", "nfc")


def adapter_for(
    fmt: str,
    key: bytes | None,
    relaxed_bcc: bool = False,
    zone: str | None = None,
    medium: int = 1,
    assume_unit: str | None = None,
) -> Callable[[bytes], list[Reading]]:
    """The adapter for ``fmt``; the M-Bus, wM-Bus and DLMS adapters are imported only
    when asked for (another module, with its own dependencies)."""
    if fmt == "dsmr":
        from meter_adapters.dsmr import DEFAULT_ZONE, parse_dsmr

        return lambda data: parse_dsmr(data, zone=zone or DEFAULT_ZONE)
    if fmt == "iec62056-21":
        from meter_adapters.iec62056_21 import parse_iec62056_21

        return lambda data: parse_iec62056_21(
            data,
            strict_bcc=not relaxed_bcc,
            medium=medium,
            zone=zone or "UTC",
            assume_unit=assume_unit,
        )
    if fmt == "nfc":
        from meter_adapters.signed_reading import parse_nfc

        return lambda data: parse_nfc(data, key)
    try:
        if fmt == "mbus":
            from meter_adapters.mbus import parse_mbus

            return parse_mbus
        if fmt == "wmbus":
            from meter_adapters.wmbus import parse_wmbus
            from meter_adapters.wmbus_vendors.compact import FormatCache

            # One cache for the whole run: a compact frame is readable after a full frame
            # of the same format, read earlier from the same file or port.
            formats = FormatCache()
            return lambda data: parse_wmbus(data, key, formats)
        from meter_adapters.dlms import parse_dlms

        return lambda data: parse_dlms(data, key)
    except ImportError as exc:
        fail(f"format {fmt} is not available in this installation: {exc}")


def _text(readings: list[Reading]) -> str:
    if not readings:
        return "no readings"
    lines = []
    for r in readings:
        when = r.to_json()["timestamp"] or "-"
        lines.append(
            f"{r.meter:<20} {r.obis or '-':<14} {r.quantity:<26} {r.value:>16} {r.unit:<6} {when}"
        )
    return "\n".join(lines)


def main(
    format: str = typer.Argument(..., help="dsmr, iec62056-21, mbus, wmbus, dlms or nfc"),
    file: str = typer.Option(
        None, "--file", help="a capture file (binary formats: raw bytes or hex text)"
    ),
    port: str = typer.Option(
        None, "--port", help="serial device or socket://host:port; reads one frame"
    ),
    key: str = typer.Option(
        None, "--key", help="hex AES key (wmbus, dlms) or meter public key (nfc)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list of readings"),
    relaxed_bcc: bool = typer.Option(
        False,
        "--relaxed-bcc",
        help="IEC 62056-21: read a readout whose BCC is wrong (known-broken meters)",
    ),
    zone: str = typer.Option(
        None, "--zone", help="the meter's time zone (DSMR default Europe/Amsterdam)"
    ),
    medium: int = typer.Option(
        1, "--medium", help="IEC 62056-21: OBIS medium A of reduced codes (1 electricity, 6 heat)"
    ),
    assume_unit: str = typer.Option(
        None, "--assume-unit", help="IEC 62056-21: unit of values printed without one"
    ),
    timeout: float = typer.Option(15.0, "--timeout", help="seconds to wait for a frame on --port"),
    faults: bool = typer.Option(
        False,
        "--faults",
        help="print the faults the meter reports about itself (M-Bus status and error flags, "
        "IEC 62056-21 F.F) instead of its readings",
    ),
) -> None:
    """Read one meter capture or port into normalized readings (or its own fault flags)."""
    if format not in FORMATS:
        fail(f"FORMAT one of {', '.join(FORMATS)} expected, found {format!r}", 2)
    if (file is None) == (port is None):
        fail("exactly one of --file or --port expected", 2)
    key_bytes: bytes | None = None
    if key is not None:
        try:
            key_bytes = bytes.fromhex(key)
        except ValueError:
            fail(f"--key: hex digits expected, found {key!r}", 2)
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            fail(
                f"--zone: an IANA time zone like Europe/Amsterdam expected, found {zone!r}", 2
            )
    parse = adapter_for(format, key_bytes, relaxed_bcc, zone, medium, assume_unit)

    from meter_adapters import serial_io

    try:
        if file is not None:
            data = serial_io.read_input_file(file, format)
        else:
            data = serial_io.read_port(port, format, timeout=timeout)
    except AdapterError as exc:
        fail(str(exc))
    except (OSError, ValueError) as exc:  # includes serial.SerialException
        fail(f"cannot read {file or port}: {exc}")
    if faults:
        _print_faults(format, data, key_bytes, relaxed_bcc, medium, zone, as_json)
        return
    try:
        readings = parse(data)
    except ValueError as exc:  # AdapterError and the chain's DecodeError paths
        fail(f"{format} input rejected: {exc}")
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in readings], indent=2))
    else:
        typer.echo(_text(readings))


def _print_faults(
    format: str, data: bytes, key: bytes | None, relaxed_bcc: bool, medium: int, zone: str | None, as_json: bool
) -> None:
    from meter_adapters.alarms import parse_alarms

    try:
        alarms = parse_alarms(format, data, key, relaxed_bcc, medium, zone or "UTC")
    except ValueError as exc:
        fail(f"{format} input rejected: {exc}")
    if as_json:
        typer.echo(json.dumps([a.to_json() for a in alarms], indent=2))
    elif not alarms:
        typer.echo("no faults reported")
    else:
        for a in alarms:
            typer.echo(f"{a.meter:<20} {a.fault_type:<14} {a.observed_at or '-'}  {a.detail}")
