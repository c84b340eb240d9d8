"""Reading exceptions and meter faults (issue 12): the collector records why alice's meter
was not read; the period is estimated and trued up by the next actual reading; faults and
tampering are recorded with type, source, start and end, kept in the meter's history and
counted in the operator figures."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.conftest import BRANCH, FIELD, GENESIS_TIME
from tests.contracts.test_billing_support import DAY, read, setup_tariff

T1 = GENESIS_TIME + DAY
T2 = T1 + 2 * DAY
DAY_T1 = T1 // DAY


@pytest.fixture
def w(world: Any) -> Any:
    setup_tariff(world)
    return world


def first_invoice(w: Any) -> None:
    assert read(w, w.alice, "MTR-A", T1, 1_000).ok
    w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 1)


def figures(w: Any, scope: str) -> dict[str, int]:
    return dict(w.view("billing", "activity", [scope, DAY_T1 - 2, DAY_T1 + 30]))


# --- reading exceptions -------------------------------------------------------------------


def test_collector_finds_a_dangerous_dog_and_alices_period_is_estimated_then_trued_up(w: Any) -> None:
    first_invoice(w)
    r = w.ok(w.collector, "billing", "record_reading_exception", ["MTR-A", T2 - 3600, "dangerous_dog", "gate shut"],
             at=T2 - 3600)
    [ev] = w.events(r, "reading_exception")
    assert (ev["meter"], ev["code"], ev["note"], ev["since_reading"], ev["by"]) == (
        "MTR-A", "dangerous_dog", "gate shut", T1, w.collector.public_key)
    est = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T2))
    assert est["estimated"] is True
    [note] = [ln for ln in est["lines"] if ln["kind"] == "reading_exception"]
    assert (note["amount"], note["detail"]) == (0, f"dangerous_dog at {T2 - 3600}: gate shut")
    # The next actual reading trues the estimate up (the estimate rule, unchanged).
    assert read(w, w.collector, "MTR-A", T2 + DAY, 30_000, trust="collector").ok
    actual = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T2 + DAY + 5))
    assert actual["estimated"] is False and actual["period_start"] == T1
    assert [ln["detail"] for ln in actual["lines"] if ln["kind"] == "estimate_reversal"] == [est["id"]]
    assert [x["code"] for x in w.view("billing", "reading_exceptions", ["MTR-A", 0, 10])] == ["dangerous_dog"]
    for scope in (w.utility, BRANCH, FIELD):
        counts = figures(w, scope)
        assert (counts["reading_exception"], counts["reading_exception:dangerous_dog"]) == (1, 1)


def test_operator_records_a_broken_meter_without_a_note(w: Any) -> None:
    first_invoice(w)
    w.ok(w.operator, "billing", "record_reading_exception", ["MTR-A", T1 + 10, "meter_broken", ""], at=T1 + 20)
    assert figures(w, FIELD)["reading_exception:meter_broken"] == 1


def test_invalid_reading_exception_by_alice_or_the_agent(w: Any) -> None:
    first_invoice(w)
    for n, actor in enumerate((w.alice, w.agent)):
        err = w.fail(actor, "billing", "record_reading_exception", ["MTR-A", T1 + 10, "no_access", ""], at=T1 + 20 + n)
        assert "caller with role collector or operator or admin of utility ELEC expected" in err


def test_invalid_reading_exception_code_or_note(w: Any) -> None:
    first_invoice(w)
    err = w.fail(w.collector, "billing", "record_reading_exception", ["MTR-A", T1 + 10, "lazy", ""], at=T1 + 20)
    assert "an exception code among no_access, premises_locked" in err and "found lazy" in err
    err = w.fail(w.collector, "billing", "record_reading_exception", ["MTR-A", T1 + 10, "other", ""], at=T1 + 21)
    assert "a note saying what happened expected for code other, found none" in err
    err = w.fail(w.collector, "billing", "record_reading_exception", ["MTR-A", T1 + 10, "no_access", "n" * 257],
                 at=T1 + 22)
    assert "a note of at most 256 characters expected, found 257 characters" in err


def test_invalid_reading_exception_before_the_last_reading_in_the_future_or_twice(w: Any) -> None:
    first_invoice(w)
    err = w.fail(w.collector, "billing", "record_reading_exception", ["MTR-A", T1, "no_access", ""], at=T1 + 20)
    assert f"a visit after the last reading at {T1} expected for meter MTR-A, found {T1}" in err
    err = w.fail(w.collector, "billing", "record_reading_exception", ["MTR-A", T1 + 99, "no_access", ""], at=T1 + 21)
    assert f"a visit time not in the future (<= {T1 + 21}) expected, found {T1 + 99}" in err
    w.ok(w.collector, "billing", "record_reading_exception", ["MTR-A", T1 + 10, "no_access", ""], at=T1 + 22)
    err = w.fail(w.collector, "billing", "record_reading_exception", ["MTR-A", T1 + 10, "premises_locked", ""],
                 at=T1 + 30)
    assert f"one exception per meter and visit time expected, found a second one for MTR-A at {T1 + 10}" in err


# --- faults and tampering ------------------------------------------------------------------


def test_meter_alarm_reports_a_magnetic_tamper_until_a_clear_tamper_token_is_used(w: Any) -> None:
    r = w.ok(w.collector, "billing", "record_meter_fault",
             ["MTR-A", "magnetic_tamper", "meter_alarm", T1 - 600, 0, "event log 0x0012"], at=T1)
    fault = w.chain.return_value(r)
    assert (fault["id"], fault["type"], fault["source"], fault["started_at"], fault["ended_at"]) == (
        "MTR-A/F000001", "magnetic_tamper", "meter_alarm", T1 - 600, 0)
    [ev] = w.events(r, "meter_fault")
    assert ev["id"] == "MTR-A/F000001" and ev["by"] == w.collector.public_key
    for scope in (w.utility, BRANCH, FIELD):
        assert w.view("billing", "open_fault_counts", [scope]) == {"magnetic_tamper": 1}
    r = w.ok(w.operator, "billing", "end_meter_fault", ["MTR-A/F000001", T1 + 3600, "sts_clear_tamper", "TID 1234"],
             at=T1 + 4000)
    [ended] = w.events(r, "meter_fault_ended")
    assert (ended["started_at"], ended["ended_at"], ended["source"]) == (T1 - 600, T1 + 3600, "sts_clear_tamper")
    [rec] = w.view("billing", "meter_faults", ["MTR-A", "", 10])
    assert (rec["ended_at"], rec["end_source"], rec["ended_by"], rec["end_note"]) == (
        T1 + 3600, "sts_clear_tamper", w.operator.public_key, "TID 1234")
    assert w.view("billing", "open_fault_counts", [FIELD]) == {"magnetic_tamper": 0}
    counts = figures(w, w.utility)
    assert (counts["meter_fault"], counts["meter_fault:magnetic_tamper"], counts["meter_fault_ended"]) == (1, 1, 1)


def test_reader_records_a_past_broken_display_with_its_end(w: Any) -> None:
    r = w.ok(w.collector, "billing", "record_meter_fault",
             ["MTR-A", "display_fault", "reader", T1 - 2 * DAY, T1 - DAY, "replaced LCD"], at=T1)
    assert w.chain.return_value(r)["ended_at"] == T1 - DAY
    assert w.view("billing", "open_fault_counts", [FIELD]) == {}
    assert figures(w, FIELD)["meter_fault_ended"] == 1


def test_invalid_second_open_fault_of_one_type(w: Any) -> None:
    w.ok(w.collector, "billing", "record_meter_fault", ["MTR-A", "cover_open", "meter_alarm", T1, 0, ""], at=T1)
    err = w.fail(w.collector, "billing", "record_meter_fault", ["MTR-A", "cover_open", "meter_alarm", T1 + 5, 0, ""],
                 at=T1 + 10)
    assert "one open cover_open fault per meter expected, found MTR-A/F000001 still open on MTR-A" in err


def test_invalid_fault_type_source_or_times(w: Any) -> None:
    err = w.fail(w.collector, "billing", "record_meter_fault", ["MTR-A", "gremlins", "reader", T1, 0, ""], at=T1)
    assert "a fault type among tamper, magnetic_tamper" in err and "found gremlins" in err
    err = w.fail(w.collector, "billing", "record_meter_fault", ["MTR-A", "tamper", "rumour", T1, 0, ""], at=T1 + 1)
    assert "a source among reader, meter_alarm, sts_clear_tamper, operator expected, found rumour" in err
    err = w.fail(w.collector, "billing", "record_meter_fault", ["MTR-A", "tamper", "reader", T1, T1 - 1, ""],
                 at=T1 + 2)
    assert f"a fault end at or after its start {T1} expected, found {T1 - 1}" in err
    err = w.fail(w.collector, "billing", "record_meter_fault", ["MTR-A", "tamper", "reader", T1 + 50, 0, ""],
                 at=T1 + 3)
    assert f"a fault start not in the future (<= {T1 + 3}) expected, found {T1 + 50}" in err


def test_invalid_fault_records_by_alice_and_ends_twice(w: Any) -> None:
    err = w.fail(w.alice, "billing", "record_meter_fault", ["MTR-A", "tamper", "reader", T1, 0, ""], at=T1)
    assert "caller with role collector or operator or admin of utility ELEC expected" in err
    w.ok(w.collector, "billing", "record_meter_fault", ["MTR-A", "bypass", "reader", T1, 0, "cable"], at=T1 + 1)
    err = w.fail(w.alice, "billing", "end_meter_fault", ["MTR-A/F000001", T1 + 2, "reader", ""], at=T1 + 3)
    assert "caller with role collector or operator or admin of utility ELEC expected" in err
    w.ok(w.collector, "billing", "end_meter_fault", ["MTR-A/F000001", T1 + 2, "reader", "removed"], at=T1 + 4)
    err = w.fail(w.collector, "billing", "end_meter_fault", ["MTR-A/F000001", T1 + 5, "reader", ""], at=T1 + 6)
    assert f"an open fault expected, found MTR-A/F000001 ended at {T1 + 2}" in err
    err = w.fail(w.collector, "billing", "end_meter_fault", ["MTR-A/F000009", T1 + 5, "reader", ""], at=T1 + 7)
    assert "a meter fault expected, found no fault MTR-A/F000009" in err
