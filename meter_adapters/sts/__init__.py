"""STS (IEC 62055-41) 20-digit tokens for keypad prepayment meters.

Pure token arithmetic: amount.py, crc.py, ea07.py, dkga02.py, tid.py, token.py,
management.py. The vending side, which holds the vending key and remembers issued TIDs, is a
service the utility runs and lives in ``utility_services.sts_vending``.
Edition 1 algorithms: STA (EA07) encryption and DKGA02 key derivation; base dates 1993 and
2014. See docs/sts.md for what is verified against the compliance tokens and what is inferred.
"""

from meter_adapters.sts.amount import (
    MAX_UNITS,
    decode_amount_field,
    encode_amount_units,
    format_tenths,
    parse_decimal_amount,
)
from meter_adapters.sts.dkga02 import KeyParameters, MeterPan, derive_decoder_key
from meter_adapters.sts.errors import (
    CrcMismatch,
    DuplicateTid,
    InvalidStsInput,
    StsError,
    TidOutOfRange,
)
from meter_adapters.sts.management import KeyChange, ManagementSubclass
from meter_adapters.sts.tid import BaseDate, issued_at, tid_for
from meter_adapters.sts.token import (
    CreditSubclass,
    DecodedToken,
    TokenClass,
    TokenData,
    decode_token,
    encode_token,
)

__all__ = [
    "MAX_UNITS",
    "BaseDate",
    "CrcMismatch",
    "CreditSubclass",
    "DecodedToken",
    "DuplicateTid",
    "InvalidStsInput",
    "KeyChange",
    "KeyParameters",
    "ManagementSubclass",
    "MeterPan",
    "StsError",
    "TidOutOfRange",
    "TokenClass",
    "TokenData",
    "decode_amount_field",
    "decode_token",
    "derive_decoder_key",
    "encode_amount_units",
    "encode_token",
    "format_tenths",
    "issued_at",
    "parse_decimal_amount",
    "tid_for",
]
