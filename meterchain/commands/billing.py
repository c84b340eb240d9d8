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
import sys
import time as wallclock
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from meterchain.failure import fail

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

# How many items go in one transaction: each must stay under the transaction gas limit.
READINGS_PER_TX = 100
METERS_PER_BILLING_TX = 50
SIM_GAS = 5_000_000

PERIODS = ("monthly", "quarterly", "yearly", "weekly", "daily", "none")

DEFAULT_METER = {"digits": 9, "multiplier": 1, "max_rate": 1_000_000, "mode": "postpaid"}
METER_KEYS = ("tariff", "digits", "multiplier", "max_rate", "mode", "segment")
UTILITY_DEFAULTS = {"id": "SIM", "name": "What-if utility", "commodity": "electricity", "currency": "TRY"}


class SimulationError(Exception):
    """Bad input for a simulation (the message says what was expected and what was found)."""


@dataclass(frozen=True, slots=True)
class Reading:
    meter: str
    timestamp: int
    index: int
    line: int  # line of the CSV, for error messages


@dataclass(frozen=True, slots=True)
class TariffDoc:
    """A parsed tariff file."""

    utility: dict[str, str]
    billing: dict[str, int]
    tariffs: dict[str, list[tuple[int, dict[str, Any]]]]  # id -> [(effective_from, spec)]
    default_tariff: str
    meters: dict[str, dict[str, Any]]


@dataclass
class SimulationResult:
    utility: str
    invoices: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    blocks: int = 0
    transactions: int = 0
    readings: int = 0
    seconds: float = 0.0
    chain: Any = None  # the LocalChain after the run, for further queries


# --- parsing -----------------------------------------------------------------------------


