"""Named-validator scenarios for the state machine: alice is the machine under test, bob,
carol and dave are the other validators (10 power each unless a test says otherwise), eve
is not a validator. With equal powers the proposers of rounds 0, 1, 2, 3 are dave, alice,
bob, carol. Each rule has a scenario and an ``invalid`` twin where it must not fire."""

from __future__ import annotations

from dataclasses import replace

from consensus.certificate import verify_commit
from consensus.machine import (
    ClockTick,
    ConsensusParams,
    ProposalReceived,
    ReportEvidence,
    RequestValue,
    SignProposal,
    StartHeight,
    Step,
    TimeoutElapsed,
    TimeoutKind,
    ValueReady,
    VoteReceived,
)
from consensus.messages import VoteType
from tests.consensus.actors import CHAIN_ID, KEYS, block, precommit, prevote, proposal
from tests.consensus.harness import Machine, proposer_name

V, W = block("v"), block("w")


def prevotes(names, round, block_hash, height=1):
    return [VoteReceived(prevote(n, height, round, block_hash)) for n in names]


def precommits(names, round, block_hash, height=1):
    return [VoteReceived(precommit(n, height, round, block_hash)) for n in names]


def timeout(kind, round, height=1):
    return TimeoutElapsed(height, round, kind)


def test_rotation_used_by_these_scenarios():
    alice = Machine("alice")
    assert [proposer_name(alice.validators, r) for r in range(4)] == ["dave", "alice", "bob", "carol"]


# --- the happy path ------------------------------------------------------------------------


def test_alice_prevotes_precommits_and_decides_daves_block():
    alice = Machine("alice")
    assert alice.state.step is Step.PROPOSE and alice.state.round == 0
    assert alice.timeouts()[-1].kind is TimeoutKind.PROPOSE
    alice.feed(ProposalReceived(proposal("dave", 1, 0, V), True))  # L22
    assert alice.last_vote(VoteType.PREVOTE).block_hash == V
    alice.feed(*prevotes(["bob", "carol"], 0, V))  # L36: 30 of 40 prevoted V
    assert (alice.state.locked_value, alice.state.locked_round) == (V, 0)
    assert (alice.state.valid_value, alice.state.valid_round) == (V, 0)
    assert alice.last_vote(VoteType.PRECOMMIT).block_hash == V
    alice.feed(*precommits(["dave", "carol"], 0, V))  # L49
    [decide] = alice.decisions()
    assert (decide.height, decide.round, decide.block_hash) == (1, 0, V)
    verify_commit(CHAIN_ID, V, decide.certificate, alice.validators)
    assert alice.state.step is Step.COMMIT and alice.state.decision == V


def test_invalid_two_of_four_precommits_do_not_decide():
    alice = Machine("alice")
    alice.feed(ProposalReceived(proposal("dave", 1, 0, V), True), *prevotes(["bob", "carol"], 0, V))
    alice.feed(*precommits(["dave"], 0, V))  # alice and dave: 20 of 40
    assert alice.decisions() == []


def test_alice_proposes_in_round_1_after_asking_for_a_block():
    alice = Machine("alice")
    alice.feed(timeout(TimeoutKind.PROPOSE, 0), *prevotes(["bob", "carol"], 0, None))  # L57, L44
    alice.feed(*precommits(["bob", "carol"], 0, None), timeout(TimeoutKind.PRECOMMIT, 0))  # L47, L65
    assert alice.state.round == 1
    assert RequestValue(1, 1) in alice.actions
    alice.feed(ValueReady(1, 1, W, 5))
    [sign] = [a for a in alice.actions if isinstance(a, SignProposal)]
    assert (sign.proposal.block_hash, sign.proposal.valid_round, sign.proposal.proposer) == (W, -1, KEYS["alice"])
    assert alice.last_vote(VoteType.PREVOTE).block_hash == W  # her own proposal came back: L22


def test_invalid_value_for_a_round_already_left_is_not_proposed():
    alice = Machine("alice")
    alice.feed(timeout(TimeoutKind.PROPOSE, 0), *prevotes(["bob", "carol"], 0, None))
    alice.feed(*precommits(["bob", "carol"], 0, None), timeout(TimeoutKind.PRECOMMIT, 0))
    alice.feed(timeout(TimeoutKind.PROPOSE, 1))  # her block came too late: prevote nil
    alice.feed(ValueReady(1, 1, W, 5), ValueReady(1, 0, W, 5))
    assert not any(isinstance(a, SignProposal) for a in alice.actions)


