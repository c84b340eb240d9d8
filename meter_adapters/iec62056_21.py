"""IEC 62056-21 (formerly IEC 1107) optical readouts, mode C -> normalized readings.

A readout, after the reader's request ``/?!`` CR LF (which meters often echo), is::

    /LGZ52ZMD120APt.G03 CR LF        identification: manufacturer, baud-rate character, type
    STX                               start of the data message
    F.F(00000000) CR LF               data sets: address(value*unit), one or more per line
    1.8.1(001846.0*kWh) CR LF
    ! CR LF ETX BCC                   end of data, end of text, block check character

The BCC is the XOR of every byte after STX up to and including ETX. With ``strict_bcc``
(the default, and the CLI's) a readout framed by STX must end in ETX and a matching BCC,
and bytes between data sets that are not data sets are refused. A readout without STX
(push-mode meters, captures stripped of their framing) carries no BCC and is read as is,
like a DSMR 2.2 telegram. ``strict_bcc=False`` is for meters known to send wrong BCCs or
trailing noise (the Itron ACE3000 and Kamstrup MC66 captures in the tests): it reads them
and says nothing, so use it only for such a meter.

Addresses are OBIS codes, usually reduced ("1.8.1", "C.1.0", "F.F"): A (the medium) is
not in the readout, so ``medium`` (default 1, electricity) supplies it; B is 0. Values are
quantized exactly to base units like every adapter (``reading.to_base_unit``); a value
printed with '*' but no unit ("013925.5*", Itron ACE3000) needs ``assume_unit`` from the
meter's documentation, else it is refused. Values without '*' (identifiers, status
words, counters) are not readings, except the energy registers (A=1, C 1..80, D 8/9/29)
of push meters that print no unit at all, read when ``assume_unit`` is given. The meter identifier is C.1.0 (serial number), else 0.0.0
(device address), else the identification line. The readout has a time only when the
meter sends 0.9.1 (hhmmss) and 0.9.2 ([c]YYMMDD), read in ``zone`` (default UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Final
from zoneinfo import ZoneInfo

from chain.types import Timestamp
from meter_adapters.errors import AdapterError, ChecksumError, TruncatedFrame, UnsupportedFrame
from meter_adapters.obis import ObisError, parse_obis, quantity_for
from meter_adapters.reading import ROUND_EXACT, Reading, UnitError, raw_hash, to_base_unit

SOURCE: Final = "iec62056-21"
STX: Final = 0x02
ETX: Final = 0x03
MAX_READOUT: Final = 64 * 1024

# The scanner below reads the readout left to right with these runs of one character
# class, each matched at one position: a run has nothing after it to backtrack into, so the
# work is linear in the readout (a 64 KB readout of any content in milliseconds), where the
# earlier backtracking pattern for data sets took seconds per 10 KB of address characters.
_IDENTIFICATION_TEXT = re.compile(rb"[^\r\n/]*")  # after '/': manufacturer, baud, type
_ADDRESS = re.compile(rb"[0-9A-Za-z.:*&\-]*")  # a data set's address (reduced OBIS)
_NOT_ADDRESS = re.compile(rb"[^0-9A-Za-z.:*&\-]*")  # line ends, blanks, noise
_FIELD = re.compile(rb"[^()\r\n]*")  # the text between '(' and ')'
_MIN_IDENTIFICATION: Final = 3  # "XXX" at least: the manufacturer's three letters
_SERIAL_CODES: Final = ("0-0:96.1.0", "{a}-0:0.0.0")


def bcc(data: bytes) -> int:
    """The block check character: XOR of ``data`` (the bytes after STX through ETX)."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def run_end(run: re.Pattern[bytes], data: bytes, pos: int) -> int:
    """Where the run of ``run``'s character class that starts at ``pos`` ends. Every byte the
    scanner examines is examined here (the tests count them through this function)."""
    match = run.match(data, pos)
    assert match is not None  # a run of zero or more characters always matches
    return match.end()


@dataclass(frozen=True, slots=True)
class Identification:
    """Where the identification line ``/XXXZ... CR LF`` lies in the input."""

    start: int  # the '/'
    text_end: int  # end of the text after '/' (before CR LF)
    end: int  # after the line end

    def text(self, data: bytes) -> bytes:
        return data[self.start + 1 : self.text_end]


