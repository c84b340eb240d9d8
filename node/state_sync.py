"""State sync: a new node starts from a snapshot of the state at a certified height H
instead of re-executing the chain from genesis (as CometBFT's state sync does), then
follows by block sync from H + 1.

1. **Which height.** Every peer says which heights' state it serves (``GET
   /v1/snapshots``: its kept heights); the node takes the trusted height if the operator
   gave one, else the highest height a peer serves.
2. **The top.** From a peer serving it: block H with its commit certificate and receipts,
   and the state tree's nodes above depth D (``GET /v1/snapshots/{H}``). The receipts and
   transactions must match the header's roots; the top nodes must hash up to the header's
   state root (``chain.merkle.check_top``), which gives the hash of every subtree at depth D.
3. **The chunks.** One per non-empty subtree at depth D (``GET
   /v1/snapshots/{H}/chunks/{i}``), spread over the peers; each chunk is checked alone
   against its subtree's hash (``chain.merkle.subtree_hash``). A peer that serves a chunk
   that does not check is refused for the rest of the sync (one error line says which peer
   and which chunk) and the chunk is asked of another peer.
4. **Is H's header genuine?** The snapshot is only as good as the header whose state root
   it matched. The validator set of every height follows from the genesis set and the set
   changes governance recorded in the state (``node.validator_sets``), and the snapshot
   holds those records. Trust comes from one of:

   - **the genesis** (the default): every header from 1 to H is fetched with its
     certificate (``GET /v1/headers``; every node keeps them, a pruned one that dropped
     old bodies too, ``node.bodies``) and checked as a light client does: it
     links to its parent, its certificate carries more than 2/3 of the power of the set of
     its height, and it commits to the hashes of that set and of the next height's set. A
     snapshot whose set-change records were forged gives, at the first height where they
     differ, a set whose hash the previous header (signed by the genuine set) does not
     commit to, so it is refused unless more than a third of some height's genuine power
     signed a forgery: the same assumption as the chain's safety itself. (As in CometBFT,
     keys of validators that left long ago could sign a forged history; a node that must
     not trust that uses the next option.)
   - **a trusted height and block hash** given by the operator (``[state_sync]
     trust_height`` and ``trust_hash``, read from a source they trust, e.g. a regulator's
     node or an explorer): header H must have exactly that hash; its certificate is still
     checked against the set the snapshot gives for H and the header's set hash.

5. **Commit.** The state is rebuilt from the leaves; its root must be H's state root. Block
   H, its certificate, receipts and the state go into one synced batch
   (``BlockStore.commit_snapshot``); the store records that it starts at H (no block below
   it). The node then starts as usual and block sync takes it on from H + 1.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp

from chain.errors import ChainError, DecodeError
from chain.merkle import check_top, subtree_hash
from chain.state import MemoryBackend, State
from chain.transition import receipts_root, tx_root
from chain.types import Block, BlockHeader, Receipt
from consensus.certificate import CommitCertificate, verify_commit
from consensus.errors import InvalidCommit
from consensus.validators import ValidatorSet
from node.api.snapshots import DEFAULT_DEPTH
from node.blockstore import BlockStore, decode_receipts
from node.sync import BadBlock, PeerApi, PeerUnavailable
from node.validator_sets import ValidatorSets

log = logging.getLogger("meterchain.state_sync")

REQUEST_TIMEOUT: Final = 30.0  # seconds for one answer
PARALLEL: Final = 4  # chunk requests in flight
HEADER_BATCH: Final = 256  # headers per request


class StateSyncError(Exception):
    """State sync could not finish: the message says what was expected and what was found."""


@dataclass(frozen=True, slots=True)
class Trust:
    """Where the trust in the snapshot's header comes from: the genesis (the chain of
    certificates from it, when ``height`` is ``None``) or a height and block hash the
    operator trusts."""

    height: int | None = None
    block_hash: bytes | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    block: Block
    receipts: tuple[Receipt, ...]
    certificate: bytes
    values: dict[bytes, bytes]


class _Peers:
    """The peers still trusted, by name; one refused is gone for the rest of the sync."""

    def __init__(self, apis: dict[str, PeerApi]) -> None:
        self.apis = dict(apis)

    def refuse(self, name: str, reason: str) -> None:
        if self.apis.pop(name, None) is not None:
            log.error("state sync: refusing peer %s: %s; not asking it again", name, reason)

    def names(self) -> list[str]:
        if not self.apis:
            raise StateSyncError("a peer serving a snapshot that checks expected, found none left")
        return list(self.apis)


async def _choose_height(peers: _Peers, trust: Trust) -> tuple[int, list[str]]:
    offers: dict[str, tuple[int, int]] = {}
    for name in peers.names():
        try:
            offer = await peers.apis[name].snapshots()
        except PeerUnavailable as exc:
            log.warning("state sync: peer %s unavailable: %s", name, exc)
            continue
        offers[name] = (offer.low, offer.high)
    if not offers:
        raise StateSyncError("a peer answering GET /v1/snapshots expected, found none")
    height = trust.height if trust.height is not None else max(high for _, high in offers.values())
    serving = [name for name, (low, high) in offers.items() if low <= height <= high]
    if not serving:
        raise StateSyncError(
            f"a peer keeping the state of height {height} expected, found only {offers} (low, high by peer)"
        )
    return height, serving


def _decode_top(height: int, raw_block: str, raw_certificate: str, raw_receipts: str) -> tuple[Block, bytes, tuple[Receipt, ...]]:
    try:
        block = Block.decode(bytes.fromhex(raw_block))
        certificate = bytes.fromhex(raw_certificate)
        receipts = decode_receipts(bytes.fromhex(raw_receipts))
    except (ValueError, DecodeError, ChainError) as exc:
        raise BadBlock(height, f"canonical block, certificate and receipts expected: {exc}") from None
    header = block.header
    if header.height != height:
        raise BadBlock(height, f"block {height} expected, found block {header.height}")
    if tx_root(block.transactions) != header.tx_root:
        raise BadBlock(height, "transactions matching the header's tx root expected, found others")
    if receipts_root(receipts) != header.receipts_root:
        raise BadBlock(height, "receipts matching the header's receipts root expected, found others")
    return block, certificate, receipts


async def fetch_snapshot(peers: _Peers, height: int, serving: list[str], depth: int, trust: Trust) -> Snapshot:
    """Steps 2 and 3: block ``height``, its certificate and receipts, and every leaf of its
    state, each chunk checked against the top."""
    for name in serving:
        if name not in peers.apis:
            continue
        try:
            top = await peers.apis[name].snapshot(height, depth)
            block, certificate, receipts = _decode_top(height, top.block, top.certificate, top.receipts)
            header = block.header
            if trust.block_hash is not None and trust.height == height and header.hash != trust.block_hash:
                raise BadBlock(height, f"the trusted block hash {trust.block_hash.hex()} expected, found {header.hash.hex()}")
            leaves, chunks = check_top(header.state_root, (bytes.fromhex(node) for node in top.nodes), depth)
        except PeerUnavailable as exc:
            log.warning("state sync: peer %s unavailable: %s", name, exc)
            continue
        except (BadBlock, ChainError, ValueError) as exc:
            peers.refuse(name, f"snapshot of height {height}: {exc}")
            continue
        break
    else:
        raise StateSyncError(f"the top of the snapshot of height {height} from a peer expected, found none that checks")
    values = dict(leaves)
    log.info("state sync: height %d from %s: %d chunks of depth %d to fetch", height, name, len(chunks), depth)
    queue = list(chunks)
    turn = 0
    semaphore = asyncio.Semaphore(PARALLEL)

    async def fetch(index: int, expected: bytes) -> dict[bytes, bytes]:
        nonlocal turn
        async with semaphore:
            while True:
                names = peers.names()
                source = [n for n in names if n in serving] or names
                peer = source[turn % len(source)]
                turn += 1
                try:
                    chunk = await peers.apis[peer].chunk(height, depth, index)
                    got = {bytes.fromhex(leaf.key): bytes.fromhex(leaf.value) for leaf in chunk.leaves}
                    if len(got) != len(chunk.leaves):
                        raise ChainError("distinct keys expected, found one twice")
                    found = subtree_hash(got.items(), depth, index)
                    if found != expected:
                        raise ChainError(f"leaves hashing to {expected.hex()} expected, found {found.hex()}")
                    return got
                except PeerUnavailable as exc:
                    log.warning("state sync: peer %s unavailable for chunk %d: %s", peer, index, exc)
                    if len(names) == 1:
                        raise StateSyncError(f"chunk {index} of height {height} expected, found no peer answering") from None
                except (ChainError, ValueError) as exc:
                    peers.refuse(peer, f"chunk {index} of the snapshot of height {height}: {exc}")

    for got in await asyncio.gather(*(fetch(index, expected) for index, expected in queue)):
        values.update(got)
    return Snapshot(block, receipts, certificate, values)


async def verify_chain(
    peers: _Peers, genesis_header: BlockHeader, target: BlockHeader, sets: ValidatorSets, chain_id: str
) -> None:
    """Step 4 from the genesis: every header from 1 to ``target``'s height certified by the
    set of its height, committing to it and to the next one, linked up to ``target``."""
    parent = genesis_header
    height = 1
    while height <= target.height:
        name = peers.names()[0]
        try:
            _, fetched = await peers.apis[name].headers(height, min(HEADER_BATCH, target.height - height + 1))
            if not fetched:
                raise BadBlock(height, f"header {height} expected, found an empty batch")
            for _, header, certificate in fetched:
                check_header(chain_id, parent, header, certificate, sets)
                parent = header
                height += 1
        except PeerUnavailable as exc:
            log.warning("state sync: peer %s unavailable for headers: %s", name, exc)
            peers.refuse(name, f"headers from {height}: unavailable ({exc})")
        except BadBlock as exc:
            peers.refuse(name, f"header {exc.height}: {exc}")
    if parent.hash != target.hash:
        raise StateSyncError(
            f"the chain from genesis to lead to the snapshot's block {target.hash.hex()} expected, found {parent.hash.hex()}"
        )


def check_header(
    chain_id: str, parent: BlockHeader, header: BlockHeader, certificate: bytes | None, sets: ValidatorSets
) -> None:
    height = parent.height + 1
    if header.height != height or header.parent_hash != parent.hash:
        raise BadBlock(height, f"header {height} on parent {parent.hash.hex()} expected, found another")
    validators: ValidatorSet = sets.at(height)
    if header.validator_set_hash != validators.hash or header.next_validator_set_hash != sets.at(height + 1).hash:
        raise BadBlock(height, "a header committing to the validator sets the snapshot's records give expected, found others")
    if certificate is None:
        raise BadBlock(height, "a commit certificate expected, found none")
    try:
        verify_commit(chain_id, header, CommitCertificate.decode(certificate), validators)
    except (DecodeError, InvalidCommit) as exc:
        raise BadBlock(height, f"a valid commit certificate expected: {exc}") from None


async def state_sync(
    store: BlockStore,
    genesis_set: ValidatorSet,
    chain_id: str,
    peer_apis: Mapping[str, str],
    trust: Trust = Trust(),
    depth: int = DEFAULT_DEPTH,
) -> int:
    """Fill ``store`` (which holds only its genesis) from a snapshot; returns its height."""
    if store.head().height != 0:
        raise StateSyncError(f"a store holding only its genesis expected, found one at height {store.head().height}")
    if not peer_apis:
        raise StateSyncError("peers with an API ([[p2p.peers]] api) to state-sync from expected, found none")
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        peers = _Peers({name: PeerApi(session, url) for name, url in peer_apis.items()})
        height, serving = await _choose_height(peers, trust)
        snapshot = await fetch_snapshot(peers, height, serving, depth, trust)
        header = snapshot.block.header
        state = State.at(MemoryBackend()).with_writes(snapshot.values)
        if state.root != header.state_root:
            raise StateSyncError(f"leaves rebuilding the state root {header.state_root.hex()} expected, found {state.root.hex()}")
        sets = ValidatorSets(genesis_set, lambda: (height, state))
        if trust.block_hash is None:
            log.info("state sync: checking the certificates of headers 1 to %d from the genesis", height)
            await verify_chain(peers, store.genesis_header(), header, sets, chain_id)
        else:
            try:  # the header is the trusted one: its certificate must still be its set's
                validators = sets.at(height)
                if header.validator_set_hash != validators.hash:
                    raise StateSyncError("a trusted header committing to the set the snapshot gives expected, found another")
                verify_commit(chain_id, header, CommitCertificate.decode(snapshot.certificate), validators)
            except (DecodeError, InvalidCommit) as exc:
                raise StateSyncError(f"block {height}'s certificate valid for its set expected: {exc}") from None
    await asyncio.to_thread(store.commit_snapshot, snapshot.block, snapshot.receipts, snapshot.certificate, snapshot.values)
    log.info("state sync: started from the state of height %d (%d keys, root %s)", height, len(snapshot.values),
             header.state_root.hex())
    return height
