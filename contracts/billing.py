# Billing: meter readings, tariffs and postpaid invoices (a contract for the meterchain VM).
#
# This file is contract source in the language of docs/contract-language.md: it is compiled
# by vm/ and deployed in genesis, never imported as Python. docs/contracts/billing.md is the
# reference for every entry point and event; docs/tariffs.md for the tariff format and the
# rounding rule.
#
# The model in one paragraph. Each meter has one cumulative billing register. A reading's
# consumption (index delta, with register roll-over, times the CT multiplier) covers the
# time since the previous reading; it is split at the effective dates of the meter's tariff
# (pro rata by time, floor for the earlier part, the remainder to the later, so no unit is
# lost) and accumulated per tariff version until the period is closed. Closing a period
# prices each version's share: standing charge per second of the span, consumption in blocks
# whose limits are daily allowances times the days of the share, interval consumption by
# time-of-use window. Every line is rounded half up to a minor unit once; tax is computed
# once per invoice on the rounded taxable subtotal. A period with no reading gets an
# estimated invoice from the meter's own history; the next actual invoice re-prices the
# whole span since the last actual reading and credits what the estimates charged (the
# true-up), so estimates never change what is finally paid for energy. Prepaid meters are
# priced the same way reading by reading and charged through payments.charge_prepaid.
#
# Invoices belong to the subscription that was open when they were issued, not to the meter:
# its open invoices and carried credit are kept under its id, so a new tenant after a move-in
# neither sees nor pays the previous tenant's debt, which stays collectable by invoice id. A
# subscription is billed from its opening: consumption read while a meter has no active
# subscription, or the share of a reading's span before the opening (pro rata by time), is
# recorded as unbilled consumption for the utility to review, never billed to anyone.
#
# Checks are written `if not ok: revert(f"...")` rather than `require(ok, f"...")`: an
# f-string argument is built before the call, and on the hot path of readings that would
# format a message for every reading that passes.
#
# Storage (keys of this contract's namespace):
#   ms/<meter>                 the meter's billing state: last reading, open span, history,
#                              the subscription being billed
#   sb/<subscription id>       a subscription's open invoices and carried credit
#   rd/<meter>/<time>          one reading: index, consumption, trust, register, by, at
#   raw/<hex raw hash>         raw meter bytes already submitted (duplicates are refused)
#   lp/<meter>/<day start>     one load profile per meter and day
#   tariff/<utility>/<id>      the versions of a tariff, by effective date
#   assign/<meter>             [utility, tariff id]
#   cfg/<utility>              the utility's billing configuration
#   inv/<meter>/<seq>          an invoice
#   tot/<scope>#<day>          running totals of the invoices of a utility, branch or field
#                              whose period ends that day (for the regulators' queries)
#   seg/<utility>#<segment>    running totals per customer segment
#   um/<utility>/<meter>       the meters billing knows, for run_billing
#   alloc/<payment id>         what a payment paid, to revert it exactly

SECONDS_PER_DAY = 86400
MICRO = 1000000
BP = 10000
READING_TAG = b"mc/meter-reading"
TIME_PAD = 12
SEQ_PAD = 6
MAX_BATCH = 500
MAX_TIERS = 16
MAX_WINDOWS = 48
PAGE = 100
MIN_ESTIMATE_SECONDS = 86400
DAY_PAD = 8
MAX_TOTAL_DAYS = 3660
TARIFF_KEYS = ("standing_charge_per_day", "tiers", "tou", "utc_offset", "tax_bp")
CONFIG_DEFAULTS = {
    "due_days": 14,
    "late_fee_bp": 0,
    "late_fee_min": 0,
    "self_read_reward": 0,
    "self_read_penalty": 0,
    "self_read_window_days": 7,
    "estimate_per_day": 0,
}


# --- small helpers ---------------------------------------------------------------------


def pad(n: int, width: int) -> str:
    # Zero-padded decimal so that storage keys sort by number (keys sort by bytes).
    s = str(n)
    while len(s) < width:
        s = "0" + s
    return s


def show(v) -> str:
    # Any value as text for an error message (str() and f-strings take only scalars).
    if v is None or isinstance(v, int) or isinstance(v, bool) or isinstance(v, str):
        return str(v)
    if isinstance(v, bytes):
        return bytes_hex(v)
    parts = []
    if isinstance(v, dict):
        for k in v.keys():
            parts.append(show(k) + ": " + show(v[k]))
        return "{" + ", ".join(parts) + "}"
    for x in v:
        parts.append(show(x))
    return "[" + ", ".join(parts) + "]"


def meter_info(meter: str) -> dict:
    info = call("registry", "meter", [meter])
    if info is None:
        revert(f"a registered meter expected, found no meter {meter}")
    return info


def has_role(account: bytes, utility: str, role: str) -> bool:
    return call("registry", "has_role", [account, utility, role])


def require_role(utility: str, roles: list) -> None:
    who = caller()
    for role in roles:
        if has_role(who, utility, role):
            return
    revert(f"a {' or '.join(roles)} of utility {utility} expected, found {bytes_hex(who)}")


def config(utility: str) -> dict:
    cfg = storage_get("cfg/" + utility, None)
    out = {}
    for k in CONFIG_DEFAULTS.keys():
        out[k] = CONFIG_DEFAULTS[k]
    if cfg is not None:
        for k in cfg.keys():
            out[k] = cfg[k]
    return out


# --- meter billing state ---------------------------------------------------------------


def load_state(meter: str, info: dict) -> dict:
    st = storage_get("ms/" + meter, None)
    if st is not None:
        return st
    # First touch: the baseline is the meter's installation index and time.
    at = info["installed_at"]
    st = {
        "meter": meter,
        "utility": info["utility"],
        "scope": info["field"],
        "register": "",
        "index": info["initial_index"],
        "ts": at,
        "trust": "installed",
        "span_start": at,
        "est_start": at,
        "acc": {},
        "estimates": [],
        "hist_units": 0,
        "hist_seconds": 0,
        "seq": 0,
        "sub": "",
        "opened": 0,
        "unbilled": 0,
    }
    storage_set("um/" + info["utility"] + "/" + meter, True)
    return st


def save_state(st: dict) -> None:
    storage_set("ms/" + st["meter"], st)


def adopt(st: dict, sub: dict) -> bool:
    # The first billing of a subscription on this meter: its span starts at its opening, or
    # at the last reading if that is later. Nothing is left of the previous subscription's
    # span: close_account invoiced it and emptied the accumulator. True if adopted now.
    if st["sub"] == sub["id"]:
        return False
    start = max(st["ts"], sub["opened_at"])
    st["sub"] = sub["id"]
    st["opened"] = sub["opened_at"]
    st["span_start"] = start
    st["est_start"] = start
    st["acc"] = {}
    st["estimates"] = []
    emit("billing_started", {"meter": st["meter"], "subscription": sub["id"], "consumer": sub["consumer"],
                             "period_start": start, "last_reading_at": st["ts"], "last_index": st["index"],
                             "by": caller(), "at": block_time()})
    return True


