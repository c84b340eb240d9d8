"""The block store (node.blockstore): blocks, certificates, receipts and the transaction
index committed with the state in one synced batch, and read back after a reopen."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain import codec
from chain.state import MemoryBackend, State
from chain.types import STATUS_FAILED, STATUS_SUCCESS, Block, Event, Receipt
from node.blockstore import (
    BLOCK_PREFIX,
    TX_PREFIX,
    BlockStore,
    StoreError,
    decode_receipts,
    encode_receipts,
    height_key,
)
from tests.node.chain_builder import certificate_for, genesis, next_block


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BlockStore]:
    opened = BlockStore.open(str(tmp_path / "db"))
    yield opened
    if not opened.db.closed:
        opened.close()


def grow(store: BlockStore, blocks: int, seed: int = 1) -> list[tuple[Block, tuple[Receipt, ...]]]:
    rng = random.Random(seed)
    if not store.initialized:
        header, view = genesis(State.at(store.state_backend))
        store.commit_genesis(header, view)
    out = []
    for _ in range(blocks):
        block, receipts, view = next_block(State.at(store.state_backend), store.head_header(), rng, rng.randrange(0, 5))
        store.commit_block(block, receipts, certificate_for(block.header), view)
        out.append((block, receipts))
    return out


def recomputed_root(store: BlockStore) -> bytes:
    """The root of every committed value, rebuilt from scratch in memory."""
    values = {k: store.state_backend.get_value(k) for k in store.state_backend.scan(b"", b"", 10**9)}
    return State.at(MemoryBackend()).with_writes(values).root


def test_basic_blocks_read_back_after_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    store = BlockStore.open(path)
    made = grow(store, 6)
    store.close()
    store = BlockStore.open(path)
    assert store.head().height == 6
    assert store.head_header() == made[-1][0].header
    for height, (block, receipts) in enumerate(made, start=1):
        assert store.block(height) == block
        assert store.receipts(height) == receipts
        assert store.certificate(height) == certificate_for(block.header)
        assert store.height_of(block.header.hash) == height
        for index, tx in enumerate(block.transactions):
            location = store.find_transaction(tx.hash)
            assert location is not None and (location.height, location.index) == (height, index)
            assert location.receipt == receipts[index]
        finalized = store.finalized_block(height)
        assert finalized is not None and finalized.block == block
    assert store.block(7) is None and store.finalized_block(7) is None and store.find_transaction(bytes(32)) is None
    assert store.state_backend.root() == made[-1][0].header.state_root == recomputed_root(store)
    # Old roots stay readable: the state after block 2 still answers for its own keys.
    assert store.state(2).root == made[1][0].header.state_root
    assert store.state(0).root == store.genesis_header().state_root
    store.check_consistency()
    store.close()


def test_basic_continues_after_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    store = BlockStore.open(path)
    grow(store, 3)
    store.close()
    store = BlockStore.open(path)
    grow(store, 3, seed=2)
    assert store.head().height == 6
    store.check_consistency()
    store.close()


def test_invalid_block_not_on_the_head_writes_nothing(store: BlockStore) -> None:
    made = grow(store, 2)
    rng = random.Random(5)
    block, receipts, view = next_block(State.at(store.state_backend), made[0][0].header, rng, 2)  # parent is 1, head is 2
    with pytest.raises(StoreError, match="block 3 on parent"):
        store.commit_block(block, receipts, b"c", view)
    assert store.head().height == 2
    assert all(store.find_transaction(tx.hash) is None for tx in block.transactions)
    store.check_consistency()


def test_invalid_state_that_is_not_the_headers_writes_nothing(store: BlockStore) -> None:
    grow(store, 1)
    rng = random.Random(6)
    block, receipts, view = next_block(State.at(store.state_backend), store.head_header(), rng, 2)
    with pytest.raises(StoreError, match="state with the header's root"):
        store.commit_block(block, receipts, b"c", view.with_writes({b"extra": b"1"}))
    assert store.head().height == 1 and store.block(2) is None
    store.check_consistency()


def test_invalid_second_genesis(store: BlockStore) -> None:
    grow(store, 0)
    header, view = genesis(State.at(store.state_backend))
    with pytest.raises(StoreError, match="empty store expected"):
        store.commit_genesis(header, view)


def test_invalid_empty_store_has_no_head(store: BlockStore) -> None:
    with pytest.raises(StoreError, match="commit_genesis first"):
        store.head()


def test_invalid_consistency_check_finds_a_missing_block(store: BlockStore) -> None:
    grow(store, 3)
    store.check_consistency()
    store.db.delete(BLOCK_PREFIX + height_key(2))
    with pytest.raises(StoreError, match="block 2"):
        store.check_consistency()


def test_invalid_consistency_check_finds_a_dangling_transaction_index(store: BlockStore) -> None:
    grow(store, 2)
    store.db.put(TX_PREFIX + bytes(32), height_key(1) + (99).to_bytes(4, "big"))
    with pytest.raises(StoreError, match="index 99"):
        store.check_consistency()


def test_invalid_head_check_finds_a_state_root_that_is_not_the_heads(store: BlockStore) -> None:
    grow(store, 2)
    store.check_head()
    store.db.put(b"s:root", bytes(32))
    with pytest.raises(StoreError, match="committed state root"):
        BlockStore(store.db).check_head()


def test_the_block_just_committed_reads_back_as_a_reopened_store_reads_it(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    store = BlockStore.open(path)
    block, receipts = grow(store, 2)[-1]
    height = block.header.height
    kept = (store.block(height), store.receipts(height), store.finalized_block(height), store.head_header())
    assert kept[0] is block and kept[1] is receipts  # the committed records, not decoded again
    store.close()
    store = BlockStore.open(path)
    assert kept == (store.block(height), store.receipts(height), store.finalized_block(height), store.head_header())
    store.close()


@pytest.mark.parametrize("count", [0, 1, 15, 16, 300])
def test_basic_stored_receipts_are_the_canonical_encoding_of_the_list(count: int) -> None:
    receipts = tuple(
        Receipt(bytes([i % 256]) * 32, STATUS_SUCCESS, 1_000 + i, (Event("billing", "reading", codec.encode({"i": i})),), "")
        if i % 3 else Receipt(bytes(32), STATUS_FAILED, i, (), f"failed {i}")
        for i in range(count)
    )
    stored = encode_receipts(receipts)
    assert stored == codec.encode([r.to_value() for r in receipts])
    assert decode_receipts(stored) == receipts
