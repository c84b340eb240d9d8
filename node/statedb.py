"""The chain state's ``Backend`` (``chain.state``) on LevelDB, through plyvel.

It keeps what ``MemoryBackend`` keeps, under three key prefixes of one LevelDB database
(docs/storage.md): the latest value of every state key (``s:v:`` + key, an ordered index
for free, so ``scan`` is a LevelDB range scan), the content-addressed tree nodes (``s:n:`` +
node hash; the value is the height that last wrote the node, 8 bytes, then the node) and
the root (``s:root``). The root is also held in memory: views ask for it on every read.

A commit is one write batch. ``commit`` writes a batch of its own (synced); the block store
instead calls ``stage`` to add the state's writes to the block's batch, writes that batch
once, and then calls ``committed`` so the in-memory root follows. With a window
(``keep_heights``) ``stage`` also prunes, in the same batch (``node.pruning``).
"""

from __future__ import annotations

from typing import Any, Final

import plyvel

from chain.hashing import EMPTY_HASH, HASH_SIZE, Hash32
from chain.merkle import changed_nodes, key_path
from chain.state import StateChanges, StateConflict
from node.pruning import stage_pruning

VALUE_PREFIX: Final = b"s:v:"
NODE_PREFIX: Final = b"s:n:"
ROOT_KEY: Final = b"s:root"
# The layout of the stored tree nodes: 2 since every node carries the height that wrote it.
FORMAT_KEY: Final = b"s:format"
FORMAT: Final = b"\x02"
HEIGHT_SIZE: Final = 8

# Entries a generation of a read cache holds (two generations are kept): about the nodes
# one block of a few thousand readings writes.
CACHE_GENERATION: Final = 1 << 18


class _Kept:
    """A bounded memory of recent entries: the current generation and the one before;
    a full current generation becomes the one before, and the oldest entries go."""

    __slots__ = ("current", "previous")

    def __init__(self) -> None:
        self.current: dict[bytes, Any] = {}
        self.previous: dict[bytes, Any] = {}

    def lookup(self, key: bytes, absent: Any) -> Any:
        found = self.current.get(key, absent)
        if found is absent:
            found = self.previous.get(key, absent)
        return found

    def put(self, key: bytes, value: Any) -> None:
        current = self.current
        if len(current) >= CACHE_GENERATION:
            self.previous, self.current = current, {}
            current = self.current
        current[key] = value

    def put_all(self, items: Any) -> None:
        """``put`` of every (key, value) of ``items`` (a sized collection of pairs), in order."""
        current = self.current
        if len(current) + len(items) <= CACHE_GENERATION:
            current.update(items)  # the same as one put after another: none of them rotates
            return
        for key, value in items:
            self.put(key, value)


_ABSENT: Final = object()


def open_database(path: str) -> plyvel.DB:
    """The node's LevelDB database at ``path``, created if missing.

    Without compression: most of what a node writes is hashes and signatures (tree nodes,
    transactions), which Snappy cannot shrink, and LevelDB compresses again at every
    compaction. Replaying a benchmark's 65,750 readings into a store (bench_network's c):
    CPU per reading 274-276 -> 242-244 us (-12 %), the process's whole CPU 21.5 -> 19.1 s; the
    store 65 -> 87 MiB. Under load the nodes compacted all at once (they write the same
    data), each height in those seconds two to three times slower. A store written with
    Snappy stays readable: LevelDB marks each block with its compression."""
    return plyvel.DB(path, create_if_missing=True, compression=None)


