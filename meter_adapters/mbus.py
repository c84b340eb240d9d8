"""Wired M-Bus (EN 13757-2 link layer, EN 13757-3 application layer) into readings.

A meter answers a REQ_UD2 with a long frame ``68 L L 68 | C A CI | data | CS 16`` where CS is
the byte sum of C..data. With CI 72 the data is a 12-byte header (the meter's secondary
address: 8 BCD digits of identification, manufacturer, version, medium; then access number,
status and configuration word) followed by data records. Each record is

    DIF [DIFE...] VIF [VIFE...] data

DIF gives the data coding (integer, BCD, real, variable length...), the function (current,
maximum, minimum, error value) and the storage number; DIFEs add storage bits, tariff and
sub-unit; VIF gives the quantity, its unit and a decimal exponent (``0x06`` = energy in
10^3 Wh, ``0x13`` = volume in 10^-3 m3). Old meters answer with CI 73, a fixed 16-byte
structure with two counters.

Values are converted exactly, with integer arithmetic only, to the unit chosen for the VIF:
the coarsest unit of a fixed ladder (Wh, dm3, W, mdegC, ...) that holds the VIF's resolution
as a whole number, so a meter's register always comes out in the same unit. Reals (DIF x5)
are read as the shortest decimal that round-trips to the same binary32 value; a real that is
not then a whole number of the unit is refused.

The meter identifier is ``"MAN-IIIIIIII"``: the three-letter manufacturer code and the eight
identification digits of the secondary address (``"KAM-06855817"``). The decoder here is also
used by ``meter_adapters.wmbus`` for the application layer of wireless telegrams.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Final

from chain.types import Timestamp
from meter_adapters.errors import (
    AdapterError,
    ChecksumError,
    TruncatedFrame,
    UnsupportedFrame,
)
from meter_adapters.reading import Reading, raw_hash

SOURCE: Final = "mbus"

START_LONG: Final = 0x68
START_SHORT: Final = 0x10
STOP: Final = 0x16
SINGLE_ACK: Final = 0xE5

CI_VARIABLE_LONG: Final = 0x72  # RSP_UD, 12-byte header, LSB first
CI_VARIABLE_SHORT: Final = 0x7A  # 4-byte header (wireless, or after ELL)
CI_VARIABLE_NONE: Final = 0x78  # no header (wireless, address in the link layer)
CI_FIXED: Final = 0x73
CI_VARIABLE_MSB: Final = 0x76
CI_FIXED_MSB: Final = 0x77

MAX_VIFE: Final = 10  # EN 13757-3 allows at most 10 VIFEs (and 10 DIFEs)

MEDIA: Final[dict[int, str]] = {
    0x00: "other",
    0x01: "oil",
    0x02: "electricity",
    0x03: "gas",
    0x04: "heat",
    0x05: "steam",
    0x06: "warm_water",
    0x07: "water",
    0x08: "heat_cost_allocator",
    0x09: "compressed_air",
    0x0A: "cooling",
    0x0B: "cooling",
    0x0C: "heat",
    0x0D: "heat_cooling",
    0x0E: "bus",
    0x15: "hot_water",
    0x16: "cold_water",
    0x17: "dual_water",
    0x18: "pressure",
    0x1B: "room_sensor",
    0x1C: "gas_detector",
    0x25: "radio_converter",
}


# --- records ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SecondaryAddress:
    """The meter's identity from a long header (or a wireless link layer)."""

    identification: str  # 8 digits (hex digits if the meter does not use BCD)
    manufacturer: str  # three letters, e.g. "KAM"
    version: int
    medium: int

    @property
    def meter_id(self) -> str:
        # Fixed-structure meters (CI 73) send no manufacturer: the digits alone.
        if not self.manufacturer:
            return self.identification
        return f"{self.manufacturer}-{self.identification}"


@dataclass(frozen=True, slots=True)
class DataRecord:
    """One decoded data record.

    ``value`` is an ``int`` in ``unit`` for physical quantities, an ``int`` for counters and
    identifiers without unit, ``str`` for text, dates (ISO 8601) and manufacturer data (hex),
    or ``None`` when the meter marks the value invalid.
    """

    dif: bytes  # DIF and DIFEs as received
    vif: bytes  # VIF and VIFEs as received
    function: str  # "instantaneous", "maximum", "minimum", "error"
    storage: int
    tariff: int
    subunit: int
    quantity: str  # "energy", "volume", "fabrication_no", "date_time", ...
    unit: str | None  # base unit of ``value`` for physical quantities
    value: int | str | None
    timestamp: Timestamp | None = None  # for date / date-time records: unix seconds UTC


@dataclass(frozen=True, slots=True)
class Telegram:
    """A decoded M-Bus application-layer response."""

    address: SecondaryAddress | None
    access_number: int
    status: int
    records: tuple[DataRecord, ...]


