"""`meterchain audit` and `meterchain status` against a real node process: the audit of a
certified chain passes with the node's own state root recomputed; after one block in the
node's store is altered, the audit fails at that block and says why."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from typer.testing import CliRunner

from chain.types import Block, PublicKey
from meterchain.cli import app
from node.blockstore import BLOCK_PREFIX, BlockStore, height_key
from node.config import load_config
from node.storechain import store_path
from node.testnet import write_network
from tests.node.certified_chain import commit_blocks
from tests.node.processes import NodeProcesses, node_ports, nodes, without_empty_blocks  # noqa: F401 (fixture)


def tamper_block(home: Path, height: int) -> None:
    """Replace block ``height`` in the stopped node's store by one naming another proposer."""
    store = BlockStore.open(str(store_path(load_config(home))))
    try:
        block = store.block(height)
        assert block is not None
        forged = replace(block, header=replace(block.header, proposer=PublicKey(bytes(32))))
        store.db.put(BLOCK_PREFIX + height_key(height), Block.encode(forged), sync=True)
    finally:
        store.close()


def test_audit_passes_on_a_certified_chain_and_fails_at_a_tampered_block(
    tmp_path: Path, nodes: NodeProcesses  # noqa: F811 (fixture)
) -> None:
    [validator] = write_network(tmp_path, 1, 0, node_ports(1))
    without_empty_blocks(validator.home)
    commit_blocks(validator, 4)
    runner = CliRunner()
    nodes.start(validator.home)
    status = nodes.wait_status(validator.home, validator.api_url)

    result = runner.invoke(app, ["status", "--node", validator.api_url])
    assert result.exit_code == 0 and "height      4" in result.output, result.output
    result = runner.invoke(app, ["audit", "--node", validator.api_url, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["passed"] and (report["audited_height"], report["node_height"]) == (4, 4)
    assert (report["head_hash"], report["state_root"]) == (status["last_block_hash"], status["state_root"])
    assert report["transactions"] == 4 and report["signatures_by_validator"] == {"validator-1": 4}
    text = runner.invoke(app, ["audit", "--node", validator.api_url]).output
    assert "PASSED" in text and "blocks verified        4 of 4 (from height 1)" in text

    assert nodes.stop(validator.home) == 0
    tamper_block(validator.home, 3)
    nodes.start(validator.home)
    nodes.wait_status(validator.home, validator.api_url)
    result = runner.invoke(app, ["audit", "--node", validator.api_url, "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert not report["passed"] and report["failed_height"] == 3 and report["audited_height"] == 2
    assert "block 3: a valid commit certificate expected: precommits for block" in report["failure"]


def test_status_and_audit_of_a_node_that_does_not_answer_fail_with_a_message() -> None:
    runner = CliRunner()
    for command in ("status", "audit"):
        result = runner.invoke(app, [command, "--node", "http://127.0.0.1:1"])
        assert result.exit_code == 1 and "a meterchain node answering at http://127.0.0.1:1 expected" in result.output
