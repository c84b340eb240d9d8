"""apply_block as a specification: a named-actor scenario with the metered-counter contract,
and the ways a block or a transaction must fail."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import codec, keys
from chain.errors import DecodeError, InvalidBlock, InvalidTransaction
from chain.hashing import EMPTY_HASH
from chain.signatures import sign_transaction
from chain.state import MemoryBackend, State
from chain.transition import (
    apply_block,
    check_transaction,
    execute_transactions,
    get_nonce,
    propose_block,
    run_transaction,
    select_transactions,
    tx_root,
    validate_transaction,
)
from chain.types import (
    KIND_DEPLOY,
    KIND_UPGRADE,
    MAX_RECEIPT_ERROR,
    MAX_RECEIPT_EVENTS,
    Block,
    BlockHeader,
    Height,
    Receipt,
    Timestamp,
    Transaction,
)
from node.localchain import Actor, LocalChain

COUNTER = (Path(__file__).parents[2] / "examples" / "contracts" / "meter_counter.py").read_text()
T0 = 1_735_689_600


@pytest.fixture
def chain() -> LocalChain:
    return LocalChain.genesis(time=T0, contracts=("counter",), sources={"counter": COUNTER})


def test_alice_claims_her_meter_and_adds_readings(chain: LocalChain) -> None:
    alice = chain.actor("alice")
    receipt = chain.call(alice, "counter", "claim", ["MTR-1"])
    assert receipt.ok, receipt.error
    assert chain.events(receipt, "claimed") == [{"meter": "MTR-1", "owner": alice.public_key, "at": T0 + 1}]
    receipt = chain.call(alice, "counter", "add", ["MTR-1", 1500])
    assert receipt.ok and chain.return_value(receipt) == 1500
    receipt = chain.call(alice, "counter", "add", ["MTR-1", 500])
    assert chain.return_value(receipt) == 2000
    assert chain.view("counter", "bill", ["MTR-1"]) == 500  # 2000 Wh at 2.50/kWh = 5.00 = 500 minor
    assert get_nonce(chain.state, alice.public_key) == 3


def test_invalid_bob_cannot_add_to_alices_meter(chain: LocalChain) -> None:
    alice, bob = chain.actor("alice"), chain.actor("bob")
    chain.call(alice, "counter", "claim", ["MTR-1"])
    root_before = chain.state.root
    receipt = chain.call(bob, "counter", "add", ["MTR-1", 100])
    assert not receipt.ok
    assert "the owner of MTR-1 expected as signer" in receipt.error
    # A failed transaction changes nothing but the nonce.
    assert chain.view("counter", "bill", ["MTR-1"]) == 0
    assert get_nonce(chain.state, bob.public_key) == 1
    assert chain.state.root != root_before  # the nonce moved
    assert chain.state.get(keys.storage_key("counter", "total/MTR-1")) is None


def _unproposed_block(chain: LocalChain, transactions: list[Transaction]) -> Block:
    """A block holding ``transactions`` as they are (a proposer that did not check them);
    its header's tx root is right, the state and receipts roots are left empty."""
    env = chain.env()
    header = BlockHeader(
        Height(chain.height + 1), chain.head.hash, Timestamp(chain.time + 1), chain.governance.public_key,
        tx_root(tuple(transactions)), EMPTY_HASH, EMPTY_HASH, env.validator_set_hash, env.validator_set_hash,
        EMPTY_HASH,
    )  # fmt: skip
    return Block(header, tuple(transactions), b"")


def test_invalid_block_with_a_future_nonce(chain: LocalChain) -> None:
    alice = chain.actor("alice")
    tx = chain.transaction(alice, "counter", "claim", ["MTR-1"], nonce=5)
    with pytest.raises(InvalidBlock, match="nonce 0 expected, found 5"):
        apply_block(chain.state, _unproposed_block(chain, [tx]), chain.env())
    # The proposer leaves it out (the mempool keeps it for later): the block is empty.
    assert chain.submit([tx]) == ()
    assert chain.blocks[-1].transactions == ()
    assert get_nonce(chain.state, alice.public_key) == 0


