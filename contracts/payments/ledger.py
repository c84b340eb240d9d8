"""The per-utility ledger: the money totals that let anyone check, at any block, that every
unit that entered is in exactly one place (docs/contracts/payments.md).

Two records per utility: ``ledger:<utility>`` holds the totals every payment and prepaid
reading moves, ``ledger-x:<utility>`` those of old debts and token sales (payments/debt.py,
payments/tokens.py). Kept apart so that a prepaid reading reads and writes no more than it
did before those flows existed (gas grows with a record's size); the view shows them as one.

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.keys import storage_key

LEDGER_FIELDS = [
    "paid",
    "reversed",
    "allocated",
    "purchased",
    "vouchers",
    "charged",
    "refunded",
    "credit_position",
    "emergency_outstanding",
    "float_deposited",
    "float_balance",
    "commission",
    "vouchers_issued",
    "purchase_reversed",
    "commission_reversed",
    "commission_settled",
]
EXTRA_FIELDS = [
    "debt_recorded",
    "debt_outstanding",
    "debt_recovered",
    "token_sold",
    "token_tax",
    "token_standing",
    "token_energy",
    "token_carried",
    "remitted",
    "granted",
]


def totals_in(key: str, fields: list) -> dict:
    stored = storage_get(key)
    totals = {}
    for name in fields:
        totals[name] = 0
    if stored is not None:
        for name in stored.keys():
            value = stored[name]
            totals[name] = value
    return totals


def ledger_of(utility_id: str) -> dict:
    totals = totals_in(storage_key("ledger:", [utility_id]), LEDGER_FIELDS)
    extra = totals_in(storage_key("ledger-x:", [utility_id]), EXTRA_FIELDS)
    for name in EXTRA_FIELDS:
        totals[name] = extra[name]
    return totals


def ledger_add(utility_id: str, changes: dict) -> None:
    core = None
    extra = None
    for name in changes.keys():
        if name in EXTRA_FIELDS:
            if extra is None:
                extra = totals_in(storage_key("ledger-x:", [utility_id]), EXTRA_FIELDS)
            extra[name] = extra[name] + changes[name]
        else:
            if core is None:
                core = totals_in(storage_key("ledger:", [utility_id]), LEDGER_FIELDS)
            core[name] = core[name] + changes[name]
    if core is not None:
        storage_set(storage_key("ledger:", [utility_id]), core)
    if extra is not None:
        storage_set(storage_key("ledger-x:", [utility_id]), extra)


@view
def ledger(utility_id: str) -> dict:
    """Money totals of a utility. Always: paid - reversed + purchased - purchase_reversed +
    vouchers + granted == allocated + charged + refunded + debt_recorded + credit_position -
    debt_outstanding (payments/debt.py: an old debt recorded is owed like a charge, and the
    debt outstanding is the part of the accounts' positions kept apart); float_deposited ==
    float_balance + purchased - purchase_reversed + token_sold; token_sold == token_tax +
    token_standing + token_energy + token_carried (payments/tokens.py); commission - commission_reversed -
    commission_settled == the commission owed to the utility's vendors; paid - reversed ==
    remitted + the cash the agents still hold (payments/agent_cash.py)."""
    return ledger_of(utility_id)
