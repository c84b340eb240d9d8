"""Decoder key generation algorithm 02 (DKGA02) of IEC 62055-41, and the meter's PAN.

    input   = control block XOR PAN block
    key     = DES(vending key, input) XOR input XOR vending key

Control block, as 16 hex digits: key type (1) | supply group code (6) | tariff index (2) |
key revision number (1) | FFFFFF. PAN block, as 16 hex digits: the last 5 digits of the
6-digit issuer identification number, then the 11-digit decoder reference number (the PAN
without its leading digit and its check digit). Checked against every decoder key of the
compliance tokens.

Key byte order: a decoder key is 8 bytes in its natural big-endian order (the DES output order;
the most significant byte first). Some tools, and the compliance fixture's `dk_nectar_notation`,
print the same key byte-reversed; `to_nectar_hex`/`from_nectar_hex` convert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, modes

try:  # cryptography >= 43 keeps (Triple)DES only in the "decrepit" module
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import (  # type: ignore[attr-defined,no-redef,unused-ignore]
        TripleDES,
    )

from meter_adapters.sts.errors import InvalidStsInput

KEY_BYTES = 8
STS_IIN = "600727"  # the issuer identification number the STS Association assigns to meters
_HEX_KEY = re.compile(r"[0-9a-fA-F]{16}")


def parse_key_hex(text: str, what: str = "key") -> bytes:
    """16 hex digits -> 8 key bytes, in the order written."""
    cleaned = text.strip().removeprefix("0x").removeprefix("0X")
    if not _HEX_KEY.fullmatch(cleaned):
        raise InvalidStsInput(
            f"expected the {what} as 16 hex digits (8 bytes), found {len(cleaned)} characters"
            + ("" if re.fullmatch(r"[0-9a-fA-F]*", cleaned) else " that are not all hex digits")
        )
    return bytes.fromhex(cleaned)


def to_nectar_hex(key: bytes) -> str:
    """The byte-reversed notation of the compliance fixture (`dk_nectar_notation`)."""
    return key[::-1].hex()


def from_nectar_hex(text: str) -> bytes:
    return parse_key_hex(text, "decoder key (byte-reversed notation)")[::-1]


def luhn_check_digit(digits: str) -> int:
    """The Luhn (mod 10) check digit to append to `digits`."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:  # doubled: these become the odd positions once the digit is appended
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return (10 - total % 10) % 10


@dataclass(frozen=True, slots=True)
class MeterPan:
    """An 18-digit meter primary account number: IIN (6) | DRN (11) | Luhn check digit (1)."""

    digits: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9]{18}", self.digits):
            raise InvalidStsInput(
                f"expected the meter PAN as 18 decimal digits (IIN 6 + meter number 11 + check"
                f" digit 1), found {self.digits!r}"
            )
        expected = luhn_check_digit(self.digits[:17])
        if int(self.digits[17]) != expected:
            raise InvalidStsInput(
                f"expected PAN check digit {expected} for {self.digits[:17]}, found"
                f" {self.digits[17]}"
            )

    @classmethod
    def from_meter_number(cls, drn: str, iin: str = STS_IIN) -> MeterPan:
        """The PAN of an 11-digit meter (decoder reference) number, check digit computed."""
        if not re.fullmatch(r"[0-9]{11}", drn) or not re.fullmatch(r"[0-9]{6}", iin):
            raise InvalidStsInput(
                f"expected an 11-digit meter number and a 6-digit IIN, found {drn!r} and {iin!r}"
            )
        return cls(iin + drn + str(luhn_check_digit(iin + drn)))

    @property
    def iin(self) -> str:
        return self.digits[:6]

    @property
    def drn(self) -> str:
        return self.digits[6:17]

    def block(self) -> bytes:
        return bytes.fromhex(self.iin[1:] + self.drn)


@dataclass(frozen=True, slots=True)
class KeyParameters:
    """What, besides the vending key and the PAN, determines a meter's decoder key."""

    key_type: int  # KT: 0 initialization, 1 default, 2 unique, 3 common
    supply_group: str  # SGC: 6 decimal digits
    tariff_index: int  # TI: 0..99
    key_revision: int  # KRN: 1..9

    def __post_init__(self) -> None:
        if not 0 <= self.key_type <= 3:
            raise InvalidStsInput(f"expected key type 0..3, found {self.key_type}")
        if not re.fullmatch(r"[0-9]{6}", self.supply_group):
            raise InvalidStsInput(
                f"expected the supply group code as 6 decimal digits, found {self.supply_group!r}"
            )
        if not 0 <= self.tariff_index <= 99:
            raise InvalidStsInput(f"expected tariff index 0..99, found {self.tariff_index}")
        if not 1 <= self.key_revision <= 9:
            raise InvalidStsInput(f"expected key revision number 1..9, found {self.key_revision}")

    def control_block(self) -> bytes:
        return bytes.fromhex(
            f"{self.key_type}{self.supply_group}{self.tariff_index:02d}{self.key_revision}FFFFFF"
        )


def _des_encrypt(key: bytes, block: bytes) -> bytes:
    # Single DES is triple DES with three equal keys (EDE collapses to E).
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def derive_decoder_key(vending_key: bytes, params: KeyParameters, pan: MeterPan) -> bytes:
    """DKGA02: the 8-byte decoder key (natural big-endian order) of one meter."""
    if len(vending_key) != KEY_BYTES:
        raise InvalidStsInput(
            f"expected a vending key of {KEY_BYTES} bytes, found {len(vending_key)}"
        )
    data = bytes(c ^ p for c, p in zip(params.control_block(), pan.block(), strict=True))
    encrypted = _des_encrypt(vending_key, data)
    return bytes(e ^ d ^ k for e, d, k in zip(encrypted, data, vending_key, strict=True))


def key_check_value(key: bytes) -> str:
    """The usual DES key check value (first 3 bytes of DES(key, zeros)): names a key safely."""
    return _des_encrypt(key, bytes(KEY_BYTES))[:3].hex().upper()
