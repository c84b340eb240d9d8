"""The state holds what a later decision needs, never a history (docs/state.md, "What the
state holds"): once a meter has been read, more readings of it, however many and however
submitted (one by one, in a collector's batch, as a day's load profile), add no key to the
state. A reading's history is its event in the block's receipts."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.conftest import DIGITS, MAX_RATE, build_world
from tests.contracts.test_billing_support import DAY, HOUR, reading_args, setup_tariff

MODULUS = 10**DIGITS
PROPERTY_SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def state_keys(w: Any) -> list[bytes]:
    out: list[bytes] = []
    after = b""
    while page := w.chain.state.scan(b"", after, 1000):
        out.extend(page)
        after = page[-1]
    return out


# One step: ("one", hours since the last reading) | ("batch", hours, readings) | ("profile", days).
# At most 24 hours at the maximum rate between two readings: a wrap of the 6-digit register
# stays under half of it, so every roll-over is plausible and every reading accepted.
STEP = st.one_of(
    st.tuples(st.just("one"), st.integers(min_value=1, max_value=24)),
    st.tuples(st.just("batch"), st.integers(min_value=1, max_value=24), st.integers(min_value=1, max_value=30)),
    st.tuples(st.just("profile"), st.integers(min_value=1, max_value=3)),
)


@PROPERTY_SETTINGS
@given(steps=st.lists(STEP, min_size=1, max_size=6), per_hour=st.integers(min_value=0, max_value=MAX_RATE))
def test_state_keys_stay_constant_however_many_readings_a_meter_has(steps: list[Any], per_hour: int) -> None:
    w = build_world()
    setup_tariff(w, meters=("MTR-A",))
    t = w.chain.time + HOUR
    index = 0
    w.ok(w.collector, "billing", "submit_reading", reading_args("MTR-A", t, index, "collector"), at=t)
    before = state_keys(w)
    readings = 1
    for step in steps:
        if step[0] == "one":
            t += step[1] * HOUR
            index += step[1] * per_hour
            w.ok(w.collector, "billing", "submit_reading", reading_args("MTR-A", t, index % MODULUS, "collector"), at=t)
            readings += 1
        elif step[0] == "batch":
            batch = []
            for _ in range(step[2]):
                t += step[1] * HOUR
                index += step[1] * per_hour
                batch.append(reading_args("MTR-A", t, index % MODULUS, "collector"))
            r = w.ok(w.collector, "billing", "submit_readings", [batch], at=t)
            assert w.chain.return_value(r) == {"accepted": step[2], "rejected": 0}
            readings += step[2]
        else:
            for _ in range(step[1]):
                day_start = t + HOUR
                indexes = [(index + k * per_hour) % MODULUS for k in range(25)]
                t = day_start + DAY
                index += 24 * per_hour
                w.ok(w.collector, "billing", "submit_load_profile", ["MTR-A", "1.8.0", day_start, HOUR, indexes],
                     at=t)
                readings += 25
    assert w.view("billing", "last_reading", ["MTR-A"])["index"] == index % MODULUS
    after = state_keys(w)
    assert after == before, (readings, sorted(set(after) - set(before)))


def test_a_year_of_daily_readings_leaves_the_meter_its_keys_of_the_first_day() -> None:
    # Alice's meter, read by the collector every day of a year in monthly batches.
    w = build_world()
    setup_tariff(w, meters=("MTR-A",))
    t = w.chain.time + HOUR
    w.ok(w.collector, "billing", "submit_reading", reading_args("MTR-A", t, 0, "collector"), at=t)
    meter_keys = [k for k in state_keys(w) if b"MTR-A" in k]
    total = len(state_keys(w))
    for month in range(12):
        batch = [reading_args("MTR-A", t + (30 * month + d) * DAY, (30 * month + d) * 9_000 % MODULUS, "collector")
                 for d in range(1, 31)]
        r = w.ok(w.collector, "billing", "submit_readings", [batch], at=t + 30 * (month + 1) * DAY)
        assert w.chain.return_value(r) == {"accepted": 30, "rejected": 0}
    assert [k for k in state_keys(w) if b"MTR-A" in k] == meter_keys
    assert len(state_keys(w)) == total
