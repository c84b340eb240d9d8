"""Snapshots of the state for state sync (``node.state_sync``): the top of the tree at a
kept height with that height's block, certificate and receipts, then the tree's leaves in
chunks, one per subtree at the chosen depth (``chain.merkle``, "snapshots").

- ``GET /v1/snapshots``: the heights whose state this node can serve (its kept heights).
- ``GET /v1/snapshots/{height}?depth=D``: block ``height`` (canonical bytes), its commit
  certificate and receipts, and the stored tree nodes above depth ``D`` (default 8).
- ``GET /v1/snapshots/{height}/chunks/{index}?depth=D``: the (key, value) leaves of the
  subtree at position ``index`` (its first ``D`` path bits).

Each answer is read from one LevelDB snapshot, so pruning running meanwhile cannot take
nodes from under it. A height the node no longer keeps answers 410 naming the heights it
keeps; a chunk of more than ``MAX_CHUNK_LEAVES`` leaves answers 413 (ask with a larger
depth).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chain.hashing import Hash32
from chain.merkle import MissingNode, iter_leaves, subtree_at, top_nodes
from node.api.openapi import Param, Route
from node.blockstore import HEAD_KEY, BlockStore, encode_receipts
from node.bodies import BODY_FLOOR_KEY
from node.pruning import stored_floor
from node.statedb import LevelDBBackend

DEFAULT_DEPTH: Final = 8
MAX_DEPTH: Final = 16
MAX_CHUNK_LEAVES: Final = 50_000

_STATUS: Final = {
    400: web.HTTPBadRequest, 404: web.HTTPNotFound, 410: web.HTTPGone, 413: web.HTTPRequestEntityTooLarge,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SnapshotsResponse(_Model):
    """Which heights' state this node serves as a snapshot."""

    low: int = Field(description="the lowest height whose state is kept")
    high: int = Field(description="the head")
    archive: bool = Field(description="whether the node keeps every height's state")


class SnapshotTopResponse(_Model):
    height: int
    state_root: str = Field(description="the state root in block height's header")
    depth: int
    block: str = Field(description="block height's canonical bytes (Block.encode), hex")
    certificate: str = Field(description="the commit certificate that finalized it, hex")
    receipts: str = Field(description="its receipts, one canonical array, hex")
    nodes: list[str] = Field(description="the stored tree nodes above depth, hex (chain.merkle layout)")


class SnapshotLeaf(_Model):
    key: str
    value: str


class SnapshotChunkResponse(_Model):
    height: int
    depth: int
    index: int
    leaves: list[SnapshotLeaf] = Field(description="every (key, value) of the subtree, in no promised order")


def _failure(status: int, message: str) -> web.HTTPException:
    """An error answer (the API's error middleware turns it into ``{"error", "status"}``)."""
    failure: web.HTTPException = _STATUS[status](text=message)
    return failure


def _store(request: web.Request) -> BlockStore:
    from node.api.app import CONTEXT  # the app imports this module for its routes
    from node.storechain import StoredChainView

    view = request.app[CONTEXT].view
    if not isinstance(view, StoredChainView):
        raise _failure(404, "a node with a block store expected, found a local chain (no snapshots)")
    return view.store


