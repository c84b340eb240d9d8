"""Dropping old block bodies and receipts on a pruned node, once an archive holds them
(docs/storage.md, "Block bodies and receipts").

A pruned validator keeps the bodies (transactions) and receipts of its last ``keep_blocks``
heights; below that, a height keeps only what light clients and state sync check from the
genesis on: its header (``b:hdr:``), its commit certificate (``b:cert:``) and its hash
index (``b:hash:``). With a height's body go its transaction index entries (``t:``) and
its history index entries (``h:``), so nothing points at what is gone.

A height is dropped only when both hold:

- it is below the window: ``height <= head - keep_blocks``;
- every configured archive (a regulator's node, ``[storage] archives``) confirmed it holds
  that height's block (``BlockStore.confirm_archived``, fed by ``node.archives``). With no
  archive configured nothing is dropped: a validator's bodies and receipts may be the last
  copy of a meter's readings, and a disk that grows is a visible, fixable problem where a
  lost history is not.

Everything happens in the commit's write batch (the batch rule of ``node.blockstore``), so
a node killed at any instant restarts with the bodies, indexes and the floor
(``b:bfloor``: the lowest height whose body is kept) of one and the same block. A floor
behind its target (a window made smaller, an archive confirming a long range at once) is
caught up at most ``MAX_DROPS_PER_BLOCK`` heights per block. This module only computes what
the batch holds; the store reads and writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from chain.types import Block, Receipt
from node.history import INDEXED_KEY, index_block

HEADER_PREFIX: Final = b"b:hdr:"  # + height: the header of a height whose body was dropped
BODY_FLOOR_KEY: Final = b"b:bfloor"  # the lowest height whose body and receipts are kept

# How many heights one block's batch drops at most: each is a read and a decode of a whole
# block and its receipts, so a long backlog is spread over the blocks that follow.
MAX_DROPS_PER_BLOCK: Final = 16


def drop_target(head: int, keep_blocks: int | None, archived: int) -> int:
    """The highest height whose body may go once ``head`` is committed: below the window
    of ``keep_blocks`` heights and held by every archive (``archived``); 0 for none."""
    if keep_blocks is None:
        return 0
    return max(0, min(head - keep_blocks, archived))


def stage_drops(
    batch: Any,
    floor: int,
    target: int,
    body_at: Callable[[int], tuple[Block, tuple[Receipt, ...]] | None],
    keys: Callable[[int], tuple[bytes, bytes]],
    tx_key: Callable[[bytes], bytes],
) -> int:
    """Add to ``batch`` the drop of the bodies of heights ``floor`` up to ``target`` (at most
    ``MAX_DROPS_PER_BLOCK`` of them) and return the new floor (the first height kept).

    ``body_at(h)``: height ``h``'s block and receipts as stored (``None`` if absent: a store
    started from a snapshot holds none below it); ``keys(h)``: the block's and the
    receipts' keys; ``tx_key(hash)``: a transaction's index key.
    """
    last = min(target, floor + MAX_DROPS_PER_BLOCK - 1)
    for height in range(floor, last + 1):
        found = body_at(height)
        if found is None:
            continue
        block, receipts = found
        batch.put(HEADER_PREFIX + height.to_bytes(8, "big"), block.header.encode())
        for key in keys(height):
            batch.delete(key)
        for tx in block.transactions:
            batch.delete(tx_key(tx.hash))
        for key in index_block(height, block, receipts):
            if key != INDEXED_KEY:
                batch.delete(key)
    new_floor = max(floor, last + 1)
    if new_floor != floor:
        batch.put(BODY_FLOOR_KEY, new_floor.to_bytes(8, "big"))
    return new_floor
