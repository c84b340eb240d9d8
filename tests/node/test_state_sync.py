"""State sync (``node.state_sync``, ``node.api.snapshots``): a new node starts from a pruned
peer's snapshot of a certified height, each chunk checked against the top of the tree and
the header checked from the genesis (or against a trusted hash), then follows by block sync;
a peer serving a tampered chunk, a wrong trusted hash or a pruned height is refused."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from chain.merkle import iter_leaves
from node.blockstore import BlockStore, PrunedHeight, StoreError
from node.state_sync import StateSyncError, Trust, state_sync
from node.storechain import open_store
from node.sync import BlockSync
from node.validator_sets import ValidatorSets
from tests.node.certified_chain import CHAIN, CertifiedChain, key_of
from tests.node.test_sync import GENESIS, serving

KEEP = 3


def pruned_source(path: Path, blocks: int) -> tuple[BlockStore, CertifiedChain]:
    store = open_store(path, GENESIS, keep_heights=KEEP)
    chain = CertifiedChain(store, GENESIS)
    grow(chain, blocks)
    return store, chain


def grow(chain: CertifiedChain, blocks: int) -> None:
    for _ in range(blocks):
        height = chain.store.head().height + 1
        chain.commit((chain.transaction("governance", "registry", "register_utility",
                                        [f"U{height}", "Utility", "electricity", "EUR", "auto", key_of("admin")]),))  # fmt: skip


def contents(store: BlockStore) -> dict[bytes, bytes]:
    return dict(iter_leaves(store.state_backend.get_node, store.state().root))


@asynccontextmanager
async def tampering(upstream: str) -> AsyncIterator[str]:
    """A peer that relays another's API but changes one value in every chunk it serves."""

    async def relay(request: web.Request) -> web.Response:
        async with aiohttp.ClientSession() as http, http.get(upstream + request.path_qs) as answer:
            body = await answer.json()
            if "/chunks/" in request.path and body.get("leaves"):
                value = body["leaves"][0]["value"]
                body["leaves"][0]["value"] = ("00" if value[:2] != "00" else "01") + value[2:]
            return web.json_response(body, status=answer.status)

    app = web.Application()
    app.router.add_get("/{tail:.*}", relay)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def test_a_new_node_starts_from_a_pruned_peers_snapshot_and_follows(tmp_path: Path) -> None:
    source, chain = pruned_source(tmp_path / "source", 8)
    assert source.kept_heights() == (6, 8)

    async def scenario() -> None:
        async with serving(source) as url:
            target = open_store(tmp_path / "target", GENESIS, keep_heights=KEEP)
            try:
                height = await state_sync(target, GENESIS.validator_set(), CHAIN, {"source": url}, depth=2)
                assert height == 8 == target.head().height
                assert target.head_header() == source.head_header()
                assert contents(target) == contents(source)
                assert target.kept_heights() == (8, 8) and target.block(7) is None
                target.check_consistency()
                # Then block sync from H + 1, re-executing on the synced state.
                grow(chain, 3)
                sync = BlockSync(target, CHAIN, ValidatorSets.of_store(GENESIS.validator_set(), target).at, {"source": url})
                assert await sync.catch_up() == 11
                await sync.close()
                assert target.state().root == source.state().root
                target.check_consistency()
            finally:
                target.close()

    try:
        asyncio.run(scenario())
    finally:
        source.close()


def test_a_trusted_hash_replaces_the_chain_from_genesis_and_a_wrong_one_is_refused(tmp_path: Path) -> None:
    source, _ = pruned_source(tmp_path / "source", 5)
    head = source.head_header()

    async def scenario() -> None:
        async with serving(source) as url:
            wrong = open_store(tmp_path / "wrong", GENESIS)
            try:
                with pytest.raises(StateSyncError, match="none that checks"):
                    await state_sync(wrong, GENESIS.validator_set(), CHAIN, {"source": url}, Trust(5, bytes(32)), depth=1)
                assert wrong.head().height == 0  # nothing of it written
            finally:
                wrong.close()
            right = open_store(tmp_path / "right", GENESIS)
            try:
                assert await state_sync(right, GENESIS.validator_set(), CHAIN, {"source": url}, Trust(5, head.hash)) == 5
                assert right.state().root == head.state_root
            finally:
                right.close()

    try:
        asyncio.run(scenario())
    finally:
        source.close()


