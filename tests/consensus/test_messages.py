"""Votes and proposals: canonical encodings, strict decoding, signatures bound to the chain,
the kind of message, height, round and block."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain import codec
from chain.errors import DecodeError
from chain.hashing import Domain, Hash32
from chain.signatures import sign
from consensus.messages import (
    MAX_VOTE_SIZE,
    NIL_ROUND,
    Proposal,
    Vote,
    VoteType,
    sign_proposal,
    sign_vote,
)
from tests.consensus.actors import CHAIN_ID, KEYS, SEEDS, block, precommit, prevote, proposal

hashes = st.one_of(st.none(), st.binary(min_size=32, max_size=32).map(Hash32))


@given(
    kind=st.sampled_from(list(VoteType)),
    height=st.integers(0, 2**64 - 1),
    round=st.integers(0, 2**31 - 1),
    block_hash=hashes,
    signature=st.binary(min_size=64, max_size=64),
)
def test_vote_round_trips_through_its_encoding(kind, height, round, block_hash, signature):
    vote = Vote(kind, height, round, block_hash, KEYS["alice"], signature)
    data = vote.encode()
    assert len(data) <= MAX_VOTE_SIZE
    assert Vote.decode(data) == vote


def test_vote_encoding_vector():
    vote = Vote(VoteType.PRECOMMIT, 7, 1, Hash32(bytes(range(32))), KEYS["alice"], bytes(64))
    assert vote.encode() == codec.encode([2, 7, 1, bytes(range(32)), KEYS["alice"], bytes(64)])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([3, 1, 0, None, bytes(32), bytes(64)], "vote.type"),
        ([1, -1, 0, None, bytes(32), bytes(64)], "vote.height"),
        ([1, 1, 2**31, None, bytes(32), bytes(64)], "vote.round"),
        ([1, 1, 0, bytes(31), bytes(32), bytes(64)], "vote.block_hash"),
        ([1, 1, 0, None, bytes(33), bytes(64)], "vote.validator"),
        ([1, 1, 0, None, bytes(32), b""], "vote.signature"),
        ([1, 1, 0, None, bytes(32)], "6 fields"),
        ([True, 1, 0, None, bytes(32), bytes(64)], "vote.type"),
    ],
)
def test_invalid_vote_encodings_are_refused_with_the_field_named(value, expected):
    with pytest.raises(DecodeError, match=expected):
        Vote.decode(codec.encode(value))


def test_invalid_oversized_vote_is_refused_before_decoding():
    with pytest.raises(DecodeError, match="at most"):
        Vote.decode(b"\x96" + bytes(MAX_VOTE_SIZE))


def test_signed_vote_verifies_for_its_chain_only():
    vote = prevote("alice", 3, 0, block("b"))
    assert vote.signature_valid(CHAIN_ID)
    assert not vote.signature_valid("another-chain")
    assert Vote.decode(vote.encode()).signature_valid(CHAIN_ID)


@pytest.mark.parametrize(
    "change",
    [
        {"type": VoteType.PRECOMMIT},
        {"height": 4},
        {"round": 1},
        {"block_hash": None},
        {"block_hash": block("c")},
        {"validator": KEYS["bob"]},
    ],
)
def test_invalid_vote_with_any_field_changed_does_not_verify(change):
    vote = prevote("alice", 3, 0, block("b"))
    assert not replace(vote, **change, _checked=[]).signature_valid(CHAIN_ID)


def test_invalid_vote_signature_of_another_domain_does_not_verify():
    vote = Vote(VoteType.PREVOTE, 3, 0, block("b"), KEYS["alice"])
    wrong = sign(SEEDS["alice"], Domain.PROPOSAL, vote.signed_message(CHAIN_ID))
    assert not replace(vote, signature=wrong).signature_valid(CHAIN_ID)


def test_invalid_signing_a_vote_with_another_validators_key_is_refused():
    with pytest.raises(ValueError, match="does not match"):
        sign_vote(Vote(VoteType.PREVOTE, 1, 0, None, KEYS["alice"]), SEEDS["bob"], CHAIN_ID)


def test_proposal_round_trips_and_verifies():
    p = proposal("bob", 5, 2, block("x"), block_time=1234, valid_round=1)
    decoded = Proposal.decode(p.encode())
    assert decoded == p
    assert decoded.signature_valid(CHAIN_ID)
    assert not decoded.signature_valid("other")


@pytest.mark.parametrize("change", [{"block_time": 1235}, {"valid_round": 0}, {"round": 3}, {"block_hash": block("y")}])
def test_invalid_proposal_with_any_field_changed_does_not_verify(change):
    p = proposal("bob", 5, 2, block("x"), block_time=1234, valid_round=1)
    assert not replace(p, **change, _checked=[]).signature_valid(CHAIN_ID)


def test_invalid_proposal_valid_round_not_before_its_round():
    with pytest.raises(ValueError, match="valid round"):
        Proposal(1, 2, block("x"), 0, 2, KEYS["alice"])
    value = [1, 2, block("x"), 0, 2, KEYS["alice"], bytes(64)]
    with pytest.raises(DecodeError, match="proposal.valid_round"):
        Proposal.decode(codec.encode(value))


def test_invalid_proposal_signed_as_a_vote_does_not_verify():
    unsigned = Proposal(1, 0, block("x"), 0, NIL_ROUND, KEYS["carol"])
    forged = sign(SEEDS["carol"], Domain.VOTE, unsigned.signed_message(CHAIN_ID))
    assert not replace(unsigned, signature=forged).signature_valid(CHAIN_ID)
    assert sign_proposal(unsigned, SEEDS["carol"], CHAIN_ID).signature_valid(CHAIN_ID)


def test_precommit_helper_signs_a_precommit():
    assert precommit("dave", 1, 0, None).type is VoteType.PRECOMMIT
