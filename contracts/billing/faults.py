"""Meter faults and tampering (issue 12): a record with its type, its source (the reader's
visit, the meter's own alarm registers as the adapters parse them, the use of an STS
clear-tamper token, the operator), its start and, once known, its end. Records stay in the
meter's history (``meter_faults``, events ``meter_fault`` and ``meter_fault_ended``); the
operator figures count them per day (``activity``: ``meter_fault``, ``meter_fault:<type>``,
``meter_fault_ended``) and the faults still open per utility, branch and field
(``open_fault_counts``).

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import SEQ_PAD, meter_info
from billing.exceptions import check_note, check_past_time, require_reader
from common.activity import bump_activity
from common.keys import storage_key
from common.records import scopes_of
from common.text import pad

FAULT_TYPES = [
    "tamper",
    "magnetic_tamper",
    "cover_open",
    "terminal_cover_open",
    "bypass",
    "reverse_flow",
    "meter_broken",
    "display_fault",
    "clock_fault",
    "communication_loss",
    "other",
]
FAULT_SOURCES = ["reader", "meter_alarm", "sts_clear_tamper", "operator"]


def check_source(source: str) -> None:
    if source not in FAULT_SOURCES:
        revert(f"a source among {', '.join(FAULT_SOURCES)} expected, found {source}")


def count_open(info: dict, fault_type: str, delta: int) -> None:
    for scope in scopes_of(info):
        key = storage_key("nf/", [scope])
        counts = storage_get(key, {})
        counts[fault_type] = counts.get(fault_type, 0) + delta
        storage_set(key, counts)


def fault_record(fault_id: str) -> dict:
    rec = storage_get(storage_key("flt/", [fault_id]))
    if rec is None:
        revert(f"a meter fault expected, found no fault {fault_id}")
    return rec


@public
def record_meter_fault(meter_id: str, fault_type: str, source: str, started_at: int, ended_at: int,
                       note: str) -> dict:
    # A fault or tamper of the meter from `started_at`; `ended_at` 0 while it lasts.
    info = meter_info(meter_id)
    who = require_reader(info)
    if fault_type not in FAULT_TYPES:
        revert(f"a fault type among {', '.join(FAULT_TYPES)} expected, found {fault_type}")
    check_source(source)
    check_note(note, fault_type == "other")
    check_past_time(started_at, "fault start")
    if ended_at != 0:
        check_past_time(ended_at, "fault end")
        if not (ended_at >= started_at):
            revert(f"a fault end at or after its start {started_at} expected, found {ended_at}")
    open_key = storage_key("flo/", [meter_id])
    open_faults = storage_get(open_key, {})
    if ended_at == 0 and open_faults.get(fault_type, None) is not None:
        revert(f"one open {fault_type} fault per meter expected, found {open_faults[fault_type]} still open on {meter_id}")
    n_key = storage_key("fln/", [meter_id])
    n = storage_get(n_key, 0) + 1
    storage_set(n_key, n)
    fault_id = meter_id + "/F" + pad(n, SEQ_PAD)
    now = block_time()
    rec = {"id": fault_id, "meter": meter_id, "type": fault_type, "source": source, "started_at": started_at,
           "ended_at": ended_at, "note": note, "by": who, "at": now, "ended_by": b"" if ended_at == 0 else who,
           "end_source": "" if ended_at == 0 else source, "end_note": ""}
    storage_set(storage_key("flt/", [fault_id]), rec)
    if ended_at == 0:
        open_faults[fault_type] = fault_id
        storage_set(open_key, open_faults)
        count_open(info, fault_type, 1)
    bump_activity(info, "meter_fault")
    bump_activity(info, "meter_fault:" + fault_type)
    if ended_at != 0:
        bump_activity(info, "meter_fault_ended")
    emit("meter_fault", {"id": fault_id, "meter": meter_id, "type": fault_type, "source": source,
                         "started_at": started_at, "ended_at": ended_at, "note": note, "by": who, "at": now})
    return rec


@public
def end_meter_fault(fault_id: str, ended_at: int, source: str, note: str) -> dict:
    # The end of an open fault: the repair, the alarm cleared, the clear-tamper token used.
    rec = fault_record(fault_id)
    info = meter_info(rec["meter"])
    who = require_reader(info)
    check_source(source)
    check_note(note, False)
    if rec["ended_at"] != 0:
        revert(f"an open fault expected, found {fault_id} ended at {rec['ended_at']}")
    check_past_time(ended_at, "fault end")
    if not (ended_at >= rec["started_at"]):
        revert(f"a fault end at or after its start {rec['started_at']} expected, found {ended_at}")
    now = block_time()
    rec["ended_at"] = ended_at
    rec["ended_by"] = who
    rec["end_source"] = source
    rec["end_note"] = note
    storage_set(storage_key("flt/", [fault_id]), rec)
    open_key = storage_key("flo/", [rec["meter"]])
    open_faults = storage_get(open_key, {})
    open_faults.pop(rec["type"], None)
    storage_set(open_key, open_faults)
    count_open(info, rec["type"], -1)
    bump_activity(info, "meter_fault_ended")
    emit("meter_fault_ended", {"id": fault_id, "meter": rec["meter"], "type": rec["type"], "source": source,
                               "started_at": rec["started_at"], "ended_at": ended_at, "note": note, "by": who,
                               "at": now})
    return rec


@view
def meter_faults(meter_id: str, start_after: str = "", limit: int = 100) -> list:
    # A meter's faults in the order they were recorded (ids "<meter>/F<seq>").
    prefix = storage_key("flt/", [meter_id, ""])
    after = "" if start_after == "" else storage_key("flt/", [start_after])
    out = []
    for k in storage_keys(prefix, after, min(limit, 1000)):
        out.append(storage_get(k))
    return out


@view
def open_fault_counts(scope: str) -> dict:
    # Faults still open in a utility, branch or field, by type.
    return storage_get(storage_key("nf/", [scope]), {})
