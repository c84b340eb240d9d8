"""Each fast path of chain/fast.py equals the plain definition it shortens."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import codec, fast
from chain.errors import DecodeError
from chain.hashing import Domain, hash_domain
from chain.signatures import check_transaction_signature, keypair_from_seed, sign_transaction
from chain.types import (
    MAX_BLOCK_SIZE,
    MAX_LAST_COMMIT_SIZE,
    MAX_TX_SIZE,
    TX_KINDS,
    Block,
    BlockHeader,
    Event,
    Receipt,
    Signature,
    Transaction,
    check_payload_shape,
)

_SCALARS = st.one_of(st.integers(min_value=-(2**63), max_value=2**64 - 1), st.text(max_size=8), st.binary(max_size=8))
_ARGS = st.lists(st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6), max_size=4)
_ANY = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1), st.text(max_size=70),
    st.binary(max_size=70), st.lists(st.text(max_size=3), max_size=4),
)  # fmt: skip


def _field(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(good, good, good, _ANY)


_FIELDS = st.tuples(
    _field(st.text(max_size=70)),
    _field(st.binary(min_size=32, max_size=32)),
    _field(st.integers(min_value=0, max_value=2**64 - 1)),
    _field(st.integers(min_value=0, max_value=2**64 - 1)),
    _field(st.integers(min_value=0, max_value=2**64 - 1)),
    _field(st.sampled_from(TX_KINDS)),
    _field(st.tuples(_field(st.text(max_size=70)), _field(st.text(max_size=70)), _field(_ARGS)).map(list)),
    _field(st.binary(min_size=64, max_size=64)),
)


def _plain_check(fields: list[Any]) -> bool:
    """The named checks alone (no fast path): True when they all pass."""
    from chain.types import (
        MAX_CHAIN_ID_LEN,
        PUBLIC_KEY_SIZE,
        SIGNATURE_SIZE,
        _expect_bytes,
        _expect_str,
        _expect_uint,
    )  # fmt: skip

    chain_id, sender, nonce, expiry, gas_limit, kind, payload, signature = fields
    try:
        _expect_str(chain_id, "", MAX_CHAIN_ID_LEN)
        _expect_bytes(sender, "", PUBLIC_KEY_SIZE)
        _expect_uint(nonce, "")
        _expect_uint(expiry, "")
        _expect_uint(gas_limit, "")
        _expect_str(kind, "", 32)
        if kind not in TX_KINDS:
            return False
        _expect_bytes(signature, "", SIGNATURE_SIZE)
        check_payload_shape(kind, payload)
    except DecodeError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(_FIELDS)
def test_common_transaction_test_never_passes_what_the_checks_refuse(fields: tuple[Any, ...]) -> None:
    # The fast test may say "not proven" (then the plain checks run); it must never pass a
    # transaction the plain checks refuse.
    if fast.is_common_transaction(*fields):
        assert _plain_check(list(fields))


def test_common_transaction_test_passes_a_plain_call() -> None:
    fields = ["chain", bytes(32), 1, 2, 3, "call", ["counter", "add", ["M", 1]], bytes(64)]
    assert fast.is_common_transaction(*fields) and _plain_check(fields)


@settings(max_examples=200, deadline=None)
@given(_FIELDS)
def test_signing_bytes_cut_from_the_encoding_equal_the_encoded_body(fields: tuple[Any, ...]) -> None:
    try:
        tx = Transaction(*fields)
        encoded = tx.encode()
    except DecodeError:
        return
    definition = Domain.TX_SIGNING.tag + codec.encode(tx.body_fields())
    cut = fast.signing_bytes_from_encoding(encoded, tx.signature)
    assert cut is None or cut == definition
    assert tx.signing_bytes() == definition
    if type(tx.signature) is bytes and len(tx.signature) == 64:
        assert cut is not None  # the fast path is taken for every signed transaction


@settings(max_examples=200, deadline=None)
@given(_FIELDS, st.binary(min_size=64, max_size=64), st.one_of(st.binary(max_size=70), _ANY))
def test_encoding_with_a_new_signature_equals_the_encoded_signed_transaction(
    fields: tuple[Any, ...], signature: bytes, other: Any
) -> None:
    try:
        tx = Transaction(*fields)
        encoded = tx.encode()
    except DecodeError:
        return
    for new in (signature, other):
        cut = fast.encoding_with_signature(encoded, tx.signature, new)
        try:
            signed = dataclasses.replace(tx, signature=new)
            definition: bytes | None = codec.encode(signed.fields())
        except DecodeError:
            definition = None
        assert cut is None or cut == definition
        if type(tx.signature) is bytes and len(tx.signature) == 64 and type(new) is bytes and len(new) == 64:
            assert cut is not None  # the fast path is taken for every signed transaction


def test_a_signed_transaction_keeps_the_encoding_and_nesting_it_would_compute() -> None:
    seed = bytes(range(32))
    _, sender = keypair_from_seed(seed)
    for args in ([], [1, "x", b"y"], [[1, [2, [3]]], {"k": [1]}]):
        unsigned = Transaction("c", sender, 1, 10, 1_000, "call", ["a", "b", args], Signature(bytes(64)))
        signed = sign_transaction(unsigned, seed)
        plain = Transaction(*signed.fields())  # computes its own
        assert signed.encode() == plain.encode() == codec.encode(plain.fields())
        assert signed.nesting == plain.nesting and signed.hash == plain.hash
        check_transaction_signature(signed)


@settings(max_examples=100, deadline=None)
@given(_FIELDS)
def test_decode_keeps_the_encoding_and_hash_it_would_compute(fields: tuple[Any, ...]) -> None:
    try:
        built = Transaction(*fields)
        data = built.encode()
        decoded = Transaction.decode(data)
    except DecodeError:
        return
    plain = Transaction(*decoded.fields())  # computes its own encoding and hash
    assert decoded == plain == built
    assert decoded.encode() == plain.encode() == codec.encode(plain.fields()) == data
    assert decoded.hash == plain.hash == hash_domain(Domain.TRANSACTION, data)


@settings(max_examples=300, deadline=None)
@given(_FIELDS)
def test_a_transaction_is_made_only_of_checked_fields(fields: tuple[Any, ...]) -> None:
    # Built or decoded, an instance exists only if the plain checks pass.
    try:
        Transaction(*fields)
    except DecodeError:
        assert not _plain_check(list(fields))
    else:
        assert _plain_check(list(fields))


@settings(max_examples=300, deadline=None)
@given(_FIELDS)
def test_fast_construction_equals_the_constructor(fields: tuple[Any, ...]) -> None:
    try:
        plain = Transaction(*fields)
    except DecodeError as exc:
        try:
            fast.new_checked_transaction(Transaction, list(fields))
        except DecodeError as again:
            assert str(again) == str(exc)
        else:
            raise AssertionError("the fast path made a transaction the constructor refuses") from None
        return
    made = fast.new_checked_transaction(Transaction, list(fields))
    assert type(made) is Transaction and made == plain
    assert vars(made) == vars(plain)  # the same attributes, nothing else


# --- decoding the common transaction ------------------------------------------------------


def _plain_decode(data: bytes) -> Transaction | None:
    """The definition: strict decode, then the record's checks (None: refused)."""
    try:
        return Transaction.from_value(codec.decode(data, max_size=MAX_TX_SIZE))
    except DecodeError:
        return None


