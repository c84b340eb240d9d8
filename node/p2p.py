"""Peer links: authenticated aiohttp WebSockets between nodes, and gossip over them.

Every frame is the canonical encoding of ``[kind, payload]`` (a short str and bytes). A link
starts with a handshake in which each side proves its node key:

1. each side sends ``hello = [chain_id, node_key, challenge]`` with 32 fresh random bytes;
2. each side answers ``auth = sign(PEER_AUTH, [chain_id, their_challenge, own_key, their_key])``
   and checks the other's answer over its own challenge.

The signature binds the chain id, the challenge (no replay) and both keys (a relay between
two honest nodes cannot pass one's proof off as its own). A side whose chain id, key or
proof is wrong is disconnected with a close message saying what was expected.

After the handshake every frame is checked: its size (per kind), its decoding, that its
kind is known, and for consensus kinds that the sender's key is a registered validator
(regulators receive everything and send no consensus messages). The handler of a kind
checks the payload itself (a vote's signature, a block's validity) and returns a drop
reason or ``None``. Anything refused is dropped and counted in
``meterchain_dropped_messages_total{reason}``; no frame can stop the node.

Transactions are gossiped in batches to validators (regulators never propose, so they get
none): each node forwards only what its own mempool newly admitted, never back to the peer
it came from (notes/CONSENSUS.md pitfall 15).

Links: each configured peer is dialled and redialled with exponential back-off (with
jitter) while the service runs. One link per node key: when both sides dial at once, the
link dialled by the smaller key is kept by both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

from chain import codec
from chain.errors import DecodeError
from chain.hashing import Domain
from chain.signatures import keypair_from_seed, sign, verify
from chain.types import MAX_CHAIN_ID_LEN, PUBLIC_KEY_SIZE, SIGNATURE_SIZE
from node.mempool import ADMIT_CHUNK, Admission, Reason
from node.metrics import NodeMetrics

log = logging.getLogger("meterchain.p2p")

P2P_PATH: Final = "/p2p"
CHALLENGE_SIZE: Final = 32
MAX_KIND_LEN: Final = 32
HELLO: Final = "hello"
AUTH: Final = "auth"
TXS: Final = "txs"
MAX_TXS_PER_FRAME: Final = 1024
CLOSE_TIMEOUT: Final = 1.0  # seconds a stopping node waits for a peer's reply to its close

Role = Literal["validator", "regulator"]
# A handler checks and uses one payload; it returns why it dropped it, or None.
Handler = Callable[["PeerLink", bytes], Awaitable[str | None]]


class DropReason:
    """Labels of the dropped-messages counter (the handlers add their own, e.g. bad_signature)."""

    OVERSIZED = "oversized"
    MALFORMED = "malformed"
    UNKNOWN_KIND = "unknown_kind"
    NOT_VALIDATOR = "not_validator"
    SEND_QUEUE_FULL = "send_queue_full"
    HANDLER_ERROR = "handler_error"
    NOT_BINARY = "not_binary"


class HandshakeError(Exception):
    """A peer that did not prove what it had to; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class PeerAddress:
    name: str
    url: str  # ws://host:port/p2p
    node_key: bytes  # the key the peer must prove; a link proving another key is closed


@dataclass(frozen=True, slots=True)
class P2PConfig:
    chain_id: str
    node_seed: bytes  # the node key's 32-byte seed (a link key, never a validator's vote key)
    listen_host: str = "127.0.0.1"
    listen_port: int = 0  # 0: a free port (tests)
    peers: tuple[PeerAddress, ...] = ()
    max_frame: int = 16 * 1024 * 1024  # a full block
    handshake_timeout: float = 5.0
    backoff_initial: float = 0.1
    backoff_max: float = 10.0
    send_queue: int = 4096
    tx_batch_interval: float = 0.02  # seconds transactions wait to share a frame


@dataclass(frozen=True, slots=True)
class MessageKind:
    name: str
    max_size: int  # of the payload, in bytes
    consensus: bool  # only validators may send it
    handler: Handler


