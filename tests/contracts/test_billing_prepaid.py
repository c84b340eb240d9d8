"""Prepaid meters: each reading is priced at the tariff (same rule as invoices) and charged
to the consumer's credit through payments.charge_prepaid; no invoice is issued."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.conftest import GENESIS_TIME
from tests.contracts.test_billing_support import DAY, read, setup_tariff

T1 = GENESIS_TIME + DAY
SPEC = {"standing_charge_per_day": 100, "tiers": [[None, 250_000]], "tax_bp": 2_000}


@pytest.fixture
def w(world: Any) -> Any:
    setup_tariff(world, SPEC, tariff_id="PRE", meters=("MTR-B",))
    world.ok(world.admin, "payments", "register_vendor_float", ["ELEC", world.vendor.public_key, 1_000_000])
    world.ok(world.vendor, "payments", "buy_credit", ["MTR-B", 50_000, "V-1"])
    return world


def test_bobs_reading_is_charged_to_his_credit(w: Any) -> None:
    before = w.view("payments", "credit", ["MTR-B"])
    assert read(w, w.bob, "MTR-B", T1, 0).ok  # baseline reading (no consumption since install)
    mid = w.view("payments", "credit", ["MTR-B"])
    r = read(w, w.bob, "MTR-B", T1 + DAY, 10_000)
    assert r.ok, r.error
    [charge] = w.chain.events(r, "prepaid_charge")
    # One day: standing 100, 10,000 Wh x 0.25 = 2,500; taxable 2,600; tax 520; 3,120.
    assert (charge["subtotal"], charge["tax"], charge["amount"], charge["consumption"]) == (2_600, 520, 3_120, 10_000)
    assert w.view("payments", "credit", ["MTR-B"]) == mid - 3_120
    assert mid <= before
    [deducted] = w.chain.events(r, "credit_deducted")
    assert deducted["amount"] == 3_120 and deducted["ref"] == charge["ref"]
    assert w.view("billing", "invoices", ["MTR-B"]) == []


def test_prepaid_debt_is_kept_when_consumption_exceeds_credit(w: Any) -> None:
    assert read(w, w.bob, "MTR-B", T1, 0).ok
    credit = w.view("payments", "credit", ["MTR-B"])
    r = read(w, w.collector, "MTR-B", T1 + 10 * DAY, 400_000, trust="collector")
    assert r.ok, r.error
    amount = w.chain.events(r, "prepaid_charge")[0]["amount"]
    # 10 days standing 1,000 + 400,000 Wh x 0.25 = 100,000; taxable 101,000; tax 20,200.
    assert amount == 121_200
    assert w.view("payments", "credit", ["MTR-B"]) == credit - amount  # negative: a debt, never lost
    assert w.chain.events(r, "credit_exhausted")


def test_invalid_direct_charge_prepaid_by_an_account(w: Any) -> None:
    err = w.fail(w.bob, "payments", "charge_prepaid", ["MTR-B", 1, "x"])
    assert "contract:billing" in err


def test_a_prepaid_load_profile_is_charged_once_for_the_day(w: Any) -> None:
    day = GENESIS_TIME + 2 * DAY
    indexes = [1_000 * k for k in range(25)]  # hourly, 1,000 Wh an hour
    r = w.chain.call(w.collector, "billing", "submit_load_profile", ["MTR-B", "1.8.0", day, 3600, indexes],
                     at=day + DAY)
    assert r.ok, r.error
    charges = w.chain.events(r, "prepaid_charge")
    # The gap since installation (index 0 at day start: standing charge only), then the day:
    # standing 100 + 24,000 Wh x 0.25 = 6,000 -> taxable 6,100, tax 1,220, 7,320.
    assert len(charges) == 2
    assert (charges[1]["consumption"], charges[1]["subtotal"], charges[1]["tax"], charges[1]["amount"]) == (
        24_000, 6_100, 1_220, 7_320)
    assert len(w.chain.events(r, "credit_deducted")) == 2
