"""Rebills (issue 12): an actual invoice is voided and replaced by one priced again from its
period's readings as the utility's staff corrected them (a misread index, an anomalous
reading replaced by the operator's own), interior readings and time-of-use intervals
included; and the operator's review of a reading: confirmed as read, or corrected in the
meter's open period before it is billed. The voided invoice stays on record, and the
correction record and events keep each original index beside the corrected one.

Billing keeps no record per reading: an actual invoice keeps what it priced (``basis``: the
period's accumulator per tariff version, the index of its last reading, and the commitment to
its readings, period_readings.py). Two forms:

- ``rebill(invoice_id, index, reason)``: the last reading only, without the readings; the
  corrected consumption, (index - original) x multiplier, goes to the tariff version in force
  at the period's end (refused for an invoice priced by window).
- ``rebill_readings(invoice_id, readings, corrections, reason)``: any readings; the period's
  readings from the node's history are checked against the commitment, corrected, and the
  whole period is accounted for again (period_replay.py).

Both issue the replacement the same way (``replace_invoice``): the original with its standing
and energy lines priced again from the new accumulator (pricing.price_acc, as every invoice);
every other line (estimate reversal, late fees, rewards, credit brought forward) stays as it
was, and what was already paid on the original, or credited against it, is deducted.
Payments stay allocated to the invoice they paid (corrections.py says why).

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
from billing.period_readings import open_commitment
from billing.period_replay import check_corrections, period_tariff, replay_period
from billing.pricing import acc_add, line, price_acc
from billing.staff import STAFF, check_reason
from billing.tariffs import BP, tariff_in, version_at, versions
from common.keys import storage_key
from common.roles import require_role
from common.text import pad
from common.time import SECONDS_PER_DAY


def check_replaceable(inv: dict, st: dict) -> None:
    invoice_id = inv["id"]
    if inv["estimated"]:
        revert(f"an actual invoice expected for a rebill, found estimated invoice {invoice_id} (the next actual invoice trues it up)")
    if inv.get("basis", None) is None:
        revert(f"an actual invoice of a period of readings expected for a rebill, found invoice {invoice_id} without one (credit it instead)")
    if st.get("replaced_by", None) is not None:
        revert(f"a meter in service expected for a rebill, found meter {inv['meter']} replaced by {st['replaced_by']}")


def check_last_correctable(inv: dict, st: dict) -> None:
    # The meter goes on from an invoice's last reading: it can be corrected while the open
    # span begins there, not once a later invoice billed from it.
    if st["ts"] != inv["period_end"] and st["span_start"] != inv["period_end"]:
        revert(f"no invoice after {inv['id']} from a later reading expected to correct its last reading, found the meter billed up to {st['span_start']}")


def check_rebillable(inv: dict, st: dict, info: dict, index) -> None:
    invoice_id = inv["id"]
    check_replaceable(inv, st)
    for ln in inv["lines"]:
        if ln["kind"] == "energy" and ln["detail"].startswith("window"):
            revert(f"an invoice without time-of-use windows expected for a rebill of its last reading, found invoice {invoice_id} priced by window (rebill_readings corrects it from its readings)")
    modulus = 10 ** info["digits"]
    if not (isinstance(index, int) and not isinstance(index, bool) and index >= 0 and index < modulus):
        revert(f"index in [0, {modulus}) expected for meter {inv['meter']}, found {index}")
    if index == inv["basis"]["index"]:
        revert(f"an index other than the one billed ({index}) expected for a rebill of invoice {invoice_id}, found the same")
    check_last_correctable(inv, st)


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


def follow_corrected_readings(st: dict, inv: dict, info: dict, tid: str, vs: list, last_index: int,
                              units_change: int) -> None:
    # The meter goes on from the corrected readings. Its history (`hist_units`, the estimate
    # rule) takes the period's change of consumption. A corrected last reading: when it is
    # still the meter's last, its index follows; when a later reading is in the open span
    # that begins there, the span begins at the corrected index, so the units move between
    # the two periods (and the history's total does not change).
    end = inv["period_end"]
    delta = (last_index - inv["basis"]["index"]) * info["multiplier"]
    if delta != 0 and st["ts"] != end:
        st["acc"] = shift_units(st["acc"], tid, vs, end, -delta, "the open span after it")
        units_change = units_change - delta
    if st["ts"] == end:
        st["index"] = last_index
    base = st.get("base", None)
    if base is not None and base[0] == end:
        st["base"] = [end, last_index]
    st["hist_units"] = st["hist_units"] + units_change


def replace_invoice(inv: dict, st: dict, info: dict, tid: str, vs: list, new_basis: dict, changes: list,
                    units_change: int, reason: str, who: bytes) -> dict:
    # Void `inv` and issue its replacement priced from `new_basis`; `changes` are the
    # corrected readings [[time, index, original index]], the last one the latest.
    invoice_id = inv["id"]
    meter_id = inv["meter"]
    basis = inv["basis"]
    new_acc = new_basis["acc"]
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
    follow_corrected_readings(st, inv, info, tid, vs, new_basis["index"], units_change)
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
    repl["basis"] = new_basis
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
    ts, index, original = changes[len(changes) - 1]
    rec = {"id": cid, "kind": "rebill", "meter": meter_id, "utility": inv["utility"],
           "subscription": inv["subscription"], "consumer": inv["consumer"], "invoice": invoice_id,
           "replacement": new_id, "timestamp": ts, "index": index, "original_index": original,
           "readings": changes, "amount": total - owed, "reason": reason, "by": who, "at": now}
    save_correction(rec)
    emit("invoice_voided", {"id": invoice_id, "meter": meter_id, "subscription": inv["subscription"],
                            "replaced_by": new_id, "correction": cid, "reason": reason, "by": who, "at": now})
    emit_reading_corrections(meter_id, info, changes, cid, who, now)
    emit("invoice", {"id": new_id, "meter": meter_id, "consumer": inv["consumer"], "subscription": inv["subscription"],
                     "period_start": inv["period_start"], "period_end": inv["period_end"], "consumption": new_units,
                     "subtotal": subtotal, "tax": tax, "total": total, "due": repl["due"], "estimated": False,
                     "unpriced": False, "replaces": invoice_id, "by": who, "at": now})
    emit("rebill", {"id": cid, "invoice": invoice_id, "replacement": new_id, "meter": meter_id,
                    "subscription": inv["subscription"], "consumer": inv["consumer"], "timestamp": ts,
                    "index": index, "original_index": original, "readings": changes,
                    "consumption_before": inv["consumption"], "consumption_after": new_units,
                    "total_before": inv["total"], "total_after": total, "reason": reason, "by": who, "at": now})
    settle_with_credit(meter_id, repl)
    return storage_get(storage_key("inv/", [new_id]))


def emit_reading_corrections(meter_id: str, info: dict, changes: list, cid: str, who: bytes, now: int) -> None:
    # One event per corrected reading: the node's history lists it after the reading it
    # corrects (node/history.py).
    for ts, index, original in changes:
        emit("reading_corrected", {"meter": meter_id, "timestamp": ts, "index": index, "original_index": original,
                                   "consumption_change": (index - original) * info["multiplier"],
                                   "correction": cid, "by": who, "at": now})


def rebill_target(invoice_id: str, reason: str) -> list:
    # [invoice, staff signer, meter info, meter state] of a rebill, once the signer's role,
    # the reason and the invoice's being in force are checked.
    inv = invoice_record(invoice_id)
    who = require_role(inv["utility"], STAFF)
    check_reason(reason)
    require_in_force(inv)
    info = meter_info(inv["meter"])
    return [inv, who, info, storage_get(storage_key("ms/", [inv["meter"]]))]


@public
def rebill(invoice_id: str, index: int, reason: str) -> dict:
    # Void an actual invoice and issue its replacement with its last reading's index
    # corrected to `index`, by the utility's staff.
    inv, who, info, st = rebill_target(invoice_id, reason)
    check_rebillable(inv, st, info, index)
    basis = inv["basis"]
    delta = (index - basis["index"]) * info["multiplier"]
    tid = tariff_in(st)
    vs = versions(inv["utility"], tid)
    new_basis = {"acc": shift_units(basis["acc"], tid, vs, inv["period_end"], delta, f"invoice {invoice_id}"),
                 "index": index}
    if basis.get("readings", None) is not None:
        new_basis["readings"] = basis["readings"]  # the last reading is not in its hash
    return replace_invoice(inv, st, info, tid, vs, new_basis, [[inv["period_end"], index, basis["index"]]],
                           delta, reason, who)


@public
def rebill_readings(invoice_id: str, readings: list, corrections: list, reason: str) -> dict:
    # Void an actual invoice and issue its replacement priced again from its period's
    # `readings` ([[time, index, interval seconds]], every reading after the period's start,
    # from the node's history) with `corrections` ([[time, index]]) applied, by the
    # utility's staff.
    inv, who, info, st = rebill_target(invoice_id, reason)
    meter_id = inv["meter"]
    check_replaceable(inv, st)
    basis = inv["basis"]
    c = basis.get("readings", None)
    if c is None:
        revert(f"an invoice with a commitment to its readings expected for a rebill of its readings, found invoice {invoice_id} without one (rebill corrects its last reading)")
    check_corrections(info, meter_id, corrections)
    what = f"invoice {invoice_id}"
    tid = period_tariff(basis["acc"], tariff_in(st), what)
    vs = versions(inv["utility"], tid)
    out = replay_period(info, meter_id, c, inv["period_end"], basis["index"], readings, corrections, tid, vs, what)
    if out["last_index"] != basis["index"]:
        check_last_correctable(inv, st)
    new_c = {}
    for k in c.keys():
        new_c[k] = c[k]
    new_c["hash"] = out["hash"]
    new_basis = {"acc": out["acc"], "index": out["last_index"], "readings": new_c}
    return replace_invoice(inv, st, info, tid, vs, new_basis, out["changes"],
                           out["units_after"] - out["units_before"], reason, who)


def open_span(meter_id: str) -> list:
    # [state, info, commitment] of a postpaid meter's open period with readings.
    info = meter_info(meter_id)
    st = storage_get(storage_key("ms/", [meter_id]))
    if st is None or st.get("rn", 0) == 0:
        revert(f"a postpaid meter with readings not yet invoiced expected, found none on {meter_id}")
    return [st, info, open_commitment(st)]


@public
def correct_readings(meter_id: str, readings: list, corrections: list, reason: str) -> dict:
    # Correct readings of the meter's open period, not yet invoiced (an anomalous reading
    # replaced by the operator's own): the period is accounted for again from them, so its
    # invoice bills the corrected readings.
    st, info, c = open_span(meter_id)
    who = require_role(info["utility"], STAFF)
    check_reason(reason)
    check_corrections(info, meter_id, corrections)
    what = f"the open period of meter {meter_id}"
    tid = period_tariff(st["acc"], tariff_in(st), what)
    vs = versions(st["utility"], tid)
    out = replay_period(info, meter_id, c, st["ts"], st["index"], readings, corrections, tid, vs, what)
    st["acc"] = out["acc"]
    st["rh"] = out["hash"]
    st["index"] = out["last_index"]
    st["hist_units"] = st["hist_units"] + out["units_after"] - out["units_before"]
    save_state(st)
    now = block_time()
    cid = next_correction_id(meter_id)
    changes = out["changes"]
    rec = {"id": cid, "kind": "reading_correction", "meter": meter_id, "utility": info["utility"],
           "subscription": st["sub"], "readings": changes, "consumption_change": out["units_after"] - out["units_before"],
           "amount": 0, "reason": reason, "by": who, "at": now}
    save_correction(rec)
    emit_reading_corrections(meter_id, info, changes, cid, who, now)
    emit("reading_correction", {"id": cid, "meter": meter_id, "subscription": st["sub"], "readings": changes,
                                "consumption_change": rec["consumption_change"], "reason": reason, "by": who,
                                "at": now})
    return rec


@public
def confirm_reading(meter_id: str, invoice_id: str, readings: list, timestamp: int, reason: str) -> dict:
    # Confirm a reading as read (an anomaly the utility checked and found real): billed as
    # it was, with the confirmation on record. The reading is found among the readings of
    # invoice `invoice_id`'s period, or of the meter's open period when it is "".
    if invoice_id == "":
        st, info, c = open_span(meter_id)
        end = st["ts"]
        last_index = st["index"]
        acc = st["acc"]
        what = f"the open period of meter {meter_id}"
    else:
        inv = invoice_record(invoice_id)
        require_in_force(inv)
        if inv["meter"] != meter_id:
            revert(f"an invoice of meter {meter_id} expected, found invoice {invoice_id} of {inv['meter']}")
        info = meter_info(meter_id)
        st = storage_get(storage_key("ms/", [meter_id]))
        check_replaceable(inv, st)
        c = inv["basis"].get("readings", None)
        if c is None:
            revert(f"an invoice with a commitment to its readings expected, found invoice {invoice_id} without one")
        end = inv["period_end"]
        last_index = inv["basis"]["index"]
        acc = inv["basis"]["acc"]
        what = f"invoice {invoice_id}"
    who = require_role(info["utility"], STAFF)
    check_reason(reason)
    tid = period_tariff(acc, tariff_in(st), what)
    replay_period(info, meter_id, c, end, last_index, readings, [], tid, versions(info["utility"], tid), what)
    index = None
    for r in readings:
        if r[0] == timestamp:
            index = r[1]
    if index is None:
        revert(f"a reading of {what} expected to confirm, found none at {timestamp}")
    now = block_time()
    cid = next_correction_id(meter_id)
    rec = {"id": cid, "kind": "reading_confirmed", "meter": meter_id, "utility": info["utility"],
           "subscription": st["sub"], "invoice": invoice_id, "timestamp": timestamp, "index": index,
           "amount": 0, "reason": reason, "by": who, "at": now}
    save_correction(rec)
    emit("reading_confirmed", {"meter": meter_id, "timestamp": timestamp, "index": index, "invoice": invoice_id,
                               "correction": cid, "reason": reason, "by": who, "at": now})
    return rec
