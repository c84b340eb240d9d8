"""Prepaid credit: vendor floats and commission, purchases, emergency credit, and
charges made by billing as readings arrive (low-balance warning, exhaustion, disconnect or
load limit, reconnection). Named-actor scenarios through LocalChain, each with its
``test_invalid_*`` twin.

Bob (``world.bob``) is the prepaid consumer on meter ``MTR-B``. The tariff used here costs
exactly 1 minor unit per Wh (price 1,000,000 micro-units, no standing charge, no tax), so
a reading's charge equals its consumption in Wh.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.conftest import GENESIS_TIME

DAY = 86400
HOUR = 3600
# Thursday 2025-01-02 10:00 UTC: a working day, within any friendly-hours window.
T0 = GENESIS_TIME + DAY + 10 * HOUR
FLAT_TARIFF = {"standing_charge_per_day": 0, "tiers": [[None, 1_000_000]], "tax_bp": 0}


def setup_prepaid(world: Any, policy: dict[str, Any] | None = None, float_amount: int = 100_000) -> None:
    """Tariff for bob's meter, the vendor's float, and an optional prepaid policy."""
    world.ok(world.admin, "billing", "set_tariff", [world.utility, "FLAT", FLAT_TARIFF, world.chain.time + 1])
    world.ok(world.operator, "billing", "assign_tariff", [world.meters["bob"], "FLAT"])
    if policy is not None:
        world.ok(world.admin, "payments", "set_policy", [world.utility, policy])
    if float_amount:
        world.ok(world.admin, "payments", "register_vendor_float",
                 [world.utility, world.vendor.public_key, float_amount])


def buy(world: Any, amount: int, reference: str, meter: str | None = None, at: int | None = None) -> dict:
    r = world.ok(world.vendor, "payments", "buy_credit", [meter or world.meters["bob"], amount, reference], at=at)
    (event,) = world.chain.events(r, "credit_purchase")
    return event


def read(world: Any, at: int, index: int, who: Any = None, meter: str | None = None) -> Any:
    """Bob reads his own meter at ``at`` (the block time too); returns the receipt."""
    return world.ok(who or world.bob, "billing", "submit_reading",
                    [meter or world.meters["bob"], "1.8.0", at, index, "consumer", b"", b""], at=at)


def credit(world: Any, meter: str | None = None) -> int:
    return int(world.view("payments", "credit", [meter or world.meters["bob"]]))


# --- vendor float ----------------------------------------------------------------------


def test_basic_vendor_float_registered_by_admin(world: Any) -> None:
    r = world.ok(world.admin, "payments", "register_vendor_float", [world.utility, world.vendor.public_key, 50_000])
    (event,) = world.chain.events(r, "vendor_float")
    assert event["float"] == 50_000 and event["by"] == world.admin.public_key
    world.ok(world.agent, "payments", "register_vendor_float", [world.utility, world.vendor.public_key, 1_000])
    f = world.view("payments", "vendor_float", [world.utility, world.vendor.public_key])
    assert f == {"float": 51_000, "commission": 0}


def test_invalid_vendor_float_by_consumer_or_for_a_non_vendor(world: Any) -> None:
    error = world.fail(world.bob, "payments", "register_vendor_float", [world.utility, world.bob.public_key, 50_000])
    assert "role admin or agent" in error
    error = world.fail(world.admin, "payments", "register_vendor_float", [world.utility, world.bob.public_key, 50_000])
    assert "registered vendor" in error


# --- purchases -------------------------------------------------------------------------


def test_basic_vendor_sells_credit_with_commission(world: Any) -> None:
    setup_prepaid(world, {"commission_bp": 150}, float_amount=10_000)
    e = buy(world, 2_000, "V-1")
    assert e["amount"] == 2_000 and e["commission"] == 30  # 1.5 % of 2000
    assert e["repaid_emergency"] == 0 and e["balance"] == 2_000
    assert isinstance(e["sts_ref"], bytes) and len(e["sts_ref"]) == 32
    assert world.view("payments", "vendor_float", [world.utility, world.vendor.public_key]) == {
        "float": 8_000, "commission": 30}
    assert credit(world) == 2_000
    record = world.view("payments", "purchase", [e["id"]])
    assert record["vendor"] == world.vendor.public_key and record["sts_ref"] == e["sts_ref"]
    # Commission rounds half up: 1.5 % of 33 = 0.495 -> 0, of 100 = 1.5 -> 2.
    assert buy(world, 33, "V-2")["commission"] == 0
    assert buy(world, 100, "V-3")["commission"] == 2


def test_basic_each_purchase_has_a_unique_id_and_sts_ref(world: Any) -> None:
    setup_prepaid(world)
    a, b = buy(world, 500, "V-1"), buy(world, 500, "V-2")
    assert a["id"] != b["id"] and a["sts_ref"] != b["sts_ref"]


def test_invalid_top_up_by_unregistered_vendor(world: Any) -> None:
    setup_prepaid(world)
    mallory = world.chain.actor("mallory")
    error = world.fail(mallory, "payments", "buy_credit", [world.meters["bob"], 1_000, "V-1"])
    assert "role vendor" in error
    error = world.fail(world.agent, "payments", "buy_credit", [world.meters["bob"], 1_000, "V-1"])
    assert "role vendor" in error
    assert credit(world) == 0


def test_invalid_vendor_float_insufficient(world: Any) -> None:
    setup_prepaid(world, float_amount=1_000)
    buy(world, 600, "V-1")
    error = world.fail(world.vendor, "payments", "buy_credit", [world.meters["bob"], 401, "V-2"])
    assert "vendor float of at least 401 expected, found 400" in error
    assert credit(world) == 600


def test_invalid_purchase_for_postpaid_meter_or_duplicate_reference(world: Any) -> None:
    setup_prepaid(world)
    error = world.fail(world.vendor, "payments", "buy_credit", [world.meters["alice"], 1_000, "V-1"])
    assert "prepaid subscription" in error and "postpaid" in error
    buy(world, 100, "V-1")
    error = world.fail(world.vendor, "payments", "buy_credit", [world.meters["bob"], 100, "V-1"])
    assert "V-1" in error and "already used" in error


# --- emergency credit ------------------------------------------------------------------


def test_basic_emergency_credit_granted_at_activation_by_policy(world: Any) -> None:
    world.ok(world.admin, "payments", "set_policy", [world.utility, {"emergency_credit": 800}])
    carol = world.new_consumer("carol", "prepaid")
    assert carol is not None
    acct = world.view("payments", "account", [world.meters["carol"]])
    assert acct["emergency_limit"] == 800 and acct["balance"] == 0
    assert credit(world, world.meters["carol"]) == 800
    # Postpaid accounts get no reserve.
    world.new_consumer("dave", "postpaid")
    assert credit(world, world.meters["dave"]) == 0


def test_basic_operator_grants_emergency_credit(world: Any) -> None:
    r = world.ok(world.operator, "payments", "grant_emergency_credit", [world.meters["bob"], 500])
    (event,) = world.chain.events(r, "emergency_credit_granted")
    assert event["limit"] == 500 and event["credit"] == 500
    assert world.chain.return_value(r) == 500


def test_invalid_emergency_credit_by_agent_consumer_or_for_postpaid(world: Any) -> None:
    for who in (world.agent, world.bob):
        error = world.fail(who, "payments", "grant_emergency_credit", [world.meters["bob"], 500])
        assert "role operator" in error
    error = world.fail(world.operator, "payments", "grant_emergency_credit", [world.meters["alice"], 500])
    assert "prepaid subscription" in error
    assert credit(world) == 0


# --- charges by billing ----------------------------------------------------------------


@pytest.mark.parametrize("who", ["bob", "operator", "gov", "vendor"])
def test_invalid_charge_prepaid_called_by_non_billing_caller(world: Any, who: str) -> None:
    setup_prepaid(world)
    buy(world, 1_000, "V-1")
    error = world.fail(getattr(world, who), "payments", "charge_prepaid", [world.meters["bob"], 600, "x"])
    assert "contract:billing" in error
    assert credit(world) == 1_000


def test_basic_readings_deduct_credit_at_the_tariff(world: Any) -> None:
    setup_prepaid(world)
    buy(world, 5_000, "V-1", at=T0 - 10)
    r = read(world, T0, 1_200)
    (deducted,) = world.chain.events(r, "credit_deducted")
    (priced,) = world.chain.events(r, "prepaid_charge")  # billing's pricing of the same reading
    assert priced["amount"] == deducted["amount"]
    # The span from installation (genesis) to T0 is charged at 1 unit per Wh.
    assert deducted["amount"] == 1_200 and deducted["balance"] == 3_800
    read(world, T0 + HOUR, 2_000)
    assert credit(world) == 3_000
    acct = world.view("payments", "account", [world.meters["bob"]])
    assert acct["charged"] == 2_000 and acct["credited"] == 5_000


def test_basic_low_balance_warning_once_per_crossing(world: Any) -> None:
    setup_prepaid(world)
    world.ok(world.bob, "registry", "set_low_balance_threshold", [world.meters["bob"], 1_000], at=T0 - 20)
    buy(world, 3_000, "V-1", at=T0 - 10)
    assert world.chain.events(read(world, T0, 1_500), "low_balance") == []  # 1500 left
    (warn,) = world.chain.events(read(world, T0 + HOUR, 2_100), "low_balance")  # 900 left
    assert warn["balance"] == 900 and warn["threshold"] == 1_000 and warn["consumer"] == world.bob.public_key
    assert world.chain.events(read(world, T0 + 2 * HOUR, 2_200), "low_balance") == []  # 800: still below
    buy(world, 2_000, "V-2", at=T0 + 2 * HOUR + 10)  # 2800: re-armed
    assert world.chain.events(read(world, T0 + 3 * HOUR, 3_000), "low_balance") == []  # 2000
    (again,) = world.chain.events(read(world, T0 + 4 * HOUR, 4_100), "low_balance")  # 900
    assert again["balance"] == 900


def test_basic_emergency_credit_used_at_zero_and_repaid_from_next_purchase(world: Any) -> None:
    setup_prepaid(world, {"emergency_credit": 1_000})
    buy(world, 500, "V-1", at=T0 - 10)
    r = read(world, T0, 800)  # 500 from balance, 300 from the reserve
    assert len(world.chain.events(r, "emergency_credit_in_use")) == 1
    acct = world.view("payments", "account", [world.meters["bob"]])
    assert (acct["balance"], acct["emergency_used"], acct["credit"]) == (0, 300, 700)
    assert world.chain.events(r, "credit_exhausted") == []
    e = buy(world, 2_000, "V-2", at=T0 + 10)
    assert e["repaid_emergency"] == 300 and e["balance"] == 1_700
    acct = world.view("payments", "account", [world.meters["bob"]])
    assert (acct["emergency_used"], acct["credit"]) == (0, 2_700)


def test_basic_exhausted_credit_orders_disconnection_and_purchase_reconnects(world: Any) -> None:
    setup_prepaid(world)
    buy(world, 500, "V-1", at=T0 - 10)
    r = read(world, T0, 800)  # 300 beyond the credit: a debt
    (gone,) = world.chain.events(r, "credit_exhausted")
    assert gone["balance"] == -300 and gone["credit"] == -300
    (order,) = world.chain.events(r, "disconnect_order")
    assert order["meter"] == world.meters["bob"] and order["reason"] == "prepaid credit exhausted"
    assert world.view("supply", "supply_status", [world.meters["bob"]])["status"] == "disconnected"
    # The debt is kept: a purchase of 200 does not bring credit back above 0.
    buy(world, 200, "V-2", at=T0 + 10)
    assert credit(world) == -100
    assert world.view("supply", "supply_status", [world.meters["bob"]])["status"] == "disconnected"
    r = world.ok(world.vendor, "payments", "buy_credit", [world.meters["bob"], 1_000, "V-3"], at=T0 + 20)
    assert len(world.chain.events(r, "reconnect_order")) == 1
    assert credit(world) == 900


def test_invalid_disconnection_of_protected_customer_is_deferred_not_reverted(world: Any) -> None:
    setup_prepaid(world)
    world.ok(world.operator, "registry", "set_protected", [world.meters["bob"], True, "life support"], at=T0 - 20)
    buy(world, 500, "V-1", at=T0 - 10)
    r = read(world, T0, 800)  # the reading stands even though no order can be given
    assert world.chain.events(r, "disconnect_order") == []
    assert len(world.chain.events(r, "disconnect_deferred")) == 1
    assert credit(world) == -300


def test_basic_load_limit_instead_of_disconnection(world: Any) -> None:
    setup_prepaid(world, {"exhausted_action": "load_limit", "load_limit_watts": 500})
    buy(world, 500, "V-1", at=T0 - 10)
    r = read(world, T0, 800)
    assert world.chain.events(r, "disconnect_order") == []
    (order,) = world.chain.events(r, "load_limit_order")
    assert order["watts"] == 500 and order["meter"] == world.meters["bob"]


def test_invalid_policy_values(world: Any) -> None:
    cases = [
        ({"exhausted_action": "explode"}, "exhausted_action"),
        ({"exhausted_action": "load_limit"}, "load_limit_watts > 0"),
        ({"commission_bp": 10_001}, "commission_bp"),
        ({"emergency_credit": -1}, "emergency_credit"),
        ({"surprise": 1}, "policy key"),
    ]
    for changes, expected in cases:
        assert expected in world.fail(world.admin, "payments", "set_policy", [world.utility, changes])
    assert "role admin" in world.fail(world.operator, "payments", "set_policy", [world.utility, {"commission_bp": 1}])
