"""Apator (APA) water meters.

* AT-WMBUS-16-2 ("162"), version 05, with an OMS header but everything after the 2F 2F in
  manufacturer data (DIF 0F): 7 bytes of date and fault flags, then registers, each one
  byte of tag and a payload whose size the tag fixes; tag 10 is the total volume in litres
  (32 bits LE). FF pads to the end of the encrypted blocks. An unknown tag stops the walk:
  after it the sizes are unknown, so the registers that follow are not read.
* NA-1 (APA version 14, CI A0/A1): access number and a status byte in clear, then one
  AES-128-CBC block (IV = M A and 8 x the access number, as OMS mode 5) holding 2F, the
  packed total (32 bits LE: bits 8.. and 0-3 are the digits, bits 4-5 the power of ten of
  the litre), the meter's time (seconds since 2000-01-01, 32 bits LE) and history bytes.
* Apator 08 / 172 (APT, CI A0) count in thirds of a unit (their totals are not whole
  litres) and E-ITN allocators (CI A0/B6) use their own layout: recognized by name and
  rejected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from meter_adapters import mbus
from meter_adapters.errors import TruncatedFrame, UnsupportedFrame, WrongKey
from meter_adapters.wmbus_vendors.frame import VendorFrame, VendorRecords, record

VERSION_162: Final = 0x05
MEDIA_162: Final = (0x06, 0x07)
HEADER_162: Final = 7  # date (4) and faults (3) after the 0F
TAG_TOTAL: Final = 0x10
TAG_END: Final = 0xFF

# Register tag -> payload size, as the meters send them.
REGISTER_SIZES: Final[dict[int, int]] = {
    0x00: 4, 0x01: 3, 0x10: 4, 0x11: 2, 0x40: 6, 0x41: 2, 0x42: 4, 0x43: 2, 0x44: 3,
    0x71: 9, 0x72: 13, 0x73: 17, 0x75: 25, 0x7B: 49,
    0x80: 10, 0x81: 10, 0x82: 10, 0x83: 10, 0x84: 10, 0x86: 10, 0x87: 10,
    0x85: 11, 0x88: 11, 0x8F: 11, 0x8A: 9, 0x8B: 6, 0x8C: 6, 0x8E: 7,
    0xA0: 4, 0xA1: 4, 0xA2: 1, 0xA3: 7, 0xA4: 4, 0xA5: 1, 0xA6: 3,
    0xA7: 2, 0xA8: 2, 0xA9: 1, 0xAA: 2, 0xAB: 2, 0xAC: 2, 0xAD: 2, 0xAF: 1,
    0xB0: 5, 0xB1: 8, 0xB2: 16, 0xB3: 8, 0xB4: 2, 0xB5: 16,
    **{tag: 3 for tag in range(0xB6, 0xC0)},
    **{tag: 3 for tag in range(0xC0, 0xC8)},
    0xD0: 3, 0xD3: 3, 0xF0: 4,
}  # fmt: skip


def registers_162(data: bytes) -> dict[int, bytes]:
    """Tag -> payload of the registers in 162 manufacturer data (after the 0F)."""
    found: dict[int, bytes] = {}
    pos = HEADER_162
    while pos < len(data) and data[pos] != TAG_END:
        size = REGISTER_SIZES.get(data[pos])
        if size is None or pos + 1 + size > len(data):
            break
        found.setdefault(data[pos], data[pos + 1 : pos + 1 + size])
        pos += 1 + size
    return found


def manufacturer_data(
    address: mbus.SecondaryAddress, records: tuple[mbus.DataRecord, ...]
) -> tuple[mbus.DataRecord, ...]:
    """Records read from a 162's manufacturer data, none for other meters."""
    if address.manufacturer != "APA" or address.version != VERSION_162:
        return ()
    if address.medium not in MEDIA_162:
        return ()
    for item in records:
        if item.dif[:1] == b"\x0f" and isinstance(item.value, str):
            total = registers_162(bytes.fromhex(item.value)).get(TAG_TOTAL)
            if total is not None:
                return (record("volume", "dm3", int.from_bytes(total, "little")),)
    return ()


VERSION_NA1: Final = 0x14
NA1_CIS: Final = (0xA0, 0xA1)
NA1_CHECK: Final = 0x2F
EPOCH_2000: Final = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())


def na1_total_litres(packed: int) -> int:
    """NA-1's packed total: digits in bits 8.. and 0-3, 10^(bits 4-5) litres per digit."""
    return ((packed >> 8) * 16 + (packed & 0x0F)) * (1, 10, 100, 1000)[(packed >> 4) & 0x03]


def _decode_na1(frame: VendorFrame, key: bytes | None) -> VendorRecords:
    data = frame.data
    if len(data) < 18:
        raise TruncatedFrame(f"an Apator NA-1 payload of 18 bytes expected, found {len(data)}")
    if key is None or len(key) != 16:
        raise WrongKey(
            f"a 16-byte AES-128 key for Apator NA-1 expected, found "
            f"{'none' if key is None else f'{len(key)} bytes'}"
        )
    iv = frame.raw_address + bytes((data[0],)) * 8
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(data[2:18]) + decryptor.finalize()
    if plain[0] != NA1_CHECK:
        raise WrongKey(f"decrypted Apator NA-1 block starting 2F expected, found {plain[0]:02X}")
    when = EPOCH_2000 + int.from_bytes(plain[5:9], "little")
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return VendorRecords(
        (
            record("volume", "dm3", na1_total_litres(int.from_bytes(plain[1:5], "little"))),
            record("date_time", None, stamp, timestamp=when),
        )
    )


def decode(frame: VendorFrame, key: bytes | None) -> VendorRecords | None:
    if frame.manufacturer == "APA" and frame.version == VERSION_NA1 and frame.ci in NA1_CIS:
        return _decode_na1(frame, key)
    if frame.manufacturer == "APT" and frame.ci == 0xA0 and frame.medium != 0x08:
        raise UnsupportedFrame(
            f"Apator 08/172 proprietary layout (CI A0, version {frame.version:02X}) not "
            "supported: its register counts thirds of a unit, not exact in litres"
        )
    if frame.manufacturer in ("APA", "APT") and frame.medium == 0x08 and frame.ci in (0xA0, 0xB6):
        raise UnsupportedFrame(
            f"Apator E-ITN heat cost allocator proprietary layout (CI {frame.ci:02X}) not supported"
        )
    return None
