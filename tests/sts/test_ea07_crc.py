"""EA07 (Standard Transfer Algorithm) and the token CRC."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from meter_adapters.sts import ea07
from meter_adapters.sts.crc import crc16, token_crc

u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)


def test_crc_is_crc16_modbus() -> None:
    # The standard check value of CRC-16/MODBUS (reflected 0xA001, init 0xFFFF).
    assert crc16(b"123456789") == 0x4B37


def test_token_crc_of_worked_example() -> None:
    # class 0, subclass 0, random 5, TID 5944921, amount 0x000A -> stored CRC 0x3504.
    bits = (0 << 48) | (0 << 44) | (5 << 40) | (5944921 << 16) | 0x000A
    assert token_crc(bits) == 0x3504


def test_tables_are_permutations() -> None:
    assert sorted(ea07.SBOX_1) == list(range(16))
    assert sorted(ea07.SBOX_2) == list(range(16))
    assert sorted(ea07.PERMUTATION) == list(range(64))


def test_known_block() -> None:
    # Worked example: the data block of token 66475648316756821785 under key e653341f9d5bf36f.
    key = 0xE653341F9D5BF36F
    block = (0 << 60) | (5 << 56) | (5944921 << 32) | (0x000A << 16) | 0x3504
    encrypted = ea07.encrypt(block, key)
    assert ea07.decrypt(encrypted, key) == block
    token = int("66475648316756821785")
    assert encrypted & ~(0b11 << 27) == token & ((1 << 64) - 1) & ~(0b11 << 27)


@settings(max_examples=200, deadline=None)
@given(u64, u64)
def test_decrypt_inverts_encrypt(block: int, key: int) -> None:
    encrypted = ea07.encrypt(block, key)
    assert ea07.decrypt(encrypted, key) == block


@settings(max_examples=100, deadline=None)
@given(u64, u64, st.integers(min_value=0, max_value=63))
def test_a_different_key_gives_a_different_block(block: int, key: int, bit: int) -> None:
    assert ea07.encrypt(block, key) != ea07.encrypt(block, key ^ (1 << bit))
