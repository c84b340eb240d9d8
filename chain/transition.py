"""The state transition: ``apply_block(state, block, env) -> (state', receipts)``.

This module is the executable specification of what a block does. It is pure: no clock, no
I/O, no randomness; everything from outside (the chain id, the parent header, the contract
runtime) arrives in ``BlockEnv``. It reads top to bottom as the rules: constants, the
runtime's interface, validity, the steps of one transaction, blocks.

Two kinds of bad transaction are told apart:

* an **invalid** transaction (bad form or signature, wrong chain, expired, oversized, over
  the gas ceiling, a nonce that is not its sender's next) may not appear in a block at all:
  the block is invalid (``InvalidBlock``), and ``propose_block`` leaves it out;
* a **failed** transaction (unknown contract, out of gas, a failed ``require``, an outcome
  too large for its receipt) is a legitimate entry with a failed receipt; it changes
  nothing but the sender's nonce, which it paid for.

So each transaction hash appears in the chain at most once: the nonce it carries is used up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, Protocol

from chain import codec, keys
from chain.errors import (
    DecodeError,
    Expired,
    InvalidBlock,
    InvalidSignature,
    InvalidTransaction,
    NonceMismatch,
    WrongChain,
)
from chain.hashing import EMPTY_HASH, Domain, Hash32, hash_domain, merkle_list_root
from chain.parameters import block_limits
from chain.signatures import check_transaction_signature
from chain.state import State, StateReads, WriteBuffer, Writes
from chain.types import (
    KIND_CALL,
    KIND_DEPLOY,
    MAX_BLOCK_SIZE,
    MAX_EVENT_NAME_LEN,
    MAX_LAST_COMMIT_SIZE,
    MAX_RECEIPT_ERROR,
    MAX_RECEIPT_EVENT_BYTES,
    MAX_RECEIPT_EVENTS,
    MAX_RETURN_VALUE_SIZE,
    MAX_TX_SIZE,
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
    last_commit_hash,
)

# --- constants -------------------------------------------------------------------------

MAX_TX_GAS: Final = 5_000_000
GAS_TX_BASE: Final = 1_000  # every transaction: signature check, nonce, receipt
GAS_TX_BYTE: Final = 4  # per byte of the encoded transaction
GAS_DEPLOY_BYTE: Final = 20  # per byte of installed bytecode
# The encoded transactions of one block; the rest of ``MAX_BLOCK_SIZE`` is for the parent's
# certificate, the header (under 500 bytes) and the array headers, so a valid block always
# fits its own limit.
MAX_BLOCK_TX_BYTES: Final = MAX_BLOCK_SIZE - MAX_LAST_COMMIT_SIZE - 4096
MAX_TX_NESTING: Final = codec.MAX_DEPTH - 2  # levels of a transaction's value; see validate_transaction


# --- the contract runtime, as the transition sees it -------------------------------------


class CallContext(NamedTuple):
    """What a contract may know about the transaction and block it runs in (the VM's one
    context type; ``StateReads`` is what it may read).

    Immutable; a ``NamedTuple`` rather than a frozen dataclass because one is made per
    contract call: a tuple is built in C, where a frozen dataclass's ``__init__`` sets each
    field through a descriptor call (about 5k instructions for these five)."""

    signer: PublicKey  # the transaction's sender (or the caller a view names)
    tx_hash: Hash32
    block_height: Height
    block_time: Timestamp
    chain_id: str


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
    @property
    def return_encoding(self) -> bytes:
        """The canonical encoding of ``return_value`` (the runtime priced it by its size)."""
        ...


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
    validator_set_hash: Hash32  # the validators of this height, as the node's consensus knows them
    runtime: ContractRuntime
    # Hashes of transactions whose signature this node already verified (its mempool did, at
    # admission). A hash covers the signature bytes, so a listed hash vouches for exactly the
    # signature that was checked; every other transaction is verified here. Validity never
    # depends on it: it only spares a second verification of the same bytes.
    verified_tx_hashes: Set[bytes] = frozenset()
    # The validators of the next height; None: the same as this height's.
    next_validator_set_hash: Hash32 | None = None
    # The parent's encoded commit certificate, for ``propose_block`` to carry (b"" for block
    # 1, and on a local chain without consensus). ``apply_block`` reads the block's own.
    last_commit: bytes = b""

    def next_set_hash(self) -> Hash32:
        """The hash a header must carry as ``next_validator_set_hash``."""
        return self.validator_set_hash if self.next_validator_set_hash is None else self.next_validator_set_hash


# --- helpers ---------------------------------------------------------------------------


# State values were written by ``codec.encode`` and are committed to by the state root, so
# they are read back with ``decode_stored`` (no canonical re-encoding check).


def get_nonce(state: StateReads, account: bytes) -> int:
    raw = state.get(keys.nonce_key(account))
    return 0 if raw is None else int(codec.decode_stored(raw))


def governance_key(state: StateReads) -> bytes:
    raw = state.get(keys.meta_key("governance"))
    return b"" if raw is None else bytes(codec.decode_stored(raw))


def intrinsic_gas(tx: Transaction) -> int:
    return GAS_TX_BASE + GAS_TX_BYTE * len(tx.encode())


def failed_receipt(tx: Transaction, gas: int, error: str) -> Receipt:
    """A failed transaction's receipt; the error text is cut to what a receipt holds."""
    return Receipt(tx.hash, STATUS_FAILED, Gas(gas), (), error[:MAX_RECEIPT_ERROR])


