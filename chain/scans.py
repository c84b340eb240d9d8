"""Ordered key scans: the sorted index of keys, the merge of committed keys with pending
writes, and the budget that counts (and bounds) the keys a scan visits.

The state's tree is over hashed keys, so prefix scans ("every subscription of a meter") need
keys in order beside it: ``KeyIndex`` keeps them in memory (``MemoryBackend``, and a block's
``WriteBuffer``), LevelDB keeps them on disk. A view with pending writes merges the two
orders with ``merge_scan``; ``ScanBudget`` lets the VM charge for every key visited.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import Final

from chain.merkle import StateError

# Keys per chunk of the in-memory key index (see ``KeyIndex``).
_CHUNK: Final = 1024


class KeyIndex:
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

    def iter_from(self, prefix: bytes, start_after: bytes) -> Iterator[bytes]:
        """The keys starting with ``prefix`` and greater than ``start_after``, ascending,
        one at a time: O(log n) to find the first, O(1) for each next."""
        chunks, maxes = self._chunks, self._maxes
        i = bisect.bisect_right(maxes, start_after)
        after = (i, bisect.bisect_right(chunks[i], start_after)) if i < len(chunks) else (i, 0)
        i = bisect.bisect_left(maxes, prefix)
        at_prefix = (i, bisect.bisect_left(chunks[i], prefix)) if i < len(chunks) else (i, 0)
        i, j = max(after, at_prefix)
        while i < len(chunks):
            chunk = chunks[i]
            for k in range(j, len(chunk)):
                key = chunk[k]
                if not key.startswith(prefix):
                    return
                yield key
            i, j = i + 1, 0

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


class ScanBudgetExceeded(StateError):
    """A scan that would visit more keys than its ``ScanBudget`` allows."""


class ScanBudget:
    """How many keys one scan may visit, and how many it did.

    A scan merges committed keys with pending writes; a pending delete hides a key without
    returning it, so the keys a scan visits can outnumber the keys it returns. Every layer
    counts what it visits here (a pending write taken, a committed key fetched), so the
    caller can charge for the work (the VM's ``storage_keys``) and stop it when the caller
    cannot pay: ``ScanBudgetExceeded`` is raised before the count passes ``max_visits``
    by more than one page of committed keys.
    """

    __slots__ = ("max_visits", "visited")

    def __init__(self, max_visits: int) -> None:
        self.max_visits = max_visits
        self.visited = 0

    def visit(self, count: int) -> None:
        self.visited += count
        if self.visited > self.max_visits:
            raise ScanBudgetExceeded(
                f"a scan of at most {self.max_visits} key visits expected, found one of more"
            )


def merge_scan(
    fetch: Callable[[bytes, int], list[bytes]],
    pending: Iterator[bytes],
    is_live: Callable[[bytes], bool],
    after: bytes,
    limit: int,
    budget: ScanBudget | None = None,
    count_fetched: bool = True,
) -> list[bytes]:
    """Up to ``limit`` keys, ascending, of committed keys merged with pending writes.

    ``fetch(cursor, n)`` pages the committed keys greater than ``cursor`` (already limited
    to the wanted prefix); ``pending`` yields the written keys in range, ascending;
    ``is_live`` tells a pending write from a pending delete. A pending key hides the
    committed key it overwrites or deletes. The work is the keys visited: each pending key
    taken and, unless ``count_fetched`` is False (``fetch`` counts its own), each committed
    key fetched counts one (``budget``).
    """
    if limit <= 0:
        return []
    out: list[bytes] = []
    page: list[bytes] = []
    p = 0  # position in page
    cursor = after  # the last committed key taken
    exhausted = False
    mine = next(pending, None)
    if budget is not None and mine is not None:
        budget.visit(1)
    while len(out) < limit:
        if p == len(page) and not exhausted:
            want = limit - len(out)
            page = fetch(cursor, want)
            p = 0
            exhausted = len(page) < want
            if budget is not None and count_fetched:
                budget.visit(len(page))
        committed = page[p] if p < len(page) else None
        if committed is None and mine is None:
            break
        if mine is not None and (committed is None or mine <= committed):
            if mine == committed:
                cursor = committed
                p += 1
            if is_live(mine):
                out.append(mine)
            mine = next(pending, None)
            if budget is not None and mine is not None:
                budget.visit(1)
        else:
            assert committed is not None
            cursor = committed
            p += 1
            out.append(committed)  # not pending: ``mine`` would have come first
    return out


def starting_with(keys: list[bytes], first: int, prefix: bytes) -> Iterator[bytes]:
    """The keys of the sorted ``keys`` from index ``first`` on while they start with ``prefix``."""
    for i in range(first, len(keys)):
        key = keys[i]
        if not key.startswith(prefix):
            return
        yield key
