"""Techem (TCH) radio meters with manufacturer CI A0..A2: fixed layouts, no DIF/VIF.

Every Techem layout here opens the same way (offsets after the CI):

    0  status
    1  date of the last billing period, 16 bits LE: day bits 0-4, month 5-8, year 9-14
    3  consumption up to that date (billing value)
    5  today's date, 16 bits LE: day bits 4-8, month 9-12 (no year)
    7  consumption since that date

The meter's register is billing value + consumption since. Which layout and unit is chosen
by version and device type of the link-layer address (what Techem's meters send):

* MK Radio 3 / 4 water meters: 16-bit values in 0.1 m3.
* MK Radio 3a: today's date (full, as above for billing dates) at 2, register at 4
  (24 bits, 0.1 m3).
* Compact V heat meters: 24-bit values in kWh; Vario 4 type 4.5.1: 16-bit values in MJ.
* FHKV data III heat cost allocators: 16-bit values in units of the allocator (the units
  since the billing date are the current reading, not added to the billing value); then room
  and radiator temperatures in 0.01 degC (at 9, or 10 for version 94).
* TSD-2 smoke detectors: status and billing date only (no quantity).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from meter_adapters import mbus
from meter_adapters.errors import TruncatedFrame
from meter_adapters.wmbus_vendors.frame import VendorFrame, VendorRecords, record

CIS: Final = (0xA0, 0xA1, 0xA2)
# (version, device type) -> layout.
WATER_16: Final = frozenset({(0x74, 0x62), (0x74, 0x72), (0x95, 0x62), (0x95, 0x72)})
WATER_3A: Final = frozenset({(0x50, 0x72)})
HEAT_KWH: Final = frozenset({(0x45, 0x04), (0x45, 0xC3), (0x22, 0x43), (0x45, 0x43), (0x39, 0x43)})
HEAT_MJ: Final = frozenset({(0x27, 0x04), (0x27, 0xC3)})
HCA: Final = frozenset({(0x69, 0x80), (0x94, 0x80)})
SMOKE: Final = frozenset({(0x76, 0xF0)})


def billing_date(raw: bytes) -> tuple[str, int] | None:
    """Techem's 16-bit date (day bits 0-4, month 5-8, year since 2000 bits 9-14)."""
    word = int.from_bytes(raw, "little")
    try:
        when = datetime(2000 + ((word >> 9) & 0x3F), (word >> 5) & 0x0F, word & 0x1F, tzinfo=UTC)
    except ValueError:
        return None  # a meter's "no date yet"
    return when.strftime("%Y-%m-%d"), int(when.timestamp())


def _need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise TruncatedFrame(
            f"a Techem {what} payload of at least {size} bytes expected, found {len(data)}"
        )


def _le(data: bytes, start: int, size: int) -> int:
    return int.from_bytes(data[start : start + size], "little")


def _date_record(data: bytes, start: int, storage: int) -> list[mbus.DataRecord]:
    date = billing_date(data[start : start + 2])
    if date is None:
        return []
    return [record("date", None, date[0], storage=storage, timestamp=date[1])]


def _register(
    data: bytes, quantity: str, unit: str, size: int, scale: int, what: str
) -> list[mbus.DataRecord]:
    """Billing value (storage 1, with its date) and the register (billing + since)."""
    _need(data, 7 + size, what)
    billing, since = _le(data, 3, size), _le(data, 7, size)
    return [
        record(quantity, unit, (billing + since) * scale),
        record(quantity, unit, billing * scale, storage=1),
        *_date_record(data, 1, 1),
    ]


def decode(frame: VendorFrame, key: bytes | None) -> VendorRecords | None:
    if frame.manufacturer != "TCH" or frame.ci not in CIS:
        return None
    kind = (frame.version, frame.medium)
    data = frame.data
    if kind in WATER_16:
        records = _register(data, "volume", "dm3", 2, 100, "MK Radio 3/4")
    elif kind in WATER_3A:
        _need(data, 7, "MK Radio 3a")
        records = [record("volume", "dm3", _le(data, 4, 3) * 100), *_date_record(data, 2, 0)]
    elif kind in HEAT_KWH:
        records = _register(data, "energy", "Wh", 3, 1000, "Compact V")
    elif kind in HEAT_MJ:
        records = _register(data, "energy", "J", 2, 1_000_000, "Vario 4.5.1")
    elif kind in HCA:
        offset = 10 if frame.version == 0x94 else 9
        _need(data, offset + 4, "FHKV data III")
        # Allocator units restart at every billing date: the billing value and the units
        # since are two readings, never summed.
        records = [
            record("hca", "hca", _le(data, 7, 2)),
            record("hca", "hca", _le(data, 3, 2), storage=1),
            *_date_record(data, 1, 1),
        ]
        # Room and radiator temperatures in 0.01 degC; in mdegC here.
        records.append(record("external_temperature", "mdegC", _le(data, offset, 2) * 10))
        records.append(record("flow_temperature", "mdegC", _le(data, offset + 2, 2) * 10))
    elif kind in SMOKE:
        _need(data, 3, "TSD-2")
        records = [record("status", None, data[0]), *_date_record(data, 1, 1)]
    else:
        return None
    return VendorRecords(tuple(records))
