"""Old block bodies and receipts on a pruned node (node.bodies, node.blockstore, node.archives):
below the window of ``keep_blocks`` heights and once every archive holds them, a height
keeps only its header, certificate and hash; its body, receipts, transaction and history
index entries go in the commit's batch. Every read of a dropped height answers 410 naming
what is kept; block sync asks another peer and state sync checks the headers of a pruned
peer from the genesis."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain import codec
from chain.state import State
from chain.types import Block, BlockHeader, Receipt
from node.archives import ArchiveWatch
from node.audit import AuditReport, audit_chain
from node.blockstore import BlockStore, DroppedBody, StoreError
from node.bodies import MAX_DROPS_PER_BLOCK
from node.config import CONFIG_FILE, DEFAULT_KEEP_BLOCKS, ConfigError, load_config, parse_config
from node.history import HISTORY_PREFIX, INDEXED_KEY
from node.state_sync import state_sync
from node.storechain import open_store
from node.testnet import write_network
from tests.node.certified_chain import CHAIN, CertifiedChain
from tests.node.chain_builder import certificate_for, genesis, next_block
from tests.node.history_chain import HistoryChain, build_history_chain
from tests.node.history_chain import genesis as history_genesis
from tests.node.processes import node_ports
from tests.node.test_state_sync import grow as grow_certified
from tests.node.test_sync import GENESIS, certified_store, new_sync, serving

# --- the store ----------------------------------------------------------------------------


@pytest.fixture
def pruned(tmp_path: Path) -> Iterator[BlockStore]:
    store = BlockStore.open(str(tmp_path / "db"), keep_heights=2, keep_blocks=3)
    yield store
    if not store.db.closed:
        store.close()


def grow(store: BlockStore, blocks: int, rng: random.Random | None = None) -> list[tuple[Block, tuple[Receipt, ...]]]:
    rng = rng or random.Random(7)
    if not store.initialized:
        header, view = genesis(State.at(store.state_backend))
        store.commit_genesis(header, view)
    out = []
    for _ in range(blocks):
        block, receipts, view = next_block(State.at(store.state_backend), store.head_header(), rng, rng.randrange(1, 4))
        store.commit_block(block, receipts, certificate_for(block.header), view)
        out.append((block, receipts))
    return out


def assert_kept(store: BlockStore, chain: list[tuple[Block, tuple[Receipt, ...]]], floor: int) -> None:
    """Every height's header, certificate and hash; bodies, receipts and transactions from
    ``floor`` on only."""
    assert store.bodies_from() == floor
    for height, (block, receipts) in enumerate(chain, start=1):
        assert store.header(height) == block.header
        assert store.certificate(height) == certificate_for(block.header)
        assert store.height_of(block.header.hash) == height
        if height >= floor:
            found = store.finalized_block(height)
            assert found is not None and found.block == block and found.receipts == receipts
            assert all(store.find_transaction(tx.hash) is not None for tx in block.transactions)
        else:
            assert store.block(height) is None and store.receipts(height) is None
            with pytest.raises(DroppedBody, match=f"block {height}'s body and receipts .* heights {floor} to "):
                store.finalized_block(height)
            assert all(store.find_transaction(tx.hash) is None for tx in block.transactions)
    store.check_consistency()


def test_a_pruned_store_keeps_every_header_and_certificate_and_the_window_of_bodies(
    pruned: BlockStore, tmp_path: Path
) -> None:
    pruned.confirm_archived(10**6)  # an archive holds everything
    chain = grow(pruned, 12)
    assert_kept(pruned, chain, 12 - 3 + 1)
    assert pruned.head_header() == chain[-1][0].header
    assert pruned.state(11).root == chain[10][0].header.state_root  # the state window is untouched
    pruned.close()
    reopened = BlockStore.open(str(tmp_path / "db"), keep_heights=2, keep_blocks=3)
    try:
        assert_kept(reopened, chain, 10)  # the same after a restart, before any archive answered
    finally:
        reopened.close()


def test_invalid_nothing_is_dropped_before_an_archive_holds_it(pruned: BlockStore) -> None:
    chain = grow(pruned, 8)
    assert_kept(pruned, chain, 1)  # no archive confirmed anything
    pruned.confirm_archived(3)
    chain += grow(pruned, 1)
    assert_kept(pruned, chain, 4)  # up to the archived height only, though the window allows 6
    pruned.confirm_archived(100)
    chain += grow(pruned, 1)
    assert_kept(pruned, chain, 10 - 3 + 1)


def test_an_archive_drops_nothing_whatever_it_is_told(tmp_path: Path) -> None:
    store = BlockStore.open(str(tmp_path / "db"))
    try:
        store.confirm_archived(10**6)
        chain = grow(store, 6)
        assert_kept(store, chain, 1)
    finally:
        store.close()


def test_a_backlog_is_dropped_a_bounded_number_of_heights_per_block(pruned: BlockStore) -> None:
    chain = grow(pruned, MAX_DROPS_PER_BLOCK + 10)
    pruned.confirm_archived(10**6)
    chain += grow(pruned, 1)
    assert_kept(pruned, chain, 1 + MAX_DROPS_PER_BLOCK)
    chain += grow(pruned, 1)
    assert_kept(pruned, chain, len(chain) - 3 + 1)


def test_a_store_written_as_an_archive_is_pruned_later_without_a_migration(tmp_path: Path) -> None:
    """A store written before this change (an archive then, or a pruned node that kept its
    bodies) holds no header records: the header is read from the whole block, and the drop
    writes it before the block goes."""
    store = BlockStore.open(str(tmp_path / "db"))
    chain = grow(store, 6)
    store.close()
    store = BlockStore.open(str(tmp_path / "db"), keep_heights=1, keep_blocks=2)
    try:
        assert_kept(store, chain, 1)
        store.confirm_archived(10**6)
        chain += grow(store, 1)
        assert_kept(store, chain, 6)
    finally:
        store.close()


@pytest.mark.parametrize(("keep_heights", "keep_blocks"), [(2, 0), (3, 2), (None, 5)])
def test_invalid_keep_blocks_below_the_state_window_is_refused(tmp_path: Path, keep_heights: int | None, keep_blocks: int) -> None:
    with pytest.raises(StoreError, match=f"at least keep_heights .* found keep_blocks = {keep_blocks}"):
        BlockStore(None, keep_heights, keep_blocks)  # type: ignore[arg-type]  # refused before the database is used


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 30), st.integers(2, 5)), min_size=1, max_size=12))
def test_bodies_go_only_below_the_window_and_once_archived_and_then_all_of_them(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[int, int, int]]
) -> None:
    """Whatever the archives confirm and however the window changes between runs: after
    each commit the floor is the old one moved up to the target (below the window and
    archived), at most MAX_DROPS_PER_BLOCK heights at once, never past it; every height's
    header and certificate stay."""
    path = str(tmp_path_factory.mktemp("bodies") / "db")
    rng = random.Random(len(steps))
    chain: list[tuple[Block, tuple[Receipt, ...]]] = []
    keep_blocks = 2
    store = BlockStore.open(path, keep_heights=2, keep_blocks=keep_blocks)
    grow(store, 0, rng)  # the genesis
    try:
        for blocks, archived, window in steps:
            if window != keep_blocks:  # a restart with another window
                store.close()
                keep_blocks = window
                store = BlockStore.open(path, keep_heights=2, keep_blocks=keep_blocks)
            store.confirm_archived(archived)
            for _ in range(blocks):
                floor = store.bodies_from()
                chain += grow(store, 1, rng)
                target = min(len(chain) - keep_blocks, archived)
                expected = floor if target < floor else min(target, floor + MAX_DROPS_PER_BLOCK - 1) + 1
                assert store.bodies_from() == expected
        assert_kept(store, chain, store.bodies_from())
    finally:
        store.close()


# --- the API, block sync and state sync -------------------------------------------------


def get(store: BlockStore, path: str) -> tuple[int, Any]:
    async def scenario() -> tuple[int, Any]:
        async with serving(store) as url, aiohttp.ClientSession() as http, http.get(url + path) as response:
            return response.status, await response.json()

    return asyncio.run(scenario())


@pytest.fixture(scope="module")
def dropped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HistoryChain, int]]:
    """The history chain (readings, an invoice, a payment), reopened as a pruned node whose
    archive holds everything, with its bodies dropped but those of its last two heights;
    and the number of history entries it had."""
    path = tmp_path_factory.mktemp("dropped") / "db"
    h = build_history_chain(path)
    with h.store.db.iterator(prefix=HISTORY_PREFIX, include_value=False) as keys:
        entries = sum(1 for key in keys if key != INDEXED_KEY)
    h.store.close()
    h.store = open_store(path, history_genesis(), keep_heights=1, keep_blocks=2)
    h.chain.store = h.store
    h.store.confirm_archived(10**6)
    for _ in range(2):  # the chain is 14 blocks: two commits drop them all but the window
        h.chain.commit(())
    assert h.store.bodies_from() == h.store.head().height - 1
    yield h, entries
    h.store.close()


def test_dropped_heights_leave_no_index_entry_and_the_store_checks(dropped: tuple[HistoryChain, int]) -> None:
    h, entries = dropped
    assert entries > 10
    with h.store.db.iterator(prefix=HISTORY_PREFIX, include_value=False) as keys:
        assert [key for key in keys if key != INDEXED_KEY] == []  # the two kept blocks are empty
    h.store.check_consistency()


def test_a_dropped_block_answers_410_naming_the_kept_heights_and_an_archive(dropped: tuple[HistoryChain, int]) -> None:
    h, _ = dropped
    floor, head = h.store.bodies_from(), h.store.head().height
    kept = f"heights {floor} to {head}"
    for path in ("/v1/blocks/3", "/v1/blocks?from=1&count=4"):
        status, body = get(h.store, path)
        assert status == 410 and kept in body["error"] and "archive" in body["error"], body
    assert get(h.store, f"/v1/blocks/{floor}")[0] == 200
    status, body = get(h.store, "/v1/meters/MTR-A/readings")
    assert status == 410 and kept in body["error"] and "archive" in body["error"], body
    boundary = h.store.header(floor - 1)
    assert boundary is not None
    status, body = get(h.store, f"/v1/meters/MTR-A/readings?from={boundary.time + 1}&proof=true")
    assert status == 200 and body["items"] == [], body  # complete from there on: nothing read since
    subscription = quote(h.subscriptions["MTR-A"], safe="")
    for kind in ("invoices", "payments"):
        status, body = get(h.store, f"/v1/subscriptions/{subscription}/{kind}")
        assert status == 410 and f"from_height >= {floor}" in body["error"], body
        status, body = get(h.store, f"/v1/subscriptions/{subscription}/{kind}?from_height={floor}")
        assert status == 200 and body["items"] == [], body
    status, body = get(h.store, f"/v1/transactions/{h.refused[0].hex()}")
    assert status == 200 and body["status"] == "unknown" and kept in body["reason"], body
    status, body = get(h.store, "/v1/storage")
    assert status == 200 and body["blocks_from"] == floor and body["keep_blocks"] == 2 and not body["archive"]


def test_headers_and_certificates_of_every_height_are_served(dropped: tuple[HistoryChain, int]) -> None:
    h, _ = dropped
    status, body = get(h.store, "/v1/headers?from=1&count=1000")
    assert status == 200 and [item["height"] for item in body["headers"]] == list(range(1, h.store.head().height + 1))
    parent = h.store.genesis_header()
    for item in body["headers"]:
        header = BlockHeader.from_value(codec.decode(bytes.fromhex(item["header"])))
        assert header.parent_hash == parent.hash and item["certificate"]
        parent = header
    status, body = get(h.store, "/v1/headers?from=0")
    assert status == 400 and "from: an integer from 1" in body["error"]


def test_the_history_routes_without_dropped_blocks_still_answer_from_genesis(tmp_path: Path) -> None:
    h = build_history_chain(tmp_path / "db")
    payments = f"/v1/subscriptions/{quote(h.subscriptions['MTR-A'], safe='')}/payments"
    try:
        status, body = get(h.store, "/v1/meters/MTR-A/readings")
        assert status == 200 and len(body["items"]) == len(h.readings["MTR-A"])
        status, body = get(h.store, f"{payments}?from_height=1")
        assert status == 200 and len(body["items"]) == 1
        last = body["items"][0]["height"]
        status, body = get(h.store, f"{payments}?from_height={last + 1}")
        assert status == 200 and body["items"] == []
    finally:
        h.store.close()


def pruned_certified(path: Path, blocks: int) -> BlockStore:
    """A certified chain (tests.node.test_sync) reopened pruned, its old bodies dropped."""
    certified_store(path, blocks).close()
    store = open_store(path, GENESIS, keep_heights=2, keep_blocks=3)
    store.confirm_archived(10**6)
    grow_certified(CertifiedChain(store, GENESIS), 1)
    assert store.bodies_from() == blocks + 1 - 3 + 1
    return store


def test_block_sync_asks_an_archive_for_what_a_pruned_peer_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pruned_peer = pruned_certified(tmp_path / "pruned", 10)
    archive = certified_store(tmp_path / "archive", 11)  # the same chain: the same certified blocks
    assert archive.header(11) == pruned_peer.header(11)

    async def scenario() -> None:
        async with serving(pruned_peer) as pruned_url, serving(archive) as archive_url:
            alone, sync, _ = new_sync(tmp_path / "alone", {"pruned": pruned_url})
            try:  # the pruned peer alone: refused cleanly, nothing committed, the peer not banned
                assert await sync.catch_up() == 0
                assert sync.peers[0].refused is None and sync.peers[0].lacks == 1  # not asked for block 1 again
                assert await sync.catch_up() == 0
                assert sum("no longer keeps block 1" in r.getMessage() for r in caplog.records) == 1
            finally:
                await sync.close()
                alone.close()
            store, sync, committed = new_sync(tmp_path / "both", {"pruned": pruned_url, "archive": archive_url})
            try:
                assert await sync.catch_up() == 11 and committed == list(range(1, 12))
                store.check_consistency()
            finally:
                await sync.close()
                store.close()

    try:
        with caplog.at_level(logging.INFO, logger="meterchain.sync"):
            asyncio.run(scenario())
    finally:
        pruned_peer.close()
        archive.close()


def test_state_sync_checks_a_pruned_peers_headers_from_the_genesis(tmp_path: Path) -> None:
    source = pruned_certified(tmp_path / "source", 10)

    async def scenario() -> None:
        async with serving(source) as url:
            target = open_store(tmp_path / "target", GENESIS, keep_heights=2, keep_blocks=3)
            try:
                assert await state_sync(target, GENESIS.validator_set(), CHAIN, {"source": url}, depth=1) == 11
                assert target.state().root == source.state().root
                target.check_consistency()
            finally:
                target.close()

    try:
        asyncio.run(scenario())
    finally:
        source.close()


def test_an_audit_of_a_pruned_node_says_to_audit_an_archive(tmp_path: Path) -> None:
    pruned_peer = pruned_certified(tmp_path / "pruned", 10)

    async def scenario() -> AuditReport:
        async with serving(pruned_peer) as url:
            return await audit_chain(url, GENESIS)

    try:
        report = asyncio.run(scenario())
    finally:
        pruned_peer.close()
    assert report.audited_height == 0 and report.failed_height == 1
    assert report.failure is not None and "audit an archive node" in report.failure and "heights 9 to 11" in report.failure


def test_an_archive_confirms_its_height_and_a_pruned_node_or_another_chain_nothing(tmp_path: Path) -> None:
    ours = certified_store(tmp_path / "ours", 6)
    archive = certified_store(tmp_path / "archive", 8)
    pruned_peer = pruned_certified(tmp_path / "pruned", 10)
    other = open_store(tmp_path / "other", history_genesis())  # another network's genesis
    grow_certified(CertifiedChain(other, history_genesis()), 7)

    async def scenario() -> None:
        async with serving(archive) as archive_url, serving(pruned_peer) as pruned_url, serving(other) as other_url:
            for urls, expected in [([archive_url], 6), ([archive_url, pruned_url], 0), ([other_url], 0)]:
                watch = ArchiveWatch(ours, urls)
                try:
                    assert await watch.poll() == expected == ours.archived_height, urls
                finally:
                    await watch.stop()

    try:
        asyncio.run(scenario())
    finally:
        for store in (ours, archive, pruned_peer, other):
            store.close()


# --- configuration ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    validator, regulator = write_network(tmp_path_factory.mktemp("homes"), 1, 1, node_ports(2))
    return validator.home, regulator.home


def with_storage(home: Path, storage: str) -> Any:
    return parse_config((home / CONFIG_FILE).read_text() + f"\n[storage]\n{storage}\n", home)


def test_keep_blocks_defaults_by_role_and_names_its_archives(homes: tuple[Path, Path]) -> None:
    validator, regulator = homes
    config = load_config(validator)
    assert (config.keep_blocks, config.archives) == (DEFAULT_KEEP_BLOCKS, [])
    assert load_config(regulator).keep_blocks is None  # an archive keeps every body
    config = with_storage(validator, 'keep_heights = 10\nkeep_blocks = 10\narchives = ["http://127.0.0.1:8550/"]')
    assert (config.keep_heights, config.keep_blocks, config.archives) == (10, 10, ["http://127.0.0.1:8550"])
    assert with_storage(validator, 'mode = "archive"').keep_blocks is None


@pytest.mark.parametrize(("storage", "message"), [
    ("keep_blocks = 0", r"storage.keep_blocks: Input should be greater than or equal to 1"),
    ("keep_blocks = 999", r"storage.keep_blocks: at least keep_heights \(1000: a kept state height is served with "
                          r"its block\) expected, found 999"),
    ("keep_heights = 50\nkeep_blocks = 20", r"storage.keep_blocks: at least keep_heights \(50"),
    ('archives = ["127.0.0.1:8550"]', r"storage.archives: Value error, an http://host:port URL expected, "
                                      r"found '127.0.0.1:8550'"),
    ('mode = "archive"\narchives = ["http://127.0.0.1:8550"]', r"storage.archives: none on an archive .* found 1"),
    ('keep_blocks = "many"', r"storage.keep_blocks: Input should be a valid integer"),
])
def test_invalid_storage_settings_are_refused_saying_what_was_expected(
    homes: tuple[Path, Path], storage: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        with_storage(homes[0], storage)
