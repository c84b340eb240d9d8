"""Read-only queries: arrears and balances, invoices, the last reading, tariffs, configuration and
the consumption totals per scope and segment.

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import config, current_account, unpaid
from billing.figures import day_records, prepaid_figures
from billing.plans import sheltered
from common.keys import scope_key, storage_key
from common.time import SECONDS_PER_DAY

MAX_TOTAL_DAYS = 3660


@view
def arrears(meter_id: str) -> int:
    # The current subscription's overdue invoices: a new tenant never inherits the debt of
    # the one who moved out (that stays with its subscription: subscription_balance). The
    # invoices of a payment plan she keeps are not arrears (plans.py).
    acct = current_account(meter_id)
    return unpaid(acct, block_time()) - sheltered(acct, block_time())


@view
def balance_due(meter_id: str) -> int:
    # Everything unpaid of the current subscription, due or not yet due.
    return unpaid(current_account(meter_id), 0)


@view
def oldest_due(meter_id: str) -> int:
    acct = current_account(meter_id)
    if acct is None or len(acct["open"]) == 0:
        return 0
    return storage_get(storage_key("inv/", [acct["open"][0]]))["due"]


@view
def open_invoices(meter_id: str) -> list:
    # The current subscription's open invoices, oldest first.
    acct = current_account(meter_id)
    out = []
    if acct is None:
        return out
    for inv_id in acct["open"]:
        out.append(storage_get(storage_key("inv/", [inv_id])))
    return out


@view
def subscription_balance(subscription_id: str) -> dict:
    # Any subscription, current or ended: its open invoices, what it owes (all of it, and
    # the overdue part), the credit a true-up left it, and when its account closed.
    acct = storage_get(storage_key("sb/", [subscription_id]))
    if acct is None:
        return {"subscription": subscription_id, "open": [], "balance_due": 0, "arrears": 0, "carry": 0,
                "closed_at": 0}
    out = []
    for inv_id in acct["open"]:
        out.append(storage_get(storage_key("inv/", [inv_id])))
    return {"subscription": subscription_id, "consumer": acct["consumer"], "open": out,
            "balance_due": unpaid(acct, 0), "arrears": unpaid(acct, block_time()), "carry": acct["carry"],
            "closed_at": acct["closed_at"]}


@view
def invoice(invoice_id: str) -> dict:
    return storage_get(storage_key("inv/", [invoice_id]))


@view
def invoices(meter_id: str) -> list:
    out = []
    for k in storage_keys(storage_key("inv/", [meter_id, ""]), "", 1000):
        out.append(storage_get(k))
    return out


@view
def last_reading(meter_id: str) -> dict:
    st = storage_get(storage_key("ms/", [meter_id]))
    if st is None:
        return None
    return {"meter": meter_id, "register": st["register"], "timestamp": st["ts"], "index": st["index"],
            "trust": st["trust"]}


@view
def tariff(utility_id: str, tariff_id: str) -> list:
    return storage_get(storage_key("tariff/", [utility_id, tariff_id]))


@view
def assigned_tariff(meter_id: str) -> str:
    a = storage_get(storage_key("assign/", [meter_id]))
    return "" if a is None else a[1]


@view
def billing_config(utility_id: str) -> dict:
    return config(utility_id)


@view
def billing_state(meter_id: str) -> dict:
    return storage_get(storage_key("ms/", [meter_id]))


@view
def consumption_totals(utility_id: str, scope_prefix: str, period_start: int, period_end: int) -> dict:
    # Totals of the invoices of a utility, branch or field (scope_prefix is its id) whose period
    # ends on a UTC day in [day of period_start, day of period_end): consumption, billed, tax,
    # paid, outstanding, estimated count, and arrears = what is unpaid past its due day; beside
    # them, the prepaid readings of those days: prepaid_consumption (units) and prepaid_charged
    # (money drawn from prepaid credit, net of what a day re-priced lower credited back), and
    # token_consumption (units read from token meters, whose credit is sold as tokens); and
    # carried_to_prepaid, what invoices no longer ask because a conversion to prepaid carried it
    # to the new account's debt (conversion.py; billed is net of it, as of credit notes).
    if scope_prefix != utility_id and not scope_prefix.startswith(utility_id + "/"):
        revert(f"a scope of utility {utility_id} (its id, or a branch or field id under it) expected, found {scope_prefix}")
    first = div_floor(period_start, SECONDS_PER_DAY)
    last = div_floor(period_end, SECONDS_PER_DAY)
    if last - first > MAX_TOTAL_DAYS:
        revert(f"a period of at most {MAX_TOTAL_DAYS} days expected, found {last - first}")
    today = div_floor(block_time(), SECONDS_PER_DAY)
    out = {"invoices": 0, "consumption": 0, "billed": 0, "tax": 0, "paid": 0, "outstanding": 0,
           "arrears": 0, "estimated": 0}
    carried_to_prepaid = 0
    for rec in day_records("tot/", scope_prefix, first, last):
        for f in ("invoices", "consumption", "billed", "tax", "paid", "estimated"):
            out[f] = out[f] + rec[f]
        carried_to_prepaid += rec.get("carried_to_prepaid", 0)
        for d in rec["due"].keys():
            if int(d) < today:
                out["arrears"] = out["arrears"] + rec["due"][d]
    out["outstanding"] = out["billed"] - out["paid"]
    out["carried_to_prepaid"] = carried_to_prepaid
    prepaid = prepaid_figures(scope_prefix, first, last)
    out["prepaid_consumption"] = prepaid["units"]
    out["prepaid_charged"] = prepaid["charged"]
    out["token_consumption"] = prepaid["token_units"]
    return out


@view
def segments(utility_id: str) -> dict:
    # Per customer segment (registry's segmentation), all time: invoices, consumption, billed,
    # tax, paid, outstanding, estimated count.
    prefix = scope_key("seg/", utility_id, "")
    out = {}
    for k in storage_keys(prefix, "", 1000):
        rec = storage_get(k)
        rec["outstanding"] = rec["billed"] - rec["paid"]
        name = k[len(prefix):]
        out[name] = rec
    return out
