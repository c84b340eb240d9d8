"""`meterchain governance` against a node's real HTTP API: Vera, the operator of a
one-validator chain, reads the parameters and the set, lowers the block transaction limit and
approves a contract upgrade from her validator's home; the refusals (a withdrawal of a decided
proposal, an unknown parameter, a regulator's home, a malformed argument) say why.

The node is a real assembled daemon over its LevelDB store; its blocks are made from its
mempool and certified by its validator key, as its consensus engine would (as in
tests/test_households.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from typer.testing import CliRunner, Result

from chain.parameters import BlockLimits, block_limits
from meterchain.cli import app
from node.genesis import GenesisDocument
from node.testnet import write_network
from tests.node.certified_chain import CertifiedChain
from tests.node.processes import node_ports
from tests.test_households import make_blocks, node_without_engine


async def governance(*args: str) -> Result:
    """The CLI in a worker thread (it runs its own event loop) while the node serves here."""
    return await asyncio.to_thread(CliRunner().invoke, app, ["governance", *args])


def test_vera_lowers_the_block_limit_and_approves_an_upgrade(tmp_path: Path) -> None:
    validator, regulator = write_network(tmp_path, 1, 1, node_ports(2))
    genesis = GenesisDocument.load(validator.home / "genesis.json")
    seed = bytes.fromhex((validator.home / "validator_key").read_text().strip())
    url, home = validator.api_url, str(validator.home)

    async def scenario() -> None:
        node = node_without_engine(validator.home)
        await node.runner.start()
        maker = asyncio.create_task(make_blocks(node, CertifiedChain(node.store, genesis, seeds={"validator-1": seed})))
        try:
            shown = await governance("parameters", "--node", url)
            assert shown.exit_code == 0, shown.output
            assert "max_block_transactions = 10000" in shown.output

            lowered = await governance("propose-parameters", "--home", home, "--node", url, "max_block_transactions=500")
            assert lowered.exit_code == 0, lowered.output
            assert "proposal 1 opened at height" in lowered.output and "decided (effective at height" in lowered.output
            assert json.loads((await governance("parameters", "--node", url, "--json")).output)["max_block_transactions"] == 500
            assert block_limits(node.store.state()) == BlockLimits(100_000_000, 500)

            upgrade = await governance("propose-contract", "--home", home, "--node", url, "billing", "upgrade", "ab" * 32)
            assert upgrade.exit_code == 0, upgrade.output
            listed = json.loads((await governance("proposals", "--node", url, "--json")).output)
            assert [(p["id"], p["kind"], p["status"]) for p in listed] == [(1, "parameters", "decided"), (2, "contract", "decided")]
            assert listed[1]["subject"] == {"name": "billing", "kind": "upgrade", "code_hash": "ab" * 32}

            members = await governance("validators", "--node", url)
            assert members.exit_code == 0 and f"{validator.validator_key.hex()}  power 1" in members.output

            # --- the refusals ---
            late = await governance("withdraw", "--home", home, "--node", url, "1")
            assert late.exit_code == 1 and "an open proposal expected, found proposal 1 decided" in late.output
            unknown = await governance("propose-parameters", "--home", home, "--node", url, "block_time=5")
            assert unknown.exit_code == 1 and "a parameter name (max_block_gas" in unknown.output
            not_ours = await governance("approve", "--home", str(regulator.home), "--node", url, "1")
            assert not_ours.exit_code == 1 and "a validator's home expected" in not_ours.output
            malformed = await governance("propose-parameters", "--home", home, "--node", url, "max_block_gas=lots")
            assert malformed.exit_code == 2 and "an integer after '=' expected, found 'max_block_gas=lots'" in malformed.output
            short_key = await governance("propose-validators", "--home", home, "--node", url, "abcd=1")
            assert short_key.exit_code == 2 and "64 hex digits expected, found 'abcd'" in short_key.output
            assert len(json.loads((await governance("proposals", "--node", url, "--json")).output)) == 2
        finally:
            maker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await maker
            await node.runner.stop()

    asyncio.run(scenario())
