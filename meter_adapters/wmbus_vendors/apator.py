"""Apator (APA, APT) water meters and heat cost allocators.

* AT-WMBUS-16-2 ("162"), version 05, with an OMS header but everything after the 2F 2F in
  manufacturer data (DIF 0F): 7 bytes of date and fault flags, then registers, each one
  byte of tag and a payload whose size the tag fixes; tag 10 is the total volume in litres
  (32 bits LE). FF pads to the end of the encrypted blocks. An unknown tag stops the walk:
  after it the sizes are unknown, so the registers that follow are not read.
* NA-1 (APA version 14, CI A0/A1): access number and a status byte in clear, then one
  AES-128-CBC block (IV = M A and 8 x the access number, as OMS mode 5) holding 2F, the
  packed total (32 bits LE: bits 8.. and 0-3 are the digits, bits 4-5 the power of ten of
  the litre), the meter's time (seconds since 2000-01-01, 32 bits LE) and history bytes.
* Apator 08 (APT versions 03 and 0F, CI A0) and 172 (APT version 04, device type 11, CI A0):
  the payload opens with the total, a 32-bit LE count of thirds of a litre (08) or of
  thirds of a cubic metre (172), as wmbusmeters reads them; the rest is not documented.
  A third has no exact decimal value: the total is given in litres, rounded to the nearest
  (``frame.nearest``: at most 1/3 litre off, what the display shows; never accumulating).
* E-ITN heat cost allocators (APA/APT version 04, device type 08): CI A0 with 15 bytes, or
  CI B6 with a length byte, that many bytes of its own, A0 and the same 15 bytes:

      0  season start, low byte of a 16-bit date (day bits 0-4, month bits 5-7)
      1  2 bytes not known
      3  allocator units of the previous season, 16 bits LE
      5  date of the electronic seal break (0: not broken), 16-bit date
      7  allocator units of this season
      9  today's date, 16-bit date (day bits 0-4, month 5-8, year since 2000 bits 9-13)
     11  average room temperature of the previous season, 8.8 fixed point degC
     13  average room temperature of this season

  The season start's year is not sent (wmbusmeters makes one up from the A0 byte): it is
  read as day and month only. The temperatures are in 1/256 degC, which has no exact
  value in mdegC or udegC: they are parsed (``EItnFrame``) but not made readings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from meter_adapters import mbus
from meter_adapters.errors import TruncatedFrame, UnsupportedFrame, WrongKey
from meter_adapters.wmbus_vendors.frame import VendorFrame, VendorRecords, nearest, record

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


# --- Apator 08 and 172 --------------------------------------------------------------

# (version, device type) -> (model, litres per three counts): one count of an 08 is 1/3 l,
# of a 172 1/3 m3.
THIRDS_MODELS: Final[dict[tuple[int, int], tuple[str, int]]] = {
    (0x03, 0x03): ("08", 1),
    (0x0F, 0x0F): ("08", 1),
    (0x04, 0x11): ("172", 1000),
}
THIRDS_CI: Final = 0xA0


def thirds_total_litres(count: int, litres_per_three: int) -> int:
    """The total in litres of ``count`` thirds, rounded to the nearest litre."""
    return nearest(Fraction(count * litres_per_three, 3))


def _decode_thirds(frame: VendorFrame, model: str, litres_per_three: int) -> VendorRecords:
    if len(frame.data) < 4:
        raise TruncatedFrame(
            f"an Apator {model} payload of at least 4 bytes expected, found {len(frame.data)}"
        )
    count = int.from_bytes(frame.data[0:4], "little")
    litres = thirds_total_litres(count, litres_per_three)
    return VendorRecords((record("volume", "dm3", litres),))


# --- E-ITN heat cost allocators ------------------------------------------------------

EITN_VERSION: Final = 0x04
EITN_MEDIUM: Final = 0x08
EITN_CIS: Final = (0xA0, 0xB6)
EITN_SIZE: Final = 15
EITN_INNER_CI: Final = 0xA0


@dataclass(frozen=True, slots=True)
class EItnFrame:
    """The registers of an E-ITN telegram, as sent."""

    season_start: tuple[int, int]  # (month, day); the year is not sent
    previous_hca: int
    seal_break: bytes  # 16-bit date, 00 00 when the seal is intact
    current_hca: int
    today: bytes  # 16-bit date
    room_previous_256: int  # average room temperature of the previous season, 1/256 degC
    room_current_256: int  # ... of this season


def eitn_date(raw: bytes) -> tuple[str, int] | None:
    """E-ITN's 16-bit date (day bits 0-4, month 5-8, year since 2000 bits 9-13)."""
    word = int.from_bytes(raw, "little")
    try:
        when = datetime(2000 + ((word >> 9) & 0x1F), (word >> 5) & 0x0F, word & 0x1F, tzinfo=UTC)
    except ValueError:
        return None  # 00 00: no date
    return when.strftime("%Y-%m-%d"), int(when.timestamp())


