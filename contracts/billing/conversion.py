"""A postpaid subscription converted to prepaid (issue 12; registry.convert_to_prepaid): what
its invoices still ask for after the final bill is carried to the new prepaid account as an
old debt, recovered as a set share of each payment in (payments/debt.py), the practice of
the prepayment vendors when a utility moves a customer in arrears onto a prepaid meter.

Each open invoice of the closed subscription stops asking: its ``total`` goes down by what was
unpaid, as a credit note's applied part does (corrections.py), so arrears, dunning, late fees
and payment plans see it settled (a plan over them ends, completed); unlike a credit note nothing is forgiven and no tax is
credited, and the scope's totals book the amount under ``carried_to_prepaid`` beside
``billed``. The invoice keeps what it was issued for (``issued_total``) and the amount carried
(``carried_to_prepaid``), with status ``carried``; a payment it had and that is reversed later
reopens it on the old subscription, collectable by its id, like any paid invoice
(settlement.revert_payment).

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import meter_info, save_sub_account, sub_account
from billing.corrections import invoice_record, next_correction_id, save_correction
from billing.invoices import add_totals
from billing.plans import active_plan, end_plan, plan_state
from common.keys import storage_key


@public
def carry_arrears(subscription_id: str, consumer: bytes, to_subscription: str) -> int:
    # Called by the registry once the subscription's final bill is settled and the prepaid
    # subscription `to_subscription` is open. Returns the amount carried (0 when nothing is
    # owed), which the registry hands to payments as the new account's debt.
    if caller() != b"contract:registry":
        revert(f"a call from contract registry expected, found {bytes_hex(caller())}")
    acct = sub_account(subscription_id, consumer)
    if acct["closed_at"] == 0:
        revert(f"a closed subscription expected to carry its arrears, found {subscription_id} still open")
    now = block_time()
    carried = []
    amount = 0
    for inv_id in acct["open"]:
        inv = invoice_record(inv_id)
        unpaid = inv["total"] - inv["paid"]
        cid = next_correction_id(inv["meter"])
        inv["total"] = inv["paid"]
        inv["carried_to_prepaid"] = inv.get("carried_to_prepaid", 0) + unpaid
        inv["status"] = "carried"
        inv["corrections"] = inv["corrections"] + [cid]
        storage_set(storage_key("inv/", [inv_id]), inv)
        add_totals(inv, {"billed": 0 - unpaid, "carried_to_prepaid": unpaid}, 0 - unpaid)
        save_correction({"id": cid, "kind": "carried_to_prepaid", "meter": inv["meter"], "utility": inv["utility"],
                         "subscription": subscription_id, "consumer": consumer, "invoice": inv_id,
                         "amount": unpaid, "to_subscription": to_subscription, "by": caller(), "at": now})
        carried.append([inv_id, unpaid])
        amount += unpaid
    acct["open"] = []
    save_sub_account(acct)
    # A payment plan over those invoices has nothing left to shelter: its end is recorded
    # now (completed), since nobody could ask check_payment_plan of an ended subscription.
    plan = active_plan(subscription_id)
    if plan is not None:
        end_plan(plan, plan_state(plan, now), meter_info(plan["meter"]))
    emit("arrears_carried", {"subscription": subscription_id, "consumer": consumer, "to_subscription": to_subscription,
                             "invoices": carried, "amount": amount, "at": now})
    return amount
