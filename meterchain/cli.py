"""Entry point of the ``meterchain`` command.

Each command group lives in its own module under ``meterchain.commands``; this module only
assembles them. ``read`` and ``devnet`` are single commands, the others are groups.
"""

from __future__ import annotations

import typer

from meterchain.commands import billing, contract, devnet, node, read, sts

app = typer.Typer(no_args_is_help=True, add_completion=False, help="meterchain: metering and billing on a BFT chain")

app.add_typer(contract.app, name="contract", help="Compile and inspect contracts")
app.add_typer(billing.app, name="billing", help="Run the billing contract off chain (what-if billing)")
app.command("read", help="Read real meter protocols into normalized readings")(read.main)
app.add_typer(sts.app, name="sts", help="STS (IEC 62055-41) tokens for keypad meters")
app.command("devnet", help="Run the local demonstration network")(devnet.main)
app.add_typer(node.app, name="node", help="Run a node of a network")


def main() -> None:
    app()