# --- locks ---------------------------------------------------------------------------------


def lock_alice_on_v_in_round_0() -> Machine:
    alice = Machine("alice")
    alice.feed(ProposalReceived(proposal("dave", 1, 0, V), True), *prevotes(["bob", "carol"], 0, V))
    assert (alice.state.locked_value, alice.state.locked_round) == (V, 0)
    # No decision in round 0: the precommits split, and round 0's timeout moves her on.
    alice.feed(*precommits(["bob", "carol"], 0, None), timeout(TimeoutKind.PRECOMMIT, 0))
    assert alice.state.round == 1
    return alice


def test_alice_locks_and_only_unlocks_on_a_later_polka():
    alice = lock_alice_on_v_in_round_0()
    # Round 1 is alice's; she proposes her valid value V again, with its round.
    [sign] = [a for a in alice.actions if isinstance(a, SignProposal)]
    assert (sign.proposal.block_hash, sign.proposal.valid_round) == (V, 0)
    alice.feed(*prevotes(["bob", "carol", "dave"], 1, W))  # the others saw a polka for W in round 1
    alice.feed(*precommits(["bob", "carol"], 1, None), timeout(TimeoutKind.PRECOMMIT, 1))
    assert alice.state.round == 2
    # Round 2: bob proposes W with valid round 1 (L28): lockedRound 0 <= vr 1, she unlocks.
    alice.feed(ProposalReceived(proposal("bob", 1, 2, W, valid_round=1), True))
    assert alice.last_vote(VoteType.PREVOTE).block_hash == W


def test_invalid_locked_alice_prevotes_nil_for_a_new_block_in_a_later_round():
    alice = lock_alice_on_v_in_round_0()
    alice.feed(*prevotes(["bob", "carol"], 1, None), *precommits(["bob", "carol"], 1, None))
    alice.feed(timeout(TimeoutKind.PRECOMMIT, 1))
    alice.feed(ProposalReceived(proposal("bob", 1, 2, W), True))  # L22 with vr = -1
    assert alice.last_vote(VoteType.PREVOTE).block_hash is None
    assert alice.state.locked_value == V


def test_invalid_nil_polka_does_not_unlock():
    alice = lock_alice_on_v_in_round_0()
    alice.feed(*prevotes(["bob", "carol", "dave"], 1, None))  # a polka for nil in round 1
    alice.feed(*precommits(["bob", "carol"], 1, None), timeout(TimeoutKind.PRECOMMIT, 1))
    alice.feed(ProposalReceived(proposal("bob", 1, 2, W), True))
    assert alice.last_vote(VoteType.PREVOTE).block_hash is None
    assert (alice.state.locked_value, alice.state.locked_round) == (V, 0)


def test_invalid_polka_older_than_the_lock_does_not_unlock():
    alice = Machine("alice")
    # Round 0: W gets a polka alice does not see in time; she times out and moves on.
    alice.feed(timeout(TimeoutKind.PROPOSE, 0), *precommits(["bob", "carol"], 0, None))
    alice.feed(timeout(TimeoutKind.PRECOMMIT, 0))
    # Round 1: she proposes V, the others prevote it, she locks V in round 1.
    alice.feed(ValueReady(1, 1, V, 5), *prevotes(["bob", "carol"], 1, V))
    assert (alice.state.locked_value, alice.state.locked_round) == (V, 1)
    alice.feed(*precommits(["bob", "carol"], 1, None), timeout(TimeoutKind.PRECOMMIT, 1))
    # Round 2: bob proposes W with valid round 0, and round 0's polka for W arrives late.
    alice.feed(*prevotes(["bob", "carol", "dave"], 0, W))
    alice.feed(ProposalReceived(proposal("bob", 1, 2, W, valid_round=0), True))
    assert alice.state.step is Step.PREVOTE
    assert alice.last_vote(VoteType.PREVOTE).block_hash is None  # lockedRound 1 > vr 0


def test_l28_waits_for_the_polka_of_the_proposals_valid_round():
    alice = Machine("alice")
    alice.feed(timeout(TimeoutKind.PROPOSE, 0), *precommits(["bob", "carol"], 0, None))
    alice.feed(timeout(TimeoutKind.PRECOMMIT, 0), timeout(TimeoutKind.PROPOSE, 1))
    alice.feed(*precommits(["bob", "carol"], 1, None), timeout(TimeoutKind.PRECOMMIT, 1))
    alice.feed(ProposalReceived(proposal("bob", 1, 2, W, valid_round=1), True))
    assert alice.state.step is Step.PROPOSE  # no polka for W in round 1 yet
    alice.feed(*prevotes(["bob", "carol", "dave"], 1, W))
    assert alice.last_vote(VoteType.PREVOTE) == replace(prevote("alice", 1, 2, W), signature=b"")


