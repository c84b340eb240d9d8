"""Network benchmark: 4 validators and a regulator as real processes on this machine, driven
by a batching client with the demonstration's households' signed meter readings.

Measures, in one run:

- finalized readings per second at saturation: the client keeps the validators' mempools
  full (several concurrent ``POST /v1/transactions`` batches, a bounded number in flight)
  and counts the readings in the blocks that validator-1 finalizes, as it observes them
  (height progress, not submissions);
- finality p50/p99 at 80 % of that rate (or ``--rate``): readings submitted open loop, in
  batches every 100 ms; a reading's latency is from just before its batch is posted to the
  moment validator-1's head shows the block holding it (the head is polled every 50 ms);
- the single-process cost c of one reading: after the nodes have stopped, validator-1's
  blocks are replayed in this process into a fresh LevelDB ``BlockStore`` (strict decode,
  ``apply_block`` with every signature verified and every reading executed by the billing
  contract, ``commit_block``), its heap settled as a node's daemon settles its own
  (``node.daemon.settle_heap``); c is the time of the reading blocks over their readings.

It prints L = cores / (nodes x c), the rate this machine could finalize if every core did
nothing but execute readings on every node (each of the 5 nodes executes each reading),
the ratio measured / L, and the goals (>= 1,000 readings/s; p99 < 2 s at 800/s; >= L / 2).
The machine may be shared: the load average is printed beside the figures. The regulator
runs at nice ``REGULATOR_NICE`` (``--regulator-nice 0``: at the validators' priority).

The saturation must not run out of readings, or its rate is only a lower bound: by default
it prepares ``--saturate`` seconds' worth at PREPARE_RATE readings/s (above what this machine
finalizes) plus ``--in-flight``; the run says whether they ran out and whether the client's
in-flight cap, rather than the nodes, held the submissions back.

Usage: python bench/bench_network.py [--meters 800] [--saturate 30] [--latency 15] [--rate R] [--in-flight 10000]

Every node process is killed at the end, on error and on Ctrl-C (``tests.network.harness``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import msgpack

ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the multi-process test harness lives in tests/, not a package

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from chain.hashing import Domain, hash_domain  # noqa: E402
from chain.transition import BlockEnv, apply_block  # noqa: E402
from chain.types import Block, Height, Nonce, Transaction  # noqa: E402
from meter_adapters.simulator import advance  # noqa: E402
from meterchain.demo import (  # noqa: E402
    DAY,
    Call,
    first_credit,
    household_reading,
    setup_steps,
)
from meterchain.households import TARIFF_LEAD, NetworkHouseholds  # noqa: E402
from node.blockstore import BlockStore  # noqa: E402
from node.daemon import settle_heap  # noqa: E402
from node.genesis import GENESIS_FILE, GenesisDocument  # noqa: E402
from node.storechain import open_store  # noqa: E402
from node.testnet import GOVERNANCE_KEY_FILE  # noqa: E402
from tests.network.harness import Network  # noqa: E402
from vm.runtime import VMRuntime  # noqa: E402
from wallet.reading_transactions import TxParams  # noqa: E402

VALIDATORS: Final = 4
REGULATORS: Final = 1
# A regulator decides nothing: it follows the chain a block behind and re-executes it, on its
# own machine in production. Here it shares the validators' two cores, and at the same
# priority it took a fifth of them in the middle of every height (its sync of the last block
# ran while the proposer built the next and the validators judged it). At nice 10 it runs on
# the CPU the validators leave (between a block's steps there is some on each core), and
# still keeps up: the benchmark waits until it has caught up and counts its CPU all the same.
REGULATOR_NICE: Final = 10
READING_STEP: Final = 1  # seconds between two readings of one meter (a reading per block at most)
NO_EXPIRY: Final = Height(2**40)  # readings made ahead must not expire while they wait
MAX_PER_SENDER: Final = 200  # calls of one sender per set-up step: the mempool holds 256 per sender
POLL: Final = 0.05
# Readings prepared per second of saturation (beyond the in-flight cap): more than these nodes
# finalize on this machine, so the prepared readings do not run out before the phase ends
# (1,500 ran out once the nodes finalized 1,490/s).
PREPARE_RATE: Final = 2500
TICK: Final = 0.1

GOAL_RATE: Final = 1000.0
GOAL_LATENCY_RATE: Final = 800.0
GOAL_P99: Final = 2.0


def say(text: str) -> None:
    print(text, flush=True)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the chain as validator-1 finalizes it ---------------------------------------------------


CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


TOTAL: Final = "total"
OTHER: Final = "other"


class NodeCPU:
    """CPU seconds (user + system, every thread) each node process has used so far, read
    from ``/proc/<pid>/stat`` (a figure that does not depend on what else shares the
    machine, unlike the wall-clock rate), and how the node split them among the parts of
    its work (``meterchain_cpu_seconds_total{part}`` in its ``/metrics``)."""

    def __init__(self, pids: dict[str, int], apis: dict[str, str]) -> None:
        self.pids = pids
        self.apis = apis

    @staticmethod
    def spent(
        first: dict[str, dict[str, float]], last: dict[str, dict[str, float]]
    ) -> dict[str, dict[str, float]]:
        """Per node, the seconds from sample ``first`` to sample ``last``: ``total``, each
        part's, and ``other`` (what no part holds)."""
        spent: dict[str, dict[str, float]] = {}
        for name in last.keys() & first.keys():
            parts = {part: last[name][part] - first[name].get(part, 0.0) for part in last[name]}
            parts[OTHER] = parts[TOTAL] - sum(s for part, s in parts.items() if part != TOTAL)
            spent[name] = parts
        return spent

    async def sample(self, http: aiohttp.ClientSession) -> dict[str, dict[str, float]]:
        """Per node: ``total`` and each part's seconds so far."""
        used: dict[str, dict[str, float]] = {}
        for name, pid in self.pids.items():
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    # The command name (field 2) may hold spaces: fields after its ')'.
                    fields = stat.read().rsplit(")", 1)[1].split()
                async with http.get(f"{self.apis[name]}/metrics") as response:
                    exposition = await response.text()
            except (OSError, aiohttp.ClientError, TimeoutError):
                continue
            parts = {TOTAL: (int(fields[11]) + int(fields[12])) / CLOCK_TICKS}  # utime, stime
            for family in text_string_to_metric_families(exposition):
                if family.name == "meterchain_cpu_seconds":
                    for sample in family.samples:
                        if sample.name.endswith("_total"):
                            parts[sample.labels["part"]] = sample.value
            used[name] = parts
        return used


