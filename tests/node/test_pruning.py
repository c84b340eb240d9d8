"""Pruning the state tree (node.pruning, node.statedb): with a window of N heights, the
states of the last N heights stay whole, and the store holds exactly the tree nodes their
roots reach, even when a node that went stale is written again, identical, later."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import node.statedb as statedb
from chain.hashing import EMPTY_HASH, Hash32
from chain.merkle import NODE_LEAF, MissingNode, iter_leaves
from chain.state import State
from node.blockstore import BlockStore, PrunedHeight
from node.config import CONFIG_FILE, DEFAULT_KEEP_HEIGHTS, ConfigError, load_config, parse_config
from node.pruning import JOURNAL_PREFIX, stored_floor
from node.statedb import NODE_PREFIX, LevelDBBackend, open_database
from node.testnet import write_network
from tests.node.chain_builder import certificate_for, genesis, next_block
from tests.node.processes import node_ports


def commit(backend: LevelDBBackend, height: int, writes: dict[bytes, bytes | None]) -> Hash32:
    changes = State.at(backend).with_writes(writes).changes()
    with backend.db.write_batch(transaction=True, sync=False) as batch:
        backend.stage(changes, batch, height)
    backend.committed(changes)
    return changes.root


def reachable(backend: LevelDBBackend, root: Hash32) -> set[bytes]:
    """Every node hash the tree at ``root`` holds (``MissingNode`` if one is gone)."""
    found: set[bytes] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node == EMPTY_HASH:
            continue
        data = backend.db.get(NODE_PREFIX + node)
        if data is None:
            raise MissingNode(f"node {node.hex()} of root {root.hex()} expected, found nothing")
        found.add(node)
        data = data[statedb.HEIGHT_SIZE :]
        if data[0] != NODE_LEAF:
            stack.extend((Hash32(data[1:33]), Hash32(data[33:65])))
    return found


def stored_nodes(backend: LevelDBBackend) -> set[bytes]:
    with backend.db.iterator(prefix=NODE_PREFIX, include_value=False) as keys:
        return {key[len(NODE_PREFIX) :] for key in keys}


@pytest.fixture
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("prune")


_databases = itertools.count()

# A few keys and a few values: the same leaves and inner nodes come back again and again.
_writes = st.dictionaries(
    st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"f"]),
    st.one_of(st.none(), st.sampled_from([b"1", b"2", b"3"])),
    min_size=1,
    max_size=4,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keep=st.integers(min_value=1, max_value=4), blocks=st.lists(_writes, min_size=1, max_size=14))
def test_property_kept_roots_stay_whole_and_nothing_else_is_stored(
    db_path: Path, keep: int, blocks: list[dict[bytes, bytes | None]]
) -> None:
    path = db_path / f"db{next(_databases)}"  # a new database for every example
    backend = LevelDBBackend(open_database(str(path)), keep)
    try:
        roots = [commit(backend, 0, {b"g": b"0"})]
        contents = [{b"g": b"0"}]
        for height, writes in enumerate(blocks, start=1):
            roots.append(commit(backend, height, writes))
            content = dict(contents[-1])
            for key, value in writes.items():
                if value is None:
                    content.pop(key, None)
                else:
                    content[key] = value
            contents.append(content)
            floor = stored_floor(backend.db)
            assert floor == max(0, height - keep + 1)
            kept: set[bytes] = set()
            for kept_height in range(floor, height + 1):
                kept |= reachable(backend, roots[kept_height])
                fresh = LevelDBBackend(backend.db)  # every read from LevelDB, nothing from memory
                assert dict(iter_leaves(fresh.get_node, roots[kept_height])) == contents[kept_height]
            assert stored_nodes(backend) == kept
    finally:
        backend.close()


def test_a_node_written_again_after_it_went_stale_is_kept(tmp_path: Path) -> None:
    backend = LevelDBBackend(open_database(str(tmp_path / "db")), keep_heights=3)
    try:
        commit(backend, 0, {b"other": b"x"})
        commit(backend, 1, {b"meter": b"100"})
        commit(backend, 2, {b"meter": b"200"})  # the leaf meter=100 (and its parent) go stale
        commit(backend, 3, {b"meter": b"100"})  # ... and are written again, identical
        commit(backend, 4, {b"other": b"y"})
        commit(backend, 5, {b"other": b"z"})  # height 2's journal is processed here
        head = State.at(LevelDBBackend(backend.db))
        assert head.get(b"meter") == b"100"
        assert reachable(backend, head.root)
    finally:
        backend.close()


def test_invalid_pruning_by_journal_alone_deletes_a_live_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The twin: without the written-again check (every journaled node deleted), the same
    history loses a node of the head's tree."""
    backend = LevelDBBackend(open_database(str(tmp_path / "db")), keep_heights=3)
    monkeypatch.setattr(backend, "node_height", lambda node_hash: 0)
    try:
        commit(backend, 0, {b"other": b"x"})
        commit(backend, 1, {b"meter": b"100"})
        commit(backend, 2, {b"meter": b"200"})
        commit(backend, 3, {b"meter": b"100"})
        commit(backend, 4, {b"other": b"y"})
        commit(backend, 5, {b"other": b"z"})
        with pytest.raises(MissingNode):
            reachable(backend, State.at(backend).root)
    finally:
        backend.close()


