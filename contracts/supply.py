# supply — the state of each meter's supply (connected, disconnected, load-limited) and the
# consumer protections that every disconnection order must pass; dunning.
#
# This file is a contract source for the meterchain VM (docs/contract-language.md): it is
# compiled and deployed in genesis, never imported as a Python module.
#
# A disconnection order is the harshest thing the chain can do to a household, so every
# order, whoever asks for it (an operator, or the payments / billing contracts), goes
# through one gate, `blocking_reason`, which refuses it:
#   - when the subscriber is flagged as protected (registry),
#   - during friendly hours: outside the utility's working window, on weekends and on the
#     utility's holidays (optionally also on the eve of a non-working day),
#   - while a payment of the meter is being reversed (payments.reversal_pending),
#   - unless a real-time arrears check, made in the same transaction, finds money owed:
#     postpaid: billing.arrears(meter) > 0; prepaid: payments.credit(meter) <= 0.
# The order records its reason and the arrears found.
#
# Storage layout:
#   gov                    governance account
#   rules/<utility>        protection rules (defaults below until an admin sets them)
#   st/<meter>             supply status record (absent = connected)
#   on/<meter>             number of orders issued for the meter
#   o/<meter>/<seq>        each order (disconnect, load limit, reconnect), for the audit
#   n/<scope>              counts of meters disconnected / load-limited per utility, branch, field
#   rem/<meter>            time of the last reminder
#   a/<scope>#<day>        orders, deferrals and reminders per scope and UTC day

from common.activity import activity, bump_activity
from common.keys import storage_key
from common.records import copy
from common.roles import require_role
from common.text import pad, shape
from common.time import SECONDS_PER_DAY

REGISTRY = "registry"
BILLING = "billing"
PAYMENTS = "payments"
CONTRACT_CALLERS = [b"contract:payments", b"contract:billing"]
STAFF = ["operator", "admin"]  # who gives orders, in the order their roles are checked
MINUTES_PER_DAY = 1440
MAX_OFFSET = 14 * 3600
MAX_HOLIDAYS = 400
MAX_REASON_LEN = 256
ORDER_WIDTH = 6
MAX_OFFSET_CHANGES = 400  # two daylight-saving changes a year for two centuries
RULE_KEYS = ["utc_offset", "offset_changes", "start_minute", "end_minute", "weekends_off", "eve_off", "holidays"]
# Until a utility sets its own: disconnections only 08:00-17:00 UTC on weekdays.
DEFAULT_RULES = {
    "utc_offset": 0,
    "offset_changes": [],
    "start_minute": 480,
    "end_minute": 1020,
    "weekends_off": True,
    "eve_off": False,
    "holidays": [],
}
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def require_reason(reason) -> None:
    require(isinstance(reason, str) and len(reason) > 0 and len(reason) <= MAX_REASON_LEN,
            f"a reason of 1 to {MAX_REASON_LEN} characters expected, found {shape(reason)}")


def load_meter(meter_id: str) -> dict:
    require(isinstance(meter_id, str), f"meter id: text expected, found {shape(meter_id)}")
    m = call(REGISTRY, "meter", [meter_id])
    require(m is not None, f"registered meter expected, found no meter '{meter_id}'")
    return m


def require_staff_or_contract(utility_id: str) -> bytes:
    # Orders come from the utility's staff, or from the payments and billing contracts acting
    # on credit exhaustion / unpaid invoices.
    who = caller()
    if who in CONTRACT_CALLERS:
        return who
    return require_role(utility_id, STAFF)


def rules_of(utility_id: str) -> dict:
    return storage_get(storage_key("rules/", [utility_id]), DEFAULT_RULES)


def status_of(meter_id: str) -> dict:
    return storage_get(storage_key("st/", [meter_id]), {"meter": meter_id, "status": "connected", "since": 0,
                                          "reason": "", "watts": 0, "arrears": 0,
                                          "for_arrears": False, "by": b"", "at": 0})


def clock(minute: int) -> str:
    return pad(div_floor(minute, 60), 2) + ":" + pad(minute % 60, 2)


def offset_at(rules: dict, t: int) -> int:
    # The offset in force at unix time `t`: that of the last change effective at or before
    # `t` (changes are in ascending order of their UTC start), else the base `utc_offset`.
    # A binary search, so a table of decades of daylight-saving changes costs a few steps.
    changes = rules.get("offset_changes", [])
    lo = 0
    hi = len(changes)
    while lo < hi:
        mid = div_floor(lo + hi, 2)
        if changes[mid][0] <= t:
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return rules["utc_offset"]
    return changes[lo - 1][1]


