"""The node's store of finalized blocks and the state they lead to, in one LevelDB database.

Keys (docs/storage.md has the full layout; every height is 8 bytes big-endian, so keys
sort by height):

- ``b:blk:`` + height -> the block's canonical bytes (``Block.encode``), while its body is kept
- ``b:hdr:`` + height -> the header alone, once a pruned node dropped the body (``node.bodies``)
- ``b:bfloor`` -> the lowest height whose body and receipts are kept (absent: every one)
- ``b:cert:`` + height -> the commit certificate that finalized it (consensus's bytes)
- ``b:rcpt:`` + height -> its receipts, one canonical array of receipt values
- ``b:hash:`` + block hash -> height
- ``t:`` + transaction hash -> height (8 bytes) + index in the block (4 bytes)
- ``m:genesis`` -> the genesis header (height 0); ``m:head`` -> height + block hash
- the history index of finalized events under ``h:`` (``node.history``)
- the state under ``s:`` (``node.statedb``)

The batch rule: a block, its certificate, receipts, indexes (the history's too), its state writes and the head
marker go into ONE write batch written with ``sync=True``. LevelDB applies a batch whole
or not at all, so whenever the process dies the head marker names a block whose bytes,
indexes and state are all on disk, and the state root on disk is that block's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import plyvel

from chain import codec, fast
from chain.errors import DecodeError
from chain.hashing import Hash32
from chain.state import State, StateChanges
from chain.types import Block, BlockHeader, Receipt
from node.bodies import BODY_FLOOR_KEY, HEADER_PREFIX, drop_target, stage_drops
from node.history import HISTORY_PREFIX, INDEXED_KEY, LOCATION_SIZE, Location, index_block
from node.pruning import JOURNAL_PREFIX, stored_floor
from node.statedb import LevelDBBackend, open_database

if TYPE_CHECKING:
    from node.chainview import FinalizedBlock, TxLocation

BLOCK_PREFIX: Final = b"b:blk:"
CERTIFICATE_PREFIX: Final = b"b:cert:"
RECEIPTS_PREFIX: Final = b"b:rcpt:"
HASH_PREFIX: Final = b"b:hash:"
TX_PREFIX: Final = b"t:"
GENESIS_KEY: Final = b"m:genesis"
HEAD_KEY: Final = b"m:head"
BASE_KEY: Final = b"m:base"  # a store started from a snapshot: the height of its first block


class StoreError(Exception):
    """The store was asked something impossible, or found inconsistent on disk."""


class PrunedHeight(LookupError):
    """The state of a height that left a pruned node's window: its tree nodes are gone."""


class DroppedBody(LookupError):
    """The body and receipts of a height a pruned node dropped (``node.bodies``): its header
    and certificate are still here, the rest only on an archive."""


def height_key(height: int) -> bytes:
    return height.to_bytes(8, "big")


def encode_receipts(receipts: tuple[Receipt, ...]) -> bytes:
    # FAST PATH (chain/fast.py): the array of each receipt's own encoding, without
    # ``codec.encode``'s walk over every receipt and event (a commit's largest cost).
    encoded = fast.encode_array_of_encoded([r.encode() for r in receipts])
    return codec.encode([r.to_value() for r in receipts]) if encoded is None else encoded


def decode_receipts(data: bytes) -> tuple[Receipt, ...]:
    value = codec.decode(data)
    if not isinstance(value, list):
        raise DecodeError(f"receipts: array expected, found {type(value).__name__}")
    return tuple(Receipt.from_value(v) for v in value)


@dataclass(frozen=True, slots=True)
class Head:
    height: int
    block_hash: Hash32  # the genesis header's hash at height 0


