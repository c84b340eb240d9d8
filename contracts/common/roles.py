"""Who may call: roles as the registry records them (the registry is their one home).

A contract module (docs/contract-language.md, "Modules"). Governance holds every role.
"""

REGISTRY = "registry"


def has_role(account: bytes, utility_id: str, role: str) -> bool:
    return call(REGISTRY, "has_role", [account, utility_id, role])


def require_role(utility_id: str, roles: list) -> bytes:
    """The caller must hold one of ``roles`` in ``utility``; returns the caller (to record
    it as ``by``)."""
    who = caller()
    for role in roles:
        if has_role(who, utility_id, role):
            return who
    wanted = " or ".join(roles)
    revert(f"caller with role {wanted} of utility {utility_id} expected, found account {bytes_hex(who)}")
    return who