# --- integers, BCD, dates -------------------------------------------------------------


def bcd_decode(data: bytes) -> int | None:
    """EN 13757-3 type A: BCD, least significant byte first. A most significant nibble F
    is a minus sign. Returns ``None`` when another nibble is not a decimal digit (meters
    send such values to flag an error)."""
    digits = data[::-1].hex().upper()
    sign = 1
    if digits and digits[0] == "F":
        sign, digits = -1, digits[1:]
    if not digits.isdigit() and digits:
        return None
    return sign * int(digits or "0")


def bcd_encode(value: int, length: int) -> bytes:
    """The ``length``-byte BCD form of ``value`` (negative: leading nibble F)."""
    digits = str(abs(value))
    width = 2 * length - (1 if value < 0 else 0)
    if len(digits) > width:
        raise UnsupportedFrame(f"at most {width} BCD digits expected, found {len(digits)}")
    text = ("F" if value < 0 else "") + digits.rjust(width, "0")
    return bytes.fromhex(text)[::-1]


def manufacturer_code(raw: int) -> str:
    """The three letters packed in the 15-bit manufacturer field (EN 62056-21 flag ids)."""
    return "".join(chr(((raw >> shift) & 0x1F) + 64) for shift in (10, 5, 0))


def _identification(data: bytes) -> str:
    # BCD digits LSB first; printed as hex so that a meter using non-BCD ids still maps to
    # one stable text.
    return data[::-1].hex().upper()


def _year(low: int, high: int) -> int:
    year = ((low & 0xE0) >> 5) | ((high & 0xF0) >> 1)
    return 2000 + year if year < 81 else 1900 + year


def decode_date(data: bytes) -> tuple[str, Timestamp] | None:
    """Type G (2 bytes) date, or type F (4 bytes) / I (6 bytes) date-time, as ISO text and
    unix seconds. M-Bus times carry no zone: they are read as UTC (documented choice).
    ``None`` when the meter marks the time invalid or leaves fields empty."""
    try:
        if len(data) == 2:
            day, month, year = data[0] & 0x1F, data[1] & 0x0F, _year(data[0], data[1])
            if day == 0 or month == 0:
                return None
            when = datetime(year, month, day, tzinfo=UTC)
            return when.strftime("%Y-%m-%d"), Timestamp(int(when.timestamp()))
        if len(data) in (4, 6):
            offset = 1 if len(data) == 6 else 0
            second = data[0] & 0x3F if offset else 0
            if data[offset] & 0x80:  # IV: time invalid
                return None
            minute, hour = data[offset] & 0x3F, data[offset + 1] & 0x1F
            day, month = data[offset + 2] & 0x1F, data[offset + 3] & 0x0F
            year = _year(data[offset + 2], data[offset + 3])
            if day == 0 or month == 0:
                return None
            when = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            return when.strftime("%Y-%m-%dT%H:%M:%SZ"), Timestamp(int(when.timestamp()))
    except ValueError:
        return None  # e.g. 31 February: a meter's invalid date, not a frame error
    raise UnsupportedFrame(f"a 2-, 4- or 6-byte M-Bus date expected, found {len(data)} bytes")


def real32_to_decimal(data: bytes) -> Decimal:
    """The shortest decimal that reads back as the same IEEE binary32 value."""
    (number,) = struct.unpack("<f", data)
    if number != number or number in (float("inf"), float("-inf")):
        raise UnsupportedFrame(f"a finite real value expected, found {data.hex()}")
    for digits in range(1, 10):
        text = f"{number:.{digits}g}"
        if struct.pack("<f", float(text)) == data:
            return Decimal(text)
    return Decimal(number)  # pragma: no cover - 9 significant digits always round-trip


# --- VIF tables ------------------------------------------------------------------------

# Unit ladders: (unit, power of ten of that unit relative to the VIF's SI unit), coarse first.
_LADDERS: Final[dict[str, tuple[tuple[str, int], ...]]] = {
    "Wh": (("Wh", 0), ("mWh", -3)),
    "J": (("J", 0), ("mJ", -3)),
    "m3": (("dm3", -3), ("ml", -6), ("ul", -9)),
    "kg": (("kg", 0), ("g", -3), ("mg", -6)),
    "W": (("W", 0), ("mW", -3)),
    "J/h": (("J/h", 0), ("mJ/h", -3)),
    "m3/h": (("dm3/h", -3), ("ml/h", -6), ("ul/h", -9)),
    "m3/min": (("dm3/min", -3), ("ml/min", -6), ("ul/min", -9)),
    "m3/s": (("dm3/s", -3), ("ml/s", -6), ("ul/s", -9)),
    "kg/h": (("kg/h", 0), ("g/h", -3), ("mg/h", -6)),
    "degC": (("mdegC", -3), ("udegC", -6)),
    "K": (("mK", -3), ("uK", -6)),
    "bar": (("mbar", -3), ("ubar", -6)),
    "V": (("mV", -3), ("uV", -6), ("nV", -9)),
    "A": (("mA", -3), ("uA", -6), ("nA", -9), ("pA", -12)),
    "s": (("s", 0),),
    "%RH": (("permille_rh", -1), ("ppm_rh", -4)),
    "hca": (("hca", 0),),
}
_TIME_UNITS: Final = (1, 60, 3600, 86400)  # nn = 0 s, 1 min, 2 h, 3 days


