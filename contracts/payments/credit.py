"""A subscription's credit: applied to its open invoices, refunded to the consumer, and the
views of an account.

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.keys import storage_key
from common.roles import require_role
from common.text import shape
from payments.accounts import after_credit, credit_of, load_account, position_of, save_account
from payments.checks import (
    BILLING,
    check_amount,
    check_reference,
    meter_record,
    next_id,
    subscription_record,
)
from payments.ledger import ledger_add


@public
def apply_credit(meter_id: str) -> int:
    """Apply a postpaid subscription's advance credit to its open invoices (oldest first).
    By the consumer, an operator of the utility, or billing. Returns the amount applied."""
    m = meter_record(meter_id)
    utility_id = m["utility"]
    sub = subscription_record(meter_id)
    who = caller()
    if who != BILLING and who != sub["consumer"]:
        require_role(utility_id, ["operator"])
    acct = load_account(sub, meter_id, utility_id)
    available = position_of(acct)
    if available <= 0:
        return 0
    cid = next_id("CRD")
    remainder = call("billing", "apply_payment", [meter_id, available, cid])
    require(
        isinstance(remainder, int) and 0 <= remainder and remainder <= available,
        f"billing remainder in [0, {available}] expected, found {shape(remainder)}",
    )
    applied = available - remainder
    if applied == 0:
        return 0
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    acct["balance"] = acct["balance"] - applied
    acct["allocated"] = acct["allocated"] + applied
    acct["applied_credit"] = acct["applied_credit"] + applied
    save_account(sub, acct, before_position, before_emergency)
    ledger_add(utility_id, {"allocated": applied})
    emit(
        "credit_applied",
        {"id": cid, "meter": meter_id, "subscription": sub["id"], "applied": applied, "balance": acct["balance"],
         "by": who, "at": block_time()},
    )
    return applied


def refund_from(sub: dict, acct: dict, meter_id: str, utility_id: str, amount: int, reference: str) -> str:
    check_amount(amount, "refund")
    check_reference(reference)
    available = position_of(acct)
    require(amount <= available, f"refund of at most the credit {available} expected, found {amount}")
    rid = next_id("REF")
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    acct["balance"] = acct["balance"] - amount
    acct["refunded"] = acct["refunded"] + amount
    after_credit(sub, acct)
    save_account(sub, acct, before_position, before_emergency)
    ledger_add(utility_id, {"refunded": amount})
    record = {"id": rid, "meter": meter_id, "subscription": sub["id"], "amount": amount,
              "reference": reference, "by": caller(), "at": block_time()}
    storage_set(storage_key("refund:", [rid]), record)
    emit("refund", record)
    return rid


@public
def refund_credit(meter_id: str, amount: int, reference: str) -> str:
    """Pay back part of the meter's current subscription's positive credit (e.g. after its
    final bill), by an operator of the utility. Returns the refund id."""
    m = meter_record(meter_id)
    utility_id = m["utility"]
    require_role(utility_id, ["operator"])
    sub = subscription_record(meter_id)
    return refund_from(sub, load_account(sub, meter_id, utility_id), meter_id, utility_id, amount, reference)


@public
def refund_subscription_credit(subscription_id: str, amount: int, reference: str) -> str:
    """Pay back part of any subscription's positive credit, by its id: the way to return an
    outgoing subscriber's money once the premises have a new subscriber (the meter's
    `refund_credit` then means the new one). By an operator. Returns the refund id."""
    require(isinstance(subscription_id, str), f"subscription id of type str expected, found {shape(subscription_id)}")
    acct = storage_get(storage_key("acct:", [subscription_id]))
    require(acct is not None, f"a credit account of subscription {subscription_id} expected, found none")
    utility_id = acct["utility"]
    require_role(utility_id, ["operator"])
    sub = {"id": subscription_id, "consumer": acct["consumer"], "meter": acct["meter"]}
    return refund_from(sub, acct, acct["meter"], utility_id, amount, reference)


@view
def credit(meter_id: str) -> int:
    """What the current subscriber of ``meter`` may still consume: balance plus unused
    emergency reserve; negative when consumption ran past both (a debt, kept)."""
    m = call("registry", "meter", [meter_id])
    if m is None:
        return 0
    sub = call("registry", "subscription", [meter_id])
    if sub is None:
        return 0
    return credit_of(load_account(sub, meter_id, m["utility"]))


@view
def account(meter_id: str):
    """The credit account of the current subscription of ``meter`` (None without one)."""
    m = call("registry", "meter", [meter_id])
    if m is None:
        return None
    sub = call("registry", "subscription", [meter_id])
    if sub is None:
        return None
    acct = load_account(sub, meter_id, m["utility"])
    acct["credit"] = credit_of(acct)
    acct["position"] = position_of(acct)
    return acct


@view
def subscription_account(subscription_id: str):
    """The credit account of any subscription, current or past (None if never used)."""
    return storage_get(storage_key("acct:", [subscription_id]))
