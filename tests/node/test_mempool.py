"""The mempool: admission with a reason for every refusal, nonce order, limits, recheck after a
block, and signatures verified once per node (never trusted from another node)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chain.transition as transition
from chain.errors import InvalidBlock
from chain.signatures import sign_transaction
from chain.transition import apply_block, get_nonce, propose_block
from chain.types import Height, Signature, Timestamp, Transaction
from node.localchain import Actor, LocalChain
from node.mempool import Mempool, MempoolLimits, Reason

ALICE = Actor.named("alice")
BOB = Actor.named("bob")
CAROL = Actor.named("carol")


@pytest.fixture(scope="module")
def genesis_chain() -> LocalChain:
    return LocalChain.genesis()


@pytest.fixture
def chain() -> LocalChain:
    return LocalChain.genesis()


def tx_of(chain: LocalChain, actor: Actor, nonce: int, **changes: object) -> Transaction:
    """A signed call that is valid on ``chain`` (its execution may fail: the pool does not care)."""
    tx = chain.transaction(actor, "registry", "register_utility", ["U" + str(nonce), "n", "water", "EUR", "auto", actor.public_key], nonce)
    if changes:
        tx = sign_transaction(replace(tx, signature=Signature(bytes(64)), **changes), actor.seed)
    return tx


def nonces_of(chain: LocalChain):  # type: ignore[no-untyped-def]
    return lambda account: get_nonce(chain.state, account)


def admit(pool: Mempool, chain: LocalChain, tx: Transaction):  # type: ignore[no-untyped-def]
    return pool.add_raw(tx.encode(), chain.height + 1, nonces_of(chain))


# --- admission ----------------------------------------------------------------------------


def test_basic_admission_gives_the_hash_and_records_the_verified_signature(genesis_chain: LocalChain) -> None:
    pool = Mempool(genesis_chain.chain_id)
    tx = tx_of(genesis_chain, ALICE, 0)
    answer = admit(pool, genesis_chain, tx)
    assert answer.accepted and answer.tx_hash == tx.hash and answer.reason is None
    assert tx.hash in pool and tx.hash in pool.verified_hashes()
    assert pool.get(tx.hash) == tx and len(pool) == 1 and pool.size_bytes == len(tx.encode())
    assert pool.stats.admitted == 1


def test_invalid_bytes_are_refused_as_undecodable(genesis_chain: LocalChain) -> None:
    pool = Mempool(genesis_chain.chain_id)
    for raw in (b"", b"\xc1", b"\x93\x01\x02\x03", tx_of(genesis_chain, ALICE, 0).encode() + b"\x00"):
        answer = pool.add_raw(raw, 1, nonces_of(genesis_chain))
        assert not answer.accepted and answer.reason is Reason.DECODE and answer.tx_hash is None
        assert "expected" in answer.message
    assert len(pool) == 0 and pool.stats.refused[Reason.DECODE] == 4


def test_invalid_oversized_bytes_are_refused_before_decoding(genesis_chain: LocalChain) -> None:
    pool = Mempool(genesis_chain.chain_id, MempoolLimits(max_tx_bytes=100))
    answer = admit(pool, genesis_chain, tx_of(genesis_chain, ALICE, 0))
    assert answer.reason is Reason.TOO_LARGE
    assert "at most 100 bytes expected" in answer.message and "found" in answer.message


def test_invalid_chain_id_is_refused(genesis_chain: LocalChain) -> None:
    pool = Mempool(genesis_chain.chain_id)
    answer = admit(pool, genesis_chain, tx_of(genesis_chain, ALICE, 0, chain_id="other-chain"))
    assert answer.reason is Reason.WRONG_CHAIN
    assert "'meterchain-local' expected, found 'other-chain'" in answer.message


def test_invalid_expired_transaction_is_refused(genesis_chain: LocalChain) -> None:
    pool = Mempool(genesis_chain.chain_id)
    tx = tx_of(genesis_chain, ALICE, 0, expiry_height=Height(5))
    answer = pool.add_raw(tx.encode(), 6, nonces_of(genesis_chain))
    assert answer.reason is Reason.EXPIRED and "height <= 5 expected, found height 6" in answer.message
    assert pool.add_raw(tx.encode(), 5, nonces_of(genesis_chain)).accepted


def test_invalid_gas_limit_is_refused(genesis_chain: LocalChain) -> None:
    pool = Mempool(genesis_chain.chain_id)
    answer = admit(pool, genesis_chain, tx_of(genesis_chain, ALICE, 0, gas_limit=transition.MAX_TX_GAS + 1))
    assert answer.reason is Reason.INVALID and "gas limit of at most" in answer.message


def test_invalid_signature_is_refused_and_not_recorded_as_verified(genesis_chain: LocalChain) -> None:
    pool = Mempool(genesis_chain.chain_id)
    good = tx_of(genesis_chain, ALICE, 0)
    forged = replace(good, signature=Signature(bytes(64)))  # same body, someone else's bytes
    answer = admit(pool, genesis_chain, forged)
    assert answer.reason is Reason.BAD_SIGNATURE and "does not verify" in answer.message
    assert forged.hash not in pool.verified_hashes() and len(pool) == 0
    signed_by_bob = replace(sign_transaction(replace(good, sender=BOB.public_key), BOB.seed), sender=ALICE.public_key)
    assert admit(pool, genesis_chain, signed_by_bob).reason is Reason.BAD_SIGNATURE


def test_invalid_duplicate_is_refused(genesis_chain: LocalChain) -> None:
    pool = Mempool(genesis_chain.chain_id)
    tx = tx_of(genesis_chain, ALICE, 0)
    assert admit(pool, genesis_chain, tx).accepted
    answer = admit(pool, genesis_chain, tx)
    assert answer.reason is Reason.DUPLICATE and tx.hash.hex() in answer.message and len(pool) == 1
    assert answer.tx_hash == tx.hash


def test_invalid_duplicate_bytes_are_refused_without_a_decode(
    genesis_chain: LocalChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = Mempool(genesis_chain.chain_id)
    tx = tx_of(genesis_chain, ALICE, 0)
    assert admit(pool, genesis_chain, tx).accepted

    def no_decode(data: bytes) -> Transaction:
        raise AssertionError("a pooled transaction's bytes decoded again")

    monkeypatch.setattr(Transaction, "decode", staticmethod(no_decode))
    assert admit(pool, genesis_chain, tx).reason is Reason.DUPLICATE
    # Other bytes (here: the same fields in a longer form) are decoded, and refused there.
    longer = b"\xdc\x00\x08" + tx.encode()[1:]
    with pytest.raises(AssertionError, match="decoded again"):
        pool.add_raw(longer, genesis_chain.height + 1, nonces_of(genesis_chain))


def test_invalid_second_transaction_for_a_taken_nonce_is_refused(genesis_chain: LocalChain) -> None:
    pool = Mempool(genesis_chain.chain_id)
    first = tx_of(genesis_chain, ALICE, 0)
    other = tx_of(genesis_chain, ALICE, 0, gas_limit=1_999_999)
    assert admit(pool, genesis_chain, first).accepted
    answer = admit(pool, genesis_chain, other)
    assert answer.reason is Reason.NONCE_TAKEN and first.hash.hex() in answer.message


def test_invalid_nonce_below_the_accounts_is_refused(chain: LocalChain) -> None:
    chain.submit([tx_of(chain, ALICE, 0), tx_of(chain, ALICE, 1)])
    pool = Mempool(chain.chain_id)
    answer = admit(pool, chain, tx_of(chain, ALICE, 1))
    assert answer.reason is Reason.NONCE_TOO_LOW
    assert answer.message == "nonce >= 2 (the account's next) expected, found 1"
    assert admit(pool, chain, tx_of(chain, ALICE, 2)).accepted


def test_invalid_nonce_too_far_beyond_the_accounts_is_refused(genesis_chain: LocalChain) -> None:
    pool = Mempool(genesis_chain.chain_id, MempoolLimits(max_nonce_ahead=3))
    assert admit(pool, genesis_chain, tx_of(genesis_chain, ALICE, 3)).accepted
    answer = admit(pool, genesis_chain, tx_of(genesis_chain, ALICE, 4))
    assert answer.reason is Reason.NONCE_TOO_HIGH
    assert answer.message == "nonce <= 3 (account nonce 0 + 3) expected, found 4"


def test_invalid_sender_over_its_limit_is_refused_while_others_are_admitted(genesis_chain: LocalChain) -> None:
    pool = Mempool(genesis_chain.chain_id, MempoolLimits(max_per_sender=2))
    assert admit(pool, genesis_chain, tx_of(genesis_chain, ALICE, 0)).accepted
    assert admit(pool, genesis_chain, tx_of(genesis_chain, ALICE, 5)).accepted
    answer = admit(pool, genesis_chain, tx_of(genesis_chain, ALICE, 1))
    assert answer.reason is Reason.SENDER_FULL
    assert answer.message == "at most 2 pending transactions per sender expected, found 2 already"
    assert admit(pool, genesis_chain, tx_of(genesis_chain, BOB, 0)).accepted


def test_invalid_full_pool_is_refused_by_count_and_by_bytes(genesis_chain: LocalChain) -> None:
    by_count = Mempool(genesis_chain.chain_id, MempoolLimits(max_transactions=2))
    assert admit(by_count, genesis_chain, tx_of(genesis_chain, ALICE, 0)).accepted
    assert admit(by_count, genesis_chain, tx_of(genesis_chain, BOB, 0)).accepted
    answer = admit(by_count, genesis_chain, tx_of(genesis_chain, CAROL, 0))
    assert answer.reason is Reason.POOL_FULL and "at most 2 pending transactions expected, found 2" in answer.message
    one = tx_of(genesis_chain, ALICE, 0)
    by_bytes = Mempool(genesis_chain.chain_id, MempoolLimits(max_bytes=len(one.encode()) + 10))
    assert admit(by_bytes, genesis_chain, one).accepted
    assert admit(by_bytes, genesis_chain, tx_of(genesis_chain, BOB, 0)).reason is Reason.POOL_FULL


# --- nonce order --------------------------------------------------------------------------


def test_future_nonces_wait_aside_until_the_gap_fills(genesis_chain: LocalChain) -> None:
    pool = Mempool(genesis_chain.chain_id)
    nonces = nonces_of(genesis_chain)
    two, three, zero, one = (tx_of(genesis_chain, ALICE, n) for n in (2, 3, 0, 1))
    for tx in (two, three):
        assert admit(pool, genesis_chain, tx).accepted
    assert pool.ready(nonces, 100) == []
    assert admit(pool, genesis_chain, zero).accepted
    assert pool.ready(nonces, 100) == [zero]
    assert admit(pool, genesis_chain, one).accepted
    assert pool.ready(nonces, 100) == [zero, one, two, three]
    assert pool.ready(nonces, 2) == [zero, one]


def test_ready_interleaves_senders_first_admitted_first(genesis_chain: LocalChain) -> None:
    pool = Mempool(genesis_chain.chain_id)
    a0, b0, a1, b1 = tx_of(genesis_chain, ALICE, 0), tx_of(genesis_chain, BOB, 0), tx_of(genesis_chain, ALICE, 1), tx_of(genesis_chain, BOB, 1)
    for tx in (b1, a0, b0, a1):  # Bob's nonce 1 arrives first but cannot go before his nonce 0
        assert admit(pool, genesis_chain, tx).accepted
    assert pool.ready(nonces_of(genesis_chain), 10) == [a0, b0, b1, a1]
    assert pool.ready(nonces_of(genesis_chain), 10, max_bytes=len(a0.encode())) == [a0]


@settings(max_examples=30, deadline=None)
@given(st.permutations(list(range(6))), st.sets(st.integers(0, 5), max_size=3))
def test_ready_is_always_a_gapless_run_from_the_account_nonce(
    genesis_chain: LocalChain, order: list[int], missing: set[int]
) -> None:
    pool = Mempool(genesis_chain.chain_id)
    txs = {n: tx_of(genesis_chain, ALICE, n) for n in range(6)}
    for n in order:
        if n not in missing:
            assert admit(pool, genesis_chain, txs[n]).accepted
    run = [tx.nonce for tx in pool.ready(nonces_of(genesis_chain), 100)]
    expected_end = min(missing) if missing else 6
    assert run == list(range(expected_end))
    assert pool.sender_nonces(ALICE.public_key) == sorted(set(range(6)) - missing)


# --- recheck after a block ----------------------------------------------------------------


def test_recheck_removes_committed_and_stale_and_expired_and_promotes_the_rest(chain: LocalChain) -> None:
    ticks = iter(range(1, 100))
    pool = Mempool(chain.chain_id, clock=lambda: float(next(ticks)))
    nonces = nonces_of(chain)
    a0, a1, a2 = (tx_of(chain, ALICE, n) for n in range(3))
    b0 = tx_of(chain, BOB, 0)
    b0_other = tx_of(chain, BOB, 0, gas_limit=1_999_999)  # Bob's nonce 0 is spent elsewhere
    c0 = tx_of(chain, CAROL, 0, expiry_height=Height(1))
    for tx in (a0, a1, a2, b0, c0):
        assert admit(pool, chain, tx).accepted
    block_txs = pool.ready(nonces, 2)
    assert block_txs == [a0, a1]
    chain.submit([*block_txs, b0_other])
    result = pool.recheck([*block_txs, b0_other], chain.height + 1, nonces)
    # b0's nonce is now below Bob's; c0 expired at height 1; a2 is what remains, now ready.
    assert result.evicted == 2 and pool.stats.evicted_on_recheck == 2
    assert result.committed_admitted_at == (1.0, 2.0)  # the test clock's admission times
    assert pool.dropped_reason(b0.hash) == "nonce >= 1 (the account's next) expected, found 0: another transaction used it"
    assert pool.dropped_reason(c0.hash) == "inclusion at height <= 1 expected, found next height 2: expired"
    assert pool.dropped_reason(a0.hash) is None and pool.dropped_reason(a2.hash) is None
    assert [pool.get(h) for h in pool.verified_hashes()] == [a2]
    assert pool.ready(nonces, 10) == [a2]
    assert pool.size_bytes == len(a2.encode())


def test_recheck_keeps_the_other_senders_transactions_and_forgets_the_committed_ones(chain: LocalChain) -> None:
    """A block moves only its senders' nonces: Bob's future transaction (nonce 1, his 0 not
    pooled) stays; the expiry index does not keep every transaction ever committed."""
    pool = Mempool(chain.chain_id)
    nonces = nonces_of(chain)
    alice = [tx_of(chain, ALICE, n) for n in range(40)]
    bob_future = tx_of(chain, BOB, 1)
    for tx in (*alice, bob_future):
        assert admit(pool, chain, tx).accepted
    for start in range(0, 40, 10):
        block_txs = pool.ready(nonces, 10)
        assert block_txs == alice[start : start + 10]
        chain.submit(block_txs)
        pool.recheck(block_txs, chain.height + 1, nonces)
    assert list(pool.verified_hashes()) == [bob_future.hash] and pool.stats.evicted_on_recheck == 0
    assert len(pool._expiries) <= 2 * len(pool) + 1024
    for _ in range(3000):  # committed far from their expiry: the index is rebuilt, not grown
        pool._expiries.append((2**40, 0, bob_future.hash))
    pool.recheck([], chain.height + 1, nonces)
    assert len(pool._expiries) == 1


# --- verified once per node ----------------------------------------------------------------


def test_a_block_of_admitted_transactions_is_applied_without_verifying_them_again(
    chain: LocalChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = Mempool(chain.chain_id)
    txs = [tx_of(chain, ALICE, n) for n in range(3)] + [tx_of(chain, BOB, 0)]
    for tx in txs:
        assert admit(pool, chain, tx).accepted
    not_pooled = tx_of(chain, CAROL, 0)
    verified: list[bytes] = []
    real_check = transition.check_transaction_signature

    def counting_check(tx: Transaction) -> None:
        verified.append(tx.hash)
        real_check(tx)

    monkeypatch.setattr(transition, "check_transaction_signature", counting_check)
    env = replace(chain.env(), verified_tx_hashes=pool.verified_hashes())
    block, _, _ = propose_block(chain.state, (*pool.ready(nonces_of(chain), 10), not_pooled), Timestamp(chain.time + 1), chain.governance.public_key, env)
    assert verified == [not_pooled.hash]  # the proposer verifies only what its pool did not
    verified.clear()
    apply_block(chain.state, block, env)
    assert verified == [not_pooled.hash]
    verified.clear()
    apply_block(chain.state, block, chain.env())  # a node whose pool never saw them
    assert verified == [tx.hash for tx in block.transactions]


def test_invalid_block_with_a_bad_signature_is_rejected_by_a_node_that_never_saw_it(chain: LocalChain) -> None:
    good = tx_of(chain, ALICE, 0)
    forged = replace(good, signature=Signature(bytes(64)))
    # A byzantine proposer builds the block as if it had verified the forged transaction.
    lying_env = replace(chain.env(), verified_tx_hashes=frozenset({forged.hash}))
    block, _, _ = propose_block(chain.state, (forged,), Timestamp(chain.time + 1), chain.governance.public_key, lying_env)
    with pytest.raises(InvalidBlock, match="does not verify"):
        apply_block(chain.state, block, chain.env())
    # A node that admitted the *genuine* transaction is not fooled either: the hash covers the
    # signature, so the forged bytes are not in its verified set.
    pool = Mempool(chain.chain_id)
    assert admit(pool, chain, good).accepted
    with pytest.raises(InvalidBlock, match="does not verify"):
        apply_block(chain.state, block, replace(chain.env(), verified_tx_hashes=pool.verified_hashes()))
