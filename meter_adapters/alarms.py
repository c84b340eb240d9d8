"""What a meter says about itself besides its registers: the error and alarm flags its
protocol carries, as fault observations a utility's reader records on chain
(``billing.record_meter_fault`` with source ``meter_alarm``: docs/contracts/exceptions.md).

The flags read here are the standard ones every meter of a protocol fills the same way:

- **M-Bus and wireless M-Bus** (EN 13757-3): the status byte of the transport header.
  Bits 0-1 are the application status (01 busy, 10 any application error, 11 abnormal
  condition or alarm), bit 2 power low, bit 3 permanent error, bit 4 temporary error;
  bits 5-7 are the manufacturer's, named only by the meter's own manual, so they are shown
  in the detail and never turned into a fault of their own. And the error-flags record
  (VIF extension FD 17), whose bits are again the manufacturer's: any bit set is a fault.
- **IEC 62056-21** readouts: the error register ``F.F`` (OBIS 0-0:97.97.0); all zeros is
  a healthy meter, anything else a fault (its code in the detail).

A busy application is not a fault. Counters of events (DSMR's power failures and voltage
sags) are not read: they count the grid's events, not the meter's faults, and a count says
nothing until two readings are compared.

Each fault type is one of the billing contract's (``contracts/billing/faults.py``); a flag
without a type of its own is ``other``, with the flag named in the detail (the contract
requires a note for ``other``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

from chain.hashing import Hash32
from chain.types import Timestamp
from meter_adapters import iec62056_21, mbus
from meter_adapters.errors import AdapterError, UnsupportedFrame
from meter_adapters.iec62056_21 import Readout
from meter_adapters.reading import raw_hash

ERROR_REGISTER: Final = "0-0:97.97.0"  # IEC 62056-21 F.F
MAX_DETAIL: Final = 256  # the contract's note limit

# EN 13757-3 status byte
_APPLICATION_MASK: Final = 0x03
_APPLICATION: Final = {0x02: "application error", 0x03: "abnormal condition or alarm"}
_FLAGS: Final = (
    (0x04, "other", "power low"),
    (0x08, "meter_broken", "permanent error"),
    (0x10, "other", "temporary error"),
)
_MANUFACTURER_MASK: Final = 0xE0


@dataclass(frozen=True, slots=True)
class MeterAlarm:
    """One fault a meter reports about itself."""

    meter: str
    fault_type: str  # one of the billing contract's fault types
    detail: str  # the meter's own words: which flag or register, with its value
    observed_at: Timestamp | None  # the meter's time of the telegram, when it sent one
    protocol: str
    raw_hash: Hash32  # of the exact bytes the flag came in

    def to_json(self) -> dict[str, object]:
        return {
            "meter": self.meter,
            "fault_type": self.fault_type,
            "detail": self.detail,
            "observed_at": self.observed_at,
            "protocol": self.protocol,
            "raw_hash": self.raw_hash.hex(),
        }


def status_faults(status: int) -> list[tuple[str, str]]:
    """(fault type, detail) for each fault an EN 13757-3 status byte flags."""
    found: list[tuple[str, str]] = []
    application = _APPLICATION.get(status & _APPLICATION_MASK)
    if application is not None:
        found.append(("other", application))
    for bit, fault_type, word in _FLAGS:
        if status & bit:
            found.append((fault_type, word))
    maker = status & _MANUFACTURER_MASK
    suffix = f" (manufacturer bits 0x{maker:02X})" if maker else ""
    return [(fault_type, f"M-Bus status 0x{status:02X}: {word}{suffix}") for fault_type, word in found]


def telegram_alarms(telegram: mbus.Telegram, raw: bytes, protocol: str, meter: str | None = None) -> list[MeterAlarm]:
    """The faults of a decoded wired or wireless M-Bus telegram: its status byte and a
    non-zero error-flags record."""
    if meter is None:
        meter = telegram.address.meter_id if telegram.address else ""
    when = next(
        (r.timestamp for r in telegram.records if r.quantity == "date_time" and r.storage == 0 and r.timestamp),
        None,
    )
    digest = raw_hash(raw)
    found = [MeterAlarm(meter, t, d, when, protocol, digest) for t, d in status_faults(telegram.status)]
    for record in telegram.records:
        if record.quantity == "error_flags" and isinstance(record.value, int) and record.value != 0:
            detail = f"M-Bus error flags record: 0x{record.value:X} (the manufacturer's bits)"
            found.append(MeterAlarm(meter, "other", detail, when, protocol, digest))
    return found


def readout_alarms(readout: Readout, meter: str, observed_at: Timestamp | None) -> list[MeterAlarm]:
    """The fault an IEC 62056-21 readout's error register ``F.F`` reports, if any."""
    item = readout.get(ERROR_REGISTER)
    if item is None or item.value.strip().strip("0") == "":
        return []
    detail = f"IEC 62056-21 error register F.F({item.value.strip()[:64]})"
    return [MeterAlarm(meter, "meter_broken", detail, observed_at, "iec62056-21", raw_hash(readout.raw))]


def parse_alarms(
    fmt: str, data: bytes, key: bytes | None = None, relaxed_bcc: bool = False, medium: int = 1, zone: str = "UTC"
) -> list[MeterAlarm]:
    """The faults the meter's bytes in format ``fmt`` report (the formats of
    ``meterchain read``); DSMR, DLMS and NFC carry no standard fault flags, so none."""
    if fmt == "mbus":
        return telegram_alarms(mbus.decode_frame(data), data, mbus.SOURCE)
    if fmt == "wmbus":
        from meter_adapters import wmbus

        if data[:1] == bytes((mbus.START_LONG,)):
            return telegram_alarms(mbus.decode_frame(data), data, wmbus.SOURCE)
        try:
            telegram = wmbus.decode_wmbus(data, key).telegram
        except AdapterError:
            raise
        except (ValueError, IndexError) as exc:  # pragma: no cover - defensive, as parse_wmbus
            raise UnsupportedFrame(f"a decodable wM-Bus telegram expected, found {exc}") from None
        return telegram_alarms(telegram, data, wmbus.SOURCE)
    if fmt == "iec62056-21":
        readout = iec62056_21.frame_readout(data, not relaxed_bcc, medium)
        meter = iec62056_21.readout_meter(readout, medium)
        return readout_alarms(readout, meter, iec62056_21.readout_time(readout, ZoneInfo(zone)))
    return []
