"""The node's lifecycle: services started in order and stopped in reverse, a failed start
undone, SIGINT/SIGTERM graceful; the TOML configuration and its errors; two assembled nodes
linked over 127.0.0.1; the daemon as a real process."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chain.signatures import keypair_from_seed
from chain.transition import get_nonce
from node.config import ConfigError, load_config, parse_config
from node.daemon import Node
from node.service import ServiceRunner
from tests.node.certified_chain import CHAIN, CertifiedChain, genesis_document

ROOT = Path(__file__).resolve().parents[2]


# --- the runner -------------------------------------------------------------------------------


class Recorder:
    def __init__(self, name: str, log: list[str], fail_start: bool = False, fail_stop: bool = False) -> None:
        self.name = name
        self.log = log
        self.fail_start = fail_start
        self.fail_stop = fail_stop

    async def start(self) -> None:
        if self.fail_start:
            raise RuntimeError(f"{self.name} cannot start")
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")
        if self.fail_stop:
            raise RuntimeError(f"{self.name} cannot stop")


def test_services_start_in_order_and_stop_in_reverse_once() -> None:
    log: list[str] = []
    runner = ServiceRunner([Recorder("store", log), Recorder("p2p", log), Recorder("api", log)])

    async def scenario() -> None:
        await runner.start()
        assert runner.running == ["store", "p2p", "api"]
        await runner.stop()
        await runner.stop()

    asyncio.run(scenario())
    assert log == ["start store", "start p2p", "start api", "stop api", "stop p2p", "stop store"]


def test_invalid_start_stops_what_started_and_a_failing_stop_does_not_stop_the_others() -> None:
    log: list[str] = []
    runner = ServiceRunner(
        [Recorder("store", log), Recorder("p2p", log, fail_stop=True), Recorder("api", log, fail_start=True)]
    )
    with pytest.raises(RuntimeError, match="api cannot start"):
        asyncio.run(runner.start())
    assert log == ["start store", "start p2p", "stop p2p", "stop store"]
    assert runner.running == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_stops_the_services_gracefully(sig: signal.Signals) -> None:
    log: list[str] = []
    runner = ServiceRunner([Recorder("store", log), Recorder("api", log)])

    async def scenario() -> str:
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), sig)
        return await runner.run()

    assert asyncio.run(scenario()) == sig.name
    assert log == ["start store", "start api", "stop api", "stop store"]


# --- configuration --------------------------------------------------------------------------------


def seed_of(name: str) -> bytes:
    return hashlib.sha256(b"test-node:" + name.encode()).digest()


def node_key_of(name: str) -> bytes:
    return keypair_from_seed(seed_of(name))[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_home(
    home: Path, name: str, api_port: int, p2p_port: int, peers: list[tuple[str, int]] = (), role: str = "validator",  # type: ignore[assignment]
    extra: str = "",
) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "node_key").write_text(seed_of(name).hex() + "\n")
    (home / "validator_key").write_text(seed_of("validator:" + name).hex())
    (home / "api_key").write_text("operator-key-of-" + name)
    genesis_document().save(home / "genesis.json")
    peer_tables = "".join(
        f'\n[[p2p.peers]]\nname = "{p}"\nurl = "ws://127.0.0.1:{port}/p2p"\nnode_key = "{node_key_of(p).hex()}"\n'
        for p, port in peers
    )
    validator_line = 'validator_key_file = "validator_key"' if role == "validator" else ""
    (home / "node.toml").write_text(
        f"""
[node]
name = "{name}"
role = "{role}"
chain_id = "{CHAIN}"
{validator_line}
log_format = "json"

[api]
listen = "127.0.0.1:{api_port}"
key_file = "api_key"

