"""The CRC-16 variants meter protocols use, from one table-driven implementation.

| variant | used by | poly | init | final XOR | reflected |
| --- | --- | --- | --- | --- | --- |
| ``ARC`` | DSMR P1 telegrams | 0x8005 | 0x0000 | 0x0000 | yes |
| ``MODBUS`` | STS tokens (IEC 62055-41) | 0x8005 | 0xFFFF | 0x0000 | yes |
| ``X25`` | HDLC frames (DLMS push) | 0x1021 | 0xFFFF | 0xFFFF | yes |
| ``EN13757`` | wireless M-Bus blocks | 0x3D65 | 0x0000 | 0xFFFF | no |

Parameters as in the catalogue of parametrised CRC algorithms (CRC RevEng); each variant's
check value (the CRC of ``b"123456789"``) is tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final


def _reflect16(value: int) -> int:
    return int(f"{value:016b}"[::-1], 2)


@dataclass(frozen=True, slots=True)
class Crc16:
    name: str
    poly: int
    init: int
    xorout: int
    reflected: bool
    table: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rows = []
        if self.reflected:
            poly = _reflect16(self.poly)
            for byte in range(256):
                crc = byte
                for _ in range(8):
                    crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
                rows.append(crc)
        else:
            for byte in range(256):
                crc = byte << 8
                for _ in range(8):
                    crc = ((crc << 1) ^ self.poly) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
                rows.append(crc)
        object.__setattr__(self, "table", tuple(rows))

    def __call__(self, data: bytes) -> int:
        table = self.table
        crc = self.init
        if self.reflected:
            for byte in data:
                crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
        else:
            for byte in data:
                crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ byte) & 0xFF]
        return crc ^ self.xorout


ARC: Final = Crc16("CRC-16/ARC", 0x8005, 0x0000, 0x0000, True)
MODBUS: Final = Crc16("CRC-16/MODBUS", 0x8005, 0xFFFF, 0x0000, True)
X25: Final = Crc16("CRC-16/X-25", 0x1021, 0xFFFF, 0xFFFF, True)
EN13757: Final = Crc16("CRC-16/EN-13757", 0x3D65, 0x0000, 0xFFFF, False)
