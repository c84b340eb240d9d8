"""The write-ahead log's records: every event round-trips through its canonical bytes, and
replaying the decoded log of a height rebuilds the same state."""

from __future__ import annotations

import pytest

from chain import codec
from chain.errors import DecodeError
from consensus.certificate import certificate_from_precommits
from consensus.event_codec import decode_event, encode_event
from consensus.machine import (
    ClockTick,
    CommitReceived,
    ProposalReceived,
    StartHeight,
    TimeoutElapsed,
    TimeoutKind,
    ValueReady,
    VoteReceived,
    initial_state,
    step,
)
from consensus.validators import ValidatorSet
from tests.consensus.actors import KEYS, block, precommit, prevote, proposal, validator_set
from tests.consensus.harness import PARAMS

V = block("v")
SET = validator_set({"alice": 10, "bob": 20, "carol": 30, "dave": 40}).for_next_height()

EVENTS = [
    StartHeight(7, SET),
    ClockTick(1_000),
    ProposalReceived(proposal("dave", 7, 0, V), True),
    ProposalReceived(proposal("dave", 7, 0, block("w")), False),
    VoteReceived(prevote("bob", 7, 0, V)),
    VoteReceived(precommit("carol", 7, 0, None)),
    CommitReceived(certificate_from_precommits(precommit(n, 7, 0, V) for n in ("bob", "carol", "dave")), True),
    TimeoutElapsed(7, 3, TimeoutKind.PREVOTE),
    ValueReady(7, 1, V, 1_234),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_each_event_round_trips(event):
    data = encode_event(event)
    assert decode_event(data) == event
    assert encode_event(decode_event(data)) == data


def test_the_validator_set_keeps_its_priorities_and_proposer():
    decoded = ValidatorSet.decode(SET.encode())
    assert (decoded.validators, decoded.priorities, decoded.proposer) == (SET.validators, SET.priorities, SET.proposer)
    assert decoded.hash == SET.hash
    assert [decoded.proposer_at(r) for r in range(6)] == [SET.proposer_at(r) for r in range(6)]


def test_replaying_a_decoded_log_rebuilds_the_state():
    log = [encode_event(e) for e in EVENTS[:6]]
    live = replayed = initial_state(PARAMS, KEYS["alice"], 7, SET)
    for event in EVENTS[:6]:
        live, _ = step(live, event)
    for record in log:
        replayed, _ = step(replayed, decode_event(record))
    assert replayed == live


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["nap", 1], "one of start_height"),
        ([], "one of start_height"),
        (["clock", -1], "clock event.now"),
        (["timeout", 1, 0, "lunch"], "timeout event.kind"),
        (["proposal", proposal("dave", 7, 0, V).to_value(), 1], "proposal event.valid"),
        (["vote", prevote("bob", 7, 0, V).to_value(), True], "2 fields"),
        (["start_height", 7, b"\x92\x90\xc4\x00"], "validator set"),
        (["value", 7, 0, b"short", 5], "value event.block_hash"),
    ],
)
def test_invalid_records_are_refused_naming_what_is_wrong(value, expected):
    with pytest.raises(DecodeError, match=expected):
        decode_event(codec.encode(value))
