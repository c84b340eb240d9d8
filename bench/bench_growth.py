"""State growth over a year of readings, through the real transition and the LevelDB store.

A utility with 10,000 x --scale postpaid meters (default 0.02: 200 meters, so that `make
bench` runs it in minutes; --scale 1 is the 10,000 of issue 11), each with its subscriber and a
tariff; the collector reads a subset hourly (--hourly, default 10 %) and the rest daily
(spread over the hours of the day), in batches of 100 readings per transaction and one
block per simulated hour, for --days days (365). Every block goes through ``propose_block``
(the VM, the billing contract, the Merkle state) and ``BlockStore.commit_block`` (one
synced LevelDB batch with the block, receipts, indexes and the history index).

Two stores take the same blocks: an archive (every tree node of every root, every block
kept) and a pruned validator (``[storage] keep_heights``, --keep, default 168: a week of
hourly blocks; node.pruning; and ``keep_blocks``, --keep-blocks, default 336: the bodies and
receipts of two weeks, node.bodies). The archive store beside it is the pruned one's
archive: it holds every block as soon as it is committed, so the pruned store is told so
(``confirm_archived``) before each commit, as ``node.archives`` would after asking it.
Printed at the start of the year (after set-up and the first day of readings) and at the
end of each month, for both: tree nodes, the state's bytes (its live LevelDB entries:
values, nodes, journals) and the whole store's, per meter and per reading so far, split into
state, bodies (blocks and receipts), headers and certificates (kept for every height) and
indexes (transactions, history); state keys; and the cost of a write in that month:
milliseconds of transition + commit per reading (the pruned store's commit includes its
pruning and drops) and new tree nodes per reading. The certificate stored with each block
is a placeholder of a four-validator certificate's size (442 bytes): no consensus runs here.

    .venv/bin/python bench/bench_growth.py [--scale 0.02] [--days 365] [--hourly 0.1] [--keep 168] [--keep-blocks 336] [--dir DIR]

The time of a write depends on the machine's load; the new tree nodes per reading do not.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.signatures import keypair_from_seed, sign_transaction
from chain.state import State
from chain.transition import BlockEnv, get_nonce, propose_block
from chain.types import KIND_CALL, Gas, Height, Nonce, PublicKey, Signature, Timestamp, Transaction
from node.blockstore import BlockStore
from node.genesis import GenesisDocument, GenesisValidator
from node.history import READING_PREFIX
from node.statedb import NODE_PREFIX, VALUE_PREFIX
from node.storechain import open_store
from vm.runtime import VMRuntime

START = 1_735_689_600  # 2025-01-01T00:00:00Z
HOUR, DAY = 3_600, 86_400
MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
UTILITY, FIELD = "ELEC", "ELEC/B1/F1"
TARIFF = {"standing_charge_per_day": 100, "tiers": [[10_000, 200_000], [None, 300_000]], "tax_bp": 2000}
PER_TX = 100  # readings per collector transaction
SETUP_PER_BLOCK = 400
CERTIFICATE = bytes(442)  # the size of a commit certificate signed by four validators
# Where the whole store's bytes go, by key prefix (docs/storage.md, "LevelDB key layout").
PARTS = {"state": (b"s:",), "bodies": (b"b:blk:", b"b:rcpt:"), "headers": (b"b:hdr:", b"b:cert:", b"b:hash:"),
         "indexes": (b"t:", b"h:")}


@dataclass
class Actor:
    seed: bytes
    public_key: PublicKey

    @classmethod
    def named(cls, name: str) -> Actor:
        seed = hashlib.sha256(b"bench-growth:" + name.encode()).digest()
        return cls(seed, keypair_from_seed(seed)[1])


class Chain:
    """Blocks through the real transition into a LevelDB ``BlockStore``."""

    def __init__(self, path: Path, governance: Actor, keep_heights: int, keep_blocks: int) -> None:
        self.doc = GenesisDocument(
            chain_id="meterchain-growth", time=START, governance=governance.public_key.hex(),
            validators=[GenesisValidator(name="v1", public_key=Actor.named("validator-1").public_key.hex(), power=1)],
        )
        self.store: BlockStore = open_store(path / "archive", self.doc)
        self.pruned: BlockStore = open_store(path / "pruned", self.doc, keep_heights=keep_heights, keep_blocks=keep_blocks)
        self.validators = self.doc.validator_set()
        self.runtime = VMRuntime()
        self.nonces: dict[bytes, int] = {}
        self.seconds = 0.0  # transition + the archive's commit, since the last take
        self.pruned_seconds = 0.0  # transition + the pruned store's commit
        self.new_nodes = 0

    def tx(self, actor: Actor, contract: str, function: str, args: list[Any]) -> Transaction:
        key = actor.public_key
        nonce = self.nonces.get(key)
        if nonce is None:
            nonce = get_nonce(self.store.state(), key)
        self.nonces[key] = nonce + 1
        unsigned = Transaction(self.doc.chain_id, key, Nonce(nonce), Height(self.store.head().height + 50),
                               Gas(5_000_000), KIND_CALL, [contract, function, list(args)], Signature(bytes(64)))
        return sign_transaction(unsigned, actor.seed)

    def block(self, txs: list[Transaction], at: int) -> None:
        parent = self.store.head_header()
        env = BlockEnv(self.doc.chain_id, parent, self.validators.hash, self.runtime,
                       last_commit=self.store.certificate(parent.height) or b"")
        began = time.perf_counter()
        block, state, receipts = propose_block(self.store.state(), tuple(txs), Timestamp(at),
                                               self.validators.proposer, env)
        changes = state.changes()
        transition = time.perf_counter() - began
        # No consensus here: the certificate is a placeholder; its bytes are not read back.
        self.store.commit_block(block, receipts, CERTIFICATE, state)
        self.seconds += time.perf_counter() - began
        self.new_nodes += len(changes.nodes)
        # The same writes on the pruned store: its root is recomputed over its own nodes
        # (not timed: the transition above already paid for it), then committed and pruned.
        view = State.at(self.pruned.state_backend).with_writes(state.pending())
        if view.root != block.header.state_root:
            raise RuntimeError(f"the pruned store's root {view.root.hex()} differs from the block's")
        self.pruned.confirm_archived(self.store.head().height)  # its archive holds every block
        began = time.perf_counter()
        self.pruned.commit_block(block, receipts, CERTIFICATE, view)
        self.pruned_seconds += transition + time.perf_counter() - began
        if len(block.transactions) != len(txs) or not all(r.ok for r in receipts):
            failed = [r.error for r in receipts if not r.ok][:3]
            raise RuntimeError(f"{len(txs)} successful transactions expected, found {len(block.transactions)}: {failed}")


def count(db: Any, prefix: bytes) -> int:
    n = 0
    with db.iterator(prefix=prefix, include_value=False) as it:
        for _ in it:
            n += 1
    return n


def live_bytes(db: Any, prefix: bytes = b"") -> int:
    """The bytes of the live entries under ``prefix`` (keys and values; ``s:``: the state's
    latest values, tree nodes and journals). LevelDB's files also hold dead entries until a
    compaction reaches their level (a manual full compaction of a small store leaves
    some), so this is what the store needs, not a file size."""
    total = 0
    with db.iterator(prefix=prefix) as entries:
        for key, value in entries:
            total += len(key) + len(value)
    return total


def parts(db: Any) -> dict[str, int]:
    """The live bytes of each part of the store (``PARTS``) and of all of it (``whole``)."""
    out = dict.fromkeys([*PARTS, "whole"], 0)
    owner = {prefix: part for part, prefixes in PARTS.items() for prefix in prefixes}
    with db.iterator() as entries:
        for key, value in entries:
            size = len(key) + len(value)
            out["whole"] += size
            for prefix, part in owner.items():
                if key.startswith(prefix):
                    out[part] += size
                    break
    return out


def mib(n: int) -> str:
    return f"{n / 2**20:.1f}"


def set_up(chain: Chain, gov: Actor, admin: Actor, collector: Actor, meters: list[str], consumers: list[Actor]) -> int:
    t = START + 60
    chain.block([chain.tx(gov, "registry", "register_utility",
                          [UTILITY, "Electric", "electricity", "EUR", "auto", admin.public_key])], t)
    calls: list[tuple[str, str, list[Any]]] = [("registry", "register_branch", ["ELEC/B1", "Centre", "here"]),
             ("registry", "register_field", [FIELD, "Old town", "there"]),
             ("registry", "grant_role", [collector.public_key, UTILITY, "collector"]),
             ("registry", "grant_role", [admin.public_key, UTILITY, "operator"]),
             ("billing", "set_tariff", [UTILITY, "RES", TARIFF, t + 120])]
    chain.block([chain.tx(admin, c, f, a) for c, f, a in calls], t + 60)
    t += 180
    steps = [
        [chain.tx(admin, "registry", "register_meter", [m, FIELD, f"premises {m}", 1, 9, 20_000, 0, b"",
                                                        collector.public_key]) for m in meters],
        [chain.tx(admin, "registry", "activate_meter", [m]) for m in meters],
        [chain.tx(admin, "billing", "assign_tariff", [m, "RES"]) for m in meters],
        [chain.tx(c, "registry", "subscribe", [m, "postpaid", b""]) for m, c in zip(meters, consumers, strict=True)],
    ]
    for txs in steps:
        for i in range(0, len(txs), SETUP_PER_BLOCK):
            t += 10
            chain.block(txs[i:i + SETUP_PER_BLOCK], t)
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.02, help="meters = 10,000 x scale (1.0: the 10,000 of issue 11)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--hourly", type=float, default=0.1, help="share of meters read hourly")
    parser.add_argument("--keep", type=int, default=168, help="the pruned store's window in heights (168: a week)")
    parser.add_argument("--keep-blocks", type=int, default=336, help="the pruned store's bodies window (336: two weeks)")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the store (default: a temp dir)")
    args = parser.parse_args()
    n_meters = max(2, round(10_000 * args.scale))
    n_hourly = max(1, round(n_meters * args.hourly))
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="bench-growth-"))
    path = workdir / "db"
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    gov, admin, collector = Actor.named("governance"), Actor.named("admin"), Actor.named("collector")
    meters = [f"M{i:07d}" for i in range(n_meters)]
    consumers = [Actor.named(f"consumer-{i}") for i in range(n_meters)]
    print(f"{n_meters} meters: {n_hourly} read hourly, {n_meters - n_hourly} daily; {args.days} days; "
          f"stores in {path}: an archive and a store pruned to {args.keep} heights' state and {args.keep_blocks} "
          "heights' bodies")
    chain = Chain(path, gov, args.keep, args.keep_blocks)
    began = time.perf_counter()
    t0 = set_up(chain, gov, admin, collector, meters, consumers)
    print(f"set-up: {chain.store.head().height} blocks in {time.perf_counter() - began:.1f} s")
    index = dict.fromkeys(meters, 0)
    readings = 0
    rows = []

    def checkpoint(label: str, month_readings: int) -> None:
        figures = []
        for store in (chain.store, chain.pruned):
            figures.append((count(store.db, NODE_PREFIX), parts(store.db)))
        db = chain.store.db
        keys, history = count(db, VALUE_PREFIX), count(db, READING_PREFIX)
        ms = 1000 * chain.seconds / max(1, month_readings)
        pruned_ms = 1000 * chain.pruned_seconds / max(1, month_readings)
        per_node = chain.new_nodes / max(1, month_readings)
        rows.append((label, readings, keys, figures, history, ms, pruned_ms, per_node, chain.store.head().height))
        per = max(1, readings)
        print(f"{label:>9} {readings:>10,} readings, height {chain.store.head().height:,} | state keys {keys:>7,} "
              f"({keys / n_meters:5.2f}/meter) | history {history:>9,} | write {ms:6.3f} ms archive, {pruned_ms:6.3f} "
              f"ms pruned, {per_node:5.2f} new nodes/reading", flush=True)
        for name, (nodes, sizes) in zip(("archive", "pruned"), figures, strict=True):
            state, disk = sizes["state"], sizes["whole"]
            print(f"{'':>9} {name:>8}: tree nodes {nodes:>10,} ({nodes / per:5.2f}/reading) | state "
                  f"{mib(state):>7} MiB ({state / n_meters / 1024:7.1f} KiB/meter, {state / per:6.0f} B/reading) | "
                  f"whole store {mib(disk):>7} MiB ({disk / per:6.0f} B/reading): bodies {mib(sizes['bodies'])}, "
                  f"headers+certificates {mib(sizes['headers'])}, indexes {mib(sizes['indexes'])} MiB", flush=True)
        chain.seconds, chain.pruned_seconds, chain.new_nodes = 0.0, 0.0, 0

    hour0 = (t0 // DAY + 1) * DAY  # the first midnight after the set-up
    month, month_end, month_readings = 0, MONTH_DAYS[0], 0
    chain.seconds, chain.pruned_seconds, chain.new_nodes = 0.0, 0.0, 0
    hourly = meters[:n_hourly]
    daily_at = [[m for j, m in enumerate(meters[n_hourly:]) if j % 24 == hour] for hour in range(24)]
    for day in range(args.days):
        for hour in range(24):
            at = hour0 + day * DAY + hour * HOUR
            batch = []
            for m in hourly:
                index[m] += 400  # Wh: 400 an hour
                batch.append([m, "1.8.0", at, index[m], "collector", b"", b""])
            for m in daily_at[hour]:
                index[m] += 9_600  # 9.6 kWh a day
                batch.append([m, "1.8.0", at, index[m], "collector", b"", b""])
            txs = [chain.tx(collector, "billing", "submit_readings", [batch[i:i + PER_TX]])
                   for i in range(0, len(batch), PER_TX)]
            chain.block(txs, at + 30)
            readings += len(batch)
            month_readings += len(batch)
        if day == 0:
            checkpoint("day 1", month_readings)
            month_readings = 0
        if day + 1 == month_end or day + 1 == args.days:
            checkpoint(f"month {month + 1}", month_readings)
            month_readings = 0
            month += 1
            month_end += MONTH_DAYS[month % 12]
    # The start of the year: day 1 (each meter's first reading also starts its billing, so
    # day 1 writes more) and the first month; the end: the last month.
    first, month1, last = rows[0], rows[min(1, len(rows) - 1)], rows[-1]
    print()
    print(f"state keys per meter: {first[2] / n_meters:.2f} at the start, {last[2] / n_meters:.2f} at the end")
    print(f"write cost per reading, archive: day 1 {first[5]:.3f} ms, first month {month1[5]:.3f} ms, last month "
          f"{last[5]:.3f} ms ({last[5] / month1[5]:.2f}x the first month's); pruned: day 1 {first[6]:.3f} ms, first month "
          f"{month1[6]:.3f} ms, last month {last[6]:.3f} ms ({last[6] / month1[6]:.2f}x); new nodes per reading: "
          f"{first[7]:.2f}, {month1[7]:.2f}, {last[7]:.2f}")
    for i, name in enumerate(("archive", "pruned")):
        nodes, sizes = last[3][i]
        state, disk = sizes["state"], sizes["whole"]
        state1, disk1 = month1[3][i][1]["state"], month1[3][i][1]["whole"]
        print(f"{name}: state {mib(state)} MiB at the end ({mib(state1)} MiB after the first month), "
              f"{state / n_meters / 1024:.1f} KiB per meter, {state / readings:.0f} B per reading; {nodes:,} tree nodes; "
              f"whole store {mib(disk)} MiB at the end ({mib(disk1)} MiB after the first month, {disk / readings:.0f} B "
              f"per reading): bodies {mib(sizes['bodies'])}, headers+certificates {mib(sizes['headers'])} "
              f"({sizes['headers'] / last[8]:.0f} B per height), indexes {mib(sizes['indexes'])} MiB")
    chain.store.close()
    chain.pruned.close()
    if args.dir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
