"""``GET /v1/evidence``: cleo double-votes in three rounds; anna's node reports each pair
(``node.evidence.report_transaction``, so the arguments meet the real governance contract)
and the API pages the committed records by evidence hash. Its parameters are checked, it is
in the generated OpenAPI document, and a chain without the governance contract answers 404
saying so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

from consensus.evidence import DuplicateVoteEvidence
from consensus.messages import Vote, VoteType, sign_vote
from node.api import ApiContext, StandaloneNode, make_app
from node.evidence import report_transaction
from node.localchain import Actor, LocalChain
from node.mempool import Mempool
from tests.node.local_chain_view import LocalChainView
from tests.node.test_api import Node, run, running_node

CHAIN_ID = "meterchain-evidence-api"
ANNA, BEN, CLEO, DORA = (Actor.named(n) for n in ("anna", "ben", "cleo", "dora"))


@asynccontextmanager
async def council_node() -> AsyncIterator[Node]:
    """A chain whose genesis names four validators (so it has the governance contract),
    served by the API."""
    validators = tuple((a.public_key, 10) for a in (ANNA, BEN, CLEO, DORA))
    chain = LocalChain.genesis(chain_id=CHAIN_ID, validators=validators)
    view = LocalChainView(chain)
    ctx = ApiContext(view, Mempool(CHAIN_ID), StandaloneNode("validator", (ANNA.public_key,)))
    runner = web.AppRunner(make_app(ctx))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as http:
            yield Node(chain, view, ctx, f"http://{host}:{port}", http, [])
    finally:
        await runner.cleanup()


def cleo_double_prevote(height: int, round: int) -> DuplicateVoteEvidence:
    def vote(block_hash: bytes | None) -> Vote:
        return sign_vote(Vote(VoteType.PREVOTE, height, round, block_hash, CLEO.public_key), CLEO.seed, CHAIN_ID)

    return DuplicateVoteEvidence.of(vote(None), vote(bytes([round + 1]) * 32))


def test_committed_evidence_is_listed_page_by_page_in_evidence_hash_order() -> None:
    async def scenario() -> None:
        async with council_node() as node:
            pairs = [cleo_double_prevote(1, round) for round in range(3)]
            reports = [report_transaction(CHAIN_ID, ANNA.seed, nonce, 50, e) for nonce, e in enumerate(pairs)]
            receipts = node.chain.submit(reports)
            assert all(r.ok for r in receipts), [r.error for r in receipts]
            node.view.blocks_added()
            status, first = await node.get("/v1/evidence?limit=2")
            assert status == 200, first
            status, rest = await node.get(f"/v1/evidence?limit=2&start_after={first['next_start_after']}")
            assert status == 200 and rest["next_start_after"] is None, rest
            records = first["evidence"] + rest["evidence"]
            assert [r["evidence_hash"] for r in records] == sorted(e.hash.hex() for e in pairs)
            assert first["next_start_after"] == records[1]["evidence_hash"]
            by_hash = {e.hash.hex(): e for e in pairs}
            for record in records:
                evidence = by_hash[record["evidence_hash"]]
                assert record == {
                    "evidence_hash": evidence.hash.hex(), "validator": CLEO.public_key.hex(), "height": 1,
                    "round": evidence.vote_a.round, "vote_type": "prevote", "reported_by": ANNA.public_key.hex(),
                    "block_height": 1,
                }  # fmt: skip

    run(scenario())


def test_evidence_route_is_documented_with_its_models() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            _, document = await node.get("/openapi.json")
            route = document["paths"]["/v1/evidence"]["get"]
            assert {p["name"] for p in route["parameters"]} == {"start_after", "limit"}
            assert route["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/EvidenceResponse"}
            record = document["components"]["schemas"]["EvidenceRecord"]["properties"]
            assert set(record) == {"evidence_hash", "validator", "height", "round", "vote_type", "reported_by", "block_height"}

    run(scenario())


def test_invalid_evidence_page_parameters_are_refused_with_what_was_expected() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            for query, expected in (
                ("limit=0", "limit from 1 to 100 expected, found 0"),
                ("limit=101", "limit from 1 to 100 expected, found 101"),
                ("limit=ten", "limit: a non-negative integer expected"),
                ("start_after=zz", "start_after: hex digits expected"),
                ("start_after=abcd", "start_after: 32 bytes (64 hex digits) expected, found 2 bytes"),
            ):
                status, body = await node.get(f"/v1/evidence?{query}")
                assert status == 400 and expected in body["error"], (query, body)

    run(scenario())


def test_invalid_a_chain_without_the_governance_contract_has_no_evidence_to_show() -> None:
    async def scenario() -> None:
        async with running_node() as node:
            status, body = await node.get("/v1/evidence")
            assert status == 404 and "the governance contract's evidence_page view expected" in body["error"], body

    run(scenario())
