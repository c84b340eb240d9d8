"""What a manufacturer decoder is given: the link-layer address and the bytes after the CI."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from chain.types import Timestamp
from meter_adapters import mbus


@dataclass(frozen=True, slots=True)
class VendorFrame:
    manufacturer: str  # three letters, e.g. "DME"
    raw_address: bytes  # M(2) ID(4, LSB first) VER TYPE as transmitted
    ci: int
    data: bytes  # everything after the CI field, link-layer CRCs removed

    @property
    def version(self) -> int:
        return self.raw_address[6]

    @property
    def medium(self) -> int:
        return self.raw_address[7]

    @property
    def identification(self) -> bytes:
        return self.raw_address[2:6]


@dataclass(frozen=True, slots=True)
class VendorRecords:
    """A manufacturer decoder's result; ``address`` replaces the link layer's when the
    manufacturer lays its address out differently."""

    records: tuple[mbus.DataRecord, ...]
    address: mbus.SecondaryAddress | None = None


def record(
    quantity: str,
    unit: str | None,
    value: int | str | None,
    *,
    storage: int = 0,
    function: str = "instantaneous",
    timestamp: int | None = None,  # unix seconds UTC, from the vendor's date decoder
) -> mbus.DataRecord:
    """A record decoded from a manufacturer layout (no DIF/VIF of its own)."""
    stamp = None if timestamp is None else Timestamp(timestamp)
    return mbus.DataRecord(b"", b"", function, storage, 0, 0, quantity, unit, value, stamp)


def nearest(value: Fraction) -> int:
    """``value`` rounded to the nearest whole unit, halves up.

    For registers whose resolution is not a decimal fraction of any unit (Apator's thirds of
    a litre, Zenner's 1/256 litre): a reading is a whole number of a base unit, and the
    nearest one is what the meter's display shows. The error stays under half a unit and
    never accumulates, since consumption is always the difference of two totals."""
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)
