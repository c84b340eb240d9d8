"""A rebill (issue 12): an actual invoice is voided and replaced by one priced again from its
period's readings, some of them corrected by the utility's staff (a misread index, an
anomalous reading replaced by the operator's own). The voided invoice and each reading's
original index stay on record beside what replaced them.

The replacement is the original with its standing and energy lines priced again; every
other line (estimate reversal, late fees, rewards, credit brought forward) stays as it was,
and what was already paid on the original, or credited against it, is deducted. Payments stay
allocated to the invoice they paid (corrections.py says why).

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import (
    SEQ_PAD,
    TIME_PAD,
    config,
    meter_info,
    save_state,
    save_sub_account,
    sub_account,
)
from billing.corrections import (
    MAX_CORRECTED_READINGS,
    PRICED_KINDS,
    STAFF,
    check_reason,
    invoice_record,
    next_correction_id,
    require_in_force,
    save_correction,
)
from billing.invoices import add_totals, insert_open, settle_with_credit
from billing.pricing import acc_add, line, price_acc, split_span
from billing.readings import consumption_of
from billing.tariffs import BP, tariff_in, versions
from common.keys import storage_key
from common.roles import require_role
from common.text import pad
from common.time import SECONDS_PER_DAY


def corrected_indexes(corrected, inv: dict) -> dict:
    # [[timestamp, index], ...] -> {str(timestamp): index}, each time inside the period.
    if not (isinstance(corrected, list) and len(corrected) >= 1 and len(corrected) <= MAX_CORRECTED_READINGS):
        revert(f"1 to {MAX_CORRECTED_READINGS} corrected readings [timestamp, index] expected")
    out = {}
    for item in corrected:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int) and isinstance(item[1], int)):
            revert("a corrected reading [timestamp int, index int] expected")
        ts = item[0]
        if not (ts > inv["period_start"] and ts <= inv["period_end"]):
            revert(f"a reading of invoice {inv['id']}'s period ({inv['period_start']}, {inv['period_end']}] expected, found one at {ts}")
        if str(ts) in out:
            revert(f"one correction per reading expected, found two for the reading at {ts}")
        out[str(ts)] = item[1]
    return out


def replay(info: dict, inv: dict, fixes: dict, tid: str, vs: list) -> dict:
    # The period's readings accumulated again as billing recorded them (record, readings.py),
    # once as recorded and once with the corrected indexes; the changed readings listed.
    meter_id = inv["meter"]
    period_start = inv["period_start"]
    prefix = storage_key("rd/", [meter_id, ""])
    after = prefix + pad(period_start, TIME_PAD)
    base = storage_get(after)
    prev_index = None
    prev_ts = period_start
    if base is not None:
        prev_index = base["index"]
    else:
        # No reading at the start: the period began at its subscription's opening, inside
        # the span of its first reading. That span is known when it is the meter's first
        # (from its installation); after another tenant's readings it is not looked for.
        first = storage_keys(prefix, "", 1)
        if len(first) == 1 and int(first[0][len(prefix):]) > period_start and info["installed_at"] <= period_start:
            prev_index = info["initial_index"]
            prev_ts = info["installed_at"]
    old_acc = {}
    new_acc = {}
    changed = []
    matched = 0
    done = False
    while not done:
        keys = storage_keys(prefix, after, 1000)
        for k in keys:
            ts = int(k[len(prefix):])
            if ts > inv["period_end"]:
                done = True
                break
            after = k
            rd = storage_get(k)
            old_billed = rd["consumption"] - rd.get("unbilled", 0)
            fixed = fixes.get(str(ts), None)
            index = rd["index"]
            new_cons = rd["consumption"]
            new_billed = old_billed
            if fixed is not None:
                matched += 1
                index = fixed
            start = max(prev_ts, period_start)
            if prev_index is None:
                if fixed is not None:
                    revert(f"a correction of a reading after the opening of subscription {inv['subscription']} expected, found one of the reading at {ts} that spans it")
            else:
                cons, verdict, why = consumption_of(info, {"meter": meter_id, "index": prev_index, "ts": prev_ts}, ts, index)
                if verdict == "rejected":
                    revert(why)
                new_cons = cons
                # The share read before the opening is billed to nobody (record, readings.py).
                new_billed = cons - div_floor(cons * (start - prev_ts), ts - prev_ts)
            for version, seconds, share in split_span(vs, start, ts, old_billed):
                acc_add(old_acc, tid, vs, version, seconds, share, window=-1)
            for version, seconds, share in split_span(vs, start, ts, new_billed):
                acc_add(new_acc, tid, vs, version, seconds, share, window=-1)
            if fixed is not None or new_cons != rd["consumption"]:
                changed.append([k, ts, index, new_cons])
            prev_index = index
            prev_ts = ts
        if len(keys) < 1000:
            done = True
    if matched != len(fixes.keys()):
        revert(f"a reading of meter {meter_id} at each corrected time expected, found {matched} of {len(fixes.keys())}")
    return {"old": old_acc, "new": new_acc, "changed": changed}


def priced_amount(lines: list) -> int:
    total = 0
    for ln in lines:
        if ln["kind"] in PRICED_KINDS:
            total += ln["amount"]
    return total


def check_rebillable(inv: dict, st: dict, fixes: dict) -> None:
    invoice_id = inv["id"]
    if inv["estimated"]:
        revert(f"an actual invoice expected for a rebill, found estimated invoice {invoice_id} (the next actual invoice trues it up)")
    if not (inv["period_end"] > inv["period_start"]):
        revert(f"an invoice of a period of readings expected for a rebill, found invoice {invoice_id} of one instant (credit it instead)")
    for ln in inv["lines"]:
        if ln["kind"] == "energy" and ln["detail"].startswith("window"):
            revert(f"an invoice without time-of-use windows expected for a rebill, found invoice {invoice_id} priced by window")
    if st.get("replaced_by", None) is not None:
        revert(f"a meter in service expected for a rebill, found meter {inv['meter']} replaced by {st['replaced_by']}")
    if str(inv["period_end"]) in fixes and st["ts"] != inv["period_end"]:
        revert(f"no reading after {inv['period_end']} expected to correct invoice {invoice_id}'s last reading, found one at {st['ts']}")


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
def rebill(invoice_id: str, corrected: list, reason: str) -> dict:
    # Void an actual invoice and issue its replacement from its period's readings with the
    # corrected indexes ([[timestamp, index], ...]), by the utility's staff.
    inv = invoice_record(invoice_id)
    who = require_role(inv["utility"], STAFF)
    check_reason(reason)
    require_in_force(inv)
    fixes = corrected_indexes(corrected, inv)
    meter_id = inv["meter"]
    info = meter_info(meter_id)
    st = storage_get(storage_key("ms/", [meter_id]))
    check_rebillable(inv, st, fixes)
    tid = tariff_in(st)
    vs = versions(inv["utility"], tid)
    r = replay(info, inv, fixes, tid, vs)
    old_lines, old_taxable, old_numerator, old_units = price_acc(inv["utility"], r["old"])
    if not (old_units == inv["consumption"] and priced_amount(old_lines) == priced_amount(inv["lines"])):
        revert(f"readings that price to invoice {invoice_id}'s {inv['consumption']} units and {priced_amount(inv['lines'])} expected, found {old_units} units and {priced_amount(old_lines)}")
    new_lines, new_taxable, new_numerator, new_units = price_acc(inv["utility"], r["new"])
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
    seq = st["seq"] + 1
    st["seq"] = seq
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
    readings = correct_readings(st, r["changed"], cid, who, now)
    save_state(st)
    rec = {"id": cid, "kind": "rebill", "meter": meter_id, "utility": inv["utility"],
           "subscription": inv["subscription"], "consumer": inv["consumer"], "invoice": invoice_id,
           "replacement": new_id, "readings": readings, "amount": total - owed, "reason": reason,
           "by": who, "at": now}
    save_correction(rec)
    emit("invoice_voided", {"id": invoice_id, "meter": meter_id, "subscription": inv["subscription"],
                            "replaced_by": new_id, "correction": cid, "reason": reason, "by": who, "at": now})
    emit("invoice", {"id": new_id, "meter": meter_id, "consumer": inv["consumer"], "subscription": inv["subscription"],
                     "period_start": inv["period_start"], "period_end": inv["period_end"], "consumption": new_units,
                     "subtotal": subtotal, "tax": tax, "total": total, "due": repl["due"], "estimated": False,
                     "unpriced": False, "replaces": invoice_id, "by": who, "at": now})
    emit("rebill", {"id": cid, "invoice": invoice_id, "replacement": new_id, "meter": meter_id,
                    "subscription": inv["subscription"], "consumer": inv["consumer"], "readings": readings,
                    "consumption_before": inv["consumption"], "consumption_after": new_units,
                    "total_before": inv["total"], "total_after": total, "reason": reason, "by": who, "at": now})
    settle_with_credit(meter_id, repl)
    return storage_get(storage_key("inv/", [new_id]))


def correct_readings(st: dict, changed: list, cid: str, who: bytes, now: int) -> list:
    # Each changed reading keeps its original beside the correction; the meter's last index
    # and history follow a corrected last reading. Returns [[timestamp, index, consumption]].
    out = []
    for k, ts, index, cons in changed:
        rd = storage_get(k)
        if rd.get("original", None) is None:
            rd["original"] = {"index": rd["index"], "consumption": rd["consumption"], "trust": rd["trust"],
                              "by": rd["by"], "at": rd["at"]}
        st["hist_units"] = st["hist_units"] + cons - rd["consumption"]
        rd["index"] = index
        rd["consumption"] = cons
        rd["correction"] = cid
        rd["corrected_by"] = who
        rd["corrected_at"] = now
        storage_set(k, rd)
        if ts == st["ts"]:
            st["index"] = index
        emit("reading_corrected", {"meter": st["meter"], "timestamp": ts, "index": index, "consumption": cons,
                                   "original_index": rd["original"]["index"], "correction": cid, "by": who, "at": now})
        out.append([ts, index, cons])
    return out
