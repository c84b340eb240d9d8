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
- ``rebill_reading``: any reading corrected, ``value`` is ``INDEX@READING-TIME`` (the
  reading's own time, ISO 8601 UTC or Unix seconds): the invoice in force whose period holds
  it is rebilled from its readings (``billing.rebill_readings``), or, when the reading is not
  invoiced yet, the meter's open period is corrected (``billing.correct_readings``);
- ``confirm_reading``: ``value`` is the time of a reading (an anomaly checked and found
  real), confirmed on the record (``billing.confirm_reading``);
- ``manual_charge``, ``manual_credit``: ``value`` minor units.

The readings a rebill is given are the meter's readings as the chain's receipts have them,
corrections applied (``meter_readings``: what a node's history serves).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.types import Timestamp

HEADER = ["meter", "timestamp", "action", "value", "reason"]
ACTIONS = ("exception", "credit_note", "rebill", "rebill_reading", "confirm_reading", "manual_charge", "manual_credit")
EVENTS = ("reading_exception", "credit_note", "rebill", "reading_correction", "reading_confirmed", "manual_charge",
          "manual_credit")
_INDEX_AT = re.compile(r"([0-9]+)@(.+)")


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
            if action == "rebill_reading":
                found = _INDEX_AT.fullmatch(value)
                if found is None:
                    raise SimulationError(f"corrections line {number}: INDEX@READING-TIME for rebill_reading expected, "
                                          f"found {_shown(value)}")
                parse_time(found.group(2), f"corrections line {number} reading time")
            elif action == "confirm_reading":
                parse_time(value, f"corrections line {number} reading time")
            elif action != "exception" and not value.isdigit():
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


def meter_readings(chain: Any, meter: str) -> dict[int, list[int]]:
    """``{time: [index, interval seconds]}`` of a meter's readings in the chain's receipts, as
    a node's history serves them (node/history.py): ``reading`` events, the intervals of
    ``load_profile`` events, each ``reading_corrected`` applied (``wallet.period_readings``,
    the one fold of a history into a rebill's readings)."""
    from node.history import load_profile_times, reading_interval_seconds
    from wallet.period_readings import HistoryReading, fold_history

    items: list[HistoryReading] = []
    for receipts in chain.receipts:
        for receipt in receipts:
            if not receipt.ok:
                continue
            for e in receipt.events:
                if e.contract != "billing" or e.name not in ("reading", "reading_corrected", "load_profile"):
                    continue
                f = e.field_map()
                if f.get("meter") != meter:
                    continue
                if e.name != "load_profile":
                    items.append(HistoryReading(e.name, f["timestamp"], f["index"], 0))
                    continue
                for k, ts in load_profile_times(f) or []:
                    items.append(HistoryReading(e.name, ts, f["indexes"][k], reading_interval_seconds(e.name, f, k)))
    return fold_history(items)


def _period_of_reading(chain: Any, c: Correction, at: int) -> tuple[str, list[list[int]]]:
    """The invoice in force whose period holds the reading at ``at`` ("" for the meter's open
    period) and that period's readings after its start."""
    from meterchain.commands.billing import SimulationError, _utc
    from wallet.period_readings import period_readings

    history = meter_readings(chain, c.meter)
    if at not in history:
        raise SimulationError(f"corrections line {c.line}: a reading of meter {c.meter} at {_utc(Timestamp(at))} expected, "
                              f"found none")
    for inv in chain.view("billing", "invoices", [c.meter]):
        held = inv.get("basis", {}).get("readings")
        if inv["status"] != "void" and held is not None and held["base"][0] < at <= inv["period_end"]:
            return (str(inv["id"]), period_readings(history, held["base"][0], inv["period_end"]))
    state = chain.view("billing", "billing_state", [c.meter])
    base = state.get("base") if state else None
    if base is None or not base[0] < at <= state["ts"]:
        raise SimulationError(f"corrections line {c.line}: an invoice or the open period of meter {c.meter} holding "
                              f"its reading at {_utc(Timestamp(at))} expected, found none")
    return ("", period_readings(history, base[0], state["ts"]))


def correction_call(chain: Any, c: Correction, operator: Any, collector: Any) -> tuple[Any, str, str, list[Any]]:
    """The transaction that makes correction ``c`` (invoices are looked up as they are now)."""
    from meterchain.commands.billing import parse_time

    if c.action == "rebill_reading":
        found = _INDEX_AT.fullmatch(c.value)
        assert found is not None  # parse_corrections checked it
        at = int(parse_time(found.group(2), "reading time"))
        invoice_id, readings = _period_of_reading(chain, c, at)
        fix = [[at, int(found.group(1))]]
        if invoice_id == "":
            return (operator, "billing", "correct_readings", [c.meter, readings, fix, c.reason])
        return (operator, "billing", "rebill_readings", [invoice_id, readings, fix, c.reason])
    if c.action == "confirm_reading":
        at = int(parse_time(c.value, "reading time"))
        invoice_id, readings = _period_of_reading(chain, c, at)
        return (operator, "billing", "confirm_reading", [c.meter, invoice_id, readings, at, c.reason])
    if c.action == "exception":
        return (collector, "billing", "record_reading_exception", [c.meter, c.timestamp, c.value, c.reason])
    if c.action == "credit_note":
        return (operator, "billing", "issue_credit_note", [_latest_in_force(chain, c, False), int(c.value), c.reason])
    if c.action == "rebill":
        return (operator, "billing", "rebill", [_latest_in_force(chain, c, True), int(c.value), c.reason])
    return (operator, "billing", c.action, [c.meter, int(c.value), c.reason])
