"""Prepaid credit across the subscription's life: orders deferred by friendly hours and
retried, emergency credit that restores supply, agent payments on a prepaid meter, and
credit that belongs to the subscription when the premises move or the meter is replaced."""

from __future__ import annotations

from typing import Any

from tests.contracts.conftest import GENESIS_TIME
from tests.contracts.test_prepaid import DAY, HOUR, T0, buy, credit, read, setup_prepaid
from wallet import vouchers

NIGHT = GENESIS_TIME + DAY + 22 * HOUR  # Thursday 22:00 UTC: friendly hours (default 08-17)
NEXT_MORNING = GENESIS_TIME + 2 * DAY + 9 * HOUR  # Friday 09:00 UTC


def test_basic_disconnection_deferred_at_night_is_retried_by_the_next_reading(world: Any) -> None:
    setup_prepaid(world)
    buy(world, 500, "V-1", at=NIGHT - 100)
    r = read(world, NIGHT, 800)
    (deferred,) = world.chain.events(r, "disconnect_deferred")
    assert "friendly hours" in deferred["reason_blocked"]
    assert world.chain.events(r, "disconnect_order") == []
    assert len(world.chain.events(r, "credit_exhausted")) == 1
    r = read(world, NEXT_MORNING, 850)
    assert world.chain.events(r, "credit_exhausted") == []  # once per crossing
    (order,) = world.chain.events(r, "disconnect_order")
    assert order["meter"] == world.meters["bob"]


def test_invalid_no_second_order_once_disconnected(world: Any) -> None:
    setup_prepaid(world)
    buy(world, 500, "V-1", at=T0 - 100)
    assert len(world.chain.events(read(world, T0, 800), "disconnect_order")) == 1
    r = read(world, T0 + HOUR, 900)
    assert world.chain.events(r, "disconnect_order") == []
    assert world.chain.events(r, "disconnect_deferred") == []
    assert credit(world) == -400


def test_basic_emergency_grant_reconnects_a_disconnected_meter(world: Any) -> None:
    setup_prepaid(world)
    buy(world, 500, "V-1", at=T0 - 100)
    read(world, T0, 700)  # credit -200: disconnected
    r = world.ok(world.operator, "payments", "grant_emergency_credit", [world.meters["bob"], 1_000], at=T0 + 60)
    assert len(world.chain.events(r, "reconnect_order")) == 1
    assert credit(world) == 800
    # The debt and the reserve in use are repaid from the next purchase.
    e = buy(world, 1_000, "V-2", at=T0 + 120)
    acct = world.view("payments", "account", [world.meters["bob"]])
    assert e["repaid_emergency"] == 0  # the reserve was not drawn: the balance was already negative
    assert (acct["balance"], acct["emergency_used"], acct["credit"]) == (800, 0, 1_800)


def test_invalid_emergency_grant_does_not_reconnect_while_still_exhausted(world: Any) -> None:
    setup_prepaid(world)
    buy(world, 500, "V-1", at=T0 - 100)
    read(world, T0, 2_000)  # credit -1500
    r = world.ok(world.operator, "payments", "grant_emergency_credit", [world.meters["bob"], 1_000], at=T0 + 60)
    assert world.chain.events(r, "reconnect_order") == []
    assert credit(world) == -500


def test_basic_agent_payment_on_prepaid_meter_repays_emergency_first(world: Any) -> None:
    setup_prepaid(world, {"emergency_credit": 600})
    read(world, T0, 400)  # no balance: 400 of the 600 reserve in use
    r = world.ok(world.agent, "payments", "record_payment", [world.meters["bob"], 1_000, "R-1"], at=T0 + 60)
    (event,) = world.chain.events(r, "payment")
    assert (event["applied"], event["remainder"], event["repaid_emergency"], event["balance"]) == (0, 1_000, 400, 600)
    assert credit(world) == 1_200


def test_basic_credit_stays_with_the_outgoing_subscriber_on_move_in(world: Any) -> None:
    setup_prepaid(world, {"emergency_credit": 300})
    buy(world, 2_000, "V-1", at=T0 - 100)
    read(world, T0, 500)
    carol = world.chain.actor("carol")
    world.ok(world.operator, "registry", "move_in", [world.meters["bob"], carol.public_key, 700], at=T0 + HOUR)
    old = world.view("payments", "subscription_account", ["MTR-B#1"])
    assert old["balance"] == 2_000 - 700 and old["consumer"] == world.bob.public_key
    # The new subscriber starts with only the utility's reserve.
    assert world.view("registry", "subscription", [world.meters["bob"]])["id"] == "MTR-B#2"
    assert credit(world) == 300
    acct = world.view("payments", "account", [world.meters["bob"]])
    assert acct["subscription"] == "MTR-B#2" and acct["consumer"] == carol.public_key


def test_invalid_outgoing_subscriber_cannot_redeem_on_the_moved_meter(world: Any) -> None:
    setup_prepaid(world)
    code = "2222-3333-4444-5555-6666"
    world.ok(world.admin, "payments", "issue_vouchers", [world.utility, 1_000, [vouchers.voucher_key(code).public_key]])
    carol = world.chain.actor("carol")
    world.ok(world.operator, "registry", "move_in", [world.meters["bob"], carol.public_key, 0], at=T0)
    public_key, signature = vouchers.sign_redemption(code, world.meters["bob"], world.bob.public_key)
    error = world.fail(world.bob, "payments", "redeem_voucher", [world.meters["bob"], public_key, signature], at=T0 + 1)
    assert "consumer" in error and carol.public_key.hex() in error


def test_basic_credit_follows_the_subscription_to_a_replacement_meter(world: Any) -> None:
    setup_prepaid(world)
    buy(world, 2_000, "V-1", at=T0 - 100)
    read(world, T0, 500)
    world.ok(world.operator, "registry", "replace_meter",
             [world.meters["bob"], "MTR-B2", 1, 6, 20_000, b"", b"", 600, 0], at=T0 + HOUR)
    assert credit(world, "MTR-B2") == 2_000 - 600
    acct = world.view("payments", "account", ["MTR-B2"])
    assert acct["subscription"] == "MTR-B#1" and acct["meter"] == "MTR-B2"
    read(world, T0 + 2 * HOUR, 100, meter="MTR-B2")
    assert credit(world, "MTR-B2") == 1_300