@dataclass(frozen=True, slots=True)
class _Vif:
    quantity: str
    si_unit: str | None = None  # key of _LADDERS, or None for values without unit
    exponent: int = 0  # value = raw * 10^exponent * factor in si_unit
    factor: int = 1
    kind: str = "number"  # "number", "date", "datetime", "text", "id"


def _primary_vif(code: int) -> _Vif:
    n = code & 0x07
    if code <= 0x07:
        return _Vif("energy", "Wh", n - 3)
    if code <= 0x0F:
        return _Vif("energy", "J", n)
    if code <= 0x17:
        return _Vif("volume", "m3", n - 6)
    if code <= 0x1F:
        return _Vif("mass", "kg", n - 3)
    if code <= 0x23:
        return _Vif("on_time", "s", 0, _TIME_UNITS[code & 3])
    if code <= 0x27:
        return _Vif("operating_time", "s", 0, _TIME_UNITS[code & 3])
    if code <= 0x2F:
        return _Vif("power", "W", n - 3)
    if code <= 0x37:
        return _Vif("power", "J/h", n)
    if code <= 0x3F:
        return _Vif("volume_flow", "m3/h", n - 6)
    if code <= 0x47:
        return _Vif("volume_flow", "m3/min", n - 7)
    if code <= 0x4F:
        return _Vif("volume_flow", "m3/s", n - 9)
    if code <= 0x57:
        return _Vif("mass_flow", "kg/h", n - 3)
    m = code & 0x03
    if code <= 0x5B:
        return _Vif("flow_temperature", "degC", m - 3)
    if code <= 0x5F:
        return _Vif("return_temperature", "degC", m - 3)
    if code <= 0x63:
        return _Vif("temperature_difference", "K", m - 3)
    if code <= 0x67:
        return _Vif("external_temperature", "degC", m - 3)
    if code <= 0x6B:
        return _Vif("pressure", "bar", m - 3)
    if code == 0x6C:
        return _Vif("date", kind="date")
    if code == 0x6D:
        return _Vif("date_time", kind="datetime")
    if code == 0x6E:
        return _Vif("hca", "hca")
    if 0x70 <= code <= 0x73:
        return _Vif("averaging_duration", "s", 0, _TIME_UNITS[code & 3])
    if 0x74 <= code <= 0x77:
        return _Vif("actuality_duration", "s", 0, _TIME_UNITS[code & 3])
    if code == 0x78:
        return _Vif("fabrication_no", kind="id")
    if code == 0x79:
        return _Vif("enhanced_identification", kind="id")
    if code == 0x7A:
        return _Vif("bus_address", kind="id")
    if code == 0x7E:
        return _Vif("any", kind="id")
    if code == 0x7F:
        return _Vif("manufacturer_specific", kind="id")
    return _Vif("reserved", kind="id")


_FD_IDS: Final[dict[int, str]] = {
    0x08: "access_number",
    0x09: "medium",
    0x0A: "manufacturer",
    0x0B: "parameter_set_id",
    0x0C: "model_version",
    0x0D: "hardware_version",
    0x0E: "firmware_version",
    0x0F: "software_version",
    0x10: "customer_location",
    0x11: "customer",
    0x12: "access_code_user",
    0x13: "access_code_operator",
    0x14: "access_code_system_operator",
    0x15: "access_code_developer",
    0x16: "password",
    0x17: "error_flags",
    0x18: "error_mask",
    0x1A: "digital_output",
    0x1B: "digital_input",
    0x1C: "baud_rate",
    0x1D: "response_delay",
    0x1E: "retry",
    0x20: "first_storage_number",
    0x21: "last_storage_number",
    0x22: "storage_block_size",
    0x3A: "dimensionless",
    0x60: "reset_counter",
    0x61: "cumulation_counter",
    0x62: "control_signal",
    0x63: "day_of_week",
    0x64: "week_number",
    0x65: "time_point_day_change",
    0x66: "parameter_activation_state",
    0x67: "special_supplier_information",
}


