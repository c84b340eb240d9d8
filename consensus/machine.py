"""Tendermint consensus (Algorithm 1 of "The latest gossip on BFT consensus", Buchman, Kwon,
Milosevic 2018) as one pure step function: ``step(state, event) -> (state, actions)``.

The state keeps the paper's names (``locked_value``, ``locked_round``, ``valid_value``,
``valid_round``, ``step``); each rule is a function named and commented after the line of
the paper it implements (L11 StartRound, L22, L28, L34, L36, L44, L47, L49, L55, and the
timeouts L57, L61, L65). After every event the rules are evaluated again until none fires,
so a rule enabled by a step change runs at once (pitfall 6).

Nothing here reads a clock, does I/O or signs: time arrives as ``ClockTick`` events, a
message to send comes out as an action asking the node to persist, sign and broadcast it,
and the node feeds each signed message back in as a received one (docs/consensus.md says
what the node must do with each action). ``step`` returns a new state and never changes
the one it was given, so replaying the same events from the same start gives the same
state: that is how a node restarts from its write-ahead log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import Enum, IntEnum
from typing import Final

from chain.hashing import Hash32
from chain.types import PublicKey
from consensus.certificate import CommitCertificate, certificate_from_precommits, verify_commit
from consensus.errors import InvalidCommit
from consensus.evidence import DuplicateVoteEvidence
from consensus.messages import NIL_ROUND, Proposal, Vote, VoteType
from consensus.validators import ValidatorSet
from consensus.votekeeper import VoteKeeper


class Step(IntEnum):
    UNSTARTED = 0  # before the height's first round (waiting for StartHeight)
    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3
    COMMIT = 4  # decided; waiting for StartHeight of the next height


class TimeoutKind(Enum):
    PROPOSE = "propose"
    PREVOTE = "prevote"
    PRECOMMIT = "precommit"


@dataclass(frozen=True, slots=True)
class ConsensusParams:
    """Timeouts in milliseconds grow by their delta each round (pitfall 9: above 2 delays
    of the network after it stabilizes). Defaults are CometBFT's and malachite's."""

    chain_id: str
    timeout_propose: int = 3000
    timeout_propose_delta: int = 500
    timeout_prevote: int = 1000
    timeout_prevote_delta: int = 500
    timeout_precommit: int = 1000
    timeout_precommit_delta: int = 500
    # A new proposal whose block time is more than this ahead of the local clock gets a
    # prevote for nil (L22). In the unit of block times (the header's ``time``).
    max_clock_drift: int = 2
    max_round_ahead: int = 1000  # messages of rounds further ahead are dropped
    max_future_votes: int = 1024  # votes for the next height kept until it starts (pitfall 5)
    max_proposals_per_round: int = 4  # an equivocating proposer cannot fill memory
    max_votes_per_slot: int = 4  # different votes kept of one validator, round and type

    def timeout(self, kind: TimeoutKind, round: int) -> int:
        if kind is TimeoutKind.PROPOSE:
            return self.timeout_propose + round * self.timeout_propose_delta
        if kind is TimeoutKind.PREVOTE:
            return self.timeout_prevote + round * self.timeout_prevote_delta
        return self.timeout_precommit + round * self.timeout_precommit_delta


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartHeight:
    """Start ``height`` with its validator set: the first height, or the next one after a
    ``Decide`` (once the block is applied), or a later one after block sync."""

    height: int
    validators: ValidatorSet


@dataclass(frozen=True, slots=True)
class ProposalReceived:
    """A proposal with the node's verdict on its block (the paper's ``valid(v)``: the block
    decodes, its header fits the parent, its transactions apply). The node holds proposals
    for a later height until that height starts: their blocks cannot be judged before."""

    proposal: Proposal
    valid: bool


@dataclass(frozen=True, slots=True)
class VoteReceived:
    vote: Vote


@dataclass(frozen=True, slots=True)
class CommitReceived:
    """A commit certificate for this height (from block sync, or from a peer that has moved
    on), with the node's verdict on its block. It decides the height if it verifies against
    this height's validators: the way a node that missed the precommits, or counted a
    double-voter's other precommit, still ends the height."""

    certificate: CommitCertificate
    valid: bool


@dataclass(frozen=True, slots=True)
class TimeoutElapsed:
    height: int
    round: int
    kind: TimeoutKind


