"""The HTTP API over the real chain core: an in-memory chain from genesis, served by a real
aiohttp runner on a free 127.0.0.1 port, spoken to by a real client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from chain import codec, keys
from chain.merkle import Proof
from chain.signatures import sign_transaction
from chain.state import verify_proof
from chain.transition import get_nonce
from chain.types import Signature, Transaction
from node.api import ApiContext, StandaloneNode, make_app, publish_block
from node.api.app import API_KEY_HEADER, ROUTES
from node.api.models import MAX_BATCH
from node.localchain import Actor, LocalChain
from node.mempool import ADMIT_CHUNK, Mempool
from tests.node.local_chain_view import LocalChainView

GOV = Actor.named("governance")
ADMIN = Actor.named("admin")
ALICE = Actor.named("alice")
VALIDATOR_KEY = bytes(range(32))
OPERATOR_KEY = "s3cret-operator-key"


@dataclass
class Node:
    """A chain, its view, a mempool and the API context, as the daemon wires them."""

    chain: LocalChain
    view: LocalChainView
    ctx: ApiContext
    base: str
    http: aiohttp.ClientSession
    gossiped: list[tuple[bytes, bytes]]  # what the API handed on for gossip

    def tx(self, actor: Actor, function: str, args: list[Any], nonce: int | None = None) -> Transaction:
        if nonce is None:
            nonce = get_nonce(self.chain.state, actor.public_key) + sum(
                1 for n in self.ctx.mempool.sender_nonces(actor.public_key)
            )
        return self.chain.transaction(actor, "registry", function, args, nonce)

    def commit_block(self) -> int:
        """What the node does when a block is final: commit, recheck the pool, publish."""
        pool = self.ctx.mempool
        txs = pool.ready(lambda a: get_nonce(self.chain.state, a), 1000)
        self.chain.submit(txs)
        self.view.blocks_added()
        pool.recheck(txs, self.chain.height + 1, lambda a: get_nonce(self.chain.state, a))
        finalized = self.view.block(self.chain.height)
        assert finalized is not None
        publish_block(self.ctx, finalized)
        return self.chain.height

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.http.get(self.base + path, **kwargs) as response:
            body = await response.text()
            is_json = response.content_type == "application/json"
            return response.status, json.loads(body) if is_json else body

    async def post(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.http.post(self.base + path, **kwargs) as response:
            return response.status, json.loads(await response.text())

    async def submit(self, *txs: Transaction) -> list[dict[str, Any]]:
        status, body = await self.post("/v1/transactions", json={"transactions": [t.encode().hex() for t in txs]})
        assert status == 200, body
        return list(body["results"])


@asynccontextmanager
async def running_node(max_body: int = 1024 * 1024, api_key: str | None = OPERATOR_KEY) -> AsyncIterator[Node]:
    chain = LocalChain.genesis()
    view = LocalChainView(chain)
    gossiped: list[tuple[bytes, bytes]] = []
    ctx = ApiContext(
        view, Mempool(chain.chain_id), StandaloneNode("validator", (VALIDATOR_KEY,)),
        api_key=api_key, max_body_bytes=max_body, on_admitted=gossiped.extend,
    )
    runner = web.AppRunner(make_app(ctx))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as http:
            yield Node(chain, view, ctx, f"http://{host}:{port}", http, gossiped)
    finally:
        await runner.cleanup()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def with_utility(node: Node) -> None:
    """Governance registers utility ELEC with ADMIN; ADMIN a branch and a field (block 1)."""
    answers = await node.submit(
        node.tx(GOV, "register_utility", ["ELEC", "Electric", "electricity", "EUR", "auto", ADMIN.public_key]),
    )
    answers += await node.submit(
        node.tx(ADMIN, "register_branch", ["ELEC/B1", "Branch", "here"]),
    )
    answers += await node.submit(node.tx(ADMIN, "register_field", ["ELEC/B1/F1", "Field", "there"]))
    assert all(a["accepted"] for a in answers), answers
    node.commit_block()


def meter_args(meter_id: str) -> list[Any]:
    return [meter_id, "ELEC/B1/F1", "premises " + meter_id, 1, 6, 20_000, 0, b"", b""]


# --- status, transactions, blocks -------------------------------------------------------------


def test_status_reports_the_chain_head_role_and_validators() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            status, body = await node.get("/v1/status")
            assert status == 200
            assert body == {
                "chain_id": "meterchain-local",
                "height": 0,
                "last_block_hash": node.chain.head.hash.hex(),
                "state_root": node.chain.head.state_root.hex(),
                "role": "validator",
                "validators": [VALIDATOR_KEY.hex()],
                "peers": 0,
                "syncing": False,
                "mempool": 0,
            }

    run(scenario())


def test_a_submitted_transaction_goes_from_pending_to_final_with_its_receipt_and_events() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            tx = node.tx(GOV, "register_utility", ["ELEC", "Electric", "electricity", "EUR", "auto", ADMIN.public_key])
            [answer] = await node.submit(tx)
            assert answer == {"hash": tx.hash.hex(), "accepted": True, "reason": None, "message": None}
            assert node.gossiped == [(tx.hash, tx.encode())]
            status, body = await node.get(f"/v1/transactions/{tx.hash.hex()}")
            assert (status, body["status"], body["height"], body["receipt"]) == (200, "pending", None, None)
            height = node.commit_block()
            status, body = await node.get(f"/v1/transactions/0x{tx.hash.hex()}")
            assert body["status"] == "final" and body["height"] == height == 1 and body["index"] == 0
            receipt = body["receipt"]
            assert receipt["status"] == "success" and receipt["tx_hash"] == tx.hash.hex()
            event, granted = receipt["events"]
            assert granted["name"] == "role_granted"
            assert event["contract"] == "registry" and event["name"] == "utility_registered"
            assert event["fields"]["utility"] == "ELEC" and event["fields"]["admin"] == "0x" + ADMIN.public_key.hex()
            assert codec.decode(bytes.fromhex(event["fields_hex"]))["name"] == "Electric"
            assert node.ctx.mempool.get(tx.hash) is None

    run(scenario())


def test_invalid_transactions_in_a_batch_are_refused_each_with_its_reason() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            good = node.tx(GOV, "register_utility", ["ELEC", "E", "electricity", "EUR", "auto", ADMIN.public_key])
            forged = replace(node.tx(ALICE, "register_branch", ["X/Y", "n", "l"]), signature=Signature(bytes(64)))
            status, body = await node.post(
                "/v1/transactions",
                json={"transactions": [good.encode().hex(), "zz", "c0", forged.encode().hex(), good.encode().hex()]},
            )
            assert status == 200 and body["accepted"] == 1
            results = body["results"]
            assert results[0]["accepted"] and results[0]["hash"] == good.hash.hex()
            assert results[1] == {
                "hash": None, "accepted": False, "reason": "decode",
                "message": "transactions[1]: hex digits expected, found 'zz'",
            }
            assert results[2]["reason"] == "decode" and "expected" in results[2]["message"]
            assert results[3]["reason"] == "bad_signature" and results[3]["hash"] == forged.hash.hex()
            assert results[4]["reason"] == "duplicate"
            assert node.gossiped == [(good.hash, good.encode())]  # only what was admitted
            _, metrics = await node.get("/metrics")
            assert 'meterchain_mempool_refused_total{reason="decode"} 2.0' in metrics
            assert 'meterchain_mempool_refused_total{reason="bad_signature"} 1.0' in metrics

    run(scenario())


def test_a_large_batch_is_admitted_in_chunks_answered_in_order() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            good = node.tx(GOV, "register_utility", ["ELEC", "E", "electricity", "EUR", "auto", ADMIN.public_key])
            batch = ["c0"] * (ADMIT_CHUNK + 5) + [good.encode().hex(), "zz"]
            status, body = await node.post("/v1/transactions", json={"transactions": batch})
            assert status == 200 and body["accepted"] == 1 and len(body["results"]) == len(batch)
            assert body["results"][ADMIT_CHUNK + 5]["hash"] == good.hash.hex()
            last = len(batch) - 1  # its place in the whole request, not in its chunk
            assert body["results"][last]["message"] == f"transactions[{last}]: hex digits expected, found 'zz'"
            _, metrics = await node.get("/metrics")
            assert f'meterchain_mempool_refused_total{{reason="decode"}} {ADMIT_CHUNK + 6}.0' in metrics

    run(scenario())


def test_failed_and_dropped_and_unknown_transactions_say_so() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            failing = node.tx(ALICE, "register_branch", ["NOPE/B", "n", "l"])  # no utility NOPE
            expiring = replace(node.tx(ADMIN, "register_branch", ["X/B", "n", "l"], nonce=1), expiry_height=1)
            expiring = sign_transaction(expiring, ADMIN.seed)
            answers = await node.submit(failing, expiring)
            assert [a["accepted"] for a in answers] == [True, True]
            node.commit_block()  # Admin's nonce 0 never came: at height 2 the other expired
            _, body = await node.get(f"/v1/transactions/{failing.hash.hex()}")
            assert body["status"] == "failed" and body["height"] == 1
            assert "utility" in body["reason"] and body["receipt"]["status"] == "failed"
            _, body = await node.get(f"/v1/transactions/{expiring.hash.hex()}")
            assert body == {
                "hash": expiring.hash.hex(), "status": "failed", "height": None, "index": None,
                "reason": "inclusion at height <= 1 expected, found next height 2: expired", "receipt": None,
            }
            _, body = await node.get("/v1/transactions/" + "ab" * 32)
            assert body["status"] == "unknown"
            status, body = await node.get("/v1/transactions/abcd")
            assert status == 400 and "32 bytes (64 hex digits) expected, found 2 bytes" in body["error"]

    run(scenario())


def test_blocks_by_height_and_latest() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            status, body = await node.get("/v1/blocks/latest")
            assert status == 404 and "genesis" in body["error"]
            await with_utility(node)
            block = node.chain.blocks[0]
            status, body = await node.get("/v1/blocks/1")
            assert status == 200 and body["hash"] == block.header.hash.hex()
            assert body["header"]["state_root"] == block.header.state_root.hex()
            assert body["header"]["height"] == 1 and body["certificate"] is None
            assert [t["raw"] for t in body["transactions"]] == [t.encode().hex() for t in block.transactions]
            assert [t["function"] for t in body["transactions"]] == ["register_utility", "register_branch", "register_field"]
            assert [r["status"] for r in body["receipts"]] == ["success"] * 3
            assert (await node.get("/v1/blocks/latest"))[1] == body
            status, body = await node.get("/v1/blocks/2")
            assert status == 404 and body["error"] == "a block height from 1 to 1 expected, found 2"
            status, body = await node.get("/v1/blocks/-1")
            assert status == 400 and "non-negative integer expected" in body["error"]

    run(scenario())


# --- state and calls ------------------------------------------------------------------------


def test_state_values_come_with_proofs_that_check_against_the_header_root() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            await with_utility(node)
            await node.submit(node.tx(ADMIN, "register_meter", meter_args("M1")))
            node.commit_block()
            nonce_key = keys.nonce_key(ADMIN.public_key).hex()
            for height, expected_nonce in ((2, 3), (1, 2), (0, None)):
                status, body = await node.get(f"/v1/state/{nonce_key}", params={"proof": "true", "height": str(height)})
                assert status == 200 and body["height"] == height
                root = node.view.state(height).root
                assert body["root"] == root.hex()
                value = None if body["value"] is None else bytes.fromhex(body["value"])
                assert (None if value is None else codec.decode(value)) == expected_nonce
                proof = Proof.decode(bytes.fromhex(body["proof"]))
                assert verify_proof(root, bytes.fromhex(nonce_key), value, proof)
                assert not verify_proof(root, bytes.fromhex(nonce_key), codec.encode(99), proof)
            assert node.view.state(2).root == node.chain.head.state_root
            _, body = await node.get(f"/v1/state/{nonce_key}")
            assert body["proof"] is None and body["height"] == 2
            status, body = await node.get(f"/v1/state/{nonce_key}", params={"height": "3"})
            assert status == 404 and "from 0 to 2 expected, found 3" in body["error"]
            status, body = await node.get("/v1/state/xyz")
            assert status == 400 and "hex digits expected" in body["error"]

    run(scenario())


def test_read_only_calls_with_json_or_canonical_arguments() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            await with_utility(node)
            before = node.chain.state.root
            status, body = await node.post("/v1/call", json={"contract": "registry", "function": "utility", "args": ["ELEC"]})
            assert status == 200 and body["success"] and body["return_value"]["name"] == "Electric"
            assert codec.decode(bytes.fromhex(body["return_value_hex"]))["currency"] == "EUR"
            status, body2 = await node.post(
                "/v1/call", json={"contract": "registry", "function": "utility", "args_hex": codec.encode(["ELEC"]).hex()}
            )
            assert body2 == body
            status, body = await node.post("/v1/call", json={"contract": "registry", "function": "no_such", "args": []})
            assert status == 200 and not body["success"] and body["error"] and body["return_value_hex"] is None
            status, body = await node.post("/v1/call", json={"contract": "registry", "function": "utility", "args": [1.5]})
            assert status == 422 and body["error"] == "args[0]: integers expected (the chain has no floats), found 1.5"
            assert node.chain.state.root == before

    run(scenario())


# --- the event stream ---------------------------------------------------------------------------


def test_event_stream_delivers_finalized_events_matching_the_filter() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            await with_utility(node)
            async with node.http.ws_connect(node.base + "/v1/events", params={"meter": "M2"}) as by_meter, \
                    node.http.ws_connect(node.base + "/v1/events", params={"contract": "registry", "name": "meter_registered"}) as by_name:
                await wait_for(lambda: len(node.ctx.events) == 2)
                await node.submit(node.tx(ADMIN, "register_meter", meter_args("M1")))
                await node.submit(node.tx(ADMIN, "register_meter", meter_args("M2")))
                height = node.commit_block()
                first = json.loads(await asyncio.wait_for(by_meter.receive_str(), 5))
                assert first["height"] == height and first["index"] == 1
                assert first["event"]["name"] == "meter_registered" and first["event"]["fields"]["meter"] == "M2"
                names = [json.loads(await asyncio.wait_for(by_name.receive_str(), 5))["event"]["fields"]["meter"] for _ in range(2)]
                assert names == ["M1", "M2"]
                await node.submit(node.tx(ADMIN, "activate_meter", ["M1"]))
                node.commit_block()
                with pytest.raises(asyncio.TimeoutError):  # M1's activation matches neither filter
                    await asyncio.wait_for(by_meter.receive_str(), 0.3)
            await wait_for(lambda: len(node.ctx.events) == 0)

    run(scenario())


async def wait_for(condition: Any, deadline: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not condition():
        if loop.time() > end:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)


# --- operator endpoints, metrics -----------------------------------------------------------------


def test_operator_endpoints_need_the_api_key() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            status, body = await node.get("/v1/operator/mempool")
            assert status == 401 and body["error"] == "an X-API-Key header with the operator API key expected, found none"
            status, body = await node.get("/v1/operator/mempool", headers={API_KEY_HEADER: "guess"})
            assert status == 401 and "found another key" in body["error"]
            await node.submit(node.tx(GOV, "register_utility", ["E", "E", "electricity", "EUR", "auto", ADMIN.public_key]))
            status, body = await node.get("/v1/operator/mempool", headers={API_KEY_HEADER: OPERATOR_KEY})
            assert status == 200 and body["transactions"] == 1 and body["admitted"] == 1
            status, body = await node.get("/v1/operator/peers", headers={API_KEY_HEADER: OPERATOR_KEY})
            assert (status, body) == (200, {"peers": []})
        async with running_node(api_key=None) as node:
            status, body = await node.get("/v1/operator/peers", headers={API_KEY_HEADER: OPERATOR_KEY})
            assert status == 401 and "found none configured" in body["error"]

    run(scenario())


def test_metrics_are_prometheus_text() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            await with_utility(node)
            async with node.http.get(node.base + "/metrics") as response:
                assert response.status == 200 and response.content_type == "text/plain"
                text = await response.text()
            assert "meterchain_height 1.0" in text and "meterchain_mempool_transactions 0.0" in text
            for name in ("meterchain_finality_seconds_bucket", "meterchain_peers", "meterchain_consensus_round"):
                assert name in text

    run(scenario())


# --- bad requests: a 4xx that says what was expected and found; the node stays up ------------------


def test_invalid_requests_get_a_4xx_saying_what_was_expected_and_the_node_stays_up() -> None:
    async def scenario() -> None:
        async with running_node(max_body=4096) as node:
            cases = [
                (dict(data="{}", headers={"Content-Type": "text/plain"}), 415, "content type application/json expected, found text/plain"),
                (dict(data="{not json", headers={"Content-Type": "application/json"}), 400, "a JSON body expected, found invalid JSON"),
                (dict(json={"transactions": "00"}), 422, "transactions: Input should be a valid list (found '00')"),
                (dict(json={"transactions": []}), 422, "transactions: List should have at least 1 item"),
                (dict(json={"transactions": ["00"], "extra": 1}), 422, "extra: Extra inputs are not permitted"),
                (dict(json=[1, 2]), 422, "a SubmitTransactionsRequest expected"),
                (dict(json={"transactions": ["00" * 4000]}), 413, "a body of at most 4096 bytes expected, found 8022 bytes"),
            ]
            for kwargs, status, message in cases:
                got_status, body = await node.post("/v1/transactions", **kwargs)
                assert (got_status, body["status"]) == (status, status), body
                assert message in body["error"], body

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(10):
                    yield b'{"transactions": ["' + b"00" * 500

            got_status, body = await node.post("/v1/transactions", data=chunks(), headers={"Content-Type": "application/json"})
            assert got_status == 413 and "at most 4096 bytes expected" in body["error"]
            got_status, body = await node.post("/v1/transactions", json={"transactions": ["00"] * (MAX_BATCH + 1)})
            assert got_status in (413, 422)
            status, _ = await node.get("/v1/status")
            assert status == 200
            _, text = await node.get("/metrics")
            assert 'meterchain_api_client_errors_total{status="422"}' in text

    run(scenario())


# --- the OpenAPI document ------------------------------------------------------------------------


def test_openapi_document_is_generated_from_the_models_and_covers_every_route() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            status, document = await node.get("/openapi.json")
            assert status == 200 and document["openapi"] == "3.1.0"
            routed = {(r.method.lower(), r.path) for r in ROUTES}
            documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
            assert documented == routed
            schemas = document["components"]["schemas"]
            submit = schemas["SubmitTransactionsRequest"]
            assert submit["properties"]["transactions"]["maxItems"] == MAX_BATCH
            assert submit["additionalProperties"] is False
            _, live = await node.get("/v1/status")
            assert set(schemas["StatusResponse"]["properties"]) == set(live)
            post = document["paths"]["/v1/transactions"]["post"]
            assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SubmitTransactionsRequest"}
            assert {"400", "413", "415", "422"} <= set(post["responses"])
            assert document["paths"]["/v1/operator/peers"]["get"]["security"] == [{"apiKey": []}]
            assert "EventMessage" in schemas and "EventModel" in schemas

    run(scenario())