def receipt_overflow(events: tuple[Event, ...], return_value: bytes) -> str:
    """What in a successful outcome exceeds what a receipt may hold ("" if nothing)."""
    if len(events) > MAX_RECEIPT_EVENTS:
        return f"at most {MAX_RECEIPT_EVENTS} events expected, found {len(events)}"
    size = 0
    for event in events:
        size += len(event.fields)
        if len(event.contract) > MAX_EVENT_NAME_LEN or len(event.name) > MAX_EVENT_NAME_LEN:
            return f"event names of at most {MAX_EVENT_NAME_LEN} characters expected, found {event.name[:64]!r}"
    if size > MAX_RECEIPT_EVENT_BYTES:
        return f"at most {MAX_RECEIPT_EVENT_BYTES} bytes of event fields expected, found {size}"
    if len(return_value) > MAX_RETURN_VALUE_SIZE:
        return f"a return value of at most {MAX_RETURN_VALUE_SIZE} bytes expected, found {len(return_value)}"
    return ""


# --- validity: whether a transaction may appear in a block at all --------------------------


def validate_transaction(
    tx: Transaction, chain_id: str, height: int, signature_verified: bool = False
) -> None:
    """Raise ``InvalidTransaction`` if ``tx`` may not be included at ``height`` on ``chain_id``,
    whatever the state (the nonce is checked against the state by ``check_nonce``).

    ``signature_verified``: the caller already verified this transaction's signature (see
    ``BlockEnv.verified_tx_hashes``); every other check still runs.
    """
    # The fields' form was checked when the object was made (``Transaction``); whether its
    # arguments have a canonical encoding is known once it is encoded.
    try:
        encoded = tx.encode()
    except DecodeError as exc:
        raise InvalidTransaction(f"a transaction with a canonical encoding expected: {exc}") from exc
    # A transaction sits two levels down in a block ([header, [tx, ...]]): its own nesting
    # leaves room for them, so every block of valid transactions encodes.
    if tx.nesting > MAX_TX_NESTING:
        raise InvalidTransaction(f"nesting of at most {MAX_TX_NESTING} levels expected, found {tx.nesting}")
    size = len(encoded)
    if tx.chain_id != chain_id:
        raise WrongChain(f"chain id {chain_id!r} expected, found {tx.chain_id!r}")
    if size > MAX_TX_SIZE:
        raise InvalidTransaction(f"transaction of at most {MAX_TX_SIZE} bytes expected, found {size}")
    if tx.gas_limit > MAX_TX_GAS:
        raise InvalidTransaction(f"gas limit of at most {MAX_TX_GAS} expected, found {tx.gas_limit}")
    if height > tx.expiry_height:
        raise Expired(f"inclusion at height <= {tx.expiry_height} expected, found height {height}")
    if not signature_verified:
        check_transaction_signature(tx)


def check_nonce(state: StateReads, tx: Transaction) -> None:
    """Raise ``NonceMismatch`` unless ``tx`` carries its sender's next nonce: replay
    protection, and the order of one sender's transactions."""
    expected = get_nonce(state, tx.sender)
    if tx.nonce != expected:
        raise NonceMismatch(f"nonce {expected} expected, found {tx.nonce}")


