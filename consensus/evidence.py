"""Evidence that a validator double-signed: two conflicting votes of one validator.

Two signed votes by the same validator for the same height, round and type but different
blocks (nil counts as a block id) can only come from a faulty or malicious validator: an
honest one signs at most one vote per (height, round, type). The state machine reports it
(``ReportEvidence``); the node turns it into an evidence transaction committed on chain,
and governance acts on it (docs/consensus.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from chain import codec
from chain.errors import DecodeError
from chain.hashing import Domain, Hash32, hash_domain
from consensus.errors import InvalidEvidence
from consensus.messages import MAX_VOTE_SIZE, Vote, expect_list
from consensus.validators import ValidatorSet

MAX_EVIDENCE_SIZE: Final = 2 * MAX_VOTE_SIZE + 16


def _order_key(vote: Vote) -> bytes:
    return b"" if vote.block_hash is None else b"\x01" + vote.block_hash


@dataclass(frozen=True, slots=True)
class DuplicateVoteEvidence:
    """Two conflicting votes, ordered (nil first, then by block hash) so that one pair of
    votes has one encoding."""

    vote_a: Vote
    vote_b: Vote

    @classmethod
    def of(cls, first: Vote, second: Vote) -> DuplicateVoteEvidence:
        a, b = sorted((first, second), key=_order_key)
        return cls(a, b)

    @property
    def validator(self) -> bytes:
        return self.vote_a.validator

    @property
    def height(self) -> int:
        return self.vote_a.height

    def to_value(self) -> list[Any]:
        return [self.vote_a.to_value(), self.vote_b.to_value()]

    def encode(self) -> bytes:
        return codec.encode(self.to_value())

    @property
    def hash(self) -> Hash32:
        return hash_domain(Domain.EVIDENCE, self.encode())

    @classmethod
    def from_value(cls, value: Any) -> DuplicateVoteEvidence:
        f = expect_list(value, "evidence", 2)
        a, b = Vote.from_value(f[0]), Vote.from_value(f[1])
        if _order_key(a) >= _order_key(b):
            raise DecodeError("evidence: votes ordered by block hash (nil first), distinct, expected")
        return cls(a, b)

    @classmethod
    def decode(cls, data: bytes) -> DuplicateVoteEvidence:
        return cls.from_value(codec.decode(data, max_size=MAX_EVIDENCE_SIZE))


def verify_evidence(chain_id: str, evidence: DuplicateVoteEvidence, validators: ValidatorSet) -> None:
    """Check that ``evidence`` proves a double vote by a validator of ``validators`` (the
    set of the votes' height); raise ``InvalidEvidence`` saying what is wrong."""
    a, b = evidence.vote_a, evidence.vote_b
    if (a.validator, a.height, a.round, a.type) != (b.validator, b.height, b.round, b.type):
        raise InvalidEvidence(
            "two votes of one validator, height, round and type expected, found "
            f"({a.validator.hex()[:16]}, {a.height}, {a.round}, {a.type.name}) and "
            f"({b.validator.hex()[:16]}, {b.height}, {b.round}, {b.type.name})"
        )
    if a.block_hash == b.block_hash:
        raise InvalidEvidence("votes for different blocks expected, found two votes for the same block")
    if a.validator not in validators:
        raise InvalidEvidence(f"a validator of the set expected, found {a.validator.hex()}")
    for vote in (a, b):
        if not vote.signature_valid(chain_id):
            raise InvalidEvidence(f"votes signed by {a.validator.hex()} expected, found a signature that does not verify")
