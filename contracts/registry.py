# registry — who is who: utilities, their branches and fields, their staff, meters and
# subscriptions.
#
# This file is a contract source for the meterchain VM (docs/contract-language.md): it is
# compiled and deployed in genesis, never imported as a Python module.
#
# Authority flows downward and is always on chain: governance registers a utility and its
# first admin; an admin registers branches, fields, staff (operator, agent, vendor,
# collector) and meters; operators do the day-to-day work (activate meters, approve
# subscriptions, flag protected customers); consumers open subscriptions from their wallet.
# Every record stores who changed it (`by`) and when (`at`), and every change emits an event:
# the receipts are the audit trail.
#
# Storage layout (keys of this contract's namespace):
#   gov                          governance account (set once by init)
#   u/<utility>                  utility record and policy
#   b/<branch>  f/<field>        organisation records; ids nest: "ELEC/KADIKOY/F1"
#   r/<utility>/<role>/<hex>     a role grant
#   m/<meter>                    meter record
#   ix/<field>/<meter>           scope index: a prefix scan over "ix/<scope>/" lists the
#                                meters of a utility, branch or field
#   s/<meter>                    the meter's current subscription
#   sn/<meter>                   number of subscriptions ever opened on the meter
#   h/<meter>/<seq>              past subscriptions (history is never deleted)
#   c/<consumer hex>/<meter>     the consumer's current subscriptions
#   n/<scope>                    counters per scope (subscriptions by status, mode, segment)
#   a/<scope>#<day>              activity per scope and UTC day (subscriptions opened,
#                                closed..., meters registered...), for period queries

COMMODITY_UNITS = {"electricity": "Wh", "water": "l", "gas": "l"}
APPROVAL_POLICIES = ["auto", "operator"]
MODES = ["postpaid", "prepaid"]
STAFF_ROLES = ["admin", "operator", "agent", "vendor", "collector"]
POLICY_KEYS = ["approval", "identity_required", "low_balance_threshold", "default_segment"]
MAX_ID_LEN = 64
MAX_TEXT_LEN = 256
MAX_DIGITS = 12
HISTORY_WIDTH = 6
DAY_WIDTH = 6
SECONDS_PER_DAY = 86400
DEFAULT_SEGMENT = "residential"
BILLING = "billing"


# --- helpers: identity and authority ---------------------------------------------------


def is_governance(account: bytes) -> bool:
    return storage_has("gov") and account == storage_get("gov")


def role_key(utility_id: str, role: str, account: bytes) -> str:
    return "r/" + utility_id + "/" + role + "/" + bytes_hex(account)


def holds(account: bytes, utility_id: str, role: str) -> bool:
    if is_governance(account):
        return True
    return storage_has(role_key(utility_id, role, account))


def require_role(utility_id: str, roles: list) -> bytes:
    # Returns the caller so that callers can record it as `by`.
    who = caller()
    if is_governance(who):
        return who
    for role in roles:
        if storage_has(role_key(utility_id, role, who)):
            return who
    wanted = " or ".join(roles)
    found = bytes_hex(who)
    revert(f"caller with role {wanted} of utility {utility_id} expected, found account {found}")
    return who


def require_account(account: bytes, what: str) -> None:
    ok = isinstance(account, bytes) and len(account) == 32
    require(ok, f"{what}: a 32-byte public key expected, found {shape(account)}")


def shape(value) -> str:
    # A short description of a bad argument for error messages.
    if isinstance(value, bytes):
        n = len(value)
        return f"{n} bytes"
    if isinstance(value, str):
        return "text '" + value + "'"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "the integer " + str(value)
    if value is None:
        return "None"
    return "a value of another type"


def require_id(value, what: str, allow_slash: bool) -> None:
    require(isinstance(value, str), f"{what}: text expected, found {shape(value)}")
    n = len(value)
    require(0 < n and n <= MAX_ID_LEN, f"{what}: 1 to {MAX_ID_LEN} characters expected, found {n}")
    if not allow_slash:
        require("/" not in value, f"{what}: no '/' expected, found '{value}'")
    require(" " not in value, f"{what}: no spaces expected, found '{value}'")
    require("#" not in value, f"{what}: no '#' expected, found '{value}'")


