"""The chain's key-value state: committed storage, immutable views, and their Merkle root.

A ``Backend`` holds the committed state: the latest value of every key, an ordered key index
for prefix scans (``chain.scans``; not committed to: the tree is over hashed keys), the content-addressed
tree nodes (``chain.merkle``) and the root. ``MemoryBackend`` keeps them in dicts; the
node's LevelDB backend implements the same five methods.

A ``State`` is an immutable view: a committed root plus pending writes. The state rule of
the whole code base: a transition never mutates the ``State`` it is given; ``with_writes``
returns a new view, and the node commits the last view's ``changes()`` to its backend in one
atomic batch. Reads fall through the pending writes to the backend, or, for a view whose root
is no longer the backend's head, to the tree at that root, so old roots stay readable.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from types import MappingProxyType
from typing import Final, Protocol

from chain import merkle
from chain.hashing import EMPTY_HASH, Hash32
from chain.merkle import MAX_KEY_SIZE, MissingNode, Proof, StateError, verify_proof
from chain.scans import KeyIndex, ScanBudget, ScanBudgetExceeded, merge_scan, starting_with

__all__ = [
    "MAX_KEY_SIZE",
    "Backend",
    "MemoryBackend",
    "MissingNode",
    "Proof",
    "ScanBudget",
    "ScanBudgetExceeded",
    "StaleState",
    "State",
    "StateChanges",
    "StateConflict",
    "StateError",
    "verify_proof",
]

# A value no write map holds (``None`` is a pending delete).
_ABSENT: Final = object()

class StateConflict(StateError):
    """A commit built on a root that is no longer the backend's head."""


class StaleState(StateError):
    """An operation that needs the backend's head, asked of a view of an older root."""


@dataclass(frozen=True, slots=True)
class StateChanges:
    """Everything one commit writes, computed from a view: applied all at once or not at all.

    ``base_root`` is the root the view was built on; a backend refuses the changes unless it
    is still its head (so two transitions from one root cannot both commit).
    """

    base_root: Hash32
    root: Hash32
    puts: Mapping[bytes, bytes]
    deletes: frozenset[bytes]
    nodes: Mapping[bytes, bytes]


class Backend(Protocol):
    """Committed storage. Keys, values and nodes are bytes, so any ordered KV store fits."""

    def get_value(self, key: bytes) -> bytes | None:
        """The latest committed value of ``key``."""
        ...

    def scan(self, prefix: bytes, start_after: bytes, limit: int) -> list[bytes]:
        """Up to ``limit`` committed keys starting with ``prefix`` and greater than
        ``start_after``, in ascending byte order."""
        ...

    def get_node(self, node_hash: bytes) -> bytes | None: ...

    def root(self) -> Hash32:
        """The committed root (``EMPTY_HASH`` for an empty state). Views call this on every
        read to know whether they are still the head, so keep it in memory."""
        ...

    def commit(self, changes: StateChanges) -> None:
        """Apply values, deletes, nodes and the new root atomically; raise ``StateConflict``
        if ``changes.base_root`` is not the current root."""
        ...


class MemoryBackend:
    """A ``Backend`` in dicts, with a chunked sorted list as the key index."""

    def __init__(self) -> None:
        self._values: dict[bytes, bytes] = {}
        self._keys = KeyIndex()  # the same keys as ``_values``, ascending
        self._nodes: dict[bytes, bytes] = {}
        self._root: Hash32 = EMPTY_HASH
        self._bind_reads()

    def _bind_reads(self) -> None:
        # ``get_value`` and ``get_node`` are the dicts' own ``get``, not methods calling it:
        # every state read and every tree node an update walks goes through one of them.
        self.get_value: Callable[[bytes], bytes | None] = self._values.get
        self.get_node: Callable[[bytes], bytes | None] = self._nodes.get

    # A copy (``copy.deepcopy`` of a local chain, pickling) binds its reads to its own dicts:
    # ``copy`` takes bound methods of built-in types as they are, still on the original's.
    def __getstate__(self) -> dict[str, object]:
        state = dict(vars(self))
        del state["get_value"], state["get_node"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        vars(self).update(state)
        self._bind_reads()

    def scan(self, prefix: bytes, start_after: bytes, limit: int) -> list[bytes]:
        if limit <= 0:
            return []
        return self._keys.scan(prefix, start_after, limit)

    def root(self) -> Hash32:
        return self._root

    def commit(self, changes: StateChanges) -> None:
        if changes.base_root != self._root:
            raise StateConflict(
                f"changes built on the head root {self._root.hex()} expected, "
                f"found changes built on {changes.base_root.hex()}"
            )
        # Everything that can fail is checked above; from here on nothing raises, so the
        # commit is all or nothing.
        values = self._values
        removed = {k for k in changes.deletes if k in values}
        added = sorted(k for k in changes.puts if k not in values)
        self._keys.update(added, removed, len(values))
        for key in removed:
            del values[key]
        values.update(changes.puts)
        self._nodes.update(changes.nodes)
        self._root = changes.root

    def __len__(self) -> int:
        return len(self._values)


Writes = Mapping[bytes, bytes | None]  # key -> new value, or None to delete



class _Memo:
    """What a view computes at most once (a view is immutable, so this never goes stale)."""

    __slots__ = ("flat", "nodes", "pending_keys", "root")

    def __init__(self) -> None:
        self.flat: Writes | None = None
        self.pending_keys: list[bytes] | None = None
        self.root: Hash32 | None = None
        self.nodes: dict[bytes, bytes] = {}


class StateReads(Protocol):
    """What executing a transaction reads: a ``State`` or a ``WriteBuffer`` over one. The
    one state-read interface of the chain and the VM."""

    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, prefix: bytes, start_after: bytes, limit: int, budget: ScanBudget | None = None) -> list[bytes]:
        """Up to ``limit`` keys starting with ``prefix``, greater than ``start_after``,
        ascending. Costs O(log n) plus the keys visited, which ``budget`` counts (and
        bounds) when given; a visited key is a returned key, a pending delete passed
        over, or the committed key it hides."""
        ...


