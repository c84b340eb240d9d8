"""HTTP load on a node's API with locust: users submit batches of signed meter readings
(``POST /v1/transactions``) and read ``GET /v1/status`` and ``GET /v1/transactions/{hash}``.

Against a running network whose homes ``meterchain init DIR`` wrote (``meterchain devnet up
DIR`` started it): before the users start, the demonstration's utility and households are
set up through the API with the network's governance key (``bench_network.setup_calls``),
so the readings are real ones the billing contract accepts. A network is set up once: run
the next test against a fresh one.

    METERCHAIN_NETWORK=DIR METERCHAIN_METERS=200 locust -f bench/locustfile.py \\
        --host http://127.0.0.1:PORT --headless -u 8 -r 2 -t 60s

``--host`` is one validator's API; every reading is submitted there (the network gossips
it). ``METERCHAIN_BATCH`` sets the readings per POST (default 50).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any

import aiohttp
from locust import FastHttpUser, between, events, task

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_network import Readings, setup_calls

from meterchain.households import NetworkHouseholds
from node.testnet import GOVERNANCE_KEY_FILE

BATCH = int(os.environ.get("METERCHAIN_BATCH", "50"))
SUBMITTED: deque[str] = deque(maxlen=10_000)  # recent accepted hashes, for the status reads
_readings: Readings | None = None
_lock = threading.Lock()


async def _set_up(api: str, directory: Path, meters: int) -> Readings:
    seed = bytes.fromhex((directory / GOVERNANCE_KEY_FILE).read_text().strip())
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{api}/v1/status") as response:
            chain_id = (await response.json())["chain_id"]
        households = NetworkHouseholds([api], chain_id, seed, meters)
        setup = setup_calls(households)
        for chunk in setup:
            await households.run_step(http, chunk, deadline=120.0)
    return Readings(households, setup)


@events.test_start.add_listener
def set_up(environment: Any, **_: Any) -> None:
    global _readings
    directory = Path(os.environ.get("METERCHAIN_NETWORK", "devnet"))
    meters = int(os.environ.get("METERCHAIN_METERS", "200"))
    _readings = asyncio.run(_set_up(environment.host.rstrip("/"), directory, meters))


class ApiUser(FastHttpUser):
    wait_time = between(0.05, 0.2)

    @task(4)
    def submit_readings(self) -> None:
        assert _readings is not None, "the households are set up at test start"
        with _lock:  # one sender's nonces are handed out in order
            lanes = _readings.make(BATCH)
        body = {"transactions": [tx.encode().hex() for lane in lanes for tx in lane]}
        with self.client.post("/v1/transactions", json=body, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
                return
            results = response.json()["results"]
            refused = [r for r in results if not r["accepted"]]
            SUBMITTED.extend(r["hash"] for r in results if r["accepted"])
            if refused:
                response.failure(
                    f"{len(refused)} refused, e.g. {refused[0]['reason']}: {refused[0]['message']}"
                )

    @task(2)
    def status(self) -> None:
        self.client.get("/v1/status")

    @task(2)
    def transaction(self) -> None:
        if SUBMITTED:
            tx_hash = random.choice(SUBMITTED)
            self.client.get(f"/v1/transactions/{tx_hash}", name="/v1/transactions/{hash}")
