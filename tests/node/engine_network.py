"""Consensus engines in one process, on a fake clock: each with its real LevelDB store,
signer file and write-ahead log in its own directory, linked by an in-memory network that
delivers every message after a small delay in the order of the fake clock. Links can be cut
and restored; a node can crash (its engine dropped without a stop, its store closed) and
restart from its directory. The tests of ``node.engine`` drive whole heights with it
without sockets or sleeps."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chain.signatures import keypair_from_seed, sign_transaction
from chain.transition import get_nonce
from chain.types import KIND_CALL, Gas, Height, Nonce, Signature, Transaction
from consensus.machine import ConsensusParams
from node.blockstore import BlockStore
from node.consensus_io import COMMIT, COMMIT_REQUEST, PROPOSAL, VOTE, EngineSettings
from node.engine import ConsensusEngine
from node.genesis import GenesisDocument
from node.mempool import Mempool
from node.metrics import NodeMetrics
from node.signer import load_or_create
from node.storechain import open_store
from node.validator_sets import ValidatorSets
from tests.node.certified_chain import GENESIS_TIME, genesis_document, key_of, seed_of
from vm.runtime import VMRuntime

DELIVERY_DELAY = 0.01  # seconds a message takes between two engines


class FakeTimer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Wall time that moves only when ``run_until`` runs the next timer."""

    def __init__(self, start: float) -> None:
        self.time = start
        self._queue: list[tuple[float, int, FakeTimer, Callable[[], None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self.time

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer()
        heapq.heappush(self._queue, (self.time + max(0.0, delay), next(self._order), timer, callback))
        return timer

    def run_until(self, condition: Callable[[], bool], limit: float = 60.0) -> None:
        """Run timers in time order until ``condition`` holds; fail after ``limit`` fake
        seconds."""
        end = self.time + limit
        while not condition():
            if not self._queue:
                raise AssertionError("no timer left and the condition does not hold")
            at, _, timer, callback = heapq.heappop(self._queue)
            if at > end:
                raise AssertionError(f"condition not met within {limit} fake seconds")
            self.time = max(self.time, at)
            if not timer.cancelled:
                callback()


@dataclass
class FakeTransport:
    network: FakeNetwork
    node_key: bytes

    def broadcast(self, kind: str, payload: bytes, exclude: bytes | None = None) -> int:
        peers = [k for k in self.network.nodes if k not in (self.node_key, exclude)]
        for peer in peers:
            self.network.deliver(self.node_key, peer, kind, payload)
        return len(peers)

    def send(self, node_key: bytes, kind: str, payload: bytes) -> bool:
        return self.network.deliver(self.node_key, node_key, kind, payload)


@dataclass
class Node:
    name: str
    directory: Path
    engine: ConsensusEngine
    store: BlockStore
    mempool: Mempool
    metrics: NodeMetrics
    committed: list[int] = field(default_factory=list)

    @property
    def key(self) -> bytes:
        return key_of(self.name)

    @property
    def height(self) -> int:
        return self.store.head().height


class FakeNetwork:
    def __init__(self, directory: Path, names: tuple[str, ...], settings: EngineSettings | None = None) -> None:
        self.directory = directory
        self.names = names
        # Only the registry (the transactions of these tests call it): a faster genesis.
        self.genesis: GenesisDocument = genesis_document(names).model_copy(update={"contracts": ["registry"]})
        self.clock = FakeClock(GENESIS_TIME + 10.0)
        self.settings = settings or EngineSettings(
            ConsensusParams(self.genesis.chain_id, 1000, 200, 500, 200, 500, 200),
            empty_block_interval=1.0,
            rebroadcast_interval=0.5,
        )
        self.nodes: dict[bytes, Node] = {}
        self.cut: set[bytes] = set()  # nodes whose links are down
        # (sender, receiver, kind, payload) -> True to lose that message as it is sent
        self.lose: Callable[[bytes, bytes, str, bytes], bool] | None = None
        self.drops: list[tuple[str, str, str]] = []  # (receiver, kind, reason)
        self.runtime = VMRuntime()

    # --- nodes --------------------------------------------------------------------------

    def start(self, name: str) -> Node:
        directory = self.directory / name
        store = open_store(directory / "db", self.genesis)
        signer = load_or_create(directory / "signer", seed_of(name))
        metrics = NodeMetrics()
        mempool = Mempool(self.genesis.chain_id)
        engine = ConsensusEngine(
            chain_id=self.genesis.chain_id,
            store=store,
            validator_sets=ValidatorSets.of_store(self.genesis.validator_set(), store),
            runtime=self.runtime,
            mempool=mempool,
            wal_dir=directory / "wal",
            transport=FakeTransport(self, key_of(name)),
            settings=self.settings,
            metrics=metrics,
            signer=signer,
            timers=self.clock,
        )
        node = Node(name, directory, engine, store, mempool, metrics)

        def committed(height: int) -> None:
            node.committed.append(height)
            state = store.state()
            block = store.block(height)
            assert block is not None
            mempool.recheck(block.transactions, height + 1, lambda a: get_nonce(state, a))

        engine.on_committed = committed
        self.nodes[node.key] = node
        asyncio.run(engine.start())
        return node

    def start_all(self) -> list[Node]:
        return [self.start(name) for name in self.names]

    def crash(self, name: str) -> None:
        """The node's process dies: no stop, its timers never run, its store is closed."""
        node = self.nodes.pop(key_of(name))
        node.engine._running = False  # its pending timers find a dead engine
        assert node.engine._wal is not None
        node.engine._wal._file.close()  # what was written reached the OS (no fsync needed here)
        node.store.close()

    def stop_all(self) -> None:
        for node in list(self.nodes.values()):
            asyncio.run(node.engine.stop())
            node.store.close()
        self.nodes.clear()

    def node(self, name: str) -> Node:
        return self.nodes[key_of(name)]

    # --- messages -----------------------------------------------------------------------

    def deliver(self, sender: bytes, receiver: bytes, kind: str, payload: bytes) -> bool:
        if sender in self.cut or receiver in self.cut or receiver not in self.nodes:
            return False
        if self.lose is not None and self.lose(sender, receiver, kind, payload):
            return True  # sent, and lost on the way
        self.clock.call_later(DELIVERY_DELAY, lambda: self.receive(sender, receiver, kind, payload))
        return True

    def receive(self, sender: bytes, receiver: bytes, kind: str, payload: bytes) -> str | None:
        node = self.nodes.get(receiver)
        if node is None or sender in self.cut or receiver in self.cut:
            return None
        handler = {
            PROPOSAL: node.engine.receive_proposal,
            VOTE: node.engine.receive_vote,
            COMMIT: node.engine.receive_commit,
            COMMIT_REQUEST: node.engine.receive_commit_request,
        }[kind]
        reason = handler(sender, payload)
        if reason is not None:
            self.drops.append((node.name, kind, reason))
        return reason

    # --- conditions ---------------------------------------------------------------------

    def run_until_height(self, height: int, names: tuple[str, ...] | None = None, limit: float = 60.0) -> None:
        chosen = [self.node(n) for n in (names or tuple(n.name for n in self.nodes.values()))]
        self.clock.run_until(lambda: all(n.height >= height for n in chosen), limit)

    def transaction(self, sender: str = "governance", nonce: int | None = None) -> Transaction:
        """A call that succeeds: governance registers a utility (a fresh code per nonce)."""
        key = keypair_from_seed(seed_of(sender))[1]
        any_store = next(iter(self.nodes.values())).store
        n = get_nonce(any_store.state(), key) if nonce is None else nonce
        args = [f"U{n}", "Electric", "electricity", "EUR", "auto", key_of("admin")]
        unsigned = Transaction(
            self.genesis.chain_id, key, Nonce(n), Height(any_store.head().height + 100), Gas(2_000_000),
            KIND_CALL, ["registry", "register_utility", args], Signature(bytes(64)),
        )  # fmt: skip
        return sign_transaction(unsigned, seed_of(sender))