class WriteBuffer:
    """Writes over a view that reads see first: a block's transactions so far over the view
    the block starts from (and, in the VM, one call's writes over the block's buffer).

    Executing a block reads what its earlier transactions wrote. Making a new immutable
    ``State`` per transaction costs a copy of the writes and a longer walk for every read;
    one block's execution owns a buffer instead, which only grows and is never shared, and
    ``state()`` makes the immutable view at the end.

    Its written keys are also kept in order, so a prefix scan costs O(log n) plus the keys
    it visits, never a sort of every key written so far. Keys are indexed at the first scan
    after they were written, all of them at once: a block whose transactions never scan (a
    meter reading's billing step) never sorts a key, and one that does sorts each key once.

    What a scan visits is counted in its ``budget`` where it is the same on every node: the
    entries of write buffers (this call's, this block's: the same transactions wrote them)
    and the keys fetched from the view the block starts from (its logical content is the
    same). That view's own pending writes are not counted: a node that has not committed
    the previous block holds as pending writes what another node has committed.
    """

    __slots__ = ("_index", "_unindexed", "base", "writes")

    def __init__(self, base: StateReads) -> None:
        self.base = base
        self.writes: dict[bytes, bytes | None] = {}
        # The keys of ``writes`` that are indexed, ascending; made by the first scan (most
        # buffers, one per contract call, are never scanned).
        self._index: KeyIndex | None = None
        self._unindexed: list[bytes] = []  # keys of ``writes`` not yet in ``_index``

    def get(self, key: bytes) -> bytes | None:
        writes = self.writes
        return writes[key] if key in writes else self.base.get(key)

    def set(self, key: bytes, value: bytes | None) -> None:
        """Write ``value`` (``None`` deletes) under ``key``; indexed at the next scan."""
        if key not in self.writes:
            self._unindexed.append(key)
        self.writes[key] = value

    def apply(self, writes: Writes) -> None:
        """Write a whole map (a transaction's writes); its new keys are indexed at the next scan."""
        own = self.writes
        before = len(own)
        own.update(writes)
        # The new keys are the last ones in the dict's insertion order, taken from its end:
        # no walk over the block's keys so far, no Python loop per key.
        added = len(own) - before
        if added:
            self._unindexed.extend(islice(reversed(own), added))

    def scan(self, prefix: bytes, start_after: bytes, limit: int, budget: ScanBudget | None = None) -> list[bytes]:
        index = self._index
        if index is None:
            index = self._index = KeyIndex()
        if self._unindexed:
            # Each key is indexed once; a batch larger than an eighth of the index merges in
            # one linear pass, so indexing costs O(log n) amortized per written key.
            added = sorted(self._unindexed)
            index.update(added, set(), len(self.writes) - len(added))
            self._unindexed.clear()
        writes = self.writes
        base = self.base
        if isinstance(base, WriteBuffer):
            # The buffer below counts its own visits: its entries and what it fetches.
            def fetch(cursor: bytes, n: int) -> list[bytes]:
                return base.scan(prefix, cursor, n, budget)

            count_fetched = False
        else:
            def fetch(cursor: bytes, n: int) -> list[bytes]:
                return base.scan(prefix, cursor, n)

            count_fetched = True
        return merge_scan(
            fetch,
            index.iter_from(prefix, start_after),
            lambda k: writes[k] is not None,
            start_after,
            limit,
            budget,
            count_fetched,
        )

    def state(self) -> State:
        """The immutable view of the base (a ``State``) with these writes."""
        base = self.base
        if not isinstance(base, State):
            raise TypeError(f"a buffer over a State expected, found one over {type(base).__name__}")
        return base.with_writes(self.writes)


