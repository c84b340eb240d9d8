"""How every `meterchain` command reports a failure: one line on stderr, a non-zero exit.

The line says what was expected and what was found; no traceback reaches the user. Exit
codes: 1 for input that was read and refused, 2 for a wrong invocation or unusable input
(typer's own usage errors exit 2 as well).
"""

from __future__ import annotations

from typing import NoReturn

import typer


def one_line(message: str) -> str:
    """``message`` with its line breaks and other control characters escaped: a message may
    quote the input (a meter id, a contract's error text) and must stay one line."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(code)