def _fd_vif(code: int) -> _Vif:
    """VIF extension table after VIF FD (EN 13757-3 table 14)."""
    if code <= 0x03:
        return _Vif("credit", kind="id")  # currency units: not a metered quantity
    if code <= 0x07:
        return _Vif("debit", kind="id")
    if 0x24 <= code <= 0x27:
        return _Vif("storage_interval", "s", 0, _TIME_UNITS[code & 3])
    if 0x2C <= code <= 0x2F:
        return _Vif("duration_since_readout", "s", 0, _TIME_UNITS[code & 3])
    if 0x40 <= code <= 0x4F:
        return _Vif("voltage", "V", (code & 0x0F) - 9)
    if 0x50 <= code <= 0x5F:
        return _Vif("current", "A", (code & 0x0F) - 12)
    if 0x68 <= code <= 0x6B:
        return _Vif("duration_since_cumulation", "s", 0, _TIME_UNITS[code & 3])
    if 0x6C <= code <= 0x6F:
        return _Vif("battery_operating_time", "s", 0, _TIME_UNITS[code & 3])
    if code == 0x70:
        return _Vif("battery_change_date_time", kind="datetime")
    if code == 0x74:
        return _Vif("remaining_battery_life", "s", 0, 86400)
    return _Vif(_FD_IDS.get(code, f"vif_fd_{code:02x}"), kind="id")


def _fb_vif(code: int) -> _Vif:
    """VIF extension table after VIF FB (EN 13757-3 table 12)."""
    n = code & 0x01
    if code <= 0x01:
        return _Vif("energy", "Wh", n - 1 + 6)  # 10^(n-1) MWh
    if 0x08 <= code <= 0x09:
        return _Vif("energy", "J", n - 1 + 9)  # 10^(n-1) GJ
    if 0x10 <= code <= 0x11:
        return _Vif("volume", "m3", n + 2)
    if 0x18 <= code <= 0x19:
        return _Vif("mass", "kg", n + 2 + 3)  # 10^(n+2) t
    if 0x1A <= code <= 0x1B:
        return _Vif("relative_humidity", "%RH", n - 1)  # OMS: 10^(n-1) %
    if 0x28 <= code <= 0x29:
        return _Vif("power", "W", n - 1 + 6)  # 10^(n-1) MW
    if 0x30 <= code <= 0x31:
        return _Vif("power", "J/h", n - 1 + 9)  # 10^(n-1) GJ/h
    return _Vif(f"vif_fb_{code:02x}", kind="id")


# --- record decoding -------------------------------------------------------------------

_FUNCTIONS: Final = ("instantaneous", "maximum", "minimum", "error")
_FIXED_SIZE: Final[dict[int, int]] = {
    0x0: 0, 0x1: 1, 0x2: 2, 0x3: 3, 0x4: 4, 0x5: 4, 0x6: 6, 0x7: 8,
    0x8: 0, 0x9: 1, 0xA: 2, 0xB: 3, 0xC: 4, 0xE: 6,
}  # fmt: skip


def data_size(dif: int) -> int:
    """Size of a record's data for a DIF of fixed length (not 0D variable, not 0F/1F)."""
    coding = dif & 0x0F
    if coding not in _FIXED_SIZE:
        raise UnsupportedFrame(f"a DIF with fixed-size data expected, found {dif:02X}")
    return _FIXED_SIZE[coding]


def _need(data: bytes, pos: int, count: int, what: str) -> None:
    if pos + count > len(data):
        raise TruncatedFrame(
            f"{count} bytes of {what} at offset {pos} expected, found {max(0, len(data) - pos)}"
        )


def _choose_unit(si_unit: str, exponent: int) -> tuple[str, int]:
    """The coarsest unit of the ladder that holds 10^exponent of the SI unit exactly."""
    ladder = _LADDERS[si_unit]
    for unit, power in ladder:
        if exponent >= power:
            return unit, exponent - power
    unit, power = ladder[-1]
    return unit, exponent - power  # finer than the ladder: stays a negative exponent


def _scaled(raw: int | Decimal, exponent: int, factor: int, what: str) -> int:
    """raw * 10^exponent * factor as an exact integer, or ``UnsupportedFrame``.

    Integers and BCD always fit: the unit was chosen for the VIF's resolution (a negative
    exponent only comes from a correction-factor VIFE). A real (``Decimal`` here) is
    rounded half-to-even to the unit: binary32 holds about 7 significant digits, so the
    rounding is far below the value's own precision.
    """
    with localcontext() as context:
        # Variable-length binary values reach 36 digits: keep every digit exact.
        context.prec = 120
        value = Decimal(raw).scaleb(exponent) * factor
    if isinstance(raw, Decimal):
        return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))
    if value != value.to_integral_value():
        raise UnsupportedFrame(
            f"{what}: a whole number of the unit expected, found {raw}e{exponent}*{factor}"
        )
    return int(value)