def check_transaction(state: StateReads, tx: Transaction, header: BlockHeader, env: BlockEnv) -> None:
    """Raise ``InvalidTransaction`` unless ``tx`` may be included next in the block of ``header``."""
    try:
        tx_hash = tx.hash
    except DecodeError as exc:
        raise InvalidTransaction(f"a transaction with a canonical encoding expected: {exc}") from exc
    validate_transaction(tx, env.chain_id, header.height, tx_hash in env.verified_tx_hashes)
    check_nonce(state, tx)


# --- one transaction, step by step --------------------------------------------------------


def run_transaction(
    state: StateReads, tx: Transaction, header: BlockHeader, env: BlockEnv
) -> tuple[Writes, Receipt]:
    """Run one valid transaction (``validate_transaction`` and ``check_nonce`` passed) on
    ``state``; return its writes and its receipt. ``state`` is only read."""
    # STEP 1: NONCE. The sender's nonce advances whatever happens next.
    nonce_writes = process_nonce(state, tx)

    # STEP 2: INTRINSIC GAS, charged before anything runs.
    gas = charge_intrinsic_gas(tx)
    if gas > tx.gas_limit:
        error = f"gas limit >= {gas} (intrinsic cost) expected, found {tx.gas_limit}"
        return nonce_writes, failed_receipt(tx, tx.gas_limit, error)

    # STEP 3: THE PAYLOAD. A failure keeps no writes of the payload.
    if tx.kind == KIND_CALL:
        writes, receipt = process_call(state, tx, header, env, gas)
    else:
        writes, receipt = process_deploy(state, tx, env, gas)
    return ({**writes, **nonce_writes} if writes else nonce_writes), receipt


def process_nonce(state: StateReads, tx: Transaction) -> Writes:
    """The write that uses up the transaction's nonce."""
    return {keys.nonce_key(tx.sender): codec.encode(tx.nonce + 1)}


def charge_intrinsic_gas(tx: Transaction) -> int:
    """The gas every transaction pays before it runs: base cost and its size."""
    return intrinsic_gas(tx)


def process_call(
    state: StateReads, tx: Transaction, header: BlockHeader, env: BlockEnv, gas_used: int
) -> tuple[Writes, Receipt]:
    """Run a contract function; its writes and events count only if it succeeds."""
    # ``args`` is the transaction's own list: the runtime binds copies, never changes it.
    contract, function, args = tx.payload
    ctx = CallContext(tx.sender, tx.hash, header.height, header.time, env.chain_id)
    outcome = env.runtime.execute(state, ctx, contract, function, args, tx.gas_limit - gas_used)
    gas = gas_used + outcome.gas_used
    if not outcome.success:
        return {}, failed_receipt(tx, gas, outcome.error)
    # RECEIPT: what a receipt holds is bounded, so every receipt the chain writes decodes.
    events = tuple(outcome.events)
    return_value = outcome.return_encoding
    if events or len(return_value) > MAX_RETURN_VALUE_SIZE:  # else nothing can overflow
        overflow = receipt_overflow(events, return_value)
        if overflow:
            return {}, failed_receipt(tx, gas, overflow)
    return outcome.writes, Receipt(tx.hash, STATUS_SUCCESS, Gas(gas), events, "", return_value)


def process_deploy(state: StateReads, tx: Transaction, env: BlockEnv, gas_used: int) -> tuple[Writes, Receipt]:
    """Install (``deploy``) or replace (``upgrade``) contract code, as governance allows
    (``authorize_deploy``)."""
    name, bytecode, source_hash = tx.payload
    gas = gas_used + GAS_DEPLOY_BYTE * len(bytecode)
    if gas > tx.gas_limit:
        error = f"gas limit >= {gas} for {len(bytecode)} bytes of code expected, found {tx.gas_limit}"
        return {}, failed_receipt(tx, tx.gas_limit, error)
    # AUTHORITY: the validators' approval on a chain with governance, else the genesis key.
    approval_writes, refusal = authorize_deploy(state, tx, hash_domain(Domain.CODE, bytecode))
    if refusal:
        return {}, failed_receipt(tx, gas, refusal)
    existing = state.get(keys.code_key(name))
    if tx.kind == KIND_DEPLOY and existing is not None:
        error = f"a new contract name expected for deploy, found {name!r} already deployed (use upgrade)"
        return {}, failed_receipt(tx, gas, error)
    if tx.kind != KIND_DEPLOY and existing is None:
        return {}, failed_receipt(tx, gas, f"an existing contract expected for upgrade, found no contract {name!r}")
    problem = env.runtime.check_code(bytecode)
    if problem:
        return {}, failed_receipt(tx, gas, f"valid bytecode expected: {problem}")
    version = 1 if existing is None else int(codec.decode_stored(existing)[2]) + 1
    record = codec.encode([bytecode, source_hash, version, tx.sender])
    event = Event.make(
        "chain",
        "contract_deployed" if version == 1 else "contract_upgraded",
        {"name": name, "version": version, "source_hash": source_hash, "by": tx.sender},
    )
    return {keys.code_key(name): record, **approval_writes}, Receipt(tx.hash, STATUS_SUCCESS, Gas(gas), (event,), "")