# --- a subscription's invoices ------------------------------------------------------------


def sub_account(sub_id: str, consumer: bytes) -> dict:
    # The open invoices (oldest first) and carried credit of one subscription.
    rec = storage_get("sb/" + sub_id, None)
    if rec is None:
        rec = {"subscription": sub_id, "consumer": consumer, "open": [], "carry": 0, "closed_at": 0}
    return rec


def save_sub_account(rec: dict) -> None:
    storage_set("sb/" + rec["subscription"], rec)


def current_account(meter: str) -> dict:
    # The account of the meter's current subscription in the registry (active, pending, or
    # the last one terminated while the meter waits for the next); None if it never had one.
    sub = call("registry", "subscription", [meter])
    if sub is None:
        return None
    return sub_account(sub["id"], sub["consumer"])


def has_tariff(st: dict) -> bool:
    return st.get("tariff", "") != "" or storage_has("assign/" + st["meter"])


def tariff_of(meter: str) -> list:
    a = storage_get("assign/" + meter, None)
    if a is None:
        revert(f"a tariff assigned to meter {meter} expected, found none")
    return a


def tariff_in(st: dict) -> str:
    # The meter's tariff id, kept in its billing state (assign_tariff updates both).
    t = st.get("tariff", "")
    if t == "":
        t = tariff_of(st["meter"])[1]
        st["tariff"] = t
    return t


def versions(utility: str, tariff_id: str) -> list:
    vs = storage_get("tariff/" + utility + "/" + tariff_id, None)
    if vs is None:
        revert(f"tariff {tariff_id} of utility {utility} expected, found none")
    return vs


def version_at(vs: list, t: int) -> int:
    # Index of the version in force at time t; the first version also covers earlier times.
    i = 0
    for j in range(1, len(vs)):
        if vs[j]["effective_from"] <= t:
            i = j
    return i


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


# --- pricing (the rounding rule lives here) -----------------------------------------------


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


def price_share(spec: dict, eff: int, seconds: int, units: int, windows: dict) -> list:
    # The lines of one tariff version's share of a span: [lines, taxable sum, tax numerator].
    lines = []
    taxable = 0
    standing = spec["standing_charge_per_day"]
    if standing > 0 and seconds > 0:
        amount = div_round_half_up(standing * seconds, SECONDS_PER_DAY)
        lines.append(line("standing", seconds, standing, amount, eff, "per day"))
        taxable += amount
    remaining = units
    used = 0
    tiers = spec["tiers"]
    for ti in range(len(tiers)):
        if remaining <= 0:
            break
        upto = tiers[ti][0]
        price = tiers[ti][1]
        q = remaining
        if upto is not None:
            limit = div_floor(upto * seconds, SECONDS_PER_DAY)
            q = min(remaining, max(limit - used, 0))
        if q > 0:
            amount = div_round_half_up(q * price, MICRO)
            lines.append(line("energy", q, price, amount, eff, "tier " + str(ti + 1)))
            taxable += amount
            remaining -= q
            used += q
    tou = spec.get("tou", None)
    for wk in sorted(list(windows.keys())):
        q = windows[wk]
        if q > 0:
            w = tou[int(wk)]
            amount = div_round_half_up(q * w[2], MICRO)
            lines.append(line("energy", q, w[2], amount, eff, "window " + str(w[0]) + "-" + str(w[1])))
            taxable += amount
    return [lines, taxable, taxable * spec["tax_bp"]]


def price_acc(utility: str, acc: dict) -> list:
    # [lines, taxable, tax numerator, units] over an accumulator of tariff shares.
    lines = []
    taxable = 0
    numerator = 0
    units = 0
    for key in sorted(list(acc.keys())):
        e = acc[key]
        vs = versions(utility, e["tariff"])
        v = vs[e["version"]]
        priced = price_share(v["spec"], v["effective_from"], e["seconds"], e["units"], e["windows"])
        lines = lines + priced[0]
        taxable += priced[1]
        numerator += priced[2]
        units += e["units"]
        for wk in e["windows"].keys():
            units += e["windows"][wk]
    return [lines, taxable, numerator, units]


# --- readings ------------------------------------------------------------------------------


def check_signer(meter: str, info: dict, sub: dict, trust: str, register: str, ts: int,
                 index: int, signature: bytes) -> str:
    who = caller()
    if trust == "consumer":
        # Only the active subscriber reads for themself: a reading on a vacant meter (or one
        # whose subscription awaits approval) is billed to nobody, so it must come from the
        # utility's side (collector or meter signature), not from someone it costs nothing.
        if sub is None or sub["status"] != "active" or who != sub["consumer"]:
            return f"the active subscriber of meter {meter} expected for a consumer reading, found {bytes_hex(who)}"
        return ""
    if trust == "collector":
        if info["collector"] == b"" or who != info["collector"]:
            return f"the data collector of meter {meter} expected, found {bytes_hex(who)}"
        return ""
    if trust == "meter":
        pk = info["public_key"]
        if pk == b"":
            return f"a meter with a registered public key expected for a meter-signed reading, found none for {meter}"
        message = READING_TAG + canonical_bytes([meter, register, index, info["unit"], ts])
        if not ed25519_verify(pk, message, signature):
            return f"a signature of meter {meter} over its reading expected, found one that does not verify"
        return ""
    return f"trust one of consumer, collector, meter expected, found {trust}"


def consumption_of(info: dict, st: dict, ts: int, index: int) -> list:
    # [consumption in base units, status, message]; status "ok", "anomalous" or "rejected".
    meter = st["meter"]
    modulus = 10 ** info["digits"]
    last = st["index"]
    dt = ts - st["ts"]
    rate = info["max_rate"]
    mult = info["multiplier"]
    if index < 0 or index >= modulus:
        return [0, "rejected", f"index in [0, {modulus}) expected for meter {meter}, found {index}"]
    if index >= last:
        units = (index - last) * mult
        if rate > 0 and units * 3600 > rate * dt:
            return [units, "anomalous", f"at most {div_floor(rate * dt, 3600)} expected in {dt} s, found {units}"]
        return [units, "ok", ""]
    # A roll-over must be plausible at the meter's maximum rate, and wrap less than half
    # the register: after a long gap a backwards reading would otherwise pass for a wrap of
    # almost the whole register, and bill it.
    rolled = (index + modulus - last) * mult
    plausible = rolled * 3600 <= rate * dt and (index + modulus - last) * 2 < modulus
    if rate == 0:
        # No stated maximum rate: a roll-over only from the top tenth to the bottom tenth.
        plausible = last * 10 >= modulus * 9 and index * 10 < modulus
    if plausible:
        return [rolled, "ok", ""]
    return [0, "rejected", f"index >= {last} expected for meter {meter} (or a plausible roll-over at {modulus}), found {index}"]