def test_valid_value_is_updated_in_precommit_step_without_relocking():
    alice = Machine("alice")
    alice.feed(timeout(TimeoutKind.PROPOSE, 0), timeout(TimeoutKind.PREVOTE, 0))  # no polka: L61
    assert alice.state.step is Step.PRECOMMIT
    alice.feed(ProposalReceived(proposal("dave", 1, 0, V), True), *prevotes(["bob", "carol", "dave"], 0, V))
    assert (alice.state.valid_value, alice.state.valid_round) == (V, 0)  # L42-43
    assert alice.state.locked_round == -1  # she was past prevote: no lock


# --- thresholds, weights, who counts -------------------------------------------------------


def test_invalid_vote_from_non_validator_is_ignored():
    alice = Machine("alice")
    alice.feed(ProposalReceived(proposal("dave", 1, 0, V), True), *prevotes(["bob", "eve"], 0, V))
    assert alice.state.step is Step.PREVOTE  # alice, bob: 20 of 40; eve is nobody
    alice.feed(*prevotes(["carol"], 0, V))
    assert alice.state.step is Step.PRECOMMIT


def test_invalid_vote_with_a_bad_signature_is_ignored():
    alice = Machine("alice")
    forged = replace(prevote("bob", 1, 0, V), signature=bytes(64), _checked=[])
    alice.feed(ProposalReceived(proposal("dave", 1, 0, V), True), VoteReceived(forged), *prevotes(["carol"], 0, V))
    assert alice.state.step is Step.PREVOTE
    assert alice.state.votes.existing(forged) == ()


def test_power_decides_not_the_number_of_validators():
    powers = {"alice": 10, "bob": 10, "carol": 10, "dave": 70}
    alice = Machine("alice", powers)
    proposer = proposer_name(alice.validators, 0)
    assert proposer == "dave"
    alice.feed(ProposalReceived(proposal("dave", 1, 0, V), True))
    alice.feed(*prevotes(["dave"], 0, V))  # alice and dave hold 80 of 100
    assert alice.state.locked_value == V
    alice.feed(*precommits(["dave"], 0, V))
    assert len(alice.decisions()) == 1


def test_invalid_exactly_two_thirds_of_the_power_is_no_polka():
    powers = {"alice": 20, "bob": 20, "carol": 10, "dave": 10}  # total 60
    alice = Machine("alice", powers)
    p = proposal(proposer_name(alice.validators, 0), 1, 0, V)
    alice.feed(ProposalReceived(p, True), *prevotes(["carol", "dave"], 0, V))  # 20 + 10 + 10 = 40
    assert alice.state.step is Step.PREVOTE and alice.state.locked_round == -1
    alice.feed(*prevotes(["bob"], 0, V))
    assert alice.state.locked_value == V


def test_dave_double_votes_becomes_evidence_and_counts_once_per_block():
    alice = Machine("alice")
    alice.feed(ProposalReceived(proposal("dave", 1, 0, V), True))
    alice.feed(*prevotes(["dave"], 0, V), *prevotes(["dave"], 0, None), *prevotes(["dave"], 0, W))
    [report] = [a for a in alice.actions if isinstance(a, ReportEvidence)]
    assert {report.evidence.vote_a.block_hash, report.evidence.vote_b.block_hash} == {V, None}
    assert report.evidence.validator == KEYS["dave"]
    tally = alice.state.votes.round_votes(0).prevotes
    assert tally.power == 20  # alice and dave, each once, whatever for
    assert (tally.power_for[V], tally.power_for[None], tally.power_for[W]) == (20, 10, 10)
    assert alice.state.step is Step.PREVOTE  # 20 of 40 for V: no polka
    alice.feed(*prevotes(["bob"], 0, V))
    assert alice.state.step is Step.PRECOMMIT


def test_a_double_voters_vote_for_a_block_counts_after_its_nil_vote():
    # dave shows alice nil first and V after: V's polka must not be hidden from her, or
    # bob (locked on V by that polka) could never get her prevote again (L28).
    alice = Machine("alice")
    alice.feed(timeout(TimeoutKind.PROPOSE, 0))
    alice.feed(*prevotes(["dave"], 0, None), *prevotes(["bob", "carol", "dave"], 0, V))
    assert alice.state.votes.quorum_for(VoteType.PREVOTE, 0, V)