def require_text(value, what: str) -> None:
    require(isinstance(value, str), f"{what}: text expected, found {shape(value)}")
    n = len(value)
    require(n <= MAX_TEXT_LEN, f"{what}: at most {MAX_TEXT_LEN} characters expected, found {n}")


def require_int(value, what: str, low: int, high: int) -> None:
    # Inclusive bounds; bool is not an int in the VM, so True is refused here too.
    require(isinstance(value, int), f"{what}: an integer expected, found {shape(value)}")
    require(low <= value and value <= high, f"{what}: {low} to {high} expected, found {value}")


def copy(record: dict) -> dict:
    # A shallow copy, so that the old record can still be counted out after a change.
    out = {}
    for key in record.keys():
        out[key] = record[key]
    return out


def pad(n: int, width: int) -> str:
    # Zero-padded decimal so that history keys sort in order.
    s = str(n)
    while len(s) < width:
        s = "0" + s
    return s


# --- helpers: records ------------------------------------------------------------------


def load_utility(utility_id: str) -> dict:
    u = storage_get("u/" + utility_id)
    require(u is not None, f"registered utility expected, found no utility '{utility_id}'")
    return u


def load_meter(meter_id: str) -> dict:
    require(isinstance(meter_id, str), f"meter id: text expected, found {shape(meter_id)}")
    m = storage_get("m/" + meter_id)
    require(m is not None, f"registered meter expected, found no meter '{meter_id}'")
    return m


def load_subscription(meter_id: str, statuses: list) -> dict:
    s = storage_get("s/" + meter_id)
    wanted = " or ".join(statuses)
    require(s is not None, f"a subscription ({wanted}) on meter {meter_id} expected, found none")
    status = s["status"]
    require(status in statuses, f"a subscription ({wanted}) on meter {meter_id} expected, found {status}")
    return s


def scopes_of(record: dict) -> list:
    return [record["utility"], record["branch"], record["field"]]


def count_subscription(sub: dict, delta: int) -> None:
    # Counters per utility, branch and field: every subscription by status; the active ones
    # also by mode, segment and protection. Called with -1 before a change and +1 after.
    names = ["status:" + sub["status"]]
    if sub["status"] == "active":
        names.append("mode:" + sub["mode"])
        names.append("segment:" + sub["segment"])
        if sub["protected"]:
            names.append("protected")
    for scope in scopes_of(sub):
        key = "n/" + scope
        counts = storage_get(key, {})
        for name in names:
            counts[name] = counts.get(name, 0) + delta
        storage_set(key, counts)


def bump_activity(record: dict, name: str) -> None:
    # Per-day activity of the record's utility, branch and field. "#" cannot occur in ids, so
    # the prefix "a/<scope>#" never matches the keys of a nested scope.
    day = div_floor(block_time(), SECONDS_PER_DAY)
    for scope in scopes_of(record):
        key = "a/" + scope + "#" + pad(day, DAY_WIDTH)
        counts = storage_get(key, {})
        counts[name] = counts.get(name, 0) + 1
        storage_set(key, counts)


def save_subscription(old, new: dict) -> None:
    if old is not None:
        count_subscription(old, -1)
    count_subscription(new, 1)
    storage_set("s/" + new["meter"], new)


def archive_subscription(sub: dict) -> None:
    # A closed subscription is copied into the meter's history and leaves the consumer's
    # index; the current slot keeps it (status terminated) until a new one replaces it.
    seq = int(sub["id"].split("#")[1])
    storage_set("h/" + sub["meter"] + "/" + pad(seq, HISTORY_WIDTH), sub)
    storage_delete("c/" + bytes_hex(sub["consumer"]) + "/" + sub["meter"])