@dataclass(frozen=True, slots=True)
class ValueReady:
    """The block asked for by ``RequestValue`` (the paper's ``getValue()``)."""

    height: int
    round: int
    block_hash: Hash32
    block_time: int


@dataclass(frozen=True, slots=True)
class ClockTick:
    """The local clock, in the unit of block times."""

    now: int


Event = StartHeight | ProposalReceived | VoteReceived | CommitReceived | TimeoutElapsed | ValueReady | ClockTick


# --- actions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignProposal:
    """Persist, then sign ``proposal`` (unsigned here), broadcast it with its block, and feed
    it back as ``ProposalReceived(signed, valid=True)``."""

    proposal: Proposal


@dataclass(frozen=True, slots=True)
class SignVote:
    """Persist the signer's height/round/step and the vote (fsync), then sign ``vote``
    (unsigned here), broadcast it and feed it back as ``VoteReceived(signed)``."""

    vote: Vote


@dataclass(frozen=True, slots=True)
class RequestValue:
    """Build a block for ``height`` (block time after the parent's, from the local clock)
    and answer with ``ValueReady``."""

    height: int
    round: int


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    """After ``duration`` milliseconds, feed ``TimeoutElapsed(height, round, kind)``."""

    height: int
    round: int
    kind: TimeoutKind
    duration: int


@dataclass(frozen=True, slots=True)
class Decide:
    """The block ``block_hash`` is final at ``height`` (decided in ``round``): store it with
    ``certificate``, apply it, then send ``StartHeight(height + 1, ...)``."""

    height: int
    round: int
    block_hash: Hash32
    certificate: CommitCertificate


@dataclass(frozen=True, slots=True)
class ReportEvidence:
    """A validator signed two conflicting votes: submit the evidence to the chain."""

    evidence: DuplicateVoteEvidence


@dataclass(frozen=True, slots=True)
class DeliverBuffered:
    """Votes for this height that arrived before it started: feed each back as
    ``VoteReceived``, logged like any received message."""

    votes: tuple[Vote, ...]


Action = SignProposal | SignVote | RequestValue | ScheduleTimeout | Decide | ReportEvidence | DeliverBuffered


# --- state -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProposalRecord:
    proposal: Proposal
    valid: bool


@dataclass(frozen=True, slots=True)
class State:
    """One validator's consensus state (L1-L9), plus what it received at this height."""

    params: ConsensusParams
    me: PublicKey | None  # None for a node that follows without voting
    height: int
    validators: ValidatorSet
    votes: VoteKeeper
    round: int = 0
    step: Step = Step.UNSTARTED
    locked_value: Hash32 | None = None
    locked_round: int = NIL_ROUND
    valid_value: Hash32 | None = None
    valid_round: int = NIL_ROUND
    decision: Hash32 | None = None
    now: int = 0
    proposals: Mapping[int, tuple[ProposalRecord, ...]] = field(default_factory=dict)
    fired: frozenset[tuple[str, int]] = frozenset()  # rules that run once per round
    value_requested: int = NIL_ROUND  # the round whose RequestValue is unanswered
    reported: frozenset[tuple[PublicKey, int, VoteType]] = frozenset()  # evidence sent
    future_votes: tuple[Vote, ...] = ()  # for height + 1, checked when it starts


_STATE_FIELDS: Final = tuple(f.name for f in fields(State))


def _evolve(state: State, **changes: object) -> State:
    """``dataclasses.replace(state, **changes)``, fast path: ``step`` copies the state once
    or twice per event, and ``replace`` re-reads the dataclass's fields on every call (12
    against 3 microseconds; the simulator's 500 seeds run a million of these). Tested equal
    to ``replace`` (tests/consensus/test_machine_paths.py)."""
    new = object.__new__(State)
    for name in _STATE_FIELDS:
        object.__setattr__(new, name, changes[name] if name in changes else getattr(state, name))
    return new


def initial_state(params: ConsensusParams, me: PublicKey | None, height: int, validators: ValidatorSet) -> State:
    """A state at ``height`` that has not started; send ``StartHeight`` to start it."""
    return State(params, me, height, validators, VoteKeeper(validators.total_power))