@dataclass(eq=False)
class PeerLink:
    node_key: bytes
    name: str
    role: Role
    direction: Literal["inbound", "outbound"]
    dialer_key: bytes  # who dialled: breaks ties between two links for one pair
    ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(4096))
    # Hashes of transactions this peer sent us or we sent it: never sent (again) to it.
    known_txs: OrderedDict[bytes, None] = field(default_factory=OrderedDict)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def knows(self, tx_hash: bytes) -> bool:
        return tx_hash in self.known_txs

    def remember(self, tx_hash: bytes) -> None:
        self.known_txs[tx_hash] = None
        if len(self.known_txs) > 50_000:
            self.known_txs.popitem(last=False)


def encode_frame(kind: str, payload: bytes) -> bytes:
    return codec.encode([kind, payload])


def decode_frame(data: bytes, max_frame: int) -> tuple[str, bytes]:
    """A frame's kind and payload, from the canonical msgpack ``[kind (str), payload (bytes)]``
    that ``encode_frame`` writes (and nothing else), read by its headers: the payload is
    sliced out, not walked. The generic canonical decode scanned every byte of it (floats,
    nesting) and copied it: a regulator spent a tenth of its CPU so on the proposals, whole
    blocks, that it then ignores. The payload's own decoder checks the payload."""
    if len(data) > max_frame:
        raise DecodeError(f"a frame of at most {max_frame} bytes expected, found {len(data)}")
    try:
        if data[0] != 0x92:  # fixarray of 2
            raise DecodeError(f"frame [kind (str), payload (bytes)] expected, found first byte {data[0]:#04x}")
        kind_end = _kind_end(data)
        kind = data[kind_end[0] : kind_end[1]].decode("utf-8")
        payload_at, payload_end = _payload_span(data, kind_end[1])
    except IndexError:
        raise DecodeError(f"frame [kind (str), payload (bytes)] expected, found {len(data)} truncated bytes") from None
    except UnicodeDecodeError as exc:
        raise DecodeError(f"a frame kind in UTF-8 expected, found {exc.reason}") from None
    if len(kind) > MAX_KIND_LEN:
        raise DecodeError(f"a frame kind of at most {MAX_KIND_LEN} characters expected, found {len(kind)}")
    if payload_end != len(data):
        raise DecodeError(f"a frame of {payload_end} bytes expected (its payload's length), found {len(data)}")
    return kind, data[payload_at:payload_end]


def _kind_end(data: bytes) -> tuple[int, int]:
    """Where the kind's UTF-8 bytes start and end: a fixstr (at most 31 bytes) or, canonical
    only from 32 bytes on, a str8 (a kind is at most MAX_KIND_LEN characters: 128 bytes)."""
    head = data[1]
    if 0xA0 <= head <= 0xBF:
        return 2, 2 + (head & 0x1F)
    if head == 0xD9 and data[2] >= 32:
        return 3, 3 + data[2]
    raise DecodeError(f"a frame kind (a short canonical str) expected, found header byte {head:#04x}")


def _payload_span(data: bytes, at: int) -> tuple[int, int]:
    """Where the payload's bytes start and end: bin8, bin16 or bin32, each only where no
    shorter one fits (canonical)."""
    head = data[at]
    if head == 0xC4:
        return at + 2, at + 2 + data[at + 1]
    if head == 0xC5:
        size = int.from_bytes(data[at + 1 : at + 3], "big")
        if size > 0xFF and len(data) >= at + 3:
            return at + 3, at + 3 + size
    elif head == 0xC6:
        size = int.from_bytes(data[at + 1 : at + 5], "big")
        if size > 0xFFFF and len(data) >= at + 5:
            return at + 5, at + 5 + size
    raise DecodeError(f"a frame payload (canonical msgpack bin) expected, found header byte {head:#04x}")


