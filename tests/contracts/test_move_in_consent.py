"""Nobody is subscribed without signing: a move-in offers the premises, the incoming
consumer accepts (issue 9, item 8).

Named-actor scenarios on the local chain: alice (postpaid, MTR-A) moves out and names carol;
carol accepts with her own transaction under the identity rule of ``subscribe``, or declines;
the utility's operator may open carol's subscription at once (the utility's approval) where
no identity hash is required. dave is a bystander. Each ``test_basic_*`` has a
``test_invalid_*`` twin. Flat tariff 2.50 TRY/kWh: 4 Wh cost 1 kurus.
"""

from __future__ import annotations

from typing import Any

from tests.contracts.conftest import GENESIS_TIME, UTILITY

DAY = 86400
T1 = GENESIS_TIME + DAY
HANDOVER = T1 + DAY
IDENTITY = bytes(range(32))


def read(w: Any, actor: Any, ts: int, index: int, trust: str = "consumer") -> Any:
    return w.chain.call(actor, "billing", "submit_reading", ["MTR-A", "1.8.0", ts, index, trust, b"", b""], at=ts)


def alice_offers_to_carol(w: Any) -> Any:
    """alice reads 4,000 Wh at T1, and a day later hands the flat to carol at 9,000 (more
    than her own history predicts, so her index counts at once)."""
    w.flat_tariff("MTR-A")
    assert read(w, w.alice, T1, 4_000).ok
    carol = w.chain.actor("carol")
    r = w.ok(w.alice, "registry", "move_in", ["MTR-A", carol.public_key, 9_000], at=HANDOVER)
    [moved] = w.chain.events(r, "premises_moved")
    assert moved["to"] == carol.public_key
    return carol


def test_invalid_outgoing_consumer_cannot_subscribe_someone_else(make_world: Any) -> None:
    """The issue's case: under automatic approval alice's move_in made carol an active
    subscriber, billed from then on, who had signed nothing. Now carol is only offered the
    meter: consumption read meanwhile is billed to nobody, and carol has no account."""
    w = make_world(approval="auto")
    carol = alice_offers_to_carol(w)
    sub = w.view("registry", "subscription", ["MTR-A"])
    assert (sub["consumer"], sub["status"], sub["opened_at"]) == (carol.public_key, "offered", 0)
    assert w.view("registry", "subscription_counts", [UTILITY])["status:offered"] == 1
    r = read(w, w.collector, HANDOVER + DAY, 10_000, trust="collector")
    assert r.ok, r.error
    [unbilled] = w.chain.events(r, "unbilled_consumption")
    assert (unbilled["consumption"], unbilled["reason"]) == (1_000, "no active subscription")
    err = w.fail(w.operator, "billing", "close_period", ["MTR-A"], at=HANDOVER + DAY + 60)
    assert "an active subscription on meter MTR-A expected" in err
    # Nor may carol read for herself before she has signed.
    r = read(w, carol, HANDOVER + 2 * DAY, 10_500)
    assert not r.ok and "the active subscriber of meter MTR-A expected" in r.error


def test_basic_carol_accepts_alices_handover_and_is_billed_from_her_acceptance(make_world: Any) -> None:
    w = make_world(approval="auto")
    carol = alice_offers_to_carol(w)
    accepted = HANDOVER + 60
    r = w.ok(carol, "registry", "accept_move_in", ["MTR-A", b""], at=accepted)
    [ev] = w.chain.events(r, "move_in_accepted")
    assert (ev["consumer"], ev["status"], ev["subscription"]) == (carol.public_key, "active", "MTR-A#2")
    sub = w.view("registry", "subscription", ["MTR-A"])
    assert (sub["status"], sub["opened_at"], sub["accepted_at"]) == ("active", accepted, accepted)
    assert w.view("registry", "subscription_counts", [UTILITY]).get("status:offered", 0) == 0
    assert w.view("registry", "subscriptions_of", [carol.public_key]) == ["MTR-A"]
    # 1,000 Wh over the day after the handover; the minute before carol signed is unbilled
    # (floor of 1,000 * 60 / 86,400 = 0 Wh).
    later = HANDOVER + DAY
    assert read(w, carol, later, 10_000).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=later + 60))
    assert (inv["consumer"], inv["consumption"], inv["total"], inv["period_start"]) == (
        carol.public_key, 1_000, 250, accepted)


def test_invalid_only_the_offered_consumer_accepts_and_only_an_offer(make_world: Any) -> None:
    w = make_world(approval="auto")
    err = w.fail(w.alice, "registry", "accept_move_in", ["MTR-A", b""])
    assert "a subscription (offered) on meter MTR-A expected, found active" in err
    carol = alice_offers_to_carol(w)
    dave = w.chain.actor("dave")
    for stranger in (dave, w.alice, w.operator):
        err = w.fail(stranger, "registry", "accept_move_in", ["MTR-A", b""])
        assert f"the consumer offered meter MTR-A expected, found account {stranger.public_key.hex()}" in err
    err = w.fail(carol, "registry", "accept_move_in", ["MTR-A", b"short"])
    assert "identity hash: empty or 32 bytes expected, found 5 bytes" in err
    assert w.view("registry", "subscription", ["MTR-A"])["status"] == "offered"


