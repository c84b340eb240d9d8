"""Block sync (``node.sync``): blocks with their certificates fetched in batches from a
peer's real API, checked, re-executed and committed; a peer serving a bad certificate or a
wrong state root is refused without anything of its block committed, and sync goes on from
an honest peer. The batch endpoint ``GET /v1/blocks`` and ``GET /v1/genesis``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from chain.hashing import Hash32
from consensus.certificate import certificate_from_precommits
from consensus.messages import Vote, VoteType, sign_vote
from node.api import ApiContext, StandaloneNode, make_app
from node.api.app import MAX_BLOCK_BATCH
from node.api.models import BlockBatchResponse, RawBlockModel, StatusResponse
from node.blockstore import BlockStore
from node.history import HistoryIndex
from node.mempool import Mempool
from node.storechain import StoredChainView, open_store
from node.sync import BlockSync
from node.validator_sets import ValidatorSets
from tests.node.certified_chain import CHAIN, CertifiedChain, genesis_document, key_of, seed_of

GENESIS = genesis_document()


def certified_store(path: Path, blocks: int) -> BlockStore:
    """A store with ``blocks`` certified blocks, each with a transaction or two."""
    store = open_store(path, GENESIS)
    chain = CertifiedChain(store, GENESIS)
    for height in range(1, blocks + 1):
        txs = [chain.transaction("governance", "registry", "register_utility",
                                 [f"U{height}", "Utility", "electricity", "EUR", "auto", key_of("admin")])]  # fmt: skip
        chain.commit(tuple(txs))
    return store


@asynccontextmanager
async def serving(store: BlockStore) -> AsyncIterator[str]:
    """The store's real API on a free port; its URL."""
    ctx = ApiContext(StoredChainView(store, CHAIN), Mempool(CHAIN), StandaloneNode(), genesis=GENESIS,
                     history=HistoryIndex(store.db))
    runner = web.AppRunner(make_app(ctx))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serving_pairs(pairs: Sequence[tuple[bytes, bytes | None]]) -> AsyncIterator[str]:
    """A peer that serves exactly the given (block bytes, certificate) pairs from height 1:
    how a lying or broken peer looks from the outside."""

    async def status(request: web.Request) -> web.Response:
        body = StatusResponse(
            chain_id=CHAIN, height=len(pairs), last_block_hash="00" * 32, state_root="00" * 32, role="validator",
            validators=[], peers=0, syncing=False, mempool=0,
        )  # fmt: skip
        return web.Response(text=body.model_dump_json(), content_type="application/json")

    async def blocks(request: web.Request) -> web.Response:
        start, count = int(request.query["from"]), int(request.query["count"])
        chosen = [
            RawBlockModel(height=h, block=pairs[h - 1][0].hex(), certificate=(pairs[h - 1][1] or b"").hex() or None)
            for h in range(start, min(len(pairs), start + count - 1) + 1)
        ]
        body = BlockBatchResponse(head=len(pairs), blocks=chosen)
        return web.Response(text=body.model_dump_json(), content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/status", status)
    app.router.add_get("/v1/blocks", blocks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def pairs_of(store: BlockStore) -> list[tuple[bytes, bytes]]:
    out = []
    for height in range(1, store.head().height + 1):
        block, certificate = store.block(height), store.certificate(height)
        assert block is not None and certificate is not None
        out.append((block.encode(), certificate))
    return out


def certificate(block_hash: Hash32, height: int, signers: Sequence[str]) -> bytes:
    votes = [sign_vote(Vote(VoteType.PRECOMMIT, height, 0, block_hash, key_of(n)), seed_of(n), CHAIN) for n in signers]
    return certificate_from_precommits(votes).encode()


def new_sync(path: Path, peers: dict[str, str], batch: int = 4) -> tuple[BlockStore, BlockSync, list[int]]:
    store = open_store(path, GENESIS)
    committed: list[int] = []
    sync = BlockSync(store, CHAIN, ValidatorSets.of_store(GENESIS.validator_set(), store).at, peers, on_committed=committed.append, batch=batch)
    return store, sync, committed


def test_a_node_syncs_every_block_from_a_peer_in_batches(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = certified_store(tmp_path / "source", 10)

    async def scenario() -> None:
        async with serving(source) as url:
            store, sync, committed = new_sync(tmp_path / "target", {"source": url})
            try:
                assert await sync.catch_up() == 10
                assert committed == list(range(1, 11)) and not sync.syncing
                for height in range(1, 11):
                    assert store.block(height) == source.block(height)
                    assert store.certificate(height) == source.certificate(height)
                    assert store.receipts(height) == source.receipts(height)
                assert store.state().root == source.state().root
                store.check_consistency()
            finally:
                await sync.close()
                store.close()

    with caplog.at_level(logging.INFO, logger="meterchain.sync"):
        asyncio.run(scenario())
    assert any("sync: height 10 of 10 from source" in r.getMessage() and "blocks/s" in r.getMessage() for r in caplog.records)
    source.close()


def tamper_state_root(pairs: list[tuple[bytes, bytes]], height: int) -> None:
    """Block ``height`` with another state root, certified by every validator all the same
    (a majority that signed a wrong block: re-execution must catch it)."""
    from chain.types import Block

    block = Block.decode(pairs[height - 1][0])
    header = replace(block.header, state_root=Hash32(bytes(32)))
    forged = replace(block, header=header)
    pairs[height - 1] = (forged.encode(), certificate(header.hash, height, ("v1", "v2", "v3", "v4")))


def under_signed(pairs: list[tuple[bytes, bytes]], height: int) -> None:
    """Block ``height`` with a certificate of 2 of the 4 validators (not more than 2/3)."""
    from chain.types import Block

    block = Block.decode(pairs[height - 1][0])
    pairs[height - 1] = (pairs[height - 1][0], certificate(block.header.hash, height, ("v1", "v2")))


def test_a_sync_to_a_named_target_asks_the_peers_first(tmp_path: Path) -> None:
    """The engine names the height its peers reported (catch_up(target)) on a BlockSync
    that never polled: it must still find the peer that has the blocks."""
    source = certified_store(tmp_path / "source", 10)

    async def scenario() -> None:
        async with serving(source) as url:
            store, sync, committed = new_sync(tmp_path / "target", {"source": url})
            try:
                assert await sync.catch_up(7) >= 7
                assert committed[:7] == list(range(1, 8))
                store.check_consistency()
            finally:
                await sync.close()
                store.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (under_signed, "block 3: a valid commit certificate expected: precommits of more than 2/3 of the power 4 expected, found 2"),
        (tamper_state_root, "block 3 re-executed: state root"),
    ],
)
def test_invalid_blocks_stop_sync_from_their_peer_and_are_never_committed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tamper: object, message: str
) -> None:
    source = certified_store(tmp_path / "source", 5)
    honest = pairs_of(source)
    lying = list(honest)
    tamper(lying, 3)  # type: ignore[operator]

    async def scenario() -> None:
        async with serving_pairs(lying) as liar_url, serving(source) as honest_url:
            store, sync, committed = new_sync(tmp_path / "target", {"liar": liar_url}, batch=2)
            try:
                assert await sync.catch_up() == 2
                assert committed == [1, 2] and store.block(3) is None
                store.check_consistency()
                [liar] = sync.peers
                assert liar.refused is not None and message in liar.refused
                assert await sync.catch_up() == 2  # the liar is not asked again
            finally:
                await sync.close()
            # With an honest peer as well, sync goes on past the lie.
            sync = BlockSync(store, CHAIN, ValidatorSets.of_store(GENESIS.validator_set(), store).at, {"liar": liar_url, "honest": honest_url})
            try:
                assert await sync.catch_up() == 5
                assert store.state().root == source.state().root
            finally:
                await sync.close()
                store.close()

    with caplog.at_level(logging.INFO, logger="meterchain.sync"):
        asyncio.run(scenario())
    refusals = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert refusals and "sync: refusing peer liar" in refusals[0] and message in refusals[0]
    source.close()


