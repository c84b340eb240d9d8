"""A postpaid subscription converted to prepaid (issue 12): the utility's operator moves alice,
who is in arrears, onto prepayment. Her postpaid subscription ends with a final bill at the
operator's reading, a prepaid one opens at once, and what her invoices still ask for becomes
a debt on the new account, recovered as a set share of each payment in. Named-actor
scenarios, each with its ``test_invalid_*`` twin.

alice's two-day invoice is worked out in test_billing_corrections.py (total 6,840); her first
invoice, up to index 1,000, is her first day's (test_billing_invoices.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.test_billing_corrections import T1, T2, open_ids, totals, two_day_invoice
from tests.contracts.test_billing_support import DAY, FLAT_SPEC, HOUR, read, setup_tariff

SHARE = 2_500  # a quarter of each payment in goes to the debt
CONVERTED = T2 + DAY + 10 * HOUR  # the operator's visit, the day after the two-day invoice


@pytest.fixture
def w(world: Any) -> Any:
    setup_tariff(world)
    return world


def convert(w: Any, index: int = 27_000, share_bp: int = SHARE, who: Any = None, at: int = CONVERTED) -> Any:
    return w.chain.call(who or w.operator, "registry", "convert_to_prepaid", ["MTR-A", index, share_bp], at=at)


def invoices_owed(w: Any) -> dict[str, int]:
    return {i: w.view("billing", "invoice", [i])["total"] - w.view("billing", "invoice", [i])["paid"]
            for i in open_ids(w)}


def test_operator_converts_alice_in_arrears_and_her_arrears_become_a_prepaid_debt(w: Any) -> None:
    inv = two_day_invoice(w)
    first = w.view("billing", "invoice", ["MTR-A/000001"])
    old_sub = w.view("registry", "subscription", ["MTR-A"])
    before = totals(w)
    r = convert(w)
    assert r.ok, r.error
    # The final bill: the span from the two-day invoice's reading to the operator's index.
    (closed,) = w.events(r, "account_closed")
    final = w.view("billing", "invoice", [closed["invoice"]])
    assert closed["invoice"] == "MTR-A/000003" and final["period_end"] == CONVERTED
    owed = {i: w.view("billing", "invoice", [i]) for i in ("MTR-A/000001", inv["id"], final["id"])}
    assert [owed[i]["issued_total"] for i in ("MTR-A/000001", inv["id"])] == [first["total"], inv["total"]]
    expected = sum(owed[i]["issued_total"] for i in owed)
    (converted,) = w.events(r, "subscription_converted")
    assert (converted["old_subscription"], converted["arrears_carried"], converted["debt_share_bp"]) == (
        old_sub["id"], expected, SHARE)
    # The new subscription: same consumer and identity, prepaid, active at once.
    new = w.view("registry", "subscription", ["MTR-A"])
    assert new["id"] == converted["new_subscription"] != old_sub["id"]
    assert (new["mode"], new["status"], new["consumer"], new["identity_hash"]) == (
        "prepaid", "active", old_sub["consumer"], old_sub["identity_hash"])
    history = w.view("registry", "subscription_history", ["MTR-A"])
    ended = next(s for s in history if s["id"] == old_sub["id"])
    assert (ended["status"], ended["close_reason"], ended["final_index"]) == ("terminated", "converted to prepaid",
                                                                           27_000)
    # Each old invoice asks for nothing more and says where its amount went.
    (carried,) = w.events(r, "arrears_carried")
    assert carried["invoices"] == [[i, owed[i]["issued_total"]] for i in owed] and carried["amount"] == expected
    for now in owed.values():
        assert (now["status"], now["total"], now["paid"], now["carried_to_prepaid"]) == (
            "carried", 0, 0, now["issued_total"])
        note = w.view("billing", "correction", [now["corrections"][-1]])
        assert (note["kind"], note["amount"], note["to_subscription"]) == ("carried_to_prepaid", now["issued_total"],
                                                                          new["id"])
    assert w.view("billing", "balance_due", ["MTR-A"]) == 0 and w.view("billing", "arrears", ["MTR-A"]) == 0
    # The regulators' totals: billed net of what was carried, and the carried amount beside it.
    after = totals(w)
    assert after["billed"] == before["billed"] + final["issued_total"] - expected
    assert (after["carried_to_prepaid"], after["outstanding"], after["tax"]) == (
        expected, 0, before["tax"] + final["tax"])
    assert w.view("billing", "segments", [w.utility])["residential"]["carried_to_prepaid"] == expected
    # The debt on the new account, booked in the ledger, blocks nothing.
    acct = w.view("payments", "account", ["MTR-A"])
    assert (acct["subscription"], acct["debt"], acct["debt_share_bp"], acct["balance"]) == (new["id"], expected, SHARE, 0)
    (recorded,) = w.events(r, "prepaid_debt_recorded")
    assert recorded["reason"] == f"arrears of postpaid subscription {old_sub['id']} carried over"
    ledger = w.view("payments", "ledger", [w.utility])
    assert (ledger["debt_recorded"], ledger["debt_outstanding"]) == (expected, expected)
    # alice buys credit: a quarter of it pays her old arrears off.
    w.ok(w.admin, "payments", "register_vendor_float", [w.utility, w.vendor.public_key, 10_000])
    r = w.ok(w.vendor, "payments", "buy_credit", ["MTR-A", 4_000, "V-1"], at=CONVERTED + HOUR)
    (sale,) = w.events(r, "credit_purchase")
    assert (sale["debt_recovered"], sale["balance"]) == (1_000, 3_000)
    assert w.view("payments", "account", ["MTR-A"])["debt"] == expected - 1_000


def test_invalid_conversion_by_alice_herself_or_an_agent(w: Any) -> None:
    two_day_invoice(w)
    for n, who in enumerate((w.alice, w.agent)):
        r = convert(w, who=who, at=CONVERTED + n)
        assert not r.ok and "expected" in str(r.error) and "operator" in str(r.error)
    assert w.view("registry", "subscription", ["MTR-A"])["mode"] == "postpaid"
    assert open_ids(w) == ["MTR-A/000001", "MTR-A/000002"]


def test_when_the_old_invoices_are_paid_only_the_final_bill_is_carried(w: Any) -> None:
    two_day_invoice(w)
    due = sum(invoices_owed(w).values())
    w.ok(w.agent, "payments", "record_payment", ["MTR-A", due, "R-1"], at=T2 + HOUR)
    r = convert(w)
    assert r.ok, r.error
    (closed,) = w.events(r, "account_closed")
    final = w.view("billing", "invoice", [closed["invoice"]])
    (carried,) = w.events(r, "arrears_carried")
    assert carried["invoices"] == [[final["id"], final["issued_total"]]] and carried["amount"] > 0
    assert w.view("payments", "account", ["MTR-A"])["debt"] == carried["amount"]
    assert [w.view("billing", "invoice", [i])["status"] for i in ("MTR-A/000001", "MTR-A/000002")] == ["paid", "paid"]


def test_a_subscription_that_owes_nothing_is_converted_without_a_debt(world: Any) -> None:
    setup_tariff(world, FLAT_SPEC)  # no standing charge: a final bill of no consumption is 0
    assert read(world, world.alice, "MTR-A", T1, 1_000).ok
    world.ok(world.operator, "billing", "close_period", ["MTR-A"], at=T1 + 1)
    due = world.view("billing", "balance_due", ["MTR-A"])
    world.ok(world.agent, "payments", "record_payment", ["MTR-A", due, "R-1"], at=T1 + HOUR)
    r = world.chain.call(world.operator, "registry", "convert_to_prepaid", ["MTR-A", 1_000, SHARE], at=T1 + 2 * HOUR)
    assert r.ok, r.error
    (converted,) = world.events(r, "subscription_converted")
    assert converted["arrears_carried"] == 0 and world.events(r, "prepaid_debt_recorded") == []
    assert world.view("payments", "account", ["MTR-A"]).get("debt", 0) == 0
    assert world.view("registry", "subscription", ["MTR-A"])["mode"] == "prepaid"


def test_invalid_conversion_of_a_prepaid_subscription(w: Any) -> None:
    w.new_consumer("pia", "prepaid", meter_id="MTR-P")
    r = w.chain.call(w.operator, "registry", "convert_to_prepaid", ["MTR-P", 0, SHARE])
    assert not r.ok and "a postpaid subscription on MTR-P expected, found prepaid" in str(r.error)


@pytest.mark.parametrize("share_bp", [0, 10_001, "half"])
def test_invalid_conversion_with_a_recovery_share_outside_one_to_ten_thousand(w: Any, share_bp: Any) -> None:
    two_day_invoice(w)
    r = convert(w, share_bp=share_bp)
    assert not r.ok and "debt recovery share (basis points)" in str(r.error)
    assert w.view("registry", "subscription", ["MTR-A"])["mode"] == "postpaid"


def test_invalid_conversion_at_an_index_below_the_last_reading(w: Any) -> None:
    two_day_invoice(w)
    r = convert(w, index=25_000)
    assert not r.ok and "expected" in str(r.error)
    assert w.view("registry", "subscription", ["MTR-A"])["mode"] == "postpaid"


def test_a_payment_reversed_after_the_conversion_reopens_its_invoice_on_the_old_subscription(w: Any) -> None:
    two_day_invoice(w)
    paid_at = CONVERTED - HOUR
    payment_id = w.chain.return_value(w.ok(w.agent, "payments", "record_payment", ["MTR-A", 300, "R-1"], at=paid_at))
    old_sub = w.view("registry", "subscription", ["MTR-A"])
    r = convert(w)
    assert r.ok, r.error
    (carried,) = w.events(r, "arrears_carried")
    # The cheque bounces the same day: the first invoice asks for those 300 again, on the
    # old subscription (collectable by its id), and the debt stays what was carried.
    w.ok(w.agent, "payments", "reverse_payment", [payment_id, "cheque bounced"], at=CONVERTED + HOUR)
    first = w.view("billing", "invoice", ["MTR-A/000001"])
    assert (first["status"], first["total"] - first["paid"]) == ("open", 300)
    balance = w.view("billing", "subscription_balance", [old_sub["id"]])
    assert [i["id"] for i in balance["open"]] == ["MTR-A/000001"]
    assert w.view("payments", "account", ["MTR-A"])["debt"] == carried["amount"]
    assert w.view("billing", "balance_due", ["MTR-A"]) == 0  # the prepaid subscription owes no invoice


def test_invalid_direct_calls_of_the_conversion_steps(w: Any) -> None:
    two_day_invoice(w)
    sub = w.view("registry", "subscription", ["MTR-A"])
    r = w.chain.call(w.operator, "billing", "carry_arrears", [sub["id"], sub["consumer"], "MTR-A#9"])
    assert not r.ok and "a call from contract registry expected" in str(r.error)
    r = w.chain.call(w.operator, "payments", "carry_postpaid_arrears", ["MTR-A", sub["id"], 100, SHARE])
    assert not r.ok and "a call from contract registry expected" in str(r.error)
    assert open_ids(w) == ["MTR-A/000001", "MTR-A/000002"]


def test_alices_payment_plan_ends_completed_when_her_arrears_are_carried(w: Any) -> None:
    inv = two_day_invoice(w)
    owed = sum(invoices_owed(w).values())
    w.ok(w.operator, "billing", "open_payment_plan",
         ["MTR-A", [[inv["due"] + 30 * DAY, owed - 1_000], [inv["due"] + 60 * DAY, 1_000]], "hardship"])
    open_plans = w.view("billing", "open_plan_count", [w.utility])
    r = convert(w)
    assert r.ok, r.error
    (ended,) = w.events(r, "payment_plan_completed")
    assert ended["still_owed"] == 0
    assert w.view("billing", "open_plan_count", [w.utility]) == open_plans - 1
    assert w.view("billing", "payment_plan", ["MTR-A"]) is None  # the prepaid subscription has none


def test_invalid_second_plan_end_after_the_conversion(w: Any) -> None:
    inv = two_day_invoice(w)
    owed = sum(invoices_owed(w).values())
    w.ok(w.operator, "billing", "open_payment_plan", ["MTR-A", [[inv["due"] + 30 * DAY, owed]], "hardship"])
    assert convert(w).ok
    # Asking for the plan's end afterwards finds none on the current (prepaid) subscription.
    r = w.ok(w.collector, "billing", "check_payment_plan", ["MTR-A"], at=CONVERTED + HOUR)
    assert w.chain.return_value(r) == "" and w.events(r, "payment_plan_completed") == []


def test_invalid_credit_note_or_rebill_of_a_carried_invoice(w: Any) -> None:
    inv = two_day_invoice(w)
    assert convert(w).ok
    r = w.chain.call(w.operator, "billing", "issue_credit_note", [inv["id"], 100, "late correction"])
    assert not r.ok and f"found invoice {inv['id']} carried to prepaid debt" in str(r.error)
    r = w.chain.call(w.operator, "billing", "rebill", ["MTR-A/000003", 27_500, "late correction"])
    assert not r.ok and "found invoice MTR-A/000003 carried to prepaid debt" in str(r.error)
