"""The consensus engine: the node's side of ``consensus.machine.step`` (docs/consensus.md,
"What the node must do").

``ConsensusEngine`` is a service (``start``/``stop``). It feeds the state machine its events
and carries out its actions:

- **Events.** ``StartHeight`` (once the next height may begin), the proposals and votes
  peers send (decoded strictly, signature and signer checked first: only keys of the
  height's validator set, the round's proposer for a proposal), certificates
  (``CommitReceived``), ``TimeoutElapsed`` from timers, ``ValueReady`` when the block asked
  for is built, and a ``ClockTick`` right before every proposal.
- **Log first.** Every event is appended to the write-ahead log before ``step`` sees it;
  blocks are logged before the events that name them. Before every signature the log is
  synced (so a replay rebuilds the very message signed), and our own signed message is
  logged with ``write_sync`` before it is fed back and broadcast.
- **Actions.** ``SignVote``/``SignProposal`` through the ``FileSigner`` (which persists
  its height/round/step before returning), then broadcast and fed back; ``RequestValue``
  builds a block from the mempool on the head state, no earlier than the second after the
  parent's (block times are whole seconds, strictly increasing); ``ScheduleTimeout`` is a
  timer; ``Decide`` commits the block with its certificate in one batch
  (``BlockStore.commit_block``), ends the height in the log, tells the node
  (``on_committed``: mempool recheck, metrics, event stream) and waits for the next height.
- **Building and judging blocks** (``node.height_blocks.HeightBlocks``, the working
  height's blocks): a proposer's block holds the ready transactions its build time allows
  (a third of the round's propose timeout); a proposal is valid (the paper's ``valid(v)``) when
  the block decodes, its time is the proposal's, its ``last_commit`` is a valid certificate
  of the parent (``verify_commit``), and ``apply_block`` accepts it on the head state. The
  result is kept by block hash, so the block is not executed again when it is committed.
- **When the next height starts.** At once if the mempool holds transactions, after
  ``empty_block_interval`` otherwise (the chain shows it is alive), or as soon as a peer's
  message for it arrives; never before the wall clock passes the parent's time.
- **Catching up.** A message from a height above ours makes us ask that peer for our
  height's ``commit`` (block and certificate); a certified block that applies decides the
  height (``CommitReceived``). A message from a lower height makes us send that peer the
  ``commit`` of its height. After deciding, a node announces its certificate. The peers'
  heights and the spacing of requests are ``node.peer_heights.PeerHeights``.
- **Restart.** ``start`` replays the log of the height after the store's head into a fresh
  state (``node.wal_replay``): the machine re-derives the same actions; the messages it
  signed before are in the log and are not signed again; a signature asked for but never
  logged is asked of the signer again (it returns the stored one for the same bytes); the
  timers of the current round are set again.

Nothing here blocks on the network; all of it runs on one event loop, and a message is
processed to the end (``step`` and every action it causes) before the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final, Protocol

from chain.errors import DecodeError
from chain.hashing import Hash32
from chain.transition import ContractRuntime
from chain.types import Block, BlockHeader
from consensus.certificate import CommitCertificate, verify_commit
from consensus.errors import InvalidCommit
from consensus.event_codec import encode_event
from consensus.evidence import DuplicateVoteEvidence
from consensus.machine import (
    Action,
    ClockTick,
    CommitReceived,
    Decide,
    DeliverBuffered,
    Event,
    ProposalReceived,
    ReportEvidence,
    RequestValue,
    ScheduleTimeout,
    SignProposal,
    SignVote,
    StartHeight,
    State,
    Step,
    TimeoutElapsed,
    ValueReady,
    VoteReceived,
    initial_state,
    step,
)
from consensus.messages import MAX_VOTE_SIZE, Proposal, Vote, VoteType
from consensus.validators import ValidatorSet
from node.blockstore import BlockStore
from node.consensus_io import (
    COMMIT,
    COMMIT_REQUEST,
    MAX_COMMIT_MESSAGE,
    MAX_COMMIT_REQUEST,
    MAX_PROPOSAL_MESSAGE,
    PROPOSAL,
    VOTE,
    CommitMessage,
    DropReason,
    EngineSettings,
    LoopTimers,
    Timers,
    decode_commit_request,
    decode_proposal_message,
    encode_block_record,
    encode_commit_request,
    encode_proposal_message,
)
from node.height_blocks import HeightBlocks
from node.mempool import Mempool
from node.metrics import NodeMetrics
from node.p2p import Handler, P2PNetwork, PeerLink
from node.peer_heights import PeerHeights
from node.signer import FileSigner, SignerError
from node.validator_sets import ValidatorSets
from node.wal import WriteAheadLog
from node.wal_replay import replay_height

log = logging.getLogger("meterchain.consensus")

MAX_PROPOSALS_PER_HEIGHT: Final = 64  # distinct proposals judged at one height (equivocation bound)
MAX_EARLY_PROPOSALS: Final = 8  # proposals kept for the next height until it starts
# Behind by more than this many blocks, a node with block sync fetches them in batches from
# its peers' APIs instead of one commit message per height.
SYNC_GAP: Final = 3
SYNC_SPACING: Final = 2.0  # seconds between two block syncs started by peers' heights


class Transport(Protocol):
    """How the engine reaches its peers (``node.p2p.P2PNetwork``)."""

    def broadcast(self, kind: str, payload: bytes, exclude: bytes | None = None) -> int: ...

    def send(self, node_key: bytes, kind: str, payload: bytes) -> bool: ...


class ConsensusEngine:
    name = "consensus"

    def __init__(
        self,
        *,
        chain_id: str,
        store: BlockStore,
        validator_sets: ValidatorSets,
        runtime: ContractRuntime,
        mempool: Mempool,
        wal_dir: Path,
        transport: Transport,
        settings: EngineSettings,
        metrics: NodeMetrics,
        signer: FileSigner | None = None,
        on_committed: Callable[[int], None] | None = None,
        on_fatal: Callable[[str], None] | None = None,
        timers: Timers | None = None,
        catch_up: Callable[[int], Awaitable[int]] | None = None,
        on_evidence: Callable[[DuplicateVoteEvidence], object] | None = None,
        before_build: Callable[[], object] | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.store = store
        self.runtime = runtime
        self.mempool = mempool
        self.wal_dir = wal_dir
        self.transport = transport
        self.settings = settings
        self.params = settings.params
        self.metrics = metrics
        self.signer = signer
        self.me = None if signer is None else signer.public_key
        self.on_committed = on_committed
        self.on_fatal = on_fatal
        self.on_evidence = on_evidence
        # Right before this node builds a block: admit the transactions peers sent that wait
        # (``node.p2p.GossipAdmission.admit_pending``), so they are in it.
        self.before_build = before_build
        self._committed_at = float("-inf")  # when this node last committed a block
        self.timers: Timers = timers or LoopTimers()
        # Block sync (``node.sync.BlockSync.catch_up``): commits blocks to the store up to a
        # height while the engine pauses, then the engine starts again from the new head.
        self.catch_up = catch_up
        self._sync_task: asyncio.Future[None] | None = None
        self._sync_started = float("-inf")
        self._paused = False
        # The validator set of each height, from the genesis set and the changes governance
        # decided (node.validator_sets). A node whose key is not in a height's set follows
        # that height without voting (the machine signs only for a member).
        self.validator_sets = validator_sets
        self._head: BlockHeader = store.head_header()
        self._state: State = initial_state(self.params, self.me, self._head.height + 1, self.validators_at(self._head.height + 1))
        self._wal: WriteAheadLog | None = None
        self._queue: deque[tuple[Event, bool]] = deque()  # (event, still to be logged)
        self._draining = False
        self._running = False
        self._failed = False
        self._timers: list[object] = []  # this height's timer handles
        self._poll: object | None = None  # the idle node's next look at its mempool
        self._rebroadcast_handle: object | None = None
        # This height's blocks: built, received, judged (node.height_blocks).
        self.blocks = HeightBlocks(
            chain_id=chain_id, store=store, runtime=runtime, mempool=mempool, settings=settings, timers=self.timers,
            head=lambda: self._head, validators_at=self.validators_at, log_block=self._log_block,
        )  # fmt: skip
        self._seen_proposals: set[tuple[int, Hash32, bytes]] = set()
        self._early_proposals: list[tuple[Proposal, Block, bytes]] = []  # for the next height
        self._own_proposal: tuple[Proposal, bytes] | None = None
        self._undelivered: Decide | None = None  # decided, but the block body is missing
        self._idle_since = 0.0
        # When this height reached each step here (seconds after its start), for the commit's
        # log line: where a slow height spent its time (building, judging, the votes).
        self._timeline: dict[str, float] = {}
        self._height_started = 0.0
        self.peers = PeerHeights(self.timers.now)  # their heights; spacing of requests to them

    # --- service ---------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def working_height(self) -> int:
        """The height being decided: the one after the store's head."""
        return self._head.height + 1

    @property
    def syncing(self) -> bool:
        """Peers are known to be more than one height ahead."""
        return bool(self.peers.ahead_of(self.working_height + 1))

    async def start(self) -> None:
        self._wal = WriteAheadLog.open(self.wal_dir)
        if self._wal.repaired is not None:
            log.warning("the write-ahead log had a torn tail; the original is kept at %s", self._wal.repaired)
        self._head = self.store.head_header()
        self._running = True
        self._replay()
        self._rebroadcast_handle = self.timers.call_later(self.settings.rebroadcast_interval, self._rebroadcast)

    async def stop(self) -> None:
        self._running = False
        self._cancel_timers()
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
        if self._rebroadcast_handle is not None:
            self._rebroadcast_handle.cancel()  # type: ignore[attr-defined]
        if self._wal is not None:
            self._wal.close()
            self._wal = None

    def validators_at(self, height: int) -> ValidatorSet:
        """The set of ``height``, up to the head + 2 (``LookupError`` beyond)."""
        return self.validator_sets.at(height)

    # --- restart ---------------------------------------------------------------------------

    def _replay(self) -> None:
        """Replay the working height's log (``node.wal_replay``), then carry on from there."""
        assert self._wal is not None
        height = self.working_height
        start = initial_state(self.params, self.me, height, self.validators_at(height))
        replayed = replay_height(self._wal.replay_height(height), start, self.me)
        self.blocks.known(replayed.blocks)
        if replayed.own_proposal is not None:
            self._own_proposal = replayed.own_proposal
        self._state = replayed.state
        decided = replayed.decided
        if decided is not None:
            self._guarded(lambda: self._decide(decided))
        elif replayed.state.step is Step.UNSTARTED:
            self._await_start()
        else:
            self._guarded(lambda: self._run_actions(replayed.pending))

    # --- the event loop of the machine ----------------------------------------------------

    def _feed(self, *events: Event) -> None:
        self._queue.extend((e, True) for e in events)
        self._drain()

    def _drain(self) -> None:
        if self._draining or self._failed:
            return
        self._draining = True
        try:
            while self._queue:
                event, to_log = self._queue.popleft()
                if to_log:
                    assert self._wal is not None
                    self._wal.write(encode_event(event))
                self._state, actions = step(self._state, event)
                for action in actions:
                    self._execute(action)
            self.metrics.round.set(self._state.round)
        except Exception as exc:
            self._queue.clear()
            self._fail(exc)
        finally:
            self._draining = False

    def _run_actions(self, actions: list[Action]) -> None:
        self._draining = True
        try:
            for action in actions:
                self._execute(action)
        finally:
            self._draining = False
        self._drain()

    def _guarded(self, work: Callable[[], None]) -> None:
        """Run ``work`` (a timer's or a resumed action); a failure stops the engine."""
        if not self._running or self._failed or self._paused:
            return
        try:
            work()
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self._failed = True
        log.exception("consensus stopped: %s", exc)
        if self.on_fatal is None:
            raise exc
        self.on_fatal(f"consensus failed: {exc}")

    def _later(self, delay: float, work: Callable[[], None]) -> None:
        self._timers.append(self.timers.call_later(delay, lambda: self._guarded(work)))

    def _cancel_timers(self) -> None:
        for handle in self._timers:
            handle.cancel()  # type: ignore[attr-defined]
        self._timers.clear()
        if self._poll is not None:
            self._poll.cancel()  # type: ignore[attr-defined]
            self._poll = None

    def _execute(self, action: Action) -> None:
        if isinstance(action, SignVote):
            self._sign_vote(action.vote)
        elif isinstance(action, SignProposal):
            self._sign_proposal(action.proposal)
        elif isinstance(action, RequestValue):
            now = self.timers.now()
            # Block time after the parent's; and the transactions that arrived while the last
            # block was executed admitted first (``EngineSettings.build_wait``).
            delay = max(self._head.time + 1 - now, self._committed_at + self.settings.build_wait - now)
            self._later(max(0.0, delay), lambda: self._build_value(action.height, action.round))
        elif isinstance(action, ScheduleTimeout):
            timeout = TimeoutElapsed(action.height, action.round, action.kind)
            self._later(action.duration / 1000, lambda: self._feed(timeout))
        elif isinstance(action, Decide):
            self._decide(action)
        elif isinstance(action, ReportEvidence):
            e = action.evidence
            log.warning("validator %s signed two %s votes at height %d round %d",
                        e.vote_a.validator.hex(), e.vote_a.type.name.lower(), e.vote_a.height, e.vote_a.round)  # fmt: skip
            if self.on_evidence is not None:  # node.evidence.EvidenceReporter: submitted as a transaction
                self.on_evidence(e)
        elif isinstance(action, DeliverBuffered):
            self._queue.extend((VoteReceived(v), True) for v in action.votes)

    # --- our own messages ------------------------------------------------------------------

    def _sign_vote(self, vote: Vote) -> None:
        assert self.signer is not None and self._wal is not None, "only a validator is asked to vote"
        self._wal.flush_and_sync()
        try:
            signed = self.signer.sign_vote(vote, self.chain_id)
        except SignerError as exc:
            log.warning("not signing the %s of height %d round %d: %s", vote.type.name.lower(), vote.height, vote.round, exc)
            return
        event = VoteReceived(signed)
        self._wal.write_sync(encode_event(event))
        self._queue.append((event, False))
        self.transport.broadcast(VOTE, signed.encode())
        self._mark(vote.type.name.lower())

    def _sign_proposal(self, proposal: Proposal) -> None:
        assert self.signer is not None and self._wal is not None, "only a validator is asked to propose"
        entry = self.blocks.get(proposal.block_hash)
        if entry is None:
            log.error("no block %s to propose at height %d round %d", proposal.block_hash.hex(), proposal.height, proposal.round)
            return
        self._wal.flush_and_sync()
        try:
            signed = self.signer.sign_proposal(proposal, self.chain_id)
        except SignerError as exc:
            log.warning("not signing the proposal of height %d round %d: %s", proposal.height, proposal.round, exc)
            return
        tick = ClockTick(int(self.timers.now()))
        event = ProposalReceived(signed, True)
        self._wal.write(encode_event(tick))
        self._wal.write_sync(encode_event(event))
        self._queue.extend([(tick, False), (event, False)])
        self._own_proposal = (signed, entry[1])
        self.transport.broadcast(PROPOSAL, encode_proposal_message(signed, entry[1]))
        self._broadcast_polka(signed)

    def _broadcast_polka(self, proposal: Proposal) -> None:
        """With a re-proposal (valid round vr >= 0), the prevotes of vr that justify it: a peer
        that missed them could not take the proposal (L28) and would prevote nil, and with
        the others locked on it the chain could stall round after round."""
        if proposal.valid_round < 0:
            return
        for vote in self._state.votes.votes_for(VoteType.PREVOTE, proposal.valid_round, proposal.block_hash):
            self.transport.broadcast(VOTE, vote.encode())

    def _build_value(self, height: int, round: int) -> None:
        st = self._state
        if (st.height, st.round, st.step) != (height, round, Step.PROPOSE) or st.value_requested != round:
            return
        assert self.me is not None
        self._mark("admit")
        if self.before_build is not None:
            self.before_build()  # the gossip still queued (``GossipAdmission.admit_pending``)
        self._mark("build")
        with self.metrics.cpu.part("build"):
            block_hash, block_time = self.blocks.build(round, self.me)
        self._mark("built")
        self._feed(ValueReady(height, round, block_hash, block_time))

    def _rebroadcast(self) -> None:
        if not self._running:
            return
        self._rebroadcast_handle = self.timers.call_later(self.settings.rebroadcast_interval, self._rebroadcast)
        st = self._state
        if st.height != self.working_height or st.step in (Step.UNSTARTED, Step.COMMIT) or self.me is None:
            return
        if self._own_proposal is not None and self._own_proposal[0].round == st.round:
            self.transport.broadcast(PROPOSAL, encode_proposal_message(*self._own_proposal))
            self._broadcast_polka(self._own_proposal[0])
        for kind in (VoteType.PREVOTE, VoteType.PRECOMMIT):
            for vote in st.votes.existing(Vote(kind, st.height, st.round, None, self.me)):
                self.transport.broadcast(VOTE, vote.encode())

    # --- blocks ----------------------------------------------------------------------------

    def _log_block(self, raw: bytes) -> None:
        assert self._wal is not None
        self._wal.write(encode_block_record(raw))

    def _decide(self, decide: Decide) -> None:
        self._mark("decided")
        entry = self.blocks.get(decide.block_hash)
        if entry is None:
            log.warning("decided block %s of height %d, whose body is missing: asking peers", decide.block_hash.hex(), decide.height)
            self._undelivered = decide
            self.transport.broadcast(COMMIT_REQUEST, encode_commit_request(decide.height))
            return
        self._commit(entry[0], decide.certificate)

    def _commit(self, block: Block, certificate: CommitCertificate) -> None:
        assert self._wal is not None
        height = block.header.height
        with self.metrics.cpu.part("commit"):
            post, receipts = self.blocks.result(block)
            certificate_bytes = certificate.encode()
            self.store.commit_block(block, receipts, certificate_bytes, post)
        self._mark("stored")
        self._wal.end_height(height)
        self._committed_at = self.timers.now()
        self._head = block.header
        self._cancel_timers()
        self.blocks.clear()
        self._seen_proposals.clear()
        self._own_proposal = None
        self._undelivered = None
        self.peers.committed(height)
        self._mark("committed")
        steps = ", ".join(f"{step} {at:.2f}" for step, at in self._timeline.items())
        log.info("committed block %d (%s, round %d, %d transactions; s after the height's start: %s)",
                 height, block.header.hash.hex()[:16], certificate.round, len(block.transactions), steps)  # fmt: skip
        self.transport.broadcast(COMMIT, CommitMessage(height, b"", certificate_bytes).encode())
        if self.on_committed is not None:
            self.on_committed(height)
        ahead = self.peers.ahead_of(height + 1)
        self._await_start()
        if ahead:
            peer_height, peer = max(ahead)
            self._saw_height(peer, peer_height)

    # --- starting a height -----------------------------------------------------------------

    def _mark(self, step: str) -> None:
        """The first time this height reached ``step`` (a later round's keeps the first)."""
        self._timeline.setdefault(step, self.timers.now() - self._height_started)

    def _idle(self) -> bool:
        """The working height has not started (the last one is committed, or nothing yet)."""
        return self._state.height < self.working_height or self._state.step is Step.UNSTARTED

    def _await_start(self) -> None:
        self._idle_since = self.timers.now()
        self._poll_start()

    def _poll_start(self) -> None:
        if not self._idle():
            return
        now = self.timers.now()
        waiting = len(self.mempool) > 0
        if now >= self._head.time + 1 and (waiting or now - self._idle_since >= self.settings.empty_block_interval):
            self._start_height()
            return
        # Transactions waiting for the parent's second to pass: look again right then, not
        # up to a poll interval later (under load most heights wait so).
        delay = self.settings.poll_interval
        if waiting:
            delay = min(delay, max(0.0, self._head.time + 1 - now))
        self._poll = self.timers.call_later(delay, lambda: self._guarded(self._poll_start))

    def _start_height(self) -> None:
        if not self._idle():
            return
        height = self.working_height
        self._cancel_timers()
        self._timeline = {}
        self._height_started = self.timers.now()
        self._feed(StartHeight(height, self.validators_at(height)))
        early, self._early_proposals = self._early_proposals, []
        for proposal, block, raw in early:
            if proposal.height == height:
                self._accept_proposal(proposal, block, raw)

    # --- messages from peers (each returns a drop reason, or None) ----------------------------

    def receive_vote(self, sender: bytes, payload: bytes) -> str | None:
        if not self._running or self._failed or self._paused:
            return None
        try:
            vote = Vote.decode(payload)
        except DecodeError:
            return DropReason.MALFORMED
        working = self.working_height
        self._saw_height(sender, vote.height)
        if self._paused:
            return None
        if vote.height < working:
            self._answer_lagging(sender, vote.height)
            return None
        if vote.height > working + 1:
            return None
        if vote.validator not in self.validators_at(vote.height):
            return DropReason.NOT_VALIDATOR_KEY
        if not vote.signature_valid(self.chain_id):
            return DropReason.BAD_SIGNATURE
        st = self._state
        if st.height == vote.height and any(v.block_hash == vote.block_hash for v in st.votes.existing(vote)):
            return None  # a vote counted already (a rebroadcast): not logged again
        if vote.height == working:
            self._start_height()  # a peer has started it: so do we
        self._feed(VoteReceived(vote))
        return None

    def receive_proposal(self, sender: bytes, payload: bytes) -> str | None:
        if not self._running or self._failed or self._paused:
            return None
        try:
            proposal, raw = decode_proposal_message(payload)
        except (DecodeError, ValueError):
            return DropReason.MALFORMED
        working = self.working_height
        self._saw_height(sender, proposal.height)
        if self._paused:
            return None
        if proposal.height < working:
            self._answer_lagging(sender, proposal.height)
            return None
        if proposal.height > working + 1 or proposal.round > self._state.round + self.params.max_round_ahead:
            return None
        if proposal.proposer != self.validators_at(proposal.height).proposer_at(proposal.round):
            return DropReason.NOT_PROPOSER
        if not proposal.signature_valid(self.chain_id):
            return DropReason.BAD_SIGNATURE
        seen = (proposal.round, proposal.block_hash, bytes(proposal.signature))
        if seen in self._seen_proposals or len(self._seen_proposals) >= MAX_PROPOSALS_PER_HEIGHT:
            return None
        try:
            block = Block.decode(raw)
        except DecodeError:
            return DropReason.MALFORMED_BLOCK
        if block.header.hash != proposal.block_hash:
            return DropReason.BLOCK_MISMATCH
        if proposal.height == working + 1 or self._idle():
            if len(self._early_proposals) < MAX_EARLY_PROPOSALS:
                self._early_proposals.append((proposal, block, raw))
            if proposal.height == working:
                self._start_height()
            return None
        self._accept_proposal(proposal, block, raw)
        return None

    def _accept_proposal(self, proposal: Proposal, block: Block, raw: bytes) -> None:
        seen = (proposal.round, proposal.block_hash, bytes(proposal.signature))
        if seen in self._seen_proposals:
            return
        self._seen_proposals.add(seen)
        self._mark("proposal")
        with self.metrics.cpu.part("execute"):
            valid = self.blocks.judge(block, proposal.block_time)
        self._mark("judged")
        self.blocks.remember(block, raw)
        self._feed(ClockTick(int(self.timers.now())), ProposalReceived(proposal, valid))

    def receive_commit(self, sender: bytes, payload: bytes) -> str | None:
        if not self._running or self._failed or self._paused:
            return None
        try:
            message = CommitMessage.decode(payload)
            certificate = CommitCertificate.decode(message.certificate)
        except DecodeError:
            return DropReason.MALFORMED
        if certificate.height != message.height:
            return DropReason.MALFORMED
        working = self.working_height
        if message.height < working:
            return None
        if message.height > working:
            self._saw_height(sender, message.height + 1)  # it stored our height: ask for it
            return None
        if self._paused:
            return None
        undelivered = self._undelivered
        if undelivered is None and not self._idle() and self._state.decision is not None:
            return None  # decided here too
        try:
            verify_commit(self.chain_id, certificate.block_hash, certificate, self.validators_at(working))
        except InvalidCommit:
            return DropReason.BAD_CERTIFICATE
        if message.block:
            try:
                block = Block.decode(message.block)
            except DecodeError:
                return DropReason.MALFORMED_BLOCK
            if block.header.hash != certificate.block_hash:
                return DropReason.BLOCK_MISMATCH
            self.blocks.remember(block, message.block)
        entry = self.blocks.get(certificate.block_hash)
        if entry is None:
            self._request_commit(sender, working)
            return None
        with self.metrics.cpu.part("execute"):
            valid = self.blocks.judge(entry[0], None)
        if not valid:
            return DropReason.INVALID_BLOCK
        if undelivered is not None:
            if undelivered.block_hash == certificate.block_hash:
                self._guarded(lambda: self._commit(entry[0], undelivered.certificate))
            return None
        self._start_height()
        self._feed(CommitReceived(certificate, True))
        return None

    def receive_commit_request(self, sender: bytes, payload: bytes) -> str | None:
        if not self._running or self._failed:
            return None
        try:
            height = decode_commit_request(payload)
        except DecodeError:
            return DropReason.MALFORMED
        if height <= self._head.height and self.peers.spaced("answer", sender, height):
            self._send_commit(sender, height)
        return None

    # --- catching up -------------------------------------------------------------------------

    def _saw_height(self, sender: bytes, height: int) -> None:
        """``sender`` works on ``height``: it has stored every height below it."""
        self.peers.saw(sender, height)
        if height <= self.working_height:
            return
        far_behind = height - 1 - self._head.height > SYNC_GAP
        if self.catch_up is not None and far_behind and self.timers.now() - self._sync_started >= SYNC_SPACING:
            self._start_sync(height - 1)
        else:
            self._request_commit(sender, self.working_height)

    def _start_sync(self, target: int) -> None:
        if self._sync_task is not None or not self._running:
            return
        log.info("at height %d, peers have stored %d: block sync", self._head.height, target)
        self._paused = True
        self._sync_started = self.timers.now()
        self._cancel_timers()
        self._sync_task = asyncio.ensure_future(self._sync(target))

    async def _sync(self, target: int) -> None:
        assert self.catch_up is not None
        try:
            await self.catch_up(target)
        except Exception as exc:  # a peer's fault or a lost link: consensus goes on without it
            log.warning("block sync to %d stopped: %s", target, exc)
        finally:
            self._sync_task = None
            self._paused = False
        self._guarded(self._rebase)

    def _rebase(self) -> None:
        """Start again from the store's head (after block sync committed blocks): the
        working height's log replayed, or a new height begun."""
        self._cancel_timers()
        self._head = self.store.head_header()
        self.blocks.clear()
        self._seen_proposals.clear()
        self._early_proposals.clear()
        self._own_proposal = None
        self._undelivered = None
        self._replay()

    def _request_commit(self, peer: bytes, height: int) -> None:
        if self.peers.spaced("request", peer, height):
            self.transport.send(peer, COMMIT_REQUEST, encode_commit_request(height))

    def _answer_lagging(self, peer: bytes, height: int) -> None:
        if self.peers.spaced("answer", peer, height):
            self._send_commit(peer, height)

    def _send_commit(self, peer: bytes, height: int) -> None:
        block = self.store.block(height)
        certificate = self.store.certificate(height)
        if block is not None and certificate is not None:
            self.transport.send(peer, COMMIT, CommitMessage(height, block.encode(), certificate).encode())


