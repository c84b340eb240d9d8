"""Peer links over real sockets on 127.0.0.1: the handshake proving node keys, message checks
(dropped and counted, never a crash), validators-only consensus messages, reconnection with
back-off, and transaction gossip."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import pytest

from chain import codec
from chain.hashing import Domain
from chain.signatures import keypair_from_seed, sign, verify
from chain.transition import get_nonce
from chain.types import PublicKey, Signature
from consensus.messages import Vote, VoteType, sign_vote
from node.localchain import Actor, LocalChain
from node.mempool import ADMIT_CHUNK, Admission, Mempool, Reason
from node.metrics import NodeMetrics
from node.p2p import (
    AUTH,
    HELLO,
    MAX_PENDING_GOSSIP_BYTES,
    MAX_TXS_PER_FRAME,
    P2P_PATH,
    TXS,
    GossipAdmission,
    P2PConfig,
    P2PNetwork,
    PeerAddress,
    PeerLink,
    auth_message,
    decode_frame,
    encode_frame,
    serve_transaction_gossip,
)

CHAIN = "meterchain-local"


def seed_of(name: str) -> bytes:
    return hashlib.sha256(b"node-key:" + name.encode()).digest()


def key_of(name: str) -> bytes:
    return keypair_from_seed(seed_of(name))[1]


@dataclass
class Peer:
    name: str
    network: P2PNetwork
    metrics: NodeMetrics
    votes: list[tuple[bytes, Vote]] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.network.bound is not None
        host, port = self.network.bound
        return f"ws://{host}:{port}{P2P_PATH}"

    def address(self) -> PeerAddress:
        return PeerAddress(self.name, self.url, key_of(self.name))

    def dropped(self, reason: str) -> float:
        value = self.metrics.registry.get_sample_value("meterchain_dropped_messages_total", {"reason": reason})
        return value or 0.0


VALIDATORS = {key_of(n) for n in ("alice", "bob", "carol")}
REGULATORS = {key_of("regina")}


def role_of(key: bytes) -> Any:
    return "validator" if key in VALIDATORS else "regulator" if key in REGULATORS else None


@asynccontextmanager
async def started(name: str, peers: tuple[PeerAddress, ...] = (), port: int = 0, **config: Any) -> AsyncIterator[Peer]:
    metrics = NodeMetrics()
    network = P2PNetwork(
        P2PConfig(CHAIN, seed_of(name), listen_port=port, peers=peers, backoff_initial=0.05, backoff_max=0.2, **config),
        role_of,
        metrics,
    )
    peer = Peer(name, network, metrics)

    async def on_vote(link: PeerLink, payload: bytes) -> str | None:
        vote = Vote.decode(payload)  # a DecodeError would be a handler error: check here
        if not vote.signature_valid(CHAIN):
            return "bad_signature"
        peer.votes.append((link.node_key, vote))
        return None

    network.on("vote", 256, consensus=True, handler=on_vote)
    await network.start()
    try:
        yield peer
    finally:
        await network.stop()


async def wait_for(condition: Callable[[], bool], deadline: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not condition():
        if loop.time() > end:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)


def a_vote(signer: str = "alice", height: int = 5) -> Vote:
    vote = Vote(VoteType.PREVOTE, height, 0, None, PublicKey(key_of(signer)))
    return sign_vote(vote, seed_of(signer), CHAIN)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- links and the handshake ---------------------------------------------------------------


def test_two_validators_that_dial_each_other_keep_one_link_and_exchange_messages() -> None:
    async def scenario() -> None:
        async with started("alice") as alice, started("bob", (alice.address(),)) as bob:
            alice.network.config = replace(alice.network.config, peers=(bob.address(),))
            alice.network._spawn(alice.network._dial_forever(bob.address()))  # both dial now
            await wait_for(lambda: key_of("bob") in alice.network.links and key_of("alice") in bob.network.links)
            await asyncio.sleep(0.3)  # let a simultaneous second link be resolved
            assert len(alice.network.links) == 1 and len(bob.network.links) == 1
            a_link, b_link = alice.network.links[key_of("bob")], bob.network.links[key_of("alice")]
            assert a_link.dialer_key == b_link.dialer_key  # both kept the same link
            assert alice.network.broadcast("vote", a_vote("alice").encode()) == 1
            await wait_for(lambda: len(bob.votes) == 1)
            assert bob.votes[0][0] == key_of("alice") and bob.votes[0][1] == a_vote("alice")
            assert bob.metrics.registry.get_sample_value("meterchain_peers") == 1.0

    run(scenario())


@asynccontextmanager
async def raw_link(url: str) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        yield ws


async def handshake_as(
    ws: aiohttp.ClientWebSocketResponse, seed: bytes, chain_id: str = CHAIN, forge: bool = False
) -> bytes:
    """Play a peer's side of the handshake; returns the listener's key."""
    _, own_key = keypair_from_seed(seed)
    challenge = bytes(32)
    await ws.send_bytes(encode_frame(HELLO, codec.encode([chain_id, own_key, challenge])))
    kind, payload = decode_frame((await ws.receive()).data, 1024)
    assert kind == HELLO
    _, their_key, their_challenge = codec.decode(payload)
    proof = sign(seed, Domain.PEER_AUTH, auth_message(chain_id, their_challenge, own_key, their_key))
    if forge:
        proof = Signature(bytes(64))
    await ws.send_bytes(encode_frame(AUTH, proof))
    kind, their_proof = decode_frame((await ws.receive()).data, 1024)
    assert kind == AUTH  # the listener proves its key over our challenge, bound to both keys
    assert verify(their_key, Domain.PEER_AUTH, auth_message(chain_id, challenge, their_key, own_key), their_proof)
    assert not verify(their_key, Domain.PEER_AUTH, auth_message("other", challenge, their_key, own_key), their_proof)
    return bytes(their_key)


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> str:
    while True:
        msg = await asyncio.wait_for(ws.receive(), 5)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return str(msg.extra or "")


def test_invalid_handshakes_are_refused_with_what_was_expected() -> None:
    async def scenario() -> None:
        async with started("alice") as alice:
            async with raw_link(alice.url) as ws:  # a key the chain does not know
                await handshake_as(ws, seed_of("mallory"))
                assert await closed_with(ws) == "unknown node key"
            async with raw_link(alice.url) as ws:  # a validator's key without its secret
                await handshake_as(ws, seed_of("bob"), forge=True)
                assert "over our challenge expected" in await closed_with(ws)
            async with raw_link(alice.url) as ws:  # another chain
                await ws.send_bytes(encode_frame(HELLO, codec.encode(["other", key_of("bob"), bytes(32)])))
                await ws.receive()
                assert "chain id 'meterchain-local' expected, found 'other'" in await closed_with(ws)
            async with raw_link(alice.url) as ws:  # garbage instead of a hello
                await ws.receive()
                await ws.send_bytes(b"\xc1garbage")
                assert "expected" in await closed_with(ws)
            assert alice.network.links == {}
            async with raw_link(alice.url) as ws:  # after all that, bob still gets in
                assert await handshake_as(ws, seed_of("bob")) == key_of("alice")
                await wait_for(lambda: key_of("bob") in alice.network.links)

    run(scenario())


def test_a_dialler_refuses_a_listener_proving_another_key() -> None:
    async def scenario() -> None:
        async with started("carol") as carol:
            impostor = PeerAddress("bob", carol.url, key_of("bob"))  # carol answers at bob's address
            async with started("alice", (impostor,)) as alice:
                await asyncio.sleep(0.3)
                assert alice.network.links == {} and carol.network.links == {}

    run(scenario())


# --- messages after the handshake ----------------------------------------------------------


def test_invalid_messages_are_dropped_and_counted_and_the_link_carries_on() -> None:
    async def scenario() -> None:
        async with started("alice") as alice, raw_link(alice.url) as ws:
            await handshake_as(ws, seed_of("bob"))
            await wait_for(lambda: key_of("bob") in alice.network.links)
            forged = replace(a_vote("bob"), signature=Signature(bytes(64)), _checked=[])
            bad_frames = [
                (b"\xc1\xc1", "malformed"),  # not msgpack
                (codec.encode(["vote"]), "malformed"),  # not [kind, payload]
                (encode_frame("gossip-me", b"x"), "unknown_kind"),
                (encode_frame("vote", b"\x00" * 300), "oversized"),  # over the vote's 256 bytes
                (encode_frame("vote", b"\x93\x01\x02\x03"), "handler_error"),  # decodes, not a vote
                (encode_frame("vote", forged.encode()), "bad_signature"),
            ]
            for frame, _ in bad_frames:
                await ws.send_bytes(frame)
            await ws.send_str("text frames are not part of the protocol")
            await ws.send_bytes(encode_frame("vote", a_vote("bob").encode()))
            await wait_for(lambda: len(alice.votes) == 1)  # the good one after all the bad ones
            for _, reason in bad_frames:
                assert alice.dropped(reason) >= 1, reason
            assert alice.dropped("malformed") == 2 and alice.dropped("not_binary") == 1
            assert key_of("bob") in alice.network.links

    run(scenario())


def test_invalid_frame_over_the_link_limit_closes_that_link_only() -> None:
    async def scenario() -> None:
        async with started("alice", max_frame=4096) as alice, raw_link(alice.url) as ws:
            await handshake_as(ws, seed_of("bob"))
            await wait_for(lambda: key_of("bob") in alice.network.links)
            await ws.send_bytes(encode_frame("vote", b"\x00" * 10_000))
            await closed_with(ws)
            await wait_for(lambda: alice.dropped("oversized") == 1)
            async with raw_link(alice.url) as again:
                await handshake_as(again, seed_of("bob"))
                await wait_for(lambda: key_of("bob") in alice.network.links)

    run(scenario())


def test_invalid_consensus_message_from_a_regulator_is_dropped_but_the_regulator_receives() -> None:
    async def scenario() -> None:
        async with started("alice") as alice, started("regina", (alice.address(),)) as regina:
            await wait_for(lambda: key_of("regina") in alice.network.links and key_of("alice") in regina.network.links)
            assert alice.network.links[key_of("regina")].role == "regulator"
            regina.network.broadcast("vote", a_vote("regina").encode())
            await wait_for(lambda: alice.dropped("not_validator") == 1)
            assert alice.votes == []
            alice.network.broadcast("vote", a_vote("alice").encode())
            await wait_for(lambda: len(regina.votes) == 1)

    run(scenario())


# --- reconnection ----------------------------------------------------------------------------


def test_a_dropped_link_is_redialled_with_back_off_until_the_peer_returns() -> None:
    async def scenario() -> None:
        async with started("bob") as bob:
            port = bob.network.bound[1]  # type: ignore[index]
            address = bob.address()
        async with started("alice", (address,)) as alice:
            await asyncio.sleep(0.3)  # bob is down: alice keeps trying, nothing breaks
            assert alice.network.links == {}
            async with started("bob", port=port):
                await wait_for(lambda: key_of("bob") in alice.network.links)
            await wait_for(lambda: alice.network.links == {})
            async with started("bob", port=port) as bob_again:
                await wait_for(lambda: key_of("bob") in alice.network.links)
                alice.network.broadcast("vote", a_vote("alice").encode())
                await wait_for(lambda: len(bob_again.votes) == 1)

    run(scenario())


# --- transaction gossip ----------------------------------------------------------------------


def test_transactions_are_gossiped_along_the_links_once_and_never_back() -> None:
    chain = LocalChain.genesis()
    users = [Actor.named(f"user{i}") for i in range(5)]
    txs = [chain.transaction(u, "registry", "utility", ["X"], 0) for u in users]

    async def scenario() -> None:
        pools = {n: Mempool(CHAIN) for n in ("alice", "bob", "carol", "regina")}
        received: dict[str, int] = {n: 0 for n in pools}

        def admit_into(name: str) -> Callable[[list[bytes]], list[Any]]:
            def admit(raws: list[bytes]) -> list[Any]:
                received[name] += len(raws)
                return [pools[name].add_raw(r, 1, lambda a: get_nonce(chain.state, a)) for r in raws]
            return admit

        async with AsyncExitStack() as stack:
            carol = await stack.enter_async_context(started("carol"))
            bob = await stack.enter_async_context(started("bob", (carol.address(),)))
            alice = await stack.enter_async_context(started("alice", (bob.address(),)))
            regina = await stack.enter_async_context(started("regina", (alice.address(), bob.address())))
            received["regina"] = 0
            for peer in (alice, bob, carol, regina):
                serve_transaction_gossip(peer.network, admit_into(peer.name))
            await wait_for(lambda: len(bob.network.links) == 3 and len(alice.network.links) == 2 and len(carol.network.links) == 1)
            answers = [pools["alice"].add_raw(tx.encode(), 1, lambda a: get_nonce(chain.state, a)) for tx in txs]
            alice.network.gossip_transactions([(a.tx_hash, tx.encode()) for a, tx in zip(answers, txs, strict=True)])
            await wait_for(lambda: len(pools["carol"]) == 5)
            assert len(pools["bob"]) == 5
            await asyncio.sleep(0.1)  # time for any echo to arrive, if there were one
            # Regulators never propose: no transaction is gossiped to them.
            assert received == {"alice": 0, "bob": 5, "carol": 5, "regina": 0}
            # A peer gossiping a forged transaction is counted as misbehaving.
            forged = replace(txs[0], signature=Signature(bytes(64)), nonce=1)
            bob.network.broadcast(TXS, codec.encode([forged.encode()]))
            await wait_for(lambda: carol.dropped("bad_transaction") == 1)
            bob.network.broadcast(TXS, codec.encode(["not bytes"]))
            await wait_for(lambda: carol.dropped("malformed") == 1)

    run(scenario())


def test_a_peers_vote_is_handled_while_the_transactions_it_sent_before_wait_for_admission() -> None:
    """A frame of transactions is admitted apart from the link's reader: the vote bob sends
    right after 1,024 slow-to-admit transactions reaches carol's handler before they are
    all admitted (it used to wait behind them), and they are all admitted in the end."""
    admitted: list[int] = []
    vote_seen_after: list[int] = []

    def slow_admit(raws: list[bytes]) -> list[Any]:
        time.sleep(0.01)  # a chunk's signature checks
        admitted.append(len(raws))
        return [Admission.refused(None, Reason.DUPLICATE, "already pending") for _ in raws]

    async def scenario() -> None:
        async with started("carol") as carol, started("bob", (carol.address(),)) as bob:
            serve_transaction_gossip(carol.network, slow_admit)
            await wait_for(lambda: key_of("bob") in carol.network.links)
            bob.network.broadcast(TXS, codec.encode([bytes([i % 256]) * 40 for i in range(1024)]))
            bob.network.broadcast("vote", a_vote("bob").encode())
            await wait_for(lambda: len(carol.votes) == 1)
            vote_seen_after.append(sum(admitted))
            await wait_for(lambda: sum(admitted) == 1024)

    run(scenario())
    assert vote_seen_after[0] < 1024


def test_invalid_gossip_admission_holds_a_frame_in_order_when_its_queue_is_full() -> None:
    """Twin: the queue is bounded. Frames past MAX_PENDING_GOSSIP_BYTES wait at their
    link's reader (back-pressure) and are still admitted, every one, in arrival order."""
    order: list[bytes] = []

    def admit(raws: list[bytes]) -> list[Any]:
        time.sleep(0.002)
        order.extend(r[:1] for r in raws)
        return [Admission.refused(None, Reason.DUPLICATE, "already pending") for _ in raws]

    frames = 6
    tx_size = MAX_PENDING_GOSSIP_BYTES // 2 // MAX_TXS_PER_FRAME  # two frames fill the queue

    async def scenario() -> None:
        async with started("carol") as carol, started("bob", (carol.address(),)) as bob:
            admission = serve_transaction_gossip(carol.network, admit)
            await wait_for(lambda: key_of("bob") in carol.network.links)
            for frame in range(frames):
                bob.network.broadcast(TXS, codec.encode([bytes([frame]) * (tx_size - 16)] * MAX_TXS_PER_FRAME))
            await wait_for(lambda: len(order) == frames * MAX_TXS_PER_FRAME, deadline=30.0)
            assert admission.pending == 0

    run(scenario())
    assert order == [bytes([frame]) for frame in range(frames) for _ in range(MAX_TXS_PER_FRAME)]


