"""Transactions, signatures with chain and kind separation, and account text forms."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import accounts, codec
from chain.errors import DecodeError, InvalidAddress, InvalidSignature
from chain.hashing import Domain
from chain.signatures import (
    check_transaction_signature,
    keypair_from_seed,
    sign,
    sign_transaction,
    verify,
)
from chain.types import Block, BlockHeader, Transaction

ALICE_SEED = hashlib.sha256(b"alice").digest()
_, ALICE = keypair_from_seed(ALICE_SEED)


def alice_tx(chain_id: str = "meterchain-test", nonce: int = 0) -> Transaction:
    unsigned = Transaction(
        chain_id, ALICE, nonce, 10, 100_000, "call",
        ["billing", "submit_reading", ["MTR-1", "1-0:1.8.0", 1_700_000_000, 1234, "consumer", bytes(32), b""]],
        bytes(64),
    )
    return sign_transaction(unsigned, ALICE_SEED)


def test_signed_transaction_verifies_and_round_trips() -> None:
    tx = alice_tx()
    check_transaction_signature(tx)
    assert Transaction.decode(tx.encode()) == tx
    assert Transaction.decode(tx.encode()).hash == tx.hash


def test_invalid_signature_replayed_on_another_chain() -> None:
    tx = alice_tx("meterchain-test")
    moved = replace(tx, chain_id="meterchain-other")
    with pytest.raises(InvalidSignature, match="does not verify"):
        check_transaction_signature(moved)


def test_invalid_signature_replayed_as_another_kind() -> None:
    message = codec.encode(["MTR-1", "1-0:1.8.0", 1234, "Wh", 1_700_000_000])
    signature = sign(ALICE_SEED, Domain.METER_READING, message)
    assert verify(ALICE, Domain.METER_READING, message, signature)
    assert not verify(ALICE, Domain.VOTE, message, signature)


def test_invalid_tampered_field_breaks_signature() -> None:
    tx = alice_tx()
    with pytest.raises(InvalidSignature):
        check_transaction_signature(replace(tx, nonce=1))


def test_invalid_transaction_decoding_says_what_was_expected() -> None:
    fields = [*alice_tx().body_fields(), bytes(63)]
    with pytest.raises(DecodeError, match="64 bytes expected, found 63"):
        Transaction.decode(codec.encode(fields))
    fields = alice_tx().body_fields()
    with pytest.raises(DecodeError, match="array of 8 fields expected, found 7"):
        Transaction.decode(codec.encode(fields))
    bad_kind = [*alice_tx().body_fields(), bytes(64)]
    bad_kind[5] = "mint"
    with pytest.raises(DecodeError, match="kind: one of call, deploy, upgrade expected, found 'mint'"):
        Transaction.decode(codec.encode(bad_kind))


def test_invalid_transaction_trailing_bytes() -> None:
    with pytest.raises(DecodeError, match="trailing"):
        Transaction.decode(alice_tx().encode() + b"\x00")


def test_block_round_trip() -> None:
    header = BlockHeader(1, bytes(32), 1_700_000_000, ALICE, *(bytes(32),) * 6)
    block = Block(header, (alice_tx(), alice_tx(nonce=1)), b"")
    assert Block.decode(block.encode()) == block
    assert BlockHeader.from_value(codec.decode(header.encode())).hash == header.hash


def test_account_text_round_trip() -> None:
    text = accounts.to_text(ALICE)
    assert text.startswith("mc1")
    assert accounts.from_text(text) == ALICE
    assert accounts.from_text(text.upper()) == ALICE


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.data())
def test_invalid_any_single_mistyped_character_is_caught(key: bytes, data: st.DataObject) -> None:
    text = accounts.to_text(key)
    position = data.draw(st.integers(min_value=3, max_value=len(text) - 1))
    replacement = data.draw(st.sampled_from([c for c in "qpzry9x8gf2tvdw0s3jn54khce6mua7l" if c != text[position]]))
    mistyped = text[:position] + replacement + text[position + 1 :]
    with pytest.raises(InvalidAddress):
        accounts.from_text(mistyped)


def test_invalid_account_prefix_and_characters() -> None:
    text = accounts.to_text(ALICE)
    with pytest.raises(InvalidAddress, match="prefix 'mc' expected, found 'bc'"):
        accounts.from_text("bc" + text[2:])
    with pytest.raises(InvalidAddress, match="found 'b'"):
        accounts.from_text(text[:10] + "b" + text[11:])
    with pytest.raises(InvalidAddress, match="mixed"):
        accounts.from_text(text[:5] + text[5:].upper())


args_strategy = st.lists(
    st.integers(0, 2**64 - 1) | st.binary(max_size=300) | st.text(max_size=300) | st.none(), max_size=6
)


@settings(max_examples=150, deadline=None)
@given(args_strategy, st.integers(0, 2**64 - 1), st.text(max_size=64))
def test_signing_bytes_equal_their_definition(args: list, nonce: int, chain_id: str) -> None:
    """The sliced fast path of ``signing_bytes`` is byte-identical to tag || encode(body)."""
    tx = Transaction(chain_id, ALICE, nonce, 10, 1, "call", ["c", "f", args], bytes(64))
    assert tx.signing_bytes() == Domain.TX_SIGNING.tag + codec.encode(tx.body_fields())
    decoded = Transaction.decode(tx.encode())
    assert decoded.signing_bytes() == tx.signing_bytes()
