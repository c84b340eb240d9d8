"""The 66-bit STS token: build it from its fields, parse it back, print it as 20 digits.

Before encryption a token is a 64-bit data block

    subclass (4) | payload (44) | CRC (16)          most significant bits first

where the CRC covers class | subclass | payload (see crc.py). For transfer (class 0) and most
management (class 2) tokens the payload is random number (4) | TID (24) | 16-bit field (an
amount, a power limit, a register); key change tokens use the payload otherwise (management.py).

The 2-bit token class is not encrypted. After EA07 encryption, bits 27 and 28 of the encrypted
block move to bits 64 and 65 and the class takes their place (class bit 0 in bit 27, bit 1 in
bit 28); the 66-bit number is written as 20 decimal digits with leading zeros.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from meter_adapters.sts import ea07
from meter_adapters.sts.crc import token_crc
from meter_adapters.sts.errors import CrcMismatch, InvalidStsInput

TOKEN_DIGITS = 20
TOKEN_BITS = 66
PAYLOAD_BITS = 44
_CLASS_BIT_LOW = 27  # where the class bits sit in the 66-bit number
_MOVED_TO = 64  # where the two encrypted bits they displace go


class TokenClass(IntEnum):
    TRANSFER = 0  # credit
    INITIATE = 1  # meter test / display
    MANAGEMENT = 2
    RESERVED = 3


class CreditSubclass(IntEnum):
    """Class 0 subclasses this code issues (the standard also has time and currency)."""

    ELECTRICITY = 0
    WATER = 1
    GAS = 2


def _check_width(name: str, value: int, bits: int) -> None:
    if not 0 <= value < 1 << bits:
        raise InvalidStsInput(
            f"expected {name} of {bits} bits (0..{(1 << bits) - 1}), found {value}"
        )


@dataclass(frozen=True, slots=True)
class TokenData:
    """The clear fields of a token: class, subclass and the 44-bit payload."""

    token_class: int
    subclass: int
    payload: int

    def __post_init__(self) -> None:
        _check_width("a token class", self.token_class, 2)
        _check_width("a subclass", self.subclass, 4)
        _check_width("a payload", self.payload, PAYLOAD_BITS)

    @classmethod
    def with_tid(cls, token_class: int, subclass: int, rnd: int, tid: int, field: int) -> TokenData:
        """The common layout: random number (4) | TID (24) | 16-bit field."""
        _check_width("a random number", rnd, 4)
        _check_width("a TID", tid, 24)
        _check_width("a 16-bit field", field, 16)
        return cls(token_class, subclass, (rnd << 40) | (tid << 16) | field)

    # The common layout's fields; meaningless for key change tokens.
    @property
    def rnd(self) -> int:
        return self.payload >> 40

    @property
    def tid(self) -> int:
        return (self.payload >> 16) & 0xFFFFFF

    @property
    def field(self) -> int:
        return self.payload & 0xFFFF

    def crc(self) -> int:
        return token_crc((self.token_class << 48) | (self.subclass << 44) | self.payload)

    def data_block(self) -> int:
        """The 64-bit block that EA07 encrypts."""
        return (self.subclass << 60) | (self.payload << 16) | self.crc()


@dataclass(frozen=True, slots=True)
class DecodedToken:
    """A token decrypted under a decoder key; `crc_ok` says whether that key was the right one."""

    data: TokenData
    crc: int
    crc_ok: bool


def _key_int(decoder_key: bytes) -> int:
    if len(decoder_key) != 8:
        raise InvalidStsInput(f"expected a decoder key of 8 bytes, found {len(decoder_key)}")
    return int.from_bytes(decoder_key, "big")


def encode_token(data: TokenData, decoder_key: bytes) -> str:
    """The 20-digit token carrying `data`, encrypted under `decoder_key` (8 bytes, big-endian)."""
    encrypted = ea07.encrypt(data.data_block(), _key_int(decoder_key))
    displaced = (encrypted >> _CLASS_BIT_LOW) & 0b11
    number = encrypted & ~(0b11 << _CLASS_BIT_LOW)
    number |= (data.token_class << _CLASS_BIT_LOW) | (displaced << _MOVED_TO)
    return f"{number:0{TOKEN_DIGITS}d}"


def parse_token_number(text: str) -> int:
    """20 digits (spaces and dashes allowed between groups) -> the 66-bit token number."""
    digits = re.sub(r"[\s-]", "", text)
    if not re.fullmatch(r"[0-9]{20}", digits):
        raise InvalidStsInput(
            f"expected a token of {TOKEN_DIGITS} decimal digits, found {text!r}"
            f" ({len(digits)} characters)"
        )
    number = int(digits)
    if number >= 1 << TOKEN_BITS:
        raise InvalidStsInput(f"expected a token below 2**66 = {1 << TOKEN_BITS}, found {digits}")
    return number


def token_class_of(text: str) -> int:
    """The (unencrypted) class of a token, readable without any key."""
    return (parse_token_number(text) >> _CLASS_BIT_LOW) & 0b11


def decode_token(text: str, decoder_key: bytes) -> DecodedToken:
    """Decrypt a 20-digit token; never raises on a bad CRC, reports it in `crc_ok`."""
    number = parse_token_number(text)
    token_class = (number >> _CLASS_BIT_LOW) & 0b11
    displaced = number >> _MOVED_TO
    encrypted = (number & ((1 << 64) - 1) & ~(0b11 << _CLASS_BIT_LOW)) | (
        displaced << _CLASS_BIT_LOW
    )
    block = ea07.decrypt(encrypted, _key_int(decoder_key))
    data = TokenData(token_class, block >> 60, (block >> 16) & ((1 << PAYLOAD_BITS) - 1))
    crc = block & 0xFFFF
    return DecodedToken(data=data, crc=crc, crc_ok=crc == data.crc())


def decode_verified(text: str, decoder_key: bytes) -> TokenData:
    """Decrypt a token and insist that its CRC verifies (what a meter does before acting)."""
    decoded = decode_token(text, decoder_key)
    if not decoded.crc_ok:
        raise CrcMismatch(
            f"expected CRC {decoded.data.crc():04X} for the decrypted fields, found"
            f" {decoded.crc:04X}: wrong decoder key, wrong meter or a mistyped digit"
        )
    return decoded.data


def format_token(token: str, group: int = 4) -> str:
    """Digits in groups for display on a receipt: 1234 5678 ..."""
    return " ".join(token[i : i + group] for i in range(0, len(token), group))
