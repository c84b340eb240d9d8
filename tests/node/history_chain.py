"""A small certified chain with history for the history tests: utility ELEC, two postpaid
meters read by the collector (single readings, a batch, a load profile, one refused
reading), an invoice and a payment, committed by ``CertifiedChain`` into a real
``BlockStore``. Helpers only, no tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chain.signatures import sign_transaction
from chain.transition import get_nonce
from chain.types import KIND_CALL, Gas, Height, Nonce, Signature, Transaction
from node.blockstore import BlockStore
from node.genesis import GenesisDocument, GenesisValidator
from node.localchain import Actor
from node.storechain import open_store
from tests.node.certified_chain import CertifiedChain, key_of

START = 1_735_689_600  # 2025-01-01T00:00:00Z
DAY = 86_400
HOUR = 3_600
UTILITY, BRANCH, FIELD = "ELEC", "ELEC/B1", "ELEC/B1/F1"
FLAT = {"standing_charge_per_day": 0, "tiers": [[None, 250_000]], "tax_bp": 0}
GOV = Actor.named("governance")
ADMIN, OPERATOR, AGENT, COLLECTOR = (Actor.named(f"elec-{r}") for r in ("admin", "operator", "agent", "collector"))
ALICE, BOB = Actor.named("alice"), Actor.named("bob")
METERS = {"MTR-A": ALICE, "MTR-B": BOB}


def genesis() -> GenesisDocument:
    return GenesisDocument(
        chain_id="meterchain-history", time=START, governance=GOV.public_key.hex(),
        validators=[GenesisValidator(name=n, public_key=key_of(n).hex(), power=1) for n in ("v1", "v2", "v3", "v4")],
    )


@dataclass
class HistoryChain:
    store: BlockStore
    chain: CertifiedChain
    readings: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # meter -> [(time, index)]
    refused: list[bytes] = field(default_factory=list)  # hashes of failed transactions
    subscriptions: dict[str, str] = field(default_factory=dict)  # meter -> subscription id

    def block(self, calls: list[tuple[Actor, str, str, list[Any]]], at: int) -> tuple[Any, ...]:
        state = self.store.state()
        nonces: dict[bytes, int] = {}
        txs = []
        for actor, contract, function, args in calls:
            nonce = nonces.get(actor.public_key, get_nonce(state, actor.public_key))
            nonces[actor.public_key] = nonce + 1
            unsigned = Transaction(
                self.chain.genesis.chain_id, actor.public_key, Nonce(nonce), Height(self.store.head().height + 50),
                Gas(5_000_000), KIND_CALL, [contract, function, list(args)], Signature(bytes(64)),
            )  # fmt: skip
            txs.append(sign_transaction(unsigned, actor.seed))
        block = self.chain.commit(tuple(txs), at=at)
        receipts = self.store.receipts(block.header.height)
        assert receipts is not None
        return receipts

    def ok(self, calls: list[tuple[Actor, str, str, list[Any]]], at: int) -> tuple[Any, ...]:
        receipts = self.block(calls, at)
        assert all(r.ok for r in receipts), [r.error for r in receipts]
        return receipts

    def read(self, meter: str, ts: int, index: int) -> tuple[Actor, str, str, list[Any]]:
        self.readings.setdefault(meter, []).append((ts, index))
        return (COLLECTOR, "billing", "submit_reading", [meter, "1.8.0", ts, index, "collector", bytes([ts % 251]) * 32, b""])


def build_history_chain(path: Path) -> HistoryChain:
    doc = genesis()
    store = open_store(path, doc)
    h = HistoryChain(store, CertifiedChain(store, doc))
    t = START + 10
    h.ok([(GOV, "registry", "register_utility", [UTILITY, "Electric", "electricity", "EUR", "auto", ADMIN.public_key])], t)
    h.ok([
        (ADMIN, "registry", "register_branch", [BRANCH, "Centre", "here"]),
        (ADMIN, "registry", "register_field", [FIELD, "Old town", "there"]),
        (ADMIN, "registry", "grant_role", [OPERATOR.public_key, UTILITY, "operator"]),
        (ADMIN, "registry", "grant_role", [AGENT.public_key, UTILITY, "agent"]),
        (ADMIN, "registry", "grant_role", [COLLECTOR.public_key, UTILITY, "collector"]),
        (ADMIN, "billing", "set_tariff", [UTILITY, "FLAT", FLAT, t + 20]),
    ], t + 10)  # fmt: skip
    h.ok([(ADMIN, "registry", "register_meter", [m, FIELD, f"flat {m}", 1, 9, 20_000, 0, b"", COLLECTOR.public_key])
          for m in METERS], t + 20)
    h.ok([(OPERATOR, "registry", "activate_meter", [m]) for m in METERS]
         + [(ADMIN, "billing", "assign_tariff", [m, "FLAT"]) for m in METERS], t + 30)
    h.ok([(who, "registry", "subscribe", [m, "postpaid", b""]) for m, who in METERS.items()], t + 40)
    # Five days of single readings of MTR-A, the last two in one block with one of MTR-B.
    for d in range(1, 4):
        h.ok([h.read("MTR-A", START + d * DAY, d * 5_000)], START + d * DAY + 60)
    h.ok([h.read("MTR-A", START + 4 * DAY, 20_000), h.read("MTR-B", START + 4 * DAY, 7_000)], START + 4 * DAY + 60)
    # A refused reading (backwards): its transaction fails and leaves no history.
    refused = h.block([(COLLECTOR, "billing", "submit_reading",
                        ["MTR-A", "1.8.0", START + 4 * DAY + HOUR, 1, "collector", b"", b""])], START + 4 * DAY + 2 * HOUR)
    assert not refused[0].ok
    h.refused.append(refused[0].tx_hash)
    # A collector's batch: MTR-A and MTR-B on day 5.
    batch = [h.read("MTR-A", START + 5 * DAY, 26_000)[3], h.read("MTR-B", START + 5 * DAY, 9_000)[3]]
    h.ok([(COLLECTOR, "billing", "submit_readings", [batch])], START + 5 * DAY + 60)
    # A load profile for day 6 of MTR-A, 6-hourly, starting at its last reading (day 5).
    day = START + 5 * DAY
    indexes = [26_000 + 1_000 * k for k in range(5)]
    h.ok([(COLLECTOR, "billing", "submit_load_profile", ["MTR-A", "1.8.0", day, 6 * HOUR, indexes])], day + DAY + 60)
    h.readings["MTR-A"] += [(day + k * 6 * HOUR, indexes[k]) for k in range(1, 5)]
    # MTR-A's invoice, and the agent's payment of it.
    receipts = h.ok([(OPERATOR, "billing", "close_period", ["MTR-A"])], START + 7 * DAY)
    invoice = next(e.field_map() for e in receipts[0].events if e.name == "invoice")
    h.subscriptions["MTR-A"] = invoice["subscription"]
    h.ok([(AGENT, "payments", "record_payment", ["MTR-A", 1_000, "receipt-1"])], START + 7 * DAY + 60)
    return h
