"""Corrections of postpaid bills by the utility's staff (issue 12): a credit note against an
invoice, a rebill that voids an invoice and issues its replacement from corrected readings,
and a manual charge or credit. Each is a record of its own (``cor/<meter>/C<seq>``) and an
event; the original invoice and readings stay on record with what replaced them.

Money is never moved here: what a payment paid stays allocated to the invoice it paid (the
payments ledger is untouched). A correction changes what invoices still ask for, the way a
true-up does: an invoice's ``total`` (what it asks to be paid) goes down by the part of a
credit that it still owed, and the rest of the credit, already paid, is carried to the
subscription's next invoice (``carry``, the true-up's "credit_carried_forward"). So arrears,
dunning, late fees, payment allocation and the regulators' totals see a corrected invoice
exactly as they see any other.

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import (
    SEQ_PAD,
    adopt,
    load_state,
    meter_info,
    save_state,
    save_sub_account,
    sub_account,
)
from billing.invoices import add_totals, insert_open, issue, settle_with_credit
from billing.pricing import line
from billing.staff import STAFF, check_reason
from common.keys import storage_key
from common.roles import require_role
from common.text import pad

PRICED_KINDS = ["standing", "energy"]  # the lines a rebill prices again from the readings


def check_amount(amount, what: str) -> None:
    if not (isinstance(amount, int) and not isinstance(amount, bool) and amount > 0):
        revert(f"a positive {what} in minor units expected, found {amount}")


def invoice_record(invoice_id: str) -> dict:
    inv = storage_get(storage_key("inv/", [invoice_id]))
    if inv is None:
        revert(f"an invoice expected, found no invoice {invoice_id}")
    if inv.get("issued_total", None) is None:
        # First correction: what the invoice asked for when issued stays on record.
        inv["issued_total"] = inv["total"]
        inv["credited"] = 0
        inv["credit_applied"] = 0
        inv["tax_credited"] = 0
        inv["reopened"] = 0
        inv["corrections"] = []
    return inv


def require_in_force(inv: dict) -> None:
    if inv["status"] == "void":
        revert(f"an invoice in force expected, found invoice {inv['id']} void (replaced by {inv['replaced_by']})")
    if inv["unpriced"]:
        revert(f"a priced invoice expected, found invoice {inv['id']} unpriced")
    if inv["status"] == "carried":
        # What it asked for is the prepaid account's debt now (conversion.py): correcting the
        # invoice would leave the debt as it was.
        revert(f"an invoice in force expected, found invoice {inv['id']} carried to prepaid debt")


def next_correction_id(meter_id: str) -> str:
    key = storage_key("corn/", [meter_id])
    n = storage_get(key, 0) + 1
    storage_set(key, n)
    return meter_id + "/C" + pad(n, SEQ_PAD)


def save_correction(rec: dict) -> None:
    storage_set(storage_key("cor/", [rec["id"]]), rec)


def close_if_settled(inv: dict) -> None:
    # An invoice nothing is asked of any more leaves its subscription's open invoices.
    if inv["status"] == "open" and inv["paid"] >= inv["total"]:
        inv["status"] = "paid" if inv["paid"] > 0 else "credited"
        acct = sub_account(inv["subscription"], inv["consumer"])
        still_open = []
        for other in acct["open"]:
            if other != inv["id"]:
                still_open.append(other)
        acct["open"] = still_open
        save_sub_account(acct)


def credit_invoice(inv: dict, amount: int, correction_id: str) -> list:
    # Credit `amount` of the invoice's net value: the unpaid part comes off its total, the
    # paid part is carried to the subscription's next invoice. [applied, carried, tax part].
    unpaid = inv["total"] - inv["paid"]
    applied = min(amount, max(unpaid, 0))
    carried = amount - applied
    # The tax in the credit, for the regulators' tax totals: the invoice's tax pro rata.
    tax_part = min(inv["tax"] - inv["tax_credited"], div_round_half_up(amount * inv["tax"], max(inv["issued_total"], 1)))
    tax_part = max(tax_part, 0)
    inv["total"] = inv["total"] - applied
    inv["credited"] = inv["credited"] + amount
    inv["credit_applied"] = inv["credit_applied"] + applied
    inv["tax_credited"] = inv["tax_credited"] + tax_part
    inv["corrections"] = inv["corrections"] + [correction_id]
    close_if_settled(inv)
    storage_set(storage_key("inv/", [inv["id"]]), inv)
    add_totals(inv, {"billed": -applied, "tax": -tax_part}, -applied)
    if carried > 0:
        acct = sub_account(inv["subscription"], inv["consumer"])
        acct["carry"] = acct["carry"] + carried
        save_sub_account(acct)
    return [applied, carried, tax_part]


def creditable(inv: dict) -> int:
    # What a further credit note may still take off: the invoice's net value (issued, less
    # what credit notes took, plus payments reversed after it was replaced).
    return inv["issued_total"] + inv["reopened"] - inv["credited"]


@public
def issue_credit_note(invoice_id: str, amount: int, reason: str) -> dict:
    # A credit note against one invoice (in full or in part), by the utility's staff.
    inv = invoice_record(invoice_id)
    who = require_role(inv["utility"], STAFF)
    check_reason(reason)
    check_amount(amount, "credit")
    require_in_force(inv)
    room = creditable(inv)
    if not (amount <= room):
        revert(f"a credit of at most {room} (what invoice {invoice_id} still bills) expected, found {amount}")
    cid = next_correction_id(inv["meter"])
    applied, carried, tax_part = credit_invoice(inv, amount, cid)
    now = block_time()
    rec = {"id": cid, "kind": "credit_note", "meter": inv["meter"], "utility": inv["utility"],
           "subscription": inv["subscription"], "consumer": inv["consumer"], "invoice": invoice_id,
           "amount": amount, "applied": applied, "carried": carried, "tax": tax_part, "reason": reason,
           "by": who, "at": now}
    save_correction(rec)
    emit("credit_note", {"id": cid, "invoice": invoice_id, "meter": inv["meter"], "subscription": inv["subscription"],
                         "consumer": inv["consumer"], "amount": amount, "applied": applied, "carried": carried,
                         "tax": tax_part, "invoice_total": inv["total"], "reason": reason, "by": who, "at": now})
    return rec


def postpaid_subscription(meter_id: str) -> dict:
    sub = call("registry", "subscription", [meter_id])
    if not (sub is not None and sub["status"] == "active"):
        revert(f"an active subscription on meter {meter_id} expected, found none")
    if sub["mode"] != "postpaid":
        revert(f"a postpaid subscription expected for a manual charge or credit, found {sub['mode']} on {meter_id}")
    return sub


@public
def manual_charge(meter_id: str, amount: int, reason: str) -> dict:
    # A charge the readings do not give (a reconnection fee, damage to the meter ...): an
    # invoice of one line, issued and collected as every invoice is.
    info = meter_info(meter_id)
    who = require_role(info["utility"], STAFF)
    check_reason(reason)
    check_amount(amount, "charge")
    sub = postpaid_subscription(meter_id)
    st = load_state(meter_id, info)
    adopt(st, sub)
    now = block_time()
    cid = next_correction_id(meter_id)
    lines = [line("manual_charge", 0, 0, amount, 0, cid + ": " + reason)]
    inv = issue(st, sub, now, now, 0, lines, 0, 0, estimated=False, unpriced=False)
    save_state(st)
    settle_with_credit(meter_id, inv)
    rec = {"id": cid, "kind": "manual_charge", "meter": meter_id, "utility": info["utility"],
           "subscription": sub["id"], "consumer": sub["consumer"], "invoice": inv["id"], "amount": amount,
           "reason": reason, "by": who, "at": now}
    save_correction(rec)
    emit("manual_charge", {"id": cid, "invoice": inv["id"], "meter": meter_id, "subscription": sub["id"],
                           "consumer": sub["consumer"], "amount": amount, "reason": reason, "by": who, "at": now})
    return rec


@public
def manual_credit(meter_id: str, amount: int, reason: str) -> dict:
    # A credit to the current subscription (a goodwill gesture, a compensation ...): it pays
    # off its open invoices oldest first, as credit notes do; what is left is carried to its
    # next invoice.
    info = meter_info(meter_id)
    who = require_role(info["utility"], STAFF)
    check_reason(reason)
    check_amount(amount, "credit")
    sub = postpaid_subscription(meter_id)
    cid = next_correction_id(meter_id)
    acct = sub_account(sub["id"], sub["consumer"])
    remaining = amount
    allocations = []
    for inv_id in acct["open"]:
        if remaining > 0:
            inv = invoice_record(inv_id)
            part = min(remaining, inv["total"] - inv["paid"])
            if part > 0:
                credit_invoice(inv, part, cid)
                allocations.append([inv_id, part])
                remaining -= part
    if remaining > 0:
        acct = sub_account(sub["id"], sub["consumer"])
        acct["carry"] = acct["carry"] + remaining
        save_sub_account(acct)
    now = block_time()
    rec = {"id": cid, "kind": "manual_credit", "meter": meter_id, "utility": info["utility"],
           "subscription": sub["id"], "consumer": sub["consumer"], "amount": amount, "allocations": allocations,
           "carried": remaining, "reason": reason, "by": who, "at": now}
    save_correction(rec)
    emit("manual_credit", {"id": cid, "meter": meter_id, "subscription": sub["id"], "consumer": sub["consumer"],
                           "amount": amount, "allocations": allocations, "carried": remaining, "reason": reason,
                           "by": who, "at": now})
    return rec


def reopen_replaced(void_inv: dict, amount: int) -> None:
    # A payment that paid a voided invoice is reverted (settlement.revert_payment): its
    # replacement deducted that payment, so the replacement asks for it again.
    live = void_inv
    while live["status"] == "void":
        live = invoice_record(live["replaced_by"])
    live["total"] = live["total"] + amount
    live["reopened"] = live["reopened"] + amount
    if live["status"] != "open" and live["paid"] < live["total"]:
        live["status"] = "open"
        acct = sub_account(live["subscription"], live["consumer"])
        acct["open"] = insert_open(acct["open"], live["id"])
        save_sub_account(acct)
    storage_set(storage_key("inv/", [live["id"]]), live)
    add_totals(live, {"billed": amount}, amount)
    # The voided invoice stays billed for exactly what was paid on it.
    add_totals(void_inv, {"billed": -amount}, -amount)
    emit("replacement_reopened", {"invoice": live["id"], "voided": void_inv["id"], "amount": amount,
                                  "total": live["total"], "at": block_time()})


@view
def correction(correction_id: str) -> dict:
    return storage_get(storage_key("cor/", [correction_id]))


@view
def corrections_of(meter_id: str, start_after: str = "", limit: int = 100) -> list:
    # A meter's corrections in the order they were made (ids "<meter>/C<seq>"; pass the last
    # id back as start_after for the next page).
    prefix = storage_key("cor/", [meter_id, ""])
    after = "" if start_after == "" else storage_key("cor/", [start_after])
    out = []
    for k in storage_keys(prefix, after, min(limit, 1000)):
        out.append(storage_get(k))
    return out