_EDITS = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3)


_CALLS = st.tuples(
    st.text(max_size=70), st.binary(min_size=32, max_size=32), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1), st.just("call"),
    st.tuples(st.text(max_size=70), st.text(max_size=70), _ARGS).map(list), st.binary(min_size=64, max_size=64),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(_CALLS, _FIELDS),
    st.one_of(st.just([]), _EDITS),
    st.sampled_from(["as is", "float arg", "long int", "map arg", "trailing"]),
)
def test_fast_decode_equals_the_strict_decode(fields: tuple[Any, ...], edits: list[tuple[int, int]], twist: str) -> None:
    try:
        data = Transaction(*fields).encode()
    except DecodeError:
        return
    value = msgpack.unpackb(data, raw=False)
    if twist == "float arg" and type(value[6]) is list and type(value[6][2]) is list:
        value[6][2].append(1.5)  # msgpack writes it; the strict decode refuses it
    elif twist == "map arg" and type(value[6]) is list and type(value[6][2]) is list:
        value[6][2].append({"b": 1, "a": 2})  # not in canonical key order
    if twist != "long int":
        data = msgpack.packb(value, use_bin_type=True)
    if twist == "long int":
        # The nonce as a uint64 whatever its size: a longer form than the shortest.
        data = b"\x98" + b"".join(
            b"\xcf" + v.to_bytes(8, "big") if i == 2 and type(v) is int and 0 <= v < 2**64
            else msgpack.packb(v, use_bin_type=True)
            for i, v in enumerate(value)
        )  # fmt: skip
    if twist == "trailing":
        data += b"\x00"
    mutated = bytearray(data)
    for position, byte in edits:
        if mutated:
            mutated[position % len(mutated)] = byte
    data = bytes(mutated)
    made = fast.decode_common_transaction(Transaction, data, MAX_TX_SIZE)
    plain = _plain_decode(data)
    if made is not None:
        assert plain is not None, "the fast path accepted what the strict decode refuses"
        assert made == plain and made.nesting == Transaction(*plain.fields()).nesting


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(_SCALARS, st.booleans(), st.none()), max_size=4))
def test_fast_decode_takes_every_call_with_scalar_arguments(args: list[Any]) -> None:
    tx = Transaction("chain", bytes(32), 1, 2, 3, "call", ["counter", "add", args], bytes(64))
    made = fast.decode_common_transaction(Transaction, tx.encode(), MAX_TX_SIZE)
    assert made is not None and made == tx == Transaction.decode(tx.encode())
    assert vars(made)["nesting"] == codec.nesting_levels(tx.fields()) == 3


