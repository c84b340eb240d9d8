"""The chain's key-value state: committed storage, immutable views, and their Merkle root.

A ``Backend`` holds the committed state: the latest value of every key, an ordered key index
for prefix scans (not committed to: the tree is over hashed keys), the content-addressed
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
from types import MappingProxyType
from typing import Final, Protocol

from chain import merkle
from chain.hashing import EMPTY_HASH, Hash32
from chain.merkle import MAX_KEY_SIZE, MissingNode, Proof, StateError, verify_proof

__all__ = [
    "MAX_KEY_SIZE",
    "Backend",
    "MemoryBackend",
    "MissingNode",
    "Proof",
    "StaleState",
    "State",
    "StateChanges",
    "StateConflict",
    "StateError",
    "verify_proof",
]

# A value no write map holds (``None`` is a pending delete).
_ABSENT: Final = object()

# Keys per chunk of the in-memory key index (see ``_KeyIndex``).
_CHUNK: Final = 1024


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


class _KeyIndex:
    """Keys in ascending order, in chunks of at most ``2 * _CHUNK`` keys, so that adding or
    removing a key moves O(chunk) references instead of O(n) (a plain sorted list of a million
    keys costs ~1 ms per insert)."""

    __slots__ = ("_chunks", "_maxes")

    def __init__(self) -> None:
        self._chunks: list[list[bytes]] = []
        self._maxes: list[bytes] = []  # the last key of each chunk

    def _load(self, keys: list[bytes]) -> None:
        self._chunks = [keys[i : i + _CHUNK] for i in range(0, len(keys), _CHUNK)]
        self._maxes = [chunk[-1] for chunk in self._chunks]

    def update(self, added: list[bytes], removed: set[bytes], size: int) -> None:
        """Add ``added`` (sorted, new) and drop ``removed`` (present); ``size`` is the count
        before the change."""
        if len(added) + len(removed) > size // 8:
            # Many changes at once (a bulk load): rebuild in one linear merge.
            kept = [k for chunk in self._chunks for k in chunk if k not in removed]
            self._load(sorted(kept + added))  # Timsort merges the two sorted runs
            return
        for key in removed:
            self._remove(key)
        for key in added:
            self._add(key)

    def _add(self, key: bytes) -> None:
        chunks, maxes = self._chunks, self._maxes
        if not chunks:
            chunks.append([key])
            maxes.append(key)
            return
        i = bisect.bisect_left(maxes, key)
        if i == len(maxes):
            i -= 1
            chunks[i].append(key)
            maxes[i] = key
        else:
            bisect.insort(chunks[i], key)
        chunk = chunks[i]
        if len(chunk) > 2 * _CHUNK:
            chunks[i : i + 1] = [chunk[:_CHUNK], chunk[_CHUNK:]]
            maxes[i : i + 1] = [chunk[_CHUNK - 1], chunk[-1]]

    def _remove(self, key: bytes) -> None:
        chunks, maxes = self._chunks, self._maxes
        i = bisect.bisect_left(maxes, key)
        chunk = chunks[i]
        j = bisect.bisect_left(chunk, key)
        del chunk[j]
        if not chunk:
            del chunks[i]
            del maxes[i]
        elif j == len(chunk):
            maxes[i] = chunk[-1]

    def scan(self, prefix: bytes, start_after: bytes, limit: int) -> list[bytes]:
        chunks, maxes = self._chunks, self._maxes
        # The first key greater than ``start_after`` and not less than ``prefix``.
        i = bisect.bisect_right(maxes, start_after)
        after = (i, bisect.bisect_right(chunks[i], start_after)) if i < len(chunks) else (i, 0)
        i = bisect.bisect_left(maxes, prefix)
        at_prefix = (i, bisect.bisect_left(chunks[i], prefix)) if i < len(chunks) else (i, 0)
        i, j = max(after, at_prefix)
        out: list[bytes] = []
        while i < len(chunks) and len(out) < limit:
            chunk = chunks[i]
            for key in chunk[j : j + limit - len(out)]:
                if not key.startswith(prefix):
                    return out
                out.append(key)
            i, j = i + 1, 0
        return out


class MemoryBackend:
    """A ``Backend`` in dicts, with a chunked sorted list as the key index."""

    def __init__(self) -> None:
        self._values: dict[bytes, bytes] = {}
        self._keys = _KeyIndex()  # the same keys as ``_values``, ascending
        self._nodes: dict[bytes, bytes] = {}
        self._root: Hash32 = EMPTY_HASH

    def get_value(self, key: bytes) -> bytes | None:
        return self._values.get(key)

    def scan(self, prefix: bytes, start_after: bytes, limit: int) -> list[bytes]:
        if limit <= 0:
            return []
        return self._keys.scan(prefix, start_after, limit)

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self._nodes.get(node_hash)

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


def merge_scan(
    fetch: Callable[[bytes, int], list[bytes]],
    pending: list[bytes],
    is_live: Callable[[bytes], bool],
    after: bytes,
    limit: int,
) -> list[bytes]:
    """Up to ``limit`` keys, ascending, of committed keys merged with pending writes.

    ``fetch(cursor, n)`` pages the committed keys greater than ``cursor`` (already limited
    to the wanted prefix); ``pending`` are the written keys in range, sorted; ``is_live``
    tells a pending write from a pending delete. A pending key hides the committed key it
    overwrites or deletes. Shared by ``State.scan`` and the VM's buffered ``storage_keys``.
    """
    if limit <= 0:
        return []
    out: list[bytes] = []
    page: list[bytes] = []
    p = 0  # position in page
    i = 0  # position in pending
    cursor = after  # the last committed key taken
    exhausted = False
    while len(out) < limit:
        if p == len(page) and not exhausted:
            page = fetch(cursor, limit)
            p = 0
            exhausted = len(page) < limit
        committed = page[p] if p < len(page) else None
        mine = pending[i] if i < len(pending) else None
        if committed is None and mine is None:
            break
        if mine is not None and (committed is None or mine <= committed):
            if mine == committed:
                cursor = committed
                p += 1
            i += 1
            if is_live(mine):
                out.append(mine)
        else:
            assert committed is not None
            cursor = committed
            p += 1
            out.append(committed)  # not pending: ``mine`` would have come first
    return out


class StateReads(Protocol):
    """What executing a transaction reads: a ``State`` or a block's ``WriteBuffer``."""

    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, prefix: bytes, start_after: bytes, limit: int) -> list[bytes]: ...


