"""Commit certificates: the proof that a block is final.

A certificate is the set of precommits of more than 2/3 of the voting power for one block
at one height and round. It stores only (validator, signature) pairs: every precommit in
it names the same height, round and block, so the signed bytes are rebuilt to check each
signature. The certificate travels beside its block (it signs the block's hash, so it cannot
be inside it), and the next header commits to it by its hash (``last_commit_hash``).

``verify_commit`` is the light-client check that block sync, regulators and wallets run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from chain import codec
from chain.errors import DecodeError
from chain.hashing import HASH_SIZE, Domain, Hash32, hash_domain
from chain.signatures import verify
from chain.types import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, BlockHeader, PublicKey, Signature
from consensus.errors import InvalidCommit
from consensus.messages import (
    MAX_ROUND,
    UINT64_MAX,
    Vote,
    VoteType,
    expect_bytes,
    expect_int,
    expect_list,
    vote_message,
)
from consensus.validators import ValidatorSet, more_than_two_thirds

MAX_COMMIT_SIGNATURES: Final = 10_000  # CometBFT's bound on a commit's votes
MAX_CERTIFICATE_SIZE: Final = 64 + MAX_COMMIT_SIGNATURES * (PUBLIC_KEY_SIZE + SIGNATURE_SIZE + 8)


@dataclass(frozen=True, slots=True)
class CommitSignature:
    validator: PublicKey
    signature: Signature


@dataclass(frozen=True, slots=True)
class CommitCertificate:
    """Precommits for ``block_hash`` at ``height`` and ``round``; signatures sorted by key."""

    height: int
    round: int
    block_hash: Hash32
    signatures: tuple[CommitSignature, ...]

    def precommits(self) -> tuple[Vote, ...]:
        """The precommits the certificate carries, as votes."""
        return tuple(
            Vote(VoteType.PRECOMMIT, self.height, self.round, self.block_hash, s.validator, s.signature)
            for s in self.signatures
        )

    def to_value(self) -> list[Any]:
        return [self.height, self.round, self.block_hash, [[s.validator, s.signature] for s in self.signatures]]

    def encode(self) -> bytes:
        return codec.encode(self.to_value())

    @property
    def hash(self) -> Hash32:
        """What the next header commits to as ``last_commit_hash``."""
        return hash_domain(Domain.COMMIT, self.encode())

    @classmethod
    def from_value(cls, value: Any) -> CommitCertificate:
        f = expect_list(value, "certificate", 4)
        if type(f[3]) is not list:
            raise DecodeError(f"certificate.signatures: array expected, found {type(f[3]).__name__}")
        if len(f[3]) > MAX_COMMIT_SIGNATURES:
            raise DecodeError(
                f"certificate.signatures: at most {MAX_COMMIT_SIGNATURES} expected, found {len(f[3])}"
            )
        signatures = []
        for i, item in enumerate(f[3]):
            pair = expect_list(item, f"certificate.signatures[{i}]", 2)
            signatures.append(
                CommitSignature(
                    PublicKey(expect_bytes(pair[0], f"certificate.signatures[{i}].validator", PUBLIC_KEY_SIZE)),
                    Signature(expect_bytes(pair[1], f"certificate.signatures[{i}].signature", SIGNATURE_SIZE)),
                )
            )
        keys = [s.validator for s in signatures]
        if keys != sorted(set(keys)):
            raise DecodeError("certificate.signatures: sorted by validator key without repeats expected")
        return cls(
            expect_int(f[0], "certificate.height", 0, UINT64_MAX),
            expect_int(f[1], "certificate.round", 0, MAX_ROUND),
            Hash32(expect_bytes(f[2], "certificate.block_hash", HASH_SIZE)),
            tuple(signatures),
        )

    @classmethod
    def decode(cls, data: bytes) -> CommitCertificate:
        return cls.from_value(codec.decode(data, max_size=MAX_CERTIFICATE_SIZE))


def certificate_from_precommits(precommits: Iterable[Vote]) -> CommitCertificate:
    """The certificate made of ``precommits``, which must all be for one block, height and
    round (the state machine builds it from the precommits it counted)."""
    votes = list(precommits)
    if not votes:
        raise ValueError("at least one precommit expected, found none")
    first = votes[0]
    if first.block_hash is None:
        raise ValueError("precommits for a block expected, found precommits for nil")
    for v in votes:
        if (v.type, v.height, v.round, v.block_hash) != (VoteType.PRECOMMIT, first.height, first.round, first.block_hash):
            raise ValueError("precommits of one block, height and round expected, found a mix")
    by_key = {v.validator: v.signature for v in votes}
    signatures = tuple(CommitSignature(k, by_key[k]) for k in sorted(by_key))
    return CommitCertificate(first.height, first.round, first.block_hash, signatures)


def verify_commit(
    chain_id: str, block: BlockHeader | Hash32, certificate: CommitCertificate, validators: ValidatorSet
) -> None:
    """Check that ``certificate`` finalizes ``block`` (a header, or a block hash) for the
    validator set of its height; raise ``InvalidCommit`` saying what is wrong.

    Every signature is checked (not only enough of them to pass 2/3: a certificate is
    evidence of who signed), each validator's power is counted once, and the signers must
    hold strictly more than 2/3 of the set's power.
    """
    if isinstance(block, BlockHeader):
        if certificate.height != block.height:
            raise InvalidCommit(f"a certificate for height {block.height} expected, found height {certificate.height}")
        block_hash = block.hash
    else:
        block_hash = block
    if certificate.block_hash != block_hash:
        raise InvalidCommit(
            f"precommits for block {block_hash.hex()} expected, found precommits for {certificate.block_hash.hex()}"
        )
    seen: set[bytes] = set()
    signed_power = 0
    for s in certificate.signatures:
        if s.validator in seen:
            raise InvalidCommit(f"one signature per validator expected, found two by {s.validator.hex()}")
        seen.add(s.validator)
        power = validators.power_of(s.validator)
        if power == 0:
            raise InvalidCommit(f"signatures by validators of the set expected, found one by {s.validator.hex()}")
        message = vote_message(
            chain_id, VoteType.PRECOMMIT, certificate.height, certificate.round, certificate.block_hash, s.validator
        )
        if not verify(s.validator, Domain.VOTE, message, s.signature):
            raise InvalidCommit(f"a valid precommit signature by {s.validator.hex()} expected, found one that does not verify")
        signed_power += power
    total = validators.total_power
    if not more_than_two_thirds(signed_power, total):
        raise InvalidCommit(
            f"precommits of more than 2/3 of the power {total} expected, found {signed_power}"
        )