def check_offset(offset, what: str) -> None:
    require(isinstance(offset, int) and -MAX_OFFSET <= offset and offset <= MAX_OFFSET,
            f"{what} in seconds within +-{MAX_OFFSET} expected, found {shape(offset)}")


def check_offset_changes(changes) -> None:
    # [[effective from (unix time, UTC), offset in seconds], ...], strictly ascending in time,
    # so every instant has exactly one offset: in the hour that repeats when clocks go back,
    # the UTC time still tells which of the two local hours it is.
    require(isinstance(changes, list) and len(changes) <= MAX_OFFSET_CHANGES,
            f"offset_changes: a list of at most {MAX_OFFSET_CHANGES} [from, offset] pairs expected, "
            f"found {shape(changes)}")
    previous = -1
    for change in changes:
        require(isinstance(change, list) and len(change) == 2 and isinstance(change[0], int),
                f"offset change: [from unix time, offset seconds] expected, found {shape(change)}")
        require(change[0] > previous,
                f"offset changes in strictly ascending order of time expected, found {change[0]} after {previous}")
        check_offset(change[1], "offset change's offset")
        previous = change[0]


def friendly_reason(rules: dict, t: int) -> str:
    # Why time `t` is protected from disconnection under `rules`, or "" when it is not.
    local = t + offset_at(rules, t)
    day = div_floor(local, SECONDS_PER_DAY)
    minute = div_floor(local - day * SECONDS_PER_DAY, 60)
    weekday = (day + 3) % 7  # day 0 (1970-01-01) was a Thursday; Monday is 0
    where = f"local {clock(minute)} on {WEEKDAYS[weekday]}, day {day}"
    if day in rules["holidays"]:
        return "friendly hours: holiday (" + where + ")"
    if rules["weekends_off"] and weekday >= 5:
        return "friendly hours: weekend (" + where + ")"
    if minute < rules["start_minute"] or minute >= rules["end_minute"]:
        window = clock(rules["start_minute"]) + "-" + clock(rules["end_minute"])
        return "friendly hours: outside " + window + " (" + where + ")"
    if rules["eve_off"]:
        tomorrow_off = (day + 1) in rules["holidays"] or (rules["weekends_off"] and weekday == 4)
        if tomorrow_off:
            return "friendly hours: eve of a non-working day (" + where + ")"
    return ""


def arrears_check(m: dict, sub: dict) -> dict:
    # The real-time arrears check, made in the transaction that would order the
    # disconnection: never on a cached figure.
    meter_id = m["id"]
    if sub["mode"] == "prepaid":
        credit = call(PAYMENTS, "credit", [meter_id])
        owed = 0
        if credit < 0:
            owed = -credit
        return {"owes": credit <= 0, "arrears": owed, "balance": credit, "oldest_due": 0,
                "check": f"prepaid credit {credit}"}
    # Postpaid: billing's arrears rule, the unpaid part of the current subscription's
    # invoices past due (a new tenant is never cut off for the debt of the one who moved out).
    arrears = call(BILLING, "arrears", [meter_id])
    oldest = 0
    if arrears > 0:
        oldest = call(BILLING, "oldest_due", [meter_id])
    return {"owes": arrears > 0, "arrears": arrears, "balance": -arrears, "oldest_due": oldest,
            "check": f"postpaid arrears {arrears}"}


def blocking_reason(m: dict, sub, check: dict) -> str:
    # Every rule a disconnection order must pass; "" when none blocks it.
    meter_id = m["id"]
    if sub is None or sub["status"] != "active":
        return f"an active subscription on meter {meter_id} expected, found none"
    if sub["protected"]:
        return f"meter {meter_id} serves a protected customer: no disconnection"
    friendly = friendly_reason(rules_of(m["utility"]), block_time())
    if friendly != "":
        return friendly
    if call(PAYMENTS, "reversal_pending", [meter_id]):
        return f"a payment reversal is pending on meter {meter_id}: no disconnection"
    if not check["owes"]:
        if sub["mode"] == "prepaid":
            balance = check["balance"]
            return f"prepaid credit <= 0 expected for disconnection, found {balance}"
        return f"postpaid arrears > 0 expected for disconnection, found {check['arrears']}"
    return ""