def open_subscription(m: dict, consumer: bytes, mode: str, identity_hash: bytes, active: bool) -> dict:
    meter_id = m["id"]
    u = load_utility(m["utility"])
    n = storage_get("sn/" + meter_id, 0) + 1
    storage_set("sn/" + meter_id, n)
    now = block_time()
    sub = {
        "id": meter_id + "#" + str(n),
        "meter": meter_id,
        "utility": m["utility"],
        "branch": m["branch"],
        "field": m["field"],
        "consumer": consumer,
        "mode": mode,
        "status": "active" if active else "pending",
        "requested_at": now,
        "opened_at": now if active else 0,
        "closed_at": 0,
        "final_index": None,
        "protected": False,
        "identity_hash": identity_hash,
        "low_balance_threshold": u["low_balance_threshold"],
        "segment": u["default_segment"],
        "by": caller(),
        "at": now,
    }
    # The terminated subscription it replaces stays counted as terminated (it is in the
    # history), so the old record is not counted out here.
    save_subscription(None, sub)
    storage_set("c/" + bytes_hex(consumer) + "/" + meter_id, sub["id"])
    event = "subscription_opened" if active else "subscription_requested"
    bump_activity(sub, "opened" if active else "requested")
    emit(event, {"subscription": sub["id"], "meter": meter_id, "consumer": consumer,
                 "mode": mode, "identity_hash": identity_hash, "by": caller(), "at": now})
    return sub


def close_subscription(sub: dict, final_index, reason: str, kind: str) -> dict:
    closed = copy(sub)
    now = block_time()
    closed["status"] = "terminated"
    closed["closed_at"] = now
    closed["final_index"] = final_index
    closed["close_reason"] = reason
    closed["by"] = caller()
    closed["at"] = now
    save_subscription(sub, closed)
    archive_subscription(closed)
    bump_activity(closed, kind)
    emit("subscription_terminated", {"subscription": sub["id"], "meter": sub["meter"],
                                     "consumer": sub["consumer"], "final_index": final_index,
                                     "reason": reason, "by": caller(), "at": now})
    return closed


def new_meter(meter_id: str, field_id: str, premises: str, multiplier: int, digits: int,
              max_rate: int, initial_index: int, public_key: bytes, collector: bytes,
              status: str, replaces: str) -> dict:
    require_id(meter_id, "meter id", False)
    require(not storage_has("m/" + meter_id), f"a new meter id expected, found meter '{meter_id}' already registered")
    fld = storage_get("f/" + field_id)
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
    storage_set("m/" + meter_id, m)
    storage_set("ix/" + field_id + "/" + meter_id, True)
    bump_activity(m, "meters_registered")
    emit("meter_registered", {"meter": meter_id, "utility": m["utility"], "field": field_id,
                              "premises": premises, "multiplier": multiplier, "digits": digits,
                              "max_rate": max_rate, "initial_index": initial_index,
                              "public_key": public_key, "collector": collector,
                              "status": status, "by": caller(), "at": now})
    return m


def scope_prefix(scope: str) -> str:
    # A scope is a utility, branch or field id; its meters are under "ix/<scope>/".
    require(isinstance(scope, str), f"scope: a utility, branch or field id expected, found {shape(scope)}")
    known = storage_has("u/" + scope) or storage_has("b/" + scope) or storage_has("f/" + scope)
    require(known, f"scope: a registered utility, branch or field id expected, found '{scope}'")
    return "ix/" + scope + "/"


# --- lifecycle -------------------------------------------------------------------------


@public
def init() -> None:
    require(not storage_has("gov"), "registry: first init expected, found it already initialised")
    storage_set("gov", caller())
    emit("registry_initialised", {"governance": caller(), "by": caller(), "at": block_time()})


# --- organisation and roles ------------------------------------------------------------


