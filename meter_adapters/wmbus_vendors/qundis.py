"""Qundis (QDS) walk-by data: the billing registers inside a manufacturer record.

Qundis water meters (Q water), heat meters (Q heat) and heat cost allocators (Q caloric)
send, besides or instead of the standard records, one record DIF 0D VIF FF 5F with 53 bytes
(LVAR 35) of their own. Byte 9 of it is a standard VIF naming the unit of the three
registers that follow (13 litres, 05/06 0.1 kWh/kWh, 0D 100 kJ, 6E allocator units):

    12  register now          4 bytes BCD
    16  last due date         EN 13757-3 type G
    18  register at that date 4 bytes BCD
    22  mid-period date       type G (the meters' "storage 17")
    24  register at that date 4 bytes BCD

They are decoded by rewriting them as the standard records the same meters send in their
full frames (0C VIF, 42 6C, 4C VIF, C2 08 6C, CC 08 VIF), so units and scaling are those of
``mbus``.
"""

from __future__ import annotations

from typing import Final

from meter_adapters import mbus
from meter_adapters.errors import AdapterError

WALK_BY_DIF: Final = b"\x0d"
WALK_BY_VIF: Final = b"\xff\x5f"
WALK_BY_SIZE: Final = 0x35
VIF_AT: Final = 9


def walk_by_records(data: bytes) -> list[mbus.DataRecord]:
    """Standard records equal to the registers of 53 bytes of walk-by data."""
    vif = data[VIF_AT : VIF_AT + 1]
    rewritten = (
        b"\x0c" + vif + data[12:16]
        + b"\x42\x6c" + data[16:18]
        + b"\x4c" + vif + data[18:22]
        + b"\xc2\x08\x6c" + data[22:24]
        + b"\xcc\x08" + vif + data[24:28]
    )  # fmt: skip
    return mbus.decode_records(rewritten)


def manufacturer_data(
    address: mbus.SecondaryAddress, records: tuple[mbus.DataRecord, ...]
) -> tuple[mbus.DataRecord, ...]:
    if address.manufacturer != "QDS":
        return ()
    for item in records:
        if item.dif != WALK_BY_DIF or item.vif != WALK_BY_VIF or not isinstance(item.value, str):
            continue
        # ``mbus`` renders LVAR text last byte first in Latin-1: undo that to get the bytes.
        data = item.value.encode("latin-1")[::-1]
        if len(data) != WALK_BY_SIZE:
            continue
        try:
            return tuple(walk_by_records(data))
        except AdapterError:
            return ()  # a VIF without a numeric meaning: the registers stay unread
    return ()