def step(state: State, event: Event) -> tuple[State, list[Action]]:
    """Apply ``event`` to ``state``; the new state and the actions for the node, in order."""
    out: list[Action] = []
    if isinstance(event, StartHeight):
        state = _start_height(state, event, out)
    elif isinstance(event, ClockTick):
        state = _evolve(state, now=event.now)
    elif isinstance(event, ProposalReceived):
        state = _record_proposal(state, event)
    elif isinstance(event, VoteReceived):
        state = _record_vote(state, event.vote, out)
    elif isinstance(event, CommitReceived):
        state = _on_commit(state, event, out)
    elif isinstance(event, TimeoutElapsed):
        state = _on_timeout(state, event, out)
    elif isinstance(event, ValueReady):
        state = _on_value(state, event, out)
    while state.step not in (Step.UNSTARTED, Step.COMMIT):
        fired = _first_enabled_rule(state, out)
        if fired is state:
            break
        state = fired
    return state, out


# --- recording messages ----------------------------------------------------------------


def _round_in_reach(state: State, round: int) -> bool:
    return round <= state.round + state.params.max_round_ahead


def _record_proposal(state: State, event: ProposalReceived) -> State:
    p = event.proposal
    if p.height != state.height or state.step is Step.COMMIT or not _round_in_reach(state, p.round):
        return state
    if p.proposer != state.validators.proposer_at(p.round):
        return state
    records = state.proposals.get(p.round, ())
    if any(r.proposal == p for r in records) or len(records) >= state.params.max_proposals_per_round:
        return state
    if not p.signature_valid(state.params.chain_id):
        return state
    # A second, different proposal of one proposer in one round is kept too (up to a
    # bound): the others may see a polka or a commit for it. CometBFT does not punish it.
    return _evolve(
        state,
        proposals={**state.proposals, p.round: (*records, ProposalRecord(p, event.valid))},
        votes=state.votes.add_sender(p.round, p.proposer, state.validators.power_of(p.proposer)),
    )


def _record_vote(state: State, vote: Vote, out: list[Action]) -> State:
    if vote.height == state.height + 1:
        # Pitfall 5: a faster peer's votes for the next height are kept, boundedly.
        if len(state.future_votes) < state.params.max_future_votes and vote not in state.future_votes:
            return _evolve(state, future_votes=(*state.future_votes, vote))
        return state
    if vote.height != state.height or state.step is Step.COMMIT or not _round_in_reach(state, vote.round):
        return state
    power = state.validators.power_of(vote.validator)
    if power == 0:
        return state  # not a validator at this height
    existing = state.votes.existing(vote)
    if any(v.block_hash == vote.block_hash for v in existing):
        return state  # a duplicate: the validator counts once for a block (pitfall 3)
    if len(existing) >= state.params.max_votes_per_slot or not vote.signature_valid(state.params.chain_id):
        return state
    if existing:
        # A double vote: the pair is evidence (reported once per validator, round and
        # type); each vote counts for its own block only (consensus.votekeeper says why).
        key = (vote.validator, vote.round, vote.type)
        if key not in state.reported:
            out.append(ReportEvidence(DuplicateVoteEvidence.of(existing[0], vote)))
            state = _evolve(state, reported=state.reported | {key})
    return _evolve(state, votes=state.votes.add(vote, power))


# --- events that are not messages -------------------------------------------------------


def _start_height(state: State, event: StartHeight, out: list[Action]) -> State:
    if not (event.height > state.height or (event.height == state.height and state.step is Step.UNSTARTED)):
        return state
    buffered = state.future_votes if event.height == state.height + 1 else ()
    state = State(
        state.params,
        state.me,
        event.height,
        event.validators,
        VoteKeeper(event.validators.total_power),
        now=state.now,
    )
    state = _start_round(state, 0, out)
    if buffered:
        # Handed back rather than counted here, so that the node logs each one in the new
        # height's write-ahead log and a replay of that log rebuilds this very state.
        out.append(DeliverBuffered(buffered))
    return state


def _on_commit(state: State, event: CommitReceived, out: list[Action]) -> State:
    certificate = event.certificate
    if state.decision is not None or certificate.height != state.height or not event.valid:
        return state
    try:
        verify_commit(state.params.chain_id, certificate.block_hash, certificate, state.validators)
    except InvalidCommit:
        return state
    out.append(Decide(state.height, certificate.round, certificate.block_hash, certificate))
    return _evolve(state, decision=certificate.block_hash, step=Step.COMMIT)


