"""Which heights the archives hold: what lets a pruned node drop old block bodies
(``node.bodies``; docs/storage.md, "Block bodies and receipts").

A pruned validator lists its archives in ``[storage] archives`` (the HTTP APIs of
regulators' nodes, which keep every block). ``ArchiveWatch`` asks each of them every
``interval`` seconds what it keeps (``GET /v1/storage``) and, for the height it reports,
that height's header (``GET /v1/headers``): an archive confirms height ``h`` when it says it
is an archive (every block from height 1 on, kept for good) and its header ``h`` is this
node's header ``h`` (an archive of another chain, or one that forked, confirms nothing).
The store may drop bodies up to the lowest height every archive confirmed
(``BlockStore.confirm_archived``).

An archive that does not answer keeps what it confirmed last (it held those blocks; being
unreachable a while does not lose them), but confirms nothing new; one that answers that it
is not an archive (any more) confirms nothing, and drops stop until it does. Confirmations
live in memory only: after a restart nothing is dropped until the archives answer again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Final

import aiohttp

from node.blockstore import BlockStore
from node.sync import BadBlock, PeerApi, PeerUnavailable

log = logging.getLogger("meterchain.archives")

DEFAULT_INTERVAL: Final = 10.0  # seconds between two rounds of questions


class ArchiveWatch:
    """The service that keeps ``store.archived_height`` up to date from ``urls``."""

    name = "archives"

    def __init__(self, store: BlockStore, urls: Sequence[str], interval: float = DEFAULT_INTERVAL,
                 http_timeout: float = 10.0) -> None:
        self.store = store
        self.urls = list(urls)
        self.interval = interval
        self.http_timeout = http_timeout
        self.confirmed: dict[str, int] = {url: 0 for url in self.urls}  # the last height each archive confirmed
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if not self.urls:
            if self.store.keep_blocks is not None:
                log.info("no archive configured ([storage] archives): block bodies and receipts are kept, none dropped")
            return
        self._task = asyncio.create_task(self._run(), name="archives")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("archives: a round of questions failed; retrying")
            await asyncio.sleep(self.interval)

    async def poll(self) -> int:
        """Ask every archive once; the height all of them confirmed (also given to the store)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.http_timeout))
        session = self._session
        answers = await asyncio.gather(*(self._ask(PeerApi(session, url)) for url in self.urls), return_exceptions=True)
        for url, answer in zip(self.urls, answers, strict=True):
            if isinstance(answer, int):
                self.confirmed[url] = answer
            elif isinstance(answer, PeerUnavailable):
                log.debug("archives: %s unavailable (keeps its last confirmation, %d): %s", url, self.confirmed[url], answer)
            elif isinstance(answer, BaseException):
                raise answer
        height = min(self.confirmed.values())
        self.store.confirm_archived(height)
        return height

    async def _ask(self, api: PeerApi) -> int:
        kept = await api.storage()
        if not kept.archive:
            log.warning("archives: %s is not an archive (it keeps blocks from %d, keep_blocks %s): it confirms nothing",
                        api.url, kept.blocks_from, kept.keep_blocks)
            return 0
        height = min(kept.head, self.store.head().height)
        if height < 1:
            return 0
        try:
            _, headers = await api.headers(height, 1)
        except BadBlock as exc:
            log.warning("archives: %s sent a malformed header: %s; it confirms nothing", api.url, exc)
            return 0
        ours = self.store.header(height)
        if not headers or ours is None or headers[0][1].hash != ours.hash:
            log.error("archives: %s holds another block %d than this node: it confirms nothing", api.url, height)
            return 0
        return height
