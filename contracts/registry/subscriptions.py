"""Subscriptions: opened from a wallet, approved or rejected, their settings (protection,
segment, low-balance threshold, identity), terminated or moved to a new subscriber; the
meter's history, the consumer's list and the counters per scope.

A contract module (docs/contract-language.md, "Modules"): compiled into the registry contract,
never imported as Python.
"""

from common.activity import bump_activity
from common.keys import storage_key
from common.records import copy, scopes_of
from common.text import pad, shape
from registry.checks import require_account, require_id, require_int, require_text
from registry.meters import meters_in
from registry.records import (
    BILLING,
    PAYMENTS,
    load_meter,
    load_subscription,
    load_utility,
    scope_prefix,
)
from registry.roles import holds, require_role

MODES = ["postpaid", "prepaid", "token"]  # token: an STS keypad meter holds the credit (payments/tokens.py)
# The event (subscription_<word>) and the activity counter of a subscription opened in
# each status.
OPENING_EVENTS = {"active": "opened", "pending": "requested", "offered": "offered"}
HISTORY_WIDTH = 6
BASIS_POINTS = 10_000  # a debt's recovery share, as payments/policy.py counts it


def count_subscription(sub: dict, delta: int) -> None:
    # Counters per utility, branch and field: every subscription by status; the active ones
    # also by mode, segment and protection. Called with -1 before a change and +1 after.
    names = ["status:" + sub["status"]]
    if sub["status"] == "active":
        names.append("mode:" + sub["mode"])
        names.append("segment:" + sub["segment"])
        if sub["protected"]:
            names.append("protected")
    for scope in scopes_of(sub):
        key = storage_key("n/", [scope])
        counts = storage_get(key, {})
        for name in names:
            counts[name] = counts.get(name, 0) + delta
        storage_set(key, counts)


def save_subscription(old, new: dict) -> None:
    if old is not None:
        count_subscription(old, delta=-1)
    count_subscription(new, 1)
    storage_set(storage_key("s/", [new["meter"]]), new)


def archive_subscription(sub: dict) -> None:
    # A closed subscription is copied into the meter's history and leaves the consumer's
    # index; the current slot keeps it (status terminated) until a new one replaces it.
    seq = int(sub["id"].split("#")[1])
    storage_set(storage_key("h/", [sub["meter"], pad(seq, HISTORY_WIDTH)]), sub)
    storage_delete(storage_key("c/", [bytes_hex(sub["consumer"]), sub["meter"]]))


def open_subscription(m: dict, consumer: bytes, mode: str, identity_hash: bytes, status: str,
                      approved_by) -> dict:
    # status: "active" (approved), "pending" (awaits the operator) or "offered" (a move-in
    # awaiting the named consumer's acceptance: nobody is subscribed without signing).
    meter_id = m["id"]
    u = load_utility(m["utility"])
    n = storage_get(storage_key("sn/", [meter_id]), 0) + 1
    storage_set(storage_key("sn/", [meter_id]), n)
    now = block_time()
    sub = {
        "id": meter_id + "#" + str(n),
        "meter": meter_id,
        "utility": m["utility"],
        "branch": m["branch"],
        "field": m["field"],
        "consumer": consumer,
        "mode": mode,
        "status": status,
        "requested_at": now,
        "opened_at": now if status == "active" else 0,
        "closed_at": 0,
        "final_index": None,
        "protected": False,
        "identity_hash": identity_hash,
        "low_balance_threshold": u["low_balance_threshold"],
        "segment": u["default_segment"],
        "by": caller(),
        "at": now,
    }
    if approved_by is not None:
        sub["approved_by"] = approved_by
    # The terminated subscription it replaces stays counted as terminated (it is in the
    # history), so the old record is not counted out here.
    save_subscription(old=None, new=sub)
    storage_set(storage_key("c/", [bytes_hex(consumer), meter_id]), sub["id"])
    event = "subscription_" + OPENING_EVENTS[status]
    bump_activity(sub, OPENING_EVENTS[status])
    emit(event, {"subscription": sub["id"], "meter": meter_id, "consumer": consumer,
                 "mode": mode, "identity_hash": identity_hash, "by": caller(), "at": now})
    return sub


