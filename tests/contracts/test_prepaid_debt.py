"""Prepaid debt recovered as a set share of each payment (issue 12): an operator records an
old debt on bob's prepaid account, or reschedules his negative balance into one; every
purchase, voucher or agent payment then gives its share to the debt until it is cleared,
each recovery on record. Named-actor scenarios, each with its ``test_invalid_*`` twin.

The tariff costs 1 minor unit per Wh (tests/contracts/test_prepaid.py).
"""

from __future__ import annotations

from typing import Any

from tests.contracts.test_prepaid import HOUR, T0, buy, read, setup_prepaid
from wallet import vouchers


def account(world: Any) -> dict[str, Any]:
    return dict(world.view("payments", "account", [world.meters["bob"]]))


def record_debt(world: Any, amount: int, share_bp: int, at: int, who: Any = None) -> Any:
    return world.chain.call(who or world.operator, "payments", "record_prepaid_debt",
                            [world.meters["bob"], amount, share_bp, "arrears of postpaid account MTR-B#0"], at=at)


def test_basic_old_debt_recovered_as_a_quarter_of_each_purchase_until_cleared(world: Any) -> None:
    setup_prepaid(world)
    r = record_debt(world, 1_000, 2_500, at=T0)
    assert r.ok, r.error
    (recorded,) = world.chain.events(r, "prepaid_debt_recorded")
    assert (recorded["amount"], recorded["share_bp"], recorded["debt"]) == (1_000, 2_500, 1_000)
    assert world.chain.return_value(r) == 1_000
    assert account(world)["credit"] == 0  # the debt is kept apart: it blocks nothing
    r = world.ok(world.vendor, "payments", "buy_credit", [world.meters["bob"], 2_000, "V-1"], at=T0 + 10)
    (sale,) = world.chain.events(r, "credit_purchase")
    (recovery,) = world.chain.events(r, "prepaid_debt_recovered")
    assert (sale["debt_recovered"], sale["balance"]) == (500, 1_500)
    assert (recovery["paid"], recovery["amount"], recovery["debt"]) == (2_000, 500, 500)
    e = buy(world, 3_000, "V-2", at=T0 + 20)  # a quarter would be 750: the 500 left is taken
    assert (e["debt_recovered"], e["balance"]) == (500, 4_000)
    e = buy(world, 1_000, "V-3", at=T0 + 30)  # cleared: nothing more taken
    assert (e["debt_recovered"], e["balance"]) == (0, 5_000)
    acct = account(world)
    assert (acct["debt"], acct["debt_recorded"], acct["debt_recovered"]) == (0, 1_000, 1_000)
    assert acct["balance"] - acct["emergency_used"] == (
        acct["credited"] - acct["charged"] - acct["refunded"] - acct["applied_credit"]
        - acct["debt_recovered"] + acct.get("debt_moved", 0))
    ledger = world.view("payments", "ledger", [world.utility])
    assert (ledger["debt_recorded"], ledger["debt_recovered"], ledger["debt_outstanding"]) == (1_000, 1_000, 0)


def test_basic_negative_balance_rescheduled_into_a_debt_reconnects_on_the_next_purchase(world: Any) -> None:
    setup_prepaid(world)
    buy(world, 500, "V-1", at=T0 - 10)
    read(world, T0, 3_500)  # 3000 consumed beyond the credit: cut off
    assert world.view("supply", "supply_status", [world.meters["bob"]])["status"] == "disconnected"
    r = world.ok(world.operator, "payments", "reschedule_prepaid_debt",
                 [world.meters["bob"], 2_000, "hardship plan"], at=T0 + HOUR)
    (moved,) = world.chain.events(r, "prepaid_debt_rescheduled")
    assert (moved["amount"], moved["debt"], moved["balance"], moved["credit"]) == (3_000, 3_000, 0, 0)
    r = world.ok(world.vendor, "payments", "buy_credit", [world.meters["bob"], 1_000, "V-2"], at=T0 + 2 * HOUR)
    (sale,) = world.chain.events(r, "credit_purchase")
    assert (sale["debt_recovered"], sale["balance"]) == (200, 800)
    assert len(world.chain.events(r, "reconnect_order")) == 1  # 1000 bought, not 1000 - 3000
    assert account(world)["debt"] == 2_800


