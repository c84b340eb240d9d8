"""Property tests of billing through the chain (each example runs real blocks, so the
example counts are modest): roll-overs never lose or invent consumption, and the bill does
not depend on how the readings were packed into blocks and transactions."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.conftest import DIGITS, MAX_RATE, build_world
from tests.contracts.test_billing_support import DAY, HOUR, reading_args, setup_tariff

MODULUS = 10**DIGITS
FLAT = {"standing_charge_per_day": 0, "tiers": [[None, 1_000_000]], "tax_bp": 0}  # 1 minor unit per unit

PROPERTY_SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(
    start=st.integers(min_value=0, max_value=MODULUS - 1),
    steps=st.lists(st.integers(min_value=0, max_value=MAX_RATE * 24), min_size=1, max_size=12),
)
def test_roll_overs_bill_exactly_the_true_consumption(start: int, steps: list[int]) -> None:
    # Daily readings of at most one day's maximum (480 kWh < 10**6 Wh): every wrap of the
    # 6-digit register is a plausible roll-over and must count index + 10**6 - last.
    w = build_world()
    setup_tariff(w, FLAT, tariff_id="FLAT", meters=("MTR-A",))
    t = w.chain.time + HOUR
    w.ok(w.collector, "billing", "submit_reading", reading_args("MTR-A", t, start, "collector"), at=t)
    w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=t + 1)
    index = start
    batch = []
    for k, units in enumerate(steps, start=1):
        index = (index + units) % MODULUS
        batch.append(reading_args("MTR-A", t + k * DAY, index, "collector"))
    end = t + len(steps) * DAY
    r = w.chain.call(w.collector, "billing", "submit_readings", [batch], at=end)
    assert w.chain.return_value(r) == {"accepted": len(steps), "rejected": 0}
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=end + 1))
    assert inv["consumption"] == sum(steps)
    assert inv["total"] == sum(steps)


def run_packing(readings: list[tuple[str, int, int]], packing: list[int], period_end: int) -> list[Any]:
    """Bill ``readings`` [(meter, t, index)] with the given packing of readings per block."""
    w = build_world()
    for name in ("carol",):
        w.new_consumer(name)
    setup_tariff(w, meters=("MTR-A", "MTR-CAROL"))
    pending = sorted(readings, key=lambda r: (r[1], r[0]))
    i = 0
    sizes = iter(packing)
    while i < len(pending):
        n = max(1, next(sizes, len(pending)))
        chunk = pending[i : i + n]
        i += n
        at = max(r[1] for r in chunk)
        # Half the chunk goes as single readings, the rest as one collector batch.
        calls = [(w.collector, "billing", "submit_reading", reading_args(m, t, x, "collector"))
                 for m, t, x in chunk[: len(chunk) // 2]]
        rest = [reading_args(m, t, x, "collector") for m, t, x in chunk[len(chunk) // 2 :]]
        calls.append((w.collector, "billing", "submit_readings", [rest]))
        assert all(r.ok for r in w.chain.block(calls, at=max(at, w.chain.time + 1)))
    r = w.chain.call(w.operator, "billing", "run_billing", ["ELEC", period_end, "", 10], at=period_end + 10 * DAY)
    assert r.ok, r.error
    return [w.view("billing", "invoices", [m]) for m in ("MTR-A", "MTR-CAROL")]


@PROPERTY_SETTINGS
@given(
    deltas=st.lists(st.tuples(st.integers(0, 1), st.integers(1, 30), st.integers(0, 300_000)),
                    min_size=2, max_size=10),
    packing=st.lists(st.integers(1, 4), min_size=1, max_size=10),
)
def test_the_bill_does_not_depend_on_how_readings_are_split_across_blocks(
    deltas: list[tuple[int, int, int]], packing: list[int]
) -> None:
    base = build_world().chain.time + DAY
    clocks = {"MTR-A": [base, 0], "MTR-CAROL": [base, 0]}
    readings = []
    for which, hours, units in deltas:
        meter = ("MTR-A", "MTR-CAROL")[which]
        clocks[meter][0] += hours * HOUR
        clocks[meter][1] = (clocks[meter][1] + min(units, MAX_RATE * hours)) % MODULUS
        readings.append((meter, clocks[meter][0], clocks[meter][1]))
    period_end = max(c[0] for c in clocks.values())
    one_per_block = run_packing(readings, [1] * len(readings), period_end)
    packed = run_packing(readings, packing, period_end)
    assert packed == one_per_block
