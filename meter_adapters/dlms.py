"""DLMS/COSEM push notifications (xDLMS DATA-NOTIFICATION) as HAN ports send them.

A smart meter's customer port (Norway, Sweden, Austria, ...) pushes, every few seconds, an
HDLC frame whose information field is ``E6 E7 00`` (LLC) followed by an xDLMS APDU:

* ``0F`` DATA-NOTIFICATION: long-invoke-id-and-priority (4 bytes), date-time (A-XDR octet
  string, empty when absent), notification body (one A-XDR ``Data`` value);
* ``DB`` general-glo-ciphering: system title, then security control byte, invocation counter
  and the AES-GCM ciphertext (+ 12-byte tag) of the APDU above.

The body is a list of COSEM objects in one of three shapes the meters use:

1. an array of structures ``(logical name, value[, (scaler, unit)])`` (Aidon): self-describing;
2. one flat structure alternating logical name and value (Kamstrup, Kaifa's Swedish list),
   values scaled by the list's published conventions (``_LIST_SCALERS``);
3. one flat structure of bare values (Kaifa's Norwegian lists) identified by position.

Readings come out with the OBIS code, the integer in the base unit of ``meter_adapters.reading``
(Wh, W, varh, var, mV, mA), the meter's date-time as unix seconds UTC and the hash of the
exact input bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from chain.types import Timestamp
from meter_adapters import hdlc
from meter_adapters.errors import AdapterError, TruncatedFrame, UnsupportedFrame, WrongKey
from meter_adapters.obis import obis_from_bytes, quantity_for
from meter_adapters.reading import Reading, raw_hash, to_base_unit

SOURCE: Final = "dlms"

LLC_HEADERS: Final = (b"\xe6\xe7\x00", b"\xe6\xe6\x00")
TAG_DATA_NOTIFICATION: Final = 0x0F
TAG_GENERAL_GLO_CIPHERING: Final = 0xDB
GCM_TAG_LENGTH: Final = 12  # DLMS security suite 0/1 truncates the GCM tag to 12 bytes

# Nesting limit for arrays/structures: a push list is two levels deep; 16 stops a hostile
# frame from exhausting the stack.
MAX_DEPTH: Final = 16


# --- A-XDR data ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Structure:
    """An A-XDR ``structure``: a fixed sequence of values of different types."""

    items: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Array:
    """An A-XDR ``array``: a sequence of values of one type."""

    items: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Enum:
    """An A-XDR ``enum`` (kept apart from unsigned8 because units are enums)."""

    value: int


# Fixed-size integer types: tag -> (size, signed).
_INTEGERS: Final[dict[int, tuple[int, bool]]] = {
    3: (1, False),  # boolean (decoded to bool below)
    5: (4, True),  # double-long
    6: (4, False),  # double-long-unsigned
    15: (1, True),  # integer
    16: (2, True),  # long
    17: (1, False),  # unsigned
    18: (2, False),  # long-unsigned
    20: (8, True),  # long64
    21: (8, False),  # long64-unsigned
}
_DATE_TIME_LENGTH: Final = 12


def _need(data: bytes, pos: int, count: int, what: str) -> None:
    if pos + count > len(data):
        raise TruncatedFrame(
            f"{count} bytes of {what} at offset {pos} expected, found {max(0, len(data) - pos)}"
        )


def _length(data: bytes, pos: int) -> tuple[int, int]:
    """A-XDR length: one byte below 0x80, else 0x8N followed by N big-endian bytes."""
    _need(data, pos, 1, "length")
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    size = first & 0x7F
    if size == 0 or size > 4:
        raise UnsupportedFrame(f"A-XDR length of 1 to 4 bytes expected, found {size} at {pos}")
    _need(data, pos + 1, size, "length")
    return int.from_bytes(data[pos + 1 : pos + 1 + size], "big"), pos + 1 + size


def decode_data(data: bytes, pos: int = 0, depth: int = 0) -> tuple[object, int]:
    """Decode one A-XDR ``Data`` at ``pos``; return the value and the next position.

    Values: ``None``, ``bool``, ``int``, ``Enum``, ``Decimal`` (floats, converted exactly from
    their binary value), ``bytes`` (octet-string, bit-string, bcd), ``str`` (visible-string,
    utf8-string), ``Array``, ``Structure``.
    """
    if depth > MAX_DEPTH:
        raise UnsupportedFrame(f"A-XDR nesting of at most {MAX_DEPTH} levels expected, found more")
    _need(data, pos, 1, "A-XDR type tag")
    tag = data[pos]
    pos += 1
    if tag == 0:
        return None, pos
    if tag in (1, 2):
        count, pos = _length(data, pos)
        items = []
        for _ in range(count):
            item, pos = decode_data(data, pos, depth + 1)
            items.append(item)
        return (Array(tuple(items)) if tag == 1 else Structure(tuple(items))), pos
    if tag in _INTEGERS:
        size, signed = _INTEGERS[tag]
        _need(data, pos, size, f"A-XDR type {tag} value")
        number = int.from_bytes(data[pos : pos + size], "big", signed=signed)
        return (bool(number) if tag == 3 else number), pos + size
    if tag == 22:
        _need(data, pos, 1, "enum value")
        return Enum(data[pos]), pos + 1
    if tag in (9, 10, 12, 13):
        size, pos = _length(data, pos)
        _need(data, pos, size, f"A-XDR type {tag} string")
        raw = data[pos : pos + size]
        if tag in (10, 12):
            try:
                return raw.decode("utf-8" if tag == 12 else "ascii"), pos + size
            except UnicodeDecodeError:
                raise UnsupportedFrame(
                    f"{'UTF-8' if tag == 12 else 'ASCII'} text expected, found {raw.hex()}"
                ) from None
        return raw, pos + size
    if tag == 4:
        bits, pos = _length(data, pos)
        size = (bits + 7) // 8
        _need(data, pos, size, "bit-string")
        return data[pos : pos + size], pos + size
    if tag in (23, 24):
        size = 4 if tag == 23 else 8
        _need(data, pos, size, "float")
        (number,) = struct.unpack(">f" if tag == 23 else ">d", data[pos : pos + size])
        # Decimal(float) is the exact binary value; it is never rounded here.
        return Decimal(number), pos + size
    if tag in (25, 26, 27):
        size = {25: 12, 26: 5, 27: 4}[tag]
        _need(data, pos, size, "date/time")
        return data[pos : pos + size], pos + size
    raise UnsupportedFrame(f"an A-XDR data type tag (0..27, not 19) expected, found {tag}")


def decode_date_time(raw: bytes) -> Timestamp | None:
    """COSEM date-time (12 bytes) as unix seconds UTC; ``None`` when a field is unspecified.

    The deviation field is minutes such that UTC = local time + deviation (a Swedish meter in
    winter sends -60, i.e. 0xFFC4, for UTC+1). When the meter leaves the deviation
    unspecified (0x8000), which Norwegian HAN meters do, the local time is taken as UTC.
    """
    if len(raw) != _DATE_TIME_LENGTH:
        raise UnsupportedFrame(f"a 12-byte COSEM date-time expected, found {len(raw)} bytes")
    year = int.from_bytes(raw[0:2], "big")
    month, day, _weekday, hour, minute, second = raw[2:8]
    deviation = int.from_bytes(raw[9:11], "big", signed=True)
    if year == 0xFFFF or month > 12 or day > 31 or hour > 23 or minute > 59 or second > 59:
        return None
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise UnsupportedFrame(f"a valid calendar date-time expected, found {raw.hex()}") from None
    if deviation != -0x8000:
        local += timedelta(minutes=deviation)
    return Timestamp(int(local.timestamp()))


# --- APDU ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataNotification:
    """A decoded xDLMS DATA-NOTIFICATION."""

    invoke_id: int  # long-invoke-id-and-priority
    date_time: bytes  # 12 bytes, or b"" when absent
    body: object  # the A-XDR notification body
    system_title: bytes = b""  # from the ciphering wrapper, when there was one


def _decrypt(apdu: bytes, key: bytes | None) -> tuple[bytes, bytes]:
    """Unwrap general-glo-ciphering: return (system title, plaintext APDU)."""
    title_len, pos = _length(apdu, 1)
    _need(apdu, pos, title_len, "system title")
    system_title = apdu[pos : pos + title_len]
    pos += title_len
    content_len, pos = _length(apdu, pos)
    _need(apdu, pos, content_len, "ciphered content")
    if len(apdu) != pos + content_len:
        raise UnsupportedFrame(
            f"ciphered APDU of {pos + content_len} bytes expected, found {len(apdu)}"
        )
    content = apdu[pos : pos + content_len]
    if len(content) < 5:
        raise TruncatedFrame(
            f"security control and invocation counter (5 bytes) expected, found {len(content)}"
        )
    security_control = content[0]
    authenticated, encrypted = bool(security_control & 0x10), bool(security_control & 0x20)
    if security_control & 0x80 or security_control & 0x0F:
        raise UnsupportedFrame(
            f"security suite 0 without compression expected, found control byte {security_control:#04x}"
        )
    if not encrypted:
        raise UnsupportedFrame(
            "an encrypted APDU expected, found security control without encryption"
        )
    if key is None:
        raise WrongKey("an AES key for this encrypted DLMS APDU expected, found none")
    if len(key) not in (16, 32):
        raise WrongKey(
            f"a 16-byte key (EK) or 32-byte key (EK||AK) expected, found {len(key)} bytes"
        )
    # One key argument carries both keys: 16 bytes = EK, also used as AK (what HAN meters
    # that publish one key do); 32 bytes = EK followed by AK.
    encryption_key, authentication_key = key[:16], key[16:] or key[:16]
    iv = system_title + content[1:5]
    if len(iv) != 12:
        raise UnsupportedFrame(f"an 8-byte system title expected, found {len(system_title)} bytes")
    body = content[5:]
    if authenticated:
        if len(body) < GCM_TAG_LENGTH:
            raise TruncatedFrame(
                f"a {GCM_TAG_LENGTH}-byte GCM tag expected, found {len(body)} bytes"
            )
        ciphertext, tag = body[:-GCM_TAG_LENGTH], body[-GCM_TAG_LENGTH:]
        decryptor = Cipher(
            algorithms.AES(encryption_key), modes.GCM(iv, tag, min_tag_length=GCM_TAG_LENGTH)
        ).decryptor()
        decryptor.authenticate_additional_data(bytes((security_control,)) + authentication_key)
        plaintext = decryptor.update(ciphertext)
        try:
            plaintext += decryptor.finalize()
        except InvalidTag:
            raise WrongKey(
                f"GCM tag {tag.hex()} to verify with the given key expected, found a mismatch "
                "(wrong key or corrupt frame)"
            ) from None
    else:
        # Encryption without authentication: GCM's counter mode alone (counter starts at 2).
        counter = Cipher(algorithms.AES(encryption_key), modes.CTR(iv + b"\x00\x00\x00\x02"))
        stream = counter.decryptor()
        plaintext = stream.update(body) + stream.finalize()
    return system_title, plaintext


def decode_apdu(apdu: bytes, key: bytes | None = None) -> DataNotification:
    """Decode an xDLMS APDU (DATA-NOTIFICATION, possibly inside general-glo-ciphering)."""
    _need(apdu, 0, 1, "APDU tag")
    system_title = b""
    if apdu[0] == TAG_GENERAL_GLO_CIPHERING:
        system_title, apdu = _decrypt(apdu, key)
        _need(apdu, 0, 1, "APDU tag")
    if apdu[0] != TAG_DATA_NOTIFICATION:
        raise UnsupportedFrame(
            f"APDU tag 0F (data-notification) or DB (general-glo-ciphering) expected, "
            f"found {apdu[0]:02X}"
        )
    _need(apdu, 1, 4, "long-invoke-id-and-priority")
    invoke_id = int.from_bytes(apdu[1:5], "big")
    pos = 5
    _need(apdu, pos, 1, "date-time")
    if apdu[pos] == 9 and pos + 1 < len(apdu) and apdu[pos + 1] == _DATE_TIME_LENGTH:
        # Kaifa writes the date-time with an octet-string type tag (09 0C ...), which the
        # APDU's grammar does not have; accepted because thousands of meters do it.
        pos += 1
    size, pos = _length(apdu, pos)
    if size not in (0, _DATE_TIME_LENGTH):
        raise UnsupportedFrame(f"an empty or 12-byte date-time expected, found {size} bytes")
    _need(apdu, pos, size, "date-time")
    date_time = apdu[pos : pos + size]
    body, pos = decode_data(apdu, pos + size)
    if pos != len(apdu):
        raise UnsupportedFrame(
            f"the APDU to end after its body at {pos} bytes expected, found {len(apdu)} bytes"
        )
    return DataNotification(invoke_id, date_time, body, system_title)


# --- COSEM objects in the body -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CosemValue:
    """One object of a push list: logical name (when the list says it), value, and scaler
    and unit (when the list says them)."""

    obis: str | None
    value: object
    scaler: int | None = None
    unit: int | None = None


# The scaler of a scaler_unit is an integer8 (Blue Book, class 3): a power of ten the value is
# multiplied by. A frame may encode it in a wider integer type; a value outside integer8 is
# refused, not raised to a power no decimal context can hold.
SCALER_RANGE: Final = (-128, 127)

# COSEM unit enumeration (Blue Book, class 3 scaler_unit) -> unit symbol of reading.UNITS.
_UNITS: Final[dict[int, str]] = {
    7: "s",
    9: "degC",
    13: "m3",
    15: "m3/h",
    19: "l",
    25: "J",
    27: "W",
    28: "VA",
    29: "var",
    30: "Wh",
    31: "VAh",
    32: "varh",
    33: "A",
    35: "V",
    44: "Hz",
}

_LIST_VERSION_OBIS: Final = ("1-0:0.2.129", "1-1:0.2.129")
_METER_ID_OBIS: Final = ("0-0:96.1.0", "1-1:0.0.5")
_CLOCK_OBIS: Final = ("0-0:1.0.0", "0-1:1.0.0")

# Lists without scaler_unit: the scaler each manufacturer publishes for its list, by value
# group C (the rest, powers and energies, are in W, var, Wh, varh with scaler 0).
_LIST_SCALERS: Final[dict[str, dict[int, int]]] = {
    # Kaifa MA304 (NVE / Kaifa HAN documentation): currents in mA, voltages in 0.1 V.
    "KFM_001": {31: -3, 51: -3, 71: -3, 32: -1, 52: -1, 72: -1},
    # Kamstrup Omnipower: currents in 0.01 A, voltages in V, energy registers in 10 Wh.
    "Kamstrup_V0001": {31: -2, 51: -2, 71: -2, 32: 0, 52: 0, 72: 0},
}
_KAMSTRUP_ENERGY_SCALER: Final = 1

# Kaifa's Norwegian lists carry no logical names; the objects are fixed by list length.
_P, _Q = "1-0:1.7.0", "1-0:3.7.0"
_KAIFA_LIST_2_1PH: Final = (
    "1-0:0.2.129",
    "0-0:96.1.0",
    "0-0:96.1.7",
    _P,
    "1-0:2.7.0",
    _Q,
    "1-0:4.7.0",
    "1-0:31.7.0",
    "1-0:32.7.0",
)
_KAIFA_LIST_2_3PH: Final = (
    *_KAIFA_LIST_2_1PH[:8],
    "1-0:51.7.0",
    "1-0:71.7.0",
    "1-0:32.7.0",
    "1-0:52.7.0",
    "1-0:72.7.0",
)
_KAIFA_LIST_3_TAIL: Final = ("0-0:1.0.0", "1-0:1.8.0", "1-0:2.8.0", "1-0:3.8.0", "1-0:4.8.0")
_KAIFA_POSITIONAL: Final[dict[int, tuple[str, ...]]] = {
    1: (_P,),
    9: _KAIFA_LIST_2_1PH,
    13: _KAIFA_LIST_2_3PH,
    14: _KAIFA_LIST_2_1PH + _KAIFA_LIST_3_TAIL,
    18: _KAIFA_LIST_2_3PH + _KAIFA_LIST_3_TAIL,
}
# Units of the electricity objects of lists that do not state them: C -> unit.
_DEFAULT_UNITS: Final[dict[tuple[int, int], str]] = {
    **{(c, 7): "W" for c in (1, 2)},
    **{(c, 7): "var" for c in (3, 4)},
    **{(c, 8): "Wh" for c in (1, 2)},
    **{(c, 8): "varh" for c in (3, 4)},
    **{(c, 7): "A" for c in (31, 51, 71)},
    **{(c, 7): "V" for c in (32, 52, 72)},
}


def _logical_name(value: object) -> str | None:
    if isinstance(value, bytes) and len(value) == 6:
        return obis_from_bytes(value)
    return None


def _text(value: object) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            return value.hex()
    return str(value)


def body_objects(body: object) -> list[CosemValue]:
    """The COSEM objects of a notification body, in any of the three list shapes."""
    if isinstance(body, Array) and all(isinstance(i, Structure) for i in body.items):
        objects = []
        for item in body.items:
            assert isinstance(item, Structure)
            fields = item.items
            name = _logical_name(fields[0]) if fields else None
            if name is None or len(fields) not in (2, 3):
                raise UnsupportedFrame(
                    f"structure (logical name, value[, scaler_unit]) expected, found {fields!r}"
                )
            scaler = unit = None
            if len(fields) == 3:
                scaler_unit = fields[2]
                if not (
                    isinstance(scaler_unit, Structure)
                    and len(scaler_unit.items) == 2
                    and isinstance(scaler_unit.items[0], int)
                    and SCALER_RANGE[0] <= scaler_unit.items[0] <= SCALER_RANGE[1]
                    and isinstance(scaler_unit.items[1], Enum)
                ):
                    raise UnsupportedFrame(
                        "scaler_unit (integer8 scaler -128..127, enum unit) expected, "
                        f"found {scaler_unit!r}"
                    )
                scaler, unit = scaler_unit.items[0], scaler_unit.items[1].value
            objects.append(CosemValue(name, fields[1], scaler, unit))
        return objects
    if not isinstance(body, Structure):
        raise UnsupportedFrame(
            f"a structure or array of structures expected, found {type(body).__name__}"
        )
    items = body.items
    first = items[0] if items else None
    if (len(items) == 1 and isinstance(first, int)) or (
        _text(first) == "KFM_001" and not any(_logical_name(i) for i in items[:2])
    ):
        names = _KAIFA_POSITIONAL.get(len(items))
        if names is None:
            raise UnsupportedFrame(
                f"a Kaifa list of {sorted(_KAIFA_POSITIONAL)} objects expected, found {len(items)}"
            )
        return [CosemValue(name, value) for name, value in zip(names, items, strict=True)]
    objects = []
    index = 0
    while index < len(items):
        item = items[index]
        name = _logical_name(item)
        if item is None:
            index += 1  # Kamstrup pads absent objects with null-data
        elif name is not None and index + 1 < len(items):
            objects.append(CosemValue(name, items[index + 1]))
            index += 2
        else:
            # A bare leading value: the list version identifier (Kamstrup).
            objects.append(CosemValue("1-1:0.2.129" if index == 0 else None, item))
            index += 1
    return objects


def _scale(obj: CosemValue, list_id: str | None) -> tuple[int, str] | None:
    """(scaler, unit symbol) for a numeric object, or ``None`` when the list does not say."""
    if obj.unit is not None:
        symbol = _UNITS.get(obj.unit)
        return None if symbol is None or obj.scaler is None else (obj.scaler, symbol)
    if obj.obis is None:
        return None
    group = obj.obis.split(":")[1].split(".")
    c, d = int(group[0]), int(group[1])
    symbol = _DEFAULT_UNITS.get((c, d))
    if symbol is None or not obj.obis.startswith("1-"):
        return None
    scalers = _LIST_SCALERS.get(list_id or "", {})
    if symbol in ("A", "V"):
        if c not in scalers:
            return None  # a current or voltage of unknown scale: not guessed
        return scalers[c], symbol
    if list_id == "Kamstrup_V0001" and d == 8:
        return _KAMSTRUP_ENERGY_SCALER, symbol
    return 0, symbol


def notification_readings(
    notification: DataNotification, raw: bytes, meter: str | None = None
) -> list[Reading]:
    """Readings of a decoded notification; ``raw`` is the input the hash is taken of."""
    objects = body_objects(notification.body)
    by_name = {o.obis: o.value for o in objects if o.obis is not None}
    list_id = next((_text(by_name[n]) for n in _LIST_VERSION_OBIS if n in by_name), None)
    meter_id = next((_text(by_name[n]) for n in _METER_ID_OBIS if n in by_name), None)
    if meter_id is None:
        # A short list (power only) does not name the meter; a ciphered frame's system
        # title does, else the caller's identifier. "" marks "not identified".
        meter_id = meter if meter is not None else notification.system_title.hex()
    timestamp = decode_date_time(notification.date_time) if notification.date_time else None
    if timestamp is None:
        clock = next((by_name[n] for n in _CLOCK_OBIS if n in by_name), None)
        if isinstance(clock, bytes) and len(clock) == _DATE_TIME_LENGTH:
            timestamp = decode_date_time(clock)
    digest = raw_hash(raw)
    readings = []
    for obj in objects:
        if not isinstance(obj.value, int | Decimal) or isinstance(obj.value, bool):
            continue
        scale = _scale(obj, list_id)
        if scale is None:
            continue
        scaler, symbol = scale
        value, unit = to_base_unit(Decimal(obj.value).scaleb(scaler), symbol)
        readings.append(
            Reading(
                meter=meter_id,
                obis=obj.obis,
                quantity=quantity_for(obj.obis, unit),
                value=value,
                unit=unit,
                timestamp=timestamp,
                source=SOURCE,
                raw_hash=digest,
            )
        )
    if not readings:
        raise UnsupportedFrame(
            "at least one object with a known unit and scale expected, found none "
            f"(list {list_id or 'without version id'}, {len(objects)} objects)"
        )
    return readings


def unwrap(data: bytes) -> bytes:
    """The xDLMS APDU inside ``data``: HDLC frame(s) (with or without flags), or an LLC
    header + APDU, or a bare APDU."""
    if not data:
        raise TruncatedFrame("DLMS frame bytes expected, found 0 bytes")
    if data[0] == hdlc.FLAG or data[0] >> 4 == hdlc.FORMAT_TYPE_3:
        data = hdlc.information_of(data)
    for header in LLC_HEADERS:
        if data.startswith(header):
            return data[len(header) :]
    return data


def parse_dlms(data: bytes, key: bytes | None = None, *, meter: str | None = None) -> list[Reading]:
    """Readings of one DLMS/COSEM push (see ``unwrap`` for the accepted framings).

    ``key``: 16-byte AES key (EK, also used as AK) or 32 bytes EK||AK for ciphered pushes.
    ``meter``: identifier to use when the list does not name the meter (short lists).
    """
    try:
        notification = decode_apdu(unwrap(data), key)
        return notification_readings(notification, data, meter)
    except AdapterError:
        raise
    except (ValueError, IndexError, TypeError) as exc:  # pragma: no cover - defensive
        raise UnsupportedFrame(f"a decodable DLMS push expected, found {exc}") from None
