"""A reading's history from the blocks (node.history, node.api.history) and the wallet's
check of it (wallet.history_check), over a real LevelDB store of certified blocks
(tests/node/history_chain.py) served by a real aiohttp runner on 127.0.0.1. Each tampered
answer is a ``test_invalid_*`` case the wallet must refuse."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web

from chain import codec
from consensus.validators import ValidatorSet
from node.api import ApiContext, StandaloneNode, make_app
from node.api.history import MAX_PAGE, ReadingsResponse, SubscriptionHistoryResponse
from node.history import INDEXED_KEY, HistoryIndex, catch_up
from node.mempool import Mempool
from node.storechain import StoredChainView
from tests.node.history_chain import START, HistoryChain, build_history_chain, genesis
from wallet.history_check import (
    HistoryCheckError,
    check_continuous,
    verify_readings,
    verify_subscription_history,
)

CHAIN_ID = genesis().chain_id
VALIDATORS = genesis().validator_set()


def validators_at(height: int) -> ValidatorSet:
    return VALIDATORS


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HistoryChain]:
    h = build_history_chain(tmp_path_factory.mktemp("history") / "db")
    yield h
    h.store.close()


def get(h: HistoryChain, path: str) -> tuple[int, Any]:
    """One GET against the node's API served by a real runner on a free port."""

    async def scenario() -> tuple[int, Any]:
        ctx = ApiContext(StoredChainView(h.store, CHAIN_ID), Mempool(CHAIN_ID), StandaloneNode(),
                         history=HistoryIndex(h.store.db))
        runner = web.AppRunner(make_app(ctx))
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            async with aiohttp.ClientSession() as http, http.get(f"http://{host}:{port}{path}") as response:
                return response.status, json.loads(await response.text())
        finally:
            await runner.cleanup()

    return asyncio.run(scenario())


def readings(h: HistoryChain, query: str) -> ReadingsResponse:
    status, body = get(h, f"/v1/meters/MTR-A/readings?{query}")
    assert status == 200, body
    return ReadingsResponse.model_validate(body)


# --- the index --------------------------------------------------------------------------


def test_a_meters_readings_come_back_in_time_order_with_block_and_transaction(history: HistoryChain) -> None:
    answer = readings(history, "")
    assert [(r.timestamp, r.index) for r in answer.items] == history.readings["MTR-A"]
    assert answer.next is None and answer.proof is None
    for item in answer.items:
        block = history.store.block(item.height)
        assert block is not None and block.transactions[item.tx_index].hash.hex() == item.tx_hash
    # One reading of a collector's batch, one interval of a load profile.
    assert {(r.name, r.interval is None) for r in answer.items} == {("reading", True), ("load_profile", False)}
    # Each interval's length, as a rebill's readings give it (a plain reading's is 0).
    assert {(r.name, r.interval_seconds) for r in answer.items} == {("reading", 0), ("load_profile", 6 * 3600)}
    other = get(history, "/v1/meters/MTR-B/readings")[1]
    assert [(r["timestamp"], r["index"]) for r in other["items"]] == history.readings["MTR-B"]


def test_invalid_failed_transactions_leave_no_history(history: HistoryChain) -> None:
    answer = readings(history, "")
    assert not {i.tx_hash for i in answer.items} & {t.hex() for t in history.refused}
    assert get(history, "/v1/meters/NO-SUCH-METER/readings")[1]["items"] == []


def test_time_range_and_pages(history: HistoryChain) -> None:
    times = [t for t, _ in history.readings["MTR-A"]]
    window = readings(history, f"from={times[1]}&to={times[4]}")
    assert [r.timestamp for r in window.items] == times[1:4]
    pages: list[int] = []
    after = ""
    while True:
        page = readings(history, f"limit=2{after}")
        assert len(page.items) <= 2
        pages += [r.timestamp for r in page.items]
        if page.next is None:
            break
        after = f"&after={page.next}"
    assert pages == times


def test_the_index_is_rebuilt_from_the_blocks_the_same(history: HistoryChain) -> None:
    db = history.store.db
    before = list(db.iterator(prefix=b"h:"))
    with db.write_batch() as batch:
        for key, _ in before:
            batch.delete(key)
    assert db.get(INDEXED_KEY) is None
    head = history.store.head().height
    assert catch_up(db, head, lambda n: (history.store.block(n), history.store.receipts(n))) == head
    assert list(db.iterator(prefix=b"h:")) == before
    assert catch_up(db, head, lambda n: (history.store.block(n), history.store.receipts(n))) == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=10&to=5", "from < to expected, found from 10, to 5"),
        ("to=abc", "to: an integer from 0 to"),
        ("limit=0", f"limit: an integer from 1 to {MAX_PAGE} expected, found 0"),
        (f"limit={MAX_PAGE + 1}", f"limit: an integer from 0 to {MAX_PAGE} expected, found '{MAX_PAGE + 1}'"),
        ("after=zz", "after: hex digits expected"),
        ("proof=maybe", "proof: true or false expected, found 'maybe'"),
    ],
)
def test_invalid_parameters_are_refused_with_what_was_expected(history: HistoryChain, query: str, message: str) -> None:
    status, body = get(history, f"/v1/meters/MTR-A/readings?{query}")
    assert status == 400 and message in body["error"], body


# --- proofs, and the wallet's check --------------------------------------------------------


