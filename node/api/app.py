"""The node's public HTTP API (aiohttp), over a ``ChainView``, the mempool and the metrics.

``make_app(context)`` returns the ``web.Application``; the node's service runner serves it.
Every answer that is not 2xx is JSON ``{"error": ..., "status": ...}`` saying what was
expected and what was found, and no request, however malformed, can stop the node: the
error middleware turns every exception of a handler into a response.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeVar

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ValidationError

from chain import codec
from chain.errors import DecodeError
from chain.state import MAX_KEY_SIZE
from chain.transition import get_nonce
from chain.types import KIND_CALL, PUBLIC_KEY_SIZE, Block
from consensus.messages import VoteType
from node.api.events import EventFilter, EventHub
from node.api.history import HISTORY_ROUTES
from node.api.models import (
    BlockBatchResponse,
    BlockResponse,
    BlockTransactionModel,
    CallRequest,
    CallResponse,
    ErrorResponse,
    EventMessage,
    EvidenceRecord,
    EvidenceResponse,
    HeaderModel,
    MempoolSummary,
    PeerModel,
    PeersResponse,
    RawBlockModel,
    StateResponse,
    StatusResponse,
    SubmitTransactionsRequest,
    SubmitTransactionsResponse,
    TransactionAdmission,
    TransactionStatusResponse,
)
from node.api.openapi import Param, Route, build_document
from node.api.snapshots import SNAPSHOT_ROUTES
from node.api.storage import STORAGE_ROUTES, store_of
from node.api.values import BadInput, from_json, parse_hex, receipt_model, to_json
from node.blockstore import DroppedBody, PrunedHeight
from node.chainview import ChainView, FinalizedBlock
from node.evidence import EVIDENCE_PAGE, GOVERNANCE_CONTRACT, MAX_EVIDENCE_PAGE
from node.genesis import GenesisDocument
from node.history import HistoryIndex
from node.mempool import ADMIT_CHUNK, Admission, Mempool, Reason
from node.metrics import CONTENT_TYPE_LATEST, NodeMetrics

log = logging.getLogger("meterchain.api")

API_VERSION: Final = "1"
DEFAULT_MAX_BODY: Final = 16 * 1024 * 1024  # a full batch of the largest transactions, in hex
API_KEY_HEADER: Final = "X-API-Key"
MAX_BLOCK_BATCH: Final = 256  # blocks per GET /v1/blocks
MAX_BLOCK_BATCH_BYTES: Final = 4 * 1024 * 1024  # canonical bytes per batch (at least one block)

Model = TypeVar("Model", bound=BaseModel)


class NodeInfo(Protocol):
    """What the API reports about the node itself (beyond the chain)."""

    @property
    def role(self) -> str: ...

    def validators(self) -> list[bytes]: ...

    def peers(self) -> list[PeerModel]: ...

    def syncing(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class StandaloneNode:
    """``NodeInfo`` of a node without peers (a single validator, or tests)."""

    role: str = "validator"
    validator_keys: tuple[bytes, ...] = ()

    def validators(self) -> list[bytes]:
        return list(self.validator_keys)

    def peers(self) -> list[PeerModel]:
        return []

    def syncing(self) -> bool:
        return False


@dataclass(slots=True)
class ApiContext:
    view: ChainView
    mempool: Mempool
    node: NodeInfo
    metrics: NodeMetrics = field(default_factory=NodeMetrics)
    api_key: str | None = None  # operator endpoints answer 401 while this is unset
    max_body_bytes: int = DEFAULT_MAX_BODY
    # Called with (hash, canonical bytes) of the transactions the API admitted (for gossip).
    on_admitted: Callable[[list[tuple[bytes, bytes]]], None] | None = None
    events: EventHub = field(default_factory=EventHub)
    genesis: GenesisDocument | None = None  # served at /v1/genesis when known
    history: HistoryIndex | None = None  # the event index of a node's store (node.history)


CONTEXT: Final = web.AppKey("meterchain.api.context", ApiContext)
OPENAPI: Final = web.AppKey("meterchain.api.openapi", dict[str, Any])


# --- errors -----------------------------------------------------------------------------


def _error(status: int, message: str) -> web.Response:
    body = ErrorResponse(error=message, status=status).model_dump_json()
    return web.Response(status=status, text=body, content_type="application/json")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    metrics = request.app[CONTEXT].metrics
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except ApiError as exc:
        metrics.api_errors.labels(str(exc.status)).inc()
        return _error(exc.status, str(exc))
    except web.HTTPRequestEntityTooLarge as exc:
        metrics.api_errors.labels("413").inc()
        limit = request.app[CONTEXT].max_body_bytes
        return _error(413, f"a body of at most {limit} bytes expected, found a larger one ({exc.text})")
    except web.HTTPException as exc:
        if exc.status >= 400:
            metrics.api_errors.labels(str(exc.status)).inc()
            return _error(exc.status, exc.text or exc.reason)
        raise
    except DroppedBody as exc:  # a pruned node's old block (node.bodies): gone here for good, on an archive
        metrics.api_errors.labels("410").inc()
        return _error(410, str(exc))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("request %s %s failed", request.method, request.path)
        return _error(500, "an answer expected, found an internal error (logged by the node)")


async def read_model(request: web.Request, model: type[Model]) -> Model:
    ctx = request.app[CONTEXT]
    if request.content_type != "application/json":
        raise ApiError(415, f"content type application/json expected, found {request.content_type or 'none'}")
    length = request.content_length
    if length is not None and length > ctx.max_body_bytes:
        raise ApiError(413, f"a body of at most {ctx.max_body_bytes} bytes expected, found {length} bytes")
    raw = await request.read()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"a JSON body expected, found invalid JSON ({exc})") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']} (found {_short(e.get('input'))})"
            for e in exc.errors()[:5]
        )
        raise ApiError(422, f"a {model.__name__} expected: {problems}") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json(model: BaseModel) -> web.Response:
    return web.Response(text=model.model_dump_json(), content_type="application/json")


def _require_operator(request: web.Request) -> None:
    expected = request.app[CONTEXT].api_key
    given = request.headers.get(API_KEY_HEADER, "")
    if not expected:
        raise ApiError(401, "operator endpoints need an API key in the node's config; found none configured")
    if not given:
        raise ApiError(401, f"an {API_KEY_HEADER} header with the operator API key expected, found none")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, f"the operator API key in {API_KEY_HEADER} expected, found another key")


def _int_param(text: str, what: str) -> int:
    if not text.isdigit() or len(text) > 19:
        raise ApiError(400, f"{what}: a non-negative integer expected, found {text[:40]!r}")
    return int(text)


# --- handlers ---------------------------------------------------------------------------


async def get_status(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    head = ctx.view.head()
    node = ctx.node
    return _json(
        StatusResponse(
            chain_id=ctx.view.chain_id,
            height=head.height,
            last_block_hash=head.hash.hex(),
            state_root=head.state_root.hex(),
            role="regulator" if node.role == "regulator" else "validator",
            validators=[v.hex() for v in node.validators()],
            peers=sum(1 for p in node.peers() if p.connected),
            syncing=node.syncing(),
            mempool=len(ctx.mempool),
        )
    )


def admit_batch(ctx: ApiContext, raw_transactions: Sequence[bytes | str], first_index: int = 0) -> list[Admission]:
    """Admit hex strings (from the API) or raw bytes into the mempool against the head
    (``first_index``: the first one's place in the request, for the messages)."""
    state = ctx.view.state()
    next_height = ctx.view.head().height + 1
    nonces: dict[bytes, int] = {}

    def nonce_of(account: bytes) -> int:
        if account not in nonces:
            nonces[account] = get_nonce(state, account)
        return nonces[account]

    results = []
    for index, item in enumerate(raw_transactions, start=first_index):
        if isinstance(item, str):
            try:
                raw = parse_hex(item, f"transactions[{index}]")
            except BadInput as exc:
                results.append(Admission.refused(None, Reason.DECODE, str(exc)))
                continue
        else:
            raw = item
        results.append(ctx.mempool.add_raw(raw, next_height, nonce_of))
    refused: dict[str, int] = {}
    for answer in results:
        if not answer.accepted and answer.reason is not None:
            refused[answer.reason.value] = refused.get(answer.reason.value, 0) + 1
    for reason, count in refused.items():  # one labelled increment per reason, not per transaction
        ctx.metrics.mempool_refused.labels(reason).inc(count)
    ctx.metrics.mempool_size.set(len(ctx.mempool))
    return results


async def post_transactions(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    body = await read_model(request, SubmitTransactionsRequest)
    submitted = list(body.transactions)
    answers: list[Admission] = []
    for start in range(0, len(submitted), ADMIT_CHUNK):
        if start:
            await asyncio.sleep(0)  # consensus messages waiting go first (see ADMIT_CHUNK)
        with ctx.metrics.cpu.part("admission_api"):
            answers.extend(admit_batch(ctx, submitted[start : start + ADMIT_CHUNK], start))
    with ctx.metrics.cpu.part("api_answer"):
        return _admission_answer(ctx, answers)


def _admission_answer(ctx: ApiContext, answers: list[Admission]) -> web.Response:
    """Gossip what was admitted; the answer to a batch, one result per transaction."""
    admitted = [ctx.mempool.get(a.tx_hash) for a in answers if a.accepted and a.tx_hash is not None]
    if ctx.on_admitted is not None and admitted:
        ctx.on_admitted([(tx.hash, tx.encode()) for tx in admitted if tx is not None])
    return _json(
        SubmitTransactionsResponse(
            accepted=len(admitted),
            results=[
                TransactionAdmission(
                    hash=None if a.tx_hash is None else a.tx_hash.hex(),
                    accepted=a.accepted,
                    reason=None if a.reason is None else a.reason.value,
                    message=a.message or None,
                )
                for a in answers
            ],
        )
    )


async def get_transaction(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    try:
        tx_hash = parse_hex(request.match_info["hash"], "transaction hash", 32)
    except BadInput as exc:
        raise ApiError(400, str(exc)) from None
    hex_hash = tx_hash.hex()
    found = ctx.view.find_transaction(tx_hash)
    if found is not None:
        receipt = found.receipt
        return _json(
            TransactionStatusResponse(
                hash=hex_hash,
                status="final" if receipt.ok else "failed",
                height=found.height,
                index=found.index,
                reason=None if receipt.ok else receipt.error,
                receipt=receipt_model(receipt),
            )
        )
    if tx_hash in ctx.mempool:
        return _json(TransactionStatusResponse(hash=hex_hash, status="pending"))
    dropped = ctx.mempool.dropped_reason(tx_hash)
    if dropped is not None:
        return _json(TransactionStatusResponse(hash=hex_hash, status="failed", reason=dropped))
    store = store_of(ctx.view)
    if store is not None and store.bodies_from() > 1:
        # The index of a dropped block's transactions went with it: "unknown" here cannot
        # tell a transaction never seen from one of a block this node no longer keeps.
        return _json(TransactionStatusResponse(hash=hex_hash, status="unknown", reason=(
            f"not in the blocks this node keeps: it keeps {store.describe_bodies()}; "
            "an archive node (a regulator's) knows the transactions of older blocks"
        )))
    return _json(TransactionStatusResponse(hash=hex_hash, status="unknown"))


def block_response(finalized: FinalizedBlock) -> BlockResponse:
    block: Block = finalized.block
    header = block.header
    transactions = []
    for tx in block.transactions:
        contract = function = None
        if tx.kind == KIND_CALL:
            contract, function = tx.payload[0], tx.payload[1]
        transactions.append(
            BlockTransactionModel(
                hash=tx.hash.hex(), sender=tx.sender.hex(), nonce=tx.nonce, kind=tx.kind,
                contract=contract, function=function, raw=tx.encode().hex(),
            )
        )
    return BlockResponse(
        hash=header.hash.hex(),
        header=HeaderModel(
            height=header.height,
            parent_hash=header.parent_hash.hex(),
            time=header.time,
            proposer=header.proposer.hex(),
            tx_root=header.tx_root.hex(),
            state_root=header.state_root.hex(),
            receipts_root=header.receipts_root.hex(),
            validator_set_hash=header.validator_set_hash.hex(),
            next_validator_set_hash=header.next_validator_set_hash.hex(),
            last_commit_hash=header.last_commit_hash.hex(),
        ),
        transactions=transactions,
        receipts=[receipt_model(r) for r in finalized.receipts],
        certificate=None if finalized.certificate is None else finalized.certificate.hex(),
    )


async def get_block(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    which = request.match_info["height"]
    head = ctx.view.head().height
    height = head if which == "latest" else _int_param(which, "block height")
    if head == 0 and which == "latest":
        raise ApiError(404, "a finalized block expected, found only the genesis state (height 0)")
    finalized = ctx.view.block(height) if height >= 1 else None  # DroppedBody: 410 (error_middleware)
    if finalized is None:
        raise ApiError(404, f"a block height from 1 to {head} expected, found {height}")
    return _json(block_response(finalized))


async def get_block_batch(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    query = request.query
    if "from" not in query:
        raise ApiError(400, "from: a block height expected, found no 'from' parameter")
    start = _int_param(query["from"], "from")
    count = _int_param(query.get("count", "64"), "count")
    if start < 1 or not 1 <= count <= MAX_BLOCK_BATCH:
        raise ApiError(400, f"from >= 1 and count from 1 to {MAX_BLOCK_BATCH} expected, found from {start}, count {count}")
    head = ctx.view.head().height
    blocks: list[RawBlockModel] = []
    size = 0
    for height in range(start, min(head, start + count - 1) + 1):
        # The stored bytes as they are: decoding the block and its receipts to encode the
        # block again cost the serving validator ~70 µs a transaction, more than the syncing
        # node's own work on it.
        stored = ctx.view.block_bytes(height)
        if stored is None:
            break
        raw, certificate = stored
        size += len(raw)
        if blocks and size > MAX_BLOCK_BATCH_BYTES:
            break
        blocks.append(
            RawBlockModel(height=height, block=raw.hex(), certificate=None if certificate is None else certificate.hex())
        )
    return _json(BlockBatchResponse(head=head, blocks=blocks))


async def get_genesis(request: web.Request) -> web.Response:
    genesis = request.app[CONTEXT].genesis
    if genesis is None:
        raise ApiError(404, "a genesis document expected, found none on this node (a local chain)")
    return _json(genesis)


async def get_state(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    try:
        key = parse_hex(request.match_info["key"], "state key")
    except BadInput as exc:
        raise ApiError(400, str(exc)) from None
    if not 1 <= len(key) <= MAX_KEY_SIZE:
        raise ApiError(400, f"a state key of 1 to {MAX_KEY_SIZE} bytes expected, found {len(key)} bytes")
    query = request.query
    head = ctx.view.head().height
    height = _int_param(query["height"], "height") if "height" in query else head
    want_proof = query.get("proof", "false").lower()
    if want_proof not in ("true", "false", "1", "0"):
        raise ApiError(400, f"proof: true or false expected, found {want_proof[:20]!r}")
    try:
        state = ctx.view.state(height)
    except PrunedHeight as exc:  # gone for good here, unlike a height still to come (404)
        raise ApiError(410, str(exc)) from None
    except LookupError as exc:
        raise ApiError(404, str(exc)) from None
    value = state.get(key)
    proof = state.prove(key).encode().hex() if want_proof in ("true", "1") else None
    return _json(
        StateResponse(
            key=key.hex(), height=height, root=state.root.hex(),
            value=None if value is None else value.hex(), proof=proof,
        )
    )


async def get_evidence(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    query = request.query
    try:
        start_after = parse_hex(query["start_after"], "start_after", 32) if "start_after" in query else b""
    except BadInput as exc:
        raise ApiError(400, str(exc)) from None
    limit = _int_param(query.get("limit", str(MAX_EVIDENCE_PAGE)), "limit")
    if not 1 <= limit <= MAX_EVIDENCE_PAGE:
        raise ApiError(400, f"limit from 1 to {MAX_EVIDENCE_PAGE} expected, found {limit}")
    # In a worker thread, like any contract call (consensus runs on this loop).
    outcome = await asyncio.to_thread(
        ctx.view.call, GOVERNANCE_CONTRACT, EVIDENCE_PAGE, [start_after, limit], bytes(PUBLIC_KEY_SIZE)
    )
    if not outcome.success:
        raise ApiError(404, f"the governance contract's {EVIDENCE_PAGE} view expected, found an error: {outcome.error}")
    records = [
        EvidenceRecord(
            evidence_hash=r["evidence_hash"].hex(), validator=r["validator"].hex(), height=r["height"],
            round=r["round"], vote_type="prevote" if r["vote_type"] == VoteType.PREVOTE else "precommit",
            reported_by=r["reported_by"].hex(), block_height=r["block_height"],
        )
        for r in outcome.return_value
    ]  # fmt: skip
    last_page = len(records) < limit
    return _json(EvidenceResponse(evidence=records, next_start_after=None if last_page else records[-1].evidence_hash))


async def post_call(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    body = await read_model(request, CallRequest)
    try:
        if body.args_hex is not None:
            if body.args:
                raise BadInput("args or args_hex expected, found both")
            try:
                args = codec.decode(parse_hex(body.args_hex, "args_hex"))
            except DecodeError as exc:
                raise BadInput(f"args_hex: a canonical encoding expected: {exc}") from None
            if not isinstance(args, list):
                raise BadInput(f"args_hex: an encoded array expected, found {type(args).__name__}")
        else:
            args = from_json(body.args)
        caller = parse_hex(body.caller, "caller", PUBLIC_KEY_SIZE) if body.caller else bytes(PUBLIC_KEY_SIZE)
    except BadInput as exc:
        raise ApiError(422, str(exc)) from None
    # In a worker thread: a heavy call must not stall the event loop (consensus runs there).
    outcome = await asyncio.to_thread(ctx.view.call, body.contract, body.function, args, caller)
    return_hex = None
    if outcome.success:
        return_hex = codec.encode(outcome.return_value).hex()
    return _json(
        CallResponse(
            success=outcome.success,
            return_value=to_json(outcome.return_value),
            return_value_hex=return_hex,
            gas_used=outcome.gas_used,
            error=outcome.error,
        )
    )


async def get_events(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    query = request.query
    event_filter = EventFilter(query.get("contract"), query.get("name"), query.get("meter"))
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    await ws.prepare(request)
    subscription = ctx.events.subscribe(event_filter)

    async def send() -> None:
        while True:
            message = await subscription.queue.get()
            if subscription.overflowed:
                await ws.close(message=b"too slow: events were queued past the limit; reconnect")
                return
            await ws.send_str(message.model_dump_json())

    sender = asyncio.create_task(send())
    try:
        async for msg in ws:  # the client sends nothing we use; this waits for its close
            if msg.type == WSMsgType.ERROR:
                break
            if sender.done():
                break
    finally:
        sender.cancel()
        ctx.events.unsubscribe(subscription)
    return ws


async def get_metrics(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    ctx.metrics.mempool_size.set(len(ctx.mempool))
    ctx.metrics.height.set(ctx.view.head().height)
    response = web.Response(body=ctx.metrics.exposition())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def get_operator_mempool(request: web.Request) -> web.Response:
    _require_operator(request)
    pool = request.app[CONTEXT].mempool
    stats = pool.stats
    return _json(
        MempoolSummary(
            transactions=len(pool),
            bytes=pool.size_bytes,
            admitted=stats.admitted,
            refused={reason.value: n for reason, n in stats.refused.items()},
            evicted_on_recheck=stats.evicted_on_recheck,
        )
    )


async def get_operator_peers(request: web.Request) -> web.Response:
    _require_operator(request)
    return _json(PeersResponse(peers=request.app[CONTEXT].node.peers()))


# --- the route table (also the source of /openapi.json) ---------------------------------

_HASH = {"type": "string", "pattern": "^(0x)?[0-9a-fA-F]{64}$"}

ROUTES: Final = (
    Route("GET", "/v1/status", get_status, "The node's chain, head, role and peers", StatusResponse),
    Route(
        "POST", "/v1/transactions", post_transactions,
        "Submit a batch of signed transactions; each is accepted or refused with a reason",
        SubmitTransactionsResponse, request=SubmitTransactionsRequest,
    ),
    Route(
        "GET", "/v1/transactions/{hash}", get_transaction,
        "A transaction's status: pending, final, failed (with the reason) or unknown",
        TransactionStatusResponse, params=(Param("hash", "path", _HASH, "transaction hash"),), errors=(400,),
    ),
    Route(
        "GET", "/v1/blocks/{height}", get_block, "A finalized block by height, or 'latest'",
        BlockResponse,
        params=(Param("height", "path", {"type": "string", "pattern": "^([0-9]+|latest)$"}, "height or latest"),),
        errors=(400, 404, 410),
    ),
    Route(
        "GET", "/v1/blocks", get_block_batch,
        "Consecutive finalized blocks with their certificates as canonical bytes (block sync, audits)",
        BlockBatchResponse,
        params=(
            Param("from", "query", {"type": "integer", "minimum": 1}, "the first height"),
            Param("count", "query", {"type": "integer", "minimum": 1, "maximum": MAX_BLOCK_BATCH}, "at most this many (default 64)", False),
        ),
        errors=(400, 410),
    ),
    Route("GET", "/v1/genesis", get_genesis, "The network's genesis document", GenesisDocument, errors=(404,)),
    Route(
        "GET", "/v1/state/{key}", get_state, "A state key's value at a height, with its Merkle proof",
        StateResponse,
        params=(
            Param("key", "path", {"type": "string", "pattern": "^(0x)?[0-9a-fA-F]+$"}, "the state key in hex"),
            Param("height", "query", {"type": "integer", "minimum": 0}, "height (default: the head)", False),
            Param("proof", "query", {"type": "boolean"}, "include the Merkle proof", False),
        ),
        errors=(400, 404, 410),
    ),
    Route(
        "GET", "/v1/evidence", get_evidence,
        "Double votes committed on chain as evidence (the governance contract's records), by evidence hash",
        EvidenceResponse,
        params=(
            Param("start_after", "query", _HASH, "the last evidence hash of the previous page", False),
            Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_EVIDENCE_PAGE},
                  f"at most this many (default {MAX_EVIDENCE_PAGE})", False),
        ),
        errors=(400, 404),
    ),
    Route("POST", "/v1/call", post_call, "A read-only contract call at the head", CallResponse, request=CallRequest),
    Route(
        "GET", "/v1/events", get_events,
        "WebSocket stream of finalized events (messages: EventMessage), filtered by contract, name, meter",
        None,
        params=(
            Param("contract", "query", {"type": "string"}, "only this contract's events", False),
            Param("name", "query", {"type": "string"}, "only events of this name", False),
            Param("meter", "query", {"type": "string"}, "only events whose meter field is this", False),
        ),
        content_type="",
    ),
    Route("GET", "/metrics", get_metrics, "Prometheus metrics", None, content_type=CONTENT_TYPE_LATEST),
    Route("GET", "/openapi.json", get_openapi, "This document", None),
    Route("GET", "/v1/operator/mempool", get_operator_mempool, "Mempool counters", MempoolSummary, operator=True),
    Route("GET", "/v1/operator/peers", get_operator_peers, "Peer links", PeersResponse, operator=True),
    *HISTORY_ROUTES,
    *SNAPSHOT_ROUTES,
    *STORAGE_ROUTES,
)


def make_app(context: ApiContext) -> web.Application:
    # client_max_size bounds bodies sent without a Content-Length (chunked) as well.
    app = web.Application(middlewares=[error_middleware], client_max_size=context.max_body_bytes)
    app[CONTEXT] = context
    # EventMessage is what /v1/events streams: not a route's body, so named here.
    app[OPENAPI] = build_document(ROUTES, "meterchain node API", API_VERSION, extra_models=(EventMessage,))
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    return app


def publish_block(context: ApiContext, finalized: FinalizedBlock) -> int:
    """Tell the API a block was finalized: stream its events. Returns events queued."""
    return context.events.publish(finalized)
