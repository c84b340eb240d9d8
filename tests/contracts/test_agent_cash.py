"""Payments taken offline keep the time they were collected; an agent's cash collected,
reversed and remitted (payments/agent_cash.py). Named-actor scenarios through LocalChain;
each rule has its ``test_invalid_*`` twin."""

from __future__ import annotations

from typing import Any

from tests.contracts.conftest import GENESIS_TIME

DAY = 86400
HOUR = 3600
T = GENESIS_TIME + DAY + 10 * HOUR  # Thursday 10:00 UTC


def pay(world: Any, amount: int, reference: str, *, collected_at: int = 0, at: int = T, agent: Any = None) -> dict:
    r = world.ok(agent or world.agent, "payments", "record_payment",
                 [world.meters["alice"], amount, reference, collected_at], at=at)
    (event,) = world.chain.events(r, "payment")
    return event


def cash(world: Any, agent: Any = None) -> dict:
    return world.view("payments", "agent_cash", [world.utility, (agent or world.agent).public_key])


# --- offline collection time -------------------------------------------------------------


def test_basic_collector_uploads_yesterdays_cash_with_its_collection_time(world: Any) -> None:
    collected = T - 20 * HOUR  # taken out of coverage yesterday afternoon
    event = pay(world, 4_000, "HH-1", collected_at=collected)
    assert event["collected_at"] == collected and event["at"] == T
    record = world.view("payments", "payment", [event["id"]])
    assert record["collected_at"] == collected and record["at"] == T
    # Reconciliation is by upload day: the day the utility's books receive it.
    assert record["day"] == T // DAY
    figures = world.view("payments", "activity", [world.branch, T // DAY, T // DAY])
    assert figures == {"cash_collected": 4_000, "offline_payments": 1}


def test_basic_online_payment_is_collected_when_uploaded(world: Any) -> None:
    event = pay(world, 500, "R-1")
    assert event["collected_at"] == event["at"] == T
    assert world.view("payments", "activity", [world.utility, 0, 10**6]) == {"cash_collected": 500}


def test_invalid_collection_time_in_the_future(world: Any) -> None:
    error = world.fail(world.agent, "payments", "record_payment", [world.meters["alice"], 500, "R-1", T + 60], at=T)
    assert f"collected_at not after the upload time {T} expected, found {T + 60}" in error
    assert cash(world)["collected"] == 0


def test_invalid_collection_time_older_than_the_window(world: Any) -> None:
    world.ok(world.admin, "payments", "set_offline_window", [world.utility, 2 * DAY])
    assert world.view("payments", "offline_window", [world.utility]) == 2 * DAY
    pay(world, 300, "HH-1", collected_at=T - 2 * DAY)  # the edge of the window is inside it
    error = world.fail(world.agent, "payments", "record_payment",
                       [world.meters["alice"], 300, "HH-2", T - 2 * DAY - 1], at=T + 1)
    assert f"within the offline window of {2 * DAY} s of utility ELEC expected" in error
    assert f"{2 * DAY + 2} s before its upload" in error
    assert cash(world)["collected"] == 300


def test_basic_default_offline_window_is_a_week(world: Any) -> None:
    assert world.view("payments", "offline_window", [world.utility]) == 7 * DAY
    pay(world, 300, "HH-1", collected_at=T - 7 * DAY)


def test_invalid_offline_window_set_by_an_operator_or_out_of_range(world: Any) -> None:
    error = world.fail(world.operator, "payments", "set_offline_window", [world.utility, DAY])
    assert "role admin" in error
    error = world.fail(world.admin, "payments", "set_offline_window", [world.utility, 91 * DAY])
    assert "offline window of 0 to 7776000 seconds expected" in error
    assert world.view("payments", "offline_window", [world.utility]) == 7 * DAY


def test_basic_invoice_payment_keeps_its_collection_time(world: Any) -> None:
    meter = world.meters["alice"]
    world.flat_tariff(meter, price_micro=1_000_000)  # 10.00 per kWh: 1 minor unit per Wh
    world.ok(world.alice, "billing", "submit_reading", [meter, "1.8.0", T - DAY, 1_000, "consumer", b"", b""],
             at=T - DAY)
    world.ok(world.operator, "billing", "close_period", [meter], at=T - DAY + 1)
    (inv,) = world.view("billing", "open_invoices", [meter])
    r = world.ok(world.agent, "payments", "record_invoice_payment", [inv["id"], 400, "INV-1", T - HOUR], at=T)
    (event,) = world.chain.events(r, "payment")
    assert event["collected_at"] == T - HOUR and event["invoice"] == inv["id"]
    assert cash(world)["collected"] == 400
    error = world.fail(world.agent, "payments", "record_invoice_payment", [inv["id"], 400, "INV-2", T + 5], at=T + 1)
    assert "collected_at not after the upload time" in error


# --- cash held and remitted ----------------------------------------------------------------


def test_basic_agent_cash_is_collected_reversed_and_remitted(world: Any) -> None:
    pay(world, 4_000, "R-1")
    wrong = pay(world, 900, "R-2", at=T + 60)
    world.ok(world.agent, "payments", "reverse_payment", [wrong["id"], "wrong meter"], at=T + 120)
    assert cash(world) == {"collected": 4_900, "reversed": 900, "remitted": 0, "outstanding": 4_000}
    r = world.ok(world.operator, "payments", "record_remittance",
                 [world.utility, world.agent.public_key, 2_500, "BANK-SLIP-1"], at=T + 180)
    (event,) = world.chain.events(r, "remittance")
    assert event["amount"] == 2_500 and event["outstanding"] == 1_500
    assert event["agent"] == world.agent.public_key and event["by"] == world.operator.public_key
    assert world.view("payments", "remittance", [event["id"]])["reference"] == "BANK-SLIP-1"
    assert cash(world) == {"collected": 4_900, "reversed": 900, "remitted": 2_500, "outstanding": 1_500}
    ledger = world.view("payments", "ledger", [world.utility])
    assert ledger["paid"] - ledger["reversed"] == ledger["remitted"] + cash(world)["outstanding"]
    figures = world.view("payments", "activity", [world.field, 0, 10**6])
    assert figures == {"cash_collected": 4_900, "cash_reversed": 900}


def test_invalid_remittance_beyond_what_the_agent_holds(world: Any) -> None:
    pay(world, 1_000, "R-1")
    error = world.fail(world.operator, "payments", "record_remittance",
                       [world.utility, world.agent.public_key, 1_001, "SLIP-1"], at=T + 60)
    assert f"a remittance of at most the 1000 agent {world.agent.public_key.hex()} holds expected" in error
    assert "found 1001" in error
    world.ok(world.operator, "payments", "record_remittance",
             [world.utility, world.agent.public_key, 1_000, "SLIP-1"], at=T + 120)
    error = world.fail(world.operator, "payments", "record_remittance",
                       [world.utility, world.agent.public_key, 1, "SLIP-2"], at=T + 180)
    assert "at most the 0 agent" in error
    assert cash(world)["outstanding"] == 0


def test_invalid_remittance_by_the_agent_itself_or_with_a_used_reference(world: Any) -> None:
    pay(world, 1_000, "R-1")
    error = world.fail(world.agent, "payments", "record_remittance",
                       [world.utility, world.agent.public_key, 100, "SLIP-1"], at=T + 60)
    assert "role operator or admin" in error
    first = world.ok(world.operator, "payments", "record_remittance",
                     [world.utility, world.agent.public_key, 100, "SLIP-1"], at=T + 120)
    (event,) = world.chain.events(first, "remittance")
    error = world.fail(world.operator, "payments", "record_remittance",
                       [world.utility, world.agent.public_key, 100, "SLIP-1"], at=T + 180)
    assert "SLIP-1" in error and event["id"] in error
    error = world.fail(world.operator, "payments", "record_remittance",
                       [world.utility, b"short", 100, "SLIP-9"], at=T + 240)
    assert "32-byte public key expected" in error
    assert cash(world)["remitted"] == 100
