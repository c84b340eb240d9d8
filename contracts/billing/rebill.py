"""A rebill (issue 12): an actual invoice is voided and replaced by one priced again with the
index of its last reading corrected by the utility's staff (a misread index, an anomalous
reading replaced by the operator's own). The voided invoice stays on record, and the
correction record and event keep the original index beside the corrected one.

Billing keeps no record per reading: an actual invoice keeps what it priced (``basis``: the
period's accumulator per tariff version and the index of its last reading, issue() in
invoices.py), and the corrected consumption, (index - original) x multiplier, goes to the
tariff version in force at the period's end, the span of that last reading. The replacement
is the original with its standing and energy lines priced again from it; every other line
(estimate reversal, late fees, rewards, credit brought forward) stays as it was, and what was
already paid on the original, or credited against it, is deducted. Payments stay allocated
to the invoice they paid (corrections.py says why).

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import (
    SEQ_PAD,
    config,
    meter_info,
    save_state,
    save_sub_account,
    sub_account,
)
from billing.corrections import (
    PRICED_KINDS,
    invoice_record,
    next_correction_id,
    require_in_force,
    save_correction,
)
from billing.invoices import add_totals, insert_open, settle_with_credit
from billing.pricing import acc_add, line, price_acc
from billing.staff import STAFF, check_reason
from billing.tariffs import BP, tariff_in, version_at, versions
from common.keys import storage_key
from common.roles import require_role
from common.text import pad
from common.time import SECONDS_PER_DAY


def check_rebillable(inv: dict, st: dict, info: dict, index) -> None:
    invoice_id = inv["id"]
    if inv["estimated"]:
        revert(f"an actual invoice expected for a rebill, found estimated invoice {invoice_id} (the next actual invoice trues it up)")
    if inv.get("basis", None) is None:
        revert(f"an actual invoice of a period of readings expected for a rebill, found invoice {invoice_id} without one (credit it instead)")
    for ln in inv["lines"]:
        if ln["kind"] == "energy" and ln["detail"].startswith("window"):
            revert(f"an invoice without time-of-use windows expected for a rebill, found invoice {invoice_id} priced by window")
    if st.get("replaced_by", None) is not None:
        revert(f"a meter in service expected for a rebill, found meter {inv['meter']} replaced by {st['replaced_by']}")
    modulus = 10 ** info["digits"]
    if not (isinstance(index, int) and not isinstance(index, bool) and index >= 0 and index < modulus):
        revert(f"index in [0, {modulus}) expected for meter {inv['meter']}, found {index}")
    if index == inv["basis"]["index"]:
        revert(f"an index other than the one billed ({index}) expected for a rebill of invoice {invoice_id}, found the same")
    if st["ts"] != inv["period_end"] and st["span_start"] != inv["period_end"]:
        revert(f"no invoice after {invoice_id} from a later reading expected to correct its last reading, found the meter billed up to {st['span_start']}")


def shift_units(acc: dict, tid: str, vs: list, at: int, delta: int, what: str) -> dict:
    # `acc` with `delta` units more (or fewer) in the tariff version in force at `at`: the
    # share of the span that the corrected index ends (or, for the next span, begins).
    out = {}
    for k in acc.keys():
        e = {}
        for f in acc[k].keys():
            e[f] = acc[k][f]
        out[k] = e
    acc_add(out, tid, vs, version_at(vs, at), 0, delta, window=-1)
    for k in out.keys():
        if out[k]["units"] < 0:
            revert(f"a corrected index that leaves {what} at least 0 units expected, found {out[k]['units']}")
    return out


def replacement_lines(inv: dict, new_lines: list) -> list:
    # The new prices, every other line of the original, and what the original already got.
    lines = new_lines
    for ln in inv["lines"]:
        if ln["kind"] not in PRICED_KINDS:
            lines = lines + [ln]
    if inv["credit_applied"] > 0:
        lines.append(line("credited_on_replaced", 0, 0, -inv["credit_applied"], 0, ", ".join(inv["corrections"])))
    if inv["paid"] > 0:
        lines.append(line("paid_on_replaced", 0, 0, -inv["paid"], 0, inv["id"]))
    if inv["reopened"] > 0:
        lines.append(line("reversed_on_replaced", 0, 0, inv["reopened"], 0, inv["id"]))
    return lines


@public
def rebill(invoice_id: str, index: int, reason: str) -> dict:
    # Void an actual invoice and issue its replacement with its last reading's index
    # corrected to `index`, by the utility's staff.
    inv = invoice_record(invoice_id)
    who = require_role(inv["utility"], STAFF)
    check_reason(reason)
    require_in_force(inv)
    meter_id = inv["meter"]
    info = meter_info(meter_id)
    st = storage_get(storage_key("ms/", [meter_id]))
    check_rebillable(inv, st, info, index)
    basis = inv["basis"]
    delta = (index - basis["index"]) * info["multiplier"]
    tid = tariff_in(st)
    vs = versions(inv["utility"], tid)
    new_acc = shift_units(basis["acc"], tid, vs, inv["period_end"], delta, f"invoice {invoice_id}")
    old_lines, old_taxable, old_numerator, old_units = price_acc(inv["utility"], basis["acc"])
    new_lines, new_taxable, new_numerator, new_units = price_acc(inv["utility"], new_acc)
    now = block_time()
    cid = next_correction_id(meter_id)
    # Tax: the original's less the tax of its old prices, plus the tax of the new ones (what
    # the original deducted for reversed estimates stays deducted).
    tax = inv["tax"] - div_round_half_up(old_numerator, BP) + div_round_half_up(new_numerator, BP)
    taxable = inv["taxable"] - old_taxable + new_taxable
    lines = replacement_lines(inv, new_lines)
    subtotal = 0
    for ln in lines:
        subtotal += ln["amount"]
    total = subtotal + tax
    acct = sub_account(inv["subscription"], inv["consumer"])
    if total < 0:
        lines.append(line("credit_carried_forward", 0, 0, -total, 0, ""))
        acct["carry"] = acct["carry"] + -total
        subtotal = subtotal - total
        total = 0
    correct_last_reading(st, inv, tid, vs, index, delta)
    seq = st["seq"] + 1
    st["seq"] = seq
    save_state(st)
    new_id = meter_id + "/" + pad(seq, SEQ_PAD)
    repl = {}
    for k in inv.keys():
        repl[k] = inv[k]
    for k in ["issued_total", "credited", "credit_applied", "reopened", "corrections", "replaced_by", "voided_at"]:
        repl.pop(k, None)
    repl["id"] = new_id
    repl["consumption"] = new_units
    repl["lines"] = lines
    repl["subtotal"] = subtotal
    repl["taxable"] = taxable
    repl["tax"] = tax
    repl["total"] = total
    repl["due"] = now + config(inv["utility"])["due_days"] * SECONDS_PER_DAY
    repl["paid"] = 0
    repl["status"] = "open" if total > 0 else "credited"
    repl["late_fee_charged"] = False
    repl["issued_at"] = now
    repl["by"] = who
    repl["replaces"] = invoice_id
    repl["tax_credited"] = inv["tax_credited"]
    repl["basis"] = {"acc": new_acc, "index": index}
    storage_set(storage_key("inv/", [new_id]), repl)
    add_totals(repl, {"invoices": 1, "consumption": new_units, "billed": total, "tax": tax - inv["tax_credited"]}, total)
    # The original: void, billed for exactly what was paid on it.
    owed = inv["total"] - inv["paid"]
    add_totals(inv, {"invoices": -1, "consumption": -inv["consumption"], "billed": -owed,
                     "tax": -(inv["tax"] - inv["tax_credited"])}, -owed)
    inv["status"] = "void"
    inv["replaced_by"] = new_id
    inv["voided_at"] = now
    inv["corrections"] = inv["corrections"] + [cid]
    storage_set(storage_key("inv/", [invoice_id]), inv)
    still_open = []
    for other in acct["open"]:
        if other != invoice_id:
            still_open.append(other)
    if total > 0:
        still_open = insert_open(still_open, new_id)
    acct["open"] = still_open
    save_sub_account(acct)
    rec = {"id": cid, "kind": "rebill", "meter": meter_id, "utility": inv["utility"],
           "subscription": inv["subscription"], "consumer": inv["consumer"], "invoice": invoice_id,
           "replacement": new_id, "timestamp": inv["period_end"], "index": index, "original_index": basis["index"],
           "amount": total - owed, "reason": reason, "by": who, "at": now}
    save_correction(rec)
    emit("invoice_voided", {"id": invoice_id, "meter": meter_id, "subscription": inv["subscription"],
                            "replaced_by": new_id, "correction": cid, "reason": reason, "by": who, "at": now})
    emit("reading_corrected", {"meter": meter_id, "timestamp": inv["period_end"], "index": index,
                               "original_index": basis["index"], "consumption_change": delta, "correction": cid,
                               "by": who, "at": now})
    emit("invoice", {"id": new_id, "meter": meter_id, "consumer": inv["consumer"], "subscription": inv["subscription"],
                     "period_start": inv["period_start"], "period_end": inv["period_end"], "consumption": new_units,
                     "subtotal": subtotal, "tax": tax, "total": total, "due": repl["due"], "estimated": False,
                     "unpriced": False, "replaces": invoice_id, "by": who, "at": now})
    emit("rebill", {"id": cid, "invoice": invoice_id, "replacement": new_id, "meter": meter_id,
                    "subscription": inv["subscription"], "consumer": inv["consumer"], "timestamp": inv["period_end"],
                    "index": index, "original_index": basis["index"], "consumption_before": inv["consumption"],
                    "consumption_after": new_units, "total_before": inv["total"], "total_after": total,
                    "reason": reason, "by": who, "at": now})
    settle_with_credit(meter_id, repl)
    return storage_get(storage_key("inv/", [new_id]))


def correct_last_reading(st: dict, inv: dict, tid: str, vs: list, index: int, delta: int) -> None:
    # The meter goes on from the corrected index: when it is still its last reading, its
    # index and history follow; when a later reading is in the open span, that span begins
    # at the corrected index, so the units move between the two periods.
    if st["ts"] == inv["period_end"]:
        st["index"] = index
        st["hist_units"] = st["hist_units"] + delta
    else:
        st["acc"] = shift_units(st["acc"], tid, vs, inv["period_end"], -delta, "the open span after it")
