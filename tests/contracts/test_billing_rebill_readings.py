"""Rebills of any reading of a period (issue 12): an interior spike replaced by the
operator's reading, a time-of-use invoice rebilled across windows, an anomalous reading
confirmed, readings of the open period corrected before they are billed; each checked
against the commitment to the period's readings that the invoice (or the meter's state)
keeps, with its test_invalid_* twin.

The figures are worked out by hand. alice's two-day invoice (test_billing_corrections.py):
standing 2 x 100 = 200, 20,000 Wh at 0.2 = 4,000, 5,000 Wh at 0.3 = 1,500; taxable 5,700,
tax 20 % = 1,140, total 6,840. The time-of-use day is test_tariff.py's: 7,000 Wh of night at
0.1 = 700, 15,000 of day at 0.3 = 4,500, 2,000 of late night at 0.1 = 200: total 5,400."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.conftest import GENESIS_TIME
from tests.contracts.test_billing_support import DAY, HOUR, read, setup_tariff

T1 = GENESIS_TIME + DAY
T2 = T1 + 2 * DAY
SPIKE_AT = T1 + 6 * HOUR
SPIKE = 990_000  # a misread top digit: 989,000 Wh in 6 h, then a "roll-over" to 26,000
REASON = "spike misread by the collector"


@pytest.fixture
def w(world: Any) -> Any:
    setup_tariff(world)
    return world


def spiked_invoice(w: Any) -> dict[str, Any]:
    """alice's first invoice up to T1 (index 1,000), then her two-day invoice up to T2 with
    a spike in between that the register's roll-over let through."""
    assert read(w, w.alice, "MTR-A", T1, 1_000).ok
    w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 1)
    r = read(w, w.alice, "MTR-A", SPIKE_AT, SPIKE)
    assert r.ok and [e["timestamp"] for e in w.events(r, "anomaly")] == [SPIKE_AT]
    assert read(w, w.alice, "MTR-A", T2, 26_000).ok  # 36,000 Wh past the register's top
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T2 + 5))
    assert (inv["id"], inv["consumption"]) == ("MTR-A/000002", 989_000 + 36_000)
    return dict(inv)


# The period's readings after its start, as the node's history has them: [time, index, interval].
SPIKED = [[SPIKE_AT, SPIKE, 0], [T2, 26_000, 0]]


def test_operator_replaces_the_interior_spike_of_alices_invoice(w: Any) -> None:
    inv = spiked_invoice(w)
    hist = w.view("billing", "billing_state", ["MTR-A"])["hist_units"]
    r = w.ok(w.operator, "billing", "rebill_readings", [inv["id"], SPIKED, [[SPIKE_AT, 6_000]], REASON], at=T2 + 600)
    new = w.chain.return_value(r)
    # Priced as if the collector had read 6,000: 5,000 + 20,000 Wh over the two days.
    assert (new["id"], new["replaces"], new["consumption"], new["total"]) == ("MTR-A/000003", inv["id"], 25_000, 6_840)
    assert [(ln["kind"], ln["units"], ln["amount"]) for ln in new["lines"]] == [
        ("standing", 2 * DAY, 200), ("energy", 20_000, 4_000), ("energy", 5_000, 1_500)]
    old = w.view("billing", "invoice", [inv["id"]])
    assert (old["status"], old["replaced_by"], old["lines"]) == ("void", new["id"], inv["lines"])
    [fixed] = w.events(r, "reading_corrected")
    assert (fixed["timestamp"], fixed["index"], fixed["original_index"]) == (SPIKE_AT, 6_000, SPIKE)
    [rebill] = w.events(r, "rebill")
    assert rebill["readings"] == [[SPIKE_AT, 6_000, SPIKE]]
    assert (rebill["consumption_before"], rebill["consumption_after"]) == (1_025_000, 25_000)
    # The meter goes on from its last reading, and its history forgets the spike.
    state = w.view("billing", "billing_state", ["MTR-A"])
    assert (state["index"], state["hist_units"]) == (26_000, hist - 1_000_000)
    assert w.view("billing", "open_invoices", ["MTR-A"])[-1]["id"] == new["id"]
    assert w.view("billing", "balance_due", ["MTR-A"]) == w.view("billing", "invoice", ["MTR-A/000001"])["total"] + 6_840


def test_the_replacement_of_an_interior_rebill_is_rebilled_from_its_corrected_readings(w: Any) -> None:
    inv = spiked_invoice(w)
    first = w.chain.return_value(w.ok(w.operator, "billing", "rebill_readings",
                                      [inv["id"], SPIKED, [[SPIKE_AT, 6_000]], REASON]))
    corrected = [[SPIKE_AT, 6_000, 0], [T2, 26_000, 0]]
    second = w.chain.return_value(w.ok(w.operator, "billing", "rebill_readings",
                                       [first["id"], corrected, [[T2, 16_000]], "last index misread too"]))
    # 15,000 Wh over two days: 15,000 at 0.2 = 3,000 + 200 standing, 20 % tax: 3,840.
    assert (second["replaces"], second["consumption"], second["total"]) == (first["id"], 15_000, 3_840)
    assert w.view("billing", "billing_state", ["MTR-A"])["index"] == 16_000


