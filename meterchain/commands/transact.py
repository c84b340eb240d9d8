"""What every command that writes to the chain does: open a session with a node, sign calls,
submit them and wait until they are final, exiting with the node's or the contract's reason
when one is refused or fails (``meterchain wallet``, ``meterchain governance``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar

import aiohttp

from chain.types import Gas, PublicKey, Transaction
from meterchain.failure import fail
from node.api.models import TransactionStatusResponse
from wallet.node_client import DEFAULT_GAS, NodeClient, NodeError

FINAL_DEADLINE: Final = 60.0  # seconds to wait for a transaction to be final

T = TypeVar("T")


def run_against(node: str, work: Callable[[NodeClient], Awaitable[T]]) -> T:
    """Run ``work`` with a client of ``node``'s API; an unreachable or misbehaving node exits 1."""

    async def session() -> T:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            return await work(NodeClient(node, http))

    try:
        return asyncio.run(session())
    except NodeError as exc:
        fail(str(exc))


async def send_calls(
    client: NodeClient, seed: bytes, account: PublicKey, calls: Sequence[tuple[str, str, Sequence[Any]]],
    gas: Gas = DEFAULT_GAS,
) -> list[TransactionStatusResponse]:
    """Sign, submit and wait until final; a refusal or a failure exits with its reason."""
    status = await client.status()
    txs = await client.sign_calls(seed, account, calls, status.chain_id, gas)
    return await submit_and_wait(client, txs)


async def submit_and_wait(client: NodeClient, txs: Sequence[Transaction]) -> list[TransactionStatusResponse]:
    admissions = await client.submit(txs)
    refused = [a for a in admissions if not a.accepted]
    if refused:
        fail(f"transaction refused by the node: {refused[0].reason}: {refused[0].message}")
    results = await client.wait_final([str(a.hash) for a in admissions], FINAL_DEADLINE)
    failed = [r for r in results if r.status != "final"]
    if failed:
        fail(f"transaction {failed[0].hash} failed at height {failed[0].height}: {failed[0].reason}")
    return results


def events(result: TransactionStatusResponse) -> list[tuple[str, dict[str, Any]]]:
    """A final transaction's events as (name, fields)."""
    return [] if result.receipt is None else [(e.name, e.fields) for e in result.receipt.events]
