"""State sync on real processes (tests/network/harness.py): four validators pruned to a
window of 3 heights, and a regulator started late that starts from a validator's snapshot
of a certified height (node.state_sync) instead of replaying from genesis, then follows by
block sync with the validators' block hashes and state roots. Both stores pass
`meterchain node check`. (The tampered-chunk twin runs in-process:
tests/node/test_state_sync.py.)"""

from __future__ import annotations

from typer.testing import CliRunner

from meterchain.cli import app
from tests.network.harness import Network, network  # noqa: F401 (fixture)
from tests.network.test_regulators import submit


def test_a_late_regulator_state_syncs_from_pruned_validators_and_follows(network: Network) -> None:  # noqa: F811
    network.write(4, 1)
    validators = [n for n in network.names if n.startswith("validator")]
    for name in validators:
        with (network.homes[name].home / "node.toml").open("a") as toml:
            toml.write("\n[storage]\nkeep_heights = 3\n")
    with (network.homes["regulator-1"].home / "node.toml").open("a") as toml:
        toml.write("\n[state_sync]\nenabled = true\ndepth = 3\n")
    network.start(*validators)
    network.wait_all(lambda s: s["peers"] == 3, deadline=60, names=validators)
    submit(network, "validator-1", ["ELEC", "GAS", "WATER"])
    network.wait_all(lambda s: s["height"] >= 6, deadline=60, names=validators)
    refused = network.get("validator-1", "/v1/state/00?height=1")
    assert refused["status"] == 410 and "it keeps the state of heights" in refused["error"], refused

    network.start("regulator-1")
    reached = network.status("validator-1")["height"]
    network.wait("regulator-1", lambda s: s["height"] >= reached + 2, deadline=60)
    offer = network.get("regulator-1", "/v1/snapshots")
    snapshot = offer["low"]  # a state-synced archive keeps every height from its snapshot on
    assert snapshot >= 6 and offer["archive"] is True, offer
    assert f"state sync: started from the state of height {snapshot}" in network.output("regulator-1")
    assert network.get("regulator-1", "/v1/blocks/1")["status"] == 404  # never fetched, never stored

    top = network.status("regulator-1")["height"]
    network.wait_all(lambda s: s["height"] >= top, deadline=30, names=validators)
    for height in range(snapshot, top + 1):
        mine = network.get("regulator-1", f"/v1/blocks/{height}")
        for name in validators:
            theirs = network.get(name, f"/v1/blocks/{height}")
            assert (mine["hash"], mine["header"]["state_root"]) == (theirs["hash"], theirs["header"]["state_root"])

    for name, expected in (("regulator-1", f"started from a snapshot of height {snapshot}"),
                           ("validator-1", "pruned, keep_heights = 3")):  # fmt: skip
        assert network.stop(name) == 0
        result = CliRunner().invoke(app, ["node", "check", "--home", str(network.homes[name].home)])
        assert result.exit_code == 0 and expected in result.output, result.output