def close_subscription(sub: dict, final_index, reason: str, kind: str) -> dict:
    closed = copy(sub)
    now = block_time()
    closed["status"] = "terminated"
    closed["closed_at"] = now
    closed["final_index"] = final_index
    closed["close_reason"] = reason
    closed["by"] = caller()
    closed["at"] = now
    save_subscription(sub, closed)
    archive_subscription(closed)
    bump_activity(closed, kind)
    emit("subscription_terminated", {"subscription": sub["id"], "meter": sub["meter"],
                                     "consumer": sub["consumer"], "final_index": final_index,
                                     "reason": reason, "by": caller(), "at": now})
    return closed


def require_identity(u: dict, identity_hash: bytes) -> None:
    # The one identity rule of a new subscriber, whether they subscribe or accept a move-in:
    # a hash of their off-chain record, 32 bytes, required where the utility requires it.
    require(isinstance(identity_hash, bytes) and (len(identity_hash) == 0 or len(identity_hash) == 32),
            f"identity hash: empty or 32 bytes expected, found {shape(identity_hash)}")
    if u["identity_required"]:
        require(len(identity_hash) == 32,
                f"identity hash of 32 bytes expected (utility {u['id']} requires identity), found none")


@public
def subscribe(meter_id: str, mode: str, identity_hash: bytes) -> None:
    # Opened by the consumer's own wallet: no paperwork; personal data stays off chain and
    # only its hash is kept where the utility requires identity.
    consumer = caller()
    require_account(consumer, "consumer")
    m = load_meter(meter_id)
    require(m["status"] == "active", f"meter {meter_id} active expected, found {m['status']}")
    require(mode in MODES, f"mode postpaid, prepaid or token expected, found {shape(mode)}")
    u = load_utility(m["utility"])
    require_identity(u, identity_hash)
    current = storage_get(storage_key("s/", [meter_id]))
    if current is not None:
        status = current["status"]
        require(status == "terminated",
                f"meter {meter_id} free expected, found a subscription {status}")
    open_subscription(m, consumer, mode, identity_hash, "active" if u["approval"] == "auto" else "pending",
                      approved_by=None)


@public
def approve_subscription(meter_id: str) -> None:
    m = load_meter(meter_id)
    who = require_role(m["utility"], ["operator", "admin"])
    sub = load_subscription(meter_id, ["pending"])
    new = copy(sub)
    now = block_time()
    new["status"] = "active"
    new["opened_at"] = now
    new["approved_by"] = who
    new["by"] = who
    new["at"] = now
    save_subscription(sub, new)
    bump_activity(new, "opened")
    emit("subscription_approved", {"subscription": sub["id"], "meter": meter_id,
                                   "consumer": sub["consumer"], "mode": sub["mode"],
                                   "by": who, "at": now})


@public
def reject_subscription(meter_id: str, reason: str) -> None:
    m = load_meter(meter_id)
    require_role(m["utility"], ["operator", "admin"])
    require_text(reason, "reason")
    require(len(reason) > 0, "a reason for the rejection expected, found none")
    sub = load_subscription(meter_id, ["pending"])
    close_subscription(sub, final_index=None, reason="rejected: " + reason, kind="rejected")


@public
def set_protected(meter_id: str, protected: bool, reason: str) -> None:
    # Protected customers (life-support equipment, vulnerable households...) are never
    # disconnected; supply reads this flag before every disconnection order.
    m = load_meter(meter_id)
    who = require_role(m["utility"], ["operator", "admin"])
    require(isinstance(protected, bool), f"protected: a bool expected, found {shape(protected)}")
    require_text(reason, "reason")
    sub = load_subscription(meter_id, ["pending", "active"])
    new = copy(sub)
    new["protected"] = protected
    new["by"] = who
    new["at"] = block_time()
    save_subscription(sub, new)
    emit("protection_changed", {"subscription": sub["id"], "meter": meter_id,
                                "protected": protected, "reason": reason, "by": who,
                                "at": block_time()})


@public
def set_segment(meter_id: str, segment: str) -> None:
    m = load_meter(meter_id)
    who = require_role(m["utility"], ["operator", "admin"])
    require_id(segment, "segment", allow_slash=False)
    sub = load_subscription(meter_id, ["pending", "active"])
    new = copy(sub)
    new["segment"] = segment
    new["by"] = who
    new["at"] = block_time()
    save_subscription(sub, new)
    emit("segment_changed", {"subscription": sub["id"], "meter": meter_id, "segment": segment,
                             "by": who, "at": block_time()})


