"""``ChainView`` over the in-memory ``LocalChain``, for the API's in-process tests: the
same services the daemon runs, over the real chain core, without a LevelDB store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chain.hashing import Hash32
from chain.state import State
from chain.transition import MAX_TX_GAS, CallContext
from chain.types import Block, BlockHeader, Height, PublicKey, Timestamp
from node.chainview import CallOutcome, FinalizedBlock, TxLocation
from node.localchain import LocalChain


class LocalChainView:
    """``ChainView`` over an in-memory ``LocalChain``; call ``blocks_added`` after each block
    the chain appends so transactions are found by hash."""

    def __init__(self, chain: LocalChain) -> None:
        if chain.blocks:
            raise ValueError(
                f"a chain at genesis expected (its genesis header is kept here), found {len(chain.blocks)} blocks"
            )
        self.local = chain
        self.genesis: BlockHeader = chain.head
        self._tx_index: dict[bytes, tuple[int, int]] = {}
        self._indexed = 0

    @property
    def chain_id(self) -> str:
        return self.local.chain_id

    def blocks_added(self) -> None:
        for block in self.local.blocks[self._indexed :]:
            for index, tx in enumerate(block.transactions):
                self._tx_index[tx.hash] = (block.header.height, index)
        self._indexed = len(self.local.blocks)

    def head(self) -> BlockHeader:
        return self.local.head

    def block(self, height: int) -> FinalizedBlock | None:
        blocks: Sequence[Block] = self.local.blocks
        if not 1 <= height <= len(blocks):
            return None
        return FinalizedBlock(blocks[height - 1], self.local.receipts[height - 1], None)

    def block_bytes(self, height: int) -> tuple[bytes, bytes | None] | None:
        finalized = self.block(height)
        return None if finalized is None else (finalized.block.encode(), finalized.certificate)

    def find_transaction(self, tx_hash: bytes) -> TxLocation | None:
        self.blocks_added()
        where = self._tx_index.get(tx_hash)
        if where is None:
            return None
        height, index = where
        return TxLocation(height, index, self.local.receipts[height - 1][index])

    def state(self, height: int | None = None) -> State:
        head = self.local.head.height
        if height is None or height == head:
            return State.at(self.local.backend)
        if not 0 <= height <= head:
            raise LookupError(f"a height from 0 to {head} expected, found {height}")
        # Old roots stay readable: the node store keeps every tree node.
        root = self.local.blocks[height - 1].header.state_root if height else self.genesis.state_root
        return State(self.local.backend, root)

    def call(self, contract: str, function: str, args: list[Any], caller: bytes) -> CallOutcome:
        chain = self.local
        ctx = CallContext(
            PublicKey(caller), Hash32(bytes(32)), Height(chain.height), Timestamp(chain.time), chain.chain_id
        )
        result = chain.runtime.view(State.at(chain.backend), ctx, contract, function, list(args), MAX_TX_GAS)
        return CallOutcome(result.success, result.return_value, result.gas_used, result.error)
