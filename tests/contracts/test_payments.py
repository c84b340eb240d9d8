"""Payments by agents: recording, same-day reversal, reversal_pending, reconciliation,
advance credit and refunds. Named-actor scenarios through LocalChain; each rule has its
``test_invalid_*`` twin."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.conftest import GENESIS_TIME

DAY = 86400


def pay(world: Any, meter: str, amount: int, reference: str, agent: Any = None, at: int | None = None) -> dict:
    """Record a payment; return its ``payment`` event."""
    r = world.ok(agent or world.agent, "payments", "record_payment", [meter, amount, reference], at=at)
    (event,) = world.chain.events(r, "payment")
    return event


def second_agent(world: Any) -> Any:
    agent2 = world.chain.actor("elec-agent-2")
    world.ok(world.admin, "registry", "grant_role", [agent2.public_key, world.utility, "agent"])
    return agent2


# --- recording -------------------------------------------------------------------------


def test_basic_agent_payment_without_invoice_becomes_advance_credit(world: Any) -> None:
    meter = world.meters["alice"]
    event = pay(world, meter, 12_345, "RCPT-1")
    assert event["amount"] == 12_345
    assert event["agent"] == world.agent.public_key
    assert event["reference"] == "RCPT-1"
    assert event["applied"] == 0
    assert event["remainder"] == 12_345
    record = world.view("payments", "payment", [event["id"]])
    assert record["meter"] == meter and record["consumer"] == world.alice.public_key
    assert record["reversed"] is False
    acct = world.view("payments", "account", [meter])
    assert acct["balance"] == 12_345 and acct["position"] == 12_345
    assert world.view("payments", "credit", [meter]) == 12_345
    ledger = world.view("payments", "ledger", [world.utility])
    assert ledger["paid"] == 12_345 and ledger["credit_position"] == 12_345


def test_basic_payment_ids_are_unique_and_ordered(world: Any) -> None:
    meter = world.meters["alice"]
    ids = [pay(world, meter, 100 + i, f"R-{i}")["id"] for i in range(3)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3


def test_invalid_payment_by_unregistered_agent(world: Any) -> None:
    mallory = world.chain.actor("mallory")
    error = world.fail(mallory, "payments", "record_payment", [world.meters["alice"], 500, "R-1"])
    assert "role agent" in error and "expected" in error
    assert world.view("payments", "credit", [world.meters["alice"]]) == 0


def test_invalid_payment_by_vendor_is_not_an_agent(world: Any) -> None:
    error = world.fail(world.vendor, "payments", "record_payment", [world.meters["alice"], 500, "R-1"])
    assert "role agent" in error


def test_invalid_payment_amounts(world: Any) -> None:
    meter = world.meters["alice"]
    for amount in (0, -5):
        error = world.fail(world.agent, "payments", "record_payment", [meter, amount, "R-1"])
        assert "positive amount expected" in error and str(amount) in error
    error = world.fail(world.agent, "payments", "record_payment", [meter, "100", "R-1"])
    assert "integer minor units expected" in error


def test_invalid_payment_duplicate_reference_of_same_agent(world: Any) -> None:
    meter = world.meters["alice"]
    first = pay(world, meter, 700, "RCPT-9")
    error = world.fail(world.agent, "payments", "record_payment", [meter, 700, "RCPT-9"])
    assert "RCPT-9" in error and first["id"] in error
    # Another agent may use the same receipt number: references are per agent.
    pay(world, meter, 700, "RCPT-9", agent=second_agent(world))
    assert world.view("payments", "credit", [meter]) == 1400


def test_invalid_payment_unknown_meter(world: Any) -> None:
    error = world.fail(world.agent, "payments", "record_payment", ["MTR-NONE", 100, "R-1"])
    assert "registered meter expected" in error and "MTR-NONE" in error


# --- same-day reversal -----------------------------------------------------------------


def test_basic_agent_reverses_payment_same_day(world: Any) -> None:
    meter = world.meters["alice"]
    p = pay(world, meter, 5_000, "R-1")
    r = world.ok(world.agent, "payments", "reverse_payment", [p["id"], "wrong meter keyed"])
    (event,) = world.chain.events(r, "payment_reversed")
    assert event["id"] == p["id"] and event["amount"] == 5_000
    assert event["reason"] == "wrong meter keyed" and event["by"] == world.agent.public_key
    record = world.view("payments", "payment", [p["id"]])
    assert record["reversed"] is True and record["reversal_reason"] == "wrong meter keyed"
    assert world.view("payments", "credit", [meter]) == 0
    ledger = world.view("payments", "ledger", [world.utility])
    assert ledger["paid"] == 5_000 and ledger["reversed"] == 5_000 and ledger["credit_position"] == 0


def test_invalid_double_reversal(world: Any) -> None:
    p = pay(world, world.meters["alice"], 5_000, "R-1")
    world.ok(world.agent, "payments", "reverse_payment", [p["id"], "duplicate"])
    error = world.fail(world.agent, "payments", "reverse_payment", [p["id"], "again"])
    assert "not yet reversed expected" in error and p["id"] in error
    assert world.view("payments", "ledger", [world.utility])["reversed"] == 5_000


def test_invalid_reversal_by_another_agent(world: Any) -> None:
    p = pay(world, world.meters["alice"], 5_000, "R-1")
    other = second_agent(world)
    error = world.fail(other, "payments", "reverse_payment", [p["id"], "not mine"])
    assert "reversal by the agent" in error and world.agent.public_key.hex() in error
    assert world.view("payments", "payment", [p["id"]])["reversed"] is False
    # Not even governance or the admin may reverse an agent's payment.
    error = world.fail(world.admin, "payments", "reverse_payment", [p["id"], "admin"])
    assert "reversal by the agent" in error


def test_invalid_reversal_next_day(world: Any) -> None:
    p = pay(world, world.meters["alice"], 5_000, "R-1", at=GENESIS_TIME + DAY + 3600)
    error = world.fail(world.agent, "payments", "reverse_payment", [p["id"], "late"], at=GENESIS_TIME + 2 * DAY + 60)
    assert "payment's day" in error
    assert world.view("payments", "credit", [world.meters["alice"]]) == 5_000


def test_basic_reversal_late_on_the_same_day(world: Any) -> None:
    p = pay(world, world.meters["alice"], 5_000, "R-1", at=GENESIS_TIME + DAY + 60)
    world.ok(world.agent, "payments", "reverse_payment", [p["id"], "late but same day"], at=GENESIS_TIME + 2 * DAY - 1)


def test_invalid_reversal_of_unknown_payment_and_without_reason(world: Any) -> None:
    error = world.fail(world.agent, "payments", "reverse_payment", ["PAY-0000000099", "x"])
    assert "no payment PAY-0000000099" in error
    p = pay(world, world.meters["alice"], 5_000, "R-1")
    error = world.fail(world.agent, "payments", "reverse_payment", [p["id"], ""])
    assert "reason" in error


def test_basic_reversal_takes_back_spent_prepaid_credit_as_debt(world: Any) -> None:
    """A reversed prepaid payment whose credit was (partly) refunded leaves a debt: the
    money that never arrived is not silently kept as credit."""
    meter = world.meters["bob"]
    p = pay(world, meter, 3_000, "R-1")
    world.ok(world.operator, "payments", "refund_credit", [meter, 1_000, "cash back"])
    world.ok(world.agent, "payments", "reverse_payment", [p["id"], "bounced"])
    acct = world.view("payments", "account", [meter])
    assert acct["balance"] == -1_000 and acct["position"] == -1_000


# --- reversal_pending ------------------------------------------------------------------


def test_basic_reversal_pending_until_new_payment(world: Any) -> None:
    meter = world.meters["alice"]
    assert world.view("payments", "reversal_pending", [meter]) is False
    p = pay(world, meter, 5_000, "R-1")
    assert world.view("payments", "reversal_pending", [meter]) is False
    world.ok(world.agent, "payments", "reverse_payment", [p["id"], "wrong amount"])
    assert world.view("payments", "reversal_pending", [meter]) is True
    pay(world, meter, 500, "R-2")
    assert world.view("payments", "reversal_pending", [meter]) is False


def test_basic_reversal_pending_ends_with_the_day(world: Any) -> None:
    meter = world.meters["alice"]
    p = pay(world, meter, 5_000, "R-1", at=GENESIS_TIME + DAY + 100)
    world.ok(world.agent, "payments", "reverse_payment", [p["id"], "wrong amount"])
    assert world.view("payments", "reversal_pending", [meter]) is True
    # Any transaction moves the head to the next day.
    world.ok(world.alice, "registry", "set_low_balance_threshold", [meter, 10], at=GENESIS_TIME + 2 * DAY + 1)
    assert world.view("payments", "reversal_pending", [meter]) is False


def test_invalid_reversal_pending_only_for_the_reversed_meter(world: Any) -> None:
    p = pay(world, world.meters["alice"], 5_000, "R-1")
    world.ok(world.agent, "payments", "reverse_payment", [p["id"], "wrong"])
    assert world.view("payments", "reversal_pending", [world.meters["bob"]]) is False


# --- reconciliation --------------------------------------------------------------------


def test_basic_daily_reconciliation_per_agent(world: Any) -> None:
    a, b = world.meters["alice"], world.meters["bob"]
    agent2 = second_agent(world)
    day1 = GENESIS_TIME + DAY + 3600
    day1_number = (GENESIS_TIME + DAY) // DAY
    p1 = pay(world, a, 1_000, "A-1", at=day1)
    p2 = pay(world, b, 2_500, "A-2", at=day1 + 10)
    p3 = pay(world, a, 400, "B-1", agent=agent2, at=day1 + 20)
    world.ok(world.agent, "payments", "reverse_payment", [p2["id"], "wrong meter"], at=day1 + 30)
    p4 = pay(world, a, 900, "A-3", at=day1 + DAY)  # the next day

    r = world.view("payments", "reconciliation", [world.agent.public_key, day1_number])
    assert r["count"] == 2 and r["total"] == 3_500
    assert r["reversed_count"] == 1 and r["reversed_total"] == 2_500
    assert r["net"] == 1_000
    assert r["payment_ids"] == [p1["id"], p2["id"]]

    r2 = world.view("payments", "reconciliation", [agent2.public_key, day1_number])
    assert (r2["count"], r2["total"], r2["net"], r2["payment_ids"]) == (1, 400, 400, [p3["id"]])

    r_next = world.view("payments", "reconciliation", [world.agent.public_key, day1_number + 1])
    assert (r_next["count"], r_next["net"], r_next["payment_ids"]) == (1, 900, [p4["id"]])

    # The agent's own records (by its receipt numbers) can be checked line by line.
    items = world.view("payments", "reconciliation_items", [world.agent.public_key, day1_number, "", 100])
    assert items == [[p1["id"], "A-1", a, 1_000, False], [p2["id"], "A-2", b, 2_500, True]]
    assert sum(i[3] for i in items if not i[4]) == r["net"]


def test_basic_reconciliation_ids_page(world: Any) -> None:
    meter = world.meters["alice"]
    ids = [pay(world, meter, 10, f"R-{i}")["id"] for i in range(5)]
    day = world.chain.time // DAY
    first = world.view("payments", "reconciliation_ids", [world.agent.public_key, day, "", 2])
    rest = world.view("payments", "reconciliation_ids", [world.agent.public_key, day, first[-1], 10])
    assert first + rest == ids


def test_invalid_reconciliation_of_an_agent_without_payments_is_empty(world: Any) -> None:
    pay(world, world.meters["alice"], 10, "R-1")
    r = world.view("payments", "reconciliation", [world.vendor.public_key, world.chain.time // DAY])
    assert (r["count"], r["total"], r["net"], r["payment_ids"]) == (0, 0, 0, [])


# --- advance credit and refunds -------------------------------------------------------


def test_basic_refund_of_credit_by_operator(world: Any) -> None:
    meter = world.meters["alice"]
    pay(world, meter, 2_000, "R-1")
    r = world.ok(world.operator, "payments", "refund_credit", [meter, 1_500, "closing account"])
    (event,) = world.chain.events(r, "refund")
    assert event["amount"] == 1_500 and event["by"] == world.operator.public_key
    assert world.view("payments", "credit", [meter]) == 500
    assert world.view("payments", "ledger", [world.utility])["refunded"] == 1_500


def test_invalid_refund_beyond_credit_or_by_agent(world: Any) -> None:
    meter = world.meters["alice"]
    pay(world, meter, 2_000, "R-1")
    error = world.fail(world.operator, "payments", "refund_credit", [meter, 2_001, "too much"])
    assert "at most the credit 2000" in error
    error = world.fail(world.agent, "payments", "refund_credit", [meter, 100, "agent"])
    assert "role operator" in error


def test_invalid_apply_credit_by_stranger(world: Any) -> None:
    meter = world.meters["alice"]
    pay(world, meter, 2_000, "R-1")
    error = world.fail(world.chain.actor("mallory"), "payments", "apply_credit", [meter])
    assert "role operator" in error


@pytest.mark.parametrize("who", ["alice", "operator"])
def test_basic_apply_credit_without_invoices_applies_nothing(world: Any, who: str) -> None:
    meter = world.meters["alice"]
    pay(world, meter, 2_000, "R-1")
    r = world.ok(getattr(world, who), "payments", "apply_credit", [meter])
    assert world.chain.return_value(r) == 0
    assert world.view("payments", "credit", [meter]) == 2_000


# --- the local day ---------------------------------------------------------------------

ISTANBUL = 3 * 3600  # UTC+3


def test_basic_same_day_is_the_utility_local_day(world: Any) -> None:
    """With the utility at UTC+3, 22:30 UTC is already 01:30 of the next local day: a
    payment taken then may be reversed until 20:59 UTC, and is reconciled on that day."""
    world.ok(world.admin, "supply", "set_protection_rules", [world.utility, {"utc_offset": ISTANBUL}])
    taken = GENESIS_TIME + DAY + 22 * 3600 + 1800  # Thu 22:30 UTC = Fri 01:30 local
    p = pay(world, world.meters["alice"], 800, "R-1", at=taken)
    local_day = (taken + ISTANBUL) // DAY
    assert world.view("payments", "payment", [p["id"]])["day"] == local_day
    assert world.view("payments", "reconciliation", [world.agent.public_key, local_day])["count"] == 1
    assert world.view("payments", "reconciliation", [world.agent.public_key, taken // DAY])["count"] == 0
    # Fri 20:59:59 UTC = 23:59:59 local: still the same local day.
    last_second = GENESIS_TIME + 3 * DAY - ISTANBUL - 1
    world.ok(world.agent, "payments", "reverse_payment", [p["id"], "same local day"], at=last_second)


def test_invalid_reversal_after_local_midnight(world: Any) -> None:
    world.ok(world.admin, "supply", "set_protection_rules", [world.utility, {"utc_offset": ISTANBUL}])
    taken = GENESIS_TIME + DAY + 12 * 3600  # Thu 15:00 local
    p = pay(world, world.meters["alice"], 800, "R-1", at=taken)
    # Thu 21:00 UTC is still Thursday in UTC but Friday 00:00 in Istanbul.
    error = world.fail(world.agent, "payments", "reverse_payment", [p["id"], "late"], at=GENESIS_TIME + 2 * DAY - ISTANBUL)
    assert f"payment's day {(taken + ISTANBUL) // DAY} expected" in error


# Central European Time: UTC+1, and UTC+2 from 2025-03-30T01:00Z to 2025-10-26T01:00Z.
SPRING = 1743296400
AUTUMN = 1761440400
CET = {"utc_offset": 3600, "offset_changes": [[SPRING, 7200], [AUTUMN, 3600]]}


def test_basic_local_day_follows_daylight_saving(world: Any) -> None:
    """22:30 UTC is 23:30 of the same local day in winter, 00:30 of the next in summer."""
    world.ok(world.admin, "supply", "set_protection_rules", [world.utility, CET])
    winter = GENESIS_TIME + DAY + 22 * 3600 + 1800
    summer = (SPRING // DAY + 10) * DAY + 22 * 3600 + 1800
    p_winter = pay(world, world.meters["alice"], 800, "R-1", at=winter)
    p_summer = pay(world, world.meters["alice"], 800, "R-2", at=summer)
    assert world.view("payments", "payment", [p_winter["id"]])["day"] == winter // DAY
    assert world.view("payments", "payment", [p_summer["id"]])["day"] == summer // DAY + 1
    # Summer 21:59:59 UTC of the next day is 23:59:59 local: still the payment's day.
    world.ok(world.agent, "payments", "reverse_payment", [p_summer["id"], "same local day"],
             at=(summer // DAY + 2) * DAY - 7200 - 1)


def test_invalid_reversal_after_summer_local_midnight(world: Any) -> None:
    world.ok(world.admin, "supply", "set_protection_rules", [world.utility, CET])
    day = SPRING // DAY + 10
    p = pay(world, world.meters["alice"], 800, "R-1", at=day * DAY + 12 * 3600)
    # 22:00 UTC: 23:00 under the base UTC+1, but local midnight under summer time.
    error = world.fail(world.agent, "payments", "reverse_payment", [p["id"], "late"], at=(day + 1) * DAY - 7200)
    assert f"payment's day {day} expected, found day {day + 1}" in error
