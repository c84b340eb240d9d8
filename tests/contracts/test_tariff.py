"""Tariffs: who sets them, what a valid spec is, flat / tiered / time-of-use / standing
charge / tax pricing, and bills split exactly at a price change's effective date."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.conftest import GENESIS_TIME
from tests.contracts.test_billing_support import DAY, HOUR, RES_SPEC, read, setup_tariff

T1 = GENESIS_TIME + DAY


def close(w: Any, meter: str = "MTR-A", at: int | None = None) -> dict[str, Any]:
    return w.chain.return_value(w.ok(w.operator, "billing", "close_period", [meter], at=at))


def baseline(w: Any, index: int = 0, at: int = T1) -> None:
    assert read(w, w.alice, "MTR-A", at, index).ok
    close(w, at=at + 1)


def test_admin_sets_a_tariff_version(world: Any) -> None:
    w = world
    eff = w.chain.time + 10
    r = w.ok(w.admin, "billing", "set_tariff", ["ELEC", "RES", RES_SPEC, eff])
    [ev] = w.chain.events(r, "tariff_set")
    assert (ev["tariff"], ev["effective_from"], ev["version"], ev["by"]) == ("RES", eff, 0, w.admin.public_key)
    versions = w.view("billing", "tariff", ["ELEC", "RES"])
    assert [v["effective_from"] for v in versions] == [eff]
    assert versions[0]["spec"] == RES_SPEC


def test_invalid_tariff_set_by_a_non_admin(world: Any) -> None:
    w = world
    err = w.fail(w.operator, "billing", "set_tariff", ["ELEC", "RES", RES_SPEC, w.chain.time + 10])
    assert "admin of utility ELEC expected" in err


def test_invalid_tariff_set_by_the_admin_of_another_utility(world: Any) -> None:
    w = world
    other = w.chain.actor("water-admin")
    w.ok(w.gov, "registry", "register_utility", ["WATER", "Water Co", "water", "TRY", "auto", other.public_key])
    err = w.fail(other, "billing", "set_tariff", ["ELEC", "RES", RES_SPEC, w.chain.time + 10])
    assert "admin of utility ELEC expected" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tiers": [[10_000, 200_000]]}, "the last tier unbounded"),
        ({"tiers": [[10_000, 1], [5_000, 2], [None, 3]]}, "tier limits increasing above 10000"),
        ({"tiers": [[None, -1]]}, "tier price_micro >= 0 expected"),
        ({"tax_bp": 10_001}, "tax_bp in [0, 10000] expected"),
        ({"standing_charge_per_day": -5}, "standing_charge_per_day >= 0"),
        ({"tou": [[0, 600, 1], [700, 1440, 2]]}, "a window from minute 600"),
        ({"tou": [[0, 600, 1]]}, "covering the whole day"),
        ({"vat": 18}, "tariff keys among"),
    ],
)
def test_invalid_tariff_spec(world: Any, change: dict[str, Any], message: str) -> None:
    w = world
    err = w.fail(w.admin, "billing", "set_tariff", ["ELEC", "RES", {**RES_SPEC, **change}, w.chain.time + 10])
    assert message in err


def test_invalid_retroactive_price_change(world: Any) -> None:
    w = world
    err = w.fail(w.admin, "billing", "set_tariff", ["ELEC", "RES", RES_SPEC, w.chain.time - DAY])
    assert "prices never change retroactively" in err


def test_invalid_version_not_after_the_last(world: Any) -> None:
    w = world
    eff = w.chain.time + 10 * DAY
    w.ok(w.admin, "billing", "set_tariff", ["ELEC", "RES", RES_SPEC, eff])
    err = w.fail(w.admin, "billing", "set_tariff", ["ELEC", "RES", RES_SPEC, eff - DAY])
    assert f"a version effective after {eff} expected" in err


def test_operator_assigns_a_tariff(world: Any) -> None:
    w = world
    w.ok(w.admin, "billing", "set_tariff", ["ELEC", "RES", RES_SPEC, w.chain.time + 1])
    r = w.ok(w.operator, "billing", "assign_tariff", ["MTR-A", "RES"])
    assert w.chain.events(r, "tariff_assigned")[0]["tariff"] == "RES"
    assert w.view("billing", "assigned_tariff", ["MTR-A"]) == "RES"


def test_invalid_tariff_assignment_by_the_consumer(world: Any) -> None:
    w = world
    w.ok(w.admin, "billing", "set_tariff", ["ELEC", "RES", RES_SPEC, w.chain.time + 1])
    err = w.fail(w.alice, "billing", "assign_tariff", ["MTR-A", "RES"])
    assert "admin or operator of utility ELEC expected" in err


def test_invalid_assignment_of_an_unknown_tariff(world: Any) -> None:
    w = world
    err = w.fail(w.admin, "billing", "assign_tariff", ["MTR-A", "NOPE"])
    assert "tariff NOPE of utility ELEC expected, found none" in err


def test_invalid_reading_without_a_tariff(world: Any) -> None:
    w = world
    r = read(w, w.alice, "MTR-A", T1, 100)
    assert not r.ok
    assert "a tariff assigned to meter MTR-A expected" in r.error


def test_flat_rate_with_standing_charge_and_tax(world: Any) -> None:
    w = world
    spec = {"standing_charge_per_day": 120, "tiers": [[None, 250_000]], "tax_bp": 1_800}
    setup_tariff(w, spec, tariff_id="FLAT", meters=("MTR-A",))
    baseline(w)
    assert read(w, w.alice, "MTR-A", T1 + 3 * DAY, 12_345).ok
    inv = close(w)
    # standing 3 x 120 = 360; 12,345 Wh x 0.25 kuruş = 3,086.25 -> 3,086; taxable 3,446;
    # tax 18 % = 620.28 -> 620; total 4,066.
    assert [ln["amount"] for ln in inv["lines"]] == [360, 3_086]
    assert (inv["subtotal"], inv["tax"], inv["total"]) == (3_446, 620, 4_066)


def test_tiers_are_daily_allowances_times_the_days_billed(world: Any) -> None:
    w = world
    spec = {"standing_charge_per_day": 0, "tiers": [[5_000, 100_000], [8_000, 200_000], [None, 400_000]],
            "tax_bp": 0}
    setup_tariff(w, spec, tariff_id="BLOCKS", meters=("MTR-A",))
    baseline(w)
    assert read(w, w.alice, "MTR-A", T1 + 10 * DAY, 100_000).ok
    inv = close(w)
    # 10 days: 50,000 Wh at 0.1 = 5,000; next 30,000 at 0.2 = 6,000; last 20,000 at 0.4 = 8,000.
    assert [(ln["units"], ln["amount"]) for ln in inv["lines"]] == [(50_000, 5_000), (30_000, 6_000), (20_000, 8_000)]
    assert inv["total"] == 19_000


def test_time_of_use_windows_price_interval_consumption(world: Any) -> None:
    w = world
    spec = {"standing_charge_per_day": 0, "tiers": [[None, 200_000]], "tax_bp": 0, "utc_offset": 3 * HOUR,
            "tou": [[0, 420, 100_000], [420, 1320, 300_000], [1320, 1440, 100_000]]}
    setup_tariff(w, spec, tariff_id="TOU", meters=("MTR-A",))
    # A local day (UTC+3) starts at 21:00 UTC; 1,000 Wh every hour.
    day = GENESIS_TIME + 2 * DAY - 3 * HOUR
    indexes = [1_000 * k for k in range(25)]
    w.ok(w.collector, "billing", "submit_load_profile", ["MTR-A", "1.8.0", day, HOUR, indexes], at=day + DAY)
    inv = close(w, at=day + DAY + 1)
    # Night (00-07 and 22-24 local): 9 h x 1,000 Wh x 0.1 = 900; day: 15 h x 1,000 x 0.3 = 4,500.
    windows = sorted((ln["detail"], ln["units"], ln["amount"]) for ln in inv["lines"] if ln["kind"] == "energy")
    assert windows == [("window 0-420", 7_000, 700), ("window 1320-1440", 2_000, 200),
                       ("window 420-1320", 15_000, 4_500)]
    assert inv["total"] == 5_400


def two_versions(w: Any, change_at: int) -> None:
    v1 = {"standing_charge_per_day": 100, "tiers": [[None, 200_000]], "tax_bp": 2_000}
    v2 = {"standing_charge_per_day": 150, "tiers": [[None, 300_000]], "tax_bp": 1_000}
    at = w.chain.time + 1
    w.ok(w.admin, "billing", "set_tariff", ["ELEC", "RES", v1, at], at=at)
    w.ok(w.admin, "billing", "set_tariff", ["ELEC", "RES", v2, change_at])
    w.ok(w.admin, "billing", "assign_tariff", ["MTR-A", "RES"])


def test_price_change_splits_the_bill_exactly_at_the_effective_date(world: Any) -> None:
    w = world
    change = GENESIS_TIME + 10 * DAY
    two_versions(w, change)
    baseline(w)
    assert read(w, w.alice, "MTR-A", change, 10_000).ok
    assert read(w, w.alice, "MTR-A", change + 2 * DAY, 30_000).ok
    inv = close(w)
    # Before: 9 days x 100 = 900 standing, 10,000 Wh x 0.2 = 2,000 (taxable 2,900 at 20 %);
    # after: 2 days x 150 = 300, 20,000 Wh x 0.3 = 6,000 (taxable 6,300 at 10 %).
    # tax = half_up(2,900 x 2,000 + 6,300 x 1,000, 10,000) = 1,210.
    assert [(ln["effective_from"] == change, ln["amount"]) for ln in inv["lines"]] == [
        (False, 900), (False, 2_000), (True, 300), (True, 6_000)]
    assert (inv["subtotal"], inv["tax"], inv["total"]) == (9_200, 1_210, 10_410)


def test_consumption_across_a_price_change_is_split_pro_rata(world: Any) -> None:
    w = world
    change = GENESIS_TIME + 10 * DAY
    two_versions(w, change)
    baseline(w, at=change - DAY)
    # One reading a day after the change: 20,001 Wh over 2 days, half the time each side:
    # floor(20,001 / 2) = 10,000 before, the remaining 10,001 after.
    assert read(w, w.alice, "MTR-A", change + DAY, 20_001).ok
    inv = close(w)
    energy = [(ln["units"], ln["amount"]) for ln in inv["lines"] if ln["kind"] == "energy"]
    assert energy == [(10_000, 2_000), (10_001, 3_000)]
    # 100 + 2,000 = 2,100 at 20 %; 150 + 3,000 = 3,150 at 10 %: tax 735.
    assert (inv["subtotal"], inv["tax"], inv["total"]) == (5_250, 735, 5_985)


def test_invalid_tou_load_profile_by_a_stranger(world: Any) -> None:
    w = world
    setup_tariff(w, meters=("MTR-A",))
    day = GENESIS_TIME + 2 * DAY
    stranger = w.chain.actor("mallory")
    err = w.fail(stranger, "billing", "submit_load_profile", ["MTR-A", "1.8.0", day, HOUR, [0] * 25],
                 at=day + DAY)
    assert "active subscriber of meter MTR-A expected" in err
