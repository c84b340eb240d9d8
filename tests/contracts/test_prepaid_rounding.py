"""Prepaid rounding that cannot be gamed (issue 9, item 10): a subscription's consumption is
priced one local day at a time, as a whole, exactly; each reading charges the rounded sum of
its days minus what was charged before, so how often the consumer reads within a day never
changes what they pay, and what was charged never differs from the exact price by more than
half a minor unit; a day that costs less once read further is credited back.

Bob (``world.bob``) is the prepaid consumer on meter ``MTR-B``. Figures are computed by hand
from docs/tariffs.md, never read back from the contract.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.conftest import GENESIS_TIME, fresh_world
from tests.contracts.test_billing_support import DAY, HOUR, half_up

D1 = GENESIS_TIME + 2 * DAY  # Friday 2025-01-03 00:00 UTC: a local midnight of the tariffs below
MINUTE = 60
# 0.03 a Wh: 16 Wh is 0.48, which a reading priced on its own rounds to 0.
CHEAP = {"standing_charge_per_day": 0, "tiers": [[None, 30_000]], "tax_bp": 0}
# An increasing block: the first 10,000 Wh a day at 0.1 a Wh, the rest at 0.5; a standing
# charge of 0.77 a day; 18 % tax.
BLOCKS = {"standing_charge_per_day": 77, "tiers": [[10_000, 100_000], [None, 500_000]], "tax_bp": 1_800}


FREE = {"standing_charge_per_day": 0, "tiers": [[None, 0]], "tax_bp": 0}
EXACT = 1_000_000 * DAY  # exact units a minor unit (billing/prepaid.py)


def prepaid_world(spec: dict[str, Any], then: dict[str, Any] | None = None) -> Any:
    """Bob's meter on ``spec`` from D1 (free before: the charges start from 0 there), on
    ``then`` from noon that day if given, plenty of credit, and a baseline reading of 0 at D1."""
    w = fresh_world()
    w.ok(w.admin, "billing", "set_tariff", [w.utility, "P", FREE, w.chain.time + 1])
    w.ok(w.admin, "billing", "set_tariff", [w.utility, "P", spec, D1])
    if then is not None:
        w.ok(w.admin, "billing", "set_tariff", [w.utility, "P", then, D1 + 12 * HOUR])
    w.ok(w.operator, "billing", "assign_tariff", [w.meters["bob"], "P"])
    w.ok(w.admin, "payments", "register_vendor_float", [w.utility, w.vendor.public_key, 10_000_000])
    w.ok(w.vendor, "payments", "buy_credit", [w.meters["bob"], 5_000_000, "V-1"])
    read_all(w, [(D1, 0)])
    return w


def read_all(w: Any, readings: list[tuple[int, int]]) -> int:
    """Bob submits ``readings`` [(time, index)] in batches of 20 (a block each); returns the
    total charged."""
    total = 0
    for at in range(0, len(readings), 20):
        chunk = readings[at:at + 20]
        items = [[w.meters["bob"], "1.8.0", ts, index, "consumer", b"", b""] for ts, index in chunk]
        r = w.chain.call(w.bob, "billing", "submit_readings", [items], at=chunk[-1][0])
        assert r.ok, r.error
        assert w.chain.return_value(r) == {"accepted": len(items), "rejected": 0}
        total += sum(int(e["amount"]) for e in w.chain.events(r, "prepaid_charge"))
    return total


def credit(w: Any) -> int:
    return int(w.view("payments", "credit", [w.meters["bob"]]))


def test_basic_hundred_readings_of_16_wh_cost_what_one_of_1600_wh_costs() -> None:
    w = prepaid_world(CHEAP)
    once = copy.deepcopy(w)
    split = read_all(w, [(D1 + 10 * MINUTE * k, 16 * k) for k in range(1, 101)])
    whole = read_all(once, [(D1 + 1_000 * MINUTE, 1_600)])
    assert whole == half_up(1_600 * 30_000, 1_000_000) == 48
    assert split == whole and credit(w) == credit(once)


def test_invalid_hundred_readings_never_round_to_nothing() -> None:
    # The twin: what is charged reading by reading is what the day costs so far, never 0
    # for the lot (priced one by one, each 16 Wh would cost 0.48 -> 0).
    w = prepaid_world(CHEAP)
    before = credit(w)
    charged = [read_all(w, [(D1 + 10 * MINUTE * k, 16 * k)]) for k in range(1, 11)]
    assert charged == [half_up(16 * k * 30_000, 1_000_000) - half_up(16 * (k - 1) * 30_000, 1_000_000)
                       for k in range(1, 11)]
    assert before - credit(w) == half_up(160 * 30_000, 1_000_000) == 5


def exact(units: int, seconds: int) -> int:
    """A day (or part of one) of BLOCKS read over ``seconds``, priced exactly, tax included,
    in 1/(EXACT * 10,000) of a minor unit (docs/tariffs.md, without the rounding)."""
    limit = 10_000 * seconds // DAY
    low = min(units, limit)
    taxable = 77 * seconds * 1_000_000 + (low * 100_000 + (units - low) * 500_000) * DAY
    return taxable * (10_000 + 1_800)


def rounded(exact_total: int) -> int:
    return half_up(exact_total, EXACT * 10_000)


def test_basic_a_day_read_further_costs_less_and_is_credited_back() -> None:
    # 5,000 Wh by 06:00: a quarter day's allowance (2,500 Wh) at 0.1, the rest at 0.5. Read
    # again at midnight with nothing more used, the whole day's 10,000 Wh allowance covers
    # it all: the day costs less than was charged, and the difference comes back.
    w = prepaid_world(BLOCKS)
    start = credit(w)
    morning = read_all(w, [(D1 + 6 * HOUR, 5_000)])
    assert morning == rounded(exact(5_000, 6 * HOUR)) == half_up((19_25 + 250_00 + 1_250_00) * 11_800, 1_000_000)
    r = w.ok(w.bob, "billing", "submit_reading", [w.meters["bob"], "1.8.0", D1 + DAY, 5_000, "consumer", b"", b""],
             at=D1 + DAY)
    [charge] = w.chain.events(r, "prepaid_charge")
    assert charge["amount"] == rounded(exact(5_000, DAY)) - morning < 0
    [back] = w.chain.events(r, "credit_returned")
    assert back["amount"] == -charge["amount"]
    assert start - credit(w) == rounded(exact(5_000, DAY))
    assert w.view("payments", "account", [w.meters["bob"]])["charged"] == rounded(exact(5_000, DAY))


# From noon: 0.3 a Wh flat, no standing charge, 5 % tax.
NOON = {"standing_charge_per_day": 0, "tiers": [[None, 300_000]], "tax_bp": 500}


def exact_noon(units: int) -> int:
    """NOON's share of a day, exact, in the unit of ``exact``."""
    return units * 300_000 * DAY * (10_000 + 500)