def parse_time(value: Any, what: str) -> int:
    """Unix seconds from an int or an ISO 8601 text (no offset means UTC)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise SimulationError(f"{what}: an ISO 8601 time or unix seconds expected, found {value!r}")
    if value.strip().isdigit():
        return int(value.strip())
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise SimulationError(f"{what}: an ISO 8601 time expected, found {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def _int_field(obj: dict[str, Any], key: str, what: str) -> int:
    value = obj[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise SimulationError(f"{what}.{key}: an integer expected, found {value!r}")
    return value


def parse_tariff_doc(doc: Any) -> TariffDoc:
    if not isinstance(doc, dict):
        raise SimulationError(f"tariff file: a JSON object expected, found {type(doc).__name__}")
    known = {"utility", "billing", "tariffs", "default_tariff", "meters", "tariff_id", "versions"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise SimulationError(f"tariff file: keys among {sorted(known)} expected, found {unknown}")
    utility = dict(UTILITY_DEFAULTS)
    for key, value in (doc.get("utility") or {}).items():
        if key not in UTILITY_DEFAULTS or not isinstance(value, str):
            raise SimulationError(f"utility.{key}: one of {sorted(UTILITY_DEFAULTS)} with a text value expected")
        utility[key] = value
    billing = doc.get("billing") or {}
    if not isinstance(billing, dict):
        raise SimulationError("billing: an object of integer settings expected")
    for key in billing:
        _int_field(billing, key, "billing")
    raw_tariffs: Any
    if "versions" in doc:  # the one-tariff shorthand
        raw_tariffs = {doc.get("tariff_id", "default"): doc["versions"]}
    else:
        raw_tariffs = doc.get("tariffs")
    if not isinstance(raw_tariffs, dict) or not raw_tariffs:
        raise SimulationError("tariff file: 'tariffs' {id: [versions]} or 'versions' [...] expected, found neither")
    tariffs: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for tariff_id, versions in raw_tariffs.items():
        if not isinstance(versions, list) or not versions:
            raise SimulationError(f"tariff {tariff_id}: a non-empty list of versions expected")
        parsed = []
        for i, version in enumerate(versions):
            if not isinstance(version, dict) or "effective_from" not in version:
                raise SimulationError(f"tariff {tariff_id} version {i}: an object with effective_from expected")
            spec = {k: v for k, v in version.items() if k not in ("effective_from", "note")}
            parsed.append((parse_time(version["effective_from"], f"tariff {tariff_id} version {i}.effective_from"), spec))
        parsed.sort(key=lambda p: p[0])
        tariffs[tariff_id] = parsed
    default = doc.get("default_tariff", next(iter(tariffs)))
    if default not in tariffs:
        raise SimulationError(f"default_tariff: one of {sorted(tariffs)} expected, found {default!r}")
    meters = doc.get("meters") or {}
    if not isinstance(meters, dict):
        raise SimulationError("meters: an object {meter id: settings} expected")
    for meter_id, settings in meters.items():
        if not isinstance(settings, dict) or set(settings) - set(METER_KEYS):
            raise SimulationError(f"meters.{meter_id}: settings among {list(METER_KEYS)} expected, found {settings!r}")
        if "tariff" in settings and settings["tariff"] not in tariffs:
            raise SimulationError(f"meters.{meter_id}.tariff: one of {sorted(tariffs)} expected, found {settings['tariff']!r}")
    return TariffDoc(utility, billing, tariffs, default, meters)


def load_tariff_file(path: Path) -> TariffDoc:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SimulationError(f"a readable tariff file expected, found {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SimulationError(f"tariff file {path}: valid JSON expected, found an error at line {exc.lineno}: {exc.msg}") from None
    return parse_tariff_doc(doc)


def parse_readings(lines: list[str]) -> list[Reading]:
    rows = csv.reader(lines)
    header = next(rows, None)
    if header is None or [h.strip() for h in header] != ["meter", "timestamp", "index"]:
        raise SimulationError(f"readings CSV header 'meter,timestamp,index' expected, found {header!r}")
    out = []
    for number, row in enumerate(rows, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != 3:
            raise SimulationError(f"readings line {number}: 3 fields expected, found {len(row)}")
        meter, stamp, index = (cell.strip() for cell in row)
        if not meter:
            raise SimulationError(f"readings line {number}: a meter id expected, found an empty field")
        try:
            value = int(index)
        except ValueError:
            raise SimulationError(f"readings line {number}: an integer index expected, found {index!r}") from None
        if value < 0:
            raise SimulationError(f"readings line {number}: a non-negative index expected, found {value}")
        out.append(Reading(meter, parse_time(stamp, f"readings line {number} timestamp"), value, number))
    if not out:
        raise SimulationError("readings CSV: at least one reading expected, found none")
    return out


def load_readings_file(path: Path) -> list[Reading]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SimulationError(f"a readable readings file expected, found {path}: {exc.strerror}") from None
    return parse_readings(text.splitlines())


# --- billing period boundaries --------------------------------------------------------------


def period_boundaries(period: str, start: int, end: int) -> list[int]:
    """Period ends (UTC) strictly after ``start`` and at most ``end``."""
    if period == "none":
        return []
    out = []
    if period in ("daily", "weekly"):
        step = 86400 if period == "daily" else 7 * 86400
        # Weeks start on Monday (1970-01-01 was a Thursday: +3 days).
        offset = 0 if period == "daily" else 4 * 86400
        t = ((start - offset) // step + 1) * step + offset
        while t <= end:
            out.append(t)
            t += step
        return out
    months = {"monthly": 1, "quarterly": 3, "yearly": 12}[period]
    d = datetime.fromtimestamp(start, UTC)
    year, month = d.year, d.month
    month0 = ((month - 1) // months) * months  # align quarters and years to the calendar
    while True:
        month0 += months
        t = int(datetime(year + month0 // 12, month0 % 12 + 1, 1, tzinfo=UTC).timestamp())
        if t > end:
            return out
        if t > start:
            out.append(t)


# --- the simulation -------------------------------------------------------------------------


def _check(receipts: Any, what: str) -> None:
    for receipt in receipts:
        if not receipt.ok:
            raise SimulationError(f"{what} succeeding expected, found: {receipt.error}")


def simulate(doc: TariffDoc, readings: list[Reading], period: str = "monthly", final: bool = True) -> SimulationResult:
    """Bill ``readings`` under the tariffs of ``doc`` on a fresh local chain."""
    if period not in PERIODS:
        raise SimulationError(f"period one of {', '.join(PERIODS)} expected, found {period!r}")
    started = wallclock.perf_counter()
    readings = sorted(readings, key=lambda r: (r.timestamp, r.meter))
    first_seen: dict[str, Reading] = {}
    for r in readings:
        first_seen.setdefault(r.meter, r)
    first_time = readings[0].timestamp
    last_time = readings[-1].timestamp
    earliest_tariff = min(v[0][0] for v in doc.tariffs.values())
    genesis_time = min(first_time, earliest_tariff) - 100

    from node.localchain import LocalChain  # the VM loads only when a simulation runs

    chain = LocalChain.genesis(time=genesis_time)
    uid = doc.utility["id"]
    result = SimulationResult(uid)
    admin, operator, collector = chain.actor("sim-admin"), chain.actor("sim-operator"), chain.actor("sim-collector")
    field_id = f"{uid}/SIM/F1"

    def block(calls: list[tuple[Any, str, str, list[Any]]], at: int, what: str) -> Any:
        receipts = chain.block(calls, at=at, gas_limit=SIM_GAS)
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
    per_time: dict[int, list[Reading]] = {}
    for r in readings:
        per_time.setdefault(r.timestamp, []).append(r)
    boundaries = period_boundaries(period, first_time, last_time)
    times = sorted(set(per_time) | set(boundaries))
    meter_ids = sorted(first_seen)
    billed_since: dict[str, bool] = {}
    for t in times:
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
        for receipt in block(calls, last_time + 1, "closing the last period"):
            _collect(chain, receipt, result)
    result.readings = len(readings)
    for meter in meter_ids:
        result.invoices.extend(chain.view("billing", "invoices", [meter]))
    result.invoices.sort(key=lambda inv: (inv["period_end"], inv["id"]))
    result.seconds = wallclock.perf_counter() - started
    result.chain = chain
    return result


def _install_calls(chain: Any, doc: TariffDoc, r: Reading, admin: Any, collector: Any, field_id: str) -> list[Any]:
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
    totals = {"invoices": len(result.invoices), "consumption": 0, "subtotal": 0, "tax": 0, "total": 0, "estimated": 0}
    for inv in result.invoices:
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
        "chain": {"blocks": result.blocks, "transactions": result.transactions, "readings": result.readings,
                  "seconds": round(result.seconds, 3)},
    }


def _fmt_money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


@app.callback()
def billing_group() -> None:
    """What-if billing with the chain's billing contract."""
    # A callback keeps `simulate` a named subcommand (typer would otherwise collapse a group
    # of one command into the group itself).


