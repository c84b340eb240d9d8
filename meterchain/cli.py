"""Entry point of the ``meterchain`` command.

Each command group lives in its own module under ``meterchain.commands`` and exposes a
``typer.Typer`` named ``app``; this module only assembles them.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="meterchain: metering and billing on a BFT chain")

# (module, command name, help); a group is a module in meterchain/commands.
_GROUPS = [
    ("contract", "contract", "Compile and inspect contracts"),
    ("billing", "billing", "Run the billing contract off chain (what-if billing)"),
    ("read", "read", "Read real meter protocols into normalized readings"),
    ("sts", "sts", "STS (IEC 62055-41) tokens for keypad meters"),
    ("devnet", "devnet", "Run the local demonstration network"),
    ("node", "node", "Run a node of a network"),
]

for module_name, command, help_text in _GROUPS:
    module = importlib.import_module(f"meterchain.commands.{module_name}")
    sub = module.app
    if getattr(module, "SINGLE_COMMAND", False):
        app.command(command, help=help_text)(module.main)
    else:
        app.add_typer(sub, name=command, help=help_text)


def main() -> None:
    app()
