"""``meterchain billing``: what-if billing with the chain's own billing contract.

``meterchain billing simulate --tariff FILE --readings FILE --json`` builds an in-memory
chain (``LocalChain``: the real transition, the same compiler, bytecode and VM as every
node), registers a utility, its meters and their subscriptions through the registry
contract, sets the tariff versions from the file, submits the readings as collector batches
in blocks at their own timestamps, closes the billing periods, and prints the invoices the
billing contract issued. A utility tries a price change on last year's readings before
proposing it; a regulator re-bills a complaint. The tariff file format is in docs/tariffs.md.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import time as wallclock
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from chain.types import MinorUnits, Timestamp
from meterchain.commands.billing_corrections import EVENTS as CORRECTION_EVENTS
from meterchain.commands.billing_corrections import (
    Correction,
    correction_call,
    load_corrections_file,
)
from meterchain.failure import fail

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

# How many items go in one transaction: each must stay under the transaction gas limit.
READINGS_PER_TX = 100
METERS_PER_BILLING_TX = 50
SIM_GAS = 5_000_000

PERIODS = ("monthly", "quarterly", "yearly", "weekly", "daily", "none")
# Every period end is a block with a billing run for each meter, and gives each meter at most
# one invoice; the billing contract's `invoices` view lists at most 1,000 invoices of a meter,
# so at most 999 periods (and the final, partial one) are billed and reported in full. More is
# refused: two readings millennia apart are a mistake, not a what-if (they would also run for
# hours, each period rewriting the meter's growing invoice list). 999 periods are 2.7 years of
# daily bills, 19 of weekly ones, 83 of monthly ones.
MAX_PERIODS = 999

# Times the chain can carry (a block's time is unsigned) and Python's calendar can print; the
# first day is kept free for the genesis and setup blocks that precede the first reading.
MIN_TIME = Timestamp(86_400)  # 1970-01-02T00:00:00Z
MAX_TIME = Timestamp(253_402_300_799)  # 9999-12-31T23:59:59Z
# Integers the chain's codec carries (chain.codec), and a reading's index as the registry keeps it.
INT_RANGE = (-(2**63), 2**64 - 1)
MAX_INDEX = 2**63 - 1
_ASCII_DIGITS = re.compile(r"[0-9]+")

DEFAULT_METER = {"digits": 9, "multiplier": 1, "max_rate": 1_000_000, "mode": "postpaid"}
METER_KEYS = ("tariff", "digits", "multiplier", "max_rate", "mode", "segment")
UTILITY_DEFAULTS = {"id": "SIM", "name": "What-if utility", "commodity": "electricity", "currency": "TRY"}


class SimulationError(Exception):
    """Bad input for a simulation (the message says what was expected and what was found)."""


@dataclass(frozen=True, slots=True)
class IndexReading:
    """One row of the readings CSV: a meter's register index at a time. (A meter adapter's
    ``meter_adapters.reading.Reading`` is the richer record read from a meter's bytes.)"""

    meter: str
    timestamp: Timestamp
    index: int  # in the commodity's base unit (Wh, l), as the registry keeps it
    line: int  # line of the CSV, for error messages


@dataclass(frozen=True, slots=True)
class TariffDoc:
    """A parsed tariff file."""

    utility: dict[str, str]
    billing: dict[str, int]
    tariffs: dict[str, list[tuple[Timestamp, dict[str, Any]]]]  # id -> [(effective_from, spec)]
    default_tariff: str
    meters: dict[str, dict[str, Any]]


@dataclass
class SimulationResult:
    utility: str
    invoices: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    corrections: list[dict[str, Any]] = field(default_factory=list)  # their events, in order
    blocks: int = 0
    transactions: int = 0
    readings: int = 0
    seconds: float = 0.0
    chain: Any = None  # the LocalChain after the run, for further queries


# --- parsing -----------------------------------------------------------------------------


