"""Checking a node's history answer without trusting the node.

A node answers ``GET /v1/meters/{meter}/readings?proof=true`` (and a subscription's
invoices and payments) with each item's block height, transaction and event, plus each
block's header and commit certificate and each receipt with its Merkle proof
(``node.api.history``). This module checks, from those bytes alone and the validator set
the wallet trusts (its genesis set, or the set it follows through governance):

1. every block header is final: its certificate carries valid precommits of more than 2/3
   of the validator set's power for that header (``consensus.certificate.verify_commit``),
   and the header commits to that set (``validator_set_hash``);
2. every receipt is in its block: its Merkle proof leads to the header's ``receipts_root``;
3. every item is what that receipt says: same transaction hash, a successful transaction,
   the event at that position with the same contract, name and field bytes, and for a
   reading the same meter, time and register index, inside the asked time range, in order.

``check_continuous`` adds completeness: each reading names the time of the meter's reading
before it (``previous``), so a run of readings with no gap between ``previous`` and the
prior item's time has nothing left out. A rebill's ``reading_corrected`` follows the
reading it corrects (same time, later block): the reading's index as billed is the last. Any failure raises ``HistoryCheckError`` saying
what was expected and what was found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chain import codec
from chain.errors import ChainError
from chain.hashing import merkle_list_verify
from chain.types import BlockHeader, Receipt
from consensus.certificate import CommitCertificate, verify_commit
from consensus.errors import InvalidCommit
from consensus.validators import ValidatorSet
from node.api.history import (
    HistoryItem,
    HistoryProof,
    ReadingsResponse,
    SubscriptionHistoryResponse,
)
from node.history import reading_interval_seconds

ValidatorsAt = Callable[[int], ValidatorSet]

SUBSCRIPTION_EVENTS = {
    "invoices": {("billing", "invoice")},
    "payments": {("payments", n) for n in ("payment", "payment_reversed", "credit_purchase", "purchase_reversed",
                                            "voucher_redeemed")},
}


class HistoryCheckError(Exception):
    """A history answer that does not prove what it claims."""


@dataclass(frozen=True, slots=True)
class VerifiedEvent:
    height: int
    tx_hash: bytes
    tx_index: int
    event_index: int
    name: str
    fields: dict[Any, Any]  # the event's canonical fields (bytes as bytes)


@dataclass(frozen=True, slots=True)
class VerifiedReading:
    event: VerifiedEvent
    timestamp: int
    index: int
    previous: int | None  # the time of the meter's reading before this one, when the event says
    interval: int | None
    interval_seconds: int  # the length of the interval it closes, as a rebill's readings give it


def _bytes(text: str | None, what: str) -> bytes:
    if text is None:
        raise HistoryCheckError(f"{what}: hex bytes expected, found none")
    try:
        return bytes.fromhex(text[2:] if text.startswith("0x") else text)
    except ValueError:
        raise HistoryCheckError(f"{what}: hex bytes expected, found {text[:40]!r}") from None


def verified_receipts(
    proof: HistoryProof | None, chain_id: str, validators_at: ValidatorsAt
) -> dict[tuple[int, int], Receipt]:
    """The receipts of ``proof`` that are proven in final blocks, by (height, tx index)."""
    if proof is None:
        raise HistoryCheckError("an answer with proofs (proof=true) expected, found none")
    headers: dict[int, tuple[BlockHeader, int]] = {}
    for block in proof.blocks:
        try:
            header = BlockHeader.from_value(codec.decode(_bytes(block.header, f"block {block.height} header")))
            certificate = CommitCertificate.decode(_bytes(block.certificate, f"block {block.height} certificate"))
        except ChainError as exc:
            raise HistoryCheckError(f"block {block.height}: canonical header and certificate expected: {exc}") from None
        if header.height != block.height:
            raise HistoryCheckError(f"a header of height {block.height} expected, found height {header.height}")
        validators = validators_at(header.height)
        if header.validator_set_hash != validators.hash:
            raise HistoryCheckError(
                f"block {header.height} committing to the trusted validator set {validators.hash.hex()} expected, "
                f"found {header.validator_set_hash.hex()}"
            )
        try:
            verify_commit(chain_id, header, certificate, validators)
        except InvalidCommit as exc:
            raise HistoryCheckError(f"block {header.height} final expected: {exc}") from None
        headers[header.height] = (header, block.receipt_count)
    receipts: dict[tuple[int, int], Receipt] = {}
    for item in proof.receipts:
        where = f"receipt {item.tx_index} of block {item.height}"
        if item.height not in headers:
            raise HistoryCheckError(f"{where}: its block's header and certificate expected, found none")
        header, count = headers[item.height]
        data = _bytes(item.receipt, where)
        siblings = [_bytes(s, f"{where} proof") for s in item.siblings]
        if not merkle_list_verify(header.receipts_root, data, item.tx_index, count, siblings):
            raise HistoryCheckError(
                f"{where}: a Merkle proof to the receipts root {header.receipts_root.hex()} expected, "
                "found one that does not lead there"
            )
        try:
            receipts[(item.height, item.tx_index)] = Receipt.decode(data)
        except ChainError as exc:
            raise HistoryCheckError(f"{where}: a canonical receipt expected: {exc}") from None
    return receipts


def _verified_event(item: HistoryItem, receipts: dict[tuple[int, int], Receipt]) -> VerifiedEvent:
    where = f"the item at block {item.height}, transaction {item.tx_index}, event {item.event_index}"
    receipt = receipts.get((item.height, item.tx_index))
    if receipt is None:
        raise HistoryCheckError(f"{where}: a proven receipt expected, found none")
    if receipt.tx_hash.hex() != item.tx_hash.removeprefix("0x"):
        raise HistoryCheckError(f"{where}: transaction {receipt.tx_hash.hex()} expected, found {item.tx_hash}")
    if not receipt.ok:
        raise HistoryCheckError(f"{where}: a successful transaction expected, found a failed one")
    if not 0 <= item.event_index < len(receipt.events):
        raise HistoryCheckError(f"{where}: an event index below {len(receipt.events)} expected")
    event = receipt.events[item.event_index]
    if (event.contract, event.name, event.fields.hex()) != (item.contract, item.name, item.fields_hex.removeprefix("0x")):
        raise HistoryCheckError(
            f"{where}: the receipt's event {event.contract}.{event.name} with its fields expected, "
            f"found {item.contract}.{item.name} with other fields"
        )
    return VerifiedEvent(item.height, receipt.tx_hash, item.tx_index, item.event_index, event.name, event.field_map())


def verify_readings(
    answer: ReadingsResponse, meter: str, chain_id: str, validators_at: ValidatorsAt
) -> list[VerifiedReading]:
    """The readings of ``answer``, each proven final and as the chain recorded it, for
    ``meter`` in the asked range and in order; ``HistoryCheckError`` otherwise."""
    if answer.meter != meter:
        raise HistoryCheckError(f"readings of meter {meter} expected, found meter {answer.meter}")
    receipts = verified_receipts(answer.proof, chain_id, validators_at)
    out: list[VerifiedReading] = []
    last = (-1, -1, -1, -1, -1)
    for item in answer.items:
        event = _verified_event(item, receipts)
        fields = event.fields
        if fields.get("meter") != meter:
            raise HistoryCheckError(f"a reading of meter {meter} expected, found one of {fields.get('meter')!r}")
        if event.name in ("reading", "reading_corrected") and item.interval is None:
            timestamp, index, previous = fields.get("timestamp"), fields.get("index"), fields.get("previous")
        elif event.name == "load_profile" and item.interval is not None:
            k, indexes = item.interval, fields.get("indexes")
            if not isinstance(indexes, list) or not 0 <= k < len(indexes):
                raise HistoryCheckError(f"a load profile with an interval {k} expected, found none")
            timestamp = fields.get("day_start", 0) + k * fields.get("interval_seconds", 0)
            index = indexes[k]
            previous = fields.get("previous") if k == 0 else timestamp - fields.get("interval_seconds", 0)
        else:
            raise HistoryCheckError(f"a reading or a load profile's interval expected, found {event.name}")
        if not (isinstance(timestamp, int) and isinstance(index, int)):
            raise HistoryCheckError(f"a reading with an integer time and index expected, found {timestamp!r}, {index!r}")
        if (timestamp, index) != (item.timestamp, item.index):
            raise HistoryCheckError(
                f"the event's reading at {timestamp} of index {index} expected, found {item.timestamp} of {item.index}"
            )
        seconds = reading_interval_seconds(event.name, fields, item.interval)
        if item.interval_seconds != seconds:
            raise HistoryCheckError(
                f"the reading at {timestamp} closing an interval of {seconds} s expected (as its event says), "
                f"found {item.interval_seconds} s"
            )
        if not answer.start <= timestamp < answer.end:
            raise HistoryCheckError(f"a reading in [{answer.start}, {answer.end}) expected, found one at {timestamp}")
        position = (timestamp, item.height, item.tx_index, item.event_index, -1 if item.interval is None else item.interval)
        if position <= last:
            raise HistoryCheckError(f"readings in time order expected, found {timestamp} after {last[0]}")
        last = position
        out.append(VerifiedReading(event, timestamp, index, previous if isinstance(previous, int) else None,
                                   item.interval, seconds))
    return out


def check_continuous(readings: Sequence[VerifiedReading], previous_time: int | None = None) -> None:
    """Raise unless no reading of the meter is missing between the first and the last of
    ``readings`` (each names the time of the one before it); ``previous_time``, the last
    time of the page before, extends the check across pages."""
    expected = previous_time
    for reading in readings:
        if reading.event.name == "reading_corrected":
            continue  # a correction of the reading before it, not a new reading
        if expected is not None and reading.previous != expected:
            raise HistoryCheckError(
                f"the reading after the one at {expected} expected, found one at {reading.timestamp} "
                f"following {reading.previous} (readings left out)"
            )
        expected = reading.timestamp


def verify_subscription_history(
    answer: SubscriptionHistoryResponse, subscription: str, kind: str, chain_id: str, validators_at: ValidatorsAt
) -> list[VerifiedEvent]:
    """The invoices or payments of ``answer``, each proven final and as the chain recorded it."""
    if (answer.subscription, answer.kind) != (subscription, kind):
        raise HistoryCheckError(
            f"the {kind} of subscription {subscription} expected, found the {answer.kind} of {answer.subscription}"
        )
    allowed = SUBSCRIPTION_EVENTS.get(kind)
    if allowed is None:
        raise HistoryCheckError(f"invoices or payments expected, found {kind!r}")
    receipts = verified_receipts(answer.proof, chain_id, validators_at)
    out = []
    for item in answer.items:
        event = _verified_event(item, receipts)
        if (item.contract, event.name) not in allowed or event.fields.get("subscription") != subscription:
            raise HistoryCheckError(
                f"one of the {kind} of subscription {subscription} expected, found {item.contract}.{event.name} "
                f"of {event.fields.get('subscription')!r}"
            )
        out.append(event)
    return out
