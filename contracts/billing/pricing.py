"""Pricing, where the rounding rule lives: a reading's consumption split at tariff changes
(``split_span``), accumulated per tariff version (``acc_add``), filling the tiers
(``tier_parts``), and priced once per period (``price_share``, ``price_acc``): every line
rounded half up to a minor unit once.

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import TIME_PAD
from billing.tariffs import MICRO, version_at, versions
from common.text import pad
from common.time import SECONDS_PER_DAY


def billed_share(t0: int, start: int, ts: int, units: int) -> int:
    # The units of a reading's span [t0, ts] billed from `start` (a subscription's opening):
    # pro rata by time when the span straddles it, floor for the earlier share (as
    # split_span does), so no unit is lost.
    if start >= ts:
        return 0
    if start > t0:
        return units - div_floor(units * (start - t0), ts - t0)
    return units


def window_at(vs: list, t: int) -> int:
    # The time-of-use window of the tariff version in force at `t` that `t` falls in, or -1
    # for a version without windows: an interval of a load profile is priced in the window of
    # its start.
    spec = vs[version_at(vs, t)]["spec"]
    tou = spec.get("tou", None)
    window = -1
    if tou is not None:
        minute = div_floor((t + spec.get("utc_offset", 0)) % SECONDS_PER_DAY, 60)
        for wi in range(len(tou)):
            if tou[wi][0] <= minute and minute < tou[wi][1]:
                window = wi
    return window


def add_span(acc: dict, tariff_id: str, vs: list, start: int, ts: int, units: int, window: int) -> None:
    # A reading's billed units from `start` to `ts` into the accumulator: split at the
    # tariff's effective dates, or for an interval priced by window, all in the version in
    # force at its start.
    if window < 0:
        # FAST PATH: a span within one version's time (most readings) is that version's
        # alone, the one part split_span would give ([version, ts - start, units]; versions
        # are in strictly increasing effective order, set_tariff).
        vi = version_at(vs, start)
        if start < ts and (vi == len(vs) - 1 or ts <= vs[vi + 1]["effective_from"]):
            acc_add(acc, tariff_id, vs, vi, ts - start, units, -1)
            return
        for version, seconds, share in split_span(vs, start, ts, units):
            acc_add(acc, tariff_id, vs, version, seconds, share, window=-1)
    else:
        acc_add(acc, tariff_id, vs, version_at(vs, start), ts - start, units, window)


def split_span(vs: list, t0: int, t1: int, units: int) -> list:
    # [[version index, seconds, units]] for the span [t0, t1], split at effective dates.
    # Units go pro rata by time: floor for each part but the last, which takes the rest.
    if t1 <= t0:
        return [[version_at(vs, t1), 0, units]]
    parts = []
    n = len(vs)
    for i in range(n):
        start = t0 if i == 0 else max(t0, vs[i]["effective_from"])
        end = t1 if i == n - 1 else min(t1, vs[i + 1]["effective_from"])
        if end > start:
            parts.append([i, end - start, 0])
    total = t1 - t0
    given = 0
    for k in range(len(parts)):
        if k == len(parts) - 1:
            parts[k][2] = units - given
        else:
            share = div_floor(units * parts[k][1], total)
            parts[k][2] = share
            given += share
    return parts


def acc_add(acc: dict, tariff_id: str, vs: list, vi: int, seconds: int, units: int, window: int) -> None:
    key = tariff_id + "@" + pad(vs[vi]["effective_from"], TIME_PAD)
    e = acc.get(key, None)
    if e is None:
        e = {"tariff": tariff_id, "version": vi, "seconds": 0, "units": 0, "windows": {}}
    e["seconds"] = e["seconds"] + seconds
    if window < 0:
        e["units"] = e["units"] + units
    else:
        w = e["windows"]
        wk = pad(window, 2)  # zero-padded so that windows sort in the order of the day
        w[wk] = w.get(wk, 0) + units
        e["windows"] = w
    acc[key] = e


def line(kind: str, units: int, rate: int, amount: int, effective_from: int, detail: str) -> dict:
    # One invoice line; `rate` is per kind: micro-minor units per base unit (energy), minor
    # units per day (standing), basis points (late fee), 0 for fixed amounts.
    return {
        "kind": kind,
        "units": units,
        "rate": rate,
        "amount": amount,
        "effective_from": effective_from,
        "detail": detail,
    }


def tier_parts(spec: dict, seconds: int, units: int) -> list:
    # [[tier index, units, price]]: `units` read over `seconds` fill the tiers in order, each
    # tier's daily limit pro rata to the seconds (floor).
    parts = []
    remaining = units
    used = 0
    tiers = spec["tiers"]
    for ti in range(len(tiers)):
        if remaining <= 0:
            break
        upto = tiers[ti][0]
        q = remaining
        if upto is not None:
            limit = div_floor(upto * seconds, SECONDS_PER_DAY)
            q = min(remaining, max(limit - used, 0))
        if q > 0:
            parts.append([ti, q, tiers[ti][1]])
            remaining -= q
            used += q
    return parts


def price_share(spec: dict, eff: int, seconds: int, units: int, windows: dict) -> list:
    # The lines of one tariff version's share of a span: [lines, taxable sum, tax numerator].
    lines = []
    taxable = 0
    standing = spec["standing_charge_per_day"]
    if standing > 0 and seconds > 0:
        amount = div_round_half_up(standing * seconds, SECONDS_PER_DAY)
        lines.append(line("standing", seconds, standing, amount, eff, "per day"))
        taxable += amount
    for ti, q, price in tier_parts(spec, seconds, units):
        amount = div_round_half_up(q * price, MICRO)
        lines.append(line("energy", q, price, amount, eff, "tier " + str(ti + 1)))
        taxable += amount
    tou = spec.get("tou", None)
    for wk in sorted(list(windows.keys())):
        q = windows[wk]
        if q > 0:
            w = tou[int(wk)]
            amount = div_round_half_up(q * w[2], MICRO)
            lines.append(line("energy", q, w[2], amount, eff, "window " + str(w[0]) + "-" + str(w[1])))
            taxable += amount
    return [lines, taxable, taxable * spec["tax_bp"]]


def price_acc(utility_id: str, acc: dict) -> list:
    # [lines, taxable, tax numerator, units] over an accumulator of tariff shares.
    lines = []
    taxable = 0
    numerator = 0
    units = 0
    for key in sorted(list(acc.keys())):
        e = acc[key]
        vs = versions(utility_id, e["tariff"])
        v = vs[e["version"]]
        share_lines, share_taxable, share_numerator = price_share(v["spec"], v["effective_from"], e["seconds"], e["units"], e["windows"])
        lines = lines + share_lines
        taxable += share_taxable
        numerator += share_numerator
        units += e["units"]
        for wk in e["windows"].keys():
            units += e["windows"][wk]
    return [lines, taxable, numerator, units]
