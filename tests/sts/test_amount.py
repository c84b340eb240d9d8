"""The exponent/mantissa amount field: exhaustive checks and properties."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_adapters.sts.amount import (
    MAX_UNITS,
    decode_amount_field,
    encode_amount_units,
    format_tenths,
    parse_decimal_amount,
    round_units,
)
from meter_adapters.sts.errors import InvalidStsInput

ALL_FIELDS = range(0x10000)


def test_every_field_is_canonical_and_values_strictly_increase() -> None:
    values = [decode_amount_field(field) for field in ALL_FIELDS]
    assert all(a < b for a, b in itertools.pairwise(values))
    assert all(
        encode_amount_units(value) == field
        for field, value in zip(ALL_FIELDS, values, strict=False)
    )


@pytest.mark.parametrize(
    ("units", "field"),
    [
        (0, 0x0000),
        (1, 0x0001),
        (16383, 0x3FFF),
        (16384, 0x4000),  # exponent 1 starts where exponent 0 stops
        (16385, 0x4001),  # 16394 is the next step of 10
        (180214, 0x7FFF),
        (180215, 0x8000),  # in the gap below exponent 2: up to 180224
        (180224, 0x8000),
        (1818624, 0xC000),
        (MAX_UNITS, 0xFFFF),
    ],
)
def test_basic_boundaries(units: int, field: int) -> None:
    assert encode_amount_units(units) == field


def test_invalid_amount_too_large() -> None:
    with pytest.raises(InvalidStsInput, match="at most 18201624 units"):
        encode_amount_units(MAX_UNITS + 1)
    with pytest.raises(InvalidStsInput, match="at most 1820162.4, found '1820162.5'"):
        parse_decimal_amount("1820162.5")


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=MAX_UNITS))
def test_encoding_rounds_up_to_the_nearest_representable_value(units: int) -> None:
    field = encode_amount_units(units)
    carried = decode_amount_field(field)
    assert carried >= units
    # No representable value lies in [units, carried): field - 1 is the next one down.
    assert field == 0 or decode_amount_field(field - 1) < units
    assert round_units(carried) == carried


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=0, max_value=Decimal("1820162.44"), allow_nan=False, places=3))
def test_decimal_text_quantizes_half_up_to_tenths(value: Decimal) -> None:
    tenths = parse_decimal_amount(str(value))
    assert abs(Decimal(tenths) / 10 - value) <= Decimal("0.05")
    assert Decimal(format_tenths(tenths)) == Decimal(tenths) / 10


@pytest.mark.parametrize(("text", "tenths"), [("1.82", 18), ("0.4712", 5), ("0.05", 1), ("7", 70)])
def test_basic_quantization(text: str, tenths: int) -> None:
    assert parse_decimal_amount(text) == tenths


@pytest.mark.parametrize("text", ["", "abc", "-1", "NaN", "Infinity", "1,5"])
def test_invalid_amount_text(text: str) -> None:
    with pytest.raises(InvalidStsInput, match="expected"):
        parse_decimal_amount(text)
