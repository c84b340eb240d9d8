"""Vendors' floats (money prepaid to the utility that their sales draw on) and their
commission: earned on sales, reversed with reversed sales, settled in payouts.

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.keys import storage_key
from common.roles import has_role, require_role
from common.text import shape
from payments.checks import check_amount, check_reference, next_id
from payments.ledger import ledger_add


def float_key(utility_id: str, vendor: bytes) -> str:
    return storage_key("float:", [utility_id, bytes_hex(vendor)])


@public
def register_vendor_float(utility_id: str, vendor: bytes, amount: int) -> int:
    """Record money a vendor prepaid to the utility; its sales draw on it. By an admin or
    agent of the utility. Returns the vendor's float."""
    require_role(utility_id, ["admin", "agent"])
    require(isinstance(vendor, bytes), f"vendor account of type bytes expected, found {shape(vendor)}")
    require(has_role(vendor, utility_id, "vendor"), f"a registered vendor of {utility_id} expected, found {bytes_hex(vendor)}")
    check_amount(amount, "vendor float")
    key = float_key(utility_id, vendor)
    balance = storage_get(key, 0) + amount
    storage_set(key, balance)
    ledger_add(utility_id, {"float_deposited": amount, "float_balance": amount})
    emit(
        "vendor_float",
        {"utility": utility_id, "vendor": vendor, "amount": amount, "float": balance, "by": caller(), "at": block_time()},
    )
    return balance


def commission_key(utility_id: str, vendor: bytes) -> str:
    return storage_key("comm:", [utility_id, bytes_hex(vendor)])


def commission_load(utility_id: str, vendor: bytes) -> dict:
    """A vendor's commission totals: ``earned`` on sales, ``reversed`` with reversed sales,
    ``settled`` (paid out) in ``settlements`` payouts. What is owed is the rest."""
    return storage_get(commission_key(utility_id, vendor), {"earned": 0, "reversed": 0, "settled": 0, "settlements": 0})


def commission_owed(c: dict) -> int:
    return c["earned"] - c["reversed"] - c["settled"]


@view
def vendor_float(utility_id: str, vendor: bytes) -> dict:
    """The vendor's float and the commission accrued and not yet settled."""
    return {
        "float": storage_get(float_key(utility_id, vendor), 0),
        "commission": commission_owed(commission_load(utility_id, vendor)),
    }


def settlement_index(utility_id: str, vendor: bytes) -> str:
    return storage_key("cms-v:", [utility_id, bytes_hex(vendor), ""])


@public
def settle_commission(utility_id: str, vendor: bytes, amount: int, reference: str) -> str:
    """Record a payout of a vendor's accrued commission, by an admin or agent of the
    utility; never more than is accrued and not yet settled. ``reference`` is the
    utility's own payout document (unique per utility). Returns the settlement id."""
    require_role(utility_id, ["admin", "agent"])
    require(isinstance(vendor, bytes) and len(vendor) == 32, f"a 32-byte vendor account expected, found {shape(vendor)}")
    check_amount(amount, "commission settlement")
    check_reference(reference)
    ref_key = storage_key("cref:", [utility_id, reference])
    require(
        not storage_has(ref_key),
        f"a new settlement reference expected, found {reference} already used by {storage_get(ref_key)}",
    )
    c = commission_load(utility_id, vendor)
    owed = commission_owed(c)
    require(amount <= owed, f"a settlement of at most the accrued commission {owed} expected, found {amount}")
    c["settled"] = c["settled"] + amount
    c["settlements"] = c["settlements"] + 1
    storage_set(commission_key(utility_id, vendor), c)
    sid = next_id("CMS")
    record = {"id": sid, "utility": utility_id, "vendor": vendor, "amount": amount, "reference": reference,
              "owed_before": owed, "owed_after": owed - amount, "by": caller(), "at": block_time()}
    storage_set(storage_key("cms:", [sid]), record)
    storage_set(settlement_index(utility_id, vendor) + sid, amount)
    storage_set(ref_key, sid)
    ledger_add(utility_id, {"commission_settled": amount})
    emit("commission_settled", record)
    return sid


@view
def commission_statement(utility_id: str, vendor: bytes) -> dict:
    """A vendor's commission for reconciliation: always ``owed == earned - reversed -
    settled``; ``settlements`` payouts are listed by ``commission_settlements``."""
    c = commission_load(utility_id, vendor)
    return {
        "utility": utility_id,
        "vendor": vendor,
        "earned": c["earned"],
        "reversed": c["reversed"],
        "settled": c["settled"],
        "owed": commission_owed(c),
        "settlements": c["settlements"],
        "float": storage_get(float_key(utility_id, vendor), 0),
    }


@view
def commission_settlements(utility_id: str, vendor: bytes, start_after: str, limit: int) -> list:
    """The vendor's settlement records in issue order, after id ``start_after``."""
    prefix = settlement_index(utility_id, vendor)
    after = ""
    if len(start_after) > 0:
        after = prefix + start_after
    items = []
    for key in storage_keys(prefix, after, limit):
        items.append(storage_get(storage_key("cms:", [key[len(prefix):]])))
    return items


@view
def commission_settlement(settlement_id: str):
    return storage_get(storage_key("cms:", [settlement_id]))
