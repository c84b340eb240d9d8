"""Named-actor scenarios for subscriptions in the registry: open from a wallet, approve,
protect, terminate with a final bill, move the premises; counts per scope."""

from __future__ import annotations

import hashlib

from tests.contracts.conftest import BRANCH, FIELD, UTILITY


def one(world, receipt, name, contract=None):
    found = world.events(receipt, name, contract)
    assert len(found) == 1, f"one {name} event expected, found {len(found)}"
    return found[0]


# --- opening ---------------------------------------------------------------------------


def test_alice_subscribes_without_paperwork(make_world):
    world = make_world("auto")
    dave = world.chain.actor("dave")
    world.register_meter("MTR-D")
    r = world.ok(dave, "registry", "subscribe", ["MTR-D", "postpaid", b""])
    ev = one(world, r, "subscription_opened")
    assert ev["consumer"] == dave.public_key and ev["by"] == dave.public_key
    sub = world.view("registry", "subscription", ["MTR-D"])
    assert sub["status"] == "active" and sub["opened_at"] == world.chain.time
    assert sub["consumer"] == dave.public_key and sub["mode"] == "postpaid"
    assert sub["protected"] is False and sub["identity_hash"] == b"" and sub["segment"] == "residential"
    assert world.view("registry", "subscriptions_of", [dave.public_key]) == ["MTR-D"]


def test_subscription_pending_until_operator_approves(world):
    dave = world.chain.actor("dave")
    world.register_meter("MTR-D")
    r = world.ok(dave, "registry", "subscribe", ["MTR-D", "prepaid", b""])
    assert one(world, r, "subscription_requested")["mode"] == "prepaid"
    sub = world.view("registry", "subscription", ["MTR-D"])
    assert sub["status"] == "pending" and sub["opened_at"] == 0
    r = world.ok(world.operator, "registry", "approve_subscription", ["MTR-D"])
    assert one(world, r, "subscription_approved")["by"] == world.operator.public_key
    sub = world.view("registry", "subscription", ["MTR-D"])
    assert sub["status"] == "active" and sub["opened_at"] == world.chain.time
    assert sub["approved_by"] == world.operator.public_key


def test_invalid_consumer_cannot_approve_own_subscription(world):
    dave = world.chain.actor("dave")
    world.register_meter("MTR-D")
    world.ok(dave, "registry", "subscribe", ["MTR-D", "postpaid", b""])
    err = world.fail(dave, "registry", "approve_subscription", ["MTR-D"])
    assert "role operator or admin of utility ELEC expected" in err
    assert world.view("registry", "subscription", ["MTR-D"])["status"] == "pending"


def test_invalid_approve_active_subscription(world):
    err = world.fail(world.operator, "registry", "approve_subscription", ["MTR-A"])
    assert "a subscription (pending) on meter MTR-A expected, found active" in err


def test_operator_rejects_subscription(world):
    dave = world.chain.actor("dave")
    world.register_meter("MTR-D")
    world.ok(dave, "registry", "subscribe", ["MTR-D", "postpaid", b""])
    r = world.ok(world.operator, "registry", "reject_subscription", ["MTR-D", "meter sealed"])
    assert one(world, r, "subscription_terminated")["reason"] == "rejected: meter sealed"
    assert world.view("registry", "subscription", ["MTR-D"])["status"] == "terminated"
    # The meter is free again.
    world.ok(world.chain.actor("erin"), "registry", "subscribe", ["MTR-D", "postpaid", b""])


def test_invalid_subscribe_to_inactive_meter(world):
    world.register_meter("MTR-D", activate=False)
    err = world.fail(world.chain.actor("dave"), "registry", "subscribe", ["MTR-D", "postpaid", b""])
    assert "meter MTR-D active expected, found registered" in err


def test_invalid_subscribe_to_taken_meter(world):
    err = world.fail(world.chain.actor("mallory"), "registry", "subscribe", ["MTR-A", "postpaid", b""])
    assert "meter MTR-A free expected, found a subscription active" in err


def test_invalid_subscribe_with_unknown_mode_or_meter(world):
    world.register_meter("MTR-D")
    dave = world.chain.actor("dave")
    err = world.fail(dave, "registry", "subscribe", ["MTR-D", "free", b""])
    assert "mode postpaid, prepaid or token expected, found text 'free'" in err
    err = world.fail(dave, "registry", "subscribe", ["MTR-NONE", "postpaid", b""])
    assert "registered meter expected, found no meter 'MTR-NONE'" in err


def test_identity_stays_off_chain_as_a_hash(world):
    world.ok(world.admin, "registry", "set_utility_policy", [UTILITY, {"identity_required": True}])
    world.register_meter("MTR-D")
    dave = world.chain.actor("dave")
    record = b'{"name": "Dave", "national_id": "..."}'  # kept by the utility, off chain
    digest = hashlib.sha256(record).digest()
    world.ok(dave, "registry", "subscribe", ["MTR-D", "postpaid", digest])
    sub = world.view("registry", "subscription", ["MTR-D"])
    assert sub["identity_hash"] == digest
    assert b"Dave" not in repr(sub).encode()


