"""A development network of separate node processes on this machine.

``start_network`` starts ``python -m node.daemon --home H`` for every node home under a
directory (``node.testnet.write_network`` writes them), each in its own session with its
output in ``H/node.log``, writes ``DIR/devnet.json`` (each node's ``name``, ``role``,
``api``, ``home``, ``pid``) and waits until every node answers ``GET /v1/status``.
``stop_network`` stops what ``devnet.json`` lists: SIGTERM (a graceful stop), SIGKILL after
a deadline, only processes that are still that node's daemon. ``LiveView`` is the one-line
view of a running network: height, finalized transactions per second and finality p50/p99
(from the first validator's metrics, over the last interval), mempool, peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from node import pidfile
from node.config import CONFIG_FILE, load_config

DEVNET_FILE: Final = "devnet.json"
STOP_DEADLINE: Final = 15.0


class DevnetError(Exception):
    """The network cannot be started or stopped; the message says why."""


@dataclass(frozen=True, slots=True)
class RunningNode:
    name: str
    role: str
    api: str
    home: str
    pid: int


def node_homes(directory: Path) -> list[Path]:
    """The node homes under ``directory``: validators first, then regulators, by name."""
    homes = [p for p in sorted(directory.iterdir()) if (p / CONFIG_FILE).is_file()] if directory.is_dir() else []
    return sorted(homes, key=lambda p: (not p.name.startswith("validator"), len(p.name), p.name))


def read_devnet(directory: Path) -> list[RunningNode]:
    path = directory / DEVNET_FILE
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["nodes"]
        return [RunningNode(**entry) for entry in entries]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DevnetError(f"a devnet description at {path} expected, found {type(exc).__name__}: {exc}") from None


def read_chain_id(directory: Path) -> str:
    return str(json.loads((directory / DEVNET_FILE).read_text(encoding="utf-8"))["chain_id"])


def is_node_process(pid: int, home: str) -> bool:
    """Whether ``pid`` is alive (not a zombie) and is the daemon of ``home``: a pid the
    system gave to another program since is never signalled."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                _reap(pid)
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            arguments = cmdline.read().split(b"\0")
    except (OSError, IndexError):
        return False
    return b"node.daemon" in arguments and home.encode() in arguments


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: init reaps it


