"""The chain's records: transactions, blocks, receipts, events, and their canonical encodings.

Records are frozen dataclasses; each encodes as a msgpack array in its fixed field order
(``chain.codec``), and decodes strictly: wrong arity, wrong types or non-canonical bytes
raise ``DecodeError`` with what was expected and what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, NewType

from chain import codec, fast, keys
from chain.errors import DecodeError
from chain.hashing import EMPTY_HASH, Domain, Hash32, hash_domain

PublicKey = NewType("PublicKey", bytes)  # a 32-byte Ed25519 public key; accounts are keys
Signature = NewType("Signature", bytes)  # a 64-byte Ed25519 signature
Height = NewType("Height", int)
Timestamp = NewType("Timestamp", int)  # Unix seconds, agreed by consensus (never a local clock)
Gas = NewType("Gas", int)
Nonce = NewType("Nonce", int)
MinorUnits = NewType("MinorUnits", int)  # money, in the currency's minor unit (cents, kuruş)

PUBLIC_KEY_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64
MAX_TX_SIZE: Final = 128 * 1024
MAX_BLOCK_SIZE: Final = 8 * 1024 * 1024
# The parent's commit certificate a block carries (``Block.last_commit``): consensus keeps its
# certificates under this (tests/chain checks ``consensus.certificate.MAX_CERTIFICATE_SIZE``),
# and the transition keeps the block's transactions under the rest of ``MAX_BLOCK_SIZE``.
MAX_LAST_COMMIT_SIZE: Final = 1024 * 1024
MAX_CHAIN_ID_LEN: Final = 64
U64_MAX: Final = 2**64 - 1
_ENCODED_NONE: Final = codec.encode(None)

# Transaction kinds. ``call`` runs a contract function; ``deploy`` and ``upgrade`` install
# contract code and may only be signed by the chain's governance key.
KIND_CALL: Final = "call"
KIND_DEPLOY: Final = "deploy"
KIND_UPGRADE: Final = "upgrade"
TX_KINDS: Final = (KIND_CALL, KIND_DEPLOY, KIND_UPGRADE)


# --- field checks shared by the decoders -------------------------------------------------


def _expect_list(value: Any, name: str, arity: int) -> list[Any]:
    if not isinstance(value, list):
        raise DecodeError(f"{name}: array of {arity} fields expected, found {type(value).__name__}")
    if len(value) != arity:
        raise DecodeError(f"{name}: array of {arity} fields expected, found {len(value)} fields")
    return value


def _expect_uint(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U64_MAX:
        raise DecodeError(f"{name}: unsigned 64-bit integer expected, found {value!r}")
    return value


def _expect_bytes(value: Any, name: str, size: int | None = None) -> bytes:
    if not isinstance(value, bytes):
        raise DecodeError(f"{name}: bytes expected, found {type(value).__name__}")
    if size is not None and len(value) != size:
        raise DecodeError(f"{name}: {size} bytes expected, found {len(value)}")
    return value


def _expect_str(value: Any, name: str, max_len: int = 256) -> str:
    if not isinstance(value, str):
        raise DecodeError(f"{name}: str expected, found {type(value).__name__}")
    if len(value) > max_len:
        raise DecodeError(f"{name}: at most {max_len} characters expected, found {len(value)}")
    return value


# --- transactions ----------------------------------------------------------------------

@dataclass(frozen=True)
class Transaction:
    """A signed instruction from one account.

    ``payload`` is a canonical value whose shape depends on ``kind``:
    ``call``: ``[contract, function, args]``; ``deploy`` / ``upgrade``:
    ``[name, bytecode, source_hash]``. Every instance, built or decoded, passed
    ``check_transaction_fields`` when it was made (``DecodeError`` otherwise), so no
    validity rule can depend on how the object was built.
    """

    chain_id: str
    sender: PublicKey
    nonce: Nonce
    expiry_height: Height  # last height at which the transaction may be included
    gas_limit: Gas
    kind: str
    payload: Any
    signature: Signature

    def __post_init__(self) -> None:
        check_transaction_fields(self)

    def fields(self) -> list[Any]:
        return [*self.body_fields(), self.signature]

    def body_fields(self) -> list[Any]:
        return [
            self.chain_id,
            self.sender,
            self.nonce,
            self.expiry_height,
            self.gas_limit,
            self.kind,
            self.payload,
        ]

    def signing_bytes(self) -> bytes:
        """What the sender signs: the domain tag (object kind) and the body with the chain id."""
        cut = fast.signing_bytes_from_encoding(self._encoded, self.signature)
        if cut is not None:
            return cut
        return Domain.TX_SIGNING.tag + codec.encode(self.body_fields())

    def encode(self) -> bytes:
        return self._encoded

    # The record is immutable, so its encoding and hash are computed at most once
    # (``computed_once`` writes to the instance dict, which a frozen dataclass permits).
    # FAST PATH: ``functools.cached_property`` without its lock (chain/fast.py).
    @fast.computed_once
    def _encoded(self) -> bytes:
        fields = self.fields()
        # FAST PATH: a call with scalar arguments packs as it is, nesting 3 (chain/fast.py).
        encoded = fast.encode_common_transaction(fields)
        if encoded is None:
            return codec.encode(fields)
        self.__dict__["nesting"] = 3
        return encoded

    @fast.computed_once
    def hash(self) -> Hash32:
        return hash_domain(Domain.TRANSACTION, self._encoded)

    @fast.computed_once
    def nesting(self) -> int:
        """Levels of arrays and maps in the transaction, its own array included (at most
        ``codec.MAX_DEPTH``: deeper has no encoding, and ``encode`` raises first)."""
        self._encoded  # noqa: B018 (computed for what its fast path learns)
        known: int | None = self.__dict__.get("nesting")  # the encoding's fast path knew it
        return known if known is not None else codec.nesting_levels(self.fields())

    @classmethod
    def from_value(cls, value: Any) -> Transaction:
        # FAST PATH: ``cls(*fields)`` without the generated __init__ (chain/fast.py).
        tx: Transaction = fast.new_checked_transaction(cls, _expect_list(value, "transaction", 8))
        return tx

    @classmethod
    def decode(cls, data: bytes) -> Transaction:
        data = bytes(data)
        # FAST PATH: the common contract call in one unpack and one pack (chain/fast.py).
        tx: Transaction | None = fast.decode_common_transaction(cls, data, MAX_TX_SIZE)
        if tx is None:
            tx = cls.from_value(codec.decode(data, max_size=MAX_TX_SIZE))
        # FAST PATH: the strict decode proved ``data`` is the canonical encoding of these
        # fields, i.e. exactly what ``_encoded`` would compute: keep it instead of encoding
        # again. Every decoded transaction is hashed (mempool, block, receipt), so hash it
        # here too: the same value, without a call on first access.
        attributes = tx.__dict__
        attributes["_encoded"] = data
        attributes["hash"] = hash_domain(Domain.TRANSACTION, data)
        return tx


def check_transaction_fields(tx: Transaction) -> None:
    """The form of every transaction, decoded or built: field types and ranges, a known
    kind and a payload of that kind's shape. Raise ``DecodeError`` naming the first wrong field."""
    if fast.is_common_transaction(
        tx.chain_id, tx.sender, tx.nonce, tx.expiry_height, tx.gas_limit, tx.kind, tx.payload, tx.signature
    ):
        return
    _expect_str(tx.chain_id, "transaction.chain_id", MAX_CHAIN_ID_LEN)
    _expect_bytes(tx.sender, "transaction.sender", PUBLIC_KEY_SIZE)
    _expect_uint(tx.nonce, "transaction.nonce")
    _expect_uint(tx.expiry_height, "transaction.expiry_height")
    _expect_uint(tx.gas_limit, "transaction.gas_limit")
    _expect_str(tx.kind, "transaction.kind", 32)
    if tx.kind not in TX_KINDS:
        raise DecodeError(f"transaction.kind: one of {', '.join(TX_KINDS)} expected, found {tx.kind!r}")
    _expect_bytes(tx.signature, "transaction.signature", SIGNATURE_SIZE)
    check_payload_shape(tx.kind, tx.payload)