def count(m: dict, status: str, delta: int) -> None:
    if status == "connected":
        return
    for scope in [m["utility"], m["branch"], m["field"]]:
        key = storage_key("n/", [scope])
        counts = storage_get(key, {})
        counts[status] = counts.get(status, 0) + delta
        storage_set(key, counts)


def record_order(m: dict, kind: str, status: str, reason: str, watts: int, arrears: int,
                 for_arrears: bool) -> dict:
    # One place changes a meter's supply status: it keeps the counters, the order log and the
    # status record in step.
    meter_id = m["id"]
    old = status_of(meter_id)
    now = block_time()
    count(m, old["status"], delta=-1)
    count(m, status, 1)
    seq = storage_get(storage_key("on/", [meter_id]), 0) + 1
    storage_set(storage_key("on/", [meter_id]), seq)
    order = {"seq": seq, "meter": meter_id, "kind": kind, "status": status, "reason": reason,
             "watts": watts, "arrears": arrears, "by": caller(), "at": now}
    storage_set(storage_key("o/", [meter_id, pad(seq, ORDER_WIDTH)]), order)
    bump_activity(m, kind)
    since = now
    if old["status"] == status:
        since = old["since"]
    new = {"meter": meter_id, "status": status, "since": since, "reason": reason,
           "watts": watts, "arrears": arrears, "for_arrears": for_arrears, "by": caller(),
           "at": now}
    if status == "connected":
        storage_delete(storage_key("st/", [meter_id]))
    else:
        storage_set(storage_key("st/", [meter_id]), new)
    return new


def disconnect(m: dict, sub: dict, reason: str, check: dict) -> None:
    meter_id = m["id"]
    record_order(m, "disconnect", "disconnected", reason, 0, check["arrears"], for_arrears=True)
    emit("disconnect_order", {"meter": meter_id, "consumer": sub["consumer"], "mode": sub["mode"],
                              "reason": reason, "arrears": check["arrears"],
                              "balance": check["balance"], "by": caller(), "at": block_time()})


def reconnect(m: dict, reason: str) -> None:
    record_order(m, "reconnect", "connected", reason, 0, 0, for_arrears=False)
    emit("reconnect_order", {"meter": m["id"], "reason": reason, "by": caller(), "at": block_time()})


def dunning_scope(utility_id: str, scope: str) -> str:
    require(isinstance(scope, str), f"scope: a branch or field id expected, found {shape(scope)}")
    if scope == "" or scope == utility_id:
        return utility_id
    require(scope.startswith(utility_id + "/"),
            f"scope: a branch or field of utility {utility_id} expected, found '{scope}'")
    return scope


def debtors(utility_id: str, scope: str, start_after: str, limit: int, want: int) -> list:
    # [entries, next]: subscriptions of the scope that owe money, scanning registry pages
    # until `want` are found or the scope is exhausted; `next` continues a later scan.
    entries = []
    cursor = start_after
    while True:
        page = call(REGISTRY, "subscriptions_in", [dunning_scope(utility_id, scope), cursor, limit])
        for sub in page[0]:
            if sub["status"] == "active":
                m = {"id": sub["meter"]}
                check = arrears_check(m, sub)
                if check["arrears"] > 0:
                    entries.append({"meter": sub["meter"], "consumer": sub["consumer"],
                                    "mode": sub["mode"], "arrears": check["arrears"],
                                    "oldest_due": check["oldest_due"],
                                    "reminded_at": storage_get(storage_key("rem/", [sub["meter"]]), 0)})
        cursor = page[1]
        if cursor == "" or len(entries) >= want:
            return [entries, cursor]
    return [entries, ""]


@public
def init() -> None:
    require(not storage_has("gov"), "supply: first init expected, found it already initialised")
    storage_set("gov", caller())
    emit("supply_initialised", {"governance": caller(), "by": caller(), "at": block_time()})


