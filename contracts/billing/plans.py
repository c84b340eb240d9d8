"""Payment plans (issue 12): a postpaid subscription's unpaid invoices turned into instalments
(amounts and due dates) by the utility's staff. While the plan is kept, the invoices it
covers are not arrears (``views.arrears``, so supply neither disconnects nor reminds for
them) and charge no late fee; a missed instalment ends it, and they are arrears again.

Nothing changes how money is paid: payments pay the oldest open invoices first, as always,
and the plan is kept at a time t while what its invoices still owe is at most what its
instalments due after t add up to. So a credit note on a covered invoice counts as paid, and
a reversed payment counts as unpaid again. A view sees a missed plan at once (no transaction
is needed to end the shelter); ``check_payment_plan`` records the end (missed or completed)
for anyone who asks.

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import current_account, meter_info
from billing.staff import STAFF, check_reason
from common.activity import bump_activity
from common.keys import storage_key
from common.records import scopes_of
from common.roles import require_role
from common.text import pad

MAX_INSTALMENTS = 36
PLAN_PAD = 3


def live_invoice(inv_id: str) -> dict:
    # A covered invoice, or the one in force that replaced it (a rebill).
    inv = storage_get(storage_key("inv/", [inv_id]))
    while inv["status"] == "void":
        inv = storage_get(storage_key("inv/", [inv["replaced_by"]]))
    return inv


def still_owed(plan: dict) -> int:
    owed = 0
    for inv_id in plan["invoices"]:
        inv = live_invoice(inv_id)
        if inv["status"] == "open":
            owed += inv["total"] - inv["paid"]
    return owed


def scheduled_after(plan: dict, t: int) -> int:
    # What the instalments due after time t add up to.
    total = 0
    for due, amount in plan["instalments"]:
        if due >= t:
            total += amount
    return total


def plan_state(plan: dict, t: int) -> str:
    # "kept", "missed" or "completed" at time t (an ended plan keeps its recorded end).
    if plan["status"] != "active":
        return plan["status"]
    owed = still_owed(plan)
    if owed <= 0:
        return "completed"
    if owed > scheduled_after(plan, t):
        return "missed"
    return "kept"


def active_plan(sub_id: str) -> dict:
    plan_id = storage_get(storage_key("ppa/", [sub_id]), "")
    if plan_id == "":
        return None
    return storage_get(storage_key("pp/", [plan_id]))


def sheltered(acct: dict, t: int) -> int:
    # What a kept plan keeps out of the subscription's arrears at time t: the overdue unpaid
    # part of the invoices it covers (views.arrears subtracts it).
    if acct is None:
        return 0
    plan = active_plan(acct["subscription"])
    if plan is None or plan_state(plan, t) != "kept":
        return 0
    total = 0
    for inv_id in plan["invoices"]:
        inv = live_invoice(inv_id)
        if inv["status"] == "open" and inv["due"] < t:
            total += inv["total"] - inv["paid"]
    return total


def in_kept_plan(inv: dict, t: int) -> bool:
    # For late fees (invoices.late_fees): no fee on an invoice a kept plan covers.
    plan = active_plan(inv["subscription"])
    if plan is None or plan_state(plan, t) != "kept":
        return False
    return inv["id"] in plan["invoices"] or inv.get("replaces", "") in plan["invoices"]


def check_instalments(instalments, owed: int, now: int) -> None:
    if not (isinstance(instalments, list) and len(instalments) >= 1 and len(instalments) <= MAX_INSTALMENTS):
        revert(f"1 to {MAX_INSTALMENTS} instalments [due time, amount] expected")
    last = now
    total = 0
    for item in instalments:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int) and isinstance(item[1], int)):
            revert("an instalment [due time int, amount int] expected")
        due = item[0]
        amount = item[1]
        if not (due > last):
            revert(f"instalments due after {last} (now, then each after the one before) expected, found one due {due}")
        if not (amount > 0):
            revert(f"a positive instalment expected, found {amount} due {due}")
        last = due
        total += amount
    if total != owed:
        revert(f"instalments adding up to the {owed} the subscription's open invoices owe expected, found {total}")


def count_open_plans(info: dict, delta: int) -> None:
    for scope in scopes_of(info):
        key = storage_key("np/", [scope])
        storage_set(key, storage_get(key, 0) + delta)


@public
def open_payment_plan(meter_id: str, instalments: list, reason: str) -> dict:
    # The current postpaid subscription's open invoices, paid by `instalments` ([[due time,
    # amount], ...], due times increasing, adding up to what they owe), by the staff.
    info = meter_info(meter_id)
    who = require_role(info["utility"], STAFF)
    check_reason(reason)
    sub = call("registry", "subscription", [meter_id])
    if not (sub is not None and sub["status"] == "active" and sub["mode"] == "postpaid"):
        revert(f"an active postpaid subscription on meter {meter_id} expected, found none")
    acct = current_account(meter_id)
    if acct is None or len(acct["open"]) == 0:
        revert(f"open invoices to spread expected on meter {meter_id}, found none")
    current = active_plan(sub["id"])
    now = block_time()
    if current is not None and plan_state(current, now) == "kept":
        revert(f"one payment plan at a time expected, found {current['id']} kept on subscription {sub['id']}")
    if current is not None:
        end_plan(current, plan_state(current, now), info)
    owed = 0
    for inv_id in acct["open"]:
        inv = storage_get(storage_key("inv/", [inv_id]))
        owed += inv["total"] - inv["paid"]
    check_instalments(instalments, owed, now)
    n_key = storage_key("ppn/", [sub["id"]])
    n = storage_get(n_key, 0) + 1
    storage_set(n_key, n)
    plan_id = sub["id"] + "/P" + pad(n, PLAN_PAD)
    plan = {"id": plan_id, "meter": meter_id, "utility": info["utility"], "subscription": sub["id"],
            "consumer": sub["consumer"], "invoices": acct["open"], "amount": owed, "instalments": instalments,
            "status": "active", "reason": reason, "by": who, "at": now, "ended_at": 0}
    storage_set(storage_key("pp/", [plan_id]), plan)
    storage_set(storage_key("ppa/", [sub["id"]]), plan_id)
    count_open_plans(info, 1)
    bump_activity(info, "payment_plan_opened")
    emit("payment_plan_opened", {"id": plan_id, "meter": meter_id, "subscription": sub["id"],
                                 "consumer": sub["consumer"], "invoices": acct["open"], "amount": owed,
                                 "instalments": instalments, "reason": reason, "by": who, "at": now})
    return plan


def end_plan(plan: dict, state: str, info: dict) -> None:
    now = block_time()
    plan["status"] = state
    plan["ended_at"] = now
    storage_set(storage_key("pp/", [plan["id"]]), plan)
    storage_set(storage_key("ppa/", [plan["subscription"]]), "")
    count_open_plans(info, -1)
    bump_activity(info, "payment_plan_" + state)
    emit("payment_plan_" + state, {"id": plan["id"], "meter": plan["meter"], "subscription": plan["subscription"],
                                   "consumer": plan["consumer"], "still_owed": still_owed(plan),
                                   "scheduled_after": scheduled_after(plan, now), "by": caller(), "at": now})


@public
def check_payment_plan(meter_id: str) -> str:
    # Anyone may ask: records the end of the current subscription's plan when it is missed
    # or completed. Returns the plan's state ("" when there is none).
    acct = current_account(meter_id)
    if acct is None:
        return ""
    plan = active_plan(acct["subscription"])
    if plan is None:
        return ""
    state = plan_state(plan, block_time())
    if state != "kept":
        end_plan(plan, state, meter_info(meter_id))
    return state


@view
def payment_plan(meter_id: str) -> dict:
    # The current subscription's plan (None if it has none) with its state now and progress.
    acct = current_account(meter_id)
    if acct is None:
        return None
    plan = active_plan(acct["subscription"])
    if plan is None:
        return None
    now = block_time()
    plan["state"] = plan_state(plan, now)
    plan["still_owed"] = still_owed(plan)
    plan["scheduled_after"] = scheduled_after(plan, now)
    return plan


@view
def payment_plans(subscription_id: str) -> list:
    # Every plan of a subscription, ended or not, in the order they were opened.
    out = []
    for k in storage_keys(storage_key("pp/", [subscription_id, ""]), "", 100):
        out.append(storage_get(k))
    return out


@view
def open_plan_count(scope: str) -> int:
    # Plans not yet recorded as ended in a utility, branch or field.
    return storage_get(storage_key("np/", [scope]), 0)
