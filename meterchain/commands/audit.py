"""`meterchain audit --node URL`: verify every block and certificate from genesis through a
node's API, re-executing every block, and print a summary a regulator can file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from meterchain.failure import fail
from node.audit import audit_chain
from node.genesis import GenesisDocument, GenesisError
from node.sync import PeerUnavailable


def main(
    node: str = typer.Option(..., "--node", help="the node's API, e.g. http://127.0.0.1:27000"),
    genesis_file: Path | None = typer.Option(
        None, "--genesis", help="the genesis document to audit against (default: the node's own)"
    ),
    as_json: bool = typer.Option(False, "--json", help="the report as JSON"),
) -> None:
    """Audit a chain from genesis; exits 1 when any block or certificate fails."""
    genesis = None
    if genesis_file is not None:
        try:
            genesis = GenesisDocument.load(genesis_file)
        except GenesisError as exc:
            fail(str(exc), 2)
    try:
        report = asyncio.run(audit_chain(node, genesis))
    except PeerUnavailable as exc:
        fail(f"a meterchain node answering at {node} expected: {exc}")
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in report.lines():
            typer.echo(line)
    if not report.passed:
        raise typer.Exit(1)
