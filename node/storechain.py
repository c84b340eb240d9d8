"""The node's chain on disk: its LevelDB block store opened against the network's genesis,
and the ``ChainView`` the API, the mempool and block sync read it through.

``open_chain`` opens ``DATA_DIR/db``; a new store gets the genesis built from the genesis
document, a store that has one must have exactly that genesis (the header hashes are
compared: a node pointed at another network's data stops before it serves anything), and
``check_head`` runs at every start (docs/storage.md, recovery).

``StoredChainView`` serves reads from the store. A read-only contract call runs the VM,
which can take long: it reads a LevelDB snapshot (a consistent head even while blocks
commit), so the caller may run it in a worker thread (the API does, with
``asyncio.to_thread``) and consensus on the event loop is never stalled by it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from chain.hashing import Hash32
from chain.state import MemoryBackend, State
from chain.transition import MAX_TX_GAS, CallContext
from chain.types import BlockHeader, Height, PublicKey, Timestamp
from node.blockstore import HEAD_KEY, BlockStore, StoreError
from node.chainview import CallOutcome, FinalizedBlock, TxLocation
from node.config import NodeConfig
from node.genesis import GenesisDocument
from node.history import catch_up
from node.statedb import LevelDBBackend
from vm.runtime import VMRuntime

STORE_DIR: Final = "db"


class GenesisMismatch(StoreError):
    """The store holds the genesis of another network (or another genesis document)."""


def store_path(config: NodeConfig) -> Path:
    return config.data_dir / STORE_DIR


def open_store(
    path: Path, genesis: GenesisDocument, keep_heights: int | None = None, keep_blocks: int | None = None
) -> BlockStore:
    """Open (or create) the block store at ``path`` for the network of ``genesis``, pruned
    to a window of ``keep_heights`` heights (and the bodies of ``keep_blocks``, once
    archived) or an archive (``None``)."""
    path.mkdir(parents=True, exist_ok=True)
    store = BlockStore.open(str(path), keep_heights, keep_blocks)
    try:
        if not store.initialized:
            state, header = genesis.build(store.state_backend)
            store.commit_genesis(header, state)
        else:
            _, expected = genesis.build(MemoryBackend())
            found = store.genesis_header()
            if found.hash != expected.hash:
                raise GenesisMismatch(
                    f"the store at {path} holds genesis {found.hash.hex()}, but the genesis document of chain "
                    f"{genesis.chain_id!r} builds genesis {expected.hash.hex()}: a store of this network "
                    "expected (move the data directory away to start over)"
                )
            store.check_head()
            # A store written before the history index existed gets it now (node.history).
            catch_up(store.db, store.head().height, lambda h: (store.block(h), store.receipts(h)))
    except BaseException:
        store.close()
        raise
    return store


def open_chain(config: NodeConfig, genesis: GenesisDocument) -> BlockStore:
    """The node's block store (``DATA_DIR/db``), holding ``genesis``'s genesis."""
    if genesis.chain_id != config.chain_id:
        raise GenesisMismatch(
            f"a genesis document of chain {config.chain_id!r} (node.toml) expected, found chain {genesis.chain_id!r}"
        )
    return open_store(store_path(config), genesis, config.keep_heights, config.keep_blocks)


class StoredChainView:
    """``node.chainview.ChainView`` over the node's ``BlockStore``."""

    def __init__(self, store: BlockStore, chain_id: str, runtime: VMRuntime | None = None) -> None:
        self.store = store
        self._chain_id = chain_id
        self.runtime = runtime or VMRuntime()
        self._head = store.head_header()

    @property
    def chain_id(self) -> str:
        return self._chain_id

    def blocks_added(self) -> None:
        """Nothing to index: the store indexes each block in its own batch. (Kept so the
        daemon treats every view alike.)"""

    def head(self) -> BlockHeader:
        # One LevelDB read to see whether a block was committed since the header was cached.
        if self.store.head().block_hash != self._head.hash:
            self._head = self.store.head_header()
        return self._head

    def block(self, height: int) -> FinalizedBlock | None:
        return self.store.finalized_block(height)

    def block_bytes(self, height: int) -> tuple[bytes, bytes | None] | None:
        raw = self.store.block_bytes(height)
        if raw is None:
            # No body: beyond the head, or one a pruned node dropped, which ``block``
            # answers as it answers every read of it.
            self.block(height)
            return None
        return raw, self.store.certificate(height)

    def find_transaction(self, tx_hash: bytes) -> TxLocation | None:
        return self.store.find_transaction(tx_hash)

    def state(self, height: int | None = None) -> State:
        return self.store.state(height)

    def call(self, contract: str, function: str, args: list[Any], caller: bytes) -> CallOutcome:
        """A read-only call at the head, over a snapshot of the database: safe in a worker
        thread while the event loop commits blocks."""
        snapshot = self.store.db.snapshot()
        try:
            head = self._snapshot_head(snapshot)
            state = State.at(LevelDBBackend(snapshot))
            ctx = CallContext(
                PublicKey(caller), Hash32(bytes(32)), Height(head.height), Timestamp(head.time), self._chain_id
            )
            result = self.runtime.view(state, ctx, contract, function, list(args), MAX_TX_GAS)
        finally:
            snapshot.close()
        return CallOutcome(result.success, result.return_value, result.gas_used, result.error)

    def _snapshot_head(self, snapshot: Any) -> BlockHeader:
        stored = snapshot.get(HEAD_KEY)
        height = int.from_bytes(stored[:8], "big")
        if height == self._head.height:
            return self._head
        block = self.store.block(height)  # blocks are never rewritten: any read finds it
        return self.store.genesis_header() if block is None else block.header
