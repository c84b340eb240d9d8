"""Blocks for the storage tests: real signed transactions and headers whose roots are the
real roots of the state they lead to, without the VM (the store never runs contracts).

Each transaction writes its sender's nonce and one meter reading, and sometimes deletes an
older reading, so blocks both add and remove state keys.
"""

from __future__ import annotations

import random

from chain import codec
from chain.hashing import EMPTY_HASH
from chain.signatures import keypair_from_seed, sign_transaction
from chain.state import State
from chain.transition import receipts_root, tx_root
from chain.types import (
    KIND_CALL,
    STATUS_SUCCESS,
    Block,
    BlockHeader,
    Gas,
    Height,
    Nonce,
    PublicKey,
    Receipt,
    Signature,
    Timestamp,
    Transaction,
)

CHAIN_ID = "meterchain-storage-test"
SEEDS = [bytes([i + 1]) * 32 for i in range(4)]
KEYS = [keypair_from_seed(seed)[1] for seed in SEEDS]


def genesis(state: State) -> tuple[BlockHeader, State]:
    """A genesis header over ``state`` with one account per test key."""
    view = state.with_writes({b"n/" + key: codec.encode(0) for key in KEYS})
    header = BlockHeader(
        Height(0), EMPTY_HASH, Timestamp(1_735_689_600), PublicKey(bytes(32)), EMPTY_HASH, view.root, EMPTY_HASH, EMPTY_HASH,
        EMPTY_HASH, EMPTY_HASH,
    )
    return header, view


def next_block(state: State, parent: BlockHeader, rng: random.Random, count: int) -> tuple[Block, tuple[Receipt, ...], State]:
    """Block ``parent.height + 1`` with ``count`` transactions from random senders."""
    height = parent.height + 1
    txs: list[Transaction] = []
    receipts: list[Receipt] = []
    for _ in range(count):
        who = rng.randrange(len(SEEDS))
        sender = KEYS[who]
        nonce = codec.decode(state.get(b"n/" + sender) or codec.encode(0))
        reading = rng.randrange(10**6)
        unsigned = Transaction(
            CHAIN_ID, sender, Nonce(nonce), Height(height + 10), Gas(100_000), KIND_CALL,
            ["meters", "read", [reading]], Signature(bytes(64)),
        )  # fmt: skip
        tx = sign_transaction(unsigned, SEEDS[who])
        writes: dict[bytes, bytes | None] = {
            b"n/" + sender: codec.encode(nonce + 1),
            b"r/" + sender[:4] + height.to_bytes(8, "big"): codec.encode(reading),
        }
        if height > 2 and rng.random() < 0.3:
            writes[b"r/" + sender[:4] + rng.randrange(1, height - 1).to_bytes(8, "big")] = None
        state = state.with_writes(writes)
        txs.append(tx)
        receipts.append(Receipt(tx.hash, STATUS_SUCCESS, Gas(21_000), (), ""))
    header = BlockHeader(
        Height(height), parent.hash, Timestamp(parent.time + 1), KEYS[height % len(KEYS)],
        tx_root(tuple(txs)), state.root, receipts_root(tuple(receipts)), EMPTY_HASH, EMPTY_HASH, EMPTY_HASH,
    )  # fmt: skip
    return Block(header, tuple(txs), b""), tuple(receipts), state


def certificate_for(header: BlockHeader) -> bytes:
    """Stand-in certificate bytes: the store keeps a certificate's bytes, whatever they are."""
    return codec.encode(["certificate", header.height, header.hash])