class BlockStore:
    """Finalized blocks, their certificates, receipts and transaction index, and the state.

    Open with ``BlockStore.open(path)``; a new store needs ``commit_genesis`` once. Then
    ``commit_block`` appends each finalized block. ``state_backend`` is the chain state's
    ``Backend`` (``State.at(store.state_backend)`` is the head state). ``keep_heights``:
    the state of how many last heights stays readable (``None``: every height's, an archive;
    ``node.pruning``). ``keep_blocks``: the bodies and receipts of how many last heights
    are kept (``None``: all); older ones go once every archive holds them
    (``confirm_archived``; ``node.bodies``), never before.
    """

    def __init__(self, db: plyvel.DB, keep_heights: int | None = None, keep_blocks: int | None = None) -> None:
        self.db = db
        if keep_blocks is not None and (keep_blocks < 1 or keep_heights is None or keep_blocks < keep_heights):
            # A kept state height is served as a snapshot with its block and receipts.
            raise StoreError(
                "keep_blocks of at least 1 and at least keep_heights (the block of every height whose state is "
                f"kept) expected, found keep_blocks = {keep_blocks} with keep_heights = {keep_heights}"
            )
        try:
            self.state_backend = LevelDBBackend(db, keep_heights)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        self.keep_blocks = keep_blocks
        # The highest height every archive confirmed it holds (``node.archives`` sets it;
        # not stored: after a restart nothing is dropped until an archive confirms again).
        self.archived_height = 0
        # The block last committed through this store, with its receipts: right after a
        # commit the node reads it back (mempool recheck, event stream, the API's head) and
        # decoding thousands of transactions again cost more than the commit. Blocks are
        # never rewritten, so it cannot go stale.
        self._last_commit: tuple[int, Block, tuple[Receipt, ...]] | None = None

    @classmethod
    def open(cls, path: str, keep_heights: int | None = None, keep_blocks: int | None = None) -> BlockStore:
        """The store at ``path``; ``StoreError`` if another process holds it (LevelDB's lock:
        one node per home) or LevelDB finds it corrupt."""
        try:
            db = open_database(path)
        except plyvel.IOError as exc:
            if b"lock" in str(exc).encode().lower():
                raise StoreError(
                    f"the store at {path} free expected, found it held by another process "
                    f"(is a node already running on this home?): {exc}"
                ) from None
            raise StoreError(f"a readable store at {path} expected, found: {exc}") from None
        except plyvel.CorruptionError as exc:
            raise StoreError(f"an intact store at {path} expected, found LevelDB reporting corruption: {exc}") from None
        try:
            return cls(db, keep_heights, keep_blocks)
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        self.state_backend.close()

    # --- head --------------------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        return self._get(HEAD_KEY) is not None

    def head(self) -> Head:
        stored = self._get(HEAD_KEY)
        if stored is None:
            raise StoreError("a store with a genesis expected, found an empty store (commit_genesis first)")
        return Head(int.from_bytes(stored[:8], "big"), Hash32(stored[8:]))

    def head_header(self) -> BlockHeader:
        header = self.header(self.head().height)
        assert header is not None, "the head marker is written in the same batch as its block"
        return header

    def genesis_header(self) -> BlockHeader:
        stored = self._get(GENESIS_KEY)
        if stored is None:
            raise StoreError("a store with a genesis expected, found an empty store (commit_genesis first)")
        return BlockHeader.from_value(codec.decode(stored))

    # --- commits -----------------------------------------------------------------------

    def commit_genesis(self, header: BlockHeader, state: State) -> None:
        """Store the genesis header and the genesis state (``state``'s pending writes over an
        empty backend), with the head at height 0, in one synced batch."""
        if self.initialized:
            raise StoreError(f"an empty store expected for a genesis, found one at height {self.head().height}")
        if header.height != 0 or header.state_root != state.root:
            raise StoreError(
                f"a height-0 header committing to the state root {state.root.hex()} expected, "
                f"found height {header.height} and root {header.state_root.hex()}"
            )
        changes = state.changes()
        self._write(0, changes, {GENESIS_KEY: header.encode(), HEAD_KEY: height_key(0) + header.hash})

    def commit_block(
        self, block: Block, receipts: tuple[Receipt, ...], certificate: bytes, state: State
    ) -> None:
        """Append the finalized ``block`` with its ``receipts``, its commit ``certificate``
        and ``state``, the view its application produced, in one synced batch."""
        header = block.header
        head = self.head()
        if header.height != head.height + 1 or header.parent_hash != head.block_hash:
            raise StoreError(
                f"block {head.height + 1} on parent {head.block_hash.hex()} expected, "
                f"found block {header.height} on parent {header.parent_hash.hex()}"
            )
        if header.state_root != state.root:
            raise StoreError(
                f"a state with the header's root {header.state_root.hex()} expected, found {state.root.hex()}"
            )
        if len(receipts) != len(block.transactions):
            raise StoreError(f"{len(block.transactions)} receipts expected, found {len(receipts)}")
        height = height_key(header.height)
        block_hash = header.hash
        records = {
            BLOCK_PREFIX + height: block.encode(),
            CERTIFICATE_PREFIX + height: certificate,
            RECEIPTS_PREFIX + height: encode_receipts(receipts),
            HASH_PREFIX + block_hash: height,
            HEAD_KEY: height + block_hash,
        }
        for index, tx in enumerate(block.transactions):
            records[TX_PREFIX + tx.hash] = height + index.to_bytes(4, "big")
        records.update(index_block(header.height, block, receipts))  # the history index (node.history)
        self._write(header.height, state.changes(), records, drop_to=drop_target(
            header.height, self.keep_blocks, self.archived_height))
        self._last_commit = (header.height, block, receipts)

    def confirm_archived(self, height: int) -> None:
        """Every archive holds the blocks up to ``height``: bodies up to there may go once
        they leave the window (``node.bodies``)."""
        self.archived_height = height

    def commit_snapshot(
        self, block: Block, receipts: tuple[Receipt, ...], certificate: bytes, values: dict[bytes, bytes]
    ) -> None:
        """Start a store that holds only its genesis from a snapshot (state sync): the
        finalized ``block`` of height H with its ``receipts`` and ``certificate``, and
        ``values``, every key of the state after H (the caller checked them against H's
        certificate and state root). Blocks below H are not stored (``base``); the store
        goes on from H + 1 like any other. One synced batch."""
        header = block.header
        head = self.head()
        if head.height != 0:
            raise StoreError(f"a store holding only its genesis expected for a snapshot, found one at height {head.height}")
        if header.height < 1:
            raise StoreError(f"a snapshot of a height of at least 1 expected, found height {header.height}")
        if len(receipts) != len(block.transactions):
            raise StoreError(f"{len(block.transactions)} receipts expected, found {len(receipts)}")
        backend = self.state_backend
        writes: dict[bytes, bytes | None] = {key: None for key in backend.scan(b"", b"", 1 << 62) if key not in values}
        writes.update(values)
        state = State.at(backend).with_writes(writes)
        if state.root != header.state_root:
            raise StoreError(
                f"a snapshot with block {header.height}'s state root {header.state_root.hex()} expected, found {state.root.hex()}"
            )
        height = height_key(header.height)
        records = {
            BLOCK_PREFIX + height: block.encode(),
            CERTIFICATE_PREFIX + height: certificate,
            RECEIPTS_PREFIX + height: encode_receipts(receipts),
            HASH_PREFIX + header.hash: height,
            HEAD_KEY: height + header.hash,
            BASE_KEY: height,
        }
        for index, tx in enumerate(block.transactions):
            records[TX_PREFIX + tx.hash] = height + index.to_bytes(4, "big")
        records.update(index_block(header.height, block, receipts))
        self._write(header.height, state.changes(), records)

    def snapshot_height(self) -> int:
        """The height of the snapshot this store started from (it holds the blocks from
        there on), or 0 for a store that holds the chain from genesis."""
        stored = self._get(BASE_KEY)
        return 0 if stored is None else int.from_bytes(stored, "big")

    def _write(self, height: int, changes: StateChanges, records: dict[bytes, bytes], drop_to: int = 0) -> None:
        with self.db.write_batch(transaction=True, sync=True) as batch:
            self.state_backend.stage(changes, batch, height)
            for key, value in records.items():
                batch.put(key, value)
            floor = self.bodies_from()
            if drop_to >= floor:
                stage_drops(batch, floor, drop_to, self._stored_body, self._body_keys, lambda h: TX_PREFIX + h)
        self.state_backend.committed(changes)

    def _body_keys(self, height: int) -> tuple[bytes, bytes]:
        return BLOCK_PREFIX + height_key(height), RECEIPTS_PREFIX + height_key(height)

    def _stored_body(self, height: int) -> tuple[Block, tuple[Receipt, ...]] | None:
        block, receipts = self._get(BLOCK_PREFIX + height_key(height)), self._get(RECEIPTS_PREFIX + height_key(height))
        if block is None or receipts is None:
            return None
        return Block.decode(block), decode_receipts(receipts)

    # --- reads -------------------------------------------------------------------------

    def bodies_from(self) -> int:
        """The lowest height whose block body and receipts this store holds (1 until a
        pruned node dropped some; a snapshot's height on a store started from one)."""
        stored = self._get(BODY_FLOOR_KEY)
        return int.from_bytes(stored, "big") if stored is not None else max(1, self.snapshot_height())

    def header(self, height: int) -> BlockHeader | None:
        """The header of ``height``, kept for every height from the genesis (or the
        snapshot) to the head, body dropped or not."""
        if height == 0:
            return self.genesis_header()
        stored = self._get(HEADER_PREFIX + height_key(height)) if height >= 1 else None
        if stored is not None:
            return BlockHeader.from_value(codec.decode(stored))
        block = self.block(height)
        return None if block is None else block.header

    def describe_bodies(self) -> str:
        low, high = self.bodies_from(), self.head().height
        if self.keep_blocks is None:
            mode = "every body kept"
        else:
            mode = f"keep_blocks = {self.keep_blocks}, older ones dropped once an archive holds them"
        return f"the bodies and receipts of heights {low} to {high} ({mode}) and the header and certificate of every height"

    def _dropped(self, height: int) -> DroppedBody | None:
        """``DroppedBody`` if ``height``'s body was dropped here (its header is kept)."""
        if not 1 <= height < self.bodies_from() or self._get(HEADER_PREFIX + height_key(height)) is None:
            return None
        return DroppedBody(
            f"block {height}'s body and receipts expected, found them dropped by this pruned node: it keeps "
            f"{self.describe_bodies()}; ask an archive node (a regulator's) for block {height}"
        )

    def block(self, height: int) -> Block | None:
        last = self._last_commit
        if last is not None and last[0] == height:
            return last[1]
        stored = self._get(BLOCK_PREFIX + height_key(height)) if height >= 1 else None
        return Block.decode(stored) if stored is not None else None

    def block_bytes(self, height: int) -> bytes | None:
        """The canonical bytes of the block at ``height`` as stored, not decoded (what a
        block batch serves: decoding it cost the server more than the reader's apply)."""
        last = self._last_commit
        if last is not None and last[0] == height:
            return last[1].encode()
        return self._get(BLOCK_PREFIX + height_key(height)) if height >= 1 else None

    def certificate(self, height: int) -> bytes | None:
        return self._get(CERTIFICATE_PREFIX + height_key(height)) if height >= 1 else None

    def receipts(self, height: int) -> tuple[Receipt, ...] | None:
        last = self._last_commit
        if last is not None and last[0] == height:
            return last[2]
        stored = self._get(RECEIPTS_PREFIX + height_key(height)) if height >= 1 else None
        return decode_receipts(stored) if stored is not None else None

    def height_of(self, block_hash: bytes) -> int | None:
        stored = self._get(HASH_PREFIX + block_hash)
        return int.from_bytes(stored, "big") if stored is not None else None

    def finalized_block(self, height: int) -> FinalizedBlock | None:
        """The block at ``height`` with its receipts and certificate (``node.chainview``)."""
        # Imported here: node.chainview imports the VM (for its in-memory chain view), which
        # a process that only stores blocks, like the crash tests' children, does not need.
        from node.chainview import FinalizedBlock

        block = self.block(height)
        if block is None:
            dropped = self._dropped(height)
            if dropped is not None:
                raise dropped
            return None
        receipts = self.receipts(height)
        if receipts is None:  # dropped in the instant between the two reads
            raise self._dropped(height) or StoreError(f"block {height}'s receipts expected, found none")
        return FinalizedBlock(block, receipts, self.certificate(height))

    def find_transaction(self, tx_hash: bytes) -> TxLocation | None:
        from node.chainview import TxLocation  # see finalized_block

        stored = self._get(TX_PREFIX + tx_hash)
        if stored is None:
            return None
        height, index = int.from_bytes(stored[:8], "big"), int.from_bytes(stored[8:], "big")
        receipts = self.receipts(height)
        if receipts is None:  # its body dropped in the instant between the two reads
            return None
        return TxLocation(height, index, receipts[index])

    def kept_heights(self) -> tuple[int, int]:
        """The lowest and the highest height whose state this store can read: from genesis
        on an archive, the window's on a pruned node (a window made larger keeps what it
        has until it fills)."""
        return max(stored_floor(self.db), self.snapshot_height()), self.head().height

    def describe_kept(self) -> str:
        low, high = self.kept_heights()
        keep = self.state_backend.keep_heights
        mode = "an archive: every height's state kept" if keep is None else f"pruned, keep_heights = {keep}"
        if self.snapshot_height():
            mode += f"; started from a snapshot of height {self.snapshot_height()}, no block below it stored"
        return f"the state of heights {low} to {high} ({mode})"

    def state(self, height: int | None = None) -> State:
        """The state after block ``height`` (the head when ``None``); an old root is read
        through its tree nodes, kept for every height on an archive and for the window's
        heights on a pruned node. ``LookupError`` beyond the head, ``PrunedHeight`` (a
        ``LookupError``) below the window."""
        head = self.head().height
        if height is None or height == head:
            return State.at(self.state_backend)
        if not 0 <= height <= head:
            raise LookupError(f"a height from 0 to {head} expected, found {height}")
        low, _ = self.kept_heights()
        if height < low:
            raise PrunedHeight(
                f"the state of a kept height expected, found height {height}, whose state this node pruned: "
                f"it keeps {self.describe_kept()}; ask an archive node (a regulator's) for older heights"
            )
        header = self.header(height)
        assert header is not None, "every height's header is kept"
        return State(self.state_backend, header.state_root)

    # --- recovery check ----------------------------------------------------------------

    def check_head(self) -> None:
        """Raise ``StoreError`` unless the head names a stored block (or the genesis) with its
        certificate and receipts, whose state root is the committed root, and nothing is
        stored beyond it: the cheap check for every start (constant time)."""
        head = self.head()
        header = self.head_header()
        if header.hash != head.block_hash:
            raise StoreError(f"head block hash {head.block_hash.hex()} expected, found {header.hash.hex()}")
        if head.height and (self.certificate(head.height) is None or self.receipts(head.height) is None):
            raise StoreError(f"block {head.height}'s certificate and receipts expected, found one missing")
        root = self.state_backend.root()
        if root != header.state_root:
            raise StoreError(f"committed state root {header.state_root.hex()} expected, found {root.hex()}")
        if self._get(BLOCK_PREFIX + height_key(head.height + 1)) is not None:
            raise StoreError(f"nothing stored beyond the head {head.height} expected, found block {head.height + 1}")

    def check_consistency(self) -> None:
        """``check_head``, and every height up to the head has a header linked to its
        parent, a certificate and its hash indexed; every height from the body floor on its
        body and receipts, none below it; the pruning journals wait above the kept floor;
        every transaction and history index entry points at a kept block (linear in the
        chain: for tests and audits)."""
        self.check_head()
        head = self.head()
        base = self.snapshot_height()
        bodies_from = self.bodies_from()
        parent = self.genesis_header()
        if base:  # started from a snapshot: the chain is checked from its first block on
            first = self.header(base)
            if first is None:
                raise StoreError(f"the snapshot's block {base} expected, found none")
            parent = first
        for height in range(base + 1, head.height + 1):
            header = self.header(height)
            if header is None or header.parent_hash != parent.hash:
                raise StoreError(f"block {height}'s header linked to {parent.hash.hex()} expected, found {header!r:.120}")
            if self.certificate(height) is None:
                raise StoreError(f"block {height}'s certificate expected, found none")
            if self.height_of(header.hash) != height:
                raise StoreError(f"block {height}'s hash indexed at its height expected")
            body, receipts = self._get(BLOCK_PREFIX + height_key(height)), self._get(RECEIPTS_PREFIX + height_key(height))
            if height >= bodies_from and (body is None or receipts is None):
                raise StoreError(f"block {height}'s body and receipts expected (kept from {bodies_from}), found one missing")
            if height < bodies_from and (body is not None or receipts is not None):
                raise StoreError(f"block {height}'s body dropped (kept from {bodies_from}) expected, found it stored")
            parent = header
        low = stored_floor(self.db)
        if low > head.height:
            raise StoreError(f"a kept floor at most the head {head.height} expected, found {low}")
        with self.db.iterator(prefix=JOURNAL_PREFIX, include_value=False) as journals:
            for key in journals:
                height = int.from_bytes(key[len(JOURNAL_PREFIX) :], "big")
                if not low < height <= head.height:
                    raise StoreError(
                        f"stale journals only above the kept floor {low} and up to the head {head.height} expected, "
                        f"found one of height {height}"
                    )
        with self.db.iterator(prefix=TX_PREFIX) as entries:
            for key, value in entries:
                height, index = int.from_bytes(value[:8], "big"), int.from_bytes(value[8:], "big")
                block = self.block(height) if height <= head.height else None
                if block is None or index >= len(block.transactions) or block.transactions[index].hash != key[2:]:
                    raise StoreError(f"transaction {key[2:].hex()} at block {height} index {index} expected, not found")
        with self.db.iterator(prefix=HISTORY_PREFIX, include_value=False) as keys:
            for key in keys:
                if key == INDEXED_KEY:
                    continue
                height = Location.decode(key[-LOCATION_SIZE:]).height
                if not bodies_from <= height <= head.height:
                    raise StoreError(
                        f"history entries of kept blocks ({bodies_from} to {head.height}) expected, found one of block {height}"
                    )

    def _get(self, key: bytes) -> bytes | None:
        value: bytes | None = self.db.get(key)
        return value