# Orthogonal VIFE extension (VIFE 7C/FC, then one code; EN 13757-3:2018): the phase or
# conductor a value belongs to, named as DSMR names phases. Other codes of that table are kept
# as a qualifier with their code, so that two registers never share one name.
_EXTENSION_QUALIFIERS: Final[dict[int, str]] = {0x01: "_l1", 0x02: "_l2", 0x03: "_l3", 0x04: "_n"}
# Limit values (VIFE 40 / 48) are of the same unit as the quantity, but not the quantity.
_LIMIT_QUALIFIERS: Final[dict[int, str]] = {0x40: "_lower_limit", 0x48: "_upper_limit"}


def _combinable(vifes: bytes) -> tuple[int, str]:
    """Effect of combinable VIFEs: (extra power of ten, quantity suffix)."""
    extra = 0
    backward = ""
    qualifiers = ""
    extension = False
    for vife in vifes:
        code = vife & 0x7F
        if extension:
            qualifiers += _EXTENSION_QUALIFIERS.get(code, f"_ext{code:02x}")
            extension = False
        elif 0x70 <= code <= 0x77:
            extra += (code & 0x07) - 6  # multiplicative correction factor 10^(nnn-6)
        elif code == 0x7D:
            extra += 3  # multiplicative correction factor 1000
        elif code == 0x3C:
            backward = "_backward"  # accumulation of negative contributions (backward flow)
        elif code == 0x7C:
            extension = True
        elif code in _LIMIT_QUALIFIERS:
            qualifiers += _LIMIT_QUALIFIERS[code]
    return extra, backward + qualifiers


def _decode_value(coding: int, data: bytes) -> int | Decimal | str | bytes | None:
    if coding in (0x1, 0x2, 0x3, 0x4, 0x6, 0x7):
        return int.from_bytes(data, "little", signed=True)
    if coding in (0x9, 0xA, 0xB, 0xC, 0xE):
        return bcd_decode(data)
    if coding == 0x5:
        (number,) = struct.unpack("<f", data)
        if number != number or number in (float("inf"), float("-inf")):
            return None  # NaN/infinity: the meter's way of saying "no valid value"
        return real32_to_decimal(data)
    return data


def _variable_value(lvar: int, data: bytes) -> int | str | bytes | None:
    """Value of a DIF xD record by its LVAR byte (EN 13757-3 table 5)."""
    if lvar <= 0xBF:
        # ASCII text, transmitted last character first.
        return data[::-1].decode("latin-1")
    if 0xC0 <= lvar <= 0xC9:
        return bcd_decode(data)
    if 0xD0 <= lvar <= 0xD9:
        value = bcd_decode(data)
        return None if value is None else -value
    if 0xE0 <= lvar <= 0xEF:
        return int.from_bytes(data, "little", signed=True)
    return data


def _lvar_size(lvar: int) -> int:
    if lvar <= 0xBF:
        return lvar
    if 0xC0 <= lvar <= 0xC9:
        return lvar - 0xC0
    if 0xD0 <= lvar <= 0xD9:
        return lvar - 0xD0
    if 0xE0 <= lvar <= 0xEF:
        return lvar - 0xE0
    if 0xF0 <= lvar <= 0xF4:
        return 4 * (lvar - 0xEC)
    if lvar == 0xF5:
        return 48
    if lvar == 0xF6:
        return 64
    raise UnsupportedFrame(f"an LVAR byte (00..F6) expected, found {lvar:02X}")


