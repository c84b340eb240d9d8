"""Postpaid invoices: periods, the rounding rule, estimates and their true-up, due dates,
late fees, self-reading rewards and penalties, payments, final bills, meter replacement and
the operators' and regulators' queries. Figures are worked out by hand in the comments."""

from __future__ import annotations

from typing import Any

import pytest

from node.localchain import ViewError
from tests.contracts.conftest import GENESIS_TIME
from tests.contracts.test_billing_support import (
    DAY,
    RES_SPEC,
    half_up,
    installed_at,
    price_span,
    read,
    setup_tariff,
)

T1 = GENESIS_TIME + DAY


@pytest.fixture
def w(world: Any) -> Any:
    setup_tariff(world)
    return world


def baseline(w: Any, index: int = 1_000, at: int = T1) -> dict[str, Any]:
    """A reading and a first invoice at ``at``, so the next invoice starts there exactly."""
    assert read(w, w.alice, "MTR-A", at, index).ok
    return w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=at + 1))


def test_alice_gets_an_invoice_by_the_rounding_rule(w: Any) -> None:
    baseline(w)
    assert read(w, w.alice, "MTR-A", T1 + 2 * DAY, 26_000).ok
    r = w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 2 * DAY + 5)
    inv = w.chain.return_value(r)
    # Two days: standing 2 x 100 = 200; allowance 2 x 10,000 Wh at 0.2 kuruş = 4,000;
    # the other 5,000 Wh at 0.3 kuruş = 1,500; taxable 5,700; tax 20 % = 1,140.
    assert [(ln["kind"], ln["units"], ln["amount"]) for ln in inv["lines"]] == [
        ("standing", 2 * DAY, 200), ("energy", 20_000, 4_000), ("energy", 5_000, 1_500)]
    assert (inv["consumption"], inv["subtotal"], inv["tax"], inv["total"]) == (25_000, 5_700, 1_140, 6_840)
    assert (inv["period_start"], inv["period_end"], inv["estimated"], inv["status"]) == (
        T1, T1 + 2 * DAY, False, "open")
    assert inv["consumer"] == w.alice.public_key
    assert inv["due"] == T1 + 2 * DAY + 5 + 14 * DAY
    [ev] = w.chain.events(r, "invoice")
    assert ev["id"] == inv["id"] and ev["total"] == 6_840
    assert w.view("billing", "invoice", [inv["id"]])["total"] == 6_840


def test_invalid_close_period_by_the_consumer(w: Any) -> None:
    assert read(w, w.alice, "MTR-A", T1, 1_000).ok
    err = w.fail(w.alice, "billing", "close_period", ["MTR-A"])
    assert "operator or admin of utility ELEC expected" in err


def test_invalid_close_period_for_a_prepaid_meter(w: Any) -> None:
    err = w.fail(w.operator, "billing", "close_period", ["MTR-B"])
    assert "postpaid subscription expected" in err


def test_half_units_round_up_per_line(w: Any) -> None:
    spec = {"standing_charge_per_day": 0, "tiers": [[None, 250_000]], "tax_bp": 1_000}
    setup_tariff(w, spec, tariff_id="HALF", meters=("MTR-A",))
    baseline(w)
    # 3 Wh at 0.25 kuruş = 0.75 -> 1; tax 10 % of 1 = 0.1 -> 0.
    assert read(w, w.alice, "MTR-A", T1 + DAY, 1_003).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"]))
    assert (inv["subtotal"], inv["tax"], inv["total"]) == (1, 0, 1)
    # 2 Wh = 0.5 -> 1 (half up).
    assert read(w, w.alice, "MTR-A", T1 + 2 * DAY, 1_005).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"]))
    assert inv["total"] == 1


def test_estimated_invoice_without_reading_then_true_up(w: Any) -> None:
    w.ok(w.admin, "billing", "set_billing_config", ["ELEC", {"self_read_penalty": 0}])
    first = baseline(w)
    # History: 1,000 Wh since installation (the meter's history, from its installation; the
    # first invoice itself starts at the subscription's opening, a few seconds later).
    # No reading in the next 30 days: an estimate.
    rate_units, rate_seconds = first["consumption"], first["period_end"] - installed_at(w, "MTR-A")
    assert first["period_start"] == w.view("registry", "subscription", ["MTR-A"])["opened_at"]
    est = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 30 * DAY))
    assert est["estimated"] is True
    assert (est["period_start"], est["period_end"]) == (T1, T1 + 30 * DAY)
    assert est["consumption"] == half_up(rate_units * 30 * DAY, rate_seconds)
    # The real reading arrives: the actual invoice re-prices the whole span from T1 and
    # credits the estimate, so the two together cost exactly the actual span.
    assert read(w, w.alice, "MTR-A", T1 + 40 * DAY, 1_000 + 300_000).ok
    act = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"]))
    assert act["estimated"] is False and act["period_start"] == T1
    reversal = [ln for ln in act["lines"] if ln["kind"] == "estimate_reversal"]
    assert reversal and reversal[0]["amount"] == -est["taxable"]
    taxable, tax = price_span(RES_SPEC, 40 * DAY, 300_000)
    assert est["total"] + act["total"] == taxable + tax


