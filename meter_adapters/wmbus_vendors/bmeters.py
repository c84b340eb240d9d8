"""Bmeters (BMT) RFM-TX1 water meter radio modules: the obfuscated register of the old type.

The old RFM-TX1 (version 05, water) sends a short TPL header (CI 7A) whose configuration word
is 0x1006, "security mode 16" to an OMS reader, and after it not EN 13757-3 records but a
fixed layout (offsets after the TPL header):

    0   6 bytes   the register, obfuscated: byte i XOR access number XOR V[a][i], where a is
                  the access number's low nibble and V a table of 16 x 6 bytes fixed in the
                  module; bytes 2..5 are then 8 BCD digits, least significant first, in litres
    13  6 bytes   the meter's date and time, BCD: second, minute, hour, day, month, year-2000

The table is the public one the open-source receivers use (wmbusmeters' driver_rfmtx1).
Obfuscation with a public table is not security, and the layout has no checksum of its own:
a changed byte is caught only when it breaks a BCD digit or the date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from meter_adapters import mbus
from meter_adapters.errors import TruncatedFrame, UnsupportedFrame
from meter_adapters.wmbus_vendors.frame import record

MANUFACTURER: Final = "BMT"
OBFUSCATED_CONFIGURATION: Final = 0x1006
# One 6-byte row per value of the access number's low nibble.
DECODE_VECTORS: Final = tuple(
    bytes.fromhex(row)
    for row in (
        "75967A101A0A", "5B7F70132213", "B318B90B8E99", "8E7D79074A16",
        "B591079ACB69", "B8A332A1390E", "BD809C7E6099", "275CB4C480A3",
        "30D00ACE1903", "C24CF005A586", "544B1698115E", "4BEE0CC97DA2",
        "87CA4A48E41F", "C487772E8AE8", "E330BD78578C", "A49A396F2805",
    )
)  # fmt: skip
REGISTER_AT: Final = 0
DATETIME_AT: Final = 13
LAYOUT_SIZE: Final = DATETIME_AT + 6


def is_obfuscated(address: mbus.SecondaryAddress, configuration: int) -> bool:
    """An old RFM-TX1 telegram (configuration word 0x1006 from a Bmeters module)."""
    return address.manufacturer == MANUFACTURER and configuration == OBFUSCATED_CONFIGURATION


def _bcd(raw: bytes, what: str) -> int:
    value = mbus.bcd_decode(raw)
    if value is None or raw[-1] >> 4 == 0x0F:
        raise UnsupportedFrame(f"BCD digits in the RFM-TX1 {what} expected, found {raw.hex()}")
    return value


def decode(access_number: int, payload: bytes) -> tuple[mbus.DataRecord, ...]:
    """Register (litres) and meter time of an old RFM-TX1 telegram; ``payload`` is what
    follows the short TPL header."""
    if len(payload) < LAYOUT_SIZE:
        raise TruncatedFrame(
            f"an RFM-TX1 payload of at least {LAYOUT_SIZE} bytes expected, found {len(payload)}"
        )
    vector = DECODE_VECTORS[access_number & 0x0F]
    plain = bytes(
        byte ^ access_number ^ mask
        for byte, mask in zip(payload[REGISTER_AT : REGISTER_AT + 6], vector, strict=True)
    )
    litres = _bcd(plain[2:6], "register")
    fields = [_bcd(payload[DATETIME_AT + i : DATETIME_AT + i + 1], "date") for i in range(6)]
    second, minute, hour, day, month, year = fields
    try:
        when = datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise UnsupportedFrame(
            f"a valid RFM-TX1 date and time expected, found "
            f"{payload[DATETIME_AT : DATETIME_AT + 6].hex()}"
        ) from None
    return (
        record("volume", "dm3", litres),
        record(
            "date_time",
            None,
            when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            timestamp=int(when.timestamp()),
        ),
    )
