"""The blocks of the height a consensus engine (``node.engine``) is deciding: the one it
builds when it proposes, those proposed to it, and its verdict on each.

- **Building** (``build``): the mempool's ready transactions on the head state, offered to
  ``chain.transition.propose_block`` until the build took its share of the round
  (``within_time``), so the proposal reaches the others before their propose timeout.
- **Judging** (``judge``, the paper's ``valid(v)``): the block's time is the proposal's,
  its ``last_commit`` is a valid certificate of the parent (``verify_commit``) and
  ``apply_block`` accepts it on the head state. The result is kept by block hash, so the
  block is not executed again when it is committed (``result``).
- **Logging**: every block body is written to the write-ahead log before an event names it
  (``log_block``, the engine's), unless it is larger than a log record (a restart then asks
  a peer for it if it was decided).

Signatures: the mempool's verified hashes go into every ``BlockEnv``, so a transaction this
node admitted is not verified again (``BlockEnv.verified_tx_hashes``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping

from chain.errors import ChainError, InvalidBlock
from chain.hashing import Hash32
from chain.state import State as ChainState
from chain.transition import BlockEnv, ContractRuntime, apply_block, get_nonce, propose_block
from chain.types import Block, BlockHeader, PublicKey, Receipt, Timestamp, Transaction
from consensus.certificate import CommitCertificate, verify_commit
from consensus.validators import ValidatorSet
from node.blockstore import BlockStore
from node.consensus_io import MAX_LOGGED_BLOCK, EngineSettings, Timers
from node.mempool import Mempool

log = logging.getLogger("meterchain.consensus")

Applied = tuple[ChainState, tuple[Receipt, ...]]  # a block's post-state and receipts


class HeightBlocks:
    def __init__(
        self,
        *,
        chain_id: str,
        store: BlockStore,
        runtime: ContractRuntime,
        mempool: Mempool,
        settings: EngineSettings,
        timers: Timers,
        head: Callable[[], BlockHeader],
        validators_at: Callable[[int], ValidatorSet],
        log_block: Callable[[bytes], None],
    ) -> None:
        self.chain_id = chain_id
        self.store = store
        self.runtime = runtime
        self.mempool = mempool
        self.settings = settings
        self.timers = timers
        self.head = head  # the store's head: the working height's parent
        self.validators_at = validators_at
        self.log_block = log_block
        self._bodies: dict[Hash32, tuple[Block, bytes]] = {}  # by hash, the raw bytes beside
        self._applied: dict[Hash32, Applied] = {}
        self._invalid: set[Hash32] = set()

    def get(self, block_hash: Hash32) -> tuple[Block, bytes] | None:
        return self._bodies.get(block_hash)

    def known(self, bodies: Mapping[Hash32, tuple[Block, bytes]]) -> None:
        """Blocks already in the log (a replay): kept, not logged again."""
        self._bodies.update(bodies)

    def clear(self) -> None:
        """A new working height: nothing of the last one is kept."""
        self._bodies.clear()
        self._applied.clear()
        self._invalid.clear()

    def env(self, height: int) -> BlockEnv:
        return BlockEnv(
            self.chain_id,
            self.head(),
            self.validators_at(height).hash,
            self.runtime,
            verified_tx_hashes=self.mempool.verified_hashes(),
            next_validator_set_hash=self.validators_at(height + 1).hash,
            last_commit=self.store.certificate(height - 1) or b"",
        )

    def build(self, round: int, proposer: PublicKey) -> tuple[Hash32, Timestamp]:
        """Build, keep and log this node's block for ``round`` of the working height; its
        hash and time."""
        head = self.head()
        height = head.height + 1
        head_state = self.store.state()
        settings = self.settings
        transactions = self.mempool.ready(
            lambda account: get_nonce(head_state, account), settings.max_block_transactions, settings.max_block_bytes
        )
        block_time = Timestamp(max(int(self.timers.now()), head.time + 1))
        started = self.timers.now()
        candidates = within_time(transactions, self.timers.now, started + settings.build_seconds(round))
        block, post, receipts = propose_block(head_state, candidates, block_time, proposer, self.env(height))
        if transactions:
            log.info("built block %d round %d: %d of %d ready transactions in %.2f s", height, round,
                     len(block.transactions), len(transactions), self.timers.now() - started)  # fmt: skip
        raw = block.encode()
        block_hash = block.header.hash
        self._bodies[block_hash] = (block, raw)
        self._applied[block_hash] = (post, receipts)
        self.log_block(raw)
        return block_hash, block_time

    def judge(self, block: Block, block_time: int | None) -> bool:
        """The paper's ``valid(v)`` for a block of the working height (memoised by hash)."""
        block_hash = block.header.hash
        if block_hash in self._applied:
            return True
        if block_hash in self._invalid:
            return False
        head = self.head()
        height = head.height + 1
        try:
            if block_time is not None and block.header.time != block_time:
                raise InvalidBlock(f"the proposal's block time {block_time} expected, found {block.header.time}")
            if height > 1:
                certificate = CommitCertificate.decode(block.last_commit)
                verify_commit(self.chain_id, head, certificate, self.validators_at(height - 1))
            started = self.timers.now()
            self._applied[block_hash] = apply_block(self.store.state(), block, self.env(height))
            if block.transactions:
                log.info("block %s of height %d applied: %d transactions in %.2f s", block_hash.hex()[:16], height,
                         len(block.transactions), self.timers.now() - started)  # fmt: skip
        except (ChainError, ValueError) as exc:
            log.info("block %s of height %d is invalid: %s", block_hash.hex()[:16], height, exc)
            self._invalid.add(block_hash)
            return False
        return True

    def remember(self, block: Block, raw: bytes) -> None:
        """Keep (and log) a block received for the working height."""
        block_hash = block.header.hash
        if block_hash in self._bodies:
            return
        self._bodies[block_hash] = (block, raw)
        if len(raw) <= MAX_LOGGED_BLOCK:
            self.log_block(raw)
        else:  # a restart asks a peer for it if it is decided (Decide without a body)
            log.info("block %s of %d bytes not logged (over a log record)", block_hash.hex()[:16], len(raw))

    def result(self, block: Block) -> Applied:
        """The state and receipts of a block to commit: the judged ones, or applied now."""
        applied = self._applied.get(block.header.hash)
        if applied is not None:
            return applied
        return apply_block(self.store.state(), block, self.env(block.header.height))


def within_time(transactions: list[Transaction], now: Callable[[], float], deadline: float) -> Iterator[Transaction]:
    """The transactions in order, until ``now()`` passes ``deadline``: a proposer stops
    adding transactions to its block once building it took its share of the round, so the
    proposal reaches the others before their propose timeout (a block of thousands of
    readings took longer than that on a loaded machine, and every such round failed). The
    first one is always offered: the chain moves on even on a very slow machine."""
    for index, tx in enumerate(transactions):
        if index and now() > deadline:
            return
        yield tx