def test_invalid_close_period_with_nothing_to_bill(w: Any) -> None:
    baseline(w)
    err = w.fail(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + DAY - 1)
    assert "a period to bill expected for meter MTR-A" in err


def test_arrears_after_due_date_and_late_fee_on_next_invoice(w: Any) -> None:
    w.ok(w.admin, "billing", "set_billing_config", ["ELEC", {"due_days": 10, "late_fee_bp": 500}])
    first = baseline(w)
    assert first["due"] == T1 + 1 + 10 * DAY
    assert w.view("billing", "arrears", ["MTR-A"]) == 0  # not yet due
    assert read(w, w.alice, "MTR-A", T1 + 11 * DAY, 2_000).ok
    assert w.view("billing", "arrears", ["MTR-A"]) == first["total"]
    nxt = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"]))
    fees = [ln for ln in nxt["lines"] if ln["kind"] == "late_fee"]
    # 5 % of the unpaid first invoice, rounded half up; charged once only.
    assert [f["amount"] for f in fees] == [(first["total"] * 500 + 5_000) // 10_000]
    assert read(w, w.alice, "MTR-A", T1 + 12 * DAY, 3_000).ok
    third = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"]))
    assert all(ln["detail"] != first["id"] for ln in third["lines"] if ln["kind"] == "late_fee")


def test_no_late_fee_when_paid_on_time(w: Any) -> None:
    w.ok(w.admin, "billing", "set_billing_config", ["ELEC", {"due_days": 10, "late_fee_bp": 500}])
    first = baseline(w)
    w.ok(w.agent, "payments", "record_payment", ["MTR-A", first["total"], "R-1"])
    assert w.view("billing", "invoice", [first["id"]])["status"] == "paid"
    assert read(w, w.alice, "MTR-A", T1 + 11 * DAY, 2_000).ok
    nxt = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"]))
    assert not [ln for ln in nxt["lines"] if ln["kind"] == "late_fee"]
    assert w.view("billing", "arrears", ["MTR-A"]) == 0


def test_payment_applies_oldest_first_and_reversal_restores_it(w: Any) -> None:
    first = baseline(w)
    assert read(w, w.alice, "MTR-A", T1 + 2 * DAY, 26_000).ok
    second = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"]))
    r = w.ok(w.agent, "payments", "record_payment", ["MTR-A", first["total"] + 100, "R-7"])
    [applied] = w.chain.events(r, "payment_applied")
    assert applied["allocations"] == [[first["id"], first["total"]], [second["id"], 100]]
    assert w.view("billing", "invoice", [first["id"]])["status"] == "paid"
    assert w.view("billing", "invoice", [second["id"]])["paid"] == 100
    assert [i["id"] for i in w.view("billing", "open_invoices", ["MTR-A"])] == [second["id"]]
    pid = w.chain.return_value(r)
    r = w.ok(w.agent, "payments", "reverse_payment", [pid, "keyed twice"])
    [reverted] = w.chain.events(r, "payment_reverted")
    assert reverted["amount"] == first["total"] + 100
    assert [i["id"] for i in w.view("billing", "open_invoices", ["MTR-A"])] == [first["id"], second["id"]]
    assert w.view("billing", "invoice", [second["id"]])["paid"] == 0


def test_invalid_apply_payment_by_an_account(w: Any) -> None:
    baseline(w)
    err = w.fail(w.agent, "billing", "apply_payment", ["MTR-A", 100, "FAKE-1"])
    assert "a call from contract payments expected" in err


def test_invalid_revert_payment_by_an_account(w: Any) -> None:
    err = w.fail(w.alice, "billing", "revert_payment", ["MTR-A", "PAY-1"])
    assert "a call from contract payments expected" in err


def test_self_reading_reward_and_missing_reading_penalty(w: Any) -> None:
    w.ok(w.admin, "billing", "set_billing_config",
         ["ELEC", {"self_read_reward": 500, "self_read_penalty": 300, "self_read_window_days": 3}])
    first = baseline(w)
    rewards = [ln["amount"] for ln in first["lines"] if ln["kind"] == "self_read_reward"]
    assert rewards == [-500]
    est = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 30 * DAY))
    assert [ln["amount"] for ln in est["lines"] if ln["kind"] == "self_read_penalty"] == [300]
    # A collector's reading earns the consumer nothing.
    assert read(w, w.collector, "MTR-A", T1 + 31 * DAY, 9_000, trust="collector").ok
    act = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"]))
    assert not [ln for ln in act["lines"] if ln["kind"] == "self_read_reward"]


