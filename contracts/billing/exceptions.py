"""Reading exceptions (issue 12): why a meter was not read on a visit (no access, meter
broken, dangerous dog ...), recorded by its reader (the meter's data collector, a collector
of the utility, or its staff). The period stays unread, so it is estimated at the next
close by the estimate rule and trued up by the next actual reading, as any unread period is
(docs/tariffs.md); the estimated invoice names the exceptions of its period in lines of
amount 0, and each exception is counted in the operator figures (``activity``).

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

from billing.accounts import TIME_PAD, load_state, meter_info, save_state
from billing.pricing import line
from common.activity import bump_activity
from common.keys import storage_key
from common.roles import require_role
from common.text import pad

EXCEPTION_CODES = [
    "no_access",
    "premises_locked",
    "dangerous_dog",
    "unsafe_access",
    "refused_by_occupant",
    "meter_not_found",
    "meter_broken",
    "display_unreadable",
    "other",
]
READERS = ["collector", "operator", "admin"]  # besides the meter's own data collector
MAX_NOTE = 256
MAX_EXCEPTION_LINES = 31


def require_reader(info: dict) -> bytes:
    # The meter's data collector, or a collector or the staff of its utility.
    who = caller()
    if info["collector"] != b"" and who == info["collector"]:
        return who
    return require_role(info["utility"], READERS)


def check_note(note, required: bool) -> None:
    if not isinstance(note, str):
        revert(f"a note of at most {MAX_NOTE} characters expected, found no text")
    if len(note) > MAX_NOTE:
        revert(f"a note of at most {MAX_NOTE} characters expected, found {len(note)} characters")
    if required and len(note) == 0:
        revert("a note saying what happened expected for code other, found none")


def check_past_time(ts, what: str) -> None:
    if not (isinstance(ts, int) and not isinstance(ts, bool) and ts > 0 and ts <= block_time()):
        revert(f"a {what} not in the future (<= {block_time()}) expected, found {ts}")


@public
def record_reading_exception(meter_id: str, timestamp: int, code: str, note: str) -> dict:
    # A visit at `timestamp` that could not read the meter, and why.
    info = meter_info(meter_id)
    who = require_reader(info)
    if code not in EXCEPTION_CODES:
        revert(f"an exception code among {', '.join(EXCEPTION_CODES)} expected, found {code}")
    check_note(note, code == "other")
    check_past_time(timestamp, "visit time")
    st = load_state(meter_id, info)
    if not (timestamp > st["ts"]):
        revert(f"a visit after the last reading at {st['ts']} expected for meter {meter_id}, found {timestamp}")
    key = storage_key("rx/", [meter_id, pad(timestamp, TIME_PAD)])
    if storage_has(key):
        revert(f"one exception per meter and visit time expected, found a second one for {meter_id} at {timestamp}")
    save_state(st)
    now = block_time()
    rec = {"meter": meter_id, "timestamp": timestamp, "code": code, "note": note, "by": who, "at": now}
    storage_set(key, rec)
    bump_activity(info, "reading_exception")
    bump_activity(info, "reading_exception:" + code)
    emit("reading_exception", {"meter": meter_id, "timestamp": timestamp, "code": code, "note": note,
                               "since_reading": st["ts"], "by": who, "at": now})
    return rec


def exception_lines(meter_id: str, start: int, end: int) -> list:
    # Lines of amount 0 naming the exceptions recorded in (start, end], for an estimated
    # invoice (at most MAX_EXCEPTION_LINES; the rest are in reading_exceptions).
    prefix = storage_key("rx/", [meter_id, ""])
    out = []
    for k in storage_keys(prefix, prefix + pad(start, TIME_PAD), MAX_EXCEPTION_LINES):
        rec = storage_get(k)
        if rec["timestamp"] > end:
            break
        detail = rec["code"] + " at " + str(rec["timestamp"])
        if rec["note"] != "":
            detail = detail + ": " + rec["note"]
        out.append(line("reading_exception", 0, 0, 0, rec["timestamp"], detail))
    return out


@view
def reading_exceptions(meter_id: str, start_after: int = 0, limit: int = 100) -> list:
    # A meter's reading exceptions by visit time (after `start_after`).
    prefix = storage_key("rx/", [meter_id, ""])
    after = "" if start_after <= 0 else prefix + pad(start_after, TIME_PAD)
    out = []
    for k in storage_keys(prefix, after, min(limit, 1000)):
        out.append(storage_get(k))
    return out
