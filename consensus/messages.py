"""The signed messages of consensus: votes (prevote, precommit) and proposals.

A vote is signed under the domain tag ``Domain.VOTE`` and a proposal under
``Domain.PROPOSAL``; both signed payloads begin with the chain id and name the height, the
round, the kind of message and the block hash, so a signature means one thing on one chain.
The block hash is the block's identity (its header hash); ``None`` is the paper's ``nil``.

Encodings are canonical msgpack arrays (``chain.codec``), size-bounded and strictly
decoded. A signature check is memoised on the immutable record it checks: a message that
the network hands to several state machines is verified once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, Final

from chain import codec
from chain.errors import DecodeError
from chain.hashing import HASH_SIZE, Domain, Hash32
from chain.signatures import keypair_from_seed, sign, verify
from chain.types import MAX_CHAIN_ID_LEN, PUBLIC_KEY_SIZE, SIGNATURE_SIZE, PublicKey, Signature

MAX_VOTE_SIZE: Final = 256
MAX_PROPOSAL_SIZE: Final = 256
MAX_ROUND: Final = 2**31 - 1  # rounds are int32 in CometBFT; far beyond any real round
UINT64_MAX: Final = 2**64 - 1
NIL_ROUND: Final = -1  # the paper's -1: "no round" for locked_round, valid_round, a proposal's vr
UNSIGNED: Final = Signature(b"")  # what the state machine puts in a message it asks to be signed


class VoteType(IntEnum):
    PREVOTE = 1
    PRECOMMIT = 2


# --- field checks shared by the decoders ---------------------------------------------------


def expect_list(value: Any, name: str, arity: int) -> list[Any]:
    if not isinstance(value, list):
        raise DecodeError(f"{name}: array of {arity} fields expected, found {type(value).__name__}")
    if len(value) != arity:
        raise DecodeError(f"{name}: array of {arity} fields expected, found {len(value)} fields")
    return value


def expect_int(value: Any, name: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise DecodeError(f"{name}: integer in [{low}, {high}] expected, found {value!r}")
    return value


def expect_bytes(value: Any, name: str, size: int) -> bytes:
    if type(value) is not bytes:
        raise DecodeError(f"{name}: bytes expected, found {type(value).__name__}")
    if len(value) != size:
        raise DecodeError(f"{name}: {size} bytes expected, found {len(value)}")
    return value


def expect_block_hash(value: Any, name: str) -> Hash32 | None:
    if value is None:
        return None
    return Hash32(expect_bytes(value, name, HASH_SIZE))


def _check_chain_id(chain_id: str) -> None:
    if len(chain_id) > MAX_CHAIN_ID_LEN:
        raise ValueError(f"a chain id of at most {MAX_CHAIN_ID_LEN} characters expected, found {len(chain_id)}")


# --- votes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vote:
    """A validator's prevote or precommit for a block (or nil) at one height and round."""

    type: VoteType
    height: int
    round: int
    block_hash: Hash32 | None
    validator: PublicKey
    signature: Signature = UNSIGNED
    # (chain id, verdict) of the last signature check; not part of the value.
    _checked: list[tuple[str, bool]] = field(default_factory=list, compare=False, repr=False)

    def signed_message(self, chain_id: str) -> bytes:
        return vote_message(chain_id, self.type, self.height, self.round, self.block_hash, self.validator)

    def signature_valid(self, chain_id: str) -> bool:
        """Whether ``signature`` is the validator's over this vote on ``chain_id``."""
        for checked_chain, verdict in self._checked:
            if checked_chain == chain_id:
                return verdict
        verdict = verify(self.validator, Domain.VOTE, self.signed_message(chain_id), self.signature)
        self._checked.append((chain_id, verdict))
        return verdict

    def to_value(self) -> list[Any]:
        return [int(self.type), self.height, self.round, self.block_hash, self.validator, self.signature]

    def encode(self) -> bytes:
        return codec.encode(self.to_value())

    @classmethod
    def from_value(cls, value: Any) -> Vote:
        f = expect_list(value, "vote", 6)
        kind = expect_int(f[0], "vote.type", VoteType.PREVOTE, VoteType.PRECOMMIT)
        return cls(
            VoteType(kind),
            expect_int(f[1], "vote.height", 0, UINT64_MAX),
            expect_int(f[2], "vote.round", 0, MAX_ROUND),
            expect_block_hash(f[3], "vote.block_hash"),
            PublicKey(expect_bytes(f[4], "vote.validator", PUBLIC_KEY_SIZE)),
            Signature(expect_bytes(f[5], "vote.signature", SIGNATURE_SIZE)),
        )

    @classmethod
    def decode(cls, data: bytes) -> Vote:
        return cls.from_value(codec.decode(data, max_size=MAX_VOTE_SIZE))


