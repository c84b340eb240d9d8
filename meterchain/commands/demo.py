"""`meterchain demo`: the local demonstration in one process (``meterchain.demo``):
simulated meters emitting real DSMR P1 telegrams, billed by the contracts through
``apply_block``, with a summary at the end. The network of separate node processes is
`meterchain devnet up`."""

from __future__ import annotations

import typer

from meterchain.demo import run_demo


def main(
    households: int = typer.Option(12, min=1, max=500, help="simulated households (meters)"),
    days: int = typer.Option(62, min=1, max=730, help="days to simulate, from 2025-01-01"),
) -> None:
    """Run the local demonstration and print its summary."""
    typer.echo(f"meterchain demo: {households} simulated meters, {days} days, every block through apply_block")
    summary = run_demo(households, days, say=lambda line: typer.echo(f"  {line}"))
    typer.echo("summary:")
    for line in summary.lines():
        typer.echo(f"  {line}")
