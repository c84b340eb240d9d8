"""Prepaid consumption: emergency credit granted by staff, and the charges billing makes as
readings arrive, with the low-balance warning and the order to supply when credit runs out.

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.keys import storage_key
from common.roles import require_role
from common.text import shape
from payments.accounts import (
    after_credit,
    count_below_warning,
    credit_of,
    load_account,
    position_of,
    prepaid_subscription,
    save_account,
)
from payments.checks import BILLING, MAX_AMOUNT, check_amount, key_text, meter_record
from payments.ledger import ledger_add
from payments.policy import policy_of

EXHAUSTED_REASON = "prepaid credit exhausted"


def supply_connected(meter_id: str) -> bool:
    status = call("supply", "supply_status", [meter_id])
    if status is None:
        return True
    return status["status"] == "connected"


@public
def grant_emergency_credit(meter_id: str, amount: int) -> int:
    """Raise a prepaid account's emergency reserve, by an operator. The reserve is used when
    the balance reaches 0 and is repaid from the next purchase; once repaid it is available
    again. Returns the consumer's credit."""
    m = meter_record(meter_id)
    utility_id = m["utility"]
    require_role(utility_id, ["operator"])
    check_amount(amount, "emergency credit")
    sub = prepaid_subscription(meter_id)
    acct = load_account(sub, meter_id, utility_id)
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    acct["emergency_limit"] = acct["emergency_limit"] + amount
    after_credit(sub, acct)
    save_account(sub, acct, before_position, before_emergency)
    emit(
        "emergency_credit_granted",
        {"meter": meter_id, "subscription": sub["id"], "amount": amount, "limit": acct["emergency_limit"],
         "credit": credit_of(acct), "by": caller(), "at": block_time()},
    )
    call("supply", "on_payment", [meter_id])
    return credit_of(acct)


@public
def charge_prepaid(meter_id: str, amount: int, ref) -> int:
    """Deduct priced consumption from a prepaid account; called by billing only, once per
    ``ref`` (the reading). Warns at the low-balance threshold, draws on the emergency
    reserve at 0, and when credit is exhausted orders disconnection or a load limit
    (utility policy) through supply. A negative amount is credited back (billing prices a
    day as a whole, and a day read further can cost less than it was charged so far).
    Returns the consumer's credit after the charge."""
    require(caller() == BILLING, f"caller contract:billing expected, found {shape(caller())}")
    require(isinstance(amount, int), f"an int charge expected, found {shape(amount)}")
    require(abs(amount) <= MAX_AMOUNT, f"a charge of at most {MAX_AMOUNT} either way expected, found {amount}")
    m = meter_record(meter_id)
    utility_id = m["utility"]
    sub = call("registry", "subscription", [meter_id])
    if sub is None and m.get("replaced_by", "") != "":
        # Billing settles a replaced meter's last reading after its subscription has moved
        # to the new meter: the charge belongs to that subscription, orders to that meter.
        sub = call("registry", "subscription", [m["replaced_by"]])
    require(sub is not None, f"a subscription on meter {meter_id} expected, found none")
    require(sub["mode"] == "prepaid", f"a prepaid subscription on {meter_id} expected, found {sub['mode']}")
    current = sub["meter"]
    # Keyed by a hash of (meter, ref): ids may contain any separator, a hash never collides.
    ckey = storage_key("charge:", [bytes_hex(sha256(canonical_bytes([meter_id, key_text(ref)])))])
    require(not storage_has(ckey), f"a new charge reference for {meter_id} expected, found {key_text(ref)} already charged")
    now = block_time()
    storage_set(ckey, {"amount": amount, "at": now})

    acct = load_account(sub, current, utility_id)
    if amount < 0:
        return credit_back(sub, acct, 0 - amount, ref)
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    before_balance = acct["balance"]
    # Balance first, then the emergency reserve, then debt.
    from_balance = min(max(acct["balance"], 0), amount)
    rest = amount - from_balance
    from_reserve = min(max(acct["emergency_limit"] - acct["emergency_used"], 0), rest)
    acct["emergency_used"] = acct["emergency_used"] + from_reserve
    acct["balance"] = acct["balance"] - from_balance - (rest - from_reserve)
    acct["charged"] = acct["charged"] + amount
    left = credit_of(acct)
    threshold = sub.get("low_balance_threshold", 0)

    events = []
    if not acct["low_warned"] and acct["balance"] <= threshold and before_balance > threshold:
        acct["low_warned"] = True
        count_below_warning(sub, 1)
        events.append(["low_balance", {"meter": current, "consumer": sub["consumer"], "balance": acct["balance"],
                                       "credit": left, "threshold": threshold, "at": now}])
    if from_reserve > 0 and before_emergency == 0:
        events.append(["emergency_credit_in_use", {"meter": current, "consumer": sub["consumer"],
                                                   "used": acct["emergency_used"],
                                                   "limit": acct["emergency_limit"], "at": now}])
    exhausted = left <= 0 and amount > 0
    if exhausted and not acct["exhausted"]:
        acct["exhausted"] = True
        events.append(["credit_exhausted", {"meter": current, "consumer": sub["consumer"], "balance": acct["balance"],
                                            "credit": left, "at": now}])
    save_account(sub, acct, before_position, before_emergency)
    ledger_add(utility_id, {"charged": amount})
    emit("credit_deducted", {"meter": current, "subscription": sub["id"], "amount": amount, "ref": ref,
                            "balance": acct["balance"],
                            "credit": left, "at": now})
    for name, fields in events:
        emit(name, fields)
    # Retried on every charge while credit is exhausted and supply is still on: an order
    # deferred by friendly hours or a pending reversal is tried again at the next reading.
    if exhausted and supply_connected(current):
        p = policy_of(utility_id)
        if p["exhausted_action"] == "load_limit":
            call("supply", "set_load_limit", [current, p["load_limit_watts"], EXHAUSTED_REASON])
        else:
            call("supply", "try_disconnect", [current, EXHAUSTED_REASON])
    return left


def credit_back(sub: dict, acct: dict, amount: int, ref) -> int:
    # Return `amount` of earlier charges to the account, the inverse of a charge: the
    # emergency reserve in use is repaid first, the rest goes to the balance; "charged"
    # shrinks, so the ledger's conservation rule holds. Returns the consumer's credit.
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    repaid = min(acct["emergency_used"], amount)
    acct["emergency_used"] = acct["emergency_used"] - repaid
    acct["balance"] = acct["balance"] + amount - repaid
    acct["charged"] = acct["charged"] - amount
    after_credit(sub, acct)
    save_account(sub, acct, before_position, before_emergency)
    ledger_add(acct["utility"], {"charged": 0 - amount})
    left = credit_of(acct)
    emit("credit_returned", {"meter": sub["meter"], "subscription": sub["id"], "amount": amount, "ref": ref,
                             "repaid_emergency": repaid, "balance": acct["balance"], "credit": left,
                             "at": block_time()})
    call("supply", "on_payment", [sub["meter"]])
    return left