class LevelDBBackend:
    """A ``chain.state.Backend`` over a plyvel database (shared with the block store).

    ``keep_heights``: the window of heights whose state stays readable (``None``: every
    height's, an archive).
    """

    def __init__(self, db: plyvel.DB, keep_heights: int | None = None) -> None:
        self.db = db
        if keep_heights is not None and keep_heights < 1:
            raise ValueError(f"a window of at least 1 height expected, found {keep_heights}")
        self.keep_heights = keep_heights
        stored = db.get(ROOT_KEY)
        if stored is not None and len(stored) != HASH_SIZE:
            raise ValueError(f"a {HASH_SIZE}-byte state root under {ROOT_KEY!r} expected, found {len(stored)} bytes")
        if stored is not None and db.get(FORMAT_KEY) != FORMAT:
            raise ValueError(
                f"tree nodes in layout {FORMAT.hex()} expected, found a store written by an older meterchain "
                f"(layout {(db.get(FORMAT_KEY) or bytes(1)).hex()}): move its data directory away and sync again"
            )
        self._root: Hash32 = Hash32(stored) if stored is not None else EMPTY_HASH
        # Reads kept in memory. A block's root rehashes the paths of its keys, and the next
        # block reads those same nodes again (a meter's keys are written at every reading);
        # transactions read the same accounts and contract keys again and again. A LevelDB
        # read costs far more than a dict lookup (about a tenth of a validator's time under
        # load went there). Tree nodes are content-addressed, so a kept node is never stale;
        # kept values (``None``: the key is absent) follow every commit made through this
        # backend (``committed``), the only writer of its keys.
        self._nodes = _Kept()
        self._values = _Kept()
        self._deleted: list[bytes] = []  # nodes the batch being written deletes

    @classmethod
    def open(cls, path: str) -> LevelDBBackend:
        return cls(open_database(path))

    def close(self) -> None:
        self.db.close()

    # --- reads -------------------------------------------------------------------------

    def get_value(self, key: bytes) -> bytes | None:
        value: bytes | None = self._values.lookup(key, _ABSENT)
        if value is _ABSENT:
            value = self.db.get(VALUE_PREFIX + key)
            self._values.put(key, value)
        return value

    def scan(self, prefix: bytes, start_after: bytes, limit: int) -> list[bytes]:
        if limit <= 0:
            return []
        # Keys start with ``prefix`` and are greater than ``start_after``: begin at whichever
        # bound is higher (``start_after`` itself excluded), stop at the first key that no
        # longer starts with ``prefix``.
        if start_after >= prefix:
            iterator = self.db.iterator(start=VALUE_PREFIX + start_after, include_start=False, include_value=False)
        else:
            iterator = self.db.iterator(start=VALUE_PREFIX + prefix, include_value=False)
        full_prefix = VALUE_PREFIX + prefix
        skip = len(VALUE_PREFIX)
        out: list[bytes] = []
        with iterator:
            for stored_key in iterator:
                if not stored_key.startswith(full_prefix):
                    break
                out.append(stored_key[skip:])
                if len(out) == limit:
                    break
        return out

    def get_node(self, node_hash: bytes) -> bytes | None:
        node: bytes | None = self._nodes.lookup(node_hash, None)
        if node is None:
            stored = self.db.get(NODE_PREFIX + node_hash)
            if stored is not None:
                node = stored[HEIGHT_SIZE:]
                self._nodes.put(node_hash, node)
        return node

    def node_height(self, node_hash: bytes) -> int | None:
        """The height that last wrote the stored node (``None``: not stored)."""
        stored = self.db.get(NODE_PREFIX + node_hash)
        return None if stored is None else int.from_bytes(stored[:HEIGHT_SIZE], "big")

    def root(self) -> Hash32:
        return self._root

    # --- commits -----------------------------------------------------------------------

    def commit(self, changes: StateChanges) -> None:
        """Write ``changes`` in one synced batch (the state alone, without a block)."""
        with self.db.write_batch(transaction=True, sync=True) as batch:
            self.stage(changes, batch)
        self.committed(changes)

    def stage(self, changes: StateChanges, batch: Any, height: int = 0) -> None:
        """Add ``changes``, the commit of ``height``, to ``batch`` (a plyvel write batch the
        caller writes), with the pruning of a window; raise ``StateConflict`` unless they
        build on the current root."""
        if changes.base_root != self._root:
            raise StateConflict(
                f"changes built on the head root {self._root.hex()} expected, "
                f"found changes built on {changes.base_root.hex()}"
            )
        for key in changes.deletes:
            batch.delete(VALUE_PREFIX + key)
        for key, value in changes.puts.items():
            batch.put(VALUE_PREFIX + key, value)
        nodes = changes.nodes
        self._deleted = []
        if self.keep_heights is not None:
            nodes = dict(nodes)
            new_nodes = changes.nodes

            def get_new(node_hash: bytes) -> bytes | None:
                return new_nodes.get(node_hash) or self.get_node(node_hash)

            paths = [key_path(key) for key in changes.puts]
            paths.extend(key_path(key) for key in changes.deletes)
            removed, added = changed_nodes(self.get_node, changes.base_root, get_new, changes.root, paths)
            # Every node the new root reaches and the old did not is stored with this height,
            # even one the tree update did not hand over (it was still stored, stale).
            for node_hash, node in added.items():
                nodes.setdefault(node_hash, node)
            self._deleted = stage_pruning(
                self.db, batch, height, self.keep_heights, sorted(removed), nodes.__contains__, self.node_height
            )
            for node_hash in self._deleted:
                batch.delete(NODE_PREFIX + node_hash)
        stamp = height.to_bytes(HEIGHT_SIZE, "big")
        for node_hash, node in nodes.items():
            batch.put(NODE_PREFIX + node_hash, stamp + node)
        batch.put(ROOT_KEY, changes.root)
        batch.put(FORMAT_KEY, FORMAT)

    def committed(self, changes: StateChanges) -> None:
        """The batch holding ``changes`` is written: the root in memory follows it, and so
        do the kept values; its nodes are kept (the next block reads many of them)."""
        self._root = changes.root
        self._values.put_all([(key, None) for key in changes.deletes])
        self._values.put_all(changes.puts.items())
        self._nodes.put_all(changes.nodes.items())
        for node_hash in self._deleted:  # a pruned node is not served from memory either
            self._nodes.current.pop(node_hash, None)
            self._nodes.previous.pop(node_hash, None)
        self._deleted = []
