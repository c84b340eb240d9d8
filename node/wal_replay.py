"""Restart of the consensus engine (``node.engine``): the write-ahead log of the working
height replayed into a fresh state machine, and what is left to do afterwards.

The machine re-derives the same actions from the same events. What this module works out:

- the state the log leads to, and the blocks it holds (a proposal's, the one this node built);
- the messages this node signed before (logged as its own events): not signed again;
- a signature asked for but never logged: asked of the signer again (it returns the stored
  one for the same bytes), if it is of the current round;
- the value asked for in the current round's propose step: asked for again;
- the timers of the current round: set again (the machine ignores those that already fired);
- a decision the log reached: committed.

Nothing here writes or sends: the engine carries out ``Replayed.pending`` itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from chain.errors import DecodeError
from chain.hashing import Hash32
from chain.types import Block, PublicKey
from consensus.machine import (
    Action,
    Decide,
    ProposalReceived,
    RequestValue,
    ScheduleTimeout,
    SignProposal,
    SignVote,
    State,
    Step,
    VoteReceived,
    step,
)
from consensus.messages import Proposal
from node.consensus_io import decode_record

log = logging.getLogger("meterchain.consensus")


@dataclass
class Replayed:
    """Where the log of one height leads."""

    state: State
    blocks: dict[Hash32, tuple[Block, bytes]] = field(default_factory=dict)  # by hash, raw beside
    own_proposal: tuple[Proposal, bytes] | None = None  # for the rebroadcast timer
    decided: Decide | None = None
    pending: list[Action] = field(default_factory=list)  # to do now, in this order


def replay_height(records: Sequence[bytes], state: State, me: PublicKey | None) -> Replayed:
    """Feed the logged ``records`` of ``state``'s height to the machine, from ``state``
    (the height's initial state). A record that does not decode is skipped with a warning."""
    height = state.height
    replayed = Replayed(state)
    signs: list[SignVote | SignProposal] = []
    timeouts: list[ScheduleTimeout] = []
    logged_own: set[tuple[str, int, int]] = set()
    for body in records:
        try:
            item = decode_record(body)
            if isinstance(item, bytes):
                block = Block.decode(item)
                replayed.blocks[block.header.hash] = (block, item)
                continue
        except DecodeError as exc:
            log.warning("write-ahead log record of height %d skipped: %s", height, exc)
            continue
        event = item
        if isinstance(event, VoteReceived) and event.vote.validator == me:
            logged_own.add(("vote", event.vote.round, int(event.vote.type)))
        elif isinstance(event, ProposalReceived) and event.proposal.proposer == me:
            logged_own.add(("proposal", event.proposal.round, 0))
            own_block = replayed.blocks.get(event.proposal.block_hash)
            if own_block is not None:  # sent again by the rebroadcast timer
                replayed.own_proposal = (event.proposal, own_block[1])
        state, actions = step(state, event)
        for action in actions:
            if isinstance(action, SignVote | SignProposal):
                signs.append(action)
            elif isinstance(action, ScheduleTimeout):
                timeouts.append(action)
            elif isinstance(action, Decide):
                replayed.decided = action
    replayed.state = state
    if records:
        log.info(
            "replayed %d log records of height %d: round %d, step %s", len(records), height, state.round,
            state.step.name.lower(),
        )  # fmt: skip
    if replayed.decided is not None or state.step is Step.UNSTARTED:
        return replayed
    # Resume: what was asked before the crash and never done is done now.
    for action in signs:
        key = (
            ("vote", action.vote.round, int(action.vote.type)) if isinstance(action, SignVote)
            else ("proposal", action.proposal.round, 0)
        )  # fmt: skip
        if key not in logged_own and action_round(action) == state.round:
            replayed.pending.append(action)
    if state.step is Step.PROPOSE and state.value_requested == state.round:
        replayed.pending.append(RequestValue(height, state.round))
    replayed.pending.extend(t for t in timeouts if t.round == state.round)
    return replayed


def action_round(action: SignVote | SignProposal) -> int:
    return action.vote.round if isinstance(action, SignVote) else action.proposal.round
