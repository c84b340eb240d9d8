"""The node's Prometheus metrics, served at ``GET /metrics``.

Each node owns its own ``CollectorRegistry`` (prometheus-client's default registry is a
process global; several nodes in one test process would then share counters).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "CpuParts", "NodeMetrics"]

# Finality latency: from admission to the block that finalized the transaction. The goal is
# p99 under 2 s at load, so the buckets are fine below 2 s and coarse above.
FINALITY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


class CpuParts:
    """CPU seconds this process spends on each part of its work (``meterchain_cpu_seconds
    {part}``), so the cost of a finalized transaction can be split into its execution and
    what the network adds around it (admission, consensus messages, gossip, commits).

    ``with parts.part("commit"): ...`` credits the CPU time of the block to ``commit``, less
    that of the parts nested in it (each second is counted once). A part must not span an
    ``await``: another task's parts would nest in it. CPU time, not elapsed time, so the
    figures do not depend on what else runs on the machine."""

    def __init__(self, counter: Counter, clock: Callable[[], float] = time.process_time) -> None:
        self._counter = counter
        self._clock = clock
        self._stack: list[list[float]] = []  # [start, CPU of the parts nested so far]
        self._names: list[str] = []
        self._collecting = False

    def part(self, name: str) -> CpuParts:
        self._names.append(name)
        return self

    def __enter__(self) -> None:
        self._stack.append([self._clock(), 0.0])

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        start, nested = self._stack.pop()
        name = self._names.pop()
        spent = self._clock() - start
        self._counter.labels(name).inc(spent - nested)
        if self._stack:
            self._stack[-1][1] += spent

    def collecting(self, phase: str, info: dict[str, int]) -> None:
        """A ``gc.callbacks`` entry: the cyclic garbage collector's pauses as their own part,
        ``gc``, out of whatever part they interrupted (a full collection walks every object
        the process holds, and strikes wherever an allocation tips it over)."""
        if phase == "start":
            self._collecting = True
            self.part("gc").__enter__()
        elif self._collecting:  # not a collection that began before this was installed
            self._collecting = False
            self.__exit__(None, None, None)


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

        self.cpu_seconds = Counter(
            "meterchain_cpu_seconds", "CPU seconds of this process by part of its work (nested parts apart)",
            ["part"], registry=r,
        )
        self.cpu = CpuParts(self.cpu_seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