def grow(store: BlockStore, blocks: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    if not store.initialized:
        header, view = genesis(State.at(store.state_backend))
        store.commit_genesis(header, view)
    for _ in range(blocks):
        block, receipts, view = next_block(State.at(store.state_backend), store.head_header(), rng, rng.randrange(1, 5))
        store.commit_block(block, receipts, certificate_for(block.header), view)


def test_a_pruned_store_serves_its_window_and_refuses_older_heights(tmp_path: Path) -> None:
    store = BlockStore.open(str(tmp_path / "db"), keep_heights=4)
    try:
        grow(store, 12)
        assert store.kept_heights() == (9, 12)
        store.check_consistency()
        for height in range(9, 13):
            state = store.state(height)
            assert state.root == store.block(height).header.state_root  # type: ignore[union-attr]
            assert list(iter_leaves(LevelDBBackend(store.db).get_node, state.root))
        with pytest.raises(PrunedHeight, match=r"height 8, whose state this node pruned: it keeps the state of heights 9 to 12"):
            store.state(8)
        # Blocks are kept: the pruned node still serves them for block sync.
        assert store.block(1) is not None
    finally:
        store.close()


def test_the_window_follows_the_setting_across_restarts(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    store = BlockStore.open(path)  # an archive
    grow(store, 5, seed=1)
    assert store.kept_heights() == (0, 5)
    store.close()
    store = BlockStore.open(path, keep_heights=2)
    try:
        grow(store, 3, seed=2)
        assert store.kept_heights() == (7, 8)
        store.check_consistency()
        assert [key[:4] for key in store.db.iterator(prefix=JOURNAL_PREFIX, include_value=False)] == [JOURNAL_PREFIX] * 1
    finally:
        store.close()
    store = BlockStore.open(path, keep_heights=6)  # a larger window keeps what it has until it fills
    try:
        grow(store, 2, seed=4)
        assert store.kept_heights() == (7, 10)
    finally:
        store.close()


def test_storage_settings_default_by_role_and_refuse_an_empty_window(tmp_path: Path) -> None:
    validator, regulator = write_network(tmp_path, 1, 1, node_ports(2))
    assert load_config(validator.home).keep_heights == DEFAULT_KEEP_HEIGHTS
    assert load_config(regulator.home).storage_mode == "archive"
    assert load_config(regulator.home).keep_heights is None
    text = (validator.home / CONFIG_FILE).read_text()
    assert parse_config(text + '\n[storage]\nmode = "archive"\n', validator.home).keep_heights is None
    assert parse_config(text + "\n[storage]\nkeep_heights = 7\n", validator.home).keep_heights == 7
    with pytest.raises(ConfigError, match="storage.keep_heights"):
        parse_config(text + "\n[storage]\nkeep_heights = 0\n", validator.home)