def test_invalid_subscribe_without_identity_when_required(world):
    world.ok(world.admin, "registry", "set_utility_policy", [UTILITY, {"identity_required": True}])
    world.register_meter("MTR-D")
    err = world.fail(world.chain.actor("dave"), "registry", "subscribe", ["MTR-D", "postpaid", b""])
    assert "identity hash of 32 bytes expected (utility ELEC requires identity)" in err


# --- changing a subscription -----------------------------------------------------------


def test_operator_flags_protected_customer(world):
    r = world.ok(world.operator, "registry", "set_protected", ["MTR-A", True, "home oxygen concentrator"])
    ev = one(world, r, "protection_changed")
    assert ev["protected"] is True and ev["by"] == world.operator.public_key
    assert world.view("registry", "subscription", ["MTR-A"])["protected"] is True
    assert world.view("registry", "subscription_counts", [FIELD])["protected"] == 1


def test_invalid_consumer_cannot_flag_protected(world):
    err = world.fail(world.alice, "registry", "set_protected", ["MTR-A", True, "please"])
    assert "role operator or admin of utility ELEC expected" in err
    assert world.view("registry", "subscription", ["MTR-A"])["protected"] is False


def test_consumer_sets_low_balance_threshold(world):
    r = world.ok(world.bob, "registry", "set_low_balance_threshold", ["MTR-B", 2_000])
    assert one(world, r, "low_balance_threshold_changed")["threshold"] == 2_000
    assert world.view("registry", "subscription", ["MTR-B"])["low_balance_threshold"] == 2_000


def test_invalid_stranger_cannot_set_low_balance_threshold(world):
    err = world.fail(world.alice, "registry", "set_low_balance_threshold", ["MTR-B", 2_000])
    assert "role operator or admin of utility ELEC expected" in err
    err = world.fail(world.bob, "registry", "set_low_balance_threshold", ["MTR-B", -1])
    assert "low balance threshold: 0 to" in err


def test_operator_sets_segment_and_counts_follow(world):
    world.ok(world.operator, "registry", "set_segment", ["MTR-A", "commercial"])
    counts = world.view("registry", "subscription_counts", [UTILITY])
    assert counts["segment:commercial"] == 1 and counts["segment:residential"] == 1


def test_subscription_counts_per_scope(world):
    world.ok(world.admin, "registry", "register_field", ["ELEC/KADIKOY/F2", "Fenerbahce", ""])
    world.new_consumer("carol", "prepaid", field_id="ELEC/KADIKOY/F2")
    dave = world.chain.actor("dave")
    world.register_meter("MTR-D")
    world.ok(dave, "registry", "subscribe", ["MTR-D", "postpaid", b""])
    field1 = world.view("registry", "subscription_counts", [FIELD])
    assert field1["status:active"] == 2 and field1["status:pending"] == 1
    assert field1["mode:postpaid"] == 1 and field1["mode:prepaid"] == 1
    field2 = world.view("registry", "subscription_counts", ["ELEC/KADIKOY/F2"])
    assert field2["status:active"] == 1 and field2["mode:prepaid"] == 1
    for scope in (BRANCH, UTILITY):
        counts = world.view("registry", "subscription_counts", [scope])
        assert counts["status:active"] == 3 and counts["status:pending"] == 1
        assert counts["mode:prepaid"] == 2 and counts["mode:postpaid"] == 1


# --- ending and moving -----------------------------------------------------------------


def test_pending_subscription_is_withdrawn_without_a_bill(world):
    dave = world.chain.actor("dave")
    world.register_meter("MTR-D")
    world.ok(dave, "registry", "subscribe", ["MTR-D", "postpaid", b""])
    r = world.ok(dave, "registry", "terminate_subscription", ["MTR-D", 0])
    assert one(world, r, "subscription_terminated")["reason"] == "withdrawn"
    assert world.chain.events(r, "account_closed") == []


def test_alice_terminates_with_final_bill(world):
    world.flat_tariff("MTR-A")
    t = world.chain.time + 7200
    world.ok(world.alice, "billing", "submit_reading", ["MTR-A", "1.8.0", t, 1000, "consumer", b"", b""], at=t)
    r = world.ok(world.alice, "registry", "terminate_subscription", ["MTR-A", 1_500], at=t + 3600)
    ev = one(world, r, "subscription_terminated")
    assert (ev["final_index"], ev["by"], ev["consumer"]) == (1_500, world.alice.public_key, world.alice.public_key)
    closed = one(world, r, "account_closed")
    assert closed["final_index"] == 1_500 and closed["invoice"] != ""
    invoice = one(world, r, "invoice")
    assert invoice["consumption"] == 1_500 and invoice["total"] == 375  # 1.5 kWh at 2.50
    sub = world.view("registry", "subscription", ["MTR-A"])
    assert sub["status"] == "terminated" and sub["final_index"] == 1_500
    history = world.view("registry", "subscription_history", ["MTR-A", "", 10])
    assert [h["id"] for h in history] == [sub["id"]]
    assert world.view("registry", "subscriptions_of", [world.alice.public_key]) == []


