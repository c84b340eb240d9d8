"""Canonical bytes for the state machine's events: the records of the write-ahead log.

A node appends each event to its log before ``step`` sees it and replays the log after a
crash (docs/consensus.md). Each record is a canonical msgpack array
``[kind, fields...]``: the messages in their own encodings, the validator set whole (with
its priorities, which ``StartHeight`` needs), a verdict as a boolean. Decoding is strict
and raises ``DecodeError`` naming the field.
"""

from __future__ import annotations

from typing import Any, Final

from chain import codec
from chain.errors import DecodeError
from chain.hashing import HASH_SIZE, Hash32
from consensus.certificate import CommitCertificate
from consensus.machine import (
    ClockTick,
    CommitReceived,
    Event,
    ProposalReceived,
    StartHeight,
    TimeoutElapsed,
    TimeoutKind,
    ValueReady,
    VoteReceived,
)
from consensus.messages import (
    MAX_ROUND,
    UINT64_MAX,
    Proposal,
    Vote,
    expect_bytes,
    expect_int,
    expect_list,
)
from consensus.validators import ValidatorSet

MAX_EVENT_SIZE: Final = codec.MAX_ENCODED_SIZE  # a StartHeight carries a whole validator set
_KINDS: Final = ("start_height", "proposal", "vote", "commit", "timeout", "value", "clock")
_TIMEOUT_KINDS: Final = {k.value: k for k in TimeoutKind}


def _expect_bool(value: Any, name: str) -> bool:
    if type(value) is not bool:
        raise DecodeError(f"{name}: true or false expected, found {value!r}")
    return value


def _expect_any_bytes(value: Any, name: str) -> bytes:
    if type(value) is not bytes:
        raise DecodeError(f"{name}: bytes expected, found {type(value).__name__}")
    return value


def encode_event(event: Event) -> bytes:
    value: list[Any]
    if isinstance(event, StartHeight):
        value = ["start_height", event.height, event.validators.encode()]
    elif isinstance(event, ProposalReceived):
        value = ["proposal", event.proposal.to_value(), event.valid]
    elif isinstance(event, VoteReceived):
        value = ["vote", event.vote.to_value()]
    elif isinstance(event, CommitReceived):
        value = ["commit", event.certificate.to_value(), event.valid]
    elif isinstance(event, TimeoutElapsed):
        value = ["timeout", event.height, event.round, event.kind.value]
    elif isinstance(event, ValueReady):
        value = ["value", event.height, event.round, event.block_hash, event.block_time]
    else:
        value = ["clock", event.now]
    return codec.encode(value)


def decode_event(data: bytes) -> Event:
    value = codec.decode(data, max_size=MAX_EVENT_SIZE)
    if type(value) is not list or not value or value[0] not in _KINDS:
        found = value[0] if type(value) is list and value else value
        raise DecodeError(f"event: an array starting with one of {', '.join(_KINDS)} expected, found {found!r}")
    kind = value[0]
    if kind == "start_height":
        f = expect_list(value, "start_height", 3)
        validators = ValidatorSet.decode(_expect_any_bytes(f[2], "start_height.validators"))
        return StartHeight(expect_int(f[1], "start_height.height", 0, UINT64_MAX), validators)
    if kind == "proposal":
        f = expect_list(value, "proposal event", 3)
        return ProposalReceived(Proposal.from_value(f[1]), _expect_bool(f[2], "proposal event.valid"))
    if kind == "vote":
        return VoteReceived(Vote.from_value(expect_list(value, "vote event", 2)[1]))
    if kind == "commit":
        f = expect_list(value, "commit event", 3)
        return CommitReceived(CommitCertificate.from_value(f[1]), _expect_bool(f[2], "commit event.valid"))
    if kind == "timeout":
        f = expect_list(value, "timeout event", 4)
        if f[3] not in _TIMEOUT_KINDS:
            raise DecodeError(f"timeout event.kind: one of {', '.join(_TIMEOUT_KINDS)} expected, found {f[3]!r}")
        return TimeoutElapsed(
            expect_int(f[1], "timeout event.height", 0, UINT64_MAX),
            expect_int(f[2], "timeout event.round", 0, MAX_ROUND),
            _TIMEOUT_KINDS[f[3]],
        )
    if kind == "value":
        f = expect_list(value, "value event", 5)
        return ValueReady(
            expect_int(f[1], "value event.height", 0, UINT64_MAX),
            expect_int(f[2], "value event.round", 0, MAX_ROUND),
            Hash32(expect_bytes(f[3], "value event.block_hash", HASH_SIZE)),
            expect_int(f[4], "value event.block_time", 0, UINT64_MAX),
        )
    f = expect_list(value, "clock event", 2)
    return ClockTick(expect_int(f[1], "clock event.now", 0, UINT64_MAX))
