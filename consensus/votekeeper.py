"""The votes of one height, counted by voting power (malachite's ``core-votekeeper``).

A validator counts at most once toward each block (nil included) in a round and type, and
at most once toward "any" (pitfall 3). A validator that signs two different votes for one
round and type is double-signing: the caller reports the pair as evidence, and both votes
count, each for its own block, as the paper counts messages ("2f+1 <PREVOTE, h, r, id(v)>"
are messages for v from distinct senders). Counting only the first one would let a double
voter show a polka to one honest node and hide it from the others, which then can never
accept a proposal from that round (L28): a lock nobody else can release. Safety does not
depend on it: two sets of more than 2/3 of the power still share an honest validator,
which signs one vote. The caller bounds how many different votes of one validator it keeps
(``ConsensusParams.max_votes_per_slot``). Thresholds are by power and strict: more than 2/3 (the paper's 2f+1) and
more than 1/3 (f+1), pitfall 2. The skip to a higher round (L55) counts the power of the
*distinct* validators that sent anything in that round, votes of either type and the
proposal together (pitfall 4).

Every structure here is immutable: adding a vote returns a new keeper that shares what did
not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from chain.hashing import Hash32
from chain.types import PublicKey
from consensus.messages import Vote, VoteType
from consensus.validators import more_than_one_third, more_than_two_thirds


@dataclass(frozen=True, slots=True)
class VoteTally:
    """The votes of one type in one round: each validator's different votes (an honest one
    has one), the power per block and the power of the validators that voted at all."""

    votes: Mapping[PublicKey, tuple[Vote, ...]] = field(default_factory=dict)
    power_for: Mapping[Hash32 | None, int] = field(default_factory=dict)
    power: int = 0  # each validator that voted once, whatever for

    def add(self, vote: Vote, power: int) -> VoteTally:
        previous = self.votes.get(vote.validator, ())
        assert all(v.block_hash != vote.block_hash for v in previous), "one vote per validator and block"
        return VoteTally(
            {**self.votes, vote.validator: (*previous, vote)},
            {**self.power_for, vote.block_hash: self.power_for.get(vote.block_hash, 0) + power},
            self.power + (0 if previous else power),
        )


@dataclass(frozen=True, slots=True)
class RoundVotes:
    prevotes: VoteTally = VoteTally()
    precommits: VoteTally = VoteTally()
    senders: frozenset[PublicKey] = frozenset()  # validators with any message in the round
    sender_power: int = 0

    def tally(self, kind: VoteType) -> VoteTally:
        return self.prevotes if kind is VoteType.PREVOTE else self.precommits

    def with_sender(self, validator: PublicKey, power: int) -> RoundVotes:
        if validator in self.senders:
            return self
        return RoundVotes(self.prevotes, self.precommits, self.senders | {validator}, self.sender_power + power)


@dataclass(frozen=True, slots=True)
class VoteKeeper:
    """The votes of one height, by round; ``total_power`` is the height's validator set's."""

    total_power: int
    rounds: Mapping[int, RoundVotes] = field(default_factory=dict)

    def round_votes(self, round: int) -> RoundVotes:
        return self.rounds.get(round) or RoundVotes()

    def existing(self, vote: Vote) -> tuple[Vote, ...]:
        """The votes already counted for this vote's validator, type and round."""
        return self.round_votes(vote.round).tally(vote.type).votes.get(vote.validator, ())

    def add(self, vote: Vote, power: int) -> VoteKeeper:
        """The keeper with ``vote`` (of a validator with ``power``) counted. The caller has
        checked that the validator has no vote for the same block in this round and type."""
        current = self.round_votes(vote.round)
        if vote.type is VoteType.PREVOTE:
            updated = RoundVotes(current.prevotes.add(vote, power), current.precommits, current.senders, current.sender_power)
        else:
            updated = RoundVotes(current.prevotes, current.precommits.add(vote, power), current.senders, current.sender_power)
        return VoteKeeper(self.total_power, {**self.rounds, vote.round: updated.with_sender(vote.validator, power)})

    def add_sender(self, round: int, validator: PublicKey, power: int) -> VoteKeeper:
        """Count a proposer's proposal among the messages of ``round`` (for L55)."""
        current = self.round_votes(round)
        updated = current.with_sender(validator, power)
        if updated is current:
            return self
        return VoteKeeper(self.total_power, {**self.rounds, round: updated})

    # --- thresholds (the paper's "2f+1 <...>" and "f+1 <...>") ---------------------------

    def quorum_for(self, kind: VoteType, round: int, block_hash: Hash32 | None) -> bool:
        """More than 2/3 of the power voted ``kind`` for ``block_hash`` (nil included) in ``round``."""
        power = self.round_votes(round).tally(kind).power_for.get(block_hash, 0)
        return more_than_two_thirds(power, self.total_power)

    def quorum_any(self, kind: VoteType, round: int) -> bool:
        """More than 2/3 of the power voted ``kind`` in ``round``, for anything."""
        return more_than_two_thirds(self.round_votes(round).tally(kind).power, self.total_power)

    def blocks_with_quorum(self, kind: VoteType, round: int) -> list[Hash32]:
        """The blocks (not nil) that more than 2/3 of the power voted ``kind`` for in ``round``."""
        tally = self.round_votes(round).tally(kind)
        return [
            h for h, p in tally.power_for.items() if h is not None and more_than_two_thirds(p, self.total_power)
        ]

    def skip_round(self, above: int) -> int | None:
        """The highest round above ``above`` in which validators holding more than 1/3 of
        the power sent messages (L55), or None."""
        rounds = [
            r for r, votes in self.rounds.items()
            if r > above and more_than_one_third(votes.sender_power, self.total_power)
        ]  # fmt: skip
        return max(rounds) if rounds else None

    def votes_for(self, kind: VoteType, round: int, block_hash: Hash32 | None) -> list[Vote]:
        tally = self.round_votes(round).tally(kind)
        return [v for votes in tally.votes.values() for v in votes if v.block_hash == block_hash]
