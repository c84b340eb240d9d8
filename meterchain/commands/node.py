"""`meterchain node`: run one node of a network from its home directory."""

from __future__ import annotations

from pathlib import Path

import typer

from node.daemon import main as run_daemon

app = typer.Typer(no_args_is_help=True)


@app.command("run")
def run(home: Path = typer.Option(..., "--home", help="the node's directory, holding node.toml and its key files")) -> None:
    """Run the node configured in HOME/node.toml until SIGINT or SIGTERM."""
    raise typer.Exit(run_daemon(["--home", str(home)]))
