"""Per-day activity counters of a utility, branch or field, and the view that sums them.

A contract module (docs/contract-language.md, "Modules"), compiled into each contract that
counts its own events (registry: subscriptions and meters; supply: orders); each keeps its
counters in its own namespace, under ``a/<scope>#<day>``. "#" never occurs in ids, so the
prefix ``a/<scope>#`` never matches the keys of a nested scope (``ELEC/CENTRE`` is not
``ELEC#``).
"""

from common.keys import scope_key
from common.records import scopes_of
from common.text import pad
from common.time import SECONDS_PER_DAY

DAY_WIDTH = 6


def bump_activity(record: dict, name: str) -> None:
    """Count one ``name`` today in the record's utility, branch and field."""
    add_activity(record, name, 1)


def add_activity(record: dict, name: str, amount: int) -> None:
    """Add ``amount`` to today's ``name`` in the record's utility, branch and field (a sum
    of money or units, where ``bump_activity`` counts events)."""
    add_activities(record, {name: amount})


def add_activities(record: dict, amounts: dict) -> None:
    """Add each of ``amounts`` ({name: amount}) to today's figures in the record's utility,
    branch and field: one read and one write per scope, however many names."""
    day = div_floor(block_time(), SECONDS_PER_DAY)
    for scope in scopes_of(record):
        key = scope_key("a/", scope, pad(day, DAY_WIDTH))
        counts = storage_get(key, {})
        for name in amounts.keys():
            counts[name] = counts.get(name, 0) + amounts[name]
        storage_set(key, counts)


@view
def activity(scope: str, day_from: int, day_to: int) -> dict:
    """What happened in a utility, branch or field from UTC day ``day_from`` to ``day_to``
    inclusive (day = unix time // 86400), summed per name over at most 1000 days with
    activity per call (the names are the importing contract's: docs/contracts/)."""
    prefix = scope_key("a/", scope, "")
    after = ""
    if day_from > 0:
        after = prefix + pad(day_from - 1, DAY_WIDTH)
    totals = {}
    for key in storage_keys(prefix, after, 1000):
        day = int(key[len(prefix):])
        if day > day_to:
            break
        counts = storage_get(key)
        for name in counts.keys():
            totals[name] = totals.get(name, 0) + counts[name]
    return totals