def test_invalid_block_replaying_an_applied_transaction(chain: LocalChain) -> None:
    alice = chain.actor("alice")
    tx = chain.transaction(alice, "counter", "claim", ["MTR-1"], nonce=0)
    assert chain.submit([tx])[0].ok
    # In a later block: its nonce is used up, so the block is invalid, and it is left out.
    with pytest.raises(InvalidBlock, match="nonce 1 expected, found 0"):
        apply_block(chain.state, _unproposed_block(chain, [tx]), chain.env())
    assert chain.submit([tx]) == ()
    # Twice in one block: the second copy makes the block invalid.
    again = chain.transaction(alice, "counter", "add", ["MTR-1", 5], nonce=1)
    with pytest.raises(InvalidBlock, match="transaction 1 .*nonce 2 expected, found 1"):
        apply_block(chain.state, _unproposed_block(chain, [again, again]), chain.env())
    assert chain.submit([again, again]) == chain.receipts[-1] and len(chain.receipts[-1]) == 1
    # So a hash appears in the chain once.
    hashes = [t.hash for block in chain.blocks for t in block.transactions]
    assert len(hashes) == len(set(hashes)) == 2


def test_invalid_block_with_bad_signature(chain: LocalChain) -> None:
    alice = chain.actor("alice")
    tx = chain.transaction(alice, "counter", "claim", ["MTR-1"], nonce=0)
    forged = replace(tx, payload=["counter", "claim", ["MTR-2"]])
    with pytest.raises(InvalidBlock, match="does not verify"):
        apply_block(chain.state, _unproposed_block(chain, [forged]), chain.env())
    assert chain.submit([forged]) == ()


def test_invalid_block_with_transaction_for_another_chain(chain: LocalChain) -> None:
    alice = chain.actor("alice")
    tx = chain.transaction(alice, "counter", "claim", ["MTR-1"], nonce=0)
    other = sign_transaction(replace(tx, chain_id="meterchain-other"), alice.seed)
    with pytest.raises(InvalidBlock, match="chain id 'meterchain-local' expected, found 'meterchain-other'"):
        apply_block(chain.state, _unproposed_block(chain, [other]), chain.env())


def test_invalid_block_with_expired_transaction(chain: LocalChain) -> None:
    alice = chain.actor("alice")
    tx = sign_transaction(replace(chain.transaction(alice, "counter", "claim", ["M"], 0), expiry_height=0), alice.seed)
    with pytest.raises(InvalidBlock, match="inclusion at height <= 0 expected, found height 1"):
        apply_block(chain.state, _unproposed_block(chain, [tx]), chain.env())


def test_invalid_transaction_form_is_refused_built_or_decoded(chain: LocalChain) -> None:
    # No marker says a shape was checked: every Transaction, built or decoded, is checked
    # when made, so a malformed one cannot reach validation by either road.
    alice = chain.actor("alice")
    tx = chain.transaction(alice, "counter", "claim", ["MTR-1"], nonce=0)
    for payload, message in [
        (["counter", "claim", "MTR-1"], "call.args: array expected"),
        (["counter", 7, []], "call.function: str expected"),
        (["counter", "claim"], "call payload .* expected, found 2 fields"),
    ]:
        with pytest.raises(DecodeError, match=message):
            replace(tx, payload=payload)
        wire = codec.encode([*tx.body_fields()[:6], payload, tx.signature])
        with pytest.raises(DecodeError, match=message):
            Transaction.decode(wire)


def test_invalid_transaction_without_a_canonical_encoding(chain: LocalChain) -> None:
    alice = chain.actor("alice")
    deep: list[object] = ["MTR-1"]
    for _ in range(40):
        deep = [deep]
    tx = replace(chain.transaction(alice, "counter", "claim", ["MTR-1"], nonce=0), payload=["counter", "claim", deep])
    with pytest.raises(InvalidTransaction, match="canonical encoding expected: nesting"):
        validate_transaction(tx, chain.chain_id, chain.height + 1)
    assert chain.submit([tx]) == ()


def test_out_of_gas_reverts_the_call(chain: LocalChain) -> None:
    alice = chain.actor("alice")
    chain.call(alice, "counter", "claim", ["MTR-1"])
    tx = chain.transaction(alice, "counter", "add", ["MTR-1", 10], nonce=1, gas_limit=1_400)
    (receipt,) = chain.submit([tx])
    assert not receipt.ok and "gas" in receipt.error
    assert chain.view("counter", "bill", ["MTR-1"]) == 0
    assert get_nonce(chain.state, alice.public_key) == 2


