"""What a header commits to beyond its own block: the parent's commit certificate
(``last_commit_hash`` over ``Block.last_commit``) and the validator sets of this height and
the next. chain/ checks the commitments; the certificate's validity is the node's check
(``consensus.certificate.verify_commit``), shown here as the node would run it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import DecodeError, InvalidBlock
from chain.hashing import EMPTY_HASH, Domain, Hash32, hash_domain
from chain.transition import MAX_BLOCK_TX_BYTES, apply_block, propose_block
from chain.types import (
    MAX_BLOCK_SIZE,
    MAX_LAST_COMMIT_SIZE,
    Block,
    BlockHeader,
    Height,
    PublicKey,
    Timestamp,
    last_commit_hash,
)
from consensus.certificate import (
    MAX_CERTIFICATE_SIZE,
    CommitCertificate,
    certificate_from_precommits,
    verify_commit,
)
from consensus.messages import VoteType
from node.localchain import LocalChain
from tests.consensus.actors import validator_set, vote

COUNTER = (Path(__file__).parents[2] / "examples" / "contracts" / "meter_counter.py").read_text()
T0 = 1_735_689_600
OTHER_SET = Hash32(b"\x07" * 32)


def _chain_at_height_one() -> LocalChain:
    chain = LocalChain.genesis(time=T0, contracts=("counter",), sources={"counter": COUNTER})
    chain.submit([])
    return chain


def _certificate_of_head(chain: LocalChain) -> CommitCertificate:
    """Precommits of alice, bob and carol for the chain's head block."""
    head = chain.head
    precommits = (
        vote(name, VoteType.PRECOMMIT, head.height, 0, head.hash, chain_id=chain.chain_id)
        for name in ("alice", "bob", "carol")
    )
    return certificate_from_precommits(precommits)


def test_block_two_carries_the_certificate_of_block_one() -> None:
    chain = _chain_at_height_one()
    certificate = _certificate_of_head(chain)
    env = replace(chain.env(), last_commit=certificate.encode())
    block, _, _ = propose_block(chain.state, (), Timestamp(chain.time + 1), chain.governance.public_key, env)
    assert block.header.last_commit_hash == certificate.hash == hash_domain(Domain.COMMIT, block.last_commit)
    wire = Block.decode(block.encode())
    assert wire == block
    apply_block(chain.state, wire, chain.env())
    # The node's check, which chain/ cannot make: the bytes are a certificate for the parent.
    verify_commit(chain.chain_id, chain.head, CommitCertificate.decode(wire.last_commit), validator_set())


def test_block_one_commits_to_no_certificate() -> None:
    chain = LocalChain.genesis(time=T0, contracts=("counter",), sources={"counter": COUNTER})
    block, _, _ = propose_block(chain.state, (), Timestamp(chain.time + 1), chain.governance.public_key, chain.env())
    assert block.last_commit == b"" and block.header.last_commit_hash == EMPTY_HASH == last_commit_hash(b"")


def test_invalid_certificate_bytes_other_than_the_header_commits_to() -> None:
    chain = _chain_at_height_one()
    env = replace(chain.env(), last_commit=_certificate_of_head(chain).encode())
    block, _, _ = propose_block(chain.state, (), Timestamp(chain.time + 1), chain.governance.public_key, env)
    for other in (b"", block.last_commit[:-1]):
        expected = last_commit_hash(other).hex()
        with pytest.raises(InvalidBlock, match=f"last commit hash {expected} expected, found "):
            apply_block(chain.state, replace(block, last_commit=other), chain.env())


def test_invalid_certificate_in_block_one() -> None:
    chain = LocalChain.genesis(time=T0, contracts=("counter",), sources={"counter": COUNTER})
    env = replace(chain.env(), last_commit=b"\x90")
    with pytest.raises(InvalidBlock, match="no last commit in block 1 expected, found 1 bytes"):
        propose_block(chain.state, (), Timestamp(chain.time + 1), chain.governance.public_key, env)


