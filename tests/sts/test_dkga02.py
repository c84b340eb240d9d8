"""DKGA02 decoder keys, PANs, key text."""

from __future__ import annotations

import pytest

from meter_adapters.sts.dkga02 import (
    KeyParameters,
    MeterPan,
    derive_decoder_key,
    from_nectar_hex,
    key_check_value,
    luhn_check_digit,
    parse_key_hex,
    to_nectar_hex,
)
from meter_adapters.sts.errors import InvalidStsInput

VENDING_KEY = bytes.fromhex("abababababababab")


def test_basic_worked_example() -> None:
    key = derive_decoder_key(
        VENDING_KEY, KeyParameters(2, "123456", 1, 1), MeterPan("600727000000000009")
    )
    assert key.hex() == "e653341f9d5bf36f"
    assert to_nectar_hex(key) == "6ff35b9d1f3453e6"
    assert from_nectar_hex("6ff35b9d1f3453e6") == key


def test_pan_block_drops_first_and_check_digit() -> None:
    pan = MeterPan("600727000000000009")
    assert (pan.iin, pan.drn) == ("600727", "00000000000")
    assert pan.block().hex() == "0072700000000000"


def test_control_block_layout() -> None:
    assert KeyParameters(2, "123456", 1, 1).control_block().hex() == "212345601" + "1ffffff"


def test_every_parameter_changes_the_key() -> None:
    pan = MeterPan("600727000000000009")
    base = derive_decoder_key(VENDING_KEY, KeyParameters(2, "123456", 1, 1), pan)
    variants = [
        KeyParameters(3, "123456", 1, 1),
        KeyParameters(2, "123457", 1, 1),
        KeyParameters(2, "123456", 2, 1),
        KeyParameters(2, "123456", 1, 2),
    ]
    keys = {derive_decoder_key(VENDING_KEY, params, pan) for params in variants}
    keys.add(
        derive_decoder_key(
            VENDING_KEY, KeyParameters(2, "123456", 1, 1), MeterPan("600727000000000108")
        )
    )
    assert base not in keys and len(keys) == 5


def test_luhn() -> None:
    assert luhn_check_digit("60072700000000000") == 9
    assert luhn_check_digit("00000100000000008") == 2
    assert luhn_check_digit("7992739871") == 3  # the textbook example


@pytest.mark.parametrize(
    ("pan", "message"),
    [
        ("60072700000000000", "18 decimal digits"),
        ("60072700000000000A", "18 decimal digits"),
        ("600727000000000008", "expected PAN check digit 9 for 60072700000000000, found 8"),
    ],
)
def test_invalid_pan(pan: str, message: str) -> None:
    with pytest.raises(InvalidStsInput, match=message):
        MeterPan(pan)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ((4, "123456", 1, 1), "key type 0..3, found 4"),
        ((2, "12345", 1, 1), "6 decimal digits, found '12345'"),
        ((2, "123456", 100, 1), "tariff index 0..99, found 100"),
        ((2, "123456", 1, 0), "key revision number 1..9, found 0"),
    ],
)
def test_invalid_key_parameters(params: tuple[int, str, int, int], message: str) -> None:
    with pytest.raises(InvalidStsInput, match=message):
        KeyParameters(*params)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abab", "16 hex digits \\(8 bytes\\), found 4 characters$"),
        ("zzzzzzzzzzzzzzzz", "found 16 characters that are not all hex digits"),
        ("abababababababab00", "found 18 characters"),
    ],
)
def test_invalid_key_hex(text: str, message: str) -> None:
    with pytest.raises(InvalidStsInput, match=message):
        parse_key_hex(text, "vending key")


def test_key_check_value_names_the_key_without_showing_it() -> None:
    kcv = key_check_value(VENDING_KEY)
    assert len(kcv) == 6 and kcv.lower() not in VENDING_KEY.hex()
    assert kcv != key_check_value(bytes.fromhex("9494949494949494"))


def test_pan_from_meter_number() -> None:
    assert MeterPan.from_meter_number("00000000000").digits == "600727000000000009"
    assert MeterPan.from_meter_number("00000000008", iin="000001").digits == "000001000000000082"
    with pytest.raises(InvalidStsInput, match="11-digit meter number"):
        MeterPan.from_meter_number("123")