def test_every_node_reaches_the_same_state_root(chain: LocalChain) -> None:
    """A second node applies the proposer's blocks from the same genesis and agrees."""
    alice = chain.actor("alice")
    follower = LocalChain.genesis(time=T0, contracts=("counter",), sources={"counter": COUNTER})
    chain.call(alice, "counter", "claim", ["MTR-1"])
    chain.call(alice, "counter", "add", ["MTR-1", 42])
    for block in chain.blocks:
        wire = Block.decode(block.encode())
        state, _ = apply_block(follower.state, wire, follower.env())
        follower.backend.commit(state.changes())
        follower.state = State.at(follower.backend)
        follower.head = wire.header
    assert follower.state.root == chain.state.root


def test_invalid_block_with_wrong_state_root(chain: LocalChain) -> None:
    alice = chain.actor("alice")
    tx = chain.transaction(alice, "counter", "claim", ["MTR-1"], nonce=0)
    block, _, _ = propose_block(chain.state, (tx,), chain.time + 1, alice.public_key, chain.env())
    bad = replace(block, header=replace(block.header, state_root=bytes(32)))
    with pytest.raises(InvalidBlock, match="state root .* expected, found 0000"):
        apply_block(chain.state, bad, chain.env())
    # The given state is untouched by a rejected block.
    assert chain.state.get(keys.storage_key("counter", "owner/MTR-1")) is None


def test_invalid_block_links(chain: LocalChain) -> None:
    alice = chain.actor("alice")
    tx = chain.transaction(alice, "counter", "claim", ["MTR-1"], nonce=0)
    block, _, _ = propose_block(chain.state, (tx,), chain.time + 1, alice.public_key, chain.env())
    for field, value, message in [
        ("height", 7, "height 1 expected, found 7"),
        ("parent_hash", bytes(32), "parent hash .* expected"),
        ("time", chain.time, "block time >= .* expected"),
        ("tx_root", bytes(32), "tx root .* expected"),
        ("receipts_root", bytes(32), "receipts root .* expected"),
        ("next_validator_set_hash", b"\x01" * 32, "next validator set hash 0{64} expected, found (01){32}"),
        ("last_commit_hash", b"\x01" * 32, "last commit hash 0{64} expected, found (01){32}"),
    ]:
        bad = replace(block, header=replace(block.header, **{field: value}))
        with pytest.raises(InvalidBlock, match=message):
            apply_block(chain.state, bad, chain.env())


def _deploy_tx(chain: LocalChain, actor: Actor, kind: str, name: str, code: bytes, nonce: int) -> Transaction:
    unsigned = Transaction(
        chain.chain_id, actor.public_key, nonce, chain.height + 10, 4_000_000, kind,
        [name, code, bytes(32)], bytes(64),
    )
    return sign_transaction(unsigned, actor.seed)


def test_governance_deploys_and_upgrades_a_contract(chain: LocalChain) -> None:
    import vm

    code = vm.compile_source(COUNTER, "counter2").code
    gov = chain.governance
    (receipt,) = chain.submit([_deploy_tx(chain, gov, KIND_DEPLOY, "counter2", code, 0)])
    assert receipt.ok, receipt.error
    alice = chain.actor("alice")
    assert chain.call(alice, "counter2", "claim", ["M-9"]).ok
    (receipt,) = chain.submit([_deploy_tx(chain, gov, KIND_UPGRADE, "counter2", code, 1)])
    assert receipt.ok, receipt.error
    record = codec.decode(chain.state.get(keys.code_key("counter2")))
    assert record[2] == 2  # version
    # Storage survives an upgrade.
    assert chain.state.get(keys.storage_key("counter2", "owner/M-9")) is not None


def test_invalid_deploy_by_anyone_but_governance(chain: LocalChain) -> None:
    import vm

    mallory = chain.actor("mallory")
    code = vm.compile_source(COUNTER, "evil").code
    (receipt,) = chain.submit([_deploy_tx(chain, mallory, KIND_DEPLOY, "evil", code, 0)])
    assert not receipt.ok and "signed by the governance key" in receipt.error
    assert chain.state.get(keys.code_key("evil")) is None


def test_invalid_deploy_of_malformed_bytecode(chain: LocalChain) -> None:
    (receipt,) = chain.submit([_deploy_tx(chain, chain.governance, KIND_DEPLOY, "junk", b"\x93\x01\x02", 0)])
    assert not receipt.ok and "valid bytecode expected" in receipt.error



# --- a block's buffer against one view per transaction -----------------------------------


