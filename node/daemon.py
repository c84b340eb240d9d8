"""The node daemon: the services of one node, assembled from its configuration.

``Node(config)`` wires the mempool, the metrics, the peer links (with transaction gossip)
and the HTTP API over a ``ChainView``; ``Node.run()`` serves until SIGINT or SIGTERM and
stops gracefully. ``block_committed`` is what happens after each finalized block: the
mempool is rechecked, the metrics move on, the block's events are streamed.

The node's chain is its LevelDB block store (``node.storechain``: ``DATA_DIR/db``, opened
against ``HOME/genesis.json``, the network's genesis document), read through a
``StoredChainView``. Whoever commits a block to ``store`` (consensus, block sync) then
calls ``block_committed``.

Run it as ``python -m node.daemon --home DIR`` (``DIR/node.toml``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from chain.transition import get_nonce
from node import pidfile
from node.api import ApiContext, publish_block
from node.api.app import admit_batch
from node.api.models import PeerModel
from node.archives import ArchiveWatch
from node.blockstore import StoreError
from node.config import CONFIG_FILE, ConfigError, NodeConfig, load_config
from node.consensus_io import settings_from_config
from node.engine import ConsensusEngine, ignore_consensus, serve_consensus
from node.evidence import EvidenceReporter
from node.genesis import GenesisDocument, GenesisError
from node.history import HistoryIndex
from node.mempool import Admission, Mempool
from node.metrics import NodeMetrics
from node.p2p import P2PNetwork, Role, serve_transaction_gossip
from node.service import ApiService, P2PService, Service, ServiceRunner, StoreService
from node.signer import SignerError, load_or_create
from node.state_sync import StateSyncError, Trust, state_sync
from node.storechain import StoredChainView, open_chain
from node.sync import BlockSync, SyncService
from node.validator_sets import ValidatorSets

log = logging.getLogger("meterchain.node")


class NodeStatus:
    """``NodeInfo`` for the API: the node's role, validators and peer links."""

    def __init__(self, node: Node) -> None:
        self._node = node

    @property
    def role(self) -> str:
        return self._node.config.role

    def validators(self) -> list[bytes]:
        """The validators of the height being decided."""
        node = self._node
        return [v.public_key for v in node.validator_sets.at(node.store.head().height + 1).validators]

    def peers(self) -> list[PeerModel]:
        return [PeerModel.model_validate(p) for p in self._node.p2p.peer_summaries()]

    def syncing(self) -> bool:
        engine = self._node.engine
        return self._node.sync.syncing or (engine is not None and engine.syncing)


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.metrics = NodeMetrics()
        self.genesis = GenesisDocument.load(config.genesis_path)
        self.store = open_chain(config, self.genesis)
        # The set of each height: the genesis set, then what governance decided (H+2 rule).
        self.validator_sets = ValidatorSets.of_store(self.genesis.validator_set(), self.store)
        self.view = StoredChainView(self.store, config.chain_id)
        self.metrics.height.set(self.store.head().height)
        # Block sync from the peers' APIs: a regulator follows continuously; a validator's
        # consensus engine calls ``self.sync.catch_up(height)`` when it falls behind.
        self.sync = BlockSync(
            self.store, config.chain_id, self.validator_sets.at, config.peer_apis(),
            self.view.runtime, on_committed=self.block_committed,
        )  # fmt: skip
        self.mempool = Mempool(config.chain_id, config.mempool_limits())
        self._peer_roles = config.peer_roles()
        self.p2p = P2PNetwork(config.p2p_config(), self.peer_role, self.metrics)
        self.api = ApiContext(
            self.view,
            self.mempool,
            NodeStatus(self),
            self.metrics,
            api_key=config.api_key,
            max_body_bytes=config.file.api.max_body_bytes,
            on_admitted=self.p2p.gossip_transactions,
            genesis=self.genesis,
            history=HistoryIndex(self.store.db),
        )
        self.gossip_admission = serve_transaction_gossip(self.p2p, self._admit)
        self.engine = self._consensus_engine()
        host, port = config.api_address()
        self.api_service = ApiService(self.api, host, port)
        # Started in this order, stopped in the reverse: the peers before consensus, so a
        # stopping validator has stopped voting before its links close (which can take a
        # while); the public API last up and first down. The store is opened above and
        # closed last, after everything that reads it.
        self.sync_service = SyncService(self.sync, follow=config.role == "regulator")
        services: list[Service] = [StoreService(self.store), self.sync_service, P2PService(self.p2p),
                                   ArchiveWatch(self.store, config.archives, config.file.storage.archive_poll_ms / 1000)]
        if self.engine is not None:
            services.append(self.engine)
        self.runner = ServiceRunner([*services, self.api_service])

    def _consensus_engine(self) -> ConsensusEngine | None:
        """A validator's consensus engine, signing with its signer file (DATA_DIR/signer:
        the key and its last signed step). A regulator has none: it follows by block sync
        (``SyncService``) and ignores consensus messages. A validator whose key is not in
        the set of the height being decided runs the engine as a follower: it receives and
        checks every message and block, and votes from the height its key enters the set
        (governance, node.validator_sets) until the height it leaves it."""
        config = self.config
        if config.validator_seed is None:
            ignore_consensus(self.p2p)
            return None
        config.data_dir.mkdir(parents=True, exist_ok=True)
        signer = load_or_create(config.data_dir / "signer", config.validator_seed)
        if signer.public_key != config.validator_key:
            raise SignerError(
                f"a signer file for the validator key {(config.validator_key or b'').hex()} expected at "
                f"{signer.path}, found one for {signer.public_key.hex()}"
            )
        engine = ConsensusEngine(
            chain_id=config.chain_id,
            store=self.store,
            validator_sets=self.validator_sets,
            runtime=self.view.runtime,
            mempool=self.mempool,
            wal_dir=config.data_dir / "wal",
            transport=self.p2p,
            settings=settings_from_config(config.chain_id, config.file.consensus),
            metrics=self.metrics,
            signer=signer,
            on_committed=self.block_committed,
            on_fatal=lambda reason: self.runner.request_stop(reason),
            catch_up=self.sync.catch_up if config.peer_apis() else None,
            on_evidence=self._evidence_reporter(config.validator_seed).report,
            before_build=self.gossip_admission.admit_pending,
        )
        serve_consensus(self.p2p, engine)
        return engine

    def _evidence_reporter(self, seed: bytes) -> EvidenceReporter:
        """Double votes this validator sees, reported on chain from its own key."""
        return EvidenceReporter(
            chain_id=self.config.chain_id, seed=seed, head=lambda: self.store.head().height,
            account_nonce=lambda account: get_nonce(self.view.state(), account),
            pending_nonces=self.mempool.sender_nonces, admit=self._admit,
            gossip=self.p2p.gossip_transactions, metrics=self.metrics,
        )  # fmt: skip

    def peer_role(self, node_key: bytes) -> Role | None:
        return self._peer_roles.get(node_key)

    def _admit(self, raws: list[bytes]) -> list[Admission]:
        with self.metrics.cpu.part("admission_gossip"):
            return admit_batch(self.api, list(raws))

    def block_committed(self, height: int) -> None:
        """After block ``height`` is final and stored: recheck the mempool, update the
        metrics, stream the block's events."""
        with self.metrics.cpu.part("after_commit"):
            self._block_committed(height)

    def _block_committed(self, height: int) -> None:
        self.view.blocks_added()
        finalized = self.view.block(height)
        if finalized is None:
            raise LookupError(f"a stored block at height {height} expected, found none")
        state = self.view.state()

        def nonce_of(account: bytes) -> int:
            return get_nonce(state, account)

        transactions = finalized.block.transactions
        result = self.mempool.recheck(transactions, height + 1, nonce_of)
        now = time.monotonic()
        for admitted_at in result.committed_admitted_at:
            self.metrics.finality_seconds.observe(now - admitted_at)
        self.metrics.height.set(height)
        self.metrics.finalized_transactions.inc(len(transactions))
        self.metrics.mempool_size.set(len(self.mempool))
        publish_block(self.api, finalized)

    async def run(self) -> str:
        settings = self.config.file.state_sync
        if settings.enabled and self.store.head().height == 0:
            trust = Trust(settings.trust_height, None if settings.trust_hash is None else bytes.fromhex(settings.trust_hash))
            height = await state_sync(
                self.store, self.genesis.validator_set(), self.config.chain_id, self.config.peer_apis(), trust,
                settings.depth,
            )  # fmt: skip
            self.metrics.height.set(height)
        return await self.runner.run()


