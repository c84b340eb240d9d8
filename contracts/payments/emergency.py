"""Emergency credit on the consumer's own request, within the utility's policy: at most
``emergency_request_limit`` at a time, once in every ``emergency_request_days`` local days,
never while an earlier request's credit is still extended. The credit raises the account's
emergency reserve, is drawn like any reserve when the balance reaches 0, and ends with the
next money in (payments/accounts.py, ``end_requested_emergency``): what was used is repaid
first from that money, as an operator's grant is (payments/prepaid.py).

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.text import shape
from payments.accounts import (
    after_credit,
    credit_of,
    load_account,
    position_of,
    prepaid_subscription,
    save_account,
)
from payments.checks import check_amount, local_day, meter_record
from payments.policy import policy_of


@public
def request_emergency_credit(meter_id: str, amount: int) -> int:
    """The consumer of the meter's open prepaid subscription takes ``amount`` of emergency
    credit. Refused, with the reason, when the utility offers none, ``amount`` is over its
    limit, a request was made within the period, or an earlier request's credit is still
    extended. Returns the consumer's credit."""
    m = meter_record(meter_id)
    utility_id = m["utility"]
    sub = prepaid_subscription(meter_id)
    who = caller()
    require(
        who == sub["consumer"],
        f"the consumer {bytes_hex(sub['consumer'])} of {meter_id} expected, found {bytes_hex(who)}",
    )
    require(isinstance(amount, int), f"emergency credit: integer minor units expected, found {shape(amount)}")
    p = policy_of(utility_id)
    limit = p["emergency_request_limit"]
    require(limit > 0, f"emergency credit on request offered by {utility_id} expected, found none in its policy")
    check_amount(amount, "emergency credit")
    require(amount <= limit, f"emergency credit of at most {limit} expected, found {amount}")
    acct = load_account(sub, meter_id, utility_id)
    extended = acct.get("requested_emergency", 0)
    require(
        extended == 0,
        f"no requested emergency credit still extended expected, found {extended} (it ends with the next purchase)",
    )
    now = block_time()
    today = local_day(utility_id, now)
    days = p["emergency_request_days"]
    last = acct.get("emergency_requested_day", None)
    require(
        last is None or today >= last + days,
        f"one request in {days} days: a request from day {0 if last is None else last + days} expected, "
        + f"found day {today} (the last on day {last})",
    )
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    acct["emergency_limit"] = acct["emergency_limit"] + amount
    acct["requested_emergency"] = amount
    acct["emergency_requested_day"] = today
    after_credit(sub, acct)
    save_account(sub, acct, before_position, before_emergency)
    left = credit_of(acct)
    emit(
        "emergency_credit_requested",
        {"meter": meter_id, "subscription": sub["id"], "amount": amount, "limit": acct["emergency_limit"],
         "credit": left, "day": today, "next_day": today + days, "by": who, "at": now},
    )
    # A meter cut off for exhausted credit is reconnected on the emergency credit.
    call("supply", "on_payment", [meter_id])
    return left
