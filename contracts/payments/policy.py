"""A utility's payment policy: vendor commission, emergency credit (granted at opening, and
what a consumer may request), what happens when prepaid credit is exhausted, voucher
denominations.

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.keys import storage_key
from common.roles import require_role
from common.text import shape
from payments.checks import MAX_AMOUNT, check_amount

BASIS_POINTS = 10000
DEFAULT_POLICY = {
    "commission_bp": 0,
    "emergency_credit": 0,
    # Emergency credit a consumer may request on their own (0: none), at most once in
    # every emergency_request_days local days and never while an earlier request's credit
    # is still extended (money in ends it: payments/accounts.py).
    "emergency_request_limit": 0,
    "emergency_request_days": 30,
    "exhausted_action": "disconnect",
    "load_limit_watts": 0,
    "voucher_denominations": [],
}
POLICY_ACTIONS = ["disconnect", "load_limit"]
MAX_REQUEST_DAYS = 366


def policy_of(utility_id: str) -> dict:
    stored = storage_get(storage_key("policy:", [utility_id]))
    rules = {}
    for name in DEFAULT_POLICY.keys():
        value = DEFAULT_POLICY[name]
        rules[name] = value
    if stored is not None:
        for name in stored.keys():
            value = stored[name]
            rules[name] = value
    return rules


@public
def set_policy(utility_id: str, changes: dict) -> None:
    """Prepaid policy of a utility, by its admin: vendor commission (basis points), the
    emergency reserve granted when an account opens, the emergency credit a consumer may
    request (``emergency_request_limit``, once per ``emergency_request_days``), what happens when credit is exhausted
    ("disconnect" or "load_limit" at ``load_limit_watts``), the voucher denominations."""
    require_role(utility_id, ["admin"])
    require(isinstance(changes, dict), f"policy of type dict expected, found {shape(changes)}")
    merged = policy_of(utility_id)
    for name in changes.keys():
        value = changes[name]
        require(name in DEFAULT_POLICY, f"policy key among {', '.join(list(DEFAULT_POLICY.keys()))} expected, found {shape(name)}")
        merged[name] = value
    bp = merged["commission_bp"]
    require(isinstance(bp, int) and 0 <= bp and bp <= BASIS_POINTS, f"commission_bp in [0, {BASIS_POINTS}] expected, found {shape(bp)}")
    reserve = merged["emergency_credit"]
    require(isinstance(reserve, int) and 0 <= reserve and reserve <= MAX_AMOUNT, f"emergency_credit in [0, {MAX_AMOUNT}] expected, found {shape(reserve)}")
    request_limit = merged["emergency_request_limit"]
    require(isinstance(request_limit, int) and 0 <= request_limit and request_limit <= MAX_AMOUNT,
            f"emergency_request_limit in [0, {MAX_AMOUNT}] expected, found {shape(request_limit)}")
    request_days = merged["emergency_request_days"]
    require(isinstance(request_days, int) and 1 <= request_days and request_days <= MAX_REQUEST_DAYS,
            f"emergency_request_days in [1, {MAX_REQUEST_DAYS}] expected, found {shape(request_days)}")
    action = merged["exhausted_action"]
    require(action in POLICY_ACTIONS, f"exhausted_action among {', '.join(POLICY_ACTIONS)} expected, found {shape(action)}")
    watts = merged["load_limit_watts"]
    require(isinstance(watts, int) and watts >= 0, f"load_limit_watts >= 0 expected, found {shape(watts)}")
    require(action != "load_limit" or watts > 0, f"load_limit_watts > 0 expected with exhausted_action load_limit, found {watts}")
    denominations = merged["voucher_denominations"]
    require(isinstance(denominations, list), f"voucher_denominations of type list expected, found {shape(denominations)}")
    for d in denominations:
        check_amount(d, "voucher denomination")
    merged["by"] = caller()
    merged["at"] = block_time()
    storage_set(storage_key("policy:", [utility_id]), merged)
    emit("policy_set", {"utility": utility_id, "policy": merged, "by": caller(), "at": block_time()})


@view
def policy(utility_id: str) -> dict:
    return policy_of(utility_id)
