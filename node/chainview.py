"""What the node's services read of the chain: a small interface over finalized blocks.

The API, the mempool's nonce checks and block sync need five things: the head, a finalized
block by height (with its receipts and commit certificate), where a transaction was
included, the state at a height (to read and prove keys), and a read-only contract call.
``ChainView`` names them; the node's LevelDB store implements it (``node.storechain``), and
the API's in-process tests implement it over the in-memory ``LocalChain``, so every service
is exercised against the real chain core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chain.state import State
from chain.transition import get_nonce
from chain.types import Block, BlockHeader, Receipt


@dataclass(frozen=True, slots=True)
class FinalizedBlock:
    block: Block
    receipts: tuple[Receipt, ...]
    certificate: bytes | None  # the canonical commit certificate; None for a local chain


@dataclass(frozen=True, slots=True)
class TxLocation:
    height: int
    index: int
    receipt: Receipt


@dataclass(frozen=True, slots=True)
class CallOutcome:
    success: bool
    return_value: Any
    gas_used: int
    error: str


class ChainView(Protocol):
    @property
    def chain_id(self) -> str: ...

    def head(self) -> BlockHeader:
        """The header of the last finalized block (the genesis header at height 0)."""
        ...

    def block(self, height: int) -> FinalizedBlock | None:
        """The finalized block at ``height`` (1 and up), or ``None`` beyond the head."""
        ...

    def block_bytes(self, height: int) -> tuple[bytes, bytes | None] | None:
        """The canonical bytes of the finalized block at ``height`` and of its certificate,
        not decoded (block batches for sync), or ``None`` beyond the head."""
        ...

    def find_transaction(self, tx_hash: bytes) -> TxLocation | None: ...

    def state(self, height: int | None = None) -> State:
        """The state after block ``height`` (the head when ``None``); raises ``LookupError``
        for a height beyond the head."""
        ...

    def call(self, contract: str, function: str, args: list[Any], caller: bytes) -> CallOutcome:
        """A read-only contract call at the head; never changes anything."""
        ...


def account_nonce(view: ChainView, account: bytes) -> int:
    """The account's next nonce at the head (what the mempool compares against)."""
    return get_nonce(view.state(), account)
