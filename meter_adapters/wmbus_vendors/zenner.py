"""Zenner (ZRI) water meters of version 0B, device type 16: registers in manufacturer data.

After the OMS header and 2F 2F the telegram holds one record, DIF 0F (manufacturer data),
with 12 bytes of its own and at most one more byte:

    0  status flags, 32 bits LE (0: no error)
    4  the current month's consumption, 32 bits LE, in 1/256000 m3 (1/256 litre)
    8  total volume, 32 bits LE, in 1/256000 m3

as wmbusmeters reads them. 1/256 litre = 3906.25 ul: the registers are given in ul, the
finest volume unit of ``mbus``'s ladder, rounded to the nearest (``frame.nearest``; exact
for every count divisible by 4, otherwise a quarter of an ul off).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Final

from meter_adapters import mbus
from meter_adapters.errors import TruncatedFrame, UnsupportedFrame
from meter_adapters.wmbus_vendors.frame import nearest, record

MANUFACTURER: Final = "ZRI"
VERSION: Final = 0x0B
MEDIUM: Final = 0x16
DIF_MANUFACTURER: Final = b"\x0f"
SIZE: Final = 12
UL_PER_COUNT: Final = Fraction(1_000_000, 256)  # ul in 1/256 litre


def count_to_ul(count: int) -> int:
    """``count`` x 1/256 litre in ul, rounded to the nearest."""
    return nearest(count * UL_PER_COUNT)


def registers(data: bytes) -> tuple[mbus.DataRecord, ...]:
    """Records of the manufacturer data (the bytes after DIF 0F)."""
    if len(data) < SIZE:
        raise TruncatedFrame(
            f"Zenner 0B manufacturer data of {SIZE} or {SIZE + 1} bytes expected, found {len(data)}"
        )
    if len(data) > SIZE + 1:
        raise UnsupportedFrame(
            f"Zenner 0B manufacturer data of {SIZE} or {SIZE + 1} bytes expected, found {len(data)}"
        )
    status, month, total = (int.from_bytes(data[at : at + 4], "little") for at in (0, 4, 8))
    return (
        record("volume", "ul", count_to_ul(total)),
        record("volume_current_month", "ul", count_to_ul(month)),
        record("status", None, status),
    )


def manufacturer_data(
    address: mbus.SecondaryAddress, records: tuple[mbus.DataRecord, ...]
) -> tuple[mbus.DataRecord, ...]:
    """Records read from a Zenner 0B's manufacturer data, none for other meters."""
    if (address.manufacturer, address.version, address.medium) != (MANUFACTURER, VERSION, MEDIUM):
        return ()
    for item in records:
        if item.dif == DIF_MANUFACTURER and isinstance(item.value, str):
            return registers(bytes.fromhex(item.value))
    return ()
