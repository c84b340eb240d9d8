"""Node processes for the multi-process tests: ``python -m node.daemon --home H`` on
127.0.0.1, each one's output in ``H/node.log``, waited on through ``GET /v1/status`` with
deadlines. The tests use them through ``tests/network/harness.py`` (its ``network``
fixture kills every process at teardown, even when the test failed)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free right now (held open together so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def node_ports(count: int) -> list[tuple[int, int]]:
    ports = free_ports(2 * count)
    return [(ports[2 * i], ports[2 * i + 1]) for i in range(count)]


class NodeProcesses:
    def __init__(self) -> None:
        self.processes: dict[Path, subprocess.Popen[bytes]] = {}

    def start(self, home: Path) -> subprocess.Popen[bytes]:
        log = (home / "node.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "node.daemon", "--home", str(home)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.processes[home] = process
        return process

    def stop(self, home: Path, timeout: float = 15.0) -> int:
        process = self.processes.pop(home)
        process.terminate()
        return process.wait(timeout=timeout)

    def output(self, home: Path) -> str:
        path = home / "node.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
        for process in self.processes.values():
            process.wait(timeout=10)
        self.processes.clear()

    def wait_status(
        self, home: Path, api_url: str, condition: Callable[[dict[str, Any]], bool] = lambda s: True, deadline: float = 30.0
    ) -> dict[str, Any]:
        """The node's status once ``condition`` holds; fails at the deadline or if the
        process exits, with the node's output."""
        process = self.processes[home]

        async def poll() -> dict[str, Any]:
            end = time.monotonic() + deadline
            last: dict[str, Any] = {}
            async with aiohttp.ClientSession() as http:
                while True:
                    if process.poll() is not None:
                        raise AssertionError(f"node {home.name} exited {process.returncode}:\n{self.output(home)[-3000:]}")
                    try:
                        async with http.get(f"{api_url}/v1/status") as r:
                            last = dict(await r.json())
                            if condition(last):
                                return last
                    except aiohttp.ClientConnectionError:
                        pass
                    if time.monotonic() > end:
                        raise AssertionError(f"node {home.name}: condition not met before the deadline; last status {last}")
                    await asyncio.sleep(0.1)

        return asyncio.run(poll())