def test_invalid_billing_config_by_an_operator(w: Any) -> None:
    err = w.fail(w.operator, "billing", "set_billing_config", ["ELEC", {"due_days": 1}])
    assert "admin of utility ELEC expected" in err


def test_invalid_billing_config_key(w: Any) -> None:
    err = w.fail(w.admin, "billing", "set_billing_config", ["ELEC", {"due_dayz": 1}])
    assert "config keys among" in err and "due_dayz" in err


def test_run_billing_pages_through_the_utility(w: Any) -> None:
    w.new_consumer("carol")
    w.new_consumer("dave")
    for m in ("MTR-CAROL", "MTR-DAVE"):
        w.ok(w.admin, "billing", "assign_tariff", [m, "RES"])
    t = w.chain.time + DAY
    rs = w.chain.block([
        (w.alice, "billing", "submit_reading", ["MTR-A", "1.8.0", t, 4_000, "consumer", b"", b""]),
        (w.chain.actor("carol"), "billing", "submit_reading", ["MTR-CAROL", "1.8.0", t, 2_000, "consumer", b"", b""]),
    ], at=t)
    assert all(r.ok for r in rs)
    issued, after, pages = 0, "", 0
    while True:
        page = w.chain.return_value(w.ok(w.operator, "billing", "run_billing", ["ELEC", t, after, 2]))
        issued += page["invoices"]
        pages += 1
        after = page["next"]
        if after == "":
            break
    # Alice and Carol were read (actual invoices); Dave was not (an estimate); Bob is prepaid.
    assert issued == 3 and pages >= 2
    assert [i["estimated"] for i in w.view("billing", "invoices", ["MTR-DAVE"])] == [True]
    assert w.view("billing", "invoices", ["MTR-B"]) == []


def test_invalid_run_billing_in_the_future(w: Any) -> None:
    err = w.fail(w.operator, "billing", "run_billing", ["ELEC", w.chain.time + DAY, "", 10])
    assert "period end not in the future" in err


def test_totals_per_scope_and_period_for_regulators(w: Any) -> None:
    w.ok(w.admin, "billing", "set_billing_config", ["ELEC", {"due_days": 5}])
    first = baseline(w)
    assert read(w, w.alice, "MTR-A", T1 + 2 * DAY, 26_000).ok
    second = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"]))
    w.ok(w.agent, "payments", "record_payment", ["MTR-A", first["total"], "R-9"])
    totals = w.view("billing", "consumption_totals", ["ELEC", "ELEC/KADIKOY", GENESIS_TIME, T1 + 3 * DAY])
    assert totals["invoices"] == 2
    assert totals["consumption"] == first["consumption"] + second["consumption"]
    assert totals["billed"] == first["total"] + second["total"]
    assert totals["tax"] == first["tax"] + second["tax"]
    assert totals["paid"] == first["total"] and totals["outstanding"] == second["total"]
    assert totals["arrears"] == 0  # the second invoice is not due yet
    only_second = w.view("billing", "consumption_totals", ["ELEC", "ELEC", T1 + DAY, T1 + 3 * DAY])
    assert (only_second["invoices"], only_second["billed"]) == (1, second["total"])
    field = w.view("billing", "consumption_totals", ["ELEC", "ELEC/KADIKOY/F1", GENESIS_TIME, T1 + 3 * DAY])
    assert field == totals
    elsewhere = w.view("billing", "consumption_totals", ["ELEC", "ELEC/OTHER", GENESIS_TIME, T1 + 3 * DAY])
    assert elsewhere["invoices"] == 0
    # A week later the second invoice is overdue: it shows as arrears of its period.
    assert read(w, w.alice, "MTR-A", T1 + 9 * DAY, 27_000).ok
    later = w.view("billing", "consumption_totals", ["ELEC", "ELEC/KADIKOY", GENESIS_TIME, T1 + 3 * DAY])
    assert later["arrears"] == second["total"] == w.view("billing", "arrears", ["MTR-A"])
    segs = w.view("billing", "segments", ["ELEC"])
    assert sum(s["billed"] for s in segs.values()) == first["total"] + second["total"]
    assert sum(s["outstanding"] for s in segs.values()) == second["total"]