@public
def register_utility(utility_id: str, name: str, commodity: str, currency: str, approval: str,
                     admin: bytes) -> None:
    who = caller()
    require(is_governance(who), f"caller governance expected, found account {bytes_hex(who)}")
    require_id(utility_id, "utility id", False)
    require(not storage_has("u/" + utility_id), f"a new utility id expected, found '{utility_id}' already registered")
    require_text(name, "utility name")
    require(commodity in COMMODITY_UNITS, f"commodity electricity, water or gas expected, found '{commodity}'")
    require(isinstance(currency, str) and 0 < len(currency) and len(currency) <= 8,
            f"currency code of 1 to 8 characters expected, found {shape(currency)}")
    require(approval in APPROVAL_POLICIES, f"approval policy auto or operator expected, found '{approval}'")
    require_account(admin, "admin")
    now = block_time()
    storage_set("u/" + utility_id, {
        "id": utility_id,
        "name": name,
        "commodity": commodity,
        "unit": COMMODITY_UNITS[commodity],
        "currency": currency,
        "approval": approval,
        "identity_required": False,
        "low_balance_threshold": 0,
        "default_segment": DEFAULT_SEGMENT,
        "by": who,
        "at": now,
    })
    emit("utility_registered", {"utility": utility_id, "name": name, "commodity": commodity,
                                "currency": currency, "approval": approval, "admin": admin,
                                "by": who, "at": now})
    grant(admin, utility_id, "admin")


@public
def set_utility_policy(utility_id: str, policy: dict) -> None:
    u = load_utility(utility_id)
    who = require_role(utility_id, ["admin"])
    require(isinstance(policy, dict), f"policy: a map expected, found {shape(policy)}")
    for key in policy.keys():
        require(key in POLICY_KEYS, f"policy key among {', '.join(POLICY_KEYS)} expected, found '{key}'")
    if "approval" in policy:
        approval = policy["approval"]
        require(approval in APPROVAL_POLICIES, f"approval policy auto or operator expected, found {shape(approval)}")
        u["approval"] = approval
    if "identity_required" in policy:
        flag = policy["identity_required"]
        require(isinstance(flag, bool), f"identity_required: a bool expected, found {shape(flag)}")
        u["identity_required"] = flag
    if "low_balance_threshold" in policy:
        require_int(policy["low_balance_threshold"], "low_balance_threshold", 0, 10**15)
        u["low_balance_threshold"] = policy["low_balance_threshold"]
    if "default_segment" in policy:
        require_id(policy["default_segment"], "default_segment", False)
        u["default_segment"] = policy["default_segment"]
    u["by"] = who
    u["at"] = block_time()
    storage_set("u/" + utility_id, u)
    emit("utility_policy_changed", {"utility": utility_id, "policy": policy, "by": who, "at": block_time()})


@public
def register_branch(branch_id: str, name: str, location: str) -> None:
    require_id(branch_id, "branch id", True)
    parts = branch_id.split("/")
    require(len(parts) == 2 and len(parts[1]) > 0,
            f"branch id '<utility>/<branch>' expected, found '{branch_id}'")
    utility_id = parts[0]
    load_utility(utility_id)
    who = require_role(utility_id, ["admin"])
    require(not storage_has("b/" + branch_id), f"a new branch id expected, found '{branch_id}' already registered")
    require_text(name, "branch name")
    require_text(location, "branch location")
    now = block_time()
    storage_set("b/" + branch_id, {"id": branch_id, "utility": utility_id, "name": name,
                                   "location": location, "by": who, "at": now})
    emit("branch_registered", {"branch": branch_id, "utility": utility_id, "name": name,
                               "location": location, "by": who, "at": now})


@public
def register_field(field_id: str, name: str, location: str) -> None:
    require_id(field_id, "field id", True)
    parts = field_id.split("/")
    require(len(parts) == 3 and len(parts[2]) > 0,
            f"field id '<utility>/<branch>/<field>' expected, found '{field_id}'")
    utility_id = parts[0]
    branch_id = parts[0] + "/" + parts[1]
    require(storage_has("b/" + branch_id), f"registered branch expected, found no branch '{branch_id}'")
    who = require_role(utility_id, ["admin"])
    require(not storage_has("f/" + field_id), f"a new field id expected, found '{field_id}' already registered")
    require_text(name, "field name")
    require_text(location, "field location")
    now = block_time()
    storage_set("f/" + field_id, {"id": field_id, "utility": utility_id, "branch": branch_id,
                                  "name": name, "location": location, "by": who, "at": now})
    emit("field_registered", {"field": field_id, "branch": branch_id, "utility": utility_id,
                              "name": name, "location": location, "by": who, "at": now})


