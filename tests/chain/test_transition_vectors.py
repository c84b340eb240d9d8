"""Pre / block / post vectors for ``apply_block``, the consensus-specs way.

Each case below is a generator of one vector: it builds a ``pre`` chain, the block to apply
and says what must come of it (``post``: the new state root, the receipts and the keys the
block wrote; or ``invalid``: the error ``apply_block`` must raise). The same cases

* run under pytest, checking their own claims against the transition (``test_case``);
* write tests/vectors/transition/*.json, read back by ``test_stored_vector_replays``, which
  needs nothing but the vector, the transition and the VM (any other implementation can
  replay them the same way).

Regenerate after a deliberate change of the transition, the VM's gas or the example
contract's compiled code: ``python tests/chain/test_transition_vectors.py --write``.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from chain.errors import InvalidBlock
from chain.hashing import EMPTY_HASH, Hash32
from chain.signatures import sign_transaction
from chain.state import MemoryBackend, State
from chain.transition import BlockEnv, apply_block, propose_block, tx_root
from chain.types import (
    KIND_DEPLOY,
    Block,
    BlockHeader,
    Gas,
    Height,
    Nonce,
    Receipt,
    Signature,
    Timestamp,
    Transaction,
)
from node.localchain import Actor, LocalChain
from vm.runtime import VMRuntime

ROOT = Path(__file__).parents[2]
VECTOR_DIR = ROOT / "tests" / "vectors" / "transition"
COUNTER = (ROOT / "examples" / "contracts" / "meter_counter.py").read_text()
T0 = 1_735_689_600


@dataclass(frozen=True)
class Vector:
    name: str
    description: str
    pre: LocalChain
    block: Block
    invalid: str = ""  # a regular expression the InvalidBlock message must match; "" if valid


Case = Callable[[], Vector]
CASES: list[Case] = []


def case(fn: Case) -> Case:
    CASES.append(fn)
    return fn


def _chain() -> LocalChain:
    return LocalChain.genesis(time=T0, contracts=("counter",), sources={"counter": COUNTER})


def _proposed(chain: LocalChain, transactions: list[Transaction]) -> Block:
    block, _, _ = propose_block(
        chain.state, tuple(transactions), Timestamp(chain.time + 1), chain.governance.public_key, chain.env()
    )
    assert block.transactions == tuple(transactions), "a valid case's proposer left a transaction out"
    return block


def _unchecked(chain: LocalChain, transactions: list[Transaction]) -> Block:
    """A block holding ``transactions`` as given, by a proposer that checked nothing."""
    header = BlockHeader(
        Height(chain.height + 1), chain.head.hash, Timestamp(chain.time + 1), chain.governance.public_key,
        tx_root(tuple(transactions)), EMPTY_HASH, EMPTY_HASH, chain.env().validator_set_hash,
        chain.env().validator_set_hash, EMPTY_HASH,
    )  # fmt: skip
    return Block(header, tuple(transactions), b"")


# --- valid blocks -------------------------------------------------------------------------


@case
def basic_empty_block() -> Vector:
    chain = _chain()
    return Vector("basic_empty_block", "A block without transactions changes nothing.", chain, _proposed(chain, []))


@case
def basic_alice_claims_and_adds() -> Vector:
    chain = _chain()
    alice = chain.actor("alice")
    txs = [
        chain.transaction(alice, "counter", "claim", ["MTR-1"], nonce=0),
        chain.transaction(alice, "counter", "add", ["MTR-1", 1500], nonce=1),
    ]
    return Vector(
        "basic_alice_claims_and_adds",
        "Two calls of one sender in nonce order; the second reads the first's write.",
        chain,
        _proposed(chain, txs),
    )


@case
def basic_failed_call_uses_up_the_nonce() -> Vector:
    chain = _chain()
    alice, bob = chain.actor("alice"), chain.actor("bob")
    chain.call(alice, "counter", "claim", ["MTR-1"])
    tx = chain.transaction(bob, "counter", "add", ["MTR-1", 100], nonce=0)
    return Vector(
        "basic_failed_call_uses_up_the_nonce",
        "Bob adds to Alice's meter: a failed receipt; only Bob's nonce changes.",
        chain,
        _proposed(chain, [tx]),
    )


@case
def basic_out_of_gas() -> Vector:
    chain = _chain()
    alice = chain.actor("alice")
    chain.call(alice, "counter", "claim", ["MTR-1"])
    tx = chain.transaction(alice, "counter", "add", ["MTR-1", 10], nonce=1, gas_limit=1_400)
    return Vector("basic_out_of_gas", "A call out of gas reverts; the nonce advances.", chain, _proposed(chain, [tx]))


@case
def basic_governance_deploys_a_contract() -> Vector:
    import vm

    chain = _chain()
    gov = chain.governance
    code = vm.compile_source(COUNTER, "counter2").code
    tx = _deploy(chain, gov, "counter2", code, 0)
    return Vector("basic_governance_deploys_a_contract", "Governance installs new code.", chain, _proposed(chain, [tx]))


@case
def basic_deploy_by_anyone_else_fails() -> Vector:
    import vm

    chain = _chain()
    mallory = chain.actor("mallory")
    tx = _deploy(chain, mallory, "evil", vm.compile_source(COUNTER, "evil").code, 0)
    return Vector(
        "basic_deploy_by_anyone_else_fails", "A deploy not signed by governance fails.", chain, _proposed(chain, [tx])
    )


def _deploy(chain: LocalChain, actor: Actor, name: str, code: bytes, nonce: int) -> Transaction:
    unsigned = Transaction(
        chain.chain_id, actor.public_key, Nonce(nonce), Height(chain.height + 10), Gas(4_000_000), KIND_DEPLOY,
        [name, code, bytes(32)], Signature(bytes(64)),
    )  # fmt: skip
    return sign_transaction(unsigned, actor.seed)


# --- invalid blocks -----------------------------------------------------------------------


@case
def invalid_future_nonce() -> Vector:
    chain = _chain()
    tx = chain.transaction(chain.actor("alice"), "counter", "claim", ["MTR-1"], nonce=1)
    return Vector(
        "invalid_future_nonce", "A nonce ahead of the sender's next.", chain, _unchecked(chain, [tx]),
        r"transaction 0 .*: nonce 0 expected, found 1",
    )  # fmt: skip


@case
def invalid_replayed_transaction() -> Vector:
    chain = _chain()
    alice = chain.actor("alice")
    tx = chain.transaction(alice, "counter", "claim", ["MTR-1"], nonce=0)
    chain.submit([tx])
    return Vector(
        "invalid_replayed_transaction", "An applied transaction included again.", chain, _unchecked(chain, [tx]),
        r"transaction 0 .*: nonce 1 expected, found 0",
    )  # fmt: skip


@case
def invalid_same_transaction_twice() -> Vector:
    chain = _chain()
    tx = chain.transaction(chain.actor("alice"), "counter", "claim", ["MTR-1"], nonce=0)
    return Vector(
        "invalid_same_transaction_twice", "One transaction twice in a block.", chain, _unchecked(chain, [tx, tx]),
        r"transaction 1 .*: nonce 1 expected, found 0",
    )  # fmt: skip


@case
def invalid_bad_signature() -> Vector:
    chain = _chain()
    tx = chain.transaction(chain.actor("alice"), "counter", "claim", ["MTR-1"], nonce=0)
    forged = replace(tx, payload=["counter", "claim", ["MTR-2"]])
    return Vector(
        "invalid_bad_signature", "A payload changed after signing.", chain, _unchecked(chain, [forged]),
        r"transaction 0 .*does not verify",
    )  # fmt: skip


@case
def invalid_expired_transaction() -> Vector:
    chain = _chain()
    alice = chain.actor("alice")
    tx = replace(chain.transaction(alice, "counter", "claim", ["MTR-1"], nonce=0), expiry_height=Height(0))
    tx = sign_transaction(tx, alice.seed)
    return Vector(
        "invalid_expired_transaction", "A transaction past its expiry height.", chain, _unchecked(chain, [tx]),
        r"inclusion at height <= 0 expected, found height 1",
    )  # fmt: skip


@case
def invalid_wrong_state_root() -> Vector:
    chain = _chain()
    block = _proposed(chain, [chain.transaction(chain.actor("alice"), "counter", "claim", ["MTR-1"], nonce=0)])
    bad = replace(block, header=replace(block.header, state_root=EMPTY_HASH))
    return Vector(
        "invalid_wrong_state_root", "A header whose state root is not the result.", chain, bad,
        r"state root [0-9a-f]{64} expected, found 0{64}",
    )  # fmt: skip


@case
def invalid_wrong_receipts_root() -> Vector:
    chain = _chain()
    block = _proposed(chain, [chain.transaction(chain.actor("alice"), "counter", "claim", ["MTR-1"], nonce=0)])
    bad = replace(block, header=replace(block.header, receipts_root=EMPTY_HASH))
    return Vector(
        "invalid_wrong_receipts_root", "A header whose receipts root is not the result.", chain, bad,
        r"receipts root [0-9a-f]{64} expected, found 0{64}",
    )  # fmt: skip


# Stand-in certificate bytes: the transition checks only that the header commits to what the
# block carries; whether it is a valid certificate for the parent is the node's check
# (consensus.certificate.verify_commit), outside these vectors.
PARENT_CERTIFICATE = b"\x94\x01\x00\xc4\x20" + bytes(range(32)) + b"\x90"


def _second_block(chain: LocalChain) -> Block:
    """Block 2 on ``chain``, carrying the stand-in certificate of block 1."""
    chain.submit([])
    block, _, _ = propose_block(
        chain.state, (), Timestamp(chain.time + 1), chain.governance.public_key,
        replace(chain.env(), last_commit=PARENT_CERTIFICATE),
    )  # fmt: skip
    return block


@case
def basic_block_carries_the_parents_certificate() -> Vector:
    chain = _chain()
    block = _second_block(chain)
    return Vector(
        "basic_block_carries_the_parents_certificate",
        "Block 2 carries block 1's certificate bytes; its header commits to their hash.",
        chain,
        block,
    )


@case
def invalid_wrong_last_commit_hash() -> Vector:
    chain = _chain()
    block = _second_block(chain)
    bad = replace(block, last_commit=PARENT_CERTIFICATE + b"\x00")
    return Vector(
        "invalid_wrong_last_commit_hash", "Other certificate bytes than the header commits to.", chain, bad,
        r"last commit hash [0-9a-f]{64} expected, found [0-9a-f]{64}",
    )  # fmt: skip


@case
def invalid_last_commit_in_block_one() -> Vector:
    chain = _chain()
    block = _proposed(chain, [])
    bad = replace(block, last_commit=PARENT_CERTIFICATE)
    return Vector(
        "invalid_last_commit_in_block_one", "Block 1 has no parent certificate to carry.", chain, bad,
        r"no last commit in block 1 expected, found 38 bytes",
    )  # fmt: skip


@case
def invalid_wrong_next_validator_set() -> Vector:
    chain = _chain()
    block = _proposed(chain, [])
    bad = replace(block, header=replace(block.header, next_validator_set_hash=Hash32(b"\x01" * 32)))
    return Vector(
        "invalid_wrong_next_validator_set", "A header naming another next validator set.", chain, bad,
        r"next validator set hash 0{64} expected, found (01){32}",
    )  # fmt: skip


@case
def invalid_wrong_parent() -> Vector:
    chain = _chain()
    block = _proposed(chain, [])
    bad = replace(block, header=replace(block.header, parent_hash=EMPTY_HASH))
    return Vector(
        "invalid_wrong_parent", "A header that names another parent.", chain, bad, r"parent hash [0-9a-f]{64} expected"
    )


# --- the vector format ----------------------------------------------------------------------


def _committed(backend: MemoryBackend) -> list[list[str]]:
    """Every committed key and value, ascending by key."""
    entries = []
    after = b""
    while True:
        page = backend.scan(b"", after, 1024)
        for key in page:
            value = backend.get_value(key)
            assert value is not None
            entries.append([key.hex(), value.hex()])
        if len(page) < 1024:
            return entries
        after = page[-1]


def to_json(vector: Vector) -> dict[str, Any]:
    """The vector as data: everything needed to replay it, nothing from this program."""
    pre = vector.pre
    out: dict[str, Any] = {
        "name": vector.name,
        "description": vector.description,
        "pre": {
            "chain_id": pre.chain_id,
            "parent": pre.head.encode().hex(),
            "validator_set_hash": pre.env().validator_set_hash.hex(),
            "next_validator_set_hash": pre.env().next_set_hash().hex(),
            "state": _committed(pre.backend),
        },
        "block": vector.block.encode().hex(),
    }
    try:
        state, receipts = apply_block(pre.state, vector.block, pre.env())
    except InvalidBlock as exc:
        assert vector.invalid, f"{vector.name}: a valid block expected, found {exc}"
        assert re.search(vector.invalid, str(exc)), f"{vector.name}: {vector.invalid!r} expected, found {exc}"
        out["post"] = None
        out["invalid"] = vector.invalid
        return out
    assert not vector.invalid, f"{vector.name}: InvalidBlock matching {vector.invalid!r} expected"
    assert state.root == vector.block.header.state_root
    out["post"] = {
        "state_root": state.root.hex(),
        "receipts": [r.encode().hex() for r in receipts],
        "writes": [[k.hex(), None if v is None else v.hex()] for k, v in sorted(state.pending().items())],
    }
    return out


def replay(data: dict[str, Any]) -> None:
    """Apply a stored vector with nothing but its own data, the transition and the VM."""
    backend = MemoryBackend()
    pre = State.at(backend).with_writes({bytes.fromhex(k): bytes.fromhex(v) for k, v in data["pre"]["state"]})
    backend.commit(pre.changes())
    parent = BlockHeader.from_value(_decode(data["pre"]["parent"]))
    env = BlockEnv(
        data["pre"]["chain_id"],
        parent,
        Hash32(bytes.fromhex(data["pre"]["validator_set_hash"])),
        VMRuntime(),
        next_validator_set_hash=Hash32(bytes.fromhex(data["pre"]["next_validator_set_hash"])),
    )
    block = Block.decode(bytes.fromhex(data["block"]))
    if data["post"] is None:
        with pytest.raises(InvalidBlock, match=data["invalid"]):
            apply_block(State.at(backend), block, env)
        return
    state, receipts = apply_block(State.at(backend), block, env)
    assert state.root.hex() == data["post"]["state_root"]
    assert [r.encode().hex() for r in receipts] == data["post"]["receipts"]
    for encoded in data["post"]["receipts"]:
        assert Receipt.decode(bytes.fromhex(encoded)).encode().hex() == encoded
    writes = [[k.hex(), None if v is None else v.hex()] for k, v in sorted(state.pending().items())]
    assert writes == data["post"]["writes"]


def _decode(hex_text: str) -> Any:
    from chain import codec

    return codec.decode(bytes.fromhex(hex_text))


def generate() -> Iterator[tuple[str, dict[str, Any]]]:
    for make in CASES:
        vector = make()
        yield vector.name, to_json(vector)


def _stored() -> list[Path]:
    return sorted(VECTOR_DIR.glob("*.json"))


# --- under pytest ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", CASES, ids=lambda make: make.__name__)
def test_case(make: Case) -> None:
    to_json(make())  # builds the vector and checks its claim against the transition


@pytest.mark.parametrize("path", _stored(), ids=lambda p: p.stem)
def test_stored_vector_replays(path: Path) -> None:
    replay(json.loads(path.read_text()))


def test_every_case_has_a_stored_vector() -> None:
    names = {make.__name__ for make in CASES}
    assert names == {p.stem for p in _stored()}, "regenerate: python tests/chain/test_transition_vectors.py --write"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="write tests/vectors/transition/*.json")
    args = parser.parse_args()
    vectors = dict(generate())
    if not args.write:
        print("\n".join(f"{name}: {'invalid' if v['post'] is None else 'valid'}" for name, v in vectors.items()))
        return
    VECTOR_DIR.mkdir(parents=True, exist_ok=True)
    for old in _stored():
        old.unlink()
    for name, data in vectors.items():
        (VECTOR_DIR / f"{name}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(vectors)} vectors to {VECTOR_DIR.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