def vote_message(
    chain_id: str, kind: VoteType, height: int, round: int, block_hash: Hash32 | None, validator: PublicKey
) -> bytes:
    """What a validator signs for a vote under ``Domain.VOTE``: the chain id and the vote.
    A commit certificate stores only signatures and rebuilds these bytes to check them."""
    _check_chain_id(chain_id)
    return codec.encode([chain_id, int(kind), height, round, block_hash, validator])


def sign_vote(vote: Vote, seed: bytes, chain_id: str) -> Vote:
    """``vote`` signed with ``seed`` (whose key must be the vote's validator) for ``chain_id``."""
    if keypair_from_seed(seed)[1] != vote.validator:
        raise ValueError("the signing key does not match the vote's validator")
    return replace(vote, signature=sign(seed, Domain.VOTE, vote.signed_message(chain_id)), _checked=[])


# --- proposals ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """The proposer's message for a round: the block (by its hash and time) and the round
    ``valid_round`` in which it saw a polka for it (``NIL_ROUND`` for a new block)."""

    height: int
    round: int
    block_hash: Hash32
    block_time: int  # the block header's time, set by the proposer's clock
    valid_round: int
    proposer: PublicKey
    signature: Signature = UNSIGNED
    _checked: list[tuple[str, bool]] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        # The paper's proposals carry vr = -1 or a round before their own (L28: 0 <= vr < r).
        if not (self.valid_round == NIL_ROUND or 0 <= self.valid_round < self.round):
            raise ValueError(f"a valid round in [-1, {self.round - 1}] expected, found {self.valid_round}")

    def signed_message(self, chain_id: str) -> bytes:
        """What the proposer signs under ``Domain.PROPOSAL``: the chain id and the proposal."""
        _check_chain_id(chain_id)
        return codec.encode(
            [chain_id, self.height, self.round, self.block_hash, self.block_time, self.valid_round, self.proposer]
        )

    def signature_valid(self, chain_id: str) -> bool:
        for checked_chain, verdict in self._checked:
            if checked_chain == chain_id:
                return verdict
        verdict = verify(self.proposer, Domain.PROPOSAL, self.signed_message(chain_id), self.signature)
        self._checked.append((chain_id, verdict))
        return verdict

    def to_value(self) -> list[Any]:
        return [self.height, self.round, self.block_hash, self.block_time, self.valid_round, self.proposer, self.signature]

    def encode(self) -> bytes:
        return codec.encode(self.to_value())

    @classmethod
    def from_value(cls, value: Any) -> Proposal:
        f = expect_list(value, "proposal", 7)
        round_ = expect_int(f[1], "proposal.round", 0, MAX_ROUND)
        return cls(
            expect_int(f[0], "proposal.height", 0, UINT64_MAX),
            round_,
            Hash32(expect_bytes(f[2], "proposal.block_hash", HASH_SIZE)),
            expect_int(f[3], "proposal.block_time", 0, UINT64_MAX),
            expect_int(f[4], "proposal.valid_round", NIL_ROUND, round_ - 1),
            PublicKey(expect_bytes(f[5], "proposal.proposer", PUBLIC_KEY_SIZE)),
            Signature(expect_bytes(f[6], "proposal.signature", SIGNATURE_SIZE)),
        )

    @classmethod
    def decode(cls, data: bytes) -> Proposal:
        return cls.from_value(codec.decode(data, max_size=MAX_PROPOSAL_SIZE))


def sign_proposal(proposal: Proposal, seed: bytes, chain_id: str) -> Proposal:
    """``proposal`` signed with ``seed`` (whose key must be the proposer's) for ``chain_id``."""
    if keypair_from_seed(seed)[1] != proposal.proposer:
        raise ValueError("the signing key does not match the proposal's proposer")
    signature = sign(seed, Domain.PROPOSAL, proposal.signed_message(chain_id))
    return replace(proposal, signature=signature, _checked=[])
