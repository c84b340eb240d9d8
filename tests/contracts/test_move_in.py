"""Billing and payments account per subscription, not per meter.

Named-actor scenarios on the local chain (real blocks, real VM):

- alice moves out of MTR-A and carol moves in: carol's arrears, payments and late fees never
  touch alice's unpaid final invoice, which an agent still collects by its id;
- alice terminates and the flat stays empty: what the collector reads meanwhile is recorded
  as unbilled consumption, and dave, the next subscriber, is billed from his opening;
- a meter with no tariff: terminating, moving in and replacing the meter still work; the
  final consumption is recorded on an unpriced final invoice with an event.

Each ``test_basic_*`` has a ``test_invalid_*`` twin. Figures are worked out in the comments
(flat tariff 2.50 TRY/kWh = 250,000 micro-kurus per Wh: 4 Wh cost 1 kurus).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.conftest import GENESIS_TIME

DAY = 86400
HOUR = 3600
T1 = GENESIS_TIME + DAY  # Thursday 2025-01-02T00:00Z
DUE = 14 * DAY


def read(w: Any, actor: Any, meter: str, ts: int, index: int, trust: str = "consumer") -> Any:
    return w.chain.call(actor, "billing", "submit_reading", [meter, "1.8.0", ts, index, trust, b"", b""], at=ts)


def one(w: Any, receipt: Any, name: str) -> dict[Any, Any]:
    found = w.chain.events(receipt, name)
    assert len(found) == 1, f"one {name} event expected, found {len(found)}"
    return found[0]


def opened_at(w: Any, meter: str) -> int:
    return int(w.view("registry", "subscription", [meter])["opened_at"])


def split(units: int, t0: int, opened: int, t1: int) -> int:
    """The billed share of a span [t0, t1] straddling an opening: floor for the part before."""
    return units - units * (opened - t0) // (t1 - t0)


def move_alice_out(w: Any) -> tuple[Any, dict[Any, Any], dict[Any, Any]]:
    """alice is billed 4,000 Wh (1,000) at T1, then carol moves in at T1 + 2 days at index
    6,000: alice's final invoice is 2,000 Wh (500). Both of alice's invoices are unpaid."""
    w.flat_tariff("MTR-A")
    assert read(w, w.alice, "MTR-A", T1, 4_000).ok
    first = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 60))
    carol = w.chain.actor("carol")
    r = w.ok(w.operator, "registry", "move_in", ["MTR-A", carol.public_key, 6_000], at=T1 + 2 * DAY)
    final = w.view("billing", "invoice", [one(w, r, "account_closed")["invoice"]])
    assert (first["total"], final["total"]) == (1_000, 500)
    assert first["subscription"] == final["subscription"] == "MTR-A#1"
    assert one(w, r, "account_closed")["balance_due"] == 1_500
    return carol, first, final


# --- 1. move-in: the new tenant's account starts empty ----------------------------------------


def test_basic_new_tenant_is_not_in_arrears_for_the_previous_tenants_invoices(world: Any) -> None:
    w = world
    carol, first, final = move_alice_out(w)
    late = T1 + 2 * DAY + DUE + DAY  # both of alice's invoices are overdue
    assert read(w, carol, "MTR-A", late, 7_000).ok
    assert w.view("billing", "arrears", ["MTR-A"]) == 0
    assert w.view("billing", "balance_due", ["MTR-A"]) == 0
    assert w.view("billing", "open_invoices", ["MTR-A"]) == []
    assert w.view("billing", "oldest_due", ["MTR-A"]) == 0
    # alice's debt is kept, on her subscription.
    old = w.view("billing", "subscription_balance", ["MTR-A#1"])
    assert (old["arrears"], old["balance_due"], old["consumer"]) == (1_500, 1_500, w.alice.public_key)
    assert [i["id"] for i in old["open"]] == [first["id"], final["id"]]
    # carol's own invoice is hers alone: 1,000 Wh since the handover (250).
    r = w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=late + 60)
    inv = w.chain.return_value(r)
    assert (inv["consumer"], inv["subscription"], inv["consumption"], inv["total"]) == (
        carol.public_key, "MTR-A#2", 1_000, 250)
    assert inv["period_start"] == T1 + 2 * DAY
    assert w.view("billing", "arrears", ["MTR-A"]) == 0  # not due yet
    assert w.view("billing", "balance_due", ["MTR-A"]) == 250
    # Supply sees the same: nothing owed by carol, no disconnection.
    err = w.fail(w.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=late + DAY + 10 * HOUR)  # Monday
    assert "postpaid arrears > 0 expected for disconnection, found 0" in err


def test_invalid_new_tenants_payment_never_pays_the_previous_tenants_debt(world: Any) -> None:
    w = world
    carol, first, final = move_alice_out(w)
    r = w.ok(w.agent, "payments", "record_payment", ["MTR-A", 700, "R-CAROL"], at=T1 + 3 * DAY)
    payment = one(w, r, "payment")
    assert (payment["applied"], payment["remainder"], payment["subscription"]) == (0, 700, "MTR-A#2")
    assert w.view("billing", "invoice", [first["id"]])["paid"] == 0
    assert w.view("billing", "invoice", [final["id"]])["paid"] == 0
    # The 700 is carol's advance credit, and pays her own first invoice when it comes.
    assert w.view("payments", "account", ["MTR-A"])["position"] == 700
    assert read(w, carol, "MTR-A", T1 + 4 * DAY, 8_000).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 4 * DAY + 60))
    assert (inv["total"], inv["paid"], inv["status"]) == (500, 500, "paid")
    assert w.view("payments", "account", ["MTR-A"])["position"] == 200
    assert w.view("billing", "subscription_balance", ["MTR-A#1"])["balance_due"] == 1_500


def test_basic_late_fee_only_on_the_subscriptions_own_overdue_invoice(world: Any) -> None:
    w = world
    w.ok(w.admin, "billing", "set_billing_config", ["ELEC", {"late_fee_bp": 1_000}])
    carol, _, _ = move_alice_out(w)
    late = T1 + 2 * DAY + DUE + DAY
    assert read(w, carol, "MTR-A", late, 10_000).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=late + 60))
    assert [ln["kind"] for ln in inv["lines"]] == ["energy"]  # no fee for alice's 1,500
    assert inv["total"] == 1_000  # 4,000 Wh
    # carol's own invoice, left unpaid past its due date, is charged on her next one: 10 %.
    later = late + 60 + DUE + DAY
    assert read(w, carol, "MTR-A", later, 14_000).ok
    nxt = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=later + 60))
    fees = [ln for ln in nxt["lines"] if ln["kind"] == "late_fee"]
    assert [(ln["units"], ln["amount"], ln["detail"]) for ln in fees] == [(1_000, 100, inv["id"])]


def test_invalid_late_fee_never_charged_to_the_new_tenant(world: Any) -> None:
    """The twin: with only alice's invoices overdue, carol's first invoice carries no fee."""
    w = world
    w.ok(w.admin, "billing", "set_billing_config", ["ELEC", {"late_fee_bp": 1_000, "late_fee_min": 50}])
    carol, _, _ = move_alice_out(w)
    late = T1 + 2 * DAY + DUE + DAY
    assert read(w, carol, "MTR-A", late, 6_400).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=late + 60))
    assert [ln for ln in inv["lines"] if ln["kind"] == "late_fee"] == []
    assert inv["total"] == 100


def test_basic_agent_collects_the_previous_tenants_final_invoice_by_id(world: Any) -> None:
    w = world
    _, first, final = move_alice_out(w)
    at = T1 + 3 * DAY
    r = w.ok(w.agent, "payments", "record_invoice_payment", [final["id"], 500, "R-FINAL"], at=at)
    payment = one(w, r, "payment")
    assert (payment["invoice"], payment["subscription"], payment["applied"], payment["remainder"]) == (
        final["id"], "MTR-A#1", 500, 0)
    assert w.view("billing", "invoice", [final["id"]])["status"] == "paid"
    old = w.view("billing", "subscription_balance", ["MTR-A#1"])
    assert (old["balance_due"], [i["id"] for i in old["open"]]) == (1_000, [first["id"]])
    # A part payment of the other one, then the rest: the same invoice twice.
    w.ok(w.agent, "payments", "record_invoice_payment", [first["id"], 400, "R-OLD-1"], at=at + 60)
    w.ok(w.agent, "payments", "record_invoice_payment", [first["id"], 600, "R-OLD-2"], at=at + 120)
    assert w.view("billing", "subscription_balance", ["MTR-A#1"])["open"] == []
    # The agent's day and the utility's books count these payments like any other.
    day = at // DAY
    assert w.view("payments", "reconciliation", [w.agent.public_key, day])["total"] == 1_500
    ledger = w.view("payments", "ledger", ["ELEC"])
    assert (ledger["paid"], ledger["allocated"], ledger["credit_position"]) == (1_500, 1_500, 0)
    # A same-day reversal reopens the invoice on alice's subscription, not on carol's, and
    # is no ground to hold carol's supply (no reversal pending on the meter).
    pid = payment["id"]
    w.ok(w.agent, "payments", "reverse_payment", [pid, "cheque bounced"], at=at + 180)
    old = w.view("billing", "subscription_balance", ["MTR-A#1"])
    assert [i["id"] for i in old["open"]] == [final["id"]]
    assert w.view("billing", "open_invoices", ["MTR-A"]) == []
    assert w.view("payments", "reversal_pending", ["MTR-A"]) is False


def test_invalid_invoice_payments(world: Any) -> None:
    w = world
    carol, first, final = move_alice_out(w)
    at = T1 + 3 * DAY
    err = w.fail(w.agent, "payments", "record_invoice_payment", ["MTR-A/999999", 500, "R-1"], at=at + 60)
    assert "an invoice expected, found no invoice MTR-A/999999" in err
    err = w.fail(carol, "payments", "record_invoice_payment", [final["id"], 500, "R-1"], at=at + 120)
    assert "caller with role agent of utility ELEC expected" in err
    # alice's subscription has ended: no credit can be left on it, so no overpayment.
    err = w.fail(w.agent, "payments", "record_invoice_payment", [final["id"], 501, "R-1"], at=at + 180)
    assert f"at most the 500 unpaid of invoice {final['id']} expected (its subscription has ended), found 501" in err
    w.ok(w.agent, "payments", "record_invoice_payment", [final["id"], 500, "R-1"], at=at + 240)
    err = w.fail(w.agent, "payments", "record_invoice_payment", [final["id"], 10, "R-2"], at=at + 300)
    assert f"an open invoice expected, found invoice {final['id']} paid" in err
    err = w.fail(w.agent, "payments", "record_invoice_payment", [first["id"], 10, "R-1"], at=at + 360)
    assert "a new reference for agent expected, found R-1" in err
    err = w.fail(w.agent, "billing", "apply_invoice_payment", [first["id"], 10, "X-1"], at=at + 420)
    assert "a call from contract payments expected" in err


def test_basic_invoice_payment_on_the_current_subscription_may_leave_credit(world: Any) -> None:
    w = world
    w.flat_tariff("MTR-A")
    assert read(w, w.alice, "MTR-A", T1, 4_000).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 60))
    r = w.ok(w.agent, "payments", "record_invoice_payment", [inv["id"], 1_200, "R-1"], at=T1 + 120)
    payment = one(w, r, "payment")
    assert (payment["applied"], payment["remainder"]) == (1_000, 200)
    assert w.view("payments", "account", ["MTR-A"])["position"] == 200


def test_basic_alice_pays_her_final_bill_on_the_vacant_meter(world: Any) -> None:
    """With no new tenant, the meter's current subscription is still alice's (terminated):
    an ordinary payment on the meter pays her final invoice."""
    w = world
    w.flat_tariff("MTR-A")
    assert read(w, w.alice, "MTR-A", T1, 4_000).ok
    # The operator reads the final index: alice's own 6,000 (2,000 Wh in a day after 4,000 the
    # day before) would be under her history's estimate and wait for a trusted reading.
    w.ok(w.operator, "registry", "terminate_subscription", ["MTR-A", 6_000], at=T1 + DAY)
    assert w.view("billing", "balance_due", ["MTR-A"]) == 1_500
    r = w.ok(w.agent, "payments", "record_payment", ["MTR-A", 1_500, "R-1"], at=T1 + 2 * DAY)
    assert one(w, r, "payment")["applied"] == 1_500
    assert w.view("billing", "subscription_balance", ["MTR-A#1"])["balance_due"] == 0


def test_basic_outgoing_credit_pays_the_final_invoice_and_stays_with_alice(world: Any) -> None:
    w = world
    w.flat_tariff("MTR-A")
    w.ok(w.agent, "payments", "record_payment", ["MTR-A", 2_000, "R-ADV"], at=T1 - 60)
    assert read(w, w.alice, "MTR-A", T1, 4_000).ok
    carol = w.chain.actor("carol")
    r = w.ok(w.operator, "registry", "move_in", ["MTR-A", carol.public_key, 4_000], at=T1 + DAY)
    final = w.view("billing", "invoice", [one(w, r, "account_closed")["invoice"]])
    assert (final["total"], final["paid"], final["status"]) == (1_000, 1_000, "paid")
    assert w.view("payments", "subscription_account", ["MTR-A#1"])["balance"] == 1_000
    assert w.view("payments", "credit", ["MTR-A"]) == 0  # carol's account is empty
    assert w.view("payments", "account", ["MTR-A"])["subscription"] == "MTR-A#2"


def test_basic_reversal_after_a_meter_replacement_reopens_the_invoice_on_the_subscription(world: Any) -> None:
    w = world
    w.flat_tariff("MTR-A")
    assert read(w, w.alice, "MTR-A", T1, 4_000).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 60))
    r = w.ok(w.agent, "payments", "record_payment", ["MTR-A", 1_000, "R-1"], at=T1 + 120)
    pid = one(w, r, "payment")["id"]
    w.ok(w.operator, "registry", "replace_meter",
         ["MTR-A", "MTR-A2", 1, 6, 20_000, b"", w.collector.public_key, 4_100, 0], at=T1 + 180)
    w.ok(w.agent, "payments", "reverse_payment", [pid, "cheque bounced"], at=T1 + 240)
    # The subscription (now on MTR-A2) owes the invoice again, and its next payment pays it.
    assert [i["id"] for i in w.view("billing", "open_invoices", ["MTR-A2"])] == [inv["id"]]
    r = w.ok(w.agent, "payments", "record_payment", ["MTR-A2", 1_000, "R-2"], at=T1 + 300)
    assert one(w, r, "payment")["applied"] == 1_000


def test_invalid_second_reversal_after_a_meter_replacement(world: Any) -> None:
    w = world
    w.flat_tariff("MTR-A")
    assert read(w, w.alice, "MTR-A", T1, 4_000).ok
    w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 60)
    pid = one(w, w.ok(w.agent, "payments", "record_payment", ["MTR-A", 1_000, "R-1"], at=T1 + 120), "payment")["id"]
    w.ok(w.operator, "registry", "replace_meter",
         ["MTR-A", "MTR-A2", 1, 6, 20_000, b"", w.collector.public_key, 4_100, 0], at=T1 + 180)
    w.ok(w.agent, "payments", "reverse_payment", [pid, "cheque bounced"], at=T1 + 240)
    err = w.fail(w.agent, "payments", "reverse_payment", [pid, "again"], at=T1 + 300)
    assert "a payment not yet reversed expected" in err
    assert w.view("billing", "balance_due", ["MTR-A2"]) == 1_000


def alice_leaves_with_credit(w: Any) -> Any:
    """alice paid 2,000 in advance, her final invoice took 1,000; carol moved in."""
    w.flat_tariff("MTR-A")
    w.ok(w.agent, "payments", "record_payment", ["MTR-A", 2_000, "R-ADV"], at=T1 - 60)
    assert read(w, w.alice, "MTR-A", T1, 4_000).ok
    carol = w.chain.actor("carol")
    w.ok(w.operator, "registry", "move_in", ["MTR-A", carol.public_key, 4_000], at=T1 + DAY)
    return carol


def test_basic_outgoing_subscribers_credit_is_refunded_by_subscription_id(world: Any) -> None:
    w = world
    alice_leaves_with_credit(w)
    r = w.ok(w.operator, "payments", "refund_subscription_credit", ["MTR-A#1", 1_000, "REF-ALICE"], at=T1 + 2 * DAY)
    ev = one(w, r, "refund")
    assert (ev["subscription"], ev["amount"], ev["meter"]) == ("MTR-A#1", 1_000, "MTR-A")
    assert w.view("payments", "subscription_account", ["MTR-A#1"])["balance"] == 0
    ledger = w.view("payments", "ledger", ["ELEC"])
    assert (ledger["paid"], ledger["allocated"], ledger["refunded"], ledger["credit_position"]) == (2_000, 1_000, 1_000, 0)


def test_invalid_refunds_of_the_outgoing_subscribers_credit(world: Any) -> None:
    w = world
    alice_leaves_with_credit(w)
    at = T1 + 2 * DAY
    # The meter's refund now means carol's account, which holds nothing.
    err = w.fail(w.operator, "payments", "refund_credit", ["MTR-A", 1, "REF-1"], at=at)
    assert "refund of at most the credit 0 expected, found 1" in err
    err = w.fail(w.operator, "payments", "refund_subscription_credit", ["MTR-A#1", 1_001, "REF-1"], at=at + 60)
    assert "refund of at most the credit 1000 expected, found 1001" in err
    err = w.fail(w.agent, "payments", "refund_subscription_credit", ["MTR-A#1", 10, "REF-1"], at=at + 120)
    assert "caller with role operator of utility ELEC expected" in err
    err = w.fail(w.operator, "payments", "refund_subscription_credit", ["MTR-A#9", 10, "REF-1"], at=at + 180)
    assert "a credit account of subscription MTR-A#9 expected, found none" in err


# --- 2. readings on a meter with no subscription -----------------------------------------------


def vacate(w: Any) -> int:
    """alice reads 4,000 at T1 and her subscription ends at 5,000 at T1 + 1 day, read by the
    operator (alice's own 5,000, under her history's estimate, would wait for a trusted
    reading); returns that time."""
    w.flat_tariff("MTR-A")
    assert read(w, w.alice, "MTR-A", T1, 4_000).ok
    end = T1 + DAY
    r = w.ok(w.operator, "registry", "terminate_subscription", ["MTR-A", 5_000], at=end)
    assert w.view("billing", "invoice", [one(w, r, "account_closed")["invoice"]])["consumption"] == 5_000
    return end


def test_basic_reading_on_a_vacant_meter_is_recorded_unbilled(world: Any) -> None:
    w = world
    end = vacate(w)
    r = read(w, w.collector, "MTR-A", end + DAY, 5_800, trust="collector")
    assert r.ok, r.error
    ev = one(w, r, "unbilled_consumption")
    assert (ev["consumption"], ev["period_start"], ev["period_end"], ev["reason"]) == (
        800, end, end + DAY, "no active subscription")
    assert w.chain.events(r, "reading")[0]["consumption"] == 800
    assert w.view("billing", "last_reading", ["MTR-A"])["index"] == 5_800
    state = w.view("billing", "billing_state", ["MTR-A"])
    assert (state["sub"], state["unbilled"], state["acc"]) == ("", 800, {})
    # dave subscribes; the operator approves and the collector reads in the same block, so
    # dave's billing starts at exactly that reading.
    dave = w.chain.actor("dave")
    w.ok(dave, "registry", "subscribe", ["MTR-A", "postpaid", b""], at=end + 2 * DAY)
    t_open = end + 3 * DAY
    receipts = w.chain.block([
        (w.operator, "registry", "approve_subscription", ["MTR-A"]),
        (w.collector, "billing", "submit_reading", ["MTR-A", "1.8.0", t_open, 6_000, "collector", b"", b""]),
    ], at=t_open)
    assert all(x.ok for x in receipts)
    assert one(w, receipts[1], "unbilled_consumption")["consumption"] == 200  # before the opening
    assert read(w, dave, "MTR-A", t_open + DAY, 6_400).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=t_open + DAY + 60))
    assert (inv["consumer"], inv["subscription"], inv["consumption"], inv["total"]) == (
        dave.public_key, "MTR-A#2", 400, 100)
    assert (inv["period_start"], inv["period_end"]) == (t_open, t_open + DAY)
    assert w.view("billing", "billing_state", ["MTR-A"])["unbilled"] == 1_000


def test_basic_first_reading_after_the_opening_is_split_pro_rata(world: Any) -> None:
    """No reading at dave's opening: the span from the last reading is shared by time."""
    w = world
    end = vacate(w)
    dave = w.chain.actor("dave")
    w.ok(dave, "registry", "subscribe", ["MTR-A", "postpaid", b""], at=end + DAY)
    w.ok(w.operator, "registry", "approve_subscription", ["MTR-A"], at=end + 3 * DAY)
    opened = opened_at(w, "MTR-A")
    t = end + 4 * DAY
    r = read(w, dave, "MTR-A", t, 9_001)
    assert r.ok, r.error
    billed = split(4_001, end, opened, t)  # 4,001 - floor(4,001 * 3/4) = 1,001
    assert billed == 1_001
    ev = one(w, r, "unbilled_consumption")
    assert (ev["consumption"], ev["period_start"], ev["period_end"]) == (3_000, end, opened)
    assert "before subscription MTR-A#2 opened" in ev["reason"]
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=t + 60))
    assert (inv["consumption"], inv["period_start"], inv["period_end"]) == (1_001, opened, t)


