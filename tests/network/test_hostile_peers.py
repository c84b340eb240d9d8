"""Hostile input on a running network changes nothing: a peer that proves a validator's node
key (its node was never started) replays the votes and proposals it receives, sends garbage,
frames of unknown kinds and oversized frames over the peer link; the API gets malformed
bodies and a replayed transaction. Each is refused or dropped and counted, the three honest
validators keep finalizing the same chain, and none of them stops."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from pathlib import Path

import aiohttp

from chain import codec
from chain.hashing import Domain
from chain.signatures import keypair_from_seed, sign
from node.p2p import AUTH, HELLO, auth_message, decode_frame, encode_frame
from tests.network.harness import Network, network  # noqa: F401 (fixture)
from tests.network.test_validators import final_height, height_at_least, same_chain, submit


async def impersonate(url: str, chain_id: str, seed: bytes, rounds: int) -> int:
    """Link to ``url`` as the node of ``seed``; replay everything received back to it and
    mix in garbage. The number of frames replayed."""
    node_key = keypair_from_seed(seed)[1]
    replayed = 0
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=64 << 20) as ws:
        challenge = os.urandom(32)
        await ws.send_bytes(encode_frame(HELLO, codec.encode([chain_id, node_key, challenge])))
        kind, payload = decode_frame((await ws.receive()).data, 1024)
        assert kind == HELLO
        their_key, their_challenge = codec.decode(payload)[1:]
        await ws.send_bytes(encode_frame(AUTH, sign(seed, Domain.PEER_AUTH, auth_message(chain_id, their_challenge, node_key, their_key))))
        kind, _ = decode_frame((await ws.receive()).data, 1024)
        assert kind == AUTH
        for _ in range(rounds):
            message = await ws.receive(timeout=10)
            if message.type != aiohttp.WSMsgType.BINARY:
                break
            kind, payload = decode_frame(message.data, 64 << 20)
            await ws.send_bytes(message.data)  # a replay of the peer's own message
            replayed += 1
            await ws.send_bytes(b"\xc1 not a frame")
            await ws.send_bytes(encode_frame("no_such_kind", b"x"))
            await ws.send_bytes(encode_frame(kind, payload[: len(payload) // 2]))  # truncated
            await ws.send_bytes(encode_frame(kind, bytes(reversed(payload))))  # mangled
        # Oversized: the node closes this link (only this one) before it is all sent.
        with contextlib.suppress(ConnectionError, aiohttp.ClientError):
            await ws.send_bytes(encode_frame("vote", bytes(32 << 20)))
    return replayed


def dropped_total(network: Network, name: str) -> float:  # noqa: F811
    async def metrics() -> str:
        async with aiohttp.ClientSession() as http, http.get(network.homes[name].api_url + "/metrics") as response:
            return await response.text()

    text = asyncio.run(metrics())
    return sum(float(v) for v in re.findall(r'^meterchain_dropped_messages_total\{[^}]*\} (\S+)$', text, re.M))


def test_invalid_peer_frames_and_api_bodies_change_nothing(network: Network, tmp_path: Path) -> None:  # noqa: F811
    network.write(4)
    honest = ["validator-1", "validator-2", "validator-3"]
    network.start(*honest)  # three of four: enough power to decide
    network.wait_all(height_at_least(2), deadline=60, names=honest)
    chain_id = network.status("validator-1")["chain_id"]
    seed = bytes.fromhex((network.homes["validator-4"].home / "node_key").read_text().strip())
    replayed = asyncio.run(impersonate(network.homes["validator-1"].p2p_url, chain_id, seed, rounds=20))
    assert replayed > 0, "the impersonator received messages to replay"
    assert dropped_total(network, "validator-1") > 0, "the garbage was dropped and counted"

    # The API: malformed JSON, a wrong content type, an oversized body, a replayed transaction.
    url = network.homes["validator-1"].api_url + "/v1/transactions"

    async def hostile_api() -> list[int]:
        async with aiohttp.ClientSession() as http:
            codes = []
            for body, ctype in ((b"{not json", "application/json"), (b"{}", "text/plain"), (b"[" + b"1," * (8 << 20) + b"1]", "application/json")):
                async with http.post(url, data=body, headers={"Content-Type": ctype}) as response:
                    codes.append(response.status)
            return codes

    assert all(400 <= code < 500 for code in asyncio.run(hostile_api()))
    [tx_hash] = submit(network, "validator-1", range(0, 1))
    final_height(network, "validator-1", tx_hash)
    again = network.post("validator-1", "/v1/transactions", {"transactions": [network.governance_transaction(0, "UTIL0").encode().hex()]})
    assert not again["results"][0]["accepted"], f"a replayed transaction refused expected, found {again}"

    # Nothing changed: every honest validator goes on, on one chain.
    top = max(network.status(n)["height"] for n in honest) + 2
    network.wait_all(height_at_least(top), deadline=40, names=honest)
    same_chain(network, honest, top)
