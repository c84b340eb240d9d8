"""What the consensus engine (``node.engine``) reads and writes besides the state machine:
the peer messages it exchanges, the records of its write-ahead log, its settings, and the
timers it runs on.

Peer messages (the p2p kinds; every payload canonical msgpack, size-limited, strictly
decoded, its signatures checked by the engine before anything is logged):

- ``proposal``: ``[proposal, block bytes]``, a signed proposal with the block it names;
- ``vote``: a signed vote (``Vote.encode``);
- ``commit``: ``[height, block bytes or b"", certificate bytes]``, sent after deciding a
  height (without the block: the peers working on that height have it from the proposal)
  and as the answer to a ``commit_request`` (with the block, from the store). A peer that
  missed the precommits ends the height with it (``CommitReceived``); a lagging peer
  catches up with it, one height per answer;
- ``commit_request``: a height; answered with ``commit`` by a peer that stored it.

Write-ahead log records (``node.wal`` frames them): an event (``consensus.event_codec``),
or ``["block", bytes]``, the body of a block a later event names (a proposal's, the block
this node built), written before that event so a replay can commit what it decides.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from chain import codec
from chain.errors import DecodeError
from chain.types import MAX_BLOCK_SIZE
from consensus.certificate import MAX_CERTIFICATE_SIZE
from consensus.event_codec import decode_event
from consensus.machine import ConsensusParams, Event, TimeoutKind
from consensus.messages import MAX_PROPOSAL_SIZE, UINT64_MAX, Proposal, expect_int, expect_list
from node.config import ConsensusSection
from node.wal import MAX_RECORD_SIZE

PROPOSAL: Final = "proposal"
VOTE: Final = "vote"
COMMIT: Final = "commit"
COMMIT_REQUEST: Final = "commit_request"

MAX_PROPOSAL_MESSAGE: Final = MAX_PROPOSAL_SIZE + MAX_BLOCK_SIZE + 64
MAX_COMMIT_MESSAGE: Final = MAX_BLOCK_SIZE + MAX_CERTIFICATE_SIZE + 64
MAX_COMMIT_REQUEST: Final = 16
# A block record must fit one WAL record; the engine keeps the blocks it builds under this.
BLOCK_RECORD: Final = "block"
MAX_LOGGED_BLOCK: Final = MAX_RECORD_SIZE - 64


class DropReason:
    """Labels of ``meterchain_dropped_messages_total`` the engine adds to p2p's own."""

    MALFORMED = "malformed"
    MALFORMED_BLOCK = "malformed_block"
    BAD_SIGNATURE = "bad_signature"
    NOT_VALIDATOR_KEY = "not_validator_key"  # a vote signed by a key outside the height's set
    NOT_PROPOSER = "not_proposer"  # a proposal by someone else than the round's proposer
    BLOCK_MISMATCH = "block_mismatch"  # the block is not the one the proposal or certificate names
    BAD_CERTIFICATE = "bad_certificate"
    INVALID_BLOCK = "invalid_block"  # a certified block that does not apply here


def _expect_bytes(value: Any, name: str, max_size: int) -> bytes:
    if type(value) is not bytes:
        raise DecodeError(f"{name}: bytes expected, found {type(value).__name__}")
    if len(value) > max_size:
        raise DecodeError(f"{name}: at most {max_size} bytes expected, found {len(value)}")
    return value


# --- peer messages ---------------------------------------------------------------------


def encode_proposal_message(proposal: Proposal, block: bytes) -> bytes:
    return codec.encode([proposal.to_value(), block])


def decode_proposal_message(payload: bytes) -> tuple[Proposal, bytes]:
    f = expect_list(codec.decode(payload, max_size=MAX_PROPOSAL_MESSAGE), "proposal message", 2)
    return Proposal.from_value(f[0]), _expect_bytes(f[1], "proposal message.block", MAX_BLOCK_SIZE)


