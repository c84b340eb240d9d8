"""Prepaid meters: their consumption priced one local day at a time, charged through
``payments.charge_prepaid`` as it is read, the remainder of the rounding carried.

How often a consumer reads must not change what they pay. Priced reading by reading, every
reading's lines would be rounded on their own (a hundred readings of 16 Wh at 0.03 a Wh
would each round to 0), and a reading's tier allowance would follow its span, which the
reader chooses. So a subscription's consumption is accumulated per local day of its tariff
and each day is priced as a whole, as an invoice prices its period (each tariff version's
share at that version, tier limits pro rata to the seconds read); its price is kept exact
(in 1/``EXACT`` of a minor unit, tax included), summed over the subscription's days, and
what a reading charges is that sum rounded half up, once, minus what was charged before.
So within a day any split of the same consumption pays exactly what one reading pays, and
the charges so far never differ from the exact price of the days read by more than half a
minor unit. The difference can be negative (more seconds read widen a cheaper tier): it is
credited back through the same ``payments.charge_prepaid``.

A span is cut at local midnights and at tariff changes and its units go pro rata by time,
as invoices split a span at a tariff change: a reading that straddles midnight attributes
its consumption to the two days by time, readings at midnight attribute it exactly.

Storage: ``pp/<subscription id>`` {day, acc, open, sum, charged, charged_taxable}: the open
day and its accumulator, the exact [taxable, total] of that day and of all the
subscription's days (decimal text: they outgrow the 64-bit ints the codec stores), and the
rounded amounts charged so far.

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import TIME_PAD
from billing.figures import add_prepaid_figures
from billing.pricing import acc_add, tier_parts
from billing.tariffs import BP, MICRO, tariff_in, version_at, versions
from common.text import pad
from common.time import SECONDS_PER_DAY

# Exact units a minor unit: every line of a day, before rounding, is a whole number of them
# (energy: units x micro-units a unit; standing: minor units a day x seconds).
EXACT = MICRO * SECONDS_PER_DAY


def local_day(vs: list, vi: int, t: int) -> int:
    # The day number of time t in the local time of tariff version vi.
    return div_floor(t + vs[vi]["spec"].get("utc_offset", 0), SECONDS_PER_DAY)


def day_parts(vs: list, t0: int, t1: int, units: int) -> list:
    # [[day, version index, seconds, units, count]] for the span [t0, t1], cut at the
    # versions' effective dates and at local midnights; units pro rata by time, floor for
    # each part but the last, which takes the rest. `count` > 1 stands for that many whole
    # days alike from `day` on: they get the same share, so a reading after a long absence
    # costs gas per tariff version, not per day.
    if t1 <= t0:
        vi = version_at(vs, t1)
        return [[local_day(vs, vi, t1), vi, 0, units, 1]]
    # FAST PATH: a span within one version's time and one of its local days (most
    # readings) is that one cut, with all the units.
    vi = version_at(vs, t0)
    if vi == len(vs) - 1 or t1 <= vs[vi + 1]["effective_from"]:
        day = local_day(vs, vi, t0)
        if day == local_day(vs, vi, t1 - 1):
            return [[day, vi, t1 - t0, units, 1]]
    cuts = []
    n = len(vs)
    for i in range(n):
        start = t0 if i == 0 else max(t0, vs[i]["effective_from"])
        end = t1 if i == n - 1 else min(t1, vs[i + 1]["effective_from"])
        if end > start:
            offset = vs[i]["spec"].get("utc_offset", 0)
            d0 = local_day(vs, i, start)
            d1 = local_day(vs, i, end - 1)  # the day of the span's last second
            if d0 == d1:
                cuts.append([d0, i, end - start, 0, 1])
            else:
                cuts.append([d0, i, (d0 + 1) * SECONDS_PER_DAY - offset - start, 0, 1])
                if d1 - d0 > 1:
                    cuts.append([d0 + 1, i, SECONDS_PER_DAY, 0, d1 - d0 - 1])
                cuts.append([d1, i, end - (d1 * SECONDS_PER_DAY - offset), 0, 1])
    total = t1 - t0
    given = 0
    for k in range(len(cuts)):
        if k == len(cuts) - 1:
            cuts[k][3] = units - given
        else:
            share = div_floor(units * cuts[k][2], total)
            cuts[k][3] = share
            given += share * cuts[k][4]
    return cuts


def charge_prepaid(st: dict, t0: int, t1: int, units: int, window: int) -> None:
    # Charge the span [t0, t1] of one reading: its day parts, accumulated (see the module).
    tid = tariff_in(st)
    vs = versions(st["utility"], tid)
    days = []
    for day, vi, seconds, share, count in day_parts(vs, t0, t1, units):
        last = days[len(days) - 1] if len(days) > 0 else None
        if last is not None and last[0] == day and last[1] == 1 and count == 1:
            acc_add(last[2], tid, vs, vi, seconds, share, window)  # a tariff change within the day
        else:
            acc = {}
            acc_add(acc, tid, vs, vi, seconds, share, window)
            days.append([day, count, acc])
    charge_days(st, days, t0, t1, units, st["meter"] + "@" + pad(t1, TIME_PAD), {tid: vs})


def charge_acc(st: dict, acc: dict, t0: int, t1: int, ref: str) -> None:
    # Charge a load profile's intervals, accumulated in `acc` for the span [t0, t1] (at most
    # a day): each tariff share goes to the local days it covers, pro rata by time.
    days = []
    units = 0
    known = {}
    for key in sorted(list(acc.keys())):
        e = acc[key]
        vs = tariff_versions(known, st["utility"], e["tariff"])
        offset = vs[e["version"]]["spec"].get("utc_offset", 0)
        d0 = local_day(vs, e["version"], t0)
        d1 = local_day(vs, e["version"], max(t1 - 1, t0))
        shares = [[d0, e]]
        if d1 > d0:
            first = (d0 + 1) * SECONDS_PER_DAY - offset - t0
            before, after = split_entry(e, first, t1 - t0)
            shares = [[d0, before], [d1, after]]
        for day, part in shares:
            units += part["units"]
            for q in part["windows"].values():
                units += q
            at = 0  # days stay in time order: tariffs of different offsets may cut them apart
            while at < len(days) and days[at][0] < day:
                at += 1
            if at == len(days) or days[at][0] != day:
                days.insert(at, [day, 1, {}])
            merge_into(days[at][2], {key: part})
    charge_days(st, days, t0, t1, units, ref, known)


def split_entry(e: dict, seconds: int, total: int) -> list:
    # An accumulator entry cut in two at `seconds` of `total`: units, windows and seconds
    # pro rata, floor for the first part.
    first = {"tariff": e["tariff"], "version": e["version"], "seconds": div_floor(e["seconds"] * seconds, total),
             "units": div_floor(e["units"] * seconds, total), "windows": {}}
    second = {"tariff": e["tariff"], "version": e["version"], "seconds": e["seconds"] - first["seconds"],
              "units": e["units"] - first["units"], "windows": {}}
    for wk in e["windows"].keys():
        q = div_floor(e["windows"][wk] * seconds, total)
        first["windows"][wk] = q
        second["windows"][wk] = e["windows"][wk] - q
    return [first, second]


def merge_into(acc: dict, more: dict) -> None:
    # Add the entries of accumulator `more` to `acc`.
    for key in more.keys():
        m = more[key]
        e = acc.get(key, None)
        if e is None:
            e = {"tariff": m["tariff"], "version": m["version"], "seconds": 0, "units": 0, "windows": {}}
        e["seconds"] = e["seconds"] + m["seconds"]
        e["units"] = e["units"] + m["units"]
        w = e["windows"]
        for wk in m["windows"].keys():
            w[wk] = w.get(wk, 0) + m["windows"][wk]
        e["windows"] = w
        acc[key] = e


def tariff_versions(known: dict, utility_id: str, tariff_id: str) -> list:
    # The versions of a tariff, read once per reading: `known` holds those already read
    # (a tariff record is read and decoded for every key of a day's accumulator otherwise).
    vs = known.get(tariff_id, None)
    if vs is None:
        vs = versions(utility_id, tariff_id)
        known[tariff_id] = vs
    return vs


def exact_day(utility_id: str, acc: dict, known: dict) -> list:
    # [taxable, total] of one day's accumulator, exact: taxable in 1/EXACT of a minor unit,
    # the total (tax included) in 1/(EXACT * BP). `known`: tariff versions already read.
    taxable = 0
    total = 0
    for key in acc.keys():
        e = acc[key]
        spec = tariff_versions(known, utility_id, e["tariff"])[e["version"]]["spec"]
        share = spec["standing_charge_per_day"] * e["seconds"] * MICRO
        for _ti, q, price in tier_parts(spec, e["seconds"], e["units"]):
            share += q * price * SECONDS_PER_DAY
        tou = spec.get("tou", None)
        for wk in e["windows"].keys():
            share += e["windows"][wk] * tou[int(wk)][2] * SECONDS_PER_DAY
        taxable += share
        total += share * (BP + spec["tax_bp"])
    return [taxable, total]


def charge_days(st: dict, days: list, t0: int, t1: int, units: int, ref: str, known: dict) -> None:
    # Add the days [[day, count, acc]] (in time order) to the subscription's: the open day
    # re-priced with its new consumption, a later day priced and opened, whole days alike
    # priced once and counted; then charge the rounded sum minus what was charged. A day
    # before the open one (the last reading of a replaced meter, settled after the new
    # meter's first) is priced on its own. `known`: tariff versions already read.
    utility_id = st["utility"]
    key = "pp/" + st["sub"]  # storage_key("pp/", [sub]) (common/keys.py), written out: every prepaid reading
    pp = storage_get(key)
    if pp is None:
        pp = {"day": -1, "acc": {}, "open": ["0", "0"], "sum": ["0", "0"], "charged": 0, "charged_taxable": 0}
    open_taxable = int(pp["open"][0])
    open_total = int(pp["open"][1])
    sum_taxable = int(pp["sum"][0])
    sum_total = int(pp["sum"][1])
    for day, count, acc in days:
        if day == pp["day"]:
            merge_into(pp["acc"], acc)
            day_taxable, day_total = exact_day(utility_id, pp["acc"], known)
            sum_taxable += day_taxable - open_taxable
            sum_total += day_total - open_total
            open_taxable = day_taxable
            open_total = day_total
        else:
            day_taxable, day_total = exact_day(utility_id, acc, known)
            sum_taxable += day_taxable * count
            sum_total += day_total * count
            if count == 1 and day > pp["day"]:
                pp["day"] = day
                pp["acc"] = acc
                open_taxable = day_taxable
                open_total = day_total
    charged = div_round_half_up(sum_total, EXACT * BP)
    charged_taxable = div_round_half_up(sum_taxable, EXACT)
    amount = charged - pp["charged"]
    subtotal = charged_taxable - pp["charged_taxable"]
    pp["open"] = [str(open_taxable), str(open_total)]
    pp["sum"] = [str(sum_taxable), str(sum_total)]
    pp["charged"] = charged
    pp["charged_taxable"] = charged_taxable
    storage_set(key, pp)
    add_prepaid_figures(st["scope"], t1, {"units": units, "charged": amount})
    emit("prepaid_charge", {"meter": st["meter"], "subscription": st["sub"], "period_start": t0, "period_end": t1,
                            "consumption": units, "subtotal": subtotal, "tax": amount - subtotal,
                            "amount": amount, "ref": ref, "by": caller(), "at": block_time()})
    if amount != 0:
        call("payments", "charge_prepaid", [st["meter"], amount, ref])