def take_reading(meter: str, register: str, ts: int, index: int, trust: str, raw_hash: bytes,
                 signature: bytes, interval: bool) -> str:
    # Validate and record one reading; "" on success, else what was expected and found.
    # Nothing here reverts for a bad reading, so that one bad item of a batch spares the rest.
    if not (isinstance(meter, str) and isinstance(register, str) and isinstance(ts, int)
            and isinstance(index, int) and isinstance(trust, str) and isinstance(raw_hash, bytes)
            and isinstance(signature, bytes)):
        return "a reading [meter str, register str, timestamp int, index int, trust str, raw_hash bytes, signature bytes] expected"
    info = call("registry", "meter", [meter])
    if info is None:
        return f"a registered meter expected, found no meter {meter}"
    if info["status"] != "active":
        return f"an active meter expected, found meter {meter} {info['status']}"
    # Without an active subscription the reading is still validated and recorded (the index
    # history must not break), but its consumption is billed to nobody (see record).
    sub = call("registry", "subscription", [meter])
    problem = check_signer(meter, info, sub, trust, register, ts, index, signature)
    if problem != "":
        return problem
    if ts > block_time():
        return f"a reading not in the future (<= {block_time()}) expected for meter {meter}, found {ts}"
    st = load_state(meter, info)
    if sub is not None and sub["status"] == "active" and not has_tariff(st):
        return f"a tariff assigned to meter {meter} expected, found none"
    if st["register"] != "" and register != st["register"]:
        return f"register {st['register']} expected for meter {meter}, found {register}"
    if ts == st["ts"]:
        return f"a new reading expected for meter {meter}, found a duplicate at {ts}"
    if ts < st["ts"]:
        return f"a reading after the last one at {st['ts']} expected for meter {meter}, found {ts}"
    if raw_hash != b"" and storage_has("raw/" + bytes_hex(raw_hash)):
        return f"a new raw reading expected for meter {meter}, found duplicate raw hash {bytes_hex(raw_hash)}"
    c = consumption_of(info, st, ts, index)
    if c[1] == "rejected":
        return c[2]
    if raw_hash != b"":
        storage_set("raw/" + bytes_hex(raw_hash), meter)
    flag = trust
    if c[1] == "anomalous":
        flag = "anomalous"
        emit("anomaly", {"meter": meter, "timestamp": ts, "index": index, "consumption": c[0],
                         "reason": c[2], "trust": trust, "by": caller(), "at": block_time()})
    record(st, sub, info, register, ts, index, c[0], flag, -1, None, True)
    if not interval:
        emit("reading", {"meter": meter, "register": register, "timestamp": ts, "index": index,
                         "consumption": c[0], "trust": flag, "by": caller(), "at": block_time()})
    return ""


def record(st: dict, sub: dict, info: dict, register: str, ts: int, index: int, units: int,
           flag: str, window: int, pending: dict, priced: bool) -> int:
    # Record an accepted reading and account for its consumption: into the open span
    # (postpaid), charged at once (prepaid), or, for the intervals of a prepaid load profile,
    # into `pending`, charged once for the whole day. Only the share read while the current
    # subscription is open is billed; the rest is unbilled consumption, recorded with an
    # event for the utility to review. `priced` is False for a final reading on a meter
    # without a tariff: its billed share is returned for the caller to report, not priced.
    # Returns the billed units.
    meter = st["meter"]
    t0 = st["ts"]
    start = ts
    if sub is not None and sub["status"] == "active":
        adopt(st, sub)
        start = max(t0, st["opened"])
    billed = units
    if start >= ts:
        billed = 0
    elif start > t0:
        # The span straddles the opening: pro rata by time, floor for the earlier share (as
        # split_span does), so no unit is lost.
        billed = units - div_floor(units * (start - t0), ts - t0)
    unbilled = units - billed
    if start < ts and priced:
        if sub["mode"] == "prepaid" and pending is None:
            charge_prepaid(st, start, ts, billed, window)
        else:
            tid = tariff_in(st)
            vs = versions(st["utility"], tid)
            acc = st["acc"] if pending is None else pending
            if window < 0:
                for p in split_span(vs, start, ts, billed):
                    acc_add(acc, tid, vs, p[0], p[1], p[2], -1)
            else:
                acc_add(acc, tid, vs, version_at(vs, start), ts - start, billed, window)
            if pending is None:
                st["acc"] = acc
    st["hist_units"] = st["hist_units"] + units
    st["hist_seconds"] = st["hist_seconds"] + ts - t0
    st["index"] = index
    st["ts"] = ts
    st["trust"] = flag
    st["register"] = register
    rd = {"index": index, "consumption": units, "trust": flag, "register": register,
          "by": caller(), "at": block_time()}
    if unbilled > 0:
        rd["unbilled"] = unbilled
        st["unbilled"] = st["unbilled"] + unbilled
        reason = "no active subscription"
        if sub is not None and sub["status"] == "active":
            reason = f"before subscription {st['sub']} opened at {st['opened']}"
        emit("unbilled_consumption", {"meter": meter, "period_start": t0, "period_end": min(start, ts),
                                      "timestamp": ts, "index": index, "consumption": unbilled,
                                      "reason": reason, "trust": flag, "by": caller(), "at": block_time()})
    storage_set("rd/" + meter + "/" + pad(ts, TIME_PAD), rd)
    save_state(st)
    return billed


def charge_prepaid(st: dict, t0: int, t1: int, units: int, window: int) -> None:
    # A prepaid meter pays each reading's span at once, priced exactly like an invoice.
    meter = st["meter"]
    tid = tariff_in(st)
    vs = versions(st["utility"], tid)
    acc = {}
    if window < 0:
        for p in split_span(vs, t0, t1, units):
            acc_add(acc, tid, vs, p[0], p[1], p[2], -1)
    else:
        acc_add(acc, tid, vs, version_at(vs, t0), t1 - t0, units, window)
    charge_acc(st, acc, t0, t1, meter + "@" + pad(t1, TIME_PAD))


def charge_acc(st: dict, acc: dict, t0: int, t1: int, ref: str) -> None:
    meter = st["meter"]
    priced = price_acc(st["utility"], acc)
    tax = div_round_half_up(priced[2], BP)
    amount = priced[1] + tax
    emit("prepaid_charge", {"meter": meter, "subscription": st["sub"], "period_start": t0, "period_end": t1,
                            "consumption": priced[3], "subtotal": priced[1], "tax": tax,
                            "amount": amount, "ref": ref, "by": caller(), "at": block_time()})
    if amount > 0:
        call("payments", "charge_prepaid", [meter, amount, ref])


