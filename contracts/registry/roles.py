"""Roles: governance, grants and revocations of staff roles in a utility, and the checks
every other entry point uses (the one home of roles; other contracts ask ``has_role``).

A contract module (docs/contract-language.md, "Modules"): compiled into the registry contract,
never imported as Python.
"""

from common.keys import storage_key
from common.text import shape
from registry.checks import require_account, require_text
from registry.records import load_utility

STAFF_ROLES = ["admin", "operator", "agent", "vendor", "collector"]


def is_governance(account: bytes) -> bool:
    return storage_has("gov") and account == storage_get("gov")


def role_key(utility_id: str, role: str, account: bytes) -> str:
    return storage_key("r/", [utility_id, role, bytes_hex(account)])


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


@view
def governance() -> bytes:
    return storage_get("gov", b"")


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
    prefix = storage_key("r/", [utility_id, role, ""])
    after = ""
    if len(start_after) > 0:
        after = prefix + bytes_hex(start_after)
    out = []
    for key in storage_keys(prefix, after, limit):
        out.append(hex_bytes(key[len(prefix):]))
    return out
