"""Entry point of the ``meterchain`` command.

Each command group lives in its own module under ``meterchain.commands``; this module only
assembles them. ``read``, ``demo`` and ``init`` are single commands, the others are groups.
"""

from __future__ import annotations

import typer

from meterchain.commands import (
    audit,
    billing,
    contract,
    demo,
    devnet,
    governance,
    init,
    node,
    read,
    status,
    sts,
    wallet,
)

app = typer.Typer(no_args_is_help=True, add_completion=False, help="meterchain: metering and billing on a BFT chain")

app.add_typer(contract.app, name="contract", help="Compile and inspect contracts")
app.add_typer(billing.app, name="billing", help="Run the billing contract off chain (what-if billing); rebill an invoice on a node")
app.command("read", help="Read real meter protocols into normalized readings")(read.main)
app.add_typer(sts.app, name="sts", help="STS (IEC 62055-41) tokens for keypad meters")
app.command("demo", help="Run the local demonstration (one process, no network)")(demo.main)
app.command("init", help="Write a network's node homes: keys, genesis, configs")(init.main)
app.add_typer(devnet.app, name="devnet", help="A network of separate node processes on this machine")
app.add_typer(node.app, name="node", help="Run a node of a network")
app.add_typer(governance.app, name="governance", help="Propose and approve validator, contract and parameter changes")
app.add_typer(wallet.app, name="wallet", help="A consumer's wallet: key, subscription, readings, bills, vouchers")
app.command("status", help="A node's chain, head, role, peers and mempool")(status.main)
app.command("audit", help="Verify every block and certificate from genesis through a node's API")(audit.main)


def main() -> None:
    app()
