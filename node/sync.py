"""Block sync over HTTP: a node that is behind fetches finalized blocks with their commit
certificates from its peers' APIs, checks each one, re-executes it and commits it.

For every block, in height order (``verify_block``):

1. it must be the child of the node's head (height and parent hash);
2. its commit certificate must finalize it for the validator set of its height
   (``consensus.certificate.verify_commit``: more than 2/3 of the power, every signature
   checked), and the certificate it carries for its parent (``last_commit``) must
   finalize the parent;
3. ``apply_block`` re-executes it on the node's own state: every transaction's validity
   and signature, and the tx, receipts and state roots of the header.

Only then ``BlockStore.commit_block`` writes it, with the certificate, in one synced batch.
A peer that serves a block failing any check is refused for the rest of the process's
life (one log line says which peer, which block and what was wrong) and nothing of that
block is written; sync goes on from the other peers.

``BlockSync.catch_up(target)`` is what a node calls when it is behind (the consensus
engine, when it sees a height decided past its head); a regulator's ``SyncService``
follows: it polls its peers and catches up continuously. Progress is logged
at most once a second: height reached of height known, blocks per second.

The set of each height (``ValidatorsAt``) is ``node.validator_sets.ValidatorSets.at``: the
genesis set and the changes governance decided, read from the committed state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError

from chain import codec
from chain.errors import DecodeError, InvalidBlock
from chain.state import State
from chain.transition import BlockEnv, apply_block
from chain.types import Block, BlockHeader, Receipt
from consensus.certificate import CommitCertificate, verify_commit
from consensus.errors import InvalidCommit
from consensus.validators import ValidatorSet
from node.api.models import BlockBatchResponse, StatusResponse
from node.api.snapshots import SnapshotChunkResponse, SnapshotsResponse, SnapshotTopResponse
from node.api.storage import HeadersResponse, StorageResponse
from node.blockstore import BlockStore
from vm.runtime import VMRuntime

log = logging.getLogger("meterchain.sync")

DEFAULT_BATCH: Final = 64  # blocks per request (the API also bounds a batch's bytes)
PROGRESS_INTERVAL: Final = 1.0  # seconds between progress lines

ValidatorsAt = Callable[[int], ValidatorSet]  # the validator set of a height
_M = TypeVar("_M", bound=BaseModel)


class BadBlock(Exception):
    """A block that must not be committed; the message says which and why."""

    def __init__(self, height: int, message: str) -> None:
        super().__init__(message)
        self.height = height


def verify_block(
    chain_id: str,
    parent: BlockHeader,
    state: State,
    block: Block,
    certificate: bytes | None,
    validators_at: ValidatorsAt,
    runtime: VMRuntime,
) -> tuple[State, tuple[Receipt, ...]]:
    """Check ``block`` and its ``certificate`` on top of ``parent`` (whose state is
    ``state``) and re-execute it; the new state (not committed) and the receipts, or
    ``BadBlock`` saying what was expected and what was found."""
    header = block.header
    height = parent.height + 1
    if header.height != height or header.parent_hash != parent.hash:
        raise BadBlock(
            height,
            f"block {height} on parent {parent.hash.hex()} expected, "
            f"found block {header.height} on parent {header.parent_hash.hex()}",
        )
    validators = validators_at(height)
    if certificate is None:
        raise BadBlock(height, f"block {height}: a commit certificate expected, found none")
    try:
        verify_commit(chain_id, header, CommitCertificate.decode(certificate), validators)
    except (DecodeError, InvalidCommit) as exc:
        raise BadBlock(height, f"block {height}: a valid commit certificate expected: {exc}") from None
    if height > 1:
        try:
            verify_commit(chain_id, parent, CommitCertificate.decode(block.last_commit), validators_at(height - 1))
        except (DecodeError, InvalidCommit) as exc:
            raise BadBlock(height, f"block {height}: a valid last commit for block {height - 1} expected: {exc}") from None
    env = BlockEnv(chain_id, parent, validators.hash, runtime, next_validator_set_hash=validators_at(height + 1).hash)
    try:
        return apply_block(state, block, env)
    except InvalidBlock as exc:
        raise BadBlock(height, f"block {height} re-executed: {exc}") from None


# --- a peer's API ----------------------------------------------------------------------------


class PeerUnavailable(Exception):
    """The peer did not answer, or answered something that is not the API's."""


