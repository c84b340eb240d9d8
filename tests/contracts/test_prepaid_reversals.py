"""Vendors' same-day purchase reversals (the STS token is void, the float and commission come
back) and the settlement of vendor commission. Named-actor scenarios through LocalChain,
each with its ``test_invalid_*`` twin.

Bob is the prepaid consumer on ``MTR-B``; the tariff costs 1 minor unit per Wh. The
utility pays its vendors 1.5 % commission (150 basis points).
"""

from __future__ import annotations

from typing import Any

from tests.contracts.test_prepaid import DAY, HOUR, T0, buy, credit, read, setup_prepaid

POLICY = {"commission_bp": 150}


def reverse(world: Any, purchase_id: str, at: int, who: Any = None, reason: str = "wrong meter keyed") -> Any:
    return world.chain.call(who or world.vendor, "payments", "reverse_purchase", [purchase_id, reason], at=at)


def statement(world: Any, vendor: Any = None) -> dict[str, Any]:
    return dict(world.view("payments", "commission_statement", [world.utility, (vendor or world.vendor).public_key]))


# --- purchase reversals -----------------------------------------------------------------


def test_basic_vendor_reverses_a_purchase_the_same_day(world: Any) -> None:
    setup_prepaid(world, POLICY, float_amount=10_000)
    sale = buy(world, 2_000, "V-1", at=T0)
    r = world.ok(world.vendor, "payments", "reverse_purchase", [sale["id"], "sold on the wrong meter"], at=T0 + HOUR)
    (event,) = world.chain.events(r, "purchase_reversed")
    assert (event["amount"], event["commission"], event["balance"], event["credit"]) == (2_000, 30, 0, 0)
    assert event["by"] == world.vendor.public_key and event["at"] == T0 + HOUR
    assert event["sts_ref"] == sale["sts_ref"] and event["subscription"] == "MTR-B#1"
    # The token bound to the purchase is void; the float and the commission are back.
    record = world.view("payments", "purchase", [sale["id"]])
    assert record["void"] is True and record["reversed"] is True
    assert record["reversal_reason"] == "sold on the wrong meter" and record["reversed_at"] == T0 + HOUR
    assert world.view("payments", "vendor_float", [world.utility, world.vendor.public_key]) == {
        "float": 10_000, "commission": 0}
    assert credit(world) == 0
    acct = world.view("payments", "account", [world.meters["bob"]])
    assert acct["credited"] == 0 and acct["position"] == 0
    ledger = world.view("payments", "ledger", [world.utility])
    assert (ledger["purchased"], ledger["purchase_reversed"], ledger["float_balance"]) == (2_000, 2_000, 10_000)
    assert (ledger["commission"], ledger["commission_reversed"]) == (30, 30)


def test_invalid_reversal_twice_or_without_reason_and_reference_stays_used(world: Any) -> None:
    setup_prepaid(world, POLICY)
    sale = buy(world, 1_000, "V-1", at=T0)
    error = world.fail(world.vendor, "payments", "reverse_purchase", [sale["id"], ""], at=T0 + 1)
    assert "a reason for the reversal expected" in error
    assert reverse(world, sale["id"], T0 + 2).ok
    error = world.fail(world.vendor, "payments", "reverse_purchase", [sale["id"], "again"], at=T0 + 3)
    assert f"a purchase not yet reversed expected, found {sale['id']} reversed at {T0 + 2}" in error
    # The vendor's receipt number was spent by the reversed sale: a retry cannot reuse it.
    error = world.fail(world.vendor, "payments", "buy_credit", [world.meters["bob"], 1_000, "V-1"], at=T0 + 4)
    assert "already used" in error
    assert "no purchase BUY-0000000099" in world.fail(world.vendor, "payments", "reverse_purchase",
                                                      ["BUY-0000000099", "x"], at=T0 + 5)


