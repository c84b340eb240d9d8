"""A network of real node processes for the multi-process tests: homes written by
``node.testnet.write_network`` (with short consensus timeouts), ``python -m node.daemon
--home H`` per node on free 127.0.0.1 ports (``tests.node.processes``), conditions awaited
through ``GET /v1/status`` with deadlines, and every process killed at teardown even when the
test failed (the ``network`` fixture)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chain.signatures import keypair_from_seed, sign_transaction
from chain.types import KIND_CALL, Gas, Height, Nonce, Signature, Transaction
from node.testnet import GOVERNANCE_KEY_FILE, NodeHome, write_network
from tests.node.processes import NodeProcesses, node_ports

# Short timeouts so a failed round costs about two seconds; blocks still come at most one a
# second (block times are whole seconds, each after its parent's).
FAST_CONSENSUS = """
[consensus]
timeout_propose_ms = 1000
timeout_prevote_ms = 500
timeout_precommit_ms = 500
timeout_delta_ms = 250
empty_block_interval_ms = 500
rebroadcast_interval_ms = 500
"""

Status = dict[str, Any]


class Network:
    """The homes of one test network and their processes, by node name."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.processes = NodeProcesses()
        self.homes: dict[str, NodeHome] = {}

    def write(
        self, validators: int, regulators: int = 0, consensus: str = FAST_CONSENSUS, genesis_validators: int | None = None
    ) -> list[NodeHome]:
        homes = write_network(
            self.directory, validators, regulators, node_ports(validators + regulators), genesis_validators=genesis_validators
        )
        for home in homes:
            with (home.home / "node.toml").open("a") as toml:
                toml.write(consensus)
            self.homes[home.name] = home
        return homes

    @property
    def names(self) -> list[str]:
        return list(self.homes)

    # --- processes ------------------------------------------------------------------------

    def start(self, *names: str) -> None:
        for name in names or tuple(self.homes):
            self.processes.start(self.homes[name].home)

    def kill(self, name: str) -> None:
        """SIGKILL: the node dies at once, whatever it was doing."""
        process = self.processes.processes.pop(self.homes[name].home)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def pause(self, name: str) -> None:
        """SIGSTOP: the process is frozen, its sockets open and silent (a stalled machine)."""
        self.processes.processes[self.homes[name].home].send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.processes.processes[self.homes[name].home].send_signal(signal.SIGCONT)

    def stop(self, name: str) -> int:
        """SIGTERM: a graceful stop; the exit status."""
        return self.processes.stop(self.homes[name].home)

    def output(self, name: str) -> str:
        return self.processes.output(self.homes[name].home)

    def kill_all(self) -> None:
        self.processes.kill_all()

    # --- the API --------------------------------------------------------------------------

    def wait(self, name: str, condition: Callable[[Status], bool], deadline: float = 30.0) -> Status:
        home = self.homes[name]
        return self.processes.wait_status(home.home, home.api_url, condition, deadline)

    def wait_all(self, condition: Callable[[Status], bool], deadline: float = 30.0, names: list[str] | None = None) -> dict[str, Status]:
        """Every named node's status once ``condition`` holds for each, within one deadline."""
        end = time.monotonic() + deadline
        return {n: self.wait(n, condition, max(0.1, end - time.monotonic())) for n in names or self.names}

    def status(self, name: str) -> Status:
        return self.wait(name, lambda s: True, 10.0)

    def get(self, name: str, path: str) -> Any:
        return asyncio.run(self._request("GET", self.homes[name].api_url + path))

    def post(self, name: str, path: str, body: Any) -> Any:
        return asyncio.run(self._request("POST", self.homes[name].api_url + path, body))

    @staticmethod
    async def _request(method: str, url: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession() as http, http.request(method, url, json=body) as response:
            return await response.json()

    def block_hashes(self, name: str, top: int) -> list[str]:
        return [self.get(name, f"/v1/blocks/{h}")["hash"] for h in range(1, top + 1)]

    # --- transactions ---------------------------------------------------------------------

    def governance_transaction(self, nonce: int, code: str) -> Transaction:
        """The governance key registers utility ``code`` (a call that succeeds)."""
        seed = bytes.fromhex((self.directory / GOVERNANCE_KEY_FILE).read_text().strip())
        key = keypair_from_seed(seed)[1]
        admin = keypair_from_seed(bytes(32))[1]
        first = next(iter(self.homes.values()))
        chain_id = self.get(first.name, "/v1/status")["chain_id"]
        unsigned = Transaction(
            chain_id, key, Nonce(nonce), Height(10_000), Gas(2_000_000),
            KIND_CALL, ["registry", "register_utility", [code, "Electric", "electricity", "EUR", "auto", admin]],
            Signature(bytes(64)),
        )  # fmt: skip
        return sign_transaction(unsigned, seed)


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    net = Network(tmp_path)
    try:
        yield net
    finally:
        net.kill_all()
