"""``meterchain billing rebill``: the utility's staff rebill an invoice from its period's
readings with some of them corrected, against a node (issue 12, docs/contracts/corrections.md).

The command reads the invoice (``billing.invoice``), fetches its period's readings from the
node's history (``GET /v1/meters/{meter}/readings``: every reading after the period's start
up to its end, earlier corrections applied, ``wallet.period_readings``), with ``--genesis``
checks their proofs against that genesis's validator set so the node is not trusted, and
submits ``billing.rebill_readings`` signed by the staff key (an operator or admin of the
invoice's utility). It waits until the transaction is final and prints the replacement;
a refusal prints the contract's reason and changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from chain.transition import MAX_TX_GAS
from chain.types import Gas, MinorUnits, Timestamp
from meterchain.commands.transact import events, run_against, send_calls
from meterchain.failure import fail
from node.genesis import GenesisDocument, GenesisError
from wallet import keyfile
from wallet.history_check import HistoryCheckError
from wallet.node_client import NodeClient
from wallet.period_readings import PeriodReadingsError, fetch_period_readings

# ~1,000 gas a reading replayed, ~100,000 for the replacement's issue (corrections.md, "Gas"),
# with room; a transaction's most at the top.
BASE_GAS: Final = 300_000
GAS_PER_READING: Final = 1_500


def parse_correction(text: str) -> list[int]:
    """``TIME=INDEX`` (the reading's own time, ISO 8601 UTC or Unix seconds) as ``[time, index]``."""
    from meterchain.commands.billing import SimulationError, parse_time

    stamp, sep, index = text.rpartition("=")
    if not sep or not stamp or not index.isdigit():
        fail(f"--correct: TIME=INDEX (a reading's time, the corrected register index) expected, found {text!r}", 2)
    try:
        return [int(parse_time(stamp, "--correct reading time")), int(index)]
    except SimulationError as exc:
        fail(str(exc), 2)


def rebill_gas(readings: int) -> Gas:
    return Gas(min(MAX_TX_GAS, BASE_GAS + GAS_PER_READING * readings))


def rebill(invoice_id: str, corrections: list[list[int]], reason: str, key: Path, node: str,
           genesis: Path | None) -> list[str]:
    """Rebill ``invoice_id`` with ``corrections`` ``[[time, index]]``; the lines to print."""
    from meterchain.commands.billing import _fmt_money, _utc

    try:
        seed, account = keyfile.load(key)
    except keyfile.KeyFileError as exc:
        fail(str(exc))
    trusted = None
    if genesis is not None:
        try:
            doc = GenesisDocument.load(genesis)
        except GenesisError as exc:
            fail(f"--genesis: {exc}")
        trusted = (doc.chain_id, lambda height: doc.validator_set())

    async def work(client: NodeClient) -> list[str]:
        inv = await client.call("billing", "invoice", [invoice_id])
        if inv is None:
            fail(f"an invoice {invoice_id} expected, found none")
        held = (inv.get("basis") or {}).get("readings")
        if held is None:
            fail(f"an invoice with a commitment to its readings expected for a rebill of its readings, found invoice "
                 f"{invoice_id} without one (an estimated or manual invoice, or one issued before rebills existed)")
        try:
            readings = await fetch_period_readings(client, inv["meter"], held["base"][0], inv["period_end"], trusted)
        except (PeriodReadingsError, HistoryCheckError) as exc:
            fail(str(exc))
        call = ("billing", "rebill_readings", [invoice_id, readings, sorted(corrections), reason])
        (result,) = await send_calls(client, seed, account, [call], rebill_gas(len(readings)))
        done: dict[str, Any] = dict(events(result))["rebill"]
        before, after = MinorUnits(done["total_before"]), MinorUnits(done["total_after"])
        lines = [f"invoice {invoice_id} void, replaced by {done['replacement']} at height {result.height} "
                 f"(correction {done['id']})"]
        lines += [f"  reading at {_utc(Timestamp(t))}: {original} -> {index}" for t, index, original in done["readings"]]
        lines.append(f"  consumption {done['consumption_before']} -> {done['consumption_after']}")
        lines.append(f"  total {_fmt_money(before)} -> {_fmt_money(after)} "
                     f"(difference {_fmt_money(MinorUnits(after - before))})")
        return lines

    return run_against(node, work)