def _on_timeout(state: State, event: TimeoutElapsed, out: list[Action]) -> State:
    if (event.height, event.round) != (state.height, state.round):
        return state
    if event.kind is TimeoutKind.PROPOSE and state.step is Step.PROPOSE:
        return _vote(state, VoteType.PREVOTE, None, out)  # L57
    if event.kind is TimeoutKind.PREVOTE and state.step is Step.PREVOTE:
        return _vote(state, VoteType.PRECOMMIT, None, out)  # L61
    if event.kind is TimeoutKind.PRECOMMIT and state.step not in (Step.UNSTARTED, Step.COMMIT):
        return _start_round(state, state.round + 1, out)  # L65
    return state


def _on_value(state: State, event: ValueReady, out: list[Action]) -> State:
    # L18-L19: the value getValue() returned, proposed if this round still waits for it.
    if (event.height, event.round) != (state.height, state.round) or state.value_requested != state.round:
        return state
    if state.step is not Step.PROPOSE:
        return _evolve(state, value_requested=NIL_ROUND)
    assert state.me is not None, "only a validator asks for a value"
    proposal = Proposal(state.height, state.round, event.block_hash, event.block_time, NIL_ROUND, state.me)
    out.append(SignProposal(proposal))
    return _evolve(state, value_requested=NIL_ROUND)


# --- the rules of Algorithm 1 -----------------------------------------------------------


def _start_round(state: State, round: int, out: list[Action]) -> State:
    """L11 StartRound(round)."""
    state = _evolve(state, round=round, step=Step.PROPOSE, value_requested=NIL_ROUND)
    me = state.me
    if me is not None and state.validators.proposer_at(round) == me:  # L13
        if state.valid_value is not None:  # L14-L15: propose the valid value again
            time = _block_time_of(state, state.valid_value, state.valid_round)
            out.append(SignProposal(Proposal(state.height, round, state.valid_value, time, state.valid_round, me)))
        else:  # L17-L18: getValue()
            out.append(RequestValue(state.height, round))
            state = _evolve(state, value_requested=round)
    # L21: schedule OnTimeoutPropose. The proposer schedules it too (as malachite does), so
    # a block that is never built costs one timeout, not the round.
    out.append(ScheduleTimeout(state.height, round, TimeoutKind.PROPOSE, state.params.timeout(TimeoutKind.PROPOSE, round)))
    return state


def _block_time_of(state: State, block_hash: Hash32, round: int) -> int:
    for record in state.proposals.get(round, ()):
        if record.proposal.block_hash == block_hash:
            return record.proposal.block_time
    raise AssertionError("valid_value is always the block of a proposal of valid_round (L36)")


def _vote(state: State, kind: VoteType, block_hash: Hash32 | None, out: list[Action]) -> State:
    """Broadcast ``kind`` for ``block_hash`` (if this node votes) and move to its step."""
    me = state.me
    if me is not None and me in state.validators:
        out.append(SignVote(Vote(kind, state.height, state.round, block_hash, me)))
    return _evolve(state, step=Step.PREVOTE if kind is VoteType.PREVOTE else Step.PRECOMMIT)


def _timely(state: State, proposal: Proposal) -> bool:
    return proposal.block_time <= state.now + state.params.max_clock_drift


def _first_enabled_rule(state: State, out: list[Action]) -> State:
    """Run the first rule whose condition holds; return ``state`` itself if none does."""
    for rule in (_l49_decide, _l55_skip_round, _l22_new_proposal, _l28_proposal_with_polka, _l34_polka_any,
                 _l36_proposal_with_polka, _l44_polka_nil, _l47_precommit_any):  # fmt: skip
        after = rule(state, out)
        if after is not state:
            return after
    return state


def _l22_new_proposal(state: State, out: list[Action]) -> State:
    """L22: PROPOSAL(h, r, v, -1) from proposer(h, r) while step = propose."""
    if state.step is not Step.PROPOSE:
        return state
    for record in state.proposals.get(state.round, ()):
        p = record.proposal
        if p.valid_round == NIL_ROUND:
            # L23: valid(v) and (lockedRound = -1 or lockedValue = v), and (our addition,
            # for block time) a block time not too far ahead of our clock.
            accept = (
                record.valid
                and (state.locked_round == NIL_ROUND or state.locked_value == p.block_hash)
                and _timely(state, p)
            )
            return _vote(state, VoteType.PREVOTE, p.block_hash if accept else None, out)  # L24 / L26
    return state


