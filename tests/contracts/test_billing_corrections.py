"""Corrections (issue 12): credit notes, rebills from corrected readings, manual charges and
credits, by the utility's staff, each leaving the original on record and flowing into
arrears, dunning, payments and the regulators' totals as any invoice does.

The invoice corrected in most scenarios is alice's of two days (worked out by hand in
test_billing_invoices.py): standing 2 x 100 = 200, 20,000 Wh at 0.2 kuruş = 4,000, 5,000 Wh
at 0.3 kuruş = 1,500; taxable 5,700, tax 20 % = 1,140, total 6,840."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.conftest import GENESIS_TIME
from tests.contracts.test_billing_support import DAY, half_up, installed_at, read, setup_tariff

T1 = GENESIS_TIME + DAY
T2 = T1 + 2 * DAY
REASON = "index misread by the collector"


@pytest.fixture
def w(world: Any) -> Any:
    setup_tariff(world)
    return world


def two_day_invoice(w: Any, end_index: int = 26_000) -> dict[str, Any]:
    """alice's first invoice up to T1 (index 1,000), then her two-day invoice up to T2."""
    assert read(w, w.alice, "MTR-A", T1, 1_000).ok
    w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 1)
    assert read(w, w.alice, "MTR-A", T2, end_index).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T2 + 5))
    assert inv["id"] == "MTR-A/000002"
    return dict(inv)


def totals(w: Any) -> dict[str, Any]:
    return dict(w.view("billing", "consumption_totals", [w.utility, w.utility, GENESIS_TIME - DAY, T2 + 400 * DAY]))


def open_ids(w: Any) -> list[str]:
    return [inv["id"] for inv in w.view("billing", "open_invoices", ["MTR-A"])]


# --- credit notes ------------------------------------------------------------------------


def test_operator_credits_part_of_alices_invoice(w: Any) -> None:
    inv = two_day_invoice(w)
    assert inv["total"] == 6_840
    before_due = w.view("billing", "balance_due", ["MTR-A"])
    before = totals(w)
    r = w.ok(w.operator, "billing", "issue_credit_note", [inv["id"], 1_000, "standing charge of a vacant week"])
    [ev] = w.events(r, "credit_note")
    tax_part = half_up(1_000 * 1_140, 6_840)  # the invoice's tax pro rata: 167
    assert (ev["id"], ev["invoice"], ev["amount"], ev["applied"], ev["carried"], ev["tax"]) == (
        "MTR-A/C000001", inv["id"], 1_000, 1_000, 0, tax_part)
    assert ev["by"] == w.operator.public_key and ev["invoice_total"] == 5_840
    after = w.view("billing", "invoice", [inv["id"]])
    # The original stays on record: its lines and what it asked for when issued.
    assert after["lines"] == inv["lines"] and after["issued_total"] == 6_840
    assert (after["total"], after["credited"], after["status"], after["corrections"]) == (
        5_840, 1_000, "open", ["MTR-A/C000001"])
    assert w.view("billing", "balance_due", ["MTR-A"]) == before_due - 1_000
    now = totals(w)
    assert (now["billed"], now["tax"], now["outstanding"]) == (
        before["billed"] - 1_000, before["tax"] - tax_part, before["outstanding"] - 1_000)
    note = w.view("billing", "correction", ["MTR-A/C000001"])
    assert (note["kind"], note["reason"], note["subscription"]) == ("credit_note", "standing charge of a vacant week",
                                                                    inv["subscription"])
    assert [c["id"] for c in w.view("billing", "corrections_of", ["MTR-A", "", 10])] == ["MTR-A/C000001"]


def test_a_full_credit_note_clears_alices_arrears_and_dunning_stops(w: Any) -> None:
    inv = two_day_invoice(w)
    late = inv["due"] + 2 * DAY + 10 * 3600  # Monday 10:00 UTC, after both due dates
    first = w.view("billing", "invoice", ["MTR-A/000001"])
    w.ok(w.operator, "billing", "issue_credit_note", [first["id"], first["total"], "meter not yet in use"], at=late)
    assert w.view("billing", "arrears", ["MTR-A"]) == 6_840
    w.ok(w.admin, "billing", "issue_credit_note", [inv["id"], 6_840, "bill sent in error"], at=late + 60)
    assert w.view("billing", "invoice", [inv["id"]])["status"] == "credited"
    assert open_ids(w) == [] and w.view("billing", "arrears", ["MTR-A"]) == 0
    err = w.fail(w.operator, "supply", "request_disconnect", ["MTR-A", "unpaid bills"], at=late + 120)
    assert "postpaid arrears > 0 expected for disconnection, found 0" in err