def grant(account: bytes, utility_id: str, role: str) -> None:
    key = role_key(utility_id, role, account)
    hexkey = bytes_hex(account)
    require(not storage_has(key), f"account {hexkey} without role {role} expected, found it already granted")
    now = block_time()
    storage_set(key, {"account": account, "utility": utility_id, "role": role, "by": caller(), "at": now})
    emit("role_granted", {"account": account, "utility": utility_id, "role": role,
                          "by": caller(), "at": now})


def require_grantor(utility_id: str, role: str) -> None:
    # Governance appoints admins; an admin appoints the rest of the staff.
    load_utility(utility_id)
    require(role in STAFF_ROLES, f"role among {', '.join(STAFF_ROLES)} expected, found {shape(role)}")
    if role == "admin":
        who = caller()
        require(is_governance(who), f"caller governance (who appoints admins) expected, found account {bytes_hex(who)}")
    else:
        require_role(utility_id, ["admin"])


@public
def grant_role(account: bytes, utility_id: str, role: str) -> None:
    require_account(account, "account")
    require_grantor(utility_id, role)
    grant(account, utility_id, role)


@public
def revoke_role(account: bytes, utility_id: str, role: str, reason: str) -> None:
    require_account(account, "account")
    require_grantor(utility_id, role)
    require_text(reason, "reason")
    key = role_key(utility_id, role, account)
    hexkey = bytes_hex(account)
    require(storage_has(key), f"account {hexkey} with role {role} expected, found no such grant")
    storage_delete(key)
    emit("role_revoked", {"account": account, "utility": utility_id, "role": role,
                          "reason": reason, "by": caller(), "at": block_time()})


# --- meters ----------------------------------------------------------------------------


@public
def register_meter(meter_id: str, field_id: str, premises: str, multiplier: int, digits: int,
                   max_rate: int, initial_index: int, public_key: bytes, collector: bytes) -> None:
    require_id(field_id, "field id", True)
    fld = storage_get("f/" + field_id)
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
    storage_set("m/" + meter_id, m)
    emit("meter_activated", {"meter": meter_id, "by": who, "at": block_time()})


@public
def deactivate_meter(meter_id: str, reason: str) -> None:
    m = load_meter(meter_id)
    who = require_role(m["utility"], ["operator", "admin"])
    require_text(reason, "reason")
    require(m["status"] == "active", f"meter {meter_id} active expected, found {m['status']}")
    sub = storage_get("s/" + meter_id)
    if sub is not None:
        status = sub["status"]
        require(status == "terminated",
                f"meter {meter_id} without an open subscription expected, found one {status}")
    m["status"] = "inactive"
    m["by"] = who
    m["at"] = block_time()
    storage_set("m/" + meter_id, m)
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
    storage_set("m/" + meter_id, m)
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
    storage_set("m/" + old_meter_id, old)
    sub = storage_get("s/" + old_meter_id)
    moved = ""
    if sub is not None and sub["status"] != "terminated":
        # The subscription keeps its id and history; only its meter changes.
        moved = sub["id"]
        storage_delete("s/" + old_meter_id)
        storage_delete("c/" + bytes_hex(sub["consumer"]) + "/" + old_meter_id)
        sub["meter"] = new_meter_id
        storage_set("s/" + new_meter_id, sub)
        storage_set("c/" + bytes_hex(sub["consumer"]) + "/" + new_meter_id, sub["id"])
        storage_set("sn/" + new_meter_id, int(sub["id"].split("#")[1]))
    bump_activity(old, "meters_replaced")
    emit("meter_replaced", {"old": old_meter_id, "new": new_meter_id,
                            "old_final_index": old_final_index,
                            "new_initial_index": new_initial_index, "subscription": moved,
                            "by": who, "at": now})
    call(BILLING, "meter_replaced", [old_meter_id, new_meter_id, old_final_index, new_initial_index])


# --- subscriptions ---------------------------------------------------------------------