def test_invalid_rebill_with_the_spike_it_already_replaced(w: Any) -> None:
    inv = spiked_invoice(w)
    first = w.chain.return_value(w.ok(w.operator, "billing", "rebill_readings",
                                      [inv["id"], SPIKED, [[SPIKE_AT, 6_000]], REASON]))
    err = w.fail(w.operator, "billing", "rebill_readings", [first["id"], SPIKED, [[T2, 16_000]], REASON])
    assert f"the original readings of invoice {first['id']} expected (as the node's history has them)" in err


def test_invalid_rebill_with_a_forged_original_reading(w: Any) -> None:
    inv = spiked_invoice(w)
    forged = [[SPIKE_AT, 980_000, 0], [T2, 26_000, 0]]  # "the spike was smaller"
    err = w.fail(w.operator, "billing", "rebill_readings", [inv["id"], forged, [[SPIKE_AT, 6_000]], REASON])
    assert f"the original readings of invoice {inv['id']} expected (as the node's history has them), found readings its commitment does not match" in err
    as_interval = [[SPIKE_AT, SPIKE, 6 * HOUR], [T2, 26_000, 0]]  # priced by window instead
    err = w.fail(w.operator, "billing", "rebill_readings", [inv["id"], as_interval, [[SPIKE_AT, 6_000]], REASON])
    assert "its commitment does not match" in err
    err = w.fail(w.operator, "billing", "rebill_readings", [inv["id"], SPIKED[1:], [[T2, 6_000]], REASON])
    assert f"the 2 readings of invoice {inv['id']} after its start expected (from the node's history), found 1" in err
    wrong_end = [[SPIKE_AT, SPIKE, 0], [T2, 27_000, 0]]
    err = w.fail(w.operator, "billing", "rebill_readings", [inv["id"], wrong_end, [[SPIKE_AT, 6_000]], REASON])
    assert f"the last reading of invoice {inv['id']} [{T2}, 26000, 0] expected, found [{T2}, 27000, 0]" in err


def test_invalid_rebill_of_a_reading_outside_the_period(w: Any) -> None:
    inv = spiked_invoice(w)
    # T1 is the period's start: the last reading of the previous invoice, not of this one.
    err = w.fail(w.operator, "billing", "rebill_readings", [inv["id"], SPIKED, [[T1, 500]], REASON])
    assert f"corrections of readings of invoice {inv['id']} (after {T1}, up to {T2}) expected, found one at {T1} that names none" in err
    err = w.fail(w.operator, "billing", "rebill_readings", [inv["id"], SPIKED, [[T2 + HOUR, 30_000]], REASON])
    assert f"found one at {T2 + HOUR} that names none" in err
    err = w.fail(w.operator, "billing", "rebill_readings", [inv["id"], SPIKED, [[T2, 26_000]], REASON])
    assert f"an index other than the one read (26000) expected for the correction at {T2}, found the same" in err


def test_invalid_rebill_that_makes_consumption_negative(w: Any) -> None:
    inv = spiked_invoice(w)
    # 30,000 at the spike's time, then 26,000: backwards, and no plausible roll-over.
    err = w.fail(w.operator, "billing", "rebill_readings", [inv["id"], SPIKED, [[SPIKE_AT, 30_000]], REASON])
    assert f"corrected readings that leave the consumption from {SPIKE_AT} to {T2} at least 0 expected, found index >= 30000 expected" in err
    err = w.fail(w.operator, "billing", "rebill_readings", [inv["id"], SPIKED, [[SPIKE_AT, 500]], REASON])
    assert f"consumption from {T1} to {SPIKE_AT} at least 0 expected" in err


def test_invalid_rebill_of_readings_by_the_collector_or_without_a_reason(w: Any) -> None:
    inv = spiked_invoice(w)
    err = w.fail(w.collector, "billing", "rebill_readings", [inv["id"], SPIKED, [[SPIKE_AT, 6_000]], REASON])
    assert "role operator or admin" in err or "operator" in err
    err = w.fail(w.operator, "billing", "rebill_readings", [inv["id"], SPIKED, [[SPIKE_AT, 6_000]], ""])
    assert "a reason of 1 to 256 characters expected" in err


# --- time-of-use ---------------------------------------------------------------------------

TOU = {"standing_charge_per_day": 0, "tiers": [[None, 200_000]], "tax_bp": 0, "utc_offset": 3 * HOUR,
       "tou": [[0, 420, 100_000], [420, 1320, 300_000], [1320, 1440, 100_000]]}
