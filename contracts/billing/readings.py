"""Readings: who may submit one (meter-signed, collector, operator, consumer), what it
consumed (monotonic index, roll-over, multiplier, plausibility), and recording it against
the subscription being billed; single readings, batches and load profiles.

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import TIME_PAD, adopt, load_state, meter_info, save_state
from billing.figures import add_prepaid_figures
from billing.final_bill import settle_awaited_final
from billing.period_readings import note_reading
from billing.prepaid import charge_acc, charge_prepaid
from billing.pricing import add_span, billed_share, window_at
from billing.tariffs import has_tariff, tariff_in, tariff_of, versions
from common.keys import storage_key
from common.text import pad
from common.time import SECONDS_PER_DAY

READING_TAG = b"mc/meter-reading"
MAX_BATCH = 500


def check_signer(meter_id: str, info: dict, sub: dict, trust: str, register: str, ts: int,
                 index: int, signature: bytes) -> str:
    who = caller()
    if trust == "consumer":
        # Only the active subscriber reads for themself: a reading on a vacant meter (or one
        # whose subscription awaits approval) is billed to nobody, so it must come from the
        # utility's side (collector or meter signature), not from someone it costs nothing.
        if sub is None or sub["status"] != "active" or who != sub["consumer"]:
            return f"the active subscriber of meter {meter_id} expected for a consumer reading, found {bytes_hex(who)}"
        return ""
    if trust == "collector":
        if info["collector"] == b"" or who != info["collector"]:
            return f"the data collector of meter {meter_id} expected, found {bytes_hex(who)}"
        return ""
    if trust == "meter":
        pk = info["public_key"]
        if pk == b"":
            return f"a meter with a registered public key expected for a meter-signed reading, found none for {meter_id}"
        message = READING_TAG + canonical_bytes([meter_id, register, index, info["unit"], ts])
        if not ed25519_verify(pk, message, signature):
            return f"a signature of meter {meter_id} over its reading expected, found one that does not verify"
        return ""
    return f"trust one of consumer, collector, meter expected, found {trust}"


def consumption_of(info: dict, st: dict, ts: int, index: int) -> list:
    # [consumption in base units, status, message]; status "ok", "anomalous" or "rejected".
    meter_id = st["meter"]
    modulus = 10 ** info["digits"]
    last = st["index"]
    dt = ts - st["ts"]
    rate = info["max_rate"]
    mult = info["multiplier"]
    if index < 0 or index >= modulus:
        return [0, "rejected", f"index in [0, {modulus}) expected for meter {meter_id}, found {index}"]
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
    return [0, "rejected", f"index >= {last} expected for meter {meter_id} (or a plausible roll-over at {modulus}), found {index}"]


def take_reading(meter_id: str, register: str, ts: int, index: int, trust: str, raw_hash: bytes,
                 signature: bytes, interval: bool) -> str:
    # Validate and record one reading; "" on success, else what was expected and found.
    # Nothing here reverts for a bad reading, so that one bad item of a batch spares the rest.
    if not (isinstance(meter_id, str) and isinstance(register, str) and isinstance(ts, int)
            and isinstance(index, int) and isinstance(trust, str) and isinstance(raw_hash, bytes)
            and isinstance(signature, bytes)):
        return "a reading [meter str, register str, timestamp int, index int, trust str, raw_hash bytes, signature bytes] expected"
    info, sub = call("registry", "meter_for_reading", [meter_id, trust])
    if info is None:
        return f"a registered meter expected, found no meter {meter_id}"
    if info["status"] != "active":
        return f"an active meter expected, found meter {meter_id} {info['status']}"
    # Without an active subscription (`sub`) the reading is still validated and recorded
    # (the index history must not break), but its consumption is billed to nobody (see record).
    problem = check_signer(meter_id, info, sub, trust, register, ts, index, signature)
    if problem != "":
        return problem
    if ts > block_time():
        return f"a reading not in the future (<= {block_time()}) expected for meter {meter_id}, found {ts}"
    st = load_state(meter_id, info)
    # (A tariff kept in the state is has_tariff's answer without its call.)
    if sub is not None and sub["status"] == "active" and st.get("tariff", "") == "" and not has_tariff(st):
        return f"a tariff assigned to meter {meter_id} expected, found none"
    if st["register"] != "" and register != st["register"]:
        return f"register {st['register']} expected for meter {meter_id}, found {register}"
    # The replay guard: a meter's readings are strictly later in time, so a reading (or a
    # meter's signature over one, which covers its time) is accepted once and never again,
    # with nothing kept but the meter's latest reading (docs/state.md, "What the state holds").
    if ts == st["ts"]:
        return f"a new reading expected for meter {meter_id}, found a duplicate at {ts}"
    if ts < st["ts"]:
        return f"a reading after the last one at {st['ts']} expected for meter {meter_id}, found {ts}"
    consumed, verdict, why = consumption_of(info, st, ts, index)
    if verdict == "rejected":
        return why
    flag = trust
    if verdict == "anomalous":
        flag = "anomalous"
        emit("anomaly", {"meter": meter_id, "timestamp": ts, "index": index, "consumption": consumed,
                         "reason": why, "trust": trust, "by": caller(), "at": block_time()})
    previous = st["ts"]
    record(st, sub, info, register, ts, index, consumed, flag, window=-1, pending=None, priced=True)
    if not interval:
        # `previous` (the meter's reading before this one) lets a consumer check that a run
        # of readings from the node's history leaves none out (wallet.history_check).
        emit("reading", {"meter": meter_id, "register": register, "timestamp": ts, "index": index,
                         "previous": previous, "consumption": consumed, "trust": flag, "raw_hash": raw_hash,
                         "by": caller(), "at": block_time()})
    if trust != "consumer" and st.get("closing", None) is not None:
        # The subscriber asked to leave with an index that did not count: the utility's
        # trusted reading is their final reading.
        settle_awaited_final(meter_id, sub, index)
    return ""


def record(st: dict, sub: dict, info: dict, register: str, ts: int, index: int, units: int,
           flag: str, window: int, pending: dict, priced: bool, interval: int = 0) -> int:
    # Record an accepted reading and account for its consumption: into the open span
    # (postpaid), charged at once (prepaid), or, for the intervals of a prepaid load profile,
    # into `pending`, charged once for the whole day. Only the share read while the current
    # subscription is open is billed; the rest is unbilled consumption, recorded with an
    # event for the utility to review. `priced` is False for a final reading on a meter
    # without a tariff: its billed share is returned for the caller to report, not priced.
    # `interval` is a load profile's interval length (0 for a plain reading), for the
    # commitment to the period's readings (period_readings.py). Returns the billed units.
    meter_id = st["meter"]
    t0 = st["ts"]
    start = ts
    if sub is not None and sub["status"] == "active":
        if st["sub"] != sub["id"]:  # adopt's own test, without its call on every reading
            adopt(st, sub)
        start = max(t0, st["opened"])
        note_reading(st, interval)
    # billed_share's answer without its call in the common case: a span billed from its own
    # start (the last reading, in the subscription) is billed whole.
    billed = units if start == t0 and t0 < ts else billed_share(t0, start, ts, units)
    unbilled = units - billed
    # A token meter holds its credit itself (payments/tokens.py): recorded, never priced,
    # counted in the consumption figures.
    mode = sub["mode"] if start < ts else ""  # start < ts: an active subscription (above)
    if mode == "token":
        add_prepaid_figures(st["scope"], ts, {"token_units": billed})
    elif mode != "" and priced:
        if mode == "prepaid" and pending is None:
            charge_prepaid(st, start, ts, billed, window)
        else:
            tid = st.get("tariff", "")  # tariff_in's answer when the state holds it
            if tid == "":
                tid = tariff_in(st)
            vs = versions(st["utility"], tid)
            acc = st["acc"] if pending is None else pending
            add_span(acc, tid, vs, start, ts, billed, window)
            if pending is None:
                st["acc"] = acc
    st["hist_units"] = st["hist_units"] + units
    st["hist_seconds"] = st["hist_seconds"] + ts - t0
    st["index"] = index
    st["ts"] = ts
    st["trust"] = flag
    st["register"] = register
    if unbilled > 0:
        st["unbilled"] = st["unbilled"] + unbilled
        reason = "no active subscription"
        if sub is not None and sub["status"] == "active":
            reason = f"before subscription {st['sub']} opened at {st['opened']}"
        emit("unbilled_consumption", {"meter": meter_id, "period_start": t0, "period_end": min(start, ts),
                                      "timestamp": ts, "index": index, "consumption": unbilled,
                                      "reason": reason, "trust": flag, "by": caller(), "at": block_time()})
    save_state(st)
    return billed


@public
def submit_reading(meter_id: str, register: str, timestamp: int, index: int, trust: str,
                   raw_hash: bytes, meter_signature: bytes) -> None:
    problem = take_reading(meter_id, register, timestamp, index, trust, raw_hash, meter_signature, interval=False)
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
            problem = take_reading(item[0], item[1], item[2], item[3], item[4], item[5], item[6], interval=False)
        if problem == "":
            accepted += 1
        else:
            rejected += 1
            meter_id = item[0] if isinstance(item, list) and len(item) > 0 else ""
            emit("reading_rejected", {"meter": meter_id, "reason": problem, "by": caller(), "at": block_time()})
    return {"accepted": accepted, "rejected": rejected}


@public
def submit_load_profile(meter_id: str, register: str, day_start: int, interval_seconds: int,
                        indexes: list) -> None:
    # One day of interval readings: indexes[k] is the register at day_start + k * interval.
    # The consumption of each interval is priced in the time-of-use window of its start.
    if not (interval_seconds > 0 and SECONDS_PER_DAY % interval_seconds == 0):
        revert(f"an interval dividing a day expected, found {interval_seconds} s")
    if not (len(indexes) >= 2 and len(indexes) <= div_floor(SECONDS_PER_DAY, interval_seconds) + 1):
        revert(f"2 to {div_floor(SECONDS_PER_DAY, interval_seconds) + 1} indexes for one day expected, found {len(indexes)}")
    info = meter_info(meter_id)
    sub = call("registry", "subscription", [meter_id])
    if not (sub is not None and sub["status"] == "active"):
        revert(f"an active subscription on meter {meter_id} expected, found none")
    if sub.get("closing", None) is not None:
        revert(f"a plain reading expected to settle the final bill of subscription {sub['id']} on {meter_id}, found a load profile")
    trust = "collector" if caller() == info["collector"] else "consumer"
    problem = check_signer(meter_id, info, sub, trust, register, day_start, 0, b"")
    require(problem == "", problem)
    last_ts = day_start + (len(indexes) - 1) * interval_seconds
    if not (last_ts <= block_time()):
        revert(f"a load profile not in the future (<= {block_time()}) expected, found one ending {last_ts}")
    tid = tariff_of(meter_id)[1]
    vs = versions(info["utility"], tid)
    # The first index is an ordinary reading (it closes the gap since the last reading).
    st0 = load_state(meter_id, info)
    if st0["ts"] < day_start:
        problem = take_reading(meter_id, register, day_start, indexes[0], trust, b"", b"", interval=True)
        require(problem == "", problem)
    else:
        if not (st0["ts"] == day_start and st0["index"] == indexes[0]):
            # Also what refuses a second load profile of the same day: the first moved the
            # meter's last reading past day_start.
            revert(f"a load profile starting at the last reading ({st0['ts']}) or later expected for {meter_id}, found {day_start}")
        save_state(st0)
    total = 0
    pending = {} if sub["mode"] == "prepaid" else None
    for k in range(1, len(indexes)):
        st = storage_get(storage_key("ms/", [meter_id]))
        t = day_start + k * interval_seconds
        consumed, verdict, why = consumption_of(info, st, t, indexes[k])
        require(verdict != "rejected", why)
        flag = trust
        if verdict == "anomalous":
            flag = "anomalous"
            emit("anomaly", {"meter": meter_id, "timestamp": t, "index": indexes[k], "consumption": consumed,
                             "reason": why, "trust": trust, "by": caller(), "at": block_time()})
        window = window_at(vs, t - interval_seconds)
        record(st, sub, info, register, t, indexes[k], consumed, flag, window, pending, priced=True,
               interval=interval_seconds)
        total += consumed
    if pending is not None:
        charge_acc(storage_get(storage_key("ms/", [meter_id])), pending, day_start, last_ts,
                   meter_id + "@" + pad(day_start, TIME_PAD) + "/profile")
    emit("load_profile", {"meter": meter_id, "register": register, "day_start": day_start,
                          "interval_seconds": interval_seconds, "intervals": len(indexes) - 1,
                          "indexes": indexes, "previous": st0["ts"],
                          "consumption": total, "trust": trust, "by": caller(), "at": block_time()})
