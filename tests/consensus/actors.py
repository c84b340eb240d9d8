"""Named validators for consensus tests: alice, bob, carol and dave (and eve, who is not a
validator), with keys derived from their names so that every run uses the same keys."""

from __future__ import annotations

import hashlib
from typing import Final

from chain.hashing import Hash32
from chain.signatures import keypair_from_seed
from chain.types import PublicKey
from consensus.messages import NIL_ROUND, Proposal, Vote, VoteType, sign_proposal, sign_vote
from consensus.validators import Validator, ValidatorSet

CHAIN_ID: Final = "meterchain-test"


def seed_of(name: str) -> bytes:
    return hashlib.sha256(b"consensus-actor/" + name.encode()).digest()


def key_of(name: str) -> PublicKey:
    return keypair_from_seed(seed_of(name))[1]


NAMES: Final = ("alice", "bob", "carol", "dave")
SEEDS: Final = {name: seed_of(name) for name in (*NAMES, "eve")}
KEYS: Final = {name: key_of(name) for name in (*NAMES, "eve")}
NAME_OF: Final = {key: name for name, key in KEYS.items()}


def block(label: str) -> Hash32:
    """A block hash named for the test that uses it."""
    return Hash32(hashlib.sha256(b"block/" + label.encode()).digest())


def validator_set(powers: dict[str, int] | None = None) -> ValidatorSet:
    powers = powers or {name: 10 for name in NAMES}
    return ValidatorSet.genesis(Validator(KEYS[name], power) for name, power in powers.items())


def vote(
    name: str, kind: VoteType, height: int, round: int, block_hash: Hash32 | None, chain_id: str = CHAIN_ID
) -> Vote:
    return sign_vote(Vote(kind, height, round, block_hash, KEYS[name]), SEEDS[name], chain_id)


def prevote(name: str, height: int, round: int, block_hash: Hash32 | None) -> Vote:
    return vote(name, VoteType.PREVOTE, height, round, block_hash)


def precommit(name: str, height: int, round: int, block_hash: Hash32 | None) -> Vote:
    return vote(name, VoteType.PRECOMMIT, height, round, block_hash)


def proposal(
    name: str, height: int, round: int, block_hash: Hash32, block_time: int = 1_000, valid_round: int = NIL_ROUND
) -> Proposal:
    unsigned = Proposal(height, round, block_hash, block_time, valid_round, KEYS[name])
    return sign_proposal(unsigned, SEEDS[name], CHAIN_ID)