def test_alice_in_arrears_after_a_manual_charge_can_be_disconnected(w: Any) -> None:
    two_day_invoice(w)
    for inv in w.view("billing", "open_invoices", ["MTR-A"]):
        w.ok(w.operator, "billing", "issue_credit_note", [inv["id"], inv["total"], "cleared"])
    w.ok(w.operator, "billing", "manual_charge", ["MTR-A", 500, "tampered seal"], at=T2 + 60)
    late = T2 + 16 * DAY + 10 * 3600  # Monday 10:00 UTC, after the charge's due date
    r = w.ok(w.operator, "supply", "request_disconnect", ["MTR-A", "unpaid charge"], at=late)
    assert r.ok and w.view("supply", "supply_status", ["MTR-A"])["arrears"] == 500


def test_a_credit_note_on_a_paid_invoice_is_carried_to_alices_next_invoice(w: Any) -> None:
    inv = two_day_invoice(w)
    w.ok(w.agent, "payments", "record_invoice_payment", [inv["id"], 6_840, "RCPT-1"])
    r = w.ok(w.operator, "billing", "issue_credit_note", [inv["id"], 840, "overcharged standing"])
    [ev] = w.events(r, "credit_note")
    assert (ev["applied"], ev["carried"]) == (0, 840)
    paid = w.view("billing", "invoice", [inv["id"]])
    assert (paid["total"], paid["paid"], paid["status"]) == (6_840, 6_840, "paid")  # the money stays where it went
    assert read(w, w.alice, "MTR-A", T2 + DAY, 27_000).ok
    nxt = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T2 + DAY + 5))
    assert ("credit_brought_forward", -840) in [(ln["kind"], ln["amount"]) for ln in nxt["lines"]]


def test_invalid_credit_note_by_the_agent_or_alice(w: Any) -> None:
    inv = two_day_invoice(w)
    for actor in (w.agent, w.alice):
        err = w.fail(actor, "billing", "issue_credit_note", [inv["id"], 100, REASON])
        assert "caller with role operator or admin of utility ELEC expected" in err


def test_invalid_credit_note_over_what_the_invoice_bills(w: Any) -> None:
    inv = two_day_invoice(w)
    err = w.fail(w.operator, "billing", "issue_credit_note", [inv["id"], 6_841, REASON])
    assert f"a credit of at most 6840 (what invoice {inv['id']} still bills) expected, found 6841" in err
    w.ok(w.operator, "billing", "issue_credit_note", [inv["id"], 6_000, REASON])
    err = w.fail(w.operator, "billing", "issue_credit_note", [inv["id"], 841, REASON])
    assert "a credit of at most 840" in err
    err = w.fail(w.operator, "billing", "issue_credit_note", [inv["id"], 0, REASON])
    assert "a positive credit in minor units expected, found 0" in err


def test_invalid_credit_note_without_a_reason_or_with_one_too_long(w: Any) -> None:
    inv = two_day_invoice(w)
    err = w.fail(w.operator, "billing", "issue_credit_note", [inv["id"], 100, ""])
    assert "a reason of 1 to 256 characters expected, found 0 characters" in err
    err = w.fail(w.operator, "billing", "issue_credit_note", [inv["id"], 100, "x" * 257])
    assert "a reason of 1 to 256 characters expected, found 257 characters" in err
    assert w.view("billing", "invoice", [inv["id"]])["total"] == 6_840


def test_invalid_credit_note_on_a_void_invoice(w: Any) -> None:
    inv = two_day_invoice(w)
    w.ok(w.operator, "billing", "rebill", [inv["id"], 16_000, REASON])
    err = w.fail(w.operator, "billing", "issue_credit_note", [inv["id"], 100, REASON])
    assert f"an invoice in force expected, found invoice {inv['id']} void (replaced by MTR-A/000003)" in err


def test_invalid_credit_note_on_no_invoice(w: Any) -> None:
    two_day_invoice(w)
    err = w.fail(w.operator, "billing", "issue_credit_note", ["MTR-A/000099", 100, REASON])
    assert "an invoice expected, found no invoice MTR-A/000099" in err


