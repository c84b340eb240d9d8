"""`meterchain wallet` against a node's real HTTP API: a consumer (Wendy) creates her key,
subscribes to her prepaid meter, tops up with a voucher, reads her DSMR meter's P1 telegram
from a capture file and submits it, and sees her account; the refusals say why.

The node is a real assembled daemon over its LevelDB store; its blocks are made from its
mempool and certified by its validator key, as its consensus engine would (as in
tests/test_households.py). The utility is set up by the demonstration's households."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from typer.testing import CliRunner, Result

from meter_adapters.simulator import MeterState, advance, dsmr_telegram
from meterchain.cli import app
from meterchain.demo import FIELD, TARIFF, UTILITY, total_import
from meterchain.households import NetworkHouseholds
from node.genesis import GenesisDocument
from node.testnet import GOVERNANCE_KEY_FILE, write_network
from tests.node.certified_chain import CertifiedChain
from tests.node.processes import node_ports
from tests.test_households import make_blocks, node_without_engine
from wallet.node_client import NodeClient
from wallet.vouchers import new_code, voucher_key

VOUCHER_VALUE = 2_000


def run_with_node(tmp_path: Path, scenario: Callable[[NetworkHouseholds, aiohttp.ClientSession, str], Awaitable[None]]) -> None:
    [validator] = write_network(tmp_path, 1, 0, node_ports(1))
    genesis = GenesisDocument.load(validator.home / "genesis.json")
    governance_seed = bytes.fromhex((tmp_path / GOVERNANCE_KEY_FILE).read_text().strip())
    seed = bytes.fromhex((validator.home / "validator_key").read_text().strip())

    async def main() -> None:
        node = node_without_engine(validator.home)
        await node.runner.start()
        maker = asyncio.create_task(make_blocks(node, CertifiedChain(node.store, genesis, seeds={"validator-1": seed})))
        try:
            households = NetworkHouseholds([validator.api_url], genesis.chain_id, governance_seed, 1, lambda _: None)
            async with aiohttp.ClientSession() as http:
                await households.set_up(http, deadline=30)
                await scenario(households, http, validator.api_url)
        finally:
            maker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await maker
            await node.runner.stop()

    asyncio.run(main())


async def wallet(*args: str) -> Result:
    """The CLI in a worker thread (it runs its own event loop) while the node serves here."""
    return await asyncio.to_thread(CliRunner().invoke, app, ["wallet", *args])


async def register_meter(households: NetworkHouseholds, http: aiohttp.ClientSession, meter: MeterState) -> str:
    staff = households.staff
    first = total_import(dsmr_telegram(meter))
    await households.run_step(http, [(staff.admin, "registry", "register_meter",
                                      [first.meter, FIELD, "Canal 7", 1, 9, 20_000, first.value, b"",
                                       staff.collector.public_key])])  # fmt: skip
    await households.run_step(http, [(staff.operator, "registry", "activate_meter", [first.meter]),
                                     (staff.admin, "billing", "assign_tariff", [first.meter, TARIFF])])  # fmt: skip
    return first.meter


def test_wendy_subscribes_tops_up_submits_her_reading_and_sees_her_account(tmp_path: Path) -> None:
    key = str(tmp_path / "wendy.key")
    capture = tmp_path / "p1.txt"

    async def scenario(households: NetworkHouseholds, http: aiohttp.ClientSession, api: str) -> None:
        meter_state = MeterState(serial="WENDY00000001", gas_serial="WENDYGAS00001", time=int(time.time()) - 60, seed=7)
        meter = await register_meter(households, http, meter_state)
        code = new_code()
        await households.run_step(http, [(households.staff.admin, "payments", "issue_vouchers",
                                          [UTILITY, VOUCHER_VALUE, [voucher_key(code).public_key]])])  # fmt: skip

        created = await wallet("new", "--key", key)
        assert created.exit_code == 0 and created.output.startswith("account mc1"), created.output
        assert oct(os.stat(key).st_mode & 0o777) == "0o600"

        subscribed = await wallet("subscribe", meter, "--mode", "prepaid", "--node", api, "--key", key)
        assert subscribed.exit_code == 0, subscribed.output
        assert f"subscribed to meter {meter} (prepaid)" in subscribed.output and "status active" in subscribed.output

        redeemed = await wallet("redeem", meter, code, "--node", api, "--key", key)
        assert redeemed.exit_code == 0, redeemed.output
        before, after = map(int, re.search(r"credit (-?\d+) -> (-?\d+)", redeemed.output).groups())  # type: ignore[union-attr]
        assert after - before == VOUCHER_VALUE

        # Her meter reads just after the subscription opened, by the chain's clock (a block's
        # time here is its parent's plus one second, and a reading must not be in the future).
        opened_at = (await NodeClient(api, http).call("registry", "subscription", [meter]))["opened_at"]
        meter_state = advance(meter_state, opened_at + 1 - meter_state.time)
        capture.write_bytes(dsmr_telegram(meter_state))
        expected = total_import(dsmr_telegram(meter_state)).value

        submitted = await wallet("submit", meter, "dsmr", "--file", str(capture), "--node", api, "--key", key)
        assert submitted.exit_code == 0, submitted.output
        assert f"reading {expected} Wh of {meter} (1-0:1.8.0) final at height" in submitted.output

        shown = await wallet("account", "--json", "--node", api, "--key", key)
        assert shown.exit_code == 0, shown.output
        (entry,) = json.loads(shown.output)
        assert entry["meter"] == meter and entry["mode"] == "prepaid" and entry["status"] == "active"
        assert entry["last_reading"]["index"] == expected
        assert entry["credit"] <= after  # a reading only ever charges (a minute's use may round to nothing)

        # Someone else looks at her account by its address, read-only, without her key.
        address = created.output.split()[1]
        other_key = str(tmp_path / "someone.key")
        assert (await wallet("new", "--key", other_key)).exit_code == 0
        looked = await wallet("account", "--json", "--of", address, "--node", api, "--key", other_key)
        assert looked.exit_code == 0 and json.loads(looked.output) == json.loads(shown.output), looked.output
        mistyped = await wallet("account", "--of", address[:-1] + ("q" if address[-1] != "q" else "p"), "--node", api)
        assert mistyped.exit_code == 2 and "--of: " in mistyped.output, mistyped.output

        # --- refusals: each says what was expected and what was found ---
        again = await wallet("submit", meter, "dsmr", "--file", str(capture), "--node", api, "--key", key)
        assert again.exit_code == 1 and "failed at height" in again.output, again.output
        other = tmp_path / "other.txt"
        other.write_bytes(dsmr_telegram(MeterState(serial="NOTWENDY00001", time=opened_at)))
        wrong = await wallet("submit", meter, "dsmr", "--file", str(other), "--node", api, "--key", key)
        assert wrong.exit_code == 1 and f"a capture of meter {meter} expected, found one of meter NOTWENDY00001" in wrong.output
        reused = await wallet("redeem", meter, code, "--node", api, "--key", key)
        assert reused.exit_code == 1 and "failed at height" in reused.output, reused.output

    run_with_node(tmp_path, scenario)


def test_invalid_wallet_keys_and_nodes_are_refused_with_what_was_expected(tmp_path: Path) -> None:
    key = tmp_path / "k"
    assert CliRunner().invoke(app, ["wallet", "new", "--key", str(key)]).exit_code == 0

    overwrite = CliRunner().invoke(app, ["wallet", "new", "--key", str(key)])
    assert overwrite.exit_code == 1 and "a key is never overwritten" in overwrite.output

    key.chmod(0o644)
    loose = CliRunner().invoke(app, ["wallet", "address", "--key", str(key)])
    assert loose.exit_code == 1 and "mode 600) expected" in loose.output and "found mode 644" in loose.output

    key.chmod(0o600)
    shown = CliRunner().invoke(app, ["wallet", "address", "--key", str(key)])
    assert shown.exit_code == 0 and shown.output.startswith("account mc1")

    missing = CliRunner().invoke(app, ["wallet", "address", "--key", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "meterchain wallet new" in missing.output

    [port] = node_ports(1)[0][:1]
    unreachable = CliRunner().invoke(app, ["wallet", "account", "--node", f"http://127.0.0.1:{port}", "--key", str(key)])
    assert unreachable.exit_code == 1 and f"a node answering at http://127.0.0.1:{port} expected" in unreachable.output

    mode = CliRunner().invoke(app, ["wallet", "subscribe", "M1", "--mode", "weekly", "--node", "http://127.0.0.1:1", "--key", str(key)])
    assert mode.exit_code == 2 and "postpaid or prepaid expected, found 'weekly'" in mode.output