def test_basic_reversal_after_consumption_the_remaining_balance_covers(world: Any) -> None:
    setup_prepaid(world, POLICY)
    buy(world, 2_000, "V-1", at=T0 - 20)
    second = buy(world, 1_000, "V-2", at=T0 - 10)
    read(world, T0, 800)  # 2200 left: the second sale's 1000 is still there
    assert reverse(world, second["id"], T0 + 10).ok
    assert credit(world) == 1_200


def test_invalid_reversal_once_the_credit_is_consumed(world: Any) -> None:
    setup_prepaid(world, POLICY)
    sale = buy(world, 1_000, "V-1", at=T0 - 10)
    read(world, T0, 300)
    r = reverse(world, sale["id"], T0 + 10)
    assert not r.ok and r.events == ()
    assert f"an unspent balance of at least 1000 to reverse {sale['id']} expected, found 700" in str(r.error)
    assert world.view("payments", "purchase", [sale["id"]])["void"] is False
    assert credit(world) == 700
    assert world.view("payments", "vendor_float", [world.utility, world.vendor.public_key])["float"] == 99_000


def test_invalid_reversal_by_another_vendor_or_an_agent(world: Any) -> None:
    setup_prepaid(world, POLICY)
    vendor2 = world.chain.actor("elec-vendor-2")
    world.ok(world.admin, "registry", "grant_role", [vendor2.public_key, world.utility, "vendor"])
    sale = buy(world, 1_000, "V-1", at=T0)
    for n, who in enumerate((vendor2, world.agent, world.bob)):
        r = reverse(world, sale["id"], T0 + 10 + n, who=who)
        assert not r.ok and f"reversal by the vendor {world.vendor.public_key.hex()}" in str(r.error)
    assert credit(world) == 1_000


def test_invalid_reversal_on_a_later_day(world: Any) -> None:
    setup_prepaid(world, POLICY)
    sale = buy(world, 1_000, "V-1", at=T0)
    r = reverse(world, sale["id"], T0 + DAY)
    day = T0 // DAY
    assert not r.ok and f"reversal on the purchase's day {day} expected, found day {day + 1}" in str(r.error)


def test_basic_reversal_of_a_sale_that_repaid_emergency_credit(world: Any) -> None:
    """The part of the sale that repaid the reserve is drawn from the reserve again."""
    setup_prepaid(world, {"commission_bp": 150, "emergency_credit": 1_000})
    buy(world, 500, "V-1", at=T0 - 20)
    read(world, T0, 800)  # balance 0, 300 of the reserve in use
    sale = buy(world, 2_000, "V-2", at=T0 + 10)
    assert sale["repaid_emergency"] == 300
    r = reverse(world, sale["id"], T0 + 20)
    assert r.ok, r.error
    acct = world.view("payments", "account", [world.meters["bob"]])
    assert (acct["balance"], acct["emergency_used"], acct["credit"], acct["position"]) == (0, 300, 700, -300)
    assert acct["position"] == acct["credited"] - acct["charged"] - acct["refunded"] - acct["applied_credit"]


def test_invalid_reversal_when_the_reserve_was_drawn_again(world: Any) -> None:
    """A sale that only repaid emergency credit, after which the reserve was used again:
    there is no room to draw its repayment back, so it is refused."""
    setup_prepaid(world, {"commission_bp": 150, "emergency_credit": 1_000})
    read(world, T0, 600)  # 600 of the reserve in use
    sale = buy(world, 600, "V-1", at=T0 + 10)  # repays it all
    read(world, T0 + 20, 1_200)  # 600 in use again
    r = reverse(world, sale["id"], T0 + 30)
    assert not r.ok and "emergency reserve room of at least 600" in str(r.error) and "found 400" in str(r.error)


# --- commission settlement ----------------------------------------------------------------