def check_payload_shape(kind: str, payload: Any) -> None:
    """Reject a payload whose shape does not fit its kind (a decoding error, not a failure)."""
    if kind == KIND_CALL:
        fields = _expect_list(payload, "call payload [contract, function, args]", 3)
        _expect_str(fields[0], "call.contract", 64)
        _expect_str(fields[1], "call.function", 64)
        if not isinstance(fields[2], list):
            raise DecodeError(f"call.args: array expected, found {type(fields[2]).__name__}")
    else:
        fields = _expect_list(payload, f"{kind} payload [name, bytecode, source_hash]", 3)
        keys.check_contract_name(_expect_str(fields[0], f"{kind}.name", 64))
        _expect_bytes(fields[1], f"{kind}.bytecode")
        _expect_bytes(fields[2], f"{kind}.source_hash", 32)


# --- receipts and events ---------------------------------------------------------------


# What one receipt may hold, checked the same way when the transition writes a receipt
# (``chain.transition.bound_receipt``) and when anyone decodes it, so every receipt the
# chain produces decodes: error text is cut to its limit, an outcome beyond the other
# limits fails the transaction.
MAX_RECEIPT_ERROR: Final = 4096  # characters of error text
MAX_RETURN_VALUE_SIZE: Final = 65_536  # bytes of the encoded return value
MAX_RECEIPT_EVENTS: Final = 1024  # events of one transaction
MAX_RECEIPT_EVENT_BYTES: Final = 1024 * 1024  # encoded event fields of one transaction, in all
MAX_EVENT_NAME_LEN: Final = 256  # characters of an event's contract name and of its name