def decode_records(payload: bytes, pos: int = 0) -> list[DataRecord]:
    """Decode the data records in ``payload[pos:]``."""
    records: list[DataRecord] = []
    while pos < len(payload):
        dif = payload[pos]
        if dif == 0x2F:  # idle filler
            pos += 1
            continue
        if dif in (0x0F, 0x1F):
            # Manufacturer-specific data up to the end (1F: more records in the next frame).
            rest = payload[pos + 1 :]
            records.append(
                DataRecord(bytes((dif,)), b"", "instantaneous", 0, 0, 0,
                           "manufacturer_specific", None, rest.hex().upper())
            )  # fmt: skip
            break
        if dif & 0x0F == 0x0F:
            raise UnsupportedFrame(
                f"a DIF (not a special function 3F..7F) expected, found {dif:02X}"
            )
        start = pos
        storage = (dif >> 6) & 1
        tariff = subunit = 0
        pos += 1
        ext = dif & 0x80
        difes = 0
        while ext:
            _need(payload, pos, 1, "DIFE")
            dife = payload[pos]
            storage |= (dife & 0x0F) << (1 + 4 * difes)
            tariff |= ((dife >> 4) & 0x03) << (2 * difes)
            subunit |= ((dife >> 6) & 0x01) << difes
            difes += 1
            if difes > 10:
                raise UnsupportedFrame("at most 10 DIFEs expected, found more")
            ext = dife & 0x80
            pos += 1
        dif_bytes = payload[start:pos]
        vif_start = pos
        _need(payload, pos, 1, "VIF")
        vif = payload[pos]
        pos += 1
        text_unit = None
        if vif & 0x7F == 0x7C:
            # Plain-text VIF: length and ASCII (last character first) come right after the
            # VIF, before any VIFE.
            _need(payload, pos, 1, "plain-text VIF length")
            size = payload[pos]
            _need(payload, pos + 1, size, "plain-text VIF")
            text_unit = payload[pos + 1 : pos + 1 + size][::-1].decode("latin-1")
            pos += 1 + size
        vifes = bytearray()
        ext = vif & 0x80
        while ext:
            _need(payload, pos, 1, "VIFE")
            vifes.append(payload[pos])
            if len(vifes) > MAX_VIFE:
                raise UnsupportedFrame(f"at most {MAX_VIFE} VIFEs expected, found more")
            ext = payload[pos] & 0x80
            pos += 1
        vif_bytes = payload[vif_start:pos]
        coding = dif & 0x0F
        if coding == 0x0D:
            _need(payload, pos, 1, "LVAR")
            lvar = payload[pos]
            size = _lvar_size(lvar)
            _need(payload, pos + 1, size, "variable-length data")
            raw = payload[pos + 1 : pos + 1 + size]
            value: int | Decimal | str | bytes | None = _variable_value(lvar, raw)
            pos += 1 + size
        else:
            size = _FIXED_SIZE[coding]
            _need(payload, pos, size, f"data for DIF {dif:02X}")
            raw = payload[pos : pos + size]
            value = _decode_value(coding, raw) if size else None
            pos += size
        records.append(
            _record(dif_bytes, vif_bytes, vif, bytes(vifes), text_unit, storage, tariff,
                    subunit, value, raw)
        )  # fmt: skip
    return records


def _record(
    dif: bytes,
    vif_bytes: bytes,
    vif: int,
    vifes: bytes,
    text_unit: str | None,
    storage: int,
    tariff: int,
    subunit: int,
    value: int | Decimal | str | bytes | None,
    raw: bytes,
) -> DataRecord:
    function = _FUNCTIONS[(dif[0] >> 4) & 0x03]
    rest = vifes
    if vif & 0x7F == 0x7D and vifes:
        info, rest = _fd_vif(vifes[0] & 0x7F), vifes[1:]
    elif vif & 0x7F == 0x7B and vifes:
        info, rest = _fb_vif(vifes[0] & 0x7F), vifes[1:]
    elif vif & 0x7F == 0x7C:
        info = _Vif(f"text:{text_unit}", kind="id")
    else:
        info = _primary_vif(vif & 0x7F)
    maker = b""
    for index, vife in enumerate(rest):
        if vife & 0x7F == 0x7F:
            # A manufacturer-specific VIFE: what follows is the maker's (EMU, Saia and Finder
            # number the phases this way). The VIF's quantity and unit still hold, the
            # maker's bytes go into the quantity name so that registers stay distinct.
            rest, maker = rest[:index], rest[index:]
            break
    if maker and info.kind == "number":
        info = _Vif(
            f"{info.quantity}_mfr{maker[1:].hex()}", info.si_unit, info.exponent, info.factor
        )
    common = (dif, vif_bytes, function, storage, tariff, subunit)

    def as_text(v: int | Decimal | str | bytes | None) -> int | str | None:
        if isinstance(v, bytes):
            return v[::-1].hex().upper()
        if isinstance(v, Decimal):
            return str(v)
        return v

    if info.kind in ("date", "datetime"):
        if dif[0] & 0x0F in (0x2, 0x4, 0x6):
            decoded = decode_date(raw)
            if decoded is None:
                return DataRecord(*common, info.quantity, None, None)
            return DataRecord(*common, info.quantity, None, decoded[0], decoded[1])
        return DataRecord(*common, info.quantity, None, as_text(value))
    if info.kind == "id" or info.si_unit is None:
        return DataRecord(*common, info.quantity, None, as_text(value))
    if value is None or isinstance(value, str | bytes):
        return DataRecord(*common, info.quantity, None, as_text(value))
    extra, suffix = _combinable(rest)
    unit, exponent = _choose_unit(info.si_unit, info.exponent + extra)
    number = _scaled(value, exponent, info.factor, f"{info.quantity} record DIF {dif.hex()}")
    return DataRecord(*common, info.quantity + suffix, unit, number)


# --- headers and frames ----------------------------------------------------------------


def decode_long_header(data: bytes) -> tuple[SecondaryAddress, int, int, int]:
    """12-byte header: (address, access number, status, configuration word)."""
    _need(data, 0, 12, "long header")
    address = SecondaryAddress(
        identification=_identification(data[0:4]),
        manufacturer=manufacturer_code(int.from_bytes(data[4:6], "little")),
        version=data[6],
        medium=data[7],
    )
    return address, data[8], data[9], int.from_bytes(data[10:12], "little")


