"""The LevelDB backend's read caches (node.statedb): what it keeps in memory always agrees
with what LevelDB holds, across commits, deletes and the caches' generations."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import node.statedb as statedb
from chain.state import State
from node.statedb import LevelDBBackend


def test_kept_values_and_nodes_follow_every_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statedb, "CACHE_GENERATION", 7)  # generations turn over many times
    backend = LevelDBBackend.open(str(tmp_path / "db"))
    rng = random.Random(5)
    keys = [b"k%d" % i for i in range(20)]
    expected: dict[bytes, bytes] = {}
    try:
        for _ in range(40):
            for key in rng.sample(keys, 6):
                assert backend.get_value(key) == expected.get(key)  # read (and kept) before it changes
            writes: dict[bytes, bytes | None] = {}
            for key in rng.sample(keys, 4):
                writes[key] = None if rng.random() < 0.3 else rng.randbytes(rng.randrange(1, 9))
            view = State.at(backend).with_writes(writes)
            backend.commit(view.changes())
            for key, value in writes.items():
                if value is None:
                    expected.pop(key, None)
                else:
                    expected[key] = value
            for key in keys:
                assert backend.get_value(key) == expected.get(key)
                assert backend.db.get(statedb.VALUE_PREFIX + key) == expected.get(key)  # LevelDB agrees
            assert State.at(backend).root == State.at(statedb_fresh(backend)).root
    finally:
        backend.close()


def statedb_fresh(backend: LevelDBBackend) -> LevelDBBackend:
    """A second backend over the same database: nothing kept, every read from LevelDB."""
    return LevelDBBackend(backend.db)


def test_a_fresh_backend_reads_the_same_tree_through_its_nodes(tmp_path: Path) -> None:
    backend = LevelDBBackend.open(str(tmp_path / "db"))
    try:
        first = State.at(backend).with_writes({b"a": b"1", b"b": b"2", b"c": b"3"})
        backend.commit(first.changes())
        old_root = first.root
        second = State.at(backend).with_writes({b"b": None, b"d": b"4"})
        backend.commit(second.changes())
        # An old root is read through the tree's nodes: kept ones and LevelDB's agree.
        for reader in (backend, statedb_fresh(backend)):
            old = State(reader, old_root)
            assert [old.get(k) for k in (b"a", b"b", b"c", b"d")] == [b"1", b"2", b"3", None]
    finally:
        backend.close()


def test_a_store_written_with_snappy_compression_reads_the_same_without_it(tmp_path: Path) -> None:
    """Stores of earlier versions were written with LevelDB's default (Snappy) compression;
    ``open_database`` writes without. Each block names its own compression, so old and new
    blocks read back alike, also once compaction has mixed them."""
    import plyvel

    path = str(tmp_path / "db")
    old = plyvel.DB(path, create_if_missing=True)  # the default: Snappy
    written = {f"key-{i:05d}".encode(): (f"value {i} " * 20).encode() for i in range(2_000)}
    for key, value in written.items():
        old.put(key, value)
    old.close()
    db = statedb.open_database(path)
    try:
        for i in range(2_000, 4_000):
            written[f"key-{i:05d}".encode()] = bytes([i % 256]) * 100
            db.put(f"key-{i:05d}".encode(), bytes([i % 256]) * 100)
        db.compact_range()
        assert dict(db.iterator()) == written
    finally:
        db.close()
