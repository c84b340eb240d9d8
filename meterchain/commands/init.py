"""`meterchain init`: write a network's node homes (keys, the shared genesis, configs)."""

from __future__ import annotations

from pathlib import Path

import typer

from meterchain.failure import fail
from node.testnet import DEFAULT_CHAIN_ID, GOVERNANCE_KEY_FILE, ports_from, write_network


def main(
    validators: int = typer.Option(4, min=1, max=64, help="validator nodes"),
    regulators: int = typer.Option(0, min=0, max=16, help="regulator (read-only) nodes"),
    directory: Path = typer.Option(..., "--dir", help="where the node homes go (DIR/validator-1, ...)"),
    base_port: int = typer.Option(
        27000, min=1024, max=65000, help="node i listens on BASE+2i (API) and BASE+2i+1 (p2p)"
    ),
    chain_id: str = typer.Option(DEFAULT_CHAIN_ID, help="the chain id"),
) -> None:
    """Write one home per node: node.toml, node key, validator key, API key, genesis.json."""
    count = validators + regulators
    if base_port + 2 * count > 65535:
        fail(f"ports up to 65535 expected, found {base_port + 2 * count - 1} for {count} nodes from {base_port}")
    try:
        nodes = write_network(directory, validators, regulators, ports_from(base_port, count), chain_id=chain_id)
    except (FileExistsError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"{len(nodes)} node homes for chain {chain_id} in {directory}:")
    for node in nodes:
        typer.echo(f"  {node.name:<14} {node.role:<10} api {node.api_url}  home {node.home}")
    typer.echo(f"governance key seed: {directory / GOVERNANCE_KEY_FILE} (keep it offline)")
    typer.echo(f"run a node: meterchain node run --home {nodes[0].home}")