def security_mode(configuration: int) -> int:
    """OMS security mode: bits 8..12 of the configuration word."""
    return (configuration >> 8) & 0x1F


# OMS-defined encryption modes (5 AES-CBC, 7 AES-CBC with derived key, 8 AES-CTR,
# 9 AES-GCM, 10 AES-CCM, 13 TLS). Older wired meters put other values in this field,
# which EN 13757-3:2004 called "signature" and left unused: those are not encryption.
ENCRYPTION_MODES: Final = (5, 7, 8, 9, 10, 13)


# Fixed data structure (CI 73) counter units: code -> (si unit, exponent) or None.
_FIXED_UNITS: Final[dict[int, tuple[str, int]]] = {
    **{0x02 + i: ("Wh", i) for i in range(9)},  # Wh .. 100 MWh
    **{0x0B + i: ("J", 3 + i) for i in range(9)},  # kJ .. 100 GJ
    **{0x14 + i: ("W", i) for i in range(9)},  # W .. 100 MW
    **{0x1D + i: ("J/h", 3 + i) for i in range(9)},  # kJ/h .. 100 GJ/h
    **{0x26 + i: ("m3", i - 6) for i in range(9)},  # ml .. 100 m3
    **{0x2F + i: ("m3/h", i - 6) for i in range(9)},  # ml/h .. 100 m3/h
    0x38: ("degC", -3),
    0x39: ("hca", 0),
}
_FIXED_QUANTITY: Final = {
    "Wh": "energy",
    "J": "energy",
    "W": "power",
    "J/h": "power",
    "m3": "volume",
    "m3/h": "volume_flow",
    "degC": "temperature",
    "hca": "hca",
}


def _decode_fixed(payload: bytes) -> Telegram:
    """CI 73: id(4 BCD) access status medium/units(2) counter1(4) counter2(4)."""
    if len(payload) != 16:
        raise UnsupportedFrame(f"a 16-byte fixed data structure expected, found {len(payload)}")
    status = payload[5]
    medium = ((payload[6] & 0xC0) >> 6) | ((payload[7] & 0xC0) >> 4)
    address = SecondaryAddress(_identification(payload[0:4]), "", 0, medium)
    function = "stored" if status & 0x40 else "instantaneous"
    records = []
    for index, (unit_code, counter) in enumerate(
        ((payload[6] & 0x3F, payload[8:12]), (payload[7] & 0x3F, payload[12:16]))
    ):
        raw = (
            int.from_bytes(counter, "little", signed=True) if status & 0x80 else bcd_decode(counter)
        )
        spec = _FIXED_UNITS.get(unit_code)
        common = (bytes((index,)), bytes((unit_code,)), function, 0, 0, 0)
        if spec is None or raw is None:
            records.append(DataRecord(*common, f"fixed_unit_{unit_code:02x}", None, raw))
            continue
        si_unit, exponent = spec
        unit, power = _choose_unit(si_unit, exponent)
        value = _scaled(raw, power, 1, f"fixed counter {index + 1}")
        records.append(DataRecord(*common, _FIXED_QUANTITY[si_unit], unit, value))
    return Telegram(address, payload[4], status, tuple(records))


@dataclass(frozen=True, slots=True)
class LongFrame:
    control: int
    address: int
    ci: int
    data: bytes


def parse_frame(data: bytes) -> LongFrame:
    """Check a long frame's start, length, checksum and stop bytes; return its fields."""
    if not data:
        raise TruncatedFrame("an M-Bus frame expected, found 0 bytes")
    if data[0] == SINGLE_ACK and len(data) == 1:
        raise UnsupportedFrame("a long frame (68 L L 68) expected, found the single character E5")
    if data[0] == START_SHORT:
        raise UnsupportedFrame("a long frame (68 L L 68) expected, found a short frame (10)")
    if data[0] != START_LONG:
        raise UnsupportedFrame(f"an M-Bus long frame start 68 expected, found {data[0]:02X}")
    _need(data, 0, 4, "long frame header")
    length = data[1]
    if data[2] != length or data[3] != START_LONG:
        raise UnsupportedFrame(
            f"68 L L 68 with equal lengths expected, found {data[:4].hex(' ').upper()}"
        )
    if length < 3:
        raise UnsupportedFrame(f"an L field of at least 3 (C, A, CI) expected, found {length}")
    total = 4 + length + 2
    if len(data) < total:
        raise TruncatedFrame(
            f"M-Bus frame of {total} bytes (L={length}) expected, found {len(data)}"
        )
    if len(data) > total:
        raise UnsupportedFrame(
            f"M-Bus frame of {total} bytes (L={length}) expected, found {len(data)}"
        )
    body = data[4 : 4 + length]
    expected = sum(body) & 0xFF
    if data[4 + length] != expected:
        raise ChecksumError(f"M-Bus checksum {expected:02X} expected, found {data[4 + length]:02X}")
    if data[-1] != STOP:
        raise UnsupportedFrame(f"M-Bus stop byte 16 expected, found {data[-1]:02X}")
    return LongFrame(body[0], body[1], body[2], body[3:])


