"""A meter's billing state (``ms/<meter>``) and a subscription's account of open invoices
and carried credit (``sb/<subscription id>``), the utility's billing configuration, and the
widths that make numbers in keys sort.

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.period_readings import start_period_readings, stop_period_readings
from common.keys import storage_key

TIME_PAD = 12
SEQ_PAD = 6
DAY_PAD = 8
CONFIG_DEFAULTS = {
    "due_days": 14,
    "late_fee_bp": 0,
    "late_fee_min": 0,
    "self_read_reward": 0,
    "self_read_penalty": 0,
    "self_read_window_days": 7,
    "estimate_per_day": 0,
}


def meter_info(meter_id: str) -> dict:
    info = call("registry", "meter", [meter_id])
    if info is None:
        revert(f"a registered meter expected, found no meter {meter_id}")
    return info


def config(utility_id: str) -> dict:
    cfg = storage_get(storage_key("cfg/", [utility_id]))
    out = {}
    for k in CONFIG_DEFAULTS.keys():
        out[k] = CONFIG_DEFAULTS[k]
    if cfg is not None:
        for k in cfg.keys():
            out[k] = cfg[k]
    return out


def load_state(meter_id: str, info: dict) -> dict:
    # The key of ``storage_key("ms/", [meter_id])`` (common/keys.py) written out here and in
    # save_state: they run for every reading, and a call to build it costs more than the key.
    st = storage_get("ms/" + meter_id)
    if st is not None:
        return st
    # First touch: the baseline is the meter's installation index and time.
    at = info["installed_at"]
    st = {
        "meter": meter_id,
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
    storage_set(storage_key("um/", [info["utility"], meter_id]), True)
    return st


def save_state(st: dict) -> None:
    storage_set("ms/" + st["meter"], st)  # storage_key("ms/", [meter]): see load_state


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
    if sub["mode"] == "postpaid":
        start_period_readings(st)
    else:
        stop_period_readings(st)
    emit("billing_started", {"meter": st["meter"], "subscription": sub["id"], "consumer": sub["consumer"],
                             "period_start": start, "last_reading_at": st["ts"], "last_index": st["index"],
                             "by": caller(), "at": block_time()})
    return True


def sub_account(sub_id: str, consumer: bytes) -> dict:
    # The open invoices (oldest first) and carried credit of one subscription.
    rec = storage_get(storage_key("sb/", [sub_id]))
    if rec is None:
        rec = {"subscription": sub_id, "consumer": consumer, "open": [], "carry": 0, "closed_at": 0}
    return rec


def save_sub_account(rec: dict) -> None:
    storage_set(storage_key("sb/", [rec["subscription"]]), rec)


def current_account(meter_id: str) -> dict:
    # The account of the meter's current subscription in the registry (active, pending, or
    # the last one terminated while the meter waits for the next); None if it never had one.
    sub = call("registry", "subscription", [meter_id])
    if sub is None:
        return None
    return sub_account(sub["id"], sub["consumer"])


def unpaid(acct: dict, overdue_at: int) -> int:
    # What the account's open invoices still owe; only those due before `overdue_at` if > 0.
    total = 0
    if acct is None:
        return 0
    for inv_id in acct["open"]:
        inv = storage_get(storage_key("inv/", [inv_id]))
        if overdue_at == 0 or inv["due"] < overdue_at:
            total += inv["total"] - inv["paid"]
    return total
