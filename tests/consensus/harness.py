"""One consensus state machine under test, driven the way a node drives it: every message
it asks to sign is signed with its key and fed back as received (docs/consensus.md)."""

from __future__ import annotations

from consensus.machine import (
    Action,
    ClockTick,
    ConsensusParams,
    Decide,
    DeliverBuffered,
    Event,
    ProposalReceived,
    ScheduleTimeout,
    SignProposal,
    SignVote,
    StartHeight,
    State,
    VoteReceived,
    initial_state,
    step,
)
from consensus.messages import Vote, VoteType, sign_proposal, sign_vote
from consensus.validators import ValidatorSet
from tests.consensus.actors import CHAIN_ID, KEYS, NAME_OF, SEEDS, validator_set

PARAMS = ConsensusParams(CHAIN_ID)


def proposer_name(validators: ValidatorSet, round: int) -> str:
    return NAME_OF[validators.proposer_at(round)]


class Machine:
    def __init__(
        self,
        name: str | None,
        powers: dict[str, int] | None = None,
        height: int = 1,
        params: ConsensusParams = PARAMS,
        start: bool = True,
    ) -> None:
        self.name = name
        self.validators = validator_set(powers)
        self.state: State = initial_state(params, KEYS[name] if name else None, height, self.validators)
        self.actions: list[Action] = []
        if start:  # the clock reads 1000, the block time of the tests' proposals
            self.feed(ClockTick(1_000), StartHeight(height, self.validators))

    def feed(self, *events: Event) -> list[Action]:
        produced: list[Action] = []
        queue = list(events)
        while queue:
            self.state, actions = step(self.state, queue.pop(0))
            produced.extend(actions)
            for action in actions:
                assert self.name is not None or not isinstance(action, SignVote | SignProposal)
                if isinstance(action, SignVote):
                    queue.append(VoteReceived(sign_vote(action.vote, SEEDS[self.name], CHAIN_ID)))
                elif isinstance(action, DeliverBuffered):
                    queue.extend(VoteReceived(v) for v in action.votes)
                elif isinstance(action, SignProposal):
                    signed = sign_proposal(action.proposal, SEEDS[self.name], CHAIN_ID)
                    queue.append(ProposalReceived(signed, True))
        self.actions.extend(produced)
        return produced

    def votes(self, kind: VoteType | None = None) -> list[Vote]:
        """What this machine asked to sign, in order."""
        return [a.vote for a in self.actions if isinstance(a, SignVote) and (kind is None or a.vote.type is kind)]

    def last_vote(self, kind: VoteType) -> Vote:
        return self.votes(kind)[-1]

    def decisions(self) -> list[Decide]:
        return [a for a in self.actions if isinstance(a, Decide)]

    def timeouts(self) -> list[ScheduleTimeout]:
        return [a for a in self.actions if isinstance(a, ScheduleTimeout)]