def eitn_payload(frame: VendorFrame) -> bytes:
    """The 15 register bytes: after CI A0, or after CI B6, its own bytes and A0."""
    data = frame.data
    if frame.ci == 0xB6:
        if not data:
            raise TruncatedFrame("an Apator E-ITN CI B6 length byte expected, found none")
        inner = 1 + data[0]
        if len(data) <= inner:
            raise TruncatedFrame(
                f"Apator E-ITN CI B6 header of {data[0]} bytes and CI A0 expected, found "
                f"{len(data) - 1} bytes"
            )
        if data[inner] != EITN_INNER_CI:
            raise UnsupportedFrame(
                f"CI A0 after the Apator E-ITN CI B6 header expected, found {data[inner]:02X}"
            )
        data = data[inner + 1 :]
    if len(data) != EITN_SIZE:
        error = TruncatedFrame if len(data) < EITN_SIZE else UnsupportedFrame
        raise error(f"an Apator E-ITN payload of {EITN_SIZE} bytes expected, found {len(data)}")
    return data


def parse_eitn(frame: VendorFrame) -> EItnFrame:
    data = eitn_payload(frame)
    return EItnFrame(
        season_start=((data[0] >> 5) & 0x07, data[0] & 0x1F),
        previous_hca=int.from_bytes(data[3:5], "little"),
        seal_break=data[5:7],
        current_hca=int.from_bytes(data[7:9], "little"),
        today=data[9:11],
        room_previous_256=int.from_bytes(data[11:13], "little"),
        room_current_256=int.from_bytes(data[13:15], "little"),
    )


def _decode_eitn(frame: VendorFrame) -> VendorRecords:
    eitn = parse_eitn(frame)
    month, day = eitn.season_start
    records = [
        record("hca", "hca", eitn.current_hca),
        record("hca", "hca", eitn.previous_hca, storage=1),
        record("season_start", None, f"--{month:02d}-{day:02d}"),
    ]
    today = eitn_date(eitn.today)
    if today is not None:
        records.append(record("date", None, today[0], timestamp=today[1]))
    seal_break = eitn_date(eitn.seal_break)
    if seal_break is not None:
        records.append(record("seal_break_date", None, seal_break[0], timestamp=seal_break[1]))
    return VendorRecords(tuple(records))


def decode(frame: VendorFrame, key: bytes | None) -> VendorRecords | None:
    if frame.manufacturer not in ("APA", "APT"):
        return None
    if frame.manufacturer == "APA" and frame.version == VERSION_NA1 and frame.ci in NA1_CIS:
        return _decode_na1(frame, key)
    if frame.medium == EITN_MEDIUM and frame.ci in EITN_CIS:
        if frame.version != EITN_VERSION:
            raise UnsupportedFrame(
                f"Apator E-ITN heat cost allocator version {EITN_VERSION:02X} expected, found "
                f"{frame.version:02X} (CI {frame.ci:02X})"
            )
        return _decode_eitn(frame)
    if frame.manufacturer == "APT" and frame.ci == THIRDS_CI:
        model = THIRDS_MODELS.get((frame.version, frame.medium))
        if model is None:
            raise UnsupportedFrame(
                f"Apator 08 (version 03/0F) or 172 (version 04, type 11) layout expected, found "
                f"CI A0 version {frame.version:02X} type {frame.medium:02X}"
            )
        return _decode_thirds(frame, *model)
    return None
