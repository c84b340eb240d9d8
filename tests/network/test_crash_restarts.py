"""Validators killed with SIGKILL at random instants, twenty times, while blocks are being
committed and transactions are in flight (CometBFT's end-to-end "kill" perturbation): every
restart opens a consistent store (the daemon checks its head at start and would refuse to
run), no validator ever signs two different votes for one height, round and type (every
node would log the evidence), and every transaction sent is final once, at one height, on
every node."""

from __future__ import annotations

import random
import time

from tests.network.harness import Network, network  # noqa: F401 (fixture)
from tests.network.test_validators import final_height, height_at_least, same_chain, submit

KILLS = 20
SEED = 20261204  # fixed: the same instants on every run, so a failure can be replayed


def test_validators_killed_at_random_instants_restart_consistent_and_never_double_sign(network: Network) -> None:  # noqa: F811
    rng = random.Random(SEED)
    network.write(4)
    network.start()
    network.wait_all(height_at_least(2), deadline=60)
    sent: list[str] = []
    for nonce in range(KILLS):
        victim = rng.choice(network.names)
        others = [n for n in network.names if n != victim]
        sent += submit(network, rng.choice(others), range(nonce, nonce + 1))
        # The instant is the perturbation: anywhere within about two blocks.
        time.sleep(rng.uniform(0.0, 1.5))
        network.kill(victim)
        network.start(victim)
        network.wait(victim, lambda s: True, deadline=30)  # it restarted: its store opened
    top = max(network.status(n)["height"] for n in network.names) + 1
    network.wait_all(height_at_least(top), deadline=60)
    same_chain(network, network.names, top)
    for tx_hash in sent:
        heights = {name: final_height(network, name, tx_hash) for name in network.names}
        assert len(set(heights.values())) == 1, f"{tx_hash} final at one height everywhere expected, found {heights}"
    for name in network.names:
        log = network.output(name)
        assert "signed two" not in log, f"{name} saw a validator double-sign:\n{log[-3000:]}"
        assert "Traceback" not in log, f"{name} failed:\n{log[-3000:]}"