def _l28_proposal_with_polka(state: State, out: list[Action]) -> State:
    """L28: PROPOSAL(h, r, v, vr) and 2f+1 PREVOTE(h, vr, id(v)), step = propose, 0 <= vr < r.
    The only way off a lock (pitfall 1)."""
    if state.step is not Step.PROPOSE:
        return state
    for record in state.proposals.get(state.round, ()):
        p = record.proposal
        vr = p.valid_round
        if 0 <= vr < state.round and state.votes.quorum_for(VoteType.PREVOTE, vr, p.block_hash):
            # L29: valid(v) and (lockedRound <= vr or lockedValue = v)
            accept = record.valid and (state.locked_round <= vr or state.locked_value == p.block_hash)
            return _vote(state, VoteType.PREVOTE, p.block_hash if accept else None, out)  # L30 / L32
    return state


def _l34_polka_any(state: State, out: list[Action]) -> State:
    """L34: 2f+1 PREVOTE(h, r, *) while step = prevote, for the first time: timeoutPrevote."""
    if state.step is not Step.PREVOTE or ("L34", state.round) in state.fired:
        return state
    if not state.votes.quorum_any(VoteType.PREVOTE, state.round):
        return state
    duration = state.params.timeout(TimeoutKind.PREVOTE, state.round)
    out.append(ScheduleTimeout(state.height, state.round, TimeoutKind.PREVOTE, duration))
    return _evolve(state, fired=state.fired | {("L34", state.round)})


def _l36_proposal_with_polka(state: State, out: list[Action]) -> State:
    """L36: PROPOSAL(h, r, v, *) and 2f+1 PREVOTE(h, r, id(v)), valid(v), step >= prevote,
    for the first time."""
    if state.step not in (Step.PREVOTE, Step.PRECOMMIT) or ("L36", state.round) in state.fired:
        return state
    polkas = state.votes.blocks_with_quorum(VoteType.PREVOTE, state.round)
    for record in state.proposals.get(state.round, ()):
        v = record.proposal.block_hash
        if record.valid and v in polkas:
            fired = state.fired | {("L36", state.round)}
            if state.step is Step.PREVOTE:
                # L37-L41: lock on v and precommit it.
                state = _evolve(state, locked_value=v, locked_round=state.round)
                state = _vote(state, VoteType.PRECOMMIT, v, out)
            # L42-L43: v is the valid value of this round, in every case (pitfall 7).
            return _evolve(state, valid_value=v, valid_round=state.round, fired=fired)
    return state


def _l44_polka_nil(state: State, out: list[Action]) -> State:
    """L44: 2f+1 PREVOTE(h, r, nil) while step = prevote: precommit nil."""
    if state.step is Step.PREVOTE and state.votes.quorum_for(VoteType.PREVOTE, state.round, None):
        return _vote(state, VoteType.PRECOMMIT, None, out)
    return state


def _l47_precommit_any(state: State, out: list[Action]) -> State:
    """L47: 2f+1 PRECOMMIT(h, r, *) for the first time: timeoutPrecommit."""
    if ("L47", state.round) in state.fired or not state.votes.quorum_any(VoteType.PRECOMMIT, state.round):
        return state
    duration = state.params.timeout(TimeoutKind.PRECOMMIT, state.round)
    out.append(ScheduleTimeout(state.height, state.round, TimeoutKind.PRECOMMIT, duration))
    return _evolve(state, fired=state.fired | {("L47", state.round)})


def _l49_decide(state: State, out: list[Action]) -> State:
    """L49: PROPOSAL(h, r, v, *) and 2f+1 PRECOMMIT(h, r, id(v)) in any round r (pitfall 8),
    decision[h] = nil: decide v if valid(v)."""
    if state.decision is not None:
        return state
    for round in sorted(state.proposals):
        committed = state.votes.blocks_with_quorum(VoteType.PRECOMMIT, round)
        if not committed:
            continue
        for record in state.proposals[round]:
            v = record.proposal.block_hash
            if record.valid and v in committed:
                certificate = certificate_from_precommits(state.votes.votes_for(VoteType.PRECOMMIT, round, v))
                out.append(Decide(state.height, round, v, certificate))
                # L51-L54: the next height starts when the node has applied the block.
                return _evolve(state, decision=v, step=Step.COMMIT)
    return state


def _l55_skip_round(state: State, out: list[Action]) -> State:
    """L55: f+1 messages <*, h, round, *, *> with round > round_p: StartRound(round)."""
    target = state.votes.skip_round(state.round)
    if target is None:
        return state
    return _start_round(state, target, out)