@public
def submit_reading(meter: str, register: str, timestamp: int, index: int, trust: str,
                   raw_hash: bytes, meter_signature: bytes) -> None:
    problem = take_reading(meter, register, timestamp, index, trust, raw_hash, meter_signature, False)
    require(problem == "", problem)


@public
def submit_readings(batch: list) -> dict:
    # A data collector's batch: each item [meter, register, timestamp, index, trust,
    # raw_hash, meter_signature]. A bad item is rejected with an event, the others stand.
    if not (len(batch) <= MAX_BATCH):
        revert(f"at most {MAX_BATCH} readings per batch expected, found {len(batch)}")
    accepted = 0
    rejected = 0
    for item in batch:
        problem = ""
        if not isinstance(item, list) or len(item) != 7:
            problem = "a reading [meter, register, timestamp, index, trust, raw_hash, signature] expected"
        else:
            problem = take_reading(item[0], item[1], item[2], item[3], item[4], item[5], item[6], False)
        if problem == "":
            accepted += 1
        else:
            rejected += 1
            meter = item[0] if isinstance(item, list) and len(item) > 0 else ""
            emit("reading_rejected", {"meter": meter, "reason": problem, "by": caller(), "at": block_time()})
    return {"accepted": accepted, "rejected": rejected}


@public
def submit_load_profile(meter: str, register: str, day_start: int, interval_seconds: int,
                        indexes: list) -> None:
    # One day of interval readings: indexes[k] is the register at day_start + k * interval.
    # The consumption of each interval is priced in the time-of-use window of its start.
    if not (interval_seconds > 0 and SECONDS_PER_DAY % interval_seconds == 0):
        revert(f"an interval dividing a day expected, found {interval_seconds} s")
    if not (len(indexes) >= 2 and len(indexes) <= div_floor(SECONDS_PER_DAY, interval_seconds) + 1):
        revert(f"2 to {div_floor(SECONDS_PER_DAY, interval_seconds) + 1} indexes for one day expected, found {len(indexes)}")
    key = "lp/" + meter + "/" + pad(day_start, TIME_PAD)
    if storage_has(key):
        revert(f"one load profile per meter and day expected, found a second one for {meter} at {day_start}")
    info = meter_info(meter)
    sub = call("registry", "subscription", [meter])
    if not (sub is not None and sub["status"] == "active"):
        revert(f"an active subscription on meter {meter} expected, found none")
    trust = "collector" if caller() == info["collector"] else "consumer"
    problem = check_signer(meter, info, sub, trust, register, day_start, 0, b"")
    require(problem == "", problem)
    last_ts = day_start + (len(indexes) - 1) * interval_seconds
    if not (last_ts <= block_time()):
        revert(f"a load profile not in the future (<= {block_time()}) expected, found one ending {last_ts}")
    tid = tariff_of(meter)[1]
    vs = versions(info["utility"], tid)
    # The first index is an ordinary reading (it closes the gap since the last reading).
    st0 = load_state(meter, info)
    if st0["ts"] < day_start:
        problem = take_reading(meter, register, day_start, indexes[0], trust, b"", b"", True)
        require(problem == "", problem)
    else:
        if not (st0["ts"] == day_start and st0["index"] == indexes[0]):
            revert(f"a load profile starting at the last reading or later expected for {meter}, found {day_start}")
        save_state(st0)
    total = 0
    pending = {} if sub["mode"] == "prepaid" else None
    for k in range(1, len(indexes)):
        st = storage_get("ms/" + meter, None)
        t = day_start + k * interval_seconds
        c = consumption_of(info, st, t, indexes[k])
        require(c[1] != "rejected", c[2])
        flag = trust
        if c[1] == "anomalous":
            flag = "anomalous"
            emit("anomaly", {"meter": meter, "timestamp": t, "index": indexes[k], "consumption": c[0],
                             "reason": c[2], "trust": trust, "by": caller(), "at": block_time()})
        window = -1
        spec = vs[version_at(vs, t - interval_seconds)]["spec"]
        tou = spec.get("tou", None)
        if tou is not None:
            minute = div_floor((t - interval_seconds + spec.get("utc_offset", 0)) % SECONDS_PER_DAY, 60)
            for wi in range(len(tou)):
                if tou[wi][0] <= minute and minute < tou[wi][1]:
                    window = wi
        record(st, sub, info, register, t, indexes[k], c[0], flag, window, pending, True)
        total += c[0]
    if pending is not None:
        charge_acc(storage_get("ms/" + meter, None), pending, day_start, last_ts,
                   meter + "@" + pad(day_start, TIME_PAD) + "/profile")
    storage_set(key, True)
    emit("load_profile", {"meter": meter, "register": register, "day_start": day_start,
                          "interval_seconds": interval_seconds, "intervals": len(indexes) - 1,
                          "consumption": total, "trust": trust, "by": caller(), "at": block_time()})


# --- tariffs and configuration -----------------------------------------------------------


def check_spec(spec: dict) -> None:
    require(isinstance(spec, dict), "a tariff spec dict expected")
    for k in spec.keys():
        if k not in TARIFF_KEYS:
            revert(f"tariff keys among {', '.join(TARIFF_KEYS)} expected, found {k}")
    standing = spec.get("standing_charge_per_day", None)
    if not (isinstance(standing, int) and standing >= 0):
        revert(f"standing_charge_per_day >= 0 (minor units) expected, found {show(standing)}")
    tax = spec.get("tax_bp", None)
    if not (isinstance(tax, int) and tax >= 0 and tax <= BP):
        revert(f"tax_bp in [0, 10000] expected, found {show(tax)}")
    offset = spec.get("utc_offset", 0)
    if not (isinstance(offset, int) and abs(offset) <= 14 * 3600):
        revert(f"utc_offset within 14 h expected, found {show(offset)}")
    tiers = spec.get("tiers", None)
    if not (isinstance(tiers, list) and len(tiers) >= 1 and len(tiers) <= MAX_TIERS):
        revert(f"1 to {MAX_TIERS} tiers expected, found {show(tiers)}")
    prev = 0
    for i in range(len(tiers)):
        t = tiers[i]
        if not (isinstance(t, list) and len(t) == 2):
            revert(f"tier [upto_per_day, price_micro] expected, found {show(t)}")
        if not (isinstance(t[1], int) and t[1] >= 0):
            revert(f"tier price_micro >= 0 expected, found {show(t[1])}")
        if i == len(tiers) - 1:
            if t[0] is not None:
                revert(f"the last tier unbounded (upto None) expected, found {show(t[0])}")
        else:
            if not (isinstance(t[0], int) and t[0] > prev):
                revert(f"tier limits increasing above {prev} expected, found {show(t[0])}")
            prev = t[0]
    tou = spec.get("tou", None)
    if tou is not None:
        if not (isinstance(tou, list) and len(tou) >= 1 and len(tou) <= MAX_WINDOWS):
            revert(f"1 to {MAX_WINDOWS} time-of-use windows expected, found {show(tou)}")
        minute = 0
        for w in tou:
            if not (isinstance(w, list) and len(w) == 3):
                revert(f"window [start_minute, end_minute, price_micro] expected, found {show(w)}")
            if not (w[0] == minute and isinstance(w[1], int) and w[1] > w[0] and w[1] <= 1440):
                revert(f"a window from minute {minute} to a later minute <= 1440 expected, found {show(w)}")
            if not (isinstance(w[2], int) and w[2] >= 0):
                revert(f"window price_micro >= 0 expected, found {show(w[2])}")
            minute = w[1]
        if minute != 1440:
            revert(f"time-of-use windows covering the whole day (to minute 1440) expected, found the last ending at {minute}")


