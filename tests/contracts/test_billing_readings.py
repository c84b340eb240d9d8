"""Readings through the billing contract: who may submit, validation, trust, anomalies,
collector batches and load profiles. Each accepted case has a ``test_invalid_*`` twin."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.conftest import GENESIS_TIME
from tests.contracts.test_billing_support import (
    DAY,
    HOUR,
    meter_public_key,
    meter_seed,
    meter_sign,
    read,
    reading_args,
    setup_tariff,
)

T1 = GENESIS_TIME + DAY
T2 = GENESIS_TIME + 2 * DAY


@pytest.fixture
def w(world: Any) -> Any:
    setup_tariff(world)
    return world


def test_alice_submits_a_consumer_reading(w: Any) -> None:
    r = read(w, w.alice, "MTR-A", T1, 5_000)
    assert r.ok, r.error
    [ev] = w.chain.events(r, "reading")
    assert (ev["meter"], ev["index"], ev["consumption"], ev["trust"], ev["by"]) == (
        "MTR-A", 5_000, 5_000, "consumer", w.alice.public_key)
    last = w.view("billing", "last_reading", ["MTR-A"])
    assert (last["timestamp"], last["index"], last["trust"]) == (T1, 5_000, "consumer")


def test_invalid_reading_by_someone_elses_consumer(w: Any) -> None:
    r = read(w, w.bob, "MTR-A", T1, 5_000)
    assert not r.ok
    assert "active subscriber of meter MTR-A expected" in r.error


def test_collector_submits_a_reading(w: Any) -> None:
    r = read(w, w.collector, "MTR-A", T1, 7_000, trust="collector")
    assert r.ok, r.error
    assert w.chain.events(r, "reading")[0]["trust"] == "collector"


def test_invalid_collector_reading_by_an_operator(w: Any) -> None:
    r = read(w, w.operator, "MTR-A", T1, 7_000, trust="collector")
    assert not r.ok
    assert "data collector of meter MTR-A expected" in r.error


def test_meter_signed_reading_is_accepted_from_anyone(w: Any) -> None:
    seed = meter_seed("smart")
    carol = w.new_consumer("carol", public_key=meter_public_key(seed))
    setup_tariff(w, tariff_id="SMART", meters=("MTR-CAROL",))
    sig = meter_sign(seed, "MTR-CAROL", "1.8.0", 1_234, "Wh", T1)
    relay = w.chain.actor("some-relay")
    r = read(w, relay, "MTR-CAROL", T1, 1_234, trust="meter", signature=sig)
    assert r.ok, r.error
    assert w.chain.events(r, "reading")[0]["trust"] == "meter"
    assert carol.public_key != relay.public_key


def test_invalid_meter_signature_over_another_index(w: Any) -> None:
    seed = meter_seed("smart")
    w.new_consumer("carol", public_key=meter_public_key(seed))
    setup_tariff(w, tariff_id="SMART", meters=("MTR-CAROL",))
    sig = meter_sign(seed, "MTR-CAROL", "1.8.0", 1_234, "Wh", T1)
    r = read(w, w.chain.actor("some-relay"), "MTR-CAROL", T1, 9_999, trust="meter", signature=sig)
    assert not r.ok
    assert "signature of meter MTR-CAROL" in r.error


def test_invalid_meter_signed_reading_for_a_meter_without_key(w: Any) -> None:
    r = read(w, w.alice, "MTR-A", T1, 1, trust="meter", signature=bytes(64))
    assert not r.ok
    assert "registered public key expected" in r.error


def test_reading_at_block_time_is_accepted(w: Any) -> None:
    assert read(w, w.alice, "MTR-A", T1, 100, at=T1).ok


def test_invalid_reading_in_the_future(w: Any) -> None:
    r = read(w, w.alice, "MTR-A", T1 + 60, 100, at=T1)
    assert not r.ok
    assert f"not in the future (<= {T1}) expected" in r.error


def test_readings_move_forward(w: Any) -> None:
    assert read(w, w.alice, "MTR-A", T1, 5_000).ok
    r = read(w, w.alice, "MTR-A", T2, 9_000)
    assert r.ok, r.error
    assert w.chain.events(r, "reading")[0]["consumption"] == 4_000


def test_invalid_reading_backwards(w: Any) -> None:
    assert read(w, w.alice, "MTR-A", T1, 5_000).ok
    r = read(w, w.alice, "MTR-A", T2, 4_000)
    assert not r.ok
    assert "index >= 5000 expected for meter MTR-A" in r.error


def test_roll_over_at_the_register_limit_counts_the_true_consumption(w: Any) -> None:
    # 6 digits: the register wraps at 1,000,000.
    w.ok(w.collector, "billing", "submit_reading", reading_args("MTR-A", T1, 399_000, "collector"), at=T1)
    w.ok(w.collector, "billing", "submit_reading", reading_args("MTR-A", T1 + DAY, 750_000, "collector"),
         at=T1 + DAY)
    w.ok(w.collector, "billing", "submit_reading", reading_args("MTR-A", T1 + 2 * DAY, 999_500, "collector"),
         at=T1 + 2 * DAY)
    r = read(w, w.collector, "MTR-A", T1 + 3 * DAY, 1_500, trust="collector")
    assert r.ok, r.error
    ev = w.chain.events(r, "reading")[0]
    assert ev["consumption"] == 2_000
    assert ev["trust"] == "collector"


def test_invalid_roll_over_that_is_implausible(w: Any) -> None:
    # 999,500 -> 1,500 one hour later would be 2,000 Wh in an hour: plausible (max 20,000).
    # 999,500 -> 300,000 one hour later would be 300,500 Wh in an hour: rejected, not wrapped.
    w.ok(w.collector, "billing", "submit_reading", reading_args("MTR-A", T1, 999_500, "collector"),
         at=T1 + 10)
    r = read(w, w.collector, "MTR-A", T1 + HOUR, 300_000, trust="collector")
    assert not r.ok
    assert "index >= 999500 expected" in r.error


def test_invalid_duplicate_timestamp(w: Any) -> None:
    assert read(w, w.alice, "MTR-A", T1, 5_000).ok
    r = read(w, w.alice, "MTR-A", T1, 5_000, at=T1 + 5)
    assert not r.ok
    assert "found a duplicate" in r.error


def test_reading_event_carries_its_raw_hash(w: Any) -> None:
    # The state keeps no key per reading: the event is the reading's history (docs/state.md).
    raw = bytes(range(32))
    r = read(w, w.alice, "MTR-A", T1, 5_000, raw=raw)
    assert r.ok, r.error
    [ev] = w.chain.events(r, "reading")
    assert (ev["meter"], ev["timestamp"], ev["index"], ev["raw_hash"]) == ("MTR-A", T1, 5_000, raw)


def test_invalid_replayed_meter_signed_reading(w: Any) -> None:
    # The replay guard is the meter's strictly increasing time: a meter's signed reading
    # relayed again, by anyone, in a later block, is the same reading and is refused.
    seed = meter_seed("smart")
    w.new_consumer("carol", public_key=meter_public_key(seed))
    setup_tariff(w, tariff_id="SMART", meters=("MTR-CAROL",))
    sig = meter_sign(seed, "MTR-CAROL", "1.8.0", 1_234, "Wh", T1)
    assert read(w, w.chain.actor("relay-1"), "MTR-CAROL", T1, 1_234, trust="meter", signature=sig).ok
    r = read(w, w.chain.actor("relay-2"), "MTR-CAROL", T1, 1_234, trust="meter", signature=sig, at=T2)
    assert not r.ok
    assert f"a new reading expected for meter MTR-CAROL, found a duplicate at {T1}" in r.error


def test_invalid_reading_before_the_last(w: Any) -> None:
    assert read(w, w.alice, "MTR-A", T2, 5_000).ok
    r = read(w, w.alice, "MTR-A", T1, 4_000, at=T2 + 1)
    assert not r.ok
    assert f"after the last one at {T2} expected" in r.error


def test_implausible_consumption_is_kept_and_flagged_as_anomaly(w: Any) -> None:
    first = read(w, w.alice, "MTR-A", T1, 1_000)
    # 100 kWh in one hour on a 20 kW connection: recorded, flagged, never silently dropped.
    r = read(w, w.alice, "MTR-A", T1 + HOUR, 101_000)
    assert r.ok, r.error
    [anomaly] = w.chain.events(r, "anomaly")
    assert anomaly["consumption"] == 100_000 and anomaly["meter"] == "MTR-A"
    history = [e["trust"] for receipt in (first, r) for e in w.chain.events(receipt, "reading")]
    assert history == ["consumer", "anomalous"]
    assert w.view("billing", "last_reading", ["MTR-A"])["trust"] == "anomalous"


def test_collector_batch_keeps_good_readings_and_reports_bad_ones(w: Any) -> None:
    assert read(w, w.alice, "MTR-A", T1, 5_000).ok
    batch = [
        reading_args("MTR-A", T2, 4_000, "collector"),  # backwards: rejected
        reading_args("MTR-B", T2, 3_000, "collector"),
    ]
    r = w.chain.call(w.collector, "billing", "submit_readings", [batch], at=T2)
    assert r.ok, r.error
    assert w.chain.return_value(r) == {"accepted": 1, "rejected": 1}
    [rejected] = w.chain.events(r, "reading_rejected")
    assert rejected["meter"] == "MTR-A" and "index >= 5000 expected" in rejected["reason"]
    assert w.view("billing", "last_reading", ["MTR-B"])["index"] == 3_000


def test_invalid_batch_from_a_non_collector_rejects_every_item(w: Any) -> None:
    batch = [reading_args("MTR-A", T2, 4_000, "collector")]
    r = w.chain.call(w.operator, "billing", "submit_readings", [batch], at=T2)
    assert r.ok
    assert w.chain.return_value(r) == {"accepted": 0, "rejected": 1}
    assert w.view("billing", "last_reading", ["MTR-A"]) is None


def test_load_profile_one_transaction_per_meter_and_day(w: Any) -> None:
    day = GENESIS_TIME + 2 * DAY
    indexes = [1_000 + 500 * k for k in range(25)]  # hourly, 500 Wh an hour
    r = w.chain.call(w.collector, "billing", "submit_load_profile",
                     ["MTR-A", "1.8.0", day, HOUR, indexes], at=day + DAY + 10)
    assert r.ok, r.error
    [lp] = w.chain.events(r, "load_profile")
    assert (lp["intervals"], lp["consumption"], lp["trust"]) == (24, 12_000, "collector")
    assert lp["indexes"] == indexes  # the day's history, for the node's index (no state key per interval)
    assert w.view("billing", "last_reading", ["MTR-A"])["index"] == 13_000


def test_invalid_second_load_profile_for_the_same_day(w: Any) -> None:
    day = GENESIS_TIME + 2 * DAY
    indexes = [1_000 + 500 * k for k in range(25)]
    w.ok(w.collector, "billing", "submit_load_profile", ["MTR-A", "1.8.0", day, HOUR, indexes],
         at=day + DAY + 10)
    err = w.fail(w.collector, "billing", "submit_load_profile", ["MTR-A", "1.8.0", day, HOUR, indexes])
    assert f"a load profile starting at the last reading ({day + DAY}) or later expected for MTR-A, found {day}" in err


def test_invalid_load_profile_in_the_future(w: Any) -> None:
    day = GENESIS_TIME + 2 * DAY
    err = w.fail(w.collector, "billing", "submit_load_profile",
                 ["MTR-A", "1.8.0", day, HOUR, [0] * 25], at=day + 3 * HOUR)
    assert "not in the future" in err


def test_invalid_reading_of_another_register(w: Any) -> None:
    assert read(w, w.alice, "MTR-A", T1, 5_000).ok
    r = w.chain.call(w.alice, "billing", "submit_reading",
                     reading_args("MTR-A", T2, 6_000, register="2.8.0"), at=T2)
    assert not r.ok
    assert "register 1.8.0 expected" in r.error


def test_invalid_batch_items_of_unknown_meters_or_wrong_shape_are_rejected_alone(w: Any) -> None:
    batch = [
        reading_args("MTR-NOPE", T2, 1, "collector"),
        ["MTR-A", "1.8.0", "yesterday", 5, "collector", b"", b""],
        reading_args("MTR-B", T2, 3_000, "collector"),
    ]
    r = w.chain.call(w.collector, "billing", "submit_readings", [batch], at=T2)
    assert r.ok, r.error
    assert w.chain.return_value(r) == {"accepted": 1, "rejected": 2}
    reasons = [e["reason"] for e in w.chain.events(r, "reading_rejected")]
    assert "found no meter MTR-NOPE" in reasons[0] and "timestamp int" in reasons[1]


def test_invalid_backwards_reading_after_a_long_gap_is_not_a_wrap(w: Any) -> None:
    # 600,000 -> 500,000 forty days later: a wrap would be 900,000 Wh, within 20 kW x 960 h,
    # but it is 90 % of the register: a backwards reading, not a roll-over.
    w.ok(w.collector, "billing", "submit_reading", reading_args("MTR-A", T1, 600_000, "collector"), at=T1)
    r = read(w, w.collector, "MTR-A", T1 + 40 * DAY, 500_000, trust="collector")
    assert not r.ok
    assert "index >= 600000 expected" in r.error
