"""The billing cross-check: a year of daily readings of generated meters on three tariffs
(two of them with a price change on 1 July) billed by the chain's billing contract through
``meterchain billing simulate`` (real blocks, real VM), compared invoice by invoice, to the
minor unit, with an independent plain-Python calculation written here from docs/tariffs.md.

Size: the issue's check, 1,000 meters x 365 days (366,000 readings, 12,000 invoices), is
the default and runs in CI: about 4 minutes of one core and 2.1 GB of memory on the
reference machine, beside the rest of the suite on the other worker
(docs/contracts/billing.md). ``METERCHAIN_CROSSCHECK_METERS=40`` runs a quick year of 40
meters while working on billing.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from meterchain.commands.billing import IndexReading, parse_tariff_doc, simulate

DAY = 86400
YEAR_START = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
JULY = int(datetime(2025, 7, 1, tzinfo=UTC).timestamp())
DAYS = int(os.environ.get("METERCHAIN_CROSSCHECK_DAYS", "365"))
METERS = int(os.environ.get("METERCHAIN_CROSSCHECK_METERS", "1000"))

TARIFF_DOC: dict[str, Any] = {
    "utility": {"id": "ELEC", "name": "Cross-check Electric", "commodity": "electricity", "currency": "TRY"},
    "default_tariff": "RES",
    "tariffs": {
        "RES": [
            {"effective_from": YEAR_START, "standing_charge_per_day": 120,
             "tiers": [[8_000, 210_000], [None, 330_000]], "tax_bp": 2_000},
            {"effective_from": JULY, "standing_charge_per_day": 150,
             "tiers": [[8_000, 250_000], [None, 380_000]], "tax_bp": 2_000},
        ],
        "COM": [
            {"effective_from": YEAR_START, "standing_charge_per_day": 900, "tiers": [[None, 310_000]], "tax_bp": 2_000},
            {"effective_from": JULY, "standing_charge_per_day": 1_000, "tiers": [[None, 345_777]], "tax_bp": 1_800},
        ],
        "SOCIAL": [
            {"effective_from": YEAR_START, "standing_charge_per_day": 0,
             "tiers": [[4_000, 105_000], [7_000, 220_000], [None, 400_000]], "tax_bp": 1_000},
        ],
    },
    "meters": {},
}


@dataclass(frozen=True)
class Invoice:
    meter: str
    period_start: int
    period_end: int
    consumption: int
    subtotal: int
    tax: int
    total: int


def generate(meters: int, days: int, seed: int = 2025) -> tuple[dict[str, Any], list[IndexReading]]:
    """Meters, their tariffs and register settings, and a reading every midnight."""
    rng = random.Random(seed)
    doc = {**TARIFF_DOC, "meters": {}}
    readings = []
    for m in range(meters):
        meter = f"M{m:05d}"
        tariff = ("RES", "COM", "SOCIAL")[m % 3]
        digits = 6 if m % 5 == 0 else 7  # 6-digit registers roll over several times a year
        doc["meters"][meter] = {"tariff": tariff, "digits": digits, "max_rate": 50_000}
        daily = {"RES": 9_000, "COM": 30_000, "SOCIAL": 5_000}[tariff]
        index = rng.randrange(10**digits)
        for d in range(days + 1):
            readings.append(IndexReading(meter, YEAR_START + d * DAY, index, 0))
            index = (index + rng.randint(0, 2 * daily)) % 10**digits
    return doc, readings


# --- the independent calculation ------------------------------------------------------------


def half_up(a: int, b: int) -> int:
    q, r = divmod(abs(a), b)
    q += 1 if 2 * r >= b else 0
    return q if a >= 0 else -q


def month_starts(first: int, last: int) -> list[int]:
    out = []
    y, mo = 2025, 1
    while True:
        mo += 1
        if mo == 13:
            y, mo = y + 1, 1
        t = int(datetime(y, mo, 1, tzinfo=UTC).timestamp())
        if t > last:
            return out
        if t > first:
            out.append(t)


def versions_over(versions: list[dict[str, Any]], t0: int, t1: int) -> list[tuple[dict[str, Any], int, int]]:
    """(version, start, end) pieces of [t0, t1]; the first version also covers earlier times."""
    out = []
    for i, v in enumerate(versions):
        start = t0 if i == 0 else max(t0, v["effective_from"])
        end = t1 if i == len(versions) - 1 else min(t1, versions[i + 1]["effective_from"])
        if end > start:
            out.append((v, start, end))
    return out


def reference_invoices(doc: dict[str, Any], readings: list[IndexReading]) -> list[Invoice]:
    by_meter: dict[str, list[IndexReading]] = {}
    for r in readings:
        by_meter.setdefault(r.meter, []).append(r)
    first = min(r.timestamp for r in readings)
    last = max(r.timestamp for r in readings)
    ends = month_starts(first, last)
    out = []
    for meter, rs in by_meter.items():
        settings = doc["meters"][meter]
        modulus = 10 ** settings["digits"]
        versions = doc["tariffs"][settings["tariff"]]
        # Consumption per daily segment, assigned to tariff versions pro rata by time.
        shares: dict[int, dict[int, list[int]]] = {}  # segment end -> version index -> [s, u]
        for prev, cur in pairwise(rs):
            units = (cur.index - prev.index) % modulus
            pieces = versions_over(versions, prev.timestamp, cur.timestamp)
            span = cur.timestamp - prev.timestamp
            given = 0
            seg: dict[int, list[int]] = {}
            for k, (v, s, e) in enumerate(pieces):
                u = units - given if k == len(pieces) - 1 else units * (e - s) // span
                given += u
                seg[versions.index(v)] = [e - s, u]
            shares[cur.timestamp] = seg
        # Invoices read to read: up to the last reading at or before each month start, and a
        # last one at the final reading.
        cut_points = [max(r.timestamp for r in rs if r.timestamp <= end) for end in ends]
        cut_points.append(rs[-1].timestamp)
        start = rs[0].timestamp
        for cut in cut_points:
            if cut <= start:
                continue
            acc: dict[int, list[int]] = {}
            for t, seg in shares.items():
                if start < t <= cut:
                    for vi, (s, u) in seg.items():
                        a = acc.setdefault(vi, [0, 0])
                        a[0] += s
                        a[1] += u
            subtotal = numerator = consumption = 0
            for vi, (seconds, units) in sorted(acc.items()):
                spec = versions[vi]
                taxable = half_up(spec["standing_charge_per_day"] * seconds, DAY) if spec["standing_charge_per_day"] else 0
                used, left = 0, units
                for upto, price in spec["tiers"]:
                    if left <= 0:
                        break
                    q = left if upto is None else min(left, max(upto * seconds // DAY - used, 0))
                    if q:
                        taxable += half_up(q * price, 1_000_000)
                        left -= q
                        used += q
                subtotal += taxable
                numerator += taxable * spec["tax_bp"]
                consumption += units
            tax = half_up(numerator, 10_000)
            out.append(Invoice(meter, start, cut, consumption, subtotal, tax, subtotal + tax))
            start = cut
    return sorted(out, key=lambda i: (i.meter, i.period_start))


def test_a_year_of_daily_readings_bills_exactly_like_the_plain_python_calculation() -> None:
    raw_doc, readings = generate(METERS, DAYS)
    result = simulate(parse_tariff_doc(raw_doc), readings, "monthly")
    assert result.rejected == [] and result.anomalies == []
    chain_invoices = sorted(
        (Invoice(i["meter"], i["period_start"], i["period_end"], i["consumption"], i["subtotal"], i["tax"], i["total"])
         for i in result.invoices),
        key=lambda i: (i.meter, i.period_start),
    )
    expected = reference_invoices(raw_doc, readings)
    assert len(chain_invoices) == len(expected) == METERS * (12 if DAYS == 365 else len(expected) // METERS)
    for got, want in zip(chain_invoices, expected, strict=True):
        assert got == want
    assert all(not i["estimated"] for i in result.invoices)
    # The regulators' running totals agree with the invoices, month by month.
    months = [YEAR_START, *month_starts(YEAR_START, YEAR_START + DAYS * DAY), YEAR_START + (DAYS + 1) * DAY]
    for start, end in pairwise(months):
        want = [i for i in expected if start <= i.period_end < end]
        got = result.chain.view("billing", "consumption_totals", ["ELEC", "ELEC", start, end])
        assert (got["invoices"], got["consumption"], got["billed"], got["tax"]) == (
            len(want), sum(i.consumption for i in want), sum(i.total for i in want), sum(i.tax for i in want))
    print(f"\ncross-check: {METERS} meters x {DAYS} days = {len(readings)} readings, "
          f"{len(chain_invoices)} invoices, {result.blocks} blocks, {result.seconds:.1f} s")