def test_basic_admin_and_agent_settle_accrued_commission(world: Any) -> None:
    setup_prepaid(world, POLICY)
    buy(world, 2_000, "V-1", at=T0)  # 30
    buy(world, 4_000, "V-2", at=T0 + 10)  # 60
    r = world.ok(world.admin, "payments", "settle_commission",
                 [world.utility, world.vendor.public_key, 50, "PAYOUT-1"], at=T0 + 20)
    (event,) = world.chain.events(r, "commission_settled")
    assert (event["amount"], event["owed_before"], event["owed_after"]) == (50, 90, 40)
    assert event["by"] == world.admin.public_key and event["at"] == T0 + 20 and event["reference"] == "PAYOUT-1"
    first = world.chain.return_value(r)
    second = world.chain.return_value(world.ok(world.agent, "payments", "settle_commission",
                                               [world.utility, world.vendor.public_key, 40, "PAYOUT-2"], at=T0 + 30))
    assert statement(world) == {
        "utility": world.utility, "vendor": world.vendor.public_key, "earned": 90, "reversed": 0,
        "settled": 90, "owed": 0, "settlements": 2, "float": 94_000}
    assert world.view("payments", "vendor_float", [world.utility, world.vendor.public_key])["commission"] == 0
    listed = world.view("payments", "commission_settlements", [world.utility, world.vendor.public_key, "", 10])
    assert [s["id"] for s in listed] == [first, second] and [s["amount"] for s in listed] == [50, 40]
    after_first = world.view("payments", "commission_settlements", [world.utility, world.vendor.public_key, first, 10])
    assert [s["id"] for s in after_first] == [second]
    assert world.view("payments", "commission_settlement", [second])["reference"] == "PAYOUT-2"
    assert world.view("payments", "ledger", [world.utility])["commission_settled"] == 90


def test_invalid_settlement_beyond_accrued_by_wrong_role_or_reused_reference(world: Any) -> None:
    setup_prepaid(world, POLICY)
    buy(world, 2_000, "V-1", at=T0)  # 30 accrued
    args = [world.utility, world.vendor.public_key, 31, "PAYOUT-1"]
    assert "at most the accrued commission 30 expected, found 31" in world.fail(
        world.admin, "payments", "settle_commission", args)
    for who in (world.vendor, world.operator, world.bob):
        assert "role admin or agent" in world.fail(who, "payments", "settle_commission",
                                                   [world.utility, world.vendor.public_key, 10, "PAYOUT-1"])
    assert "positive amount expected, found 0" in world.fail(
        world.admin, "payments", "settle_commission", [world.utility, world.vendor.public_key, 0, "PAYOUT-1"])
    world.ok(world.admin, "payments", "settle_commission", [world.utility, world.vendor.public_key, 10, "PAYOUT-1"])
    error = world.fail(world.admin, "payments", "settle_commission",
                       [world.utility, world.vendor.public_key, 10, "PAYOUT-1"])
    assert "PAYOUT-1 already used by CMS-0000000001" in error
    assert statement(world)["owed"] == 20


def test_basic_reversal_takes_its_commission_out_of_the_accrued(world: Any) -> None:
    setup_prepaid(world, POLICY)
    buy(world, 2_000, "V-1", at=T0)  # 30
    sale = buy(world, 4_000, "V-2", at=T0 + 10)  # 60
    world.ok(world.admin, "payments", "settle_commission",
             [world.utility, world.vendor.public_key, 30, "PAYOUT-1"], at=T0 + 20)
    assert reverse(world, sale["id"], T0 + 30).ok
    s = statement(world)
    assert (s["earned"], s["reversed"], s["settled"], s["owed"]) == (90, 60, 30, 0)


def test_invalid_reversal_when_its_commission_was_already_settled(world: Any) -> None:
    setup_prepaid(world, POLICY)
    sale = buy(world, 2_000, "V-1", at=T0)  # 30
    world.ok(world.admin, "payments", "settle_commission",
             [world.utility, world.vendor.public_key, 30, "PAYOUT-1"], at=T0 + 10)
    r = reverse(world, sale["id"], T0 + 20)
    assert not r.ok
    assert f"accrued commission of at least 30 to reverse {sale['id']} expected, found 0" in str(r.error)
    assert credit(world) == 2_000 and world.view("payments", "purchase", [sale["id"]])["void"] is False
