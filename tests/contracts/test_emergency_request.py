"""Emergency credit on the consumer's request (issue 12): bob, the prepaid consumer on
``MTR-B``, takes emergency credit himself within the utility's policy (a limit, once per
period); it is drawn at 0 like any reserve and ends with the next purchase, which repays
what was used first. Named-actor scenarios, each with its ``test_invalid_*`` twin.

The tariff costs 1 minor unit per Wh (tests/contracts/test_prepaid.py), so a reading's
charge equals its consumption in Wh.
"""

from __future__ import annotations

from typing import Any

from tests.contracts.test_prepaid import DAY, HOUR, T0, buy, read, setup_prepaid

POLICY = {"emergency_request_limit": 1_000, "emergency_request_days": 7}


def request(world: Any, amount: int, at: int, who: Any = None, meter: str | None = None) -> Any:
    return world.chain.call(who or world.bob, "payments", "request_emergency_credit",
                            [meter or world.meters["bob"], amount], at=at)


def account(world: Any) -> dict[str, Any]:
    return dict(world.view("payments", "account", [world.meters["bob"]]))


def test_basic_bob_requests_emergency_credit_uses_it_and_repays_it_from_his_next_purchase(world: Any) -> None:
    setup_prepaid(world, POLICY)
    buy(world, 300, "V-1", at=T0 - 10)
    read(world, T0, 300)  # credit 0: supply is cut
    assert world.view("supply", "supply_status", [world.meters["bob"]])["status"] == "disconnected"
    r = request(world, 800, at=T0 + 60)
    assert r.ok, r.error
    (event,) = world.chain.events(r, "emergency_credit_requested")
    assert (event["amount"], event["limit"], event["credit"], event["by"]) == (800, 800, 800, world.bob.public_key)
    assert event["next_day"] == event["day"] + 7
    assert world.chain.return_value(r) == 800
    assert len(world.chain.events(r, "reconnect_order")) == 1  # back on, on emergency credit
    read(world, T0 + HOUR, 800)  # 500 of the 800 drawn
    acct = account(world)
    assert (acct["balance"], acct["emergency_limit"], acct["emergency_used"], acct["credit"]) == (0, 800, 500, 300)
    e = buy(world, 2_000, "V-2", at=T0 + 2 * HOUR)
    assert e["repaid_emergency"] == 500 and e["balance"] == 1_500
    acct = account(world)
    # The purchase ended the requested credit: nothing left in use, nothing left extended.
    assert (acct["emergency_limit"], acct["emergency_used"], acct["requested_emergency"]) == (0, 0, 0)
    assert acct["credit"] == 1_500


def test_basic_requested_credit_ends_in_parts_when_a_purchase_repays_only_part(world: Any) -> None:
    setup_prepaid(world, {**POLICY, "emergency_credit": 200})  # 200 granted at opening
    request(world, 1_000, at=T0)
    read(world, T0 + HOUR, 1_100)  # 1100 of the 1200 reserve in use
    r = world.ok(world.vendor, "payments", "buy_credit", [world.meters["bob"], 300, "V-1"], at=T0 + 2 * HOUR)
    (ended,) = world.chain.events(r, "requested_emergency_credit_ended")
    # 800 in use: the extension shrinks to what still covers it above the opening reserve.
    assert (ended["withdrawn"], ended["still_extended"], ended["limit"]) == (400, 600, 800)
    r = world.ok(world.agent, "payments", "record_payment", [world.meters["bob"], 1_000, "P-1"], at=T0 + 3 * HOUR)
    (ended,) = world.chain.events(r, "requested_emergency_credit_ended")
    assert (ended["withdrawn"], ended["still_extended"], ended["limit"]) == (600, 0, 200)
    acct = account(world)
    assert (acct["balance"], acct["emergency_used"], acct["credit"]) == (200, 0, 400)


def test_basic_bob_requests_again_in_the_next_period(world: Any) -> None:
    setup_prepaid(world, POLICY)
    assert request(world, 400, at=T0).ok
    buy(world, 100, "V-1", at=T0 + HOUR)  # ends the request
    r = request(world, 400, at=T0 + 7 * DAY)
    assert r.ok, r.error
    assert account(world)["emergency_limit"] == 400


def test_invalid_request_over_the_limit_in_the_same_period_or_while_still_extended(world: Any) -> None:
    setup_prepaid(world, POLICY)
    r = request(world, 1_001, at=T0)
    assert not r.ok and "emergency credit of at most 1000 expected, found 1001" in str(r.error)
    assert request(world, 600, at=T0 + 1).ok
    r = request(world, 100, at=T0 + HOUR)  # still extended
    assert not r.ok and "no requested emergency credit still extended expected, found 600" in str(r.error)
    buy(world, 100, "V-1", at=T0 + 2 * HOUR)
    r = request(world, 100, at=T0 + 6 * DAY)  # ended, but within the 7 days
    assert not r.ok and "one request in 7 days" in str(r.error) and "expected, found day" in str(r.error)
    assert account(world)["emergency_limit"] == 0


def test_invalid_request_by_another_account_on_a_postpaid_meter_or_without_a_policy(world: Any) -> None:
    setup_prepaid(world)
    r = request(world, 100, at=T0)  # the utility offers none (limit 0)
    assert not r.ok and "emergency credit on request offered by ELEC expected, found none" in str(r.error)
    world.ok(world.admin, "payments", "set_policy", [world.utility, POLICY], at=T0 + 1)
    for n, who in enumerate((world.operator, world.alice)):
        r = request(world, 100, at=T0 + 2 + n, who=who)
        assert not r.ok and f"the consumer {world.bob.public_key.hex()} of MTR-B expected" in str(r.error)
    r = request(world, 100, at=T0 + 4, who=world.alice, meter=world.meters["alice"])
    assert not r.ok and "a prepaid subscription on MTR-A expected, found postpaid" in str(r.error)
    for n, amount in enumerate((0, -5)):
        r = request(world, amount, at=T0 + 5 + n)
        assert not r.ok and "positive amount expected" in str(r.error)
    assert account(world)["emergency_limit"] == 0


def test_invalid_policy_for_requests(world: Any) -> None:
    cases = [
        ({"emergency_request_limit": -1}, "emergency_request_limit in [0,"),
        ({"emergency_request_days": 0}, "emergency_request_days in [1, 366]"),
        ({"emergency_request_days": "monthly"}, "emergency_request_days in [1, 366]"),
    ]
    for changes, expected in cases:
        assert expected in world.fail(world.admin, "payments", "set_policy", [world.utility, changes])
    assert "role admin" in world.fail(world.operator, "payments", "set_policy", [world.utility, POLICY])