def find_identification(data: bytes, pos: int = 0) -> Identification | None:
    """The first identification line at or after ``pos``: '/', not the request's '/?', then at
    least three characters other than CR, LF and '/', then LF or CR LF. Each '/' tried ends its
    text at the next CR, LF or '/', so no byte is read twice."""
    while True:
        slash = data.find(b"/", pos)
        if slash < 0:
            return None
        text_end = run_end(_IDENTIFICATION_TEXT, data, slash + 1)
        if data[slash + 1 : slash + 2] != b"?" and text_end - slash - 1 >= _MIN_IDENTIFICATION:
            if data[text_end : text_end + 1] == b"\n":
                return Identification(slash, text_end, text_end + 1)
            if data[text_end : text_end + 2] == b"\r\n":
                return Identification(slash, text_end, text_end + 2)
        pos = max(text_end, slash + 1)


@dataclass(frozen=True, slots=True)
class _RawDataSet:
    start: int
    end: int
    address: bytes
    fields: tuple[bytes, ...]


def _scan_data_sets(body: bytes) -> list[_RawDataSet]:
    """Every ``address(field)(field)...`` of ``body``, leftmost first, each ending where the
    next begins its search: an address is a maximal run of address characters directly
    followed by at least one complete field (no '(', ')', CR or LF inside). Anything else is
    left between data sets for the caller to judge. Address runs, runs of other bytes and the
    field attempts (each from a '(' to the next '(', ')', CR or LF) do not overlap, so the scan
    is linear in ``body``."""
    found: list[_RawDataSet] = []
    pos = 0
    size = len(body)
    while pos < size:
        start = run_end(_NOT_ADDRESS, body, pos)
        if start >= size:
            break
        address_end = run_end(_ADDRESS, body, start)
        fields: list[bytes] = []
        end = address_end
        while body[end : end + 1] == b"(":
            close = run_end(_FIELD, body, end + 1)
            if body[close : close + 1] != b")":
                break  # an unfinished field: the data set ends before it
            fields.append(body[end + 1 : close])
            end = close + 1
        if fields:
            found.append(_RawDataSet(start, end, body[start:address_end], tuple(fields)))
            pos = end
        else:
            pos = address_end  # no field: these address characters begin no data set
    return found


@dataclass(frozen=True, slots=True)
class DataSet:
    """One ``address(value*unit)`` of the readout, address normalized to full OBIS."""

    obis: str
    value: str  # the first parenthesized field, as sent
    extra: tuple[str, ...]  # further fields some meters append (a time stamp, ...)


@dataclass(frozen=True, slots=True)
class Readout:
    identification: str  # after '/', e.g. "LGZ52ZMD120APt.G03"
    data_sets: tuple[DataSet, ...]
    bcc: int | None  # the BCC the meter sent; None when the readout has no STX/ETX frame
    raw: bytes  # '/' through the BCC (or through '!' CR LF): what raw_hash covers

    def get(self, obis: str) -> DataSet | None:
        for item in self.data_sets:
            if item.obis == obis:
                return item
        return None


def frame_readout(data: bytes, strict_bcc: bool = True, medium: int = 1) -> Readout:
    """Find the readout in ``data`` (skipping the echoed request and line noise), check its
    BCC and split it into data sets."""
    data = bytes(data)
    if len(data) > MAX_READOUT:
        raise UnsupportedFrame(
            f"a readout of at most {MAX_READOUT} bytes expected, found {len(data)}"
        )
    ident = find_identification(data)
    if ident is None:
        raise TruncatedFrame(
            f"an identification line '/XXXZ...' CR LF expected, found none in {len(data)} bytes"
        )
    start = ident.start
    stx = data.find(bytes([STX]), ident.end)
    framed = stx == ident.end or (stx > 0 and not data[ident.end : stx].strip())
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
        bang = data.find(b"!", ident.end)
        if bang < 0:
            raise TruncatedFrame(
                f"the end of the data block '!' expected, found end of input after "
                f"{len(data) - ident.end} bytes of data"
            )
        end = bang + 1
        while end < len(data) and data[end] in b"\r\n" and end - bang <= 2:
            end += 1
        block = data[ident.end : bang + 1]
    bang = block.rfind(b"!")
    if bang < 0:
        if strict_bcc or not framed:
            raise TruncatedFrame("the end of the data block '!' expected, found none before ETX")
        bang = len(block)
    body = block[:bang]
    return Readout(
        ident.text(data).decode("latin-1").rstrip(),
        tuple(_data_sets(body, strict_bcc, medium)),
        sent_bcc,
        data[start:end],
    )


