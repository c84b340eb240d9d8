"""History from the blocks: a meter's readings, a subscription's invoices and payments.

``GET /v1/meters/{meter}/readings?from=&to=``, ``GET /v1/subscriptions/{id}/invoices`` and
``/payments`` answer from the node's event index (``node.history``), each item with the
block height, transaction hash and position of the event it came from. With
``proof=true`` the answer carries what a client needs to check it without trusting the
node (``wallet.history_check``): each block's header and commit certificate, and each
receipt's canonical bytes with its Merkle proof against the header's receipts root.

A node that does not hold every block (a pruned node that dropped old bodies, ``node.bodies``,
or one started from a snapshot) has no index entries for the blocks it lacks: rather than
a silently shorter history it answers 410 when the request reaches back before them (a
reading time ``from`` not after the last missing block's time, since a reading is never
later than its block; a subscription's list without ``from_height`` at or above the first
kept block), naming what it keeps and pointing to an archive.

Pages are bounded (``limit`` at most ``MAX_PAGE`` items, and a proof page stops adding
items once its receipts pass ``MAX_PROOF_BYTES``); ``next`` is the cursor of the page that
follows (``after=``), absent on the last page.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chain.hashing import merkle_list_proof
from chain.types import Event, Receipt
from node.api.openapi import Param, Route
from node.api.storage import store_of
from node.api.values import BadInput, parse_hex, to_json
from node.chainview import ChainView, FinalizedBlock
from node.history import (
    INVOICE_PREFIX,
    LOCATION_SIZE,
    MAX_NAME,
    MAX_TIME,
    PAYMENT_PREFIX,
    Entry,
    HistoryIndex,
    Location,
    reading_interval_seconds,
)

MAX_PAGE: Final = 500
DEFAULT_PAGE: Final = 100
MAX_PROOF_BYTES: Final = 4 * 1024 * 1024  # receipts' bytes in one proof page (at least one item)
MAX_CURSOR: Final = 64


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HistoryItem(_Model):
    """Where an item came from: the finalized block, the transaction and the event."""

    height: int
    tx_hash: str
    tx_index: int
    event_index: int = Field(description="the event's position in the transaction's receipt")
    contract: str
    name: str = Field(description="the event's name (reading, load_profile, invoice, payment, ...)")
    fields: dict[str, Any] = Field(description="the event's fields as JSON (bytes as 0x-hex)")
    fields_hex: str = Field(description="the canonical bytes of the event's fields")


class ReadingItem(HistoryItem):
    timestamp: int
    index: int
    interval: int | None = Field(None, description="for a load profile: the interval k of this reading")
    interval_seconds: int = Field(
        0, description="the length of the interval this reading closes, as a rebill's readings give it: a load "
        "profile's interval_seconds for its intervals k >= 1, 0 for a plain reading, a profile's first index and a "
        "reading_corrected (which keeps the length of the reading it corrects)",
    )


class BlockProof(_Model):
    height: int
    header: str = Field(description="canonical bytes of the block header")
    certificate: str | None = Field(description="canonical bytes of the commit certificate that finalized it")
    receipt_count: int = Field(description="receipts (= transactions) in the block, for the receipts' Merkle tree")


class ReceiptProof(_Model):
    height: int
    tx_index: int
    receipt: str = Field(description="canonical bytes of the receipt")
    siblings: list[str] = Field(description="its Merkle proof against the header's receipts_root, leaf upwards")


class HistoryProof(_Model):
    blocks: list[BlockProof]
    receipts: list[ReceiptProof]


class ReadingsResponse(_Model):
    meter: str
    start: int = Field(description="from: the first time included")
    end: int = Field(description="to: the first time excluded")
    items: list[ReadingItem]
    next: str | None = Field(description="pass as after= for the next page; absent on the last page")
    proof: HistoryProof | None = None


class SubscriptionHistoryResponse(_Model):
    subscription: str
    kind: str = Field(description="invoices or payments")
    items: list[HistoryItem]
    next: str | None
    proof: HistoryProof | None = None


_STATUS: Final = {400: web.HTTPBadRequest, 404: web.HTTPNotFound, 410: web.HTTPGone, 500: web.HTTPInternalServerError}


def _failure(status: int, message: str) -> web.HTTPException:
    """An error answer (the API's error middleware turns it into ``{"error", "status"}``)."""
    return _STATUS[status](text=message)


# --- parameters -------------------------------------------------------------------------


def _int(query: Any, name: str, default: int, high: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not text.isdigit() or len(text) > 19 or int(text) > high:
        raise _failure(400, f"{name}: an integer from 0 to {high} expected, found {text[:40]!r}")
    return int(text)


def _bool(query: Any, name: str) -> bool:
    text = query.get(name, "false").lower()
    if text not in ("true", "false", "1", "0"):
        raise _failure(400, f"{name}: true or false expected, found {text[:20]!r}")
    return text in ("true", "1")


def _owner(request: web.Request, what: str) -> str:
    name = request.match_info[what]
    if not 0 < len(name.encode()) <= MAX_NAME:
        raise _failure(400, f"a {what} id of 1 to {MAX_NAME} bytes expected, found {len(name.encode())} bytes")
    return name


def _cursor(query: Any) -> bytes | None:
    text = query.get("after")
    if text is None:
        return None
    try:
        cursor = parse_hex(text, "after")
    except BadInput as exc:
        raise _failure(400, str(exc)) from None
    if not 0 < len(cursor) <= MAX_CURSOR:
        raise _failure(400, f"after: a cursor from a previous answer's next expected, found {len(cursor)} bytes")
    return cursor


def _index(request: web.Request) -> tuple[ChainView, HistoryIndex]:
    from node.api.app import CONTEXT  # the app imports this module for its routes

    ctx = request.app[CONTEXT]
    if ctx.history is None:
        raise _failure(404, "a node keeping a history index expected, found one without (a local chain)")
    return ctx.view, ctx.history


def _missing_before(view: ChainView) -> tuple[int, int] | None:
    """``(height, time)`` of the first block this node holds when it lacks earlier ones
    (their events are not indexed here), ``time`` being the latest a missing block can
    have; ``None`` when it holds every block from height 1 on."""
    store = store_of(view)
    if store is None or store.bodies_from() <= 1:
        return None
    first = store.bodies_from()
    # The last missing block's header is kept when its body was dropped; on a store started
    # from a snapshot it is not, and the first block's own time bounds it from above.
    bound = store.header(first - 1) or store.header(first)
    assert bound is not None, "the first block a store holds has its header"
    return first, bound.time


def _gone(view: ChainView, what: str, instead: str) -> web.HTTPException:
    store = store_of(view)
    assert store is not None
    return _failure(
        410, f"{what} expected from the blocks this node holds, found the request reaching back before them: it keeps "
        f"{store.describe_bodies()}; {instead}, or ask an archive node (a regulator's) for the whole history"
    )


# --- building answers --------------------------------------------------------------------


class _Page:
    """Blocks read once per answer, and the proof of each receipt the items use."""

    def __init__(self, view: ChainView, with_proof: bool) -> None:
        self.view = view
        self.with_proof = with_proof
        self.blocks: dict[int, FinalizedBlock] = {}
        self.block_proofs: list[BlockProof] = []
        self.receipt_proofs: dict[tuple[int, int], ReceiptProof] = {}
        self.encoded: dict[int, list[bytes]] = {}  # each block's receipts' bytes, once per answer
        self.proof_bytes = 0

    def event(self, entry: Entry) -> tuple[Receipt, Event]:
        where = entry.where
        finalized = self.blocks.get(where.height)
        if finalized is None:
            found = self.view.block(where.height)
            if found is None:  # the index is written with its block: never expected
                raise _failure(500, f"block {where.height} expected for an indexed event, found none")
            finalized = self.blocks[where.height] = found
            if self.with_proof:
                self.block_proofs.append(
                    BlockProof(
                        height=where.height,
                        header=finalized.block.header.encode().hex(),
                        certificate=None if finalized.certificate is None else finalized.certificate.hex(),
                        receipt_count=len(finalized.receipts),
                    )
                )
        receipt = finalized.receipts[where.tx_index]
        if self.with_proof and (where.height, where.tx_index) not in self.receipt_proofs:
            encoded = self.encoded.get(where.height)
            if encoded is None:
                encoded = self.encoded[where.height] = [r.encode() for r in finalized.receipts]
            self.receipt_proofs[(where.height, where.tx_index)] = ReceiptProof(
                height=where.height,
                tx_index=where.tx_index,
                receipt=encoded[where.tx_index].hex(),
                siblings=[s.hex() for s in merkle_list_proof(encoded, where.tx_index)],
            )
            self.proof_bytes += len(encoded[where.tx_index])
        return receipt, receipt.events[where.event_index]

    def full(self) -> bool:
        return self.with_proof and self.proof_bytes >= MAX_PROOF_BYTES

    def proof(self) -> HistoryProof | None:
        if not self.with_proof:
            return None
        return HistoryProof(blocks=self.block_proofs, receipts=list(self.receipt_proofs.values()))


def _item_fields(entry: Entry, receipt: Receipt, event: Event) -> dict[str, Any]:
    return {
        "height": entry.where.height,
        "tx_hash": receipt.tx_hash.hex(),
        "tx_index": entry.where.tx_index,
        "event_index": entry.where.event_index,
        "contract": event.contract,
        "name": event.name,
        "fields": to_json(event.field_map()),
        "fields_hex": event.fields.hex(),
    }


def reading_index(fields: dict[Any, Any], interval: int | None) -> int:
    """The register index a reading item shows: the event's, or a load profile's k-th."""
    if interval is None:
        return int(fields["index"])
    return int(fields["indexes"][interval])


def _paged(entries: list[Entry], limit: int) -> tuple[list[Entry], str | None]:
    if len(entries) > limit:
        return entries[:limit], entries[limit - 1].cursor.hex()
    return entries, None


async def get_meter_readings(request: web.Request) -> web.Response:
    view, history = _index(request)
    query = request.query
    meter = _owner(request, "meter")
    start = _int(query, "from", 0, MAX_TIME)
    end = _int(query, "to", MAX_TIME, MAX_TIME)
    if end <= start:
        raise _failure(400, f"from < to expected, found from {start}, to {end}")
    limit = _int(query, "limit", DEFAULT_PAGE, MAX_PAGE)
    if limit == 0:
        raise _failure(400, f"limit: an integer from 1 to {MAX_PAGE} expected, found 0")
    with_proof, after = _bool(query, "proof"), _cursor(query)
    missing = _missing_before(view)
    if missing is not None and start <= missing[1]:
        raise _gone(view, f"meter {meter}'s readings from time {start}", f"ask with from > {missing[1]}")

    def answer() -> str:
        page = _Page(view, with_proof)
        entries, next_cursor = _paged(history.readings(meter, start, end, after, limit + 1), limit)
        items = []
        for entry in entries:
            receipt, event = page.event(entry)
            fields = event.field_map()
            assert entry.time is not None
            items.append(ReadingItem(**_item_fields(entry, receipt, event), timestamp=entry.time,
                                     index=reading_index(fields, entry.where.interval), interval=entry.where.interval,
                                     interval_seconds=reading_interval_seconds(event.name, fields, entry.where.interval)))
            if page.full() and len(items) < len(entries):
                next_cursor = entry.cursor.hex()
                break
        return ReadingsResponse(meter=meter, start=start, end=end, items=items, next=next_cursor,
                                proof=page.proof()).model_dump_json()

    # In a worker thread, as a contract call: a page of blocks read and proven must not stall
    # the event loop (consensus runs there). LevelDB reads are safe from any thread.
    return web.Response(text=await asyncio.to_thread(answer), content_type="application/json")


async def _subscription_history(request: web.Request, kind: str, prefix: bytes) -> web.Response:
    view, history = _index(request)
    query = request.query
    subscription = _owner(request, "subscription")
    limit = _int(query, "limit", DEFAULT_PAGE, MAX_PAGE)
    if limit == 0:
        raise _failure(400, f"limit: an integer from 1 to {MAX_PAGE} expected, found 0")
    with_proof, after = _bool(query, "proof"), _cursor(query)
    from_height = _int(query, "from_height", 0, 2**63)
    missing = _missing_before(view)
    if missing is not None:
        reached = from_height
        if after is not None and len(after) >= LOCATION_SIZE:
            reached = max(reached, Location.decode(after[-LOCATION_SIZE:]).height)
        if reached < missing[0]:
            raise _gone(view, f"subscription {subscription}'s {kind}", f"ask with from_height >= {missing[0]}")
    if from_height and (after is None or len(after) < LOCATION_SIZE
                        or Location.decode(after[-LOCATION_SIZE:]).height < from_height):
        after = (from_height - 1).to_bytes(8, "big") + b"\xff" * (LOCATION_SIZE - 8)  # just before the height's first entry

    def answer() -> str:
        page = _Page(view, with_proof)
        entries, next_cursor = _paged(history.subscription(prefix, subscription, after, limit + 1), limit)
        items = []
        for entry in entries:
            receipt, event = page.event(entry)
            items.append(HistoryItem(**_item_fields(entry, receipt, event)))
            if page.full() and len(items) < len(entries):
                next_cursor = entry.cursor.hex()
                break
        return SubscriptionHistoryResponse(
            subscription=subscription, kind=kind, items=items, next=next_cursor, proof=page.proof()
        ).model_dump_json()

    return web.Response(text=await asyncio.to_thread(answer), content_type="application/json")


async def get_subscription_invoices(request: web.Request) -> web.Response:
    return await _subscription_history(request, "invoices", INVOICE_PREFIX)


async def get_subscription_payments(request: web.Request) -> web.Response:
    return await _subscription_history(request, "payments", PAYMENT_PREFIX)


_LIMIT = Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
               f"at most this many items (default {DEFAULT_PAGE})", False)
_AFTER = Param("after", "query", {"type": "string", "pattern": "^(0x)?[0-9a-fA-F]+$"},
               "the previous answer's next", False)
_SUBSCRIPTION = Param("subscription", "path", {"type": "string"}, "the subscription id")
_PROOF = Param("proof", "query", {"type": "boolean"},
               "include each block's header and certificate and each receipt's Merkle proof", False)
_FROM_HEIGHT = Param("from_height", "query", {"type": "integer", "minimum": 0},
                     "only entries of this block height or later (default 0; a node lacking older blocks answers 410 "
                     "unless this is at least the first block it holds)", False)

HISTORY_ROUTES: Final = (
    Route(
        "GET", "/v1/meters/{meter}/readings", get_meter_readings,
        "A meter's finalized readings in a time range, from the blocks' events, with proofs on request",
        ReadingsResponse,
        params=(
            Param("meter", "path", {"type": "string"}, "the meter id"),
            Param("from", "query", {"type": "integer", "minimum": 0}, "the first reading time included (default 0)", False),
            Param("to", "query", {"type": "integer", "minimum": 1}, "the first reading time excluded (default: none)", False),
            _LIMIT, _AFTER, _PROOF,
        ),
        errors=(400, 404, 410),
    ),
    Route(
        "GET", "/v1/subscriptions/{subscription}/invoices", get_subscription_invoices,
        "A subscription's invoices as issued (billing's invoice events), with proofs on request",
        SubscriptionHistoryResponse,
        params=(_SUBSCRIPTION, _LIMIT, _AFTER, _PROOF, _FROM_HEIGHT),
        errors=(400, 404, 410),
    ),
    Route(
        "GET", "/v1/subscriptions/{subscription}/payments", get_subscription_payments,
        "A subscription's payments, credit purchases, vouchers and their reversals, with proofs on request",
        SubscriptionHistoryResponse,
        params=(_SUBSCRIPTION, _LIMIT, _AFTER, _PROOF, _FROM_HEIGHT),
        errors=(400, 404, 410),
    ),
)