def test_basic_under_manual_approval_carols_acceptance_is_a_request(world: Any) -> None:
    """Where the utility approves by hand, carol's signature makes the offer a request like
    any subscribe; the operator's approval opens it."""
    w = world
    carol = alice_offers_to_carol(w)
    w.ok(carol, "registry", "accept_move_in", ["MTR-A", IDENTITY], at=HANDOVER + 60)
    sub = w.view("registry", "subscription", ["MTR-A"])
    assert (sub["status"], sub["identity_hash"], sub["opened_at"]) == ("pending", IDENTITY, 0)
    r = w.ok(w.operator, "registry", "approve_subscription", ["MTR-A"], at=HANDOVER + 120)
    assert w.chain.events(r, "subscription_approved")[0]["consumer"] == carol.public_key
    assert w.view("registry", "subscription", ["MTR-A"])["opened_at"] == HANDOVER + 120


def test_basic_operator_move_in_is_the_utilitys_approval(world: Any) -> None:
    w = world
    w.flat_tariff("MTR-A")
    carol = w.chain.actor("carol")
    r = w.ok(w.operator, "registry", "move_in", ["MTR-A", carol.public_key, 2_000], at=HANDOVER)
    assert w.chain.events(r, "premises_moved")[0]["status"] == "active"
    sub = w.view("registry", "subscription", ["MTR-A"])
    assert (sub["status"], sub["approved_by"], sub["opened_at"]) == ("active", w.operator.public_key, HANDOVER)


def test_invalid_operator_move_in_without_carols_identity_where_the_utility_requires_it(world: Any) -> None:
    """subscribe's identity rule holds for a move-in too: the operator cannot supply carol's
    identity hash, so the subscription is offered until carol accepts with it; the operator's
    signature stands for the approval, so her acceptance opens it."""
    w = world
    w.ok(w.admin, "registry", "set_utility_policy", [UTILITY, {"identity_required": True}])
    w.flat_tariff("MTR-A")
    carol = w.chain.actor("carol")
    r = w.ok(w.operator, "registry", "move_in", ["MTR-A", carol.public_key, 2_000], at=HANDOVER)
    assert w.chain.events(r, "premises_moved")[0]["status"] == "offered"
    err = w.fail(carol, "registry", "accept_move_in", ["MTR-A", b""], at=HANDOVER + 60)
    assert "identity hash of 32 bytes expected (utility ELEC requires identity), found none" in err
    w.ok(carol, "registry", "accept_move_in", ["MTR-A", IDENTITY], at=HANDOVER + 120)
    sub = w.view("registry", "subscription", ["MTR-A"])
    assert (sub["status"], sub["identity_hash"], sub["opened_at"]) == ("active", IDENTITY, HANDOVER + 120)


def test_basic_carol_declines_and_the_meter_is_free(make_world: Any) -> None:
    w = make_world(approval="auto")
    carol = alice_offers_to_carol(w)
    r = w.ok(carol, "registry", "terminate_subscription", ["MTR-A", 0], at=HANDOVER + 60)
    [ended] = w.chain.events(r, "subscription_terminated")
    assert (ended["reason"], ended["subscription"]) == ("declined", "MTR-A#2")
    assert w.chain.events(r, "account_closed") == []
    assert w.view("registry", "subscriptions_of", [carol.public_key]) == []
    dave = w.chain.actor("dave")
    w.ok(dave, "registry", "subscribe", ["MTR-A", "postpaid", b""], at=HANDOVER + 120)
    assert w.view("registry", "subscription", ["MTR-A"])["id"] == "MTR-A#3"
    history = w.view("registry", "subscription_history", ["MTR-A", "", 10])
    assert [(h["id"], h["close_reason"]) for h in history] == [("MTR-A#1", "moved out"), ("MTR-A#2", "declined")]


def test_invalid_nobody_else_takes_an_offered_meter(make_world: Any) -> None:
    w = make_world(approval="auto")
    alice_offers_to_carol(w)
    dave = w.chain.actor("dave")
    err = w.fail(dave, "registry", "subscribe", ["MTR-A", "postpaid", b""], at=HANDOVER + 60)
    assert "meter MTR-A free expected, found a subscription offered" in err
    err = w.fail(dave, "registry", "terminate_subscription", ["MTR-A", 0], at=HANDOVER + 120)
    assert "role operator or admin of utility ELEC expected" in err
    # The operator may withdraw the offer (carol never answered).
    r = w.ok(w.operator, "registry", "terminate_subscription", ["MTR-A", 0], at=HANDOVER + 180)
    assert w.chain.events(r, "subscription_terminated")[0]["reason"] == "withdrawn"
