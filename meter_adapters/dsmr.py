"""DSMR P1 telegrams (Dutch Smart Meter Requirements 2.2 to 5, Belgian e-MUCS, Nordic,
Hungarian and Irish variants) -> normalized readings.

A telegram is IEC 62056-21 mode D text::

    /XXX5Identification CR LF
    CR LF
    1-0:1.8.1(000123.456*kWh) CR LF      <- one COSEM object per line
    0-1:24.2.1(170102161005W)(00000.107*m3) CR LF
    !6EEE CR LF                          <- '!' then CRC16 (DSMR 4 and later)

The CRC is CRC16/ARC (polynomial 0xA001 reflected, initial value 0) over every byte from
'/' to '!' inclusive, written as 4 hex digits (some meters drop leading zeros). DSMR 2.2
and 3 telegrams have no CRC: they are accepted, and nothing protects them but the line.

We parse the lines ourselves (every register the meter sends, not only those a library
knows) and check the CRC ourselves so the error says what was expected and what was found;
the tests cross-check every value against the dsmr-parser library.

Normalization:
- a line with one ``value*unit`` field is a register read at the telegram's time
  (0-0:1.0.0); a line ``(timestamp)(value*unit)`` carries its own capture time (the gas,
  water and heat sub-meters on M-Bus channels 0-n:24.2.x, the monthly maximum demand);
  DSMR 2.2/3 hourly gas ``0-n:24.3.0(ts)(00)(60)(1)(0-n:24.2.1)(m3)`` + ``(value)`` too.
  An impossible capture time (a sub-meter that never reported) gives ``timestamp=None``.
- values without a unit (counters, tariff indicator, text messages) and logs with more
  fields (power failure log, monthly history) are not readings and are skipped.
- timestamps ``YYMMDDhhmmssX`` are local time of the meter's zone (default
  Europe/Amsterdam, DSMR's own); X = S (summer) or W (winter) resolves the ambiguous hour.
- values go to base units exactly; the few meters that print more decimals than a Wh
  (the EasyMeter Q3D prints 0.1 mWh) are rounded down (floor) to the Wh, documented in
  docs/meter-adapters.md.
- the meter of a register on channel B = 0 is the equipment identifier (0-0:96.1.1, or
  96.1.0, 96.1.255, 1-0:0.0.0, else the identification line); on channel n it is the
  sub-meter's own identifier (0-n:96.1.0 / 96.1.1). Hex-encoded ASCII identifiers (the
  Dutch and Belgian form) are decoded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Final
from zoneinfo import ZoneInfo

from chain.types import Timestamp
from meter_adapters import crc16
from meter_adapters.errors import AdapterError, ChecksumError, TruncatedFrame, UnsupportedFrame
from meter_adapters.obis import ObisError, normalize_obis, parse_obis, quantity_for
from meter_adapters.reading import ROUND_FLOOR, Reading, UnitError, raw_hash, to_base_unit

SOURCE: Final = "dsmr"
DEFAULT_ZONE: Final = "Europe/Amsterdam"
MAX_TELEGRAM: Final = 64 * 1024  # DSMR 5 telegrams are ~1 kB; refuse to buffer megabytes

_OBJECT = re.compile(
    rb"^(\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}(?:\*\d{1,3})?)((?:\([^()]*\))+)$"
)
_FIELD = re.compile(rb"\(([^()]*)\)")
_VALUE = re.compile(r"^([+-]?\d+(?:\.\d+)?)(?:\*(.+))?$")
_TIMESTAMP = re.compile(r"^(\d{12})([SW]?)$")
_HEX = b"0123456789ABCDEFabcdef"

# Where the main meter's identifier is, in order of preference.
_ID_CODES: Final = ("0-0:96.1.1", "0-0:96.1.0", "0-0:96.1.255", "1-0:0.0.0")


# --- CRC ---------------------------------------------------------------------------------


# CRC16/ARC (the DSMR P1 CRC): poly 0x8005 reflected, init 0, no final XOR.
crc16_arc: Final = crc16.ARC


# --- framing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CosemObject:
    """One line of a telegram: an OBIS code and its parenthesized fields."""

    obis: str  # normalized, "1-0:1.8.1"
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Telegram:
    """A framed telegram: its identification line, objects and CRC (None when absent)."""

    identification: str  # the header line after '/', e.g. "KFM5KAIFA-METER"
    objects: tuple[CosemObject, ...]
    crc: int | None
    raw: bytes  # '/' through the CRC digits: what raw_hash covers

    def get(self, obis: str) -> CosemObject | None:
        for obj in self.objects:
            if obj.obis == obis:
                return obj
        return None


def split_telegrams(data: bytes) -> Iterator[tuple[bytes, bytes, bytes]]:
    """Yield ``(body, crc_digits, raw)`` for each telegram in ``data``: ``body`` runs from
    '/' to '!' inclusive. Bytes before a '/' (line noise, a half telegram read mid-stream)
    are skipped; a telegram cut off before its '!' raises ``TruncatedFrame``."""
    pos = 0
    found = False
    while True:
        start = data.find(b"/", pos)
        if start < 0:
            break
        end = data.find(b"!", start)
        if end < 0:
            raise TruncatedFrame(
                f"a telegram ending in '!' and its CRC expected, found end of input "
                f"{len(data) - start} bytes after the '/' at offset {start}"
            )
        if end - start > MAX_TELEGRAM:
            raise UnsupportedFrame(
                f"a telegram of at most {MAX_TELEGRAM} bytes expected, found {end - start}"
            )
        crc_end = end + 1
        while crc_end < len(data) and crc_end - end <= 4 and data[crc_end] in _HEX:
            crc_end += 1
        found = True
        yield data[start : end + 1], data[end + 1 : crc_end], data[start:crc_end]
        pos = crc_end
    if not found:
        raise TruncatedFrame(
            f"a DSMR telegram starting with '/' expected, found none in {len(data)} bytes"
        )


def frame_telegram(body: bytes, crc_digits: bytes, raw: bytes, check_crc: bool = True) -> Telegram:
    """Check the CRC of one telegram and split it into objects."""
    crc: int | None = None
    if crc_digits:
        if len(crc_digits) > 4:
            raise ChecksumError(f"a CRC16 of at most 4 hex digits expected, found {crc_digits!r}")
        crc = int(crc_digits, 16)
        computed = crc16_arc(body)
        if check_crc and computed != crc:
            raise ChecksumError(
                f"CRC16 0x{crc:04X} expected (from telegram), found 0x{computed:04X} computed"
            )
    text_lines = body[1:-1].replace(b"\r\n", b"\n").split(b"\n")
    identification = text_lines[0].rstrip(b"\r").decode("latin-1")
    objects: list[tuple[str, list[str]]] = []
    for number, line in enumerate(text_lines[1:], start=2):
        line = line.strip(b"\r ")
        if not line:
            continue
        if line.startswith(b"(") and objects:
            # A continuation line (DSMR 2.2/3 hourly gas value on the next line).
            objects[-1][1].extend(_fields(line, number))
            continue
        match = _OBJECT.match(line)
        if match is None:
            raise UnsupportedFrame(
                f"line {number}: a COSEM object like 1-0:1.8.1(000123.456*kWh) expected, "
                f"found {line[:60]!r}"
            )
        try:
            obis = normalize_obis(match.group(1).decode("ascii"))
        except ObisError as exc:
            raise UnsupportedFrame(f"line {number}: {exc}") from None
        objects.append((obis, _fields(match.group(2), number)))
    return Telegram(
        identification,
        tuple(CosemObject(obis, tuple(fields)) for obis, fields in objects),
        crc,
        raw,
    )


def _fields(text: bytes, number: int) -> list[str]:
    if _FIELD.sub(b"", text).strip():
        raise UnsupportedFrame(
            f"line {number}: fields in parentheses expected, found {text[:60]!r}"
        )
    return [field.decode("latin-1") for field in _FIELD.findall(text)]


# --- values ------------------------------------------------------------------------------


def parse_timestamp(text: str, zone: ZoneInfo) -> Timestamp:
    """``"170102161005W"`` (local time of ``zone``, S summer / W winter) -> unix seconds."""
    match = _TIMESTAMP.match(text)
    if match is None:
        raise AdapterError(f"a timestamp YYMMDDhhmmss followed by S or W expected, found {text!r}")
    try:
        naive = datetime.strptime(match.group(1), "%y%m%d%H%M%S")
    except ValueError:
        raise AdapterError(f"a valid date and time YYMMDDhhmmss expected, found {text!r}") from None
    # In the hour that occurs twice when summer time ends, W means the second one.
    local = naive.replace(tzinfo=zone, fold=1 if match.group(2) == "W" else 0)
    return Timestamp(int(local.timestamp()))


def _is_timestamp(field: str) -> bool:
    return _TIMESTAMP.match(field) is not None


def _capture_time(text: str, zone: ZoneInfo) -> Timestamp | None:
    # A sub-meter that has not reported yet sends an impossible time (632525252525S);
    # like dsmr-parser we keep the value and drop the time rather than refuse the
    # telegram (its CRC vouches for the bytes).
    try:
        return parse_timestamp(text, zone)
    except AdapterError:
        return None


def _decimal(text: str, where: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise AdapterError(f"{where}: a decimal number expected, found {text!r}") from None


def _decode_identifier(text: str) -> str:
    """Dutch and Belgian meters send identifiers as hex-encoded ASCII
    ("4B384547303034303436333935353037" = "K8EG004046395507"); others as plain text."""
    if len(text) % 2 == 0 and len(text) >= 2 and all(c in "0123456789ABCDEFabcdef" for c in text):
        decoded = bytes.fromhex(text)
        if all(0x20 < b < 0x7F for b in decoded):
            return decoded.decode("ascii")
    return text


def _identifier(telegram: Telegram, channel: int) -> str | None:
    codes = _ID_CODES if channel == 0 else (f"0-{channel}:96.1.0", f"0-{channel}:96.1.1")
    for code in codes:
        obj = telegram.get(code)
        if obj is not None and obj.fields and obj.fields[0]:
            return _decode_identifier(obj.fields[0])
    return None


def _main_identifier(telegram: Telegram) -> str:
    ident = _identifier(telegram, 0)
    if ident is not None:
        return ident
    # No equipment identifier (Nordic meters): the identification line, without the
    # mode-D baud-rate character's fluff, is the best name the meter gives itself.
    return telegram.identification.strip()


# --- readings ----------------------------------------------------------------------------


def telegram_readings(telegram: Telegram, zone: ZoneInfo) -> list[Reading]:
    """The normalized readings of one framed telegram."""
    main_id = _main_identifier(telegram)
    clock = telegram.get("0-0:1.0.0")
    telegram_time = _capture_time(clock.fields[0], zone) if clock and clock.fields else None
    digest = raw_hash(telegram.raw)
    readings: list[Reading] = []
    for obj in telegram.objects:
        item = _register(obj, telegram_time, zone)
        if item is None:
            continue
        obis, value_text, unit, timestamp = item
        where = f"{obj.obis}({value_text}*{unit})"
        try:
            value, base = to_base_unit(_decimal(value_text, obj.obis), unit, ROUND_FLOOR)
        except UnitError as exc:
            raise UnitError(f"{where}: {exc}") from None
        channel = parse_obis(obis).b
        meter = (
            main_id if channel == 0 else (_identifier(telegram, channel) or f"{main_id}/{channel}")
        )
        readings.append(
            Reading(meter, obis, quantity_for(obis, base), value, base, timestamp, SOURCE, digest)
        )
    return readings


def _register(
    obj: CosemObject, telegram_time: Timestamp | None, zone: ZoneInfo
) -> tuple[str, str, str, Timestamp | None] | None:
    """``(obis, value text, unit, timestamp)`` when the object is a register, else None."""
    fields = obj.fields
    if obj.obis.endswith(":24.3.0") and len(fields) == 7:
        # DSMR 2.2/3 hourly gas: (ts)(00)(60)(1)(0-n:24.2.1)(m3) then (value) on a new line.
        if not fields[6] or not fields[5]:
            return None
        return normalize_obis(fields[4]), fields[6], fields[5], _capture_time(fields[0], zone)
    if len(fields) == 1:
        match = _VALUE.match(fields[0])
        if match and match.group(2):
            return obj.obis, match.group(1), match.group(2), telegram_time
        return None
    if len(fields) == 2 and _is_timestamp(fields[0]):
        match = _VALUE.match(fields[1])
        if match and match.group(2):
            return obj.obis, match.group(1), match.group(2), _capture_time(fields[0], zone)
    return None


def parse_telegrams(data: bytes, check_crc: bool = True) -> list[Telegram]:
    """Frame every telegram in ``data``, checking each CRC."""
    return [
        frame_telegram(body, crc, raw, check_crc) for body, crc, raw in split_telegrams(bytes(data))
    ]


def parse_dsmr(data: bytes, zone: str = DEFAULT_ZONE, check_crc: bool = True) -> list[Reading]:
    """Every reading of every telegram in ``data`` (a file, or bytes read from the port).

    Raises ``ChecksumError`` for a CRC mismatch, ``TruncatedFrame`` for a telegram without
    its end, ``UnsupportedFrame`` for a line that is not a COSEM object, ``UnitError`` for
    an unknown unit (all ``AdapterError``).
    """
    tz = ZoneInfo(zone)
    readings: list[Reading] = []
    for telegram in parse_telegrams(data, check_crc):
        readings.extend(telegram_readings(telegram, tz))
    return readings


def build_telegram(identification: str, lines: list[str], crc: bool = True) -> bytes:
    """A telegram from its identification and object lines, with its CRC (the simulator
    and tests use this; it is the inverse of ``frame_telegram``)."""
    body = (
        "/" + identification + "\r\n\r\n" + "".join(line + "\r\n" for line in lines) + "!"
    ).encode("latin-1")
    return body + (f"{crc16_arc(body):04X}".encode() if crc else b"") + b"\r\n"