def test_the_wallet_checks_a_meters_readings_without_trusting_the_node(history: HistoryChain) -> None:
    answer = readings(history, "proof=true")
    checked = verify_readings(answer, "MTR-A", CHAIN_ID, validators_at)
    assert [(r.timestamp, r.index) for r in checked] == history.readings["MTR-A"]
    check_continuous(checked)
    assert checked[0].previous is not None and checked[0].previous < checked[0].timestamp  # the meter's baseline
    # One proof per block and per receipt, however many items share them.
    assert answer.proof is not None
    assert len(answer.proof.receipts) == len({(i.height, i.tx_index) for i in answer.items})


def test_the_wallet_checks_a_subscriptions_invoices_and_payments(history: HistoryChain) -> None:
    sub = history.subscriptions["MTR-A"]
    for kind, name in (("invoices", "invoice"), ("payments", "payment")):
        # A subscription id holds "#": quoted in the path, as any client must.
        status, body = get(history, f"/v1/subscriptions/{quote(sub, safe='')}/{kind}?proof=true")
        assert status == 200, body
        answer = SubscriptionHistoryResponse.model_validate(body)
        [event] = verify_subscription_history(answer, sub, kind, CHAIN_ID, validators_at)
        assert event.name == name and event.fields["meter"] == "MTR-A"


def tampered(answer: ReadingsResponse, change: Any) -> ReadingsResponse:
    body = json.loads(answer.model_dump_json())
    change(body)
    return ReadingsResponse.model_validate(body)


def _flip(hex_text: str, at: int) -> str:
    data = bytearray(bytes.fromhex(hex_text))
    data[at] ^= 1
    return data.hex()


def _other_header(body: dict[str, Any]) -> None:
    blocks = body["proof"]["blocks"]
    blocks[0]["certificate"] = blocks[1]["certificate"]


def _forged_index(body: dict[str, Any]) -> None:
    body["items"][0]["index"] += 1


def _forged_interval_length(body: dict[str, Any]) -> None:
    # A load profile's interval passed off as a plain reading (a rebill's commitment tells them apart).
    next(i for i in body["items"] if i["interval"] is not None)["interval_seconds"] = 0


def _forged_fields(body: dict[str, Any]) -> None:
    item = body["items"][0]
    fields = codec.decode(bytes.fromhex(item["fields_hex"]))
    fields["index"] += 1
    item["fields_hex"] = codec.encode(fields).hex()
    item["index"] += 1


def _forged_receipt(body: dict[str, Any]) -> None:
    receipt = body["proof"]["receipts"][0]
    receipt["receipt"] = _flip(receipt["receipt"], len(receipt["receipt"]) // 4)


def _wrong_position(body: dict[str, Any]) -> None:
    body["proof"]["blocks"][0]["receipt_count"] += 1
    body["proof"]["receipts"][0]["siblings"].append("00" * 32)


def _other_meter(body: dict[str, Any]) -> None:
    body["meter"] = "MTR-B"


def _out_of_order(body: dict[str, Any]) -> None:
    body["items"][0], body["items"][1] = body["items"][1], body["items"][0]


def _no_proof(body: dict[str, Any]) -> None:
    body["proof"] = None


def _weak_certificate(body: dict[str, Any]) -> None:
    # Only two of four precommits: not more than 2/3 of the power.
    block = body["proof"]["blocks"][0]
    cert = codec.decode(bytes.fromhex(block["certificate"]))
    cert[3] = cert[3][:2]
    block["certificate"] = codec.encode(cert).hex()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_other_header, "final expected"),
        (_forged_index, "expected, found"),
        (_forged_interval_length, "closing an interval of 21600 s expected"),
        (_forged_fields, "with its fields expected"),
        (_forged_receipt, "Merkle proof to the receipts root"),
        (_wrong_position, "Merkle proof to the receipts root"),
        (_other_meter, "readings of meter MTR-A expected"),
        (_out_of_order, "time order expected"),
        (_no_proof, "proof=true"),
        (_weak_certificate, "more than 2/3"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_invalid_tampered_answer_is_refused(history: HistoryChain, change: Any, message: str) -> None:
    answer = readings(history, "proof=true")
    with pytest.raises(HistoryCheckError, match=message):
        verify_readings(tampered(answer, change), "MTR-A", CHAIN_ID, validators_at)


def test_invalid_answer_under_another_validator_set_is_refused(history: HistoryChain) -> None:
    answer = readings(history, "proof=true")
    stranger = genesis().model_copy(update={"validators": genesis().validators[:3]}).validator_set()
    assert stranger.hash != VALIDATORS.hash
    with pytest.raises(HistoryCheckError, match="committing to the trusted validator set"):
        verify_readings(answer, "MTR-A", CHAIN_ID, lambda height: stranger)


def test_invalid_answer_leaving_a_reading_out_is_caught_by_continuity(history: HistoryChain) -> None:
    answer = readings(history, "proof=true")
    body = json.loads(answer.model_dump_json())
    del body["items"][2]
    checked = verify_readings(ReadingsResponse.model_validate(body), "MTR-A", CHAIN_ID, validators_at)
    with pytest.raises(HistoryCheckError, match="readings left out"):
        check_continuous(checked)


def test_readings_from_the_start_of_the_chain(history: HistoryChain) -> None:
    assert readings(history, f"to={START + 2 * 86_400}").items[0].timestamp == history.readings["MTR-A"][0][0]


def test_the_history_routes_are_in_the_openapi_document(history: HistoryChain) -> None:
    status, doc = get(history, "/openapi.json")
    assert status == 200
    for path in ("/v1/meters/{meter}/readings", "/v1/subscriptions/{subscription}/invoices",
                 "/v1/subscriptions/{subscription}/payments"):
        assert "get" in doc["paths"][path]