def test_invalid_a_tampered_chunk_is_refused_and_asked_of_an_honest_peer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source, _ = pruned_source(tmp_path / "source", 4)

    async def scenario() -> None:
        async with serving(source) as url, tampering(url) as liar:
            alone = open_store(tmp_path / "alone", GENESIS)
            try:
                with pytest.raises(StateSyncError, match="none left"):
                    await state_sync(alone, GENESIS.validator_set(), CHAIN, {"liar": liar}, depth=2)
                assert alone.head().height == 0
            finally:
                alone.close()
            both = open_store(tmp_path / "both", GENESIS)
            try:
                # The liar serves the top honestly; its chunks are refused, the honest peer's taken.
                peers = {"liar": liar, "honest": url}
                assert await state_sync(both, GENESIS.validator_set(), CHAIN, peers, depth=2) == 4
                assert contents(both) == contents(source)
            finally:
                both.close()

    caplog.set_level(logging.INFO, "meterchain.state_sync")
    try:
        asyncio.run(scenario())
    finally:
        source.close()
    refusals = [r.getMessage() for r in caplog.records if "refusing peer liar" in r.getMessage()]
    assert refusals and all("leaves hashing to" in m for m in refusals), refusals


def test_a_pruned_height_is_refused_with_the_heights_kept(tmp_path: Path) -> None:
    source, _ = pruned_source(tmp_path / "source", 6)

    async def scenario() -> None:
        async with serving(source) as url, aiohttp.ClientSession() as http:
            async with http.get(url + "/v1/snapshots") as answer:
                assert await answer.json() == {"low": 4, "high": 6, "archive": False}
            for path in ("/v1/snapshots/2", "/v1/state/00?height=2"):
                async with http.get(url + path) as answer:
                    body = await answer.json()
                    assert answer.status == 410, body
                    assert "height 2, whose state this node pruned" in body["error"]
                    assert "heights 4 to 6" in body["error"]
            async with http.get(url + "/v1/state/00?height=4&proof=true") as answer:
                assert answer.status == 200
            async with http.get(url + "/openapi.json") as answer:
                paths = (await answer.json())["paths"]
                assert {"/v1/snapshots", "/v1/snapshots/{height}", "/v1/snapshots/{height}/chunks/{index}"} <= set(paths)

    try:
        asyncio.run(scenario())
    finally:
        source.close()


def test_invalid_a_snapshot_is_committed_only_whole_and_only_on_a_fresh_store(tmp_path: Path) -> None:
    source, _ = pruned_source(tmp_path / "source", 3)
    target = open_store(tmp_path / "target", GENESIS)
    try:
        finalized = source.finalized_block(3)
        assert finalized is not None and finalized.certificate is not None
        values = contents(source)
        one_short = dict(values)
        one_short.popitem()
        with pytest.raises(StoreError, match="state root"):
            target.commit_snapshot(finalized.block, finalized.receipts, finalized.certificate, one_short)
        assert target.head().height == 0  # nothing of it written
        target.commit_snapshot(finalized.block, finalized.receipts, finalized.certificate, values)
        assert target.head().height == 3 and target.snapshot_height() == 3
        with pytest.raises(StoreError, match="only its genesis"):
            target.commit_snapshot(finalized.block, finalized.receipts, finalized.certificate, values)
        with pytest.raises(PrunedHeight, match="started from a snapshot of height 3"):
            target.state(2)
    finally:
        target.close()
        source.close()
