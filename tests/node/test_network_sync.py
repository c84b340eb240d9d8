"""Real processes on 127.0.0.1: a regulator started late syncs from genesis through its
validator's API, then follows it; at every height its block and state root are the
validator's. (The blocks are committed to the validator's store while it is stopped, as its
consensus engine would commit them: sync is under test here, not consensus.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from node.testnet import write_network
from tests.node.certified_chain import commit_blocks
from tests.node.processes import NodeProcesses, node_ports, nodes, without_empty_blocks  # noqa: F401 (fixture)


def headers(api_url: str, top: int) -> list[tuple[str, str]]:
    """(block hash, state root) of every block from 1 to ``top``, as the node serves them."""

    async def fetch() -> list[tuple[str, str]]:
        out = []
        async with aiohttp.ClientSession() as http:
            for height in range(1, top + 1):
                async with http.get(f"{api_url}/v1/blocks/{height}") as r:
                    body = await r.json()
                out.append((body["hash"], body["header"]["state_root"]))
        return out

    return asyncio.run(fetch())


def test_a_late_regulator_syncs_from_genesis_then_follows_with_equal_state_roots(
    tmp_path: Path, nodes: NodeProcesses  # noqa: F811 (fixture)
) -> None:
    validator, regulator = write_network(tmp_path, 1, 1, node_ports(2))
    without_empty_blocks(validator.home)
    commit_blocks(validator, 6)
    nodes.start(validator.home)
    nodes.wait_status(validator.home, validator.api_url, lambda s: s["height"] == 6)
    nodes.start(regulator.home)
    status = nodes.wait_status(regulator.home, regulator.api_url, lambda s: s["height"] == 6)
    assert status["role"] == "regulator" and status["validators"] == [validator.validator_key.hex()]  # type: ignore[union-attr]
    assert headers(regulator.api_url, 6) == headers(validator.api_url, 6)
    assert "sync: height 6 of 6 from validator-1" in nodes.output(regulator.home)

    # The validator goes on (three more blocks); the regulator follows.
    assert nodes.stop(validator.home) == 0
    commit_blocks(validator, 3)
    nodes.start(validator.home)
    status = nodes.wait_status(regulator.home, regulator.api_url, lambda s: s["height"] == 9 and not s["syncing"])
    assert headers(regulator.api_url, 9) == headers(validator.api_url, 9)
    assert status["last_block_hash"] == headers(validator.api_url, 9)[-1][0]
    assert nodes.stop(regulator.home) == 0 and nodes.stop(validator.home) == 0