_WIDE_ARGS = st.lists(
    st.one_of(_SCALARS, st.booleans(), st.none(), st.floats(), st.integers(), st.lists(_SCALARS, max_size=2)),
    max_size=4,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_FIELDS, _WIDE_ARGS)
def test_fast_transaction_encode_equals_the_plain_encode(fields: tuple[Any, ...], args: list[Any]) -> None:
    for candidate in (list(fields), [*fields[:6], ["counter", "add", args], fields[7]]):
        fast_bytes = fast.encode_common_transaction(candidate)
        try:
            plain: bytes | None = codec.encode(candidate)
        except DecodeError:
            plain = None
        if fast_bytes is not None:
            assert fast_bytes == plain, "the fast path encoded what the plain encode refuses or writes otherwise"
        try:
            tx = Transaction(*candidate)
            data = tx.encode()
        except DecodeError:
            continue
        assert data == plain
        assert tx.nesting == codec.nesting_levels(candidate)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(_SCALARS, st.booleans(), st.none()), max_size=4))
def test_fast_transaction_encode_takes_every_call_with_scalar_arguments(args: list[Any]) -> None:
    fields = ["chain", bytes(32), 1, 2, 3, "call", ["counter", "add", args], bytes(64)]
    assert fast.encode_common_transaction(fields) == codec.encode(fields)
    tx = Transaction(*fields)
    assert tx.encode() == codec.encode(fields) and vars(tx)["nesting"] == 3


_NESTED = st.recursive(
    st.one_of(_SCALARS, st.floats(allow_nan=False), st.none()),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(_NESTED, st.integers(1, 6))
def test_no_float_and_nesting_test_never_passes_what_the_checks_refuse(value: Any, max_depth: int) -> None:
    data = msgpack.packb(value, use_bin_type=True)
    if fast.surely_no_float_and_nesting_within(data, max_depth):
        decoded = msgpack.unpackb(data, raw=False)
        assert codec.nesting_levels(decoded) <= max_depth
        assert msgpack.packb(decoded, use_bin_type=True, use_single_float=True) == data  # no float


@settings(max_examples=200, deadline=None)
@given(_NESTED, st.integers(0, 8))
def test_nesting_levels_agree_with_the_nesting_check(value: Any, max_depth: int) -> None:
    try:
        codec.check_nesting(value, max_depth)
    except DecodeError:
        assert codec.nesting_levels(value) > max_depth
    else:
        assert codec.nesting_levels(value) <= max_depth


# --- records made without the generated __init__ ------------------------------------------

_RECORD_VALUES = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.binary(max_size=5))


@pytest.mark.parametrize("cls", sorted(fast.PLAIN_INITS, key=lambda c: c.__name__), ids=lambda c: c.__name__)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_fast_init_equals_the_generated_one(cls: type, data: st.DataObject) -> None:
    fields = dataclasses.fields(cls)
    required = [f for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    given_count = data.draw(st.integers(len(required), len(fields)))
    values = [data.draw(_RECORD_VALUES) for _ in range(given_count)]
    made = cls(*values)
    plain = object.__new__(cls)
    fast.PLAIN_INITS[cls](plain, *values)
    assert made == plain
    for f in fields:
        assert getattr(made, f.name) is getattr(plain, f.name) or getattr(made, f.name) == getattr(plain, f.name)
    keywords = {f.name: v for f, v in zip(fields, values, strict=False)}
    assert cls(**keywords) == plain and dataclasses.replace(made) == plain


def test_fast_init_covers_the_core_path_records() -> None:
    assert {Receipt, Event} <= set(fast.PLAIN_INITS)


# --- blocks -----------------------------------------------------------------------------------

_HEADER_VALUES = st.lists(
    st.one_of(st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32), _ANY), min_size=10, max_size=10
)