def serve_consensus(network: P2PNetwork, engine: ConsensusEngine) -> None:
    """Register the engine's message kinds on the peer links. Proposals and votes come only
    from validators' node keys (p2p checks the link, the engine the message's own
    signature); a commit proves itself by its certificate and a request asks for nothing
    secret, so any linked peer (a regulator too) may send those."""

    def handler(kind: str, receive: Callable[[bytes, bytes], str | None]) -> Handler:
        async def handle(link: PeerLink, payload: bytes) -> str | None:
            with engine.metrics.cpu.part(kind):
                return receive(link.node_key, payload)

        return handle

    network.on(PROPOSAL, MAX_PROPOSAL_MESSAGE, consensus=True, handler=handler(PROPOSAL, engine.receive_proposal))
    network.on(VOTE, MAX_VOTE_SIZE, consensus=True, handler=handler(VOTE, engine.receive_vote))
    network.on(COMMIT, MAX_COMMIT_MESSAGE, consensus=False, handler=handler(COMMIT, engine.receive_commit))
    network.on(COMMIT_REQUEST, MAX_COMMIT_REQUEST, consensus=False,
               handler=handler(COMMIT_REQUEST, engine.receive_commit_request))  # fmt: skip


def ignore_consensus(network: P2PNetwork) -> None:
    """A node without an engine (a regulator, which follows by block sync) takes the
    consensus kinds its validators broadcast and does nothing with them."""

    async def ignore(link: PeerLink, payload: bytes) -> str | None:
        return None

    for kind, size in ((PROPOSAL, MAX_PROPOSAL_MESSAGE), (VOTE, MAX_VOTE_SIZE), (COMMIT, MAX_COMMIT_MESSAGE),
                       (COMMIT_REQUEST, MAX_COMMIT_REQUEST)):  # fmt: skip
        network.on(kind, size, consensus=False, handler=ignore)