def test_basic_a_tariff_change_within_the_day_prices_each_version_s_share() -> None:
    # 8,000 Wh in the morning, 6,000 in the afternoon, read at noon and at midnight: the
    # morning's share at BLOCKS over its 12 hours (5,000 Wh allowance), the afternoon's at
    # NOON; the day's sum rounded once.
    w = prepaid_world(BLOCKS, then=NOON)
    paid = read_all(w, [(D1 + 12 * HOUR, 8_000), (D1 + DAY, 14_000)])
    assert paid == rounded(exact(8_000, 12 * HOUR) + exact_noon(6_000))


def test_basic_readings_split_at_random_around_a_tariff_change_pay_what_two_do() -> None:
    # Any readings within each half of the day, the change at noon among them, pay what the
    # readings at noon and midnight pay.
    w = prepaid_world(BLOCKS, then=NOON)
    split = copy.deepcopy(w)
    read_all(split, [(D1 + 3 * HOUR, 1_000), (D1 + 12 * HOUR, 8_000), (D1 + 13 * HOUR, 8_500),
                     (D1 + 20 * HOUR, 12_000), (D1 + DAY, 14_000)])
    read_all(w, [(D1 + 12 * HOUR, 8_000), (D1 + DAY, 14_000)])
    assert credit(split) == credit(w)


