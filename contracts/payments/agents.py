"""Payments taken by agents, for a meter's subscription or for one invoice, and their
same-day reversal by the agent that took them. A payment taken offline keeps the time it
was collected beside the time it was uploaded; every payment and reversal moves its agent's
cash (payments/agent_cash.py) and the scope's figures (common/activity.py).

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.activity import add_activities, add_activity
from common.keys import storage_key
from common.roles import require_role
from common.text import shape
from payments.accounts import add_credit, after_credit, load_account, position_of, save_account
from payments.agent_cash import cash_add, collection_time
from payments.checks import (
    check_amount,
    check_reference,
    local_day,
    meter_record,
    next_id,
    same_day_reversal,
    subscription_record,
)
from payments.ledger import ledger_add
from payments.reconciliation import recon_add, recon_key, recon_load


def take_agent_payment(utility_id: str, amount: int, reference: str) -> list:
    """The checks every agent payment passes; returns [agent, reference key]."""
    require_role(utility_id, ["agent"])
    check_amount(amount, "payment")
    check_reference(reference)
    agent = caller()
    ref_key = storage_key("pref:", [bytes_hex(agent), reference])
    require(
        not storage_has(ref_key),
        f"a new reference for agent expected, found {reference} already used by {storage_get(ref_key)}",
    )
    return [agent, ref_key]


def book_payment(m: dict, sub: dict, agent: bytes, ref_key: str, pid: str, amount: int,
                 reference: str, remainder, invoice_id: str, collected_at: int) -> dict:
    """Credit what billing did not apply to the subscription's account and record the
    payment (ledger, agent reconciliation and cash, figures, event). Returns the payment
    record."""
    meter_id = m["id"]
    utility_id = m["utility"]
    require(
        isinstance(remainder, int) and 0 <= remainder and remainder <= amount,
        f"billing remainder in [0, {amount}] expected, found {shape(remainder)}",
    )
    applied = amount - remainder
    now = block_time()
    day = local_day(utility_id, now)

    acct = load_account(sub, meter_id, utility_id)
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    repaid = add_credit(acct, remainder)
    acct["allocated"] = acct["allocated"] + applied
    after_credit(sub, acct)
    save_account(sub, acct, before_position, before_emergency)

    record = {
        "id": pid,
        "meter": meter_id,
        "utility": utility_id,
        "subscription": sub["id"],
        "consumer": sub["consumer"],
        "agent": agent,
        "amount": amount,
        "reference": reference,
        "invoice": invoice_id,
        "applied": applied,
        "remainder": remainder,
        "repaid_emergency": repaid,
        "at": now,
        "collected_at": collected_at,
        "day": day,
        "reversed": False,
        "reversed_at": 0,
        "reversal_reason": "",
    }
    storage_set(storage_key("pay:", [pid]), record)
    storage_set(ref_key, pid)
    recon_add(agent, day, pid, amount)
    ledger_add(utility_id, {"paid": amount, "allocated": applied})
    cash_add(utility_id, agent, "collected", amount)
    figures = {"cash_collected": amount}
    if collected_at != now:
        figures["offline_payments"] = 1
    add_activities(m, figures)
    emit(
        "payment",
        {
            "id": pid,
            "meter": meter_id,
            "subscription": sub["id"],
            "invoice": invoice_id,
            "amount": amount,
            "agent": agent,
            "reference": reference,
            "applied": applied,
            "remainder": remainder,
            "repaid_emergency": repaid,
            "balance": acct["balance"],
            "at": now,
            "collected_at": collected_at,
        },
    )
    return record


@public
def record_payment(meter_id: str, amount: int, reference: str, collected_at: int = 0) -> str:
    """A payment taken by a registered agent for the meter's current subscription. Billing
    applies it to that subscription's oldest open invoice first (never to an earlier
    subscription's); what remains becomes the subscription's credit. ``collected_at``: when
    the agent took the money, if earlier than now (taken offline, uploaded later; 0 = now).
    Returns the payment id."""
    m = meter_record(meter_id)
    utility_id = m["utility"]
    agent, ref_key = take_agent_payment(utility_id, amount, reference)
    collected = collection_time(utility_id, collected_at)
    sub = subscription_record(meter_id)
    pid = next_id("PAY")
    # A new payment settles a reversal of the day: the agent has re-keyed it.
    storage_delete(storage_key("rev:", [meter_id]))
    remainder = call("billing", "apply_payment", [meter_id, amount, pid])
    book_payment(m, sub, agent, ref_key, pid, amount, reference, remainder, "", collected)
    call("supply", "on_payment", [meter_id])
    return pid


def current_subscription_of(meter_id: str, sub_id: str):
    """The registry record of subscription ``sub_id`` if it is still the current one of
    ``meter`` or of the meter that replaced it; None once it has ended (or moved on)."""
    hops = 0
    while meter_id != "" and hops < 16:
        sub = call("registry", "subscription", [meter_id])
        if sub is not None and sub["id"] == sub_id:
            return sub
        m = call("registry", "meter", [meter_id])
        meter_id = "" if m is None else m["replaced_by"]
        hops += 1
    return None


def invoice_subscription(inv: dict):
    """[subscription record, its current meter or "", whether it is still current] for an
    invoice. An ended subscription's record is rebuilt from the invoice and its account:
    postpaid (only postpaid subscriptions have invoices), no low-balance threshold."""
    sub_id = inv["subscription"]
    sub = current_subscription_of(inv["meter"], sub_id)
    if sub is not None:
        return [sub, sub["meter"], sub["status"] != "terminated"]
    acct = storage_get(storage_key("acct:", [sub_id]))
    meter_id = inv["meter"] if acct is None else acct["meter"]
    return [{"id": sub_id, "meter": meter_id, "consumer": inv["consumer"], "mode": "postpaid",
             "status": "terminated"}, meter_id, False]


@public
def record_invoice_payment(invoice_id: str, amount: int, reference: str, collected_at: int = 0) -> str:
    """A payment taken by a registered agent for one invoice named by its id, of any
    subscription: the way to collect the final invoice of a subscription that has ended
    (after a move-in the new subscriber's payments never pay it). What exceeds the invoice's
    unpaid amount becomes that subscription's credit while it is current; an ended
    subscription's invoice takes at most its unpaid amount. ``collected_at`` as for
    ``record_payment``. Returns the payment id."""
    require(isinstance(invoice_id, str), f"invoice id of type str expected, found {shape(invoice_id)}")
    inv = call("billing", "invoice", [invoice_id])
    require(inv is not None, f"an invoice expected, found no invoice {invoice_id}")
    require(inv["status"] == "open", f"an open invoice expected, found invoice {invoice_id} {inv['status']}")
    utility_id = inv["utility"]
    agent, ref_key = take_agent_payment(utility_id, amount, reference)
    collected = collection_time(utility_id, collected_at)
    sub, current_meter, is_current = invoice_subscription(inv)
    meter_id = inv["meter"]
    if not is_current:
        # An ended subscription has nothing left to spend credit on: no overpayment.
        owed = inv["total"] - inv["paid"]
        require(
            amount <= owed,
            f"at most the {owed} unpaid of invoice {invoice_id} expected (its subscription has ended), found {amount}",
        )
    pid = next_id("PAY")
    remainder = call("billing", "apply_invoice_payment", [invoice_id, amount, pid])
    book_payment(meter_record(meter_id), sub, agent, ref_key, pid, amount, reference, remainder, invoice_id,
                 collected)
    if is_current:
        # Still the subscription in place: its supply may be restored by this payment.
        storage_delete(storage_key("rev:", [current_meter]))
        call("supply", "on_payment", [current_meter])
    return pid


@public
def reverse_payment(payment_id: str, reason: str) -> None:
    """Undo a payment: only by the agent that took it, only on the same local day, once."""
    p, today = same_day_reversal("payment", "pay:", payment_id, reason, actor="agent", verb="took")
    agent = p["agent"]
    now = block_time()
    utility_id = p["utility"]
    meter_id = p["meter"]
    # Marked before billing runs, so that a disconnection decided on the transient
    # arrears of this reversal (in this transaction or later today) is refused. Not for a
    # payment of an ended subscription's invoice: that debt is no ground for disconnecting
    # anyone on the meter.
    current = current_subscription_of(meter_id, p["subscription"])
    if current is not None:
        storage_set(storage_key("rev:", [current["meter"]]), {"payment": payment_id, "day": today, "at": now,
                                                "utility": utility_id})

    if p["applied"] > 0:
        call("billing", "revert_payment", [meter_id, payment_id])

    # The credit the payment created is taken back in full, even if it was spent since:
    # the account then shows a debt rather than money that never arrived.
    acct = storage_get(storage_key("acct:", [p["subscription"]]))
    require(acct is not None, f"the account of subscription {p['subscription']} expected, found none")
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    acct["balance"] = acct["balance"] - p["remainder"]
    acct["credited"] = acct["credited"] - p["remainder"]
    acct["allocated"] = acct["allocated"] - p["applied"]
    save_account({"id": p["subscription"]}, acct, before_position, before_emergency)
    ledger_add(utility_id, {"reversed": p["amount"], "allocated": 0 - p["applied"]})
    cash_add(utility_id, agent, "reversed", p["amount"])
    add_activity(meter_record(meter_id), "cash_reversed", p["amount"])

    p["reversed"] = True
    p["reversed_at"] = now
    p["reversal_reason"] = reason
    storage_set(storage_key("pay:", [payment_id]), p)
    r = recon_load(agent, p["day"])
    r["reversed_count"] = r["reversed_count"] + 1
    r["reversed_total"] = r["reversed_total"] + p["amount"]
    storage_set(recon_key(agent, p["day"]), r)
    emit(
        "payment_reversed",
        {
            "id": payment_id,
            "meter": meter_id,
            "subscription": p["subscription"],
            "amount": p["amount"],
            "agent": agent,
            "reason": reason,
            "applied": p["applied"],
            "remainder": p["remainder"],
            "balance": acct["balance"],
            "by": agent,
            "at": now,
        },
    )


@view
def reversal_pending(meter_id: str) -> bool:
    """True from a payment's reversal until the agent records a new payment for the meter or
    the local day of the reversal ends: the arrears it brings back may be an agent's keying
    error about to be corrected, so no disconnection may be based on them meanwhile."""
    rev = storage_get(storage_key("rev:", [meter_id]))
    if rev is None:
        return False
    return local_day(rev["utility"], block_time()) == rev["day"]


@view
def payment(payment_id: str):
    return storage_get(storage_key("pay:", [payment_id]))