@dataclass
class Finality:
    """Validator-1's head, polled: when each transaction was first seen final."""

    api: str
    height: int = 0
    errors: int = 0
    last_error: str = ""
    seen: dict[bytes, float] = field(default_factory=dict)  # tx hash -> monotonic time
    blocks: list[tuple[float, int, int]] = field(
        default_factory=list
    )  # (seen at, height, transactions)

    async def follow(self, http: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._poll(http)
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
                # A loaded node may answer late or not at all; the next poll catches up.
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(POLL)

    async def _poll(self, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{self.api}/v1/status") as response:
            head = int((await response.json())["height"])
        while self.height < head:
            async with http.get(
                f"{self.api}/v1/blocks", params={"from": self.height + 1, "count": 64}
            ) as response:
                batch = await response.json()
            now = time.monotonic()
            for raw in batch["blocks"]:
                hashes = transaction_hashes(bytes.fromhex(raw["block"]))
                for tx_hash in hashes:
                    self.seen.setdefault(tx_hash, now)
                self.blocks.append((now, raw["height"], len(hashes)))
                self.height = raw["height"]
            if not batch["blocks"]:
                return

    def rate_between(self, start: float, end: float) -> tuple[float, int]:
        """Transactions per second finalized over the blocks first seen in (start, end]:
        those after the first such block, over the time from its sighting to the last
        one's (whole block intervals only); and the transactions counted."""
        inside = [(t, n) for t, _, n in self.blocks if start < t <= end]
        if len(inside) < 2:
            return 0.0, 0
        count = sum(n for _, n in inside[1:])
        return count / (inside[-1][0] - inside[0][0]), count


def transaction_hashes(block: bytes) -> list[bytes]:
    """The hashes of a finalized block's transactions: each one's canonical bytes sliced out of
    the block's (``[header, [tx, ...], last_commit]``) and hashed, without building the block
    (a full ``Block.decode`` of every block was half of this client's CPU, on the cores the
    nodes share)."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=len(block))
    unpacker.feed(block)
    unpacker.read_array_header()
    unpacker.skip()  # the header
    hashes = []
    for _ in range(unpacker.read_array_header()):
        start = unpacker.tell()
        unpacker.skip()
        hashes.append(hash_domain(Domain.TRANSACTION, block[start : unpacker.tell()]))
    return hashes


# --- the households' readings ------------------------------------------------------------------


def setup_calls(households: NetworkHouseholds) -> list[list[Call]]:
    """The demonstration's set-up (``meterchain.demo.setup_steps`` and ``first_credit``), each
    step split so that no sender has more calls in flight than the mempool keeps for one
    sender. Building it reads every meter's first telegram (its opening index)."""
    now = lambda: int(households.now())  # noqa: E731
    home, staff = households.homes, households.staff
    steps = list(
        setup_steps(households.governance, staff, home, now, TARIFF_LEAD, now() + 30 * DAY)
    )
    steps.append(first_credit(staff, home))
    chunked: list[list[Call]] = []
    for step in steps:
        counts: dict[bytes, int] = {}
        chunked.append([])
        for call in step:
            key = call[0].public_key
            counts[key] = counts.get(key, 0) + 1
            if counts[key] > MAX_PER_SENDER:
                chunked.append([])
                counts = {key: 1}
            chunked[-1].append(call)
    return [chunk for chunk in chunked if chunk]


class Readings:
    """The households' signed readings, made ahead of their submission (the wallet's work,
    telegram parsing and signing, is the client's and must not compete with the nodes
    while they are measured). Each consumer's nonces follow its set-up calls; a reading
    is READING_STEP seconds after the meter's last one and not later than ``present``."""

    def __init__(self, households: NetworkHouseholds, setup: list[list[Call]]) -> None:
        self.households = households
        self.nonces = {h.consumer.public_key: 0 for h in households.homes}
        for step in setup:
            for actor, *_ in step:
                if actor.public_key in self.nonces:
                    self.nonces[actor.public_key] += 1

    def release(self, unsent: list[Transaction]) -> None:
        """Give back the nonces of readings made but never sent (each sender's last ones)."""
        for tx in unsent:
            self.nonces[tx.sender] = min(self.nonces[tx.sender], tx.nonce)

    def make(self, count: int) -> list[list[Transaction]]:
        """``count`` readings in a lane per validator (household i reads through validator
        i mod 4, so one sender's nonces reach one mempool in order), round after round:
        every household's next reading in turn. A reading may be neither before its
        meter's subscription nor after its block: the meters read up to two seconds ago,
        and this waits for the clock when they are all there."""
        lanes: list[list[Transaction]] = [[] for _ in range(VALIDATORS)]
        made = 0
        while made < count:
            present = int(self.households.now()) - 2
            progressed = False
            for index, home in enumerate(self.households.homes):
                if made >= count or home.meter.time + READING_STEP > present:
                    continue
                home.meter = advance(home.meter, READING_STEP)
                key = home.consumer.public_key
                params = TxParams(
                    self.households.chain_id, home.consumer.seed, Nonce(self.nonces[key]), NO_EXPIRY
                )
                self.nonces[key] += 1
                tx = household_reading(home, params)[0]
                tx.encode()  # the wallet's encoding, made with its signature, not while submitting
                lanes[index % VALIDATORS].append(tx)
                made += 1
                progressed = True
            if not progressed:
                time.sleep(0.2)
        return lanes


@dataclass
class Submissions:
    sent: dict[bytes, float] = field(default_factory=dict)  # hash -> monotonic time of its post
    refused: int = 0
    reasons: list[str] = field(default_factory=list)

    async def post(self, http: aiohttp.ClientSession, api: str, txs: list[Transaction]) -> None:
        body = {"transactions": [tx.encode().hex() for tx in txs]}
        started = time.monotonic()
        async with http.post(f"{api}/v1/transactions", json=body) as response:
            answer = await response.json()
        if response.status != 200:
            raise RuntimeError(
                f"a batch answered one by one expected, found {response.status}: {answer}"
            )
        for tx, result in zip(txs, answer["results"], strict=True):
            if result["accepted"]:
                self.sent[tx.hash] = started
            else:
                self.refused += 1
                if len(self.reasons) < 5:
                    self.reasons.append(f"{result['reason']}: {result['message']}")


# --- the phases ------------------------------------------------------------------------------


@dataclass
class Saturation:
    rate: float  # finalized readings per second in the measured window
    count: int  # readings finalized in it
    sent: Submissions
    unsent: list[Transaction]  # prepared, never sent (their nonces are given back)
    ran_out: bool  # a lane's prepared readings were all sent before the end: the rate is a lower bound
    capped: float  # share of the phase the workers waited on the in-flight cap (the client's limit)


async def saturate(
    http: aiohttp.ClientSession,
    apis: list[str],
    lanes: list[list[Transaction]],
    finality: Finality,
    seconds: float,
    batch: int,
    concurrency: int,
    in_flight: int,
) -> Saturation:
    """Keep the validators busy for ``seconds``; finalized readings per second over the
    blocks seen after the first quarter (the pipeline filled), and the readings never sent."""
    submissions = Submissions()
    waited = [0.0]  # worker-seconds spent waiting on the in-flight cap
    start = time.monotonic()
    end = start + seconds
    cursors = [0] * len(lanes)

    counted = [-1, 0]  # (validator-1's height, readings sent and final then)

    def final_count() -> int:
        # Readings become final only with a new block: counted again once per block, not
        # at every look of every worker (a walk over all the sent readings each time cost
        # this client more CPU per reading than a node's commit).
        if counted[0] != finality.height:
            counted[:] = [finality.height, sum(1 for h in submissions.sent if h in finality.seen)]
        return counted[1]

    async def worker(lane: int) -> None:
        while time.monotonic() < end and cursors[lane] < len(lanes[lane]):
            if len(submissions.sent) - final_count() > in_flight:
                await asyncio.sleep(POLL)
                waited[0] += POLL
                continue
            part = lanes[lane][cursors[lane] : cursors[lane] + batch]
            cursors[lane] += len(part)
            await submissions.post(http, apis[lane], part)

    await asyncio.gather(*(worker(lane) for lane in range(len(lanes)) for _ in range(concurrency)))
    while time.monotonic() < end:
        await asyncio.sleep(POLL)
    exhausted = any(cursors[lane] >= len(lanes[lane]) for lane in range(len(lanes)))
    window_end = time.monotonic()
    rate, count = finality.rate_between(start + seconds / 4, window_end)
    if count == 0:
        # Fewer than two blocks after the warm-up (large blocks on a busy machine): every
        # reading of the phase, over the time from the phase's start to its last one's block.
        drain_end = time.monotonic() + 120.0
        while time.monotonic() < drain_end and any(
            h not in finality.seen for h in submissions.sent
        ):
            await asyncio.sleep(POLL)
        seen = [finality.seen[h] for h in submissions.sent if h in finality.seen]
        count = len(seen)
        rate = count / (max(seen) - start) if seen else 0.0
        say(
            "  note: fewer than two blocks after the warm-up; the rate is over the whole phase, its fill and drain included"
        )
    sizes = [n for t, _, n in finality.blocks if t > start]
    say(f"  {len(sizes)} blocks seen, {sum(sizes)} transactions, largest {max(sizes, default=0)}")
    workers = len(lanes) * concurrency
    capped = waited[0] / (workers * seconds)
    say(f"  readings ran out: {'YES, the rate is a lower bound (raise --saturate-readings)' if exhausted else 'no'}; "
        f"workers waited on the in-flight cap ({in_flight}) {capped:.0%} of the phase")
    unsent = [tx for lane, cursor in zip(lanes, cursors, strict=True) for tx in lane[cursor:]]
    return Saturation(rate, count, submissions, unsent, exhausted, capped)


async def steady(
    http: aiohttp.ClientSession,
    apis: list[str],
    lanes: list[list[Transaction]],
    finality: Finality,
    seconds: float,
    rate: float,
) -> tuple[list[float], int, Submissions]:
    """Submit at ``rate`` readings per second (a batch per validator every TICK) for
    ``seconds``, then wait for them; the finality latencies of those submitted after the
    first few seconds, and how many of them never became final."""
    submissions = Submissions()
    start = time.monotonic()
    cursors = [0.0] * len(lanes)
    per_lane = rate * TICK / len(lanes)
    tick = 0
    posts: list[asyncio.Task[None]] = []
    while time.monotonic() < start + seconds:
        for lane in range(len(lanes)):
            first = int(cursors[lane])
            cursors[lane] += per_lane
            part = lanes[lane][first : int(cursors[lane])]
            if part:
                posts.append(asyncio.create_task(submissions.post(http, apis[lane], part)))
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * TICK - time.monotonic()))
    await asyncio.gather(*posts)
    warm = start + min(3.0, seconds / 4)
    measured = {h: t for h, t in submissions.sent.items() if t >= warm}
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and any(h not in finality.seen for h in measured):
        await asyncio.sleep(POLL)
    latencies = [finality.seen[h] - t for h, t in measured.items() if h in finality.seen]
    return latencies, len(measured) - len(latencies), submissions