@public
def subscribe(meter_id: str, mode: str, identity_hash: bytes) -> None:
    # Opened by the consumer's own wallet: no paperwork; personal data stays off chain and
    # only its hash is kept where the utility requires identity.
    consumer = caller()
    require_account(consumer, "consumer")
    m = load_meter(meter_id)
    require(m["status"] == "active", f"meter {meter_id} active expected, found {m['status']}")
    require(mode in MODES, f"mode postpaid or prepaid expected, found {shape(mode)}")
    require(isinstance(identity_hash, bytes) and (len(identity_hash) == 0 or len(identity_hash) == 32),
            f"identity hash: empty or 32 bytes expected, found {shape(identity_hash)}")
    u = load_utility(m["utility"])
    if u["identity_required"]:
        require(len(identity_hash) == 32,
                f"identity hash of 32 bytes expected (utility {u['id']} requires identity), found none")
    current = storage_get("s/" + meter_id)
    if current is not None:
        status = current["status"]
        require(status == "terminated",
                f"meter {meter_id} free expected, found a subscription {status}")
    open_subscription(m, consumer, mode, identity_hash, u["approval"] == "auto")


@public
def approve_subscription(meter_id: str) -> None:
    m = load_meter(meter_id)
    who = require_role(m["utility"], ["operator", "admin"])
    sub = load_subscription(meter_id, ["pending"])
    new = copy(sub)
    now = block_time()
    new["status"] = "active"
    new["opened_at"] = now
    new["approved_by"] = who
    new["by"] = who
    new["at"] = now
    save_subscription(sub, new)
    bump_activity(new, "opened")
    emit("subscription_approved", {"subscription": sub["id"], "meter": meter_id,
                                   "consumer": sub["consumer"], "mode": sub["mode"],
                                   "by": who, "at": now})


@public
def reject_subscription(meter_id: str, reason: str) -> None:
    m = load_meter(meter_id)
    require_role(m["utility"], ["operator", "admin"])
    require_text(reason, "reason")
    require(len(reason) > 0, "a reason for the rejection expected, found none")
    sub = load_subscription(meter_id, ["pending"])
    close_subscription(sub, None, "rejected: " + reason, "rejected")


@public
def set_protected(meter_id: str, protected: bool, reason: str) -> None:
    # Protected customers (life-support equipment, vulnerable households...) are never
    # disconnected; supply reads this flag before every disconnection order.
    m = load_meter(meter_id)
    who = require_role(m["utility"], ["operator", "admin"])
    require(isinstance(protected, bool), f"protected: a bool expected, found {shape(protected)}")
    require_text(reason, "reason")
    sub = load_subscription(meter_id, ["pending", "active"])
    new = copy(sub)
    new["protected"] = protected
    new["by"] = who
    new["at"] = block_time()
    save_subscription(sub, new)
    emit("protection_changed", {"subscription": sub["id"], "meter": meter_id,
                                "protected": protected, "reason": reason, "by": who,
                                "at": block_time()})


@public
def set_segment(meter_id: str, segment: str) -> None:
    m = load_meter(meter_id)
    who = require_role(m["utility"], ["operator", "admin"])
    require_id(segment, "segment", False)
    sub = load_subscription(meter_id, ["pending", "active"])
    new = copy(sub)
    new["segment"] = segment
    new["by"] = who
    new["at"] = block_time()
    save_subscription(sub, new)
    emit("segment_changed", {"subscription": sub["id"], "meter": meter_id, "segment": segment,
                             "by": who, "at": block_time()})


@public
def set_low_balance_threshold(meter_id: str, amount: int) -> None:
    # The consumer chooses when to be warned; the operator may set it for them.
    m = load_meter(meter_id)
    sub = load_subscription(meter_id, ["pending", "active"])
    who = caller()
    if who != sub["consumer"]:
        require_role(m["utility"], ["operator", "admin"])
    require_int(amount, "low balance threshold", 0, 10**15)
    new = copy(sub)
    new["low_balance_threshold"] = amount
    new["by"] = who
    new["at"] = block_time()
    save_subscription(sub, new)
    emit("low_balance_threshold_changed", {"subscription": sub["id"], "meter": meter_id,
                                           "threshold": amount, "by": who, "at": block_time()})