def start_network(directory: Path, python: str = sys.executable) -> list[RunningNode]:
    """Start every node home under ``directory``; write ``devnet.json``; return them."""
    homes = node_homes(directory)
    if not homes:
        raise DevnetError(f"node homes (meterchain init) in {directory} expected, found none")
    if (directory / DEVNET_FILE).exists():
        alive = [
            n.name for n in read_devnet(directory)
            if is_node_process(n.pid, n.home) or pidfile.running(Path(n.home)) is not None
        ]
        if alive:
            raise DevnetError(
                f"no running devnet in {directory} expected, found {', '.join(alive)} running (meterchain devnet down first)"
            )
    running: list[RunningNode] = []
    for home in homes:
        config = load_config(home)
        host, port = config.api_address()
        with (home / "node.log").open("ab") as log:
            process = subprocess.Popen(
                [python, "-m", "node.daemon", "--home", str(home.resolve())],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        running.append(RunningNode(config.name, config.role, f"http://{host}:{port}", str(home.resolve()), process.pid))
    description = {"chain_id": load_config(homes[0]).chain_id, "nodes": [asdict(n) for n in running]}
    (directory / DEVNET_FILE).write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    return running


async def wait_serving(nodes: Sequence[RunningNode], deadline: float = 60.0) -> None:
    """Until every node answers ``/v1/status``; ``DevnetError`` naming the first node that
    exited or did not answer in time, with the end of its log."""
    end = time.monotonic() + deadline
    pending = list(nodes)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while pending:
            node = pending[0]
            try:
                async with http.get(node.api + "/v1/status") as response:
                    if response.status == 200:
                        pending.pop(0)
                        continue
            except (aiohttp.ClientError, TimeoutError):
                pass
            if not is_node_process(node.pid, node.home) or time.monotonic() > end:
                log = Path(node.home) / "node.log"
                tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                raise DevnetError(f"node {node.name} serving at {node.api} expected, found it not answering:\n{tail}")
            await asyncio.sleep(0.2)


def stop_network(nodes: Sequence[RunningNode], deadline: float = STOP_DEADLINE) -> list[str]:
    """SIGTERM every node of the listed homes, SIGKILL what is left at the deadline; the
    names of the nodes that were running.

    A home's node is the process its ``node.pid`` names (so a node restarted by hand is
    found) or the pid ``devnet up`` started there, if that process still runs the home."""
    alive: list[tuple[RunningNode, int]] = []
    for node in nodes:
        pids = {pid for pid in (pidfile.running(Path(node.home)),) if pid is not None}
        if is_node_process(node.pid, node.home):
            pids.add(node.pid)
        alive.extend((node, pid) for pid in sorted(pids))
    for _, pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + deadline
    waiting = [pid for _, pid in alive]
    while waiting and time.monotonic() < end:
        waiting = [pid for pid in waiting if pidfile.start_time(pid) is not None]
        time.sleep(0.05)
    for pid in waiting:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _reap(pid)
    for _, pid in alive:
        _reap(pid)
    return sorted({node.name for node, _ in alive}, key=[n.name for n in nodes].index)


# --- the live line -----------------------------------------------------------------------


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def finality_buckets(text: str) -> dict[float, float]:
    """The finality histogram's cumulative buckets (upper bound in seconds -> count)."""
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "meterchain_finality_seconds":
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    buckets[float(sample.labels["le"])] = sample.value
    return buckets


def quantile(buckets: dict[float, float], q: float) -> float | None:
    """The upper bound of the bucket holding quantile ``q`` of cumulative ``buckets``
    (None without observations): what a histogram can say, an upper bound."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    target = q * buckets[bounds[-1]]
    return next(b for b in bounds if buckets[b] >= target)


@dataclass
class LiveView:
    """Height, finalized transactions per second (between two looks), mempool and peers."""

    nodes: Sequence[RunningNode]
    last_finalized: float | None = None
    last_time: float = 0.0
    last_buckets: dict[float, float] = field(default_factory=dict)

    async def line(self, http: aiohttp.ClientSession) -> str:
        statuses: list[dict[str, Any]] = []
        for node in self.nodes:
            try:
                async with http.get(node.api + "/v1/status") as response:
                    statuses.append(await response.json())
            except (aiohttp.ClientError, TimeoutError, ValueError):
                continue
        if not statuses:
            return "no node answers"
        first = next(n for n in self.nodes if n.role == "validator")
        finalized = None
        finality = ""
        try:
            async with http.get(first.api + "/metrics") as response:
                text = await response.text()
            finalized = _metric(text, "meterchain_finalized_transactions_total")
            buckets = finality_buckets(text)
            # Over the last interval only: the difference of two cumulative histograms.
            recent = {b: n - self.last_buckets.get(b, 0.0) for b, n in buckets.items()}
            self.last_buckets = buckets
            p50, p99 = quantile(recent, 0.5), quantile(recent, 0.99)
            if p50 is not None and p99 is not None:
                finality = f"  finality p50 <={p50:g}s p99 <={p99:g}s"
        except (aiohttp.ClientError, TimeoutError, ValueError):
            pass
        now = time.monotonic()
        rate = 0.0
        if finalized is not None and self.last_finalized is not None and now > self.last_time:
            rate = (finalized - self.last_finalized) / (now - self.last_time)
        if finalized is not None:
            self.last_finalized, self.last_time = finalized, now
        heights = [s["height"] for s in statuses]
        return (
            f"height {max(heights)} (lowest {min(heights)})  finalized {rate:.1f} tx/s{finality}  "
            f"mempool {max(s['mempool'] for s in statuses)}  peers {min(s['peers'] for s in statuses)}-"
            f"{max(s['peers'] for s in statuses)}  nodes up {len(statuses)}/{len(self.nodes)}"
        )
