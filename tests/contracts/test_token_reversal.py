"""Token sales reversed (issue 12): an operator reverses tara's token sale whose token was
never entered. The meter's latest token only; the token account goes back as the sale found
it, the money to the vendor's float, the commission out of what the vendor accrued, the
ledger's token totals lose the sale's parts; the token's TID is recorded as cancelled, so a
reissue cannot vend it again and the next sale takes a later TID. Named actors, each with its
``test_invalid_*`` twin."""

from __future__ import annotations

from typing import Any

import pytest

from meter_adapters.sts.errors import InvalidStsInput
from tests.contracts.test_token_sales import DAY, T0, TARA_METER, VENDING_KEY, sell, setup_tara
from utility_services.sts_vending import Vendor
from utility_services.token_sales import issue_from_chain

REASON = "token typed for the wrong meter, handed back unused"
LEDGER_TOKEN = ("token_sold", "token_tax", "token_standing", "token_energy", "token_carried", "float_balance",
                "commission_reversed")


def ledger(w: Any) -> dict[str, int]:
    return {k: v for k, v in w.view("payments", "ledger", [w.utility]).items() if k in LEDGER_TOKEN}


def two_sales(w: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any], dict[str, int]]:
    """Sale A, then sale B ten minutes later, at 1.5 % commission; the token account, vendor
    and ledger after A."""
    setup_tara(w)
    w.ok(w.admin, "payments", "set_policy", [w.utility, {"commission_bp": 150}])
    a = sell(w, 11_800, "T-1", at=T0)
    sub = w.view("registry", "subscription", [w.meters["tara"]])["id"]
    after_a = dict(w.view("payments", "token_account", [sub]))
    vendor = dict(w.view("payments", "commission_statement", [w.utility, w.vendor.public_key]))
    totals = ledger(w)
    b = sell(w, 5_900, "T-2", at=T0 + 600)
    return a, b, after_a, vendor, totals


def test_operator_reverses_taras_unentered_token(world: Any) -> None:
    w = world
    a, b, after_a, vendor, totals = two_sales(w)
    assert b["token"]["tid"] == a["token"]["tid"] + 10
    r = w.ok(w.operator, "payments", "reverse_token_sale", [b["id"], REASON], at=T0 + 900)
    [ev] = w.events(r, "token_sale_reversed")
    assert (ev["id"], ev["amount"], ev["tid"], ev["units"], ev["by"]) == (
        b["id"], 5_900, b["token"]["tid"], b["units"], w.operator.public_key)
    sub = b["subscription"]
    acct = w.view("payments", "token_account", [sub])
    # As sale A left it, but for the allowance accrued in the ten minutes up to sale B:
    # tier 1 grows 5,000 Wh a day (capped at a month of it), tier 2 is unbounded.
    accrued = min(after_a["rooms"][0] + 5_000 * 600 // DAY, 5_000 * 31)
    assert acct["rooms"] == [accrued, None]
    for k in ("paid_until", "carried", "sold", "sales"):
        assert acct[k] == after_a[k], k
    statement = w.view("payments", "commission_statement", [w.utility, w.vendor.public_key])
    assert statement["float"] == vendor["float"] and statement["owed"] == vendor["owed"]
    assert statement["reversed"] == vendor["reversed"] + b["commission"]
    after = ledger(w)
    assert {k: after[k] for k in after if k != "commission_reversed"} == {
        k: totals[k] for k in totals if k != "commission_reversed"}
    assert after["token_sold"] == after["token_tax"] + after["token_standing"] + after["token_energy"] + after["token_carried"]
    record = w.view("payments", "token_sale", [b["id"]])
    assert record["cancelled"]["tid"] == b["token"]["tid"] and record["cancelled"]["reason"] == REASON
    # The next token takes a later TID; the cancelled one is never vended again.
    c = sell(w, 5_900, "T-3", at=T0 + 960)
    assert c["token"]["tid"] > b["token"]["tid"] and c["carried_before"] == a["carried"]
    assert c["standing_seconds"] == b["standing_seconds"] + 360  # B's standing charge is asked again


def test_invalid_reissue_of_a_reversed_token(world: Any) -> None:
    w = world
    _a, b, *_ = two_sales(w)
    w.ok(w.operator, "payments", "reverse_token_sale", [b["id"], REASON], at=T0 + 900)
    err = w.fail(w.consumers["tara"], "payments", "reissue_token", [b["id"], "lost"])
    assert f"a sale not reversed expected for a reissue, found {b['id']} reversed at {T0 + 900} (TID {b['token']['tid']} cancelled)" in err
    # Nor does the vending service issue its digits from the chain's record.
    with pytest.raises(InvalidStsInput, match=f"expected a sale not reversed, found {b['id']} reversed"):
        issue_from_chain(Vendor(VENDING_KEY), {"MTR-TARA": TARA_METER}, w.view, b["id"])


def test_invalid_reversal_of_a_token_followed_by_a_later_one(world: Any) -> None:
    w = world
    a, b, *_ = two_sales(w)
    err = w.fail(w.operator, "payments", "reverse_token_sale", [a["id"], REASON])
    assert (f"the latest token of meter {w.meters['tara']} expected for a reversal, found {a['id']} with TID "
            f"{a['token']['tid']} before TID {b['token']['tid']}") in err


def test_invalid_reversal_by_the_vendor_or_the_consumer(world: Any) -> None:
    w = world
    _a, b, *_ = two_sales(w)
    for actor in (w.vendor, w.consumers["tara"]):
        err = w.fail(actor, "payments", "reverse_token_sale", [b["id"], REASON])
        assert f"caller with role operator or admin of utility {w.utility} expected" in err


def test_invalid_reversal_twice_or_without_a_reason(world: Any) -> None:
    w = world
    _a, b, *_ = two_sales(w)
    err = w.fail(w.operator, "payments", "reverse_token_sale", [b["id"], ""])
    assert "a reason of 1 to 256 characters expected" in err
    w.ok(w.operator, "payments", "reverse_token_sale", [b["id"], REASON], at=T0 + 900)
    err = w.fail(w.operator, "payments", "reverse_token_sale", [b["id"], REASON])
    assert f"a token sale not yet reversed expected, found {b['id']} reversed at {T0 + 900}" in err
    err = w.fail(w.operator, "payments", "reverse_token_sale", ["TOK-nothing", REASON])
    assert "a recorded token sale expected, found no sale TOK-nothing" in err


def test_invalid_reversal_once_the_commission_is_paid_out(world: Any) -> None:
    w = world
    _a, b, *_ = two_sales(w)
    owed = w.view("payments", "commission_statement", [w.utility, w.vendor.public_key])["owed"]
    assert b["commission"] > 0
    w.ok(w.admin, "payments", "settle_commission", [w.utility, w.vendor.public_key, owed, "PAYOUT-1"])
    err = w.fail(w.operator, "payments", "reverse_token_sale", [b["id"], REASON])
    assert f"accrued commission of at least {b['commission']} to reverse {b['id']} expected, found 0 (settled already)" in err