async def network_caught_up(
    http: aiohttp.ClientSession, apis: list[str], height: int, deadline: float = 60.0
) -> None:
    end = time.monotonic() + deadline
    for api in apis:
        while time.monotonic() < end:
            async with http.get(f"{api}/v1/status") as response:
                if int((await response.json())["height"]) >= height:
                    break
            await asyncio.sleep(POLL)


async def wait_drained(
    http: aiohttp.ClientSession, apis: list[str], deadline: float = 120.0
) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        pending = 0
        for api in apis:
            async with http.get(f"{api}/v1/status") as response:
                pending += int((await response.json())["mempool"])
        if pending == 0:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(
        f"empty mempools within {deadline:.0f} s expected, found transactions still pending"
    )


# --- the single-process cost of one reading ------------------------------------------------------


@dataclass
class Replay:
    seconds_per_reading: float  # CPU time of this process (every thread, LevelDB's included)
    wall_per_reading: float  # elapsed: more than the CPU time on a machine other work shares
    readings: int
    failed: int
    reasons: list[str]


def is_reading(tx: Transaction) -> bool:
    return isinstance(tx.payload, list) and tx.payload[:2] == ["billing", "submit_reading"]


def replay_cost(source_home: Path, workdir: Path) -> Replay:
    """Replay validator-1's finalized blocks into a fresh LevelDB store in this process:
    strict decode, ``apply_block`` (every signature verified, every call executed) and
    ``commit_block`` (one synced LevelDB batch), as a node does for a block. The figure is
    the time of the blocks made only of readings over their readings."""
    genesis = GenesisDocument.load(source_home / GENESIS_FILE)
    validators = genesis.validator_set()
    source = BlockStore.open(str(source_home / "data" / "db"))
    target = open_store(workdir / "replay-db", genesis)
    runtime = VMRuntime()
    settle_heap()  # as the node's daemon does once it has loaded its chain
    result = Replay(0.0, 0.0, 0, 0, [])
    elapsed = cpu = 0.0
    try:
        for height in range(1, source.head().height + 1):
            block = source.block(height)
            certificate = source.certificate(height)
            assert block is not None and certificate is not None
            raw = block.encode()
            parent = target.head_header()
            env = BlockEnv(
                genesis.chain_id,
                parent,
                validators.hash,
                runtime,
                next_validator_set_hash=validators.hash,
            )
            started, started_cpu = time.perf_counter(), time.process_time()
            decoded = Block.decode(raw)
            state, receipts = apply_block(target.state(), decoded, env)
            target.commit_block(decoded, receipts, certificate, state)
            took, took_cpu = time.perf_counter() - started, time.process_time() - started_cpu
            if decoded.transactions and all(is_reading(tx) for tx in decoded.transactions):
                elapsed += took
                cpu += took_cpu
                result.readings += len(receipts)
                for receipt in receipts:
                    if not receipt.ok:
                        result.failed += 1
                        if len(result.reasons) < 3 and receipt.error not in result.reasons:
                            result.reasons.append(receipt.error)
    finally:
        source.close()
        target.close()
    result.seconds_per_reading = cpu / result.readings if result.readings else float("nan")
    result.wall_per_reading = elapsed / result.readings if result.readings else float("nan")
    return result