@public
def set_tariff(utility: str, tariff_id: str, spec: dict, effective_from: int) -> None:
    require_role(utility, ["admin"])
    if not (len(tariff_id) > 0 and "/" not in tariff_id and "@" not in tariff_id):
        revert(f"a tariff id without / or @ expected, found {tariff_id}")
    check_spec(spec)
    if not (effective_from >= block_time()):
        revert(f"a tariff effective now or later (>= {block_time()}) expected, found {effective_from}: prices never change retroactively")
    key = "tariff/" + utility + "/" + tariff_id
    vs = storage_get(key, [])
    if len(vs) > 0:
        last = vs[len(vs) - 1]["effective_from"]
        if not (effective_from > last):
            revert(f"a version effective after {last} expected for tariff {tariff_id}, found {effective_from}")
    vs.append({"effective_from": effective_from, "spec": spec, "by": caller(), "at": block_time()})
    storage_set(key, vs)
    emit("tariff_set", {"utility": utility, "tariff": tariff_id, "effective_from": effective_from,
                        "version": len(vs) - 1, "spec": spec, "by": caller(), "at": block_time()})


@public
def assign_tariff(meter: str, tariff_id: str) -> None:
    info = meter_info(meter)
    utility = info["utility"]
    require_role(utility, ["admin", "operator"])
    versions(utility, tariff_id)
    # A change of tariff closes nothing: the spans read from now on are priced at the new one;
    # what was accumulated keeps the tariff it was read under.
    storage_set("assign/" + meter, [utility, tariff_id])
    st = storage_get("ms/" + meter, None)
    if st is not None:
        st["tariff"] = tariff_id
        save_state(st)
    storage_set("um/" + utility + "/" + meter, True)
    emit("tariff_assigned", {"meter": meter, "utility": utility, "tariff": tariff_id,
                             "by": caller(), "at": block_time()})


@public
def set_billing_config(utility: str, cfg: dict) -> None:
    require_role(utility, ["admin"])
    for k in cfg.keys():
        if k not in CONFIG_DEFAULTS:
            revert(f"config keys among {', '.join(list(CONFIG_DEFAULTS.keys()))} expected, found {k}")
        if not (isinstance(cfg[k], int) and cfg[k] >= 0):
            revert(f"a non-negative int for {k} expected, found {show(cfg[k])}")
    if not (cfg.get("late_fee_bp", 0) <= BP):
        revert(f"late_fee_bp <= 10000 expected, found {cfg.get('late_fee_bp', 0)}")
    storage_set("cfg/" + utility, cfg)
    emit("billing_config", {"utility": utility, "config": cfg, "by": caller(), "at": block_time()})


# --- invoices ------------------------------------------------------------------------------


def late_fees(acct: dict, cfg: dict, now: int) -> list:
    # On the subscription's own overdue invoices only: never a fee for someone else's debt.
    lines = []
    if cfg["late_fee_bp"] == 0 and cfg["late_fee_min"] == 0:
        return lines
    for inv_id in acct["open"]:
        inv = storage_get("inv/" + inv_id, None)
        unpaid = inv["total"] - inv["paid"]
        if inv["due"] < now and unpaid > 0 and not inv["late_fee_charged"]:
            fee = max(cfg["late_fee_min"], div_round_half_up(unpaid * cfg["late_fee_bp"], BP))
            lines.append(line("late_fee", unpaid, cfg["late_fee_bp"], fee, 0, inv_id))
            inv["late_fee_charged"] = True
            storage_set("inv/" + inv_id, inv)
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


def add_totals(inv: dict, changes: dict, outstanding: int) -> None:
    # Running totals per scope level and day of period end, so that the regulators' queries
    # read one small record per day instead of every invoice. `due` keeps what is still
    # unpaid by due day, for the arrears of a period.
    day = div_floor(inv["period_end"], SECONDS_PER_DAY)
    due_day = str(div_floor(inv["due"], SECONDS_PER_DAY))
    for level in scope_levels(inv["scope"]):
        key = "tot/" + level + "#" + pad(day, DAY_PAD)
        rec = storage_get(key, None)
        if rec is None:
            rec = {"invoices": 0, "consumption": 0, "billed": 0, "tax": 0, "paid": 0, "estimated": 0,
                   "due": {}}
        for k in changes.keys():
            rec[k] = rec[k] + changes[k]
        due = rec["due"]
        due[due_day] = due.get(due_day, 0) + outstanding
        rec["due"] = due
        storage_set(key, rec)
    skey = "seg/" + inv["utility"] + "#" + inv["segment"]
    seg = storage_get(skey, None)
    if seg is None:
        seg = {"invoices": 0, "consumption": 0, "billed": 0, "tax": 0, "paid": 0, "estimated": 0}
    for k in changes.keys():
        seg[k] = seg[k] + changes[k]
    storage_set(skey, seg)


