"""State sync on real processes (tests/network/harness.py): four validators pruned to a
window of 3 heights' state and 4 heights' bodies, which they drop once the archive
regulator-1 (following from genesis) holds them, and a regulator started late that starts
from a validator's snapshot of a certified height (node.state_sync, headers checked from
the genesis on the pruned validators) instead of replaying from genesis, then follows by
block sync with the validators' block hashes and state roots. The stores pass
`meterchain node check`. (The tampered-chunk twin runs in-process:
tests/node/test_state_sync.py.)"""

from __future__ import annotations

import time

from typer.testing import CliRunner

from chain import codec
from chain.types import BlockHeader
from meterchain.cli import app
from tests.network.harness import Network, network  # noqa: F401 (fixture)
from tests.network.test_regulators import submit


def headers(network: Network, name: str, start: int, count: int) -> list[BlockHeader]:  # noqa: F811
    answer = network.get(name, f"/v1/headers?from={start}&count={count}")
    return [BlockHeader.from_value(codec.decode(bytes.fromhex(item["header"]))) for item in answer["headers"]]


def test_a_late_regulator_state_syncs_from_pruned_validators_and_follows(network: Network) -> None:  # noqa: F811
    network.write(4, 2)
    validators = [n for n in network.names if n.startswith("validator")]
    archive = network.homes["regulator-1"].api_url
    for name in validators:
        with (network.homes[name].home / "node.toml").open("a") as toml:
            toml.write(f'\n[storage]\nkeep_heights = 3\nkeep_blocks = 4\narchives = ["{archive}"]\narchive_poll_ms = 300\n')
    with (network.homes["regulator-2"].home / "node.toml").open("a") as toml:
        toml.write("\n[state_sync]\nenabled = true\ndepth = 3\n")
    network.start(*validators, "regulator-1")
    network.wait_all(lambda s: s["peers"] == 4, deadline=60, names=validators)  # and regulator-1
    submit(network, "validator-1", ["ELEC", "GAS", "WATER"])
    network.wait_all(lambda s: s["height"] >= 6, deadline=60, names=validators)
    refused = network.get("validator-1", "/v1/state/00?height=1")
    assert refused["status"] == 410 and "it keeps the state of heights" in refused["error"], refused
    # The archive holds the first blocks: the validators drop their bodies, not their headers.
    network.wait_all(lambda s: s["height"] >= 10, deadline=60, names=validators)
    deadline = time.monotonic() + 60
    while (kept := network.get("validator-1", "/v1/storage"))["blocks_from"] < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert kept["blocks_from"] >= 3 and kept["keep_blocks"] == 4 and not kept["archive"], kept
    gone = network.get("validator-1", "/v1/blocks/1")
    assert gone["status"] == 410 and "ask an archive node" in gone["error"], gone
    assert network.get("regulator-1", "/v1/blocks/1")["hash"] == headers(network, "validator-1", 1, 1)[0].hash.hex()

    network.start("regulator-2")
    reached = network.status("validator-1")["height"]
    network.wait("regulator-2", lambda s: s["height"] >= reached + 2, deadline=60)
    offer = network.get("regulator-2", "/v1/snapshots")
    snapshot = offer["low"]  # a state-synced archive keeps every height from its snapshot on
    assert snapshot >= 10 and offer["archive"] is True, offer
    assert f"state sync: started from the state of height {snapshot}" in network.output("regulator-2")
    assert network.get("regulator-2", "/v1/blocks/1")["status"] == 404  # never fetched, never stored

    top = network.status("regulator-2")["height"]
    network.wait_all(lambda s: s["height"] >= top, deadline=30, names=validators)
    for name in validators:  # their headers: they may have dropped these bodies already
        for header in headers(network, name, snapshot, top - snapshot + 1):
            mine = network.get("regulator-2", f"/v1/blocks/{header.height}")
            assert (mine["hash"], mine["header"]["state_root"]) == (header.hash.hex(), header.state_root.hex())

    for name, expected in (("regulator-2", [f"started from a snapshot of height {snapshot}"]),
                           ("validator-1", ["pruned, keep_heights = 3", "keep_blocks = 4"])):  # fmt: skip
        assert network.stop(name) == 0
        result = CliRunner().invoke(app, ["node", "check", "--home", str(network.homes[name].home)])
        assert result.exit_code == 0 and all(e in result.output for e in expected), result.output
