"""Every published compliance token is reproduced bit-exactly from its inputs and decodes back.

Inputs per token: vending key, key type, supply group, tariff index, key revision, PAN, the
issue time (the minute its TID names), the amount or management value, and the random number
read from the decoded token. Key change tokens carry a new key the file does not name; they are
checked by decryption, CRC, and by finding that the key they carry is the DKGA02 key of the
revision, type and tariff index they state (see docs/sts.md, "What is verified").
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from meter_adapters.sts import management as mgmt
from meter_adapters.sts.amount import (
    decode_amount_field,
    encode_amount_units,
    format_tenths,
    parse_decimal_amount,
)
from meter_adapters.sts.dkga02 import KeyParameters, MeterPan, derive_decoder_key, to_nectar_hex
from meter_adapters.sts.tid import BaseDate, tid_for
from meter_adapters.sts.token import CreditSubclass, TokenClass, decode_token, encode_token
from utility_services.sts_vending import MemoryTidStore, Meter, Vendor

# Requested maximum power limits (W) of compliance test CTSA12, by token: the field carries the
# smallest representable value not below the request.
REQUESTED_POWER_LIMITS = {
    "41932934023937597177": 256,
    "39962525051716972228": 16383,
    "49726922948713857933": 16384,
    "49240429350369491663": 20000,
    "59901462710025767433": 180223,
    "19230023168014606006": 180224,
    "15202793104399278539": 1818623,
    "39289527337368539951": 1818624,
    "64902502692705103624": 18201624,
}


def meter_of(v: dict[str, Any]) -> Meter:
    return Meter(
        pan=MeterPan(v["pan"]),
        key=KeyParameters(int(v["key_type"]), v["sgc"], int(v["ti"]), int(v["krn"])),
        base_date=BaseDate.Y1993,
    )


def issued_of(v: dict[str, Any]) -> datetime:
    return datetime.strptime(v["issued"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def test_decoder_keys_match_fixture(sts_vectors: list[dict[str, Any]]) -> None:
    for v in sts_vectors:
        meter = meter_of(v)
        key = derive_decoder_key(bytes.fromhex(v["vudk"]), meter.key, meter.pan)
        assert to_nectar_hex(key) == v["dk_nectar_notation"], v["token"]


def test_worked_example_decoder_key_in_natural_order() -> None:
    meter = Meter(MeterPan("600727000000000009"), KeyParameters(2, "123456", 1, 1), BaseDate.Y1993)
    key = Vendor(bytes.fromhex("abababababababab")).decoder_key(meter)
    assert key.hex() == "e653341f9d5bf36f"  # fixture notation 6ff35b9d1f3453e6, byte-reversed


def test_tids_are_minutes_since_1993(sts_vectors: list[dict[str, Any]]) -> None:
    for v in sts_vectors:
        if v["token_class"] == 0 or v["subclass"] not in (3, 4):
            assert tid_for(issued_of(v), BaseDate.Y1993) == v["tid"], v["token"]


def test_every_credit_token_reproduced(sts_vectors: list[dict[str, Any]]) -> None:
    credit = [v for v in sts_vectors if v["token_class"] == TokenClass.TRANSFER]
    assert len(credit) == 112
    for v in credit:
        vendor = Vendor(bytes.fromhex(v["vudk"]), MemoryTidStore())
        requested = v["test_amount"] if v["test_amount"] is not None else repr(v["amount"])
        issued = vendor.credit(
            meter_of(v),
            CreditSubclass(v["subclass"]),
            parse_decimal_amount(requested),
            issued_of(v),
            random=v["rnd"],
            exact_time=True,
        )
        assert issued.token == v["token"], (v["token"], v["generator"], requested)
        assert issued.tid == v["tid"]
        assert Decimal(format_tenths(issued.value)) == Decimal(repr(v["amount"]))
        assert issued.field == int(v["amount_field"], 16)
        decoded = decode_token(v["token"], issued.decoder_key)
        assert decoded.crc_ok
        assert decoded.crc == int(v["crc"], 16)
        assert (decoded.data.token_class, decoded.data.subclass) == (0, v["subclass"])
        assert (decoded.data.rnd, decoded.data.tid) == (v["rnd"], v["tid"])
        assert decoded.data.field == int(v["amount_field"], 16)


def test_requested_amounts_round_up_as_in_fixture(sts_vectors: list[dict[str, Any]]) -> None:
    pairs = {(v["test_amount"], v["amount"]) for v in sts_vectors if v["test_amount"] is not None}
    assert len(pairs) == 45
    nearest_disagrees = 0
    for requested, carried in pairs:
        tenths = parse_decimal_amount(requested)
        field = encode_amount_units(tenths)
        assert Decimal(format_tenths(decode_amount_field(field))) == Decimal(repr(carried))
        # The nearest representable value would differ for some: the rule is "up".
        # (field - 1 is always the next representable value below, across exponents too.)
        if field > 0:
            below = decode_amount_field(field - 1)
            if tenths - below < decode_amount_field(field) - tenths:
                nearest_disagrees += 1
    assert nearest_disagrees >= 3


def test_every_management_token_with_inputs_reproduced(sts_vectors: list[dict[str, Any]]) -> None:
    kinds = mgmt.ManagementSubclass
    with_tid = {
        kinds.SET_MAXIMUM_POWER_LIMIT,
        kinds.CLEAR_CREDIT,
        kinds.CLEAR_TAMPER_CONDITION,
        kinds.SET_MAXIMUM_PHASE_POWER_UNBALANCE_LIMIT,
    }
    tokens = [v for v in sts_vectors if v["token_class"] == 2 and v["subclass"] in with_tid]
    assert len(tokens) == 34
    assert {v["generator"] for v in tokens} >= {
        "SetMaximumPowerLimit",
        "ClearCredit",
        "ClearTamperCondition",
        "SetMaximumPhasePowerUnbalanceLimit",
    }
    for v in tokens:
        kind = kinds(v["subclass"])
        field = int(v["amount_field"], 16)
        if kind in (kinds.SET_MAXIMUM_POWER_LIMIT, kinds.SET_MAXIMUM_PHASE_POWER_UNBALANCE_LIMIT):
            value = REQUESTED_POWER_LIMITS.get(v["token"], decode_amount_field(field))
        elif kind is kinds.CLEAR_CREDIT:
            value = field
        else:
            assert field == 0  # clear tamper: the pad is zero
            value = 0
        vendor = Vendor(bytes.fromhex(v["vudk"]), MemoryTidStore())
        issued = vendor.management(
            meter_of(v), kind, value, issued_of(v), random=v["rnd"], exact_time=True
        )
        assert issued.token == v["token"], (v["token"], kind.name, value)
        decoded = decode_token(v["token"], issued.decoder_key)
        assert decoded.crc_ok and decoded.data.field == field


def test_key_change_tokens_decrypt_and_carry_a_dkga02_key(
    sts_vectors: list[dict[str, Any]],
) -> None:
    sections = [v for v in sts_vectors if v["token_class"] == 2 and v["subclass"] in (3, 4)]
    assert [v["subclass"] for v in sections] == [3, 4] * 5
    for first_v, second_v in zip(sections[0::2], sections[1::2], strict=True):
        old_key = bytes.fromhex(first_v["dk_nectar_notation"])[::-1]
        first = decode_token(first_v["token"], old_key)
        second = decode_token(second_v["token"], old_key)
        assert first.crc_ok and second.crc_ok
        change = mgmt.parse_key_change(first.data, second.data)
        assert not change.rollover  # no compliance token has the roll-over bit set
        # The carried key is exactly the DKGA02 key of the revision, type and TI it states.
        carried_meter = Meter(
            MeterPan(first_v["pan"]),
            KeyParameters(
                change.key_type, first_v["sgc"], change.tariff_index, change.key_revision
            ),
            BaseDate.Y1993,
        )
        expected = Vendor(bytes.fromhex(first_v["vudk"])).decoder_key(carried_meter)
        assert change.new_key == expected, first_v["token"]
        assert change.key_expiry in (0x55, 0xFF)  # KENHO and KENLO agree within each pair
        # And building the pair from those fields gives the very same tokens.
        built = mgmt.key_change_tokens(change)
        assert encode_token(built[0], old_key) == first_v["token"]
        assert encode_token(built[1], old_key) == second_v["token"]


def test_key_change_of_compliance_test_05_moves_ti_02_to_ti_01(
    sts_vectors: list[dict[str, Any]],
) -> None:
    pair = [v for v in sts_vectors if v["source"].endswith("CTSA05.java")]
    old = Meter(MeterPan("600727000000000009"), KeyParameters(2, "123456", 2, 1), BaseDate.Y1993)
    new = Meter(old.pan, KeyParameters(2, "123456", 1, 1), BaseDate.Y1993)
    result = Vendor(bytes.fromhex("abababababababab")).key_change(old, new, key_expiry=255)
    assert [result.first, result.second] == [v["token"] for v in pair]
    assert not result.change.rollover