def _data_sets(body: bytes, strict: bool, medium: int) -> list[DataSet]:
    found: list[DataSet] = []
    pos = 0
    for item in _scan_data_sets(body):
        between = body[pos : item.start]
        if strict and between.strip(b"\r\n "):
            raise UnsupportedFrame(
                f"data sets like 1.8.1(001846.0*kWh) expected, found {between[:40]!r} at offset {pos}"
            )
        pos = item.end
        address = item.address.decode("ascii")
        try:
            obis = str(parse_obis(address, default_a=medium))
        except ObisError as exc:
            if strict:
                raise UnsupportedFrame(f"data set {address!r}: {exc}") from None
            continue
        fields = [field.decode("latin-1") for field in item.fields]
        found.append(DataSet(obis, fields[0], tuple(fields[1:])))
    tail = body[pos:]
    if strict and tail.strip(b"\r\n "):
        raise UnsupportedFrame(f"data sets or '!' expected, found {tail[:40]!r} at offset {pos}")
    return found


def readout_meter(readout: Readout, medium: int) -> str:
    for code in _SERIAL_CODES:
        item = readout.get(code.format(a=medium))
        if item is not None and item.value.strip():
            return item.value.strip()
    return readout.identification


def readout_time(readout: Readout, zone: ZoneInfo) -> Timestamp | None:
    time_item = readout.get("0-0:0.9.1") or readout.get("1-0:0.9.1")
    date_item = readout.get("0-0:0.9.2") or readout.get("1-0:0.9.2")
    if time_item is None or date_item is None:
        return None
    text = date_item.value.strip()[-6:] + time_item.value.strip()[:6]
    try:
        local = datetime.strptime(text, "%y%m%d%H%M%S").replace(tzinfo=zone)
    except ValueError:
        raise AdapterError(
            f"date 0.9.2 ([c]YYMMDD) and time 0.9.1 (hhmmss) expected, found "
            f"{date_item.value!r} and {time_item.value!r}"
        ) from None
    return Timestamp(int(local.timestamp()))


def _is_energy_register(obis: str) -> bool:
    code = parse_obis(obis)
    return code.a == 1 and 1 <= code.c <= 80 and code.d in (8, 9, 29)


def _number_and_unit(value: str) -> tuple[str, str | None] | None:
    """A value's decimal number and the text after its '*' (None when there is no '*'), or
    None when the value is not ``[blanks][+|-]digits[.digits][blanks][*unit]``."""
    number, star, unit = value.partition("*")
    number = number.strip()
    digits = number[1:] if number[:1] in ("+", "-") else number
    whole, dot, fraction = digits.partition(".")
    if not whole.isdecimal() or (dot and not fraction.isdecimal()):
        return None
    return number, (unit if star else None)


def readout_readings(
    readout: Readout, medium: int = 1, zone: str = "UTC", assume_unit: str | None = None
) -> list[Reading]:
    meter = readout_meter(readout, medium)
    timestamp = readout_time(readout, ZoneInfo(zone))
    digest = raw_hash(readout.raw)
    readings: list[Reading] = []
    for item in readout.data_sets:
        split = _number_and_unit(item.value)
        if split is None:
            continue  # not a number: an identifier, a status word
        number, printed_unit = split
        if printed_unit is None and not (assume_unit and _is_energy_register(item.obis)):
            continue  # no '*': a counter, a date, an address; some push meters print
            # their energy registers without unit ("1-0:1.8.0*255(000001.2963)"): those
            # are read with assume_unit
        unit = (printed_unit or "").strip() or assume_unit
        if unit is None:
            raise UnitError(
                f"{item.obis}({item.value}): a unit after '*' expected, found none "
                "(give assume_unit from the meter's documentation)"
            )
        try:
            value, base = to_base_unit(Decimal(number), unit, ROUND_EXACT)
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
    """The readings of the readout in ``data``.

    Raises ``ChecksumError`` (BCC mismatch, message "BCC 0x61 expected (from readout),
    found 0x3D computed"), ``TruncatedFrame`` (no identification, no ETX/BCC, no '!'),
    ``UnsupportedFrame`` (bytes that are not data sets) or ``UnitError``.
    """
    return readout_readings(frame_readout(data, strict_bcc, medium), medium, zone, assume_unit)


def build_readout(identification: str, data_sets: list[str], echo_request: bool = False) -> bytes:
    """A mode C readout with STX, ETX and its BCC (for the simulator and the tests)."""
    block = ("".join(line + "\r\n" for line in data_sets) + "!\r\n").encode("latin-1") + bytes(
        [ETX]
    )
    head = (b"/?!\r\n" if echo_request else b"") + b"/" + identification.encode("latin-1") + b"\r\n"
    return head + bytes([STX]) + block + bytes([bcc(block)])
