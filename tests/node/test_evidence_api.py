"""``GET /v1/evidence``: its parameters are checked, it is in the generated OpenAPI document,
and a chain without the governance contract answers 404 saying so."""

from __future__ import annotations

from tests.node.test_api import run, running_node


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