def test_invalid_consumer_reading_on_a_vacant_meter(world: Any) -> None:
    w = world
    end = vacate(w)
    r = read(w, w.alice, "MTR-A", end + DAY, 5_800)
    assert not r.ok and "active subscriber of meter MTR-A expected" in r.error
    # A pending subscriber may not set their own opening index either.
    dave = w.chain.actor("dave")
    w.ok(dave, "registry", "subscribe", ["MTR-A", "postpaid", b""], at=end + DAY + 60)
    r = read(w, dave, "MTR-A", end + DAY + 120, 5_800)
    assert not r.ok and "active subscriber of meter MTR-A expected" in r.error
    # Unbilled readings are validated like any other: the index history cannot go backwards.
    r = read(w, w.collector, "MTR-A", end + 2 * DAY, 4_900, trust="collector")
    assert not r.ok and "index >= 5000 expected for meter MTR-A" in r.error
    assert w.view("billing", "last_reading", ["MTR-A"])["index"] == 5_000


def test_basic_prepaid_meter_read_while_vacant_is_not_charged(world: Any) -> None:
    w = world
    w.flat_tariff("MTR-B")
    w.ok(w.admin, "payments", "register_vendor_float", ["ELEC", w.vendor.public_key, 10_000])
    w.ok(w.vendor, "payments", "buy_credit", ["MTR-B", 2_000, "V-1"], at=T1 - 60)
    r = w.ok(w.bob, "registry", "terminate_subscription", ["MTR-B", 2_000], at=T1)
    assert one(w, r, "prepaid_charge")["amount"] == 500
    r = read(w, w.collector, "MTR-B", T1 + DAY, 3_000, trust="collector")
    assert r.ok, r.error
    assert one(w, r, "unbilled_consumption")["consumption"] == 1_000
    assert w.chain.events(r, "prepaid_charge") == [] and w.chain.events(r, "credit_deducted") == []
    assert w.view("payments", "subscription_account", ["MTR-B#1"])["balance"] == 1_500


