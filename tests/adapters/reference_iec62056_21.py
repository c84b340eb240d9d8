"""The reference IEC 62056-21 readout parser: the regular-expression version that
``meter_adapters.iec62056_21`` used before its linear scanner, kept as the oracle the scanner
is compared with (``test_iec62056_21.py``: every fixture and generated readouts, same
readings or the same error).

Its data-set pattern backtracks: from each start inside a run of address characters not
followed by '(' it scans to the run's end, so a readout of n such bytes costs n^2/2 steps
(about 75 s for 60 KB). Use it on small inputs only.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from meter_adapters.errors import ChecksumError, TruncatedFrame, UnsupportedFrame
from meter_adapters.iec62056_21 import (
    ETX,
    MAX_READOUT,
    SOURCE,
    STX,
    DataSet,
    Readout,
    _is_energy_register,
    bcc,
    readout_meter,
    readout_time,
)
from meter_adapters.obis import ObisError, parse_obis, quantity_for
from meter_adapters.reading import ROUND_EXACT, Reading, UnitError, raw_hash, to_base_unit

_IDENTIFICATION = re.compile(rb"/(?!\?)([^\r\n/]{3,})\r?\n")
_DATA_SET = re.compile(rb"([0-9A-Za-z.:*&\-]+)((?:\([^()\r\n]*\))+)")
_GROUP = re.compile(rb"\(([^()]*)\)")
_VALUE = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*(?:\*(.*))?$")


def frame_readout(data: bytes, strict_bcc: bool = True, medium: int = 1) -> Readout:
    data = bytes(data)
    if len(data) > MAX_READOUT:
        raise UnsupportedFrame(
            f"a readout of at most {MAX_READOUT} bytes expected, found {len(data)}"
        )
    ident = _IDENTIFICATION.search(data)
    if ident is None:
        raise TruncatedFrame(
            f"an identification line '/XXXZ...' CR LF expected, found none in {len(data)} bytes"
        )
    start = ident.start()
    stx = data.find(bytes([STX]), ident.end())
    framed = stx == ident.end() or (stx > 0 and not data[ident.end() : stx].strip())
    sent_bcc: int | None = None
    if framed:
        etx = data.find(bytes([ETX]), stx + 1)
        if etx < 0 or etx + 1 >= len(data):
            what = "ETX" if etx < 0 else "the BCC after ETX"
            if strict_bcc:
                raise TruncatedFrame(
                    f"{what} after the data block expected (the readout starts with STX), "
                    f"found end of input after {len(data) - stx} bytes"
                )
            end = len(data) if etx < 0 else etx + 1
            block = data[stx + 1 : etx if etx >= 0 else len(data)]
        else:
            sent_bcc = data[etx + 1]
            computed = bcc(data[stx + 1 : etx + 1])
            if strict_bcc and computed != sent_bcc:
                raise ChecksumError(
                    f"BCC 0x{sent_bcc:02X} expected (from readout), found 0x{computed:02X} computed"
                )
            end = etx + 2
            block = data[stx + 1 : etx]
    else:
        bang = data.find(b"!", ident.end())
        if bang < 0:
            raise TruncatedFrame(
                f"the end of the data block '!' expected, found end of input after "
                f"{len(data) - ident.end()} bytes of data"
            )
        end = bang + 1
        while end < len(data) and data[end] in b"\r\n" and end - bang <= 2:
            end += 1
        block = data[ident.end() : bang + 1]
    bang = block.rfind(b"!")
    if bang < 0:
        if strict_bcc or not framed:
            raise TruncatedFrame("the end of the data block '!' expected, found none before ETX")
        bang = len(block)
    body = block[:bang]
    return Readout(
        ident.group(1).decode("latin-1").rstrip(),
        tuple(_data_sets(body, strict_bcc, medium)),
        sent_bcc,
        data[start:end],
    )


def _data_sets(body: bytes, strict: bool, medium: int) -> list[DataSet]:
    found: list[DataSet] = []
    pos = 0
    for match in _DATA_SET.finditer(body):
        between = body[pos : match.start()]
        if strict and between.strip(b"\r\n "):
            raise UnsupportedFrame(
                f"data sets like 1.8.1(001846.0*kWh) expected, found {between[:40]!r} at offset {pos}"
            )
        pos = match.end()
        address = match.group(1).decode("ascii")
        try:
            obis = str(parse_obis(address, default_a=medium))
        except ObisError as exc:
            if strict:
                raise UnsupportedFrame(f"data set {address!r}: {exc}") from None
            continue
        fields = [g.decode("latin-1") for g in _GROUP.findall(match.group(2))]
        found.append(DataSet(obis, fields[0], tuple(fields[1:])))
    tail = body[pos:]
    if strict and tail.strip(b"\r\n "):
        raise UnsupportedFrame(f"data sets or '!' expected, found {tail[:40]!r} at offset {pos}")
    return found


def readout_readings(
    readout: Readout, medium: int = 1, zone: str = "UTC", assume_unit: str | None = None
) -> list[Reading]:
    meter = readout_meter(readout, medium)
    timestamp = readout_time(readout, ZoneInfo(zone))
    digest = raw_hash(readout.raw)
    readings: list[Reading] = []
    for item in readout.data_sets:
        match = _VALUE.match(item.value)
        if match is None:
            continue
        if match.group(2) is None and not (assume_unit and _is_energy_register(item.obis)):
            continue
        unit = (match.group(2) or "").strip() or assume_unit
        if unit is None:
            raise UnitError(
                f"{item.obis}({item.value}): a unit after '*' expected, found none "
                "(give assume_unit from the meter's documentation)"
            )
        try:
            value, base = to_base_unit(Decimal(match.group(1)), unit, ROUND_EXACT)
        except (UnitError, InvalidOperation) as exc:
            raise UnitError(f"{item.obis}({item.value}): {exc}") from None
        readings.append(
            Reading(
                meter,
                item.obis,
                quantity_for(item.obis, base),
                value,
                base,
                timestamp,
                SOURCE,
                digest,
            )
        )
    return readings


def parse_iec62056_21(
    data: bytes,
    strict_bcc: bool = True,
    medium: int = 1,
    zone: str = "UTC",
    assume_unit: str | None = None,
) -> list[Reading]:
    return readout_readings(frame_readout(data, strict_bcc, medium), medium, zone, assume_unit)