def test_invalid_double_voter_cannot_fill_memory_with_votes():
    alice = Machine("alice", params=ConsensusParams(CHAIN_ID, max_votes_per_slot=2))
    alice.feed(*prevotes(["dave"], 0, V), *prevotes(["dave"], 0, W), *prevotes(["dave"], 0, None))
    assert len(alice.state.votes.round_votes(0).prevotes.votes[KEYS["dave"]]) == 2


def test_invalid_same_vote_twice_is_a_duplicate_not_evidence():
    alice = Machine("alice")
    alice.feed(*prevotes(["dave"], 0, V), *prevotes(["dave"], 0, V))
    assert not any(isinstance(a, ReportEvidence) for a in alice.actions)


# --- rounds and timeouts -------------------------------------------------------------------


def test_more_than_a_third_of_distinct_validators_in_a_later_round_moves_alice_there():
    alice = Machine("alice")
    alice.feed(*prevotes(["bob"], 5, None), *precommits(["carol"], 5, None))  # 20 of 40
    assert alice.state.round == 5 and alice.state.step is Step.PROPOSE  # L55


def test_invalid_one_validator_with_both_vote_types_does_not_skip():
    alice = Machine("alice")
    alice.feed(*prevotes(["bob"], 5, None), *precommits(["bob"], 5, None))  # bob once: 10 of 40
    alice.feed(*prevotes(["eve"], 5, None))
    assert alice.state.round == 0


def test_a_proposal_counts_as_its_proposers_message_for_the_skip():
    alice = Machine("alice")
    alice.feed(ProposalReceived(proposal("carol", 1, 3, W), True), *prevotes(["bob"], 3, None))
    assert alice.state.round == 3


def test_alice_decides_a_block_of_an_earlier_round():
    alice = Machine("alice")
    alice.feed(*prevotes(["bob", "carol"], 4, None))  # skip to round 4
    assert alice.state.round == 4
    alice.feed(ProposalReceived(proposal("dave", 1, 0, V), True), *precommits(["bob", "carol", "dave"], 0, V))
    [decide] = alice.decisions()
    assert (decide.round, decide.block_hash) == (0, V)  # L49 in any round


def test_invalid_precommits_for_an_invalid_block_do_not_decide():
    alice = Machine("alice")
    alice.feed(ProposalReceived(proposal("dave", 1, 0, V), False))
    assert alice.last_vote(VoteType.PREVOTE).block_hash is None
    alice.feed(*precommits(["bob", "carol", "dave"], 0, V))
    assert alice.decisions() == []


def test_timeouts_grow_with_the_round():
    alice = Machine("alice")
    for r in range(3):
        alice.feed(*precommits(["bob", "carol", "dave"], r, None), timeout(TimeoutKind.PRECOMMIT, r))
    propose = [t for t in alice.timeouts() if t.kind is TimeoutKind.PROPOSE]
    precommit_timeouts = [t for t in alice.timeouts() if t.kind is TimeoutKind.PRECOMMIT]
    assert [t.duration for t in propose] == [3000, 3500, 4000, 4500]
    assert [t.duration for t in precommit_timeouts] == [1000, 1500, 2000]


def test_invalid_stale_timeouts_change_nothing():
    alice = Machine("alice")
    alice.feed(*prevotes(["bob", "carol"], 2, None))
    before = alice.state
    alice.feed(timeout(TimeoutKind.PROPOSE, 0), timeout(TimeoutKind.PRECOMMIT, 1), timeout(TimeoutKind.PROPOSE, 2, height=2))
    assert alice.state == before


def test_prevote_timeout_is_scheduled_once_per_round_on_any_polka():
    alice = Machine("alice")
    alice.feed(timeout(TimeoutKind.PROPOSE, 0), *prevotes(["bob"], 0, V), *prevotes(["carol"], 0, W))
    alice.feed(*prevotes(["dave"], 0, V))
    assert [t.kind for t in alice.timeouts()].count(TimeoutKind.PREVOTE) == 1  # L34
    alice.feed(timeout(TimeoutKind.PREVOTE, 0))
    assert alice.last_vote(VoteType.PRECOMMIT).block_hash is None  # L61


