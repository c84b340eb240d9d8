"""Grants to a segment (payments/grants.py): a free basic allowance or a one-off bonus
credited to every subscription of a scope or segment, batch by batch with a cursor, each
subscription at most once. Named-actor scenarios through LocalChain; each rule has its
``test_invalid_*`` twin."""

from __future__ import annotations

from typing import Any

from tests.contracts.conftest import GENESIS_TIME

DAY = 86400
T = GENESIS_TIME + DAY + 10 * 3600


def open_grant(world: Any, amount: int, *, scope: str = "", segment: str = "", actor: Any = None) -> str:
    r = world.ok(actor or world.operator, "payments", "open_grant",
                 [world.utility, scope, segment, amount, "free basic allowance, January"])
    (event,) = world.chain.events(r, "grant_opened")
    return str(event["id"])


def apply_all(world: Any, grant_id: str, limit: int, actor: Any = None) -> list[dict[str, Any]]:
    """Apply the grant batch by batch until done; the grant_credited events of all batches."""
    credited: list[dict[str, Any]] = []
    for _ in range(50):
        r = world.ok(actor or world.operator, "payments", "apply_grant", [grant_id, limit])
        credited += world.chain.events(r, "grant_credited")
        (batch,) = world.chain.events(r, "grant_batch")
        if batch["done"]:
            assert batch["next"] == ""
            return credited
    raise AssertionError("grant not done after 50 batches")


def test_basic_allowance_credited_to_every_subscription_of_the_utility_in_batches(world: Any) -> None:
    world.new_consumer("carol", "prepaid")
    world.new_consumer("dave", "postpaid")
    world.new_consumer("tara", "token")  # credit lives on the keypad meter: not granted
    gid = open_grant(world, 1_500)
    assert world.view("payments", "segment_grant", [gid])["credited"] == 0  # nothing until applied
    # Batches of one meter, applied by a consumer: anyone may move the grant on.
    credited = apply_all(world, gid, 1, actor=world.alice)
    meters = sorted(e["meter"] for e in credited)
    assert meters == sorted([world.meters[n] for n in ("alice", "bob", "carol", "dave")])
    assert all(e["amount"] == 1_500 for e in credited)
    for name in ("alice", "bob", "carol", "dave"):
        acct = world.view("payments", "account", [world.meters[name]])
        assert acct["balance"] == 1_500
        assert world.view("payments", "grant_credited_at", [gid, acct["subscription"]]) > 0
    assert world.view("payments", "account", [world.meters["tara"]])["balance"] == 0
    g = world.view("payments", "segment_grant", [gid])
    assert (g["done"], g["credited"], g["credited_total"]) == (True, 4, 6_000)
    ledger = world.view("payments", "ledger", [world.utility])
    assert ledger["granted"] == 6_000 and ledger["credit_position"] == 6_000
    assert world.view("payments", "activity", [world.utility, 0, 10**6])["granted"] == 6_000


def test_invalid_grant_applied_after_it_is_done(world: Any) -> None:
    gid = open_grant(world, 100)
    apply_all(world, gid, 40)
    error = world.fail(world.operator, "payments", "apply_grant", [gid, 40])
    assert f"a grant still being applied expected, found {gid} done at" in error
    assert world.view("payments", "ledger", [world.utility])["granted"] == 200


def test_basic_bonus_to_one_segment_only(world: Any) -> None:
    world.new_consumer("carol", "prepaid")
    for name in ("bob", "carol"):
        world.ok(world.operator, "registry", "set_segment", [world.meters[name], "lifeline"])
    gid = open_grant(world, 700, segment="lifeline")
    credited = apply_all(world, gid, 2)
    assert sorted(e["meter"] for e in credited) == sorted([world.meters["bob"], world.meters["carol"]])
    assert world.view("payments", "account", [world.meters["alice"]])["balance"] == 0


def test_basic_grant_repays_emergency_credit_in_use_first(world: Any) -> None:
    bob = world.meters["bob"]
    world.ok(world.operator, "payments", "grant_emergency_credit", [bob, 1_000])
    world.flat_tariff(bob, price_micro=1_000_000)
    world.ok(world.bob, "billing", "submit_reading", [bob, "1.8.0", T, 400, "consumer", b"", b""], at=T)
    used = world.view("payments", "account", [bob])["emergency_used"]
    assert used > 0
    gid = open_grant(world, 2_000, scope=world.field)
    (event,) = [e for e in apply_all(world, gid, 40) if e["meter"] == bob]
    assert event["repaid_emergency"] == used
    assert world.view("payments", "account", [bob])["emergency_used"] == 0


def test_invalid_grant_opened_by_an_agent_or_for_another_utility(world: Any) -> None:
    error = world.fail(world.agent, "payments", "open_grant", [world.utility, "", "", 100, "bonus"])
    assert "role operator or admin" in error
    error = world.fail(world.operator, "payments", "open_grant", [world.utility, "WATER/X", "", 100, "bonus"])
    assert "a branch or field of utility ELEC expected, found 'WATER/X'" in error
    error = world.fail(world.operator, "payments", "open_grant", [world.utility, "", "", 0, "bonus"])
    assert "grant: positive amount expected" in error
    error = world.fail(world.operator, "payments", "open_grant", [world.utility, "", "", 100, ""])
    assert "a reason of 1 to 256 characters expected" in error


def test_invalid_grant_batch_beyond_the_limit_or_unknown(world: Any) -> None:
    gid = open_grant(world, 100)
    error = world.fail(world.alice, "payments", "apply_grant", [gid, 41])
    assert "a batch of 1 to 40 meters expected, found the integer 41" in error
    error = world.fail(world.alice, "payments", "apply_grant", ["GRT-9", 10])
    assert "an opened grant expected, found no grant GRT-9" in error
    assert world.view("payments", "ledger", [world.utility])["granted"] == 0


def test_basic_each_subscription_credited_once_when_its_meter_is_replaced(world: Any) -> None:
    """A subscription that moves to a meter later in the scope's order is met twice by the
    cursor: it is credited once."""
    gid = open_grant(world, 300)
    r = world.ok(world.operator, "payments", "apply_grant", [gid, 1])  # MTR-A: alice
    assert [e["meter"] for e in world.chain.events(r, "grant_credited")] == [world.meters["alice"]]
    # MTR-Z sorts after MTR-A and MTR-B: the cursor meets alice's subscription again there.
    world.ok(world.operator, "registry", "replace_meter",
             [world.meters["alice"], "MTR-Z", 1, 6, 20_000, b"", world.collector.public_key, 0, 0])
    credited = apply_all(world, gid, 1)
    assert [e["meter"] for e in credited] == [world.meters["bob"]]
    sub = world.view("registry", "subscription", ["MTR-Z"])
    assert world.view("payments", "subscription_account", [sub["id"]])["balance"] == 300
