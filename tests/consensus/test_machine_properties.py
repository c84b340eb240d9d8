"""Properties of one machine under any order of any messages: it never asks to sign two
votes of one type in a round, never two proposals in a round, its round and lock move
only forward within a height, and it decides at most once (and only with a certificate)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.certificate import verify_commit
from consensus.machine import (
    ProposalReceived,
    SignProposal,
    TimeoutElapsed,
    TimeoutKind,
    ValueReady,
    VoteReceived,
)
from tests.consensus.actors import CHAIN_ID, block, precommit, prevote, proposal
from tests.consensus.harness import Machine, proposer_name

# Skewed towards one block and the first rounds, so that polkas, locks and decisions happen.
BLOCKS = [block("v"), block("v"), block("v"), block("w"), None]
OTHERS = ["bob", "carol", "dave"]


@st.composite
def events(draw):
    machine_set = Machine("alice", start=False).validators
    kind = draw(st.sampled_from(["prevote"] * 3 + ["precommit"] * 3 + ["proposal"] * 2 + ["timeout", "value"]))
    round = draw(st.sampled_from([0, 0, 0, 0, 0, 0, 0, 0, 1, 2]))
    if kind in ("prevote", "precommit"):
        sign = prevote if kind == "prevote" else precommit
        return VoteReceived(sign(draw(st.sampled_from(OTHERS)), 1, round, draw(st.sampled_from(BLOCKS))))
    if kind == "proposal":
        name = proposer_name(machine_set, round)
        if name == "alice":
            return ValueReady(1, round, draw(st.sampled_from(BLOCKS[:4])), 1_000)
        valid_round = draw(st.integers(-1, round - 1))
        return ProposalReceived(proposal(name, 1, round, draw(st.sampled_from(BLOCKS[:4])), valid_round=valid_round), draw(st.sampled_from([True, True, False])))
    if kind == "value":
        return ValueReady(1, round, block("mine"), 1_000)
    return TimeoutElapsed(1, round, draw(st.sampled_from(list(TimeoutKind))))


@settings(max_examples=150, deadline=None)
@given(st.lists(events(), min_size=10, max_size=50))
def test_alice_never_equivocates_and_moves_only_forward(sequence):
    alice = Machine("alice")
    rounds, locks = [alice.state.round], [alice.state.locked_round]
    for event in sequence:
        alice.feed(event)
        rounds.append(alice.state.round)
        locks.append(alice.state.locked_round)
    slots = [(v.height, v.round, v.type) for v in alice.votes()]
    assert len(slots) == len(set(slots)), "two votes of one type in one round"
    proposed = [a.proposal.round for a in alice.actions if isinstance(a, SignProposal)]
    assert len(proposed) == len(set(proposed)), "two proposals in one round"
    assert rounds == sorted(rounds) and locks == sorted(locks)
    decisions = alice.decisions()
    assert len(decisions) <= 1
    for d in decisions:
        verify_commit(CHAIN_ID, d.block_hash, d.certificate, alice.validators)
