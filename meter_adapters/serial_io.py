"""Getting a meter's bytes: from a file, a serial port (pyserial) or a TCP socket.

This is the adapters' only I/O. A port is opened by pyserial URL, so a device
(``/dev/ttyUSB0``, a pty from the simulator) and a socket (``socket://host:port``) read
the same way. One call reads one complete frame:

- DSMR P1: the meter pushes a telegram every 1 to 10 s; bytes before the first '/' (the
  tail of a telegram we joined mid-way) are dropped, and the frame ends after the '!',
  its CRC digits and CR LF. DSMR 4/5: 115200 8N1; DSMR 2.2/3: 9600 7E1.
- IEC 62056-21 mode C: the reader sends the request ``/?!`` CR LF, the meter answers its
  identification ``/XXXZ...``; the reader acknowledges with ``ACK 0 Z 0`` CR LF (Z = the
  baud-rate character the meter offered) and both switch to that speed; the meter then
  sends STX ... ! CR LF ETX BCC. The standard starts at 300 baud 7E1; many optical heads
  are configured to start at 9600, our default.
- binary formats (M-Bus, wM-Bus, DLMS push): a frame is what arrives before the line goes
  quiet for ``gap`` seconds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import serial

from meter_adapters.errors import AdapterError, TruncatedFrame
from meter_adapters.iec62056_21 import ETX, STX, find_identification

ACK: Final = b"\x06"
IEC_REQUEST: Final = b"/?!\r\n"
# Baud-rate characters of mode C identification (IEC 62056-21, 6.3.14).
MODE_C_BAUD: Final = {"0": 300, "1": 600, "2": 1200, "3": 2400, "4": 4800, "5": 9600, "6": 19200}
MAX_FRAME: Final = 64 * 1024
# A capture file holds frames of at most MAX_FRAME bytes each, read whole into memory: a few
# hundred of them is a long capture, gigabytes are a wrong file.
MAX_CAPTURE_FILE: Final = 16 * 1024 * 1024

_DSMR_END = re.compile(rb"![0-9A-Fa-f]{0,4}\r?\n")
_HEX_TEXT = re.compile(rb"^[0-9A-Fa-f\s_|:]+$")


@dataclass(frozen=True, slots=True)
class LineSettings:
    baudrate: int
    bytesize: int
    parity: str
    stopbits: int


DSMR5: Final = LineSettings(115200, serial.EIGHTBITS, serial.PARITY_NONE, serial.STOPBITS_ONE)
DSMR22: Final = LineSettings(9600, serial.SEVENBITS, serial.PARITY_EVEN, serial.STOPBITS_ONE)
IEC_MODE_C: Final = LineSettings(9600, serial.SEVENBITS, serial.PARITY_EVEN, serial.STOPBITS_ONE)
MBUS: Final = LineSettings(2400, serial.EIGHTBITS, serial.PARITY_EVEN, serial.STOPBITS_ONE)
BINARY: Final = LineSettings(115200, serial.EIGHTBITS, serial.PARITY_NONE, serial.STOPBITS_ONE)

SETTINGS: Final = {
    "dsmr": DSMR5,
    "iec62056-21": IEC_MODE_C,
    "mbus": MBUS,
    "wmbus": BINARY,
    "dlms": BINARY,
    "nfc": BINARY,
}
BINARY_FORMATS: Final = ("mbus", "wmbus", "dlms", "nfc")


class ByteStream(Protocol):
    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...


# --- files ------------------------------------------------------------------------------


def decode_hex_text(data: bytes) -> bytes:
    """Binary frames are often stored as hex text ("68 1F 1F 68 ...", wmbusmeters'
    "telegram=|2E44..._..|"); return the bytes they spell, or ``data`` unchanged when it is
    not hex text."""
    text = data.strip()
    if text.startswith(b"telegram="):
        text = text[len(b"telegram=") :]
    if not text or not _HEX_TEXT.match(text):
        return data
    digits = re.sub(rb"[\s_|:]", b"", text)
    if len(digits) % 2:
        raise TruncatedFrame(f"an even number of hex digits expected, found {len(digits)}")
    return bytes.fromhex(digits.decode("ascii"))


def read_input_file(path: str | Path, fmt: str) -> bytes:
    """The bytes of a capture file; hex text is decoded for the binary formats."""
    size = Path(path).stat().st_size
    if size > MAX_CAPTURE_FILE:
        raise AdapterError(f"a capture file of at most {MAX_CAPTURE_FILE} bytes expected, found {size}")
    data = Path(path).read_bytes()
    return decode_hex_text(data) if fmt in BINARY_FORMATS else data


# --- frame assembly ---------------------------------------------------------------------


def dsmr_frame_end(buffer: bytes) -> int | None:
    """Where a complete DSMR telegram in ``buffer`` ends, or None."""
    start = buffer.find(b"/")
    if start < 0:
        return None
    match = _DSMR_END.search(buffer, start)
    return match.end() if match else None


def iec_frame_end(buffer: bytes) -> int | None:
    """Where a complete mode C readout ends: after ETX BCC, or after '!' CR LF when the
    meter sends no STX."""
    ident = find_identification(buffer)
    if ident is None:
        return None
    stx = buffer.find(bytes([STX]), ident.end)
    if stx >= 0:
        etx = buffer.find(bytes([ETX]), stx)
        return etx + 2 if 0 <= etx < len(buffer) - 1 else None
    bang = buffer.find(b"!\r\n", ident.end)
    return bang + 3 if bang >= 0 else None


def _read_frame(
    stream: ByteStream,
    end_of: Callable[[bytes], int | None],
    timeout: float,
    what: str,
    initial: bytes = b"",
    keep_rest: bool = False,
) -> bytes:
    """Read until ``end_of`` finds the frame's end; return the frame (or, with
    ``keep_rest``, everything read so far)."""
    deadline = time.monotonic() + timeout
    buffer = initial
    end = end_of(buffer)
    if end is not None:
        return buffer if keep_rest else buffer[:end]
    while time.monotonic() < deadline:
        chunk = stream.read(4096)
        if chunk:
            buffer += chunk
            end = end_of(buffer)
            if end is not None:
                return buffer if keep_rest else buffer[:end]
            if len(buffer) > MAX_FRAME:
                raise TruncatedFrame(f"a {what} within {MAX_FRAME} bytes expected, found none")
    raise TruncatedFrame(
        f"a complete {what} within {timeout:g} s expected, found {len(buffer)} bytes without its end"
    )


def read_dsmr_telegram(stream: ByteStream, timeout: float = 12.0) -> bytes:
    return _read_frame(stream, dsmr_frame_end, timeout, "DSMR telegram")


def read_iec_readout(
    stream: ByteStream, timeout: float = 10.0, port: serial.SerialBase | None = None
) -> bytes:
    """Run the mode C dialog: request, identification, acknowledgement (switching the
    port's speed when ``port`` is given), readout."""
    stream.write(IEC_REQUEST)
    # Keep everything read so far: a meter may send the readout right after its
    # identification (mode A/B, or a simulator that does not wait for the ACK).
    head = _read_frame(
        stream, _identification_end, timeout, "mode C identification", keep_rest=True
    )
    ident = find_identification(head)
    assert ident is not None  # _identification_end found it
    baud_char = chr(ident.text(head)[3])
    if baud_char in MODE_C_BAUD:
        stream.write(ACK + b"0" + baud_char.encode() + b"0\r\n")
        if port is not None and port.baudrate != MODE_C_BAUD[baud_char]:
            port.flush()
            time.sleep(0.3)  # the standard's 200..1500 ms before both sides change speed
            port.baudrate = MODE_C_BAUD[baud_char]
    return _read_frame(
        stream, iec_frame_end, timeout, "mode C readout", initial=head[ident.start :]
    )


def _identification_end(buffer: bytes) -> int | None:
    ident = find_identification(buffer)
    return ident.end if ident else None


def read_until_quiet(stream: ByteStream, gap: float = 0.5, timeout: float = 30.0) -> bytes:
    """A binary frame: everything until the line is quiet for ``gap`` s after data came."""
    deadline = time.monotonic() + timeout
    buffer = b""
    last = time.monotonic()
    while time.monotonic() < deadline:
        chunk = stream.read(4096)
        now = time.monotonic()
        if chunk:
            buffer += chunk
            last = now
        elif buffer and now - last >= gap:
            return buffer
    if buffer:
        return buffer
    raise TruncatedFrame(f"a frame within {timeout:g} s expected, found no bytes")


# --- ports ------------------------------------------------------------------------------


def open_port(
    url: str, fmt: str, settings: LineSettings | None = None, read_timeout: float = 0.1
) -> serial.SerialBase:
    """Open a device or ``socket://host:port`` with the format's line settings."""
    line = settings or SETTINGS[fmt]
    return serial.serial_for_url(
        url,
        baudrate=line.baudrate,
        bytesize=line.bytesize,
        parity=line.parity,
        stopbits=line.stopbits,
        timeout=read_timeout,
    )


def read_port(
    url: str, fmt: str, timeout: float = 15.0, settings: LineSettings | None = None
) -> bytes:
    """Read one frame of format ``fmt`` from a serial device or socket URL."""
    port = open_port(url, fmt, settings)
    try:
        if fmt == "dsmr":
            return read_dsmr_telegram(port, timeout)
        if fmt == "iec62056-21":
            return read_iec_readout(port, timeout, port)
        return read_until_quiet(port, timeout=timeout)
    finally:
        port.close()
