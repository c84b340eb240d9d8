"""Pruning the state tree: a node keeps the state of its last ``keep_heights`` heights and
deletes the tree nodes that no kept root reaches (docs/storage.md, "Pruning").

Tree nodes are content-addressed, so a node that went stale at one height can be written
again, identical, at a later one (a meter's value going back to what it was, an account
back to the same balance). Deleting "what height ``h`` replaced" once ``h`` leaves the
window would then delete a node a live root needs. The scheme here:

- every stored node carries the height that last wrote it (``node.statedb``: the node's
  value is ``height (8 bytes) | node``): a node written again is stored again, with the
  new height;
- each commit at height ``h`` records the nodes its root no longer reaches, the stale
  journal of ``h`` (``s:j:`` + height: the node hashes, concatenated);
- a journal of height ``h`` is processed once ``h - 1`` leaves the window; a node in it is
  deleted only if the height that last wrote it is at most ``h``. If it is later, the node
  was written again after it went stale and is live in a later root; should it go stale
  again, a later journal holds it, and that journal deletes it.

Everything happens in the block's write batch, so a node killed at any instant restarts
with the journals, the deletions and the kept floor (``s:floor``: the lowest height whose
state is whole) of the same block. This module only computes what the batch holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

import plyvel

from chain.hashing import HASH_SIZE

JOURNAL_PREFIX: Final = b"s:j:"
FLOOR_KEY: Final = b"s:floor"

# How many journals one block's batch processes at most: a window made smaller between
# two runs is caught up over several blocks instead of in one huge batch.
MAX_JOURNALS_PER_BLOCK: Final = 64


def height_bytes(height: int) -> bytes:
    return height.to_bytes(8, "big")


def journal_key(height: int) -> bytes:
    return JOURNAL_PREFIX + height_bytes(height)


def stored_floor(db: Any) -> int:
    """The lowest height whose state is whole (0 when nothing was ever pruned)."""
    stored = db.get(FLOOR_KEY)
    return 0 if stored is None else int.from_bytes(stored, "big")


def split_journal(data: bytes) -> list[bytes]:
    if len(data) % HASH_SIZE:
        raise ValueError(f"a journal of {HASH_SIZE}-byte node hashes expected, found {len(data)} bytes")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def stage_pruning(
    db: plyvel.DB,
    batch: Any,
    height: int,
    keep_heights: int,
    removed: Iterable[bytes],
    written: Callable[[bytes], bool],
    node_height: Callable[[bytes], int | None],
) -> list[bytes]:
    """Add to ``batch`` (the commit of ``height``) its stale journal, the removal of the
    journals that fall out of a window of ``keep_heights`` heights and the new floor;
    returns the nodes those journals free, which the caller deletes in the same batch.

    ``removed``: the nodes the root of ``height`` no longer reaches; ``written(h)``:
    whether this batch writes node ``h`` (then it is live at ``height``, never deleted);
    ``node_height(h)``: the height that last wrote the stored node ``h`` (``None``: gone).
    """
    if keep_heights < 1:
        raise ValueError(f"a window of at least 1 height expected, found {keep_heights}")
    removed = list(removed)
    floor = stored_floor(db)
    # The state of ``height - keep_heights + 1`` is the oldest kept: the nodes that went
    # stale at that height or before (the journals up to it) are reached by no kept root.
    target = height - keep_heights + 1
    deleted: list[bytes] = []
    if target <= floor:
        if removed:
            batch.put(journal_key(height), b"".join(removed))
        return deleted

    def prune(journal_height: int, nodes: Iterable[bytes]) -> None:
        for node in nodes:
            if written(node):
                continue
            last = node_height(node)
            if last is not None and last <= journal_height:
                deleted.append(node)

    processed = 0
    new_floor = target
    with db.iterator(start=journal_key(floor + 1), stop=journal_key(min(target, height - 1) + 1)) as journals:
        for key, value in journals:
            journal_height = int.from_bytes(key[len(JOURNAL_PREFIX) :], "big")
            if processed == MAX_JOURNALS_PER_BLOCK:
                new_floor = journal_height - 1
                break
            prune(journal_height, split_journal(value))
            batch.delete(key)
            processed += 1
    if target >= height and new_floor == target:
        prune(height, removed)  # a window of one height: this block's own journal, at once
    elif removed:
        batch.put(journal_key(height), b"".join(removed))
    batch.put(FLOOR_KEY, height_bytes(new_floor))
    return deleted