@app.command("simulate")
def simulate_command(
    tariff: Path = typer.Option(..., "--tariff", help="tariff file (JSON, see docs/tariffs.md)"),
    readings: Path = typer.Option(..., "--readings", help="CSV with header meter,timestamp,index"),
    period: str = typer.Option("monthly", "--period", help="|".join(PERIODS)),
    final: bool = typer.Option(True, "--final/--no-final", help="close the last, partial period at the last reading"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Bill a CSV of readings with the chain's billing contract and print the invoices."""
    try:
        doc = load_tariff_file(tariff)
        result = simulate(doc, load_readings_file(readings), period, final)
    except SimulationError as exc:
        fail(str(exc), 2)
    out = result_document(result)
    if as_json:
        json.dump(out, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return
    for inv in result.invoices:
        start = datetime.fromtimestamp(inv["period_start"], UTC).strftime("%Y-%m-%d %H:%M")
        end = datetime.fromtimestamp(inv["period_end"], UTC).strftime("%Y-%m-%d %H:%M")
        flag = " (estimated)" if inv["estimated"] else ""
        typer.echo(f"{inv['id']:<24} {start} -> {end} {inv['consumption']:>12} units "
                   f"{_fmt_money(inv['total']):>12}{flag}")
    t = out["totals"]
    typer.echo(f"{t['invoices']} invoices, {t['consumption']} units, total {_fmt_money(t['total'])} "
               f"(tax {_fmt_money(t['tax'])}); {len(result.rejected)} readings rejected, "
               f"{len(result.anomalies)} anomalies; {result.blocks} blocks in {result.seconds:.1f} s")
