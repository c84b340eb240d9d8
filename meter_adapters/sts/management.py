"""Management tokens (class 2): load limits, clear credit, clear tamper, and key change.

Layouts of the 44-bit payload (most significant bits first):

  subclass 0  set maximum power limit        rnd (4) | TID (24) | MPL (16, amount format, W)
  subclass 1  clear credit                   rnd (4) | TID (24) | register (16)
  subclass 5  clear tamper condition         rnd (4) | TID (24) | pad (16, zero)
  subclass 6  set maximum phase power        rnd (4) | TID (24) | MPPUL (16, amount format, W)
              unbalance limit
  subclass 3  set decoder key, 1st section   KENHO (4) | KRN (4) | RO (1) | Res (1) | KT (2)
                                             | NKHO (32)
  subclass 4  set decoder key, 2nd section   KENLO (4) | TI (8) | NKLO (32)

The power limits use the amount format of amount.py, counted in watts and rounded up like
credit: the compliance tokens set 20000 W as field 0x416A (= 20004 W) and 180223 W as 0x8000.

A key change is a pair of tokens, both encrypted with the meter's *current* decoder key, that
carry the new 64-bit decoder key (NKHO = its high 32 bits, NKLO = its low 32 bits, in natural
big-endian order), the new key's revision (KRN), type (KT) and tariff index (TI), and the key
expiry number KEN (KENHO/KENLO = its high/low nibble; 255 = no expiry). The roll-over bit RO
tells the meter to clear its TID memory: it is set when the meter moves to a new base date
(1993 -> 2014), so that the new, smaller TIDs are accepted; the key changes at the same time so
no old token can be replayed. Verified against the compliance key change tokens: every pair
decrypts with the meter's key, its CRC verifies, and NKHO|NKLO, KRN, KT and TI reproduce a
DKGA02 key exactly; RO = 1 appears in none of them, so its position is taken from the
standard's public descriptions (docs/sts.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from meter_adapters.sts.amount import decode_amount_field, encode_amount_units
from meter_adapters.sts.errors import InvalidStsInput
from meter_adapters.sts.token import TokenClass, TokenData


class ManagementSubclass(IntEnum):
    SET_MAXIMUM_POWER_LIMIT = 0
    CLEAR_CREDIT = 1
    SET_TARIFF_RATE = 2
    SET_DECODER_KEY_1 = 3
    SET_DECODER_KEY_2 = 4
    CLEAR_TAMPER_CONDITION = 5
    SET_MAXIMUM_PHASE_POWER_UNBALANCE_LIMIT = 6
    SET_WATER_METER_FACTOR = 7


class CreditRegister(IntEnum):
    """Which credit register a clear credit token empties."""

    ELECTRICITY = 0x0000
    WATER = 0x0001
    GAS = 0x0002
    TIME = 0x0003
    ALL = 0xFFFF


KEY_EXPIRY_NONE = 255


def set_maximum_power_limit(rnd: int, tid: int, watts: int) -> TokenData:
    """Limit the load to `watts` (rounded up to a representable value); see `carried_watts`."""
    return TokenData.with_tid(
        TokenClass.MANAGEMENT,
        ManagementSubclass.SET_MAXIMUM_POWER_LIMIT,
        rnd,
        tid,
        encode_amount_units(watts),
    )


def set_maximum_phase_power_unbalance_limit(rnd: int, tid: int, watts: int) -> TokenData:
    return TokenData.with_tid(
        TokenClass.MANAGEMENT,
        ManagementSubclass.SET_MAXIMUM_PHASE_POWER_UNBALANCE_LIMIT,
        rnd,
        tid,
        encode_amount_units(watts),
    )


def clear_credit(rnd: int, tid: int, register: int = CreditRegister.ALL) -> TokenData:
    if not 0 <= register <= 0xFFFF:
        raise InvalidStsInput(f"expected a 16-bit register number, found {register}")
    return TokenData.with_tid(
        TokenClass.MANAGEMENT, ManagementSubclass.CLEAR_CREDIT, rnd, tid, register
    )


def clear_tamper_condition(rnd: int, tid: int) -> TokenData:
    return TokenData.with_tid(
        TokenClass.MANAGEMENT, ManagementSubclass.CLEAR_TAMPER_CONDITION, rnd, tid, 0
    )


def carried_watts(data: TokenData) -> int:
    """The limit in watts a power limit token actually sets."""
    return decode_amount_field(data.field)


@dataclass(frozen=True, slots=True)
class KeyChange:
    """What a pair of key change tokens tells a meter."""

    new_key: bytes  # 8 bytes, natural big-endian order
    key_revision: int  # KRN of the new key, 1..15
    key_type: int  # KT of the new key, 0..3
    tariff_index: int  # TI of the new key, 0..99
    key_expiry: int = KEY_EXPIRY_NONE  # KEN, 0..255
    rollover: bool = False  # RO: clear the TID memory (base date change)

    def __post_init__(self) -> None:
        if len(self.new_key) != 8:
            raise InvalidStsInput(f"expected a new key of 8 bytes, found {len(self.new_key)}")
        if not 0 <= self.key_revision <= 15:
            raise InvalidStsInput(f"expected key revision 0..15, found {self.key_revision}")
        if not 0 <= self.key_type <= 3:
            raise InvalidStsInput(f"expected key type 0..3, found {self.key_type}")
        if not 0 <= self.tariff_index <= 99:
            raise InvalidStsInput(f"expected tariff index 0..99, found {self.tariff_index}")
        if not 0 <= self.key_expiry <= 255:
            raise InvalidStsInput(f"expected key expiry number 0..255, found {self.key_expiry}")


def key_change_tokens(change: KeyChange) -> tuple[TokenData, TokenData]:
    """The 1st and 2nd section tokens (subclasses 3 and 4) of a key change."""
    new_key = int.from_bytes(change.new_key, "big")
    high, low = new_key >> 32, new_key & 0xFFFFFFFF
    first = (
        (change.key_expiry >> 4) << 40
        | change.key_revision << 36
        | int(change.rollover) << 35
        | 0 << 34  # Res: reserved, zero
        | change.key_type << 32
        | high
    )
    second = (change.key_expiry & 0xF) << 40 | change.tariff_index << 32 | low
    return (
        TokenData(TokenClass.MANAGEMENT, ManagementSubclass.SET_DECODER_KEY_1, first),
        TokenData(TokenClass.MANAGEMENT, ManagementSubclass.SET_DECODER_KEY_2, second),
    )


@dataclass(frozen=True, slots=True)
class KeyChangeFirst:
    kenho: int
    key_revision: int
    rollover: bool
    reserved: int
    key_type: int
    nkho: int


@dataclass(frozen=True, slots=True)
class KeyChangeSecond:
    kenlo: int
    tariff_index: int
    nklo: int


def _expect_subclass(data: TokenData, subclass: ManagementSubclass) -> None:
    if data.token_class != TokenClass.MANAGEMENT or data.subclass != subclass:
        raise InvalidStsInput(
            f"expected a class 2 subclass {int(subclass)} token ({subclass.name}), found class"
            f" {data.token_class} subclass {data.subclass}"
        )


def parse_key_change_first(data: TokenData) -> KeyChangeFirst:
    _expect_subclass(data, ManagementSubclass.SET_DECODER_KEY_1)
    p = data.payload
    return KeyChangeFirst(
        kenho=p >> 40,
        key_revision=(p >> 36) & 0xF,
        rollover=bool((p >> 35) & 1),
        reserved=(p >> 34) & 1,
        key_type=(p >> 32) & 0b11,
        nkho=p & 0xFFFFFFFF,
    )


def parse_key_change_second(data: TokenData) -> KeyChangeSecond:
    _expect_subclass(data, ManagementSubclass.SET_DECODER_KEY_2)
    p = data.payload
    return KeyChangeSecond(kenlo=p >> 40, tariff_index=(p >> 32) & 0xFF, nklo=p & 0xFFFFFFFF)


def parse_key_change(first: TokenData, second: TokenData) -> KeyChange:
    """The key change a pair of decrypted section tokens carries."""
    one, two = parse_key_change_first(first), parse_key_change_second(second)
    if one.reserved:
        raise InvalidStsInput(
            f"expected the reserved bit of section 1 to be 0, found {one.reserved}"
        )
    if two.tariff_index > 99:
        raise InvalidStsInput(f"expected tariff index 0..99, found {two.tariff_index}")
    return KeyChange(
        new_key=((one.nkho << 32) | two.nklo).to_bytes(8, "big"),
        key_revision=one.key_revision,
        key_type=one.key_type,
        tariff_index=two.tariff_index,
        key_expiry=(one.kenho << 4) | two.kenlo,
        rollover=one.rollover,
    )
