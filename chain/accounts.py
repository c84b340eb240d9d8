"""Accounts and their human-readable, checksummed text form.

An account is its 32-byte Ed25519 public key. People see it as a Bech32m string (BIP-350)
with the human-readable part ``mc``: ``mc1...``. Bech32m's BCH checksum detects every error
in up to four characters of the data part, so a mistyped character is always caught, and
its alphabet omits the look-alikes ``1 b i o``.
"""

from __future__ import annotations

from typing import Final

from chain.errors import InvalidAddress
from chain.types import PUBLIC_KEY_SIZE, PublicKey

HRP: Final = "mc"
_CHARSET: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32M_CONST: Final = 0x2BC830A3
_GENERATORS: Final = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(_GENERATORS):
            if (top >> i) & 1:
                chk ^= generator
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out: list[int] = []
    maxv = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & maxv)
    elif bits >= from_bits or ((acc << (to_bits - bits)) & maxv):
        raise InvalidAddress("address padding: zero padding of under 5 bits expected, found other bits")
    return out


def to_text(public_key: bytes) -> str:
    """The ``mc1...`` text form of an account."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise InvalidAddress(f"{PUBLIC_KEY_SIZE}-byte public key expected, found {len(public_key)} bytes")
    data = _convert_bits(public_key, 8, 5, pad=True)
    polymod = _polymod([*_hrp_expand(HRP), *data, 0, 0, 0, 0, 0, 0]) ^ _BECH32M_CONST
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return HRP + "1" + "".join(_CHARSET[d] for d in data + checksum)


def from_text(text: str) -> PublicKey:
    """Parse an ``mc1...`` account; raise ``InvalidAddress`` saying what is wrong."""
    if text.lower() != text and text.upper() != text:
        raise InvalidAddress("address in one case expected, found mixed upper and lower case")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1:
        raise InvalidAddress(f"address of the form '{HRP}1...' expected, found {text!r}")
    hrp, rest = text[:sep], text[sep + 1 :]
    if hrp != HRP:
        raise InvalidAddress(f"address prefix {HRP!r} expected, found {hrp!r}")
    bad = [c for c in rest if c not in _CHARSET]
    if bad:
        raise InvalidAddress(f"address characters from {_CHARSET!r} expected, found {bad[0]!r}")
    data = [_CHARSET.index(c) for c in rest]
    if len(data) < 6:
        raise InvalidAddress(f"address with a 6-character checksum expected, found {len(rest)} characters")
    if _polymod([*_hrp_expand(hrp), *data]) != _BECH32M_CONST:
        raise InvalidAddress(f"valid checksum expected in {text!r}: a character is mistyped")
    decoded = bytes(_convert_bits(data[:-6], 5, 8, pad=False))
    if len(decoded) != PUBLIC_KEY_SIZE:
        raise InvalidAddress(f"{PUBLIC_KEY_SIZE}-byte key expected in address, found {len(decoded)} bytes")
    return PublicKey(decoded)
