"""Prepaid vouchers (scratch cards) as key pairs: the utility registers each voucher's public
key, the consumer redeems by signing the meter and their own account with the key derived
from the printed code (wallet/vouchers.py). Named-actor scenarios through LocalChain, each
with its ``test_invalid_*`` twin, and the wallet-side derivation checked against its spec.

Bob (``world.bob``) is the prepaid consumer on meter ``MTR-B``; Mallory is a prepaid
consumer on her own meter who watches the mempool.
"""

from __future__ import annotations

import hashlib
from typing import Any

import nacl.signing
import pytest

from chain import codec
from tests.contracts.test_prepaid import T0, credit
from wallet import vouchers

CODES = ["1111-2222-3333-4444-5555", "6666-7777-8888-9999-0000"]
VALUE = 5_000


def issue(world: Any, codes: list[str], value: int = VALUE, utility: str | None = None,
          admin: Any = None) -> str:
    keys = [vouchers.voucher_key(c).public_key for c in codes]
    r = world.ok(admin or world.admin, "payments", "issue_vouchers", [utility or world.utility, value, keys])
    return str(world.chain.return_value(r))


def redeem_args(code: str, meter: str, account: Any) -> list[Any]:
    public_key, signature = vouchers.sign_redemption(code, meter, account.public_key)
    return [meter, public_key, signature]


def status(world: Any, code: str) -> dict[str, Any]:
    return dict(world.view("payments", "voucher", [vouchers.voucher_key(code).public_key]))


# --- the wallet-side derivation ------------------------------------------------------------


def test_basic_code_derivation_follows_the_documented_formula() -> None:
    key = vouchers.voucher_key("1111-2222 3333-4444-abcd")
    assert key.code == "1111222233334444ABCD"
    seed = hashlib.sha256(b"mc/voucher-seed\x00" + b"1111222233334444ABCD").digest()
    assert key.seed == seed
    assert key.public_key == bytes(nacl.signing.SigningKey(seed).verify_key)
    # Separators and case do not change the key: a consumer may type the code either way.
    assert vouchers.voucher_key("1111222233334444ABCD") == key
    account = bytes(range(32))
    message = vouchers.redemption_message("MTR-B", account)
    assert message == b"mc/voucher" + bytes(6) + codec.encode(["MTR-B", account])
    public_key, signature = vouchers.sign_redemption("1111222233334444abcd", "MTR-B", account)
    nacl.signing.VerifyKey(public_key).verify(message, signature)


def test_basic_new_codes_are_long_random_and_usable() -> None:
    codes = {vouchers.new_code() for _ in range(50)}
    assert len(codes) == 50
    for code in codes:
        assert len(code.replace("-", "")) == 20 and code.replace("-", "").isdigit()
        assert vouchers.voucher_key(code).code == code.replace("-", "")


def test_invalid_codes_too_short_or_with_foreign_characters() -> None:
    with pytest.raises(ValueError, match="at least 16 characters expected, found 12"):
        vouchers.voucher_key("1234-5678-9012")
    with pytest.raises(ValueError, match="ASCII letters, digits"):
        vouchers.voucher_key("1111-2222-3333-4444-555ş")
    with pytest.raises(ValueError, match="32-byte account key expected, found 3"):
        vouchers.redemption_message("MTR-B", b"abc")
    with pytest.raises(ValueError, match="at least 16 digits"):
        vouchers.new_code(12)


# --- issue and redeem ----------------------------------------------------------------------


def test_basic_bob_redeems_a_voucher_once(world: Any) -> None:
    r = world.ok(world.admin, "payments", "issue_vouchers",
                 [world.utility, VALUE, [vouchers.voucher_key(c).public_key for c in CODES]])
    (issued,) = world.chain.events(r, "vouchers_issued")
    assert issued["total"] == 2 * VALUE and issued["count"] == 2 and issued["by"] == world.admin.public_key
    r = world.ok(world.bob, "payments", "redeem_voucher", redeem_args(CODES[0], world.meters["bob"], world.bob))
    (event,) = world.chain.events(r, "voucher_redeemed")
    assert event["amount"] == VALUE and event["by"] == world.bob.public_key and event["subscription"] == "MTR-B#1"
    assert credit(world) == VALUE
    v = status(world, CODES[0])
    assert v["status"] == "redeemed" and v["meter"] == world.meters["bob"]
    assert v["redeemed_by"] == world.bob.public_key and v["redemption"] == event["id"]
    assert status(world, CODES[1])["status"] == "issued"
    assert world.view("payments", "ledger", [world.utility])["vouchers"] == VALUE


