"""A double-voting validator is caught as evidence (issue 10), with real processes: four
validators, validator-3's process stopped and its home taken by a Byzantine actor
(``tests.network.double_voter``) that signs two prevotes of one height and round for
different blocks and sends them over real peer links. The three honest validators each
report the pair; one report is committed, the chain goes on, and every node shows the one
record. The twin: votes that conflict in nothing (a duplicate, another round, another type)
are not evidence."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp

from tests.network.double_voter import DOUBLE_PREVOTE, NOT_EVIDENCE, double_vote
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


def test_a_double_voting_validator_is_caught_as_evidence(network: Network) -> None:  # noqa: F811
    peers = start_without_the_byzantine_validator(network)
    height = double_vote(network.homes[BYZANTINE].home, peers, DOUBLE_PREVOTE)
    wait_metric(network, 'meterchain_double_votes_total{type="prevote"}', 1.0)
    for name in HONEST:
        log = network.output(name)
        assert f"signed two prevote votes at height {height} round 0" in log, f"{name} logged no evidence:\n{log[-2000:]}"
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
