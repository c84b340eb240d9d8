"""Commit certificates (the light-client check) and double-vote evidence."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chain import codec
from chain.errors import DecodeError
from chain.hashing import Hash32
from chain.types import BlockHeader, Height, Timestamp
from consensus.certificate import (
    CommitCertificate,
    CommitSignature,
    certificate_from_precommits,
    verify_commit,
)
from consensus.errors import InvalidCommit, InvalidEvidence
from consensus.evidence import DuplicateVoteEvidence, verify_evidence
from consensus.messages import VoteType
from tests.consensus.actors import CHAIN_ID, KEYS, block, precommit, prevote, validator_set, vote

X = block("x")


def cert(names, height=3, round=1, block_hash=X):
    return certificate_from_precommits(precommit(n, height, round, block_hash) for n in names)


def test_alice_bob_and_carol_finalize_a_block_of_four_equal_validators():
    certificate = cert(["carol", "alice", "bob"])
    verify_commit(CHAIN_ID, X, certificate, validator_set())
    assert [s.validator for s in certificate.signatures] == sorted(KEYS[n] for n in ("alice", "bob", "carol"))


def test_invalid_two_of_four_is_exactly_half_not_more_than_two_thirds():
    with pytest.raises(InvalidCommit, match="more than 2/3"):
        verify_commit(CHAIN_ID, X, cert(["alice", "bob"]), validator_set())


def test_power_not_heads_decides_a_weighted_set():
    powers = {"alice": 70, "bob": 10, "carol": 10, "dave": 10}
    # alice alone holds 70 of 100, more than 2/3; the three others hold 30.
    verify_commit(CHAIN_ID, X, cert(["alice"]), validator_set(powers))
    with pytest.raises(InvalidCommit, match="found 30"):
        verify_commit(CHAIN_ID, X, cert(["bob", "carol", "dave"]), validator_set(powers))


def test_invalid_exactly_two_thirds_of_the_power_is_not_enough():
    powers = {"alice": 20, "bob": 20, "carol": 10, "dave": 10}  # alice+carol+dave = 40 of 60
    with pytest.raises(InvalidCommit, match="found 40"):
        verify_commit(CHAIN_ID, X, cert(["alice", "carol", "dave"]), validator_set(powers))


def test_invalid_certificate_for_another_block_or_height():
    certificate = cert(["alice", "bob", "carol"])
    with pytest.raises(InvalidCommit, match="precommits for block"):
        verify_commit(CHAIN_ID, block("y"), certificate, validator_set())
    header = BlockHeader(Height(4), Hash32(bytes(32)), Timestamp(0), KEYS["alice"], *(Hash32(bytes(32)),) * 6)
    with pytest.raises(InvalidCommit, match="height 4 expected"):
        verify_commit(CHAIN_ID, header, certificate, validator_set())


def test_certificate_checks_against_a_header():
    header = BlockHeader(Height(3), Hash32(bytes(32)), Timestamp(0), KEYS["alice"], *(Hash32(bytes(32)),) * 6)
    verify_commit(CHAIN_ID, header, cert(["alice", "bob", "dave"], block_hash=header.hash), validator_set())


def test_invalid_signature_from_a_non_validator_is_refused():
    with pytest.raises(InvalidCommit, match="validators of the set"):
        verify_commit(CHAIN_ID, X, cert(["alice", "bob", "carol", "eve"]), validator_set())


def test_invalid_every_signature_is_checked_even_past_two_thirds():
    good = cert(["alice", "bob", "carol", "dave"])
    last = good.signatures[-1]
    broken = replace(good, signatures=(*good.signatures[:-1], CommitSignature(last.validator, bytes(64))))
    with pytest.raises(InvalidCommit, match="does not verify"):
        verify_commit(CHAIN_ID, X, broken, validator_set())


def test_invalid_one_validator_counted_once():
    good = cert(["alice", "bob"])
    doubled = replace(good, signatures=(good.signatures[0], good.signatures[0], good.signatures[1]))
    with pytest.raises(InvalidCommit, match="one signature per validator"):
        verify_commit(CHAIN_ID, X, doubled, validator_set())


def test_invalid_certificate_of_another_chain():
    with pytest.raises(InvalidCommit, match="does not verify"):
        verify_commit("other-chain", X, cert(["alice", "bob", "carol"]), validator_set())


def test_certificate_encoding_round_trips_and_hash_is_stable():
    certificate = cert(["alice", "bob", "carol"])
    decoded = CommitCertificate.decode(certificate.encode())
    assert decoded == certificate
    assert decoded.hash == certificate.hash
    verify_commit(CHAIN_ID, X, decoded, validator_set())
    assert [v.signature_valid(CHAIN_ID) for v in decoded.precommits()] == [True] * 3


def test_invalid_certificate_encoding_with_unsorted_signatures():
    certificate = cert(["alice", "bob", "carol"])
    value = certificate.to_value()
    value[3] = list(reversed(value[3]))
    with pytest.raises(DecodeError, match="sorted"):
        CommitCertificate.decode(codec.encode(value))


def test_invalid_certificate_from_mixed_precommits():
    with pytest.raises(ValueError, match="a mix"):
        certificate_from_precommits([precommit("alice", 3, 1, X), precommit("bob", 3, 2, X)])
    with pytest.raises(ValueError, match="nil"):
        certificate_from_precommits([precommit("alice", 3, 1, None)])


# --- evidence ----------------------------------------------------------------------------


def test_dave_double_prevotes_and_the_evidence_proves_it():
    first, second = prevote("dave", 5, 0, block("a")), prevote("dave", 5, 0, None)
    evidence = DuplicateVoteEvidence.of(first, second)
    assert evidence.vote_a.block_hash is None  # nil orders first
    assert DuplicateVoteEvidence.of(second, first) == evidence
    verify_evidence(CHAIN_ID, evidence, validator_set())
    decoded = DuplicateVoteEvidence.decode(evidence.encode())
    assert decoded == evidence and decoded.hash == evidence.hash
    assert decoded.validator == KEYS["dave"] and decoded.height == 5


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (lambda: prevote("dave", 5, 1, None), "one validator, height, round and type"),
        (lambda: prevote("dave", 6, 0, None), "one validator, height, round and type"),
        (lambda: precommit("dave", 5, 0, None), "one validator, height, round and type"),
        (lambda: prevote("carol", 5, 0, None), "one validator, height, round and type"),
        (lambda: prevote("dave", 5, 0, block("a")), "different blocks"),
    ],
)
def test_invalid_evidence_of_votes_that_do_not_conflict(second, message):
    evidence = DuplicateVoteEvidence(prevote("dave", 5, 0, block("a")), second())
    with pytest.raises(InvalidEvidence, match=message):
        verify_evidence(CHAIN_ID, evidence, validator_set())


def test_invalid_evidence_against_a_non_validator_or_with_a_forged_vote():
    eve = DuplicateVoteEvidence.of(
        vote("eve", VoteType.PREVOTE, 5, 0, block("a")), vote("eve", VoteType.PREVOTE, 5, 0, None)
    )
    with pytest.raises(InvalidEvidence, match="validator of the set"):
        verify_evidence(CHAIN_ID, eve, validator_set())
    forged = replace(prevote("dave", 5, 0, None), signature=bytes(64), _checked=[])
    with pytest.raises(InvalidEvidence, match="does not verify"):
        verify_evidence(CHAIN_ID, DuplicateVoteEvidence.of(prevote("dave", 5, 0, block("a")), forged), validator_set())


def test_invalid_evidence_encoding_out_of_order():
    evidence = DuplicateVoteEvidence.of(prevote("dave", 5, 0, block("a")), prevote("dave", 5, 0, None))
    with pytest.raises(DecodeError, match="ordered"):
        DuplicateVoteEvidence.decode(codec.encode([evidence.vote_b.to_value(), evidence.vote_a.to_value()]))