def _shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for an error message of one short line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _utc(timestamp: Timestamp, form: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
    """``timestamp`` as a UTC date, or as the number where the calendar ends (an invoice's
    due date may fall after 9999)."""
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime(form)
    except (ValueError, OverflowError, OSError):
        return str(timestamp)


def parse_time(value: Any, what: str) -> Timestamp:
    """Unix seconds from an int or an ISO 8601 text (no offset means UTC), from 1970-01-02 to
    9999-12-31."""
    if isinstance(value, str) and _ASCII_DIGITS.fullmatch(value.strip()):
        value = int(value.strip()) if len(value.strip()) <= 20 else MAX_TIME + 1
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise SimulationError(
                f"{what}: an ISO 8601 time of the years 1970 to 9999 expected, found {_shown(value)}"
            ) from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        seconds = int(dt.timestamp())
    else:
        raise SimulationError(f"{what}: an ISO 8601 time or unix seconds expected, found {_shown(value)}")
    if not MIN_TIME <= seconds <= MAX_TIME:
        raise SimulationError(
            f"{what}: a time from {_utc(MIN_TIME)} to {_utc(MAX_TIME)} expected, found {_shown(value)}"
        )
    return Timestamp(seconds)


def check_chain_value(value: Any, what: str) -> None:
    """Refuse, naming where, a value the chain cannot carry: a float (money and energy are
    integers), an integer beyond 64 bits, a map key that is not text."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, float):
        raise SimulationError(f"{what}: an integer expected (money and energy are whole minor units), found {value!r}")
    if isinstance(value, int):
        if not INT_RANGE[0] <= value <= INT_RANGE[1]:
            raise SimulationError(f"{what}: an integer of at most 64 bits expected, found {_shown(value)}")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_chain_value(item, f"{what}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            check_chain_value(item, f"{what}.{key}")
        return
    raise SimulationError(f"{what}: a JSON value expected, found {type(value).__name__}")


def _int_field(obj: dict[str, Any], key: str, what: str) -> int:
    value = obj[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise SimulationError(f"{what}.{key}: an integer expected, found {_shown(value)}")
    check_chain_value(value, f"{what}.{key}")
    return value


def parse_tariff_doc(doc: Any) -> TariffDoc:
    if not isinstance(doc, dict):
        raise SimulationError(f"tariff file: a JSON object expected, found {type(doc).__name__}")
    known = {"utility", "billing", "tariffs", "default_tariff", "meters", "tariff_id", "versions"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise SimulationError(f"tariff file: keys among {sorted(known)} expected, found {unknown}")
    utility = dict(UTILITY_DEFAULTS)
    given_utility = doc.get("utility", {})
    if not isinstance(given_utility, dict):
        raise SimulationError(
            f"utility: an object with keys among {sorted(UTILITY_DEFAULTS)} expected, found {_shown(given_utility)}"
        )
    for key, value in given_utility.items():
        if key not in UTILITY_DEFAULTS:
            raise SimulationError(f"utility: keys among {sorted(UTILITY_DEFAULTS)} expected, found {_shown(key)}")
        if not isinstance(value, str):
            raise SimulationError(f"utility.{key}: a text value expected, found {_shown(value)}")
        utility[key] = value
    billing = doc.get("billing", {})
    if not isinstance(billing, dict):
        raise SimulationError(f"billing: an object of integer settings expected, found {_shown(billing)}")
    for key in billing:
        _int_field(billing, key, "billing")
    raw_tariffs: Any
    if "versions" in doc:  # the one-tariff shorthand
        tariff_id = doc.get("tariff_id", "default")
        if not isinstance(tariff_id, str):
            raise SimulationError(f"tariff_id: a text expected, found {_shown(tariff_id)}")
        raw_tariffs = {tariff_id: doc["versions"]}
    else:
        raw_tariffs = doc.get("tariffs")
    if not isinstance(raw_tariffs, dict) or not raw_tariffs:
        raise SimulationError("tariff file: 'tariffs' {id: [versions]} or 'versions' [...] expected, found neither")
    tariffs: dict[str, list[tuple[Timestamp, dict[str, Any]]]] = {}
    for tariff_id, versions in raw_tariffs.items():
        if not isinstance(versions, list) or not versions:
            raise SimulationError(f"tariff {tariff_id}: a non-empty list of versions expected")
        parsed = []
        for i, version in enumerate(versions):
            if not isinstance(version, dict) or "effective_from" not in version:
                raise SimulationError(f"tariff {tariff_id} version {i}: an object with effective_from expected")
            spec = {k: v for k, v in version.items() if k not in ("effective_from", "note")}
            check_chain_value(spec, f"tariff {tariff_id} version {i}")
            parsed.append((parse_time(version["effective_from"], f"tariff {tariff_id} version {i}.effective_from"), spec))
        parsed.sort(key=lambda p: p[0])
        tariffs[tariff_id] = parsed
    default = doc.get("default_tariff", next(iter(tariffs)))
    if not isinstance(default, str) or default not in tariffs:
        raise SimulationError(f"default_tariff: one of {sorted(tariffs)} expected, found {_shown(default)}")
    meters = doc.get("meters", {})
    if not isinstance(meters, dict):
        raise SimulationError(f"meters: an object {{meter id: settings}} expected, found {_shown(meters)}")
    for meter_id, settings in meters.items():
        if not isinstance(settings, dict) or set(settings) - set(METER_KEYS):
            raise SimulationError(
                f"meters.{meter_id}: settings among {list(METER_KEYS)} expected, found {_shown(settings)}"
            )
        tariff = settings.get("tariff", default)
        if not isinstance(tariff, str) or tariff not in tariffs:
            raise SimulationError(f"meters.{meter_id}.tariff: one of {sorted(tariffs)} expected, found {_shown(tariff)}")
        check_chain_value(settings, f"meters.{meter_id}")
    return TariffDoc(utility, billing, tariffs, default, meters)


def _read_text(path: Path, what: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SimulationError(f"a readable {what} expected, found {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SimulationError(
            f"{what} {path}: UTF-8 text expected, found byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None


def load_tariff_file(path: Path) -> TariffDoc:
    text = _read_text(path, "tariff file")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SimulationError(f"tariff file {path}: valid JSON expected, found an error at line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise SimulationError(f"tariff file {path}: JSON numbers of at most 4300 digits expected, found {exc}") from None
    except RecursionError:
        raise SimulationError(f"tariff file {path}: JSON nested at most a few hundred levels expected, found deeper") from None
    return parse_tariff_doc(doc)


def parse_readings(lines: list[str]) -> list[IndexReading]:
    rows = csv.reader(lines)
    try:
        header = next(rows, None)
        if header is None or [h.strip() for h in header] != ["meter", "timestamp", "index"]:
            raise SimulationError(f"readings CSV header 'meter,timestamp,index' expected, found {_shown(header)}")
        out = [_reading(row, rows.line_num) for row in rows if row and any(cell.strip() for cell in row)]
    except csv.Error as exc:  # a field over csv's size limit
        raise SimulationError(f"readings line {rows.line_num}: well-formed CSV expected, found: {exc}") from None
    if not out:
        raise SimulationError("readings CSV: at least one reading expected, found none")
    return out


def _reading(row: list[str], number: int) -> IndexReading:
    if len(row) != 3:
        raise SimulationError(f"readings line {number}: 3 fields expected, found {len(row)}")
    meter, stamp, index = (cell.strip() for cell in row)
    if not meter:
        raise SimulationError(f"readings line {number}: a meter id expected, found an empty field")
    if not _ASCII_DIGITS.fullmatch(index) or len(index) > 19 or int(index) > MAX_INDEX:
        raise SimulationError(
            f"readings line {number}: an index from 0 to {MAX_INDEX} in decimal digits expected, found {_shown(index)}"
        )
    return IndexReading(meter, parse_time(stamp, f"readings line {number} timestamp"), int(index), number)


def load_readings_file(path: Path) -> list[IndexReading]:
    return parse_readings(_read_text(path, "readings file").splitlines(keepends=True))


# --- billing period boundaries --------------------------------------------------------------


def period_boundaries(period: str, start: Timestamp, end: Timestamp, limit: int = MAX_PERIODS) -> list[Timestamp]:
    """Period ends (UTC) strictly after ``start`` and at most ``end``; more than ``limit`` of
    them is refused (before they are all listed, so the refusal is immediate)."""
    out: list[Timestamp] = []

    def add(t: int) -> None:
        if len(out) == limit:
            raise SimulationError(
                f"at most {limit} {period} periods between the first and the last reading expected, found more "
                f"({_utc(start)} to {_utc(end)}): choose a longer --period or split the readings"
            )
        out.append(Timestamp(t))

    if period == "none":
        return out
    if period in ("daily", "weekly"):
        step = 86400 if period == "daily" else 7 * 86400
        # Weeks start on Monday (1970-01-01 was a Thursday: +3 days).
        offset = 0 if period == "daily" else 4 * 86400
        t = ((start - offset) // step + 1) * step + offset
        while t <= end:
            add(t)
            t += step
        return out
    months = {"monthly": 1, "quarterly": 3, "yearly": 12}[period]
    d = datetime.fromtimestamp(start, UTC)
    year, month = d.year, d.month
    month0 = ((month - 1) // months) * months  # align quarters and years to the calendar
    while True:
        month0 += months
        if year + month0 // 12 > datetime.max.year:  # after every time parse_time accepts
            return out
        t = int(datetime(year + month0 // 12, month0 % 12 + 1, 1, tzinfo=UTC).timestamp())
        if t > end:
            return out
        if t > start:
            add(t)


# --- the simulation -------------------------------------------------------------------------


def _check(receipts: Any, what: str) -> None:
    for receipt in receipts:
        if not receipt.ok:
            raise SimulationError(f"{what} succeeding expected, found: {receipt.error}")


def simulate(doc: TariffDoc, readings: list[IndexReading], period: str = "monthly", final: bool = True,
             corrections: Sequence[Correction] = ()) -> SimulationResult:
    """Bill ``readings`` under the tariffs of ``doc`` on a fresh local chain, making
    ``corrections`` at their times."""
    if period not in PERIODS:
        raise SimulationError(f"period one of {', '.join(PERIODS)} expected, found {period!r}")
    started = wallclock.perf_counter()
    readings = sorted(readings, key=lambda r: (r.timestamp, r.meter))
    first_seen: dict[str, IndexReading] = {}
    for r in readings:
        first_seen.setdefault(r.meter, r)
    first_time = readings[0].timestamp
    last_time = readings[-1].timestamp
    earliest_tariff = min(v[0][0] for v in doc.tariffs.values())
    genesis_time = min(first_time, earliest_tariff) - 100
    boundaries = period_boundaries(period, first_time, last_time)

    from chain.errors import ChainError  # the VM loads only when a simulation runs
    from node.localchain import LocalChain, ViewError

    chain = LocalChain.genesis(time=genesis_time)
    uid = doc.utility["id"]
    result = SimulationResult(uid)
    admin, operator, collector = chain.actor("sim-admin"), chain.actor("sim-operator"), chain.actor("sim-collector")
    field_id = f"{uid}/SIM/F1"

    def block(calls: list[tuple[Any, str, str, list[Any]]], at: int, what: str) -> Any:
        try:
            receipts = chain.block(calls, at=at, gas_limit=SIM_GAS)
        except ChainError as exc:  # a transaction the chain cannot carry (too large, say)
            raise SimulationError(f"{what}: a block the chain accepts expected, found: {exc}") from None
        result.blocks += 1
        result.transactions += len(calls)
        _check(receipts, what)
        return receipts

    block([(chain.governance, "registry", "register_utility",
            [uid, doc.utility["name"], doc.utility["commodity"], doc.utility["currency"], "auto", admin.public_key])],
          genesis_time + 1, "registering the utility")
    setup: list[tuple[Any, str, str, list[Any]]] = [
        (admin, "registry", "register_branch", [f"{uid}/SIM", "simulation", "-"]),
        (admin, "registry", "register_field", [field_id, "simulation", "-"]),
        (admin, "registry", "grant_role", [operator.public_key, uid, "operator"]),
        (admin, "registry", "grant_role", [collector.public_key, uid, "collector"]),
    ]
    if doc.billing:
        setup.append((admin, "billing", "set_billing_config", [uid, dict(doc.billing)]))
    for tariff_id, versions in doc.tariffs.items():
        for effective_from, spec in versions:
            setup.append((admin, "billing", "set_tariff", [uid, tariff_id, spec, effective_from]))
    block(setup, genesis_time + 2, "setting up the utility and its tariffs")

    # Each meter is installed at its first reading, which is its baseline (initial index).
    per_time: dict[Timestamp, list[IndexReading]] = {}
    for r in readings:
        per_time.setdefault(r.timestamp, []).append(r)
    per_correction: dict[Timestamp, list[Correction]] = {}
    for c in corrections:
        if c.timestamp in per_time or c.timestamp in boundaries:
            raise SimulationError(f"corrections line {c.line}: a time without readings or a period end expected, "
                                  f"found {_utc(c.timestamp)}")
        per_correction.setdefault(c.timestamp, []).append(c)
    times = sorted(set(per_time) | set(boundaries) | set(per_correction))
    meter_ids = sorted(first_seen)
    billed_since: dict[str, bool] = {}
    for t in times:
        if t in per_correction:
            # Each in its own block, so that a credit note finds the invoice a rebill made.
            for n, c in enumerate(per_correction[t]):
                [receipt] = block([correction_call(chain, c, operator, collector)], Timestamp(t + n),
                                  f"corrections line {c.line} ({c.action})")
                for name in CORRECTION_EVENTS:
                    result.corrections.extend({"event": name, **e} for e in chain.events(receipt, name))
            continue
        calls: list[tuple[Any, str, str, list[Any]]] = []
        batch: list[list[Any]] = []
        for r in per_time.get(t, []):
            if first_seen[r.meter] is r:
                calls.extend(_install_calls(chain, doc, r, admin, collector, field_id))
                continue
            batch.append([r.meter, "", r.timestamp, r.index, "collector", b"", b""])
            billed_since[r.meter] = True
        for i in range(0, len(batch), READINGS_PER_TX):
            calls.append((collector, "billing", "submit_readings", [batch[i : i + READINGS_PER_TX]]))
        n_reading_txs = len(calls)
        if t in boundaries:
            for i in range(0, len(meter_ids), METERS_PER_BILLING_TX):
                after = meter_ids[i - 1] if i > 0 else ""
                calls.append((operator, "billing", "run_billing", [uid, t, after, METERS_PER_BILLING_TX]))
            billed_since.clear()
        receipts = block(calls, t, f"the block at {t}")
        for receipt in receipts[:n_reading_txs]:
            _collect(chain, receipt, result)
        for receipt in receipts[n_reading_txs:]:
            _collect(chain, receipt, result)
    if final and billed_since:
        calls = [(operator, "billing", "close_period", [m]) for m in sorted(billed_since)]
        for receipt in block(calls, max(last_time, chain.time) + 1, "closing the last period"):
            _collect(chain, receipt, result)
    result.readings = len(readings)
    for meter in meter_ids:
        try:
            result.invoices.extend(chain.view("billing", "invoices", [meter]))
        except ViewError as exc:
            raise SimulationError(f"the invoices of meter {_shown(meter)} expected, found: {exc}") from None
    result.invoices.sort(key=lambda inv: (inv["period_end"], inv["id"]))
    result.seconds = wallclock.perf_counter() - started
    result.chain = chain
    return result


def _install_calls(chain: Any, doc: TariffDoc, r: IndexReading, admin: Any, collector: Any, field_id: str) -> list[Any]:
    settings = {**DEFAULT_METER, **doc.meters.get(r.meter, {})}
    consumer = chain.actor(f"sim-consumer:{r.meter}")
    calls = [
        (admin, "registry", "register_meter",
         [r.meter, field_id, f"premises of {r.meter}", settings["multiplier"], settings["digits"],
          settings["max_rate"], r.index, b"", collector.public_key]),
        (admin, "registry", "activate_meter", [r.meter]),
        (consumer, "registry", "subscribe", [r.meter, settings["mode"], b""]),
        (admin, "billing", "assign_tariff", [r.meter, settings.get("tariff", doc.default_tariff)]),
    ]
    if "segment" in settings:
        calls.append((admin, "registry", "set_segment", [r.meter, settings["segment"]]))
    return calls


def _collect(chain: Any, receipt: Any, result: SimulationResult) -> None:
    result.rejected.extend(chain.events(receipt, "reading_rejected"))
    result.anomalies.extend(chain.events(receipt, "anomaly"))


# --- output ---------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def result_document(result: SimulationResult) -> dict[str, Any]:
    # Totals of the invoices in force: a voided invoice was replaced by another one.
    in_force = [inv for inv in result.invoices if inv["status"] != "void"]
    totals = {"invoices": len(in_force), "consumption": 0, "subtotal": 0, "tax": 0, "total": 0, "estimated": 0,
              "void": len(result.invoices) - len(in_force)}
    for inv in in_force:
        totals["consumption"] += inv["consumption"]
        totals["subtotal"] += inv["subtotal"]
        totals["tax"] += inv["tax"]
        totals["total"] += inv["total"]
        totals["estimated"] += 1 if inv["estimated"] else 0
    return {
        "utility": result.utility,
        "invoices": jsonable(result.invoices),
        "totals": totals,
        "rejected_readings": jsonable(result.rejected),
        "anomalies": jsonable(result.anomalies),
        "corrections": jsonable(result.corrections),
        "chain": {"blocks": result.blocks, "transactions": result.transactions, "readings": result.readings,
                  "seconds": round(result.seconds, 3)},
    }


def _fmt_money(minor: MinorUnits) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


@app.callback()
def billing_group() -> None:
    """What-if billing with the chain's billing contract, and rebills on a node."""
    # A callback keeps `simulate` a named subcommand (typer would otherwise collapse a group
    # of one command into the group itself).


@app.command("simulate")
def simulate_command(
    tariff: Path = typer.Option(..., "--tariff", help="tariff file (JSON, see docs/tariffs.md)"),
    readings: Path = typer.Option(..., "--readings", help="CSV with header meter,timestamp,index"),
    period: str = typer.Option("monthly", "--period", help="|".join(PERIODS)),
    final: bool = typer.Option(True, "--final/--no-final", help="close the last, partial period at the last reading"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    corrections: Path | None = typer.Option(
        None, "--corrections", help="CSV with header meter,timestamp,action,value,reason (exception, credit_note, "
                                    "rebill, rebill_reading, confirm_reading, manual_charge, manual_credit)"),
) -> None:
    """Bill a CSV of readings with the chain's billing contract and print the invoices."""
    try:
        doc = load_tariff_file(tariff)
        made = load_corrections_file(corrections) if corrections is not None else []
        result = simulate(doc, load_readings_file(readings), period, final, made)
    except SimulationError as exc:
        fail(str(exc), 2)
    out = result_document(result)
    if as_json:
        json.dump(out, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return
    for inv in result.invoices:
        start = _utc(inv["period_start"], "%Y-%m-%d %H:%M")
        end = _utc(inv["period_end"], "%Y-%m-%d %H:%M")
        flag = " (estimated)" if inv["estimated"] else ""
        if inv["status"] == "void":
            flag += f" (void: replaced by {inv['replaced_by']})"
        elif "replaces" in inv:
            flag += f" (replaces {inv['replaces']})"
        typer.echo(f"{inv['id']:<24} {start} -> {end} {inv['consumption']:>12} units "
                   f"{_fmt_money(inv['total']):>12}{flag}")
    t = out["totals"]
    typer.echo(f"{t['invoices']} invoices, {t['consumption']} units, total {_fmt_money(t['total'])} "
               f"(tax {_fmt_money(t['tax'])}); {len(result.rejected)} readings rejected, "
               f"{len(result.anomalies)} anomalies, {len(result.corrections)} corrections; {result.blocks} blocks in {result.seconds:.1f} s")


@app.command("rebill")
def rebill_command(
    invoice_id: str = typer.Argument(..., help="the invoice in force to void and replace"),
    correct: list[str] = typer.Option(..., "--correct", help="TIME=INDEX: a reading of the invoice's period (its own "
                                      "time, ISO 8601 UTC or Unix seconds) and its corrected index; repeatable"),
    reason: str = typer.Option(..., "--reason", help="why (1 to 256 characters, kept on record)"),
    key: Path = typer.Option(..., "--key", help="the key file of an operator or admin of the invoice's utility"),
    node: str = typer.Option(..., "--node", envvar="METERCHAIN_NODE", help="a node's API, e.g. http://127.0.0.1:26657"),
    genesis: Path | None = typer.Option(None, "--genesis", help="check the node's history against this genesis's "
                                        "validator set (proofs), instead of trusting the node"),
) -> None:
    """Rebill an invoice on a node from its period's readings with some corrected (billing.rebill_readings)."""
    from meterchain.commands.rebill import parse_correction, rebill

    for line in rebill(invoice_id, [parse_correction(c) for c in correct], reason, key, node, genesis):
        typer.echo(line)
