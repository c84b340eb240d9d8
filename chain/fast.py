"""Fast paths of the chain's hot path, each beside the plain definition it must equal.

The specification is the plain code in ``chain.types`` and ``chain.codec``; what is here
exists only because bench/bench_core.py (the core path: decode, verify, apply a contract
call) measured it, and tests/chain/test_fast.py checks each one against the definition it
shortens. Anything here may be deleted without changing a single result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar, overload

import msgpack

# chain.codec imports this module and uses it only inside its functions, so importing it
# back here is safe in either order.
from chain import codec
from chain.hashing import Domain, hash_domain

PUBLIC_KEY_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64
MAX_CHAIN_ID_LEN: Final = 64
MAX_CALL_NAME_LEN: Final = 64
U64_MAX: Final = 2**64 - 1
KIND_CALL: Final = "call"
TX_KINDS: Final = ("call", "deploy", "upgrade")

# ``Domain.X.tag`` is an attribute lookup through the enum on every use; the tag is constant.
TX_SIGNING_TAG: Final = Domain.TX_SIGNING.tag

# msgpack headers: an 8-array, a 7-array, and the bin8 header of a 64-byte signature.
_ARRAY_8: Final = 0x98
_ARRAY_7: Final = b"\x97"
_BIN8_64: Final = b"\xc4\x40"


def signing_bytes_from_encoding(encoded: bytes, signature: bytes) -> bytes | None:
    """``Transaction.signing_bytes`` cut from the signed encoding, or None if it cannot be.

    Saves an encode per verified transaction (~10% of the core path). The signed
    transaction is the 8-array ``[body..., signature]``; its body is the same bytes as the
    7-array of the body fields once the array header says 7 and the trailing bin8
    signature (0xC4 0x40 + 64 bytes) is cut.
    """
    if type(signature) is not bytes or len(signature) != SIGNATURE_SIZE or encoded[0] != _ARRAY_8:
        return None
    return TX_SIGNING_TAG + _ARRAY_7 + encoded[1 : -(SIGNATURE_SIZE + 2)]


def encoding_with_signature(encoded: bytes, old_signature: bytes, signature: bytes) -> bytes | None:
    """The canonical encoding of a transaction whose canonical encoding is ``encoded`` with
    ``old_signature`` replaced by ``signature``, or None if it cannot be cut (the caller
    then leaves the encoding to be computed).

    Signing encodes the transaction (``signing_bytes``) before its signature exists; the
    signed transaction is the same 8-array with other bytes in its trailing bin8 of 64
    (0xC4 0x40 + 64 bytes): the signer keeps the bytes it sends, as a node keeps the bytes
    it received (``Transaction.decode``), and nothing encodes the signed transaction again.
    """
    if (
        type(old_signature) is not bytes or type(signature) is not bytes
        or len(old_signature) != SIGNATURE_SIZE or len(signature) != SIGNATURE_SIZE
        or encoded[0] != _ARRAY_8 or encoded[-(SIGNATURE_SIZE + 2) :] != _BIN8_64 + old_signature
    ):  # fmt: skip
        return None
    return encoded[:-SIGNATURE_SIZE] + signature


def is_common_transaction(
    chain_id: Any, sender: Any, nonce: Any, expiry: Any, gas_limit: Any, kind: Any, payload: Any, signature: Any
) -> bool:
    """True when the eight transaction fields are a well-formed contract call, tested as one
    chain of exact type tests (the common case of every decoded and validated transaction).

    False means only "not proven here": the caller then runs the named checks of
    ``chain.types.check_transaction_fields``, which say what was expected and what was found.
    """
    return (
        type(chain_id) is str and len(chain_id) <= MAX_CHAIN_ID_LEN
        and type(sender) is bytes and len(sender) == PUBLIC_KEY_SIZE
        and type(nonce) is int and 0 <= nonce <= U64_MAX
        and type(expiry) is int and 0 <= expiry <= U64_MAX
        and type(gas_limit) is int and 0 <= gas_limit <= U64_MAX
        and kind == KIND_CALL and type(kind) is str
        and type(signature) is bytes and len(signature) == SIGNATURE_SIZE
        and type(payload) is list and len(payload) == 3
        and type(payload[0]) is str and len(payload[0]) <= MAX_CALL_NAME_LEN
        and type(payload[1]) is str and len(payload[1]) <= MAX_CALL_NAME_LEN
        and type(payload[2]) is list
    )  # fmt: skip


def new_checked_transaction(cls: Any, fields: list[Any]) -> Any:
    """``cls(*fields)`` for decoded fields (``cls`` is ``chain.types.Transaction``).

    The generated ``__init__`` of a frozen dataclass calls ``object.__setattr__`` once per
    field and then the field checks; for the common well-formed call the checks are this
    module's one chain of type tests and the eight attributes go into the instance dict in
    one step. Anything else takes the plain constructor and its named checks.
    """
    if not is_common_transaction(*fields):
        return cls(*fields)
    return _filled_transaction(cls, fields)


def _filled_transaction(cls: Any, fields: list[Any]) -> Any:
    """A ``cls`` instance holding ``fields`` (already proven well formed), without ``__init__``."""
    tx = object.__new__(cls)
    attributes = tx.__dict__
    (
        attributes["chain_id"],
        attributes["sender"],
        attributes["nonce"],
        attributes["expiry_height"],
        attributes["gas_limit"],
        attributes["kind"],
        attributes["payload"],
        attributes["signature"],
    ) = fields  # one unpacking into the dict: cheaper than update(**eight keywords)
    return tx


_SCALAR_ARG_TYPES: Final = (int, str, bytes, bool, type(None))


def decode_common_transaction(cls: Any, data: bytes, max_size: int) -> Any:
    """``cls.from_value(codec.decode(data, max_size))`` for a signed contract call whose arguments are
    scalars (the common transaction), or None when ``data`` is anything else (the caller
    then takes the plain path, which says what is wrong).

    ``codec.decode`` proves a value canonical by packing it again twice (floats as 64 and as
    32 bits) and walking its nesting, then ``from_value`` checks the fields. Here one chain
    of exact type tests proves the fields' form, no float (every value is of a scalar type
    that is not float) and a nesting of two levels; one packing that gives back ``data``
    then proves it canonical. Saves about 2 µs of the core path's 25 µs beside the signature.
    """
    if type(data) is not bytes or len(data) > max_size:
        return None
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            object_hook=_refuse,  # maps: not a common transaction
            ext_hook=_refuse,
            max_str_len=len(data),
            max_bin_len=len(data),
            max_array_len=codec.MAX_CONTAINER_LEN,
            max_map_len=0,
        )
    except Exception:  # malformed, trailing bytes, a map, an extension...: the plain path says which
        return None
    if type(value) is not list or len(value) != 8 or not is_common_transaction(*value):
        return None
    args = value[6][2]
    if len(args) > codec.MAX_CONTAINER_LEN:
        return None
    for arg in args:
        if type(arg) not in _SCALAR_ARG_TYPES:
            return None
    if codec.pack_ready(value) != data:  # a longer form than the shortest
        return None
    tx = _filled_transaction(cls, value)
    tx.__dict__["nesting"] = 3  # the array, the payload, the arguments: what it would compute
    return tx


def encode_common_transaction(fields: list[Any]) -> bytes | None:
    """``codec.encode(fields)`` of a transaction's eight fields when they are a common call
    (``is_common_transaction``) whose arguments are scalars of an exact type, ints in the
    codec's range; None for anything else (the caller encodes, and says what is wrong).

    ``codec.encode`` walks the value to prove it has an encoding and to reorder maps; such a
    transaction has no map, no float and nothing out of range, so it packs as it is. Its
    nesting is then 3 (``Transaction.nesting``: the array, the payload, the arguments).
    """
    if not is_common_transaction(*fields):
        return None
    for arg in fields[6][2]:
        kind = type(arg)
        if kind is int:
            if not codec.INT_MIN <= arg <= codec.INT_MAX:
                return None
        elif kind not in _SCALAR_ARG_TYPES:
            return None
    if len(fields[6][2]) > codec.MAX_CONTAINER_LEN:
        return None
    return codec.pack_ready(fields)


def encode_receipt(
    tx_hash: Any, status: Any, gas_used: Any, events: Any, error: Any, return_value: Any
) -> bytes | None:
    """``codec.encode(receipt.to_value())`` from a receipt's fields when each is of its exact
    type (``bytes``, ints in 0..2**64-1, events of ``str``, ``str``, ``bytes``), or None (the
    caller encodes, and says what is wrong). Such a value has no map, float or tuple, so it
    packs as it is, without ``codec.encode``'s walk; every transaction's receipt is encoded
    for the receipts root and again where a node stores it."""
    if (
        type(tx_hash) is not bytes or type(status) is not int or type(gas_used) is not int
        or type(error) is not str or type(return_value) is not bytes
        or not 0 <= status <= U64_MAX or not 0 <= gas_used <= U64_MAX
        or len(events) > codec.MAX_CONTAINER_LEN
    ):  # fmt: skip
        return None
    values = []
    for event in events:
        contract, name, fields = event.contract, event.name, event.fields
        if type(contract) is not str or type(name) is not str or type(fields) is not bytes:
            return None
        values.append([contract, name, fields])
    return codec.pack_ready([tx_hash, status, gas_used, values, error, return_value])


def _refuse(*_: Any) -> Any:
    raise ValueError("not a common transaction")


HEADER_FIELDS: Final = 10
_HEADER_FIELD_TYPES: Final = (int, bytes)


def decode_common_block(
    block_cls: Any, header_cls: Any, tx_cls: Any, data: bytes, max_size: int, max_last_commit: int
) -> Any:
    """``block_cls.decode(data)`` for a block whose transactions are all common ones (signed
    contract calls with scalar arguments), or None when ``data`` is anything else (the
    caller then takes the plain path, which says what is wrong).

    The plain path proves the whole block canonical (two packings and a walk over every
    value's nesting, in Python), builds each transaction, and each one's hash later costs a
    canonical encode (another walk). Here one unpack, the exact type tests of each
    transaction (which prove its form, no float and its nesting), one packing that gives
    back ``data`` (proving every integer and header shortest); each transaction's own
    canonical bytes are then one packing of its decoded value, kept with its hash as
    ``Transaction.decode`` keeps them. About a third of the plain path's time (bench_network
    replays and receives blocks of thousands of readings).
    """
    if type(data) is not bytes or len(data) > max_size:
        return None
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            object_hook=_refuse,  # maps: not a common block
            ext_hook=_refuse,
            max_str_len=codec.MAX_CONTAINER_LEN * 16,  # the plain decode's limits
            max_bin_len=max_size,
            max_array_len=codec.MAX_CONTAINER_LEN,
            max_map_len=0,
        )
    except Exception:  # malformed, trailing bytes, a map...: the plain path says which
        return None
    if type(value) is not list or len(value) != 3:
        return None
    header, transactions, last_commit = value
    if (
        type(header) is not list or len(header) != HEADER_FIELDS or type(transactions) is not list
        or type(last_commit) is not bytes or len(last_commit) > max_last_commit
    ):  # fmt: skip
        return None
    for field in header:
        if type(field) not in _HEADER_FIELD_TYPES:
            return None
    for fields in transactions:
        if type(fields) is not list or len(fields) != 8 or not is_common_transaction(*fields):
            return None
        for arg in fields[6][2]:
            if type(arg) not in _SCALAR_ARG_TYPES:
                return None
    if codec.pack_ready(value) != data:  # a longer form than the shortest somewhere
        return None
    try:
        checked_header = header_cls.from_value(header)
    except Exception:  # a field out of range: the plain path says which
        return None
    pack = codec.pack_ready
    hash_of = hash_domain
    tx_domain = Domain.TRANSACTION
    decoded = []
    for fields in transactions:
        tx = _filled_transaction(tx_cls, fields)
        encoded = pack(fields)  # canonical: part of the canonical ``data``
        attributes = tx.__dict__
        attributes["_encoded"] = encoded
        attributes["hash"] = hash_of(tx_domain, encoded)
        attributes["nesting"] = 3
        decoded.append(tx)
    return block_cls(checked_header, tuple(decoded), last_commit)


def encode_block(header_value: list[Any], transactions: Any, last_commit: bytes) -> bytes | None:
    """``codec.encode([header_value, [tx fields...], last_commit])`` from each transaction's
    own canonical encoding (``Transaction.encode``, computed once per transaction), or None
    if anything would make ``codec.encode`` refuse or change a value (the caller then
    encodes, and says what).

    A msgpack array is its header followed by its items' encodings, so the block is the
    three-array header, the header's packing, the transactions' array header and their
    bytes one after the other, and the certificate's packing: no walk over every value.
    """
    for field in header_value:
        if type(field) not in _HEADER_FIELD_TYPES or (type(field) is int and not 0 <= field <= U64_MAX):
            return None
    count = len(transactions)
    if count > codec.MAX_CONTAINER_LEN:
        return None
    for tx in transactions:
        # Two levels down (the block, its transactions), as ``codec.encode`` counts them.
        if tx.nesting > codec.MAX_DEPTH - 2:
            return None
    pack = codec.pack_ready
    return b"".join([
        b"\x93", pack(header_value), array_header(count), *[tx.encode() for tx in transactions], pack(last_commit)
    ])  # fmt: skip


def array_header(count: int) -> bytes:
    """The msgpack header of an array of ``count`` items (at most ``codec.MAX_CONTAINER_LEN``)."""
    if count <= 15:
        return bytes([0x90 | count])
    if count <= 0xFFFF:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


def encode_array_of_encoded(items: list[bytes]) -> bytes | None:
    """``codec.encode`` of a list whose items' canonical encodings are ``items`` (a block's
    receipts, each encoded by its own fast path), or None beyond ``codec.MAX_CONTAINER_LEN``
    items (the caller encodes, and says so). A msgpack array is its header followed by its
    items' encodings; nesting is the caller's to know (a receipt's is fixed and shallow)."""
    if len(items) > codec.MAX_CONTAINER_LEN:
        return None
    return array_header(len(items)) + b"".join(items)


# Every byte that is not the header of a msgpack array or map (fixmap 0x80-0x8f, fixarray
# 0x90-0x9f, array16/32 0xdc/0xdd, map16/32 0xde/0xdf).
_NOT_CONTAINER_HEADER: Final = bytes(b for b in range(256) if not (0x80 <= b <= 0x9F or 0xDC <= b <= 0xDF))


def nesting_surely_within(data: bytes, max_depth: int) -> bool:
    """True when the msgpack ``data`` cannot nest containers deeper than ``max_depth`` levels
    (``chain.codec`` counts the top container as level 0), counted in C.

    Each container starts with one header byte, so a value nested ``max_depth + 1`` deep
    has at least that many header-valued bytes; fewer such bytes in all (headers, or the
    same values inside strings, integers and binaries) prove the nesting is within the limit.
    A transaction has about ten. False means only "not proven": the caller walks the value.
    """
    return len(data.translate(None, _NOT_CONTAINER_HEADER)) <= max_depth  # the header-valued bytes


# The bytes that are not the header of an array, a map or a float (float 32 0xca, float 64 0xcb).
_NOT_CONTAINER_OR_FLOAT_HEADER: Final = bytes(b for b in _NOT_CONTAINER_HEADER if b not in (0xCA, 0xCB))


def surely_no_float_and_nesting_within(data: bytes, max_depth: int) -> bool:
    """True when the msgpack ``data`` can hold no float and cannot nest containers deeper
    than ``max_depth`` levels: ``nesting_surely_within``, and no byte anywhere that could be
    a float's header, in one pass in C.

    ``chain.codec.decode`` proves a value without maps canonical by packing it again twice
    (floats as 64 and as 32 bits) and walking its nesting; once the first packing gave back
    ``data``, this proves the rest for the common value (a float is written only behind one
    of those two header bytes). False means only "not proven": the caller does the rest.
    """
    marks = data.translate(None, _NOT_CONTAINER_OR_FLOAT_HEADER)
    return len(marks) <= max_depth and b"\xca" not in marks and b"\xcb" not in marks


# The generated ``__init__`` of each class given to ``frozen_slots_init``: the plain
# definition tests/chain/test_fast.py compares the fast one with.
PLAIN_INITS: Final[dict[type, Callable[..., None]]] = {}


Record = TypeVar("Record", bound=type)


def frozen_slots_init(cls: Record) -> Record:
    """Class decorator (above ``@dataclass``): give the frozen slots dataclass ``cls`` an
    ``__init__`` equal to the generated one that sets each field through its slot's descriptor.

    The generated ``__init__`` of a frozen dataclass calls ``object.__setattr__`` per field,
    looking it up anew each time; records made once per transaction on the core path
    (receipts, events, call contexts, execution results) are made about 40 % faster this
    way. Only for classes without ``__post_init__`` (no checks to keep); the parameters,
    their order and defaults are the dataclass's own, so keywords and ``replace`` work.
    """
    assert "__post_init__" not in vars(cls) and vars(cls).get("__slots__"), cls
    PLAIN_INITS[cls] = vars(cls)["__init__"]
    namespace: dict[str, Any] = {"_MISSING": dataclasses.MISSING}
    params = []
    body = []
    for field in dataclasses.fields(cls):
        name = field.name
        namespace[f"_set_{name}"] = vars(cls)[name].__set__
        if field.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = field.default
            params.append(f"{name}=_default_{name}")
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{name}"] = field.default_factory
            params.append(f"{name}=_MISSING")
            body.append(f"    if {name} is _MISSING: {name} = _factory_{name}()")
        else:
            params.append(name)
        body.append(f"    _set_{name}(self, {name})")
    # Generated text, as dataclasses does itself: only field names (identifiers) go in.
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body), namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", init)  # noqa: B010 (mypy refuses assigning a method)
    return cls


Computed = TypeVar("Computed")


class computed_once(Generic[Computed]):  # lower case: a decorator, like cached_property
    """``functools.cached_property`` without its lock: the value is computed on first access
    and kept in the instance dict, where every later access finds it without a call.

    Python 3.11's ``cached_property`` takes a lock on each first access (3.12 dropped it);
    every transaction a node builds or receives has its encoding and hash computed once,
    on the core path. Two threads computing the same value at once both get it: the records
    that use this are immutable, so the value is the same either way.
    """

    def __init__(self, compute: Callable[[Any], Computed]) -> None:
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> computed_once[Computed]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> Computed: ...

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.compute(instance)
        return value
