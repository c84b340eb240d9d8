"""The state transition: ``apply_block(state, block, env) -> (state', receipts)``.

This module is the executable specification of what a block does. It is pure: no clock, no
I/O, no randomness; everything from outside (the chain id, the parent header, the contract
runtime) arrives in ``BlockEnv``.

State rule for the whole code base: a transition never mutates the ``State`` it is given.
``State.with_writes`` returns a new view and ``apply_block`` returns the last one; the node
commits that view's changes to its store in one atomic batch.

Two kinds of bad transaction are told apart:

* an **invalid** transaction (bad signature, wrong chain, expired, oversized, over the gas
  ceiling) may not appear in a block at all: the block is invalid (``InvalidBlock``);
* a **failed** transaction (wrong nonce, unknown contract, out of gas, a failed ``require``)
  is a legitimate entry with a failed receipt; it changes nothing but the sender's nonce
  (and not even that when the nonce itself was wrong).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Any, Final, Protocol

from chain import codec, keys
from chain.errors import (
    DecodeError,
    Expired,
    InvalidBlock,
    InvalidSignature,
    InvalidTransaction,
    WrongChain,
)
from chain.hashing import EMPTY_HASH, Hash32, merkle_list_root
from chain.signatures import check_transaction_signature
from chain.state import State, StateReads, WriteBuffer, Writes
from chain.types import (
    KIND_CALL,
    KIND_DEPLOY,
    MAX_TX_SIZE,
    SHAPE_CHECKED,
    STATUS_FAILED,
    STATUS_SUCCESS,
    Block,
    BlockHeader,
    Event,
    Gas,
    Height,
    PublicKey,
    Receipt,
    Timestamp,
    Transaction,
    check_payload_shape,
)

# --- constants -------------------------------------------------------------------------

MAX_TX_GAS: Final = 5_000_000
MAX_BLOCK_GAS: Final = 100_000_000
GAS_TX_BASE: Final = 1_000  # every transaction: signature check, nonce, receipt
GAS_TX_BYTE: Final = 4  # per byte of the encoded transaction
GAS_DEPLOY_BYTE: Final = 20  # per byte of installed bytecode
MAX_TXS_PER_BLOCK: Final = 10_000


# --- the contract runtime, as the transition sees it -------------------------------------


@dataclass(frozen=True, slots=True, init=False)
class CallContext:
    """What a contract may know about the transaction and block it runs in."""

    signer: bytes
    tx_hash: bytes
    block_height: int
    block_time: int
    chain_id: str

    def __init__(self, signer: bytes, tx_hash: bytes, block_height: int, block_time: int, chain_id: str) -> None:
        # Written out: the generated __init__ of a frozen dataclass looks object.__setattr__
        # up again for every field, and every contract call makes a context.
        _set(self, "signer", signer)
        _set(self, "tx_hash", tx_hash)
        _set(self, "block_height", block_height)
        _set(self, "block_time", block_time)
        _set(self, "chain_id", chain_id)


_set: Final = object.__setattr__


class ExecutionOutcome(Protocol):
    @property
    def success(self) -> bool: ...
    @property
    def return_value(self) -> Any: ...
    @property
    def gas_used(self) -> int: ...
    @property
    def events(self) -> tuple[Event, ...]: ...
    @property
    def writes(self) -> Mapping[bytes, bytes | None]: ...
    @property
    def error(self) -> str: ...


class ContractRuntime(Protocol):
    """The VM, injected through ``BlockEnv`` so the core never imports a layer above it."""

    def execute(
        self,
        state: StateReads,
        ctx: CallContext,
        contract: str,
        function: str,
        args: list[Any],
        gas_limit: int,
    ) -> ExecutionOutcome: ...

    def check_code(self, code: bytes) -> str:
        """Return "" when ``code`` is well-formed bytecode, else what is wrong with it."""
        ...


@dataclass(frozen=True, slots=True)
class BlockEnv:
    """Everything a block's transition depends on besides the state and the block."""

    chain_id: str
    parent: BlockHeader  # the previous block's header (the genesis header for block 1)
    validator_set_hash: Hash32
    runtime: ContractRuntime
    # Hashes of transactions whose signature this node already verified (its mempool did, at
    # admission). A hash covers the signature bytes, so a listed hash vouches for exactly the
    # signature that was checked; every other transaction is verified here. Validity never
    # depends on it: it only spares a second verification of the same bytes.
    verified_tx_hashes: Set[bytes] = frozenset()


