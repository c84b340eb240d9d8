"""Postpaid invoices: closing a period with an actual invoice, or an estimated one and its
true-up, late fees, and the running totals per scope and segment for the regulators.

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import (
    DAY_PAD,
    SEQ_PAD,
    adopt,
    config,
    load_state,
    meter_info,
    save_state,
    save_sub_account,
    sub_account,
)
from billing.exceptions import exception_lines
from billing.period_readings import open_commitment, start_period_readings
from billing.plans import in_kept_plan
from billing.pricing import acc_add, line, price_acc, split_span
from billing.tariffs import BP, tariff_in, versions
from common.keys import scope_key, storage_key
from common.roles import require_role
from common.text import pad
from common.time import SECONDS_PER_DAY

PAGE = 100
MIN_ESTIMATE_SECONDS = 86400


def late_fees(acct: dict, cfg: dict, now: int) -> list:
    # On the subscription's own overdue invoices only: never a fee for someone else's debt.
    lines = []
    if cfg["late_fee_bp"] == 0 and cfg["late_fee_min"] == 0:
        return lines
    for inv_id in acct["open"]:
        inv = storage_get(storage_key("inv/", [inv_id]))
        unpaid = inv["total"] - inv["paid"]
        if inv["due"] < now and unpaid > 0 and not inv["late_fee_charged"] and not in_kept_plan(inv, now):
            fee = max(cfg["late_fee_min"], div_round_half_up(unpaid * cfg["late_fee_bp"], BP))
            lines.append(line("late_fee", unpaid, cfg["late_fee_bp"], fee, 0, inv_id))
            inv["late_fee_charged"] = True
            storage_set(storage_key("inv/", [inv_id]), inv)
    return lines


def insert_open(open_ids: list, inv_id: str) -> list:
    # Reopened invoices go back in issue order (the sequence number ends every id, and it
    # continues across a meter replacement), so payments keep paying the oldest first.
    seq = int(inv_id[len(inv_id) - SEQ_PAD:])
    out = []
    placed = False
    for other in open_ids:
        if not placed and int(other[len(other) - SEQ_PAD:]) > seq:
            out.append(inv_id)
            placed = True
        out.append(other)
    if not placed:
        out.append(inv_id)
    return out


def scope_levels(field_id: str) -> list:
    # "U/B/F" -> ["U", "U/B", "U/B/F"]: the utility, branch and field an invoice counts for.
    parts = field_id.split("/")
    out = []
    level = ""
    for part in parts:
        level = part if level == "" else level + "/" + part
        out.append(level)
    return out


def add_day_totals(field_id: str, day: int, changes: dict, due_day: str, outstanding: int) -> None:
    """Add ``changes`` to the running totals of UTC day ``day`` in the field and the branch
    and utility above it (``tot/``: one small record per scope and day, so the operators'
    and regulators' queries read a record per day instead of every invoice or reading).
    Postpaid invoices add ``invoices``, ``consumption``, ``billed``, ``tax``, ``estimated``
    and ``paid`` (by their period's end), and under ``due`` what is still unpaid by due day
    (``due_day``, "" for none), for the arrears of a period. (Prepaid readings keep their
    own smaller records: billing/figures.py.)"""
    for level in scope_levels(field_id):
        key = scope_key("tot/", level, pad(day, DAY_PAD))
        rec = storage_get(key)
        if rec is None:
            rec = {"invoices": 0, "consumption": 0, "billed": 0, "tax": 0, "paid": 0, "estimated": 0,
                   "due": {}}
        for k in changes.keys():
            rec[k] = rec.get(k, 0) + changes[k]
        if due_day != "":
            due = rec["due"]
            due[due_day] = due.get(due_day, 0) + outstanding
            rec["due"] = due
        storage_set(key, rec)


def add_totals(inv: dict, changes: dict, outstanding: int) -> None:
    # An invoice's totals: its scope's day totals by the day of its period's end, and its
    # customer segment's totals (all time).
    day = div_floor(inv["period_end"], SECONDS_PER_DAY)
    add_day_totals(inv["scope"], day, changes, str(div_floor(inv["due"], SECONDS_PER_DAY)), outstanding)
    skey = scope_key("seg/", inv["utility"], inv["segment"])
    seg = storage_get(skey)
    if seg is None:
        seg = {"invoices": 0, "consumption": 0, "billed": 0, "tax": 0, "paid": 0, "estimated": 0}
    for k in changes.keys():
        seg[k] = seg.get(k, 0) + changes[k]
    storage_set(skey, seg)


def issue(st: dict, sub: dict, period_start: int, period_end: int, units: int, lines: list,
          taxable: int, tax: int, estimated: bool, unpriced: bool) -> dict:
    meter_id = st["meter"]
    cfg = config(st["utility"])
    now = block_time()
    acct = sub_account(sub["id"], sub["consumer"])
    lines = lines + late_fees(acct, cfg, now)
    if acct["carry"] > 0:
        lines.append(line("credit_brought_forward", 0, 0, -acct["carry"], 0, ""))
        acct["carry"] = 0
    subtotal = 0
    for ln in lines:
        subtotal += ln["amount"]
    total = subtotal + tax
    if total < 0:
        # A credit (a true-up below the estimates): carried to the next invoice, never lost.
        lines.append(line("credit_carried_forward", 0, 0, -total, 0, ""))
        acct["carry"] = -total
        subtotal = subtotal - total
        total = 0
    seq = st["seq"] + 1
    st["seq"] = seq
    inv_id = meter_id + "/" + pad(seq, SEQ_PAD)
    inv = {
        "id": inv_id,
        "meter": meter_id,
        "utility": st["utility"],
        "scope": st["scope"],
        "segment": sub.get("segment", ""),
        "consumer": sub["consumer"],
        "subscription": sub["id"],
        "period_start": period_start,
        "period_end": period_end,
        "consumption": units,
        "lines": lines,
        "subtotal": subtotal,
        "taxable": taxable,
        "tax": tax,
        "total": total,
        "due": now + cfg["due_days"] * SECONDS_PER_DAY,
        "paid": 0,
        "status": "unpriced" if unpriced else ("open" if total > 0 else "paid"),
        "estimated": estimated,
        "unpriced": unpriced,
        "late_fee_charged": False,
        "issued_at": now,
        "by": caller(),
    }
    if period_end > period_start and not estimated and not unpriced:
        # What an actual invoice priced, for a rebill (rebill.py): the period's accumulator,
        # the index of its last reading and the commitment to its readings.
        inv["basis"] = {"acc": st["acc"], "index": st["index"]}
        if "rn" in st:
            inv["basis"]["readings"] = open_commitment(st)
    storage_set(storage_key("inv/", [inv_id]), inv)
    add_totals(inv, {"invoices": 1, "consumption": units, "billed": total, "tax": tax,
                     "estimated": 1 if estimated else 0}, total)
    if total > 0:
        acct["open"] = acct["open"] + [inv_id]
    save_sub_account(acct)
    emit("invoice", {"id": inv_id, "meter": meter_id, "consumer": sub["consumer"], "subscription": sub["id"],
                     "period_start": period_start, "period_end": period_end, "consumption": units,
                     "subtotal": subtotal, "tax": tax, "total": total, "due": inv["due"],
                     "estimated": estimated, "unpriced": unpriced, "by": caller(), "at": now})
    return inv


def close_one(meter_id: str, period_end: int) -> dict:
    # The invoice of one postpaid meter for the period ending at period_end; None if the
    # meter has nothing to bill (no time has passed since its last invoice).
    info = meter_info(meter_id)
    sub = call("registry", "subscription", [meter_id])
    if not (sub is not None and sub["status"] == "active"):
        revert(f"an active subscription on meter {meter_id} expected, found none")
    if sub["mode"] != "postpaid":
        revert(f"a postpaid subscription expected for an invoice, found {sub['mode']} on {meter_id}")
    st = load_state(meter_id, info)
    if adopt(st, sub):
        save_state(st)
    cfg = config(st["utility"])
    if st["ts"] > st["span_start"]:
        inv = close_actual(st, sub, cfg, period_end)
    else:
        start = st["est_start"]
        if period_end - start < MIN_ESTIMATE_SECONDS:
            # Too soon after the last invoice to estimate anything: nothing to bill.
            return None
        inv = close_estimated(st, sub, cfg, start, period_end)
    settle_with_credit(meter_id, inv)
    return storage_get(storage_key("inv/", [inv["id"]]), inv)


def settle_with_credit(meter_id: str, inv: dict) -> None:
    # Advance credit (an overpayment held by payments) pays a new invoice at once, so that a
    # consumer in credit is never in arrears.
    if inv["status"] == "open":
        call("payments", "apply_credit", [meter_id])


def close_actual(st: dict, sub: dict, cfg: dict, period_end: int) -> dict:
    # Read to read: the whole span since the last actual invoice, minus what estimates charged.
    lines, taxable, numerator, units = price_acc(st["utility"], st["acc"])
    tax = div_round_half_up(numerator, BP)
    est_taxable = 0
    est_tax = 0
    for inv_id in st["estimates"]:
        est = storage_get(storage_key("inv/", [inv_id]))
        est_taxable += est["taxable"]
        est_tax += est["tax"]
    if len(st["estimates"]) > 0:
        lines.append(line("estimate_reversal", 0, 0, -est_taxable, 0, ", ".join(st["estimates"])))
        tax = tax - est_tax
    window = cfg["self_read_window_days"] * SECONDS_PER_DAY
    if cfg["self_read_reward"] > 0 and st["trust"] == "consumer" and st["ts"] + window >= period_end:
        lines.append(line("self_read_reward", 0, 0, -cfg["self_read_reward"], 0, "on-time self-reading"))
    inv = issue(st, sub, st["span_start"], st["ts"], units, lines, taxable - est_taxable, tax, estimated=False, unpriced=False)
    st["span_start"] = st["ts"]
    st["est_start"] = st["ts"]
    st["acc"] = {}
    st["estimates"] = []
    start_period_readings(st)
    save_state(st)
    return inv


def estimated_units(st: dict, cfg: dict, seconds: int) -> int:
    # What the meter is expected to consume in `seconds`: its own average rate, or the
    # utility's estimate_per_day while it has no history.
    if st["hist_seconds"] > 0:
        return div_round_half_up(st["hist_units"] * seconds, st["hist_seconds"])
    return div_round_half_up(cfg["estimate_per_day"] * seconds, SECONDS_PER_DAY)


def close_estimated(st: dict, sub: dict, cfg: dict, start: int, end: int) -> dict:
    # No reading since the last invoice: estimate from the meter's own average rate.
    units = estimated_units(st, cfg, end - start)
    tid = tariff_in(st)
    vs = versions(st["utility"], tid)
    acc = {}
    for version, share_seconds, share in split_span(vs, start, end, units):
        acc_add(acc, tid, vs, version, share_seconds, share, window=-1)
    lines, taxable, numerator, _units = price_acc(st["utility"], acc)
    if cfg["self_read_penalty"] > 0:
        lines.append(line("self_read_penalty", 0, 0, cfg["self_read_penalty"], 0, "no reading in the period"))
    lines = lines + exception_lines(st["meter"], start, end)  # why it was not read: amount 0
    inv = issue(st, sub, start, end, units, lines, taxable, div_round_half_up(numerator, BP), estimated=True, unpriced=False)
    st["estimates"] = st["estimates"] + [inv["id"]]
    st["est_start"] = end
    save_state(st)
    return inv


@public
def close_period(meter_id: str) -> dict:
    info = meter_info(meter_id)
    require_role(info["utility"], ["operator", "admin"])
    inv = close_one(meter_id, block_time())
    if inv is None:
        revert(f"a period to bill expected for meter {meter_id}, found none since the last invoice")
    return inv


@public
def run_billing(utility_id: str, period_end: int, start_after: str = "", limit: int = 100) -> dict:
    # Close the period of every postpaid meter of the utility (paged: pass back "next").
    require_role(utility_id, ["operator", "admin"])
    if not (period_end <= block_time()):
        revert(f"a period end not in the future (<= {block_time()}) expected, found {period_end}")
    if not (limit > 0 and limit <= PAGE):
        revert(f"a page of 1 to {PAGE} meters expected, found {limit}")
    prefix = storage_key("um/", [utility_id, ""])
    after = "" if start_after == "" else prefix + start_after
    keys = storage_keys(prefix, after, limit)
    issued = 0
    last = ""
    for k in keys:
        meter_id = k[len(prefix):]
        last = meter_id
        sub = call("registry", "subscription", [meter_id])
        if sub is not None and sub["status"] == "active" and sub["mode"] == "postpaid":
            if close_one(meter_id, period_end) is not None:
                issued += 1
    more = len(keys) == limit
    return {"invoices": issued, "next": last if more else ""}
