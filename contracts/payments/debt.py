"""Prepaid debt recovered as a set share of each purchase, the practice of Itron and STS
vendors: an old debt on a prepaid account (arrears carried over from a postpaid account or
another system, recorded by an operator, or carried by the registry when it converts a
postpaid subscription to prepaid; or the account's own negative balance, rescheduled)
is kept apart from the balance, so it never keeps supply off, and every payment that comes in
(purchase, voucher, agent payment) gives the account's share of it to the debt until it is
cleared (payments/accounts.py, ``add_credit``), each recovery on record.

Account fields (added when first used): ``debt`` outstanding, ``debt_share_bp`` the share of
each payment in basis points, ``debt_recorded`` (debts recorded or carried over), ``debt_moved``
(negative balances rescheduled), ``debt_recovered``. Always
``debt == debt_recorded + debt_moved - debt_recovered``.

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.roles import require_role
from common.text import shape
from payments.accounts import (
    after_credit,
    credit_of,
    load_account,
    position_of,
    prepaid_subscription,
    save_account,
)
from payments.checks import check_amount, meter_record
from payments.ledger import ledger_add
from payments.policy import BASIS_POINTS

MAX_REASON_LEN = 256


def check_share(share_bp) -> None:
    require(
        isinstance(share_bp, int) and 1 <= share_bp and share_bp <= BASIS_POINTS,
        f"a recovery share in [1, {BASIS_POINTS}] basis points expected, found {shape(share_bp)}",
    )


def check_reason(reason) -> None:
    require(isinstance(reason, str) and len(reason) > 0, f"a reason for the debt expected, found {shape(reason)}")
    require(len(reason) <= MAX_REASON_LEN, f"a reason of at most {MAX_REASON_LEN} characters expected, found {len(reason)}")


def debt_account(meter_id: str) -> list:
    # [utility, subscription, account] of the meter's open prepaid subscription, by an operator.
    m = meter_record(meter_id)
    utility_id = m["utility"]
    require_role(utility_id, ["operator"])
    sub = prepaid_subscription(meter_id)
    return [utility_id, sub, load_account(sub, meter_id, utility_id)]


def add_debt(acct: dict, field: str, amount: int, share_bp: int) -> None:
    acct["debt"] = acct.get("debt", 0) + amount
    acct[field] = acct.get(field, 0) + amount
    acct["debt_share_bp"] = share_bp
    acct.setdefault("debt_recovered", 0)


@public
def record_prepaid_debt(meter_id: str, amount: int, share_bp: int, reason: str) -> int:
    """An operator records an old debt on the meter's open prepaid subscription (arrears
    carried over from its postpaid past or another system), to be recovered as ``share_bp``
    of each payment in; the share applies to all the debt outstanding. Returns the debt."""
    utility_id, sub, acct = debt_account(meter_id)
    check_reason(reason)
    return book_debt(utility_id, sub, acct, amount, share_bp, reason)


def book_debt(utility_id: str, sub: dict, acct: dict, amount: int, share_bp: int, reason: str) -> int:
    # A debt from outside the account (recorded by an operator, or carried over by a
    # conversion to prepaid): on the account, in the ledger and on record.
    check_amount(amount, "debt")
    check_share(share_bp)
    add_debt(acct, "debt_recorded", amount, share_bp)
    save_account(sub, acct, position_of(acct), acct["emergency_used"])
    ledger_add(utility_id, {"debt_recorded": amount, "debt_outstanding": amount})
    emit("prepaid_debt_recorded",
         {"meter": acct["meter"], "subscription": sub["id"], "amount": amount, "share_bp": share_bp,
          "debt": acct["debt"], "reason": reason, "by": caller(), "at": block_time()})
    return acct["debt"]


@public
def carry_postpaid_arrears(meter_id: str, from_subscription: str, amount: int, share_bp: int) -> int:
    """The registry has converted the meter's postpaid subscription ``from_subscription`` to
    prepaid (registry.convert_to_prepaid): what its invoices still asked for, which billing has
    just carried off them (billing.carry_arrears), becomes the new prepaid account's debt,
    recovered as ``share_bp`` of each payment in. Booked as a recorded debt. Returns the debt."""
    require(caller() == b"contract:registry",
            f"a call from contract registry expected, found {bytes_hex(caller())}")
    sub = prepaid_subscription(meter_id)
    utility_id = sub["utility"]
    acct = load_account(sub, meter_id, utility_id)
    return book_debt(utility_id, sub, acct, amount, share_bp,
                     "arrears of postpaid subscription " + from_subscription + " carried over")


@public
def reschedule_prepaid_debt(meter_id: str, share_bp: int, reason: str) -> int:
    """An operator moves the negative balance of the meter's open prepaid subscription (what
    was consumed beyond all credit) into its debt, recovered as ``share_bp`` of each payment
    in instead of all at once; the next purchase then buys credit again. Returns the debt."""
    utility_id, sub, acct = debt_account(meter_id)
    check_share(share_bp)
    check_reason(reason)
    owed = 0 - acct["balance"]
    require(owed > 0, f"a negative balance to reschedule on {meter_id} expected, found {acct['balance']}")
    before_position = position_of(acct)
    acct["balance"] = 0
    add_debt(acct, "debt_moved", owed, share_bp)
    after_credit(sub, acct)
    save_account(sub, acct, before_position, acct["emergency_used"])
    ledger_add(utility_id, {"debt_outstanding": owed})
    emit("prepaid_debt_rescheduled",
         {"meter": meter_id, "subscription": sub["id"], "amount": owed, "share_bp": share_bp,
          "debt": acct["debt"], "balance": 0, "credit": credit_of(acct), "reason": reason,
          "by": caller(), "at": block_time()})
    # Credit may be back above 0 (the emergency reserve): supply may reconnect.
    call("supply", "on_payment", [meter_id])
    return acct["debt"]
