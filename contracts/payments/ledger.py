"""The per-utility ledger: the money totals that let anyone check, at any block, that every
unit that entered is in exactly one place (docs/contracts/payments.md).

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
    "debt_recorded",
    "debt_outstanding",
    "debt_recovered",
    "token_sold",
    "token_tax",
    "token_standing",
    "token_energy",
    "token_carried",
]


def ledger_of(utility_id: str) -> dict:
    stored = storage_get(storage_key("ledger:", [utility_id]))
    totals = {}
    for name in LEDGER_FIELDS:
        totals[name] = 0
    if stored is not None:
        for name in stored.keys():
            value = stored[name]
            totals[name] = value
    return totals


def ledger_add(utility_id: str, changes: dict) -> None:
    totals = ledger_of(utility_id)
    for name in changes.keys():
        delta = changes[name]
        totals[name] = totals[name] + delta
    storage_set(storage_key("ledger:", [utility_id]), totals)


@view
def ledger(utility_id: str) -> dict:
    """Money totals of a utility. Always: paid - reversed + purchased - purchase_reversed +
    vouchers == allocated + charged + refunded + debt_recorded + credit_position -
    debt_outstanding (payments/debt.py: an old debt recorded is owed like a charge, and the
    debt outstanding is the part of the accounts' positions kept apart); float_deposited ==
    float_balance + purchased - purchase_reversed + token_sold; token_sold == token_tax +
    token_standing + token_energy + token_carried (payments/tokens.py); commission - commission_reversed -
    commission_settled == the commission owed to the utility's vendors."""
    return ledger_of(utility_id)