def test_invalid_stranger_cannot_terminate(world):
    err = world.fail(world.bob, "registry", "terminate_subscription", ["MTR-A", 0])
    assert "role operator or admin of utility ELEC expected" in err
    assert world.view("registry", "subscription", ["MTR-A"])["status"] == "active"


def test_operator_terminates_and_meter_is_free_again(world):
    world.flat_tariff("MTR-A")
    world.ok(world.operator, "registry", "terminate_subscription", ["MTR-A", 0])
    world.ok(world.operator, "registry", "deactivate_meter", ["MTR-A", "empty flat"])
    world.ok(world.operator, "registry", "activate_meter", ["MTR-A"])
    dave = world.chain.actor("dave")
    world.ok(dave, "registry", "subscribe", ["MTR-A", "postpaid", b""])
    assert world.view("registry", "subscription", ["MTR-A"])["id"] == "MTR-A#2"


def test_move_in_keeps_history(world):
    world.flat_tariff("MTR-A")
    carol = world.chain.actor("carol")
    t = world.chain.time + 7200
    world.ok(world.alice, "billing", "submit_reading", ["MTR-A", "1.8.0", t, 800, "consumer", b"", b""], at=t)
    r = world.ok(world.operator, "registry", "move_in", ["MTR-A", carol.public_key, 1_000], at=t + 3600)
    moved = one(world, r, "premises_moved")
    assert (moved["from"], moved["to"], moved["reading_index"]) == (world.alice.public_key, carol.public_key, 1_000)
    assert moved["old_subscription"] == "MTR-A#1" and moved["new_subscription"] == "MTR-A#2"
    assert one(world, r, "invoice")["consumer"] == world.alice.public_key
    sub = world.view("registry", "subscription", ["MTR-A"])
    assert (sub["id"], sub["consumer"], sub["status"], sub["mode"]) == ("MTR-A#2", carol.public_key, "active", "postpaid")
    history = world.view("registry", "subscription_history", ["MTR-A", "", 10])
    assert [(h["id"], h["consumer"], h["final_index"]) for h in history] == [("MTR-A#1", world.alice.public_key, 1_000)]
    # carol's readings continue from the handover index.
    world.ok(carol, "billing", "submit_reading", ["MTR-A", "1.8.0", t + 7200, 1_100, "consumer", b"", b""], at=t + 7200)


def test_outgoing_consumer_hands_over_an_offer_carol_accepts_then_the_operator_approves(world):
    world.flat_tariff("MTR-A")
    carol = world.chain.actor("carol")
    world.ok(world.alice, "registry", "move_in", ["MTR-A", carol.public_key, 0])
    sub = world.view("registry", "subscription", ["MTR-A"])
    assert sub["consumer"] == carol.public_key and sub["status"] == "offered"
    world.ok(carol, "registry", "accept_move_in", ["MTR-A", b""])
    assert world.view("registry", "subscription", ["MTR-A"])["status"] == "pending"
    world.ok(world.operator, "registry", "approve_subscription", ["MTR-A"])


def test_invalid_move_in(world):
    err = world.fail(world.operator, "registry", "move_in", ["MTR-A", world.alice.public_key, 0])
    assert "a different consumer expected" in err
    err = world.fail(world.bob, "registry", "move_in", ["MTR-A", world.bob.public_key, 0])
    assert "role operator or admin of utility ELEC expected" in err
    err = world.fail(world.operator, "registry", "move_in", ["MTR-A", b"short", 0])
    assert "new consumer: a 32-byte public key expected, found 5 bytes" in err


def test_activity_per_scope_and_period(world):
    day0 = world.chain.time // 86400  # 2025-01-01, when the world was built
    assert world.view("registry", "activity", [FIELD, day0, day0]) == {
        "meters_registered": 2, "requested": 2, "opened": 2,
    }
    world.flat_tariff("MTR-A")
    carol = world.chain.actor("carol")
    later = world.chain.time + 10 * 86400
    world.ok(world.operator, "registry", "move_in", ["MTR-A", carol.public_key, 0], at=later)
    world.ok(world.admin, "registry", "register_field", ["ELEC/KADIKOY/F2", "Fenerbahce", ""], at=later + 1)
    world.new_consumer("dave", "prepaid", field_id="ELEC/KADIKOY/F2")
    day10 = later // 86400
    assert world.view("registry", "activity", [FIELD, day10, day10]) == {"moved_out": 1, "opened": 1}
    assert world.view("registry", "activity", ["ELEC/KADIKOY/F2", day10, day10]) == {
        "meters_registered": 1, "requested": 1, "opened": 1,
    }
    assert world.view("registry", "activity", [UTILITY, day0, day10]) == {
        "meters_registered": 3, "requested": 3, "opened": 4, "moved_out": 1,
    }
    assert world.view("registry", "activity", [UTILITY, day0 + 1, day10 - 1]) == {}