@public
def set_low_balance_threshold(meter_id: str, amount: int) -> None:
    # The consumer chooses when to be warned; the operator may set it for them.
    m = load_meter(meter_id)
    sub = load_subscription(meter_id, ["pending", "active"])
    who = caller()
    if who != sub["consumer"]:
        require_role(m["utility"], ["operator", "admin"])
    require_int(amount, "low balance threshold", 0, 10**15)
    new = copy(sub)
    new["low_balance_threshold"] = amount
    new["by"] = who
    new["at"] = block_time()
    save_subscription(sub, new)
    emit("low_balance_threshold_changed", {"subscription": sub["id"], "meter": meter_id,
                                           "threshold": amount, "by": who, "at": block_time()})


@public
def set_identity(meter_id: str, identity_hash: bytes) -> None:
    # The consumer attaches (or replaces) the hash of their off-chain identity record.
    sub = load_subscription(meter_id, ["pending", "active"])
    who = caller()
    require(who == sub["consumer"], f"caller the subscriber of meter {meter_id} expected, found account {bytes_hex(who)}")
    require(isinstance(identity_hash, bytes) and len(identity_hash) == 32,
            f"identity hash of 32 bytes expected, found {shape(identity_hash)}")
    new = copy(sub)
    new["identity_hash"] = identity_hash
    new["by"] = who
    new["at"] = block_time()
    save_subscription(sub, new)
    emit("identity_changed", {"subscription": sub["id"], "meter": meter_id,
                              "identity_hash": identity_hash, "by": who, "at": block_time()})


def require_consumer_or_staff(m: dict, sub: dict) -> bytes:
    who = caller()
    if who == sub["consumer"]:
        return who
    return require_role(m["utility"], ["operator", "admin"])


def is_staff(who: bytes, utility_id: str) -> bool:
    return holds(who, utility_id, "operator") or holds(who, utility_id, "admin")


def final_trust(who: bytes, m: dict, sub: dict) -> str:
    # Whose word a final index is, for billing (close_account): the utility's staff read for
    # the utility; the subscriber (even one who is also staff) reads for themself.
    if who != sub["consumer"] and is_staff(who, m["utility"]):
        return "operator"
    return "consumer"


def await_final_reading(sub: dict, final_index: int, reason: str, kind: str, to: bytes) -> None:
    # Billing did not count the subscriber's own final index: the subscription stays active
    # (and billed) until the utility's next trusted reading ends it (end_awaited_subscription).
    new = copy(sub)
    now = block_time()
    new["closing"] = {"reason": reason, "kind": kind, "claimed_index": final_index, "to": to,
                      "requested_at": now}
    new["by"] = caller()
    new["at"] = now
    save_subscription(sub, new)
    emit("termination_awaits_reading", {"subscription": sub["id"], "meter": sub["meter"],
                                        "consumer": sub["consumer"], "claimed_index": final_index,
                                        "reason": reason, "to": to, "by": caller(), "at": now})


def require_not_closing(sub: dict, who: bytes) -> None:
    # Once a subscriber's leaving awaits the utility's reading, only staff (whose final index
    # counts) may end it sooner.
    if sub.get("closing", None) is not None and who == sub["consumer"]:
        revert(f"the utility's reading to end subscription {sub['id']} awaited, found a second request by its consumer")


@public
def terminate_subscription(meter_id: str, final_index: int) -> None:
    # An active subscription ends with a final reading that billing turns into the final
    # invoice; a pending one is simply withdrawn (nothing was ever billed), and an offered
    # one (a move-in not yet accepted) is declined by its consumer or withdrawn by staff.
    m = load_meter(meter_id)
    sub = load_subscription(meter_id, ["pending", "offered", "active"])
    who = require_consumer_or_staff(m, sub)
    if sub["status"] == "offered" and who == sub["consumer"]:
        close_subscription(sub, final_index=None, reason="declined", kind="declined")
        return
    if sub["status"] != "active":
        close_subscription(sub, final_index=None, reason="withdrawn", kind="withdrawn")
        return
    require_not_closing(sub, who)
    require_int(final_index, "final index", 0, 10**m["digits"] - 1)
    if call(BILLING, "close_account", [meter_id, final_index, final_trust(who, m, sub)]):
        close_subscription(sub, final_index, "terminated", "terminated")
    else:
        await_final_reading(sub, final_index, "terminated", "terminated", to=b"")


