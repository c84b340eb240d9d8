"""The node's Prometheus metrics, served at ``GET /metrics``.

Each node owns its own ``CollectorRegistry`` (prometheus-client's default registry is a
process global; several nodes in one test process would then share counters).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "NodeMetrics"]

# Finality latency: from admission to the block that finalized the transaction. The goal is
# p99 under 2 s at load, so the buckets are fine below 2 s and coarse above.
FINALITY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.height = Gauge("meterchain_height", "Height of the last finalized block", registry=r)
        self.round = Gauge("meterchain_consensus_round", "Consensus round at the current height", registry=r)
        self.finalized_transactions = Counter(
            "meterchain_finalized_transactions", "Transactions in finalized blocks", registry=r
        )
        self.mempool_size = Gauge("meterchain_mempool_transactions", "Transactions in the mempool", registry=r)
        self.mempool_refused = Counter(
            "meterchain_mempool_refused", "Transactions the mempool refused, by reason", ["reason"], registry=r
        )
        self.peers = Gauge("meterchain_peers", "Peers with an authenticated link", registry=r)
        self.finality_seconds = Histogram(
            "meterchain_finality_seconds",
            "Seconds from a transaction's admission to its finalized block",
            buckets=FINALITY_BUCKETS,
            registry=r,
        )
        self.dropped_messages = Counter(
            "meterchain_dropped_messages", "Peer messages dropped, by reason", ["reason"], registry=r
        )
        self.double_votes = Counter(
            "meterchain_double_votes", "Conflicting vote pairs of one validator seen (evidence), by vote type",
            ["type"], registry=r,
        )
        self.evidence_reports = Counter(
            "meterchain_evidence_reports", "Evidence transactions this node submitted, by outcome", ["outcome"],
            registry=r,
        )
        self.api_errors = Counter(
            "meterchain_api_client_errors", "API requests answered with a 4xx, by status", ["status"], registry=r
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
