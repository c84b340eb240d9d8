"""Compact frames (CI 79): records without their headers, named by a format signature.

A meter that sends the same records every time (Kamstrup's Multical, flowIQ, OMNIPOWER...)
alternates a full frame (CI 78/7A: DIF VIF data, DIF VIF data...) with a compact one:

    79 SIG(2) CRC(2) data data data...

SIG is the CRC-16/EN-13757 (little-endian) of the data record headers, DIF, DIFEs, VIF and
VIFEs of every record in order, of the full frame; CRC covers the full frame's data. To read
a compact frame a receiver needs the headers: from a full frame of the same format seen
before (``FormatCache.learn``), or from the few formats Kamstrup's water meters are known to
send before any full frame (``KNOWN_HEADERS``, nine formats).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from meter_adapters import crc16, mbus
from meter_adapters.errors import TruncatedFrame, UnsupportedFrame

# Record headers of the formats Kamstrup's water meters (Multical 21, flowIQ 2200, KWM 2230)
# send, as wmbusmeters knows them in advance (its kamwater driver's compact frame formats):
# info codes, total volume, target volume, then dates, flows, temperatures, noise.
KNOWN_HEADERS: Final = tuple(
    bytes.fromhex(text)
    for text in (
        "02FF2004134413615B6167",
        "02FF2004134413615B5167",
        "02FF20041392013BA1015B8101E7FF0F",
        "02FF2004134413A1015B8101E7FF0F",
        "02FF2004134413",
        "02FF200413523B",
        "02FF2004134413426C523B615B616751678101E7FF0F06FF1B",
        "04FF234413523B06FF1B426C61675167023B04138101E7FF0F",
        "04FF2304134413426C023B92013BA2013B06FF1BA1015B91015BA10167",
    )
)


def signature(headers: bytes) -> int:
    """The format signature of a sequence of record headers."""
    return crc16.EN13757(headers)


def record_headers(records: Iterable[mbus.DataRecord]) -> bytes:
    """DIF/DIFE/VIF/VIFE bytes of the records of a full frame, manufacturer data excluded."""
    return b"".join(r.dif + r.vif for r in records if r.dif and r.dif[0] not in (0x0F, 0x1F))


class FormatCache:
    """Format signature -> record headers, learned from full frames.

    A receiver keeps one cache for as long as it listens: a compact frame is readable only
    after a full frame of the same format (or a known one). Mutable on purpose and owned by
    the caller; nothing here is global.
    """

    def __init__(self) -> None:
        self._headers: dict[int, bytes] = {signature(h): h for h in KNOWN_HEADERS}

    def learn(self, records: Iterable[mbus.DataRecord]) -> None:
        headers = record_headers(records)
        if headers:
            self._headers[signature(headers)] = headers

    def lookup(self, sig: int) -> bytes | None:
        return self._headers.get(sig)

    def __len__(self) -> int:
        return len(self._headers)


def _split_headers(headers: bytes) -> list[tuple[bytes, int]]:
    """Each record header with the size of its data (variable-length data cannot be
    compact: its length byte would be part of the data)."""
    out: list[tuple[bytes, int]] = []
    pos = 0
    while pos < len(headers):
        start = pos
        dif = headers[pos]
        pos += 1
        while headers[pos - 1] & 0x80 and pos < len(headers):  # DIFEs
            pos += 1
        if pos >= len(headers):
            raise UnsupportedFrame(f"a VIF after DIF {dif:02X} in the compact format expected")
        pos += 1
        while headers[pos - 1] & 0x80 and pos < len(headers):  # VIFEs
            pos += 1
        coding = dif & 0x0F
        if coding in (0x0D, 0x0F) or headers[start + 1 :].startswith(b"\x7c"):
            raise UnsupportedFrame(
                f"fixed-size records in a compact format expected, found DIF {dif:02X}"
            )
        out.append((headers[start:pos], mbus.data_size(dif)))
    return out


def expand(headers: bytes, data: bytes) -> bytes:
    """The full-frame record bytes: each header followed by its share of ``data``."""
    out = bytearray()
    pos = 0
    for header, size in _split_headers(headers):
        if pos + size > len(data):
            raise TruncatedFrame(
                f"{size} data bytes for record {header.hex().upper()} at offset {pos} of the "
                f"compact frame expected, found {max(0, len(data) - pos)}"
            )
        out += header + data[pos : pos + size]
        pos += size
    return bytes(out)


def decode_compact(data: bytes, formats: FormatCache | None) -> list[mbus.DataRecord]:
    """Records of a compact frame; ``data`` is what follows CI 79."""
    if len(data) < 4:
        raise TruncatedFrame(
            f"format signature and data CRC (4 bytes) after CI 79 expected, found {len(data)}"
        )
    sig = int.from_bytes(data[0:2], "little")
    headers = (formats or FormatCache()).lookup(sig)
    if headers is None:
        raise UnsupportedFrame(
            f"compact frame 79 with format signature {sig:04X}: the record headers of an "
            "earlier full frame of that format expected, found none"
        )
    return mbus.decode_records(expand(headers, data[4:]))
