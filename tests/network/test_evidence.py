"""A double-voting validator is caught as evidence (issue 10), with real processes: four
validators, validator-3's process stopped and its home taken by a Byzantine actor
(``tests.network.double_voter``) that signs two prevotes of one height and round for
different blocks and sends them over real peer links. The three honest validators each
report the pair; one report is committed, the chain goes on, and every node shows the one
record, a removal proposal for validator-3 is open in governance, and a replay of the
evidence (on a peer link, through the API, or reported again from another account) is
refused. The twin: votes that conflict in nothing (a duplicate, another round, another
type) are not evidence: nothing is counted or committed."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from chain.signatures import sign_transaction
from chain.types import Nonce, Transaction
from tests.network.double_voter import (
    DOUBLE_PREVOTE,
    NOT_EVIDENCE,
    StolenHome,
    double_vote,
    send_transactions,
)
from tests.network.harness import Network, network  # noqa: F401 (fixture)
from tests.network.test_validators import height_at_least, same_chain

HONEST = ["validator-1", "validator-2", "validator-4"]
BYZANTINE = "validator-3"


def metric(network: Network, name: str, sample: str) -> float:  # noqa: F811
    """The value of one sample (``meterchain_double_votes_total{type="prevote"}``) on ``name``."""

    async def text() -> str:
        async with aiohttp.ClientSession() as http, http.get(network.homes[name].api_url + "/metrics") as response:
            return await response.text()

    found = re.search(rf"^{re.escape(sample)} (\S+)$", asyncio.run(text()), re.M)
    return 0.0 if found is None else float(found.group(1))


def wait_metric(network: Network, sample: str, value: float, deadline: float = 30.0) -> None:  # noqa: F811
    end = time.monotonic() + deadline
    seen = {}
    while time.monotonic() < end:
        seen = {name: metric(network, name, sample) for name in HONEST}
        if all(v == value for v in seen.values()):
            return
        time.sleep(0.2)
    raise AssertionError(f"{sample} = {value} on every honest node expected, found {seen}")


def start_without_the_byzantine_validator(network: Network) -> list[str]:  # noqa: F811
    network.write(4)
    network.start(*HONEST)  # three of four: enough power to decide
    network.wait_all(height_at_least(2), deadline=60, names=HONEST)
    return [network.homes[n].p2p_url for n in HONEST]


def assert_healthy(network: Network) -> None:  # noqa: F811
    """The honest validators go on finalizing one chain, and none of them failed."""
    top = max(network.status(n)["height"] for n in HONEST) + 2
    network.wait_all(height_at_least(top), deadline=40, names=HONEST)
    same_chain(network, HONEST, top)
    for name in HONEST:
        assert "Traceback" not in network.output(name), f"{name} failed:\n{network.output(name)[-3000:]}"


def committed_evidence(network: Network, deadline: float = 40.0) -> list[dict[str, Any]]:  # noqa: F811
    """``GET /v1/evidence`` once every honest node lists a record, the same on each."""
    end = time.monotonic() + deadline
    pages = {}
    while time.monotonic() < end:
        pages = {name: network.get(name, "/v1/evidence") for name in HONEST}
        if all(page.get("evidence") for page in pages.values()):
            break
        time.sleep(0.3)
    first = pages[HONEST[0]]
    assert all(page == first for page in pages.values()), f"one evidence page on every node expected, found {pages}"
    assert first["next_start_after"] is None
    return list(first["evidence"])


def evidence_transaction(network: Network, record: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """The successful ``governance.report_evidence`` in the block that committed ``record``."""
    block = network.get(HONEST[0], f"/v1/blocks/{record['block_height']}")
    reports = [
        tx for tx, receipt in zip(block["transactions"], block["receipts"], strict=True)
        if tx["function"] == "report_evidence" and receipt["status"] == "success"
    ]  # fmt: skip
    assert len(reports) == 1, f"one committed report in block {record['block_height']} expected, found {reports}"
    return dict(reports[0])


def reported_again(home: Path, raw: str) -> Transaction:
    """The same report from another account (the home's validator key, nonce 0)."""
    stolen = StolenHome(home)
    tx = Transaction.decode(bytes.fromhex(raw))
    return sign_transaction(replace(tx, sender=stolen.validator_key, nonce=Nonce(0)), stolen.validator_seed)


def wait_transaction(network: Network, name: str, tx_hash: str, deadline: float = 30.0) -> dict[str, Any]:  # noqa: F811
    """``GET /v1/transactions/{hash}`` once it is final or failed."""
    end = time.monotonic() + deadline
    status = network.get(name, f"/v1/transactions/{tx_hash}")
    while status["status"] in ("pending", "unknown") and time.monotonic() < end:
        time.sleep(0.2)
        status = network.get(name, f"/v1/transactions/{tx_hash}")
    return dict(status)


def test_a_double_voting_validator_is_caught_as_evidence(network: Network) -> None:  # noqa: F811
    peers = start_without_the_byzantine_validator(network)
    byzantine = network.homes[BYZANTINE]
    height = double_vote(byzantine.home, peers, DOUBLE_PREVOTE)
    wait_metric(network, 'meterchain_double_votes_total{type="prevote"}', 1.0)
    for name in HONEST:
        log = network.output(name)
        assert f"signed two prevote votes at height {height} round 0" in log, f"{name} logged no evidence:\n{log[-2000:]}"

    # Committed once, the same on every node, naming validator-3 and its votes.
    [record] = committed_evidence(network)
    assert record["validator"] == (byzantine.validator_key or b"").hex()
    assert (record["height"], record["round"], record["vote_type"]) == (height, 0, "prevote")
    honest_keys = {(network.homes[n].validator_key or b"").hex() for n in HONEST}
    assert record["reported_by"] in honest_keys
    # Each honest node submitted its own report; one was committed, the others failed.
    wait_metric(network, 'meterchain_evidence_reports_total{outcome="submitted"}', 1.0)

    # The evidence transaction, like any call, with its event.
    report = evidence_transaction(network, record)
    for name in HONEST:
        status = network.get(name, f"/v1/transactions/{report['hash']}")
        assert (status["status"], status["height"]) == ("final", record["block_height"]), status
        [event] = [e for e in status["receipt"]["events"] if e["name"] == "EvidenceCommitted"]
        assert event["fields"]["evidence_hash"] == "0x" + record["evidence_hash"], event

    # Governance: a removal proposal (power 0) for validator-3, opened by the evidence.
    answer = network.post(HONEST[0], "/v1/call", {"contract": "governance", "function": "proposals", "args": [0, 100]})
    assert answer["success"], answer
    removals = [
        p for p in answer["return_value"]
        if p["kind"] == "validators" and p["subject"]["changes"] == {"0x" + record["validator"]: 0}
    ]  # fmt: skip
    assert len(removals) == 1 and removals[0]["evidence"] == "0x" + record["evidence_hash"], answer

    # Replayed on a peer link and through the API: refused (its nonce is used); reported
    # again under a fresh nonce: the contract refuses it as already on chain.
    refused_before = metric(network, HONEST[0], 'meterchain_mempool_refused_total{reason="nonce_too_low"}')
    send_transactions(byzantine.home, network.homes[HONEST[0]].p2p_url, [bytes.fromhex(report["raw"])])
    deadline = time.monotonic() + 20
    while metric(network, HONEST[0], 'meterchain_mempool_refused_total{reason="nonce_too_low"}') == refused_before:
        assert time.monotonic() < deadline, "the replay on the peer link refused (nonce_too_low) expected"
        time.sleep(0.2)
    again = network.post(HONEST[1], "/v1/transactions", {"transactions": [report["raw"]]})
    assert again["results"][0]["reason"] == "nonce_too_low", again
    second = reported_again(byzantine.home, report["raw"])
    assert network.post(HONEST[1], "/v1/transactions", {"transactions": [second.encode().hex()]})["results"][0]["accepted"]
    failed = wait_transaction(network, HONEST[0], second.hash.hex())
    assert failed["status"] == "failed" and "already on chain" in failed["reason"], failed
    assert len(committed_evidence(network)) == 1
    assert_healthy(network)


def test_invalid_a_duplicate_vote_or_votes_of_other_rounds_or_types_are_not_evidence(network: Network) -> None:  # noqa: F811
    peers = start_without_the_byzantine_validator(network)
    height = double_vote(network.homes[BYZANTINE].home, peers, NOT_EVIDENCE)
    network.wait_all(height_at_least(height + 1), deadline=40, names=HONEST)  # the votes were judged
    assert_healthy(network)
    for name in HONEST:
        assert metric(network, name, 'meterchain_double_votes_total{type="prevote"}') == 0.0
        assert metric(network, name, 'meterchain_double_votes_total{type="precommit"}') == 0.0
        assert "signed two" not in network.output(name)
        assert network.get(name, "/v1/evidence") == {"evidence": [], "next_start_after": None}
