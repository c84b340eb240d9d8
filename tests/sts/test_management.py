"""Management tokens and key change token pairs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_adapters.sts import management as mgmt
from meter_adapters.sts.errors import InvalidStsInput
from meter_adapters.sts.token import TokenData, decode_token, encode_token

key_changes = st.builds(
    mgmt.KeyChange,
    new_key=st.binary(min_size=8, max_size=8),
    key_revision=st.integers(0, 15),
    key_type=st.integers(0, 3),
    tariff_index=st.integers(0, 99),
    key_expiry=st.integers(0, 255),
    rollover=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(key_changes, st.binary(min_size=8, max_size=8))
def test_key_change_pair_round_trips_through_tokens(change: mgmt.KeyChange, key: bytes) -> None:
    first, second = mgmt.key_change_tokens(change)
    assert (first.token_class, first.subclass, second.subclass) == (2, 3, 4)
    decoded = [decode_token(encode_token(data, key), key) for data in (first, second)]
    assert all(d.crc_ok for d in decoded)
    assert mgmt.parse_key_change(decoded[0].data, decoded[1].data) == change


def test_rollover_bit_position() -> None:
    change = mgmt.KeyChange(bytes(8), key_revision=1, key_type=2, tariff_index=1, rollover=True)
    first, _ = mgmt.key_change_tokens(change)
    # KENHO 0xF | KRN 1 | RO 1, Res 0, KT 2 -> 0b1010 | NKHO 0
    assert first.payload == (0xF << 40) | (1 << 36) | (0b1010 << 32)
    assert mgmt.parse_key_change_first(first).rollover


def test_sections_carry_key_halves_in_natural_order() -> None:
    change = mgmt.KeyChange(bytes.fromhex("e653341f9d5bf36f"), 1, 2, 1)
    first, second = mgmt.key_change_tokens(change)
    assert mgmt.parse_key_change_first(first).nkho == 0xE653341F
    assert mgmt.parse_key_change_second(second).nklo == 0x9D5BF36F
    assert mgmt.parse_key_change_second(second).tariff_index == 1


def test_power_limits_round_up_in_watts() -> None:
    data = mgmt.set_maximum_power_limit(5, 100, 20000)
    assert data.field == 0x416A and mgmt.carried_watts(data) == 20004
    unbalance = mgmt.set_maximum_phase_power_unbalance_limit(5, 100, 1000)
    assert unbalance.subclass == 6 and mgmt.carried_watts(unbalance) == 1000


def test_clear_credit_and_tamper_layouts() -> None:
    assert mgmt.clear_credit(5, 7).field == 0xFFFF
    assert mgmt.clear_credit(5, 7, mgmt.CreditRegister.WATER).field == 1
    tamper = mgmt.clear_tamper_condition(5, 7)
    assert (tamper.subclass, tamper.field, tamper.tid, tamper.rnd) == (5, 0, 7, 5)


def test_invalid_key_change_fields() -> None:
    with pytest.raises(InvalidStsInput, match="key expiry number 0..255, found 256"):
        mgmt.KeyChange(bytes(8), 1, 2, 1, key_expiry=256)
    with pytest.raises(InvalidStsInput, match="new key of 8 bytes, found 7"):
        mgmt.KeyChange(bytes(7), 1, 2, 1)


def test_invalid_section_order() -> None:
    first, second = mgmt.key_change_tokens(mgmt.KeyChange(bytes(8), 1, 2, 1))
    with pytest.raises(InvalidStsInput, match="expected a class 2 subclass 3 token"):
        mgmt.parse_key_change(second, first)
    with pytest.raises(InvalidStsInput, match="found class 0 subclass 0"):
        mgmt.parse_key_change_second(TokenData(0, 0, 0))