def test_a_proposer_admits_the_waiting_gossip_at_once_in_order() -> None:
    """``admit_pending`` (a proposer about to build) admits every queued transaction there and
    then, the frame the task had begun included, in arrival order, each once."""
    order: list[bytes] = []

    def admit(raws: list[bytes]) -> list[Any]:
        order.extend(r[:1] for r in raws)
        return [Admission.refused(None, Reason.DUPLICATE, "already pending") for _ in raws]

    async def scenario() -> None:
        async with started("carol") as carol, started("bob", (carol.address(),)) as _bob:
            admission = serve_transaction_gossip(carol.network, admit)
            await wait_for(lambda: key_of("bob") in carol.network.links)
            link = carol.network.links[key_of("bob")]
            for frame in range(3):
                await admission.receive(link, codec.encode([bytes([frame]) * 40] * MAX_TXS_PER_FRAME))
            worker = admission._worker
            assert worker is not None
            await asyncio.sleep(0)  # the task starts and yields
            await asyncio.sleep(0)  # it admits its first chunk
            assert len(order) == ADMIT_CHUNK
            assert admission.admit_pending(budget=60.0) == 3 * MAX_TXS_PER_FRAME - ADMIT_CHUNK
            assert admission.pending == 0
            await asyncio.wait_for(worker, 5.0)  # it wakes up to an empty queue and ends cleanly

    run(scenario())
    assert order == [bytes([frame]) for frame in range(3) for _ in range(MAX_TXS_PER_FRAME)]