def auth_message(chain_id: str, challenge: bytes, prover: bytes, verifier: bytes) -> bytes:
    return codec.encode([chain_id, challenge, prover, verifier])


class P2PNetwork:
    """The peer-link service: a WebSocket listener, dialers for the configured peers, and
    message dispatch. ``start`` and ``stop`` are its whole lifecycle."""

    def __init__(
        self,
        config: P2PConfig,
        peer_role: Callable[[bytes], Role | None],
        metrics: NodeMetrics,
    ) -> None:
        self.config = config
        self.peer_role = peer_role  # None: a key this node does not talk to
        self.metrics = metrics
        _, self.node_key = keypair_from_seed(config.node_seed)
        self._kinds: dict[str, MessageKind] = {}
        self._links: dict[bytes, PeerLink] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stopping = False
        self._inbound: set[web.WebSocketResponse] = set()  # accepted sockets, linked or not yet
        self._tx_outbox: list[tuple[bytes, bytes, bytes | None]] = []  # (hash, raw, source key)
        self._tx_flush: asyncio.TimerHandle | None = None
        self.bound: tuple[str, int] | None = None

    # --- registration -----------------------------------------------------------------

    def on(self, kind: str, max_size: int, consensus: bool, handler: Handler) -> None:
        if kind in (HELLO, AUTH) or len(kind) > MAX_KIND_LEN:
            raise ValueError(f"a message kind other than hello/auth, of at most {MAX_KIND_LEN} characters expected, found {kind!r}")
        self._kinds[kind] = MessageKind(kind, max_size, consensus, handler)

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(P2P_PATH, self._accept)
        # A link handler still running at stop is given 2 s (it was 60 s by default).
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.listen_host, self.config.listen_port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.bound = (host, port)
        self._session = aiohttp.ClientSession()
        for peer in self.config.peers:
            self._spawn(self._dial_forever(peer))
        log.info("p2p listening on %s:%d, %d configured peers", host, port, len(self.config.peers))

    async def stop(self) -> None:
        """Stop dialling, close every link, stop listening (in that order)."""
        self._stopping = True
        if self._tx_flush is not None:
            self._tx_flush.cancel()
        for task in list(self._tasks):
            task.cancel()
        # Every link and every socket accepted but not (or no longer) a link (mid-handshake,
        # a duplicate), closed together, each given a second for the peer's close reply: one
        # after the other, each waiting for a reply that does not come, the stop took 10 s a
        # link (a graceful stop of a validator then outlasted its supervisor's patience).
        sockets = [link.ws for link in self._links.values()] + list(self._inbound)
        await asyncio.gather(*(_close_quietly(ws) for ws in sockets))
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self._links.clear()
        self.metrics.peers.set(0)

    # --- sending ------------------------------------------------------------------------

    @property
    def links(self) -> dict[bytes, PeerLink]:
        return dict(self._links)

    def broadcast(self, kind: str, payload: bytes, exclude: bytes | None = None) -> int:
        """Queue ``payload`` for every linked peer but ``exclude``; returns how many."""
        frame = encode_frame(kind, payload)
        sent = 0
        for key, link in self._links.items():
            if key != exclude and self._enqueue(link, frame):
                sent += 1
        return sent

    def send(self, node_key: bytes, kind: str, payload: bytes) -> bool:
        link = self._links.get(node_key)
        return link is not None and self._enqueue(link, encode_frame(kind, payload))

    def gossip_transactions(self, raws: list[tuple[bytes, bytes]], source: bytes | None = None) -> None:
        """Forward (hash, canonical bytes) of newly admitted transactions to every peer that
        does not know them, batched over ``tx_batch_interval``."""
        self._tx_outbox.extend((h, raw, source) for h, raw in raws)
        if self._tx_flush is None and self._tx_outbox:
            loop = asyncio.get_running_loop()
            self._tx_flush = loop.call_later(self.config.tx_batch_interval, self._flush_transactions)

    def _flush_transactions(self) -> None:
        with self.metrics.cpu.part("gossip"):
            self._flush_outbox()

    def _flush_outbox(self) -> None:
        self._tx_flush = None
        outbox, self._tx_outbox = self._tx_outbox, []
        for link in self._links.values():
            if link.role != "validator":
                # A regulator never proposes: its pool would only cost it a signature check
                # per transaction, which it makes anyway when it applies the block.
                continue
            batch = []
            for tx_hash, raw, source in outbox:
                if source == link.node_key or link.knows(tx_hash):
                    continue
                link.remember(tx_hash)
                batch.append(raw)
            for start in range(0, len(batch), MAX_TXS_PER_FRAME):
                self._enqueue(link, encode_frame(TXS, codec.encode(batch[start : start + MAX_TXS_PER_FRAME])))

    def _enqueue(self, link: PeerLink, frame: bytes) -> bool:
        try:
            link.queue.put_nowait(frame)
            return True
        except asyncio.QueueFull:
            self._drop(DropReason.SEND_QUEUE_FULL)
            return False

    # --- status ---------------------------------------------------------------------------

    def peer_summaries(self) -> list[dict[str, Any]]:
        by_key = {p.node_key: p for p in self.config.peers}
        out = []
        for peer in self.config.peers:
            link = self._links.get(peer.node_key)
            out.append({
                "name": peer.name, "node_key": peer.node_key.hex(), "address": peer.url,
                "direction": "outbound" if link is None else link.direction, "connected": link is not None,
                "validator": (link.role if link else self.peer_role(peer.node_key)) == "validator",
            })
        for key, link in self._links.items():
            if key not in by_key:
                out.append({
                    "name": link.name, "node_key": key.hex(), "address": "", "direction": link.direction,
                    "connected": True, "validator": link.role == "validator",
                })
        return out

    # --- links ----------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _dial_forever(self, peer: PeerAddress) -> None:
        delay = self.config.backoff_initial
        while not self._stopping:
            existing = self._links.get(peer.node_key)
            if existing is not None:  # the peer dialled us: wait for that link to close
                await existing.closed.wait()
                continue
            assert self._session is not None
            try:
                ws = await self._session.ws_connect(
                    peer.url, max_msg_size=self.config.max_frame, heartbeat=15,
                    timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                log.debug("dial %s failed: %s; next try in %.2fs", peer.url, exc, delay)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self.config.backoff_max)
                continue
            try:
                await self._run_link(ws, "outbound", peer)
                delay = self.config.backoff_initial
            except HandshakeError as exc:
                log.warning("peer %s refused: %s", peer.url, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.backoff_max)
            except (aiohttp.ClientError, OSError, RuntimeError) as exc:
                log.info("link to %s lost: %s", peer.url, exc)
            finally:
                await ws.close()

    async def _accept(self, request: web.Request) -> web.StreamResponse:
        if self._stopping:
            # A peer redialling while this node stops would hold the listener's cleanup
            # until that new link timed out.
            return web.Response(status=503, text="node stopping")
        ws = web.WebSocketResponse(max_msg_size=self.config.max_frame, heartbeat=15)
        await ws.prepare(request)
        self._inbound.add(ws)
        try:
            if self._stopping:  # stop began while the socket was being prepared
                return ws
            await self._run_link(ws, "inbound", None)
        except HandshakeError as exc:
            log.warning("inbound peer %s refused: %s", request.remote, exc)
        except (aiohttp.ClientError, OSError, RuntimeError) as exc:
            log.info("inbound link from %s lost: %s", request.remote, exc)
        finally:
            self._inbound.discard(ws)
            await ws.close()
        return ws

    async def _run_link(
        self,
        ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
        direction: Literal["inbound", "outbound"],
        expected: PeerAddress | None,
    ) -> None:
        try:
            key = await asyncio.wait_for(self._handshake(ws, expected), self.config.handshake_timeout)
        except TimeoutError:
            await ws.close(message=b"handshake not completed in time")
            raise HandshakeError(f"a handshake within {self.config.handshake_timeout}s expected, found none") from None
        except HandshakeError as exc:
            await ws.close(message=str(exc).encode()[:120])
            raise
        role = self.peer_role(key)
        if role is None:
            await ws.close(message=b"unknown node key")
            raise HandshakeError(f"a validator's or a known regulator's node key expected, found {key.hex()}")
        dialer = self.node_key if direction == "outbound" else key
        link = PeerLink(key, expected.name if expected else key.hex()[:12], role, direction, dialer, ws,
                        asyncio.Queue(self.config.send_queue))
        existing = self._links.get(key)
        if existing is not None:
            # Both dialled at once: keep the link dialled by the smaller key, on both sides.
            if existing.dialer_key <= dialer:
                await ws.close(message=b"duplicate link")
                return
            await existing.ws.close(message=b"duplicate link")
        self._links[key] = link
        self.metrics.peers.set(len(self._links))
        writer = self._spawn(self._write(link))
        try:
            await self._read(link)
        finally:
            writer.cancel()
            if self._links.get(key) is link:
                del self._links[key]
            self.metrics.peers.set(len(self._links))
            link.closed.set()

    async def _handshake(
        self, ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse, expected: PeerAddress | None
    ) -> bytes:
        chain_id = self.config.chain_id
        challenge = os.urandom(CHALLENGE_SIZE)
        await ws.send_bytes(encode_frame(HELLO, codec.encode([chain_id, self.node_key, challenge])))
        kind, payload = await self._receive_frame(ws)
        if kind != HELLO:
            raise HandshakeError(f"a hello frame expected, found {kind!r}")
        try:
            hello = codec.decode(payload, max_size=256)
        except DecodeError as exc:
            raise HandshakeError(f"hello [chain_id, node_key, challenge] expected: {exc}") from None
        if not (
            isinstance(hello, list) and len(hello) == 3 and isinstance(hello[0], str) and len(hello[0]) <= MAX_CHAIN_ID_LEN
            and isinstance(hello[1], bytes) and len(hello[1]) == PUBLIC_KEY_SIZE
            and isinstance(hello[2], bytes) and len(hello[2]) == CHALLENGE_SIZE
        ):  # fmt: skip
            raise HandshakeError(f"hello [chain_id, 32-byte node_key, 32-byte challenge] expected, found {hello!r:.80}")
        their_chain, their_key, their_challenge = hello
        if their_chain != chain_id:
            raise HandshakeError(f"chain id {chain_id!r} expected, found {their_chain!r}")
        if their_key == self.node_key:
            raise HandshakeError("another node's key expected, found our own (a link to ourselves)")
        if expected is not None and their_key != expected.node_key:
            raise HandshakeError(f"node key {expected.node_key.hex()} expected, found {their_key.hex()}")
        proof = sign(self.config.node_seed, Domain.PEER_AUTH, auth_message(chain_id, their_challenge, self.node_key, their_key))
        await ws.send_bytes(encode_frame(AUTH, proof))
        kind, their_proof = await self._receive_frame(ws)
        if kind != AUTH or len(their_proof) != SIGNATURE_SIZE:
            raise HandshakeError(f"an auth frame with a {SIGNATURE_SIZE}-byte signature expected, found {kind!r}")
        if not verify(their_key, Domain.PEER_AUTH, auth_message(chain_id, challenge, their_key, self.node_key), their_proof):
            raise HandshakeError(f"a signature by {their_key.hex()} over our challenge expected, found one that does not verify")
        return bytes(their_key)

    async def _receive_frame(self, ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> tuple[str, bytes]:
        msg = await ws.receive()
        if msg.type != WSMsgType.BINARY:
            raise HandshakeError(f"a binary frame expected, found {msg.type.name}")
        try:
            return decode_frame(msg.data, 1024)
        except DecodeError as exc:
            raise HandshakeError(str(exc)) from None

    async def _write(self, link: PeerLink) -> None:
        while True:
            frame = await link.queue.get()
            try:
                await link.ws.send_bytes(frame)
            except (ConnectionResetError, RuntimeError, aiohttp.ClientError):
                return

    async def _read(self, link: PeerLink) -> None:
        async for msg in link.ws:
            if msg.type == WSMsgType.BINARY:
                await self._dispatch(link, msg.data)
            elif msg.type == WSMsgType.ERROR:
                # aiohttp reports an over-limit frame as an error and closes the link.
                too_big = getattr(msg.data, "code", None) == WSCloseCode.MESSAGE_TOO_BIG
                self._drop(DropReason.OVERSIZED if too_big else DropReason.MALFORMED)
                return
            else:
                self._drop(DropReason.NOT_BINARY)

    async def _dispatch(self, link: PeerLink, data: bytes) -> None:
        try:
            kind_name, payload = decode_frame(data, self.config.max_frame)
        except DecodeError:
            self._drop(DropReason.MALFORMED)
            return
        kind = self._kinds.get(kind_name)
        if kind is None:
            self._drop(DropReason.UNKNOWN_KIND)
            return
        if len(payload) > kind.max_size:
            self._drop(DropReason.OVERSIZED)
            return
        if kind.consensus and link.role != "validator":
            self._drop(DropReason.NOT_VALIDATOR)
            return
        try:
            reason = await kind.handler(link, payload)
        except Exception:
            log.exception("handler of %s from %s failed", kind_name, link.name)
            reason = DropReason.HANDLER_ERROR
        if reason is not None:
            self._drop(reason)

    def _drop(self, reason: str) -> None:
        self.metrics.dropped_messages.labels(reason).inc()


async def _close_quietly(ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> None:
    with contextlib.suppress(Exception):
        # On the timeout, ``close`` is cancelled and drops the connection instead.
        await asyncio.wait_for(ws.close(message=b"node stopping"), CLOSE_TIMEOUT)


def decode_transaction_batch(payload: bytes) -> list[bytes]:
    """The canonical bytes of each transaction in a ``txs`` frame (checked shape only)."""
    value = codec.decode(payload, max_size=MAX_TXS_FRAME_BYTES)
    if not isinstance(value, list) or len(value) > MAX_TXS_PER_FRAME or not all(isinstance(v, bytes) for v in value):
        raise DecodeError(f"an array of at most {MAX_TXS_PER_FRAME} transactions (bytes) expected")
    return value


# Refusals of a gossiped transaction that no honest peer would forward: counted as drops.
# (A duplicate or a nonce another transaction took is ordinary gossip, not misbehaviour.)
_BAD_TRANSACTION_REASONS: Final = frozenset(
    {Reason.DECODE, Reason.TOO_LARGE, Reason.WRONG_CHAIN, Reason.INVALID, Reason.BAD_SIGNATURE}
)
MAX_TXS_FRAME_BYTES: Final = 8 * 1024 * 1024


# Gossiped transaction bytes waiting for admission, at most: past this a link's reader waits
# (back-pressure on that peer) instead of the node buffering without bound.
MAX_PENDING_GOSSIP_BYTES: Final = 2 * MAX_TXS_FRAME_BYTES
# A proposer admits the queued gossip before it builds, for at most this long: a backlog
# (after a long block, on a busy machine) left to the task instead. Admitting all of it once
# took 1.5 s, the proposal reached the others 0.03 s after their propose timeout, and the
# height went to a second round with a block of 4,905 transactions (12 s).
ADMIT_BEFORE_BUILD_SECONDS: Final = 0.2


class GossipAdmission:
    """The transactions peers send, admitted one frame after the other by one task, apart
    from the links' readers. A reader that admitted a frame itself held every later frame of
    its peer behind it, the peer's votes and proposal too: after a node had judged a block
    (its event loop busy for a second), the gossip that piled up meanwhile delayed each vote
    step by as long again. Now a reader queues the frame and reads on, so a vote is handled
    as it arrives; the task admits ADMIT_CHUNK transactions at a time and lets the loop run
    between chunks. Frames are admitted in the order they arrived (a sender's nonces in
    order); pending bytes are bounded (``MAX_PENDING_GOSSIP_BYTES``)."""

    def __init__(
        self, network: P2PNetwork, admit: Callable[[list[bytes]], list[Admission]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.network = network
        self.admit = admit
        self._clock = clock
        self._frames: deque[tuple[PeerLink, list[bytes], int]] = deque()
        self._position = 0  # transactions of the first frame admitted so far
        self._answers: list[Admission] = []  # and their answers
        self._bytes = 0
        self._space = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Frames queued and not yet wholly admitted."""
        return len(self._frames)

    async def receive(self, link: PeerLink, payload: bytes) -> str | None:
        try:
            with self.network.metrics.cpu.part("gossip"):
                raws = decode_transaction_batch(payload)
        except DecodeError:
            return DropReason.MALFORMED
        size = len(payload)
        while self._bytes and self._bytes + size > MAX_PENDING_GOSSIP_BYTES:
            self._space.clear()
            await self._space.wait()
        self._frames.append((link, raws, size))
        self._bytes += size
        if self._worker is None:
            self._worker = self.network._spawn(self._admit_queued())
        return None

    async def _admit_queued(self) -> None:
        try:
            while self._frames:
                await asyncio.sleep(0)  # consensus messages read meanwhile go first
                # A proposer's admit_pending may have emptied the queue meanwhile.
                if self._frames:
                    self._admit_chunk()
        finally:
            self._worker = None

    def admit_pending(self, budget: float = ADMIT_BEFORE_BUILD_SECONDS) -> int:
        """Admit the queued transactions now, for at most ``budget`` seconds (a proposer
        about to build its block: what arrived while it executed the last one belongs in this
        one; a larger backlog stays queued for the task, so the proposal is not late); how
        many were admitted or refused."""
        deadline = self._clock() + budget
        count = 0
        while self._frames and self._clock() < deadline:
            count += self._admit_chunk()
        return count

    def _admit_chunk(self) -> int:
        """Admit the next ADMIT_CHUNK transactions of the first queued frame; once the frame
        is done, forward what it brought that was new. How many were admitted or refused."""
        link, raws, size = self._frames[0]
        chunk = raws[self._position : self._position + ADMIT_CHUNK]
        self._answers.extend(self.admit(chunk))
        self._position += len(chunk)
        if self._position >= len(raws):
            self._frames.popleft()
            self._bytes -= size
            self._space.set()
            answers, self._answers, self._position = self._answers, [], 0
            self._forward(link, raws, answers)
        return len(chunk)

    def _forward(self, link: PeerLink, raws: list[bytes], answers: list[Admission]) -> None:
        with self.network.metrics.cpu.part("gossip"):
            fresh: list[tuple[bytes, bytes]] = []
            bad = 0
            for raw, answer in zip(raws, answers, strict=True):
                if answer.tx_hash is not None:
                    link.remember(answer.tx_hash)
                if answer.accepted and answer.tx_hash is not None:
                    fresh.append((answer.tx_hash, raw))
                elif answer.reason in _BAD_TRANSACTION_REASONS:
                    bad += 1
            if fresh:
                self.network.gossip_transactions(fresh, source=link.node_key)
            if bad:
                self.network._drop("bad_transaction")


def serve_transaction_gossip(network: P2PNetwork, admit: Callable[[list[bytes]], list[Admission]]) -> GossipAdmission:
    """Admit the transactions peers send (``admit``: the node's mempool admission of raw
    bytes; ``GossipAdmission``) and forward the newly admitted ones to the other peers."""
    admission = GossipAdmission(network, admit)
    network.on(TXS, MAX_TXS_FRAME_BYTES, consensus=False, handler=admission.receive)
    return admission