def test_invalid_block_bytes_and_a_block_without_its_certificate_are_refused(tmp_path: Path) -> None:
    source = certified_store(tmp_path / "source", 2)
    pairs = pairs_of(source)
    garbled: list[tuple[bytes, bytes | None]] = [pairs[0], (b"\x93junk", pairs[1][1])]
    uncertified: list[tuple[bytes, bytes | None]] = [pairs[0], (pairs[1][0], None)]

    async def scenario() -> None:
        for name, served, message in [
            ("garbled", garbled, "block 2: canonical block bytes expected"),
            ("uncertified", uncertified, "block 2: a commit certificate expected, found none"),
        ]:
            async with serving_pairs(served) as url:
                store, sync, _ = new_sync(tmp_path / name, {"peer": url})
                try:
                    assert await sync.catch_up() == 1
                    assert message in (sync.peers[0].refused or "")
                finally:
                    await sync.close()
                    store.close()

    asyncio.run(scenario())
    source.close()


def test_the_block_batch_and_genesis_endpoints(tmp_path: Path) -> None:
    source = certified_store(tmp_path / "source", 3)

    async def scenario() -> None:
        async with serving(source) as url, aiohttp.ClientSession() as http:
            async with http.get(url + "/v1/blocks", params={"from": 2, "count": 10}) as r:
                batch = BlockBatchResponse.model_validate(await r.json())
            assert batch.head == 3 and [b.height for b in batch.blocks] == [2, 3]
            assert bytes.fromhex(batch.blocks[0].block) == source.block(2).encode()  # type: ignore[union-attr]
            assert bytes.fromhex(batch.blocks[1].certificate or "") == source.certificate(3)
            async with http.get(url + "/v1/blocks", params={"from": 4}) as r:
                assert (await r.json())["blocks"] == []
            for params, found in [({"from": 0}, "found from 0"), ({"count": 1}, "no 'from' parameter"),
                                  ({"from": 1, "count": MAX_BLOCK_BATCH + 1}, f"count {MAX_BLOCK_BATCH + 1}"),
                                  ({"from": "x"}, "a non-negative integer expected")]:  # fmt: skip
                async with http.get(url + "/v1/blocks", params=params) as r:
                    assert r.status == 400 and found in (await r.json())["error"]
            async with http.get(url + "/v1/genesis") as r:
                assert (await r.json()) == GENESIS.model_dump()
            async with http.get(url + "/openapi.json") as r:
                document = await r.json()
            assert "/v1/blocks" in document["paths"] and "/v1/genesis" in document["paths"]
            assert "BlockBatchResponse" in document["components"]["schemas"]

    asyncio.run(scenario())
    source.close()
