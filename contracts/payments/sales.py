"""Prepaid credit sold by vendors, and a sale's same-day reversal.

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.activity import add_activities
from common.keys import storage_key
from common.roles import require_role
from payments.accounts import (
    add_credit,
    after_credit,
    credit_of,
    load_account,
    position_of,
    prepaid_subscription,
    save_account,
)
from payments.checks import (
    check_amount,
    check_reference,
    local_day,
    meter_record,
    next_id,
    same_day_reversal,
)
from payments.commission import commission_key, commission_load, commission_owed, float_key
from payments.ledger import ledger_add
from payments.policy import BASIS_POINTS, policy_of


def take_vendor_sale(utility_id: str, amount: int, reference: str, what: str) -> list:
    """The checks every vendor sale passes (credit or a token); returns [vendor, reference
    key]."""
    require_role(utility_id, ["vendor"])
    check_amount(amount, what)
    check_reference(reference)
    vendor = caller()
    ref_key = storage_key("bref:", [bytes_hex(vendor), reference])
    require(
        not storage_has(ref_key),
        f"a new reference for vendor expected, found {reference} already used by {storage_get(ref_key)}",
    )
    return [vendor, ref_key]


@public
def buy_credit(meter_id: str, amount: int, reference: str) -> str:
    """A vendor sells prepaid credit: the amount is drawn from the vendor's float, the vendor
    earns the utility's commission on it, the share of an old debt is recovered
    (payments/debt.py), the emergency credit in use is repaid and the rest is added to the
    balance. Returns the purchase id (one STS token per id)."""
    m = meter_record(meter_id)
    utility_id = m["utility"]
    vendor, ref_key = take_vendor_sale(utility_id, amount, reference, "purchase")
    sub = prepaid_subscription(meter_id)
    fkey = float_key(utility_id, vendor)
    available = storage_get(fkey, 0)
    require(amount <= available, f"vendor float of at least {amount} expected, found {available}")
    storage_set(fkey, available - amount)
    commission = mul_div(amount, policy_of(utility_id)["commission_bp"], BASIS_POINTS)
    c = commission_load(utility_id, vendor)
    c["earned"] = c["earned"] + commission
    storage_set(commission_key(utility_id, vendor), c)

    acct = load_account(sub, meter_id, utility_id)
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    before_recovered = acct.get("debt_recovered", 0)
    repaid = add_credit(acct, amount)
    recovered = acct.get("debt_recovered", 0) - before_recovered
    after_credit(sub, acct)
    save_account(sub, acct, before_position, before_emergency)

    bid = next_id("BUY")
    sts_ref = sha256(canonical_bytes(["mc/purchase", bid, meter_id, amount, tx_hash()]))
    now = block_time()
    record = {
        "id": bid,
        "meter": meter_id,
        "utility": utility_id,
        "subscription": sub["id"],
        "vendor": vendor,
        "amount": amount,
        "commission": commission,
        "repaid_emergency": repaid,
        "debt_recovered": recovered,
        "reference": reference,
        "sts_ref": sts_ref,
        "at": now,
        "day": local_day(utility_id, now),
        # A reversed purchase's STS token is void: a vending side must refuse to issue it.
        "void": False,
        "reversed": False,
        "reversed_at": 0,
        "reversal_reason": "",
    }
    storage_set(storage_key("buy:", [bid]), record)
    storage_set(ref_key, bid)
    # Operator figures: what vendors sold, by utility, branch and field and UTC day.
    add_activities(sub, {"prepaid_sold": amount, "prepaid_sales": 1})
    ledger_add(utility_id, {"purchased": amount, "float_balance": 0 - amount, "commission": commission})
    emit(
        "credit_purchase",
        {
            "id": bid,
            "meter": meter_id,
            "subscription": sub["id"],
            "amount": amount,
            "commission": commission,
            "repaid_emergency": repaid,
            "debt_recovered": recovered,
            "balance": acct["balance"],
            "credit": credit_of(acct),
            "sts_ref": sts_ref,
            "vendor": vendor,
            "reference": reference,
            "at": now,
        },
    )
    call("supply", "on_payment", [meter_id])
    return bid


@view
def purchase(purchase_id: str):
    return storage_get(storage_key("buy:", [purchase_id]))


@public
def reverse_purchase(purchase_id: str, reason: str) -> None:
    """Undo a sale of prepaid credit: only by the vendor that sold it, only on the same
    local day, once, and only while the credit it added is still unspent. The amount goes
    back to the vendor's float, the commission out of what the vendor has accrued, and the
    purchase's STS token is void."""
    p, _today = same_day_reversal("purchase", "buy:", purchase_id, reason, actor="vendor", verb="sold")
    vendor = p["vendor"]
    now = block_time()
    utility_id = p["utility"]

    amount = p["amount"]
    repaid = p["repaid_emergency"]
    # What the sale recovered of an old debt goes back to the debt (purchases before debt
    # recovery existed have no such field: they recovered nothing).
    recovered = p.get("debt_recovered", 0)
    to_balance = amount - repaid - recovered
    acct = storage_get(storage_key("acct:", [p["subscription"]]))
    require(acct is not None, f"the account of subscription {p['subscription']} expected, found none")
    # Unlike an agent's payment, a sale is reversed only while its credit is unspent: the
    # token may already be in the meter, and a reversal must never turn a consumer's
    # credit into a debt. The part that repaid emergency credit is drawn again from the
    # reserve, so the account ends as the sale found it plus what happened since.
    require(
        acct["balance"] >= to_balance,
        f"an unspent balance of at least {to_balance} to reverse {purchase_id} expected, found {acct['balance']}",
    )
    room = acct["emergency_limit"] - acct["emergency_used"]
    require(
        room >= repaid,
        f"emergency reserve room of at least {repaid} to reverse {purchase_id} expected, found {room}",
    )
    vendor_c = commission_load(utility_id, vendor)
    owed = commission_owed(vendor_c)
    require(
        owed >= p["commission"],
        f"accrued commission of at least {p['commission']} to reverse {purchase_id} expected, found {owed} (settled already)",
    )

    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    acct["balance"] = acct["balance"] - to_balance
    acct["emergency_used"] = acct["emergency_used"] + repaid
    acct["credited"] = acct["credited"] - amount
    if recovered > 0:
        acct["debt"] = acct["debt"] + recovered
        acct["debt_recovered"] = acct["debt_recovered"] - recovered
        ledger_add(utility_id, {"debt_recovered": 0 - recovered, "debt_outstanding": recovered})
    save_account({"id": p["subscription"]}, acct, before_position, before_emergency)

    fkey = float_key(utility_id, vendor)
    storage_set(fkey, storage_get(fkey, 0) + amount)
    vendor_c["reversed"] = vendor_c["reversed"] + p["commission"]
    storage_set(commission_key(utility_id, vendor), vendor_c)
    ledger_add(utility_id, {"purchase_reversed": amount, "float_balance": amount, "commission_reversed": p["commission"]})

    # The operator figures lose what the sale sold (counted on the UTC day of the reversal).
    add_activities(meter_record(p["meter"]), {"prepaid_sold": 0 - amount, "prepaid_sales_reversed": 1})
    p["void"] = True
    p["reversed"] = True
    p["reversed_at"] = now
    p["reversal_reason"] = reason
    storage_set(storage_key("buy:", [purchase_id]), p)
    emit(
        "purchase_reversed",
        {
            "id": purchase_id,
            "meter": p["meter"],
            "subscription": p["subscription"],
            "amount": amount,
            "commission": p["commission"],
            "repaid_emergency": repaid,
            "debt_recovered": recovered,
            "balance": acct["balance"],
            "credit": credit_of(acct),
            "sts_ref": p["sts_ref"],
            "vendor": vendor,
            "reason": reason,
            "by": vendor,
            "at": now,
        },
    )