# --- logging and the entry point -----------------------------------------------------------


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(log_format: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


# The cyclic collector's thresholds once the node is loaded (CPython's are 700, 10, 10). A
# block's execution allocates and frees millions of short-lived containers, nearly all freed
# by refcounting; at 700 a young collection ran every few hundred of them, each walking
# whatever was young, and a full collection followed every hundred of those. Here collections
# are ~30x rarer: replaying a benchmark's 33,000 readings in one process, the collector's time
# fell from 0.30 s (4 full collections) to 0.08 s (none); in the nodes it was 12-13 µs of each
# reading's ~420 µs. Cyclic garbage waits longer to be freed; the memory is there.
GC_THRESHOLDS: Final = (20_000, 20, 100)


def settle_heap() -> None:
    """Move what the node has loaded so far (modules, genesis, contract code, the store's
    handles) out of the cyclic garbage collector's reach: it lives as long as the process,
    and every full collection walked all of it again, several times a minute under load.
    Refcounting still frees any of it; only cycles among those objects would stay. About
    5 % of the CPU of a reading replayed in one process (bench_network's c, 372 -> 346 µs).
    Then collect less often (``GC_THRESHOLDS``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="meterchain-node", description="Run a meterchain node.")
    parser.add_argument("--home", required=True, type=Path, help="the node's directory (with node.toml)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.home)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.file.node.log_format, config.file.node.log_level)
    log.info("node %s (%s) on chain %s starting", config.name, config.role, config.chain_id)
    try:
        node = Node(config)
    except (GenesisError, StoreError, SignerError) as exc:
        log.error("error: %s", exc)
        return 2
    log.info("chain %s at height %d (genesis %s)", config.chain_id, node.store.head().height,
             node.store.genesis_header().hash.hex())
    settle_heap()
    gc.callbacks.append(node.metrics.cpu.collecting)  # one node per process: its collections
    pidfile.write(args.home)
    try:
        reason = asyncio.run(node.run())
    except StateSyncError as exc:
        log.error("error: state sync: %s", exc)
        return 2
    except OSError as exc:
        # An address it cannot listen on (a name that does not resolve, a port in use) or a
        # system error later: one line that says where the addresses and the data are set.
        log.error(
            "error: a node that can listen and write expected, found %s (addresses: [api] and [p2p] listen in %s; "
            "data: %s)", exc, args.home / CONFIG_FILE, config.data_dir,
        )  # fmt: skip
        return 2
    finally:
        pidfile.remove(args.home)
    log.info("node %s stopped (%s)", config.name, reason)
    return 0


if __name__ == "__main__":
    sys.exit(main())
