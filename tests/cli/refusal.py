"""What every `meterchain` command does with input it cannot use: one `error: ...` line on
stderr that says what was expected and what was found, exit status 1 or 2, no traceback."""

from __future__ import annotations

from click.testing import Result


def assert_refused(result: Result, *fragments: str) -> str:
    """Check ``result`` is a clean refusal whose line holds every fragment; return the line."""
    assert result.exit_code in (1, 2), (result.exit_code, result.output, result.exc_info)
    # A refusal ends by typer.Exit (SystemExit in CliRunner), never by an exception.
    assert isinstance(result.exception, SystemExit | None), result.exc_info
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
