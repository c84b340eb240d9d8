"""Diehl Metering (DME, HYD, SAP, SPL, EWT) IZAR / PRIOS water meters: CI A0..A7.

A PRIOS telegram scrambles its payload with a 32-bit linear-feedback shift register (taps at
bits 1, 2, 11 and 31, eight steps per byte, the low byte of the register XORed onto each
byte). The register starts from a key XORed with the telegram's own header: bytes 2..5 and
6..9 (manufacturer and address, read big-endian) and bytes 10..13 (CI and the three bytes
after it). Diehl ships meters with one of two public default keys; a meter configured with
its own key needs that key (the first 8 bytes of ``key``, halves XORed). A correct
descrambling starts with 4B.

Descrambled: 4B, total volume (litres, 32-bit LE), last billing-date volume (litres), the
billing date (EN 13757-3 type G). The alarm and battery bits sit in the clear header.

Address: Diehl's own manufacturers other than SAP transmit the link-layer address as
version, type, then the four identification bytes (swapped against EN 13757-4); SAP
transmits a five-byte serial in the identification and version bytes (the medium byte is
not a medium either: the meter is a water meter).
"""

from __future__ import annotations

from typing import Final

from meter_adapters import mbus
from meter_adapters.errors import TruncatedFrame, WrongKey
from meter_adapters.wmbus_vendors.frame import VendorFrame, VendorRecords, record

MANUFACTURERS: Final = frozenset({"DME", "HYD", "SAP", "SPL", "EWT"})
PRIOS_CIS: Final = range(0xA0, 0xA8)
# Diehl's two factory default PRIOS keys (published by Diehl's integrators).
DEFAULT_KEYS: Final = (bytes.fromhex("39BC8A10E66D83F8"), bytes.fromhex("51728910E66D83F8"))
CHECK_BYTE: Final = 0x4B
HEADER: Final = 15  # L C M(2) A(6) CI and 4 clear bytes
WATER: Final = 0x07


def _seed(key: bytes) -> int:
    return int.from_bytes(key[0:4], "big") ^ int.from_bytes(key[4:8], "big")


def descramble(telegram: bytes, key: bytes) -> bytes:
    """The PRIOS payload (bytes 15..) of ``telegram`` (L C M A CI ...) under an 8-byte key."""
    register = _seed(key)
    for start in (2, 6, 10):
        register ^= int.from_bytes(telegram[start : start + 4], "big")
    out = bytearray()
    for byte in telegram[HEADER:]:
        for _ in range(8):
            bit = ((register >> 1) ^ (register >> 2) ^ (register >> 11) ^ (register >> 31)) & 1
            register = ((register << 1) | bit) & 0xFFFFFFFF
        out.append(byte ^ (register & 0xFF))
    return bytes(out)


def _address(frame: VendorFrame) -> mbus.SecondaryAddress:
    raw = frame.raw_address
    if frame.manufacturer == "SAP":
        return mbus.SecondaryAddress(raw[2:6][::-1].hex().upper(), "SAP", 0, WATER)
    return mbus.SecondaryAddress(raw[4:8][::-1].hex().upper(), frame.manufacturer, raw[2], raw[3])


def decode(frame: VendorFrame, key: bytes | None) -> VendorRecords | None:
    if frame.manufacturer not in MANUFACTURERS or frame.ci not in PRIOS_CIS:
        return None
    telegram = bytes((0, 0x44)) + frame.raw_address + bytes((frame.ci,)) + frame.data
    if len(telegram) < HEADER + 5:
        raise TruncatedFrame(
            f"a Diehl PRIOS payload of at least 5 bytes expected, found {len(telegram) - HEADER}"
        )
    keys = ((key[:8],) if key is not None and len(key) >= 8 else ()) + DEFAULT_KEYS
    for candidate in keys:
        plain = descramble(telegram, candidate)
        if plain[0] == CHECK_BYTE:
            break
    else:
        raise WrongKey(
            f"Diehl PRIOS payload descrambling to {CHECK_BYTE:02X} expected with the given or "
            f"a default key, found {plain[0]:02X}"
        )
    records = [record("volume", "dm3", int.from_bytes(plain[1:5], "little"))]
    if len(plain) >= 9:
        records.append(record("volume", "dm3", int.from_bytes(plain[5:9], "little"), storage=1))
    if len(plain) >= 11:
        date = mbus.decode_date(plain[9:11])
        if date is not None:
            records.append(record("date", None, date[0], storage=1, timestamp=date[1]))
    return VendorRecords(tuple(records), _address(frame))


# --- OMS telegrams of Diehl meters ------------------------------------------------------

# The factory AES-128 key of Diehl's OMS meters (security mode 5): the second PRIOS default
# key twice. Used only when the caller gives no key.
DEFAULT_AES_KEY: Final = DEFAULT_KEYS[1] * 2
CI_TPL_SHORT: Final = 0x7A
REAL_DATA_BIT: Final = 0x1000  # configuration word: Diehl "real data", LFSR-scrambled


def is_diehl(manufacturer: str) -> bool:
    return manufacturer in MANUFACTURERS


def is_real_data(manufacturer: str, ci: int, configuration: int) -> bool:
    """A Diehl CI 7A telegram whose configuration word says LFSR-scrambled "real data"
    (what would read as OMS security modes 16..31)."""
    return is_diehl(manufacturer) and ci == CI_TPL_SHORT and bool(configuration & REAL_DATA_BIT)


def _real_data_ok(plain: bytes, check: int) -> bool:
    # The low byte of the sum of the records, bit 4 masked, equals the configuration's high
    # byte (bit 4 masked).
    return (sum(plain) & 0xEF) == (check & 0xEF)


def real_data(telegram: bytes, key: bytes | None) -> bytes:
    """The records of a Diehl real-data telegram (L C M A 7A ACC STS CFG(2) data): the data
    as sent if they already pass the check (a receiver descrambled them), else descrambled
    with the given or a default key."""
    if len(telegram) <= HEADER:
        raise TruncatedFrame(f"Diehl real data after byte {HEADER} expected, found none")
    check = telegram[HEADER - 1]
    if _real_data_ok(telegram[HEADER:], check):
        return telegram[HEADER:]
    keys = ((key[:8],) if key is not None and len(key) >= 8 else ()) + DEFAULT_KEYS
    for candidate in keys:
        plain = descramble(telegram, candidate)
        if _real_data_ok(plain, check):
            return plain
    raise WrongKey(
        f"Diehl real data with checksum {check & 0xEF:02X} expected with the given or a "
        f"default key, found {sum(telegram[HEADER:]) & 0xEF:02X} as sent"
    )