@public
def move_in(meter_id: str, new_consumer: bytes, reading_index: int) -> None:
    # Premises change hands: the outgoing subscriber gets a final bill at the handover
    # reading, the incoming one a new subscription on the same meter; both stay in history.
    # Nobody is subscribed without signing: the utility's staff may open the new
    # subscription at once (their word is the approval, as in approve_subscription) where
    # the utility needs no identity hash; otherwise, and always when the outgoing consumer
    # hands over, it is only offered, and the incoming consumer accepts it with their own
    # transaction (accept_move_in) under the rules of subscribe. An outgoing consumer's own
    # handover index may not count (billing's final_counts): then the handover waits for the
    # utility's next trusted reading.
    m = load_meter(meter_id)
    sub = load_subscription(meter_id, ["active"])
    who = require_consumer_or_staff(m, sub)
    require_not_closing(sub, who)
    require_account(new_consumer, "new consumer")
    require(new_consumer != sub["consumer"],
            f"a different consumer expected, found the current subscriber of meter {meter_id}")
    require_int(reading_index, "handover reading index", 0, 10**m["digits"] - 1)
    trust = final_trust(who, m, sub)
    if not call(BILLING, "close_account", [meter_id, reading_index, trust]):
        await_final_reading(sub, reading_index, "moved out", "moved_out", to=new_consumer)
        return
    hand_over(m, sub, new_consumer, reading_index, who if trust == "operator" else None)


def hand_over(m: dict, sub: dict, new_consumer: bytes, reading_index: int, staff) -> None:
    # The outgoing subscription ends at the handover index; the new one opens at once when
    # `staff` (an account of the utility's staff, or None) signed and no identity is required,
    # else it is offered to the new consumer.
    close_subscription(sub, reading_index, "moved out", "moved_out")
    u = load_utility(m["utility"])
    status = "active" if staff is not None and not u["identity_required"] else "offered"
    new = open_subscription(m, new_consumer, sub["mode"], b"", status, approved_by=staff)
    emit("premises_moved", {"meter": m["id"], "from": sub["consumer"], "to": new_consumer,
                            "reading_index": reading_index, "old_subscription": sub["id"],
                            "new_subscription": new["id"], "status": status, "by": caller(),
                            "at": block_time()})


@public
def convert_to_prepaid(meter_id: str, final_index: int, debt_share_bp: int) -> str:
    # The utility moves a postpaid subscriber onto prepayment (a customer in arrears, or one
    # who asks): the postpaid subscription ends with a final bill at the staff's reading
    # `final_index`, and a prepaid one opens at once for the same consumer and identity. What
    # the old invoices still ask for is carried to the new account as a debt recovered as
    # `debt_share_bp` of each payment in (billing/conversion.py, payments/debt.py), so the
    # consumer can buy credit and stay supplied while paying the arrears off. Both
    # subscriptions stay in the meter's history. Returns the new subscription's id.
    m = load_meter(meter_id)
    who = require_role(m["utility"], ["operator", "admin"])
    sub = load_subscription(meter_id, ["active"])
    require(sub["mode"] == "postpaid", f"a postpaid subscription on {meter_id} expected, found {sub['mode']}")
    require(final_trust(who, m, sub) == "operator",
            f"a member of the utility's staff other than the subscriber expected, found the subscriber {bytes_hex(who)}")
    require(m["status"] == "active", f"meter {meter_id} active expected, found {m['status']}")
    require(sub.get("closing", None) is None,
            f"a subscription not awaiting its final reading expected, found {sub['id']} awaiting it")
    require_int(final_index, "final index", 0, 10**m["digits"] - 1)
    require_int(debt_share_bp, "debt recovery share (basis points)", 1, BASIS_POINTS)
    # The staff's index always counts (billing.final_counts is for the consumer's own).
    require(call(BILLING, "close_account", [meter_id, final_index, "operator"]),
            f"the final bill of {sub['id']} settled at index {final_index} expected, found it awaited")
    close_subscription(sub, final_index, "converted to prepaid", "converted")
    new = open_subscription(m, sub["consumer"], "prepaid", sub["identity_hash"], "active", approved_by=who)
    carried = call(BILLING, "carry_arrears", [sub["id"], sub["consumer"], new["id"]])
    if carried > 0:
        call(PAYMENTS, "carry_postpaid_arrears", [meter_id, sub["id"], carried, debt_share_bp])
    emit("subscription_converted", {"meter": meter_id, "consumer": sub["consumer"], "old_subscription": sub["id"],
                                    "new_subscription": new["id"], "mode": "prepaid", "final_index": final_index,
                                    "arrears_carried": carried, "debt_share_bp": debt_share_bp,
                                    "by": who, "at": block_time()})
    return new["id"]


