"""The Standard Transfer Algorithm (encryption algorithm code 07) of IEC 62055-41.

A 64-bit block cipher keyed by the meter's 64-bit decoder key. Bits are numbered from the least
significant (bit 0) to the most significant (bit 63) of the block and key as integers, with the
key taken in its natural big-endian byte order.

Encryption: the key is complemented and rotated right by 12 bits; then 16 rounds, each of
  1. substitution: every nibble n (bits 4n..4n+3) goes through S-box 1, or S-box 2 when bit
     4n+3 of the round key is set;
  2. permutation: bit i of the block moves to bit PERMUTATION[i];
  3. the round key rotates left by one bit.
Decryption runs the rounds backwards with the inverse tables and the same round keys.

The tables are the standard's published constants; checked against all 156 compliance tokens.
"""

from __future__ import annotations

from typing import Final

MASK64: Final = (1 << 64) - 1
ROUNDS: Final = 16

SBOX_1: Final = (14, 10, 7, 9, 12, 3, 2, 5, 13, 0, 15, 1, 4, 8, 6, 11)
SBOX_2: Final = (12, 8, 2, 13, 7, 6, 1, 3, 11, 5, 9, 15, 0, 4, 10, 14)
PERMUTATION: Final = (
    55, 42, 10, 18, 24, 21, 44, 35, 2, 22, 56, 43, 27, 58, 9, 50,
    6, 36, 12, 61, 37, 38, 53, 16, 62, 3, 7, 4, 32, 20, 63, 25,
    51, 52, 54, 33, 49, 19, 46, 29, 48, 31, 23, 30, 41, 28, 13, 5,
    40, 60, 39, 11, 15, 17, 1, 0, 57, 34, 59, 8, 47, 14, 45, 26,
)  # fmt: skip


def _inverse(table: tuple[int, ...]) -> tuple[int, ...]:
    result = [0] * len(table)
    for index, value in enumerate(table):
        result[value] = index
    return tuple(result)


INVERSE_SBOX_1: Final = _inverse(SBOX_1)
INVERSE_SBOX_2: Final = _inverse(SBOX_2)
INVERSE_PERMUTATION: Final = _inverse(PERMUTATION)


def _byte_tables(permutation: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    # Per input byte position, the permuted image of each of its 256 values; a permutation is
    # then 8 lookups and ORs instead of 64 single-bit moves.
    tables = []
    for position in range(8):
        images = []
        for value in range(256):
            image = 0
            for bit in range(8):
                if value >> bit & 1:
                    image |= 1 << permutation[8 * position + bit]
            images.append(image)
        tables.append(tuple(images))
    return tuple(tables)


_PERMUTE: Final = _byte_tables(PERMUTATION)
_UNPERMUTE: Final = _byte_tables(INVERSE_PERMUTATION)


def _rotate_left(value: int, steps: int) -> int:
    steps %= 64
    return ((value << steps) | (value >> (64 - steps))) & MASK64


def _permute(block: int, tables: tuple[tuple[int, ...], ...]) -> int:
    result = 0
    for position in range(8):
        result |= tables[position][(block >> (8 * position)) & 0xFF]
    return result


def _substitute(block: int, key: int, first: tuple[int, ...], second: tuple[int, ...]) -> int:
    result = 0
    for nibble in range(16):
        shift = 4 * nibble
        table = second if key >> (shift + 3) & 1 else first
        result |= table[(block >> shift) & 0xF] << shift
    return result


def round_keys(decoder_key: int) -> tuple[int, ...]:
    """The 16 round keys: complement, rotate right 12, then one bit left per round."""
    if not 0 <= decoder_key <= MASK64:
        raise ValueError(f"expected a 64-bit decoder key, found {decoder_key:#x}")
    key = _rotate_left(~decoder_key & MASK64, -12)
    keys = []
    for _ in range(ROUNDS):
        keys.append(key)
        key = _rotate_left(key, 1)
    return tuple(keys)


def encrypt(block: int, decoder_key: int) -> int:
    """Encrypt a 64-bit data block under a 64-bit decoder key."""
    if not 0 <= block <= MASK64:
        raise ValueError(f"expected a 64-bit block, found {block:#x}")
    for key in round_keys(decoder_key):
        block = _permute(_substitute(block, key, SBOX_1, SBOX_2), _PERMUTE)
    return block


def decrypt(block: int, decoder_key: int) -> int:
    """Invert `encrypt`."""
    if not 0 <= block <= MASK64:
        raise ValueError(f"expected a 64-bit block, found {block:#x}")
    for key in reversed(round_keys(decoder_key)):
        block = _substitute(_permute(block, _UNPERMUTE), key, INVERSE_SBOX_1, INVERSE_SBOX_2)
    return block
