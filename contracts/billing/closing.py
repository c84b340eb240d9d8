"""The end of a subscription or of a meter: the final reading and the final bill, and a
meter replaced by another.

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import (
    adopt,
    config,
    load_state,
    meter_info,
    save_state,
)
from billing.final_bill import settle_account
from billing.invoices import estimated_units
from billing.period_readings import stop_period_readings
from billing.readings import consumption_of, record
from billing.tariffs import has_tariff
from common.keys import storage_key


def final_reading(st: dict, sub: dict, info: dict, now: int, final_index: int) -> int:
    # The closing reading of a subscription or of a replaced meter, at block time; returns
    # its billed units. Without a tariff the reading is recorded but cannot be priced: its
    # consumption is reported with `unpriced_final_reading` for the utility to bill by hand,
    # so that ending a subscription or replacing a meter is never blocked by a missing tariff.
    consumed, verdict, why = consumption_of(info, st, now, final_index)
    require(verdict != "rejected", why)
    t0 = st["ts"]
    priced = has_tariff(st)
    billed = record(st, sub, info, st["register"], now, final_index, consumed, "final", window=-1, pending=None, priced=priced)
    emit("reading", {"meter": st["meter"], "register": st["register"], "timestamp": now, "index": final_index,
                     "previous": t0, "consumption": consumed, "trust": "final", "raw_hash": b"", "by": caller(),
                     "at": now})
    if not priced and billed > 0:
        emit("unpriced_final_reading", {"meter": st["meter"], "subscription": st["sub"],
                                        "consumer": sub["consumer"], "period_start": max(t0, st["opened"]),
                                        "period_end": now, "index": final_index, "consumption": billed,
                                        "reason": f"a tariff assigned to meter {st['meter']} expected, found none",
                                        "by": caller(), "at": now})
    return billed


def final_counts(st: dict, info: dict, now: int, final_index: int) -> list:
    # [whether a consumer's own final index counts, why not]. It counts as a consumer reading
    # does, within the plausibility rules, and one more that a final reading needs: no later
    # reading of theirs will catch up an index read low, so it must show at least what the
    # meter's own history predicts for the span (the estimate rule of estimated invoices).
    consumed, verdict, why = consumption_of(info, st, now, final_index)
    if verdict != "ok":
        return [False, why]
    expected = estimated_units(st, config(st["utility"]), now - st["ts"])
    if consumed < expected:
        return [False, f"at least the {expected} the history of meter {st['meter']} predicts since {st['ts']} expected, found {consumed}"]
    return [True, ""]


@public
def close_account(meter_id: str, final_index: int, trust: str) -> bool:
    # The final reading and final invoice of a subscription (terminate, move out); `trust`
    # is who gave the final index, as the registry checked: "operator" (the utility's staff)
    # or "consumer". Returns True when the account is closed; False when a consumer's index
    # does not count (final_counts), so the final bill waits for the utility's next trusted
    # reading (final_bill.settle_awaited_final), and the subscription stays active until then.
    if caller() != b"contract:registry":
        revert(f"a call from contract registry expected, found {bytes_hex(caller())}")
    if trust != "operator" and trust != "consumer":
        revert(f"trust operator or consumer expected, found {trust}")
    info = meter_info(meter_id)
    sub = call("registry", "subscription", [meter_id])
    if sub is None or sub["status"] != "active":
        revert(f"an active subscription on meter {meter_id} expected, found none")
    st = load_state(meter_id, info)
    adopt(st, sub)
    now = block_time()
    billed = 0
    if now > st["ts"]:
        if trust == "consumer":
            counts, why = final_counts(st, info, now, final_index)
            if not counts:
                st["closing"] = {"subscription": sub["id"], "claimed_index": final_index, "at": now}
                save_state(st)
                emit("final_reading_awaited", {"meter": meter_id, "subscription": sub["id"],
                                               "consumer": sub["consumer"], "claimed_index": final_index,
                                               "reason": why, "by": caller(), "at": now})
                return False
        billed = final_reading(st, sub, info, now, final_index)
    else:
        if final_index != st["index"]:
            revert(f"final index {st['index']} (read at {now}) expected for {meter_id}, found {final_index}")
        save_state(st)
    settle_account(meter_id, sub, billed, final_index, now)
    return True


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
        st = storage_get(storage_key("ms/", [old]))
    # The old meter keeps its last reading but hands its open span to the new one (the
    # subscription's invoices are the subscription's, wherever its meter is).
    storage_set(storage_key("ms/", [old]), {"meter": old, "utility": st["utility"], "scope": st["scope"],
                              "register": st["register"], "index": st["index"], "ts": st["ts"],
                              "trust": st["trust"], "span_start": st["ts"], "est_start": st["ts"],
                              "acc": {}, "estimates": [], "hist_units": 0, "hist_seconds": 0,
                              "seq": st["seq"], "sub": "", "opened": 0, "unbilled": st["unbilled"],
                              "replaced_by": new})
    st["meter"] = new
    stop_period_readings(st)
    st["index"] = new_initial_index
    st["ts"] = now
    st["register"] = ""
    st["unbilled"] = 0
    storage_set(storage_key("ms/", [new]), st)
    storage_set(storage_key("um/", [st["utility"], new]), True)
    storage_delete(storage_key("um/", [st["utility"], old]))
    a = storage_get(storage_key("assign/", [old]))
    if a is not None:
        storage_set(storage_key("assign/", [new]), a)
    emit("meter_replaced", {"old": old, "new": new, "old_final_index": old_final_index,
                            "new_initial_index": new_initial_index, "by": caller(), "at": now})
