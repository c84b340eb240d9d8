"""A Byzantine validator for the multi-process tests (never a node feature): it takes a
validator's home while that validator's own process is stopped, links to the other
validators with the real handshake under the home's node key, learns the height they work
on from the votes they send, and sends them votes it signs with the home's validator key,
bypassing the signer file that keeps an honest node from signing two votes for one height,
round and type.

``double_vote(home, peer_urls, chain_id, plan)`` sends the votes of ``plan`` for the height
after the highest one seen (votes for the next height are kept by every node until it
starts it, so none of them arrives too late) and returns that height.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import aiohttp

from chain import codec
from chain.errors import DecodeError
from chain.hashing import Domain, Hash32
from chain.signatures import keypair_from_seed, sign
from consensus.messages import Vote, VoteType, sign_vote
from node.config import load_config
from node.consensus_io import VOTE
from node.p2p import AUTH, HELLO, TXS, auth_message, decode_frame, encode_frame

MADE_UP_BLOCK = Hash32(hashlib.sha256(b"a block nobody proposed").digest())


class PlannedVote(NamedTuple):
    type: VoteType
    round: int
    block_hash: Hash32 | None


# Two prevotes of one round for different blocks (nil and a made-up one): evidence.
DOUBLE_PREVOTE = (PlannedVote(VoteType.PREVOTE, 0, None), PlannedVote(VoteType.PREVOTE, 0, MADE_UP_BLOCK))
# None of these pairs is evidence: the same vote twice (a duplicate), one block at two rounds,
# and a prevote and a precommit of one round (different types).
NOT_EVIDENCE = (
    PlannedVote(VoteType.PREVOTE, 0, MADE_UP_BLOCK),
    PlannedVote(VoteType.PREVOTE, 0, MADE_UP_BLOCK),
    PlannedVote(VoteType.PREVOTE, 1, None),
    PlannedVote(VoteType.PRECOMMIT, 0, None),
)


class StolenHome:
    """The keys of a stopped validator's home."""

    def __init__(self, home: Path) -> None:
        config = load_config(home)
        assert config.validator_seed is not None, f"a validator's home expected, found {home} without a validator key"
        self.chain_id = config.chain_id
        self.node_seed = config.node_seed
        self.node_key = keypair_from_seed(config.node_seed)[1]
        self.validator_seed = config.validator_seed
        self.validator_key = keypair_from_seed(config.validator_seed)[1]

    def vote(self, planned: PlannedVote, height: int) -> Vote:
        unsigned = Vote(planned.type, height, planned.round, planned.block_hash, self.validator_key)
        return sign_vote(unsigned, self.validator_seed, self.chain_id)


async def link(http: aiohttp.ClientSession, url: str, home: StolenHome) -> aiohttp.ClientWebSocketResponse:
    """A peer link to ``url`` proving ``home``'s node key (node.p2p's handshake)."""
    ws = await http.ws_connect(url, max_msg_size=64 << 20)
    challenge = os.urandom(32)
    await ws.send_bytes(encode_frame(HELLO, codec.encode([home.chain_id, home.node_key, challenge])))
    kind, payload = decode_frame((await ws.receive(timeout=10)).data, 1024)
    assert kind == HELLO, f"a hello frame expected from {url}, found {kind!r}"
    their_key, their_challenge = codec.decode(payload)[1:]
    proof = sign(home.node_seed, Domain.PEER_AUTH, auth_message(home.chain_id, their_challenge, home.node_key, their_key))
    await ws.send_bytes(encode_frame(AUTH, proof))
    kind, _ = decode_frame((await ws.receive(timeout=10)).data, 1024)
    assert kind == AUTH, f"an auth frame expected from {url}, found {kind!r}"
    return ws


async def height_of(ws: aiohttp.ClientWebSocketResponse, deadline: float) -> int:
    """The height of the next vote the peer sends (its working height)."""
    while time.monotonic() < deadline:
        message = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        if message.type != aiohttp.WSMsgType.BINARY:
            break
        kind, payload = decode_frame(message.data, 64 << 20)
        if kind == VOTE:
            try:
                return Vote.decode(payload).height
            except DecodeError:
                continue
    raise TimeoutError("a vote from the peer expected, found none before the deadline")


async def _double_vote(home: StolenHome, peer_urls: Sequence[str], plan: Sequence[PlannedVote], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        links = [await link(http, url, home) for url in peer_urls]
        try:
            target = max([await height_of(ws, deadline) for ws in links]) + 1
            frames = [encode_frame(VOTE, home.vote(planned, target).encode()) for planned in plan]
            for ws in links:
                for frame in frames:
                    await ws.send_bytes(frame)
        finally:
            for ws in links:
                await ws.close()
    return target


def double_vote(home: Path, peer_urls: Sequence[str], plan: Sequence[PlannedVote], timeout: float = 30.0) -> int:
    """Send ``plan``'s votes, signed with ``home``'s validator key, to every peer for the
    height after the highest one they work on; that height."""
    return asyncio.run(_double_vote(StolenHome(home), peer_urls, plan, timeout))


async def _send_transactions(home: StolenHome, peer_url: str, raws: Sequence[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await link(http, peer_url, home)
        await ws.send_bytes(encode_frame(TXS, codec.encode(list(raws))))
        await ws.close()


def send_transactions(home: Path, peer_url: str, raws: Sequence[bytes]) -> None:
    """Gossip ``raws`` to the peer at ``peer_url`` over a link proving ``home``'s node key
    (a replay on the peer link)."""
    asyncio.run(_send_transactions(StolenHome(home), peer_url, raws))
