"""The stream of finalized events behind ``GET /v1/events``.

The node publishes each finalized block once; every WebSocket subscriber has a bounded
queue and a filter (contract, event name, meter). A subscriber that falls more than a queue
behind is cut off with a message saying so, rather than letting one slow client hold the
node's memory.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Final

from node.api.models import EventMessage
from node.api.values import event_model
from node.chainview import FinalizedBlock

QUEUE_SIZE: Final = 4096


@dataclass(frozen=True, slots=True)
class EventFilter:
    contract: str | None = None
    name: str | None = None
    meter: str | None = None

    def matches(self, contract: str, name: str, meter: object) -> bool:
        return (
            (self.contract is None or contract == self.contract)
            and (self.name is None or name == self.name)
            and (self.meter is None or meter == self.meter)
        )


@dataclass(eq=False, slots=True)
class Subscription:
    filter: EventFilter
    queue: asyncio.Queue[EventMessage] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False


class EventHub:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def __len__(self) -> int:
        return len(self._subscribers)

    def subscribe(self, event_filter: EventFilter) -> Subscription:
        subscription = Subscription(event_filter)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def publish(self, finalized: FinalizedBlock) -> int:
        """Queue the block's events for every subscriber whose filter they match."""
        if not self._subscribers:
            return 0
        height = finalized.block.header.height
        queued = 0
        for index, receipt in enumerate(finalized.receipts):
            for event in receipt.events:
                fields = event.field_map()
                meter = fields.get("meter")
                message: EventMessage | None = None
                for sub in self._subscribers:
                    if sub.overflowed or not sub.filter.matches(event.contract, event.name, meter):
                        continue
                    if message is None:
                        message = EventMessage(
                            height=height, tx_hash=receipt.tx_hash.hex(), index=index, event=event_model(event)
                        )
                    try:
                        sub.queue.put_nowait(message)
                        queued += 1
                    except asyncio.QueueFull:
                        sub.overflowed = True
        return queued