def test_invalid_load_profile_on_a_vacant_meter(world: Any) -> None:
    """Load profiles price intervals for a subscriber: on a vacant meter the collector sends
    plain readings instead."""
    w = world
    end = vacate(w)
    day = (end // DAY + 1) * DAY
    err = w.fail(w.collector, "billing", "submit_load_profile", ["MTR-A", "1.8.0", day, 12 * HOUR,
                                                                   [5_000, 5_100, 5_200]], at=day + DAY)
    assert "an active subscription on meter MTR-A expected, found none" in err


# --- 3. no tariff assigned ----------------------------------------------------------------------


def test_basic_terminate_without_a_tariff_records_an_unpriced_final_invoice(world: Any) -> None:
    w = world
    installed = int(w.view("registry", "meter", ["MTR-A"])["installed_at"])
    opened = opened_at(w, "MTR-A")
    end = T1 + DAY
    r = w.ok(w.alice, "registry", "terminate_subscription", ["MTR-A", 7_000], at=end)
    billed = split(7_000, installed, opened, end)
    ev = one(w, r, "unpriced_final_reading")
    assert (ev["consumption"], ev["subscription"], ev["consumer"], ev["period_start"], ev["period_end"]) == (
        billed, "MTR-A#1", w.alice.public_key, opened, end)
    assert "a tariff assigned to meter MTR-A expected, found none" in ev["reason"]
    inv = w.view("billing", "invoice", [one(w, r, "account_closed")["invoice"]])
    assert (inv["status"], inv["unpriced"], inv["lines"], inv["total"], inv["consumption"]) == (
        "unpriced", True, [], 0, billed)
    assert w.view("billing", "last_reading", ["MTR-A"])["index"] == 7_000
    assert w.view("registry", "subscription", ["MTR-A"])["status"] == "terminated"
    assert w.view("billing", "subscription_balance", ["MTR-A#1"])["balance_due"] == 0


def test_invalid_without_a_tariff_readings_and_invoices_are_still_refused(world: Any) -> None:
    """Only the end of a subscription is spared: ordinary readings and invoices on an active
    subscription without a tariff fail, so the utility notices the missing tariff."""
    w = world
    r = read(w, w.alice, "MTR-A", T1, 100)
    assert not r.ok and "a tariff assigned to meter MTR-A expected, found none" in r.error
    err = w.fail(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 2 * DAY)
    assert "a tariff assigned to meter MTR-A expected, found none" in err
    # A final reading must still be a valid reading (here: beyond the register).
    err = w.fail(w.alice, "registry", "terminate_subscription", ["MTR-A", 999_999 + 1], at=T1 + 3 * DAY)
    assert "final index: 0 to 999999 expected" in err
    assert w.view("registry", "subscription", ["MTR-A"])["status"] == "active"


def test_basic_move_in_and_replacement_without_a_tariff(world: Any) -> None:
    w = world
    carol = w.chain.actor("carol")
    r = w.ok(w.operator, "registry", "move_in", ["MTR-B", carol.public_key, 300], at=T1)
    ev = one(w, r, "unpriced_final_reading")  # prepaid: no invoice, no charge
    assert ev["subscription"] == "MTR-B#1" and w.chain.events(r, "prepaid_charge") == []
    assert one(w, r, "account_closed")["invoice"] == ""
    # carol's readings are refused until the utility assigns a tariff...
    assert not read(w, carol, "MTR-B", T1 + HOUR, 400).ok
    # ...and the meter can still be replaced meanwhile; its last consumption is reported.
    r = w.ok(w.operator, "registry", "replace_meter",
             ["MTR-B", "MTR-B2", 1, 6, 20_000, b"", w.collector.public_key, 500, 0], at=T1 + 2 * HOUR)
    ev = one(w, r, "unpriced_final_reading")
    assert (ev["meter"], ev["consumption"], ev["subscription"]) == ("MTR-B", 200, "MTR-B#2")
    w.flat_tariff("MTR-B2")
    w.ok(w.admin, "payments", "register_vendor_float", ["ELEC", w.vendor.public_key, 10_000])
    w.ok(w.vendor, "payments", "buy_credit", ["MTR-B2", 1_000, "V-1"], at=T1 + 3 * HOUR)
    r = read(w, carol, "MTR-B2", T1 + 4 * HOUR, 400)
    assert r.ok, r.error
    assert one(w, r, "prepaid_charge")["amount"] == 100  # 400 Wh from the new meter's 0


@pytest.mark.parametrize("kind", ["terminate", "move"])
def test_invalid_final_reading_behind_the_last_one_without_a_tariff(world: Any, kind: str) -> None:
    """A meter without a tariff cannot have readings, but its installation index is the
    baseline: a final index below it (and no plausible roll-over) is refused."""
    w = world
    carol = w.chain.actor("carol")
    # A meter installed at 500 000 on a 6-digit register: 100 000 is neither forward nor a
    # plausible wrap.
    w.register_meter("MTR-Z", initial_index=500_000)
    w.ok(carol, "registry", "subscribe", ["MTR-Z", "postpaid", b""])
    w.ok(w.operator, "registry", "approve_subscription", ["MTR-Z"])
    call = (["MTR-Z", 100_000] if kind == "terminate" else ["MTR-Z", w.alice.public_key, 100_000])
    fn = "terminate_subscription" if kind == "terminate" else "move_in"
    err = w.fail(w.operator, "registry", fn, call, at=T1 + DAY)
    assert "index >= 500000 expected for meter MTR-Z" in err
    assert w.view("registry", "subscription", ["MTR-Z"])["status"] == "active"