# --- rebills -----------------------------------------------------------------------------


def test_operator_rebills_alices_misread_invoice_from_the_corrected_index(w: Any) -> None:
    inv = two_day_invoice(w)
    before = totals(w)
    r = w.ok(w.operator, "billing", "rebill", [inv["id"], 16_000, REASON])
    new = w.chain.return_value(r)
    # 15,000 Wh in two days, within the allowance: 200 + 3,000 = 3,200, tax 640, total 3,840.
    assert [(ln["kind"], ln["units"], ln["amount"]) for ln in new["lines"]] == [
        ("standing", 2 * DAY, 200), ("energy", 15_000, 3_000)]
    assert (new["id"], new["replaces"], new["consumption"], new["taxable"], new["tax"], new["total"]) == (
        "MTR-A/000003", inv["id"], 15_000, 3_200, 640, 3_840)
    assert (new["period_start"], new["period_end"], new["status"]) == (T1, T2, "open")
    old = w.view("billing", "invoice", [inv["id"]])
    assert (old["status"], old["replaced_by"], old["lines"], old["total"]) == ("void", new["id"], inv["lines"], 6_840)
    assert open_ids(w) == ["MTR-A/000001", "MTR-A/000003"]
    [voided] = w.events(r, "invoice_voided")
    assert (voided["id"], voided["replaced_by"], voided["reason"]) == (inv["id"], new["id"], REASON)
    [rebill] = w.events(r, "rebill")
    assert (rebill["index"], rebill["original_index"], rebill["total_before"], rebill["total_after"]) == (
        16_000, 26_000, 6_840, 3_840)
    [corrected] = w.events(r, "reading_corrected")
    assert (corrected["timestamp"], corrected["index"], corrected["original_index"], corrected["consumption_change"]) == (
        T2, 16_000, 26_000, -10_000)
    # The correction keeps the original index; the meter goes on from the corrected one.
    record = w.view("billing", "correction", [rebill["id"]])
    assert (record["kind"], record["index"], record["original_index"], record["replacement"]) == (
        "rebill", 16_000, 26_000, new["id"])
    assert w.view("billing", "last_reading", ["MTR-A"])["index"] == 16_000
    now = totals(w)
    assert (now["invoices"], now["consumption"], now["billed"], now["tax"]) == (
        before["invoices"], before["consumption"] - 10_000, before["billed"] - 3_000, before["tax"] - 500)
    # The next reading is billed from the corrected index.
    assert read(w, w.alice, "MTR-A", T2 + DAY, 20_000).ok
    nxt = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T2 + DAY + 5))
    assert nxt["consumption"] == 4_000


def test_rebill_deducts_what_alice_paid_and_a_reversed_payment_is_asked_again(w: Any) -> None:
    inv = two_day_invoice(w)
    r = w.ok(w.agent, "payments", "record_invoice_payment", [inv["id"], 2_000, "RCPT-1"], at=T2 + 600)
    [payment] = w.events(r, "payment")
    new = w.chain.return_value(w.ok(w.operator, "billing", "rebill", [inv["id"], 16_000, REASON], at=T2 + 700))
    assert ("paid_on_replaced", -2_000) in [(ln["kind"], ln["amount"]) for ln in new["lines"]]
    assert new["total"] == 1_840
    assert w.view("billing", "invoice", [inv["id"]])["paid"] == 2_000  # the payment stays where it went
    before = totals(w)
    w.ok(w.agent, "payments", "reverse_payment", [payment["id"], "cheque bounced"], at=T2 + 800)
    again = w.view("billing", "invoice", [new["id"]])
    assert (again["total"], again["reopened"], again["status"]) == (3_840, 2_000, "open")
    assert w.view("billing", "invoice", [inv["id"]])["paid"] == 0
    now = totals(w)
    assert (now["billed"], now["paid"], now["outstanding"]) == (
        before["billed"], before["paid"] - 2_000, before["outstanding"] + 2_000)


def test_rebill_with_a_credit_note_already_given(w: Any) -> None:
    inv = two_day_invoice(w)
    w.ok(w.operator, "billing", "issue_credit_note", [inv["id"], 500, "goodwill"])
    new = w.chain.return_value(w.ok(w.operator, "billing", "rebill", [inv["id"], 16_000, REASON]))
    assert ("credited_on_replaced", -500) in [(ln["kind"], ln["amount"]) for ln in new["lines"]]
    assert new["total"] == 3_340


