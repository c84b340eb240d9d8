"""The corrections a what-if run applies (``meterchain billing simulate --corrections FILE``):
reading exceptions, credit notes, rebills and manual charges and credits, each made through
the billing contract at its time, so that a run can show a corrected year
(docs/contracts/corrections.md, docs/contracts/exceptions.md).

The CSV has the header ``meter,timestamp,action,value,reason``:

- ``exception``: the collector could not read the meter; ``value`` is the code (``no_access``,
  ``dangerous_dog`` ...), ``reason`` the note;
- ``credit_note``: ``value`` minor units credited on the meter's latest invoice in force;
- ``rebill``: the meter's latest actual invoice in force rebilled with the index of its last
  reading corrected to ``value``;
- ``manual_charge``, ``manual_credit``: ``value`` minor units.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.types import Timestamp

HEADER = ["meter", "timestamp", "action", "value", "reason"]
ACTIONS = ("exception", "credit_note", "rebill", "manual_charge", "manual_credit")
EVENTS = ("reading_exception", "credit_note", "rebill", "manual_charge", "manual_credit")


@dataclass(frozen=True, slots=True)
class Correction:
    """One row of the corrections CSV."""

    meter: str
    timestamp: Timestamp
    action: str
    value: str
    reason: str
    line: int


def parse_corrections(lines: list[str]) -> list[Correction]:
    from meterchain.commands.billing import SimulationError, _shown, parse_time

    rows = csv.reader(lines)
    try:
        header = next(rows, None)
        if header is None or [h.strip() for h in header] != HEADER:
            raise SimulationError(f"corrections CSV header '{','.join(HEADER)}' expected, found {_shown(header)}")
        out = []
        for row in rows:
            if not row or not any(cell.strip() for cell in row):
                continue
            number = rows.line_num
            if len(row) != len(HEADER):
                raise SimulationError(f"corrections line {number}: {len(HEADER)} fields expected, found {len(row)}")
            meter, stamp, action, value, reason = (cell.strip() for cell in row)
            if action not in ACTIONS:
                raise SimulationError(f"corrections line {number}: an action among {', '.join(ACTIONS)} expected, "
                                      f"found {_shown(action)}")
            if action != "exception" and not value.isdigit():
                raise SimulationError(f"corrections line {number}: a whole number for {action} expected, "
                                      f"found {_shown(value)}")
            when = parse_time(stamp, f"corrections line {number} timestamp")
            out.append(Correction(meter, when, action, value, reason, number))
    except csv.Error as exc:
        raise SimulationError(f"corrections line {rows.line_num}: well-formed CSV expected, found: {exc}") from None
    return out


def load_corrections_file(path: Path) -> list[Correction]:
    from meterchain.commands.billing import _read_text

    return parse_corrections(_read_text(path, "corrections file").splitlines(keepends=True))


def _latest_in_force(chain: Any, c: Correction, actual: bool) -> str:
    from meterchain.commands.billing import SimulationError

    found = [inv for inv in chain.view("billing", "invoices", [c.meter])
             if inv["status"] != "void" and not inv["unpriced"] and (not actual or "basis" in inv)]
    if not found:
        kind = "an actual invoice" if actual else "an invoice"
        raise SimulationError(f"corrections line {c.line}: {kind} of meter {c.meter} before {c.timestamp} expected, "
                              f"found none")
    return str(found[-1]["id"])


def correction_call(chain: Any, c: Correction, operator: Any, collector: Any) -> tuple[Any, str, str, list[Any]]:
    """The transaction that makes correction ``c`` (invoices are looked up as they are now)."""
    if c.action == "exception":
        return (collector, "billing", "record_reading_exception", [c.meter, c.timestamp, c.value, c.reason])
    if c.action == "credit_note":
        return (operator, "billing", "issue_credit_note", [_latest_in_force(chain, c, False), int(c.value), c.reason])
    if c.action == "rebill":
        return (operator, "billing", "rebill", [_latest_in_force(chain, c, True), int(c.value), c.reason])
    return (operator, "billing", c.action, [c.meter, int(c.value), c.reason])
