"""Validators as real processes on 127.0.0.1 (real sockets, real LevelDB), the matrix of
CometBFT's end-to-end suite and Besu's BFT acceptance tests, in a lean form:

(a) one validator produces blocks, and a transaction submitted through its API becomes final;
(b) four validators produce blocks, and all four hold the same block at every height;
(c) one of four killed with SIGKILL: the chain goes on, and the restarted one catches up;
(d) two of four stopped: the chain halts without forking; restarted, it resumes within 20 s;
(e) one of four frozen with SIGSTOP for 10 s: the chain goes on, and once thawed it catches up.
"""

from __future__ import annotations

import time

from tests.network.harness import Network, network  # noqa: F401 (fixture)


def height_at_least(h: int):  # type: ignore[no-untyped-def]
    return lambda s: s["height"] >= h


def same_chain(network: Network, names: list[str], top: int) -> list[str]:  # noqa: F811
    """The block hashes of heights 1..top, equal on every named node."""
    chains = {n: network.block_hashes(n, top) for n in names}
    first = chains[names[0]]
    for name, chain in chains.items():
        assert chain == first, f"{name} holds other blocks than {names[0]}: {chain} != {first}"
    return first


def submit(network: Network, name: str, nonces: range) -> list[str]:  # noqa: F811
    """Governance transactions of consecutive nonces, each accepted by ``name``; their hashes."""
    txs = [network.governance_transaction(n, f"UTIL{n}") for n in nonces]
    answer = network.post(name, "/v1/transactions", {"transactions": [tx.encode().hex() for tx in txs]})
    assert all(r["accepted"] for r in answer["results"]), answer
    return [tx.hash.hex() for tx in txs]


def final_height(network: Network, name: str, tx_hash: str, deadline: float = 30) -> int:  # noqa: F811
    """The height at which ``tx_hash`` is final on ``name``, with a successful receipt."""
    end = time.monotonic() + deadline
    status = network.get(name, f"/v1/transactions/{tx_hash}")
    while status["status"] != "final" and time.monotonic() < end:
        time.sleep(0.1)
        status = network.get(name, f"/v1/transactions/{tx_hash}")
    assert status["status"] == "final" and status["receipt"]["status"] == "success", (name, status)
    return int(status["height"])


def test_one_validator_produces_blocks_and_a_submitted_transaction_becomes_final(network: Network) -> None:  # noqa: F811
    network.write(1)
    network.start()
    network.wait("validator-1", height_at_least(1), deadline=30)
    tx = network.governance_transaction(0, "ELEC")
    answer = network.post("validator-1", "/v1/transactions", {"transactions": [tx.encode().hex()]})
    assert answer["results"][0]["accepted"], answer
    tx_hash = tx.hash.hex()
    end = time.monotonic() + 15
    status = network.get("validator-1", f"/v1/transactions/{tx_hash}")
    while status["status"] != "final" and time.monotonic() < end:
        time.sleep(0.1)
        status = network.get("validator-1", f"/v1/transactions/{tx_hash}")
    assert status["status"] == "final", status
    assert status["receipt"]["status"] == "success", status
    block = network.get("validator-1", f"/v1/blocks/{status['height']}")
    assert block["certificate"], "a final block carries its commit certificate"
    network.wait("validator-1", height_at_least(status["height"] + 1), deadline=10)  # it goes on
    assert network.stop("validator-1") == 0


def test_four_validators_produce_the_same_block_at_every_height(network: Network) -> None:  # noqa: F811
    network.write(4)
    network.start()
    statuses = network.wait_all(height_at_least(4), deadline=60)
    assert all(s["peers"] == 3 for s in statuses.values()), statuses
    hashes = same_chain(network, network.names, 4)
    proposers = {network.get("validator-1", f"/v1/blocks/{h}")["header"]["proposer"] for h in range(1, 5)}
    assert len(hashes) == 4 and len(proposers) >= 2, "the proposer rotates"


def test_a_validator_killed_with_sigkill_restarts_and_catches_up(network: Network) -> None:  # noqa: F811
    network.write(4)
    network.start()
    network.wait_all(height_at_least(2), deadline=60)
    before = submit(network, "validator-1", range(0, 3))  # in flight when the kill comes
    network.kill("validator-4")
    live = ["validator-1", "validator-2", "validator-3"]
    killed_at = max(network.status(n)["height"] for n in live)
    during = submit(network, "validator-2", range(3, 6))
    network.wait_all(height_at_least(killed_at + 3), deadline=40, names=live)  # the chain goes on
    network.start("validator-4")
    target = max(network.status(n)["height"] for n in live)
    network.wait("validator-4", height_at_least(target + 1), deadline=30)
    same_chain(network, network.names, target + 1)
    # None lost, none applied twice: each is final once, at the same height on every node.
    for tx_hash in before + during:
        heights = {name: final_height(network, name, tx_hash) for name in network.names}
        assert len(set(heights.values())) == 1, f"{tx_hash} final at one height everywhere expected, found {heights}"


def test_two_of_four_stopped_halt_the_chain_without_a_fork_and_it_resumes(network: Network) -> None:  # noqa: F811
    network.write(4)
    network.start()
    network.wait_all(height_at_least(2), deadline=60)
    assert network.stop("validator-3") == 0 and network.stop("validator-4") == 0
    live = ["validator-1", "validator-2"]
    stopped_at = max(network.status(n)["height"] for n in live)
    # Half the power cannot decide: at most a block already precommitted before the stop is
    # committed, then nothing for a while (an observation window, not a wait for an event).
    end = time.monotonic() + 4
    while time.monotonic() < end:
        heights = [network.status(n)["height"] for n in live]
        assert max(heights) <= stopped_at + 1, f"the chain went on with half the power: {heights}"
        time.sleep(0.25)
    halted = max(network.status(n)["height"] for n in live)
    restarted = time.monotonic()
    network.start("validator-3", "validator-4")
    network.wait_all(height_at_least(halted + 1), deadline=20)
    resumed_after = time.monotonic() - restarted
    assert resumed_after < 20
    same_chain(network, network.names, halted + 1)


def test_a_validator_paused_with_sigstop_for_ten_seconds_catches_up(network: Network) -> None:  # noqa: F811
    network.write(4)
    network.start()
    network.wait_all(height_at_least(2), deadline=60)
    network.pause("validator-2")
    paused = time.monotonic()
    try:
        live = ["validator-1", "validator-3", "validator-4"]
        paused_at = max(network.status(n)["height"] for n in live)
        network.wait_all(height_at_least(paused_at + 3), deadline=40, names=live)  # the chain goes on
        # The scenario is a 10 s stall: its length is the perturbation, not a wait for an event.
        time.sleep(max(0.0, 10 - (time.monotonic() - paused)))
    finally:
        network.resume("validator-2")
    target = max(network.status(n)["height"] for n in live)
    network.wait("validator-2", height_at_least(target + 1), deadline=30)
    same_chain(network, network.names, target + 1)
