"""The node as a set of services with an explicit start and stop (model: aiohttp's
``web_runner`` and ethereum/async-service).

``ServiceRunner`` starts its services in the given order and stops them in the reverse
order, so a service never outlives what it depends on: storage first up and last down, the
public API last up and first down (no request reaches a node that is not ready, or that is
shutting down). A failure while starting stops what had started, then re-raises. A failure
while stopping one service is logged and the others are still stopped. SIGINT and SIGTERM
ask for a graceful stop; a second signal while stopping is ignored (the stop is bounded by
each service's own timeouts).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from typing import Final, Protocol

from aiohttp import web

from node.api import ApiContext, make_app
from node.blockstore import BlockStore
from node.p2p import P2PNetwork

log = logging.getLogger("meterchain.service")

STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


class Service(Protocol):
    @property
    def name(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ServiceRunner:
    def __init__(self, services: Sequence[Service]) -> None:
        self.services = tuple(services)
        self._started: list[Service] = []
        self._stop_requested: asyncio.Event | None = None
        self.stop_reason = ""

    @property
    def running(self) -> list[str]:
        return [s.name for s in self._started]

    async def start(self) -> None:
        for service in self.services:
            try:
                await service.start()
            except BaseException:
                log.error("service %s failed to start; stopping the %d started before it", service.name, len(self._started))
                await self.stop()
                raise
            self._started.append(service)
            log.info("started %s", service.name)

    async def stop(self) -> None:
        """Stop the started services in reverse order; safe to call twice."""
        while self._started:
            service = self._started.pop()
            try:
                await service.stop()
                log.info("stopped %s", service.name)
            except Exception:
                log.exception("service %s failed to stop cleanly", service.name)

    def request_stop(self, reason: str) -> None:
        if self._stop_requested is not None and not self._stop_requested.is_set():
            self.stop_reason = reason
            self._stop_requested.set()

    async def run(self, stop_signals: Sequence[signal.Signals] = STOP_SIGNALS) -> str:
        """Start, serve until a stop signal or ``request_stop``, stop; return why it stopped."""
        self._stop_requested = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in stop_signals:
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        try:
            await self.start()
            await self._stop_requested.wait()
            log.info("stopping (%s)", self.stop_reason)
        finally:
            for sig in stop_signals:
                loop.remove_signal_handler(sig)
            await self.stop()
        return self.stop_reason


class ApiService:
    """The HTTP API on its own aiohttp runner (the node handles signals, not aiohttp)."""

    name = "api"

    def __init__(self, context: ApiContext, host: str, port: int) -> None:
        self.context = context
        self.host = host
        self.port = port
        self.bound: tuple[str, int] | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        runner = web.AppRunner(make_app(self.context), handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.bound = (host, port)
        log.info("api listening on http://%s:%d", host, port)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


class StoreService:
    """The node's block store: opened before the node is assembled (everything reads it),
    closed last."""

    name = "store"

    def __init__(self, store: BlockStore) -> None:
        self.store = store

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.store.close()


class P2PService:
    name = "p2p"

    def __init__(self, network: P2PNetwork) -> None:
        self.network = network

    async def start(self) -> None:
        await self.network.start()

    async def stop(self) -> None:
        await self.network.stop()
