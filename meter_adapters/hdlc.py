"""HDLC framing as DLMS/COSEM meters use it (IEC 62056-46, frame format type 3).

A frame on the wire is ``7E | format(2) | dest addr | src addr | control | HCS(2) | info | FCS(2)
| 7E``. The 11-bit length in the format field counts every byte between the flags. HCS
covers format..control, FCS covers format..info; both are CRC-16/X-25 stored little-endian.
The HCS is present only when there is an information field.

DLMS itself delimits frames by their length field, so a 0x7E or 0x7D byte may appear inside a
frame unescaped. Some HAN-port gateways apply ISO 3309 octet stuffing anyway (0x7D followed
by the byte XOR 0x20); ``parse_frame(..., stuffed=True)`` undoes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from meter_adapters import crc16
from meter_adapters.errors import ChecksumError, TruncatedFrame, UnsupportedFrame

FLAG: Final = 0x7E
ESCAPE: Final = 0x7D
FORMAT_TYPE_3: Final = 0xA
MAX_LENGTH: Final = 0x7FF  # the format field's 11-bit length


@dataclass(frozen=True, slots=True)
class HdlcFrame:
    """One HDLC frame, decoded. Addresses keep their on-wire (extension-bit) bytes."""

    destination: bytes
    source: bytes
    control: int
    information: bytes
    segmented: bool = False


# CRC-16/X-25 (poly 0x1021 reflected, init 0xFFFF, xorout 0xFFFF): HCS and FCS.
crc16_x25: Final = crc16.X25


def _address_length(data: bytes, start: int, what: str) -> int:
    """Length of an HDLC address (1, 2 or 4 bytes) ending with the byte whose low bit is 1."""
    for length in (1, 2, 3, 4):
        if start + length > len(data):
            raise TruncatedFrame(f"HDLC {what} address ends before its last byte (low bit 1)")
        if data[start + length - 1] & 1:
            if length == 3:
                raise UnsupportedFrame(f"HDLC {what} address of 1, 2 or 4 bytes expected, found 3")
            return length
    raise UnsupportedFrame(f"HDLC {what} address of at most 4 bytes expected, found more")


def unstuff(data: bytes) -> bytes:
    """Undo ISO 3309 octet stuffing: 7D xx becomes xx ^ 0x20."""
    out = bytearray()
    escaped = False
    for byte in data:
        if escaped:
            out.append(byte ^ 0x20)
            escaped = False
        elif byte == ESCAPE:
            escaped = True
        else:
            out.append(byte)
    if escaped:
        raise TruncatedFrame("a byte after the final escape 7D expected, found end of frame")
    return bytes(out)


def stuff(data: bytes) -> bytes:
    """ISO 3309 octet stuffing of 7E and 7D (and nothing else)."""
    out = bytearray()
    for byte in data:
        if byte in (FLAG, ESCAPE):
            out += bytes((ESCAPE, byte ^ 0x20))
        else:
            out.append(byte)
    return bytes(out)


def build_frame(frame: HdlcFrame, *, stuffed: bool = False) -> bytes:
    """The wire bytes of ``frame``, flags included."""
    for what, address in (("destination", frame.destination), ("source", frame.source)):
        if len(address) not in (1, 2, 4) or not address[-1] & 1 or any(b & 1 for b in address[:-1]):
            raise UnsupportedFrame(
                f"HDLC {what} address of 1, 2 or 4 bytes with only the last low bit set "
                f"expected, found {address.hex()}"
            )
    header_len = 2 + len(frame.destination) + len(frame.source) + 1
    length = header_len + (2 + len(frame.information) if frame.information else 0) + 2
    if length > MAX_LENGTH:
        raise UnsupportedFrame(f"HDLC frame length <= {MAX_LENGTH} expected, found {length}")
    fmt = (FORMAT_TYPE_3 << 12) | (0x800 if frame.segmented else 0) | length
    header = fmt.to_bytes(2, "big") + frame.destination + frame.source + bytes((frame.control,))
    body = header
    if frame.information:
        body += crc16_x25(header).to_bytes(2, "little") + frame.information
    body += crc16_x25(body).to_bytes(2, "little")
    return bytes((FLAG,)) + (stuff(body) if stuffed else body) + bytes((FLAG,))


def parse_frame(data: bytes, *, stuffed: bool = False) -> HdlcFrame:
    """Decode one frame; ``data`` may include or omit the opening and closing 7E flags."""
    if len(data) >= 2 and data[0] == FLAG and data[-1] == FLAG:
        data = data[1:-1]
    if stuffed:
        data = unstuff(data)
    if len(data) < 2:
        raise TruncatedFrame(f"HDLC format field of 2 bytes expected, found {len(data)} bytes")
    fmt = int.from_bytes(data[:2], "big")
    if fmt >> 12 != FORMAT_TYPE_3:
        raise UnsupportedFrame(f"HDLC frame format type 0xA expected, found {fmt >> 12:#x}")
    length = fmt & MAX_LENGTH
    if len(data) < length:
        raise TruncatedFrame(f"HDLC frame of {length} bytes expected, found {len(data)}")
    if len(data) > length:
        raise UnsupportedFrame(
            f"HDLC frame of {length} bytes (its length field) expected, found {len(data)}"
        )
    dest_len = _address_length(data, 2, "destination")
    src_len = _address_length(data, 2 + dest_len, "source")
    control_at = 2 + dest_len + src_len
    header_end = control_at + 1
    if length < header_end + 2:
        raise TruncatedFrame(
            f"HDLC frame of at least {header_end + 2} bytes expected, found {length}"
        )
    fcs_found = int.from_bytes(data[length - 2 : length], "little")
    fcs_expected = crc16_x25(data[: length - 2])
    if fcs_found != fcs_expected:
        raise ChecksumError(f"HDLC FCS {fcs_expected:#06x} expected, found {fcs_found:#06x}")
    information = b""
    if length > header_end + 2:
        if length < header_end + 4:
            raise TruncatedFrame("HDLC header check sequence (2 bytes) expected, found 1 byte")
        hcs_found = int.from_bytes(data[header_end : header_end + 2], "little")
        hcs_expected = crc16_x25(data[:header_end])
        if hcs_found != hcs_expected:
            raise ChecksumError(f"HDLC HCS {hcs_expected:#06x} expected, found {hcs_found:#06x}")
        information = data[header_end + 2 : length - 2]
    return HdlcFrame(
        destination=data[2 : 2 + dest_len],
        source=data[2 + dest_len : control_at],
        control=data[control_at],
        information=information,
        segmented=bool(fmt & 0x800),
    )


def split_frames(stream: bytes) -> list[bytes]:
    """Cut a byte stream into frames (without flags) by the format field's length.

    Leading bytes before the first 7E are dropped (a reader that started mid-frame); runs of
    7E between frames are skipped (one flag may close a frame and open the next).
    """
    frames: list[bytes] = []
    pos = stream.find(FLAG)
    if pos < 0:
        raise UnsupportedFrame("an HDLC opening flag 7E expected, found none")
    while pos < len(stream):
        while pos < len(stream) and stream[pos] == FLAG:
            pos += 1
        if pos >= len(stream):
            break
        if pos + 2 > len(stream):
            raise TruncatedFrame("HDLC format field of 2 bytes expected, found end of stream")
        length = int.from_bytes(stream[pos : pos + 2], "big") & MAX_LENGTH
        end = pos + length
        if end > len(stream):
            raise TruncatedFrame(
                f"HDLC frame of {length} bytes expected, found {len(stream) - pos} before the end"
            )
        if end < len(stream) and stream[end] != FLAG:
            raise UnsupportedFrame(
                f"closing flag 7E after {length} frame bytes expected, found {stream[end]:02X}"
            )
        if end == len(stream):
            raise TruncatedFrame("closing flag 7E expected, found end of stream")
        frames.append(stream[pos:end])
        pos = end
    return frames


def information_of(stream: bytes) -> bytes:
    """The information of all frames in ``stream`` joined (segmented pushes), checked.

    ``stream`` is either one frame without flags, or flag-delimited frames possibly preceded
    by the tail of a frame the reader caught halfway.
    """
    if not stream:
        raise TruncatedFrame("an HDLC frame expected, found 0 bytes")
    if stream[0] >> 4 == FORMAT_TYPE_3:
        # A frame stripped of its flags (as our fixtures and some loggers store them).
        try:
            parts = [parse_frame(stream)]
        except (ChecksumError, UnsupportedFrame, TruncatedFrame) as plain_error:
            if ESCAPE not in stream:
                raise
            try:
                parts = [parse_frame(stream, stuffed=True)]
            except (ChecksumError, UnsupportedFrame, TruncatedFrame):
                raise plain_error from None
    else:
        try:
            parts = [parse_frame(f) for f in split_frames(stream)]
        except (ChecksumError, UnsupportedFrame, TruncatedFrame) as plain_error:
            # Not length-delimited as is: maybe a gateway stuffed it. Only worth a second try
            # when the escape byte occurs; otherwise the first error is the true one.
            if ESCAPE not in stream:
                raise
            try:
                unstuffed = [
                    parse_frame(f, stuffed=True) for f in stream.split(bytes((FLAG,))) if f
                ]
            except (ChecksumError, UnsupportedFrame, TruncatedFrame):
                raise plain_error from None
            parts = unstuffed
    if not parts:
        raise TruncatedFrame("at least one HDLC frame expected, found none")
    return b"".join(p.information for p in parts)
