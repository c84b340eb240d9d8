"""The node daemon: the services of one node, assembled from its configuration.

``Node(config)`` wires the mempool, the metrics, the peer links (with transaction gossip)
and the HTTP API over a ``ChainView``; ``Node.run()`` serves until SIGINT or SIGTERM and
stops gracefully. ``block_committed`` is what happens after each finalized block: the
mempool is rechecked, the metrics move on, the block's events are streamed.

Not wired yet (see the report of issue 10): the node's chain is the in-memory
``LocalChain`` built from the chain id's genesis (LevelDB storage, the write-ahead log and
the signer come from the storage work), and no consensus driver runs ``consensus.machine``
here yet, so a node admits, gossips and serves, but only a caller of ``LocalChain.submit``
followed by ``block_committed`` makes blocks.

Run it as ``python -m node.daemon --home DIR`` (``DIR/node.toml``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chain.transition import get_nonce
from node.api import ApiContext, publish_block
from node.api.app import admit_batch
from node.api.models import PeerModel
from node.chainview import LocalChainView
from node.config import ConfigError, NodeConfig, load_config
from node.localchain import LocalChain
from node.mempool import Admission, Mempool
from node.metrics import NodeMetrics
from node.p2p import P2PNetwork, Role, serve_transaction_gossip
from node.service import ApiService, P2PService, ServiceRunner

log = logging.getLogger("meterchain.node")


class NodeStatus:
    """``NodeInfo`` for the API: the node's role, validators and peer links."""

    def __init__(self, node: Node) -> None:
        self._node = node

    @property
    def role(self) -> str:
        return self._node.config.role

    def validators(self) -> list[bytes]:
        key = self._node.config.validator_key
        return [] if key is None else [key]

    def peers(self) -> list[PeerModel]:
        return [PeerModel.model_validate(p) for p in self._node.p2p.peer_summaries()]

    def syncing(self) -> bool:
        return False


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.metrics = NodeMetrics()
        self.chain = LocalChain.genesis(chain_id=config.chain_id)
        self.view = LocalChainView(self.chain)
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
        )
        serve_transaction_gossip(self.p2p, self._admit)
        host, port = config.api_address()
        self.api_service = ApiService(self.api, host, port)
        # Started in this order, stopped in the reverse: peers before the public API.
        self.runner = ServiceRunner([P2PService(self.p2p), self.api_service])

    def peer_role(self, node_key: bytes) -> Role | None:
        return self._peer_roles.get(node_key)

    def _admit(self, raws: list[bytes]) -> list[Admission]:
        return admit_batch(self.api, list(raws))

    def block_committed(self, height: int) -> None:
        """After block ``height`` is final and stored: recheck the mempool, update the
        metrics, stream the block's events."""
        self.view.blocks_added()
        finalized = self.view.block(height)
        if finalized is None:
            raise LookupError(f"a stored block at height {height} expected, found none")
        state = self.view.state()

        def nonce_of(account: bytes) -> int:
            return get_nonce(state, account)

        hashes = [tx.hash for tx in finalized.block.transactions]
        result = self.mempool.recheck(hashes, height + 1, nonce_of)
        now = time.monotonic()
        for admitted_at in result.committed_admitted_at:
            self.metrics.finality_seconds.observe(now - admitted_at)
        self.metrics.height.set(height)
        self.metrics.finalized_transactions.inc(len(hashes))
        self.metrics.mempool_size.set(len(self.mempool))
        publish_block(self.api, finalized)

    async def run(self) -> str:
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
    reason = asyncio.run(Node(config).run())
    log.info("node %s stopped (%s)", config.name, reason)
    return 0


if __name__ == "__main__":
    sys.exit(main())