@fast.frozen_slots_init  # FAST PATH: made by every emit (chain/fast.py)
@dataclass(frozen=True, slots=True)
class Event:
    """Something a contract announced: a bill, a warning, a disconnect order...

    ``fields`` holds the canonical encoding of the contract's field map, so the record stays
    immutable and hashable; ``field_map()`` decodes it.
    """

    contract: str
    name: str
    fields: bytes

    def field_map(self) -> dict[Any, Any]:
        value = codec.decode(self.fields)
        assert isinstance(value, dict)
        return value

    def to_value(self) -> list[Any]:
        return [self.contract, self.name, self.fields]

    @classmethod
    def from_value(cls, value: Any) -> Event:
        fields = _expect_list(value, "event", 3)
        data = _expect_bytes(fields[2], "event.fields")
        if not isinstance(codec.decode(data), dict):
            raise DecodeError("event.fields: encoded map expected")
        return cls(
            _expect_str(fields[0], "event.contract", MAX_EVENT_NAME_LEN),
            _expect_str(fields[1], "event.name", MAX_EVENT_NAME_LEN),
            data,
        )

    @classmethod
    def make(cls, contract: str, name: str, fields: dict[Any, Any]) -> Event:
        return cls(contract, name, codec.encode(fields))


STATUS_SUCCESS: Final = 1
STATUS_FAILED: Final = 0


@fast.frozen_slots_init  # FAST PATH: one per transaction (chain/fast.py)
@dataclass(frozen=True, slots=True)
class Receipt:
    """The outcome of one transaction in a block."""

    tx_hash: Hash32
    status: int  # STATUS_SUCCESS or STATUS_FAILED
    gas_used: Gas
    events: tuple[Event, ...]
    error: str  # empty on success; what was expected and what was found otherwise
    return_value: bytes = _ENCODED_NONE  # canonical encoding of the function's result

    @property
    def ok(self) -> bool:
        return self.status == STATUS_SUCCESS

    def to_value(self) -> list[Any]:
        return [
            self.tx_hash,
            self.status,
            self.gas_used,
            [e.to_value() for e in self.events],
            self.error,
            self.return_value,
        ]

    def encode(self) -> bytes:
        # FAST PATH: fields of their exact types pack as they are (chain/fast.py).
        encoded = fast.encode_receipt(
            self.tx_hash, self.status, self.gas_used, self.events, self.error, self.return_value
        )
        return codec.encode(self.to_value()) if encoded is None else encoded

    @classmethod
    def from_value(cls, value: Any) -> Receipt:
        f = _expect_list(value, "receipt", 6)
        if not isinstance(f[3], list):
            raise DecodeError("receipt.events: array expected")
        if len(f[3]) > MAX_RECEIPT_EVENTS:
            raise DecodeError(f"receipt.events: at most {MAX_RECEIPT_EVENTS} expected, found {len(f[3])}")
        events = tuple(Event.from_value(e) for e in f[3])
        event_bytes = sum(len(e.fields) for e in events)
        if event_bytes > MAX_RECEIPT_EVENT_BYTES:
            raise DecodeError(
                f"receipt.events: at most {MAX_RECEIPT_EVENT_BYTES} bytes of fields expected, found {event_bytes}"
            )
        return_value = _expect_bytes(f[5], "receipt.return_value")
        if len(return_value) > MAX_RETURN_VALUE_SIZE:
            raise DecodeError(
                f"receipt.return_value: at most {MAX_RETURN_VALUE_SIZE} bytes expected, found {len(return_value)}"
            )
        return cls(
            Hash32(_expect_bytes(f[0], "receipt.tx_hash", 32)),
            _expect_uint(f[1], "receipt.status"),
            Gas(_expect_uint(f[2], "receipt.gas_used")),
            events,
            _expect_str(f[4], "receipt.error", MAX_RECEIPT_ERROR),
            return_value,
        )

    @classmethod
    def decode(cls, data: bytes) -> Receipt:
        return cls.from_value(codec.decode(data))