def test_validator_sets_come_from_the_env() -> None:
    chain = _chain_at_height_one()
    env = replace(chain.env(), next_validator_set_hash=OTHER_SET)
    block, _, _ = propose_block(chain.state, (), Timestamp(chain.time + 1), chain.governance.public_key, env)
    assert block.header.validator_set_hash == chain.env().validator_set_hash
    assert block.header.next_validator_set_hash == OTHER_SET
    apply_block(chain.state, block, env)


def test_invalid_validator_set_hashes_other_than_the_env_says() -> None:
    chain = _chain_at_height_one()
    block, _, _ = propose_block(chain.state, (), Timestamp(chain.time + 1), chain.governance.public_key, chain.env())
    expected = chain.env().validator_set_hash.hex()
    with pytest.raises(InvalidBlock, match=f"^validator set hash {expected} expected, found {OTHER_SET.hex()}"):
        apply_block(chain.state, replace(block, header=replace(block.header, validator_set_hash=OTHER_SET)), chain.env())
    with pytest.raises(InvalidBlock, match=f"next validator set hash {OTHER_SET.hex()} expected, found {expected}"):
        apply_block(chain.state, block, replace(chain.env(), next_validator_set_hash=OTHER_SET))


def test_consensus_certificates_fit_what_a_block_carries() -> None:
    assert MAX_CERTIFICATE_SIZE <= MAX_LAST_COMMIT_SIZE


def test_invalid_oversized_last_commit() -> None:
    chain = _chain_at_height_one()
    oversized = bytes(MAX_LAST_COMMIT_SIZE + 1)
    message = f"at most {MAX_LAST_COMMIT_SIZE} bytes expected, found {MAX_LAST_COMMIT_SIZE + 1}"
    with pytest.raises(InvalidBlock, match=message):
        propose_block(
            chain.state, (), Timestamp(chain.time + 1), chain.governance.public_key,
            replace(chain.env(), last_commit=oversized),
        )  # fmt: skip
    block, _, _ = propose_block(chain.state, (), Timestamp(chain.time + 1), chain.governance.public_key, chain.env())
    with pytest.raises(InvalidBlock, match=message):
        apply_block(chain.state, replace(block, last_commit=oversized), chain.env())
    with pytest.raises(DecodeError, match="block.last_commit: " + message):
        Block.decode(replace(block, last_commit=oversized).encode())


def test_the_largest_certificate_leaves_the_block_room_for_its_transactions() -> None:
    header = BlockHeader(Height(2**64 - 1), EMPTY_HASH, Timestamp(2**64 - 1), PublicKey(bytes(32)), *(EMPTY_HASH,) * 6)
    everything_but_transactions = len(Block(header, (), bytes(MAX_LAST_COMMIT_SIZE)).encode())
    assert everything_but_transactions + 5 + MAX_BLOCK_TX_BYTES <= MAX_BLOCK_SIZE  # 5: the largest array header


_HASHES = st.binary(min_size=32, max_size=32)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.lists(_HASHES, min_size=8, max_size=8),
    st.binary(max_size=2048),
)
def test_a_block_decodes_to_itself_whatever_its_header_and_certificate(
    height: int, time: int, hashes: list[bytes], last_commit: bytes
) -> None:
    parent, proposer, *rest = hashes
    header = BlockHeader(Height(height), Hash32(parent), Timestamp(time), PublicKey(proposer), *map(Hash32, rest))
    block = Block(header, (), last_commit)
    assert Block.decode(block.encode()) == block
    assert BlockHeader.from_value(header.to_value()).hash == header.hash


_HEIGHT_ONE = _chain_at_height_one()


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=4096), st.one_of(st.none(), _HASHES))
def test_a_proposed_block_with_any_certificate_encodes_decodes_and_applies(
    last_commit: bytes, next_set: bytes | None
) -> None:
    chain = _HEIGHT_ONE
    env = replace(chain.env(), last_commit=last_commit, next_validator_set_hash=next_set)
    block, _, _ = propose_block(chain.state, (), Timestamp(chain.time + 1), chain.governance.public_key, env)
    wire = Block.decode(block.encode())
    assert wire == block and wire.header.last_commit_hash == last_commit_hash(last_commit)
    apply_block(chain.state, wire, env)