def _plain_block_decode(data: bytes) -> Block | None:
    """The definition: strict decode, then the record's checks (None: refused)."""
    try:
        value = codec.decode(data, max_size=MAX_BLOCK_SIZE)
        if not (type(value) is list and len(value) == 3 and type(value[1]) is list and type(value[2]) is bytes):
            return None
        if len(value[2]) > MAX_LAST_COMMIT_SIZE:
            return None
        return Block(BlockHeader.from_value(value[0]), tuple(Transaction.from_value(t) for t in value[1]), value[2])
    except DecodeError:
        return None


def _block_parts(header: list[Any], calls: list[tuple[Any, ...]], last_commit: bytes) -> list[Any] | None:
    transactions = []
    for fields in calls:
        try:
            transactions.append(Transaction(*fields).fields())
        except DecodeError:
            continue
    return [header, transactions, last_commit]


@settings(max_examples=300, deadline=None)
@given(
    _HEADER_VALUES,
    st.lists(st.one_of(_CALLS, _FIELDS), max_size=4),
    st.binary(max_size=40),
    st.one_of(st.just([]), _EDITS),
    st.sampled_from(["as is", "float arg", "long int", "map arg", "trailing"]),
)
def test_fast_block_decode_equals_the_strict_decode(
    header: list[Any], calls: list[tuple[Any, ...]], last_commit: bytes, edits: list[tuple[int, int]], twist: str
) -> None:
    value = _block_parts(header, calls, last_commit)
    transactions = value[1] if value else []
    if twist == "float arg" and transactions and type(transactions[0][6][2]) is list:
        transactions[0][6][2].append(1.5)
    elif twist == "map arg" and transactions and type(transactions[0][6][2]) is list:
        transactions[0][6][2].append({"b": 1, "a": 2})
    data = msgpack.packb(value, use_bin_type=True)
    if twist == "long int":
        data = data[:1] + b"\xdc\x00\x0a" + data[2:]  # the header's array in a longer form than the shortest
    elif twist == "trailing":
        data += b"\x00"
    mutated = bytearray(data)
    for position, byte in edits:
        mutated[position % len(mutated)] = byte
    data = bytes(mutated)
    made = fast.decode_common_block(Block, BlockHeader, Transaction, data, MAX_BLOCK_SIZE, MAX_LAST_COMMIT_SIZE)
    plain = _plain_block_decode(data)
    if made is not None:
        assert plain is not None, "the fast path accepted what the strict decode refuses"
        assert made == plain
        for tx in made.transactions:  # the kept encoding and hash are what they would compute
            again = Transaction(*tx.fields())
            assert tx.encode() == again.encode() and tx.hash == again.hash and tx.nesting == again.nesting


@settings(max_examples=100, deadline=None)
@given(st.lists(_CALLS, min_size=0, max_size=20), st.binary(max_size=40))
def test_fast_block_decode_takes_every_block_of_common_calls(calls: list[tuple[Any, ...]], last_commit: bytes) -> None:
    header = BlockHeader(1, bytes(32), 1_700_000_000, bytes(32), *(bytes(32),) * 6)
    transactions = [Transaction(*fields) for fields in calls if all(type(a) is not list for a in fields[6][2])]
    block = Block(header, tuple(transactions), last_commit)
    data = codec.encode([header.to_value(), [tx.fields() for tx in transactions], last_commit])
    assert block.encode() == data  # the joined encodings
    made = fast.decode_common_block(Block, BlockHeader, Transaction, data, MAX_BLOCK_SIZE, MAX_LAST_COMMIT_SIZE)
    assert made is not None and made == block == Block.decode(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_CALLS, _FIELDS), max_size=20), st.binary(max_size=40), st.integers(0, 2**64 - 1))
def test_fast_block_encode_equals_the_plain_encode(calls: list[tuple[Any, ...]], last_commit: bytes, height: int) -> None:
    header = BlockHeader(height, bytes(32), 1_700_000_000, bytes(32), *(bytes(32),) * 6)
    transactions = []
    for fields in calls:
        try:
            transactions.append(Transaction(*fields))
        except DecodeError:
            continue
    joined = fast.encode_block(header.to_value(), transactions, last_commit)
    assert joined == codec.encode([header.to_value(), [tx.fields() for tx in transactions], last_commit])


