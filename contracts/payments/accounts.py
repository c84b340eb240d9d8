"""Credit accounts, one per subscription (``acct:<subscription id>``): balance, emergency
credit and its use, an old debt recovered from each payment, the warnings' state; credit and
debt positions booked in the ledger.

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.keys import scope_key, storage_key
from common.records import scopes_of
from payments.checks import subscription_record
from payments.ledger import ledger_add
from payments.policy import BASIS_POINTS, policy_of


def account_key(sub: dict) -> str:
    return storage_key("acct:", [sub["id"]])


def new_account(sub: dict, meter_id: str, utility_id: str) -> dict:
    """An account as it is before its first use; the emergency reserve of the utility's
    policy is granted to prepaid subscriptions when the account opens (at activation)."""
    reserve = 0
    if sub["mode"] == "prepaid":
        reserve = policy_of(utility_id)["emergency_credit"]
    return {
        "subscription": sub["id"],
        "meter": meter_id,
        "utility": utility_id,
        "consumer": sub["consumer"],
        "balance": 0,
        "emergency_limit": reserve,
        "emergency_used": 0,
        "credited": 0,
        "charged": 0,
        "refunded": 0,
        "allocated": 0,
        "applied_credit": 0,
        "low_warned": False,
        "exhausted": False,
        "opened_at": block_time(),
    }


def load_account(sub: dict, meter_id: str, utility_id: str) -> dict:
    acct = storage_get(account_key(sub))
    if acct is None:
        return new_account(sub, meter_id, utility_id)
    # A replaced meter hands its subscription (and so this account) to the new meter.
    acct["meter"] = sub["meter"]
    return acct


def credit_of(acct: dict) -> int:
    return acct["balance"] + acct["emergency_limit"] - acct["emergency_used"]


def position_of(acct: dict) -> int:
    """Money the consumer has with the utility: positive credit, negative debt."""
    return acct["balance"] - acct["emergency_used"]


def save_account(sub: dict, acct: dict, before_position: int, before_emergency: int) -> None:
    acct["by"] = caller()
    acct["at"] = block_time()
    storage_set(account_key(sub), acct)
    ledger_add(
        acct["utility"],
        {
            "credit_position": position_of(acct) - before_position,
            "emergency_outstanding": acct["emergency_used"] - before_emergency,
        },
    )


def add_credit(acct: dict, amount: int) -> int:
    """Credit ``amount`` to the account: the share of it that recovers an old debt goes to
    the debt (payments/debt.py), the emergency credit in use is repaid next, the rest goes to
    the balance (repaying any negative balance). Returns the emergency repaid."""
    rest = amount - recover_debt(acct, amount)
    repaid = min(acct["emergency_used"], rest)
    acct["emergency_used"] = acct["emergency_used"] - repaid
    acct["balance"] = acct["balance"] + rest - repaid
    acct["credited"] = acct["credited"] + amount
    end_requested_emergency(acct)
    return repaid


def recover_debt(acct: dict, amount: int) -> int:
    """The share of ``amount`` that goes to the account's old debt: ``debt_share_bp`` of it,
    half up, at most the debt. Booked in the account and the ledger, with its event.
    Returns it."""
    debt = acct.get("debt", 0)
    if debt == 0:
        return 0
    recovered = min(debt, mul_div(amount, acct["debt_share_bp"], BASIS_POINTS))
    if recovered == 0:
        return 0
    acct["debt"] = debt - recovered
    acct["debt_recovered"] = acct["debt_recovered"] + recovered
    ledger_add(acct["utility"], {"debt_recovered": recovered, "debt_outstanding": 0 - recovered})
    emit("prepaid_debt_recovered",
         {"meter": acct["meter"], "subscription": acct["subscription"], "paid": amount, "amount": recovered,
          "share_bp": acct["debt_share_bp"], "debt": acct["debt"], "at": block_time()})
    return recovered


def end_requested_emergency(acct: dict) -> None:
    """Money in ends the emergency credit a consumer requested (payments/emergency.py), as
    a keypad meter's emergency credit ends with the next top-up: the extension of the
    reserve is withdrawn as far as it is repaid, so what is still in use stays covered and
    the rest follows at the next money in."""
    extended = acct.get("requested_emergency", 0)
    if extended == 0:
        return
    withdrawn = min(extended, acct["emergency_limit"] - acct["emergency_used"])
    if withdrawn == 0:
        return
    acct["requested_emergency"] = extended - withdrawn
    acct["emergency_limit"] = acct["emergency_limit"] - withdrawn
    emit("requested_emergency_credit_ended",
         {"meter": acct["meter"], "subscription": acct["subscription"], "withdrawn": withdrawn,
          "still_extended": acct["requested_emergency"], "limit": acct["emergency_limit"],
          "at": block_time()})


def after_credit(sub: dict, acct: dict) -> None:
    """Re-arm the one-shot warnings once the account is above their levels again."""
    if acct["balance"] > sub.get("low_balance_threshold", 0) and acct["low_warned"]:
        acct["low_warned"] = False
        count_below_warning(sub, -1)
    if credit_of(acct) > 0:
        acct["exhausted"] = False


def prepaid_subscription(meter_id: str) -> dict:
    sub = subscription_record(meter_id)
    require(sub["mode"] == "prepaid", f"a prepaid subscription on {meter_id} expected, found {sub['mode']}")
    require(
        sub["status"] != "terminated",
        f"an open subscription on {meter_id} expected, found status {sub['status']}",
    )
    return sub


def count_below_warning(sub: dict, delta: int) -> None:
    """Keep the count of accounts below their warning level in the subscription's utility,
    branch and field (``bw/<scope>``): one more when a charge takes an account to or below
    its low-balance level (the warning), one fewer when credit lifts it above again. A
    count per scope, never a scan: the operators' figure is one read."""
    for scope in scopes_of(sub):
        key = scope_key("bw/", scope, "")
        storage_set(key, storage_get(key, 0) + delta)


@view
def accounts_below_warning(scope: str) -> int:
    """How many accounts of a utility, branch or field are now at or below the low-balance
    level they were warned at (warned and not yet lifted above it by credit)."""
    return storage_get(scope_key("bw/", scope, ""), 0)
