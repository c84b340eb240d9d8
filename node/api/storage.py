"""What a node's store keeps, and the headers it keeps for every height.

- ``GET /v1/storage``: the heights whose state, and those whose block bodies and receipts,
  this node keeps, and whether it is an archive (every block from height 1 on, kept for
  good). A pruned validator asks its archives this before it drops a body (``node.archives``).
- ``GET /v1/headers?from=&count=``: consecutive headers with their commit certificates.
  Every node keeps them from its first block on, bodies dropped or not (``node.bodies``),
  so a light client or state sync (``node.state_sync``) checks the chain from the genesis
  against any peer, pruned or not.

Answers about a height whose body this node dropped are 410 everywhere (``DroppedBody``),
naming the heights whose bodies it keeps and pointing to an archive.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from node.api.openapi import Param, Route
from node.blockstore import BlockStore

MAX_HEADER_BATCH: Final = 1024  # headers per GET /v1/headers (a header and certificate are ~1 KiB)

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageResponse(_Model):
    head: int
    state_from: int = Field(description="the lowest height whose state is kept")
    blocks_from: int = Field(description="the lowest height whose block body and receipts are kept")
    keep_heights: int | None = Field(description="the state window of a pruned node (null: every height's state)")
    keep_blocks: int | None = Field(description="the body window of a pruned node (null: every body)")
    archive: bool = Field(description="whether this node keeps every block from height 1 on, for good")


class HeaderItem(_Model):
    height: int
    header: str = Field(description="canonical bytes of the header (BlockHeader.encode), hex")
    certificate: str | None = Field(description="the commit certificate that finalized it, hex")


class HeadersResponse(_Model):
    head: int
    headers: list[HeaderItem]


def store_of(view: Any) -> BlockStore | None:
    """The block store behind a chain view (``None`` for a local chain, which drops nothing)."""
    # Imported here, as node.api.snapshots does: node.storechain imports the VM.
    from node.storechain import StoredChainView

    return view.store if isinstance(view, StoredChainView) else None


def _store(request: web.Request) -> BlockStore:
    from node.api.app import CONTEXT  # the app imports this module for its routes

    store = store_of(request.app[CONTEXT].view)
    if store is None:
        raise web.HTTPNotFound(text="a node with a block store expected, found a local chain")
    return store


def _int(query: Any, name: str, default: int | None, low: int, high: int) -> int:
    text = query.get(name)
    if text is None:
        if default is None:
            raise web.HTTPBadRequest(text=f"{name}: an integer expected, found no {name!r} parameter")
        return default
    if not text.isdigit() or len(text) > 19 or not low <= int(text) <= high:
        raise web.HTTPBadRequest(text=f"{name}: an integer from {low} to {high} expected, found {text[:40]!r}")
    return int(text)


def describe(store: BlockStore) -> StorageResponse:
    state_from, head = store.kept_heights()
    blocks_from = store.bodies_from()
    return StorageResponse(
        head=head, state_from=state_from, blocks_from=blocks_from, keep_heights=store.state_backend.keep_heights,
        keep_blocks=store.keep_blocks, archive=store.keep_blocks is None and blocks_from == 1,
    )


async def get_storage(request: web.Request) -> web.Response:
    return web.Response(text=describe(_store(request)).model_dump_json(), content_type="application/json")


async def get_headers(request: web.Request) -> web.Response:
    store = _store(request)
    start = _int(request.query, "from", None, 1, 2**63)
    count = _int(request.query, "count", 256, 1, MAX_HEADER_BATCH)

    def answer() -> str:
        head = store.head().height
        items = []
        for height in range(start, min(head, start + count - 1) + 1):
            header = store.header(height)
            if header is None:  # below a snapshot this store started from
                break
            certificate = store.certificate(height)
            items.append(HeaderItem(
                height=height, header=header.encode().hex(), certificate=None if certificate is None else certificate.hex()
            ))
        return HeadersResponse(head=head, headers=items).model_dump_json()

    return web.Response(text=await asyncio.to_thread(answer), content_type="application/json")


STORAGE_ROUTES: Final[tuple[Any, ...]] = (
    Route("GET", "/v1/storage", get_storage, "What this node keeps: the heights of its state and of its block bodies",
          StorageResponse, errors=(404,)),
    Route(
        "GET", "/v1/headers", get_headers,
        "Consecutive block headers with their commit certificates, kept for every height (light clients, state sync)",
        HeadersResponse,
        params=(
            Param("from", "query", {"type": "integer", "minimum": 1}, "the first height"),
            Param("count", "query", {"type": "integer", "minimum": 1, "maximum": MAX_HEADER_BATCH},
                  "at most this many (default 256)", False),
        ),
        errors=(400, 404),
    ),
)
