"""The demonstration's households on a real network: the same utility set-up, the same
simulated DSMR meters and wallets (``meterchain.demo``), but every transaction goes to a
node's HTTP API and counts only once it is final.

``NetworkHouseholds.set_up`` sends the utility's set-up step by step (each step waits until
its transactions are final: the next one depends on it), signed by the network's
governance key for the first. ``read_round`` advances every meter by up to an hour (never
past the present: the billing contract refuses a reading from the future), parses its P1
telegram with the DSMR adapter and submits the signed readings as one batch, round robin
over the validators' APIs. Nonces are counted here, from the chain's at the start.

Unlike the one-process demonstration, time is real: a block's time is its proposer's clock,
and a reading may not be later than its block, so the meters run at the speed of the
chain's clock (each round reads what was used since the last one, up to the present or
the head block's time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import aiohttp

from chain.signatures import keypair_from_seed, sign_transaction
from chain.types import KIND_CALL, Gas, Height, Nonce, Signature, Transaction
from meter_adapters.simulator import MeterState, advance, dsmr_telegram
from meterchain.demo import (
    DAY,
    FIELD,
    TARIFF,
    UTILITY,
    Call,
    Staff,
    first_credit,
    household_reading,
    make_household,
    setup_steps,
    total_import,
)
from node.api.models import TransactionAdmission, TransactionStatusResponse
from node.localchain import DEFAULT_TX_GAS, EXPIRY_WINDOW, Actor
from wallet.node_client import NodeClient
from wallet.reading_transactions import TxParams

HOUR: Final = 3600
VACANT_SERIAL: Final = "SIMVACANT00001"
HISTORY: Final = 120  # seconds: the meters' first telegrams, read at set-up, are this old
TARIFF_LEAD: Final = 60  # seconds: the tariff set at set-up is in force from this much later


class HouseholdError(Exception):
    """A step of the households that failed; the message says which and why."""


@dataclass
class Outcome:
    submitted: int = 0
    refused: int = 0
    final: int = 0
    failed: int = 0
    reasons: list[str] = field(default_factory=list)


class NetworkHouseholds:
    def __init__(
        self,
        apis: Sequence[str],
        chain_id: str,
        governance_seed: bytes,
        households: int,
        say: Callable[[str], None] = print,
        now: Callable[[], float] = time.time,
        vacant_port: Path | None = None,
    ) -> None:
        if not apis:
            raise ValueError("at least one node API expected, found none")
        self.apis = list(apis)
        self.chain_id = chain_id
        self.governance = Actor("governance", governance_seed, keypair_from_seed(governance_seed)[1])
        self.staff = Staff.named()
        self.now = now
        start = int(now()) - HISTORY
        self.homes = [make_household(i, meter_time=start) for i in range(households)]
        # A vacant home: its meter is registered and active but nobody subscribes, so a
        # person with ``meterchain wallet`` can; its P1 telegram is written to
        # ``vacant_port/<meter>.p1`` at every round, as the meter's port would serve it.
        self.vacant_port = vacant_port
        self.vacant = MeterState(serial=VACANT_SERIAL, gas_serial="SIMGASVACANT01", time=start, seed=99)
        self.say = say
        self._nonces: dict[bytes, int] = {}
        self._next_api = 0
        self.readings = Outcome()

    # --- plumbing ------------------------------------------------------------------------

    def _api(self) -> str:
        url = self.apis[self._next_api % len(self.apis)]
        self._next_api += 1
        return url

    def _client(self, http: aiohttp.ClientSession, url: str | None = None) -> NodeClient:
        return NodeClient(url or self.apis[0], http)

    async def _height(self, http: aiohttp.ClientSession) -> int:
        return (await self._client(http).status()).height

    async def _head_time(self, http: aiohttp.ClientSession) -> int:
        latest = await self._client(http).latest_block()
        return 0 if latest is None else latest.header.time

    async def _nonce(self, http: aiohttp.ClientSession, account: bytes) -> int:
        """The account's next nonce, counted here from the chain's at the first use."""
        if account not in self._nonces:
            self._nonces[account] = await self._client(http).nonce(account)
        nonce = self._nonces[account]
        self._nonces[account] = nonce + 1
        return nonce

    async def _submit(self, http: aiohttp.ClientSession, txs: list[Transaction]) -> list[TransactionAdmission]:
        return await self._client(http, self._api()).submit(txs)

    async def _wait_final(
        self, http: aiohttp.ClientSession, hashes: list[str], deadline: float
    ) -> list[TransactionStatusResponse]:
        return await self._client(http).wait_final(hashes, deadline)

    async def _call_transactions(self, http: aiohttp.ClientSession, calls: list[Call]) -> list[Transaction]:
        expiry = Height(await self._height(http) + EXPIRY_WINDOW)
        txs = []
        for actor, contract, function, args in calls:
            nonce = await self._nonce(http, actor.public_key)
            unsigned = Transaction(
                self.chain_id, actor.public_key, Nonce(nonce), expiry, Gas(DEFAULT_TX_GAS), KIND_CALL,
                [contract, function, list(args)], Signature(bytes(64)),
            )  # fmt: skip
            txs.append(sign_transaction(unsigned, actor.seed))
        return txs

    async def run_step(self, http: aiohttp.ClientSession, calls: list[Call], deadline: float = 60.0) -> None:
        """Submit one step and wait until each of its transactions is final; a refusal or a
        failed transaction is a ``HouseholdError`` naming the call."""
        txs = await self._call_transactions(http, calls)
        answers = await self._submit(http, txs)
        for (_, contract, function, _), answer in zip(calls, answers, strict=True):
            if not answer.accepted:
                raise HouseholdError(f"{contract}.{function} accepted expected, found {answer.reason}: {answer.message}")
        results = await self._wait_final(http, [str(a.hash) for a in answers], deadline)
        for (_, contract, function, _), result in zip(calls, results, strict=True):
            if result.status != "final":
                raise HouseholdError(f"{contract}.{function} final expected, found failed: {result.reason}")

    # --- the households ------------------------------------------------------------------

    async def already_set_up(self, http: aiohttp.ClientSession) -> bool:
        """Whether the chain already has the demonstration's utility (a devnet started
        again): its meters' registers are then ahead of these freshly simulated ones."""
        return await self._client(http).call("registry", "utility", [UTILITY]) is not None

    async def set_up(self, http: aiohttp.ClientSession, deadline: float = 60.0) -> None:

        def now() -> int:
            return int(self.now())

        for step in setup_steps(self.governance, self.staff, self.homes, now, TARIFF_LEAD, now() + 30 * DAY):
            await self.run_step(http, step, deadline)
        buys = first_credit(self.staff, self.homes)
        if buys:
            await self.run_step(http, buys, deadline)
        self.say(f"households: utility set up, {len(self.homes)} meters subscribed")
        if self.vacant_port is not None:
            await self._set_up_vacant_home(http, deadline)

    async def _set_up_vacant_home(self, http: aiohttp.ClientSession, deadline: float) -> None:
        staff, first = self.staff, total_import(dsmr_telegram(self.vacant))
        await self.run_step(http, [(staff.admin, "registry", "register_meter",
                                    [first.meter, FIELD, "Old town, vacant", 1, 9, 20_000, first.value, b"",
                                     staff.collector.public_key])], deadline)  # fmt: skip
        await self.run_step(http, [(staff.operator, "registry", "activate_meter", [first.meter]),
                                   (staff.admin, "billing", "assign_tariff", [first.meter, TARIFF])], deadline)  # fmt: skip
        port = self._write_vacant_telegram()
        self.say(f"households: a vacant home's meter {first.meter} awaits a subscriber "
                 f"(meterchain wallet subscribe {first.meter} --node {self.apis[0]}); its P1 port: {port}")  # fmt: skip

    def _write_vacant_telegram(self) -> Path:
        """The vacant meter advanced to the present, its telegram written whole (then renamed,
        so a wallet reading the file never sees half a telegram)."""
        assert self.vacant_port is not None
        self.vacant = advance(self.vacant, max(0, int(self.now()) - 2 - self.vacant.time))
        self.vacant_port.mkdir(parents=True, exist_ok=True)
        path = self.vacant_port / f"{self.vacant.serial}.p1"
        partial = path.with_suffix(".partial")
        partial.write_bytes(dsmr_telegram(self.vacant))
        partial.replace(path)
        return path

    async def read_round(self, http: aiohttp.ClientSession) -> list[str]:
        """Every meter advanced to the present (by at most an hour), its reading submitted;
        the hashes of the accepted ones."""
        # A reading a little in the past (the nodes' clocks differ), but not before the head
        # block: under load the chain's time runs ahead of the clock (each block is at
        # least a second after its parent) and a reading must follow the subscription.
        present = max(int(self.now()) - 2, await self._head_time(http))
        height = await self._height(http)
        if self.vacant_port is not None:
            self._write_vacant_telegram()
        txs = []
        for home in self.homes:
            step = min(HOUR, present - home.meter.time)
            if step <= 0:
                continue
            home.meter = advance(home.meter, step)
            params = TxParams(
                self.chain_id, home.consumer.seed, Nonce(await self._nonce(http, home.consumer.public_key)),
                Height(height + EXPIRY_WINDOW),
            )  # fmt: skip
            txs.append(household_reading(home, params)[0])
        if not txs:
            return []
        answers = await self._submit(http, txs)
        accepted = [str(a.hash) for a in answers if a.accepted]
        self.readings.submitted += len(txs)
        self.readings.refused += len(txs) - len(accepted)
        for tx, answer in zip(txs, answers, strict=True):
            if not answer.accepted:
                self.readings.reasons.append(f"{answer.reason}: {answer.message}")
                # Its nonce was not used: count again from the chain's next time.
                self._nonces.pop(tx.sender, None)
        return accepted