@public
def set_identity(meter_id: str, identity_hash: bytes) -> None:
    # The consumer attaches (or replaces) the hash of their off-chain identity record.
    sub = load_subscription(meter_id, ["pending", "active"])
    who = caller()
    require(who == sub["consumer"], f"caller the subscriber of meter {meter_id} expected, found account {bytes_hex(who)}")
    require(isinstance(identity_hash, bytes) and len(identity_hash) == 32,
            f"identity hash of 32 bytes expected, found {shape(identity_hash)}")
    new = copy(sub)
    new["identity_hash"] = identity_hash
    new["by"] = who
    new["at"] = block_time()
    save_subscription(sub, new)
    emit("identity_changed", {"subscription": sub["id"], "meter": meter_id,
                              "identity_hash": identity_hash, "by": who, "at": block_time()})


def require_consumer_or_staff(m: dict, sub: dict) -> bytes:
    who = caller()
    if who == sub["consumer"]:
        return who
    return require_role(m["utility"], ["operator", "admin"])


@public
def terminate_subscription(meter_id: str, final_index: int) -> None:
    # An active subscription ends with a final reading that billing turns into the final
    # invoice; a pending one is simply withdrawn (nothing was ever billed).
    m = load_meter(meter_id)
    sub = load_subscription(meter_id, ["pending", "active"])
    require_consumer_or_staff(m, sub)
    if sub["status"] == "pending":
        close_subscription(sub, None, "withdrawn", "withdrawn")
        return
    require_int(final_index, "final index", 0, 10**m["digits"] - 1)
    call(BILLING, "close_account", [meter_id, final_index])
    close_subscription(sub, final_index, "terminated", "terminated")


@public
def move_in(meter_id: str, new_consumer: bytes, reading_index: int) -> None:
    # Premises change hands: the outgoing subscriber gets a final bill at the handover
    # reading, the incoming one a new subscription on the same meter; both stay in history.
    m = load_meter(meter_id)
    sub = load_subscription(meter_id, ["active"])
    who = require_consumer_or_staff(m, sub)
    require_account(new_consumer, "new consumer")
    require(new_consumer != sub["consumer"],
            f"a different consumer expected, found the current subscriber of meter {meter_id}")
    require_int(reading_index, "handover reading index", 0, 10**m["digits"] - 1)
    call(BILLING, "close_account", [meter_id, reading_index])
    close_subscription(sub, reading_index, "moved out", "moved_out")
    u = load_utility(m["utility"])
    # The operator's word is an approval; an outgoing consumer's handover still needs one
    # where the utility approves subscriptions by hand.
    active = u["approval"] == "auto" or holds(who, m["utility"], "operator") or holds(who, m["utility"], "admin")
    new = open_subscription(m, new_consumer, sub["mode"], b"", active)
    emit("premises_moved", {"meter": meter_id, "from": sub["consumer"], "to": new_consumer,
                            "reading_index": reading_index, "old_subscription": sub["id"],
                            "new_subscription": new["id"], "by": who, "at": block_time()})


# --- views -----------------------------------------------------------------------------


@view
def governance() -> bytes:
    return storage_get("gov", b"")


@view
def utility(utility_id: str):
    return storage_get("u/" + utility_id)


@view
def branch(branch_id: str):
    return storage_get("b/" + branch_id)


@view
def field(field_id: str):
    return storage_get("f/" + field_id)


@view
def has_role(account: bytes, utility_id: str, role: str) -> bool:
    return holds(account, utility_id, role)


@view
def roles_of(account: bytes, utility_id: str) -> list:
    found = []
    for role in STAFF_ROLES:
        if storage_has(role_key(utility_id, role, account)):
            found.append(role)
    return found


