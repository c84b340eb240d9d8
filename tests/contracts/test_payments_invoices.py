"""Payments against real postpaid invoices from billing: oldest invoice first, exact undo on
reversal, advance credit applied to later invoices, and the supply side of payments
(reconnection after payment, no disconnection while a reversal is pending)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.conftest import GENESIS_TIME

DAY = 86400
HOUR = 3600
T0 = GENESIS_TIME + DAY + 10 * HOUR  # Thursday 2025-01-02 10:00 UTC
MONDAY = GENESIS_TIME + 19 * DAY + 10 * HOUR  # Monday 2025-01-20 10:00 UTC, after the due dates
FLAT_TARIFF = {"standing_charge_per_day": 0, "tiers": [[None, 1_000_000]], "tax_bp": 0}


@pytest.fixture
def billed(world: Any) -> Any:
    """Alice (postpaid) with two invoices: 1,000 (issued T0) and 2,500 (issued T0 + 1 h)."""
    meter = world.meters["alice"]
    world.ok(world.admin, "billing", "set_tariff", [world.utility, "FLAT", FLAT_TARIFF, world.chain.time + 1])
    world.ok(world.operator, "billing", "assign_tariff", [meter, "FLAT"])
    world.ok(world.alice, "billing", "submit_reading", [meter, "1.8.0", T0, 1_000, "consumer", b"", b""], at=T0)
    world.ok(world.operator, "billing", "close_period", [meter], at=T0 + 1)
    world.ok(world.alice, "billing", "submit_reading", [meter, "1.8.0", T0 + HOUR, 3_500, "consumer", b"", b""],
             at=T0 + HOUR)
    world.ok(world.operator, "billing", "close_period", [meter], at=T0 + HOUR + 1)
    invoices = world.view("billing", "open_invoices", [meter])
    assert [i["total"] for i in invoices] == [1_000, 2_500]
    world.invoice_ids = [i["id"] for i in invoices]
    return world


def paid_amounts(world: Any) -> list[int]:
    return [world.view("billing", "invoice", [i])["paid"] for i in world.invoice_ids]


def test_basic_payment_applied_to_oldest_open_invoice_first(billed: Any) -> None:
    w, meter = billed, billed.meters["alice"]
    r = w.ok(w.agent, "payments", "record_payment", [meter, 1_500, "R-1"], at=T0 + 2 * HOUR)
    (event,) = w.chain.events(r, "payment")
    assert (event["applied"], event["remainder"]) == (1_500, 0)
    assert paid_amounts(w) == [1_000, 500]
    assert w.view("billing", "invoice", [w.invoice_ids[0]])["status"] == "paid"
    # An overpayment settles the rest and leaves advance credit.
    r = w.ok(w.agent, "payments", "record_payment", [meter, 2_300, "R-2"], at=T0 + 2 * HOUR + 60)
    (event,) = w.chain.events(r, "payment")
    assert (event["applied"], event["remainder"]) == (2_000, 300)
    assert paid_amounts(w) == [1_000, 2_500]
    assert w.view("payments", "credit", [meter]) == 300


def test_basic_reversal_undoes_invoice_allocations_exactly(billed: Any) -> None:
    w, meter = billed, billed.meters["alice"]
    w.ok(w.agent, "payments", "record_payment", [meter, 700, "R-1"], at=T0 + 2 * HOUR)
    r = w.ok(w.agent, "payments", "record_payment", [meter, 3_000, "R-2"], at=T0 + 2 * HOUR + 60)
    pid = w.chain.events(r, "payment")[0]["id"]
    assert paid_amounts(w) == [1_000, 2_500] and w.view("payments", "credit", [meter]) == 200
    w.ok(w.agent, "payments", "reverse_payment", [pid, "cheque bounced"], at=T0 + 3 * HOUR)
    assert paid_amounts(w) == [700, 0]
    assert [i["id"] for i in w.view("billing", "open_invoices", [meter])] == w.invoice_ids
    assert w.view("payments", "credit", [meter]) == 0
    ledger = w.view("payments", "ledger", [w.utility])
    assert ledger["allocated"] == 700 and ledger["paid"] - ledger["reversed"] == 700


def test_invalid_reversal_of_invoice_payment_the_next_day_leaves_invoices_paid(billed: Any) -> None:
    w, meter = billed, billed.meters["alice"]
    r = w.ok(w.agent, "payments", "record_payment", [meter, 3_500, "R-1"], at=T0 + 2 * HOUR)
    pid = w.chain.events(r, "payment")[0]["id"]
    error = w.fail(w.agent, "payments", "reverse_payment", [pid, "too late"], at=T0 + DAY)
    assert "payment's day" in error
    assert paid_amounts(w) == [1_000, 2_500]


def test_basic_advance_credit_pays_a_later_invoice_when_issued(billed: Any) -> None:
    """Billing asks payments to apply the advance credit as soon as it issues an invoice."""
    w, meter = billed, billed.meters["alice"]
    w.ok(w.agent, "payments", "record_payment", [meter, 4_000, "R-1"], at=T0 + 2 * HOUR)
    assert w.view("payments", "credit", [meter]) == 500
    w.ok(w.alice, "billing", "submit_reading", [meter, "1.8.0", T0 + 3 * HOUR, 3_800, "consumer", b"", b""],
         at=T0 + 3 * HOUR)
    r = w.ok(w.operator, "billing", "close_period", [meter], at=T0 + 3 * HOUR + 1)
    (applied,) = w.chain.events(r, "credit_applied")
    assert applied["applied"] == 300 and applied["by"] == b"contract:billing"
    assert w.view("billing", "open_invoices", [meter]) == []
    third = w.view("billing", "invoices", [meter])[-1]
    assert (third["total"], third["paid"], third["status"]) == (300, 300, "paid")
    assert w.view("payments", "credit", [meter]) == 200
    assert w.view("payments", "account", [meter])["applied_credit"] == 300
    # Nothing left to apply by hand.
    r = w.ok(w.alice, "payments", "apply_credit", [meter], at=T0 + 3 * HOUR + 2)
    assert w.chain.return_value(r) == 0


def test_basic_no_disconnection_while_reversal_pending(billed: Any) -> None:
    w, meter = billed, billed.meters["alice"]
    assert w.view("billing", "arrears", [meter]) == 0  # not due yet at T0
    r = w.ok(w.agent, "payments", "record_payment", [meter, 3_500, "R-1"], at=MONDAY)
    pid = w.chain.events(r, "payment")[0]["id"]
    w.ok(w.agent, "payments", "reverse_payment", [pid, "wrong customer"], at=MONDAY + 1_800)
    assert w.view("billing", "arrears", [meter]) == 3_500
    error = w.fail(w.operator, "supply", "request_disconnect", [meter, "arrears"], at=MONDAY + HOUR)
    assert "reversal is pending" in error


def test_invalid_reversal_pending_does_not_outlive_the_day(billed: Any) -> None:
    """The twin: the next working day the arrears stand and the disconnection goes ahead."""
    w, meter = billed, billed.meters["alice"]
    r = w.ok(w.agent, "payments", "record_payment", [meter, 3_500, "R-1"], at=MONDAY)
    pid = w.chain.events(r, "payment")[0]["id"]
    w.ok(w.agent, "payments", "reverse_payment", [pid, "wrong customer"], at=MONDAY + 1_800)
    r = w.ok(w.operator, "supply", "request_disconnect", [meter, "arrears"], at=MONDAY + DAY)
    (order,) = w.chain.events(r, "disconnect_order")
    assert order["arrears"] == 3_500


def test_basic_payment_of_arrears_orders_reconnection(billed: Any) -> None:
    w, meter = billed, billed.meters["alice"]
    w.ok(w.operator, "supply", "request_disconnect", [meter, "arrears"], at=MONDAY)
    r = w.ok(w.agent, "payments", "record_payment", [meter, 1_000, "R-1"], at=MONDAY + 60)
    assert w.chain.events(r, "reconnect_order") == []  # 2,500 still overdue
    r = w.ok(w.agent, "payments", "record_payment", [meter, 2_500, "R-2"], at=MONDAY + 120)
    (order,) = w.chain.events(r, "reconnect_order")
    assert order["meter"] == meter
    assert w.view("supply", "supply_status", [meter])["status"] == "connected"


def test_basic_payment_and_its_reversal_in_one_block(billed: Any) -> None:
    w, meter = billed, billed.meters["alice"]
    w.ok(w.agent, "payments", "record_payment", [meter, 1, "R-0"], at=T0 + 2 * HOUR)  # PAY-0000000001
    receipts = w.chain.block([
        (w.agent, "payments", "record_payment", [meter, 1_000, "R-1"]),
        (w.agent, "payments", "reverse_payment", ["PAY-0000000002", "keyed twice"]),
    ], at=T0 + 2 * HOUR + 60)
    assert all(r.ok for r in receipts), [r.error for r in receipts]
    assert paid_amounts(w) == [1, 0]