@public
def set_protection_rules(utility_id: str, rules: dict) -> None:
    # Keys absent from `rules` keep their current value.
    u = call(REGISTRY, "utility", [utility_id])
    require(u is not None, f"registered utility expected, found no utility '{utility_id}'")
    who = require_role(utility_id, ["admin"])
    require(isinstance(rules, dict), f"rules: a map expected, found {shape(rules)}")
    new = copy(rules_of(utility_id))
    for key in rules.keys():
        require(key in RULE_KEYS, f"rule among {', '.join(RULE_KEYS)} expected, found '{key}'")
        new[key] = rules[key]
    check_offset(new["utc_offset"], "utc_offset")
    check_offset_changes(new.get("offset_changes", []))
    start = new["start_minute"]
    end = new["end_minute"]
    require(isinstance(start, int) and isinstance(end, int),
            f"start_minute and end_minute as integers expected, found {shape(start)} and {shape(end)}")
    require(0 <= start and start < end and end <= MINUTES_PER_DAY,
            f"0 <= start_minute < end_minute <= {MINUTES_PER_DAY} expected, found {start} and {end}")
    require(isinstance(new["weekends_off"], bool), f"weekends_off: a bool expected, found {shape(new['weekends_off'])}")
    require(isinstance(new["eve_off"], bool), f"eve_off: a bool expected, found {shape(new['eve_off'])}")
    holidays = new["holidays"]
    require(isinstance(holidays, list) and len(holidays) <= MAX_HOLIDAYS,
            f"holidays: a list of at most {MAX_HOLIDAYS} day numbers expected, found {shape(holidays)}")
    for day in holidays:
        require(isinstance(day, int) and day >= 0,
                f"holiday: a day number (local unix time // 86400) expected, found {shape(day)}")
    new["by"] = who
    new["at"] = block_time()
    storage_set(storage_key("rules/", [utility_id]), new)
    emit("protection_rules_set", {"utility": utility_id, "rules": new, "by": who, "at": block_time()})


@public
def request_disconnect(meter_id: str, reason: str) -> None:
    m = load_meter(meter_id)
    require_staff_or_contract(m["utility"])
    require_reason(reason)
    current = status_of(meter_id)
    require(current["status"] != "disconnected",
            f"meter {meter_id} connected or load-limited expected, found it disconnected")
    sub = call(REGISTRY, "subscription", [meter_id])
    require(sub is not None and sub["status"] == "active",
            f"an active subscription on meter {meter_id} expected, found none")
    check = arrears_check(m, sub)
    blocked = blocking_reason(m, sub, check)
    require(blocked == "", "disconnection refused: " + blocked)
    disconnect(m, sub, reason, check)


@public
def try_disconnect(meter_id: str, reason: str) -> bool:
    # For contracts that must not revert their own transaction (a prepaid charge must be
    # recorded even when the disconnection it triggers is not allowed now): the same rules,
    # but a refusal is an event, `disconnect_deferred`, and a False result. A meter already
    # disconnected returns False without an event.
    who = caller()
    require(who in CONTRACT_CALLERS,
            f"caller contract payments or billing expected, found {shape(who)}")
    m = load_meter(meter_id)
    require_reason(reason)
    if status_of(meter_id)["status"] == "disconnected":
        return False
    sub = call(REGISTRY, "subscription", [meter_id])
    check = {"owes": False, "arrears": 0, "balance": 0, "oldest_due": 0, "check": "no subscription"}
    if sub is not None and sub["status"] == "active":
        check = arrears_check(m, sub)
    blocked = blocking_reason(m, sub, check)
    if blocked != "":
        bump_activity(m, "deferred")
        emit("disconnect_deferred", {"meter": meter_id, "reason": reason,
                                     "reason_blocked": blocked, "by": who, "at": block_time()})
        return False
    disconnect(m, sub, reason, check)
    return True


@public
def set_load_limit(meter_id: str, watts: int, reason: str) -> None:
    # The milder alternative to disconnection: supply continues up to `watts`. It is not
    # subject to friendly hours (the household keeps power), but it is recorded whether
    # money was owed when it was ordered: only such a limit is lifted by a payment.
    m = load_meter(meter_id)
    require_staff_or_contract(m["utility"])
    require_reason(reason)
    require(isinstance(watts, int) and watts > 0 and watts <= 10**9,
            f"a load limit of 1 to {10**9} watts expected, found {shape(watts)}")
    sub = call(REGISTRY, "subscription", [meter_id])
    require(sub is not None and sub["status"] == "active",
            f"an active subscription on meter {meter_id} expected, found none")
    check = arrears_check(m, sub)
    record_order(m, "load_limit", "load_limited", reason, watts, check["arrears"], check["owes"])
    emit("load_limit_order", {"meter": meter_id, "watts": watts, "reason": reason,
                              "arrears": check["arrears"], "by": caller(), "at": block_time()})


