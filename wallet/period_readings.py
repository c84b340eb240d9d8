"""A billed period's readings as a rebill is given them, from a node's history (issue 12).

``billing.rebill_readings``, ``correct_readings`` and ``confirm_reading`` take the period's
readings ``[[time, index, interval seconds]]``: every reading after the period's start
(``basis.readings.base``) up to its end, in time order, each rebill's corrections applied
(a replacement's commitment is to its corrected readings), which the contract checks
against the commitment the invoice keeps (docs/contracts/corrections.md). A node's history
(``GET /v1/meters/{meter}/readings``, node/history.py) lists each reading once and a
``reading_corrected`` right after the reading it corrects: ``fold_history`` turns such a
list into ``{time: [index, interval seconds]}``, and ``period_readings`` keeps a period's.
``meterchain billing simulate`` folds its own chain's receipts the same way
(meterchain/commands/billing_corrections.py).

``fetch_period_readings`` pages through a node's answer; given a trusted validator set it
asks for proofs and checks every page (wallet.history_check: final blocks, receipts in
them, and no reading left out from the period's start on), so the operator does not trust
the node. A forged or missing reading would be refused by the contract anyway (the
commitment); checked here, it is said before anything is signed, naming the node's fault.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from wallet.history_check import ValidatorsAt, check_continuous, verify_readings
from wallet.node_client import NodeClient

PAGE: Final = 500  # the history route's largest page


class PeriodReadingsError(Exception):
    """A history that does not give a period's readings."""


@dataclass(frozen=True, slots=True)
class HistoryReading:
    """One item of a meter's history: a reading (``reading``, a ``load_profile``'s
    interval) or a rebill's correction of one (``reading_corrected``)."""

    name: str
    timestamp: int
    index: int
    interval_seconds: int


def fold_history(items: Iterable[HistoryReading]) -> dict[int, list[int]]:
    """``{time: [index, interval seconds]}`` of the readings of ``items`` (in the history's
    order), each correction applied to the reading it follows."""
    out: dict[int, list[int]] = {}
    for item in items:
        if item.name != "reading_corrected":
            out[item.timestamp] = [item.index, item.interval_seconds]
        elif item.timestamp in out:
            out[item.timestamp][0] = item.index
        else:
            raise PeriodReadingsError(f"the reading at {item.timestamp} before its correction expected, found none")
    return out


def period_readings(history: dict[int, list[int]], start: int, end: int) -> list[list[int]]:
    """The readings of the period after ``start`` up to ``end``, as a rebill is given them."""
    return [[t, *history[t]] for t in sorted(history) if start < t <= end]


async def fetch_period_readings(
    client: NodeClient, meter: str, start: int, end: int, trusted: tuple[str, ValidatorsAt] | None = None
) -> list[list[int]]:
    """The readings of ``meter`` after ``start`` up to ``end`` from ``client``'s node, with
    proofs checked against ``trusted`` (chain id, validator set by height) when given."""
    items: list[HistoryReading] = []
    after: str | None = None
    previous = start  # the period's first reading names its start as the reading before it
    while True:
        page = await client.meter_readings(meter, start + 1, end + 1, after, PAGE, proof=trusted is not None)
        if trusted is None:
            items += [HistoryReading(i.name, i.timestamp, i.index, i.interval_seconds) for i in page.items]
        else:
            checked = verify_readings(page, meter, *trusted)
            check_continuous(checked, previous)
            items += [HistoryReading(r.event.name, r.timestamp, r.index, r.interval_seconds) for r in checked]
            previous = next((r.timestamp for r in reversed(checked) if r.event.name != "reading_corrected"), previous)
        if page.next is None:
            break
        after = page.next
    readings = period_readings(fold_history(items), start, end)
    if not readings or readings[-1][0] != end:
        found = f"the last at {readings[-1][0]}" if readings else "none"
        raise PeriodReadingsError(
            f"the readings of meter {meter} after {start} up to the period's end at {end} expected from the node's "
            f"history, found {found}"
        )
    return readings