def test_invalid_totals_for_a_scope_of_another_utility(w: Any) -> None:
    with pytest.raises(ViewError, match="a scope of utility ELEC"):
        w.view("billing", "consumption_totals", ["ELEC", "WATER/X", GENESIS_TIME, T1])


def test_terminating_a_subscription_gives_the_final_invoice(w: Any) -> None:
    baseline(w)
    r = w.ok(w.alice, "registry", "terminate_subscription", ["MTR-A", 9_000], at=T1 + 5 * DAY)
    [closed] = w.chain.events(r, "account_closed")
    final = w.view("billing", "invoice", [closed["invoice"]])
    assert (final["period_start"], final["period_end"], final["consumption"]) == (T1, T1 + 5 * DAY, 8_000)
    assert final["consumer"] == w.alice.public_key
    assert w.view("billing", "last_reading", ["MTR-A"])["trust"] == "final"


def test_invalid_close_account_by_an_account(w: Any) -> None:
    err = w.fail(w.alice, "billing", "close_account", ["MTR-A", 9_000, "operator"])
    assert "a call from contract registry expected" in err


def test_move_in_bills_the_old_subscriber_and_starts_the_new_one(w: Any) -> None:
    baseline(w)
    erin = w.chain.actor("erin")
    r = w.ok(w.alice, "registry", "move_in", ["MTR-A", erin.public_key, 4_000], at=T1 + 3 * DAY)
    [closed] = w.chain.events(r, "account_closed")
    assert w.view("billing", "invoice", [closed["invoice"]])["consumer"] == w.alice.public_key
    # alice only offers the flat: erin signs to accept, and the operator approves (the
    # utility approves subscriptions by hand) in the same block.
    assert w.view("registry", "subscription", ["MTR-A"])["status"] == "offered"
    receipts = w.chain.block([
        (erin, "registry", "accept_move_in", ["MTR-A", b""]),
        (w.operator, "registry", "approve_subscription", ["MTR-A"]),
    ], at=T1 + 3 * DAY + 60)
    assert all(x.ok for x in receipts), [x.error for x in receipts]
    assert read(w, erin, "MTR-A", T1 + 5 * DAY, 6_000).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"]))
    assert inv["consumer"] == erin.public_key and inv["consumption"] == 2_000


def test_meter_replacement_continues_the_account(w: Any) -> None:
    baseline(w)
    w.ok(w.operator, "registry", "replace_meter",
         ["MTR-A", "MTR-A2", 1, 6, 20_000, b"", w.collector.public_key, 3_000, 10], at=T1 + 2 * DAY)
    assert w.view("billing", "assigned_tariff", ["MTR-A2"]) == "RES"
    assert read(w, w.alice, "MTR-A2", T1 + 4 * DAY, 1_010).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A2"]))
    # 2,000 Wh on the old meter up to its final index, then 1,000 Wh on the new one.
    assert inv["consumption"] == 3_000
    assert inv["period_start"] == T1 and inv["period_end"] == T1 + 4 * DAY


def test_advance_credit_pays_the_next_invoice_at_once(w: Any) -> None:
    first = baseline(w)
    w.ok(w.agent, "payments", "record_payment", ["MTR-A", first["total"] + 10_000, "R-ADV"])
    assert read(w, w.alice, "MTR-A", T1 + 2 * DAY, 26_000).ok
    second = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"]))
    # 6,840 (see the rounding-rule test) is paid from the 10,000 of advance credit.
    assert second["total"] == 6_840 and second["paid"] == 6_840 and second["status"] == "paid"
    assert w.view("billing", "open_invoices", ["MTR-A"]) == []


def test_run_billing_with_the_two_argument_interface(w: Any) -> None:
    assert read(w, w.alice, "MTR-A", T1, 4_000).ok
    page = w.chain.return_value(w.ok(w.operator, "billing", "run_billing", ["ELEC", T1]))
    assert page == {"invoices": 1, "next": ""}
    assert [i["period_end"] for i in w.view("billing", "invoices", ["MTR-A"])] == [T1]