@public
def request_reconnect(meter_id: str, reason: str = "operator") -> None:
    # Reconnection is never restricted by friendly hours: it only ever helps the consumer.
    m = load_meter(meter_id)
    require_role(m["utility"], STAFF)
    require_reason(reason)
    current = status_of(meter_id)["status"]
    require(current != "connected",
            f"meter {meter_id} disconnected or load-limited expected, found it connected")
    reconnect(m, reason)


@public
def on_payment(meter_id: str) -> bool:
    # Called by payments after a payment or top-up: lifts a disconnection, or a load limit
    # ordered for arrears, once nothing is owed any more. Returns whether it reconnected.
    who = caller()
    require(who == b"contract:payments", f"caller contract payments expected, found {shape(who)}")
    current = status_of(meter_id)
    if current["status"] == "connected":
        return False
    if current["status"] == "load_limited" and not current["for_arrears"]:
        return False
    sub = call(REGISTRY, "subscription", [meter_id])
    if sub is None or sub["status"] != "active":
        return False
    m = load_meter(meter_id)
    check = arrears_check(m, sub)
    if sub["mode"] == "prepaid":
        if check["balance"] <= 0:
            return False
    elif check["arrears"] > 0:
        return False
    reconnect(m, "paid: " + check["check"])
    return True


@public
def send_reminders(utility_id: str, scope: str, start_after: str = "", limit: int = 50) -> str:
    # One `reminder` event per subscription of the scope that owes money. Scans at most
    # `limit` meters; returns the meter id to continue from ("" when the scope is done).
    who = require_role(utility_id, STAFF)
    require(isinstance(limit, int) and limit > 0 and limit <= 200,
            f"limit 1 to 200 expected, found {shape(limit)}")
    page = call(REGISTRY, "subscriptions_in", [dunning_scope(utility_id, scope), start_after, limit])
    now = block_time()
    sent = 0
    for sub in page[0]:
        if sub["status"] == "active":
            check = arrears_check({"id": sub["meter"]}, sub)
            if check["arrears"] > 0:
                storage_set(storage_key("rem/", [sub["meter"]]), now)
                bump_activity(sub, "reminder")
                sent += 1
                emit("reminder", {"meter": sub["meter"], "consumer": sub["consumer"],
                                  "mode": sub["mode"], "arrears": check["arrears"],
                                  "oldest_due": check["oldest_due"], "by": who, "at": now})
    emit("reminders_sent", {"utility": utility_id, "scope": scope, "count": sent,
                            "next": page[1], "by": who, "at": now})
    return page[1]


@view
def supply_status(meter_id: str) -> dict:
    return status_of(meter_id)


@view
def orders(meter_id: str, start_after: int = 0, limit: int = 100) -> list:
    # The meter's disconnect / load-limit / reconnect orders, oldest first.
    prefix = storage_key("o/", [meter_id, ""])
    after = ""
    if start_after > 0:
        after = prefix + pad(start_after, ORDER_WIDTH)
    out = []
    for key in storage_keys(prefix, after, limit):
        out.append(storage_get(key))
    return out


@view
def protection_rules(utility_id: str) -> dict:
    return rules_of(utility_id)


@view
def local_offset(utility_id: str, t: int) -> int:
    # Seconds added to unix time `t` to get the utility's local time at `t` (its offset
    # table, daylight saving included); payments defines its local day with it.
    return offset_at(rules_of(utility_id), t)


@view
def disconnection_window(utility_id: str, t: int) -> dict:
    # Whether time `t` is outside friendly hours for the utility, and if not, why.
    reason = friendly_reason(rules_of(utility_id), t)
    return {"allowed": reason == "", "reason": reason}


@view
def arrears_list(utility_id: str, scope_prefix: str, start_after: str = "", limit: int = 100) -> list:
    # Subscriptions of a utility, branch or field that owe money: [{meter, consumer, mode,
    # arrears, oldest_due, reminded_at}], in meter order, at most `limit`; continue after the last meter.
    require(isinstance(limit, int) and limit > 0 and limit <= 1000,
            f"limit 1 to 1000 expected, found {shape(limit)}")
    found = debtors(utility_id, scope_prefix, start_after, 100, limit)
    entries = found[0]
    out = []
    for e in entries:
        if len(out) < limit:
            out.append(e)
    return out


@view
def supply_counts(scope: str) -> dict:
    # Meters disconnected and load-limited in a utility, branch or field.
    counts = storage_get(storage_key("n/", [scope]), {})
    return {"disconnected": counts.get("disconnected", 0),
            "load_limited": counts.get("load_limited", 0)}