[p2p]
listen = "127.0.0.1:{p2p_port}"
{peer_tables}
{extra}
"""
    )
    return home


def test_a_node_configuration_is_read_with_its_key_files(tmp_path: Path) -> None:
    home = write_home(tmp_path / "alice", "alice", 8545, 26656, [("bob", 26657)], extra="[mempool]\nmax_per_sender = 8\n")
    config = load_config(home)
    assert (config.name, config.role, config.chain_id) == ("alice", "validator", CHAIN)
    assert config.node_seed == seed_of("alice") and config.node_key == node_key_of("alice")
    assert config.validator_key == keypair_from_seed(seed_of("validator:alice"))[1]
    assert config.api_key == "operator-key-of-alice" and config.api_address() == ("127.0.0.1", 8545)
    assert config.mempool_limits().max_per_sender == 8
    p2p = config.p2p_config()
    assert (p2p.listen_host, p2p.listen_port) == ("127.0.0.1", 26656)
    assert [(p.name, p.url, p.node_key) for p in p2p.peers] == [("bob", "ws://127.0.0.1:26657/p2p", node_key_of("bob"))]
    assert config.peer_roles() == {node_key_of("bob"): "validator"}
    assert config.data_dir == home / "data"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('role = "validator"', 'role = "king"'), "node.role: Input should be 'validator' or 'regulator' (found 'king')"),
        (lambda t: t + "\n[api]\n", "TOML expected, found a syntax error"),
        (lambda t: t.replace("[p2p]", "[p2p]\nlisten_port = 1"), "p2p.listen_port: Extra inputs are not permitted"),
        (lambda t: t.replace('listen = "127.0.0.1:8545"', 'listen = "8545"'), "api.listen: Value error, host:port expected, found '8545'"),
        (lambda t: t.replace("ws://127.0.0.1:26657/p2p", "http://x/p2p"), "a ws://host:port/p2p URL expected, found 'http://x/p2p'"),
        (lambda t: t.replace('validator_key_file = "validator_key"', ""), "a key file for a validator expected, found none"),
        (lambda t: t.replace('role = "validator"', 'role = "regulator"'), "none for a regulator (it never votes) expected, found one"),
        (lambda t: t.replace('"validator_key"', '"missing_key"'), "a readable key file at"),
        (lambda t: t.replace("[p2p]", '[p2p]\nregulators = ["XYZ"]'), "p2p.regulators: 64 lowercase hex digits expected"),
    ],
)
def test_invalid_configurations_say_what_was_expected(tmp_path: Path, edit: Any, message: str) -> None:
    home = write_home(tmp_path, "alice", 8545, 26656, [("bob", 26657)])
    text = edit((home / "node.toml").read_text())
    with pytest.raises(ConfigError) as error:
        parse_config(text, home)
    assert message in str(error.value)


def test_invalid_key_file_contents_are_refused(tmp_path: Path) -> None:
    home = write_home(tmp_path, "alice", 8545, 26656)
    (home / "node_key").write_text("abcd")
    with pytest.raises(ConfigError, match="a 32-byte seed in .* expected, found 2 bytes"):
        load_config(home)
    (home / "node_key").write_text("not hex")
    with pytest.raises(ConfigError, match="64 hex digits in .* expected, found other text"):
        load_config(home)
    with pytest.raises(ConfigError, match="a node configuration at .* expected"):
        load_config(tmp_path / "nowhere")


# --- assembled nodes ----------------------------------------------------------------------------


def test_two_assembled_nodes_link_gossip_and_serve(tmp_path: Path) -> None:
    ports = {n: (free_port(), free_port()) for n in ("alice", "bob")}
    alice_home = write_home(tmp_path / "alice", "alice", *ports["alice"], [("bob", ports["bob"][1])])
    bob_home = write_home(tmp_path / "bob", "bob", *ports["bob"], [("alice", ports["alice"][1])])

    async def scenario() -> None:
        alice, bob = Node(load_config(alice_home)), Node(load_config(bob_home))
        await alice.runner.start()
        await bob.runner.start()
        try:
            await wait_for(lambda: len(alice.p2p.links) == 1 and len(bob.p2p.links) == 1)
            tx = CertifiedChain(alice.store, genesis_document()).transaction("user", "registry", "utility", ["X"])
            async with aiohttp.ClientSession() as http:
                url = f"http://127.0.0.1:{ports['alice'][0]}"
                async with http.post(url + "/v1/transactions", json={"transactions": [tx.encode().hex()]}) as r:
                    assert (await r.json())["accepted"] == 1
                await wait_for(lambda: tx.hash in bob.mempool)
                async with http.get(f"http://127.0.0.1:{ports['bob'][0]}/v1/status") as r:
                    status = await r.json()
                assert status["peers"] == 1 and status["mempool"] == 1 and status["chain_id"] == CHAIN
                # A block committed on bob (the consensus driver's job) rechecks bob's pool.
                CertifiedChain(bob.store, genesis_document()).commit(
                    tuple(bob.mempool.ready(lambda a: get_nonce(bob.store.state(), a), 10))
                )
                bob.block_committed(1)
                assert len(bob.mempool) == 0
                assert bob.metrics.registry.get_sample_value("meterchain_finalized_transactions_total") == 1.0
                async with http.get(
                    f"http://127.0.0.1:{ports['bob'][0]}/v1/operator/peers", headers={"X-API-Key": "operator-key-of-bob"}
                ) as r:
                    [peer] = (await r.json())["peers"]
                assert peer["name"] == "alice" and peer["connected"] and peer["validator"]
        finally:
            await bob.runner.stop()
            await alice.runner.stop()

    asyncio.run(scenario())


async def wait_for(condition: Any, deadline: float = 5.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)


# --- the daemon as a process -------------------------------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Any]:
    """Start ``python -m node.daemon`` on free ports; always killed at the end."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str = "solo") -> tuple[subprocess.Popen[bytes], int]:
        api_port = free_port()
        home = write_home(tmp_path / name, name, api_port, free_port())
        process = subprocess.Popen(
            [sys.executable, "-m", "node.daemon", "--home", str(home)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        processes.append(process)
        return process, api_port

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def wait_until_serving(process: subprocess.Popen[bytes], port: int, deadline: float = 30.0) -> dict[str, Any]:
    async def poll() -> dict[str, Any]:
        end = time.monotonic() + deadline
        async with aiohttp.ClientSession() as http:
            while True:
                assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
                try:
                    async with http.get(f"http://127.0.0.1:{port}/v1/status") as r:
                        return dict(await r.json())
                except aiohttp.ClientConnectionError:
                    if time.monotonic() > end:
                        raise AssertionError("the daemon did not serve before the deadline") from None
                    await asyncio.sleep(0.1)

    return asyncio.run(poll())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_daemon_process_serves_and_stops_gracefully_on_a_signal(daemon: Any, sig: signal.Signals) -> None:
    process, port = daemon()
    status = wait_until_serving(process, port)
    assert status["chain_id"] == CHAIN and status["role"] == "validator"
    process.send_signal(sig)
    assert process.wait(timeout=15) == 0
    output = process.stdout.read().decode() if process.stdout else ""
    for line in ('"message": "stopped api"', '"message": "stopped p2p"', f"stopped ({sig.name})"):
        assert line in output, output
    assert output.index("stopped api") < output.index("stopped p2p")


def test_invalid_configuration_stops_the_daemon_before_it_starts(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "node.daemon", "--home", str(tmp_path)], cwd=ROOT, capture_output=True, timeout=60
    )
    assert result.returncode == 2
    assert b"a node configuration at" in result.stderr and b"expected" in result.stderr


def test_meterchain_node_run_starts_the_daemon_from_its_home(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from meterchain.cli import app

    result = CliRunner().invoke(app, ["node", "run", "--home", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "a node configuration at" in result.output and "expected" in result.output
