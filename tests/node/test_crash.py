"""Kill -9 at random instants (seeded), twenty times: the block store restarts consistent,
the write-ahead log keeps every record it synced, the signer never signs a conflicting vote.

A child process (tests/node/crash_child.py) works in a loop and reports on stdout each thing
that has become durable; the test kills it with SIGKILL after a seeded number of reports,
then reopens what it left on disk and checks it against those reports.
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chain.merkle import iter_leaves
from chain.signatures import verify_raw
from chain.state import MemoryBackend, State
from node.blockstore import BlockStore
from node.signer import FileSigner
from node.wal import WriteAheadLog
from tests.node.crash_child import KEEP_BLOCKS, KEEP_HEIGHTS

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("crash_child.py")
KILLS = 20
DEADLINE = 20.0  # seconds for a child to report what the test waits for

Spawn = Callable[[Path, int], subprocess.Popen[bytes]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Starts crash children; every one of them is killed at the end, even on failure."""
    children: list[subprocess.Popen[bytes]] = []

    def start(directory: Path, seed: int) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(directory), str(seed)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()
        assert child.stdout is not None and child.stderr is not None
        child.stdout.close()
        child.stderr.close()


def reports(child: subprocess.Popen[bytes], wanted: int, word: str) -> list[str]:
    """Lines the child printed until ``wanted`` of them start with ``word`` (within the
    deadline); then the child is killed at once, wherever it is."""
    assert child.stdout is not None
    lines: list[str] = []
    seen = 0
    buffer = b""
    deadline = time.monotonic() + DEADLINE
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        while seen < wanted:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                pytest.fail(f"{wanted} '{word}' reports within {DEADLINE} s expected, found {seen}: {lines[-3:]}")
            chunk = os.read(child.stdout.fileno(), 65536)
            if not chunk:
                assert child.stderr is not None
                pytest.fail(f"the child died before its reports: {child.stderr.read().decode()[-2000:]}")
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for raw in complete:
                line = raw.decode()
                lines.append(line)
                seen += line.startswith(word)
    child.send_signal(signal.SIGKILL)
    child.wait()
    # What the child printed between our last read and its death was released too.
    assert child.stdout is not None
    rest = buffer + child.stdout.read()
    lines += [raw.decode() for raw in rest.split(b"\n")[:-1]]
    assert not any(line.startswith("BUG") for line in lines), lines
    return lines


def test_kill_at_random_instants_restarts_consistent_and_never_double_signs(tmp_path: Path, spawn: Spawn) -> None:
    rng = random.Random(20261204)
    committed = 0
    released: dict[tuple[int, int, int], tuple[bytes, bytes]] = {}
    for kill in range(KILLS):
        lines = reports(spawn(tmp_path, rng.randrange(2**32)), rng.randint(1, 4), "committed")
        committed = max([committed, *(int(line.split()[1]) for line in lines if line.startswith("committed"))])
        synced = {tuple(map(int, line.split()[1:])) for line in lines if line.startswith("synced")}
        for line in lines:
            if line.startswith("signed"):
                _, h, r, s, sign_bytes, signature = line.split()
                record = (bytes.fromhex(sign_bytes), bytes.fromhex(signature))
                hrs = (int(h), int(r), int(s))
                assert released.setdefault(hrs, record) == record, f"kill {kill}: two messages signed at {hrs}"

        # The store: the head is a fully written block, at least the last one reported, and
        # the committed state is exactly the state its header commits to.
        store = BlockStore.open(str(tmp_path / "db"), keep_heights=KEEP_HEIGHTS, keep_blocks=KEEP_BLOCKS)
        try:
            store.check_consistency()
            head = store.head().height
            assert head >= committed, f"kill {kill}: reported block {committed} lost, head is {head}"
            values = {k: store.state_backend.get_value(k) for k in store.state_backend.scan(b"", b"", 10**9)}
            assert State.at(MemoryBackend()).with_writes(values).root == store.head_header().state_root
            # Pruning ran in the same batches: the window's states are whole, and no wider.
            low, high = store.kept_heights()
            assert (low, high) == (max(0, head - KEEP_HEIGHTS + 1), head), f"kill {kill}"
            for height in range(low, high + 1):
                assert len(list(iter_leaves(store.state_backend.get_node, store.state(height).root))) >= 4
            # Old bodies went in the same batches too (check_consistency: every height's header
            # and certificate kept, bodies from the floor on, no index entry pointing below it).
            assert store.bodies_from() == max(1, head - KEEP_BLOCKS + 1), f"kill {kill}"
        finally:
            store.close()

        # The log: every own message of the unfinished height that was synced replays.
        log = WriteAheadLog.open(tmp_path / "wal")
        try:
            replayed = {tuple(map(int, r.split()[1:4])) for r in log.replay_height(head + 1) if r.startswith(b"own")}
        finally:
            log.close()
        assert {hrs for hrs in synced if hrs[0] == head + 1} <= replayed, f"kill {kill}"

        # The signer: its file is at least as recent as every signature that left the process.
        signer = FileSigner.load(tmp_path / "signer")
        latest = max(released)
        assert signer.last.hrs >= latest, f"kill {kill}: {signer.last.hrs} persisted, {latest} released"
        if signer.last.hrs == latest:
            assert (signer.last.sign_bytes, signer.last.signature) == released[latest]
    assert committed >= KILLS // 2  # the kills fell while blocks were being written
    for sign_bytes, signature in released.values():
        assert verify_raw(signer.public_key, sign_bytes, signature)
