"""Money from the payments contract settling invoices: a payment applied to a meter's
subscription or to one invoice, and reverted exactly (``alloc/<payment id>``).

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import current_account, save_sub_account, sub_account
from billing.corrections import reopen_replaced
from billing.invoices import add_totals, insert_open
from common.keys import storage_key


def pay_invoice(inv_id: str, amount: int) -> list:
    # Pay up to `amount` of one invoice: [the part paid, whether it is still open].
    inv = storage_get(storage_key("inv/", [inv_id]))
    part = min(amount, inv["total"] - inv["paid"])
    if part > 0:
        inv["paid"] = inv["paid"] + part
        if inv["paid"] == inv["total"]:
            inv["status"] = "paid"
        storage_set(storage_key("inv/", [inv_id]), inv)
        add_totals(inv, {"paid": part}, -part)
    return [part, inv["status"] == "open"]


def require_payments() -> None:
    if caller() != b"contract:payments":
        revert(f"a call from contract payments expected, found {bytes_hex(caller())}")


def new_payment(amount: int, payment_id: str) -> None:
    if not (amount > 0):
        revert(f"a positive payment expected, found {amount}")
    if storage_has(storage_key("alloc/", [payment_id])):
        revert(f"a new payment id expected, found {payment_id} already applied")


@public
def apply_payment(meter_id: str, amount: int, payment_id: str) -> int:
    # Pays the open invoices of the meter's current subscription, oldest first; invoices of
    # an earlier subscription are paid by id (apply_invoice_payment), never from here.
    require_payments()
    new_payment(amount, payment_id)
    acct = current_account(meter_id)
    allocations = []
    remaining = amount
    sub_id = ""
    if acct is not None:
        sub_id = acct["subscription"]
        still_open = []
        for inv_id in acct["open"]:
            if remaining > 0:
                part, still = pay_invoice(inv_id, remaining)
                remaining -= part
                allocations.append([inv_id, part])
                if still:
                    still_open.append(inv_id)
            else:
                still_open.append(inv_id)
        if len(allocations) > 0:
            acct["open"] = still_open
            save_sub_account(acct)
    storage_set(storage_key("alloc/", [payment_id]), {"meter": meter_id, "subscription": sub_id, "amount": amount,
                                        "allocations": allocations, "reverted": False, "at": block_time()})
    emit("payment_applied", {"meter": meter_id, "subscription": sub_id, "payment_id": payment_id, "amount": amount,
                             "allocations": allocations, "remainder": remaining, "at": block_time()})
    return remaining


@public
def apply_invoice_payment(invoice_id: str, amount: int, payment_id: str) -> int:
    # Pays one open invoice named by its id, of any subscription, current or ended (the way
    # an agent collects a final invoice after the premises changed hands). Returns what
    # exceeded the unpaid amount, for payments to credit to that invoice's subscription.
    require_payments()
    new_payment(amount, payment_id)
    inv = storage_get(storage_key("inv/", [invoice_id]))
    if inv is None:
        revert(f"an invoice expected, found no invoice {invoice_id}")
    if inv["status"] != "open":
        revert(f"an open invoice expected, found invoice {invoice_id} {inv['status']}")
    part, still = pay_invoice(invoice_id, amount)
    if not still:
        acct = sub_account(inv["subscription"], inv["consumer"])
        still_open = []
        for other in acct["open"]:
            if other != invoice_id:
                still_open.append(other)
        acct["open"] = still_open
        save_sub_account(acct)
    allocations = [[invoice_id, part]]
    remaining = amount - part
    storage_set(storage_key("alloc/", [payment_id]), {"meter": inv["meter"], "subscription": inv["subscription"],
                                        "amount": amount, "allocations": allocations, "reverted": False,
                                        "at": block_time()})
    emit("payment_applied", {"meter": inv["meter"], "subscription": inv["subscription"], "payment_id": payment_id,
                             "amount": amount, "allocations": allocations, "remainder": remaining,
                             "at": block_time()})
    return remaining


@public
def revert_payment(meter_id: str, payment_id: str) -> int:
    require_payments()
    rec = storage_get(storage_key("alloc/", [payment_id]))
    if rec is None:
        revert(f"an applied payment expected, found no payment {payment_id}")
    if rec["meter"] != meter_id:
        revert(f"payment {payment_id} of meter {rec['meter']} expected, found meter {meter_id}")
    if rec["reverted"]:
        revert(f"a payment not yet reverted expected, found {payment_id} reverted")
    undone = 0
    for inv_id, amount in rec["allocations"]:
        inv = storage_get(storage_key("inv/", [inv_id]))
        inv["paid"] = inv["paid"] - amount
        undone += amount
        if (inv["status"] == "paid" or inv["status"] == "carried") and inv["paid"] < inv["total"]:
            # Reopened in its own subscription's list, wherever the meter has gone since (a
            # carried invoice asks again only for the payment reversed: conversion.py).
            inv["status"] = "open"
            acct = sub_account(inv["subscription"], inv["consumer"])
            acct["open"] = insert_open(acct["open"], inv_id)
            save_sub_account(acct)
        storage_set(storage_key("inv/", [inv_id]), inv)
        if amount > 0:
            add_totals(inv, {"paid": -amount}, amount)
            if inv["status"] == "void":
                # Its replacement deducted this payment: it asks for it again.
                reopen_replaced(inv, amount)
    rec["reverted"] = True
    storage_set(storage_key("alloc/", [payment_id]), rec)
    emit("payment_reverted", {"meter": meter_id, "subscription": rec.get("subscription", ""), "payment_id": payment_id,
                              "amount": undone, "at": block_time()})
    return undone