def decode_application(ci: int, data: bytes) -> Telegram:
    """Decode the application layer after the CI field (wired long frame payload)."""
    if ci == CI_FIXED:
        return _decode_fixed(data)
    if ci == CI_VARIABLE_LONG:
        address, access, status, configuration = decode_long_header(data)
        if security_mode(configuration) in ENCRYPTION_MODES:
            raise UnsupportedFrame(
                f"an unencrypted telegram expected, found security mode "
                f"{security_mode(configuration)} (read it with parse_wmbus and a key)"
            )
        return Telegram(address, access, status, tuple(decode_records(data, 12)))
    raise UnsupportedFrame(
        f"CI field 72 (variable data) or 73 (fixed data) expected, found {ci:02X}"
    )


def decode_frame(data: bytes) -> Telegram:
    """A wired long frame, checked and decoded."""
    frame = parse_frame(data)
    return decode_application(frame.ci, frame.data)


# --- readings --------------------------------------------------------------------------

# Quantities that become readings: physical values billing or monitoring can use.
_READING_QUANTITIES: Final = frozenset(
    {
        "energy", "volume", "mass", "power", "volume_flow", "mass_flow", "flow_temperature",
        "return_temperature", "temperature_difference", "external_temperature", "pressure",
        "on_time", "operating_time", "hca", "voltage", "current", "relative_humidity",
        "temperature",
    }
)  # fmt: skip


def _split_quantity(quantity: str) -> tuple[str, str]:
    """("power", "_mfr01") for "power_mfr01": the physical quantity and its qualifier."""
    for name in sorted(_READING_QUANTITIES, key=len, reverse=True):
        if quantity == name or quantity.startswith(name + "_"):
            return name, quantity[len(name) :]
    return quantity, ""


def _quantity_name(record: DataRecord, medium: int) -> str:
    base, qualifier = _split_quantity(record.quantity)
    kind = MEDIA.get(medium, "")
    backward = qualifier.startswith("_backward")
    name = base
    if base in ("energy", "power") and kind == "electricity":
        name = f"{base}_{'export' if backward else 'import'}"
        qualifier = qualifier.removeprefix("_backward")
    elif base == "energy" and kind in ("heat", "heat_cooling", "warm_water", "hot_water", "steam"):
        name = "energy_heat"
    elif base == "energy" and kind == "cooling":
        name = "energy_cooling"
    name += qualifier
    if record.function != "instantaneous":
        name += "_" + {"maximum": "max", "minimum": "min"}.get(record.function, record.function)
    if record.tariff:
        name += f"_tariff{record.tariff}"
    if record.subunit:
        name += f"_device{record.subunit}"
    if record.storage:
        name += f"_storage{record.storage}"
    return name


def telegram_readings(
    telegram: Telegram, raw: bytes, source: str, meter: str | None = None
) -> list[Reading]:
    """Readings of a decoded telegram: one per physical record with a valid value.

    A record's timestamp is the date-time record of the same storage number (storage 0: the
    meter's current time; storage n: the due date of that historic value), else ``None``.
    """
    if meter is None:
        meter = telegram.address.meter_id if telegram.address else ""
    medium = telegram.address.medium if telegram.address else 0
    times: dict[int, Timestamp] = {}
    for record in telegram.records:
        if record.quantity in ("date_time", "date") and record.timestamp is not None:
            # Prefer a date-time over a date of the same storage number.
            if record.quantity == "date_time" or record.storage not in times:
                times[record.storage] = record.timestamp
    digest = raw_hash(raw)
    readings = []
    for record in telegram.records:
        if _split_quantity(record.quantity)[0] not in _READING_QUANTITIES or record.unit is None:
            continue
        if not isinstance(record.value, int):
            continue
        readings.append(
            Reading(
                meter=meter,
                obis=None,
                quantity=_quantity_name(record, medium),
                value=record.value,
                unit=record.unit,
                timestamp=times.get(record.storage),
                source=source,
                raw_hash=digest,
            )
        )
    return readings


def parse_mbus(data: bytes) -> list[Reading]:
    """Readings of one wired M-Bus long frame (RSP_UD with CI 72 or 73)."""
    try:
        telegram = decode_frame(data)
    except AdapterError:
        raise
    except (ValueError, IndexError, struct.error) as exc:  # pragma: no cover - defensive
        raise UnsupportedFrame(f"a decodable M-Bus frame expected, found {exc}") from None
    readings = telegram_readings(telegram, data, SOURCE)
    if not readings:
        raise UnsupportedFrame(
            f"at least one record with a physical quantity expected, found none in "
            f"{len(telegram.records)} records"
        )
    return readings
