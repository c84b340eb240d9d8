"""`meterchain billing rebill` against a node's real HTTP API: Olga, the utility's operator,
rebills an invoice whose interior reading was misread, from the period's readings the node's
history serves (checked against the genesis's validator set), then rebills the replacement
again with its last reading corrected (the history now carries the first correction, which
the second rebill's readings must include); the twin: a correction at a time that is not a
reading of the period is refused with the contract's reason and nothing changes.

The node is a real assembled daemon over its LevelDB store; its blocks are made from its
mempool and certified by its validator key, as its consensus engine would (as in
tests/test_households.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from typer.testing import CliRunner, Result

from meterchain.cli import app
from meterchain.demo import DAY, TOTAL_IMPORT, UTILITY, setup_steps
from meterchain.households import NetworkHouseholds
from node.genesis import GenesisDocument
from node.testnet import GOVERNANCE_KEY_FILE, write_network
from tests.node.certified_chain import CertifiedChain
from tests.node.processes import node_ports
from tests.test_households import make_blocks, node_without_engine
from wallet.node_client import NodeClient


async def billing(*args: str) -> Result:
    """The CLI in a worker thread (it runs its own event loop) while the node serves here."""
    return await asyncio.to_thread(CliRunner().invoke, app, ["billing", *args])


@dataclass
class Billed:
    """A postpaid meter read three times after its subscription, and its invoice."""

    url: str
    meter: str
    times: list[int]  # the three readings' times
    indexes: list[int]  # and their indexes
    invoice: dict[str, Any]
    key: Path  # the operator's key file
    genesis: Path


def with_billed_meter(tmp_path: Path, scenario: Callable[[Billed, NodeClient], Awaitable[None]]) -> None:
    [validator] = write_network(tmp_path, 1, 0, node_ports(1))
    genesis = GenesisDocument.load(validator.home / "genesis.json")
    governance_seed = bytes.fromhex((tmp_path / GOVERNANCE_KEY_FILE).read_text().strip())
    seed = bytes.fromhex((validator.home / "validator_key").read_text().strip())
    households = NetworkHouseholds([validator.api_url], genesis.chain_id, governance_seed, 1, lambda _: None)
    staff, [home] = households.staff, households.homes
    key = tmp_path / "olga_key"
    with os.fdopen(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as out:
        out.write(staff.operator.seed.hex() + "\n")

    async def run() -> None:
        node = node_without_engine(validator.home)
        await node.runner.start()
        maker = asyncio.create_task(make_blocks(node, CertifiedChain(node.store, genesis, seeds={"validator-1": seed})))
        try:
            async with aiohttp.ClientSession() as http:
                client = NodeClient(validator.api_url, http)

                async def head_time() -> int:
                    latest = await client.latest_block()
                    return 0 if latest is None else latest.header.time

                # The tariff is in force from 2 s after the step that sets it is built; each
                # later step is a block at least a second after its parent, so the readings
                # (each at the head's time + 1, within the next block's time) are after it.
                now = [max(await head_time(), int(time.time()))]
                for step in setup_steps(households.governance, staff, [home], lambda: now[0] + 1, 1,
                                        now[0] + 30 * DAY):
                    await households.run_step(http, step, 30)
                    now[0] = await head_time()
                opening = (await client.call("registry", "meter", [home.meter_id]))["initial_index"]
                times, indexes = [], [opening + 100, opening + 200, opening + 300]
                for index in indexes:
                    times.append(await head_time() + 1)
                    await households.run_step(http, [(staff.collector, "billing", "submit_reading",
                                                      [home.meter_id, TOTAL_IMPORT, times[-1], index, "collector",
                                                       bytes(32), b""])], 30)  # fmt: skip
                await households.run_step(http, [(staff.operator, "billing", "run_billing",
                                                  [UTILITY, times[-1], "", 100])], 30)  # fmt: skip
                [invoice] = await client.call("billing", "invoices", [home.meter_id])
                assert invoice["period_end"] == times[-1] and invoice["basis"]["readings"]["count"] == 3
                billed = Billed(validator.api_url, home.meter_id, times, indexes, invoice, key,
                                validator.home / "genesis.json")
                await scenario(billed, client)
        finally:
            maker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await maker
            await node.runner.stop()

    asyncio.run(run())


def test_olga_rebills_an_interior_reading_then_the_last_from_the_nodes_history(tmp_path: Path) -> None:
    async def scenario(b: Billed, client: NodeClient) -> None:
        first = b.invoice
        t2, t3 = b.times[1:]
        # The interior reading at t2 was misread: 200 over the opening where it was 250. The period's
        # consumption moves between its spans; the flat tariff bills the same total.
        done = await billing("rebill", first["id"], "--node", b.url, "--key", str(b.key), "--genesis", str(b.genesis),
                             "--correct", f"{t2}={b.indexes[1] + 50}", "--reason", "misread register")
        assert done.exit_code == 0, done.output
        voided = await client.call("billing", "invoice", [first["id"]])
        second = await client.call("billing", "invoice", [voided["replaced_by"]])
        assert voided["status"] == "void" and second["replaces"] == first["id"]
        assert second["consumption"] == first["consumption"] and second["total"] == first["total"]
        assert f"invoice {first['id']} void, replaced by {second['id']} at height" in done.output
        assert f"{b.indexes[1]} -> {b.indexes[1] + 50}" in done.output and "(difference 0.00)" in done.output
        history = await client.meter_readings(b.meter, t2, t2 + 1)
        assert [(i.name, i.index) for i in history.items] == [("reading", b.indexes[1]),
                                                               ("reading_corrected", b.indexes[1] + 50)]

        # The replacement's commitment is to the corrected readings: its rebill is given them
        # (from the history, the correction applied). The last reading was 20 too high.
        again = await billing("rebill", second["id"], "--node", b.url, "--key", str(b.key),
                              "--correct", str(t3) + f"={b.indexes[2] - 20}", "--reason", "last index misread")
        assert again.exit_code == 0, again.output
        third = await client.call("billing", "invoice", [(await client.call("billing", "invoice", [second["id"]]))["replaced_by"]])
        assert third["replaces"] == second["id"] and third["consumption"] == second["consumption"] - 20
        assert third["total"] < second["total"]
        difference = third["total"] - second["total"]
        assert f"(difference -{-difference // 100}.{-difference % 100:02d})" in again.output
        assert f"consumption {second['consumption']} -> {third['consumption']}" in again.output
        assert (await client.call("billing", "billing_state", [b.meter]))["index"] == b.indexes[2] - 20

    with_billed_meter(tmp_path, scenario)


def test_invalid_rebill_of_a_time_without_a_reading_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    async def scenario(b: Billed, client: NodeClient) -> None:
        invoice_id, end = b.invoice["id"], b.times[-1]
        refused = await billing("rebill", invoice_id, "--node", b.url, "--key", str(b.key),
                                "--correct", f"{end + 100}={b.indexes[2]}", "--reason", "a reading that never was")
        assert refused.exit_code == 1, refused.output
        assert (f"corrections of readings of invoice {invoice_id} (after {b.invoice['basis']['readings']['base'][0]}, "
                f"up to {end}) expected, found one at {end + 100} that names none") in refused.output
        assert await client.call("billing", "invoices", [b.meter]) == [b.invoice]
        malformed = await billing("rebill", invoice_id, "--node", b.url, "--key", str(b.key),
                                  "--correct", "yesterday", "--reason", "x")
        assert malformed.exit_code == 2 and "TIME=INDEX" in malformed.output

    with_billed_meter(tmp_path, scenario)