# --- helpers ---------------------------------------------------------------------------


# State values were written by ``codec.encode`` and are committed to by the state root, so
# they are read back with ``decode_stored`` (no canonical re-encoding check).


def get_nonce(state: State, account: bytes) -> int:
    raw = state.get(keys.nonce_key(account))
    return 0 if raw is None else int(codec.decode_stored(raw))


def governance_key(state: StateReads) -> bytes:
    raw = state.get(keys.meta_key("governance"))
    return b"" if raw is None else bytes(codec.decode_stored(raw))


def intrinsic_gas(tx: Transaction) -> int:
    return GAS_TX_BASE + GAS_TX_BYTE * len(tx.encode())


def _failed(tx_hash: Hash32, gas: int, error: str) -> Receipt:
    return Receipt(tx_hash, STATUS_FAILED, Gas(gas), (), error)


# --- validity (a property of the transaction alone, given the block) ----------------------


def validate_transaction(
    tx: Transaction, chain_id: str, height: int, signature_verified: bool = False
) -> None:
    """Raise ``InvalidTransaction`` if ``tx`` may not be included at ``height`` on ``chain_id``.

    ``signature_verified``: the caller already verified this transaction's signature (see
    ``BlockEnv.verified_tx_hashes``); every other check still runs.
    """
    if tx.chain_id != chain_id:
        raise WrongChain(f"chain id {chain_id!r} expected, found {tx.chain_id!r}")
    size = len(tx.encode())
    if size > MAX_TX_SIZE:
        raise InvalidTransaction(f"transaction of at most {MAX_TX_SIZE} bytes expected, found {size}")
    if tx.gas_limit > MAX_TX_GAS:
        raise InvalidTransaction(f"gas limit of at most {MAX_TX_GAS} expected, found {tx.gas_limit}")
    if height > tx.expiry_height:
        raise Expired(f"inclusion at height <= {tx.expiry_height} expected, found height {height}")
    if SHAPE_CHECKED not in tx.__dict__:  # a decoded transaction's shape was checked already
        try:
            check_payload_shape(tx.kind, tx.payload)
        except DecodeError as exc:
            raise InvalidTransaction(str(exc)) from exc
    if not signature_verified:
        check_transaction_signature(tx)


# --- transaction execution ---------------------------------------------------------------


def apply_transaction(
    state: State, tx: Transaction, header: BlockHeader, env: BlockEnv
) -> tuple[State, Receipt]:
    """Apply one valid transaction; return the new state and its receipt."""
    writes, receipt = run_transaction(state, tx, header, env)
    return state.with_writes(writes), receipt


