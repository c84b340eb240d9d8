"""A period's readings replayed from scratch (issue 12): checked against the commitment the
meter's state or an invoice's basis keeps (period_readings.py), corrected, and accounted for
again with the rules every reading uses (readings.consumption_of, pricing.add_span), so that
a rebill prices the corrected period exactly as an invoice from those readings would have
been priced.

Gas is linear in the period's readings (docs/contracts/corrections.md, "Gas"); one transaction
replays at most MAX_PERIOD_READINGS.

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.period_readings import reading_link
from billing.pricing import add_span, billed_share, window_at
from billing.readings import consumption_of
from common.text import show

MAX_PERIOD_READINGS = 4000


def period_tariff(acc: dict, fallback: str, what: str) -> str:
    # The tariff a period was read under. A tariff assigned in the middle of a period leaves
    # two in its accumulator; which reading was priced at which is not in the commitment, so
    # such a period is not replayed (a credit note or manual charge corrects it).
    tid = ""
    for key in acc.keys():
        t = acc[key]["tariff"]
        if tid == "":
            tid = t
        elif t != tid:
            revert(f"a period read under one tariff expected for a rebill of {what}, found tariffs {tid} and {t}")
    return fallback if tid == "" else tid


def billing_units(info: dict, meter_id: str, t0: int, index0: int, ts: int, index: int) -> list:
    # [units, status, why] of the span from (t0, index0) to (ts, index): readings.consumption_of's
    # rule (roll-over, multiplier), the one home of it.
    return consumption_of(info, {"meter": meter_id, "ts": t0, "index": index0}, ts, index)


def check_corrections(info: dict, meter_id: str, corrections: list) -> None:
    modulus = 10 ** info["digits"]
    prev = -1
    if not isinstance(corrections, list) or len(corrections) == 0:
        revert(f"a list of corrections [timestamp, index] expected, found {show(corrections)}")
    for c in corrections:
        if not (isinstance(c, list) and len(c) == 2 and isinstance(c[0], int) and not isinstance(c[0], bool)
                and isinstance(c[1], int) and not isinstance(c[1], bool)):
            revert(f"a correction [timestamp, index] expected, found {show(c)}")
        if not (c[0] > prev):
            revert(f"corrections in time order, one per reading, expected, found {c[0]} after {prev}")
        if not (c[1] >= 0 and c[1] < modulus):
            revert(f"index in [0, {modulus}) expected for meter {meter_id}, found {c[1]}")
        prev = c[0]


def replay_period(info: dict, meter_id: str, c: dict, end: int, last_index: int, readings: list,
                  corrections: list, tid: str, vs: list, what: str) -> dict:
    """Check ``readings`` (``[[time, index, interval]]``, the span's readings after its base,
    in order) against commitment ``c`` of a span ending with the reading (``end``,
    ``last_index``), apply ``corrections`` (``[[time, index]]``, each naming one of them) and
    account for the corrected span from scratch. Returns ``{acc, hash, last_index,
    units_before, units_after, changes: [[time, index, original index]]}``: the corrected
    span's accumulator and commitment hash."""
    n = c["count"]
    if not isinstance(readings, list) or len(readings) != n:
        count = str(len(readings)) if isinstance(readings, list) else show(readings)
        revert(f"the {n} readings of {what} after its start expected (from the node's history), found {count}")
    if n > MAX_PERIOD_READINGS:
        revert(f"a period of at most {MAX_PERIOD_READINGS} readings expected for a rebill in one transaction, found {n}")
    prev_ts = c["base"][0]
    prev_index = c["base"][1]
    prev_new = prev_index
    opened = c["opened"]
    h = b""
    h_new = b""
    acc = {}
    before = 0
    after = 0
    changes = []
    problem = ""
    ci = 0
    for i in range(n):
        r = readings[i]
        if not (isinstance(r, list) and len(r) == 3 and isinstance(r[0], int) and isinstance(r[1], int)
                and isinstance(r[2], int) and not isinstance(r[0], bool) and not isinstance(r[1], bool)
                and not isinstance(r[2], bool) and r[2] >= 0):
            revert(f"a reading [timestamp, index, interval seconds] expected, found {show(r)}")
        ts = r[0]
        index = r[1]
        interval = r[2]
        if not (ts > prev_ts):
            revert(f"readings of {what} after {prev_ts} in time order expected, found {ts}")
        new_index = index
        if ci < len(corrections) and corrections[ci][0] == ts:
            new_index = corrections[ci][1]
            if new_index == index:
                revert(f"an index other than the one read ({index}) expected for the correction at {ts}, found the same")
            changes.append([ts, new_index, index])
            ci += 1
        if i < n - 1:
            h = reading_link(h, ts, index, interval)
            h_new = reading_link(h_new, ts, new_index, interval)
        elif not (ts == end and index == last_index and interval == c["last_interval"]):
            revert(f"the last reading of {what} [{end}, {last_index}, {c['last_interval']}] expected, found {show(r)}")
        units, verdict, why = billing_units(info, meter_id, prev_ts, prev_new, ts, new_index)
        if verdict == "rejected" and problem == "":
            # Said after the readings are checked: a forged reading is refused as one.
            problem = f"corrected readings that leave the consumption from {prev_ts} to {ts} at least 0 expected, found {why}"
        original = units
        if new_index != index or prev_new != prev_index:
            original = billing_units(info, meter_id, prev_ts, prev_index, ts, index)[0]
        before += original
        after += units
        window = -1
        if interval > 0:
            window = window_at(vs, ts - interval)
        start = max(prev_ts, opened)
        add_span(acc, tid, vs, start, ts, billed_share(prev_ts, start, ts, units), window)
        prev_ts = ts
        prev_index = index
        prev_new = new_index
    if h != c["hash"]:
        revert(f"the original readings of {what} expected (as the node's history has them), found readings its commitment does not match")
    if ci < len(corrections):
        revert(f"corrections of readings of {what} (after {c['base'][0]}, up to {end}) expected, found one at {corrections[ci][0]} that names none")
    if problem != "":
        revert(problem)
    return {"acc": acc, "hash": h_new, "last_index": prev_new, "units_before": before, "units_after": after,
            "changes": changes}