_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["alice", "bob", "carol"]),
        st.sampled_from(["claim", "add", "add", "add", "bill"]),
        st.sampled_from(["MTR-1", "MTR-2"]),
        st.integers(min_value=-2, max_value=9),
        st.sampled_from([0, 0, 0, 1, -1]),  # nonce offset: wrong nonces fail without writes
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(_STEPS)
def test_a_block_equals_its_transactions_applied_one_by_one(steps: list[tuple[str, str, str, int, int]]) -> None:
    # The block path reads earlier transactions' writes from one buffer; the definition is one
    # immutable view per transaction, each checked where it stands. Same choice of
    # transactions (wrong nonces are left out), same receipts, same state root.
    chain = LocalChain.genesis(time=T0, contracts=("counter",), sources={"counter": COUNTER})
    nonces: dict[str, int] = {}
    transactions = []
    for who, function, meter, amount, offset in steps:
        actor = chain.actor(who)
        nonce = nonces.get(who, 0)
        args: list[object] = [meter] if function in ("claim", "bill") else [meter, amount]
        transactions.append(chain.transaction(actor, "counter", function, args, nonce=max(0, nonce + offset)))
        if max(0, nonce + offset) == nonce:
            nonces[who] = nonce + 1
    env = chain.env()
    header = BlockHeader(
        chain.height + 1, chain.head.hash, chain.time + 1, chain.actor("alice").public_key,
        bytes(32), bytes(32), bytes(32), env.validator_set_hash, env.validator_set_hash, bytes(32),
    )  # fmt: skip
    chosen, block_state, block_receipts = select_transactions(chain.state, header, tuple(transactions), env)
    state = chain.state
    one_by_one = []
    kept = []
    for tx in transactions:
        try:
            check_transaction(state, tx, header, env)  # the plain definition, one transaction at a time
        except InvalidTransaction:
            continue
        writes, receipt = run_transaction(state, tx, header, env)
        state = state.with_writes(writes)
        kept.append(tx)
        one_by_one.append(receipt)
    assert chosen == tuple(kept)
    assert tuple(one_by_one) == block_receipts
    assert state.root == block_state.root
    assert dict(state.pending()) == dict(block_state.pending())
    # And the chosen transactions are a valid block: applying them gives the same result.
    again_state, again_receipts = execute_transactions(chain.state, header, chosen, env)
    assert again_receipts == block_receipts and again_state.root == block_state.root


# --- what the chain writes, it can read (issue 9, items 2 and 3) ---------------------------


ECHO = """
@public
def init() -> None:
    pass


@public
def refuse(text: str) -> None:
    require(False, "refused: " + text)


@public
def twice(text: str) -> list:
    return [text, text]


@public
def announce(count: int) -> None:
    for i in range(count):
        emit("tick", {"i": i})
"""


@pytest.fixture
def echo_chain() -> LocalChain:
    return LocalChain.genesis(time=T0, contracts=("echo",), sources={"echo": ECHO})


def test_invalid_receipt_error_echoing_a_long_argument_still_decodes(echo_chain: LocalChain) -> None:
    receipt = echo_chain.call(echo_chain.actor("alice"), "echo", "refuse", ["x" * 60_000])
    assert not receipt.ok and receipt.error.startswith("reverted: refused: xxx")
    assert len(receipt.error) == MAX_RECEIPT_ERROR
    assert Receipt.decode(receipt.encode()) == receipt


def test_invalid_return_value_beyond_what_a_receipt_holds(echo_chain: LocalChain) -> None:
    alice = echo_chain.actor("alice")
    assert echo_chain.return_value(echo_chain.call(alice, "echo", "twice", ["y" * 1000])) == ["y" * 1000] * 2
    receipt = echo_chain.call(alice, "echo", "twice", ["y" * 40_000])
    assert not receipt.ok and receipt.error == "a return value of at most 65536 bytes expected, found 80007"
    assert Receipt.decode(receipt.encode()) == receipt


def test_invalid_more_events_than_a_receipt_holds(echo_chain: LocalChain) -> None:
    alice = echo_chain.actor("alice")
    assert echo_chain.call(alice, "echo", "announce", [MAX_RECEIPT_EVENTS], gas_limit=4_000_000).ok
    receipt = echo_chain.call(alice, "echo", "announce", [MAX_RECEIPT_EVENTS + 1], gas_limit=4_000_000)
    assert not receipt.ok and receipt.error == "at most 1024 events expected, found 1025"
    assert receipt.events == () and Receipt.decode(receipt.encode()) == receipt


_SCALAR = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1), st.text(max_size=20), st.binary(max_size=20), st.booleans(),
    st.none(),
)  # fmt: skip
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
)