def scan_with_writes(
    reads: StateReads, writes: Mapping[bytes, bytes | None], prefix: bytes, after: bytes, limit: int
) -> list[bytes]:
    """Keys under ``prefix`` greater than ``after``, ascending, at most ``limit``: the keys of
    ``reads`` merged with ``writes`` not yet part of it (``None`` deletes)."""
    pending = sorted(k for k in writes if k.startswith(prefix) and k > after)
    return merge_scan(
        lambda cursor, n: reads.scan(prefix, cursor, n), pending, lambda k: writes[k] is not None, after, limit
    )


class WriteBuffer:
    """The writes of a block's transactions so far, over the view the block starts from.

    Executing a block reads what its earlier transactions wrote. Making a new immutable
    ``State`` per transaction costs a copy of the writes and a longer walk for every read;
    one block's execution owns a buffer instead, which only grows and is never shared, and
    ``state()`` makes the immutable view at the end."""

    __slots__ = ("base", "writes")

    def __init__(self, base: State) -> None:
        self.base = base
        self.writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        writes = self.writes
        return writes[key] if key in writes else self.base.get(key)

    def scan(self, prefix: bytes, start_after: bytes, limit: int) -> list[bytes]:
        return scan_with_writes(self.base, self.writes, prefix, start_after, limit)

    def apply(self, writes: Writes) -> None:
        self.writes.update(writes)

    def state(self) -> State:
        return self.base.with_writes(self.writes)


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
        for level in reversed(self.levels):
            value = level.get(key, _ABSENT)  # one lookup per level, not ``in`` then ``[]``
            if value is not _ABSENT:
                return value  # type: ignore[return-value]
        backend = self.backend
        if backend.root() == self.base_root:
            return backend.get_value(key)
        return merkle.lookup(backend.get_node, self.base_root, key)

    def scan(self, prefix: bytes, start_after: bytes, limit: int) -> list[bytes]:
        """Up to ``limit`` keys of this view starting with ``prefix``, greater than
        ``start_after``, ascending. Needs a view of the backend's head (``StaleState``)."""
        if not self.is_head:
            raise StaleState(
                f"a view of the head root {self.backend.root().hex()} expected for a scan, "
                f"found a view of {self.base_root.hex()}"
            )
        if limit <= 0:
            return []
        if not self.levels:
            return self.backend.scan(prefix, start_after, limit)
        flat = self._flat()
        pending = self._pending_keys()
        first = max(bisect.bisect_right(pending, start_after), bisect.bisect_left(pending, prefix))
        candidates = []
        for key in pending[first:]:
            if not key.startswith(prefix):
                break
            candidates.append(key)
        return merge_scan(
            lambda cursor, n: self.backend.scan(prefix, cursor, n),
            candidates,
            lambda key: flat[key] is not None,
            start_after,
            limit,
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
