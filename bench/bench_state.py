"""Benchmark of the authenticated state (chain.state / chain.merkle).

Prints, for a state of N keys (default 1,000,000): the raw hash rate, the bulk build time,
state updates per second in batches of writes (root computation + commit), proof sizes in
bytes (present and absent keys) and proof verifications per second.

    .venv/bin/python bench/bench_state.py [--keys N] [--batch 1000] [--batches 20]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import time

from chain.hashing import Domain
from chain.merkle import verify_proof
from chain.state import MemoryBackend, State


def key_of(i: int) -> bytes:
    # Shaped like a contract storage key (chain.keys: s/<contract>/<key>).
    return b"s/billing/meter-" + str(i).encode()


def value_of(i: int, version: int) -> bytes:
    return (i * 1_000 + version).to_bytes(8, "big")


def hash_rate(seconds: float = 1.0) -> float:
    """Raw SHA-256 calls per second on an inner node's preimage (16-byte tag + 64 bytes)."""
    tag = Domain.MERKLE_NODE.tag
    left, right = bytes(range(32)), bytes(range(32, 64))
    sha = hashlib.sha256
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10_000):
            sha(tag + left + right).digest()
        done += 10_000
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--proofs", type=int, default=2_000)
    args = parser.parse_args()
    rng = random.Random(7)

    print(f"hash function: {hash_rate() / 1e6:.2f} M SHA-256/s (80-byte inner-node preimage)")

    # BUILD: one bulk write from the empty state; the tree is assembled bottom-up.
    backend = MemoryBackend()
    writes: dict[bytes, bytes | None] = {key_of(i): value_of(i, 0) for i in range(args.keys)}
    start = time.perf_counter()
    state = State.at(backend).with_writes(writes)
    root = state.root
    built = time.perf_counter()
    changes = state.changes()
    backend.commit(changes)
    committed = time.perf_counter()
    print(
        f"build: {args.keys:,} keys, root {root.hex()[:16]}..., {len(changes.nodes):,} nodes; "
        f"tree {built - start:.1f} s, commit {committed - built:.1f} s "
        f"({args.keys / (committed - start):,.0f} keys/s)"
    )
    del writes, state, changes

    # UPDATES: batches of writes on the full state, 90% updates of existing keys, 10% new keys.
    next_key = args.keys
    total_time = 0.0
    root_time = 0.0
    worst = 0.0
    new_nodes = 0
    for version in range(1, args.batches + 1):
        batch: dict[bytes, bytes | None] = {}
        while len(batch) < args.batch:
            if rng.random() < 0.9:
                i = rng.randrange(args.keys)
            else:
                i, next_key = next_key, next_key + 1
            batch[key_of(i)] = value_of(i, version)
        start = time.perf_counter()
        view = State.at(backend).with_writes(batch)
        view.root  # noqa: B018 - computes and caches the root
        root_time += time.perf_counter() - start
        changes = view.changes()
        backend.commit(changes)
        elapsed = time.perf_counter() - start
        total_time += elapsed
        worst = max(worst, elapsed)
        new_nodes += len(changes.nodes)
    updates = args.batch * args.batches
    print(
        f"updates: {updates / total_time:,.0f} writes/s in batches of {args.batch:,} "
        f"(root + commit; mean {1000 * total_time / args.batches:.0f} ms of which root "
        f"{1000 * root_time / args.batches:.0f} ms, worst {1000 * worst:.0f} ms per batch; "
        f"{new_nodes / updates:.1f} new nodes per write)"
    )

    # PROOFS: sizes of encoded proofs for present and absent keys, and verification rate.
    head = State.at(backend)
    root = head.root
    present = [key_of(rng.randrange(args.keys)) for _ in range(args.proofs)]
    absent = [b"s/billing/absent-" + str(i).encode() for i in range(args.proofs)]
    start = time.perf_counter()
    proofs = [(k, head.get(k), head.prove(k)) for k in present + absent]
    proved = time.perf_counter() - start
    for name, part in (("present", proofs[: args.proofs]), ("absent", proofs[args.proofs :])):
        sizes = [len(p.encode()) for _, _, p in part]
        depths = [len(p.siblings) for _, _, p in part]
        print(
            f"proof ({name} key): mean {sum(sizes) / len(sizes):.0f} B, max {max(sizes)} B; "
            f"mean depth {sum(depths) / len(depths):.1f}, max {max(depths)}"
        )
    start = time.perf_counter()
    ok = all(verify_proof(root, k, v, p) for k, v, p in proofs)
    verified = time.perf_counter() - start
    assert ok, "a proof did not verify"
    print(f"proofs: {len(proofs) / proved:,.0f} built/s, {len(proofs) / verified:,.0f} verified/s")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {rss_mb:,.0f} MB ({len(backend):,} keys in a MemoryBackend)")


if __name__ == "__main__":
    main()
