"""A deterministic network simulator that drives N consensus state machines.

Everything is drawn from one seeded ``random.Random``: message delays (so messages are
reordered), drops and duplicates until the network stabilizes (GST), a partition that heals,
crashes with restarts, honest clocks with small skews, and Byzantine validators (holding
less than 1/3 of the power) that equivocate as proposers and double-vote. Simulated time is
in milliseconds; nothing sleeps.

Each honest node is modelled the way docs/consensus.md asks a node to work:
- every event is appended to its write-ahead log (as ``consensus.event_codec`` bytes)
  before ``step`` sees it; the log is synced
  before every signature, and a crash loses a random part of the unsynced tail;
- its signer keeps the last signed height/round/step and message, refuses a regression or
  a different message at the same height/round/step, and returns the stored signature for
  the same message (a restarted node re-signs identically);
- a decided block is stored with its certificate before the next height starts; a restart
  rebuilds the state from the stored height and a replay of the log;
- it forwards every new message to the peers that lack it (gossip); it sends everything it
  has of its height to a peer that (re)connects, at GST and every second after (as
  CometBFT's gossip routines keep sending peers the votes they lack); a peer at a lower
  height gets the certificate that decided that height (block sync).

``run`` returns what the checks need: every decision with its certificate, every signature
each validator made, the evidence reported, and whether every honest node reached the
target height.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from dataclasses import dataclass, field
from typing import Any

from chain.hashing import Hash32
from chain.types import PublicKey
from consensus.certificate import CommitCertificate
from consensus.event_codec import decode_event, encode_event
from consensus.evidence import DuplicateVoteEvidence
from consensus.machine import (
    Action,
    ClockTick,
    CommitReceived,
    ConsensusParams,
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
    TimeoutElapsed,
    ValueReady,
    VoteReceived,
    initial_state,
    step,
)
from consensus.messages import Proposal, Vote, VoteType, sign_proposal, sign_vote
from consensus.validators import Validator, ValidatorSet
from tests.consensus.actors import CHAIN_ID

Message = Vote | Proposal | CommitCertificate

PARAMS = ConsensusParams(
    CHAIN_ID,
    timeout_propose=300,
    timeout_propose_delta=100,
    timeout_prevote=200,
    timeout_prevote_delta=100,
    timeout_precommit=200,
    timeout_precommit_delta=100,
    max_clock_drift=500,  # block times are in milliseconds here
)
CLOCK_EPOCH = 1_000_000  # block times and clocks in milliseconds from here
SIGN_STEP = {"proposal": 1, VoteType.PREVOTE: 2, VoteType.PRECOMMIT: 3}


@dataclass(frozen=True)
class Scenario:
    seed: int
    powers: tuple[int, ...]
    equivocators: frozenset[int]  # propose two blocks, split between peers
    double_voters: frozenset[int]  # sign two votes per step, split between peers
    gst: int  # after this, no drops, no duplicates, delays at most max_delay
    drop: float
    duplicate: float
    min_delay: int
    max_delay: int
    partition: tuple[int, int, frozenset[int]] | None  # (start, heal, one side), heals before GST
    crashes: tuple[tuple[int, int, int], ...]  # (node, crash time, restart time)
    clock_skew: tuple[int, ...]
    target_height: int

    @property
    def byzantine(self) -> frozenset[int]:
        return self.equivocators | self.double_voters


def random_scenario(seed: int, target_height: int = 3) -> Scenario:
    rng = random.Random(f"scenario/{seed}")
    n = rng.choice((4, 4, 4, 4, 5, 5, 7))
    powers = tuple(rng.choice((10, 10, 10, 20, 30)) for _ in range(n)) if rng.random() < 0.4 else (10,) * n
    total = sum(powers)
    order = list(range(n))
    rng.shuffle(order)
    byzantine: list[int] = []
    for i in order:  # as many Byzantine validators as fit strictly below 1/3 of the power
        if 3 * (sum(powers[j] for j in byzantine) + powers[i]) < total and rng.random() < 0.7:
            byzantine.append(i)
    equivocators = frozenset(i for i in byzantine if rng.random() < 0.7)
    double_voters = frozenset(i for i in byzantine if i not in equivocators or rng.random() < 0.5)
    gst = rng.randrange(0, 2000)
    partition = None
    if rng.random() < 0.5 and gst > 400:
        start = rng.randrange(0, gst // 2)
        side = frozenset(rng.sample(range(n), rng.randrange(1, n)))
        partition = (start, rng.randrange(start + 100, gst + 1), side)
    honest = [i for i in range(n) if i not in byzantine]
    crashes = []
    for i in rng.sample(honest, rng.choice((0, 0, 1, 1, 2))):
        at = rng.randrange(0, gst + 2000)
        crashes.append((i, at, at + rng.randrange(50, 2500)))
    return Scenario(
        seed=seed,
        powers=powers,
        equivocators=equivocators,
        double_voters=double_voters,
        gst=gst,
        drop=rng.choice((0.0, 0.1, 0.3)),
        duplicate=rng.choice((0.0, 0.1)),
        min_delay=1,
        max_delay=rng.choice((20, 50, 90)),
        partition=partition,
        crashes=tuple(crashes),
        clock_skew=tuple(rng.randrange(-100, 101) for _ in range(n)),
        target_height=target_height,
    )


@dataclass
class Outcome:
    decisions: dict[int, dict[int, tuple[Hash32, CommitCertificate]]]  # node -> height -> decision
    signatures: dict[tuple[bytes, int, int, Any], set[bytes]]  # (validator, h, r, kind) -> messages
    evidence: list[tuple[int, DuplicateVoteEvidence]]
    validator_sets: dict[int, ValidatorSet]
    reached_target: bool
    signer_conflicts: int  # a restarted node asked to sign something else at a signed step
    trace: str  # a digest of everything that happened, for the determinism check
    time: int
    keys: list[PublicKey]  # each node's validator key, by node index


def node_seed(seed: int, index: int) -> bytes:
    return hashlib.sha256(f"sim-validator/{index}".encode()).digest()


@dataclass
class Node:
    index: int
    secret: bytes
    key: PublicKey
    state: State
    byzantine: bool
    up: bool = True
    epoch: int = 0  # bumped by a crash: the old timers die with the process
    wal: list[bytes] = field(default_factory=list)  # the events' records (consensus.event_codec)
    wal_synced: int = 0
    blocks: dict[int, tuple[Hash32, CommitCertificate]] = field(default_factory=dict)
    signer_last: tuple[tuple[int, int, int], bytes, Message] | None = None
    seen: dict[Message, None] = field(default_factory=dict)  # this height's messages, in order
    incoming: set[Message] = field(default_factory=set)  # on their way to this node
    held_proposals: list[Proposal] = field(default_factory=list)  # for a later height
    replaying: bool = False
    last_catch_up: dict[tuple[int, int], int] = field(default_factory=dict)


class Simulation:
    def __init__(self, scenario: Scenario) -> None:
        self.sc = scenario
        self.rng = random.Random(f"network/{scenario.seed}")
        secrets = [node_seed(scenario.seed, i) for i in range(len(scenario.powers))]
        from chain.signatures import keypair_from_seed

        keys = [keypair_from_seed(s)[1] for s in secrets]
        self.genesis = ValidatorSet.genesis(Validator(k, p) for k, p in zip(keys, scenario.powers, strict=True))
        self.sets = {1: self.genesis}
        self.nodes = [
            Node(i, secrets[i], keys[i], initial_state(PARAMS, keys[i], 1, self.genesis), i in scenario.byzantine)
            for i in range(len(keys))
        ]
        self.queue: list[tuple[int, int, str, Any]] = []
        self.seq = 0
        self.now = 0
        self.valid_blocks: set[bytes] = set()
        self.decisions: dict[int, dict[int, tuple[Hash32, CommitCertificate]]] = {i: {} for i in range(len(keys))}
        self.signatures: dict[tuple[bytes, int, int, Any], set[bytes]] = {}
        self.evidence: list[tuple[int, DuplicateVoteEvidence]] = []
        self.signer_conflicts = 0
        self.honest_at_target = 0
        self.trace = hashlib.sha256()

    # --- scheduling ------------------------------------------------------------------------

    def at(self, time: int, kind: str, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (time, self.seq, kind, payload))

    def clock(self, node: Node) -> int:
        """The node's clock: simulated time, its skew, and an epoch far from zero."""
        return CLOCK_EPOCH + self.now + self.sc.clock_skew[node.index]

    def validators_at(self, height: int) -> ValidatorSet:
        while height not in self.sets:
            last = max(self.sets)
            self.sets[last + 1] = self.sets[last].for_next_height()
        return self.sets[height]

    def connected(self, a: int, b: int) -> bool:
        p = self.sc.partition
        if p is None or not p[0] <= self.now < p[1]:
            return True
        return (a in p[2]) == (b in p[2])

    def send(self, sender: int, to: int, message: Message) -> None:
        if to == sender or not self.connected(sender, to):
            return
        stable = self.now >= self.sc.gst
        if not stable and self.rng.random() < self.sc.drop:
            return
        copies = 2 if not stable and self.rng.random() < self.sc.duplicate else 1
        self.nodes[to].incoming.add(message)
        for _ in range(copies):
            delay = self.rng.randint(self.sc.min_delay, self.sc.max_delay)
            self.at(self.now + delay, "deliver", (sender, to, message))

    def broadcast(self, sender: int, message: Message, skip: int = -1) -> None:
        for j in range(len(self.nodes)):
            if j != skip:
                self.send(sender, j, message)

    def gossip(self, sender: int, message: Message, skip: int = -1) -> None:
        """Forward ``message`` to the peers that do not have it yet (a node knows which
        votes its peers have from their announcements, as CometBFT's peer state does)."""
        for peer in self.nodes:
            if peer.index != skip and not (peer.up and (message in peer.seen or message in peer.incoming)):
                self.send(sender, peer.index, message)

    # --- the run ---------------------------------------------------------------------------

    def run(self, limit: int = 200_000) -> Outcome:
        for node in self.nodes:
            self.feed(node, StartHeight(1, self.genesis))
        for i, crash, restart in self.sc.crashes:
            self.at(crash, "crash", i)
            self.at(restart, "restart", i)
        self.at(self.sc.gst, "gst", None)
        deadline = self.sc.gst + 60_000
        for _ in range(limit):
            if not self.queue or self.finished():
                break
            self.now, _, kind, payload = heapq.heappop(self.queue)
            if self.now > deadline:
                break
            self.dispatch(kind, payload)
        return Outcome(
            self.decisions,
            self.signatures,
            self.evidence,
            self.sets,
            self.finished(),
            self.signer_conflicts,
            self.trace.hexdigest(),
            self.now,
            [n.key for n in self.nodes],
        )

    def finished(self) -> bool:
        return self.honest_at_target == sum(1 for n in self.nodes if not n.byzantine)

    def dispatch(self, kind: str, payload: Any) -> None:
        self.trace.update(f"{self.now}/{kind}".encode())
        if kind == "deliver":
            sender, to, message = payload
            self.deliver(self.nodes[to], sender, message)
        elif kind == "event":
            index, epoch, event = payload
            node = self.nodes[index]
            if node.up and node.epoch == epoch:
                self.feed(node, event)
        elif kind == "crash":
            self.crash(self.nodes[payload])
        elif kind == "restart":
            self.restart(self.nodes[payload])
        elif kind == "gst":
            for a in self.nodes:
                for b in self.nodes:
                    if a is not b:
                        self.resync(a, b)
        elif kind == "anti_entropy":
            for a in self.nodes:
                for b in self.nodes:
                    if a is not b:
                        self.resync(a, b)
            self.at(self.now + 1000, "anti_entropy", None)
        if kind == "gst":
            self.at(self.now + 1000, "anti_entropy", None)

    # --- a node receiving ------------------------------------------------------------------

    def deliver(self, node: Node, sender: int, message: Message) -> None:
        node.incoming.discard(message)
        if not node.up or message in node.seen:
            return
        height = node.state.height
        if message.height < height:
            self.catch_up(node, sender, message.height)
            return
        if isinstance(message, CommitCertificate):
            if message.height == height:  # block sync: the node fetched and checked the block
                self.feed(node, CommitReceived(message, message.block_hash in self.valid_blocks))
            return
        if isinstance(message, Proposal) and message.height > height:
            if len(node.held_proposals) < 16:
                node.held_proposals.append(message)
            return
        node.seen[message] = None
        self.trace.update(message.signature[:8])
        if isinstance(message, Proposal):
            self.feed(node, ClockTick(self.clock(node)))
            self.feed(node, ProposalReceived(message, message.block_hash in self.valid_blocks))
        else:
            self.feed(node, VoteReceived(message))
        if not node.byzantine:
            self.gossip(node.index, message, skip=sender)

    def feed(self, node: Node, event: Event) -> None:
        queue = [event]
        while queue:
            current = queue.pop(0)
            if not node.replaying:
                node.wal.append(encode_event(current))
            node.state, actions = step(node.state, current)
            for action in actions:
                queue.extend(self.perform(node, action))

    def perform(self, node: Node, action: Action) -> list[Event]:
        """Carry out one action; the events it feeds straight back (a signed message)."""
        if isinstance(action, SignVote | SignProposal):
            message = action.vote if isinstance(action, SignVote) else action.proposal
            signed = self.sign(node, message)
            if signed is None:
                return []
            for extra_to, extra in self.byzantine_twins(node, signed):
                self.send(node.index, extra_to, extra)
            if not node.byzantine or not (node.index in self.sc.double_voters or node.index in self.sc.equivocators):
                self.broadcast(node.index, signed)
            node.seen[signed] = None
            if isinstance(signed, Vote):
                return [VoteReceived(signed)]
            self.valid_blocks.add(signed.block_hash)
            return [ClockTick(self.clock(node)), ProposalReceived(signed, True)]
        if isinstance(action, ScheduleTimeout):
            event = TimeoutElapsed(action.height, action.round, action.kind)
            self.at(self.now + action.duration, "event", (node.index, node.epoch, event))
        elif isinstance(action, RequestValue):
            block = Hash32(hashlib.sha256(f"{self.sc.seed}/{node.index}/{action.height}/{action.round}".encode()).digest())
            self.valid_blocks.add(block)
            ready = ValueReady(action.height, action.round, block, self.clock(node))
            self.at(self.now + self.rng.randint(1, 10), "event", (node.index, node.epoch, ready))
        elif isinstance(action, Decide):
            self.decide(node, action)
        elif isinstance(action, ReportEvidence):
            self.evidence.append((node.index, action.evidence))
        elif isinstance(action, DeliverBuffered):
            return [VoteReceived(v) for v in action.votes]
        return []

    def sign(self, node: Node, message: Message) -> Message | None:
        """The signer: the log is synced first; no regression, no second message at a step."""
        node.wal_synced = len(node.wal)
        if isinstance(message, Vote):
            hrs = (message.height, message.round, SIGN_STEP[message.type])
            body = message.signed_message(CHAIN_ID)
        else:
            hrs = (message.height, message.round, SIGN_STEP["proposal"])
            body = message.signed_message(CHAIN_ID)
        if not node.byzantine and node.signer_last is not None:
            last_hrs, last_body, last_signed = node.signer_last
            if hrs < last_hrs:
                return None  # a replay of an earlier step: that message is in the log already
            if hrs == last_hrs:
                if body != last_body:
                    self.signer_conflicts += 1
                    return None
                return last_signed
        signed: Message
        if isinstance(message, Vote):
            signed = sign_vote(message, node.secret, CHAIN_ID)
            self.record_signature(node.key, message.height, message.round, message.type, body)
        else:
            signed = sign_proposal(message, node.secret, CHAIN_ID)
            self.record_signature(node.key, message.height, message.round, "proposal", body)
        node.signer_last = (hrs, body, signed)
        return signed

    def record_signature(self, key: bytes, height: int, round: int, kind: Any, body: bytes) -> None:
        self.signatures.setdefault((key, height, round, kind), set()).add(body)

    def byzantine_twins(self, node: Node, signed: Message) -> list[tuple[int, Message]]:
        """What a Byzantine node sends besides ``signed``: a conflicting twin to half of the
        peers and ``signed`` to the others."""
        peers = [j for j in range(len(self.nodes)) if j != node.index]
        self.rng.shuffle(peers)
        half = peers[: len(peers) // 2 or 1]
        rest = [j for j in peers if j not in half]
        twin: Message | None = None
        if isinstance(signed, Vote) and node.index in self.sc.double_voters:
            other = None if signed.block_hash is not None else Hash32(hashlib.sha256(signed.signature).digest())
            twin = sign_vote(Vote(signed.type, signed.height, signed.round, other, node.key), node.secret, CHAIN_ID)
            self.record_signature(node.key, signed.height, signed.round, signed.type, twin.signed_message(CHAIN_ID))
        elif isinstance(signed, Proposal) and node.index in self.sc.equivocators:
            other_block = Hash32(hashlib.sha256(b"twin" + signed.block_hash).digest())
            self.valid_blocks.add(other_block)
            unsigned = Proposal(signed.height, signed.round, other_block, signed.block_time, signed.valid_round, node.key)
            twin = sign_proposal(unsigned, node.secret, CHAIN_ID)
        if twin is None:
            return []
        return [(j, twin) for j in half] + [(j, signed) for j in rest]

    def decide(self, node: Node, decision: Decide) -> None:
        h = decision.height
        node.blocks[h] = (decision.block_hash, decision.certificate)
        self.decisions[node.index][h] = (decision.block_hash, decision.certificate)
        if h == self.sc.target_height and not node.byzantine:
            self.honest_at_target += 1
        self.trace.update(b"decide" + decision.block_hash)
        # The block is stored (synced) before the next height starts; its log starts anew.
        node.wal = []
        node.wal_synced = 0
        node.seen = {m: None for m in node.seen if m.height > h}
        if h >= self.sc.target_height:
            return  # the node stops here; it still serves its blocks to peers that lag
        self.at(self.now, "event", (node.index, node.epoch, StartHeight(h + 1, self.validators_at(h + 1))))
        held, node.held_proposals = node.held_proposals, []
        for p in held:
            self.at(self.now + 1, "deliver", (node.index, node.index, p))

    # --- crashes ---------------------------------------------------------------------------

    def crash(self, node: Node) -> None:
        if not node.up:
            return
        node.up = False
        node.epoch += 1
        unsynced = len(node.wal) - node.wal_synced
        node.wal = node.wal[: node.wal_synced + self.rng.randint(0, unsynced)]
        node.seen, node.held_proposals = {}, []

    def restart(self, node: Node) -> None:
        if node.up:
            return
        node.up = True
        height = max(node.blocks, default=0) + 1
        node.state = initial_state(PARAMS, node.key, height, self.validators_at(height))
        node.wal_synced = len(node.wal)
        if node.wal:
            node.replaying = True
            for record in node.wal:
                event = decode_event(record)
                if isinstance(event, VoteReceived | ProposalReceived):
                    node.seen[event.vote if isinstance(event, VoteReceived) else event.proposal] = None
                self.feed(node, event)
            node.replaying = False
        else:
            self.feed(node, StartHeight(height, self.validators_at(height)))
        for peer in self.nodes:  # reconnect: each side sends the other what it has
            if peer is not node:
                self.resync(peer, node)
                self.resync(node, peer)

    def resync(self, a: Node, b: Node) -> None:
        """``a`` sends ``b`` everything it has of its height (and catches ``b`` up)."""
        if not a.up or not b.up or a.byzantine:
            return
        if b.state.height in a.blocks:
            self.catch_up(a, b.index, b.state.height)
        for message in list(a.seen):
            if message.height == a.state.height and message not in b.seen and message not in b.incoming:
                self.send(a.index, b.index, message)

    def catch_up(self, node: Node, peer: int, height: int) -> None:
        """Send ``peer`` the certificate that decided ``height`` (block sync)."""
        if node.byzantine or height not in node.blocks:
            return
        if self.now - node.last_catch_up.get((peer, height), -10_000) < 300:
            return
        node.last_catch_up[(peer, height)] = self.now
        self.send(node.index, peer, node.blocks[height][1])