def test_rebill_that_leaves_alice_in_credit_carries_it(w: Any) -> None:
    inv = two_day_invoice(w)
    w.ok(w.agent, "payments", "record_invoice_payment", [inv["id"], 6_840, "RCPT-1"])
    new = w.chain.return_value(w.ok(w.operator, "billing", "rebill", [inv["id"], 16_000, REASON]))
    assert (new["total"], new["status"]) == (0, "credited")
    assert ("credit_carried_forward", 3_000) in [(ln["kind"], ln["amount"]) for ln in new["lines"]]
    assert w.view("billing", "subscription_balance", [inv["subscription"]])["carry"] == 3_000


def test_rebill_after_a_later_reading_moves_the_units_into_alices_next_period(w: Any) -> None:
    inv = two_day_invoice(w)  # 26,000 should have been 16,000
    assert read(w, w.alice, "MTR-A", T2 + DAY, 27_000).ok  # 1,000 read, 11,000 consumed
    new = w.chain.return_value(w.ok(w.operator, "billing", "rebill", [inv["id"], 16_000, REASON], at=T2 + DAY + 1))
    assert new["consumption"] == 15_000
    assert w.view("billing", "last_reading", ["MTR-A"])["index"] == 27_000
    nxt = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T2 + DAY + 5))
    assert (nxt["period_start"], nxt["consumption"]) == (T2, 11_000)


def test_rebill_of_alices_first_reading_since_the_meter_was_installed(w: Any) -> None:
    assert read(w, w.alice, "MTR-A", T1, 1_000).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 1))
    installed = installed_at(w, "MTR-A")
    opened = w.view("registry", "subscription", ["MTR-A"])["opened_at"]
    assert installed < opened == inv["period_start"]
    new = w.chain.return_value(w.ok(w.operator, "billing", "rebill", [inv["id"], 800, REASON], at=T1 + 2))
    # The share read before the opening is billed to nobody, by time, floor for the earlier
    # part; the correction is of the index read at the end, after the opening: billed whole.
    assert inv["consumption"] == 1_000 - (1_000 * (opened - installed)) // (T1 - installed)
    assert new["consumption"] == inv["consumption"] - 200


def test_invalid_double_rebill(w: Any) -> None:
    inv = two_day_invoice(w)
    w.ok(w.operator, "billing", "rebill", [inv["id"], 16_000, REASON])
    err = w.fail(w.operator, "billing", "rebill", [inv["id"], 17_000, REASON])
    assert f"an invoice in force expected, found invoice {inv['id']} void (replaced by MTR-A/000003)" in err


def test_invalid_rebill_by_the_collector(w: Any) -> None:
    inv = two_day_invoice(w)
    err = w.fail(w.collector, "billing", "rebill", [inv["id"], 16_000, REASON])
    assert "caller with role operator or admin of utility ELEC expected" in err


def test_invalid_rebill_without_a_reason(w: Any) -> None:
    inv = two_day_invoice(w)
    err = w.fail(w.operator, "billing", "rebill", [inv["id"], [[T2, 16_000]], ""])
    assert "a reason of 1 to 256 characters expected, found 0 characters" in err


def test_invalid_rebill_to_an_index_off_the_register_or_the_same(w: Any) -> None:
    inv = two_day_invoice(w)
    err = w.fail(w.operator, "billing", "rebill", [inv["id"], 1_000_000, REASON])
    assert "index in [0, 1000000) expected for meter MTR-A, found 1000000" in err
    err = w.fail(w.operator, "billing", "rebill", [inv["id"], 26_000, REASON])
    assert f"an index other than the one billed (26000) expected for a rebill of invoice {inv['id']}, found the same" in err


def test_invalid_rebill_to_an_index_below_the_period_start(w: Any) -> None:
    inv = two_day_invoice(w)
    err = w.fail(w.operator, "billing", "rebill", [inv["id"], 900, REASON])
    assert f"a corrected index that leaves invoice {inv['id']} at least 0 units expected, found -100" in err


def test_invalid_rebill_that_takes_more_than_the_next_reading_consumed(w: Any) -> None:
    inv = two_day_invoice(w)
    assert read(w, w.alice, "MTR-A", T2 + DAY, 27_000).ok
    err = w.fail(w.operator, "billing", "rebill", [inv["id"], 28_000, REASON], at=T2 + DAY + 1)
    assert "a corrected index that leaves the open span after it at least 0 units expected, found -1000" in err


