"""Prepaid meters: their consumption priced as it is read and charged through
``payments.charge_prepaid``.

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import TIME_PAD
from billing.pricing import acc_add, price_acc, split_span
from billing.tariffs import BP, tariff_in, version_at, versions
from common.text import pad


def charge_prepaid(st: dict, t0: int, t1: int, units: int, window: int) -> None:
    # A prepaid meter pays each reading's span at once, priced exactly like an invoice.
    meter_id = st["meter"]
    tid = tariff_in(st)
    vs = versions(st["utility"], tid)
    acc = {}
    if window < 0:
        for version, seconds, share in split_span(vs, t0, t1, units):
            acc_add(acc, tid, vs, version, seconds, share, window=-1)
    else:
        acc_add(acc, tid, vs, version_at(vs, t0), t1 - t0, units, window)
    charge_acc(st, acc, t0, t1, meter_id + "@" + pad(t1, TIME_PAD))


def charge_acc(st: dict, acc: dict, t0: int, t1: int, ref: str) -> None:
    meter_id = st["meter"]
    _lines, taxable, numerator, units = price_acc(st["utility"], acc)
    tax = div_round_half_up(numerator, BP)
    amount = taxable + tax
    emit("prepaid_charge", {"meter": meter_id, "subscription": st["sub"], "period_start": t0, "period_end": t1,
                            "consumption": units, "subtotal": taxable, "tax": tax,
                            "amount": amount, "ref": ref, "by": caller(), "at": block_time()})
    if amount > 0:
        call("payments", "charge_prepaid", [meter_id, amount, ref])
