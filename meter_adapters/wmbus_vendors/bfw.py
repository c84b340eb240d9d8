"""BFW 240 radio heat cost allocators: a fixed layout behind an OMS short header.

The BFW 240 radio (manufacturer BFW, version 02, device type 08) sends CI 7A with security
mode 0, then 40 bytes that look like records (they open with the filler 2F 2F) but are not:
read as EN 13757-3 they run into DIF 6F or end inside a record. The layout is fixed
(offsets after the short TPL header), as the open-source receivers read it (wmbusmeters'
bfw240radio driver):

    0   2F 2F
    2   2 bytes   not decoded
    4   2 bytes   units at the end of the previous billing period, big-endian
    6   2 bytes   units so far in this billing period, big-endian
    8   2 bytes   not decoded
    10  9 x 3     monthly history, oldest pair first (months 18/17 ... 2/1): of the bytes
                  b0 b1 b2, the newer month is (b1 & 0F) b2 and the older (b1 >> 4) b0, each
                  a 12-bit number of units
    37  3 bytes   the device's date: day, month, year-2000, BCD

Allocator units restart every billing period: current and previous values are separate
readings (``hca``, ``hca_storage1``); the value n months ago is storage n + 1. The layout has
no checksum: only its size, the leading 2F 2F and the BCD date are checked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from meter_adapters import mbus
from meter_adapters.errors import TruncatedFrame, UnsupportedFrame
from meter_adapters.wmbus_vendors.frame import record

MANUFACTURER: Final = "BFW"
VERSION: Final = 0x02
MEDIUM: Final = 0x08
LAYOUT_SIZE: Final = 40
FILLER: Final = b"\x2f\x2f"
PREVIOUS_AT: Final = 4
CURRENT_AT: Final = 6
HISTORY_AT: Final = 10
HISTORY_PAIRS: Final = 9
DATE_AT: Final = 37


def is_bfw240(address: mbus.SecondaryAddress) -> bool:
    return (address.manufacturer, address.version, address.medium) == (
        MANUFACTURER,
        VERSION,
        MEDIUM,
    )


def _date(raw: bytes) -> tuple[str, int]:
    day, month, year = (mbus.bcd_decode(raw[i : i + 1]) for i in range(3))
    try:
        if day is None or month is None or year is None or year < 0:
            raise ValueError
        when = datetime(2000 + year, month, day, tzinfo=UTC)
    except ValueError:
        raise UnsupportedFrame(
            f"a BCD date (day, month, year) in the BFW 240 layout expected, found {raw.hex()}"
        ) from None
    return when.strftime("%Y-%m-%d"), int(when.timestamp())


def decode(payload: bytes) -> tuple[mbus.DataRecord, ...]:
    """Allocator units (current, previous billing period, 18 months) and the device date;
    ``payload`` is what follows the short TPL header."""
    if len(payload) != LAYOUT_SIZE:
        error = TruncatedFrame if len(payload) < LAYOUT_SIZE else UnsupportedFrame
        raise error(f"a BFW 240 payload of {LAYOUT_SIZE} bytes expected, found {len(payload)}")
    if payload[:2] != FILLER:
        raise UnsupportedFrame(
            f"a BFW 240 payload starting 2F 2F expected, found {payload[0]:02X} {payload[1]:02X}"
        )
    date, timestamp = _date(payload[DATE_AT : DATE_AT + 3])
    records = [
        record("hca", "hca", int.from_bytes(payload[CURRENT_AT : CURRENT_AT + 2], "big")),
        record(
            "hca", "hca", int.from_bytes(payload[PREVIOUS_AT : PREVIOUS_AT + 2], "big"), storage=1
        ),
    ]
    for pair in range(HISTORY_PAIRS):
        b0, b1, b2 = payload[HISTORY_AT + 3 * pair : HISTORY_AT + 3 * pair + 3]
        newer = 2 * (HISTORY_PAIRS - pair) - 1  # months ago: 17, 15, ... 1
        records.append(record("hca", "hca", (b1 & 0x0F) << 8 | b2, storage=newer + 1))
        records.append(record("hca", "hca", (b1 >> 4) << 8 | b0, storage=newer + 2))
    records.append(record("date", None, date, timestamp=timestamp))
    return tuple(records)
