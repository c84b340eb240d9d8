"""The CRC-16 variants of the meter protocols: catalogue check values and a bit-by-bit model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_adapters import crc16

CHECK = b"123456789"


@pytest.mark.parametrize(
    ("variant", "check"),
    [(crc16.ARC, 0xBB3D), (crc16.MODBUS, 0x4B37), (crc16.X25, 0x906E), (crc16.EN13757, 0xC2B7)],
    ids=lambda v: getattr(v, "name", hex(v) if isinstance(v, int) else v),
)
def test_catalogue_check_value(variant: crc16.Crc16, check: int) -> None:
    assert variant(CHECK) == check


def bitwise(variant: crc16.Crc16, data: bytes) -> int:
    """The definition, one bit at a time (MSB-first register; reflection by bit order)."""
    crc = variant.init
    for byte in data:
        bits = [(byte >> i) & 1 for i in range(8)] if variant.reflected else [(byte >> (7 - i)) & 1 for i in range(8)]
        for bit in bits:
            if variant.reflected:
                top = (crc & 1) ^ bit
                crc >>= 1
                if top:
                    crc ^= int(f"{variant.poly:016b}"[::-1], 2)
            else:
                top = ((crc >> 15) & 1) ^ bit
                crc = (crc << 1) & 0xFFFF
                if top:
                    crc ^= variant.poly
    return crc ^ variant.xorout


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([crc16.ARC, crc16.MODBUS, crc16.X25, crc16.EN13757]))
def test_table_equals_bitwise_definition(data: bytes, variant: crc16.Crc16) -> None:
    assert variant(data) == bitwise(variant, data)
