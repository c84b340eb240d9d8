"""Each fast path of chain/fast.py equals the plain definition it shortens."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chain import codec, fast
from chain.errors import DecodeError
from chain.hashing import Domain, hash_domain
from chain.types import TX_KINDS, Transaction, check_payload_shape

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
