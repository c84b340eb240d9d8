"""Meters: registration, activation, deactivation, changes and replacement, and the scope
index that lists the meters of a utility, branch or field.

A contract module (docs/contract-language.md, "Modules"): compiled into the registry contract,
never imported as Python.
"""

from common.activity import bump_activity
from common.keys import storage_key
from common.text import shape
from registry.checks import require_id, require_int, require_text
from registry.records import BILLING, load_meter, load_utility, scope_prefix
from registry.roles import holds, require_role

MAX_DIGITS = 12


def new_meter(meter_id: str, field_id: str, premises: str, multiplier: int, digits: int,
              max_rate: int, initial_index: int, public_key: bytes, collector: bytes,
              status: str, replaces: str) -> dict:
    require_id(meter_id, "meter id", allow_slash=False)
    require(not storage_has(storage_key("m/", [meter_id])), f"a new meter id expected, found meter '{meter_id}' already registered")
    fld = storage_get(storage_key("f/", [field_id]))
    require(fld is not None, f"registered field expected, found no field '{field_id}'")
    u = load_utility(fld["utility"])
    require_text(premises, "premises")
    require_int(multiplier, "multiplier", 1, 1000000)
    require_int(digits, "register digits", 1, MAX_DIGITS)
    require_int(max_rate, "max_rate", 1, 10**15)
    require_int(initial_index, "initial index", 0, 10**digits - 1)
    require(isinstance(public_key, bytes) and (len(public_key) == 0 or len(public_key) == 32),
            f"meter public key: empty or 32 bytes expected, found {shape(public_key)}")
    require(isinstance(collector, bytes) and (len(collector) == 0 or len(collector) == 32),
            f"collector: empty or a 32-byte account expected, found {shape(collector)}")
    if len(collector) == 32:
        hexkey = bytes_hex(collector)
        require(holds(collector, fld["utility"], "collector"),
                f"collector: an account with role collector expected, found {hexkey} without it")
    now = block_time()
    m = {
        "id": meter_id,
        "utility": fld["utility"],
        "branch": fld["branch"],
        "field": field_id,
        "commodity": u["commodity"],
        "unit": u["unit"],
        "multiplier": multiplier,
        "digits": digits,
        "max_rate": max_rate,
        "public_key": public_key,
        "collector": collector,
        "premises": premises,
        "status": status,
        "initial_index": initial_index,
        "installed_at": now,
        "replaces": replaces,
        "replaced_by": "",
        "final_index": None,
        "by": caller(),
        "at": now,
    }
    storage_set(storage_key("m/", [meter_id]), m)
    storage_set(storage_key("ix/", [field_id, meter_id]), True)
    bump_activity(m, "meters_registered")
    emit("meter_registered", {"meter": meter_id, "utility": m["utility"], "field": field_id,
                              "premises": premises, "multiplier": multiplier, "digits": digits,
                              "max_rate": max_rate, "initial_index": initial_index,
                              "public_key": public_key, "collector": collector,
                              "status": status, "by": caller(), "at": now})
    return m


@public
def register_meter(meter_id: str, field_id: str, premises: str, multiplier: int, digits: int,
                   max_rate: int, initial_index: int, public_key: bytes, collector: bytes) -> None:
    require_id(field_id, "field id", allow_slash=True)
    fld = storage_get(storage_key("f/", [field_id]))
    require(fld is not None, f"registered field expected, found no field '{field_id}'")
    require_role(fld["utility"], ["admin"])
    new_meter(meter_id, field_id, premises, multiplier, digits, max_rate, initial_index,
              public_key, collector, "registered", "")


@public
def activate_meter(meter_id: str) -> None:
    m = load_meter(meter_id)
    who = require_role(m["utility"], ["operator", "admin"])
    status = m["status"]
    require(status == "registered" or status == "inactive",
            f"meter {meter_id} registered or inactive expected, found {status}")
    m["status"] = "active"
    m["by"] = who
    m["at"] = block_time()
    storage_set(storage_key("m/", [meter_id]), m)
    emit("meter_activated", {"meter": meter_id, "by": who, "at": block_time()})


@public
def deactivate_meter(meter_id: str, reason: str) -> None:
    m = load_meter(meter_id)
    who = require_role(m["utility"], ["operator", "admin"])
    require_text(reason, "reason")
    require(m["status"] == "active", f"meter {meter_id} active expected, found {m['status']}")
    sub = storage_get(storage_key("s/", [meter_id]))
    if sub is not None:
        status = sub["status"]
        require(status == "terminated",
                f"meter {meter_id} without an open subscription expected, found one {status}")
    m["status"] = "inactive"
    m["by"] = who
    m["at"] = block_time()
    storage_set(storage_key("m/", [meter_id]), m)
    emit("meter_deactivated", {"meter": meter_id, "reason": reason, "by": who, "at": block_time()})


