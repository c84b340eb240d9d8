"""Request and response bodies of the HTTP API, as pydantic models.

These models are the API's one description: handlers validate requests and build responses
with them, and ``node.api.openapi`` generates ``/openapi.json`` from them. Hashes, keys and
canonical bytes travel as lowercase hex (a ``0x`` prefix is accepted on input).

Contract values are the chain's canonical values (ints, str, bytes, bool, None, arrays,
maps); in JSON a ``bytes`` value is shown as ``"0x..."``. That is for reading only: where a
value must be exact, the canonical bytes are given as well (``*_hex``), and a call's
arguments may be given as the hex of their canonical encoding (``args_hex``).
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_BATCH: Final = 1_000  # transactions per POST /v1/transactions

Hex = str


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorResponse(_Model):
    """Every 4xx and 5xx: what was expected and what was found."""

    error: str
    status: int


# --- status -----------------------------------------------------------------------------


class StatusResponse(_Model):
    chain_id: str
    height: int
    last_block_hash: Hex
    state_root: Hex
    role: Literal["validator", "regulator"]
    validators: list[Hex] = Field(description="public keys of the current validator set")
    peers: int = Field(description="peers with an authenticated link")
    syncing: bool
    mempool: int = Field(description="transactions waiting in this node's mempool")


# --- transactions -------------------------------------------------------------------------


class SubmitTransactionsRequest(_Model):
    transactions: list[str] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="hex of each transaction's canonical bytes",
    )


class TransactionAdmission(_Model):
    hash: Hex | None = Field(description="the transaction hash; null when the bytes did not decode")
    accepted: bool
    reason: str | None = Field(default=None, description="refusal code, e.g. nonce_too_low")
    message: str | None = Field(default=None, description="what was expected and what was found")


class SubmitTransactionsResponse(_Model):
    accepted: int
    results: list[TransactionAdmission]


class EventModel(_Model):
    contract: str
    name: str
    fields: dict[str, Any] = Field(description="the event's fields (bytes as 0x-hex)")
    fields_hex: Hex = Field(description="canonical encoding of the field map")


class ReceiptModel(_Model):
    tx_hash: Hex
    status: Literal["success", "failed"]
    gas_used: int
    error: str
    events: list[EventModel]
    return_value: Any
    return_value_hex: Hex


class TransactionStatusResponse(_Model):
    hash: Hex
    status: Literal["pending", "final", "failed", "unknown"]
    height: int | None = None
    index: int | None = Field(default=None, description="position in its block")
    reason: str | None = Field(default=None, description="why it failed, for status failed (for unknown on a "
                               "node that dropped old blocks: which blocks it keeps)")
    receipt: ReceiptModel | None = None


# --- blocks -----------------------------------------------------------------------------


class HeaderModel(_Model):
    height: int
    parent_hash: Hex
    time: int
    proposer: Hex
    tx_root: Hex
    state_root: Hex
    receipts_root: Hex
    validator_set_hash: Hex
    next_validator_set_hash: Hex
    last_commit_hash: Hex


class BlockTransactionModel(_Model):
    hash: Hex
    sender: Hex
    nonce: int
    kind: str
    contract: str | None = None
    function: str | None = None
    raw: Hex = Field(description="canonical bytes")


class BlockResponse(_Model):
    hash: Hex
    header: HeaderModel
    transactions: list[BlockTransactionModel]
    receipts: list[ReceiptModel]
    certificate: Hex | None = Field(description="canonical commit certificate; null on a local chain")


class RawBlockModel(_Model):
    height: int
    block: Hex = Field(description="the block's canonical bytes (Block.encode)")
    certificate: Hex | None = Field(description="the commit certificate that finalized it; null on a local chain")


class BlockBatchResponse(_Model):
    """Consecutive finalized blocks as canonical bytes, for block sync and audits."""

    head: int = Field(description="the node's head height")
    blocks: list[RawBlockModel] = Field(description="from the asked height on, at most count, fewer past the head")


# --- state ------------------------------------------------------------------------------


class StateResponse(_Model):
    key: Hex
    height: int
    root: Hex = Field(description="the state root at that height (in its block header)")
    value: Hex | None = Field(description="canonical bytes of the value; null when absent")
    proof: Hex | None = Field(
        default=None, description="canonical Merkle proof of the value or absence (with proof=true)"
    )


# --- evidence ---------------------------------------------------------------------------


class EvidenceRecord(_Model):
    """A double vote committed on chain (the governance contract's record)."""

    evidence_hash: Hex = Field(description="hash of the pair of votes (domain mc/evidence)")
    validator: Hex = Field(description="the validator key that signed both votes")
    height: int = Field(description="height of the two votes")
    round: int = Field(description="round of the two votes")
    vote_type: Literal["prevote", "precommit"]
    reported_by: Hex = Field(description="the account whose evidence transaction was committed")
    block_height: int = Field(description="height of the block that committed the evidence")


class EvidenceResponse(_Model):
    """One page of committed evidence, ordered by evidence hash."""

    evidence: list[EvidenceRecord]
    next_start_after: Hex | None = Field(
        description="start_after for the next page; null when this page is the last"
    )


# --- calls ------------------------------------------------------------------------------


class CallRequest(_Model):
    contract: str = Field(min_length=1, max_length=64)
    function: str = Field(min_length=1, max_length=64)
    args: list[Any] = Field(default_factory=list, description="JSON arguments (no floats, no bytes)")
    args_hex: Hex | None = Field(default=None, description="canonical encoding of the argument array")
    caller: Hex | None = Field(default=None, description="account the call runs as (32-byte key)")


class CallResponse(_Model):
    success: bool
    return_value: Any
    return_value_hex: Hex | None
    gas_used: int
    error: str


# --- events -----------------------------------------------------------------------------


class EventMessage(_Model):
    """One message of the ``/v1/events`` WebSocket stream: a finalized event."""

    height: int
    tx_hash: Hex
    index: int
    event: EventModel


# --- operator ---------------------------------------------------------------------------


class MempoolSummary(_Model):
    transactions: int
    bytes: int
    admitted: int
    refused: dict[str, int]
    evicted_on_recheck: int


class PeerModel(_Model):
    name: str
    node_key: Hex | None
    address: str
    direction: Literal["inbound", "outbound"]
    connected: bool
    validator: bool


class PeersResponse(_Model):
    peers: list[PeerModel]