DAY_START = GENESIS_TIME + 2 * DAY - 3 * HOUR  # a local day (UTC+3) starts at 21:00 UTC


def tou_invoice(world: Any, misread: int) -> tuple[dict[str, Any], list[list[int]]]:
    """A day of hourly readings of 1,000 Wh each, the 7th index (end of 06:00-07:00 local,
    night) misread as `misread`; returns the invoice and the period's readings."""
    setup_tariff(world, TOU, tariff_id="TOU", meters=("MTR-A",))
    indexes = [1_000 * k for k in range(25)]
    indexes[7] = misread
    world.ok(world.collector, "billing", "submit_load_profile", ["MTR-A", "1.8.0", DAY_START, HOUR, indexes],
             at=DAY_START + DAY)
    inv = world.chain.return_value(world.ok(world.operator, "billing", "close_period", ["MTR-A"], at=DAY_START + DAY + 1))
    # The day's first index is a plain reading (it closes the gap since installation); the
    # others are intervals priced in the window of their start.
    readings = [[DAY_START, 0, 0]] + [[DAY_START + k * HOUR, indexes[k], HOUR] for k in range(1, 25)]
    return dict(inv), readings


def windows(inv: dict[str, Any]) -> list[tuple[str, int, int]]:
    return sorted((ln["detail"], ln["units"], ln["amount"]) for ln in inv["lines"] if ln["kind"] == "energy")


def test_operator_rebills_alices_time_of_use_day_across_windows(world: Any) -> None:
    w = world
    inv, readings = tou_invoice(w, 6_500)
    # 500 Wh went from the last night hour into the first day hour (0.1 -> 0.3): 100 more.
    assert windows(inv) == [("window 0-420", 6_500, 650), ("window 1320-1440", 2_000, 200),
                            ("window 420-1320", 15_500, 4_650)]
    assert inv["total"] == 5_500
    err = w.fail(w.operator, "billing", "rebill", [inv["id"], 24_500, REASON])
    assert "priced by window (rebill_readings corrects it from its readings)" in err
    at7 = DAY_START + 7 * HOUR
    new = w.chain.return_value(w.ok(w.operator, "billing", "rebill_readings",
                                    [inv["id"], readings, [[at7, 7_000]], "interval misread"]))
    assert windows(new) == [("window 0-420", 7_000, 700), ("window 1320-1440", 2_000, 200),
                            ("window 420-1320", 15_000, 4_500)]
    assert (new["consumption"], new["total"]) == (24_000, 5_400)


def test_invalid_time_of_use_rebill_that_makes_an_interval_negative(world: Any) -> None:
    w = world
    inv, readings = tou_invoice(w, 6_500)
    at7 = DAY_START + 7 * HOUR
    err = w.fail(w.operator, "billing", "rebill_readings", [inv["id"], readings, [[at7, 8_500]], "interval misread"])
    assert f"corrected readings that leave the consumption from {at7} to {at7 + HOUR} at least 0 expected" in err
    plain = [[t, i, 0] for t, i, _ in readings]  # intervals passed off as plain readings
    err = w.fail(w.operator, "billing", "rebill_readings", [inv["id"], plain, [[at7, 7_000]], "interval misread"])
    assert f"the last reading of invoice {inv['id']} [{DAY_START + DAY}, 24000, 3600] expected" in err


# --- confirming a reading, correcting the open period --------------------------------------


def test_operator_confirms_the_anomalous_reading_billed_on_alices_invoice(w: Any) -> None:
    inv = spiked_invoice(w)
    r = w.ok(w.operator, "billing", "confirm_reading", ["MTR-A", inv["id"], SPIKED, SPIKE_AT, "register checked on site"])
    [ev] = w.events(r, "reading_confirmed")
    assert (ev["timestamp"], ev["index"], ev["invoice"], ev["by"]) == (SPIKE_AT, SPIKE, inv["id"], w.operator.public_key)
    rec = w.view("billing", "correction", [ev["correction"]])
    assert (rec["kind"], rec["timestamp"], rec["index"], rec["amount"]) == ("reading_confirmed", SPIKE_AT, SPIKE, 0)
    # Billed as it was.
    assert w.view("billing", "invoice", [inv["id"]])["total"] == inv["total"]


def test_invalid_confirmation_of_a_reading_the_period_does_not_have(w: Any) -> None:
    inv = spiked_invoice(w)
    err = w.fail(w.operator, "billing", "confirm_reading", ["MTR-A", inv["id"], SPIKED, SPIKE_AT + 1, "checked"])
    assert f"a reading of invoice {inv['id']} expected to confirm, found none at {SPIKE_AT + 1}" in err
    forged = [[SPIKE_AT, 6_000, 0], [T2, 26_000, 0]]
    err = w.fail(w.operator, "billing", "confirm_reading", ["MTR-A", inv["id"], forged, SPIKE_AT, "checked"])
    assert "its commitment does not match" in err
    err = w.fail(w.collector, "billing", "confirm_reading", ["MTR-A", inv["id"], SPIKED, SPIKE_AT, "checked"])
    assert "operator" in err