@public
def update_meter(meter_id: str, changes: dict) -> None:
    # Key rotation of a smart meter, a new data collector, or a corrected plausibility limit.
    m = load_meter(meter_id)
    who = require_role(m["utility"], ["admin"])
    require(isinstance(changes, dict), f"changes: a map expected, found {shape(changes)}")
    require(m["status"] != "replaced", f"meter {meter_id} in service expected, found it replaced")
    for key in changes.keys():
        require(key in ["public_key", "collector", "max_rate"],
                f"change of public_key, collector or max_rate expected, found '{key}'")
    if "public_key" in changes:
        pk = changes["public_key"]
        require(isinstance(pk, bytes) and (len(pk) == 0 or len(pk) == 32),
                f"meter public key: empty or 32 bytes expected, found {shape(pk)}")
        m["public_key"] = pk
    if "collector" in changes:
        col = changes["collector"]
        require(isinstance(col, bytes) and (len(col) == 0 or len(col) == 32),
                f"collector: empty or a 32-byte account expected, found {shape(col)}")
        if len(col) == 32:
            require(holds(col, m["utility"], "collector"),
                    f"collector: an account with role collector expected, found {bytes_hex(col)} without it")
        m["collector"] = col
    if "max_rate" in changes:
        require_int(changes["max_rate"], "max_rate", 1, 10**15)
        m["max_rate"] = changes["max_rate"]
    m["by"] = who
    m["at"] = block_time()
    storage_set(storage_key("m/", [meter_id]), m)
    emit("meter_updated", {"meter": meter_id, "changes": changes, "by": who, "at": block_time()})


@public
def replace_meter(old_meter_id: str, new_meter_id: str, multiplier: int, digits: int,
                  max_rate: int, public_key: bytes, collector: bytes, old_final_index: int,
                  new_initial_index: int) -> None:
    # The new meter takes the old one's place (same field and premises) and its open
    # subscription; billing then settles the old meter's last consumption and starts the new
    # meter's register at its initial index.
    old = load_meter(old_meter_id)
    who = require_role(old["utility"], ["operator", "admin"])
    status = old["status"]
    require(status == "active" or status == "inactive",
            f"meter {old_meter_id} active or inactive expected, found {status}")
    require_int(old_final_index, "old meter final index", 0, 10**old["digits"] - 1)
    new_meter(new_meter_id, old["field"], old["premises"], multiplier, digits, max_rate,
              new_initial_index, public_key, collector, status, old_meter_id)
    now = block_time()
    old["status"] = "replaced"
    old["replaced_by"] = new_meter_id
    old["final_index"] = old_final_index
    old["by"] = who
    old["at"] = now
    storage_set(storage_key("m/", [old_meter_id]), old)
    sub = storage_get(storage_key("s/", [old_meter_id]))
    moved = ""
    if sub is not None and sub["status"] != "terminated":
        # The subscription keeps its id and history; only its meter changes.
        moved = sub["id"]
        storage_delete(storage_key("s/", [old_meter_id]))
        storage_delete(storage_key("c/", [bytes_hex(sub["consumer"]), old_meter_id]))
        sub["meter"] = new_meter_id
        storage_set(storage_key("s/", [new_meter_id]), sub)
        storage_set(storage_key("c/", [bytes_hex(sub["consumer"]), new_meter_id]), sub["id"])
        storage_set(storage_key("sn/", [new_meter_id]), int(sub["id"].split("#")[1]))
    bump_activity(old, "meters_replaced")
    emit("meter_replaced", {"old": old_meter_id, "new": new_meter_id,
                            "old_final_index": old_final_index,
                            "new_initial_index": new_initial_index, "subscription": moved,
                            "by": who, "at": now})
    call(BILLING, "meter_replaced", [old_meter_id, new_meter_id, old_final_index, new_initial_index])


@view
def meter(meter_id: str):
    return current_meter(meter_id)


@view
def meter_for_reading(meter_id: str, trust: str) -> list:
    # [meter, subscription]: what `meter` and `subscription` return, in one call. Billing
    # reads both for every reading, and a call between contracts costs more than the two
    # records (a frame, the arguments and the returned value weighed and copied). The
    # collector's authority decides only a collector's reading (trust "collector"): it is
    # read for that one alone; for another, `collector` is the meter's as registered.
    # The keys are storage_key("m/", [meter_id]) and ("s/", [meter_id]) (common/keys.py),
    # written out here and in current_meter: a call to build a key costs more than the key.
    return [current_meter(meter_id, trust == "collector"), storage_get("s/" + meter_id)]


def current_meter(meter_id: str, authority: bool = True):
    m = storage_get("m/" + meter_id)  # storage_key("m/", [meter_id]), see meter_for_reading
    # Authority is read at the moment of use: a collector whose role was revoked no longer
    # speaks for the meter (billing accepts collector readings from `collector` only).
    if authority and m is not None and len(m["collector"]) == 32 and not holds(m["collector"], m["utility"], "collector"):
        m["collector"] = b""
        m["collector_revoked"] = True
    return m


@view
def meters_in(scope: str, start_after: str = "", limit: int = 100) -> list:
    # Meter ids of a utility, branch or field, in key order; `start_after` is a meter id
    # returned by the previous page.
    prefix = scope_prefix(scope)
    after = ""
    if start_after != "":
        m = storage_get(storage_key("m/", [start_after]))
        require(m is not None, f"start_after: a registered meter expected, found '{start_after}'")
        after = storage_key("ix/", [m["field"], start_after])
    out = []
    for key in storage_keys(prefix, after, limit):
        parts = key.split("/")
        out.append(parts[len(parts) - 1])
    return out