def issue(st: dict, sub: dict, period_start: int, period_end: int, units: int, lines: list,
          taxable: int, tax: int, estimated: bool, unpriced: bool) -> dict:
    meter = st["meter"]
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
    inv_id = meter + "/" + pad(seq, SEQ_PAD)
    inv = {
        "id": inv_id,
        "meter": meter,
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
    storage_set("inv/" + inv_id, inv)
    add_totals(inv, {"invoices": 1, "consumption": units, "billed": total, "tax": tax,
                     "estimated": 1 if estimated else 0}, total)
    if total > 0:
        acct["open"] = acct["open"] + [inv_id]
    save_sub_account(acct)
    emit("invoice", {"id": inv_id, "meter": meter, "consumer": sub["consumer"], "subscription": sub["id"],
                     "period_start": period_start, "period_end": period_end, "consumption": units,
                     "subtotal": subtotal, "tax": tax, "total": total, "due": inv["due"],
                     "estimated": estimated, "unpriced": unpriced, "by": caller(), "at": now})
    return inv


def close_one(meter: str, period_end: int) -> dict:
    # The invoice of one postpaid meter for the period ending at period_end; None if the
    # meter has nothing to bill (no time has passed since its last invoice).
    info = meter_info(meter)
    sub = call("registry", "subscription", [meter])
    if not (sub is not None and sub["status"] == "active"):
        revert(f"an active subscription on meter {meter} expected, found none")
    if sub["mode"] != "postpaid":
        revert(f"a postpaid subscription expected for an invoice, found {sub['mode']} on {meter}")
    st = load_state(meter, info)
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
    settle_with_credit(meter, inv)
    return storage_get("inv/" + inv["id"], inv)


def settle_with_credit(meter: str, inv: dict) -> None:
    # Advance credit (an overpayment held by payments) pays a new invoice at once, so that a
    # consumer in credit is never in arrears.
    if inv["status"] == "open":
        call("payments", "apply_credit", [meter])


def close_actual(st: dict, sub: dict, cfg: dict, period_end: int) -> dict:
    # Read to read: the whole span since the last actual invoice, minus what estimates charged.
    priced = price_acc(st["utility"], st["acc"])
    lines = priced[0]
    taxable = priced[1]
    tax = div_round_half_up(priced[2], BP)
    est_taxable = 0
    est_tax = 0
    for inv_id in st["estimates"]:
        est = storage_get("inv/" + inv_id, None)
        est_taxable += est["taxable"]
        est_tax += est["tax"]
    if len(st["estimates"]) > 0:
        lines.append(line("estimate_reversal", 0, 0, -est_taxable, 0, ", ".join(st["estimates"])))
        tax = tax - est_tax
    window = cfg["self_read_window_days"] * SECONDS_PER_DAY
    if cfg["self_read_reward"] > 0 and st["trust"] == "consumer" and st["ts"] + window >= period_end:
        lines.append(line("self_read_reward", 0, 0, -cfg["self_read_reward"], 0, "on-time self-reading"))
    inv = issue(st, sub, st["span_start"], st["ts"], priced[3], lines, taxable - est_taxable, tax, False, False)
    st["span_start"] = st["ts"]
    st["est_start"] = st["ts"]
    st["acc"] = {}
    st["estimates"] = []
    save_state(st)
    return inv


def close_estimated(st: dict, sub: dict, cfg: dict, start: int, end: int) -> dict:
    # No reading since the last invoice: estimate from the meter's own average rate.
    seconds = end - start
    if st["hist_seconds"] > 0:
        units = div_round_half_up(st["hist_units"] * seconds, st["hist_seconds"])
    else:
        units = div_round_half_up(cfg["estimate_per_day"] * seconds, SECONDS_PER_DAY)
    tid = tariff_in(st)
    vs = versions(st["utility"], tid)
    acc = {}
    for p in split_span(vs, start, end, units):
        acc_add(acc, tid, vs, p[0], p[1], p[2], -1)
    priced = price_acc(st["utility"], acc)
    lines = priced[0]
    if cfg["self_read_penalty"] > 0:
        lines.append(line("self_read_penalty", 0, 0, cfg["self_read_penalty"], 0, "no reading in the period"))
    inv = issue(st, sub, start, end, units, lines, priced[1], div_round_half_up(priced[2], BP), True, False)
    st["estimates"] = st["estimates"] + [inv["id"]]
    st["est_start"] = end
    save_state(st)
    return inv


@public
def close_period(meter: str) -> dict:
    info = meter_info(meter)
    require_role(info["utility"], ["operator", "admin"])
    inv = close_one(meter, block_time())
    if inv is None:
        revert(f"a period to bill expected for meter {meter}, found none since the last invoice")
    return inv


@public
def run_billing(utility: str, period_end: int, start_after: str = "", limit: int = 100) -> dict:
    # Close the period of every postpaid meter of the utility (paged: pass back "next").
    require_role(utility, ["operator", "admin"])
    if not (period_end <= block_time()):
        revert(f"a period end not in the future (<= {block_time()}) expected, found {period_end}")
    if not (limit > 0 and limit <= PAGE):
        revert(f"a page of 1 to {PAGE} meters expected, found {limit}")
    prefix = "um/" + utility + "/"
    after = "" if start_after == "" else prefix + start_after
    keys = storage_keys(prefix, after, limit)
    issued = 0
    last = ""
    for k in keys:
        meter = k[len(prefix):]
        last = meter
        sub = call("registry", "subscription", [meter])
        if sub is not None and sub["status"] == "active" and sub["mode"] == "postpaid":
            if close_one(meter, period_end) is not None:
                issued += 1
    more = len(keys) == limit
    return {"invoices": issued, "next": last if more else ""}


# --- entry points for the other contracts ---------------------------------------------------


def pay_invoice(inv_id: str, amount: int) -> list:
    # Pay up to `amount` of one invoice: [the part paid, whether it is still open].
    inv = storage_get("inv/" + inv_id, None)
    part = min(amount, inv["total"] - inv["paid"])
    if part > 0:
        inv["paid"] = inv["paid"] + part
        if inv["paid"] == inv["total"]:
            inv["status"] = "paid"
        storage_set("inv/" + inv_id, inv)
        add_totals(inv, {"paid": part}, -part)
    return [part, inv["status"] == "open"]


def require_payments() -> None:
    if caller() != b"contract:payments":
        revert(f"a call from contract payments expected, found {bytes_hex(caller())}")


def new_payment(amount: int, payment_id: str) -> None:
    if not (amount > 0):
        revert(f"a positive payment expected, found {amount}")
    if storage_has("alloc/" + payment_id):
        revert(f"a new payment id expected, found {payment_id} already applied")


@public
def apply_payment(meter: str, amount: int, payment_id: str) -> int:
    # Pays the open invoices of the meter's current subscription, oldest first; invoices of
    # an earlier subscription are paid by id (apply_invoice_payment), never from here.
    require_payments()
    new_payment(amount, payment_id)
    acct = current_account(meter)
    allocations = []
    remaining = amount
    sub_id = ""
    if acct is not None:
        sub_id = acct["subscription"]
        still_open = []
        for inv_id in acct["open"]:
            if remaining > 0:
                paid = pay_invoice(inv_id, remaining)
                remaining -= paid[0]
                allocations.append([inv_id, paid[0]])
                if paid[1]:
                    still_open.append(inv_id)
            else:
                still_open.append(inv_id)
        if len(allocations) > 0:
            acct["open"] = still_open
            save_sub_account(acct)
    storage_set("alloc/" + payment_id, {"meter": meter, "subscription": sub_id, "amount": amount,
                                        "allocations": allocations, "reverted": False, "at": block_time()})
    emit("payment_applied", {"meter": meter, "subscription": sub_id, "payment_id": payment_id, "amount": amount,
                             "allocations": allocations, "remainder": remaining, "at": block_time()})
    return remaining


@public
def apply_invoice_payment(invoice_id: str, amount: int, payment_id: str) -> int:
    # Pays one open invoice named by its id, of any subscription, current or ended (the way
    # an agent collects a final invoice after the premises changed hands). Returns what
    # exceeded the unpaid amount, for payments to credit to that invoice's subscription.
    require_payments()
    new_payment(amount, payment_id)
    inv = storage_get("inv/" + invoice_id, None)
    if inv is None:
        revert(f"an invoice expected, found no invoice {invoice_id}")
    if inv["status"] != "open":
        revert(f"an open invoice expected, found invoice {invoice_id} {inv['status']}")
    paid = pay_invoice(invoice_id, amount)
    part = paid[0]
    if not paid[1]:
        acct = sub_account(inv["subscription"], inv["consumer"])
        still_open = []
        for other in acct["open"]:
            if other != invoice_id:
                still_open.append(other)
        acct["open"] = still_open
        save_sub_account(acct)
    allocations = [[invoice_id, part]]
    remaining = amount - part
    storage_set("alloc/" + payment_id, {"meter": inv["meter"], "subscription": inv["subscription"],
                                        "amount": amount, "allocations": allocations, "reverted": False,
                                        "at": block_time()})
    emit("payment_applied", {"meter": inv["meter"], "subscription": inv["subscription"], "payment_id": payment_id,
                             "amount": amount, "allocations": allocations, "remainder": remaining,
                             "at": block_time()})
    return remaining


@public
def revert_payment(meter: str, payment_id: str) -> int:
    require_payments()
    rec = storage_get("alloc/" + payment_id, None)
    if rec is None:
        revert(f"an applied payment expected, found no payment {payment_id}")
    if rec["meter"] != meter:
        revert(f"payment {payment_id} of meter {rec['meter']} expected, found meter {meter}")
    if rec["reverted"]:
        revert(f"a payment not yet reverted expected, found {payment_id} reverted")
    undone = 0
    for a in rec["allocations"]:
        inv = storage_get("inv/" + a[0], None)
        inv["paid"] = inv["paid"] - a[1]
        undone += a[1]
        if inv["status"] == "paid" and inv["paid"] < inv["total"]:
            # Reopened in its own subscription's list, wherever the meter has gone since.
            inv["status"] = "open"
            acct = sub_account(inv["subscription"], inv["consumer"])
            acct["open"] = insert_open(acct["open"], a[0])
            save_sub_account(acct)
        storage_set("inv/" + a[0], inv)
        if a[1] > 0:
            add_totals(inv, {"paid": -a[1]}, a[1])
    rec["reverted"] = True
    storage_set("alloc/" + payment_id, rec)
    emit("payment_reverted", {"meter": meter, "subscription": rec.get("subscription", ""), "payment_id": payment_id,
                              "amount": undone, "at": block_time()})
    return undone


def final_reading(st: dict, sub: dict, info: dict, now: int, final_index: int) -> int:
    # The closing reading of a subscription or of a replaced meter, at block time; returns
    # its billed units. Without a tariff the reading is recorded but cannot be priced: its
    # consumption is reported with `unpriced_final_reading` for the utility to bill by hand,
    # so that ending a subscription or replacing a meter is never blocked by a missing tariff.
    c = consumption_of(info, st, now, final_index)
    require(c[1] != "rejected", c[2])
    t0 = st["ts"]
    priced = has_tariff(st)
    billed = record(st, sub, info, st["register"], now, final_index, c[0], "final", -1, None, priced)
    emit("reading", {"meter": st["meter"], "register": st["register"], "timestamp": now, "index": final_index,
                     "consumption": c[0], "trust": "final", "by": caller(), "at": now})
    if not priced and billed > 0:
        emit("unpriced_final_reading", {"meter": st["meter"], "subscription": st["sub"],
                                        "consumer": sub["consumer"], "period_start": max(t0, st["opened"]),
                                        "period_end": now, "index": final_index, "consumption": billed,
                                        "reason": f"a tariff assigned to meter {st['meter']} expected, found none",
                                        "by": caller(), "at": now})
    return billed


@public
def close_account(meter: str, final_index: int) -> dict:
    # The final reading and final invoice of a subscription (terminate, move out). Afterwards
    # the meter belongs to no subscription until the next one opens: what is read meanwhile
    # is unbilled consumption.
    if caller() != b"contract:registry":
        revert(f"a call from contract registry expected, found {bytes_hex(caller())}")
    info = meter_info(meter)
    sub = call("registry", "subscription", [meter])
    if sub is None or sub["status"] != "active":
        revert(f"an active subscription on meter {meter} expected, found none")
    st = load_state(meter, info)
    adopt(st, sub)
    now = block_time()
    billed = 0
    if now > st["ts"]:
        billed = final_reading(st, sub, info, now, final_index)
    else:
        if final_index != st["index"]:
            revert(f"final index {st['index']} (read at {now}) expected for {meter}, found {final_index}")
        save_state(st)
    st = storage_get("ms/" + meter, None)
    inv = None
    if sub["mode"] == "postpaid" and st["ts"] > st["span_start"]:
        if has_tariff(st):
            inv = close_actual(st, sub, config(st["utility"]), now)
            settle_with_credit(meter, inv)
        else:
            # The consumption on the subscription's record, with no price: nothing to pay.
            inv = issue(st, sub, st["span_start"], st["ts"], billed, [], 0, 0, False, True)
            st["span_start"] = st["ts"]
            st["est_start"] = st["ts"]
            save_state(st)
    st = storage_get("ms/" + meter, None)
    st["sub"] = ""
    save_state(st)
    acct = sub_account(sub["id"], sub["consumer"])
    acct["closed_at"] = now
    save_sub_account(acct)
    due = 0
    for inv_id in acct["open"]:
        i = storage_get("inv/" + inv_id, None)
        due += i["total"] - i["paid"]
    emit("account_closed", {"meter": meter, "subscription": sub["id"], "consumer": sub["consumer"],
                            "final_index": final_index, "invoice": inv["id"] if inv is not None else "",
                            "balance_due": due, "credit_left": acct["carry"], "by": caller(), "at": now})
    if inv is None:
        return None
    return storage_get("inv/" + inv["id"], None)


@public
def meter_replaced(old: str, new: str, old_final_index: int, new_initial_index: int) -> None:
    # The account moves to the new meter: the old one's last span is read to its final index,
    # and the new meter continues from its initial index with the same tariff and history.
    if caller() != b"contract:registry":
        revert(f"a call from contract registry expected, found {bytes_hex(caller())}")
    info = meter_info(old)
    now = block_time()
    st = load_state(old, info)
    if now > st["ts"]:
        sub = call("registry", "subscription", [old])
        if sub is None:
            sub = call("registry", "subscription", [new])
        final_reading(st, sub, info, now, old_final_index)
        st = storage_get("ms/" + old, None)
    # The old meter keeps its last reading but hands its open span to the new one (the
    # subscription's invoices are the subscription's, wherever its meter is).
    storage_set("ms/" + old, {"meter": old, "utility": st["utility"], "scope": st["scope"],
                              "register": st["register"], "index": st["index"], "ts": st["ts"],
                              "trust": st["trust"], "span_start": st["ts"], "est_start": st["ts"],
                              "acc": {}, "estimates": [], "hist_units": 0, "hist_seconds": 0,
                              "seq": st["seq"], "sub": "", "opened": 0, "unbilled": st["unbilled"],
                              "replaced_by": new})
    st["meter"] = new
    st["index"] = new_initial_index
    st["ts"] = now
    st["register"] = ""
    st["unbilled"] = 0
    storage_set("ms/" + new, st)
    storage_set("um/" + st["utility"] + "/" + new, True)
    storage_delete("um/" + st["utility"] + "/" + old)
    a = storage_get("assign/" + old, None)
    if a is not None:
        storage_set("assign/" + new, a)
    emit("meter_replaced", {"old": old, "new": new, "old_final_index": old_final_index,
                            "new_initial_index": new_initial_index, "by": caller(), "at": now})


@public
def init() -> None:
    require(not storage_has("gov"), "init once expected, found billing already initialised")
    storage_set("gov", caller())


# --- views ---------------------------------------------------------------------------------


def unpaid(acct: dict, overdue_at: int) -> int:
    # What the account's open invoices still owe; only those due before `overdue_at` if > 0.
    total = 0
    if acct is None:
        return 0
    for inv_id in acct["open"]:
        inv = storage_get("inv/" + inv_id, None)
        if overdue_at == 0 or inv["due"] < overdue_at:
            total += inv["total"] - inv["paid"]
    return total


@view
def arrears(meter: str) -> int:
    # The current subscription's overdue invoices: a new tenant never inherits the debt of
    # the one who moved out (that stays with its subscription: subscription_balance).
    return unpaid(current_account(meter), block_time())


@view
def balance_due(meter: str) -> int:
    # Everything unpaid of the current subscription, due or not yet due.
    return unpaid(current_account(meter), 0)


@view
def oldest_due(meter: str) -> int:
    acct = current_account(meter)
    if acct is None or len(acct["open"]) == 0:
        return 0
    return storage_get("inv/" + acct["open"][0], None)["due"]


@view
def open_invoices(meter: str) -> list:
    # The current subscription's open invoices, oldest first.
    acct = current_account(meter)
    out = []
    if acct is None:
        return out
    for inv_id in acct["open"]:
        out.append(storage_get("inv/" + inv_id, None))
    return out


@view
def subscription_balance(subscription_id: str) -> dict:
    # Any subscription, current or ended: its open invoices, what it owes (all of it, and
    # the overdue part), the credit a true-up left it, and when its account closed.
    acct = storage_get("sb/" + subscription_id, None)
    if acct is None:
        return {"subscription": subscription_id, "open": [], "balance_due": 0, "arrears": 0, "carry": 0,
                "closed_at": 0}
    out = []
    for inv_id in acct["open"]:
        out.append(storage_get("inv/" + inv_id, None))
    return {"subscription": subscription_id, "consumer": acct["consumer"], "open": out,
            "balance_due": unpaid(acct, 0), "arrears": unpaid(acct, block_time()), "carry": acct["carry"],
            "closed_at": acct["closed_at"]}


@view
def invoice(invoice_id: str) -> dict:
    return storage_get("inv/" + invoice_id, None)


@view
def invoices(meter: str) -> list:
    out = []
    for k in storage_keys("inv/" + meter + "/", "", 1000):
        out.append(storage_get(k, None))
    return out


@view
def last_reading(meter: str) -> dict:
    st = storage_get("ms/" + meter, None)
    if st is None:
        return None
    return {"meter": meter, "register": st["register"], "timestamp": st["ts"], "index": st["index"],
            "trust": st["trust"]}


@view
def readings(meter: str, start_after: int = 0, limit: int = 100) -> list:
    prefix = "rd/" + meter + "/"
    after = "" if start_after <= 0 else prefix + pad(start_after, TIME_PAD)
    out = []
    for k in storage_keys(prefix, after, min(limit, 1000)):
        r = storage_get(k, None)
        r["timestamp"] = int(k[len(prefix):])
        out.append(r)
    return out


@view
def tariff(utility: str, tariff_id: str) -> list:
    return storage_get("tariff/" + utility + "/" + tariff_id, None)


@view
def assigned_tariff(meter: str) -> str:
    a = storage_get("assign/" + meter, None)
    return "" if a is None else a[1]


@view
def billing_config(utility: str) -> dict:
    return config(utility)


@view
def billing_state(meter: str) -> dict:
    return storage_get("ms/" + meter, None)


@view
def consumption_totals(utility: str, scope_prefix: str, period_start: int, period_end: int) -> dict:
    # Totals of the invoices of a utility, branch or field (scope_prefix is its id) whose period
    # ends on a UTC day in [day of period_start, day of period_end): consumption, billed, tax,
    # paid, outstanding, estimated count, and arrears = what is unpaid past its due day.
    if scope_prefix != utility and not scope_prefix.startswith(utility + "/"):
        revert(f"a scope of utility {utility} (its id, or a branch or field id under it) expected, found {scope_prefix}")
    first = div_floor(period_start, SECONDS_PER_DAY)
    last = div_floor(period_end, SECONDS_PER_DAY)
    if last - first > MAX_TOTAL_DAYS:
        revert(f"a period of at most {MAX_TOTAL_DAYS} days expected, found {last - first}")
    prefix = "tot/" + scope_prefix + "#"
    after = "" if first <= 0 else prefix + pad(first - 1, DAY_PAD)
    today = div_floor(block_time(), SECONDS_PER_DAY)
    out = {"invoices": 0, "consumption": 0, "billed": 0, "tax": 0, "paid": 0, "outstanding": 0,
           "arrears": 0, "estimated": 0}
    done = False
    while not done:
        keys = storage_keys(prefix, after, 1000)
        for k in keys:
            if int(k[len(prefix):]) >= last:
                done = True
                break
            after = k
            rec = storage_get(k, None)
            for f in ("invoices", "consumption", "billed", "tax", "paid", "estimated"):
                out[f] = out[f] + rec[f]
            for d in rec["due"].keys():
                if int(d) < today:
                    out["arrears"] = out["arrears"] + rec["due"][d]
        if len(keys) < 1000:
            done = True
    out["outstanding"] = out["billed"] - out["paid"]
    return out


@view
def segments(utility: str) -> dict:
    # Per customer segment (registry's segmentation), all time: invoices, consumption, billed,
    # tax, paid, outstanding, estimated count.
    prefix = "seg/" + utility + "#"
    out = {}
    for k in storage_keys(prefix, "", 1000):
        rec = storage_get(k, None)
        rec["outstanding"] = rec["billed"] - rec["paid"]
        name = k[len(prefix):]
        out[name] = rec
    return out
