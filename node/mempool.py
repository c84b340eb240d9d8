"""The mempool: transactions this node admitted and that no block has included yet.

Admission runs the cheap checks first and the signature last, so a flood of junk costs a
decode each, not a signature verification each:

1. strict decode of the canonical bytes, size limit;
2. chain id, gas ceiling, payload shape, expiry against the next height
   (``chain.transition.validate_transaction`` without its signature check);
3. duplicates, nonce not below the account's nor too far beyond it, per-sender
   and total limits;
4. the Ed25519 signature, verified once: the hash of every admitted transaction is in
   ``verified_hashes()``, which the node hands to ``apply_block`` (``BlockEnv.
   verified_tx_hashes``) so the block that includes it does not verify it again.

Per sender, transactions are kept by nonce. Those whose nonces run on without a gap from the
account's nonce are *ready* (a proposer may take them, in nonce order); the others are
*future* and wait aside until the gap fills. After every committed block ``recheck`` removes
what the block included and re-validates what the block can have made invalid: a nonce now
below the account's (only the block's senders' nonces moved) or an expired transaction (a
heap by expiry height) leaves the pool (CometBFT's recheck; notes/CONSENSUS.md pitfall 14).
It does not walk the whole pool: at saturation that walk cost ~5 µs per committed
transaction.

Every refusal carries a ``reason`` code (counted by the metrics) and a message saying what was
expected and what was found. The pool is driven from one asyncio loop: no locks.
"""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from chain.errors import DecodeError, Expired, InvalidSignature, InvalidTransaction, WrongChain
from chain.hashing import Domain, Hash32, hash_domain
from chain.signatures import check_transaction_signature
from chain.transition import validate_transaction
from chain.types import MAX_TX_SIZE, PublicKey, Transaction

NonceReader = Callable[[bytes], int]  # an account's next nonce in the committed head state
Clock = Callable[[], float]  # monotonic seconds, for finality latency only (never for validity)

# How many transactions dropped by a recheck are remembered with their reason, so a client
# asking after one learns it failed and why instead of "unknown".
DROPPED_MEMORY: Final = 10_000
# Transactions a caller admits between two yields to its event loop (the API's batches, a
# peer's gossip frames): admitting a thousand, a signature check each, in one go held every
# consensus message back for as long.
ADMIT_CHUNK: Final = 64


class Reason(StrEnum):
    """Why a transaction was refused (the label of the refusal counter)."""

    DECODE = "decode"
    TOO_LARGE = "too_large"
    WRONG_CHAIN = "wrong_chain"
    EXPIRED = "expired"
    INVALID = "invalid"
    BAD_SIGNATURE = "bad_signature"
    DUPLICATE = "duplicate"
    NONCE_TOO_LOW = "nonce_too_low"
    NONCE_TOO_HIGH = "nonce_too_high"
    NONCE_TAKEN = "nonce_taken"
    SENDER_FULL = "sender_full"
    POOL_FULL = "pool_full"