def _int(text: str | None, name: str, default: int, high: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or len(text) > 19 or int(text) > high:
        raise _failure(400, f"{name}: an integer from 0 to {high} expected, found {text[:40]!r}")
    return int(text)


def _height_and_depth(request: web.Request) -> tuple[int, int]:
    height = _int(request.match_info["height"], "height", 0, 2**63)
    depth = _int(request.query.get("depth"), "depth", DEFAULT_DEPTH, MAX_DEPTH)
    return height, depth


class _Reader:
    """One LevelDB snapshot of the store, checked to keep ``height``'s state."""

    def __init__(self, store: BlockStore, height: int) -> None:
        self.store = store
        self.snapshot = store.db.snapshot()
        head = int.from_bytes(self.snapshot.get(HEAD_KEY)[:8], "big")
        low = max(stored_floor(self.snapshot), store.snapshot_height())
        bodies = self.snapshot.get(BODY_FLOOR_KEY)  # a snapshot's block goes with it (node.bodies)
        if bodies is not None:
            low = max(low, int.from_bytes(bodies, "big"))
        if not 1 <= height <= head:
            self.close()
            raise _failure(404, f"a finalized height from 1 to {head} expected, found {height}")
        if height < low:
            self.close()
            raise _failure(
                410, f"the snapshot of a kept height expected, found height {height}, whose state this node pruned: "
                f"it keeps the state of heights {low} to {head}"
            )
        self.get_node = LevelDBBackend(self.snapshot).get_node
        finalized = store.finalized_block(height)
        assert finalized is not None, "a kept height's block is stored"
        self.finalized = finalized
        self.root = Hash32(finalized.block.header.state_root)

    def close(self) -> None:
        self.snapshot.close()


def _top(store: BlockStore, height: int, depth: int) -> SnapshotTopResponse:
    reader = _Reader(store, height)
    try:
        finalized = reader.finalized
        nodes = top_nodes(reader.get_node, reader.root, depth)
        return SnapshotTopResponse(
            height=height, state_root=reader.root.hex(), depth=depth, block=finalized.block.encode().hex(),
            certificate=(finalized.certificate or b"").hex(), receipts=encode_receipts(finalized.receipts).hex(),
            nodes=[node.hex() for node in nodes],
        )
    finally:
        reader.close()


def _chunk(store: BlockStore, height: int, depth: int, index: int) -> SnapshotChunkResponse:
    reader = _Reader(store, height)
    try:
        subtree = subtree_at(reader.get_node, reader.root, depth, index)
        leaves: list[SnapshotLeaf] = []
        for key, value in iter_leaves(reader.get_node, subtree):
            if len(leaves) == MAX_CHUNK_LEAVES:
                raise _failure(413, f"a chunk of at most {MAX_CHUNK_LEAVES} leaves expected, found more: ask with a larger depth")
            leaves.append(SnapshotLeaf(key=key.hex(), value=value.hex()))
        return SnapshotChunkResponse(height=height, depth=depth, index=index, leaves=leaves)
    finally:
        reader.close()


def _json(model: BaseModel) -> web.Response:
    return web.Response(text=model.model_dump_json(), content_type="application/json")


async def get_snapshots(request: web.Request) -> web.Response:
    store = _store(request)
    low, high = store.kept_heights()
    low = max(low, store.bodies_from())  # a snapshot is served with its block (node.bodies)
    return _json(SnapshotsResponse(low=max(low, 1), high=high, archive=store.state_backend.keep_heights is None))


async def get_snapshot(request: web.Request) -> web.Response:
    store = _store(request)
    height, depth = _height_and_depth(request)
    try:
        return _json(await asyncio.to_thread(_top, store, height, depth))
    except MissingNode as exc:
        raise _failure(410, f"the state of height {height} whole expected, found a node missing: {exc}") from None


async def get_snapshot_chunk(request: web.Request) -> web.Response:
    store = _store(request)
    height, depth = _height_and_depth(request)
    index = _int(request.match_info["index"], "index", 0, (1 << depth) - 1)
    try:
        return _json(await asyncio.to_thread(_chunk, store, height, depth, index))
    except MissingNode as exc:
        raise _failure(410, f"the state of height {height} whole expected, found a node missing: {exc}") from None


_HEIGHT = Param("height", "path", {"type": "integer", "minimum": 1}, "a kept height (GET /v1/snapshots)")
_DEPTH = Param("depth", "query", {"type": "integer", "minimum": 0, "maximum": MAX_DEPTH},
               f"where the top ends and the chunks begin (default {DEFAULT_DEPTH})", False)

SNAPSHOT_ROUTES: Final[tuple[Any, ...]] = (
    Route("GET", "/v1/snapshots", get_snapshots, "The heights whose state this node serves as a snapshot",
          SnapshotsResponse, errors=(404,)),
    Route(
        "GET", "/v1/snapshots/{height}", get_snapshot,
        "State sync: block height with its certificate and receipts, and the state tree's nodes above depth",
        SnapshotTopResponse, params=(_HEIGHT, _DEPTH), errors=(400, 404, 410),
    ),
    Route(
        "GET", "/v1/snapshots/{height}/chunks/{index}", get_snapshot_chunk,
        "State sync: the leaves of the state tree's subtree at position index of depth bits",
        SnapshotChunkResponse,
        params=(_HEIGHT, Param("index", "path", {"type": "integer", "minimum": 0}, "the subtree's first depth path bits"), _DEPTH),
        errors=(400, 404, 410, 413),
    ),
)
