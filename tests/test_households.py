"""The demonstration's households on a node's real HTTP API: the utility set up step by step
by the network's governance key and staff, then DSMR readings of every household submitted
and final. The node is a real assembled daemon (``node.daemon.Node``) over its LevelDB
store; its blocks are made here from its mempool and certified by its validator key, as its
consensus engine would."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import aiohttp

from chain.transition import get_nonce
from meterchain.demo import total_import
from meterchain.households import VACANT_SERIAL, NetworkHouseholds
from node.api.history import ReadingsResponse
from node.config import load_config
from node.daemon import Node
from node.genesis import GenesisDocument
from node.testnet import GOVERNANCE_KEY_FILE, write_network
from tests.node.certified_chain import CertifiedChain
from tests.node.processes import node_ports
from wallet.history_check import check_continuous, verify_readings
from wallet.node_client import NodeClient


def node_without_engine(home: Path) -> Node:
    """A validator's daemon whose blocks ``make_blocks`` makes: its own consensus engine is
    left out (its config without the validator seed), or the two would race to commit the
    same height and the loser would stop the node ("block 2 ... expected, found ...")."""
    config = load_config(home)
    config.validator_seed = None
    node = Node(config)
    assert node.engine is None
    return node


async def make_blocks(node: Node, chain: CertifiedChain) -> None:
    # Each block at the wall clock's second (after its parent's), as a proposer times it: the
    # meters read on the wall clock, and billing refuses a reading later than its block, so
    # blocks one second apart fell behind under load and refused readings "from the future".
    while True:
        ready = node.mempool.ready(lambda account: get_nonce(node.store.state(), account), 1000)
        if ready:
            block = chain.commit(tuple(ready), at=max(node.store.head_header().time + 1, int(time.time())))
            node.block_committed(block.header.height)
        await asyncio.sleep(0.05)


def test_households_set_up_the_utility_and_their_readings_become_final(tmp_path: Path) -> None:
    [validator] = write_network(tmp_path, 1, 0, node_ports(1))
    genesis = GenesisDocument.load(validator.home / "genesis.json")
    governance_seed = bytes.fromhex((tmp_path / GOVERNANCE_KEY_FILE).read_text().strip())
    seed = bytes.fromhex((validator.home / "validator_key").read_text().strip())
    lines: list[str] = []

    async def scenario() -> None:
        node = node_without_engine(validator.home)
        await node.runner.start()
        maker = asyncio.create_task(make_blocks(node, CertifiedChain(node.store, genesis, seeds={"validator-1": seed})))
        try:
            households = NetworkHouseholds(
                [validator.api_url], genesis.chain_id, governance_seed, 4, lines.append, vacant_port=tmp_path / "meters"
            )
            async with aiohttp.ClientSession() as http:
                assert not await households.already_set_up(http)
                await households.set_up(http, deadline=30)
                assert await households.already_set_up(http)
                client = NodeClient(validator.api_url, http)
                vacant = await client.call("registry", "meter", [VACANT_SERIAL])
                assert vacant["status"] == "active" and await client.call("registry", "subscription", [VACANT_SERIAL]) is None
                hashes: list[str] = []
                results = []
                for _ in range(2):
                    await asyncio.sleep(1.1)  # the meters run on the wall clock
                    # A round reads up to the later of the clock and the head block's time, so
                    # the next round must see this one's block: else, under load, its meters
                    # have nothing newer to read and are skipped.
                    round_hashes = await households.read_round(http)
                    results += await households._wait_final(http, round_hashes, 30)
                    hashes += round_hashes
                assert len(hashes) == 8 and households.readings.refused == 0, households.readings.reasons
                # Each meter's history from the daemon's own index, checked as a wallet would.
                meter = households.homes[0].meter_id
                async with http.get(f"{validator.api_url}/v1/meters/{meter}/readings?proof=true") as response:
                    history = ReadingsResponse.model_validate(await response.json())
            checked = verify_readings(history, meter, genesis.chain_id, lambda height: genesis.validator_set())
            assert len(checked) == 2
            check_continuous(checked)
            assert [r.status for r in results] == ["final"] * 8, [r.reason for r in results]
            events = {e.name for r in results if r.receipt is not None for e in r.receipt.events}
            assert "reading" in events and "reading_rejected" not in events, events
        finally:
            maker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await maker
            await node.runner.stop()

    asyncio.run(scenario())
    port = tmp_path / "meters" / f"{VACANT_SERIAL}.p1"
    assert lines == [
        "households: utility set up, 4 meters subscribed",
        f"households: a vacant home's meter {VACANT_SERIAL} awaits a subscriber "
        f"(meterchain wallet subscribe {VACANT_SERIAL} --node {validator.api_url}); its P1 port: {port}",
    ]
    assert total_import(port.read_bytes()).meter == VACANT_SERIAL  # a whole telegram, CRC checked
