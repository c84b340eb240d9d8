"""A reading's history, a subscription's invoices and payments: an index of finalized
events, kept in the node's LevelDB beside the blocks and outside the Merkle state.

The state keeps only what a later decision needs (docs/state.md, "What the state holds");
the history is in the receipts' events, which blocks keep. This module indexes them:

- ``h:r:`` + meter + time + location: a reading (billing's ``reading`` event, or one
  interval of a ``load_profile``), or a rebill's correction of one (``reading_corrected``,
  after the reading it corrects), in time order per meter;
- ``h:i:`` + subscription + location: an invoice (billing's ``invoice`` event);
- ``h:p:`` + subscription + location: a payment or its reversal, a credit purchase or its
  reversal, a redeemed voucher (payments' events);
- ``h:height``: the last height indexed.

Names are written with a 2-byte length first (a meter id never runs into the next field,
and one meter's keys are one prefix); times, heights and positions as big-endian integers
(keys sort by time, then block, transaction and event). Values are empty: the key says
where the event is, and the event is read from the block's receipts, so the index holds no
second copy of anything a block commits to.

Consistency: ``BlockStore.commit_block`` writes ``index_block``'s records in the block's own
batch, so a node killed at any instant has indexed exactly the blocks it holds. A store
written before the index existed (or by a node that lost it) is brought up to its head by
``catch_up`` at open: the records are a function of the blocks alone, so writing them
again is harmless.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import plyvel

from chain import codec
from chain.errors import DecodeError
from chain.types import Block, Event, Receipt

HISTORY_PREFIX: Final = b"h:"  # every key of the index
READING_PREFIX: Final = b"h:r:"
INVOICE_PREFIX: Final = b"h:i:"
PAYMENT_PREFIX: Final = b"h:p:"
INDEXED_KEY: Final = b"h:height"
MAX_NAME: Final = 512  # bytes of a meter or subscription id (a contract key's bound)
MAX_TIME: Final = 2**63 - 1
NO_INTERVAL: Final = 0xFFFF  # the position of a plain reading (not a load profile's interval)

BILLING: Final = "billing"
PAYMENTS: Final = "payments"
PAYMENT_EVENTS: Final = frozenset(
    {"payment", "payment_reversed", "credit_purchase", "purchase_reversed", "voucher_redeemed"}
)


@dataclass(frozen=True, slots=True)
class Location:
    """Where an indexed event is: block height, transaction and event index in the block's
    receipts, and for a load profile's reading the interval ``k`` (else ``None``)."""

    height: int
    tx_index: int
    event_index: int
    interval: int | None = None

    def encode(self) -> bytes:
        k = NO_INTERVAL if self.interval is None else self.interval
        return (
            self.height.to_bytes(8, "big") + self.tx_index.to_bytes(4, "big")
            + self.event_index.to_bytes(4, "big") + k.to_bytes(2, "big")
        )

    @classmethod
    def decode(cls, data: bytes) -> Location:
        k = int.from_bytes(data[16:18], "big")
        return cls(
            int.from_bytes(data[:8], "big"), int.from_bytes(data[8:12], "big"),
            int.from_bytes(data[12:16], "big"), None if k == NO_INTERVAL else k,
        )


LOCATION_SIZE: Final = 18


def name_part(name: str) -> bytes:
    raw = name.encode()
    return len(raw).to_bytes(2, "big") + raw


def reading_key(meter: str, time: int, where: Location) -> bytes:
    return READING_PREFIX + name_part(meter) + time.to_bytes(8, "big") + where.encode()


def _fields(event: Event) -> dict[Any, Any] | None:
    # The receipts indexed are the ones this node's own execution made (or that a
    # certified receipts root covers), their fields written by ``codec.encode``: read
    # back like stored state, without ``decode``'s canonical re-encoding (most of a commit).
    try:
        value = codec.decode_stored(event.fields)
    except DecodeError:
        return None
    return value if isinstance(value, dict) else None


def _name(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value.encode()) <= MAX_NAME:
        return value
    return None