@view
def role_holders(utility_id: str, role: str, start_after: bytes = b"", limit: int = 100) -> list:
    # The accounts holding a role in a utility (for regulators and the explorer), in key
    # order; page with the last account returned.
    prefix = "r/" + utility_id + "/" + role + "/"
    after = ""
    if len(start_after) > 0:
        after = prefix + bytes_hex(start_after)
    out = []
    for key in storage_keys(prefix, after, limit):
        out.append(hex_bytes(key[len(prefix):]))
    return out


@view
def branches(utility_id: str) -> list:
    out = []
    for key in storage_keys("b/" + utility_id + "/", "", 1000):
        out.append(storage_get(key))
    return out


@view
def fields(branch_id: str) -> list:
    out = []
    for key in storage_keys("f/" + branch_id + "/", "", 1000):
        out.append(storage_get(key))
    return out


@view
def meter(meter_id: str):
    m = storage_get("m/" + meter_id)
    # Authority is read at the moment of use: a collector whose role was revoked no longer
    # speaks for the meter (billing accepts collector readings from `collector` only).
    if m is not None and len(m["collector"]) == 32 and not holds(m["collector"], m["utility"], "collector"):
        m["collector"] = b""
        m["collector_revoked"] = True
    return m


@view
def subscription(meter_id: str):
    return storage_get("s/" + meter_id)


@view
def subscription_history(meter_id: str, start_after: str = "", limit: int = 100) -> list:
    # Past subscriptions of a meter, oldest first; page with the last id returned.
    prefix = "h/" + meter_id + "/"
    after = ""
    if start_after != "":
        after = prefix + pad(int(start_after.split("#")[1]), HISTORY_WIDTH)
    out = []
    for key in storage_keys(prefix, after, limit):
        out.append(storage_get(key))
    return out


@view
def subscriptions_of(consumer: bytes) -> list:
    # Meter ids of the consumer's current (pending or active) subscriptions.
    prefix = "c/" + bytes_hex(consumer) + "/"
    out = []
    for key in storage_keys(prefix, "", 1000):
        out.append(key[len(prefix):])
    return out


@view
def meters_in(scope: str, start_after: str = "", limit: int = 100) -> list:
    # Meter ids of a utility, branch or field, in key order; `start_after` is a meter id
    # returned by the previous page.
    prefix = scope_prefix(scope)
    after = ""
    if start_after != "":
        m = storage_get("m/" + start_after)
        require(m is not None, f"start_after: a registered meter expected, found '{start_after}'")
        after = "ix/" + m["field"] + "/" + start_after
    out = []
    for key in storage_keys(prefix, after, limit):
        parts = key.split("/")
        out.append(parts[len(parts) - 1])
    return out


@view
def subscriptions_in(scope: str, start_after: str = "", limit: int = 100) -> list:
    # The current subscriptions of the meters of a scope (meters without one are skipped);
    # for dunning and statistics. Page with the last meter id examined, returned as `next`.
    ids = meters_in(scope, start_after, limit)
    subs = []
    for meter_id in ids:
        sub = storage_get("s/" + meter_id)
        if sub is not None:
            subs.append(sub)
    nxt = ""
    if len(ids) == limit:
        nxt = ids[len(ids) - 1]
    return [subs, nxt]


@view
def subscription_counts(scope: str) -> dict:
    # Counts of subscriptions per status, and of active ones per mode, segment and protection,
    # for a utility, branch or field.
    scope_prefix(scope)
    return storage_get("n/" + scope, {})


@view
def activity(scope: str, day_from: int, day_to: int) -> dict:
    # What happened in a utility, branch or field from UTC day `day_from` to `day_to`
    # inclusive (day = unix time // 86400): subscriptions requested, opened (on approval or
    # at once), rejected, withdrawn, terminated, moved_out; meters_registered,
    # meters_replaced. Sums at most 1000 days with activity per call.
    prefix = "a/" + scope + "#"
    after = ""
    if day_from > 0:
        after = prefix + pad(day_from - 1, DAY_WIDTH)
    totals = {}
    for key in storage_keys(prefix, after, 1000):
        day = int(key[len(prefix):])
        if day > day_to:
            break
        counts = storage_get(key)
        for name in counts.keys():
            totals[name] = totals.get(name, 0) + counts[name]
    return totals