def test_invalid_a_reading_across_a_tariff_change_is_split_by_time_not_by_the_reader() -> None:
    # One reading over the whole day cannot say when the 14,000 Wh were used: half the day
    # at each version, so 7,000 Wh to each, as an invoice splits a span at a tariff change.
    w = prepaid_world(BLOCKS, then=NOON)
    assert read_all(w, [(D1 + DAY, 14_000)]) == rounded(exact(7_000, 12 * HOUR) + exact_noon(7_000))


def test_invalid_credit_back_by_anyone_but_billing() -> None:
    w = prepaid_world(BLOCKS)
    before = credit(w)
    for who in (w.bob, w.operator, w.admin):
        assert "contract:billing" in w.fail(who, "payments", "charge_prepaid", [w.meters["bob"], -500, "x"])
    assert credit(w) == before


def test_basic_midnight_splits_a_reading_pro_rata_and_each_day_is_priced_whole() -> None:
    # 12,000 Wh from 18:00 to 06:00 the next day: 6,000 Wh on each day by time; the first
    # day priced whole (its 10,000 Wh allowance), the second over its six hours (2,500 Wh).
    w = prepaid_world(BLOCKS)
    evening = read_all(w, [(D1 + 18 * HOUR, 0)])
    assert evening == rounded(exact(0, 18 * HOUR))
    morning = read_all(w, [(D1 + DAY + 6 * HOUR, 12_000)])
    assert evening + morning == rounded(exact(6_000, DAY) + exact(6_000, 6 * HOUR))


def test_basic_a_long_absence_is_priced_day_by_day_and_rounded_once() -> None:
    # 300 days without a reading, 900,000 Wh: 3,000 Wh a day, each day priced whole, the
    # sum rounded once (whole days alike are priced once, so the gas does not grow with them).
    w = prepaid_world(BLOCKS)
    assert read_all(w, [(D1 + 300 * DAY, 900_000)]) == rounded(300 * exact(3_000, DAY))


def test_invalid_rounding_never_drifts_over_many_days() -> None:
    # 1,000 Wh over 15 days at 0.25 a Wh: 66 or 67 Wh a day, 16.5 a day if each day were
    # rounded on its own (17 x 15 = 255); carried, exactly 250.
    w = prepaid_world({"standing_charge_per_day": 0, "tiers": [[None, 250_000]], "tax_bp": 0})
    assert read_all(w, [(D1 + 15 * DAY, 1_000)]) == 250


@st.composite
def split_days(draw: Any) -> list[list[tuple[int, int]]]:
    """One to three days, each with up to five readings at random instants; per reading a
    random consumption. Returned per day as [(seconds into the day, Wh since the last)]."""
    days = []
    for _ in range(draw(st.integers(1, 3))):
        instants = sorted(draw(st.sets(st.integers(1, DAY - 1), max_size=5)))
        days.append([(t, draw(st.integers(0, 9_000))) for t in [*instants, DAY]])
    return days


_BASE: dict[str, Any] = {}


def base(spec_name: str) -> Any:
    if spec_name not in _BASE:
        _BASE[spec_name] = prepaid_world(BLOCKS if spec_name == "blocks" else CHEAP)
    return copy.deepcopy(_BASE[spec_name])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days=split_days(), spec_name=st.sampled_from(["blocks", "cheap"]))
def test_property_any_split_within_each_day_pays_what_one_reading_a_day_pays(
        days: list[list[tuple[int, int]]], spec_name: str) -> None:
    split, daily = base(spec_name), base(spec_name)
    readings, ends = [], []
    index = 0
    for d, day in enumerate(days):
        for t, used in day:
            index += used
            readings.append((D1 + d * DAY + t, index))
        ends.append((D1 + (d + 1) * DAY, index))
    paid_split = read_all(split, readings)
    paid_daily = read_all(daily, ends)
    assert paid_split == paid_daily
    assert credit(split) == credit(daily)
    if spec_name == "blocks":
        used = [sum(u for _, u in day) for day in days]
        assert paid_daily == rounded(sum(exact(u, DAY) for u in used))
