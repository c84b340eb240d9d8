"""`meterchain status --node URL`: a node's chain, head, role, peers and mempool."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import typer

from meterchain.failure import fail
from node.sync import PeerApi, PeerUnavailable


async def _status(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        return (await PeerApi(session, url).status()).model_dump()


def main(
    node: str = typer.Option(..., "--node", help="the node's API, e.g. http://127.0.0.1:27000"),
    as_json: bool = typer.Option(False, "--json", help="the status as JSON"),
) -> None:
    """Print a node's status (GET /v1/status)."""
    try:
        status = asyncio.run(_status(node))
    except PeerUnavailable as exc:
        fail(f"a meterchain node answering at {node} expected: {exc}")
    if as_json:
        typer.echo(json.dumps(status, indent=2))
        return
    syncing = " (syncing)" if status["syncing"] else ""
    typer.echo(f"node        {node} ({status['role']}){syncing}")
    typer.echo(f"chain       {status['chain_id']}")
    typer.echo(f"height      {status['height']}")
    typer.echo(f"head        {status['last_block_hash']}")
    typer.echo(f"state root  {status['state_root']}")
    typer.echo(f"validators  {len(status['validators'])}")  # type: ignore[arg-type]
    typer.echo(f"peers       {status['peers']}")
    typer.echo(f"mempool     {status['mempool']}")