def run_transaction(
    state: StateReads, tx: Transaction, header: BlockHeader, env: BlockEnv
) -> tuple[Writes, Receipt]:
    """Run one valid transaction on ``state``; return its writes and its receipt."""
    tx_hash = tx.hash
    # NONCE: replay protection. A wrong nonce changes nothing at all.
    nonce_key = keys.nonce_key(tx.sender)
    raw_nonce = state.get(nonce_key)  # ``get_nonce``, keeping the key for the write below
    expected_nonce = 0 if raw_nonce is None else int(codec.decode_stored(raw_nonce))
    if tx.nonce != expected_nonce:
        return {}, _failed(tx_hash, 0, f"nonce {expected_nonce} expected, found {tx.nonce}")
    bumped = {nonce_key: codec.encode(expected_nonce + 1)}

    # GAS: the intrinsic cost is charged before anything runs.
    base_gas = intrinsic_gas(tx)
    if base_gas > tx.gas_limit:
        receipt = _failed(
            tx_hash, tx.gas_limit, f"gas limit >= {base_gas} (intrinsic cost) expected, found {tx.gas_limit}"
        )
        return bumped, receipt

    if tx.kind == KIND_CALL:
        # ``args`` is the transaction's own list: the runtime binds copies, never changes it.
        contract, function, args = tx.payload
        ctx = CallContext(tx.sender, tx_hash, header.height, header.time, env.chain_id)
        outcome = env.runtime.execute(
            state, ctx, contract, function, args, tx.gas_limit - base_gas
        )
        gas = base_gas + outcome.gas_used
        if not outcome.success:
            return bumped, _failed(tx_hash, gas, outcome.error)
        writes = dict(outcome.writes)
        writes.update(bumped)
        receipt = Receipt(
            tx_hash, STATUS_SUCCESS, Gas(gas), tuple(outcome.events), "", codec.encode(outcome.return_value)
        )
        return writes, receipt

    # DEPLOY / UPGRADE: only the chain's governance installs code.
    name, bytecode, source_hash = tx.payload
    gas = base_gas + GAS_DEPLOY_BYTE * len(bytecode)
    if gas > tx.gas_limit:
        return bumped, _failed(
            tx_hash, tx.gas_limit, f"gas limit >= {gas} for {len(bytecode)} bytes of code expected, found {tx.gas_limit}"
        )
    governance = governance_key(state)
    if tx.sender != governance:
        return bumped, _failed(
            tx_hash, gas, f"{tx.kind} signed by the governance key {governance.hex()} expected, found {tx.sender.hex()}"
        )
    existing = state.get(keys.code_key(name))
    if tx.kind == KIND_DEPLOY and existing is not None:
        return bumped, _failed(
            tx_hash, gas, f"a new contract name expected for deploy, found {name!r} already deployed (use upgrade)"
        )
    if tx.kind != KIND_DEPLOY and existing is None:
        return bumped, _failed(
            tx_hash, gas, f"an existing contract expected for upgrade, found no contract {name!r}"
        )
    problem = env.runtime.check_code(bytecode)
    if problem:
        return bumped, _failed(tx_hash, gas, f"valid bytecode expected: {problem}")
    version = 1 if existing is None else int(codec.decode(existing)[2]) + 1
    record = codec.encode([bytecode, source_hash, version, tx.sender])
    event = Event.make(
        "chain",
        "contract_deployed" if version == 1 else "contract_upgraded",
        {"name": name, "version": version, "source_hash": source_hash, "by": tx.sender},
    )
    return {keys.code_key(name): record, **bumped}, Receipt(tx_hash, STATUS_SUCCESS, Gas(gas), (event,), "")


# --- blocks -----------------------------------------------------------------------------


def check_header_links(header: BlockHeader, env: BlockEnv) -> None:
    """The header's place in the chain: height, parent hash, time, validator set."""
    expected_height = env.parent.height + 1
    expected_parent = env.parent.hash
    min_time = env.parent.time + 1
    if header.height != expected_height:
        raise InvalidBlock(f"height {expected_height} expected, found {header.height}")
    if header.parent_hash != expected_parent:
        raise InvalidBlock(f"parent hash {expected_parent.hex()} expected, found {header.parent_hash.hex()}")
    if header.time < min_time:
        raise InvalidBlock(f"block time >= {min_time} (after the parent's) expected, found {header.time}")
    if header.validator_set_hash != env.validator_set_hash:
        raise InvalidBlock(
            f"validator set hash {env.validator_set_hash.hex()} expected, found {header.validator_set_hash.hex()}"
        )