class PeerLacks(PeerUnavailable):
    """The peer answered 410: it no longer keeps what was asked (a pruned node's old block
    bodies or state, ``node.bodies``, ``node.pruning``); an archive does."""


@dataclass(frozen=True, slots=True)
class FetchedBlock:
    """A block as a peer sent it: decoded only when its turn comes, so the blocks before a
    garbled one are still taken."""

    height: int
    block_hex: str
    certificate_hex: str | None

    def decode(self) -> tuple[Block, bytes | None]:
        try:
            block = Block.decode(bytes.fromhex(self.block_hex))
            certificate = None if self.certificate_hex is None else bytes.fromhex(self.certificate_hex)
        except (ValueError, DecodeError) as exc:
            raise BadBlock(self.height, f"block {self.height}: canonical block bytes expected: {exc}") from None
        return block, certificate


class PeerApi:
    """The few calls of a node's HTTP API that sync and audit make."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url.rstrip("/")

    async def _get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        try:
            async with self.session.get(self.url + path, params=params) as response:
                if response.status == 410:
                    raise PeerLacks(f"{self.url}{path}: it no longer keeps it: {(await response.text())[:300]}")
                if response.status != 200:
                    text = (await response.text())[:200]
                    raise PeerUnavailable(f"{self.url}{path}: 200 expected, found {response.status}: {text}")
                return await response.json()
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise PeerUnavailable(f"{self.url}{path}: {type(exc).__name__}: {exc}") from None

    async def status(self) -> StatusResponse:
        try:
            return StatusResponse.model_validate(await self._get("/v1/status"))
        except ValidationError as exc:
            raise PeerUnavailable(f"{self.url}/v1/status: a status expected: {exc.errors()[:1]}") from None

    async def genesis(self) -> Any:
        return await self._get("/v1/genesis")

    async def blocks(self, start: int, count: int) -> tuple[int, list[FetchedBlock]]:
        """Up to ``count`` blocks from height ``start`` on, and the peer's head height."""
        raw = await self._get("/v1/blocks", {"from": start, "count": count})
        try:
            batch = BlockBatchResponse.model_validate(raw)
        except ValidationError as exc:
            raise PeerUnavailable(f"{self.url}/v1/blocks: a block batch expected: {exc.errors()[:1]}") from None
        fetched = []
        for offset, item in enumerate(batch.blocks):
            height = start + offset
            if item.height != height:
                raise BadBlock(height, f"block {height} expected in the batch, found block {item.height}")
            fetched.append(FetchedBlock(height, item.block, item.certificate))
        return batch.head, fetched

    async def headers(self, start: int, count: int) -> tuple[int, list[tuple[int, BlockHeader, bytes | None]]]:
        """Up to ``count`` headers with their certificates from ``start`` on (every node
        keeps them, bodies dropped or not), and the peer's head height."""
        answer = await self._model("/v1/headers", HeadersResponse, {"from": start, "count": count})
        out = []
        for offset, item in enumerate(answer.headers):
            height = start + offset
            try:
                header = BlockHeader.from_value(codec.decode(bytes.fromhex(item.header)))
                certificate = None if item.certificate is None else bytes.fromhex(item.certificate)
            except (ValueError, DecodeError) as exc:
                raise BadBlock(height, f"header {height}: canonical header bytes expected: {exc}") from None
            if item.height != height or header.height != height:
                raise BadBlock(height, f"header {height} expected in the batch, found header {header.height}")
            out.append((height, header, certificate))
        return answer.head, out

    async def storage(self) -> StorageResponse:
        """What the peer keeps (``node.api.storage``): its archive's word for ``node.archives``."""
        return await self._model("/v1/storage", StorageResponse)


    async def _model(self, path: str, model: type[_M], params: Mapping[str, str | int] | None = None) -> _M:
        raw = await self._get(path, params)
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            raise PeerUnavailable(f"{self.url}{path}: a {model.__name__} expected: {exc.errors()[:1]}") from None

    async def snapshots(self) -> SnapshotsResponse:
        """The heights whose state the peer serves (state sync, ``node.state_sync``)."""
        return await self._model("/v1/snapshots", SnapshotsResponse)

    async def snapshot(self, height: int, depth: int) -> SnapshotTopResponse:
        return await self._model(f"/v1/snapshots/{height}", SnapshotTopResponse, {"depth": depth})

    async def chunk(self, height: int, depth: int, index: int) -> SnapshotChunkResponse:
        return await self._model(f"/v1/snapshots/{height}/chunks/{index}", SnapshotChunkResponse, {"depth": depth})


