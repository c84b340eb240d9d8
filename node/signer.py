"""The validator's signer: an Ed25519 key that never signs two different messages for one step.

Modelled on CometBFT's privval ``FilePV`` (notes/CONSENSUS.md section 3). The key and the
last signed height/round/step (HRS), with the bytes signed there and their signature, live
in ONE file, so they cannot drift apart (tendermint #3418). A request to sign:

- at an HRS below the last one: refused (``SignRegression``);
- at the last HRS with the same bytes: the stored signature again (a restarted node
  replaying its write-ahead log asks for the votes it already sent);
- at the last HRS with other bytes: refused (``ConflictingSignRequest``): this is the
  double sign that gets a validator slashed;
- at a later HRS: signed, the new state written to a temporary file opened ``O_SYNC``,
  renamed over the old one and the directory fsynced (``node.durable``), and only then is
  the signature returned. Killed at any instant, the signer restarts with a state at least
  as recent as every signature that left it.

Steps: 1 proposal, 2 prevote, 3 precommit, as in CometBFT. The signed bytes are the full
message under its domain tag (``chain.hashing.Domain``), exactly what the signature covers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import nacl.signing

from chain import codec
from chain.errors import DecodeError
from chain.hashing import Domain
from chain.signatures import keypair_from_seed
from chain.types import PublicKey, Signature
from consensus.messages import Proposal, Vote, VoteType
from node.durable import write_atomically

STEP_PROPOSE: Final = 1
STEP_PREVOTE: Final = 2
STEP_PRECOMMIT: Final = 3
_FORMAT: Final = "meterchain-signer/1"
MAX_SIGNER_FILE: Final = 64 * 1024


class SignerError(Exception):
    """The signer refused to sign, or cannot trust its own state."""


class SignRegression(SignerError):
    """A request below the last signed height/round/step."""


class ConflictingSignRequest(SignerError):
    """Different bytes at the height/round/step already signed."""


@dataclass(frozen=True, slots=True)
class LastSigned:
    """What the signer last signed; (0, 0, 0) with empty bytes before its first signature."""

    height: int
    round: int
    step: int
    sign_bytes: bytes
    signature: bytes

    @property
    def hrs(self) -> tuple[int, int, int]:
        return (self.height, self.round, self.step)


NOTHING_SIGNED: Final = LastSigned(0, 0, 0, b"", b"")


def encode_signer_file(seed: bytes, last: LastSigned) -> bytes:
    return codec.encode([_FORMAT, seed, last.height, last.round, last.step, last.sign_bytes, last.signature])


def decode_signer_file(data: bytes) -> tuple[bytes, LastSigned]:
    value: Any = codec.decode(data, max_size=MAX_SIGNER_FILE)
    if not (isinstance(value, list) and len(value) == 7 and value[0] == _FORMAT):
        raise DecodeError(f"signer file: [{_FORMAT!r}, seed, height, round, step, sign bytes, signature] expected")
    _, seed, height, round_, step, sign_bytes, signature = value
    if not (isinstance(seed, bytes) and len(seed) == 32):
        raise DecodeError("signer file: a 32-byte seed expected")
    if not all(isinstance(n, int) and n >= 0 for n in (height, round_, step)) or step > STEP_PRECOMMIT:
        raise DecodeError(f"signer file: height, round >= 0 and a step in 0..3 expected, found {height}/{round_}/{step}")
    if not (isinstance(sign_bytes, bytes) and isinstance(signature, bytes)):
        raise DecodeError("signer file: sign bytes and signature as bytes expected")
    return seed, LastSigned(height, round_, step, sign_bytes, signature)


class FileSigner:
    """A validator key with its double-sign guard, kept in one file at ``path``."""

    def __init__(self, path: Path, seed: bytes, last: LastSigned) -> None:
        self.path = path
        self._key = nacl.signing.SigningKey(seed)
        self._seed = seed
        self.public_key: PublicKey = keypair_from_seed(seed)[1]
        self.last = last
        self._broken = False

    @classmethod
    def create(cls, path: Path, seed: bytes) -> FileSigner:
        """A new signer file for ``seed``; refuses to overwrite an existing one (its state
        is what keeps the key from double signing)."""
        if path.exists():
            raise SignerError(f"no signer file at {path} expected, found one (load it instead)")
        keypair_from_seed(seed)  # checks the seed's size
        write_atomically(path, encode_signer_file(seed, NOTHING_SIGNED))
        return cls(path, seed, NOTHING_SIGNED)

    @classmethod
    def load(cls, path: Path) -> FileSigner:
        try:
            seed, last = decode_signer_file(path.read_bytes())
        except OSError as exc:
            raise SignerError(f"a readable signer file at {path} expected, found {exc.strerror or exc}") from None
        except DecodeError as exc:
            # Never recreated from the key: its record of the last step signed is what keeps
            # the validator from signing twice; the operator decides what to restore.
            raise SignerError(f"{path}: {exc}") from None
        return cls(path, seed, last)

    def sign(self, height: int, round: int, step: int, sign_bytes: bytes) -> Signature:
        """The signature of ``sign_bytes`` for step ``step`` of ``height``/``round``, once its
        record is durable; raises ``SignRegression`` or ``ConflictingSignRequest`` instead of
        signing a second message for a step."""
        if self._broken:
            raise SignerError(f"a signer whose state file {self.path} was written expected; a write failed, restart")
        if not STEP_PROPOSE <= step <= STEP_PRECOMMIT or height < 1 or round < 0:
            raise ValueError(f"height >= 1, round >= 0 and step 1..3 expected, found {height}/{round}/{step}")
        last = self.last
        hrs = (height, round, step)
        if hrs < last.hrs:
            raise SignRegression(f"a height/round/step after {last.hrs} expected, found {hrs}")
        if hrs == last.hrs:
            if sign_bytes == last.sign_bytes:
                return Signature(last.signature)
            raise ConflictingSignRequest(
                f"the bytes already signed at {hrs} expected, found other bytes (refused: a double sign)"
            )
        signature = Signature(self._key.sign(sign_bytes).signature)
        record = LastSigned(height, round, step, sign_bytes, signature)
        try:
            write_atomically(self.path, encode_signer_file(self._seed, record))
        except OSError:
            # The file may or may not hold the new record: trust neither; a restart reads it.
            self._broken = True
            raise
        self.last = record
        return signature

    # --- consensus messages ------------------------------------------------------------

    def sign_vote(self, vote: Vote, chain_id: str) -> Vote:
        """``vote`` (ours, unsigned) signed for ``chain_id``."""
        if vote.validator != self.public_key:
            raise SignerError(f"a vote by {self.public_key.hex()} expected, found one by {vote.validator.hex()}")
        step = STEP_PREVOTE if vote.type == VoteType.PREVOTE else STEP_PRECOMMIT
        sign_bytes = Domain.VOTE.tag + vote.signed_message(chain_id)
        return replace(vote, signature=self.sign(vote.height, vote.round, step, sign_bytes), _checked=[])

    def sign_proposal(self, proposal: Proposal, chain_id: str) -> Proposal:
        """``proposal`` (ours, unsigned) signed for ``chain_id``."""
        if proposal.proposer != self.public_key:
            raise SignerError(
                f"a proposal by {self.public_key.hex()} expected, found one by {proposal.proposer.hex()}"
            )
        sign_bytes = Domain.PROPOSAL.tag + proposal.signed_message(chain_id)
        signature = self.sign(proposal.height, proposal.round, STEP_PROPOSE, sign_bytes)
        return replace(proposal, signature=signature, _checked=[])


def load_or_create(path: Path, seed: bytes | None = None) -> FileSigner:
    """The signer at ``path``; created from ``seed`` (or a fresh random key) if missing."""
    if path.exists():
        return FileSigner.load(path)
    return FileSigner.create(path, seed if seed is not None else os.urandom(32))
