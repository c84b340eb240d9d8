"""A network's node homes (``node.testnet``), the genesis document, and the node's chain on
disk (``node.storechain``): a home written by ``write_network`` starts as a real process and
serves its genesis; a restart keeps the store; a store of another genesis is refused."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chain.state import MemoryBackend
from meterchain.cli import app
from node.blockstore import BlockStore
from node.config import load_config
from node.genesis import GenesisDocument, GenesisError
from node.storechain import GenesisMismatch, StoredChainView, open_chain, open_store, store_path
from node.testnet import GOVERNANCE_KEY_FILE, write_network
from tests.network.harness import FAST_CONSENSUS, Network, network  # noqa: F401 (fixture)
from tests.node.certified_chain import CertifiedChain, genesis_document, key_of
from tests.node.processes import ROOT


def test_write_network_writes_a_full_mesh_sharing_one_genesis(tmp_path: Path) -> None:
    homes = write_network(tmp_path, 3, 1, [(9000 + i, 9100 + i) for i in range(4)], chain_id="grid-1")
    assert [(h.name, h.role) for h in homes] == [
        ("validator-1", "validator"), ("validator-2", "validator"), ("validator-3", "validator"),
        ("regulator-1", "regulator"),
    ]  # fmt: skip
    genesis = GenesisDocument.load(homes[0].home / "genesis.json")
    assert all(GenesisDocument.load(h.home / "genesis.json") == genesis for h in homes)
    assert [bytes.fromhex(v.public_key) for v in genesis.validators] == [h.validator_key for h in homes[:3]]
    assert (tmp_path / GOVERNANCE_KEY_FILE).exists()
    configs = {h.name: load_config(h.home) for h in homes}
    for home in homes:
        config = configs[home.name]
        assert config.chain_id == "grid-1" and config.role == home.role and config.node_key == home.node_key
        assert config.validator_key == home.validator_key and config.api_key == home.api_key
        assert config.genesis_path == home.home / "genesis.json"
    v1 = configs["validator-1"].file.p2p
    assert [(p.name, p.url, p.api) for p in v1.peers] == [
        ("validator-2", "ws://127.0.0.1:9101/p2p", "http://127.0.0.1:9001"),
        ("validator-3", "ws://127.0.0.1:9102/p2p", "http://127.0.0.1:9002"),
    ]
    assert v1.regulators == [homes[3].node_key.hex()]
    assert [p.name for p in configs["regulator-1"].file.p2p.peers] == ["validator-1", "validator-2", "validator-3"]
    assert configs["regulator-1"].peer_apis()["validator-2"] == "http://127.0.0.1:9001"
    with pytest.raises(FileExistsError, match="found a node home"):
        write_network(tmp_path, 3, 1, [(1, 2)] * 4)


def test_invalid_write_network_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="4 \\(api, p2p\\) port pairs expected, found 3"):
        write_network(tmp_path, 3, 1, [(1, 2)] * 3)
    with pytest.raises(ValueError, match="at least one validator"):
        write_network(tmp_path, 0, 1, [(1, 2)])


def test_the_genesis_header_commits_to_the_validator_set(tmp_path: Path) -> None:
    genesis = genesis_document()
    genesis.save(tmp_path / "genesis.json")
    assert GenesisDocument.load(tmp_path / "genesis.json") == genesis
    _, header = genesis.build(MemoryBackend())
    assert header.height == 0 and header.validator_set_hash == genesis.validator_set().hash
    assert len(genesis.validator_set()) == 4
    other = genesis.model_copy(update={"validators": genesis.validators[:3]})
    assert other.build(MemoryBackend())[1].hash != header.hash


def test_invalid_genesis_documents_say_what_was_expected(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    with pytest.raises(GenesisError, match="a genesis document at .* expected"):
        GenesisDocument.load(path)
    value = genesis_document().model_dump()
    value["validators"].append(dict(value["validators"][0]))
    path.write_text(json.dumps(value))
    with pytest.raises(GenesisError, match="distinct names and public keys expected"):
        GenesisDocument.load(path)
    value = genesis_document().model_dump()
    value["governance"] = "xyz"
    path.write_text(json.dumps(value))
    with pytest.raises(GenesisError, match="governance: String should match pattern"):
        GenesisDocument.load(path)


def test_a_store_keeps_its_genesis_and_refuses_another(tmp_path: Path) -> None:
    genesis = genesis_document()
    store = open_store(tmp_path / "db", genesis)
    CertifiedChain(store, genesis).commit()
    head = store.head()
    store.close()
    store = open_store(tmp_path / "db", genesis)
    assert store.head() == head
    store.close()
    other = genesis.model_copy(update={"time": genesis.time + 1})
    with pytest.raises(GenesisMismatch) as error:
        open_store(tmp_path / "db", other)
    expected = other.build(MemoryBackend())[1].hash.hex()
    stored = genesis.build(MemoryBackend())[1].hash.hex()
    assert expected in str(error.value) and stored in str(error.value)
    BlockStore.open(str(tmp_path / "db")).close()  # the refused open closed the database


def test_the_stored_view_serves_blocks_transactions_state_and_calls(tmp_path: Path) -> None:
    genesis = genesis_document()
    store = open_store(tmp_path / "db", genesis)
    view = StoredChainView(store, genesis.chain_id)
    chain = CertifiedChain(store, genesis)
    assert view.head().height == 0 and view.head().hash == store.genesis_header().hash
    admin = key_of("admin")
    tx = chain.transaction("governance", "registry", "register_utility", ["ELEC", "Electric", "electricity", "EUR", "auto", admin])
    block = chain.commit((tx,))
    assert view.head() == block.header
    stored = view.block(1)
    assert stored is not None and stored.block == block and stored.certificate == store.certificate(1)
    found = view.find_transaction(tx.hash)
    assert found is not None and (found.height, found.index) == (1, 0)
    assert view.state(0).root == store.genesis_header().state_root and view.state().root == block.header.state_root
    assert found.receipt.ok, found.receipt.error
    outcome = asyncio.run(asyncio.to_thread(view.call, "registry", "utility", ["ELEC"], bytes(32)))
    assert outcome.success and outcome.return_value["name"] == "Electric"
    assert view.call("registry", "utility", ["GAS"], bytes(32)).return_value is None
    store.close()


def test_open_chain_refuses_a_genesis_of_another_chain_id(tmp_path: Path) -> None:
    [home] = write_network(tmp_path, 1, 0, [(9000, 9001)])
    config = load_config(home.home)
    with pytest.raises(GenesisMismatch, match="a genesis document of chain 'meterchain-devnet' .* found chain 'other'"):
        open_chain(config, genesis_document(chain_id="other"))
    store = open_chain(config, GenesisDocument.load(config.genesis_path))
    assert store_path(config).is_dir() and store.head().height == 0
    store.close()


# --- real processes (tests/network/harness.py) ---------------------------------------------------


def test_a_written_home_serves_its_genesis_keeps_its_store_and_refuses_another(network: Network) -> None:  # noqa: F811
    # No empty blocks: the node's heights are the transaction's.
    [validator] = network.write(1, consensus=FAST_CONSENSUS.replace("empty_block_interval_ms = 500", "empty_block_interval_ms = 3600000"))
    home = validator.home
    genesis = GenesisDocument.load(home / "genesis.json")
    genesis_hash = genesis.build(MemoryBackend())[1].hash.hex()
    network.start()
    status = network.wait("validator-1", lambda s: True)
    assert (status["height"], status["last_block_hash"], status["role"]) == (0, genesis_hash, "validator")
    assert status["validators"] == [(validator.validator_key or b"").hex()]
    tx = network.governance_transaction(0, "ELEC")
    assert network.post("validator-1", "/v1/transactions", {"transactions": [tx.encode().hex()]})["accepted"] == 1
    block_1 = network.wait("validator-1", lambda s: s["height"] >= 1)["last_block_hash"]
    assert network.stop("validator-1") == 0

    network.start()  # the store is kept: the block and its transaction are there
    status = network.wait("validator-1", lambda s: True)
    assert status["height"] >= 1 and network.block_hashes("validator-1", 1) == [block_1]
    assert network.get("validator-1", f"/v1/transactions/{tx.hash.hex()}")["status"] == "final"
    assert network.stop("validator-1") == 0

    other = genesis.model_copy(update={"time": genesis.time + 1})
    other.save(home / "genesis.json")
    result = subprocess.run(
        [sys.executable, "-m", "node.daemon", "--home", str(home)], cwd=ROOT, capture_output=True, timeout=60
    )
    assert result.returncode == 2
    message = result.stderr.decode()
    assert genesis_hash in message and other.build(MemoryBackend())[1].hash.hex() in message


def test_meterchain_init_writes_the_homes_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["init", "--validators", "2", "--regulators", "1", "--dir", str(tmp_path), "--base-port", "30000"])
    assert result.exit_code == 0, result.output
    assert "regulator-1" in result.output and "http://127.0.0.1:30004" in result.output
    assert load_config(tmp_path / "validator-2").api_address() == ("127.0.0.1", 30002)
    again = runner.invoke(app, ["init", "--validators", "2", "--dir", str(tmp_path)])
    assert again.exit_code == 1 and "found a node home" in again.output