def test_fast_block_encode_leaves_too_deep_a_transaction_to_the_plain_encode() -> None:
    def nested(levels: int) -> Transaction:
        deep: Any = 1
        for _ in range(levels - 3):  # the transaction, its payload and its arguments are three
            deep = [deep]
        return Transaction("chain", bytes(32), 1, 2, 3, "call", ["counter", "add", [deep]], bytes(64))

    header = BlockHeader(1, bytes(32), 1_700_000_000, bytes(32), *(bytes(32),) * 6)
    deepest = nested(codec.MAX_DEPTH - 2)  # the deepest that fits two levels down
    assert deepest.nesting == codec.MAX_DEPTH - 2
    assert fast.encode_block(header.to_value(), [deepest], b"") == codec.encode(
        [header.to_value(), [deepest.fields()], b""]
    )
    too_deep = nested(codec.MAX_DEPTH - 1)  # encodes alone, not two levels down in a block
    assert too_deep.nesting == codec.MAX_DEPTH - 1
    assert fast.encode_block(header.to_value(), [too_deep], b"") is None
    with pytest.raises(DecodeError):
        Block(header, (too_deep,), b"").encode()


# --- receipts packed without the walk -------------------------------------------------------

_LOOSE = st.one_of(
    st.integers(min_value=-(2**65), max_value=2**65), st.booleans(), st.none(), st.text(max_size=4),
    st.binary(max_size=4), st.tuples(st.integers(0, 3)),
)  # fmt: skip


def _loose(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(good, good, good, _LOOSE)


_EVENTS = st.lists(
    st.builds(
        Event,
        _loose(st.text(max_size=6)), _loose(st.text(max_size=6)), _loose(st.binary(max_size=8)),
    ),
    max_size=3,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    _loose(st.binary(min_size=32, max_size=32)), _loose(st.integers(0, 1)), _loose(st.integers(0, 2**64 - 1)),
    _EVENTS, _loose(st.text(max_size=10)), _loose(st.binary(max_size=10)),
)  # fmt: skip
def test_fast_receipt_encode_equals_the_plain_encode(
    tx_hash: Any, status: Any, gas: Any, events: list[Any], error: Any, return_value: Any
) -> None:
    receipt = Receipt(tx_hash, status, gas, tuple(events), error, return_value)
    try:
        plain: bytes | None = codec.encode(receipt.to_value())
    except DecodeError:
        plain = None
    fast_bytes = fast.encode_receipt(tx_hash, status, gas, tuple(events), error, return_value)
    assert fast_bytes is None or fast_bytes == plain
    try:
        assert receipt.encode() == plain
    except DecodeError:
        assert plain is None


def test_fast_receipt_encode_takes_every_well_typed_receipt() -> None:
    receipt = Receipt(bytes(32), 1, 1_234, (Event("billing", "reading", codec.encode({"a": 1})),), "", b"\x05")
    assert fast.encode_receipt(*(getattr(receipt, f) for f in receipt.__slots__)) == codec.encode(receipt.to_value())


@pytest.mark.parametrize("count", [0, 1, 15, 16, 0xFFFF, 0x10000])
def test_fast_array_of_encoded_items_equals_the_plain_encode(count: int) -> None:
    # Each array header size (fixarray, array16, array32) and the edges between them.
    items = [i % 300 for i in range(count)]
    assert fast.encode_array_of_encoded([codec.encode(i) for i in items]) == codec.encode(items)


def test_fast_array_of_encoded_items_leaves_too_long_a_list_to_the_plain_encode() -> None:
    too_many = [b"\x01"] * (codec.MAX_CONTAINER_LEN + 1)
    assert fast.encode_array_of_encoded(too_many) is None


def test_basic_computed_once_is_cached_property_without_the_lock() -> None:
    import functools

    calls: list[str] = []

    class Plain:
        @functools.cached_property
        def value(self) -> list[str]:
            calls.append("plain")
            return ["v"]

    class Fast:
        @fast.computed_once
        def value(self) -> list[str]:
            """The docstring stays."""
            calls.append("fast")
            return ["v"]

    plain, quick = Plain(), Fast()
    first = quick.value
    assert first == plain.value and quick.value is first  # computed once, then the same object
    assert calls == ["fast", "plain"]
    assert vars(quick) == vars(plain) == {"value": ["v"]}  # kept where cached_property keeps it
    assert isinstance(Fast.value, fast.computed_once) and Fast.value.__doc__ == "The docstring stays."
    quick.__dict__["value"] = ["set"]  # a value put there first (a decode does) is used as it is
    assert quick.value == ["set"] and calls == ["fast", "plain"]