def test_invalid_a_proposer_admits_a_backlog_only_for_its_budget_and_the_task_the_rest_in_order() -> None:
    """Twin: a backlog larger than the budget is not all admitted before the build (the
    proposal would be late); the task admits the rest afterwards, each once, in order."""
    order: list[bytes] = []
    clock = [0.0]

    def admit(raws: list[bytes]) -> list[Any]:
        clock[0] += 0.1  # each chunk of the backlog takes 0.1 s by the admission's clock
        order.extend(r[:1] for r in raws)
        return [Admission.refused(None, Reason.DUPLICATE, "already pending") for _ in raws]

    async def scenario() -> None:
        async with started("carol") as carol, started("bob", (carol.address(),)) as _bob:
            admission = GossipAdmission(carol.network, admit, clock=lambda: clock[0])
            await wait_for(lambda: key_of("bob") in carol.network.links)
            link = carol.network.links[key_of("bob")]
            # Three frames from bob's link queued with no turn of the loop between them, so
            # the task has admitted none of them yet.
            for frame in range(3):
                await admission.receive(link, codec.encode([bytes([frame]) * 40] * MAX_TXS_PER_FRAME))
            assert admission.pending == 3
            # 0.1 s a chunk: the chunks begun at 0, 0.1 and 0.2 s into the 0.25 s, no more.
            assert admission.admit_pending(budget=0.25) == 3 * ADMIT_CHUNK
            assert admission.pending == 3  # the rest waits for the task
            await wait_for(lambda: admission.pending == 0, deadline=30.0)

    run(scenario())
    assert order == [bytes([frame]) for frame in range(3) for _ in range(MAX_TXS_PER_FRAME)]


@pytest.mark.parametrize("kind", [HELLO, AUTH, "x" * 33])
def test_invalid_kind_names_cannot_be_registered(kind: str) -> None:
    network = P2PNetwork(P2PConfig(CHAIN, seed_of("alice")), role_of, NodeMetrics())

    async def handler(link: PeerLink, payload: bytes) -> str | None:
        return None

    with pytest.raises(ValueError, match="expected"):
        network.on(kind, 10, False, handler)
