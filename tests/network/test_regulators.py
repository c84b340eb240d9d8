"""Regulators and audits on real processes (tests/network/harness.py), with real consensus:

- a regulator started late syncs from genesis over HTTP, then follows four validators; at
  every height its block hash and state root are theirs; `meterchain audit` through its API
  passes;
- a block altered in a node's store on disk makes `meterchain audit` fail at that block.
"""

from __future__ import annotations

import json
from dataclasses import replace

from typer.testing import CliRunner

from chain.types import Block, PublicKey
from meterchain.cli import app
from node.blockstore import BLOCK_PREFIX, BlockStore, height_key
from node.config import load_config
from node.storechain import store_path
from tests.network.harness import Network, network  # noqa: F401 (fixture)


def chain_of(network: Network, name: str, top: int) -> list[tuple[str, str]]:  # noqa: F811
    """(block hash, state root) of heights 1..top as the node serves them."""
    out = []
    for height in range(1, top + 1):
        block = network.get(name, f"/v1/blocks/{height}")
        out.append((block["hash"], block["header"]["state_root"]))
    return out


def submit(network: Network, name: str, codes: list[str]) -> None:  # noqa: F811
    txs = [network.governance_transaction(nonce, code).encode().hex() for nonce, code in enumerate(codes)]
    answer = network.post(name, "/v1/transactions", {"transactions": txs})
    assert answer["accepted"] == len(codes), answer


def test_a_late_regulator_syncs_from_genesis_and_follows_with_the_validators_state_root(network: Network) -> None:  # noqa: F811
    network.write(4, 1)
    validators = [n for n in network.names if n.startswith("validator")]
    network.start(*validators)
    network.wait_all(lambda s: s["peers"] == 3, deadline=60, names=validators)
    submit(network, "validator-1", ["ELEC", "GAS", "WATER"])
    network.wait_all(lambda s: s["height"] >= 3, deadline=60, names=validators)

    network.start("regulator-1")
    reached = network.status("validator-1")["height"]
    network.wait("regulator-1", lambda s: s["height"] >= reached, deadline=60)
    target = reached + 2  # and it follows what is decided after it caught up
    status = network.wait("regulator-1", lambda s: s["height"] >= target, deadline=30)
    assert status["role"] == "regulator" and len(status["validators"]) == 4

    expected = chain_of(network, "regulator-1", target)
    network.wait_all(lambda s: s["height"] >= target, deadline=30, names=validators)
    for name in validators:
        assert chain_of(network, name, target) == expected, f"{name} and the regulator differ"
    assert "sync: height" in network.output("regulator-1")

    result = CliRunner().invoke(app, ["audit", "--node", network.homes["regulator-1"].api_url, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["passed"] and report["audited_height"] >= target
    assert (report["transactions"], report["failed_transactions"]) == (3, 0)
    assert set(report["signatures_by_validator"]) <= set(validators)


def tamper_block(network: Network, name: str, height: int) -> None:  # noqa: F811
    """Replace block ``height`` in the stopped node's store by one naming another proposer."""
    store = BlockStore.open(str(store_path(load_config(network.homes[name].home))))
    try:
        block = store.block(height)
        assert block is not None
        forged = replace(block, header=replace(block.header, proposer=PublicKey(bytes(32))))
        store.db.put(BLOCK_PREFIX + height_key(height), Block.encode(forged), sync=True)
    finally:
        store.close()


def test_invalid_store_fails_the_audit_at_the_altered_block(network: Network) -> None:  # noqa: F811
    network.write(1)
    network.start()
    network.wait("validator-1", lambda s: s["height"] >= 3, deadline=30)
    assert network.stop("validator-1") == 0
    tamper_block(network, "validator-1", 2)
    network.start()
    network.wait("validator-1", lambda s: True)
    url = network.homes["validator-1"].api_url
    runner = CliRunner()
    result = runner.invoke(app, ["status", "--node", url])
    assert result.exit_code == 0 and "(validator)" in result.output, result.output
    result = runner.invoke(app, ["audit", "--node", url, "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert not report["passed"] and (report["failed_height"], report["audited_height"]) == (2, 1)
    assert "block 2: a valid commit certificate expected: precommits for block" in report["failure"]
    text = runner.invoke(app, ["audit", "--node", url]).output
    assert "FAILED" in text and "failure at block 2" in text
