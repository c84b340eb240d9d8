"""The validator's signer (node.signer): never two different messages for one step, even
across restarts; the same request again gets the same signature."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.hashing import Domain, Hash32
from chain.signatures import verify, verify_raw
from chain.types import PublicKey
from consensus.messages import Proposal, Vote, VoteType
from node.signer import (
    STEP_PRECOMMIT,
    STEP_PREVOTE,
    STEP_PROPOSE,
    ConflictingSignRequest,
    FileSigner,
    SignerError,
    SignRegression,
    load_or_create,
)

SEED = bytes(range(32))
CHAIN = "meterchain-test"
BLOCK_A = Hash32(b"\xaa" * 32)
BLOCK_B = Hash32(b"\xbb" * 32)


@pytest.fixture
def signer(tmp_path: Path) -> FileSigner:
    return FileSigner.create(tmp_path / "signer", SEED)


def prevote(signer: FileSigner, height: int, round: int, block: Hash32 | None) -> Vote:
    return Vote(VoteType.PREVOTE, height, round, block, signer.public_key)


def test_basic_signs_and_persists_before_returning(signer: FileSigner) -> None:
    vote = signer.sign_vote(prevote(signer, 5, 0, BLOCK_A), CHAIN)
    assert vote.signature_valid(CHAIN)
    reloaded = FileSigner.load(signer.path)
    assert reloaded.last.hrs == (5, 0, STEP_PREVOTE)
    assert reloaded.last.signature == vote.signature
    assert verify_raw(signer.public_key, reloaded.last.sign_bytes, vote.signature)
    assert reloaded.public_key == signer.public_key


def test_basic_same_request_after_restart_returns_the_stored_signature(signer: FileSigner) -> None:
    first = signer.sign_vote(prevote(signer, 5, 0, BLOCK_A), CHAIN)
    again = FileSigner.load(signer.path).sign_vote(prevote(signer, 5, 0, BLOCK_A), CHAIN)
    assert again.signature == first.signature


def test_invalid_other_bytes_at_the_same_step_after_restart(signer: FileSigner) -> None:
    signer.sign_vote(prevote(signer, 5, 0, BLOCK_A), CHAIN)
    restarted = FileSigner.load(signer.path)
    for other in (BLOCK_B, None):
        with pytest.raises(ConflictingSignRequest, match=r"\(5, 0, 2\)"):
            restarted.sign_vote(prevote(signer, 5, 0, other), CHAIN)
    assert FileSigner.load(signer.path).last.hrs == (5, 0, STEP_PREVOTE)


def test_basic_steps_rounds_and_heights_move_forward(signer: FileSigner) -> None:
    proposal = signer.sign_proposal(Proposal(5, 0, BLOCK_A, 1000, -1, signer.public_key), CHAIN)
    assert proposal.signature_valid(CHAIN)
    signer.sign_vote(prevote(signer, 5, 0, BLOCK_A), CHAIN)
    precommit = signer.sign_vote(Vote(VoteType.PRECOMMIT, 5, 0, BLOCK_A, signer.public_key), CHAIN)
    assert verify(signer.public_key, Domain.VOTE, precommit.signed_message(CHAIN), precommit.signature)
    signer.sign_vote(prevote(signer, 5, 1, None), CHAIN)  # a later round may vote differently
    signer.sign_vote(prevote(signer, 6, 0, BLOCK_B), CHAIN)
    assert FileSigner.load(signer.path).last.hrs == (6, 0, STEP_PREVOTE)


@pytest.mark.parametrize(
    ("height", "round", "step"),
    [(4, 9, STEP_PRECOMMIT), (5, 0, STEP_PROPOSE), (5, 0, STEP_PREVOTE), (5, 1, STEP_PROPOSE)],
)
def test_invalid_regression_is_refused(signer: FileSigner, height: int, round: int, step: int) -> None:
    signer.sign(5, 1, STEP_PREVOTE, b"some bytes")
    signer.sign(5, 1, STEP_PRECOMMIT, b"later bytes")
    with pytest.raises(SignRegression, match=r"after \(5, 1, 3\)"):
        FileSigner.load(signer.path).sign(height, round, step, b"some bytes")


def test_invalid_vote_of_another_validator(signer: FileSigner) -> None:
    with pytest.raises(SignerError, match="a vote by"):
        signer.sign_vote(Vote(VoteType.PREVOTE, 1, 0, BLOCK_A, PublicKey(bytes(32))), CHAIN)


def test_invalid_create_over_an_existing_file(signer: FileSigner) -> None:
    with pytest.raises(SignerError, match="no signer file"):
        FileSigner.create(signer.path, SEED)
    assert load_or_create(signer.path).public_key == signer.public_key


def test_invalid_corrupt_file_is_not_loaded(signer: FileSigner) -> None:
    signer.path.write_bytes(signer.path.read_bytes()[:-3])
    with pytest.raises(Exception, match="expected"):
        FileSigner.load(signer.path)


def test_invalid_failed_write_leaves_the_signer_refusing(signer: FileSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    import node.signer as module

    def failing_write(path: Path, data: bytes) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(module, "write_atomically", failing_write)
    with pytest.raises(OSError, match="disk full"):
        signer.sign(1, 0, STEP_PREVOTE, b"x")
    monkeypatch.undo()
    with pytest.raises(SignerError, match="restart"):
        signer.sign(2, 0, STEP_PREVOTE, b"y")
    assert FileSigner.load(signer.path).last.hrs == (0, 0, 0)