def authorize_deploy(state: StateReads, tx: Transaction, code_hash: Hash32) -> tuple[Writes, str]:
    """Who may install code. On a chain with the governance contract (a network chain), a
    deploy or upgrade goes through only if the validators approved exactly this name, kind
    and code hash (contracts/governance.py, ``propose_contract``), whoever signs it, and
    the approval is used up; after genesis the governance key alone cannot. On a chain
    without it (a local chain, the demonstration) the genesis governance key signs.
    Returns the writes that consume the approval and "" or why the deploy is refused."""
    name = tx.payload[0]
    if state.get(keys.code_key(keys.GOVERNANCE_CONTRACT)) is not None:
        approval = keys.contract_approval_key(name, tx.kind, code_hash)
        if state.get(approval) is None:
            return {}, (
                f"a {tx.kind} of {name!r} with code hash {code_hash.hex()} approved by the validators expected, "
                "found no such approval in governance"
            )
        return {approval: None}, ""
    governance = governance_key(state)
    if tx.sender != governance:
        return {}, f"{tx.kind} signed by the governance key {governance.hex()} expected, found {tx.sender.hex()}"
    return {}, ""


# --- blocks -----------------------------------------------------------------------------


def check_header_links(header: BlockHeader, env: BlockEnv) -> None:
    """The header's place in the chain: height, parent hash, time, validator sets."""
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
    next_set = env.next_set_hash()
    if header.next_validator_set_hash != next_set:
        raise InvalidBlock(
            f"next validator set hash {next_set.hex()} expected, found {header.next_validator_set_hash.hex()}"
        )


def check_last_commit(header: BlockHeader, last_commit: bytes) -> None:
    """The header commits to the certificate bytes its block carries, which are bounded and,
    in block 1, empty (the genesis is not voted on).

    Only the commitment is checked here: chain/ cannot read a certificate (consensus/ sits
    above it). Whether ``last_commit`` is a valid certificate for the parent (and present
    beyond block 1) is the node's check, with ``consensus.certificate.verify_commit``.
    """
    if len(last_commit) > MAX_LAST_COMMIT_SIZE:
        raise InvalidBlock(
            f"a last commit of at most {MAX_LAST_COMMIT_SIZE} bytes expected, found {len(last_commit)}"
        )
    if header.height == 1 and last_commit:
        raise InvalidBlock(f"no last commit in block 1 expected, found {len(last_commit)} bytes")
    expected = last_commit_hash(last_commit)
    if header.last_commit_hash != expected:
        raise InvalidBlock(f"last commit hash {expected.hex()} expected, found {header.last_commit_hash.hex()}")


def _hash_text(tx: Transaction) -> str:
    try:
        return f" ({tx.hash.hex()})"
    except DecodeError:
        return ""


def execute_transactions(
    state: State, header: BlockHeader, transactions: tuple[Transaction, ...], env: BlockEnv
) -> tuple[State, tuple[Receipt, ...]]:
    """Check and run a block's transactions in order; any invalid one makes the block invalid."""
    limits = block_limits(state)
    if len(transactions) > limits.transactions:
        raise InvalidBlock(f"at most {limits.transactions} transactions expected, found {len(transactions)}")
    receipts: list[Receipt] = []
    block_gas = 0
    block_bytes = 0
    buffer = WriteBuffer(state)  # this block's writes so far: what later transactions read
    for index, tx in enumerate(transactions):
        # VALIDITY: of the transaction alone, then of its nonce in the block so far.
        try:
            check_transaction(buffer, tx, header, env)
        except (InvalidTransaction, InvalidSignature) as exc:
            raise InvalidBlock(f"transaction {index}{_hash_text(tx)}: {exc}") from exc
        block_bytes += len(tx.encode())
        if block_bytes > MAX_BLOCK_TX_BYTES:
            raise InvalidBlock(
                f"at most {MAX_BLOCK_TX_BYTES} bytes of transactions expected, found more at transaction {index}"
            )
        # EXECUTION
        writes, receipt = run_transaction(buffer, tx, header, env)
        buffer.apply(writes)
        block_gas += receipt.gas_used
        if block_gas > limits.gas:
            raise InvalidBlock(
                f"block gas of at most {limits.gas} expected, found {block_gas} after transaction {index}"
            )
        receipts.append(receipt)
    return buffer.state(), tuple(receipts)


