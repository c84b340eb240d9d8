"""The chain's records: transactions, blocks, receipts, events, and their canonical encodings.

Records are frozen dataclasses; each encodes as a msgpack array in its fixed field order
(``chain.codec``), and decodes strictly: wrong arity, wrong types or non-canonical bytes
raise ``DecodeError`` with what was expected and what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, NewType

from chain import codec
from chain.errors import DecodeError
from chain.hashing import Domain, Hash32, hash_domain

PublicKey = NewType("PublicKey", bytes)  # a 32-byte Ed25519 public key; accounts are keys
Signature = NewType("Signature", bytes)  # a 64-byte Ed25519 signature
Height = NewType("Height", int)
Timestamp = NewType("Timestamp", int)  # Unix seconds, agreed by consensus (never a local clock)
Gas = NewType("Gas", int)
Nonce = NewType("Nonce", int)

PUBLIC_KEY_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64
MAX_TX_SIZE: Final = 128 * 1024
MAX_BLOCK_SIZE: Final = 8 * 1024 * 1024
MAX_CHAIN_ID_LEN: Final = 64
U64_MAX: Final = 2**64 - 1
_ENCODED_NONE: Final = codec.encode(None)
_set: Final = object.__setattr__  # for the records that write their __init__ out

# Transaction kinds. ``call`` runs a contract function; ``deploy`` and ``upgrade`` install
# contract code and may only be signed by the chain's governance key.
KIND_CALL: Final = "call"
KIND_DEPLOY: Final = "deploy"
KIND_UPGRADE: Final = "upgrade"
TX_KINDS: Final = (KIND_CALL, KIND_DEPLOY, KIND_UPGRADE)


# Marks (in a decoded transaction's instance dict) that ``check_payload_shape`` passed.
SHAPE_CHECKED: Final = "_payload_shape_checked"


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

# ``Domain.X.tag`` costs an enum hash (a Python-level call) on every use; the tag is constant.
_TX_SIGNING_TAG: Final = Domain.TX_SIGNING.tag


@dataclass(frozen=True)
class Transaction:
    """A signed instruction from one account.

    ``payload`` is a canonical value whose shape depends on ``kind``:
    ``call``: ``[contract, function, args]``; ``deploy`` / ``upgrade``:
    ``[name, bytecode, source_hash]``.
    """

    chain_id: str
    sender: PublicKey
    nonce: Nonce
    expiry_height: Height  # last height at which the transaction may be included
    gas_limit: Gas
    kind: str
    payload: Any
    signature: Signature

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
        encoded = self.encode()
        if len(self.signature) == SIGNATURE_SIZE and encoded[0] == 0x98:
            # The signed transaction is the 8-array [body..., signature]; its body is the same
            # bytes as the 7-array of the body fields once the array header says 7 and the
            # trailing bin8 signature (0xC4 0x40 + 64 bytes) is cut. Slicing saves an encode
            # on the hot path; the fallback below is the definition.
            return _TX_SIGNING_TAG + b"\x97" + encoded[1 : -(SIGNATURE_SIZE + 2)]
        return _TX_SIGNING_TAG + codec.encode(self.body_fields())

    def encode(self) -> bytes:
        return self._encoded

    # The record is immutable, so its encoding and hash are computed at most once
    # (cached_property writes to the instance dict, which a frozen dataclass permits).
    @cached_property
    def _encoded(self) -> bytes:
        return codec.encode([*self.body_fields(), self.signature])

    @cached_property
    def hash(self) -> Hash32:
        return hash_domain(Domain.TRANSACTION, self.encode())

    @classmethod
    def from_value(cls, value: Any) -> Transaction:
        fields = _expect_list(value, "transaction", 8)
        chain_id, sender, nonce, expiry, gas_limit, kind, payload, signature = fields
        # Every decoded transaction passes here: the common, valid case is one chain of exact
        # type tests; any doubt goes to the checks that name what was expected and found.
        if not (
            type(chain_id) is str and len(chain_id) <= MAX_CHAIN_ID_LEN
            and type(sender) is bytes and len(sender) == PUBLIC_KEY_SIZE
            and type(nonce) is int and 0 <= nonce <= U64_MAX
            and type(expiry) is int and 0 <= expiry <= U64_MAX
            and type(gas_limit) is int and 0 <= gas_limit <= U64_MAX
            and type(kind) is str and kind in TX_KINDS
            and type(signature) is bytes and len(signature) == SIGNATURE_SIZE
        ):  # fmt: skip
            _expect_str(chain_id, "transaction.chain_id", MAX_CHAIN_ID_LEN)
            _expect_bytes(sender, "transaction.sender", PUBLIC_KEY_SIZE)
            _expect_uint(nonce, "transaction.nonce")
            _expect_uint(expiry, "transaction.expiry_height")
            _expect_uint(gas_limit, "transaction.gas_limit")
            _expect_str(kind, "transaction.kind", 32)
            if kind not in TX_KINDS:
                raise DecodeError(f"transaction.kind: one of {', '.join(TX_KINDS)} expected, found {kind!r}")
            _expect_bytes(signature, "transaction.signature", SIGNATURE_SIZE)
        if not (
            kind == KIND_CALL and type(payload) is list and len(payload) == 3
            and type(payload[0]) is str and len(payload[0]) <= 64
            and type(payload[1]) is str and len(payload[1]) <= 64
            and type(payload[2]) is list
        ):  # fmt: skip
            check_payload_shape(kind, payload)
        # The fields are checked: fill the frozen record's attributes in one step instead of
        # the generated __init__'s eight object.__setattr__ calls (this is the decode path of
        # every transaction). SHAPE_CHECKED spares validation a second payload check.
        tx = object.__new__(cls)
        tx.__dict__.update(
            chain_id=chain_id,
            sender=sender,
            nonce=nonce,
            expiry_height=expiry,
            gas_limit=gas_limit,
            kind=kind,
            payload=payload,
            signature=signature,
        )
        tx.__dict__[SHAPE_CHECKED] = True
        return tx

    @classmethod
    def decode(cls, data: bytes) -> Transaction:
        data = bytes(data)
        tx = cls.from_value(codec.decode(data, max_size=MAX_TX_SIZE))
        # The strict decode proved ``data`` is the canonical encoding of these fields, i.e.
        # exactly what ``_encoded`` would compute: keep it instead of encoding again. Every
        # decoded transaction is hashed (mempool, block, receipt), so hash it here too: it
        # is the same value, without cached_property's per-instance lock on first access.
        tx.__dict__["_encoded"] = data
        tx.__dict__["hash"] = hash_domain(Domain.TRANSACTION, data)
        return tx


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
        _expect_str(fields[0], f"{kind}.name", 64)
        _expect_bytes(fields[1], f"{kind}.bytecode")
        _expect_bytes(fields[2], f"{kind}.source_hash", 32)


# --- receipts and events ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, init=False)
class Event:
    """Something a contract announced: a bill, a warning, a disconnect order...

    ``fields`` holds the canonical encoding of the contract's field map, so the record stays
    immutable and hashable; ``field_map()`` decodes it.
    """

    contract: str
    name: str
    fields: bytes

    def __init__(self, contract: str, name: str, fields: bytes) -> None:
        # Written out (see Receipt): contracts emit events on the core path.
        _set(self, "contract", contract)
        _set(self, "name", name)
        _set(self, "fields", fields)

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
        return cls(_expect_str(fields[0], "event.contract"), _expect_str(fields[1], "event.name"), data)

    @classmethod
    def make(cls, contract: str, name: str, fields: dict[Any, Any]) -> Event:
        return cls(contract, name, codec.encode(fields))


STATUS_SUCCESS: Final = 1
STATUS_FAILED: Final = 0


@dataclass(frozen=True, slots=True, init=False)
class Receipt:
    """The outcome of one transaction in a block."""

    tx_hash: Hash32
    status: int  # STATUS_SUCCESS or STATUS_FAILED
    gas_used: Gas
    events: tuple[Event, ...]
    error: str  # empty on success; what was expected and what was found otherwise
    return_value: bytes = _ENCODED_NONE  # canonical encoding of the function's result

    def __init__(
        self,
        tx_hash: Hash32,
        status: int,
        gas_used: Gas,
        events: tuple[Event, ...],
        error: str,
        return_value: bytes = _ENCODED_NONE,
    ) -> None:
        # Written out: the generated __init__ of a frozen dataclass looks object.__setattr__
        # up again for every field, and every transaction makes a receipt.
        _set(self, "tx_hash", tx_hash)
        _set(self, "status", status)
        _set(self, "gas_used", gas_used)
        _set(self, "events", events)
        _set(self, "error", error)
        _set(self, "return_value", return_value)

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
        return codec.encode(self.to_value())

    @classmethod
    def from_value(cls, value: Any) -> Receipt:
        f = _expect_list(value, "receipt", 6)
        if not isinstance(f[3], list):
            raise DecodeError("receipt.events: array expected")
        return cls(
            Hash32(_expect_bytes(f[0], "receipt.tx_hash", 32)),
            _expect_uint(f[1], "receipt.status"),
            Gas(_expect_uint(f[2], "receipt.gas_used")),
            tuple(Event.from_value(e) for e in f[3]),
            _expect_str(f[4], "receipt.error", 4096),
            _expect_bytes(f[5], "receipt.return_value"),
        )


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
    validator_set_hash: Hash32

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
        ]

    def encode(self) -> bytes:
        return codec.encode(self.to_value())

    @property
    def hash(self) -> Hash32:
        return hash_domain(Domain.BLOCK_HEADER, self.encode())

    @classmethod
    def from_value(cls, value: Any) -> BlockHeader:
        f = _expect_list(value, "header", 8)
        return cls(
            Height(_expect_uint(f[0], "header.height")),
            Hash32(_expect_bytes(f[1], "header.parent_hash", 32)),
            Timestamp(_expect_uint(f[2], "header.time")),
            PublicKey(_expect_bytes(f[3], "header.proposer", PUBLIC_KEY_SIZE)),
            Hash32(_expect_bytes(f[4], "header.tx_root", 32)),
            Hash32(_expect_bytes(f[5], "header.state_root", 32)),
            Hash32(_expect_bytes(f[6], "header.receipts_root", 32)),
            Hash32(_expect_bytes(f[7], "header.validator_set_hash", 32)),
        )


@dataclass(frozen=True, slots=True)
class Block:
    """A header and its transactions. The commit certificate that finalizes a block is
    carried beside it by consensus (it signs the header hash, so it cannot be inside)."""

    header: BlockHeader
    transactions: tuple[Transaction, ...]

    def encode(self) -> bytes:
        return codec.encode([self.header.to_value(), [[*tx.body_fields(), tx.signature] for tx in self.transactions]])

    @classmethod
    def decode(cls, data: bytes) -> Block:
        value = codec.decode(data, max_size=MAX_BLOCK_SIZE)
        f = _expect_list(value, "block", 2)
        if not isinstance(f[1], list):
            raise DecodeError(f"block.transactions: array expected, found {type(f[1]).__name__}")
        return cls(BlockHeader.from_value(f[0]), tuple(Transaction.from_value(t) for t in f[1]))
