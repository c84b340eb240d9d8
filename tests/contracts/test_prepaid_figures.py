"""Operator figures (issue 12): prepaid consumption and what it drew from prepaid credit, and
the consumption of token meters, by scope and period beside the postpaid invoices' figures
(billing.consumption_totals). Bob's prepaid meter is read; alice's postpaid one is not
counted among them; tara's token meter counts its units and never a charge. And the count
of accounts below their warning level, per utility, branch and field (payments)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.conftest import GENESIS_TIME
from tests.contracts.test_billing_support import DAY, read, setup_tariff
from tests.contracts.test_prepaid import HOUR, buy, setup_prepaid
from tests.contracts.test_prepaid import T0 as PT0
from tests.contracts.test_prepaid import read as prepaid_read
from tests.contracts.test_token_sales import T0, sell, setup_tara

T1 = GENESIS_TIME + DAY
SPEC = {"standing_charge_per_day": 100, "tiers": [[None, 250_000]], "tax_bp": 2_000}
PREPAID = ("prepaid_consumption", "prepaid_charged", "token_consumption")


@pytest.fixture
def w(world: Any) -> Any:
    setup_tariff(world, SPEC, tariff_id="PRE", meters=("MTR-A", "MTR-B"))
    world.ok(world.admin, "payments", "register_vendor_float", ["ELEC", world.vendor.public_key, 1_000_000])
    world.ok(world.vendor, "payments", "buy_credit", ["MTR-B", 50_000, "V-1"])
    return world


def figures(w: Any, scope: str, start: int, end: int) -> tuple[int, ...]:
    totals = w.view("billing", "consumption_totals", [w.utility, scope, start, end])
    return tuple(totals[name] for name in PREPAID)


def test_bobs_prepaid_day_shows_in_his_field_branch_and_utility_for_that_day(w: Any) -> None:
    baseline = read(w, w.bob, "MTR-B", T1, 0)  # no units, the standing charge since he subscribed
    [standing] = w.chain.events(baseline, "prepaid_charge")
    assert standing["consumption"] == 0 and standing["amount"] > 0
    r = read(w, w.bob, "MTR-B", T1 + DAY, 10_000)
    [charge] = w.chain.events(r, "prepaid_charge")
    assert charge["amount"] == 3_120  # one day: (100 + 10,000 Wh x 0.25) + 20 % tax
    field = w.view("registry", "meter", ["MTR-B"])["field"]
    for scope in (w.utility, field.rsplit("/", 1)[0], field):
        assert figures(w, scope, GENESIS_TIME, T1 + 2 * DAY) == (10_000, standing["amount"] + 3_120, 0)
    # By the reading's day: the baseline's day holds its standing charge, the next day the rest.
    assert figures(w, w.utility, GENESIS_TIME, T1 + DAY) == (0, standing["amount"], 0)  # end day excluded
    assert figures(w, w.utility, T1 + DAY, T1 + 2 * DAY) == (10_000, 3_120, 0)
    assert w.view("payments", "credit", ["MTR-B"]) == 50_000 + w.view("payments", "subscription_account", [
        w.view("registry", "subscription", ["MTR-B"])["id"]])["emergency_limit"] - standing["amount"] - 3_120
    # The postpaid figures are the invoices', untouched by prepaid readings.
    assert w.view("billing", "consumption_totals", [w.utility, w.utility, GENESIS_TIME, T1 + 2 * DAY])["billed"] == 0


def test_invalid_a_postpaid_reading_adds_no_prepaid_figure(w: Any) -> None:
    assert read(w, w.alice, "MTR-A", T1, 1_000).ok
    assert read(w, w.alice, "MTR-A", T1 + DAY, 9_000).ok
    w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + DAY + 1)
    totals = w.view("billing", "consumption_totals", [w.utility, w.utility, GENESIS_TIME, T1 + 2 * DAY])
    assert totals["billed"] > 0 and totals["consumption"] == 9_000  # from the index at install, 0
    assert figures(w, w.utility, GENESIS_TIME, T1 + 2 * DAY) == (0, 0, 0)


def test_taras_token_meter_counts_its_units_and_never_a_charge(world: Any) -> None:
    tara = setup_tara(world)
    sell(world, 5_900, "T-1", at=T0)
    meter = world.meters["tara"]
    assert not world.view("billing", "last_reading", [meter])  # read from the index at install, 0
    r = world.ok(tara, "billing", "submit_reading", [meter, "1.8.0", T0 + 3600, 4_000, "consumer", b"", b""],
                 at=T0 + 3600)
    assert [e.name for e in r.events if e.name in ("prepaid_charge", "credit_deducted")] == []
    totals = world.view("billing", "consumption_totals", [world.utility, world.utility, GENESIS_TIME, T0 + DAY])
    assert (totals["token_consumption"], totals["prepaid_consumption"], totals["prepaid_charged"]) == (4_000, 0, 0)


# --- accounts below their warning level ---------------------------------------------------


def scopes_of(meter: dict[str, Any]) -> list[str]:
    return [meter["utility"], meter["branch"], meter["field"]]


def below(world: Any, scope: str) -> int:
    return int(world.view("payments", "accounts_below_warning", [scope]))


def test_bob_is_counted_below_his_warning_level_until_he_tops_up(world: Any) -> None:
    setup_prepaid(world)
    scopes = scopes_of(world.view("registry", "meter", [world.meters["bob"]]))
    world.ok(world.bob, "registry", "set_low_balance_threshold", [world.meters["bob"], 1_000], at=PT0 - 20)
    buy(world, 3_000, "V-1", at=PT0 - 10)
    prepaid_read(world, PT0, 1_500)  # 1,500 left: above
    assert [below(world, s) for s in scopes] == [0, 0, 0]
    prepaid_read(world, PT0 + HOUR, 2_100)  # 900 left: warned
    assert [below(world, s) for s in scopes] == [1, 1, 1]
    prepaid_read(world, PT0 + 2 * HOUR, 2_200)  # 800: still below, counted once
    assert below(world, world.utility) == 1
    buy(world, 2_000, "V-2", at=PT0 + 2 * HOUR + 10)  # 2,800: above again
    assert [below(world, s) for s in scopes] == [0, 0, 0]
    prepaid_read(world, PT0 + 4 * HOUR, 4_100)  # 900 again
    assert below(world, world.utility) == 1
    assert below(world, "ELEC/ELSEWHERE") == 0


def test_invalid_a_top_up_that_stays_below_the_level_does_not_uncount(world: Any) -> None:
    setup_prepaid(world)
    world.ok(world.bob, "registry", "set_low_balance_threshold", [world.meters["bob"], 1_000], at=PT0 - 20)
    buy(world, 3_000, "V-1", at=PT0 - 10)
    prepaid_read(world, PT0, 2_500)  # 500 left: warned
    buy(world, 100, "V-2", at=PT0 + 10)  # 600: still below
    assert below(world, world.utility) == 1