# --- blocks ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockHeader:
    height: Height
    parent_hash: Hash32
    time: Timestamp
    proposer: PublicKey
    tx_root: Hash32
    state_root: Hash32  # root of the state after applying this block
    receipts_root: Hash32
    validator_set_hash: Hash32  # the validators of this height (they sign its certificate)
    next_validator_set_hash: Hash32  # the validators of the next height
    # ``last_commit_hash(block.last_commit)``: the parent's commit certificate, so the chain
    # carries its own proof of finality (EMPTY_HASH in block 1: the genesis is not voted on).
    last_commit_hash: Hash32

    def to_value(self) -> list[Any]:
        return [
            self.height,
            self.parent_hash,
            self.time,
            self.proposer,
            self.tx_root,
            self.state_root,
            self.receipts_root,
            self.validator_set_hash,
            self.next_validator_set_hash,
            self.last_commit_hash,
        ]

    def encode(self) -> bytes:
        return codec.encode(self.to_value())

    @property
    def hash(self) -> Hash32:
        return hash_domain(Domain.BLOCK_HEADER, self.encode())

    @classmethod
    def from_value(cls, value: Any) -> BlockHeader:
        f = _expect_list(value, "header", 10)
        return cls(
            Height(_expect_uint(f[0], "header.height")),
            Hash32(_expect_bytes(f[1], "header.parent_hash", 32)),
            Timestamp(_expect_uint(f[2], "header.time")),
            PublicKey(_expect_bytes(f[3], "header.proposer", PUBLIC_KEY_SIZE)),
            Hash32(_expect_bytes(f[4], "header.tx_root", 32)),
            Hash32(_expect_bytes(f[5], "header.state_root", 32)),
            Hash32(_expect_bytes(f[6], "header.receipts_root", 32)),
            Hash32(_expect_bytes(f[7], "header.validator_set_hash", 32)),
            Hash32(_expect_bytes(f[8], "header.next_validator_set_hash", 32)),
            Hash32(_expect_bytes(f[9], "header.last_commit_hash", 32)),
        )


def last_commit_hash(last_commit: bytes) -> Hash32:
    """What a header commits to for the certificate bytes its block carries: their
    ``Domain.COMMIT`` hash (as ``consensus.certificate.CommitCertificate.hash``), or
    EMPTY_HASH for none (block 1, and the blocks of a local chain without consensus)."""
    return EMPTY_HASH if not last_commit else hash_domain(Domain.COMMIT, last_commit)


@dataclass(frozen=True, slots=True)
class Block:
    """A header, its transactions, and the parent's commit certificate.

    A block's own certificate signs its header hash, so it cannot be inside the block: it
    travels beside it and is carried by the next block as ``last_commit`` (the encoded
    certificate, opaque here: chain/ does not know consensus's types). The chain checks only
    that the header commits to these bytes; whether they are a valid certificate for the
    parent is the node's check (``consensus.certificate.verify_commit``).
    """

    header: BlockHeader
    transactions: tuple[Transaction, ...]
    last_commit: bytes

    def encode(self) -> bytes:
        # FAST PATH: the transactions' own encodings joined (chain/fast.py).
        joined = fast.encode_block(self.header.to_value(), self.transactions, self.last_commit)
        if joined is not None:
            return joined
        transactions = [[*tx.body_fields(), tx.signature] for tx in self.transactions]
        return codec.encode([self.header.to_value(), transactions, self.last_commit])

    @classmethod
    def decode(cls, data: bytes) -> Block:
        # FAST PATH: a block of common transactions in one unpack and one pack (chain/fast.py).
        block: Block | None = fast.decode_common_block(
            cls, BlockHeader, Transaction, data, MAX_BLOCK_SIZE, MAX_LAST_COMMIT_SIZE
        )
        if block is not None:
            return block
        value = codec.decode(data, max_size=MAX_BLOCK_SIZE)
        f = _expect_list(value, "block", 3)
        if not isinstance(f[1], list):
            raise DecodeError(f"block.transactions: array expected, found {type(f[1]).__name__}")
        last_commit = _expect_bytes(f[2], "block.last_commit")
        if len(last_commit) > MAX_LAST_COMMIT_SIZE:
            raise DecodeError(
                f"block.last_commit: at most {MAX_LAST_COMMIT_SIZE} bytes expected, found {len(last_commit)}"
            )
        return cls(BlockHeader.from_value(f[0]), tuple(Transaction.from_value(t) for t in f[1]), last_commit)