def select_transactions(
    state: State, header: BlockHeader, candidates: Iterable[Transaction], env: BlockEnv
) -> tuple[tuple[Transaction, ...], State, tuple[Receipt, ...]]:
    """The proposer's choice: the candidates, in order, that keep the block valid (taken
    one at a time: a proposer may stop offering them, e.g. when its time is up).

    A candidate that is invalid where it stands (its nonce not yet or no longer its
    sender's next, expired, badly signed ...) or that would take the block over its gas,
    size or count limit is left out; the caller keeps future nonces for a later block. The
    result is what ``execute_transactions`` accepts and computes for the chosen ones.
    """
    limits = block_limits(state)
    chosen: list[Transaction] = []
    receipts: list[Receipt] = []
    block_gas = 0
    block_bytes = 0
    buffer = WriteBuffer(state)
    for tx in candidates:
        if len(chosen) == limits.transactions:
            break
        try:
            check_transaction(buffer, tx, header, env)
        except (InvalidTransaction, InvalidSignature):
            continue
        size = len(tx.encode())
        if block_bytes + size > MAX_BLOCK_TX_BYTES:
            continue
        writes, receipt = run_transaction(buffer, tx, header, env)
        if block_gas + receipt.gas_used > limits.gas:
            continue  # ``writes`` were never applied: leaving it out undoes nothing
        buffer.apply(writes)
        block_gas += receipt.gas_used
        block_bytes += size
        chosen.append(tx)
        receipts.append(receipt)
    return tuple(chosen), buffer.state(), tuple(receipts)


def tx_root(transactions: tuple[Transaction, ...]) -> Hash32:
    return merkle_list_root([tx.encode() for tx in transactions])


def receipts_root(receipts: tuple[Receipt, ...]) -> Hash32:
    return merkle_list_root([r.encode() for r in receipts])


def apply_block(state: State, block: Block, env: BlockEnv) -> tuple[State, tuple[Receipt, ...]]:
    """Apply ``block`` to ``state`` and return the new state and the receipts.

    State rule (the one rule of the whole code base): a transition never mutates the
    ``State`` it is given. It returns a new immutable view (the given one plus this block's
    writes); the caller commits that view's ``changes()`` to its backend in one atomic
    batch, or drops it. Inside, one block's execution owns a ``WriteBuffer`` that no one
    else sees.

    Raises ``InvalidBlock`` (with what was expected and found) if any header field, any
    transaction's validity (nonce included), or any committed root is wrong. The certificate
    the block carries for its parent is checked only against its hash (``check_last_commit``).
    """
    header = block.header
    check_header_links(header, env)
    check_last_commit(header, block.last_commit)
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
    transactions: Iterable[Transaction],
    time: Timestamp,
    proposer: PublicKey,
    env: BlockEnv,
) -> tuple[Block, State, tuple[Receipt, ...]]:
    """Build the block a proposer offers from candidate transactions: keep those that may be
    included (``select_transactions``), run them, fill in every root. The block holds only
    the chosen transactions (``block.transactions``); the receipts are theirs. It carries
    the parent's certificate the node gave (``env.last_commit``) and commits to it and to
    the env's validator sets in the header. Like ``apply_block``, it never mutates ``state``.
    """
    height = Height(env.parent.height + 1)
    parent_hash = env.parent.hash
    next_set = env.next_set_hash()
    commit_hash = last_commit_hash(env.last_commit)
    draft = BlockHeader(
        height, parent_hash, time, proposer, EMPTY_HASH, EMPTY_HASH, EMPTY_HASH,
        env.validator_set_hash, next_set, commit_hash,
    )  # fmt: skip
    check_header_links(draft, env)
    check_last_commit(draft, env.last_commit)
    chosen, new_state, receipts = select_transactions(state, draft, transactions, env)
    header = BlockHeader(
        height,
        parent_hash,
        time,
        proposer,
        tx_root(chosen),
        new_state.root,
        receipts_root(receipts),
        env.validator_set_hash,
        next_set,
        commit_hash,
    )
    return Block(header, chosen, env.last_commit), new_state, receipts