def open_spike(w: Any) -> None:
    assert read(w, w.alice, "MTR-A", T1, 1_000).ok
    w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 1)
    assert read(w, w.alice, "MTR-A", SPIKE_AT, SPIKE).ok
    assert read(w, w.alice, "MTR-A", T2, 26_000).ok


def test_operator_replaces_a_spike_before_it_is_billed(w: Any) -> None:
    open_spike(w)
    r = w.ok(w.operator, "billing", "correct_readings", ["MTR-A", SPIKED, [[SPIKE_AT, 6_000]], REASON], at=T2 + 1)
    rec = w.chain.return_value(r)
    assert (rec["kind"], rec["readings"], rec["consumption_change"]) == (
        "reading_correction", [[SPIKE_AT, 6_000, SPIKE]], -1_000_000)
    [ev] = w.events(r, "reading_corrected")
    assert (ev["timestamp"], ev["index"], ev["original_index"]) == (SPIKE_AT, 6_000, SPIKE)
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T2 + 5))
    assert (inv["consumption"], inv["total"]) == (25_000, 6_840)
    # ... and that invoice is rebilled from the corrected readings.
    corrected = [[SPIKE_AT, 6_000, 0], [T2, 26_000, 0]]
    new = w.chain.return_value(w.ok(w.operator, "billing", "rebill_readings",
                                    [inv["id"], corrected, [[SPIKE_AT, 5_000]], REASON]))
    assert new["total"] == 6_840  # one price over the two days: the split does not matter


def test_operator_confirms_the_meters_last_reading_before_it_is_billed(w: Any) -> None:
    open_spike(w)
    r = w.ok(w.operator, "billing", "confirm_reading", ["MTR-A", "", SPIKED, T2, "checked"], at=T2 + 1)
    assert [(e["timestamp"], e["index"], e["invoice"]) for e in w.events(r, "reading_confirmed")] == [(T2, 26_000, "")]


def test_invalid_correction_of_the_open_period_with_forged_readings(w: Any) -> None:
    open_spike(w)
    forged = [[SPIKE_AT, 6_000, 0], [T2, 26_000, 0]]
    err = w.fail(w.operator, "billing", "correct_readings", ["MTR-A", forged, [[SPIKE_AT, 7_000]], REASON], at=T2 + 1)
    assert "the original readings of the open period of meter MTR-A expected" in err
    err = w.fail(w.operator, "billing", "correct_readings", ["MTR-B", SPIKED, [[SPIKE_AT, 7_000]], REASON])
    assert "a postpaid meter with readings not yet invoiced expected, found none on MTR-B" in err


def test_after_a_rebill_of_its_last_reading_the_next_period_starts_from_the_corrected_index(w: Any) -> None:
    inv = spiked_invoice(w)
    assert read(w, w.alice, "MTR-A", T2 + DAY, 30_000).ok  # the open span begins at 26,000
    w.ok(w.operator, "billing", "rebill", [inv["id"], 24_000, "last index misread"], at=T2 + DAY + 1)
    assert read(w, w.alice, "MTR-A", T2 + 2 * DAY, 34_000).ok
    nxt = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T2 + 2 * DAY + 5))
    assert (nxt["period_start"], nxt["consumption"]) == (T2, 10_000)  # 24,000 -> 34,000
    # Its readings are checked from the corrected start: 24,000 -> 28,000 -> 34,000.
    later = [[T2 + DAY, 30_000, 0], [T2 + 2 * DAY, 34_000, 0]]
    new = w.chain.return_value(w.ok(w.operator, "billing", "rebill_readings",
                                    [nxt["id"], later, [[T2 + DAY, 28_000]], "misread"]))
    assert new["consumption"] == 10_000
    err = w.fail(w.operator, "billing", "rebill_readings", [nxt["id"], later, [[T2 + DAY, 23_000]], "misread"])
    assert f"{nxt['id']} void" in err  # the replacement is the one to rebill
    err = w.fail(w.operator, "billing", "rebill_readings", [new["id"], later, [[T2 + DAY, 23_000]], "misread"])
    assert "its commitment does not match" in err  # 30,000 was corrected to 28,000
    err = w.fail(w.operator, "billing", "rebill_readings",
                 [new["id"], [[T2 + DAY, 28_000, 0], [T2 + 2 * DAY, 34_000, 0]], [[T2 + DAY, 23_000]], "misread"])
    assert f"corrected readings that leave the consumption from {T2} to {T2 + DAY} at least 0 expected" in err
