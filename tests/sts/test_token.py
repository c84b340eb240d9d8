"""Token build/parse: round trips for random inputs, both base dates, and tamper detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_adapters.sts.errors import CrcMismatch, InvalidStsInput
from meter_adapters.sts.tid import TID_MAX, BaseDate, issued_at, tid_for
from meter_adapters.sts.token import (
    TokenData,
    decode_token,
    decode_verified,
    encode_token,
    format_token,
    parse_token_number,
    token_class_of,
)

keys = st.binary(min_size=8, max_size=8)
token_data = st.builds(
    TokenData,
    token_class=st.integers(0, 3),
    subclass=st.integers(0, 15),
    payload=st.integers(0, (1 << 44) - 1),
)


@settings(max_examples=200, deadline=None)
@given(token_data, keys)
def test_encode_decode_round_trip(data: TokenData, key: bytes) -> None:
    token = encode_token(data, key)
    assert len(token) == 20 and token.isdigit()
    decoded = decode_token(token, key)
    assert decoded.crc_ok
    assert decoded.data == data
    assert token_class_of(token) == data.token_class


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(list(BaseDate)),
    st.integers(0, TID_MAX),
    st.integers(0, 15),
    st.integers(0, 0xFFFF),
    keys,
)
def test_credit_round_trip_through_issue_time(
    base: BaseDate, tid: int, rnd: int, field: int, key: bytes
) -> None:
    moment = issued_at(tid, base)
    assert tid_for(moment + timedelta(seconds=59), base) == tid
    data = TokenData.with_tid(0, 1, rnd, tid_for(moment, base), field)
    decoded = decode_token(encode_token(data, key), key).data
    assert (decoded.rnd, decoded.tid, decoded.field) == (rnd, tid, field)
    assert issued_at(decoded.tid, base) == moment


@settings(max_examples=150, deadline=None)
@given(token_data, keys, st.integers(0, 19), st.integers(1, 9))
def test_one_changed_digit_is_never_the_same_token(
    data: TokenData, key: bytes, position: int, delta: int
) -> None:
    token = encode_token(data, key)
    changed = token[:position] + str((int(token[position]) + delta) % 10) + token[position + 1 :]
    try:
        decoded = decode_token(changed, key)
    except InvalidStsInput:
        return  # no longer a 66-bit number: rejected outright
    assert not (decoded.crc_ok and decoded.data == data)
    # Nearly always the CRC catches it (a 16-bit CRC lets 1 in 65536 random changes pass, and
    # then as a *different* token, which the assertion above already rules out as "the same").


def test_changed_digit_fails_the_crc_for_the_worked_example() -> None:
    key = bytes.fromhex("e653341f9d5bf36f")
    token = "66475648316756821785"
    assert decode_token(token, key).crc_ok
    failures = 0
    for position in range(20):
        for digit in "0123456789":
            if digit == token[position]:
                continue
            changed = token[:position] + digit + token[position + 1 :]
            try:
                decoded = decode_token(changed, key)
            except InvalidStsInput:
                continue
            failures += not decoded.crc_ok
    assert failures >= 170  # of 180 single-digit changes (some exceed 2**66 and are rejected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1234", "expected a token of 20 decimal digits, found '1234'"),
        ("6647564831675682178X", "20 decimal digits"),
        ("664756483167568217851", "20 decimal digits"),
        ("99999999999999999999", "below 2\\*\\*66"),
    ],
)
def test_invalid_token_text(text: str, message: str) -> None:
    with pytest.raises(InvalidStsInput, match=message):
        parse_token_number(text)


def test_groups_of_digits_are_accepted_and_printed() -> None:
    assert parse_token_number("6647 5648 3167 5682 1785") == 66475648316756821785
    assert format_token("66475648316756821785") == "6647 5648 3167 5682 1785"


def test_invalid_field_widths() -> None:
    with pytest.raises(InvalidStsInput, match="random number of 4 bits"):
        TokenData.with_tid(0, 0, 16, 0, 0)
    with pytest.raises(InvalidStsInput, match="TID of 24 bits"):
        TokenData.with_tid(0, 0, 0, 1 << 24, 0)
    with pytest.raises(InvalidStsInput, match="token class of 2 bits"):
        TokenData(4, 0, 0)


def test_decode_with_the_wrong_key_fails_the_crc() -> None:
    decoded = decode_token("66475648316756821785", bytes.fromhex("e653341f9d5bf36e"))
    assert not decoded.crc_ok


def test_2014_base_date_for_a_meter_in_service_today() -> None:
    now = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)
    tid = tid_for(now, BaseDate.Y2014)
    assert issued_at(tid, BaseDate.Y2014) == now


def test_decode_verified_raises_on_a_bad_crc() -> None:
    key = bytes.fromhex("e653341f9d5bf36f")
    assert decode_verified("66475648316756821785", key).tid == 5944921
    with pytest.raises(CrcMismatch, match="expected CRC .* found .*: wrong decoder key"):
        decode_verified("66475648316756821786", key)