@dataclass(frozen=True, slots=True)
class CommitMessage:
    height: int
    block: bytes  # b"": the block the proposal named (the receiver has it, or asks for it)
    certificate: bytes

    def encode(self) -> bytes:
        return codec.encode([self.height, self.block, self.certificate])

    @classmethod
    def decode(cls, payload: bytes) -> CommitMessage:
        f = expect_list(codec.decode(payload, max_size=MAX_COMMIT_MESSAGE), "commit message", 3)
        return cls(
            expect_int(f[0], "commit message.height", 1, UINT64_MAX),
            _expect_bytes(f[1], "commit message.block", MAX_BLOCK_SIZE),
            _expect_bytes(f[2], "commit message.certificate", MAX_CERTIFICATE_SIZE),
        )


def encode_commit_request(height: int) -> bytes:
    return codec.encode(height)


def decode_commit_request(payload: bytes) -> int:
    return expect_int(codec.decode(payload, max_size=MAX_COMMIT_REQUEST), "commit request", 1, UINT64_MAX)


# --- write-ahead log records -------------------------------------------------------------


def encode_block_record(block: bytes) -> bytes:
    return codec.encode([BLOCK_RECORD, block])


def decode_record(body: bytes) -> Event | bytes:
    """A logged event, or the bytes of a logged block."""
    value = codec.decode(body, max_size=MAX_RECORD_SIZE)
    if type(value) is list and value and value[0] == BLOCK_RECORD:
        return _expect_bytes(expect_list(value, "block record", 2)[1], "block record.block", MAX_BLOCK_SIZE)
    return decode_event(body)


# --- settings ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EngineSettings:
    params: ConsensusParams
    # With nothing to include, a block is proposed this long after the previous one, so the
    # chain shows it is alive; a transaction waiting starts the next height at once.
    empty_block_interval: float = 2.0
    # A validator sends its latest proposal and votes again this often while a height is
    # open: a peer that restarted or missed them can still count them (pitfall 15: only
    # the latest ones, on a timer).
    rebroadcast_interval: float = 1.0
    max_block_transactions: int = 5000
    max_block_bytes: int = 3 * 1024 * 1024  # a block this node builds fits its WAL record
    poll_interval: float = 0.05  # how often an idle node looks at its mempool
    # A proposer stops adding transactions once building its block took this share of the
    # round's propose timeout (``within_time`` in node.height_blocks): the rest is for
    # signing, sending and decoding it before the others' timeout, and for the others
    # having started the height earlier (under load the validators committed the last
    # height up to 2 s apart, and with half the timeout a round failed now and then).
    # Judging it does not count: a node judges a proposal as it arrives, before its timer
    # can fire.
    build_share: float = 1 / 3
    # A proposer builds no earlier than this after its last commit (``[consensus]
    # build_wait_ms``): the transactions that arrived while it executed the last block are
    # admitted first and make it into this one.
    build_wait: float = 0.0

    def build_seconds(self, round: int) -> float:
        """Seconds a proposer may spend adding transactions to its block of ``round``."""
        return self.params.timeout(TimeoutKind.PROPOSE, round) / 1000 * self.build_share


def settings_from_config(chain_id: str, section: ConsensusSection) -> EngineSettings:
    """The engine's settings from node.toml's ``[consensus]``."""
    delta = section.timeout_delta_ms
    params = ConsensusParams(
        chain_id,
        timeout_propose=section.timeout_propose_ms,
        timeout_propose_delta=delta,
        timeout_prevote=section.timeout_prevote_ms,
        timeout_prevote_delta=delta,
        timeout_precommit=section.timeout_precommit_ms,
        timeout_precommit_delta=delta,
        max_clock_drift=section.max_clock_drift_s,
    )
    return EngineSettings(
        params,
        empty_block_interval=section.empty_block_interval_ms / 1000,
        rebroadcast_interval=section.rebroadcast_interval_ms / 1000,
        max_block_transactions=section.max_block_transactions,
        build_wait=section.build_wait_ms / 1000,
    )


# --- timers ------------------------------------------------------------------------------


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    """Where the engine's timeouts run: the event loop, or a fake clock in tests."""

    def now(self) -> float:
        """Wall-clock seconds (block times are whole seconds of it)."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable: ...


class LoopTimers:
    """The running asyncio loop's timers and ``time.time``."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.time

    def now(self) -> float:
        return self._clock()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)