@public
def end_awaited_subscription(meter_id: str, final_index: int) -> None:
    # Billing has settled the final bill of a subscription whose end awaited the utility's
    # trusted reading (at `final_index`): the subscription ends now, and a move-in's new
    # consumer is offered the meter (the outgoing consumer named them; they accept).
    require(caller() == b"contract:billing",
            f"a call from contract billing expected, found {bytes_hex(caller())}")
    m = load_meter(meter_id)
    sub = load_subscription(meter_id, ["active"])
    closing = sub.get("closing", None)
    require(closing is not None, f"subscription {sub['id']} awaiting its final reading expected, found none")
    if closing["to"] == b"":
        close_subscription(sub, final_index, closing["reason"], closing["kind"])
    else:
        hand_over(m, sub, closing["to"], final_index, staff=None)


@public
def accept_move_in(meter_id: str, identity_hash: bytes) -> None:
    # The incoming consumer signs for the subscription a move-in offered them, with the
    # identity hash subscribe would ask of them. It opens at once when staff made the offer
    # or the utility approves automatically; else it waits for an operator, like any request.
    m = load_meter(meter_id)
    sub = load_subscription(meter_id, ["offered"])
    who = caller()
    require(who == sub["consumer"],
            f"the consumer offered meter {meter_id} expected, found account {bytes_hex(who)}")
    require(m["status"] == "active", f"meter {meter_id} active expected, found {m['status']}")
    u = load_utility(m["utility"])
    require_identity(u, identity_hash)
    approved = sub.get("approved_by", None) is not None or u["approval"] == "auto"
    new = copy(sub)
    now = block_time()
    new["status"] = "active" if approved else "pending"
    new["identity_hash"] = identity_hash
    new["accepted_at"] = now
    if approved:
        new["opened_at"] = now
    new["by"] = who
    new["at"] = now
    save_subscription(sub, new)
    bump_activity(new, "opened" if approved else "requested")
    emit("move_in_accepted", {"subscription": sub["id"], "meter": meter_id, "consumer": who,
                              "mode": sub["mode"], "status": new["status"],
                              "identity_hash": identity_hash, "by": who, "at": now})


@view
def subscription(meter_id: str):
    return storage_get(storage_key("s/", [meter_id]))


@view
def subscription_history(meter_id: str, start_after: str = "", limit: int = 100) -> list:
    # Past subscriptions of a meter, oldest first; page with the last id returned.
    prefix = storage_key("h/", [meter_id, ""])
    after = ""
    if start_after != "":
        after = prefix + pad(int(start_after.split("#")[1]), HISTORY_WIDTH)
    out = []
    for key in storage_keys(prefix, after, limit):
        out.append(storage_get(key))
    return out


@view
def subscriptions_of(consumer: bytes) -> list:
    # Meter ids of the consumer's current (pending or active) subscriptions.
    prefix = storage_key("c/", [bytes_hex(consumer), ""])
    out = []
    for key in storage_keys(prefix, "", 1000):
        out.append(key[len(prefix):])
    return out


@view
def subscriptions_in(scope: str, start_after: str = "", limit: int = 100) -> list:
    # The current subscriptions of the meters of a scope (meters without one are skipped);
    # for dunning and statistics. Page with the last meter id examined, returned as `next`.
    ids = meters_in(scope, start_after, limit)
    subs = []
    for meter_id in ids:
        sub = storage_get(storage_key("s/", [meter_id]))
        if sub is not None:
            subs.append(sub)
    nxt = ""
    if len(ids) == limit:
        nxt = ids[len(ids) - 1]
    return [subs, nxt]


@view
def subscription_counts(scope: str) -> dict:
    # Counts of subscriptions per status, and of active ones per mode, segment and protection,
    # for a utility, branch or field.
    scope_prefix(scope)
    return storage_get(storage_key("n/", [scope]), {})