@dataclass(frozen=True, slots=True, eq=False)
class State:
    """An immutable view of the state: the tree at ``base_root`` plus pending writes.

    The pending writes are kept as a few write maps of decreasing size (the "logarithmic
    method"): adding a transaction's writes merges maps only while the newest is at least
    half as large as the one before, so each write is copied O(log w) times over a block of
    w writes and a read looks in O(log w) maps. No map is modified once a view holds it.
    """

    backend: Backend
    base_root: Hash32
    levels: tuple[Writes, ...] = ()
    _memo: _Memo = field(default_factory=_Memo, repr=False, init=False)

    @classmethod
    def at(cls, backend: Backend) -> State:
        """The backend's committed head, as a view."""
        return cls(backend, backend.root())

    @property
    def is_head(self) -> bool:
        """Whether this view is built on the backend's current committed root."""
        return self.backend.root() == self.base_root

    # --- reads -------------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        levels = self.levels
        if levels:  # a block starts from a view without any: no iterator made for none
            for level in reversed(levels):
                value = level.get(key, _ABSENT)  # one lookup per level, not ``in`` then ``[]``
                if value is not _ABSENT:
                    return value  # type: ignore[return-value]
        backend = self.backend
        if backend.root() == self.base_root:
            return backend.get_value(key)
        return merkle.lookup(backend.get_node, self.base_root, key)

    def scan(self, prefix: bytes, start_after: bytes, limit: int, budget: ScanBudget | None = None) -> list[bytes]:
        """Up to ``limit`` keys of this view starting with ``prefix``, greater than
        ``start_after``, ascending. Needs a view of the backend's head (``StaleState``)."""
        if not self.is_head:
            raise StaleState(
                f"a view of the head root {self.backend.root().hex()} expected for a scan, "
                f"found a view of {self.base_root.hex()}"
            )
        if limit <= 0:
            return []
        backend = self.backend
        if not self.levels:
            keys = backend.scan(prefix, start_after, limit)
            if budget is not None:
                budget.visit(len(keys))
            return keys
        flat = self._flat()
        pending = self._pending_keys()  # sorted once per view
        first = max(bisect.bisect_right(pending, start_after), bisect.bisect_left(pending, prefix))
        return merge_scan(
            lambda cursor, n: backend.scan(prefix, cursor, n),
            starting_with(pending, first, prefix),
            lambda key: flat[key] is not None,
            start_after,
            limit,
            budget,
        )

    # --- writes ------------------------------------------------------------------------

    def with_writes(self, writes: Writes) -> State:
        """A new view with ``writes`` (``None`` deletes) on top of this one; no hashing."""
        own: dict[bytes, bytes | None] = dict(writes)  # our own copy, made in C
        for key, value in own.items():
            if not isinstance(key, bytes) or not 1 <= len(key) <= MAX_KEY_SIZE:
                raise ValueError(
                    f"a key of 1 to {MAX_KEY_SIZE} bytes expected, found {key!r:.80}"
                )
            if value is not None and not isinstance(value, bytes):
                raise ValueError(f"a bytes value or None expected, found {type(value).__name__}")
        if not own:
            return self
        levels = [*self.levels, MappingProxyType(own)]
        while len(levels) >= 2 and 2 * len(levels[-1]) >= len(levels[-2]):
            newest = levels.pop()
            levels[-1] = MappingProxyType({**levels[-1], **newest})
        return State(self.backend, self.base_root, tuple(levels))

    def pending(self) -> Writes:
        """All pending writes of this view, flattened (read-only)."""
        return self._flat()

    # --- commitment --------------------------------------------------------------------

    @property
    def root(self) -> Hash32:
        """The Merkle root of this view; computed on first use from the base root and the
        pending writes (O(w log n) hashes for w writes), then cached."""
        memo = self._memo
        if memo.root is None:
            flat = self._flat()
            if flat:
                updates = merkle.make_updates(flat)
                # No nodes of this view exist yet: the tree reads go straight to the backend.
                memo.root, memo.nodes = merkle.apply_updates(
                    self.backend.get_node, self.base_root, updates
                )
            else:
                memo.root = self.base_root
        return memo.root

    def changes(self) -> StateChanges:
        """What committing this view writes: its puts and deletes, new nodes and root."""
        root = self.root
        flat = self._flat()
        puts = {k: v for k, v in flat.items() if v is not None}
        deletes = frozenset(k for k, v in flat.items() if v is None)
        return StateChanges(
            self.base_root,
            root,
            MappingProxyType(puts),
            deletes,
            MappingProxyType(self._memo.nodes),
        )

    def prove(self, key: bytes) -> Proof:
        """The proof of ``key``'s value (or absence) under ``self.root``."""
        root = self.root
        get_node = self._get_node if self._memo.nodes else self.backend.get_node
        return merkle.prove(get_node, root, key)

    # --- helpers -----------------------------------------------------------------------

    def _get_node(self, node_hash: bytes) -> bytes | None:
        data = self._memo.nodes.get(node_hash)
        return data if data is not None else self.backend.get_node(node_hash)

    def _flat(self) -> Writes:
        memo = self._memo
        if memo.flat is None:
            if len(self.levels) == 1:
                memo.flat = self.levels[0]
            else:
                merged: dict[bytes, bytes | None] = {}
                for level in self.levels:
                    merged.update(level)
                memo.flat = MappingProxyType(merged)
        return memo.flat

    def _pending_keys(self) -> list[bytes]:
        memo = self._memo
        if memo.pending_keys is None:
            memo.pending_keys = sorted(self._flat())
        return memo.pending_keys
