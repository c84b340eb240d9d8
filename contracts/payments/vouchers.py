"""Scratch-card vouchers: issued in batches as Ed25519 public keys, redeemed once with a
signature by the code's key.

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.keys import storage_key
from common.roles import require_role
from common.text import shape
from payments.accounts import (
    add_credit,
    after_credit,
    credit_of,
    load_account,
    position_of,
    prepaid_subscription,
    save_account,
)
from payments.checks import check_amount, ints_text, meter_record, next_id
from payments.ledger import ledger_add
from payments.policy import policy_of

MAX_VOUCHERS_PER_BATCH = 200  # ~0.83 M gas: well inside one transaction
# What a voucher key signs to redeem: this tag, then canonical_bytes([meter, account]).
# b"mc/voucher" padded with zero bytes to 16, the length of chain.hashing's domain tags.
VOUCHER_TAG = b"mc/voucher\x00\x00\x00\x00\x00\x00"


@public
def issue_vouchers(utility_id: str, denomination: int, public_keys: list) -> str:
    """Issue a batch of scratch-card vouchers of one denomination, by an admin of the
    utility. Only the vouchers' Ed25519 public keys are stored (each derived from a printed
    code, wallet/vouchers.py); the codes never reach the chain. Returns the batch id."""
    require_role(utility_id, ["admin"])
    check_amount(denomination, "voucher denomination")
    allowed = policy_of(utility_id)["voucher_denominations"]
    require(
        len(allowed) == 0 or denomination in allowed,
        f"a voucher denomination among {ints_text(allowed)} expected, found {denomination}",
    )
    require(isinstance(public_keys, list), f"a list of voucher public keys expected, found {shape(public_keys)}")
    count = len(public_keys)
    require(
        0 < count and count <= MAX_VOUCHERS_PER_BATCH,
        f"between 1 and {MAX_VOUCHERS_PER_BATCH} vouchers per batch expected, found {count}",
    )
    batch = next_id("VB")
    now = block_time()
    for pk in public_keys:
        require(isinstance(pk, bytes) and len(pk) == 32, f"32-byte voucher public keys expected, found {shape(pk)}")
        key = storage_key("voucher:", [bytes_hex(pk)])
        require(not storage_has(key), f"a new voucher key expected, found {bytes_hex(pk)} already issued")
        storage_set(
            key,
            {"utility": utility_id, "denomination": denomination, "batch": batch, "status": "issued",
             "issued_by": caller(), "issued_at": now, "redeemed_by": b"", "meter": "", "redeemed_at": 0, "redemption": ""},
        )
    ledger_add(utility_id, {"vouchers_issued": denomination * count})
    emit(
        "vouchers_issued",
        {"batch": batch, "utility": utility_id, "denomination": denomination, "count": count,
         "total": denomination * count, "by": caller(), "at": now},
    )
    return batch


@view
def voucher(public_key: bytes):
    return storage_get(storage_key("voucher:", [bytes_hex(public_key)]))


@public
def redeem_voucher(meter_id: str, voucher_public_key: bytes, signature: bytes) -> str:
    """The consumer of a prepaid subscription redeems a voucher on it by signing, with the
    voucher's key, the meter and the consumer's own account: the code never travels, and a
    signature copied from the mempool is worth nothing for another meter or account."""
    m = meter_record(meter_id)
    utility_id = m["utility"]
    require(
        isinstance(voucher_public_key, bytes) and len(voucher_public_key) == 32,
        f"a 32-byte voucher public key expected, found {shape(voucher_public_key)}",
    )
    require(
        isinstance(signature, bytes) and len(signature) == 64,
        f"a 64-byte voucher signature expected, found {shape(signature)}",
    )
    key = storage_key("voucher:", [bytes_hex(voucher_public_key)])
    v = storage_get(key)
    require(
        v is not None and v["utility"] == utility_id,
        f"a voucher issued by {utility_id} expected, found unknown voucher key {bytes_hex(voucher_public_key)}",
    )
    require(
        v["status"] == "issued",
        f"an unused voucher expected, found one redeemed at {v['redeemed_at']} on {v['meter']}",
    )
    who = caller()
    # Checked before the subscription: whoever copies the signature learns why it fails.
    require(
        ed25519_verify(voucher_public_key, VOUCHER_TAG + canonical_bytes([meter_id, who]), signature),
        f"a voucher signature for meter {meter_id} and account {bytes_hex(who)} expected, found one that does not verify",
    )
    sub = prepaid_subscription(meter_id)
    require(
        who == sub["consumer"],
        f"the consumer {bytes_hex(sub['consumer'])} of {meter_id} expected, found {bytes_hex(who)}",
    )
    rid = next_id("VCH")
    now = block_time()
    amount = v["denomination"]
    v["status"] = "redeemed"
    v["redeemed_by"] = who
    v["meter"] = meter_id
    v["redeemed_at"] = now
    v["redemption"] = rid
    storage_set(key, v)

    acct = load_account(sub, meter_id, utility_id)
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    before_recovered = acct.get("debt_recovered", 0)
    repaid = add_credit(acct, amount)
    after_credit(sub, acct)
    save_account(sub, acct, before_position, before_emergency)
    ledger_add(utility_id, {"vouchers": amount})
    emit(
        "voucher_redeemed",
        {"id": rid, "meter": meter_id, "subscription": sub["id"], "amount": amount, "batch": v["batch"],
         "repaid_emergency": repaid, "debt_recovered": acct.get("debt_recovered", 0) - before_recovered,
         "balance": acct["balance"], "credit": credit_of(acct), "by": who, "at": now},
    )
    call("supply", "on_payment", [meter_id])
    return rid
