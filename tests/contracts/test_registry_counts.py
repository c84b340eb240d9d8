"""The counters the registry and supply keep incrementally agree with a recount from the
records themselves, whatever sequence of subscription and supply operations ran; and every
registry and supply event names who made the change and when (the audit trail)."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.conftest import BRANCH, FIELD, UTILITY, fresh_world
from tests.contracts.test_supply import HOUR, THU

FIELD2 = "ELEC/KADIKOY/F2"
NAMES = ["alice", "bob", "carol", "dave"]

KINDS = ["subscribe", "approve", "reject", "terminate", "protect", "segment", "move",
         "disconnect", "limit", "reconnect"]
# (kind, consumer, choice): `choice` picks the mode, segment, flag or newcomer of the kind.
ops = st.lists(st.tuples(st.sampled_from(KINDS), st.sampled_from(NAMES), st.integers(0, 1)), max_size=14)


def setup_world():
    """alice and bob as usual; carol's meter in field F2 and dave's in F1, both free."""
    w = fresh_world()
    w.ok(w.admin, "registry", "register_field", [FIELD2, "Fenerbahce", ""])
    w.register_meter("MTR-C", field_id=FIELD2)
    w.register_meter("MTR-D")
    w.meters.update({"carol": "MTR-C", "dave": "MTR-D"})
    carol = w.chain.actor("carol")
    w.ok(carol, "registry", "subscribe", ["MTR-C", "prepaid", b""])
    for meter in ["MTR-A", "MTR-B", "MTR-C", "MTR-D"]:
        w.flat_tariff(meter)
    return w


def recount(w, scope):
    """Subscription counts recomputed from the current records and the history."""
    counts = Counter()
    subs, nxt = w.view("registry", "subscriptions_in", [scope, "", 1000])
    assert nxt == ""
    for sub in subs:
        if sub["status"] != "terminated":
            counts["status:" + sub["status"]] += 1
        if sub["status"] == "active":
            counts["mode:" + sub["mode"]] += 1
            counts["segment:" + sub["segment"]] += 1
            if sub["protected"]:
                counts["protected"] += 1
        counts["status:terminated"] += len(w.view("registry", "subscription_history", [sub["meter"], "", 1000]))
    return {k: v for k, v in counts.items() if v}


def supply_recount(w, scope):
    counts = Counter()
    for meter in w.view("registry", "meters_in", [scope, "", 1000]):
        counts[w.view("supply", "supply_status", [meter])["status"]] += 1
    return {"disconnected": counts["disconnected"], "load_limited": counts["load_limited"]}


def run(w, op, t):
    kind, name, choice = op
    meter = w.meters[name]
    actor = w.chain.actor(name)
    newcomer = w.chain.actor(["erin", "frank"][choice]).public_key
    calls = {
        "subscribe": (actor, "registry", "subscribe", [meter, ["postpaid", "prepaid"][choice], b""]),
        "approve": (w.operator, "registry", "approve_subscription", [meter]),
        "reject": (w.operator, "registry", "reject_subscription", [meter, "no access"]),
        "terminate": (w.operator, "registry", "terminate_subscription", [meter, 0]),
        "protect": (w.operator, "registry", "set_protected", [meter, choice == 1, "review"]),
        "segment": (w.operator, "registry", "set_segment", [meter, ["residential", "commercial"][choice]]),
        "move": (w.operator, "registry", "move_in", [meter, newcomer, 0]),
        "disconnect": (w.operator, "supply", "request_disconnect", [meter, "no credit"]),
        "limit": (w.operator, "supply", "set_load_limit", [meter, 1_000, "feeder"]),
        "reconnect": (w.operator, "supply", "request_reconnect", [meter, "review"]),
    }
    # Many operations are refused in a given state (that is part of what is exercised);
    # refused or not, the counters must match the records afterwards.
    return w.chain.call(*calls[kind], at=t)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops)
def test_counts_match_a_recount_of_the_records(ops):
    w = setup_world()
    t = THU + 10 * HOUR  # working hours: disconnections depend on the other rules only
    for op in ops:
        run(w, op, t)
        t += 1
    for scope in [UTILITY, BRANCH, FIELD, FIELD2]:
        kept = {k: v for k, v in w.view("registry", "subscription_counts", [scope]).items() if v}
        assert kept == recount(w, scope), f"subscription counts of {scope} after {ops}"
        assert w.view("supply", "supply_counts", [scope]) == supply_recount(w, scope), f"supply counts of {scope}"


def test_every_registry_and_supply_event_is_attributed():
    w = setup_world()
    t = THU + 10 * HOUR
    script = [("approve", "carol", 0), ("protect", "carol", 1), ("segment", "alice", 1),
              ("disconnect", "bob", 0), ("reconnect", "bob", 0), ("limit", "bob", 0),
              ("move", "alice", 0), ("terminate", "carol", 0), ("subscribe", "dave", 1),
              ("reject", "dave", 0)]
    for op in script:
        assert run(w, op, t).ok
        t += 1
    seen = set()
    for receipts in w.chain.receipts:
        for receipt in receipts:
            for event in receipt.events:
                if event.contract in ("registry", "supply"):
                    fields = event.field_map()
                    assert len(fields["by"]) > 0 and fields["at"] > 0, f"{event.name} unattributed: {fields}"
                    seen.add(event.name)
    assert {"utility_registered", "role_granted", "branch_registered", "field_registered",
            "meter_registered", "meter_activated", "subscription_requested", "subscription_approved",
            "subscription_opened", "subscription_terminated", "protection_changed", "segment_changed",
            "premises_moved", "disconnect_order", "reconnect_order", "load_limit_order"} <= seen