def test_invalid_voucher_reused(world: Any) -> None:
    issue(world, CODES[:1])
    world.ok(world.bob, "payments", "redeem_voucher", redeem_args(CODES[0], world.meters["bob"], world.bob))
    error = world.fail(world.bob, "payments", "redeem_voucher", redeem_args(CODES[0], world.meters["bob"], world.bob))
    assert "unused voucher expected" in error and world.meters["bob"] in error
    # Even a correct signature of another holder of the code cannot spend it again.
    carol = world.new_consumer("carol", "prepaid")
    error = world.fail(carol, "payments", "redeem_voucher", redeem_args(CODES[0], world.meters["carol"], carol))
    assert "unused voucher expected" in error
    assert credit(world) == VALUE and credit(world, world.meters["carol"]) == 0


def test_invalid_mallory_front_runs_bobs_redemption_from_the_mempool(world: Any) -> None:
    """Mallory copies bob's pending transaction and gets hers into the block first, for her
    own meter and for bob's: both fail, and bob's own transaction, after hers, succeeds."""
    issue(world, CODES[:1])
    mallory = world.new_consumer("mallory", "prepaid")
    bob_args = redeem_args(CODES[0], world.meters["bob"], world.bob)
    stolen_for_her_meter = [world.meters["mallory"], bob_args[1], bob_args[2]]
    receipts = world.chain.block([
        (mallory, "payments", "redeem_voucher", stolen_for_her_meter),
        (mallory, "payments", "redeem_voucher", bob_args),
        (world.bob, "payments", "redeem_voucher", bob_args),
    ])
    assert [r.ok for r in receipts] == [False, False, True]
    for r in receipts[:2]:
        assert "does not verify" in str(r.error) and mallory.public_key.hex() in str(r.error)
    assert credit(world) == VALUE and credit(world, world.meters["mallory"]) == 0


def test_invalid_signature_for_another_meter_of_the_same_consumer(world: Any) -> None:
    """Bob has a second prepaid meter: a signature for MTR-B does not redeem on it."""
    issue(world, CODES[:1])
    world.register_meter("MTR-B2")
    world.ok(world.bob, "registry", "subscribe", ["MTR-B2", "prepaid", b""])
    world.ok(world.operator, "registry", "approve_subscription", ["MTR-B2"])
    args = redeem_args(CODES[0], world.meters["bob"], world.bob)
    error = world.fail(world.bob, "payments", "redeem_voucher", ["MTR-B2", args[1], args[2]])
    assert "signature for meter MTR-B2" in error and "does not verify" in error
    assert status(world, CODES[0])["status"] == "issued"
    world.ok(world.bob, "payments", "redeem_voucher", redeem_args(CODES[0], "MTR-B2", world.bob))
    assert credit(world, "MTR-B2") == VALUE and credit(world) == 0


def test_invalid_signature_for_another_account_on_the_same_meter(world: Any) -> None:
    """Bob signs for MTR-B, then carol moves in: bob's signature names bob, so carol (now the
    consumer of MTR-B) cannot submit it; bob, no longer the consumer, cannot either."""
    issue(world, CODES[:1])
    args = redeem_args(CODES[0], world.meters["bob"], world.bob)
    carol = world.chain.actor("carol")
    world.ok(world.operator, "registry", "move_in", [world.meters["bob"], carol.public_key, 0], at=T0)
    error = world.fail(carol, "payments", "redeem_voucher", args, at=T0 + 1)
    assert "does not verify" in error and carol.public_key.hex() in error
    error = world.fail(world.bob, "payments", "redeem_voucher", args, at=T0 + 2)
    assert "consumer" in error and carol.public_key.hex() in error
    world.ok(carol, "payments", "redeem_voucher", redeem_args(CODES[0], world.meters["bob"], carol), at=T0 + 3)
    assert credit(world) == VALUE