def test_invalid_rebill_of_the_last_reading_once_a_later_invoice_billed_from_it(w: Any) -> None:
    inv = two_day_invoice(w)
    assert read(w, w.alice, "MTR-A", T2 + DAY, 27_000).ok
    w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T2 + DAY + 5)
    err = w.fail(w.operator, "billing", "rebill", [inv["id"], 16_000, REASON])
    assert f"no invoice after {inv['id']} from a later reading expected to correct its last reading, found the meter billed up to {T2 + DAY}" in err


def test_invalid_rebill_of_a_manual_charge(w: Any) -> None:
    two_day_invoice(w)
    rec = w.chain.return_value(w.ok(w.operator, "billing", "manual_charge", ["MTR-A", 500, "fee"], at=T2 + 60))
    err = w.fail(w.operator, "billing", "rebill", [rec["invoice"], 16_000, REASON])
    assert f"an actual invoice of a period of readings expected for a rebill, found invoice {rec['invoice']} without one (credit it instead)" in err


def test_invalid_rebill_of_an_estimated_invoice(w: Any) -> None:
    assert read(w, w.alice, "MTR-A", T1, 1_000).ok
    w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 1)
    est = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T2))
    assert est["estimated"]
    err = w.fail(w.operator, "billing", "rebill", [est["id"], 16_000, REASON])
    assert f"an actual invoice expected for a rebill, found estimated invoice {est['id']}" in err


# --- manual charges and credits -----------------------------------------------------------


def test_operator_charges_alice_a_reconnection_fee(w: Any) -> None:
    two_day_invoice(w)
    r = w.ok(w.operator, "billing", "manual_charge", ["MTR-A", 500, "reconnection fee"], at=T2 + 60)
    rec = w.chain.return_value(r)
    inv = w.view("billing", "invoice", [rec["invoice"]])
    assert [(ln["kind"], ln["amount"]) for ln in inv["lines"]] == [("manual_charge", 500)]
    assert (inv["total"], inv["status"], inv["due"]) == (500, "open", T2 + 60 + 14 * DAY)
    [ev] = w.events(r, "manual_charge")
    assert (ev["id"], ev["invoice"], ev["amount"], ev["reason"]) == ("MTR-A/C000001", inv["id"], 500, "reconnection fee")
    assert len(w.events(r, "invoice")) == 1
    assert open_ids(w)[-1] == inv["id"]


def test_operator_credits_alice_and_her_oldest_invoices_are_paid_off_first(w: Any) -> None:
    inv = two_day_invoice(w)
    first = w.view("billing", "invoice", ["MTR-A/000001"])
    owed = first["total"] + inv["total"]
    r = w.ok(w.operator, "billing", "manual_credit", ["MTR-A", owed + 300, "outage compensation"])
    [ev] = w.events(r, "manual_credit")
    assert ev["allocations"] == [[first["id"], first["total"]], [inv["id"], 6_840]]
    assert ev["carried"] == 300
    assert open_ids(w) == [] and w.view("billing", "balance_due", ["MTR-A"]) == 0
    assert w.view("billing", "subscription_balance", [inv["subscription"]])["carry"] == 300


def test_invalid_manual_charge_on_bobs_prepaid_meter(w: Any) -> None:
    err = w.fail(w.operator, "billing", "manual_charge", ["MTR-B", 500, "reconnection fee"])
    assert "a postpaid subscription expected for a manual charge or credit, found prepaid on MTR-B" in err


def test_invalid_manual_charge_or_credit_by_the_agent(w: Any) -> None:
    for function in ("manual_charge", "manual_credit"):
        err = w.fail(w.agent, "billing", function, ["MTR-A", 500, "fee"])
        assert "caller with role operator or admin of utility ELEC expected" in err


def test_invalid_manual_charge_of_nothing_or_without_reason(w: Any) -> None:
    err = w.fail(w.operator, "billing", "manual_charge", ["MTR-A", -5, "fee"])
    assert "a positive charge in minor units expected, found -5" in err
    err = w.fail(w.operator, "billing", "manual_credit", ["MTR-A", 5, "y" * 300])
    assert "a reason of 1 to 256 characters expected, found 300 characters" in err