def _time(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TIME:
        return value
    return None


def load_profile_times(fields: dict[Any, Any]) -> list[tuple[int, int]] | None:
    """``[(k, time)]`` of the readings a ``load_profile`` event records: every interval
    ``k`` at ``day_start + k * interval_seconds``, except ``k = 0`` when the profile started
    at the meter's last reading (``previous == day_start``: that reading is already in the
    history). ``None`` for a malformed event."""
    start, step, previous = _time(fields.get("day_start")), _time(fields.get("interval_seconds")), fields.get("previous")
    indexes = fields.get("indexes")
    if start is None or step is None or step == 0 or not isinstance(indexes, list) or len(indexes) > 0xFFFE:
        return None
    first = 1 if previous == start else 0
    out = [(k, start + k * step) for k in range(first, len(indexes))]
    return out if all(t <= MAX_TIME for _, t in out) else None


def reading_interval_seconds(name: str, fields: dict[Any, Any], interval: int | None) -> int:
    """The length of the interval a reading closes, as billing's commitment to a period's
    readings links it (contracts/billing/period_readings.py): a ``load_profile``'s
    ``interval_seconds`` for its interval ``k >= 1``; 0 for a plain ``reading`` and for a
    profile's first index (``k = 0``, a new reading). A ``reading_corrected`` changes only
    the index of the reading it follows, so it says 0 here and keeps that reading's length."""
    if name != "load_profile" or not interval:
        return 0
    step = _time(fields.get("interval_seconds"))
    return 0 if step is None else step


def index_block(height: int, block: Block, receipts: tuple[Receipt, ...]) -> dict[bytes, bytes]:
    """The index records of one finalized block (and the ``h:height`` marker). Events of a
    failed transaction never happened and are skipped; so is any event not of the expected
    shape (the index must never stop a block from committing)."""
    records: dict[bytes, bytes] = {INDEXED_KEY: height.to_bytes(8, "big")}
    for tx_index, receipt in enumerate(receipts):
        if not receipt.ok:
            continue
        for event_index, event in enumerate(receipt.events):
            for key in event_keys(Location(height, tx_index, event_index), event):
                records[key] = b""
    return records


def event_keys(where: Location, event: Event) -> Iterator[bytes]:
    if event.contract == BILLING and event.name in ("reading", "reading_corrected", "load_profile", "invoice"):
        fields = _fields(event)
        if fields is None:
            return
        if event.name == "invoice":
            sub = _name(fields.get("subscription"))
            if sub is not None:
                yield INVOICE_PREFIX + name_part(sub) + where.encode()
            return
        meter = _name(fields.get("meter"))
        if meter is None:
            return
        if event.name != "load_profile":  # a reading, or a rebill's correction of one
            ts = _time(fields.get("timestamp"))
            if ts is not None:
                yield reading_key(meter, ts, where)
            return
        for k, ts in load_profile_times(fields) or []:
            yield reading_key(meter, ts, Location(where.height, where.tx_index, where.event_index, k))
    elif event.contract == PAYMENTS and event.name in PAYMENT_EVENTS:
        fields = _fields(event)
        sub = None if fields is None else _name(fields.get("subscription"))
        if sub is not None:
            yield PAYMENT_PREFIX + name_part(sub) + where.encode()


# --- reading the index ------------------------------------------------------------------


def indexed_height(db: Any) -> int:
    stored = db.get(INDEXED_KEY)
    return 0 if stored is None else int.from_bytes(stored, "big")


def catch_up(db: plyvel.DB, head: int, block_at: Any) -> int:
    """Index the blocks after the last indexed height up to ``head`` (``block_at(h)`` ->
    ``(block, receipts)``, ``(None, None)`` for a height whose body is not stored), one
    synced batch per block; returns how many were indexed."""
    done = 0
    for height in range(indexed_height(db) + 1, head + 1):
        block, receipts = block_at(height)
        if block is None or receipts is None:
            continue
        with db.write_batch(transaction=True, sync=True) as batch:
            for key, value in index_block(height, block, receipts).items():
                batch.put(key, value)
        done += 1
    return done


@dataclass(frozen=True, slots=True)
class Entry:
    """One indexed event: where it is, and for a reading its time."""

    where: Location
    time: int | None
    cursor: bytes  # what follows the owner's prefix in the key: pass back to continue


def _scan(db: Any, prefix: bytes, start: bytes, stop: bytes | None, limit: int) -> list[bytes]:
    keys: list[bytes] = []
    with db.iterator(start=start, stop=stop, include_value=False) as it:
        for key in it:
            if not key.startswith(prefix) or len(keys) >= limit:
                break
            keys.append(key)
    return keys


def readings(db: Any, meter: str, start: int, end: int, after: bytes | None, limit: int) -> list[Entry]:
    """A meter's readings with ``start <= time < end``, in time order, at most ``limit``,
    after the entry whose ``cursor`` is ``after`` (the previous page's last)."""
    prefix = READING_PREFIX + name_part(meter)
    first = prefix + start.to_bytes(8, "big")
    if after is not None:
        first = max(first, prefix + after + b"\x00")
    stop = prefix + end.to_bytes(8, "big") if end <= MAX_TIME else None
    out = []
    for key in _scan(db, prefix, first, stop, limit):
        rest = key[len(prefix):]
        out.append(Entry(Location.decode(rest[8:]), int.from_bytes(rest[:8], "big"), rest))
    return out


def subscription_entries(db: Any, kind: bytes, subscription: str, after: bytes | None, limit: int) -> list[Entry]:
    """A subscription's invoices (``INVOICE_PREFIX``) or payments (``PAYMENT_PREFIX``) in
    chain order, at most ``limit``, after the entry whose ``cursor`` is ``after``."""
    prefix = kind + name_part(subscription)
    first = prefix if after is None else prefix + after + b"\x00"
    return [Entry(Location.decode(key[len(prefix):]), None, key[len(prefix):])
            for key in _scan(db, prefix, first, None, limit)]


class HistoryIndex:
    """The index of one node's database, for the API (``node.api.history``)."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def readings(self, meter: str, start: int, end: int, after: bytes | None, limit: int) -> list[Entry]:
        return readings(self.db, meter, start, end, after, limit)

    def subscription(self, kind: bytes, subscription: str, after: bytes | None, limit: int) -> list[Entry]:
        return subscription_entries(self.db, kind, subscription, after, limit)