def _deep(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


_ARGS = st.one_of(
    st.lists(_VALUE, max_size=3),
    st.integers(min_value=25, max_value=40).map(lambda d: ["MTR-1", _deep(d)]),
    st.tuples(st.sampled_from(["MTR-1", "M" * 5000]), st.integers(min_value=-5, max_value=10)).map(list),
)

_PROPOSAL_CHAIN = LocalChain.genesis(time=T0, contracts=("counter",), sources={"counter": COUNTER})
_PROPOSAL_CHAIN.call(_PROPOSAL_CHAIN.actor("alice"), "counter", "claim", ["MTR-1"])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["alice", "bob"]),
            st.sampled_from(["add", "claim", "bill", "nope"]),
            _ARGS,
            st.sampled_from([0, 0, 0, 1, -1]),
        ),
        max_size=6,
    )
)
def test_a_proposed_block_always_encodes_and_decodes_to_itself(
    calls: list[tuple[str, str, list[object], int]],
) -> None:
    chain = _PROPOSAL_CHAIN
    nonces = {"alice": 1, "bob": 0}
    transactions = []
    for who, function, args, offset in calls:
        nonce = max(0, nonces[who] + offset)
        try:
            tx = chain.transaction(chain.actor(who), "counter", function, args, nonce=nonce)
        except DecodeError:  # no canonical encoding, so it cannot be signed: a forged one
            tx = replace(chain.transaction(chain.actor(who), "counter", function, [], nonce), payload=["counter", function, args])
        transactions.append(tx)
        nonces[who] += offset == 0
    block, _, receipts = propose_block(chain.state, tuple(transactions), chain.time + 1, chain.governance.public_key, chain.env())
    assert Block.decode(block.encode()) == block
    assert all(Receipt.decode(r.encode()) == r for r in receipts)
    apply_block(chain.state, Block.decode(block.encode()), chain.env())  # and every node accepts it


def test_invalid_transaction_too_deep_to_fit_in_a_block(chain: LocalChain) -> None:
    # Alone it encodes (32 levels), but a block adds two levels above it: invalid, left out.
    alice = chain.actor("alice")
    tx = chain.transaction(alice, "counter", "add", ["MTR-1", _deep(27)], nonce=0)
    with pytest.raises(InvalidTransaction, match="nesting of at most 30 levels expected"):
        validate_transaction(tx, chain.chain_id, chain.height + 1)
    assert chain.submit([tx]) == () and Block.decode(chain.blocks[-1].encode()) == chain.blocks[-1]


# --- contract names (issue 9, item 7) -------------------------------------------------------


@pytest.mark.parametrize("name", ["counter/ms", "", "9lives", "with space", "ünï", "x" * 65, "a.b"])
def test_invalid_deploy_under_a_name_that_is_not_an_identifier(chain: LocalChain, name: str) -> None:
    import vm

    # ``counter/ms`` would own s/counter/ms/..., inside counter's own namespace s/counter/.
    code = vm.compile_source(COUNTER, "c").code
    unsigned = Transaction(
        chain.chain_id, chain.governance.public_key, 0, chain.height + 10, 4_000_000, KIND_DEPLOY,
        ["ok", code, bytes(32)], bytes(64),
    )  # fmt: skip
    with pytest.raises(DecodeError, match=r"contract name of 1 to 64 ASCII letters|deploy.name: at most 64 characters"):
        replace(unsigned, payload=[name, code, bytes(32)])
    wire = codec.encode([*unsigned.body_fields()[:6], [name, code, bytes(32)], unsigned.signature])
    with pytest.raises(DecodeError, match=r"contract name of 1 to 64 ASCII letters|deploy.name: at most 64 characters"):
        Transaction.decode(wire)


def test_basic_deploy_names_are_identifiers(chain: LocalChain) -> None:
    import vm

    code = vm.compile_source(COUNTER, "meter_counter_2").code
    (receipt,) = chain.submit([_deploy_tx(chain, chain.governance, KIND_DEPLOY, "Meter_counter_2", code, 0)])
    assert receipt.ok, receipt.error


def test_invalid_genesis_contract_name() -> None:
    from contracts.genesis import GenesisConfig, build_genesis

    config = GenesisConfig("c", Timestamp(T0), Actor.named("g").public_key, contracts=("counter/ms",))
    with pytest.raises(DecodeError, match="contract name of 1 to 64 ASCII letters"):
        build_genesis(config, MemoryBackend(), {"counter/ms": COUNTER})
