"""CRC-16 of an STS token (IEC 62055-41): reflected polynomial 0xA001, initial value 0xFFFF.

The CRC covers the 50 bits class | subclass | 44-bit payload, packed big-endian into 7 bytes,
and is stored in the token's 16 low bits with its two bytes swapped (low byte first), which is
how the published compliance tokens carry it.
"""

from __future__ import annotations

from meter_adapters.crc16 import MODBUS

# The plain CRC-16 (reflected 0xA001, init 0xFFFF, no final XOR): CRC-16/MODBUS.
crc16 = MODBUS


def token_crc(class_and_payload: int) -> int:
    """The 16-bit value stored in a token for the 50 bits class | subclass | payload."""
    if not 0 <= class_and_payload < 1 << 50:
        raise ValueError(f"expected a 50-bit value, found {class_and_payload:#x}")
    crc = crc16(class_and_payload.to_bytes(7, "big"))
    # Stored byte-swapped: the low byte of the register is the high byte of the field.
    return ((crc & 0xFF) << 8) | (crc >> 8)
