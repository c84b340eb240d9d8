"""The final bill of a subscription and the end of its account: settled at once when the
final index counts, or at the utility's next trusted reading when a consumer's own final
index did not (issue 9, item 9; docs/contracts/billing.md, "Final readings").

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import config, save_state, save_sub_account, sub_account
from billing.invoices import close_actual, issue, settle_with_credit
from billing.tariffs import has_tariff
from common.keys import storage_key


def settle_account(meter_id: str, sub: dict, billed: int, final_index: int, now: int) -> None:
    # The final invoice (postpaid) of the span up to the final reading already recorded, and
    # the end of the subscription's account: the meter belongs to no subscription until the
    # next one opens.
    st = storage_get(storage_key("ms/", [meter_id]))
    inv = None
    if sub["mode"] == "postpaid" and st["ts"] > st["span_start"]:
        if has_tariff(st):
            inv = close_actual(st, sub, config(st["utility"]), now)
            settle_with_credit(meter_id, inv)
        else:
            # The consumption on the subscription's record, with no price: nothing to pay.
            inv = issue(st, sub, st["span_start"], st["ts"], billed, [], 0, 0, estimated=False, unpriced=True)
            st["span_start"] = st["ts"]
            st["est_start"] = st["ts"]
            save_state(st)
    st = storage_get(storage_key("ms/", [meter_id]))
    st["sub"] = ""
    st.pop("closing", None)
    save_state(st)
    acct = sub_account(sub["id"], sub["consumer"])
    acct["closed_at"] = now
    save_sub_account(acct)
    due = 0
    for inv_id in acct["open"]:
        i = storage_get(storage_key("inv/", [inv_id]))
        due += i["total"] - i["paid"]
    emit("account_closed", {"meter": meter_id, "subscription": sub["id"], "consumer": sub["consumer"],
                            "final_index": final_index, "invoice": inv["id"] if inv is not None else "",
                            "balance_due": due, "credit_left": acct["carry"], "by": caller(), "at": now})


def settle_awaited_final(meter_id: str, sub: dict, index: int) -> None:
    # A trusted reading (meter-signed or the collector's) has just been recorded on a meter
    # whose subscriber asked to leave with an index that did not count: it is the final
    # reading. The account is closed at it, then the registry ends the subscription (and
    # offers the meter to the consumer a move-in named).
    settle_account(meter_id, sub, 0, index, block_time())
    call("registry", "end_awaited_subscription", [meter_id, index])
