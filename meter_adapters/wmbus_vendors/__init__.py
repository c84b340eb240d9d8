"""Manufacturer-specific wireless M-Bus formats, one module per manufacturer family.

``meter_adapters.wmbus`` decodes what EN 13757-4 and OMS define. Many meters in the field
send something else after the link layer: Kamstrup's compact frames (CI 79, the records'
headers replaced by a signature of a format seen before), Diehl's PRIOS-scrambled IZAR frames
(CI A1..A3), Techem's and Apator's fixed layouts (CI A0..A2, B6), Apator's, Qundis' and
Zenner's registers hidden in manufacturer-specific data. Each module here turns one such
family into the same ``mbus.DataRecord`` values the standard decoder yields, so readings come
out the same way.

``decode_manufacturer`` is the one entry point for a manufacturer CI; it raises
``UnsupportedFrame`` naming the format when no module knows the frame.
``manufacturer_data`` reads registers hidden in the manufacturer-specific part of an
otherwise standard telegram.
"""

from __future__ import annotations

from meter_adapters import mbus
from meter_adapters.errors import UnsupportedFrame
from meter_adapters.wmbus_vendors import apator, diehl, qundis, techem, zenner
from meter_adapters.wmbus_vendors.frame import VendorFrame, VendorRecords

__all__ = ["VendorFrame", "VendorRecords", "decode_manufacturer", "manufacturer_data"]


def decode_manufacturer(frame: VendorFrame, key: bytes | None) -> VendorRecords:
    """Records of a telegram whose CI field is manufacturer-specific (A0..B7)."""
    for decode in (diehl.decode, techem.decode, apator.decode):
        records = decode(frame, key)
        if records is not None:
            return records
    raise UnsupportedFrame(
        f"an OMS CI field (72, 78, 7A, 8C-8F, 90) or a known manufacturer format expected, "
        f"found CI {frame.ci:02X} from {frame.manufacturer} version {frame.version:02X} "
        f"(manufacturer-specific application layer)"
    )


def manufacturer_data(
    address: mbus.SecondaryAddress, records: tuple[mbus.DataRecord, ...]
) -> tuple[mbus.DataRecord, ...]:
    """Records a known manufacturer hides in the manufacturer-specific data of a standard
    telegram (Apator 162 registers, Qundis walk-by data, Zenner 0B registers), to add to
    ``records``."""
    return (
        apator.manufacturer_data(address, records)
        + qundis.manufacturer_data(address, records)
        + zenner.manufacturer_data(address, records)
    )