# --- the run --------------------------------------------------------------------------------------


def print_cpu(cpu: dict[str, dict[str, float]], count: int, cost: float) -> None:
    """CPU per finalized reading per node beside c, and each node's split by part."""
    per_node = sum(parts[TOTAL] for parts in cpu.values()) / len(cpu) / count
    print(
        f"CPU per finalized reading per node     {per_node * 1e6:,.0f} µs = {per_node / cost:.2f} c "
        f"(over the {count} readings of the saturation phase, from its start until they were final)"
    )
    print("  (a regulator's block sync is its 'other'; parts nest, each second counted once)")
    names = sorted(cpu)
    parts = sorted(
        {part for spent in cpu.values() for part in spent if part not in (TOTAL, OTHER)},
        key=lambda part: -sum(spent.get(part, 0.0) for spent in cpu.values()),
    )
    print("  µs per reading by part  " + "".join(f"{name:>13}" for name in names))
    for part in [*parts, OTHER, TOTAL]:
        print(
            f"  {part:<23}"
            + "".join(f"{cpu[name].get(part, 0.0) / count * 1e6:>13,.0f}" for name in names)
        )


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


async def drive(network: Network, chain_id: str, args: argparse.Namespace) -> dict[str, Any]:
    validators = [h for h in network.homes.values() if h.role == "validator"]
    apis = [h.api_url for h in validators]
    seed = bytes.fromhex((network.directory / GOVERNANCE_KEY_FILE).read_text().strip())
    households = NetworkHouseholds(
        apis, chain_id, seed, args.meters, say=lambda text: say("  " + text)
    )
    pids = {
        name: network.processes.processes[home.home].pid for name, home in network.homes.items()
    }
    apis_by_name = {name: home.api_url for name, home in network.homes.items()}
    node_cpu = NodeCPU(pids, apis_by_name)
    finality = Finality(validators[0].api_url)
    stop = asyncio.Event()
    results: dict[str, Any] = {}
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=aiohttp.TCPConnector(limit=64)
    ) as http:
        follower = asyncio.create_task(finality.follow(http, stop))
        try:
            setup = setup_calls(households)
            made = Readings(households, setup)

            async def prepare(count: int) -> list[list[Transaction]]:
                started = time.monotonic()
                lanes = await asyncio.to_thread(made.make, count)
                say(
                    f"  prepared {sum(map(len, lanes))} signed readings in {time.monotonic() - started:.1f} s "
                    "(telegram parsed, signed)"
                )
                return lanes

            started = time.monotonic()
            for chunk in setup:
                await households.run_step(http, chunk, deadline=120.0)
            took = time.monotonic() - started
            say(f"  utility set up, {args.meters} meters subscribed in {took:.0f} s")
            # A meter's readings must follow its subscription: they are made from now on.
            for home in households.homes:
                home.meter = advance(home.meter, max(0, int(households.now()) - home.meter.time))
            wanted = args.saturate_readings or int(args.saturate * PREPARE_RATE) + args.in_flight
            lanes = await prepare(wanted)
            say(
                f"saturation: {args.saturate:.0f} s, batches of {args.batch}, {args.concurrency} per validator"
            )
            cpu_before = await node_cpu.sample(http)
            client_before = time.process_time()
            saturation = await saturate(
                http,
                apis,
                lanes,
                finality,
                args.saturate,
                args.batch,
                args.concurrency,
                args.in_flight,
            )
            # Readings made but never sent leave their senders' nonces unused: the next ones
            # must take them (else every later reading of those meters waits for a gap that
            # never fills, and counts as never final).
            made.release(saturation.unsent)
            rate, count, sent = saturation.rate, saturation.count, saturation.sent
            results.update(
                saturation=rate, saturation_count=count, saturation_refused=sent.refused,
                ran_out=saturation.ran_out, capped=saturation.capped,
            )
            say(
                f"  {count} readings finalized in the measured window: {rate:,.0f} readings/s ({load_average()})"
            )
            if sent.refused:
                say(f"  refused at admission: {sent.refused} (e.g. {sent.reasons[:2]})")
            await wait_drained(http, apis)
            # The nodes' CPU over the whole phase, its fill and drain included: from its start
            # to the sighting of its last reading's block (idle nodes spend next to nothing),
            # over every reading of the phase, so no block boundary skews the figure.
            final = [finality.seen[h] for h in sent.sent if h in finality.seen]
            while len(final) < len(sent.sent) and time.monotonic() < max(final, default=0) + 10:
                await asyncio.sleep(POLL)
                final = [finality.seen[h] for h in sent.sent if h in finality.seen]
            # The regulator follows by block sync, a block or two behind: its work on the
            # phase's last blocks belongs to the phase.
            await network_caught_up(http, list(apis_by_name.values()), finality.height)
            results["cpu"] = NodeCPU.spent(cpu_before, await node_cpu.sample(http))
            results["cpu_readings"] = len(final)
            results["client_cpu"] = time.process_time() - client_before

            target = args.rate or 0.8 * rate
            if target <= 0:
                raise RuntimeError(
                    "no reading became final during the saturation: no rate to measure finality at"
                )
            results["latency_rate"] = target
            lanes = await prepare(int(target * args.latency * 1.05) + VALIDATORS)
            say(f"finality at {target:,.0f} readings/s for {args.latency:.0f} s")
            latencies, missing, sent = await steady(
                http, apis, lanes, finality, args.latency, target
            )
            results.update(latencies=latencies, missing=missing, latency_refused=sent.refused)
            if latencies:
                say(
                    f"  final ones only: p50 {percentile(latencies, 0.5):.2f} s, p99 {percentile(latencies, 0.99):.2f} s "
                    f"over {len(latencies)} readings ({load_average()})"
                )
            if missing:
                say(f"  {missing} readings not final within 30 s after the phase")
            if finality.errors:
                say(
                    f"  the head's poll failed {finality.errors} times (last: {finality.last_error})"
                )
            if sent.refused:
                say(f"  refused at admission: {sent.refused} (e.g. {sent.reasons[:2]})")
        finally:
            stop.set()
            await follower
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--meters", type=int, default=800, help="households (meters), each one sender"
    )
    parser.add_argument("--saturate", type=float, default=30.0, help="seconds of saturation")
    parser.add_argument(
        "--latency", type=float, default=15.0, help="seconds of steady load for finality"
    )
    parser.add_argument(
        "--rate", type=float, default=None, help="steady rate (default 80 %% of saturation)"
    )
    parser.add_argument(
        "--saturate-readings", type=int, default=None,
        help=f"readings prepared for saturation (default: --saturate x {PREPARE_RATE} + --in-flight)",
    )
    parser.add_argument("--batch", type=int, default=250, help="transactions per POST")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="concurrent batches per validator"
    )
    parser.add_argument(
        "--in-flight", type=int, default=10_000,
        help="submitted but not yet final, at most (the rate is at most this over the finality time; "
        "the nodes' mempools hold 20,000)",
    )
    parser.add_argument(
        "--regulator-nice", type=int, default=REGULATOR_NICE,
        help="scheduling niceness of the regulators' processes (0: as the validators; "
        f"default {REGULATOR_NICE}: see REGULATOR_NICE)",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the nodes' homes (logs, stores) in this new directory"
    )
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    nodes = VALIDATORS + REGULATORS
    say(
        f"meterchain network benchmark: {VALIDATORS} validators + {REGULATORS} regulator, {args.meters} meters; {load_average()}"
    )
    with contextlib.ExitStack() as scope:
        if args.keep is None:
            tmp = scope.enter_context(tempfile.TemporaryDirectory(prefix="bench-network-"))
        else:
            args.keep.mkdir(parents=True)
            tmp = str(args.keep)
        network = Network(Path(tmp))
        try:
            network.write(
                VALIDATORS, REGULATORS, consensus=""
            )  # the nodes' default consensus timing
            network.start()
            if args.regulator_nice:
                for home in network.homes.values():
                    if home.role == "regulator":
                        pid = network.processes.processes[home.home].pid
                        os.setpriority(os.PRIO_PROCESS, pid, args.regulator_nice)
                say(f"  regulators run at nice {args.regulator_nice}")
            network.wait_all(lambda s: s["height"] >= 1 and s["peers"] >= 1, deadline=90.0)
            chain_id = network.status("validator-1")["chain_id"]
            results = asyncio.run(drive(network, chain_id, args))
        finally:
            network.kill_all()
        say(
            "single-process cost c: validator-1's blocks replayed here (decode, verify, execute, LevelDB commit), CPU time"
        )
        validator_home = network.homes["validator-1"].home
        replay = replay_cost(validator_home, Path(tmp))
        cost = replay.seconds_per_reading
        say(
            f"  c = {cost * 1e6:,.0f} µs CPU per reading ({replay.wall_per_reading * 1e6:,.0f} µs elapsed) "
            f"over {replay.readings} readings "
            f"({replay.failed} failed receipts{': ' + '; '.join(replay.reasons) if replay.reasons else ''}); "
            f"{load_average()}"
        )

    limit = cores / (nodes * cost)
    rate = results["saturation"]
    # A reading that never became final counts as slower than any that did.
    latencies: list[float] = results.get("latencies", []) + [float("inf")] * results.get(
        "missing", 0
    )
    p99 = percentile(latencies, 0.99) if latencies else float("inf")
    print()
    print(f"finalized readings/s at saturation     {rate:,.0f}")
    if latencies:
        print(
            f"finality at {results['latency_rate']:,.0f}/s                   p50 {percentile(latencies, 0.5):.2f} s, p99 {p99:.2f} s"
        )
    print(f"c (one reading, one process, CPU)      {cost * 1e6:,.0f} µs")
    print(
        f"L = cores / (nodes x c)                {cores} / ({nodes} x {cost * 1e6:,.0f} µs) = {limit:,.0f} readings/s"
    )
    print(f"measured / L                           {rate / limit:.2f}")
    cpu: dict[str, dict[str, float]] = results.get("cpu", {})
    count = results.get("cpu_readings", 0)
    if cpu and count:
        print_cpu(cpu, count, cost)
        print(
            f"  and this client (submissions, head polls; it shares the cores): "
            f"{results['client_cpu'] / count * 1e6:,.0f} µs per reading"
        )
    print(
        f"prepared readings ran out                {'YES: the rate is a lower bound' if results['ran_out'] else 'no'} "
        f"(the client waited on its in-flight cap {results['capped']:.0%} of the phase)"
    )
    print(
        f"goal >= {GOAL_RATE:,.0f} finalized readings/s:     {verdict(rate >= GOAL_RATE)}"
        + (" (a lower bound: the readings ran out)" if results["ran_out"] and rate < GOAL_RATE else "")
    )
    at_goal_rate = results["latency_rate"] >= GOAL_LATENCY_RATE
    print(
        f"goal p99 < {GOAL_P99:.0f} s at {GOAL_LATENCY_RATE:,.0f}/s:            {verdict(at_goal_rate and p99 < GOAL_P99)}"
        + ("" if at_goal_rate else f" (measured at {results['latency_rate']:,.0f}/s only)")
    )
    print(f"goal >= L / 2:                          {verdict(rate >= limit / 2)}")
    print(load_average())


if __name__ == "__main__":
    main()