def test_rules_are_checked_again_after_each_step_change():
    # The polka arrives before the proposal: one event then runs L22 and, in the same
    # step, L36 (enabled by the step change to prevote).
    alice = Machine("alice")
    alice.feed(*prevotes(["bob", "carol", "dave"], 0, V))
    assert alice.state.step is Step.PROPOSE
    alice.feed(ProposalReceived(proposal("dave", 1, 0, V), True))
    assert alice.state.step is Step.PRECOMMIT and alice.state.locked_value == V


# --- proposals and time --------------------------------------------------------------------


def test_invalid_proposal_from_someone_not_the_proposer_is_ignored():
    alice = Machine("alice")
    alice.feed(ProposalReceived(proposal("bob", 1, 0, V), True))
    assert alice.state.step is Step.PROPOSE and alice.state.proposals == {}


def test_invalid_block_gets_a_nil_prevote():
    alice = Machine("alice")
    alice.feed(ProposalReceived(proposal("dave", 1, 0, V), False))
    assert alice.last_vote(VoteType.PREVOTE).block_hash is None


def test_proposal_within_the_clock_drift_is_prevoted():
    alice = Machine("alice", params=ConsensusParams(CHAIN_ID, max_clock_drift=2))
    alice.feed(ClockTick(1000), ProposalReceived(proposal("dave", 1, 0, V, block_time=1002), True))
    assert alice.last_vote(VoteType.PREVOTE).block_hash == V


def test_invalid_proposal_beyond_the_clock_drift_gets_a_nil_prevote():
    alice = Machine("alice", params=ConsensusParams(CHAIN_ID, max_clock_drift=2))
    alice.feed(ClockTick(1000), ProposalReceived(proposal("dave", 1, 0, V, block_time=1003), True))
    assert alice.last_vote(VoteType.PREVOTE).block_hash is None


def test_equivocating_proposer_alice_keeps_both_proposals_and_follows_the_polka():
    alice = Machine("alice")
    alice.feed(ProposalReceived(proposal("dave", 1, 0, V), True), ProposalReceived(proposal("dave", 1, 0, W), True))
    assert alice.last_vote(VoteType.PREVOTE).block_hash == V  # the first one she saw
    alice.feed(*precommits(["bob", "carol", "dave"], 0, W))
    assert alice.decisions()[0].block_hash == W


# --- heights ---------------------------------------------------------------------------------


def test_next_height_votes_wait_and_count_when_it_starts():
    alice = Machine("alice")
    alice.feed(*prevotes(["bob", "carol"], 0, W, height=2))
    assert alice.state.future_votes and alice.state.votes.rounds == {}
    alice.feed(ProposalReceived(proposal("dave", 1, 0, V), True), *prevotes(["bob", "carol"], 0, V))
    alice.feed(*precommits(["bob", "carol"], 0, V))
    next_set = alice.validators.for_next_height()
    alice.feed(StartHeight(2, next_set))
    assert alice.state.height == 2 and alice.state.future_votes == ()
    assert alice.state.votes.round_votes(0).prevotes.power == 20
    assert alice.state.locked_round == -1 and alice.state.decision is None


def test_invalid_future_votes_beyond_the_bound_or_two_heights_ahead_are_dropped():
    alice = Machine("alice", params=ConsensusParams(CHAIN_ID, max_future_votes=2))
    alice.feed(*prevotes(["bob", "carol", "dave"], 0, W, height=2), *prevotes(["bob"], 0, W, height=3))
    assert len(alice.state.future_votes) == 2


def test_an_observer_follows_and_decides_without_signing():
    regulator = Machine(None)
    regulator.feed(ProposalReceived(proposal("dave", 1, 0, V), True), *precommits(["bob", "carol", "dave"], 0, V))
    assert len(regulator.decisions()) == 1 and regulator.votes() == []


def test_invalid_start_of_an_older_height_is_ignored():
    alice = Machine("alice", height=5)
    before = alice.state
    alice.feed(StartHeight(4, alice.validators), StartHeight(5, alice.validators))
    assert alice.state == before


def test_replaying_the_same_events_rebuilds_the_same_state():
    events = [
        ProposalReceived(proposal("dave", 1, 0, V), True),
        *prevotes(["bob", "carol"], 0, V),
        *precommits(["bob"], 0, None),
        timeout(TimeoutKind.PRECOMMIT, 0),
    ]
    first, second = Machine("alice"), Machine("alice")
    first.feed(*events)
    second.feed(*events)
    assert first.state == second.state and first.actions == second.actions