# --- sync ---------------------------------------------------------------------------------


@dataclass
class Peer:
    name: str
    api: PeerApi
    height: int = 0  # the head it reported last
    refused: str | None = None  # why its blocks are not taken any more
    # The lowest height it answered it no longer keeps (410, a pruned peer): it never will
    # again, so it is not asked for that height or a lower one.
    lacks: int = 0


class BlockSync:
    """Catches the node's ``store`` up with its peers (name -> API URL)."""

    def __init__(
        self,
        store: BlockStore,
        chain_id: str,
        validators_at: ValidatorsAt,
        peers: Mapping[str, str],
        runtime: VMRuntime | None = None,
        on_committed: Callable[[int], None] | None = None,
        batch: int = DEFAULT_BATCH,
        http_timeout: float = 10.0,
    ) -> None:
        self.store = store
        self.chain_id = chain_id
        self.validators_at = validators_at
        self.peer_urls = dict(peers)
        self.runtime = runtime or VMRuntime()
        self.on_committed = on_committed
        self.batch = batch
        self.http_timeout = http_timeout
        self.peers: list[Peer] = []
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()
        # The block being checked and committed in a worker thread: waited for by ``close``
        # so the store is never closed under a commit.
        self._inflight: asyncio.Future[int] | None = None
        self.known_height = 0  # the highest head a peer reported

    @property
    def syncing(self) -> bool:
        """Whether a peer reported a head beyond this node's."""
        return self.known_height > self.store.head().height

    def _ensure_session(self) -> None:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.http_timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
            self.peers = [Peer(name, PeerApi(self._session, url)) for name, url in self.peer_urls.items()]

    async def close(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            await asyncio.wait([self._inflight])
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def poll(self) -> int:
        """Ask every usable peer for its head; the highest one (also ``known_height``)."""
        self._ensure_session()
        usable = [p for p in self.peers if p.refused is None]
        answers = await asyncio.gather(*(p.api.status() for p in usable), return_exceptions=True)
        for peer, answer in zip(usable, answers, strict=True):
            if isinstance(answer, StatusResponse):
                if answer.chain_id != self.chain_id:
                    self._refuse(peer, f"chain {self.chain_id!r} expected, found chain {answer.chain_id!r}")
                else:
                    peer.height = answer.height
            elif isinstance(answer, PeerUnavailable):
                log.debug("sync: peer %s unavailable: %s", peer.name, answer)
            elif isinstance(answer, BaseException):
                raise answer
        self.known_height = max([self.known_height] + [p.height for p in self.peers if p.refused is None])
        return self.known_height

    async def catch_up(self, target: int | None = None) -> int:
        """Sync until the head reaches ``target`` (default: the highest head the peers
        report) or no usable peer has more; the head height reached. Blocks from a peer
        that fail a check are never committed and that peer is not asked again."""
        async with self._lock:
            # Poll even when the caller names a target: the peers' heights decide which of
            # them can serve it (an unpolled peer counts as having nothing).
            known = await self.poll()
            goal = known if target is None else max(target, self.known_height)
            for peer in sorted(self.peers, key=lambda p: -p.height):
                if self.store.head().height >= goal:
                    break
                head = self.store.head().height
                if peer.refused is None and peer.height > head and peer.lacks <= head:
                    await self._sync_from(peer, goal)
            return self.store.head().height

    async def _sync_from(self, peer: Peer, goal: int) -> None:
        started = time.monotonic()
        start_height = self.store.head().height
        last_log = started
        while self.store.head().height < goal and peer.refused is None:
            head = self.store.head().height
            count = min(self.batch, max(goal, peer.height) - head)
            try:
                peer_head, blocks = await peer.api.blocks(head + 1, count)
            except PeerLacks as exc:  # a pruned peer: not refused, only of no use below its kept blocks
                log.info("sync: peer %s no longer keeps block %d; asking another peer (an archive): %s",
                         peer.name, head + 1, exc)
                peer.lacks = max(peer.lacks, head + 1)
                return
            except PeerUnavailable as exc:
                log.warning("sync: peer %s unavailable at block %d: %s", peer.name, head + 1, exc)
                return
            except BadBlock as exc:
                self._refuse(peer, str(exc))
                return
            peer.height = peer_head
            self.known_height = max(self.known_height, peer_head)
            if not blocks:
                return
            for fetched in blocks:
                self._inflight = asyncio.ensure_future(asyncio.to_thread(self._verify_and_commit, fetched))
                try:
                    # Shielded: a cancelled sync leaves the block's commit to finish.
                    height = await asyncio.shield(self._inflight)
                except BadBlock as exc:
                    self._refuse(peer, str(exc))
                    return
                if self.on_committed is not None:
                    self.on_committed(height)
            now = time.monotonic()
            if now - last_log >= PROGRESS_INTERVAL or self.store.head().height >= goal:
                reached = self.store.head().height
                rate = (reached - start_height) / max(now - started, 1e-9)
                log.info(
                    "sync: height %d of %d from %s (%.1f blocks/s)", reached, max(goal, self.known_height), peer.name, rate
                )
                last_log = now

    def _verify_and_commit(self, fetched: FetchedBlock) -> int:
        """In a worker thread: check and re-execute one block on the head, then commit it."""
        block, certificate = fetched.decode()
        parent = self.store.head_header()
        state, receipts = verify_block(
            self.chain_id, parent, self.store.state(), block, certificate, self.validators_at, self.runtime
        )
        assert certificate is not None  # verify_block refuses a block without one
        self.store.commit_block(block, receipts, certificate, state)
        return block.header.height

    def _refuse(self, peer: Peer, reason: str) -> None:
        peer.refused = reason
        log.error("sync: refusing peer %s (%s): %s; nothing of it committed, not syncing from it again", peer.name, peer.api.url, reason)


class SyncService:
    """Block sync as a node service. With ``follow`` (a regulator) it polls the peers every
    ``interval`` seconds and catches up, continuously: it never votes and never proposes,
    it only takes blocks whose certificates and re-execution check out. Without it (a
    validator) it only closes the sync's connections at stop; the consensus engine calls
    ``sync.catch_up`` when it is behind."""

    name = "sync"

    def __init__(self, sync: BlockSync, follow: bool, interval: float = 0.2) -> None:
        self.sync = sync
        self.follow = follow
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.follow:
            self._task = asyncio.create_task(self._run(), name="follow")

    async def _run(self) -> None:
        while True:
            try:
                await self.sync.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sync: catch-up failed; retrying")
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.sync.close()
