"""`meterchain node`: run one node of a network from its home directory."""

from __future__ import annotations

from pathlib import Path

import typer

from chain.merkle import MissingNode, iter_leaves
from node.blockstore import StoreError
from node.config import ConfigError, load_config
from node.daemon import main as run_daemon
from node.genesis import GenesisDocument, GenesisError
from node.storechain import open_chain

app = typer.Typer(no_args_is_help=True)


@app.command("run")
def run(home: Path = typer.Option(..., "--home", help="the node's directory, holding node.toml and its key files")) -> None:
    """Run the node configured in HOME/node.toml until SIGINT or SIGTERM."""
    raise typer.Exit(run_daemon(["--home", str(home)]))


@app.command("check")
def check(home: Path = typer.Option(..., "--home", help="the node's directory, holding node.toml and its store")) -> None:
    """Check a stopped node's store from genesis: every block linked to its parent with its
    certificate and receipts, every transaction index entry, the head's state root and every
    tree node under it (after a crash or a disk fault, before restarting the node; linear in
    the chain and the state)."""
    try:
        config = load_config(home)
        store = open_chain(config, GenesisDocument.load(config.genesis_path))
    except (ConfigError, GenesisError, StoreError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        store.check_consistency()
        head = store.head_header()
        keys = sum(1 for _ in iter_leaves(store.state_backend.get_node, head.state_root))
        # A pruned store: the oldest state it claims to keep is whole too.
        oldest = store.state(store.kept_heights()[0]).root
        sum(1 for _ in iter_leaves(store.state_backend.get_node, oldest))
        kept = f"{store.describe_kept()}; {store.describe_bodies()}"
    except (StoreError, MissingNode) as exc:
        typer.echo(f"inconsistent store in {home}: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(
        f"store of {config.name} consistent: height {head.height}, state root {head.state_root.hex()} "
        f"({keys} keys, every tree node present); it keeps {kept}"
    )
