"""Who corrects the bills and spreads the debts of a utility, and the reason each such act
must give: the checks the corrections (corrections.py, rebill.py) and payment plans
(plans.py) share.

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""

STAFF = ["operator", "admin"]  # in the order their roles are checked
MAX_REASON = 256


def check_reason(reason) -> None:
    if not isinstance(reason, str):
        revert(f"a reason of 1 to {MAX_REASON} characters expected, found no text")
    if not (len(reason) > 0 and len(reason) <= MAX_REASON):
        revert(f"a reason of 1 to {MAX_REASON} characters expected, found {len(reason)} characters")