def test_basic_vouchers_and_agent_payments_recover_too_and_a_reversed_sale_gives_it_back(world: Any) -> None:
    setup_prepaid(world, {"voucher_denominations": [400], "emergency_credit": 300})
    code = "CODE-0000000000000001"
    world.ok(world.admin, "payments", "issue_vouchers", [world.utility, 400, [vouchers.voucher_key(code).public_key]])
    read(world, T0, 200)  # 200 of the emergency reserve in use
    assert record_debt(world, 5_000, 1_000, at=T0 + 10).ok
    public_key, signature = vouchers.sign_redemption(code, world.meters["bob"], world.bob.public_key)
    r = world.ok(world.bob, "payments", "redeem_voucher", [world.meters["bob"], public_key, signature], at=T0 + 20)
    (redeemed,) = world.chain.events(r, "voucher_redeemed")
    # A tenth to the debt first, then the reserve in use is repaid, the rest is balance.
    assert (redeemed["debt_recovered"], redeemed["repaid_emergency"], redeemed["balance"]) == (40, 200, 160)
    r = world.ok(world.agent, "payments", "record_payment", [world.meters["bob"], 1_000, "P-1"], at=T0 + 30)
    (recovery,) = world.chain.events(r, "prepaid_debt_recovered")
    assert recovery["amount"] == 100 and account(world)["balance"] == 1_060
    e = buy(world, 2_000, "V-1", at=T0 + 40)
    assert e["debt_recovered"] == 200 and account(world)["debt"] == 4_660
    r = world.ok(world.vendor, "payments", "reverse_purchase", [e["id"], "wrong meter"], at=T0 + 50)
    (back,) = world.chain.events(r, "purchase_reversed")
    assert back["debt_recovered"] == 200 and back["balance"] == 1_060
    assert account(world)["debt"] == 4_860
    assert world.view("payments", "ledger", [world.utility])["debt_outstanding"] == 4_860


def test_invalid_debt_by_vendor_or_consumer_on_postpaid_or_with_bad_share_amount_or_reason(world: Any) -> None:
    setup_prepaid(world)
    for n, who in enumerate((world.vendor, world.bob)):
        r = record_debt(world, 1_000, 2_500, at=T0 + n, who=who)
        assert not r.ok and "role operator" in str(r.error)
    cases = [
        ([world.meters["alice"], 1_000, 2_500, "arrears"], "a prepaid subscription on MTR-A expected, found postpaid"),
        ([world.meters["bob"], 0, 2_500, "arrears"], "debt: positive amount expected, found 0"),
        ([world.meters["bob"], 1_000, 0, "arrears"], "a recovery share in [1, 10000] basis points expected"),
        ([world.meters["bob"], 1_000, 10_001, "arrears"], "a recovery share in [1, 10000] basis points expected"),
        ([world.meters["bob"], 1_000, 2_500, ""], "a reason for the debt expected"),
    ]
    for n, (args, expected) in enumerate(cases):
        assert expected in world.fail(world.operator, "payments", "record_prepaid_debt", args, at=T0 + 10 + n)
    error = world.fail(world.operator, "payments", "reschedule_prepaid_debt",
                       [world.meters["bob"], 2_000, "hardship"], at=T0 + 20)
    assert "a negative balance to reschedule on MTR-B expected, found 0" in error
    assert "role operator" in world.fail(world.agent, "payments", "reschedule_prepaid_debt",
                                         [world.meters["bob"], 2_000, "hardship"], at=T0 + 21)
    assert account(world).get("debt", 0) == 0
    assert world.view("payments", "ledger", [world.utility])["debt_outstanding"] == 0