def execute_transactions(
    state: State, header: BlockHeader, transactions: tuple[Transaction, ...], env: BlockEnv
) -> tuple[State, tuple[Receipt, ...]]:
    """Validate and run a block's transactions in order (shared by proposing and applying)."""
    if len(transactions) > MAX_TXS_PER_BLOCK:
        raise InvalidBlock(f"at most {MAX_TXS_PER_BLOCK} transactions expected, found {len(transactions)}")
    receipts: list[Receipt] = []
    block_gas = 0
    buffer = WriteBuffer(state)  # this block's writes so far: what later transactions read
    verified = env.verified_tx_hashes
    for index, tx in enumerate(transactions):
        try:
            validate_transaction(tx, env.chain_id, header.height, tx.hash in verified)
        except (InvalidTransaction, InvalidSignature) as exc:
            raise InvalidBlock(f"transaction {index} ({tx.hash.hex()}): {exc}") from exc
        writes, receipt = run_transaction(buffer, tx, header, env)
        buffer.apply(writes)
        block_gas += receipt.gas_used
        if block_gas > MAX_BLOCK_GAS:
            raise InvalidBlock(
                f"block gas of at most {MAX_BLOCK_GAS} expected, found {block_gas} after transaction {index}"
            )
        receipts.append(receipt)
    return buffer.state(), tuple(receipts)


def tx_root(transactions: tuple[Transaction, ...]) -> Hash32:
    return merkle_list_root([tx.encode() for tx in transactions])


def receipts_root(receipts: tuple[Receipt, ...]) -> Hash32:
    return merkle_list_root([r.encode() for r in receipts])


def apply_block(state: State, block: Block, env: BlockEnv) -> tuple[State, tuple[Receipt, ...]]:
    """Apply ``block`` to ``state`` and return the new state and the receipts.

    ``state`` is not modified. Raises ``InvalidBlock`` (with what was expected and found) if
    any header field, any transaction's validity, or any committed root is wrong.
    """
    header = block.header
    check_header_links(header, env)
    # TX ROOT: the header commits to exactly these transactions.
    expected_tx_root = tx_root(block.transactions)
    if header.tx_root != expected_tx_root:
        raise InvalidBlock(f"tx root {expected_tx_root.hex()} expected, found {header.tx_root.hex()}")
    # EXECUTE
    new_state, receipts = execute_transactions(state, header, block.transactions, env)
    # COMMITMENTS: every node must reach the same state and receipts.
    expected_receipts_root = receipts_root(receipts)
    if header.receipts_root != expected_receipts_root:
        raise InvalidBlock(
            f"receipts root {expected_receipts_root.hex()} expected, found {header.receipts_root.hex()}"
        )
    if header.state_root != new_state.root:
        raise InvalidBlock(f"state root {new_state.root.hex()} expected, found {header.state_root.hex()}")
    return new_state, receipts


def propose_block(
    state: State,
    transactions: tuple[Transaction, ...],
    time: Timestamp,
    proposer: PublicKey,
    env: BlockEnv,
) -> tuple[Block, State, tuple[Receipt, ...]]:
    """Build the block a proposer offers: run the transactions, fill in every root.

    The caller chose the transactions (the mempool drops invalid ones first); an invalid one
    here raises ``InvalidBlock`` as it would for any validator.
    """
    height = Height(env.parent.height + 1)
    parent_hash = env.parent.hash
    draft = BlockHeader(
        height, parent_hash, time, proposer, tx_root(transactions), EMPTY_HASH, EMPTY_HASH, env.validator_set_hash
    )
    check_header_links(draft, env)
    new_state, receipts = execute_transactions(state, draft, transactions, env)
    header = BlockHeader(
        height,
        parent_hash,
        time,
        proposer,
        draft.tx_root,
        new_state.root,
        receipts_root(receipts),
        env.validator_set_hash,
    )
    return Block(header, transactions), new_state, receipts

