"""Grants to a segment: a utility's free basic allowance or a one-off bonus credited to
every subscription of a utility, branch or field (optionally of one segment), in bounded
batches.

A grant is opened once by an operator, then applied batch by batch: each call walks at most
``MAX_BATCH`` meters of the scope from the grant's cursor (the registry's meter order), so no
transaction runs out of gas however large the scope. Anyone may apply the next batch (the
operator, a service, a consumer waiting for the allowance): what is credited, and to whom,
is fixed when the grant opens. Each subscription is credited at most once per grant (a key
per credit, by subscription id: a replaced meter that hands its subscription to a meter
later in the order is not credited twice), each credit with its event.

The money is the utility's: a grant enters the ledger as ``granted`` beside what was paid
in, and lands on the subscription's credit account as any money in does (an old debt's
share first, then the emergency credit in use, then the balance; for a postpaid
subscription it is advance credit that billing applies to its next invoice).

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.activity import add_activity
from common.keys import storage_key
from common.roles import require_role
from common.text import shape
from payments.accounts import (
    add_credit,
    after_credit,
    credit_of,
    load_account,
    position_of,
    save_account,
)
from payments.checks import check_amount, next_id
from payments.ledger import ledger_add

MAX_BATCH = 40  # meters per batch: far below the transaction gas limit (docs/contracts/payments.md)
GRANTED_MODES = ["prepaid", "postpaid"]  # a token meter's credit lives on the meter: no account to credit
MAX_REASON_LEN = 256
MAX_SEGMENT_LEN = 64


def grant_key(grant_id: str) -> str:
    return storage_key("grant:", [grant_id])


def credited_key(grant_id: str, subscription_id: str) -> str:
    return storage_key("gc:", [grant_id, subscription_id])


def grant_scope(utility_id: str, scope) -> str:
    """The utility itself ("" or its id), or one of its branches or fields."""
    require(isinstance(scope, str), f"scope: a utility, branch or field id expected, found {shape(scope)}")
    if scope == "" or scope == utility_id:
        return utility_id
    require(scope.startswith(utility_id + "/"),
            f"scope: a branch or field of utility {utility_id} expected, found '{scope}'")
    return scope


def eligible(grant: dict, sub: dict) -> bool:
    """Whether the grant credits this subscription: active, of the grant's segment (any when
    the grant names none), with a credit account (prepaid or postpaid)."""
    if sub["status"] != "active" or sub["mode"] not in GRANTED_MODES:
        return False
    return grant["segment"] == "" or sub.get("segment", "") == grant["segment"]


def credit_grant(grant: dict, sub: dict) -> None:
    """Credit the grant's amount to one subscription's account, once, with its event."""
    amount = grant["amount"]
    meter_id = sub["meter"]
    utility_id = grant["utility"]
    acct = load_account(sub, meter_id, utility_id)
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    before_recovered = acct.get("debt_recovered", 0)
    repaid = add_credit(acct, amount)
    after_credit(sub, acct)
    save_account(sub, acct, before_position, before_emergency)
    ledger_add(utility_id, {"granted": amount})
    storage_set(credited_key(grant["id"], sub["id"]), block_time())
    add_activity(sub, "granted", amount)
    emit("grant_credited",
         {"grant": grant["id"], "meter": meter_id, "subscription": sub["id"], "amount": amount,
          "repaid_emergency": repaid, "debt_recovered": acct.get("debt_recovered", 0) - before_recovered,
          "balance": acct["balance"], "credit": credit_of(acct), "by": caller(), "at": block_time()})
    # Credit back may end a disconnection for exhausted prepaid credit.
    call("supply", "on_payment", [meter_id])


@public
def open_grant(utility_id: str, scope: str, segment: str, amount: int, reason: str) -> str:
    """By an operator or admin: credit ``amount`` to every active prepaid or postpaid
    subscription of ``scope`` (the utility, "" for it, or a branch or field), of
    ``segment`` ("" = every segment). Nothing is credited yet: ``apply_grant`` does it in
    batches. Returns the grant id."""
    who = require_role(utility_id, ["operator", "admin"])
    where = grant_scope(utility_id, scope)
    require(isinstance(segment, str) and len(segment) <= MAX_SEGMENT_LEN,
            f"segment: text of at most {MAX_SEGMENT_LEN} characters expected, found {shape(segment)}")
    check_amount(amount, "grant")
    require(isinstance(reason, str) and len(reason) > 0 and len(reason) <= MAX_REASON_LEN,
            f"a reason of 1 to {MAX_REASON_LEN} characters expected, found {shape(reason)}")
    gid = next_id("GRT")
    now = block_time()
    grant = {"id": gid, "utility": utility_id, "scope": where, "segment": segment, "amount": amount,
             "reason": reason, "cursor": "", "done": False, "credited": 0, "credited_total": 0,
             "batches": 0, "by": who, "at": now, "done_at": 0}
    storage_set(grant_key(gid), grant)
    emit("grant_opened", {"id": gid, "utility": utility_id, "scope": where, "segment": segment,
                          "amount": amount, "reason": reason, "by": who, "at": now})
    return gid


@public
def apply_grant(grant_id: str, limit: int = 20) -> str:
    """By anyone: credit the grant to the eligible subscriptions of the next ``limit`` (1 to
    MAX_BATCH) meters of its scope after the cursor. Returns the new cursor, "" once the
    scope is done (then the grant is closed and a later call is refused)."""
    require(isinstance(grant_id, str), f"grant id of type str expected, found {shape(grant_id)}")
    grant = storage_get(grant_key(grant_id))
    require(grant is not None, f"an opened grant expected, found no grant {grant_id}")
    require(not grant["done"], f"a grant still being applied expected, found {grant_id} done at {grant['done_at']}")
    require(isinstance(limit, int) and 0 < limit and limit <= MAX_BATCH,
            f"a batch of 1 to {MAX_BATCH} meters expected, found {shape(limit)}")
    page = call("registry", "subscriptions_in", [grant["scope"], grant["cursor"], limit])
    credited = 0
    for sub in page[0]:
        if eligible(grant, sub) and not storage_has(credited_key(grant_id, sub["id"])):
            credit_grant(grant, sub)
            credited += 1
    now = block_time()
    grant["cursor"] = page[1]
    grant["credited"] = grant["credited"] + credited
    grant["credited_total"] = grant["credited_total"] + credited * grant["amount"]
    grant["batches"] = grant["batches"] + 1
    if page[1] == "":
        grant["done"] = True
        grant["done_at"] = now
    storage_set(grant_key(grant_id), grant)
    emit("grant_batch", {"grant": grant_id, "credited": credited, "next": page[1], "done": grant["done"],
                         "by": caller(), "at": now})
    return page[1]


@view
def segment_grant(grant_id: str):
    return storage_get(grant_key(grant_id))


@view
def grant_credited_at(grant_id: str, subscription_id: str) -> int:
    """When the grant credited the subscription; 0 if it has not (yet)."""
    return storage_get(credited_key(grant_id, subscription_id), 0)
