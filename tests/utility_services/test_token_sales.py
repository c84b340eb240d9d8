"""The vending side of a token sale on chain: a request becomes one 20-digit token, the same
digits every time it is asked (a reissue), for the meter's own key parameters held off chain."""

from __future__ import annotations

from typing import Any

import pytest

from meter_adapters.sts.dkga02 import KeyParameters, MeterPan
from meter_adapters.sts.errors import InvalidStsInput
from meter_adapters.sts.tid import BaseDate
from meter_adapters.sts.token import CreditSubclass, decode_verified
from utility_services.sts_vending import MemoryTidStore, Meter, Vendor
from utility_services.token_sales import TokenRequest, issue_from_chain, issue_sale_token

VENDING_KEY = bytes.fromhex("0123456789abcdef")
TARA = Meter(MeterPan("600727000000000009"), KeyParameters(2, "123456", 1, 1), BaseDate.Y2014)
OLD = Meter(MeterPan("600727000000000108"), KeyParameters(2, "123456", 1, 1), BaseDate.Y1993)


def sale(**token: Any) -> dict[str, Any]:
    request = {"meter": "MTR-TARA", "subclass": 0, "tenths": 96, "tid": 5_790_840, "tid_base": "2014-01-01"}
    request.update(token)
    return {"id": "TOK-0000000001", "token": request, "sts_ref": bytes(range(32))}


def test_basic_a_request_becomes_one_token_and_a_reissue_the_same_digits() -> None:
    store = MemoryTidStore()
    vendor = Vendor(VENDING_KEY, store)
    request = TokenRequest.from_sale(sale())
    first = issue_sale_token(vendor, TARA, request)
    again = issue_sale_token(Vendor(VENDING_KEY, store), TARA, TokenRequest.from_sale(sale()))
    assert first.token == again.token and len(first.token) == 20
    data = decode_verified(first.token, vendor.decoder_key(TARA))
    assert (data.tid, data.subclass, data.rnd, first.value) == (5_790_840, 0, request.random, 96)
    assert store.issued(TARA.pan.digits, BaseDate.Y2014) == frozenset({5_790_840})
    # Another request (another sts_ref) carries another random number, so other digits.
    other = TokenRequest.from_sale({**sale(tid=5_790_841), "sts_ref": bytes(32)})
    assert issue_sale_token(vendor, TARA, other).token != first.token


def test_basic_issue_from_chain_reads_the_sale_through_a_view() -> None:
    calls: list[tuple[str, str, list[Any]]] = []

    def view(contract: str, function: str, args: list[Any]) -> Any:
        calls.append((contract, function, args))
        return sale(subclass=1, tenths=16_383)

    issued = issue_from_chain(Vendor(VENDING_KEY), {"MTR-TARA": TARA}, view, "TOK-0000000001")
    assert calls == [("payments", "token_sale", ["TOK-0000000001"])]
    assert (issued.subclass, issued.value) == (CreditSubclass.WATER, 16_383)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ({"tid_base": "1993-01-01"}, "TIDs counted from 2014-01-01"),
        ({"tid": -1}, "a TID in 0..16777215"),
        ({"tenths": 0}, "a positive amount in tenths"),
        ({"subclass": 3}, "credit subclass 0, 1 or 2"),
    ],
)
def test_invalid_request_fields(token: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidStsInput, match=expected):
        TokenRequest.from_sale(sale(**token))


def test_invalid_meter_on_base_date_1993_unknown_meter_or_amount_not_carried_exactly() -> None:
    vendor = Vendor(VENDING_KEY)
    with pytest.raises(InvalidStsInput, match="on base date 2014"):
        issue_sale_token(vendor, OLD, TokenRequest.from_sale(sale()))
    with pytest.raises(InvalidStsInput, match="key parameters of meter MTR-TARA"):
        issue_from_chain(vendor, {}, lambda *_: sale(), "TOK-0000000001")
    with pytest.raises(InvalidStsInput, match="token sale TOK-0000000009 on chain"):
        issue_from_chain(vendor, {"MTR-TARA": TARA}, lambda *_: None, "TOK-0000000009")
    with pytest.raises(InvalidStsInput, match="carries exactly, found 16385 tenths"):
        issue_sale_token(vendor, TARA, TokenRequest.from_sale(sale(tenths=16_385)))
    assert vendor.store.issued(TARA.pan.digits, BaseDate.Y2014) == frozenset()
