"""The chain parameters the validators set through governance, as the transition reads them.

A network chain's governance contract keeps every parameter's value under ``params``
(contracts/governance/parameters.py); a decided change is written in the block that decided
it, so the next block, read here at its start, is the first one it holds for. A chain
without governance (a local chain) runs at the ceilings.

The ceilings are what every node was built for: the block codec's size limit, the consensus
timeouts and the proposer's build cap assume blocks no larger. Governance moves a limit
within them (the contract refuses a value above), and the transition takes the smaller of
the two anyway, so a node never applies a block over its own ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from chain import codec, keys
from chain.state import StateReads

MAX_BLOCK_GAS: Final = 100_000_000
MAX_TXS_PER_BLOCK: Final = 10_000


@dataclass(frozen=True, slots=True)
class BlockLimits:
    """What one block may hold, besides its size (``chain.transition.MAX_BLOCK_TX_BYTES``)."""

    gas: int = MAX_BLOCK_GAS
    transactions: int = MAX_TXS_PER_BLOCK


def block_limits(state: StateReads) -> BlockLimits:
    """The limits of the block applied on ``state`` (the parent's committed state)."""
    raw = state.get(keys.chain_parameters_key())
    if raw is None:
        return BlockLimits()
    values = codec.decode_stored(raw)
    if not isinstance(values, dict):
        return BlockLimits()  # not a record governance writes; the ceilings hold
    gas = values.get("max_block_gas", MAX_BLOCK_GAS)
    count = values.get("max_block_transactions", MAX_TXS_PER_BLOCK)
    return BlockLimits(
        min(gas, MAX_BLOCK_GAS) if isinstance(gas, int) else MAX_BLOCK_GAS,
        min(count, MAX_TXS_PER_BLOCK) if isinstance(count, int) else MAX_TXS_PER_BLOCK,
    )
