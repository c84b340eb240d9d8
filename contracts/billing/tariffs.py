"""Tariffs: their versions by effective date, the check of a tariff's format (docs/tariffs.md),
setting and assigning them, and the utility's billing configuration.

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import CONFIG_DEFAULTS, meter_info, save_state
from common.keys import storage_key
from common.roles import require_role
from common.text import show

MICRO = 1000000
BP = 10000
MAX_TIERS = 16
MAX_WINDOWS = 48
TARIFF_KEYS = ("standing_charge_per_day", "tiers", "tou", "utc_offset", "tax_bp")


def has_tariff(st: dict) -> bool:
    return st.get("tariff", "") != "" or storage_has(storage_key("assign/", [st["meter"]]))


def tariff_of(meter_id: str) -> list:
    a = storage_get(storage_key("assign/", [meter_id]))
    if a is None:
        revert(f"a tariff assigned to meter {meter_id} expected, found none")
    return a


def tariff_in(st: dict) -> str:
    # The meter's tariff id, kept in its billing state (assign_tariff updates both).
    t = st.get("tariff", "")
    if t == "":
        t = tariff_of(st["meter"])[1]
        st["tariff"] = t
    return t


def versions(utility_id: str, tariff_id: str) -> list:
    # storage_key("tariff/", [utility_id, tariff_id]) (common/keys.py) written out: read for
    # every reading, where a call to build the key costs more than the key.
    vs = storage_get("tariff/" + utility_id + "/" + tariff_id)
    if vs is None:
        revert(f"tariff {tariff_id} of utility {utility_id} expected, found none")
    return vs


def version_at(vs: list, t: int) -> int:
    # Index of the version in force at time t; the first version also covers earlier times.
    i = 0
    for j in range(1, len(vs)):
        if vs[j]["effective_from"] <= t:
            i = j
    return i


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
def set_tariff(utility_id: str, tariff_id: str, spec: dict, effective_from: int) -> None:
    require_role(utility_id, ["admin"])
    if not (len(tariff_id) > 0 and "/" not in tariff_id and "@" not in tariff_id):
        revert(f"a tariff id without / or @ expected, found {tariff_id}")
    check_spec(spec)
    if not (effective_from >= block_time()):
        revert(f"a tariff effective now or later (>= {block_time()}) expected, found {effective_from}: prices never change retroactively")
    key = storage_key("tariff/", [utility_id, tariff_id])
    vs = storage_get(key, [])
    if len(vs) > 0:
        last = vs[len(vs) - 1]["effective_from"]
        if not (effective_from > last):
            revert(f"a version effective after {last} expected for tariff {tariff_id}, found {effective_from}")
    vs.append({"effective_from": effective_from, "spec": spec, "by": caller(), "at": block_time()})
    storage_set(key, vs)
    emit("tariff_set", {"utility": utility_id, "tariff": tariff_id, "effective_from": effective_from,
                        "version": len(vs) - 1, "spec": spec, "by": caller(), "at": block_time()})


@public
def assign_tariff(meter_id: str, tariff_id: str) -> None:
    info = meter_info(meter_id)
    utility_id = info["utility"]
    require_role(utility_id, ["admin", "operator"])
    versions(utility_id, tariff_id)
    # A change of tariff closes nothing: the spans read from now on are priced at the new one;
    # what was accumulated keeps the tariff it was read under.
    storage_set(storage_key("assign/", [meter_id]), [utility_id, tariff_id])
    st = storage_get(storage_key("ms/", [meter_id]))
    if st is not None:
        st["tariff"] = tariff_id
        save_state(st)
    storage_set(storage_key("um/", [utility_id, meter_id]), True)
    emit("tariff_assigned", {"meter": meter_id, "utility": utility_id, "tariff": tariff_id,
                             "by": caller(), "at": block_time()})


@public
def set_billing_config(utility_id: str, cfg: dict) -> None:
    require_role(utility_id, ["admin"])
    for k in cfg.keys():
        if k not in CONFIG_DEFAULTS:
            revert(f"config keys among {', '.join(list(CONFIG_DEFAULTS.keys()))} expected, found {k}")
        if not (isinstance(cfg[k], int) and cfg[k] >= 0):
            revert(f"a non-negative int for {k} expected, found {show(cfg[k])}")
    if not (cfg.get("late_fee_bp", 0) <= BP):
        revert(f"late_fee_bp <= 10000 expected, found {cfg.get('late_fee_bp', 0)}")
    storage_set(storage_key("cfg/", [utility_id]), cfg)
    emit("billing_config", {"utility": utility_id, "config": cfg, "by": caller(), "at": block_time()})
