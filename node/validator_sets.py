"""Which validator set holds at which height: the one answer the engine, block sync, the
audit and the node's status share.

The set of height 1 is the genesis set. The governance contract records, for a set change
decided in block H, the changes taking effect at H + 2 under ``ch/<H + 2>``
(``chain.keys.validator_changes_key``; contracts/governance/sets.py). So the set of height
h + 1 is the set of height h, stepped once (``ValidatorSet.for_next_height``: priorities
carried) with the changes recorded for h + 1, if any. Those records are written once and
never changed after their block, so the set of every height up to the committed head + 2 is
known from committed state alone: a validator, a node syncing from genesis, a regulator and
an auditor replaying the chain all compute the same sets, and every header's
``validator_set_hash`` and ``next_validator_set_hash`` must match them (``apply_block``
checks it against ``BlockEnv``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from chain import codec, keys
from chain.state import StateReads
from chain.types import PublicKey
from consensus.validators import ValidatorSet

if TYPE_CHECKING:
    from node.blockstore import BlockStore

# Sets kept besides the recent ones, so that an old height is recomputed from the nearest
# checkpoint below it rather than from genesis.
CHECKPOINT_EVERY: Final = 1024
RECENT: Final = 16  # heights below the highest known set that stay cached

Committed = Callable[[], tuple[int, StateReads]]  # (head height, state after the head)


def changes_at(state: StateReads, height: int) -> dict[PublicKey, int] | None:
    """The set changes governance recorded to take effect at ``height``, or None."""
    raw = state.get(keys.validator_changes_key(height))
    if raw is None:
        return None
    value = codec.decode_stored(raw)
    return {PublicKey(bytes(key)): int(power) for key, power in value.items()}


class ValidatorSets:
    """The validator set of each height, derived from the genesis set and committed state."""

    def __init__(self, genesis: ValidatorSet, committed: Committed) -> None:
        self._committed = committed
        self._sets: dict[int, ValidatorSet] = {1: genesis}
        self._top = 1

    @classmethod
    def of_store(cls, genesis: ValidatorSet, store: BlockStore) -> ValidatorSets:
        """The sets of the chain committed in ``store`` (``node.blockstore.BlockStore``)."""
        return cls(genesis, lambda: (store.head().height, store.state()))

    def at(self, height: int) -> ValidatorSet:
        """The set of ``height`` (at least 1, at most the committed head + 2: later sets may
        still change); ``LookupError`` otherwise."""
        if height < 1:
            raise LookupError(f"a height of at least 1 expected, found {height}")
        if height > self._top:
            head, state = self._committed()
            if height > head + 2:
                raise LookupError(
                    f"a height of at most {head + 2} (the committed head + 2) expected, found {height}"
                )
            while self._top < height:
                current = self._sets[self._top]
                self._top += 1
                self._sets[self._top] = current.for_next_height(changes_at(state, self._top))
            self._forget_old()
        known = self._sets.get(height)
        if known is not None:
            return known
        return self._recompute(height)

    def _forget_old(self) -> None:
        for h in [h for h in self._sets if h < self._top - RECENT and h % CHECKPOINT_EVERY != 1]:
            del self._sets[h]

    def _recompute(self, height: int) -> ValidatorSet:
        """An old set, stepped from the nearest kept set below it (not cached)."""
        start = max(h for h in self._sets if h <= height)
        _, state = self._committed()
        current = self._sets[start]
        for h in range(start + 1, height + 1):
            current = current.for_next_height(changes_at(state, h))
        return current

