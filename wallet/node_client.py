"""A client of a node's HTTP API, for wallets and the simulated households.

It speaks the API of ``docs/api.md`` and parses every answer with the API's own pydantic
models, so an answer that is not what the node promises is an error here, not a
``KeyError`` three calls later. Every failure is a ``NodeError`` that names the node and
says what was expected and what was found.

The client trusts the node for what it reads (state, receipts); checking a node's answers
against the chain's certificates is ``meterchain audit`` (and ``consensus.certificate``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Final, TypeVar
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ValidationError

from chain import codec, keys
from chain.signatures import sign_transaction
from chain.types import KIND_CALL, Gas, Height, Nonce, PublicKey, Signature, Transaction
from node.api.history import ReadingsResponse
from node.api.models import (
    BlockResponse,
    CallResponse,
    StateResponse,
    StatusResponse,
    SubmitTransactionsResponse,
    TransactionAdmission,
    TransactionStatusResponse,
)

EXPIRY_WINDOW: Final = 50  # blocks a transaction stays valid after the head it was built at
DEFAULT_GAS: Final = Gas(2_000_000)
POLL_INTERVAL: Final = 0.2  # seconds between looks at a pending transaction

Model = TypeVar("Model", bound=BaseModel)


class NodeError(Exception):
    """The node could not be reached or did not answer as its API promises."""


class NodeClient:
    """One node's API over an ``aiohttp.ClientSession`` the caller owns."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self.http = http

    # --- reading ------------------------------------------------------------------------

    async def status(self) -> StatusResponse:
        return await self._get("/v1/status", StatusResponse)

    async def latest_block(self) -> BlockResponse | None:
        """The head block, or None at genesis (no block yet)."""
        return await self._request("GET", "/v1/blocks/latest", BlockResponse, absent_ok=True)

    async def nonce(self, account: bytes) -> int:
        """The account's next nonce at the head."""
        state = await self._get(f"/v1/state/{keys.nonce_key(account).hex()}", StateResponse)
        return 0 if state.value is None else int(codec.decode_stored(bytes.fromhex(state.value)))

    async def call(self, contract: str, function: str, args: Sequence[Any], caller: bytes | None = None) -> Any:
        """A read-only contract call at the head; its return value (``NodeError`` with the
        contract's message when it fails)."""
        body: dict[str, Any] = {
            "contract": contract,
            "function": function,
            "args_hex": codec.encode(list(args)).hex(),
        }
        if caller is not None:
            body["caller"] = bytes(caller).hex()
        answer = await self._request("POST", "/v1/call", CallResponse, json=body)
        assert answer is not None
        if not answer.success:
            raise NodeError(f"{contract}.{function} answering expected, found it refused: {answer.error}")
        if answer.return_value_hex is None:
            return None
        return codec.decode(bytes.fromhex(answer.return_value_hex))

    async def meter_readings(
        self, meter: str, start: int, end: int, after: str | None = None, limit: int = 100, proof: bool = False
    ) -> ReadingsResponse:
        """One page of a meter's finalized readings with ``start <= time < end`` (``after``:
        the previous page's ``next``); with ``proof`` what ``wallet.history_check`` checks."""
        query = f"from={start}&to={end}&limit={limit}&proof={'true' if proof else 'false'}"
        if after is not None:
            query += f"&after={after}"
        return await self._get(f"/v1/meters/{quote(meter, safe='')}/readings?{query}", ReadingsResponse)

    async def transaction(self, tx_hash: str) -> TransactionStatusResponse:
        return await self._get(f"/v1/transactions/{tx_hash}", TransactionStatusResponse)

    # --- writing ------------------------------------------------------------------------

    async def sign_calls(
        self, seed: bytes, sender: PublicKey, calls: Sequence[tuple[str, str, Sequence[Any]]], chain_id: str,
        gas: Gas = DEFAULT_GAS,
    ) -> list[Transaction]:
        """Signed call transactions from one account, with consecutive nonces from the
        chain's next one and an expiry ``EXPIRY_WINDOW`` blocks past the head."""
        status = await self.status()
        first = await self.nonce(sender)
        expiry = Height(status.height + EXPIRY_WINDOW)
        unsigned = [
            Transaction(
                chain_id, sender, Nonce(first + i), expiry, gas, KIND_CALL,
                [contract, function, list(args)], Signature(bytes(64)),
            )
            for i, (contract, function, args) in enumerate(calls)
        ]
        return [sign_transaction(tx, seed) for tx in unsigned]

    async def submit(self, transactions: Sequence[Transaction]) -> list[TransactionAdmission]:
        """Submit a batch; each one's admission (accepted, or refused with the reason)."""
        body = {"transactions": [tx.encode().hex() for tx in transactions]}
        answer = await self._request("POST", "/v1/transactions", SubmitTransactionsResponse, json=body)
        assert answer is not None
        if len(answer.results) != len(transactions):
            raise NodeError(
                f"{self.url}: one admission per transaction expected ({len(transactions)}), "
                f"found {len(answer.results)}"
            )
        return answer.results

    async def wait_final(self, hashes: Sequence[str], deadline: float) -> list[TransactionStatusResponse]:
        """Each transaction's status once it is final or failed, in order; ``NodeError`` if
        some are still pending after ``deadline`` seconds."""
        end = time.monotonic() + deadline
        done: dict[str, TransactionStatusResponse] = {}
        while True:
            for tx_hash in hashes:
                if tx_hash not in done:
                    answer = await self.transaction(tx_hash)
                    if answer.status in ("final", "failed"):
                        done[tx_hash] = answer
            if len(done) == len(hashes):
                return [done[h] for h in hashes]
            if time.monotonic() > end:
                raise NodeError(
                    f"{len(hashes)} transactions final within {deadline:.0f} s expected, found {len(done)} "
                    f"(is the network at {self.url} making blocks?)"
                )
            await asyncio.sleep(POLL_INTERVAL)

    # --- transport ----------------------------------------------------------------------

    async def _get(self, path: str, model: type[Model]) -> Model:
        answer = await self._request("GET", path, model)
        assert answer is not None  # only a request that allows absence returns None
        return answer

    async def _request(
        self, method: str, path: str, model: type[Model], absent_ok: bool = False, json: Any = None
    ) -> Model | None:
        try:
            async with self.http.request(method, self.url + path, json=json) as response:
                if absent_ok and response.status == 404:
                    return None
                text = await response.text()
                if response.status != 200:
                    raise NodeError(f"{method} {self.url}{path}: 200 expected, found {response.status}: {text[:300]}")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise NodeError(f"a node answering at {self.url} expected, found {type(exc).__name__}: {exc}") from None
        try:
            return model.model_validate_json(text)
        except ValidationError as exc:
            raise NodeError(f"{method} {self.url}{path}: a {model.__name__} expected, found {exc}"[:600]) from None
