"""The organisation: utilities and their policy, branches and fields (ids nest:
``ELEC/KADIKOY/F1``).

A contract module (docs/contract-language.md, "Modules"): compiled into the registry contract,
never imported as Python.
"""

from common.keys import storage_key
from common.text import shape
from registry.checks import require_account, require_id, require_int, require_text
from registry.records import DEFAULT_SEGMENT, load_utility
from registry.roles import grant, is_governance, require_role

COMMODITY_UNITS = {"electricity": "Wh", "water": "l", "gas": "l"}
APPROVAL_POLICIES = ["auto", "operator"]
POLICY_KEYS = ["approval", "identity_required", "low_balance_threshold", "default_segment"]


@public
def register_utility(utility_id: str, name: str, commodity: str, currency: str, approval: str,
                     admin: bytes) -> None:
    who = caller()
    require(is_governance(who), f"caller governance expected, found account {bytes_hex(who)}")
    require_id(utility_id, "utility id", allow_slash=False)
    require(not storage_has(storage_key("u/", [utility_id])), f"a new utility id expected, found '{utility_id}' already registered")
    require_text(name, "utility name")
    require(commodity in COMMODITY_UNITS, f"commodity electricity, water or gas expected, found '{commodity}'")
    require(isinstance(currency, str) and 0 < len(currency) and len(currency) <= 8,
            f"currency code of 1 to 8 characters expected, found {shape(currency)}")
    require(approval in APPROVAL_POLICIES, f"approval policy auto or operator expected, found '{approval}'")
    require_account(admin, "admin")
    now = block_time()
    storage_set(storage_key("u/", [utility_id]), {
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
        require_id(policy["default_segment"], "default_segment", allow_slash=False)
        u["default_segment"] = policy["default_segment"]
    u["by"] = who
    u["at"] = block_time()
    storage_set(storage_key("u/", [utility_id]), u)
    emit("utility_policy_changed", {"utility": utility_id, "policy": policy, "by": who, "at": block_time()})


@public
def register_branch(branch_id: str, name: str, location: str) -> None:
    require_id(branch_id, "branch id", allow_slash=True)
    parts = branch_id.split("/")
    require(len(parts) == 2 and len(parts[1]) > 0,
            f"branch id '<utility>/<branch>' expected, found '{branch_id}'")
    utility_id = parts[0]
    load_utility(utility_id)
    who = require_role(utility_id, ["admin"])
    require(not storage_has(storage_key("b/", [branch_id])), f"a new branch id expected, found '{branch_id}' already registered")
    require_text(name, "branch name")
    require_text(location, "branch location")
    now = block_time()
    storage_set(storage_key("b/", [branch_id]), {"id": branch_id, "utility": utility_id, "name": name,
                                   "location": location, "by": who, "at": now})
    emit("branch_registered", {"branch": branch_id, "utility": utility_id, "name": name,
                               "location": location, "by": who, "at": now})


@public
def register_field(field_id: str, name: str, location: str) -> None:
    require_id(field_id, "field id", allow_slash=True)
    parts = field_id.split("/")
    require(len(parts) == 3 and len(parts[2]) > 0,
            f"field id '<utility>/<branch>/<field>' expected, found '{field_id}'")
    utility_id = parts[0]
    branch_id = parts[0] + "/" + parts[1]
    require(storage_has(storage_key("b/", [branch_id])), f"registered branch expected, found no branch '{branch_id}'")
    who = require_role(utility_id, ["admin"])
    require(not storage_has(storage_key("f/", [field_id])), f"a new field id expected, found '{field_id}' already registered")
    require_text(name, "field name")
    require_text(location, "field location")
    now = block_time()
    storage_set(storage_key("f/", [field_id]), {"id": field_id, "utility": utility_id, "branch": branch_id,
                                  "name": name, "location": location, "by": who, "at": now})
    emit("field_registered", {"field": field_id, "branch": branch_id, "utility": utility_id,
                              "name": name, "location": location, "by": who, "at": now})


@view
def utility(utility_id: str):
    return storage_get(storage_key("u/", [utility_id]))


@view
def branch(branch_id: str):
    return storage_get(storage_key("b/", [branch_id]))


@view
def field(field_id: str):
    return storage_get(storage_key("f/", [field_id]))


@view
def branches(utility_id: str) -> list:
    out = []
    for key in storage_keys(storage_key("b/", [utility_id, ""]), "", 1000):
        out.append(storage_get(key))
    return out


@view
def fields(branch_id: str) -> list:
    out = []
    for key in storage_keys(storage_key("f/", [branch_id, ""]), "", 1000):
        out.append(storage_get(key))
    return out