@dataclass(frozen=True, slots=True)
class MempoolLimits:
    max_transactions: int = 20_000
    max_bytes: int = 64 * 1024 * 1024
    max_per_sender: int = 256
    max_nonce_ahead: int = 1024  # how far past the account's next nonce a pooled nonce may be
    max_tx_bytes: int = MAX_TX_SIZE


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer to one submitted transaction."""

    tx_hash: Hash32 | None  # None when the bytes did not even decode
    accepted: bool
    reason: Reason | None = None
    message: str = ""

    @classmethod
    def refused(cls, tx_hash: Hash32 | None, reason: Reason, message: str) -> Admission:
        return cls(tx_hash, False, reason, message)


@dataclass(slots=True)
class _Entry:
    tx: Transaction
    size: int
    arrival: int  # admission order: ready transactions leave the pool first come, first served
    admitted_at: float


@dataclass(frozen=True, slots=True)
class Recheck:
    """What a recheck after a block did."""

    committed_admitted_at: tuple[float, ...]  # admission times of the pooled txs the block held
    evicted: int  # pooled transactions that became invalid (stale nonce, expired)


@dataclass(slots=True)
class MempoolStats:
    admitted: int = 0
    refused: dict[Reason, int] = field(default_factory=dict)
    evicted_on_recheck: int = 0


class Mempool:
    def __init__(self, chain_id: str, limits: MempoolLimits | None = None, clock: Clock = time.monotonic) -> None:
        self.chain_id: Final = chain_id
        self.limits: Final = limits or MempoolLimits()
        self._clock = clock
        self._dropped: OrderedDict[Hash32, str] = OrderedDict()
        self._by_hash: dict[Hash32, _Entry] = {}
        self._by_sender: dict[PublicKey, dict[int, _Entry]] = {}
        # (expiry height, arrival, hash) of admitted transactions; those that left the pool
        # stay until popped or until the heap is rebuilt (``_compact_expiries``).
        self._expiries: list[tuple[int, int, Hash32]] = []
        self._bytes = 0
        self._arrivals = 0
        self.stats = MempoolStats()

    # --- queries -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._by_hash

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, tx_hash: bytes) -> Transaction | None:
        entry = self._by_hash.get(Hash32(tx_hash))
        return None if entry is None else entry.tx

    def dropped_reason(self, tx_hash: bytes) -> str | None:
        """Why a recheck dropped this once-admitted transaction (for the recent ones)."""
        return self._dropped.get(Hash32(tx_hash))

    def verified_hashes(self) -> Set[bytes]:
        """Hashes of the pooled transactions, all of whose signatures were verified here:
        for ``BlockEnv.verified_tx_hashes`` (a live view; do not hold it across a recheck)."""
        return self._by_hash.keys()

    def sender_nonces(self, sender: bytes) -> list[int]:
        return sorted(self._by_sender.get(PublicKey(sender), {}))

    # --- admission ---------------------------------------------------------------------

    def add_raw(self, raw: bytes, next_height: int, nonce_of: NonceReader) -> Admission:
        """Admit the canonical bytes of one transaction (from the API or a peer)."""
        if len(raw) > self.limits.max_tx_bytes:
            return self._refuse(
                None, Reason.TOO_LARGE,
                f"a transaction of at most {self.limits.max_tx_bytes} bytes expected, found {len(raw)} bytes",
            )
        # A transaction's hash is that of its canonical bytes: bytes hashing to a pooled
        # transaction's hash are its bytes. Peers forward what they admit, so most of what
        # a fully linked validator receives it holds already: refused without a decode.
        raw_hash = hash_domain(Domain.TRANSACTION, raw)
        if raw_hash in self._by_hash:
            return self._refuse(raw_hash, Reason.DUPLICATE, f"a new transaction expected, found {raw_hash.hex()} already pending")
        try:
            tx = Transaction.decode(raw)
        except DecodeError as exc:
            return self._refuse(None, Reason.DECODE, f"canonical transaction bytes expected: {exc}")
        return self.add(tx, next_height, nonce_of)

    def add(self, tx: Transaction, next_height: int, nonce_of: NonceReader) -> Admission:
        """Admit a decoded transaction that would be included at ``next_height`` at the earliest."""
        tx_hash = tx.hash
        size = len(tx.encode())
        if size > self.limits.max_tx_bytes:
            return self._refuse(
                tx_hash, Reason.TOO_LARGE,
                f"a transaction of at most {self.limits.max_tx_bytes} bytes expected, found {size} bytes",
            )
        if tx_hash in self._by_hash:
            return self._refuse(tx_hash, Reason.DUPLICATE, f"a new transaction expected, found {tx_hash.hex()} already pending")
        # VALIDITY without the signature: chain id, gas ceiling, shape, expiry.
        try:
            validate_transaction(tx, self.chain_id, next_height, signature_verified=True)
        except WrongChain as exc:
            return self._refuse(tx_hash, Reason.WRONG_CHAIN, str(exc))
        except Expired as exc:
            return self._refuse(tx_hash, Reason.EXPIRED, str(exc))
        except InvalidTransaction as exc:
            return self._refuse(tx_hash, Reason.INVALID, str(exc))
        # NONCE: never below the account's; at most a window ahead of it.
        account_nonce = nonce_of(tx.sender)
        if tx.nonce < account_nonce:
            return self._refuse(
                tx_hash, Reason.NONCE_TOO_LOW,
                f"nonce >= {account_nonce} (the account's next) expected, found {tx.nonce}",
            )
        window_end = account_nonce + self.limits.max_nonce_ahead
        if tx.nonce > window_end:
            return self._refuse(
                tx_hash, Reason.NONCE_TOO_HIGH,
                f"nonce <= {window_end} (account nonce {account_nonce} + {self.limits.max_nonce_ahead}) "
                f"expected, found {tx.nonce}",
            )
        pending = self._by_sender.get(tx.sender, {})
        taken = pending.get(tx.nonce)
        if taken is not None:
            return self._refuse(
                tx_hash, Reason.NONCE_TAKEN,
                f"a free nonce expected, found nonce {tx.nonce} taken by pending {taken.tx.hash.hex()}",
            )
        # LIMITS
        if len(pending) >= self.limits.max_per_sender:
            return self._refuse(
                tx_hash, Reason.SENDER_FULL,
                f"at most {self.limits.max_per_sender} pending transactions per sender expected, "
                f"found {len(pending)} already",
            )
        if len(self._by_hash) >= self.limits.max_transactions:
            return self._refuse(
                tx_hash, Reason.POOL_FULL,
                f"at most {self.limits.max_transactions} pending transactions expected, found {len(self._by_hash)} already",
            )
        if self._bytes + size > self.limits.max_bytes:
            return self._refuse(
                tx_hash, Reason.POOL_FULL,
                f"at most {self.limits.max_bytes} pending bytes expected, found {self._bytes} + {size}",
            )
        # SIGNATURE: last, once.
        try:
            check_transaction_signature(tx)
        except InvalidSignature as exc:
            return self._refuse(tx_hash, Reason.BAD_SIGNATURE, str(exc))
        entry = _Entry(tx, size, self._arrivals, self._clock())
        heapq.heappush(self._expiries, (tx.expiry_height, self._arrivals, tx_hash))
        self._arrivals += 1
        self._by_hash[tx_hash] = entry
        self._by_sender.setdefault(tx.sender, {})[tx.nonce] = entry
        self._bytes += size
        self.stats.admitted += 1
        return Admission(tx_hash, True)

    # --- proposing ---------------------------------------------------------------------

    def ready(self, nonce_of: NonceReader, max_count: int, max_bytes: int | None = None) -> list[Transaction]:
        """Up to ``max_count`` ready transactions for the next block: each sender's in nonce
        order from its account nonce, without gaps; across senders, first admitted first."""
        budget = self.limits.max_bytes if max_bytes is None else max_bytes
        # One cursor per sender whose account nonce has a pooled transaction; a heap on the
        # arrival of each sender's next transaction interleaves senders fairly.
        heap: list[tuple[int, PublicKey, int]] = []
        for sender, by_nonce in self._by_sender.items():
            nonce = nonce_of(sender)
            first = by_nonce.get(nonce)
            if first is not None:
                heap.append((first.arrival, sender, nonce))
        heapq.heapify(heap)
        chosen: list[Transaction] = []
        used = 0
        while heap and len(chosen) < max_count:
            _, sender, nonce = heapq.heappop(heap)
            entry = self._by_sender[sender][nonce]
            if used + entry.size > budget:
                continue  # this sender's chain stops here; smaller ones of others may fit
            chosen.append(entry.tx)
            used += entry.size
            following = self._by_sender[sender].get(nonce + 1)
            if following is not None:
                heapq.heappush(heap, (following.arrival, sender, nonce + 1))
        return chosen

    # --- after a block -------------------------------------------------------------------

    def recheck(self, committed: Iterable[Transaction], next_height: int, nonce_of: NonceReader) -> Recheck:
        """Remove the block's transactions (``committed``, all of them, pooled here or not),
        then re-validate against the new head what the block can have invalidated: the
        pooled transactions of its senders whose nonce is now below the account's (a block
        moves only its senders' nonces), and those expired at ``next_height``; they leave,
        their reason remembered (``dropped_reason``). Signatures and chain ids do not change:
        not re-checked."""
        admitted_at = []
        senders: set[PublicKey] = set()
        for tx in committed:
            senders.add(tx.sender)
            entry = self._by_hash.get(tx.hash)
            if entry is not None:
                self._remove(entry)
                admitted_at.append(entry.admitted_at)
        evicted = 0
        for sender in senders:
            by_nonce = self._by_sender.get(sender)
            if not by_nonce:
                continue
            account_nonce = nonce_of(sender)
            for nonce in [n for n in by_nonce if n < account_nonce]:
                entry = by_nonce[nonce]
                self._remove(entry)
                self._remember_dropped(
                    entry.tx.hash,
                    f"nonce >= {account_nonce} (the account's next) expected, found {nonce}: another transaction used it",
                )
                evicted += 1
        expiries = self._expiries
        while expiries and expiries[0][0] < next_height:
            expiry, _, tx_hash = heapq.heappop(expiries)
            entry = self._by_hash.get(tx_hash)
            if entry is not None:
                self._remove(entry)
                self._remember_dropped(
                    tx_hash, f"inclusion at height <= {expiry} expected, found next height {next_height}: expired"
                )
                evicted += 1
        self._compact_expiries()
        self.stats.evicted_on_recheck += evicted
        return Recheck(tuple(admitted_at), evicted)

    def _compact_expiries(self) -> None:
        """Rebuild the expiry heap from the pool once most of it names transactions that
        left (committed ones far from their expiry would otherwise stay in it for ever)."""
        if len(self._expiries) > 2 * len(self._by_hash) + 1024:
            self._expiries = [(e.tx.expiry_height, e.arrival, h) for h, e in self._by_hash.items()]
            heapq.heapify(self._expiries)

    # --- helpers -----------------------------------------------------------------------

    def _remove(self, entry: _Entry) -> None:
        tx = entry.tx
        del self._by_hash[tx.hash]
        by_nonce = self._by_sender[tx.sender]
        del by_nonce[tx.nonce]
        if not by_nonce:
            del self._by_sender[tx.sender]
        self._bytes -= entry.size

    def _remember_dropped(self, tx_hash: Hash32, why: str) -> None:
        self._dropped[tx_hash] = why
        while len(self._dropped) > DROPPED_MEMORY:
            self._dropped.popitem(last=False)

    def _refuse(self, tx_hash: Hash32 | None, reason: Reason, message: str) -> Admission:
        self.stats.refused[reason] = self.stats.refused.get(reason, 0) + 1
        return Admission.refused(tx_hash, reason, message)