def test_invalid_signature_by_another_key(world: Any) -> None:
    issue(world, CODES)
    meter = world.meters["bob"]
    first = vouchers.voucher_key(CODES[0]).public_key
    _, by_second_voucher = vouchers.sign_redemption(CODES[1], meter, world.bob.public_key)
    by_bob = nacl.signing.SigningKey(world.bob.seed).sign(
        vouchers.redemption_message(meter, world.bob.public_key)).signature
    for signature in (by_second_voucher, by_bob, bytes(64)):
        error = world.fail(world.bob, "payments", "redeem_voucher", [meter, first, signature])
        assert "does not verify" in error
    assert status(world, CODES[0])["status"] == "issued" and credit(world) == 0


def test_invalid_unknown_voucher_or_another_utilitys(world: Any) -> None:
    issue(world, CODES[:1])
    error = world.fail(world.bob, "payments", "redeem_voucher",
                       redeem_args("1111-2222-3333-4444-5556", world.meters["bob"], world.bob))
    assert "unknown voucher key" in error
    water_admin = world.chain.actor("water-admin")
    world.ok(world.gov, "registry", "register_utility",
             ["WATER", "Demo Water", "water", "TRY", "operator", water_admin.public_key])
    issue(world, CODES[1:], utility="WATER", admin=water_admin)
    error = world.fail(world.bob, "payments", "redeem_voucher", redeem_args(CODES[1], world.meters["bob"], world.bob))
    assert "a voucher issued by ELEC expected" in error
    assert credit(world) == 0


def test_invalid_malformed_key_or_signature(world: Any) -> None:
    issue(world, CODES[:1])
    meter, key, signature = redeem_args(CODES[0], world.meters["bob"], world.bob)
    error = world.fail(world.bob, "payments", "redeem_voucher", [meter, key[:31], signature])
    assert "32-byte voucher public key expected" in error
    error = world.fail(world.bob, "payments", "redeem_voucher", [meter, key, signature[:63]])
    assert "64-byte voucher signature expected" in error
    error = world.fail(world.bob, "payments", "redeem_voucher", [meter, CODES[0], signature])
    assert "32-byte voucher public key expected" in error


def test_invalid_redemption_on_a_postpaid_meter(world: Any) -> None:
    issue(world, CODES[:1])
    error = world.fail(world.alice, "payments", "redeem_voucher",
                       redeem_args(CODES[0], world.meters["alice"], world.alice))
    assert "prepaid subscription" in error and "postpaid" in error


# --- issuing ---------------------------------------------------------------------------------


def test_basic_full_voucher_batch_fits_in_one_transaction(world: Any) -> None:
    keys = [vouchers.voucher_key(f"BATCH-{i:016d}").public_key for i in range(200)]
    r = world.ok(world.admin, "payments", "issue_vouchers", [world.utility, 1_000, keys])
    assert world.chain.events(r, "vouchers_issued")[0]["total"] == 200_000
    assert r.gas_used < 1_000_000


def test_invalid_voucher_issue(world: Any) -> None:
    key = vouchers.voucher_key(CODES[0]).public_key
    world.ok(world.admin, "payments", "set_policy", [world.utility, {"voucher_denominations": [1_000, 5_000]}])
    error = world.fail(world.admin, "payments", "issue_vouchers", [world.utility, 2_000, [key]])
    assert "denomination" in error and "2000" in error
    error = world.fail(world.vendor, "payments", "issue_vouchers", [world.utility, 1_000, [key]])
    assert "role admin" in error
    error = world.fail(world.admin, "payments", "issue_vouchers", [world.utility, 1_000, [key[:16]]])
    assert "32-byte voucher public keys expected" in error
    error = world.fail(world.admin, "payments", "issue_vouchers", [world.utility, 1_000, []])
    assert "between 1 and 200 vouchers per batch expected, found 0" in error
    keys = [vouchers.voucher_key(f"BATCH-{i:016d}").public_key for i in range(201)]
    error = world.fail(world.admin, "payments", "issue_vouchers", [world.utility, 1_000, keys])
    assert "between 1 and 200 vouchers per batch expected, found 201" in error
    world.ok(world.admin, "payments", "issue_vouchers", [world.utility, 1_000, [key]])
    error = world.fail(world.admin, "payments", "issue_vouchers", [world.utility, 5_000, [key]])
    assert "already issued" in error
